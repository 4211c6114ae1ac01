/**
 * @module agent
 * The host agent, a drop-in for falcon-agent 5.1.2: built-in metrics read from /proc and /sys every
 * `transfer.interval`, the items hbs asks for (ports, processes, du, url checks), plugins bound through
 * hbs, a heartbeat to hbs, `Transfer.Update` pushes with failover, and falcon-agent's HTTP API on :1988.
 */
import { hostname as osHostname } from 'node:os'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import {
  counterFrom,
  exposition,
  gaugeFrom,
  newMetricsRegistry,
  type Deps,
  listenError,
  type MetricValue,
  parseListen,
  type Service,
} from '../core/index.js'
import { CollectLoop } from './agent.js'
import { builtinItemCollectors } from './collectors/builtin.js'
import { gpuCollector } from './collectors/gpu.js'
import { networkCollectors } from './collectors/network.js'
import { systemCollectorsWithPages, type SystemPages } from './collectors/system.js'
import type { AgentConfig } from './config.js'
import { AGENT_VERSION, Heartbeat } from './heartbeat.js'
import { hostExposition } from './exposition.js'
import { agentHttp } from './http.js'
import { PluginRunner, pluginVersion } from './plugins.js'
import { formatDefaultTags, TransferSender, withDefaultTags } from './sender.js'

export {
  parseAgentConfig,
  defaultAgentConfig,
  isFalconAgentConfig,
  type AgentConfig,
} from './config.js'
export { AGENT_VERSION } from './heartbeat.js'

/** AgentService is a running agent; `collectOnce` runs a cycle without sending (bench, tests). */
export interface AgentService extends Service {
  collectOnce(): Promise<{ metrics: number; names: string[] }>
  readonly loop: CollectLoop
}

/** resolveHostname is falcon-agent's rule: the config's, else FALCON_ENDPOINT, else the OS's. */
export function resolveHostname(config: Readonly<AgentConfig>, env = process.env): string {
  if (config.hostname !== '') return config.hostname
  const fromEnv = env.FALCON_ENDPOINT
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  return osHostname()
}

// falcon-agent's InitLocalIp: the local address of a TCP connection to hbs.
function localIpTowards(address: string, timeout: number): Promise<string> {
  const { host, port } = parseListen('agent.heartbeat.addr', address)
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout })
    const done = (ip: string) => {
      socket.destroy()
      resolve(ip)
    }
    socket.once('connect', () => done(socket.localAddress?.replace(/^::ffff:/, '') ?? ''))
    socket.once('timeout', () => done(''))
    socket.once('error', () => done(''))
  })
}

/**
 * start runs the agent. `options.reload` re-reads the configuration for `/config/reload` (the CLI
 * passes one that reads the file again); without it, reload answers with the running config.
 * `options.exit` is what `/exit` does: without it the process gets SIGTERM, as falcon-agent exits,
 * which only an agent alone in its process may do.
 */
