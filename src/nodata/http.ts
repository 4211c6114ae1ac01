// nodata's HTTP routes, in falcon's shapes (modules/nodata/http): /health, /version, /workdir, /config,
// /config/reload, /proc/counters, /statistics/all, /proc/status[/<key>], /proc/collect/<key>,
// /proc/config[/<key>], /proc/group/<name>, /debug/*; and /metrics.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  type ConnectionLimits,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  hostIsLocalOrAddress,
  limitedServerFactory,
  type ListenerStats,
  type MetricsRegistry,
  VERSION,
} from '../core/index.js'
import type { Watch } from './rules.js'
import type { NodataWatcher, SeriesState, Status } from './watcher.js'

export interface NodataHttpContext {
  watcher: NodataWatcher
  config: unknown
  counters: () => Record<string, number>
  /** reload rereads the rules now; resolves how many series are watched, or throws why not. */
  reload: () => Promise<number>
  /** sendNow pushes what is queued; resolves how many points were waiting. */
  sendNow: () => Promise<number>
  limits: ConnectionLimits
  stats: ListenerStats
  registry: MetricsRegistry
}

const STATUSES = new Set<Status>(['PENDING', 'OK', 'NODATA', 'MAINTENANCE'])
const MAX_LIST = 10_000

/**
 * localOnly says why a request may not use falcon's /config/reload and /debug routes, or null: they
 * answer this host only (falcon's rule), not a request a proxy relayed, and not a web page (another
 * Origin, or a Host name a page could rebind to this address), as scrape's reload.
 */
