// Function calls: range functions series-at-a-time, element-wise and label-level functions step by step.
import { compileRe2, isPeregrineError, parseGoFloat } from '../core/index.js'
import type { Labels, Matcher } from '../tsdb/index.js'
import type { Call, Expr, VectorSelector } from './ast.js'
import {
  OutBuilder,
  executionError,
  hasSameLabelset,
  setHistogram,
  type Grid,
  type GridSeries,
  type Raw,
  type RawSeries,
} from './eval-types.js'
import { gridToRaw, isStale, unwrap, type Evaluator } from './evaluator.js'
import {
  RANGE_FUNCTIONS,
  TIME_FUNCTIONS,
  VALUE_FUNCTIONS,
  bucketQuantile,
  clampDrops,
  type RangeFunction,
  type RangeWindow,
} from './functions.js'
import { compareLabels, type FloatHistogram } from '../tsdb/index.js'
import {
  avgHistograms,
  extrapolationFactor,
  histogramFraction,
  histogramQuantile as histogramQuantileNative,
  histogramRate,
  histogramVariance,
  sumHistograms,
  warningText,
  type HistogramWarning,
} from './eval-histogram.js'
import { dropMetricName, getLabel, labelsKey, setLabel, METRIC_NAME } from './labels.js'
import { isValidLabelName } from './parser.js'
import { goQuote } from './format.js'

/** evalCall evaluates a function call (Prometheus's eval of *parser.Call). */
export function evalCall(ev: Evaluator, e: Call): Grid {
  const name = e.func.name
  if (name === 'timestamp') {
    const arg = unwrap(e.args[0])
    if (arg.kind === 'VectorSelector') return timestampOfSelector(ev, arg)
  }
  let matrixIndex = -1
  for (let i = 0; i < e.args.length; i++) {
    const a = unwrap(e.args[i])
    if (a.kind === 'MatrixSelector' || a.kind === 'SubqueryExpr') {
      matrixIndex = i
      break
    }
  }
  switch (name) {
    case 'label_replace':
      return labelReplace(ev, e)
    case 'label_join':
      return labelJoin(ev, e)
    case 'info':
      throw executionError('function "info" is not supported')
  }
  if (matrixIndex >= 0) return rangeFunction(ev, e, matrixIndex)
  return instantFunction(ev, e)
}

function stringArg(e: Expr): string {
  const a = unwrap(e)
  if (a.kind !== 'StringLiteral') throw new Error('BUG: expected a string argument')
  return a.val
}

/** timestamp(v) over a selector gives each sample's own time, not the step's. */
function timestampOfSelector(ev: Evaluator, vs: VectorSelector): Grid {
  const set = ev.ctx.data.get(vs)
  if (set === undefined) throw new Error('BUG: selector was not fetched')
  const out = new OutBuilder(ev.numSteps)
  const lookback = ev.ctx.lookbackDelta
  for (let si = 0; si < set.labels.length; si++) {
    ev.check()
    const lo = set.offsets[si]
    const hi = set.offsets[si + 1]
    let slot: GridSeries | null = null
    let j = lo
    for (let k = 0; k < ev.numSteps; k++) {
      const t = ev.time(k)
      // With @, the selector reads the same instant at every step.
      const offset = vs.timestamp !== null ? t - vs.timestamp : vs.offset
      const ref = t - offset
      if (vs.timestamp !== null) j = lo
      while (j < hi && set.ts[j] <= ref) j++
      if (j === lo) continue
      const idx = j - 1
      if (set.ts[idx] < ref - lookback) continue
      const v = set.vs[idx]
      if (v !== v && isStale(v)) continue
      if (slot === null) {
        const labels = ev.ctx.delayedNameRemoval ? set.labels[si] : dropMetricName(set.labels[si])
        slot = out.slot(labels, true)
      }
      out.put(slot, k, set.ts[idx] / 1000)
    }
  }
  ev.addSamples(0)
  return out.grid()
}