export async function start(
  config: Readonly<AgentConfig>,
  deps: Deps,
  options: { reload?: () => Promise<Readonly<AgentConfig>>; exit?: () => void } = {}
): Promise<AgentService> {
  let current = config
  let trustable: string[] = []
  let ip = config.ip
  const hostname = () => resolveHostname(current)
  const defaultTags = () => formatDefaultTags(current.default_tags)

  let sender: TransferSender | undefined
  let loop: CollectLoop
  let heartbeat: Heartbeat | undefined
  // pages: the HTTP pages over the running loop's cpu, df and diskio collectors (rebuilt by begin).
  let pages: SystemPages
  let plugins: PluginRunner | undefined
  let pluginVer = 'plugin not enabled'
  let versionTimer: NodeJS.Timeout | undefined

  // Plugins and /v1/push: items as the script wrote them, plus default_tags (g.SendToTransfer).
  const push = async (items: MetricValue[]) => {
    if (sender === undefined) return
    const tags = defaultTags()
    await sender.send(items.map((m) => ({ ...m, tags: withDefaultTags(m.tags, tags) })))
  }

  const begin = async (c: Readonly<AgentConfig>) => {
    current = c
    if (c.ip === '' && c.heartbeat.enabled) ip = await localIpTowards(c.heartbeat.addr, 10_000)
    else ip = c.ip
    // On a reload, the previous sender hands what it still holds to this one.
    const previous = sender
    sender = c.transfer.enabled
      ? new TransferSender({
          addrs: c.transfer.addrs,
          timeout: c.transfer.timeout,
          log: deps.log,
          dial: deps.dial,
        })
      : undefined
    previous?.close(sender)
    const system = systemCollectorsWithPages()
    pages = system.pages
    loop = new CollectLoop(
      c,
      [...system.collectors, ...networkCollectors(), ...builtinItemCollectors(), gpuCollector()],
      sender,
      hostname,
      deps.log,
      deps.now
    )
    plugins = c.plugin.enabled
      ? new PluginRunner({
          dir: c.plugin.dir,
          logs: c.plugin.logs,
          push,
          log: deps.log,
          now: deps.now,
        })
      : undefined
    pluginVer = await pluginVersion(c.plugin.enabled, c.plugin.dir)
    versionTimer = setInterval(() => {
      void pluginVersion(current.plugin.enabled, current.plugin.dir).then((v) => (pluginVer = v))
    }, c.heartbeat.interval * 1000)
    versionTimer.unref()
    if (c.heartbeat.enabled) {
      heartbeat = new Heartbeat({
        addr: c.heartbeat.addr,
        interval: c.heartbeat.interval,
        timeout: c.heartbeat.timeout,
        hostname,
        ip: () => ip,
        pluginVersion: () => pluginVer,
        log: deps.log,
        onBuiltinItems: (items) => loop.setBuiltinItems(items),
        onPlugins: plugins === undefined ? undefined : (entries) => plugins?.update(entries),
        onTrustableIps: (ips) => (trustable = ips),
        dial: deps.dial,
      })
      heartbeat.start()
    }
    loop.start()
  }

  // end stops what begin started; on a reload the sender stays open (pushes keep using it) until
  // the next begin replaces it.
  const end = async (reloading = false) => {
    heartbeat?.stop()
    heartbeat = undefined
    clearInterval(versionTimer)
    await loop.stop()
    await plugins?.stop()
    plugins = undefined
    if (reloading) return
    sender?.close()
    sender = undefined
  }

  // Reloads and stop run one at a time: two overlapping reloads would each begin a loop and a
  // heartbeat, and only the last would ever be stopped.
  let lifecycle: Promise<unknown> = Promise.resolve()
  let stopped = false
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = lifecycle.then(fn)
    lifecycle = p.catch(() => undefined)
    return p
  }

  await begin(config)

  const registry = deps.metrics ?? newMetricsRegistry()
  counterFrom(registry, {
    name: 'peregrine_agent_cycles_total',
    help: 'Collection cycles run.',
    read: () => loop.stats.cycles,
  })
  counterFrom(registry, {
    name: 'peregrine_agent_collector_errors_total',
    help: 'Collector failures (each logged once per collector and message).',
    read: () => loop.stats.collectorErrors,
  })
  gaugeFrom(registry, {
    name: 'peregrine_agent_last_cycle_seconds',
    help: 'How long the last collection cycle took, by clock (wall) or CPU time (cpu).',
    labels: ['time'],
    read: () => [
      [{ time: 'wall' }, loop.stats.lastCycleMs / 1000],
      [{ time: 'cpu' }, loop.stats.lastCycleCpuMs / 1000],
    ],
  })
  gaugeFrom(registry, {
    name: 'peregrine_agent_last_cycle_metrics',
    help: 'Metrics the last cycle collected.',
    read: () => loop.stats.lastMetrics,
  })
  const http = config.http.enabled
    ? agentHttp({
        metrics: async () => hostExposition(loop.latest()) + (await exposition(registry)),
        version: AGENT_VERSION,
        workdir: process.cwd(),
        get proc() {
          return current.proc
        },
        get backdoor() {
          return current.http.backdoor
        },
        get pluginEnabled() {
          return current.plugin.enabled
        },
        get pluginGit() {
          return current.plugin.git
        },
        get plugins() {
          return plugins
        },
        hostname,
        trustable: () => trustable,
        push: (items) => push(items),
        reloadConfig() {
          const reload = options.reload
          if (reload === undefined) return Promise.resolve(current)
          return serially(async () => {
            if (stopped) throw new Error('the agent is stopping')
            const next = await reload()
            await end(true)
            await begin(next)
            if (heartbeat !== undefined) await heartbeat.syncNow()
            return next
          })
        },
        exit: () => (options.exit ?? (() => process.kill(process.pid, 'SIGTERM')))(),
        cpuUsage: () => pages.cpuUsage(),
        df: () => pages.df(),
        diskio: () => pages.diskio(),
        now: deps.now,
        log: deps.log,
        limits: config.http,
      })
    : undefined
  let address = ''
  if (http !== undefined) {
    const { host, port } = parseListen('agent.http.listen', config.http.listen)
    try {
      await http.listen({ host, port })
    } catch (err) {
      await end()
      throw listenError('agent.http.listen', config.http.listen, err)
    }
    const a = http.server.address() as AddressInfo
    address = `${a.address}:${a.port}`
  }

  let stopping: Promise<void> | undefined
  return {
    name: 'agent',
    addresses: address === '' ? {} : { http: address },
    get loop() {
      return loop
    },
    async collectOnce() {
      const metrics = await loop.collect()
      return { metrics: metrics.length, names: [...new Set(metrics.map((m) => m.metric))].sort() }
    },
    // Once: /exit may stop the agent before the runner stops the process.
    stop() {
      stopping ??= (async () => {
        stopped = true
        await http?.close()
        await serially(() => end())
      })()
      return stopping
    },
  }
}
