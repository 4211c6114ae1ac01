// Range-vector functions (rate, deriv, *_over_time…): one series' samples in one window → one value.
import { PeregrineError } from '../../core/index.js'
import { compensation, kahanSumInc } from './kahan.js'
import { lookupTable } from './lookup-table.js'
import { quantile } from './quantile.js'

/**
 * RangeWindow is the samples of one series inside a range window: indices `lo..hi-1` of `ts`/`vs`, all
 * with start ≤ t ≤ end (Prometheus 2.x: both ends closed), no stale markers. `start` = `end` - range;
 * `end` = evaluation time minus offset (or the `@` time). Times in ms. The engine may reuse one window
 * object for every series and step.
 */
export interface RangeWindow {
  ts: Float64Array
  vs: Float64Array
  lo: number
  hi: number
  start: number
  end: number
  /**
   * evalTime is the step's evaluation time (ms) when an offset or `@` moved the window off it; only
   * predict_linear reads it (Prometheus predicts from the evaluation time, not the window's end).
   * Absent means `end`.
   */
  evalTime?: number
}

/**
 * RangeFunction computes a range-vector function over one window: the output value, or undefined when
 * the function yields no sample (an empty window, too few points). `args` are the function's scalar
 * arguments in order, the range vector left out: quantile_over_time's q is args[0], predict_linear's t
 * (seconds) args[0], holt_winters' sf and tf args[0] and args[1]. Nothing is allocated per call.
 * holt_winters throws `PG_PROMQL_EXECUTION` for a factor outside (0, 1), as Prometheus fails the query.
 */
export type RangeFunction = (w: RangeWindow, args: readonly number[]) => number | undefined

/**
 * extrapolatedRate is rate (isCounter, isRate), increase (isCounter) and delta: the change over the
 * window, counter resets added back, extrapolated towards the window's ends when the first/last samples
 * are within 1.1 average intervals of them (else by half an interval), and for counters never below the
 * point where the counter would have been 0. Needs two samples.
 */
function extrapolatedRate(w: RangeWindow, isCounter: boolean, isRate: boolean): number | undefined {
  const { ts, vs, lo, hi } = w
  const n = hi - lo
  if (n < 2) return undefined
  const firstT = ts[lo]
  const lastT = ts[hi - 1]
  const first = vs[lo]
  let result = vs[hi - 1] - first
  if (isCounter) {
    let prev = first
    for (let i = lo + 1; i < hi; i++) {
      const cur = vs[i]
      if (cur < prev) result += prev
      prev = cur
    }
  }
  let durationToStart = (firstT - w.start) / 1000
  let durationToEnd = (w.end - lastT) / 1000
  const sampledInterval = (lastT - firstT) / 1000
  const averageDurationBetweenSamples = sampledInterval / (n - 1)
  // Samples spaced regularly should come within 10% more than one interval of the window's ends; when
  // one does not, the series likely starts or ends inside the window: extrapolate only half an interval.
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1
  let extrapolateToInterval = sampledInterval
  if (durationToStart >= extrapolationThreshold) durationToStart = averageDurationBetweenSamples / 2
  if (isCounter && result > 0 && first >= 0) {
    // A counter is never negative: stop the extrapolation where the slope reaches zero.
    const durationToZero = sampledInterval * (first / result)
    if (durationToZero < durationToStart) durationToStart = durationToZero
  }
  extrapolateToInterval += durationToStart
  if (durationToEnd >= extrapolationThreshold) durationToEnd = averageDurationBetweenSamples / 2
  extrapolateToInterval += durationToEnd
  let factor = extrapolateToInterval / sampledInterval
  if (isRate) factor /= durationSeconds(w.end - w.start)
  return result * factor
}

/** durationSeconds is Go's time.Duration.Seconds() for a whole number of ms: whole seconds + fraction. */
function durationSeconds(ms: number): number {
  const rest = ms % 1000
  return (ms - rest) / 1000 + (rest * 1e6) / 1e9
}

/** instantValue is irate (isRate) and idelta: from the last two samples; a drop is a counter reset. */
function instantValue(w: RangeWindow, isRate: boolean): number | undefined {
  const { ts, vs, hi } = w
  if (hi - w.lo < 2) return undefined
  const last = vs[hi - 1]
  const previous = vs[hi - 2]
  const result = isRate && last < previous ? last : last - previous
  const sampledInterval = ts[hi - 1] - ts[hi - 2]
  if (sampledInterval === 0) return undefined
  return isRate ? result / (sampledInterval / 1000) : result
}

// linearRegression's two results, read right after the call (no pair allocated).
let regressionSlope = 0
let regressionIntercept = 0

