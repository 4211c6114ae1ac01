// net.if.* per interface from /proc/net/dev and /sys/class/net/<iface>/speed (falcon
// funcs/ifstat.go over nux NetIfs).
import { type Sample, counter, gauge } from '../collector.js'
import { parseDecimal, splitFields } from './netstat.js'

/** NetDevRow is one interface line of /proc/net/dev: its name and its 16 counters in file order. */
export interface NetDevRow {
  iface: string
  /** rx bytes packets errs drop fifo frame compressed multicast, tx bytes packets errs drop fifo colls carrier compressed */
  values: number[]
}

/**
 * parseNetDev returns the interface lines of /proc/net/dev whose name starts with one of
 * `prefixes` (all when empty), in file order. Like nux, a line is an interface when it has a ':'
 * (the name is what precedes the first one, trimmed: 2.6 kernels print `eth0:1990350` with no
 * space), a line without exactly 16 numbers is skipped, and a field that is not an integer is 0.
 */
export function parseNetDev(text: string, prefixes: readonly string[]): NetDevRow[] {
  const out: NetDevRow[] = []
  let pos = 0
  while (pos < text.length) {
    let end = text.indexOf('\n', pos)
    if (end < 0) end = text.length
    const colon = text.indexOf(':', pos)
    if (colon >= 0 && colon < end) {
      const iface = text.slice(pos, colon).trim()
      if (hasPrefix(iface, prefixes)) {
        const fields = splitFields(text.slice(colon + 1, end))
        if (fields.length === 16) {
          const values = new Array<number>(16)
          for (let i = 0; i < 16; i++) values[i] = parseDecimal(fields[i], true) ?? 0
          out.push({ iface, values })
        }
      }
    }
    pos = end + 1
  }
  return out
}

function hasPrefix(iface: string, prefixes: readonly string[]): boolean {
  if (prefixes.length === 0) return true
  for (const p of prefixes) if (iface.startsWith(p)) return true
  return false
}

/**
 * parseSpeedMbps reads /sys/class/net/<iface>/speed (Mb/s) as nux does: undefined text (the read
 * failed: lo, a down link, a driver without ethtool ops) and text that is not an integer are 0.
 * Virtual NICs print -1 and nux keeps it, so net.if.speed.bits is then -1000000 and the percents
 * negative, exactly as falcon-agent sends them.
 */
export function parseSpeedMbps(text: string | undefined): number {
  if (text === undefined) return 0
  return parseDecimal(text.trim(), true) ?? 0
}

/** METRICS_PER_IFACE is how many samples netIfSamples emits per interface. */
export const METRICS_PER_IFACE = 26

/**
 * netIfSamples returns falcon's 26 samples per interface, in falcon's order, tagged
 * `iface=<name>`. All are COUNTERs except net.if.speed.bits (GAUGE). net.if.in.percent and
 * net.if.out.percent are COUNTERs too: they are cumulative bytes*8*100/speed, so the graph's rate of
 * them is the link utilisation in percent; they are 0 when the speed is 0 or unknown.
 * `speedMbps(iface)` returns the interface's speed in Mb/s (see parseSpeedMbps).
 */
export function netIfSamples(
  rows: readonly NetDevRow[],
  speedMbps: (iface: string) => number
): Sample[] {
  const out: Sample[] = new Array<Sample>(rows.length * METRICS_PER_IFACE)
  let k = 0
  for (const { iface, values: v } of rows) {
    const tag = `iface=${iface}`
    const speedBits = speedMbps(iface) * 1_000_000
    const inBits = v[0] * 8
    const outBits = v[8] * 8
    const inPercent = speedBits === 0 ? 0 : (inBits * 100) / speedBits
    const outPercent = speedBits === 0 ? 0 : (outBits * 100) / speedBits
    out[k++] = counter('net.if.in.bytes', v[0], tag)
    out[k++] = counter('net.if.in.packets', v[1], tag)
    out[k++] = counter('net.if.in.errors', v[2], tag)
    out[k++] = counter('net.if.in.dropped', v[3], tag)
    out[k++] = counter('net.if.in.fifo.errs', v[4], tag)
    out[k++] = counter('net.if.in.frame.errs', v[5], tag)
    out[k++] = counter('net.if.in.compressed', v[6], tag)
    out[k++] = counter('net.if.in.multicast', v[7], tag)
    out[k++] = counter('net.if.out.bytes', v[8], tag)
    out[k++] = counter('net.if.out.packets', v[9], tag)
    out[k++] = counter('net.if.out.errors', v[10], tag)
    out[k++] = counter('net.if.out.dropped', v[11], tag)
    out[k++] = counter('net.if.out.fifo.errs', v[12], tag)
    out[k++] = counter('net.if.out.collisions', v[13], tag)
    out[k++] = counter('net.if.out.carrier.errs', v[14], tag)
    out[k++] = counter('net.if.out.compressed', v[15], tag)
    out[k++] = counter('net.if.total.bytes', v[0] + v[8], tag)
    out[k++] = counter('net.if.total.packets', v[1] + v[9], tag)
    out[k++] = counter('net.if.total.errors', v[2] + v[10], tag)
    out[k++] = counter('net.if.total.dropped', v[3] + v[11], tag)
    out[k++] = gauge('net.if.speed.bits', speedBits, tag)
    out[k++] = counter('net.if.in.percent', inPercent, tag)
    out[k++] = counter('net.if.out.percent', outPercent, tag)
    out[k++] = counter('net.if.in.bits', inBits, tag)
    out[k++] = counter('net.if.out.bits', outBits, tag)
    out[k++] = counter('net.if.total.bits', (v[0] + v[8]) * 8, tag)
  }
  return out
}
