// hbs's HTTP routes on :6031 (falcon's modules/hbs/http): health, and views of what hbs serves.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  type ConnectionLimits,
  counterFrom,
  defaultConnectionLimits,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  gaugeFrom,
  type LabelledValue,
  limitedServerFactory,
  listenerMetrics,
  type ListenerStats,
  type MetricsRegistry,
  newListenerStats,
  newMetricsRegistry,
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
  /** metrics: the registry /metrics serves (hbs's metrics registered in it here). */
  metrics?: MetricsRegistry
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
  const registry = ctx.metrics ?? newMetricsRegistry()
  const snapshotGauge = (name: string, help: string, read: (s: Snapshot) => number) =>
    gaugeFrom(registry, { name, help, read: () => read(snap()) })
  snapshotGauge('peregrine_hbs_hosts', 'Hosts in the portal.', (s) => s.hostCount)
  snapshotGauge(
    'peregrine_hbs_hosts_monitored',
    'Hosts not in maintenance.',
    (s) => s.monitored.size
  )
  snapshotGauge('peregrine_hbs_strategies', 'Strategies hbs serves.', (s) => s.strategies.size)
  snapshotGauge(
    'peregrine_hbs_expressions',
    'Expressions hbs serves.',
    (s) => s.expressions?.length ?? 0
  )
  snapshotGauge(
    'peregrine_hbs_snapshot_build_seconds',
    'How long the last snapshot of the store took.',
    (s) => s.buildMs / 1000
  )
  counterFrom(registry, {
    name: 'peregrine_hbs_refreshes_total',
    help: 'Snapshots of the portal store, by outcome.',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'ok' }, ctx.source.counters.refreshes],
      [{ outcome: 'failed' }, ctx.source.counters.failures],
    ],
  })
  gaugeFrom(registry, {
    name: 'peregrine_hbs_agents',
    help: 'Agents that sent a heartbeat since start.',
    read: () => ctx.agents.counters.agents,
  })
  gaugeFrom(registry, {
    name: 'peregrine_hbs_host_writes_pending',
    help: 'Host rows waiting to be written to the store.',
    read: () => ctx.agents.counters.pendingWrites,
  })
  counterFrom(registry, {
    name: 'peregrine_hbs_host_writes_total',
    help: 'Host rows written to the store from heartbeats, by outcome.',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'written' }, ctx.agents.counters.written],
      [{ outcome: 'dropped' }, ctx.agents.counters.dropped],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_hbs_hosts_refused_total',
    help: 'Heartbeats of new hosts refused, by reason.',
    labels: ['reason'],
    read: () =>
      Object.entries(ctx.agents.counters.hostsRefused).map(
        ([reason, n]) => [{ reason }, Number(n)] as LabelledValue
      ),
  })
  listenerMetrics(registry, 'hbs', () => listeners)
  app.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
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