/**
 * linearRegression fits v = slope·x + intercept by least squares over the window, x in seconds from
 * `interceptTime` (a time near the samples keeps the sums precise), with compensated sums. A constant
 * series has slope 0 exactly (NaN both if that constant is ±Inf).
 */
function linearRegression(w: RangeWindow, interceptTime: number): void {
  const { ts, vs, lo, hi } = w
  let n = 0
  let sumX = 0
  let cX = 0
  let sumY = 0
  let cY = 0
  let sumXY = 0
  let cXY = 0
  let sumX2 = 0
  let cX2 = 0
  const initY = vs[lo]
  let constY = true
  for (let i = lo; i < hi; i++) {
    const y = vs[i]
    if (constY && i > lo && y !== initY) constY = false
    n += 1
    const x = (ts[i] - interceptTime) / 1e3
    sumX = kahanSumInc(x, sumX, cX)
    cX = compensation
    sumY = kahanSumInc(y, sumY, cY)
    cY = compensation
    sumXY = kahanSumInc(x * y, sumXY, cXY)
    cXY = compensation
    sumX2 = kahanSumInc(x * x, sumX2, cX2)
    cX2 = compensation
  }
  if (constY) {
    if (initY === Infinity || initY === -Infinity) {
      regressionSlope = NaN
      regressionIntercept = NaN
    } else {
      regressionSlope = 0
      regressionIntercept = initY
    }
    return
  }
  sumX += cX
  sumY += cY
  sumXY += cXY
  sumX2 += cX2
  const covXY = sumXY - (sumX * sumY) / n
  const varX = sumX2 - (sumX * sumX) / n
  regressionSlope = covXY / varX
  regressionIntercept = sumY / n - (regressionSlope * sumX) / n
}

function deriv(w: RangeWindow): number | undefined {
  if (w.hi - w.lo < 2) return undefined
  linearRegression(w, w.ts[w.lo])
  return regressionSlope
}

function predictLinear(w: RangeWindow, args: readonly number[]): number | undefined {
  if (w.hi - w.lo < 2) return undefined
  linearRegression(w, w.evalTime ?? w.end)
  return regressionSlope * args[0] + regressionIntercept
}

/** Go's %f for a factor in holt_winters' message. */
function formatFactor(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return v.toFixed(6)
}

/** holtWinters is double exponential smoothing (smoothing factor sf, trend factor tf, both in (0, 1)). */
function holtWinters(w: RangeWindow, args: readonly number[]): number | undefined {
  const sf = args[0]
  const tf = args[1]
  // Written as Prometheus compares, so a NaN factor passes the check (and yields NaN) as it does there.
  if (sf <= 0 || sf >= 1) {
    throw new PeregrineError(
      'PG_PROMQL_EXECUTION',
      `invalid smoothing factor. Expected: 0 < sf < 1, got: ${formatFactor(sf)}`,
      { status: 422 }
    )
  }
  if (tf <= 0 || tf >= 1) {
    throw new PeregrineError(
      'PG_PROMQL_EXECUTION',
      `invalid trend factor. Expected: 0 < tf < 1, got: ${formatFactor(tf)}`,
      { status: 422 }
    )
  }
  const { vs, lo, hi } = w
  if (hi - lo < 2) return undefined
  let s0 = 0
  let s1 = vs[lo]
  let b = vs[lo + 1] - vs[lo]
  for (let i = lo + 1; i < hi; i++) {
    const x = sf * vs[i]
    // The trend: the first step keeps the initial b, later ones blend the last smoothed change in.
    if (i - 1 > lo) b = tf * (s1 - s0) + (1 - tf) * b
    const y = (1 - sf) * (s1 + b)
    s0 = s1
    s1 = x + y
  }
  return s1
}

function resets(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let count = 0
  let prev = vs[lo]
  for (let i = lo + 1; i < hi; i++) {
    const cur = vs[i]
    if (cur < prev) count++
    prev = cur
  }
  return count
}

function changes(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let count = 0
  let prev = vs[lo]
  for (let i = lo + 1; i < hi; i++) {
    const cur = vs[i]
    // NaN to NaN is no change; NaN to a number and back are.
    if (cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) count++
    prev = cur
  }
  return count
}

function isInf(v: number): boolean {
  return v === Infinity || v === -Infinity
}

/**
 * avgOverTime sums with compensation while the sum stays finite, and switches to an incremental mean
 * when it overflows, so a window of huge values still has a finite mean.
 */
