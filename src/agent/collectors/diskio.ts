// disk.io.*: the /proc/diskstats counters of each whole disk, and iostat-like rates over the last
// 1-second sample window (falcon-agent funcs/diskstats.go over toolkits/nux iostat.go).
import { counter, gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'
import type { DiskIoDelta } from '../http.js'

/**
 * DiskStats is the first eleven counters of one /proc/diskstats line (Documentation/admin-guide/
 * iostats.rst fields 1–11). Linux 4.18 appended four discard fields and 5.5 two flush fields; falcon
 * reports none of them.
 */
export interface DiskStats {
  device: string
  readRequests: number
  readMerged: number
  readSectors: number
  msecRead: number
  writeRequests: number
  writeMerged: number
  writeSectors: number
  msecWrite: number
  iosInProgress: number
  msecTotal: number
  msecWeightedTotal: number
}

const DIGITS = /^\d+$/

/**
 * parseDiskstats reads /proc/diskstats' text (14, 18 or 20 fields a line) as nux does: a device
 * that has completed no read (field 4 is "0": idle loop, ram and cdrom devices) is skipped, and so
 * is a line of fewer than 14 fields (the 7-field partition lines of kernels before 2.6.25). A line
 * with a non-numeric counter is skipped too (nux drops the whole file then).
 */
export function parseDiskstats(text: string): DiskStats[] {
  const out: DiskStats[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 14 || f[3] === '0') continue
    let ok = true
    for (let i = 3; i < 14; i++) ok &&= DIGITS.test(f[i])
    if (!ok) continue
    out.push({
      device: f[2],
      readRequests: Number(f[3]),
      readMerged: Number(f[4]),
      readSectors: Number(f[5]),
      msecRead: Number(f[6]),
      writeRequests: Number(f[7]),
      writeMerged: Number(f[8]),
      writeSectors: Number(f[9]),
      msecWrite: Number(f[10]),
      iosInProgress: Number(f[11]),
      msecTotal: Number(f[12]),
      msecWeightedTotal: Number(f[13]),
    })
  }
  return out
}

/**
 * shouldHandleDevice is falcon's device filter, quirks included: `sd*`/`vd*` names of at most four
 * characters without the digits 1–4 (so `sda`, `sdab` and also the partition `sda5`, but not
 * `sda1`), and any name of four or more characters starting with `xvd`, `fio`, `nvme` or `nbd`
 * (partitions such as `xvda1` and `nvme0n1p1` included). dm-*, md*, loop*, sr*, zram* are not.
 */
export function shouldHandleDevice(device: string): boolean {
  const n = device.length
  if (n <= 4 && (device.startsWith('sd') || device.startsWith('vd'))) {
    let digit = false
    for (let i = 0; i < n; i++) {
      const c = device.charCodeAt(i)
      digit ||= c >= 49 && c <= 52 // '1'..'4'
    }
    if (!digit) return true
  }
  return (
    n >= 4 &&
    (device.startsWith('xvd') ||
      device.startsWith('fio') ||
      device.startsWith('nvme') ||
      device.startsWith('nbd'))
  )
}

interface Reading {
  stats: DiskStats
  /** at: the clock (ms) when the line was read. */
  at: number
}

/** DiskIoOptions: `clock` gives milliseconds for the sample window (default performance.now). */
export interface DiskIoOptions {
  clock?: () => number
}

/**
 * DiskIoCollector keeps, per device, the last two /proc/diskstats readings taken by `sample` (call
 * it every second). `collect` reads the file afresh for the eleven disk.io.* COUNTERs of each
 * handled device, then adds the seven iostat GAUGEs of each device with two readings. `deltas`
 * gives the counters' changes to the HTTP pages.
 */
export class DiskIoCollector implements Collector {
  readonly name = 'diskio'
  readonly #clock: () => number
  #history = new Map<string, { last: Reading; prev: Reading | undefined }>()

  constructor(options: DiskIoOptions = {}) {
    this.#clock = options.clock ?? (() => performance.now())
  }