/** rangeFunction runs a range-vector function series by series over windows sliding with the steps. */
function rangeFunction(ev: Evaluator, e: Call, matrixIndex: number): Grid {
  const name = e.func.name
  const others: (Grid | null)[] = e.args.map((a, i) =>
    i === matrixIndex || unwrap(a).kind === 'StringLiteral' ? null : ev.evalGrid(a)
  )
  const arg = unwrap(e.args[matrixIndex])
  let input: RawSeries[]
  let offset: number
  let range: number
  let atFixed: boolean
  let argPos = e.args[matrixIndex].pos
  if (arg.kind === 'MatrixSelector') {
    input = ev.rawOf(arg.vs)
    offset = arg.vs.offset
    range = arg.range
    atFixed = arg.vs.timestamp !== null
    argPos = arg.pos
  } else if (arg.kind === 'SubqueryExpr') {
    const sub = ev.subqueryEvaluator(arg)
    input = sub.end < sub.start ? [] : gridToRaw(sub, sub.evalGrid(arg.expr)).series
    offset = arg.timestamp !== null ? arg.originalOffset + (ev.start - arg.timestamp) : arg.offset
    range = arg.range
    atFixed = arg.timestamp !== null
  } else {
    throw new Error('BUG: range function without a range argument')
  }

  const isAbsent = name === 'absent_over_time'
  const fn = RANGE_FUNCTIONS[name]
  if (fn === undefined && !isAbsent)
    throw executionError(`function ${goQuote(name)} is not supported`)
  const dropName = name !== 'last_over_time'
  const isQuantile = name === 'quantile_over_time'
  let warnedQuantile = false
  const n = ev.numSteps
  const argGrids = others.filter((g): g is Grid => g !== null)
  const scalarArgs: number[] = argGrids.map(() => 0)
  const w: RangeWindow = {
    ts: new Float64Array(0),
    vs: new Float64Array(0),
    lo: 0,
    hi: 0,
    start: 0,
    end: 0,
    evalTime: 0,
  }
  const out: GridSeries[] = []
  let maxWindow = 0
  for (const s of input) {
    ev.check()
    const labels = !ev.ctx.delayedNameRemoval && dropName ? dropMetricName(s.labels) : s.labels
    if (s.hs !== undefined) {
      const r = histogramSeriesRange(ev, e, s, labels, dropName, {
        fn,
        isAbsent,
        offset,
        range,
        atFixed,
        argGrids,
        scalarArgs,
        argPos: argPos.start,
      })
      if (r.slot !== null) out.push(r.slot)
      if (r.maxWindow > maxWindow) maxWindow = r.maxWindow
      if ((name === 'rate' || name === 'increase') && r.sawFloat)
        possibleNonCounter(ev, s, argPos.start)
      continue
    }
    let slot: GridSeries | null = null
    let lo = 0
    let hi = 0
    const ts = s.ts
    w.ts = ts
    w.vs = s.vs
    let sawSamples = false
    for (let k = 0; k < n; k++) {
      const t = ev.time(k)
      if (k === 0 || !atFixed) {
        const maxt = t - offset
        const mint = maxt - range
        while (lo < ts.length && ts[lo] < mint) lo++
        if (hi < lo) hi = lo
        while (hi < ts.length && ts[hi] <= maxt) hi++
      }
      ev.work(hi - lo + 1)
      if (hi === lo) continue
      sawSamples = true
      if (hi - lo > maxWindow) maxWindow = hi - lo
      let v: number | undefined
      if (isAbsent) v = 1
      else {
        w.lo = lo
        w.hi = hi
        w.end = t - offset
        w.start = w.end - range
        w.evalTime = t
        for (let a = 0; a < argGrids.length; a++) scalarArgs[a] = argGrids[a].series[0].vals[k]
        if (isQuantile && !warnedQuantile) {
          const q = scalarArgs[0]
          if (q !== q || q < 0 || q > 1) {
            warnedQuantile = true
            ev.ctx.annotations.push({
              level: 'warning',
              text: annotate(
                ev,
                `PromQL warning: quantile value should be between 0 and 1, got ${goFloatG(q)}`,
                e.args[0].pos.start
              ),
            })
          }
        }
        v = fn(w, scalarArgs)
      }
      ev.ctx.total += hi - lo
      if (v === undefined) continue
      if (slot === null) slot = ev.newSeries(labels, dropName)
      slot.vals[k] = v
      slot.present[k] = 1
    }
    if (slot !== null) {
      let c = 0
      for (let k = 0; k < n; k++) c += slot.present[k]
      ev.addSamples(c)
      out.push(slot)
    }
    if ((name === 'rate' || name === 'increase') && sawSamples) {
      possibleNonCounter(ev, s, argPos.start)
    }
  }
  ev.addSamples(0)
  if (ev.ctx.current + maxWindow > ev.ctx.maxSamples) throw executionErrorTooMany()

  if (isAbsent) {
    for (const s of out) {
      let c = 0
      for (let k = 0; k < n; k++) c += s.present[k]
      if (c === n) return { kind: 'grid', series: [] }
    }
    const found = new Uint8Array(n)
    let foundCount = 0
    for (const s of out) {
      for (let k = 0; k < n; k++) {
        if (s.present[k] === 1 && found[k] === 0) {
          found[k] = 1
          foundCount++
        }
      }
    }
    if (out.length > 1 && foundCount === n) return { kind: 'grid', series: [] }
    const res = ev.newSeries(absentLabels(arg), true)
    for (let k = 0; k < n; k++) {
      if (found[k] === 0) {
        res.vals[k] = 1
        res.present[k] = 1
      }
    }
    return { kind: 'grid', series: [res] }
  }
  if (!ev.ctx.delayedNameRemoval && hasSameLabelset(out)) {
    throw executionError('vector cannot contain metrics with the same labelset')
  }
  return { kind: 'grid', series: out }
}

