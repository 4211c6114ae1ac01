// Rollups: per-second rates of DERIVE series and consolidation of points into AVERAGE/MAX/MIN/LAST buckets.
import { ByteReader, type ByteWriter } from './chunk/byte-buffer.js'
import { decodeInts, encodeInts } from './chunk/int-codec.js'
import { decodeValues, encodeValues } from './chunk/value-codec.js'

/** ConsolFun is how a bucket of points becomes one value (rrdtool's consolidation functions). */
export type ConsolFun = 'AVERAGE' | 'MAX' | 'MIN' | 'LAST'

/** CONSOL_FUNS lists the accepted consolidation functions. */
export const CONSOL_FUNS: readonly ConsolFun[] = ['AVERAGE', 'MAX', 'MIN', 'LAST']

/**
 * Buckets are consolidated points in columns: bucket `i` covers (end[i] - resolution, end[i]] and holds the
 * count of known points, their sum, min, max and the last one. Rollup tiers store exactly these columns.
 */
export class Buckets {
  end: Float64Array
  count: Float64Array
  sum: Float64Array
  min: Float64Array
  max: Float64Array
  last: Float64Array
  n: number

  constructor(capacity = 16) {
    this.end = new Float64Array(capacity)
    this.count = new Float64Array(capacity)
    this.sum = new Float64Array(capacity)
    this.min = new Float64Array(capacity)
    this.max = new Float64Array(capacity)
    this.last = new Float64Array(capacity)
    this.n = 0
  }

  reset(): this {
    this.n = 0
    return this
  }

  ensure(capacity: number): void {
    if (this.end.length >= capacity) return
    const size = Math.max(capacity, this.end.length * 2)
    for (const col of ['end', 'count', 'sum', 'min', 'max', 'last'] as const) {
      const next = new Float64Array(size)
      next.set(this[col].subarray(0, this.n))
      this[col] = next
    }
  }

  /** push appends one bucket. */
  push(end: number, count: number, sum: number, min: number, max: number, last: number): void {
    if (this.n === this.end.length) this.ensure(this.n + 1)
    const i = this.n++
    this.end[i] = end
    this.count[i] = count
    this.sum[i] = sum
    this.min[i] = min
    this.max[i] = max
    this.last[i] = last
  }

  /** value returns bucket i consolidated by `cf`. */
  value(i: number, cf: ConsolFun): number {
    switch (cf) {
      case 'AVERAGE':
        return this.sum[i] / this.count[i]
      case 'MAX':
        return this.max[i]
      case 'MIN':
        return this.min[i]
      case 'LAST':
        return this.last[i]
    }
  }
}

/** bucketEnd returns the end of the bucket holding time t: the first multiple of `resolution` ≥ t (rrdtool's). */
export function bucketEnd(t: number, resolution: number): number {
  return Math.ceil(t / resolution) * resolution
}

/**
 * toRates turns raw DERIVE points into per-second rates in place and returns how many remain. As falcon's
 * RRD (DERIVE, min 0, heartbeat 2×step): a rate needs the previous point at most 2×step earlier, a
 * decrease (counter reset) gives no rate, and the first point gives none. Times are ms, step seconds.
 */
export function toRates(
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  stepSeconds: number
): number {
  const heartbeat = 2 * stepSeconds * 1000
  let out = 0
  let prevT = NaN
  let prevV = NaN
  for (let i = 0; i < n; i++) {
    const t = ts[i]
    const v = vs[i]
    const dt = t - prevT
    if (dt > 0 && dt <= heartbeat && v >= prevV) {
      ts[out] = t
      vs[out] = ((v - prevV) * 1000) / dt
      out++
    }
    prevT = t
    prevV = v
  }
  return out
}

/**
 * consolidate folds points (ts ascending, ms) into buckets of `resolution` ms, appending to `into`. NaN
 * values are unknown and skipped; a bucket with no known point is not emitted (it reads as a gap).
 */
export function consolidate(
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  resolution: number,
  into: Buckets
): Buckets {
  let end = NaN
  let count = 0
  let sum = 0
  let min = 0
  let max = 0
  let last = 0
  for (let i = 0; i < n; i++) {
    const v = vs[i]
    if (v !== v) continue
    const e = Math.ceil(ts[i] / resolution) * resolution
    if (e !== end) {
      if (count > 0) into.push(end, count, sum, min, max, last)
      end = e
      count = 0
      sum = 0
      min = v
      max = v
    }
    count++
    sum += v
    if (v < min) min = v
    if (v > max) max = v
    last = v
  }
  if (count > 0) into.push(end, count, sum, min, max, last)
  return into
}

/** encodeBuckets writes buckets [from, to) as a rollup chunk: n, end times, then the five value columns. */
export function encodeBuckets(w: ByteWriter, b: Buckets, from: number, to: number): void {
  const n = to - from
  w.uvarint(n)
  encodeInts(w, b.end.subarray(from, to), n, n > 0 ? b.end[from] : 0)
  encodeValues(w, b.count.subarray(from, to), n)
  encodeValues(w, b.sum.subarray(from, to), n)
  encodeValues(w, b.min.subarray(from, to), n)
  encodeValues(w, b.max.subarray(from, to), n)
  encodeValues(w, b.last.subarray(from, to), n)
}

const reader = new ByteReader(new Uint8Array(0))

/** decodeBuckets appends the buckets of a rollup chunk whose first bucket ends at `minT` to `into`. */
export function decodeBuckets(bytes: Uint8Array, minT: number, into: Buckets): void {
  const r = reader.reset(bytes)
  const n = r.uvarint()
  if (n > 1 << 24) throw new RangeError(`rollup chunk claims ${n} buckets`)
  into.ensure(into.n + n)
  const at = into.n
  decodeInts(r, n, into.end, minT, at)
  decodeValues(r, n, into.count, at)
  decodeValues(r, n, into.sum, at)
  decodeValues(r, n, into.min, at)
  decodeValues(r, n, into.max, at)
  decodeValues(r, n, into.last, at)
  into.n += n
}

/**
 * falconLastPoint is falcon's Graph.Last over a series' newest raw points (`ts` in ms, ascending): any
 * series' newest value when `raw` or a gauge (null for one JSON cannot hold), a counter's per-second rate
 * of its two newest points when they are one step apart (0 for a decrease), else null (no point).
 */
export function falconLastPoint(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  counter: boolean,
  stepSeconds: number,
  raw: boolean
): { timestamp: number; value: number | null } | null {
  const n = ts.length
  if (n === 0) return null
  const t0 = ts[n - 1] / 1000
  const v0 = vs[n - 1]
  if (raw || !counter) return { timestamp: t0, value: Number.isFinite(v0) ? v0 : null }
  if (n < 2) return null
  const t1 = ts[n - 2] / 1000
  if (t0 - t1 !== stepSeconds) return null
  const rate = (v0 - vs[n - 2]) / (t0 - t1)
  return { timestamp: t0, value: rate < 0 ? 0 : rate }
}
