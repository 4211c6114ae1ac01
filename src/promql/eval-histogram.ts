// Native histograms in PromQL's functions: quantile, fraction, stddev/stdvar, rate/increase/delta and
// sum/avg over time, as Prometheus 2.55 computes them (promql/functions.go, promql/quantile.go).
import { formatFloat } from './format.js'
import { CounterResetHint, type FloatHistogram, type HistogramError } from '../tsdb/index.js'

function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc
  if (t === Infinity || t === -Infinity) c = 0
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc
  else c += inc - t + sum
  return [t, c]
}

/** histogramQuantile estimates the q-quantile of a native histogram (linear within a bucket). */
export function histogramQuantile(q: number, h: FloatHistogram): number {
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  if (h.count === 0 || q !== q) return NaN
  const buckets = h.allBuckets()
  const forward = h.sum !== h.sum || q < 0.5
  let rank = forward ? q * h.count : (1 - q) * h.count
  let count = 0
  let b = { lower: 0, upper: 0, count: 0 }
  const n = buckets.length
  for (let i = 0; i < n; i++) {
    const x = buckets[forward ? i : n - 1 - i]
    b = x
    if (x.count === 0) continue
    count += x.count
    if (count >= rank) break
  }
  let lower = b.lower
  let upper = b.upper
  if (!h.usesCustomBuckets() && lower < 0 && upper > 0) {
    if (h.nIdx.length === 0 && h.pIdx.length > 0) lower = 0
    else if (h.pIdx.length === 0 && h.nIdx.length > 0) upper = 0
  } else if (h.usesCustomBuckets()) {
    if (lower === -Infinity) {
      if (upper <= 0) return upper
      lower = 0
    } else if (upper === Infinity) return lower
  }
  if (count > h.count) count = h.count
  if (count < rank) return upper
  if (forward) rank -= count - b.count
  else rank = count - rank
  return lower + (upper - lower) * (rank / b.count)
}

/** histogramFraction estimates the share of observations between lower and upper. */
export function histogramFraction(lower: number, upper: number, h: FloatHistogram): number {
  if (h.count === 0 || lower !== lower || upper !== upper) return NaN
  if (lower >= upper) return 0
  let rank = 0
  let lowerRank = 0
  let upperRank = 0
  let lowerSet = false
  let upperSet = false
  for (const b of h.allBuckets()) {
    let bl = b.lower
    let bu = b.upper
    if (bl < 0 && bu > 0) {
      if (h.nIdx.length === 0 && h.pIdx.length > 0) bl = 0
      else if (h.pIdx.length === 0 && h.nIdx.length > 0) bu = 0
    }
    if (!lowerSet && bl >= lower) {
      lowerRank = rank
      lowerSet = true
    }
    if (!upperSet && bl >= upper) {
      upperRank = rank
      upperSet = true
    }
    if (lowerSet && upperSet) break
    if (!lowerSet && bl < lower && bu > lower) {
      lowerRank = rank + (b.count * (lower - bl)) / (bu - bl)
      lowerSet = true
    }
    if (!upperSet && bl < upper && bu > upper) {
      upperRank = rank + (b.count * (upper - bl)) / (bu - bl)
      upperSet = true
    }
    if (lowerSet && upperSet) break
    rank += b.count
  }
  if (!lowerSet || lowerRank > h.count) lowerRank = h.count
  if (!upperSet || upperRank > h.count) upperRank = h.count
  return (upperRank - lowerRank) / h.count
}

/** histogramVariance estimates the variance of the observations (bucket midpoints, geometric). */
export function histogramVariance(h: FloatHistogram): number {
  const mean = h.sum / h.count
  let variance = 0
  let c = 0
  for (const b of h.allBuckets()) {
    if (b.count === 0) continue
    let val: number
    if (b.lower <= 0 && 0 <= b.upper) val = 0
    else {
      val = Math.sqrt(b.upper * b.lower)
      if (b.upper < 0) val = -val
    }
    const delta = val - mean
    ;[variance, c] = kahanSumInc(b.count * delta * delta, variance, c)
  }
  variance += c
  return variance / h.count
}

/** HistogramWarning is a warning of a histogram function, to be named with the metric and position. */
export type HistogramWarning =
  'mixed' | 'mixed-schema' | 'incompatible-bounds' | 'not-counter' | 'not-gauge'

/** warningText is the annotation text Prometheus prints (without its position). */
export function warningText(w: HistogramWarning, metric: string): string {
  const q = JSON.stringify(metric)
  switch (w) {
    case 'mixed':
      return `PromQL warning: encountered a mix of histograms and floats for metric name ${q}`
    case 'mixed-schema':
      return `PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name ${q}`
    case 'incompatible-bounds':
      return `PromQL warning: vector contains histograms with incompatible custom buckets for metric name ${q}`
    case 'not-counter':
      return `PromQL warning: this native histogram metric is not a counter: ${q}`
    case 'not-gauge':
      return `PromQL warning: this native histogram metric is not a gauge: ${q}`
  }
}

/** errorWarning maps a failed add/sub to its warning. */
export function errorWarning(err: HistogramError): HistogramWarning {
  return err === 'incompatible-bounds' ? 'incompatible-bounds' : 'mixed-schema'
}