function possibleNonCounter(ev: Evaluator, s: RawSeries, pos: number): void {
  const metric = getLabel(s.labels, METRIC_NAME)
  if (
    metric !== '' &&
    !metric.endsWith('_total') &&
    !metric.endsWith('_sum') &&
    !metric.endsWith('_count') &&
    !metric.endsWith('_bucket')
  ) {
    ev.ctx.annotations.push({
      level: 'info',
      text: annotate(
        ev,
        `PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: ${goQuote(metric)}`,
        pos
      ),
    })
  }
}

/** warnHistogram records a histogram warning for a metric at a position. */
export function warnHistogram(
  ev: Evaluator,
  w: HistogramWarning,
  metric: string,
  pos: number
): void {
  ev.ctx.annotations.push({ level: 'warning', text: annotate(ev, warningText(w, metric), pos) })
}

interface RangeCtx {
  fn: RangeFunction | undefined
  isAbsent: boolean
  offset: number
  range: number
  atFixed: boolean
  argGrids: Grid[]
  scalarArgs: number[]
  argPos: number
}

/**
 * histogramSeriesRange runs a range function over a series holding native histograms: floats and
 * histograms are windowed apart, as Prometheus keeps them in Series.Floats and Series.Histograms.
 */
function histogramSeriesRange(
  ev: Evaluator,
  e: Call,
  s: RawSeries,
  labels: Labels,
  dropName: boolean,
  c: RangeCtx
): { slot: GridSeries | null; maxWindow: number; sawFloat: boolean } {
  const name = e.func.name
  const shs = s.hs as (FloatHistogram | undefined)[]
  const fts: number[] = []
  const fvs: number[] = []
  const hts: number[] = []
  const hh: FloatHistogram[] = []
  for (let i = 0; i < s.ts.length; i++) {
    const h = shs[i]
    if (h === undefined) {
      fts.push(s.ts[i])
      fvs.push(s.vs[i])
    } else {
      hts.push(s.ts[i])
      hh.push(h)
    }
  }
  const fw: RangeWindow = {
    ts: Float64Array.from(fts),
    vs: Float64Array.from(fvs),
    lo: 0,
    hi: 0,
    start: 0,
    end: 0,
    evalTime: 0,
  }
  const metric = getLabel(s.labels, METRIC_NAME)
  const warn = (w: HistogramWarning): void => warnHistogram(ev, w, metric, c.argPos)
  let flo = 0
  let fhi = 0
  let hlo = 0
  let hhi = 0
  let slot: GridSeries | null = null
  let maxWindow = 0
  let sawFloat = false
  for (let k = 0; k < ev.numSteps; k++) {
    const t = ev.time(k)
    const maxt = t - c.offset
    const mint = maxt - c.range
    if (k === 0 || !c.atFixed) {
      while (flo < fts.length && fts[flo] < mint) flo++
      if (fhi < flo) fhi = flo
      while (fhi < fts.length && fts[fhi] <= maxt) fhi++
      while (hlo < hts.length && hts[hlo] < mint) hlo++
      if (hhi < hlo) hhi = hlo
      while (hhi < hts.length && hts[hhi] <= maxt) hhi++
    }
    const nF = fhi - flo
    const nH = hhi - hlo
    if (nF + nH === 0) continue
    if (nF > 0) sawFloat = true
    if (nF + nH > maxWindow) maxWindow = nF + nH
    ev.ctx.total += nF + nH
    fw.lo = flo
    fw.hi = fhi
    fw.end = maxt
    fw.start = mint
    fw.evalTime = t
    for (let a = 0; a < c.argGrids.length; a++) c.scalarArgs[a] = c.argGrids[a].series[0].vals[k]
    let v: number | undefined
    let hOut: FloatHistogram | null = null
    const floatOnly = (): number | undefined =>
      nF === 0 || c.fn === undefined ? undefined : c.fn(fw, c.scalarArgs)
    if (c.isAbsent) v = 1
    else {
      switch (name) {
        case 'rate':
        case 'increase':
        case 'delta':
          if (nF > 0 && nH > 0) {
            warn('mixed')
            break
          }
          if (nH > 1) {
            hOut = histogramRate(hh.slice(hlo, hhi), name !== 'delta', warn)
            if (hOut !== null) {
              hOut.mul(
                extrapolationFactor(
                  hts[hlo],
                  hts[hhi - 1],
                  nH,
                  mint,
                  maxt,
                  c.range,
                  name === 'rate'
                )
              )
            }
          } else if (nF > 1) v = floatOnly()
          break
        case 'sum_over_time':
        case 'avg_over_time':
          if (nF > 0 && nH > 0) {
            warn('mixed')
            break
          }
          if (nH > 0) {
            const list = hh.slice(hlo, hhi)
            hOut = name === 'sum_over_time' ? sumHistograms(list, warn) : avgHistograms(list, warn)
          } else v = floatOnly()
          break
        case 'count_over_time':
          v = nF + nH
          break
        case 'present_over_time':
          v = 1
          break
        case 'last_over_time':
          if (nH > 0 && (nF === 0 || hts[hhi - 1] >= fts[fhi - 1])) hOut = hh[hhi - 1].copy()
          else v = fvs[fhi - 1]
          break
        case 'resets': {
          let n = 0
          for (let i = flo + 1; i < fhi; i++) if (fvs[i] < fvs[i - 1]) n++
          for (let i = hlo + 1; i < hhi; i++) if (hh[i].detectReset(hh[i - 1])) n++
          v = n
          break
        }
        default:
          v = floatOnly()
      }
    }
    if (hOut === null && v === undefined) continue
    if (slot === null) slot = ev.newSeries(labels, dropName)
    slot.present[k] = 1
    if (hOut !== null) setHistogram(slot, k, hOut)
    else slot.vals[k] = v as number
  }
  if (slot !== null) {
    let n = 0
    for (let k = 0; k < ev.numSteps; k++) n += slot.present[k]
    ev.addSamples(n)
  }
  return { slot, maxWindow, sawFloat }
}

