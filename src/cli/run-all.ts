// The runner: starts components in dependency order in this process, and stops them ingestion first.
// Each component's module is loaded only when it starts, so a process runs what it runs and no more.
import {
  type Deps,
  descriptorWarning,
  internalRangeOf,
  JsonRpcClient,
  type ListenerCap,
  processOpenFileLimit,
  type RpcCaller,
  type Service,
} from '../core/index.js'
import type { AgentConfig } from '../agent/index.js'
import type { Queue } from '../queue/index.js'
import { REMOTE_GRAPH_ADDRESS } from '../remote/config.js'
import type { Querier } from '../tsdb/index.js'
import type { Store } from '../store/index.js'
import { type Component, COMPONENTS, type Configs } from './config.js'

/**
 * startAll starts every configured component (in COMPONENTS order). If one fails, the ones already
 * running are stopped and the error is thrown.
 */
export async function startAll(
  configs: Configs,
  deps: Deps,
  options: { reloadAgent?: () => Promise<Readonly<AgentConfig>> } = {}
): Promise<Service[]> {
  const services: Service[] = []
  // api and hbs on the same store URL share one connection (one SQLite handle, one MySQL pool).
  const stores = new Map<string, Store>()
  const shared = async (url: string) => {
    let store = stores.get(url)
    if (store === undefined) {
      store = await (await import('../store/index.js')).Store.open(url, deps.log)
      stores.set(url, store)
      services.push(storeService(store))
    }
    return store
  }
  // judge and alarm started together on the same Redis (or both in process) share one event queue.
  let queue: Queue | undefined
  const sharedQueue = async (): Promise<Queue | undefined> => {
    if (configs.judge === undefined || configs.alarm === undefined) return undefined
    if (configs.judge.redis !== configs.alarm.redis) return undefined
    if (queue === undefined) {
      const { openQueue } = await import('../queue/index.js')
      const q = openQueue(configs.judge.redis, configs.judge.spillDir, deps.log)
      queue = q
      services.push({ name: 'queue', addresses: {}, stop: () => q.close() })
    }
    return queue
  }
  try {
    // Remote storage: one way to the store for every component of this process; the forward queue
    // only where transfer runs.
    let remoteQuerier: Querier | undefined
    if (configs.remoteStorage !== undefined) {
      const { openRemoteStorage } = await import('../remote/index.js')
      const remote = openRemoteStorage(configs.remoteStorage, configs.transfer !== undefined, deps)
      services.push({
        name: 'remote',
        addresses: {},
        local: remote.node,
        stop: () => remote.stop(),
      })
      remoteQuerier = remote.reader
      deps.log.info(
        `storage: remote, writing to ${configs.remoteStorage.writeUrl}${configs.transfer === undefined ? ' (no transfer here: nothing is written)' : ` through the forward queue in ${configs.remoteStorage.queueDir}`}, reading ${configs.remoteStorage.readUrl}`
      )
    }
    for (const c of COMPONENTS) {
      const started = performance.now()
      let s: Service | undefined
      if (c === 'graph' && configs.graph !== undefined)
        s = await (await import('../graph/index.js')).start(configs.graph, deps)
      if (c === 'transfer' && configs.transfer !== undefined) {
        s = await (
          await import('../transfer/index.js')
        ).start({ ...configs.transfer, ...local(services, configs) }, withDial(deps, services))
      }
      // Its clusters are transfers elsewhere (or a transfer of this process, over TCP like any).
      if (c === 'gateway' && configs.gateway !== undefined)
        s = await (await import('../gateway/index.js')).start(configs.gateway, deps)
      if (c === 'scrape' && configs.scrape !== undefined) {
        // Beside a transfer, scrape hands it what it scraped in-process (its URL still says where).
        const transfer = configs.scrapeLocalTransfer
          ? services.find((x) => x.name === 'transfer')
          : undefined
        const { start } = await import('../scrape/index.js')
        s = await start(
          transfer === undefined
            ? configs.scrape
            : {
                ...configs.scrape,
                remoteWrite: `http://${bound(services, 'transfer', 'http')}/api/v1/write`,
              },
          deps,
          { appender: transfer?.appender }
        )
      }
      if (c === 'hbs' && configs.hbs !== undefined) {
        const { start } = await import('../hbs/index.js')
        s = await start(configs.hbs, deps, { store: await shared(configs.hbs.store) })
      }
      if (c === 'judge' && configs.judge !== undefined) {
        const hbs = configs.judgeLocalHbs ? bound(services, 'hbs', 'rpc') : undefined
        const { start } = await import('../judge/index.js')
        s = await start(
          hbs === undefined ? configs.judge : { ...configs.judge, hbs: [hbs] },
          withDial(deps, services),
          { queue: await sharedQueue() }
        )
        if (configs.judge.redis === '' && configs.alarm === undefined)
          deps.log.warn(
            'judge: events stay in this process and no alarm runs here to read them; set `redis` to share them with an alarm elsewhere'
          )
      }
      if (c === 'alarm' && configs.alarm !== undefined) {
        const { start } = await import('../alarm/index.js')
        s = await start(configs.alarm, deps, {
          store: await shared(configs.alarm.store),
          queue: await sharedQueue(),
        })
        if (configs.alarm.redis === '' && configs.judge === undefined)
          deps.log.warn(
            'alarm: reading events from this process, where no judge runs; set `redis` to read a judge elsewhere'
          )
      }
      if (c === 'agent' && configs.agent !== undefined) {
        const localize = (a: Readonly<AgentConfig>) => withLocal(a, configs, services)
        const reload = options.reloadAgent
        const { start } = await import('../agent/index.js')
        const agent = await start(localize(configs.agent), withDial(deps, services), {
          reload: reload === undefined ? undefined : async () => localize(await reload()),
          exit: alone(configs, 'agent') ? undefined : () => stopAgentAlone(agent, deps),
        })
        s = agent
      }
      if (c === 'nodata' && configs.nodata !== undefined) {
        const { start } = await import('../nodata/index.js')
        s = await start(
          { ...configs.nodata, ...reader(services, configs.nodataLocal) },
          withDial(deps, services),
          { store: await shared(configs.nodata.store) }
        )
      }
      if (c === 'aggregator' && configs.aggregator !== undefined) {
        const { start } = await import('../aggregator/index.js')
        s = await start(
          { ...configs.aggregator, ...reader(services, configs.aggregatorLocal) },
          withDial(deps, services),
          { store: await shared(configs.aggregator.store) }
        )
      }
      if (c === 'api' && configs.api !== undefined) {
        s = await (
          await import('../api/index.js')
        ).start({ ...configs.api, ...local(services, configs) }, withDial(deps, services), {
          store: await shared(configs.api.store),
          querier: remoteQuerier,
        })
      }
      if (s === undefined) continue
      services.push(s)
      const ports = Object.entries(s.addresses)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
      deps.log.info(`${s.name} started in ${Math.round(performance.now() - started)} ms: ${ports}`)
      const hint = loopbackWithoutCallers(configs, s)
      if (hint !== undefined) deps.log.warn(hint)
    }
  } catch (err) {
    await stopAll(services, deps)
    throw err
  }
  const fds = descriptorWarning(listenerCaps(configs, services), processOpenFileLimit())
  if (fds !== undefined) deps.log.warn(fds)
  return services
}

