// The agent's loop: sample every second (cpu and disk io rates), collect every transfer.interval,
// drop ignored metrics, stamp endpoint/step/timestamp and default_tags, push to transfer.
import type { Logger } from '../core/index.js'
import {
  type BuiltinItems,
  type CollectContext,
  type Collector,
  NO_BUILTIN_ITEMS,
  type Sample,
} from './collector.js'
import type { AgentConfig } from './config.js'
import {
  type AgentMetric,
  formatDefaultTags,
  type TransferSender,
  withDefaultTags,
} from './sender.js'

// Collectors that may wait (for a URL's timeout, for du, for nvidia-smi): collected and sent apart
// from the rest.
const ON_THEIR_OWN = new Set(['du.bs', 'url.check.health', 'gpu'])

export interface CycleStats {
  cycles: number
  lastCycleMs: number
  lastCycleCpuMs: number
  lastMetrics: number
  collectorErrors: number
}

/** CollectLoop runs the collectors on falcon-agent's schedule and hands the metrics to the sender. */
export class CollectLoop {
  private builtin: BuiltinItems = NO_BUILTIN_ITEMS
  private sampleTimer: NodeJS.Timeout | undefined
  private cycleTimer: NodeJS.Timeout | undefined
  private firstTimer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly defaultTags: string
  private readonly reported = new Set<string>()
  /** What the last cycle collected, and each collector sent on its own (what :1988/metrics shows). */
  private lastMain: readonly AgentMetric[] = []
  private readonly lastApart = new Map<string, readonly AgentMetric[]>()
  readonly stats: CycleStats = {
    cycles: 0,
    lastCycleMs: 0,
    lastCycleCpuMs: 0,
    lastMetrics: 0,
    collectorErrors: 0,
  }

  constructor(
    private readonly config: Readonly<AgentConfig>,
    private readonly collectors: readonly Collector[],
    private readonly sender: TransferSender | undefined,
    private readonly hostname: () => string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now
  ) {
    this.defaultTags = formatDefaultTags(config.default_tags)
  }

  setBuiltinItems(items: BuiltinItems): void {
    this.builtin = items
  }

  context(): CollectContext {
    return {
      proc: this.config.proc,
      sys: this.config.sys,
      ifacePrefix: this.config.collector.ifacePrefix,
      mountPoints: this.config.collector.mountPoint,
      builtin: this.builtin,
      hostname: this.hostname(),
      now: this.now(),
    }
  }

  start(): void {
    const sample = () => {
      const ctx = this.context()
      for (const c of this.collectors) {
        if (c.sample === undefined) continue
        try {
          c.sample(ctx)
        } catch (err) {
          this.problem(c.name, err)
        }
      }
    }
    sample()
    this.sampleTimer = setInterval(sample, 1000)
    this.sampleTimer.unref()
    const tick = () => {
      // A cycle still running (a slow collector) is not started twice.
      if (this.running !== undefined) return
      this.running = this.cycle()
        .catch((err: unknown) => this.log.error(`agent: cycle failed: ${(err as Error).message}`))
        .finally(() => (this.running = undefined))
    }
    // falcon sends its first cycle one interval after start; the first comes after two samples here
    // (cpu percentages need them), so a new host shows up within seconds.
    this.firstTimer = setTimeout(tick, Math.min(2000, this.config.transfer.interval * 1000))
    this.cycleTimer = setInterval(tick, this.config.transfer.interval * 1000)
    this.firstTimer.unref()
    this.cycleTimer.unref()
  }

  /** collect runs every collector once and returns the metrics as they would be sent. */
  async collect(collectors: readonly Collector[] = this.collectors): Promise<AgentMetric[]> {
    const ctx = this.context()
    const timestamp = Math.floor(ctx.now / 1000)
    const step = this.config.transfer.interval
    const ignore = this.config.ignore
    const out: AgentMetric[] = []
    const results = await Promise.all(
      collectors.map(async (c) => {
        try {
          return await c.collect(ctx)
        } catch (err) {
          this.problem(c.name, err)
          return [] as Sample[]
        }
      })
    )
    for (const samples of results) {
      for (const s of samples) {
        if (ignore[s.metric] === true) continue
        if (!Number.isFinite(s.value)) continue
        out.push({
          endpoint: ctx.hostname,
          metric: s.metric,
          value: s.value,
          step,
          counterType: s.counterType,
          tags: withDefaultTags(s.tags, this.defaultTags),
          timestamp,
        })
      }
    }
    return out
  }

  private async cycle(): Promise<void> {
    const started = performance.now()
    const cpu = process.cpuUsage()
    // As falcon's collector groups: a url check waiting for its timeout, or du on a big tree, is sent
    // on its own when it is done and never holds up the host's metrics.
    const main = this.collectors.filter((c) => !ON_THEIR_OWN.has(c.name))
    const apart = this.collectors.filter((c) => ON_THEIR_OWN.has(c.name))
    const sendApart = apart.map(async (c) => {
      const got = await this.collect([c])
      this.lastApart.set(c.name, got)
      await this.send(got)
    })
    const metrics = await this.collect(main)
    this.lastMain = metrics
    const used = process.cpuUsage(cpu)
    this.stats.cycles++
    this.stats.lastCycleMs = performance.now() - started
    this.stats.lastCycleCpuMs = (used.user + used.system) / 1000
    this.stats.lastMetrics = metrics.length
    await this.send(metrics)
    await Promise.all(sendApart)
  }

  /** latest returns the metrics of the last cycle, as they were sent. */
  latest(): AgentMetric[] {
    const out = [...this.lastMain]
    for (const list of this.lastApart.values()) out.push(...list)
    return out
  }

  private async send(metrics: AgentMetric[]): Promise<void> {
    if (this.sender !== undefined && metrics.length > 0) await this.sender.send(metrics)
  }

  // A collector's failure is logged once per collector and message, not every cycle.
  private problem(name: string, err: unknown): void {
    this.stats.collectorErrors++
    const key = `${name}: ${(err as Error).message}`
    if (this.reported.has(key)) return
    if (this.reported.size < 1000) this.reported.add(key)
    this.log.warn(`agent: collector ${key}`)
  }

  async stop(): Promise<void> {
    clearInterval(this.sampleTimer)
    clearInterval(this.cycleTimer)
    clearTimeout(this.firstTimer)
    await this.running
  }
}
