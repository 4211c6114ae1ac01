// The agent's side of hbs (falcon-agent cron/reporter.go, builtin.go, plugin.go, ips.go): report
// status at once and every interval; after the first interval, fetch builtin items, plugins and
// trustable IPs every interval, ignoring replies not newer than the last one.
import { JsonRpcClient, type Logger, type RpcCaller } from '../core/index.js'
import type { BuiltinItems } from './collector.js'

export const AGENT_VERSION = '5.1.2'

export interface HeartbeatOptions {
  addr: string
  /** interval in seconds (falcon `heartbeat.interval`). */
  interval: number
  /** timeout of one call, ms. */
  timeout: number
  hostname: () => string
  ip: () => string
  pluginVersion: () => string
  log: Logger
  onBuiltinItems: (items: BuiltinItems) => void
  /** onPlugins is given hbs's MinePlugins list (only when plugins are enabled). */
  onPlugins?: (entries: string[]) => void
  onTrustableIps: (ips: string[]) => void
  dial?: (address: string, options: { callTimeout: number }) => RpcCaller
}

// hbs's replies as they arrive: JSON of any shape (a null result, a field of another type), checked
// before use so a bad reply is ignored rather than thrown from a timer.
type Reply = Record<string, unknown> | null | undefined

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

// listOrNull: null (Go's nil slice) or a list; anything else fails the reply, as Go's decode would.
const listOrNull = (v: unknown): v is unknown[] | null | undefined =>
  v === null || v === undefined || Array.isArray(v)

// builtinMetrics keeps the items of a BuiltinMetrics reply whose Metric and Tags are strings.
function builtinMetrics(v: unknown[] | null | undefined): { Metric: string; Tags: string }[] {
  return (v ?? []).filter(
    (m): m is { Metric: string; Tags: string } =>
      isObj(m) && typeof m.Metric === 'string' && typeof m.Tags === 'string'
  )
}

/**
 * parseBuiltinItems reads hbs's builtin metrics as falcon-agent does: `port=N` for net.port.listen,
 * `path=P` for du.bs, `name=`/`cmdline=` for proc.num, `url=U,timeout=S` for url.check.health; other
 * shapes are skipped.
 */
export function parseBuiltinItems(
  metrics: readonly { Metric: string; Tags: string }[]
): BuiltinItems {
  const ports: number[] = []
  const duPaths: string[] = []
  const procs: string[] = []
  const urls: string[] = []
  for (const m of metrics) {
    if (m.Metric === 'net.port.listen') {
      const kv = m.Tags.split('=')
      const port = kv.length === 2 ? Number(kv[1]) : NaN
      if (Number.isInteger(port) && port > 0 && port < 65536) ports.push(port)
    } else if (m.Metric === 'du.bs') {
      const kv = m.Tags.split('=')
      if (kv.length === 2) duPaths.push(kv[1].trim())
    } else if (m.Metric === 'proc.num') {
      procs.push(m.Tags)
    } else if (m.Metric === 'url.check.health') {
      const parts = m.Tags.split(',')
      if (parts.length !== 2) continue
      const url = parts[0].split('=')
      const timeout = parts[1].split('=')
      if (url.length === 2 && timeout.length === 2 && /^-?\d+$/.test(timeout[1])) urls.push(m.Tags)
    }
  }
  return { ports, duPaths, procs, urls }
}

export class Heartbeat {
  private readonly client: RpcCaller
  private timers: NodeJS.Timeout[] = []
  private builtinTimestamp = -1
  private builtinChecksum = 'nil'
  private pluginsTimestamp = -1
  private failing = false
  private stopped = false
  readonly stats = { reports: 0, failures: 0 }

  constructor(private readonly o: HeartbeatOptions) {
    const options = { callTimeout: o.timeout }
    this.client =
      o.dial?.(o.addr, options) ??
      new JsonRpcClient(o.addr, { callTimeout: o.timeout, connectTimeout: o.timeout })
  }

  start(): void {
    const every = this.o.interval * 1000
    // A callback's throw (a reply it cannot take) is logged, never left as an unhandled rejection.
    const run = (what: string, p: Promise<void>) =>
      p.catch((err: unknown) =>
        this.o.log.warn(`agent: hbs ${what} not applied: ${(err as Error).message}`)
      )
    void run('status', this.report())
    this.timers.push(setInterval(() => void run('status', this.report()), every))
    const rest = () => {
      void run('builtin metrics', this.builtinItems())
      if (this.o.onPlugins !== undefined) void run('plugins', this.plugins())
      void run('trustable ips', this.trustableIps())
    }
    this.timers.push(setInterval(rest, every))
    for (const t of this.timers) t.unref()
  }

  /** syncNow fetches builtin items, plugins and trustable IPs at once (after a config reload). */
  async syncNow(): Promise<void> {
    await Promise.all([
      this.report(),
      this.builtinItems(),
      this.o.onPlugins === undefined ? undefined : this.plugins(),
      this.trustableIps(),
    ])
  }

  private async call<T>(method: string, param: unknown): Promise<T | undefined> {
    try {
      const r = await this.client.call<T>(method, param)
      if (this.failing) {
        this.failing = false
        this.o.log.info(`agent: hbs ${this.o.addr} answers again`)
      }
      return r
    } catch (err) {
      // A call cut short by stop() is no failure of hbs: a stopping agent says nothing about it.
      if (this.stopped) return undefined
      this.stats.failures++
      if (!this.failing) {
        this.failing = true
        this.o.log.warn(
          `agent: call ${method} to hbs ${this.o.addr} failed: ${(err as Error).message}`
        )
      }
      return undefined
    }
  }

  async report(): Promise<void> {
    const r = await this.call<{ code: number }>('Agent.ReportStatus', {
      Hostname: this.o.hostname(),
      IP: this.o.ip(),
      AgentVersion: AGENT_VERSION,
      PluginVersion: this.o.pluginVersion(),
    })
    if (r !== undefined) this.stats.reports++
  }

  async builtinItems(): Promise<void> {
    const r = await this.call<Reply>('Agent.BuiltinMetrics', {
      Hostname: this.o.hostname(),
      Checksum: this.builtinChecksum,
    })
    if (!isObj(r) || typeof r.Timestamp !== 'number' || typeof r.Checksum !== 'string') return
    if (!listOrNull(r.Metrics)) return
    if (r.Timestamp <= this.builtinTimestamp) return
    if (r.Checksum === this.builtinChecksum) return
    this.builtinTimestamp = r.Timestamp
    this.builtinChecksum = r.Checksum
    this.o.onBuiltinItems(parseBuiltinItems(builtinMetrics(r.Metrics)))
  }

  async plugins(): Promise<void> {
    const r = await this.call<Reply>('Agent.MinePlugins', {
      Hostname: this.o.hostname(),
      Checksum: '',
    })
    if (!isObj(r) || typeof r.Timestamp !== 'number' || !listOrNull(r.Plugins)) return
    if (r.Timestamp <= this.pluginsTimestamp) return
    this.pluginsTimestamp = r.Timestamp
    this.o.onPlugins?.((r.Plugins ?? []).filter((p): p is string => typeof p === 'string'))
  }

  async trustableIps(): Promise<void> {
    const r = await this.call<string>('Agent.TrustableIps', {})
    if (typeof r !== 'string') return
    this.o.onTrustableIps(
      r
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    )
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.client.close()
  }
}