/** listenerCaps lists every listener the started services bound, each with its section's cap. */
export function listenerCaps(configs: Configs, services: readonly Service[]): ListenerCap[] {
  const caps: ListenerCap[] = []
  for (const s of services) {
    const name = COMPONENTS.find((c) => c === s.name)
    if (name === undefined) continue
    const max =
      name === 'agent' ? configs.agent?.http.maxConnections : configs[name]?.maxConnections
    if (max === undefined) continue
    for (const listener of Object.keys(s.addresses))
      caps.push({ listener: `${name}.${listener}`, maxConnections: max })
  }
  return caps
}

/**
 * loopbackWithoutCallers says, for a graph or judge whose RPC listens on loopback only while its
 * callers (transfer and api; transfer) do not run in this process, how to open it to other hosts.
 */
export function loopbackWithoutCallers(configs: Configs, s: Service): string | undefined {
  const callers: Partial<Record<string, Component[]>> = {
    graph: ['transfer', 'api'],
    judge: ['transfer'],
  }
  const wanted = callers[s.name]
  const rpc = s.addresses.rpc
  if (wanted === undefined || rpc === undefined || !isLoopbackAddress(rpc)) return undefined
  const missing = wanted.filter((c) => configs[c] === undefined)
  if (missing.length === 0) return undefined
  const port = rpc.slice(rpc.lastIndexOf(':') + 1)
  const why =
    s.name === 'graph'
      ? 'Graph.Delete deletes series unauthenticated'
      : 'Judge.Send raises and clears alarms unauthenticated'
  return `${s.name}: RPC listens on ${rpc}, this host only, and ${missing.join(' and ')} ${missing.length === 1 ? 'does' : 'do'} not run in this process: for callers on other hosts set ${s.name}.rpc: "0.0.0.0:${port}" (or the rpc.listen of a falcon ${s.name} cfg.json), on a network only they reach (${why})`
}