function avgOverTime(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let sum = 0
  let c = 0
  let mean = 0
  let count = 0
  let incrementalMean = false
  for (let i = lo; i < hi; i++) {
    const f = vs[i]
    count++
    if (!incrementalMean) {
      const newSum = kahanSumInc(f, sum, c)
      // The first value is taken even when ±Inf, so the division below never sees count - 1 = 0.
      if (count === 1 || !isInf(newSum)) {
        sum = newSum
        c = compensation
        continue
      }
      incrementalMean = true
      mean = sum / (count - 1)
      c /= count - 1
    }
    if (isInf(mean)) {
      // An infinite mean stays as it is unless the value is NaN or the opposite infinity
      // (subtracting the mean below would turn Inf into NaN).
      if (isInf(f) && mean > 0 === f > 0) continue
      if (!isInf(f) && !Number.isNaN(f)) continue
    }
    const correctedMean = mean + c
    mean = kahanSumInc(f / count - correctedMean / count, mean, c)
    c = compensation
  }
  return incrementalMean ? mean + c : (sum + c) / count
}

function sumOverTime(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let sum = 0
  let c = 0
  for (let i = lo; i < hi; i++) {
    sum = kahanSumInc(vs[i], sum, c)
    c = compensation
  }
  return isInf(sum) ? sum : sum + c
}

function minOverTime(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  // NaN only wins when every value is NaN.
  let min = vs[lo]
  for (let i = lo; i < hi; i++) {
    const f = vs[i]
    if (f < min || Number.isNaN(min)) min = f
  }
  return min
}

function maxOverTime(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let max = vs[lo]
  for (let i = lo; i < hi; i++) {
    const f = vs[i]
    if (f > max || Number.isNaN(max)) max = f
  }
  return max
}

/** variance is the population variance by Welford's method with compensated sums (stdvar, stddev). */
function variance(w: RangeWindow): number | undefined {
  const { vs, lo, hi } = w
  if (hi <= lo) return undefined
  let count = 0
  let mean = 0
  let cMean = 0
  let aux = 0
  let cAux = 0
  for (let i = lo; i < hi; i++) {
    const f = vs[i]
    count++
    const delta = f - (mean + cMean)
    mean = kahanSumInc(delta / count, mean, cMean)
    cMean = compensation
    aux = kahanSumInc(delta * (f - (mean + cMean)), aux, cAux)
    cAux = compensation
  }
  return (aux + cAux) / count
}

// quantile_over_time and mad_over_time select in a copy of the window, grown and reused.
let scratch = new Float64Array(256)

function copyWindow(w: RangeWindow): number {
  const n = w.hi - w.lo
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2))
  for (let i = 0; i < n; i++) scratch[i] = w.vs[w.lo + i]
  return n
}

function quantileOverTime(w: RangeWindow, args: readonly number[]): number | undefined {
  if (w.hi <= w.lo) return undefined
  const n = copyWindow(w)
  return quantile(args[0], scratch, n)
}

/** madOverTime is the median absolute deviation: the median of |v - median|. */
function madOverTime(w: RangeWindow): number | undefined {
  if (w.hi <= w.lo) return undefined
  const n = copyWindow(w)
  const median = quantile(0.5, scratch, n)
  const { vs, lo } = w
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(vs[lo + i] - median)
  return quantile(0.5, scratch, n)
}

/**
 * RANGE_FUNCTIONS maps each PromQL function over a range vector to its float math (native histograms
 * are not stored here, so none is handled). The table has no prototype: look names up directly.
 */
export const RANGE_FUNCTIONS: Readonly<Record<string, RangeFunction>> = lookupTable<RangeFunction>({
  rate: (w) => extrapolatedRate(w, true, true),
  increase: (w) => extrapolatedRate(w, true, false),
  delta: (w) => extrapolatedRate(w, false, false),
  irate: (w) => instantValue(w, true),
  idelta: (w) => instantValue(w, false),
  deriv,
  predict_linear: predictLinear,
  holt_winters: holtWinters,
  resets,
  changes,
  avg_over_time: avgOverTime,
  min_over_time: minOverTime,
  max_over_time: maxOverTime,
  sum_over_time: sumOverTime,
  count_over_time: (w) => (w.hi > w.lo ? w.hi - w.lo : undefined),
  last_over_time: (w) => (w.hi > w.lo ? w.vs[w.hi - 1] : undefined),
  present_over_time: (w) => (w.hi > w.lo ? 1 : undefined),
  stddev_over_time: (w) => {
    const v = variance(w)
    return v === undefined ? undefined : Math.sqrt(v)
  },
  stdvar_over_time: variance,
  quantile_over_time: quantileOverTime,
  mad_over_time: madOverTime,
})
