// `peregrine query 'EXPR'`: a PromQL query sent to a running api's Prometheus API over HTTP (the CLI is
// a client like any other), printed as a table, or as the API's JSON.

/** QueryFlags are the command's options as commander gives them. */
export interface QueryFlags {
  time?: string
  start?: string
  end?: string
  step?: string
  json?: boolean
  url?: string
  token?: string
  user?: string
}

/** QueryRequest is what to send: the path and its form parameters. */
export interface QueryRequest {
  path: '/api/v1/query' | '/api/v1/query_range'
  params: Record<string, string>
}

/** UsageProblem is a mistake in the command line, said in one sentence (exit 2). */
export class UsageProblem extends Error {
  override readonly name = 'UsageProblem'
}

const RELATIVE_RE = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * resolveTime turns a time flag into what the API takes: `now` and `-1h` (relative to `now`, ms) into
 * Unix seconds; Unix seconds and RFC 3339 as given. Anything else is a UsageProblem naming `flag`.
 */
export function resolveTime(v: string, flag: string, now: number): string {
  if (v === 'now') return String(now / 1000)
  const rel = RELATIVE_RE.exec(v)
  if (rel !== null) return String((now - Number(rel[1]) * UNIT_MS[rel[2] as 's']) / 1000)
  if (/^-?\d+(\.\d+)?$/.test(v)) return v
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)) return v
  throw new UsageProblem(
    `${flag}: expected Unix seconds, RFC 3339 (2024-05-01T10:00:00Z), now, or -<n>s|m|h|d|w, got ${JSON.stringify(v)}`
  )
}

/**
 * buildQueryRequest checks the flags and returns the request: an instant query at `--time` (default
 * now), or a range query when `--start` is given (`--end` defaults to now; `--step` to what gives
 * about 250 points, at least 1 s).
 */
export function buildQueryRequest(expr: string, f: QueryFlags, now: number): QueryRequest {
  if (expr.trim() === '') throw new UsageProblem('EXPR: expected a PromQL expression')
  const ranged = f.start !== undefined || f.end !== undefined || f.step !== undefined
  if (f.time !== undefined && ranged) {
    throw new UsageProblem(
      '--time asks for an instant query and --start/--end/--step for a range: give one or the other'
    )
  }
  if (!ranged) {
    return {
      path: '/api/v1/query',
      params: { query: expr, time: resolveTime(f.time ?? 'now', '--time', now) },
    }
  }
  if (f.start === undefined) throw new UsageProblem('a range query needs --start')
  const start = resolveTime(f.start, '--start', now)
  const end = resolveTime(f.end ?? 'now', '--end', now)
  const from = Number.isNaN(Number(start)) ? Date.parse(start) / 1000 : Number(start)
  const to = Number.isNaN(Number(end)) ? Date.parse(end) / 1000 : Number(end)
  if (to < from) throw new UsageProblem('--end: before --start')
  let step = f.step
  if (step === undefined) step = String(Math.max(1, Math.floor((to - from) / 250)))
  else if (!/^(\d+(\.\d+)?|(\d+(ms|s|m|h|d|w|y))+)$/.test(step))
    throw new UsageProblem(
      `--step: expected seconds (15) or a duration (1m, 1h30m), got ${JSON.stringify(step)}`
    )
  return { path: '/api/v1/query_range', params: { query: expr, start, end, step } }
}

/** authHeaders returns the Authorization header for `--token` (an API token) or `--user name:password`. */
export function authHeaders(f: QueryFlags): Record<string, string> {
  if (f.token !== undefined && f.user !== undefined)
    throw new UsageProblem('--token and --user: give one of them')
  if (f.token !== undefined) {
    if (f.token === '') throw new UsageProblem('--token: empty')
    return { authorization: `Bearer ${f.token}` }
  }
  if (f.user !== undefined) {
    if (!f.user.includes(':')) throw new UsageProblem('--user: expected name:password')
    return { authorization: `Basic ${Buffer.from(f.user).toString('base64')}` }
  }
  return {}
}

interface PromLabels {
  [name: string]: string
}
type Point = [number, string]
/** PromAnswer is the API's success answer, as much as the table needs of it. */
export interface PromAnswer {
  status: 'success' | 'error'
  data?: {
    resultType: 'vector' | 'matrix' | 'scalar' | 'string'
    result: unknown
  }
  warnings?: string[]
  errorType?: string
  error?: string
}

