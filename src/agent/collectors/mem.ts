// mem.*: memory and swap in bytes and percent from /proc/meminfo (falcon-agent funcs/meminfo.go
// over toolkits/nux meminfo.go).
import { gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'

/** MemInfo holds the /proc/meminfo fields falcon reads, in bytes (0 when the kernel lacks one). */
export interface MemInfo {
  memTotal: number
  memFree: number
  /** memAvailable appeared in Linux 3.14 (and RHEL 7's 3.10); 0 before. */
  memAvailable: number
  buffers: number
  cached: number
  swapTotal: number
  swapFree: number
}

const DIGITS = /^\d+$/

const KEYS = new Map<string, keyof MemInfo>([
  ['MemTotal:', 'memTotal'],
  ['MemFree:', 'memFree'],
  ['MemAvailable:', 'memAvailable'],
  ['Buffers:', 'buffers'],
  ['Cached:', 'cached'],
  ['SwapTotal:', 'swapTotal'],
  ['SwapFree:', 'swapFree'],
])

/**
 * parseMeminfo reads /proc/meminfo's text. As nux, it takes a wanted key only from a line of exactly
 * three fields (`Key: value kB`) and multiplies by 1024; anything else leaves the field 0.
 */
export function parseMeminfo(text: string): MemInfo {
  const m: MemInfo = {
    memTotal: 0,
    memFree: 0,
    memAvailable: 0,
    buffers: 0,
    cached: 0,
    swapTotal: 0,
    swapFree: 0,
  }
  for (const line of text.split('\n')) {
    const key = KEYS.get(line.slice(0, line.indexOf(':') + 1))
    if (key === undefined) continue
    const f = line.trim().split(/\s+/)
    if (f.length === 3 && DIGITS.test(f[1])) m[key] = Number(f[1]) * 1024
  }
  return m
}

/**
 * memSamples is falcon's MemMetrics over `m`: free memory is MemAvailable when the kernel gives a
 * positive one, else MemFree + Buffers + Cached; used = total − free; percents are 0 when the total
 * is 0 (no swap).
 */
export function memSamples(m: MemInfo): Sample[] {
  const memFree = m.memAvailable > 0 ? m.memAvailable : m.memFree + m.buffers + m.cached
  const memUsed = m.memTotal - memFree
  const swapUsed = m.swapTotal - m.swapFree
  const memPct = (v: number) => (m.memTotal !== 0 ? (v * 100) / m.memTotal : 0)
  const swapPct = (v: number) => (m.swapTotal !== 0 ? (v * 100) / m.swapTotal : 0)
  return [
    gauge('mem.memtotal', m.memTotal),
    gauge('mem.memused', memUsed),
    gauge('mem.memfree', memFree),
    gauge('mem.swaptotal', m.swapTotal),
    gauge('mem.swapused', swapUsed),
    gauge('mem.swapfree', m.swapFree),
    gauge('mem.memfree.percent', memPct(memFree)),
    gauge('mem.memused.percent', memPct(memUsed)),
    gauge('mem.swapfree.percent', swapPct(m.swapFree)),
    gauge('mem.swapused.percent', swapPct(swapUsed)),
  ]
}

/** memCollector returns the ten mem.* GAUGEs, or nothing when /proc/meminfo cannot be read. */
export function memCollector(): Collector {
  return {
    name: 'mem',
    collect(ctx: CollectContext): Sample[] {
      const text = readText(ctx.proc, 'meminfo')
      return text === undefined ? [] : memSamples(parseMeminfo(text))
    },
  }
}