function executionErrorTooMany(): Error {
  return executionError(
    'query processing would load too many samples into memory in query execution'
  )
}

/** annotate appends a position as Prometheus's annotations print it: `text (1:5)`. */
export function annotate(ev: Evaluator, text: string, pos: number): string {
  const q = ev.ctx.query
  if (q === '') return text
  let line = 1
  let last = -1
  for (let i = 0; i < pos && i < q.length; i++) {
    if (q[i] === '\n') {
      line++
      last = i
    }
  }
  return `${text} (${line}:${pos - last})`
}

/** absentLabels are the labels an absent() result carries: the selector's unique equality matchers. */
function absentLabels(e: Expr): Labels {
  let matchers: Matcher[]
  if (e.kind === 'VectorSelector') matchers = e.matchers
  else if (e.kind === 'MatrixSelector') matchers = e.vs.matchers
  else return []
  let ls: Labels = []
  const has = new Set<string>()
  for (const m of matchers) {
    if (m.name === METRIC_NAME) continue
    if (m.op === '=' && !has.has(m.name)) {
      ls = setLabel(ls, m.name, m.value)
      has.add(m.name)
    } else {
      ls = ls.filter((l) => l.name !== m.name)
    }
  }
  return ls
}

/** mapSeries applies f to every present sample, keeping series 1:1 (name dropped), merging equal labels. */
function mapSeries(
  ev: Evaluator,
  g: Grid,
  f: (v: number, step: number) => number | undefined,
  skipHistograms = false
): Grid {
  const out = new OutBuilder(ev.numSteps)
  for (const s of g.series) {
    ev.check()
    const labels = ev.ctx.delayedNameRemoval ? s.labels : dropMetricName(s.labels)
    let slot: GridSeries | null = null
    const hs = skipHistograms ? s.hs : undefined
    for (let k = 0; k < ev.numSteps; k++) {
      if (s.present[k] === 0) continue
      if (hs !== undefined && hs[k] !== undefined) continue
      const v = f(s.vals[k], k)
      if (v === undefined) continue
      if (slot === null) slot = out.slot(labels, true)
      out.put(slot, k, v)
    }
  }
  return out.grid()
}

