/**
 * @module nodata
 * Open-Falcon's nodata: for the series `mockcfg` rules name (hosts, host groups, other endpoints;
 * none of a host while it is in maintenance, whichever rule names it), a mock value is pushed through transfer once no point has arrived
 * for falcon's timeout (180 s when step < 60, else 3 × step), stamped `now − now%step − 2·step`, so
 * that an ordinary strategy (`agent.alive all(#1) == -1`) alerts on a silent host. Last points come
 * from graph (Graph.LastMany, by arrival time), each series looked at when its timeout can first have
 * passed; every decision is readable at /proc/status.
 */
import type { AddressInfo } from 'node:net'
import { pusherMetrics, readPush, type TransferPusher } from '../cluster/index.js'
import {
  counterFrom,
  type Deps,
  gaugeFrom,
  histogram,
  listenError,
  listenerMetrics,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  type Service,
} from '../core/index.js'
import { RuleRefresher, Store } from '../store/index.js'
import { type NodataConfig, timeoutOf } from './config.js'
import { nodataHttp } from './http.js'
import { loadRules } from './rules.js'
import { NodataWatcher } from './watcher.js'

export { defaultNodataConfig, parseNodataConfig, timeoutOf, type NodataConfig } from './config.js'

/** A full reread of the rules at least this often, even when the fingerprint did not change. */
const FULL_RELOAD_MS = 60_000
/** The longest wait between two looks (new series are looked at by then). */
const MAX_SLEEP_MS = 1000

/** NodataService is the running nodata; `reload()` rereads the rules, `look()` judges what is due. */
export interface NodataService extends Service {
  reload(): Promise<number>
  look(): Promise<number>
  readonly watcher: NodataWatcher
  readonly pusher: TransferPusher
}

/**
 * start reads the rules, then listens and judges. With `shared.store` (the all-in-one's) that store is
 * used and left open on stop. A store that cannot be read at start is not fatal: nodata watches
 * nothing until it can read it, and says so.
 */
export async function start(
  config: Readonly<NodataConfig>,
  deps: Deps,
  shared: { store?: Store } = {}
): Promise<NodataService> {
  const store = shared.store ?? (await Store.open(config.store, deps.log))
  const ownStore = shared.store === undefined
  const { graphs, pusher } = readPush(config, deps, {
    name: 'nodata',
    batch: config.batch,
    inFlight: 8,
  })
  const registry = deps.metrics ?? newMetricsRegistry()
  const lateness = histogram(registry, {
    name: 'peregrine_nodata_lateness_seconds',
    help: 'Seconds past a series timeout at which nodata decided its first mock.',
    labels: [],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  })
  const watcher = new NodataWatcher({
    timeoutOf: (step) => timeoutOf(step, config),
    read: (ws) => graphs.lastMany(ws),
    push: (points) => pusher.push(points),
    now: deps.now,
    log: deps.log,
    onLateness: (s) => lateness.observe({}, Math.max(0, s)),
  })

  const counters = { rules: 0, skippedRules: 0 }
  const refresher = new RuleRefresher({
    name: 'nodata',
    db: store.db,
    table: 'mockcfg',
    interval: config.refreshInterval,
    full: FULL_RELOAD_MS,
    now: deps.now,
    log: deps.log,
    load: async () => {
      const rules = await loadRules(store.db, config.maxSeries)
      watcher.setRules(rules)
      counters.rules = rules.rules
      counters.skippedRules = rules.skipped.length
      return rules.skipped
    },
  })
  const reload = async (): Promise<number> => {
    await refresher.reload(true)
    return watcher.size
  }
  await refresher.start()

  const listeners = { http: newListenerStats() }
  const http = nodataHttp({
    watcher,
    config: { ...config, store: config.store.replace(/\/\/([^:@/]*):[^@]*@/, '//$1:***@') },
    counters: () => ({
      ...counters,
      ...refresher.counters,
      ...watcher.counters,
      watched: watcher.size,
      ...pusher.counters,
      pending: pusher.pending,
    }),
    reload,
    sendNow: async () => {
      const n = pusher.pending
      await pusher.flush()
      return n
    },
    limits: config,
    stats: listeners.http,
    registry,
  })
  registerMetrics(registry, watcher, pusher, counters, refresher.counters)
  listenerMetrics(registry, 'nodata', () => listeners)
  try {
    const h = parseListen('nodata.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('nodata.http', config.http, err)
    })
  } catch (err) {
    await refresher.stop()
    await http.close()
    pusher.close()
    graphs.close()
    if (ownStore) await store.close()
    throw err
  }

  let stopped = false
  let lookTimer: NodeJS.Timeout | undefined
  let looking: Promise<unknown> = Promise.resolve()
  const scheduleLook = () => {
    if (stopped) return
    const wait = Math.max(10, Math.min(MAX_SLEEP_MS, watcher.nextCheckAt() - deps.now()))
    lookTimer = setTimeout(() => {
      looking = watcher
        .look()
        .catch((err: unknown) => deps.log.error(`nodata: judging: ${(err as Error).message}`))
        .finally(scheduleLook)
    }, wait)
  }
  scheduleLook()
  const addr = http.server.address() as AddressInfo
  return {
    name: 'nodata',
    addresses: { http: `${addr.address}:${addr.port}` },
    watcher,
    pusher,
    reload,
    look: () => watcher.look(),
    async stop() {
      stopped = true
      clearTimeout(lookTimer)
      await Promise.allSettled([looking, refresher.stop()])
      await http.close()
      // Mocks decided and not yet pushed get one more try before the clients close.
      await Promise.race([pusher.flush(), new Promise((r) => setTimeout(r, 2000).unref())])
      pusher.close()
      graphs.close()
      if (ownStore) await store.close()
    },
  }
}

function registerMetrics(
  registry: ReturnType<typeof newMetricsRegistry>,
  watcher: NodataWatcher,
  pusher: TransferPusher,
  counters: { rules: number; skippedRules: number },
  refresher: { reloadFailures: number }
): void {
  gaugeFrom(registry, {
    name: 'peregrine_nodata_series',
    help: 'Series nodata watches, by status.',
    labels: ['status'],
    read: () => {
      const by = new Map<string, number>()
      for (const s of watcher.states()) by.set(s.status, (by.get(s.status) ?? 0) + 1)
      return [...by].map(([status, n]) => [{ status }, n] as const)
    },
  })
  gaugeFrom(registry, {
    name: 'peregrine_nodata_rules',
    help: 'mockcfg rules read, and those skipped.',
    labels: ['state'],
    read: () => [
      [{ state: 'read' }, counters.rules],
      [{ state: 'skipped' }, counters.skippedRules],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_nodata_mocks_total',
    help: 'Mock points nodata decided to push.',
    read: () => watcher.counters.mocks,
  })
  counterFrom(registry, {
    name: 'peregrine_nodata_judged_total',
    help: 'Judgements of a series.',
    read: () => watcher.counters.judged,
  })
  pusherMetrics(registry, 'peregrine_nodata', pusher, 'Mock points')
  counterFrom(registry, {
    name: 'peregrine_nodata_reload_failures_total',
    help: 'Rereads of the rules that failed (the store did not answer).',
    read: () => refresher.reloadFailures,
  })
}