/**
 * histogramRate is the change of a histogram series over a window (counter resets added back for a
 * counter), before extrapolation; null with the warnings when the histograms cannot be combined.
 */
export function histogramRate(
  hs: readonly FloatHistogram[],
  isCounter: boolean,
  warn: (w: HistogramWarning) => void
): FloatHistogram | null {
  let prev = hs[0]
  const last = hs[hs.length - 1]
  const custom = prev.usesCustomBuckets()
  let minSchema = Math.min(prev.schema, last.schema)
  if (last.usesCustomBuckets() !== custom) {
    warn('mixed-schema')
    return null
  }
  if (
    isCounter &&
    (prev.counterResetHint === CounterResetHint.Gauge ||
      last.counterResetHint === CounterResetHint.Gauge)
  ) {
    warn('not-counter')
  }
  for (let i = 1; i < hs.length - 1; i++) {
    const cur = hs[i]
    if (!isCounter) continue
    if (cur.counterResetHint === CounterResetHint.Gauge) warn('not-counter')
    if (cur.schema < minSchema) minSchema = cur.schema
    if (cur.usesCustomBuckets() !== custom) {
      warn('mixed-schema')
      return null
    }
  }
  const h = last.copyToSchema(minSchema)
  const err = h.sub(prev)
  if (err !== '') {
    warn(errorWarning(err))
    return null
  }
  if (isCounter) {
    for (let i = 1; i < hs.length; i++) {
      const cur = hs[i]
      if (cur.detectReset(prev)) {
        const e2 = h.add(prev)
        if (e2 !== '') {
          warn(errorWarning(e2))
          return null
        }
      }
      prev = cur
    }
  } else if (
    hs[0].counterResetHint !== CounterResetHint.Gauge ||
    last.counterResetHint !== CounterResetHint.Gauge
  ) {
    warn('not-gauge')
  }
  h.counterResetHint = CounterResetHint.Gauge
  return h.compact()
}

/** extrapolationFactor is the factor rate/increase/delta scale the raw change by (no zero-point cut). */
export function extrapolationFactor(
  firstT: number,
  lastT: number,
  n: number,
  start: number,
  end: number,
  range: number,
  isRate: boolean
): number {
  let durationToStart = (firstT - start) / 1000
  let durationToEnd = (end - lastT) / 1000
  const sampled = (lastT - firstT) / 1000
  const avg = sampled / (n - 1)
  const threshold = avg * 1.1
  let interval = sampled
  if (durationToStart >= threshold) durationToStart = avg / 2
  interval += durationToStart
  if (durationToEnd >= threshold) durationToEnd = avg / 2
  interval += durationToEnd
  let factor = interval / sampled
  if (isRate) factor /= range / 1000
  return factor
}

/** sumHistograms adds histograms in order (sum_over_time); null and a warning when they do not add. */
export function sumHistograms(
  hs: readonly FloatHistogram[],
  warn: (w: HistogramWarning) => void
): FloatHistogram | null {
  const sum = hs[0].copy()
  for (let i = 1; i < hs.length; i++) {
    const err = sum.add(hs[i])
    if (err !== '') {
      warn(errorWarning(err))
      return null
    }
  }
  return sum
}

/** avgHistograms is the incremental mean of histograms (avg_over_time), as Prometheus computes it. */
export function avgHistograms(
  hs: readonly FloatHistogram[],
  warn: (w: HistogramWarning) => void
): FloatHistogram | null {
  let count = 1
  const mean = hs[0].copy()
  for (let i = 1; i < hs.length; i++) {
    count++
    const left = hs[i].copy().div(count)
    const right = mean.copy().div(count)
    let err = left.sub(right)
    if (err === '') err = mean.add(left)
    if (err !== '') {
      warn(errorWarning(err))
      return null
    }
  }
  return mean
}

/** HistogramJson is a histogram in Prometheus's HTTP API JSON. */
export interface HistogramJson {
  count: string
  sum: string
  /** [boundaryRule, lower, upper, count]: rule 0 (lo,hi], 1 [lo,hi), 2 (lo,hi), 3 [lo,hi]. */
  buckets?: [number, string, string, string][]
}

/**
 * histogramJson is a histogram as Prometheus's HTTP API writes it: `{count, sum, buckets}` with values
 * as strings and each bucket `[boundaryRule, lower, upper, count]` (rule 0: (lo,hi], 1: [lo,hi),
 * 2: (lo,hi), 3: [lo,hi]); empty buckets left out, `buckets` absent when none is left.
 */
export function histogramJson(h: FloatHistogram): HistogramJson {
  const buckets: [number, string, string, string][] = []
  for (const b of h.allBuckets()) {
    if (b.count === 0) continue
    let rule = 2
    if (b.lowerInclusive) rule = b.upperInclusive ? 3 : 1
    else if (b.upperInclusive) rule = 0
    buckets.push([rule, formatFloat(b.lower), formatFloat(b.upper), formatFloat(b.count)])
  }
  const out: HistogramJson = {
    count: formatFloat(h.count),
    sum: formatFloat(h.sum),
  }
  if (buckets.length > 0) out.buckets = buckets
  return out
}