function instantFunction(ev: Evaluator, e: Call): Grid {
  const name = e.func.name
  const args = e.args.map((a) => (unwrap(a).kind === 'StringLiteral' ? null : ev.evalGrid(a)))
  const scalarAt = (i: number, k: number): number => (args[i] as Grid).series[0].vals[k]
  const vec = (): Grid => args[0] as Grid
  const n = ev.numSteps

  const valueFn = VALUE_FUNCTIONS[name]
  if (valueFn !== undefined) {
    const extra: number[] = []
    return mapSeries(
      ev,
      vec(),
      (v, k) => {
        extra.length = 0
        for (let i = 1; i < args.length; i++) extra.push(scalarAt(i, k))
        if (name === 'clamp' && clampDrops(extra[0], extra[1])) return undefined
        return valueFn(v, extra)
      },
      !NOT_SIMPLE.has(name)
    )
  }
  const timeFn = TIME_FUNCTIONS[name]
  if (timeFn !== undefined) {
    if (args.length === 0) {
      const s = ev.newSeries([], false)
      for (let k = 0; k < n; k++) {
        s.vals[k] = timeFn(Math.floor(ev.time(k) / 1000))
        s.present[k] = 1
      }
      return { kind: 'grid', series: [s] }
    }
    return mapSeries(ev, vec(), (v) => timeFn(Math.trunc(v)))
  }
  switch (name) {
    case 'time':
      return ev.scalarGrid((k) => ev.time(k) / 1000)
    case 'pi':
      return ev.scalarGrid(() => Math.PI)
    case 'vector': {
      const s = ev.newSeries([], false)
      for (let k = 0; k < n; k++) {
        s.vals[k] = scalarAt(0, k)
        s.present[k] = 1
      }
      return { kind: 'grid', series: [s] }
    }
    case 'scalar': {
      const g = vec()
      return ev.scalarGrid((k) => {
        let c = 0
        let v = NaN
        for (const s of g.series) {
          if (s.present[k] === 1) {
            c++
            v = s.vals[k]
          }
        }
        return c === 1 ? v : NaN
      })
    }
    case 'absent': {
      const g = vec()
      const s = ev.newSeries(absentLabels(unwrap(e.args[0])), false)
      for (let k = 0; k < n; k++) {
        let any = false
        for (const x of g.series) {
          if (x.present[k] === 1) {
            any = true
            break
          }
        }
        if (!any) {
          s.vals[k] = 1
          s.present[k] = 1
        }
      }
      return { kind: 'grid', series: [s] }
    }
    case 'sort':
    case 'sort_desc':
      return sortByValue(ev, vec(), name === 'sort_desc')
    case 'sort_by_label':
    case 'sort_by_label_desc':
      return sortByLabel(ev, vec(), e.args.slice(1).map(stringArg), name === 'sort_by_label_desc')
    case 'timestamp':
      return mapSeries(ev, vec(), (_v, k) => ev.time(k) / 1000)
    case 'histogram_quantile':
      return histogramQuantile(ev, e, scalarAt, args[1] as Grid)
    case 'histogram_avg':
    case 'histogram_count':
    case 'histogram_sum':
    case 'histogram_stddev':
    case 'histogram_stdvar':
    case 'histogram_fraction': {
      const g = (name === 'histogram_fraction' ? args[2] : args[0]) as Grid
      return histogramValues(ev, g, (h, k) => {
        switch (name) {
          case 'histogram_avg':
            return h.sum / h.count
          case 'histogram_count':
            return h.count
          case 'histogram_sum':
            return h.sum
          case 'histogram_stddev':
            return Math.sqrt(histogramVariance(h))
          case 'histogram_stdvar':
            return histogramVariance(h)
          case 'histogram_fraction':
            return histogramFraction(scalarAt(0, k), scalarAt(1, k), h)
        }
      })
    }
  }
  throw executionError(`function ${goQuote(name)} is not supported`)
}