/** labelText writes labels as PromQL does: `cpu.idle{endpoint="h1"}`, quoting a name it must. */
export function labelText(metric: PromLabels): string {
  const name = metric.__name__
  const pairs = Object.entries(metric)
    .filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
  if (name === undefined) return `{${pairs.join(', ')}}`
  if (/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name))
    return pairs.length === 0 ? name : `${name}{${pairs.join(', ')}}`
  return `{${[JSON.stringify(name), ...pairs].join(', ')}}`
}

const isoTime = (seconds: number) => new Date(seconds * 1000).toISOString()

/**
 * formatTable writes an answer for people: for an instant vector one line per series (labels, then
 * the value), for a range one block per series (its labels, then time and value lines), a scalar or
 * string as its value; warnings after, each on its own line.
 */
export function formatTable(answer: PromAnswer): string {
  const data = answer.data
  if (data === undefined) return ''
  const lines: string[] = []
  switch (data.resultType) {
    case 'scalar':
    case 'string': {
      const [, v] = data.result as Point
      lines.push(v)
      break
    }
    case 'vector': {
      const rows = (data.result as { metric: PromLabels; value: Point }[]).map((s) => [
        labelText(s.metric),
        s.value[1],
      ])
      const width = Math.max(6, ...rows.map((r) => r[0].length))
      if (rows.length === 0) lines.push('(no series)')
      else lines.push(`${'SERIES'.padEnd(width)}  VALUE`)
      for (const [l, v] of rows) lines.push(`${l.padEnd(width)}  ${v}`)
      break
    }
    case 'matrix': {
      const series = data.result as { metric: PromLabels; values?: Point[] }[]
      if (series.length === 0) lines.push('(no series)')
      series.forEach((s, i) => {
        if (i > 0) lines.push('')
        lines.push(labelText(s.metric))
        for (const [t, v] of s.values ?? []) lines.push(`  ${isoTime(t)}  ${v}`)
      })
      break
    }
  }
  for (const w of answer.warnings ?? []) lines.push(`warning: ${w}`)
  return lines.join('\n') + '\n'
}

/** apiUrl turns an api listen address (`0.0.0.0:8080`, `[::]:8080`) into a URL to call it at. */
export function apiUrl(address: string): string {
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '')
  const port = address.slice(colon + 1)
  const reach = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`
}

/** QueryOutcome is what the command prints and how it exits. */
export interface QueryOutcome {
  stdout: string
  stderr: string
  /** code: 0 answered, 1 the query failed or nothing answers, 2 bad input (a bad_data answer). */
  code: number
}

/**
 * runQuery sends the query to the api at `base` and returns what to print. A bad_data answer (a
 * syntax error, a bad parameter) exits 2, as any usage mistake; other failures exit 1.
 */
export async function runQuery(
  base: string,
  req: QueryRequest,
  headers: Record<string, string>,
  json: boolean,
  timeoutMs = 130_000
): Promise<QueryOutcome> {
  const url = `${base.replace(/\/$/, '')}${req.path}`
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(req.params).toString(),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const why = (err as { cause?: { code?: string; message?: string } }).cause
    return {
      stdout: '',
      stderr: `peregrine: no api answers at ${base} (${why?.code ?? why?.message ?? (err as Error).message}); is Peregrine running (peregrine check)? or give --url\n`,
      code: 1,
    }
  }
  const text = await res.text()
  let body: PromAnswer & { error?: string }
  try {
    body = JSON.parse(text) as PromAnswer
  } catch {
    return {
      stdout: '',
      stderr: `peregrine: ${url} answered ${res.status} with no JSON: ${text.slice(0, 200)}\n`,
      code: 1,
    }
  }
  if (res.status === 200 && body.status === 'success') {
    return { stdout: json ? text + '\n' : formatTable(body), stderr: '', code: 0 }
  }
  const hint =
    res.status === 401
      ? ' (give --token pgt_… from POST /api/v1/user/tokens, or --user name:password)'
      : ''
  const kind = body.errorType === undefined ? `${res.status}` : body.errorType
  return {
    stdout: json ? text + '\n' : '',
    stderr: `peregrine: ${kind}: ${body.error ?? text.slice(0, 200)}${hint}\n`,
    code: body.errorType === 'bad_data' ? 2 : 1,
  }
}
