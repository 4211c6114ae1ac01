// load.*: the 1, 5 and 15 minute load averages from /proc/loadavg (falcon-agent funcs/loadavg.go
// over toolkits/nux loadavg.go).
import { gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'

const INT = /^-?\d+$/

/**
 * parseLoadavg returns the three averages of /proc/loadavg's text (`0.49 0.77 1.44 1/156 14579`), or
 * undefined when nux would refuse the line: fewer than four fields, an average that is not a number,
 * or a fourth field that is not `running/total`.
 */
export function parseLoadavg(text: string): [number, number, number] | undefined {
  const f = text.trim().split(/\s+/)
  if (f.length < 4) return undefined
  const avgs: [number, number, number] = [Number(f[0]), Number(f[1]), Number(f[2])]
  if (avgs.some((v) => Number.isNaN(v))) return undefined
  const slash = f[3].indexOf('/')
  if (slash < 0 || !INT.test(f[3].slice(0, slash)) || !INT.test(f[3].slice(slash + 1))) {
    return undefined
  }
  return avgs
}

/** loadCollector returns load.1min, load.5min and load.15min, or nothing for an unreadable file. */
export function loadCollector(): Collector {
  return {
    name: 'loadavg',
    collect(ctx: CollectContext): Sample[] {
      const text = readText(ctx.proc, 'loadavg')
      const avgs = text === undefined ? undefined : parseLoadavg(text)
      if (avgs === undefined) return []
      return [
        gauge('load.1min', avgs[0]),
        gauge('load.5min', avgs[1]),
        gauge('load.15min', avgs[2]),
      ]
    },
  }
}