/** NOT_SIMPLE are the value functions that also map histogram samples (reading their float, 0). */
const NOT_SIMPLE = new Set(['round', 'clamp', 'clamp_min', 'clamp_max'])

/** histogramValues maps each histogram sample to a float (histogram_count & co.); floats are dropped. */
function histogramValues(
  ev: Evaluator,
  g: Grid,
  f: (h: FloatHistogram, step: number) => number
): Grid {
  const out = new OutBuilder(ev.numSteps)
  for (const s of g.series) {
    ev.check()
    const hs = s.hs
    if (hs === undefined) continue
    const labels = ev.ctx.delayedNameRemoval ? s.labels : dropMetricName(s.labels)
    let slot: GridSeries | null = null
    for (let k = 0; k < ev.numSteps; k++) {
      const h = hs[k]
      if (s.present[k] === 0 || h === undefined) continue
      if (slot === null) slot = out.slot(labels, true)
      out.put(slot, k, f(h, k))
    }
  }
  return out.grid()
}

/** sortByValue orders an instant result by value (NaN last); a range result is sorted by labels anyway. */
function sortByValue(ev: Evaluator, g: Grid, desc: boolean): Grid {
  if (ev.numSteps !== 1) return g
  const live = g.series.filter((s) => s.present[0] === 1)
  live.sort((a, b) => {
    const x = a.vals[0]
    const y = b.vals[0]
    if (x !== x) return y !== y ? 0 : 1
    if (y !== y) return -1
    return desc ? y - x : x - y
  })
  return { kind: 'grid', series: live }
}

/** natLess is Go's natsort.Compare: digit runs compare as numbers. */
function natLess(a: string, b: string): boolean {
  const re = /(\d+|\D+)/g
  const pa = a.match(re) ?? []
  const pb = b.match(re) ?? []
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]
    const y = pb[i]
    if (x === y) continue
    const dx = /^\d/.test(x)
    const dy = /^\d/.test(y)
    if (dx && dy) {
      const nx = BigInt(x)
      const ny = BigInt(y)
      if (nx !== ny) return nx < ny
      return x.length > y.length
    }
    return x < y
  }
  return pa.length < pb.length
}

function sortByLabel(ev: Evaluator, g: Grid, names: string[], desc: boolean): Grid {
  if (ev.numSteps !== 1) return g
  const live = g.series.filter((s) => s.present[0] === 1)
  live.sort((a, b) => {
    for (const l of names) {
      const x = getLabel(a.labels, l)
      const y = getLabel(b.labels, l)
      if (x === y) continue
      const less = natLess(x, y)
      return desc ? (less ? 1 : -1) : less ? -1 : 1
    }
    const c = compareLabels(a.labels, b.labels)
    return desc ? -c : c
  })
  return { kind: 'grid', series: live }
}