function isLoopbackAddress(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':'))
  return host === 'localhost' || internalRangeOf(host)?.kind === 'loopback'
}

/** alone tells whether `name` is the only component this process runs. */
function alone(configs: Configs, name: Component): boolean {
  return COMPONENTS.every((c) => c === name || configs[c] === undefined)
}

// The agent's /exit beside other components stops the agent and nothing else: a caller of the
// agent's HTTP port must not be able to stop the servers of the process (falcon-agent ran alone).
function stopAgentAlone(agent: Service, deps: Deps): void {
  deps.log.warn('agent: /exit stops the agent; the other components of this process keep running')
  agent.stop().then(
    () => deps.log.info('agent stopped by /exit'),
    (err: Error) => deps.log.error(`agent did not stop cleanly: ${err.message}`)
  )
}

// An agent started beside transfer and hbs uses their bound addresses unless its section names others.
function withLocal(
  agent: Readonly<AgentConfig>,
  configs: Configs,
  services: Service[]
): Readonly<AgentConfig> {
  const transfer = configs.agentLocal.transfer ? bound(services, 'transfer', 'rpc') : undefined
  const hbs = configs.agentLocal.hbs ? bound(services, 'hbs', 'rpc') : undefined
  return {
    ...agent,
    transfer: transfer === undefined ? agent.transfer : { ...agent.transfer, addrs: [transfer] },
    heartbeat: hbs === undefined ? agent.heartbeat : { ...agent.heartbeat, addr: hbs },
  }
}

/** bound is the address a component of this process really listens on (the config may say port 0). */
function bound(services: Service[], name: string, key: string): string | undefined {
  return services
    .find((s) => s.name === name)
    ?.addresses[key]?.replace(/^0\.0\.0\.0:/, '127.0.0.1:')
}

// A shared store is stopped like a component, after everything that uses it.
function storeService(store: Store): Service {
  return { name: 'store', addresses: {}, stop: () => store.close() }
}

// The graph started beside transfer and api, at the address it really bound (the config may say port 0).
function local(
  services: Service[],
  configs: Configs
): { graphCluster?: Record<string, string>; judgeCluster?: Record<string, string> } {
  const graph = configs.localGraph ? bound(services, 'graph', 'rpc') : undefined
  const judge = configs.localJudge ? bound(services, 'judge', 'rpc') : undefined
  return {
    ...(graph === undefined ? {} : { graphCluster: { 'graph-00': graph } }),
    ...(judge === undefined ? {} : { judgeCluster: { 'judge-00': judge } }),
  }
}

// nodata and aggregator read the graph and push to the transfer of this process, at their bound addresses.
function reader(
  services: Service[],
  local: { graph: boolean; transfer: boolean }
): { graphCluster?: Record<string, string>; transfer?: string[] } {
  const graph = local.graph ? bound(services, 'graph', 'rpc') : undefined
  const transfer = local.transfer ? bound(services, 'transfer', 'rpc') : undefined
  return {
    ...(graph === undefined ? {} : { graphCluster: { 'graph-00': graph } }),
    ...(transfer === undefined ? {} : { transfer: [transfer] }),
  }
}

/**
 * withDial returns `deps` with a `dial` that reaches the components of this process (`services`)
 * directly, through their `local` callers, without a JSON round trip over loopback; any other address
 * gets a JSON-RPC client.
 */
export function withDial(deps: Deps, services: Service[]): Deps {
  const byAddress = new Map<string, RpcCaller>()
  for (const s of services) {
    if (s.local === undefined) continue
    if (s.name === 'remote') byAddress.set(REMOTE_GRAPH_ADDRESS, s.local)
    for (const a of Object.values(s.addresses)) {
      byAddress.set(a, s.local)
      byAddress.set(a.replace(/^0\.0\.0\.0:/, '127.0.0.1:'), s.local)
    }
  }
  return {
    ...deps,
    dial: (address, options) => byAddress.get(address) ?? new JsonRpcClient(address, options),
  }
}

/** stopAll stops what takes points first (transfer), then readers, then storage, logging each step. */
export async function stopAll(services: readonly Service[], deps: Deps): Promise<void> {
  const order = [
    'gateway',
    'agent',
    'nodata',
    'aggregator',
    'transfer',
    'judge',
    'alarm',
    'queue',
    'hbs',
    'api',
    'remote',
    'graph',
    'store',
  ]
  const sorted = [...services].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
  for (const s of sorted) {
    const started = performance.now()
    try {
      await s.stop()
      deps.log.info(`${s.name} stopped in ${Math.round(performance.now() - started)} ms`)
    } catch (err) {
      deps.log.error(`${s.name} did not stop cleanly: ${(err as Error).message}`)
    }
  }
}
