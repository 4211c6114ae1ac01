// The host's built-in metric families of falcon-agent's first collector group (agent, cpu, kernel,
// load, mem, disk io) and its df group, each a Collector reading ctx.proc.
import { gauge } from '../collector.js'
import type { Collector } from '../collector.js'
import type { AgentHttpContext } from '../http.js'
import { CpuCollector } from './cpu.js'
import { DfCollector } from './df.js'
import type { StatFs } from './df.js'
import { DiskIoCollector } from './diskio.js'
import { kernelCollector } from './kernel.js'
import { loadCollector } from './load.js'
import { memCollector } from './mem.js'

/** SystemCollectorsOptions replace the clock and statfs (tests); production passes nothing. */
export interface SystemCollectorsOptions {
  /** clock: milliseconds for disk.io's sample window (default performance.now). */
  clock?: () => number
  /** statfs: df's statfs (default fs.promises.statfs). */
  statfs?: StatFs
  /** statfsTimeoutMs: how long df waits for a mount's statfs in a cycle (default 5000). */
  statfsTimeoutMs?: number
}

/**
 * SystemPages are the host facts falcon-agent's HTTP pages read from these collectors'
 * state: /proc/cpu/usage and /page/cpu/usage, /page/df, /page/diskio.
 */
export type SystemPages = Required<Pick<AgentHttpContext, 'cpuUsage' | 'df' | 'diskio'>>

/**
 * systemCollectorsWithPages returns fresh collectors, in falcon-agent's order: agent
 * (agent.alive = 1), cpu, kernel, loadavg, mem, diskio, then df; and the pages reading those very
 * instances. cpu and diskio keep the readings of their `sample`, which the caller invokes every
 * second; each call returns new instances with empty histories.
 */
export function systemCollectorsWithPages(options: SystemCollectorsOptions = {}): {
  collectors: Collector[]
  pages: SystemPages
} {
  const cpu = new CpuCollector()
  const diskio = new DiskIoCollector({ clock: options.clock })
  const df = new DfCollector({ statfs: options.statfs, statfsTimeoutMs: options.statfsTimeoutMs })
  return {
    collectors: [
      { name: 'agent', collect: () => [gauge('agent.alive', 1)] },
      cpu,
      kernelCollector(),
      loadCollector(),
      memCollector(),
      diskio,
      df,
    ],
    pages: {
      cpuUsage: () => cpu.usage(),
      df: () => df.usages(),
      diskio: () => diskio.deltas(),
    },
  }
}

/** systemCollectors is systemCollectorsWithPages without the pages. */
export function systemCollectors(options: SystemCollectorsOptions = {}): Collector[] {
  return systemCollectorsWithPages(options).collectors
}
