/**
 * @module aggregator
 * Open-Falcon's aggregator: for each `cluster` rule, every `step` seconds, a host group's numerator
 * and denominator over the last points of its hosts not in maintenance (values within
 * [now − 2·step, now]), pushed through transfer as the rule's endpoint, metric and tags. Last points
 * come from graph (Graph.LastMany, one fan-out per run); rules are reread when their rows change.
 */
import type { AddressInfo } from 'node:net'
import type { Kysely } from 'kysely'
import Fastify from 'fastify'
import { pusherMetrics, readPush, type TransferPusher } from '../cluster/index.js'
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  gaugeFrom,
  limitedServerFactory,
  listenError,
  listenerMetrics,
  type MetricValue,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  type Service,
  VERSION,
} from '../core/index.js'
import {
  type GroupHost,
  groupHosts,
  inMaintenance,
  type PortalDatabase,
  RuleRefresher,
  Store,
} from '../store/index.js'
import type { AggregatorConfig } from './config.js'
import { countersOf, evaluate, type Outcome, parseRule, type Rule } from './evaluate.js'

export { defaultAggregatorConfig, parseAggregatorConfig, type AggregatorConfig } from './config.js'
export { evaluate, parseRule, type Rule } from './evaluate.js'

const FULL_RELOAD_MS = 60_000

/** RuleRun is what the last run of a rule did, for /proc/rules. */
interface RuleRun {
  at: number
  timestamp: number
  outcome: Outcome
}

/** AggregatorService is the running aggregator; `runAll()` runs every rule now (tests, debug). */
export interface AggregatorService extends Service {
  reload(): Promise<number>
  runAll(nowSeconds?: number): Promise<void>
  readonly pusher: TransferPusher
}

/** loadRules reads the rules within `ids` and the groups' hosts; bad rows are named in `skipped`. */
async function loadRules(
  db: Kysely<PortalDatabase>,
  ids: readonly [number, number],
  maxRules: number
): Promise<{ rules: Rule[]; groups: Map<number, GroupHost[]>; skipped: string[] }> {
  let q = db.selectFrom('cluster').selectAll().orderBy('id')
  if (ids[0] >= 0) q = q.where('id', '>=', ids[0])
  if (ids[1] >= 0) q = q.where('id', '<=', ids[1])
  const [rows, groups] = await Promise.all([q.execute(), groupHosts(db)])
  const rules: Rule[] = []
  const skipped: string[] = []
  for (const row of rows) {
    const r = parseRule({
      ...row,
      id: Number(row.id),
      grp_id: Number(row.grp_id),
      step: Number(row.step),
    })
    if (typeof r === 'string') skipped.push(`rule ${row.id}: ${r}`)
    else if (!groups.byId.has(r.grpId)) skipped.push(`rule ${row.id}: no host group ${r.grpId}`)
    else if (rules.length >= maxRules) {
      skipped.push(`rule ${row.id}: aggregator.maxRules (${maxRules}) rules run already`)
    } else rules.push(r)
  }
  return { rules, groups: groups.byId, skipped }
}

