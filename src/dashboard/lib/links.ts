// Small readings of URLs and texts the pages act on, kept here so they are tested.

/**
 * Where to go after logging in: a path of this app only. Anything that could leave the origin
 * (`//host`, `/\host`, a scheme, a control character) or loop back to login goes to `/`.
 */
export function safeNext(next: string | null): string {
  if (next === null || !next.startsWith('/')) return '/'
  if (next.startsWith('//') || next.startsWith('/\\') || next.startsWith('/login')) return '/'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\]/.test(next)) return '/'
  return next
}

/** The threshold in a case's condition as judge prints it ("97 > 90" → 90); undefined if none. */
export function thresholdOf(cond: string): number | undefined {
  const m = /(?:==|!=|<=|>=|<|>)\s*(\S+)\s*$/.exec(cond)
  if (m === null) return undefined
  const v = Number(m[1])
  return Number.isFinite(v) ? v : undefined
}

const LEGAL_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * A metric name as PromQL can write it bare: Prometheus's "underscores" escaping, which Peregrine's
 * engine reads back to the stored name (`cpu.idle` → `cpu_idle`, `1min.load` → `_1min_load`,
 * docs/prometheus.md). A legal name is unchanged.
 */
export function bareMetricName(name: string): string {
  if (LEGAL_METRIC_NAME.test(name)) return name
  const escaped = name.replace(/[^a-zA-Z0-9_:]/g, '_')
  return /^[0-9]/.test(escaped) ? `_${escaped}` : escaped
}

/** RE2's metacharacters: escaped, a name is matched as itself. */
const RE2_SPECIAL = /[\\.+*?()|[\]{}^$]/g

/**
 * The `q` of `/api/v1/graph/endpoint` that finds exactly `name`: graph reads each term as an RE2
 * regular expression (falcon's search), so the name is escaped and anchored. Endpoint names hold no
 * whitespace, which would split the term.
 */
export function exactEndpointQuery(name: string): string {
  return `^${name.replace(RE2_SPECIAL, '\\$&')}$`
}

/** A message from the API without the field path it starts with, for showing beside that field. */
export function withoutFieldPath(message: string): string {
  return message.replace(/^(?:body|query)\.[\w.]+: /, '')
}

/**
 * An API refusal split by the form fields it names: the API joins several problems with "; ", each
 * starting with its field's path (`body.step: expected a positive integer; body.mock: …`). Problems
 * naming no field of the form stay in `other`, shown above it.
 */
export function splitFieldErrors(
  message: string,
  fields: readonly string[]
): { byField: Record<string, string>; other: string[] } {
  const byField: Record<string, string> = {}
  const other: string[] = []
  for (const part of message.split(/;\s+(?=(?:body|query)\.[\w.]+: )/)) {
    const m = /^(?:body\.|query\.)?([a-z_]+)(?:\.[\w.]*)?: ([\s\S]*)$/.exec(part)
    if (m !== null && fields.includes(m[1])) {
      byField[m[1]] = byField[m[1]] === undefined ? m[2] : `${byField[m[1]]}; ${m[2]}`
    } else other.push(part)
  }
  return { byField, other }
}