/** histogramQuantile is histogram_quantile over classic `le` buckets, grouped by the other labels. */
function histogramQuantile(
  ev: Evaluator,
  e: Call,
  scalarAt: (i: number, k: number) => number,
  g: Grid
): Grid {
  interface Group {
    labels: Labels
    slot: GridSeries | null
    ub: Float64Array
    counts: Float64Array
    n: number
  }
  const groups = new Map<string, Group>()
  const seriesGroup: (Group | null)[] = []
  const seriesLe: number[] = []
  const badLe: (string | null)[] = []
  for (const s of g.series) {
    const leText = getLabel(s.labels, 'le')
    const le = parseLe(leText)
    if (le === undefined) {
      seriesGroup.push(null)
      seriesLe.push(NaN)
      badLe.push(leText)
      continue
    }
    const rest = s.labels.filter((l) => l.name !== 'le')
    const key = labelsKey(rest)
    let grp = groups.get(key)
    if (grp === undefined) {
      grp = {
        labels: rest.filter((l) => l.name !== METRIC_NAME),
        slot: null,
        ub: new Float64Array(8),
        counts: new Float64Array(8),
        n: 0,
      }
      groups.set(key, grp)
    }
    seriesGroup.push(grp)
    seriesLe.push(le)
    badLe.push(null)
  }
  const out = new OutBuilder(ev.numSteps)
  const order: Group[] = []
  const natives: number[] = []
  const nativeSlots = new Map<number, GridSeries>()
  const warned = new Set<string>()
  for (let k = 0; k < ev.numSteps; k++) {
    ev.check()
    const q = scalarAt(0, k)
    if ((q !== q || q < 0 || q > 1) && !warned.has('q')) {
      warned.add('q')
      ev.ctx.annotations.push({
        level: 'warning',
        text: annotate(
          ev,
          `PromQL warning: quantile value should be between 0 and 1, got ${goFloatG(q)}`,
          e.args[0].pos.start
        ),
      })
    }
    order.length = 0
    natives.length = 0
    for (let i = 0; i < g.series.length; i++) {
      const s = g.series[i]
      if (s.present[k] === 0) continue
      if (s.hs !== undefined && s.hs[k] !== undefined) {
        natives.push(i)
        continue
      }
      const grp = seriesGroup[i]
      if (grp === null) {
        const metric = getLabel(s.labels, METRIC_NAME)
        const key = `bucket:${metric}:${badLe[i]}`
        if (!warned.has(key)) {
          warned.add(key)
          ev.ctx.annotations.push({
            level: 'warning',
            text: annotate(
              ev,
              `PromQL warning: bucket label "le" is missing or has a malformed value of ${goQuote(badLe[i] ?? '')} for metric name ${goQuote(metric)}`,
              e.args[1].pos.start
            ),
          })
        }
        continue
      }
      if (grp.n === 0) order.push(grp)
      if (grp.n === grp.ub.length) {
        const ub = new Float64Array(grp.n * 2)
        ub.set(grp.ub)
        const c = new Float64Array(grp.n * 2)
        c.set(grp.counts)
        grp.ub = ub
        grp.counts = c
      }
      grp.ub[grp.n] = seriesLe[i]
      grp.counts[grp.n] = s.vals[k]
      grp.n++
    }
    for (const i of natives) {
      const s = g.series[i]
      const key = labelsKey(s.labels)
      const grp = groups.get(key)
      if (grp !== undefined && grp.n > 0) {
        ev.ctx.annotations.push({
          level: 'warning',
          text: annotate(
            ev,
            `PromQL warning: vector contains a mix of classic and native histograms for metric name ${goQuote(getLabel(s.labels, METRIC_NAME))}`,
            e.args[1].pos.start
          ),
        })
        grp.n = 0
        continue
      }
      const labels = ev.ctx.delayedNameRemoval ? s.labels : dropMetricName(s.labels)
      let slot = nativeSlots.get(i)
      if (slot === undefined) nativeSlots.set(i, (slot = out.slot(labels, true)))
      out.put(
        slot,
        k,
        histogramQuantileNative(q, (s.hs as (FloatHistogram | undefined)[])[k] as FloatHistogram)
      )
    }
    for (const grp of order) {
      if (grp.n === 0) continue
      const r = bucketQuantile(q, grp.ub, grp.counts, grp.n)
      grp.n = 0
      if (grp.slot === null) grp.slot = out.slot(grp.labels, false)
      out.put(grp.slot, k, r.value)
      if (r.forcedMonotonic) {
        const metric = getLabel(grp.labels, METRIC_NAME)
        const key = `mono:${labelsKey(grp.labels)}`
        if (!warned.has(key)) {
          warned.add(key)
          ev.ctx.annotations.push({
            level: 'info',
            text: annotate(
              ev,
              `PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name ${goQuote(metric)}`,
              e.args[1].pos.start
            ),
          })
        }
      }
    }
  }
  return out.grid()
}

