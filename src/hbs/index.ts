/**
 * @module hbs
 * The heartbeat server, as Open-Falcon's hbs: agents report to it and fetch their plugins, builtin
 * metrics and trusted IPs; judges fetch strategies (with template inheritance) and expressions. All of
 * it over Go's JSON-RPC on :6030, answered from a snapshot of the portal store refreshed every few
 * seconds (and kept while the store is down), with falcon's HTTP views on :6031.
 */
import type { AddressInfo } from 'node:net'
import {
  type Deps,
  listenError,
  listenTcp,
  newListenerStats,
  parseListen,
  RpcError,
  serveJsonRpc,
  type Service,
} from '../core/index.js'
import { Store } from '../store/index.js'
import { Agents } from './agents.js'
import type { HbsConfig } from './config.js'
import { hbsHttp } from './http.js'
import { hbsMethods } from './rpc.js'
import { SnapshotSource } from './snapshot.js'

export { parseHbsConfig, defaultHbsConfig, type HbsConfig } from './config.js'

/** HbsService is the running hbs; `refresh()` rereads the store now (resolves false if it cannot). */
export interface HbsService extends Service {
  refresh(): Promise<boolean>
}

/**
 * start reads the store once, then listens. With `shared.store` (the all-in-one runner's, shared with
 * api) that store is used and left open on stop; otherwise hbs opens `config.store` and closes it on
 * stop. A store that cannot be reached at start is not fatal: hbs answers from an empty snapshot until
 * it can read it. `stop()` stops listening, writes host rows still pending when it can, then stops.
 */
export async function start(
  config: Readonly<HbsConfig>,
  deps: Deps,
  shared: { store?: Store } = {}
): Promise<HbsService> {
  const store = shared.store ?? (await Store.open(config.store, deps.log))
  const ownStore = shared.store === undefined
  const source = new SnapshotSource(store.db, { log: deps.log, now: deps.now })
  const agents = new Agents({
    db: store.db,
    updateOnly: config.hosts !== '',
    now: deps.now,
    log: deps.log,
    stored: () => source.current,
    maxHosts: config.maxHosts,
    maxNewHostsPerHour: config.maxNewHostsPerHour,
  })
  await source.refresh()
  const methods = hbsMethods({
    snapshot: () => source.current,
    agents,
    trustable: config.trustable.join(','),
    now: deps.now,
  })
  // Agents and judges send small requests (a hostname and a checksum): 1 MiB bounds what one
  // connection can make hbs hold.
  const listeners = { rpc: newListenerStats(), http: newListenerStats() }
  const rpc = serveJsonRpc(methods, {
    onError: (m) => deps.log.warn(`hbs rpc: ${m}`),
    maxRequestBytes: 1 << 20,
    limits: config,
    stats: listeners.rpc,
  })
  const http = hbsHttp({ source, agents, limits: config, listeners, metrics: deps.metrics })
  try {
    await listenTcp(rpc, 'hbs.rpc', config.rpc)
    const h = parseListen('hbs.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('hbs.http', config.http, err)
    })
  } catch (err) {
    rpc.close()
    await http.close()
    if (ownStore) await store.close()
    throw err
  }

  // One timer: retry pending host rows, reread the store, forget silent agents; then wait again.
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let ticking: Promise<void> = Promise.resolve()
  const tick = async () => {
    await agents.flush()
    await source.refresh()
    agents.sweep()
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      ticking = tick()
        .catch((err: unknown) => deps.log.error(`hbs: refresh: ${(err as Error).message}`))
        .finally(schedule)
    }, config.refreshInterval)
  }
  schedule()

  const rpcAddr = rpc.address() as AddressInfo
  const httpAddr = http.server.address() as AddressInfo
  return {
    name: 'hbs',
    addresses: {
      rpc: `${rpcAddr.address}:${rpcAddr.port}`,
      http: `${httpAddr.address}:${httpAddr.port}`,
    },
    local: {
      // The same methods in-process; GetStrategies as objects rather than its serialised reply.
      async call<T>(method: string, param: unknown): Promise<T> {
        if (stopped) throw new Error('hbs is stopped')
        if (method === 'Hbs.GetStrategies') return source.current.hostStrategiesValue() as T
        const fn = methods.get(method)
        if (fn === undefined) throw new RpcError(`rpc: can't find method ${method}`)
        return (await fn(param)) as T
      },
      close: () => undefined,
    },
    refresh: () => source.refresh(),
    async stop() {
      stopped = true
      clearTimeout(timer)
      await new Promise<void>((resolve) => {
        rpc.close(() => resolve())
        rpc.closeAll()
      })
      await http.close()
      await ticking
      await agents.flush()
      const left = agents.counters.pendingWrites
      if (left > 0) {
        deps.log.warn(
          `hbs: ${left} host row(s) not written (the store cannot be reached); those agents' next reports write them`
        )
      }
      if (ownStore) await store.close()
    },
  }
}
