// Open-Falcon api's graph routes (modules/api/app/controller/graph): history, lastpoint, endpoint search.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { PeregrineError } from '../core/index.js'
import { CONSOL_FUNS } from '../tsdb/index.js'
import type { GraphCluster } from '../cluster/index.js'

interface QueryResponse {
  endpoint: string
  counter: string
  dstype: string
  step: number
  Values: { timestamp: number; value: number | null }[]
  /** points: set (and Values left empty) when the answer would hold more than `maxPoints`. */
  points?: number
}

/** GraphBudget bounds what one graph route may read (api's settings of the same names). */
export interface GraphBudget {
  maxHistoryPoints: number
  maxIndexRows: number
  queryTimeout: number
}

/** GraphRouteCounters count the requests a budget refused, for /counter/all. */
export interface GraphRouteCounters {
  /** historyRefused: /graph/history requests over maxHistoryPoints. */
  historyRefused: number
  /** indexRefused: /graph/endpoint and /graph/endpoint_counter requests over maxIndexRows. */
  indexRefused: number
  /** queryTimeouts: graph routes not answered within queryTimeout. */
  queryTimeouts: number
}

export function newGraphRouteCounters(): GraphRouteCounters {
  return { historyRefused: 0, indexRefused: 0, queryTimeouts: 0 }
}

/** MAX_PAIRS bounds the series one /graph/history request may read (hostnames × counters). */
const MAX_PAIRS = 10_000

/** badRequest answers 400 with falcon's error shape, naming the field. */
function badRequest(reply: FastifyReply, message: string) {
  return reply.status(400).send({ error: message })
}

// A parameter given twice arrives as an array: name it rather than fail on it.
function notStrings(q: Record<string, unknown>, names: string[]): string | null {
  for (const n of names) {
    if (q[n] !== undefined && typeof q[n] !== 'string') return `${n}: give it once, as a string`
  }
  return null
}

function intOr(v: unknown, fallback: number): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/**
 * registerGraphRoutes adds /api/v1/graph/{history,lastpoint,endpoint,endpoint_counter}, each bounded
 * by `budget` and counting its refusals in `stats`.
 */
