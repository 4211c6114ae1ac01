// hbs's HTTP routes on :6031 (falcon's modules/hbs/http): health, and views of what hbs serves.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  type ConnectionLimits,
  defaultConnectionLimits,
  limitedServerFactory,
  type ListenerStats,
  newListenerStats,
} from '../core/index.js'
import type { Agents } from './agents.js'
import type { Snapshot, SnapshotSource } from './snapshot.js'

/** HbsHttpContext is what the routes read. */
export interface HbsHttpContext {
  source: SnapshotSource
  agents: Agents
  /** limits apply to the HTTP listener (defaultConnectionLimits when left out). */
  limits?: ConnectionLimits
  /** listeners: every listener's stats, shown on /counter/all. */
  listeners?: { http: ListenerStats } & Record<string, ListenerStats>
}

// falcon's /config/reload answers only local callers. A reverse proxy on this machine connects from
// loopback too, whoever its client is: a request carrying a forwarding header is not taken as local.
function isLocal(req: FastifyRequest): boolean {
  const h = req.headers
  const relayed = h['x-forwarded-for'] ?? h.forwarded ?? h['x-real-ip']
  if (relayed !== undefined) return false
  const address = req.socket.remoteAddress
  return (
    address !== undefined &&
    (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'))
  )
}

function byId<T>(m: ReadonlyMap<number, T>): Record<string, T> {
  const out: Record<string, T> = {}
  for (const [id, v] of m) out[String(id)] = v
  return out
}

function summary(s: Snapshot) {
  return {
    builtAt: s.builtAt,
    buildMs: Math.round(s.buildMs * 10) / 10,
    hosts: s.hostCount,
    monitoredHosts: s.monitored.size,
    templates: s.templates.size,
    strategies: s.strategies.size,
    strategySets: s.strategySets,
    expressions: s.expressions?.length ?? 0,
    getStrategiesBytes: s.replyBytes,
  }
}

/**
 * hbsHttp builds the routes, in falcon's shapes (`{"msg":"success","data":...}`, maps keyed by id):
 * /health, /version, /workdir, /expressions, /agents, /hosts (not in maintenance), /strategies (active
 * now, each with its own template), /templates, /plugins/<hostname>, and /config/reload, which refreshes
 * the snapshot from the store at once (from 127.0.0.1 only, as falcon). /counter/all adds counters.
 */
export function hbsHttp(ctx: HbsHttpContext): FastifyInstance {
  const listeners = ctx.listeners ?? { http: newListenerStats() }
  const app = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(ctx.limits ?? defaultConnectionLimits, listeners.http),
  })
  const data = (d: unknown) => ({ msg: 'success', data: d })
  const snap = () => ctx.source.current
  app.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  app.get('/version', (_req, reply) => {
    void reply.type('text/plain').send('peregrine')
  })
  app.get('/workdir', () => data(process.cwd()))
  app.get('/expressions', () => data(snap().expressions))
  app.get('/agents', () => data(ctx.agents.hostnames()))
  app.get('/hosts', () => data(byId(snap().monitored)))
  app.get('/strategies', () => data(byId(snap().strategies)))
  app.get('/templates', () => data(byId(snap().templates)))
  app.get('/plugins/*', (req) => data(snap().plugins((req.params as { '*': string })['*'])))
  app.get('/config/reload', async (req, reply) => {
    if (!isLocal(req)) return reply.type('text/plain').send('no privilege')
    if (!(await ctx.source.refresh())) {
      return reply.status(503).send({ msg: `refresh failed: ${ctx.source.failing ?? 'unknown'}` })
    }
    return data(summary(snap()))
  })
  app.get('/counter/all', () =>
    data({
      snapshot: summary(snap()),
      refreshFailing: ctx.source.failing ?? null,
      ...ctx.source.counters,
      ...ctx.agents.counters,
      listeners,
    })
  )
  return app
}