  /**
   * sample reads /proc/diskstats. An unreadable file keeps the history (falcon keeps it too); a
   * device missing from a readable file is forgotten, where falcon would go on sending its last
   * rates forever.
   */
  sample(ctx: CollectContext): void {
    const text = readText(ctx.proc, 'diskstats')
    if (text === undefined) return
    const at = this.#clock()
    const next = new Map<string, { last: Reading; prev: Reading | undefined }>()
    for (const stats of parseDiskstats(text)) {
      if (!shouldHandleDevice(stats.device)) continue
      next.set(stats.device, { last: { stats, at }, prev: this.#history.get(stats.device)?.last })
    }
    this.#history = next
  }

  /**
   * deltas is what falcon's /page/diskio reads (funcs.IOStatsForPage): for each handled device of
   * the last readable sample, in /proc/diskstats order, how much its counters grew between its last
   * two readings; all 0 for a device read once (falcon's IODelta without a previous reading), and 0
   * for a counter that went backwards, where falcon's uint64 subtraction would wrap.
   */
  deltas(): DiskIoDelta[] {
    const out: DiskIoDelta[] = []
    for (const [device, { last, prev }] of this.#history) {
      const a = last.stats
      const b = prev?.stats ?? a
      const d = (k: keyof Omit<DiskStats, 'device'>) => (a[k] > b[k] ? a[k] - b[k] : 0)
      out.push({
        device,
        readRequests: d('readRequests'),
        readMerged: d('readMerged'),
        readSectors: d('readSectors'),
        msecRead: d('msecRead'),
        writeRequests: d('writeRequests'),
        writeMerged: d('writeMerged'),
        writeSectors: d('writeSectors'),
        msecWrite: d('msecWrite'),
        msecTotal: d('msecTotal'),
        msecWeightedTotal: d('msecWeightedTotal'),
      })
    }
    return out
  }

  collect(ctx: CollectContext): Sample[] {
    const out: Sample[] = []
    const text = readText(ctx.proc, 'diskstats')
    if (text !== undefined) {
      for (const ds of parseDiskstats(text)) {
        if (shouldHandleDevice(ds.device)) pushCounters(out, ds)
      }
    }
    for (const [device, { last, prev }] of this.#history) {
      if (prev !== undefined) pushRates(out, device, last, prev)
    }
    return out
  }
}

function pushCounters(out: Sample[], ds: DiskStats): void {
  const tags = 'device=' + ds.device
  out.push(
    counter('disk.io.read_requests', ds.readRequests, tags),
    counter('disk.io.read_merged', ds.readMerged, tags),
    counter('disk.io.read_sectors', ds.readSectors, tags),
    counter('disk.io.msec_read', ds.msecRead, tags),
    counter('disk.io.write_requests', ds.writeRequests, tags),
    counter('disk.io.write_merged', ds.writeMerged, tags),
    counter('disk.io.write_sectors', ds.writeSectors, tags),
    counter('disk.io.msec_write', ds.msecWrite, tags),
    counter('disk.io.ios_in_progress', ds.iosInProgress, tags),
    counter('disk.io.msec_total', ds.msecTotal, tags),
    counter('disk.io.msec_weighted_total', ds.msecWeightedTotal, tags)
  )
}

/**
 * pushRates is falcon's IOStatsMetrics for one device. The byte counts are per sample window (about
 * one second), not divided by its length, and avgqu-sz assumes the window is one second, as falcon
 * does; only util divides by the measured window (whole milliseconds, as Go's Duration/1e6).
 */
function pushRates(out: Sample[], device: string, last: Reading, prev: Reading): void {
  const a = last.stats
  const b = prev.stats
  // a counter that went backwards (a re-added device, a 32-bit wrap) counts as 0, where falcon's
  // uint64 subtraction would send ~1.8e19
  const d = (x: number, y: number) => (x > y ? x - y : 0)
  const rio = d(a.readRequests, b.readRequests)
  const wio = d(a.writeRequests, b.writeRequests)
  const rsec = d(a.readSectors, b.readSectors)
  const wsec = d(a.writeSectors, b.writeSectors)
  const ruse = d(a.msecRead, b.msecRead)
  const wuse = d(a.msecWrite, b.msecWrite)
  const use = d(a.msecTotal, b.msecTotal)
  const nio = rio + wio
  const avgrqSz = nio !== 0 ? (rsec + wsec) / nio : 0
  const wait = nio !== 0 ? (ruse + wuse) / nio : 0
  const svctm = nio !== 0 ? use / nio : 0
  const window = Math.trunc(last.at - prev.at)
  // falcon divides by a zero window too (NaN or +Inf, which its JSON encoder then refuses)
  const util = window > 0 ? Math.min((use * 100) / window, 100) : 0
  const tags = 'device=' + device
  out.push(
    gauge('disk.io.read_bytes', rsec * 512, tags),
    gauge('disk.io.write_bytes', wsec * 512, tags),
    gauge('disk.io.avgrq_sz', avgrqSz, tags),
    gauge('disk.io.avgqu-sz', d(a.msecWeightedTotal, b.msecWeightedTotal) / 1000, tags),
    gauge('disk.io.await', wait, tags),
    gauge('disk.io.svctm', svctm, tags),
    gauge('disk.io.util', util, tags)
  )
}