export function registerGraphRoutes(
  app: FastifyInstance,
  graphs: GraphCluster,
  budget: GraphBudget = {
    maxHistoryPoints: 1_000_000,
    maxIndexRows: 100_000,
    queryTimeout: 30_000,
  },
  stats: GraphRouteCounters = newGraphRouteCounters()
): void {
  // A route waits for the graph cluster at most queryTimeout (an in-process graph's own work, being
  // synchronous, is not cut short; a node over TCP is no longer waited for).
  const timed = async <T>(route: string, work: Promise<T>): Promise<T> => {
    work.catch(() => undefined) // answered past the timeout: nobody is waiting for it any more
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        stats.queryTimeouts++
        reject(
          new PeregrineError(
            'PG_API_QUERY_TIMEOUT',
            `${route}: not answered within ${budget.queryTimeout} ms (api.queryTimeout); ask fewer series or a shorter range`,
            { status: 400 }
          )
        )
      }, budget.queryTimeout)
    })
    try {
      return await Promise.race([work, expired])
    } finally {
      clearTimeout(timer)
    }
  }
  // page × limit rows are read from every node to answer one page: bounded by maxIndexRows.
  const pageOf = (route: string, query: { limit?: unknown; page?: unknown }) => {
    const limit = intOr(query.limit, 500)
    const page = intOr(query.page, 1)
    const rows = limit * page
    if (rows > budget.maxIndexRows) {
      stats.indexRefused++
      throw new PeregrineError(
        'PG_API_TOO_MANY_ROWS',
        `${route}: page ${page} × limit ${limit} = ${rows} rows, at most ${budget.maxIndexRows} (api.maxIndexRows); ask a smaller limit or page, or narrow the query`,
        { status: 400 }
      )
    }
    return { rows, slice: <T>(all: T[]) => all.slice((page - 1) * limit, rows) }
  }

  app.post('/api/v1/graph/history', { config: { readOnly: true } }, async (req, reply) => {
    const b = req.body as Record<string, unknown> | undefined
    if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b)) {
      return badRequest(
        reply,
        'body: expected a JSON object {hostnames, counters, start_time, end_time, consol_fun, step}'
      )
    }
    const strings = (field: string): string[] | string => {
      const v = b[field]
      if (
        !Array.isArray(v) ||
        v.length === 0 ||
        !v.every((x) => typeof x === 'string' && x !== '')
      ) {
        return `${field}: required, a non-empty array of non-empty strings`
      }
      return v as string[]
    }
    const hostnames = strings('hostnames')
    if (typeof hostnames === 'string') return badRequest(reply, hostnames)
    const counters = strings('counters')
    if (typeof counters === 'string') return badRequest(reply, counters)
    const start = b.start_time
    const end = b.end_time
    // Unix seconds up to twice now, as transfer accepts: beyond that a range is a mistake, not a query.
    const maxTs = 2 * Math.floor(Date.now() / 1000)
    const isTs = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= maxTs
    if (!isTs(start))
      return badRequest(reply, `start_time: required, unix seconds from 0 to ${maxTs}`)
    if (!isTs(end)) return badRequest(reply, `end_time: required, unix seconds from 0 to ${maxTs}`)
    if ((end as number) < (start as number))
      return badRequest(reply, 'end_time: must not be before start_time')
    const cf = b.consol_fun
    if (typeof cf !== 'string' || !(CONSOL_FUNS as readonly string[]).includes(cf)) {
      return badRequest(reply, `consol_fun: required, one of ${CONSOL_FUNS.join(', ')}`)
    }
    const step = b.step
    if (step !== undefined && step !== null && (!Number.isInteger(step) || (step as number) <= 0)) {
      return badRequest(reply, 'step: a positive number of seconds, or left out')
    }
    if (hostnames.length * counters.length > MAX_PAIRS) {
      return badRequest(
        reply,
        `hostnames × counters: ${hostnames.length * counters.length} series asked, at most ${MAX_PAIRS} in one request`
      )
    }
    const pairs = hostnames.flatMap((endpoint) =>
      counters.map((counter) => ({ endpoint, counter }))
    )
    const query = (pair: { endpoint: string; counter: string }, maxPoints: number) => {
      const param: Record<string, unknown> = { start, end, consolFuc: cf, ...pair, maxPoints }
      if (typeof step === 'number') param.step = step
      return graphs.callSeries<QueryResponse>(pair.endpoint, pair.counter, 'Graph.Query', param)
    }
    // Every series first gets an equal share of maxHistoryPoints; one over its share answers only how
    // many points it has, and is asked again with that many once the total is known to fit. The
    // answers together never hold more than the budget, and the refusal states the whole request.
    const max = budget.maxHistoryPoints
    const share = Math.max(1, Math.floor(max / pairs.length))
    const results = await timed(
      '/graph/history',
      (async () => {
        const first = await Promise.all(pairs.map((pair) => query(pair, share)))
        const total = (rs: QueryResponse[]) =>
          rs.reduce((n, r) => n + (r.points ?? r.Values.length), 0)
        const tooMany = (asked: number) => {
          stats.historyRefused++
          return new PeregrineError(
            'PG_API_TOO_MANY_POINTS',
            `/graph/history: ${asked} points asked, at most ${max} (api.maxHistoryPoints); ask fewer counters, a shorter range or a larger step`,
            { status: 400 }
          )
        }
        if (total(first) > max) throw tooMany(total(first))
        const all = await Promise.all(
          first.map((r, i) =>
            r.points === undefined ? Promise.resolve(r) : query(pairs[i], r.points)
          )
        )
        if (all.some((r) => r.points !== undefined)) throw tooMany(total(all))
        return all
      })()
    )
    // falcon's QueryOne: series with no index row are left out; points outside the asked range dropped;
    // a negative rate (a counter reset) is no value.
    return results
      .filter((r) => r.step !== 0)
      .map((r) => ({
        ...r,
        Values: r.Values.filter(
          (v) => v.timestamp >= (start as number) && v.timestamp <= (end as number)
        ).map((v) =>
          r.dstype !== 'GAUGE' && v.value !== null && v.value < 0
            ? { timestamp: v.timestamp, value: null }
            : v
        ),
      }))
  })

  app.post('/api/v1/graph/lastpoint', { config: { readOnly: true } }, async (req, reply) => {
    const b = req.body
    if (
      !Array.isArray(b) ||
      !b.every(
        (x: { endpoint?: unknown; counter?: unknown }) =>
          typeof x?.endpoint === 'string' && typeof x.counter === 'string'
      )
    ) {
      return badRequest(reply, 'body: expected a JSON array of {endpoint, counter}')
    }
    const items = b as { endpoint: string; counter: string }[]
    return timed(
      '/graph/lastpoint',
      Promise.all(items.map((x) => graphs.callSeries(x.endpoint, x.counter, 'Graph.Last', x)))
    )
  })

  app.get('/api/v1/graph/endpoint', async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const bad = notStrings(q, ['q', 'tags', 'limit', 'page'])
    if (bad !== null) return badRequest(reply, bad)
    const terms = ((q.q as string | undefined) ?? '').split(' ').filter((t) => t !== '')
    const tags = ((q.tags as string | undefined) ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')
    const p = pageOf('/graph/endpoint', q)
    const answers = await timed(
      '/graph/endpoint',
      graphs.callAll<{ id: number; endpoint: string }[]>('Graph.Endpoints', {
        q: terms,
        tags,
        limit: p.rows,
      })
    )
    const byName = new Map<string, { id: number; endpoint: string }>()
    for (const list of answers) for (const e of list) byName.set(e.endpoint, e)
    const all = [...byName.values()].sort((a, b) =>
      a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0
    )
    return p.slice(all)
  })

  app.get('/api/v1/graph/endpoint_counter', async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const bad = notStrings(q, ['eid', 'metricQuery', 'limit', 'page'])
    if (bad !== null) return badRequest(reply, bad)
    const ids = ((q.eid as string | undefined) ?? '')
      .split(',')
      .filter((s) => s.trim() !== '')
      .map(Number)
    if (
      ids.length === 0 ||
      ids.length > 10_000 ||
      !ids.every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      return badRequest(
        reply,
        'eid: required, 1 to 10000 comma-separated endpoint ids from /graph/endpoint'
      )
    }
    const terms = ((q.metricQuery as string | undefined) ?? '').split(' ').filter((t) => t !== '')
    const p = pageOf('/graph/endpoint_counter', q)
    const answers = await timed(
      '/graph/endpoint_counter',
      graphs.callAll<{ endpoint_id: number; counter: string; step: number; type: string }[]>(
        'Graph.Counters',
        { ids, terms, limit: p.rows }
      )
    )
    const seen = new Map<
      string,
      { endpoint_id: number; counter: string; step: number; type: string }
    >()
    for (const list of answers) for (const c of list) seen.set(`${c.endpoint_id}/${c.counter}`, c)
    const all = [...seen.values()].sort((a, b) =>
      a.endpoint_id !== b.endpoint_id
        ? a.endpoint_id - b.endpoint_id
        : a.counter < b.counter
          ? -1
          : a.counter > b.counter
            ? 1
            : 0
    )
    return p.slice(all)
  })
}
