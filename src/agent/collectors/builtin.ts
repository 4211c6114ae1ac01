// The collectors of the items hbs's Agent.BuiltinMetrics sends: net.port.listen, proc.num, du.bs
// and url.check.health. Each reads ctx.builtin and does nothing when its list is empty.
import type { Collector } from '../collector.js'
import { DuCache, type DuOptions, defaultDuOptions } from './du.js'
import { portSamples } from './ports.js'
import { procSamples } from './procs.js'
import { parseUrlItems, urlSamples } from './url.js'

/** BuiltinItemOptions tune the collectors that spawn or wait. */
export interface BuiltinItemOptions {
  /** du: how du.bs runs (binary, 30 s timeout, how long a cycle waits for it). */
  du: DuOptions
  /**
   * urlMaxMs: the bound of a url.check.health probe whose timeout is 0, which curl takes as no
   * limit. Default 60 000.
   */
  urlMaxMs: number
}

export const defaultBuiltinItemOptions: Readonly<BuiltinItemOptions> = {
  du: defaultDuOptions,
  urlMaxMs: 60_000,
}

/**
 * builtinItemCollectors returns `net.port.listen`, `proc.num`, `du.bs` and `url.check.health`;
 * `options` override defaultBuiltinItemOptions field by field. du.bs keeps state (its running du
 * processes and last sizes), so call this once per agent.
 * url.check.health resolves within the largest timeout of its items; du.bs within `du.waitMs`.
 */
export function builtinItemCollectors(
  options: { du?: Partial<DuOptions>; urlMaxMs?: number } = {}
): Collector[] {
  const du = new DuCache({ ...defaultBuiltinItemOptions.du, ...options.du })
  const urlMaxMs = options.urlMaxMs ?? defaultBuiltinItemOptions.urlMaxMs
  return [
    { name: 'net.port.listen', collect: portSamples },
    { name: 'proc.num', collect: procSamples },
    { name: 'du.bs', collect: (ctx) => du.collect(ctx.builtin.duPaths) },
    {
      name: 'url.check.health',
      collect: (ctx) => urlSamples(parseUrlItems(ctx.builtin.urls), ctx.hostname, urlMaxMs),
    },
  ]
}
