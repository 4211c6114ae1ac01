// Open-Falcon api's graph routes (modules/api/app/controller/graph): history, lastpoint, endpoint search.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { CONSOL_FUNS } from '../tsdb/index.js'
import type { GraphCluster } from './graph-cluster.js'

interface QueryResponse {
  endpoint: string
  counter: string
  dstype: string
  step: number
  Values: { timestamp: number; value: number | null }[]
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

function page<T>(all: T[], query: { limit?: unknown; page?: unknown }): T[] {
  const limit = intOr(query.limit, 500)
  const p = intOr(query.page, 1)
  return all.slice((p - 1) * limit, p * limit)
}

/** registerGraphRoutes adds /api/v1/graph/{history,lastpoint,endpoint,endpoint_counter}. */
export function registerGraphRoutes(app: FastifyInstance, graphs: GraphCluster): void {
  app.post('/api/v1/graph/history', async (req, reply) => {
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
    const calls: Promise<QueryResponse>[] = []
    for (const endpoint of hostnames) {
      for (const counter of counters) {
        const param: Record<string, unknown> = { start, end, consolFuc: cf, endpoint, counter }
        if (typeof step === 'number') param.step = step
        calls.push(graphs.callSeries<QueryResponse>(endpoint, counter, 'Graph.Query', param))
      }
    }
    const results = await Promise.all(calls)
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

  app.post('/api/v1/graph/lastpoint', async (req, reply) => {
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
    return Promise.all(items.map((x) => graphs.callSeries(x.endpoint, x.counter, 'Graph.Last', x)))
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
    const answers = await graphs.callAll<{ id: number; endpoint: string }[]>('Graph.Endpoints', {
      q: terms,
      tags,
    })
    const byName = new Map<string, { id: number; endpoint: string }>()
    for (const list of answers) for (const e of list) byName.set(e.endpoint, e)
    const all = [...byName.values()].sort((a, b) =>
      a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0
    )
    return page(all, q)
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
    const answers = await graphs.callAll<
      { endpoint_id: number; counter: string; step: number; type: string }[]
    >('Graph.Counters', { ids, terms })
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
    return page(all, q)
  })
}