/** parseLe reads a bucket bound as Go's strconv.ParseFloat (undefined where it errs). */
function parseLe(s: string): number | undefined {
  return parseGoFloat(s)
}

/** goFloatG prints a float as Go's %g. */
export function goFloatG(v: number): string {
  if (v !== v) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  const e = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)))
  if (e < -4 || e >= 21) {
    const [m, x] = v.toExponential().split('e')
    const xe = Number(x)
    return `${m}e${xe < 0 ? '-' : '+'}${String(Math.abs(xe)).padStart(2, '0')}`
  }
  return String(v)
}

function labelReplace(ev: Evaluator, e: Call): Grid {
  const dst = stringArg(e.args[1])
  const repl = stringArg(e.args[2])
  const src = stringArg(e.args[3])
  const regexText = stringArg(e.args[4])
  let re: RegExp
  try {
    re = compileRe2(regexText, true)
  } catch (err) {
    if (isPeregrineError(err))
      throw executionError(`invalid regular expression in label_replace(): ${regexText}`)
    throw err
  }
  if (!isValidLabelName(dst)) {
    throw executionError(`invalid destination label name in label_replace(): ${dst}`)
  }
  const g = ev.evalGrid(e.args[0])
  for (const s of g.series) {
    const v = getLabel(s.labels, src)
    const m = re.exec(v)
    if (m === null) continue
    const res = expandTemplate(repl, m)
    checkLabelValue(res, 'label_replace')
    s.labels = setLabel(s.labels, dst, res)
    if (dst === METRIC_NAME) s.dropName = false
  }
  if (hasSameLabelset(g.series)) {
    throw executionError('vector cannot contain metrics with the same labelset')
  }
  return g
}

/** expandTemplate is Go's regexp.Expand: $1, ${1}, $name, ${name}, $$. */
function expandTemplate(tpl: string, m: RegExpExecArray): string {
  let out = ''
  for (let i = 0; i < tpl.length; i++) {
    const c = tpl[i]
    if (c !== '$' || i + 1 >= tpl.length) {
      out += c
      continue
    }
    const next = tpl[i + 1]
    if (next === '$') {
      out += '$'
      i++
      continue
    }
    let name: string
    let end: number
    if (next === '{') {
      const close = tpl.indexOf('}', i + 2)
      const inner = close < 0 ? '' : tpl.slice(i + 2, close)
      if (close < 0 || !/^[a-zA-Z0-9_]+$/.test(inner)) {
        out += c
        continue
      }
      name = inner
      end = close
    } else {
      const mm = /^[a-zA-Z0-9_]+/.exec(tpl.slice(i + 1))
      if (mm === null) {
        out += c
        continue
      }
      name = mm[0]
      end = i + name.length
    }
    i = end
    if (/^\d+$/.test(name)) {
      const idx = Number(name)
      out += idx < m.length ? (m[idx] ?? '') : ''
    } else {
      out += m.groups?.[name] ?? ''
    }
  }
  return out
}

function labelJoin(ev: Evaluator, e: Call): Grid {
  const dst = stringArg(e.args[1])
  const sep = stringArg(e.args[2])
  const srcs = e.args.slice(3).map(stringArg)
  for (const s of srcs) {
    if (!isValidLabelName(s))
      throw executionError(`invalid source label name in label_join(): ${s}`)
  }
  if (!isValidLabelName(dst)) {
    throw executionError(`invalid destination label name in label_join(): ${dst}`)
  }
  const g = ev.evalGrid(e.args[0])
  for (const s of g.series) {
    const v = srcs.map((l) => getLabel(s.labels, l)).join(sep)
    checkLabelValue(v, 'label_join')
    s.labels = setLabel(s.labels, dst, v)
    if (dst === METRIC_NAME) s.dropName = false
  }
  return g
}

export type { Raw }

/**
 * MAX_LABEL_VALUE bounds a label value a query makes (label_replace, label_join): Prometheus has no
 * bound, but a value of megabytes repeated over every series and step is a way to exhaust memory.
 */
export const MAX_LABEL_VALUE = 16_384

function checkLabelValue(v: string, fn: string): void {
  if (v.length > MAX_LABEL_VALUE) {
    throw executionError(
      `${fn}() would make a label value of ${v.length} characters, more than ${MAX_LABEL_VALUE}`
    )
  }
}