function localOnly(req: FastifyRequest): string | null {
  const h = req.headers
  if ((h['x-forwarded-for'] ?? h.forwarded ?? h['x-real-ip']) !== undefined)
    return 'no privilege: a relayed request is not from this host'
  const a = req.socket.remoteAddress ?? ''
  if (!(a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.')))
    return 'no privilege: from this host only'
  if (h.host !== undefined && !hostIsLocalOrAddress(h.host))
    return `no privilege: the Host must be localhost or an IP address, not ${JSON.stringify(h.host.slice(0, 100))}`
  if (h.origin !== undefined && h.origin.toLowerCase() !== `http://${h.host ?? ''}`.toLowerCase())
    return 'no privilege: not for a web page of another origin; call it with curl'
  return null
}

/** statusOf renders a series' state as falcon's NodataStatus {Key, Status, Cnt, Ts} and what decided it. */
export function statusOf(s: SeriesState) {
  return {
    Key: s.watch.key,
    Status: s.status,
    Cnt: s.cnt,
    Ts: s.ts,
    // Peregrine's: why, from what, and when it is looked at next.
    Reason: s.last?.reason ?? 'not judged yet',
    JudgedAt: s.last === undefined ? 0 : Math.floor(s.last.at / 1000),
    LastArrival: s.lastArrival === undefined ? 0 : Math.floor(s.lastArrival / 1000),
    LastPoint: s.lastPoint ?? null,
    LastMockTs: s.lastMockTs ?? 0,
    NextCheck: Math.floor(s.checkAt / 1000),
    Rule: { Id: s.watch.ruleId, Name: s.watch.ruleName, ObjType: s.watch.objType },
  }
}

/** configOf renders a watch as falcon's NodataConfig. */
function configOf(w: Watch) {
  return {
    Id: w.ruleId,
    Name: w.ruleName,
    ObjType: w.objType,
    Endpoint: w.endpoint,
    Metric: w.metric,
    Tags: Object.fromEntries(
      w.tags === ''
        ? []
        : w.tags
            .split(',')
            .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
    ),
    Type: 'GAUGE',
    Step: w.step,
    Mock: w.mock,
  }
}

export function nodataHttp(ctx: NodataHttpContext): FastifyInstance {
  const app = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(ctx.limits, ctx.stats),
  })
  const data = (d: unknown) => ({ msg: 'success', data: d })
  // The router decodes the path: a key's `/` and `=` arrive as written.
  const rest = (req: FastifyRequest) => (req.params as { '*': string })['*']
  app.get('/health', (_req, reply) => reply.type('text/plain').send('ok\n'))
  app.get('/version', (_req, reply) => reply.type('text/plain').send(`${VERSION}\n`))
  app.get('/workdir', (_req, reply) => reply.type('text/plain').send(`${process.cwd()}\n`))
  app.get('/config', () => data(ctx.config))
  app.get('/config/reload', async (req, reply) => {
    const refused = localOnly(req)
    if (refused !== null) return reply.status(403).send({ msg: refused })
    await ctx.reload()
    return data('ok')
  })
  app.get('/proc/counters', () => data(ctx.counters()))
  // As the other components': the counters and each listener's connections (refused by a limit too).
  app.get('/counter/all', () => data({ ...ctx.counters(), listeners: { http: ctx.stats } }))
  app.get('/statistics/all', () => data(ctx.counters()))
  // Every decision: the series' states, filtered by ?status=NODATA, at most ?limit (1000) of them;
  // ?changes lists the last status changes instead.
  app.get('/proc/status', (req, reply) => {
    const q = req.query as { status?: string; limit?: string; changes?: string }
    const limit = q.limit === undefined ? 1000 : Number(q.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST)
      return reply.status(400).send({ msg: `limit: expected an integer from 1 to ${MAX_LIST}` })
    if (q.changes !== undefined) return data(ctx.watcher.transitions.slice(-limit))
    const want = q.status?.toUpperCase()
    if (want !== undefined && !STATUSES.has(want as Status))
      return reply.status(400).send({
        msg: `status: expected one of ${[...STATUSES].join(', ')}, got ${JSON.stringify(q.status)}`,
      })
    const out = []
    for (const s of ctx.watcher.states()) {
      if (want !== undefined && s.status !== want) continue
      out.push(statusOf(s))
      if (out.length >= limit) break
    }
    return data(out)
  })
  // falcon answers an empty NodataStatus for a key it does not watch.
  app.get('/proc/status/*', (req) => {
    const s = ctx.watcher.state(rest(req))
    return data(s === undefined ? { Key: '', Status: '', Cnt: 0, Ts: 0 } : statusOf(s))
  })
  app.get('/proc/collect/*', (req) => {
    const s = ctx.watcher.state(rest(req))
    return data(
      s === undefined
        ? null
        : {
            Key: s.watch.key,
            LastPoint: s.lastPoint ?? null,
            LastArrival: s.lastArrival === undefined ? 0 : Math.floor(s.lastArrival / 1000),
          }
    )
  })
  app.get('/proc/config', () => {
    const out: Record<string, unknown> = {}
    let n = 0
    for (const [key, w] of ctx.watcher.rules?.watches ?? []) {
      out[key] = configOf(w)
      if (++n >= MAX_LIST) break
    }
    return data(out)
  })
  app.get('/proc/config/*', (req) => {
    const w = ctx.watcher.rules?.watches.get(rest(req))
    return data(w === undefined ? {} : configOf(w))
  })
  // falcon's map of hostname → host id (here every host of the group, maintenance or not).
  app.get('/proc/group/*', (req) => {
    const hosts = ctx.watcher.rules?.groups.get(rest(req)) ?? []
    return data(Object.fromEntries(hosts.map((h) => [h.hostname, h.id])))
  })
  app.get('/debug/config/sync', async (req, reply) => {
    const refused = localOnly(req)
    if (refused !== null) return reply.status(403).send({ msg: refused })
    const started = Date.now()
    const cnt = await ctx.reload()
    return data({ cnt, time: Math.round((Date.now() - started) / 1000) })
  })
  app.get('/debug/collector/collect', async (req, reply) => {
    const refused = localOnly(req)
    if (refused !== null) return reply.status(403).send({ msg: refused })
    const started = Date.now()
    const cnt = await ctx.watcher.look()
    return data({ cnt, time: Math.round((Date.now() - started) / 1000) })
  })
  app.get('/debug/sender/send', async (req, reply) => {
    const refused = localOnly(req)
    if (refused !== null) return reply.status(403).send({ msg: refused })
    const started = Date.now()
    const cnt = await ctx.sendNow()
    return data({ cnt, time: Math.round((Date.now() - started) / 1000) })
  })
  app.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(ctx.registry))
  )
  return app
}