export async function start(
  config: Readonly<AggregatorConfig>,
  deps: Deps,
  shared: { store?: Store } = {}
): Promise<AggregatorService> {
  const store = shared.store ?? (await Store.open(config.store, deps.log))
  const ownStore = shared.store === undefined
  const { graphs, pusher } = readPush(config, deps, { name: 'aggregator', batch: 500, inFlight: 4 })
  const counters = {
    runs: 0,
    results: 0,
    skippedRuns: 0,
    readFailures: 0,
  }
  let groups = new Map<number, GroupHost[]>()
  // One worker per rule version: a timer at each multiple of its step.
  const workers = new Map<string, { rule: Rule; timer: NodeJS.Timeout | undefined }>()
  const lastRuns = new Map<number, RuleRun>()
  let skipped: string[] = []
  let stopped = false

  const run = async (rule: Rule, nowS: number): Promise<void> => {
    counters.runs++
    const hosts = (groups.get(rule.grpId) ?? [])
      .filter((h) => !inMaintenance(h, nowS))
      .map((h) => h.hostname)
    const counterNames = countersOf(rule)
    const items = hosts.flatMap((endpoint) =>
      counterNames.map((counter) => ({ endpoint, counter }))
    )
    const { points, failures } = await graphs.lastMany(items)
    let outcome: Outcome
    if (failures.length > 0) {
      // A node that did not answer would make its hosts look silent: no result rather than a wrong one.
      counters.readFailures++
      outcome = {
        skipped: `graph did not answer: ${failures.join('; ')}`,
        hosts: hosts.length,
        valid: 0,
      }
    } else {
      const values = new Map<string, number>()
      const from = nowS - 2 * rule.step
      items.forEach((it, i) => {
        const p = points[i]
        if (p == null || p.value === null) return
        if (p.timestamp < from || p.timestamp > nowS) return
        values.set(`${it.endpoint}\x00${it.counter}`, p.value)
      })
      outcome = evaluate(rule, hosts, (h, c) => values.get(`${h}\x00${c}`))
    }
    lastRuns.set(rule.id, { at: deps.now(), timestamp: nowS, outcome })
    if ('skipped' in outcome) {
      counters.skippedRuns++
      return
    }
    counters.results++
    const point: MetricValue = {
      endpoint: rule.endpoint,
      metric: rule.metric,
      value: outcome.value,
      step: rule.step,
      counterType: rule.dsType === 'COUNTER' ? 'COUNTER' : 'GAUGE',
      tags: rule.tags,
      timestamp: nowS,
    }
    pusher.push([point])
  }

  const schedule = (key: string) => {
    const w = workers.get(key)
    if (w === undefined || stopped) return
    const stepMs = w.rule.step * 1000
    const now = deps.now()
    const next = Math.floor(now / stepMs) * stepMs + stepMs
    w.timer = setTimeout(() => {
      run(w.rule, Math.round(next / 1000))
        .catch((err: unknown) =>
          deps.log.error(`aggregator: rule ${w.rule.id}: ${(err as Error).message}`)
        )
        .finally(() => schedule(key))
    }, next - now)
  }

  const refresher = new RuleRefresher({
    name: 'aggregator',
    db: store.db,
    table: 'cluster',
    interval: config.refreshInterval,
    full: FULL_RELOAD_MS,
    now: deps.now,
    log: deps.log,
    load: async () => {
      const loaded = await loadRules(store.db, config.ids, config.maxRules)
      groups = loaded.groups
      skipped = loaded.skipped
      const wanted = new Map(loaded.rules.map((r) => [r.version, r]))
      for (const [key, w] of workers) {
        if (wanted.has(key)) continue
        clearTimeout(w.timer)
        workers.delete(key)
      }
      for (const [key, rule] of wanted) {
        if (workers.has(key)) continue
        workers.set(key, { rule, timer: undefined })
        schedule(key)
      }
      const ids = new Set(loaded.rules.map((r) => r.id))
      for (const id of lastRuns.keys()) if (!ids.has(id)) lastRuns.delete(id)
      return loaded.skipped
    },
  })
  await refresher.start()

  const registry = deps.metrics ?? newMetricsRegistry()
  gaugeFrom(registry, {
    name: 'peregrine_aggregator_rules',
    help: 'Aggregator rules running, and those skipped.',
    labels: ['state'],
    read: () => [
      [{ state: 'running' }, workers.size],
      [{ state: 'skipped' }, skipped.length],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_aggregator_runs_total',
    help: 'Runs of a rule, by outcome (result: a value pushed; skipped: none, see /proc/rules).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'result' }, counters.results],
      [{ outcome: 'skipped' }, counters.skippedRuns],
    ],
  })
  pusherMetrics(registry, 'peregrine_aggregator', pusher, 'Results')

  const stats = newListenerStats()
  listenerMetrics(registry, 'aggregator', () => ({ http: stats }))
  const http = Fastify({ logger: false, serverFactory: limitedServerFactory(config, stats) })
  const data = (d: unknown) => ({ msg: 'success', data: d })
  http.get('/health', (_req, reply) => reply.type('text/plain').send('ok\n'))
  http.get('/version', (_req, reply) => reply.type('text/plain').send(`${VERSION}\n`))
  http.get('/workdir', (_req, reply) => reply.type('text/plain').send(`${process.cwd()}\n`))
  // falcon's /items: one line per rule read (here: those running).
  http.get('/items', (_req, reply) =>
    reply
      .type('text/plain')
      .send(
        [...workers.values()]
          .map(
            ({ rule: r }) =>
              `id:${r.id} group:${r.grpId} endpoint:${r.endpoint} metric:${r.metric} tags:${r.tags} step:${r.step}\n`
          )
          .join('')
      )
  )
  // Peregrine's: each rule's last run (value, or why none) and the rules skipped.
  http.get('/proc/rules', () =>
    data({
      running: [...workers.values()].map(({ rule }) => ({
        id: rule.id,
        grpId: rule.grpId,
        endpoint: rule.endpoint,
        metric: rule.metric,
        tags: rule.tags,
        step: rule.step,
        last: lastRuns.get(rule.id) ?? null,
      })),
      skipped,
    })
  )
  http.get('/proc/counters', () =>
    data({
      ...counters,
      ...refresher.counters,
      rules: workers.size,
      ...pusher.counters,
      pending: pusher.pending,
    })
  )
  // As the other components': the counters and the listener's connections (refused by a limit too).
  http.get('/counter/all', () =>
    data({
      ...counters,
      ...refresher.counters,
      rules: workers.size,
      ...pusher.counters,
      pending: pusher.pending,
      listeners: { http: stats },
    })
  )
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  try {
    const h = parseListen('aggregator.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('aggregator.http', config.http, err)
    })
  } catch (err) {
    await refresher.stop()
    for (const w of workers.values()) clearTimeout(w.timer)
    await http.close()
    pusher.close()
    graphs.close()
    if (ownStore) await store.close()
    throw err
  }
  const addr = http.server.address() as AddressInfo
  return {
    name: 'aggregator',
    addresses: { http: `${addr.address}:${addr.port}` },
    pusher,
    reload: async () => {
      await refresher.reload(true)
      return workers.size
    },
    async runAll(nowSeconds?: number) {
      const nowS = nowSeconds ?? Math.floor(deps.now() / 1000)
      await Promise.all([...workers.values()].map((w) => run(w.rule, nowS)))
    },
    async stop() {
      stopped = true
      await refresher.stop()
      for (const w of workers.values()) clearTimeout(w.timer)
      await http.close()
      await Promise.race([pusher.flush(), new Promise((r) => setTimeout(r, 2000).unref())])
      pusher.close()
      graphs.close()
      if (ownStore) await store.close()
    },
  }
}
