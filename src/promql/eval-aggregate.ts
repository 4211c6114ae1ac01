// Aggregations: sum avg count min max group stddev stdvar quantile topk bottomk limitk limit_ratio count_values.
import { PeregrineError } from '../core/index.js'
import type { FloatHistogram, HistogramError, Labels } from '../tsdb/index.js'
import type { AggregateExpr, VectorSelector } from './ast.js'
import { annotate, goFloatG, warnHistogram } from './eval-call.js'
import { errorWarning } from './eval-histogram.js'
import {
  OutBuilder,
  executionError,
  setHistogram,
  type Grid,
  type GridSeries,
} from './eval-types.js'
import { unwrap, type Evaluator } from './evaluator.js'
import { formatFloat } from './format.js'
import { quantile } from './functions.js'
import {
  METRIC_NAME,
  deleteLabels,
  getLabel,
  hashLabels,
  keepLabels,
  labelsKey,
  setLabel,
} from './labels.js'
import { isValidLabelName } from './parser.js'

/** kahanSumInc adds inc to sum with Neumaier's compensation c, as Prometheus 2.55. */
export function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc
  if (t === Infinity || t === -Infinity) c = 0
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc
  else c += inc - t + sum
  return [t, c]
}

function groupKey(ls: Labels, grouping: readonly string[], without: boolean): string {
  if (without) return labelsKey(deleteLabels(ls, [...grouping, METRIC_NAME]))
  if (grouping.length === 0) return ''
  return labelsKey(keepLabels(ls, grouping))
}

function groupLabels(ls: Labels, grouping: readonly string[], without: boolean): Labels {
  if (without) return deleteLabels(ls, [...grouping, METRIC_NAME])
  if (grouping.length > 0) return keepLabels(ls, grouping)
  return []
}

const TWO_63 = 2 ** 63

/** evalAggregate evaluates an aggregation over every step (Prometheus's rangeEvalAgg). */
export function evalAggregate(ev: Evaluator, e: AggregateExpr): Grid {
  const grouping = [...e.grouping].sort()
  const param = e.param === null ? null : unwrap(e.param)
  if (e.op === 'count_values') {
    if (param === null || param.kind !== 'StringLiteral') throw new Error('BUG: count_values label')
    if (param.val.length > 1024) {
      throw new PeregrineError(
        'PG_PROMQL_EXECUTION',
        `count_values: the label name has ${param.val.length} characters, more than 1024`,
        { status: 422 }
      )
    }
    return countValues(ev, e, grouping, param.val)
  }
  let p = 0
  if (param !== null) p = ev.evalGrid(param).series[0].vals[0]
  let inner = e.expr
  while (inner.kind === 'ParenExpr') inner = inner.expr
  const fold = inner.kind === 'VectorSelector' ? ev.ctx.folds.get(inner) : undefined
  if (fold !== undefined) return fold.result(ev)
  if (inner.kind === 'VectorSelector' && isAccOp(e.op) && ev.selected(inner).hs === undefined) {
    return aggregateSelector(ev, e, inner, grouping)
  }
  const input = ev.evalGrid(e.expr)
  const n = ev.numSteps

  // Map input series to output groups once, not per step.
  const groupOf = new Int32Array(input.series.length)
  const groupIndex = new Map<string, number>()
  const groups: Labels[] = []
  for (let si = 0; si < input.series.length; si++) {
    groupOf[si] = groupFor(input.series[si].labels, grouping, e.without, groupIndex, groups)
  }

  if (e.op === 'topk' || e.op === 'bottomk' || e.op === 'limitk' || e.op === 'limit_ratio') {
    return aggregateK(ev, e, input, groupOf, groups.length, p)
  }
  if (e.op === 'quantile') return aggregateQuantile(ev, e, input, groupOf, groups, p)

  let anyHistogram = false
  for (const s of input.series) if (s.hs !== undefined) anyHistogram = true
  if (anyHistogram && (e.op === 'sum' || e.op === 'avg')) {
    return aggregateHistograms(ev, e, input, groupOf, groups)
  }
  if (!isAccOp(e.op)) throw new Error(`BUG: aggregation ${String(e.op)}`)
  const acc = new Accumulator(e.op, groups.length, n)
  // Series by series: each group's values still arrive in series order at every step, so sums
  // round exactly as Prometheus's step-by-step loop does.
  for (let si = 0; si < input.series.length; si++) {
    ev.check()
    const s = input.series[si]
    acc.add(groupOf[si], s.vals, s.present, s.hs)
  }
  // Prometheus takes the flag from the input series at the group's index (engine.go, 2.55).
  return acc.result(ev, groups, (g) => input.series[g]?.dropName ?? false)
}

/** AccOp: the aggregations an Accumulator computes. */
export type AccOp = 'sum' | 'avg' | 'count' | 'group' | 'min' | 'max' | 'stddev' | 'stdvar'

const ACC_OPS: ReadonlySet<string> = new Set<AccOp>([
  'sum',
  'avg',
  'count',
  'group',
  'min',
  'max',
  'stddev',
  'stdvar',
])

export function isAccOp(op: string): op is AccOp {
  return ACC_OPS.has(op)
}

/**
 * aggregateSelector is evalAggregate over a plain selector without native histograms: each series'
 * step values go through one reused pair of buffers into the groups, so the input is never held as a
 * grid (at 10,000 series × 288 steps, 26 MB less to allocate and fill per query). Samples are counted
 * against the budget as the grid would have been.
 */
function aggregateSelector(
  ev: Evaluator,
  e: AggregateExpr,
  vs: VectorSelector,
  grouping: readonly string[]
): Grid {
  ev.checkNow()
  const set = ev.selected(vs)
  const n = ev.numSteps
  const vals = new Float64Array(n)
  const present = new Uint8Array(n)
  const hs: (FloatHistogram | undefined)[] = []
  const groupIndex = new Map<string, number>()
  const groups: Labels[] = []
  // Series with a sample are few groups' worth of state; the state grows as groups appear.
  if (!isAccOp(e.op)) throw new Error(`BUG: aggregation ${e.op}`)
  let acc = new Accumulator(e.op, 16, n)
  let points = 0
  for (let si = 0; si < set.labels.length; si++) {
    ev.check()
    present.fill(0)
    const count = ev.stepValues(vs, set, si, vals, present, hs)
    if (count === 0) continue
    points += count
    const g = groupFor(set.labels[si], grouping, e.without, groupIndex, groups)
    if (g >= acc.groups) acc = acc.grown(Math.max(g + 1, acc.groups * 2))
    acc.add(g, vals, present, undefined)
  }
  ev.addSamples(points)
  ev.ctx.total += points
  // A selector's series keep their name until an operation drops it: the flag is false throughout.
  return acc.result(ev, groups, () => false)
}

/** groupFor returns the group of a series' labels, adding the group when it is new. */
export function groupFor(
  ls: Labels,
  grouping: readonly string[],
  without: boolean,
  groupIndex: Map<string, number>,
  groups: Labels[]
): number {
  const key = groupKey(ls, grouping, without)
  let g = groupIndex.get(key)
  if (g === undefined) {
    g = groups.length
    groupIndex.set(key, g)
    groups.push(groupLabels(ls, grouping, without))
  }
  return g
}

/** AccumulatorState is an Accumulator's columns, group by group, a step after another. */
export interface AccumulatorState {
  seen: Uint8Array
  value: Float64Array
  comp: Float64Array
  mean: Float64Array
  count: Float64Array
  incremental: Uint8Array
}

/**
 * Accumulator holds, per group and step, the running state of one of the aggregations sum, avg,
 * count, group, min, max, stddev and stdvar, fed series by series.
 */
export class Accumulator {
  readonly op: AccOp
  readonly groups: number
  readonly n: number
  readonly seen: Uint8Array
  readonly value: Float64Array
  readonly comp: Float64Array
  readonly mean: Float64Array
  readonly count: Float64Array
  readonly incremental: Uint8Array

  constructor(op: AccOp, groups: number, n: number, state?: AccumulatorState) {
    this.op = op
    this.groups = groups
    this.n = n
    const size = groups * n
    this.seen = state?.seen ?? new Uint8Array(size)
    this.value = state?.value ?? new Float64Array(size)
    this.comp = state?.comp ?? new Float64Array(size)
    this.mean = state?.mean ?? new Float64Array(size)
    this.count = state?.count ?? new Float64Array(size)
    this.incremental = state?.incremental ?? new Uint8Array(size)
    for (const a of [this.seen, this.value, this.comp, this.mean, this.count, this.incremental]) {
      if (a.length !== size) throw new Error(`BUG: accumulator state of ${a.length}, not ${size}`)
    }
  }

  /** state is the first `groups` groups' columns (views), to send or to make an Accumulator again. */
  state(groups: number): AccumulatorState {
    const size = groups * this.n
    return {
      seen: this.seen.subarray(0, size),
      value: this.value.subarray(0, size),
      comp: this.comp.subarray(0, size),
      mean: this.mean.subarray(0, size),
      count: this.count.subarray(0, size),
      incremental: this.incremental.subarray(0, size),
    }
  }

  /** grown is a copy with room for `groups` groups. */
  grown(groups: number): Accumulator {
    const a = new Accumulator(this.op, groups, this.n)
    a.seen.set(this.seen)
    a.value.set(this.value)
    a.comp.set(this.comp)
    a.mean.set(this.mean)
    a.count.set(this.count)
    a.incremental.set(this.incremental)
    return a
  }

  /** add takes one series' step values (native histograms only for stddev/stdvar's rule) into group g. */
  add(
    g: number,
    vals: Float64Array,
    present: Uint8Array,
    hs: (FloatHistogram | undefined)[] | undefined
  ): void {
    const { op, n, seen, value, comp, mean, count, incremental } = this
    const base = g * n
    if (op === 'sum') {
      for (let k = 0; k < n; k++) {
        if (present[k] === 0) continue
        const f = vals[k]
        const at = base + k
        if (seen[at] === 0) {
          seen[at] = 1
          value[at] = f
          continue
        }
        // Kahan-Neumaier, inline: no tuple per sample.
        const sum = value[at]
        const t = sum + f
        if (t === Infinity || t === -Infinity) comp[at] = 0
        else if (Math.abs(sum) >= Math.abs(f)) comp[at] += sum - t + f
        else comp[at] += f - t + sum
        value[at] = t
      }
    } else if (op === 'count' || op === 'group') {
      for (let k = 0; k < n; k++) {
        if (present[k] === 0) continue
        const at = base + k
        if (seen[at] === 0) {
          seen[at] = 1
          value[at] = 1
          count[at] = 1
        } else count[at]++
      }
    } else if (op === 'min' || op === 'max') {
      const isMin = op === 'min'
      for (let k = 0; k < n; k++) {
        if (present[k] === 0) continue
        const f = vals[k]
        const at = base + k
        if (seen[at] === 0) {
          seen[at] = 1
          value[at] = f
          continue
        }
        const cur = value[at]
        if (cur !== cur || (isMin ? cur > f : cur < f)) value[at] = f
      }
    } else if (op === 'stddev' || op === 'stdvar') {
      for (let k = 0; k < n; k++) {
        if (present[k] === 0) continue
        const f = vals[k]
        const at = base + k
        if (seen[at] === 0) {
          seen[at] = 1
          value[at] = 0
          mean[at] = f
          count[at] = 1
          continue
        }
        // Native histograms are ignored (after the first sample, as Prometheus 2.55).
        if (hs !== undefined && hs[k] !== undefined) continue
        const cnt = ++count[at]
        const delta = f - mean[at]
        mean[at] += delta / cnt
        value[at] += delta * (f - mean[at])
      }
    } else if (op === 'avg') {
      for (let k = 0; k < n; k++) {
        if (present[k] === 0) continue
        const f = vals[k]
        const at = base + k
        if (seen[at] === 0) {
          seen[at] = 1
          value[at] = f
          mean[at] = f
          count[at] = 1
          continue
        }
        const cnt = ++count[at]
        if (incremental[at] === 0) {
          const [t, c] = kahanSumInc(f, value[at], comp[at])
          if (t !== Infinity && t !== -Infinity) {
            value[at] = t
            comp[at] = c
            continue
          }
          incremental[at] = 1
          mean[at] = value[at] / (cnt - 1)
          comp[at] = comp[at] / (cnt - 1)
        }
        const m = mean[at]
        if (m === Infinity || m === -Infinity) {
          if ((f === Infinity || f === -Infinity) && m > 0 === f > 0) continue
          if (f !== Infinity && f !== -Infinity && f === f) continue
        }
        const cur = m + comp[at]
        const [t, c] = kahanSumInc(f / cnt - cur / cnt, m, comp[at])
        mean[at] = t
        comp[at] = c
      }
    } else throw new Error(`BUG: aggregation ${String(op)}`)
  }

  /** result is the aggregation's output grid: a series per group with a value at some step. */
  result(ev: Evaluator, groups: readonly Labels[], dropNameOf: (g: number) => boolean): Grid {
    const { op, n, seen, value, comp, mean, count, incremental } = this
    const G = groups.length
    const out: GridSeries[] = []
    for (let g = 0; g < G; g++) {
      const base = g * n
      let slot: GridSeries | null = null
      for (let k = 0; k < n; k++) {
        const at = base + k
        if (seen[at] === 0) continue
        let v: number
        switch (op) {
          case 'sum':
            v = value[at] + comp[at]
            break
          case 'avg':
            v = incremental[at] === 1 ? mean[at] + comp[at] : (value[at] + comp[at]) / count[at]
            break
          case 'count':
            v = count[at]
            break
          case 'stdvar':
            v = value[at] / count[at]
            break
          case 'stddev':
            v = Math.sqrt(value[at] / count[at])
            break
          case 'min':
          case 'max':
          case 'group':
            v = value[at]
        }
        if (slot === null) {
          slot = ev.newSeries(groups[g], dropNameOf(g))
        }
        slot.vals[k] = v
        slot.present[k] = 1
      }
      if (slot !== null) out.push(slot)
    }
    return { kind: 'grid', series: out }
  }
}

const HAS_FLOAT = 1
const HAS_HISTOGRAM = 2
const INCOMPATIBLE = 4

/** aggregateHistograms is sum and avg over input holding native histograms (Prometheus's aggregation). */
function aggregateHistograms(
  ev: Evaluator,
  e: AggregateExpr,
  input: Grid,
  groupOf: Int32Array,
  groups: Labels[]
): Grid {
  const n = ev.numSteps
  const G = groups.length
  const seen = new Uint8Array(G * n)
  const flags = new Uint8Array(G * n)
  const value = new Float64Array(G * n)
  const comp = new Float64Array(G * n)
  const mean = new Float64Array(G * n)
  const count = new Float64Array(G * n)
  const incremental = new Uint8Array(G * n)
  const hist: (FloatHistogram | undefined)[] = new Array<FloatHistogram | undefined>(G * n)
  const isSum = e.op === 'sum'
  const pos = e.expr.pos.start
  for (let si = 0; si < input.series.length; si++) {
    ev.check()
    const s = input.series[si]
    const base = groupOf[si] * n
    const metric = getLabel(s.labels, METRIC_NAME)
    const fail = (at: number, err: HistogramError): void => {
      warnHistogram(ev, errorWarning(err), metric, pos)
      flags[at] |= INCOMPATIBLE
    }
    for (let k = 0; k < n; k++) {
      if (s.present[k] === 0) continue
      const f = s.vals[k]
      const h = s.hs === undefined ? undefined : s.hs[k]
      const at = base + k
      if (seen[at] === 0) {
        seen[at] = 1
        value[at] = f
        mean[at] = f
        count[at] = 1
        if (h !== undefined) {
          hist[at] = h.copy()
          flags[at] |= HAS_HISTOGRAM
        } else flags[at] |= HAS_FLOAT
        continue
      }
      if ((flags[at] & INCOMPATIBLE) !== 0) continue
      if (isSum) {
        if (h !== undefined) {
          flags[at] |= HAS_HISTOGRAM
          const acc = hist[at]
          if (acc !== undefined) {
            const err = acc.add(h)
            if (err !== '') fail(at, err)
          }
        } else {
          flags[at] |= HAS_FLOAT
          const [t, c] = kahanSumInc(f, value[at], comp[at])
          value[at] = t
          comp[at] = c
        }
        continue
      }
      const cnt = ++count[at]
      if (h !== undefined) {
        flags[at] |= HAS_HISTOGRAM
        const acc = hist[at]
        if (acc !== undefined) {
          const left = h.copy().div(cnt)
          const right = acc.copy().div(cnt)
          let err = left.sub(right)
          if (err === '') err = acc.add(left)
          if (err !== '') fail(at, err)
        }
        continue
      }
      flags[at] |= HAS_FLOAT
      if (incremental[at] === 0) {
        const [t, c] = kahanSumInc(f, value[at], comp[at])
        if (t !== Infinity && t !== -Infinity) {
          value[at] = t
          comp[at] = c
          continue
        }
        incremental[at] = 1
        mean[at] = value[at] / (cnt - 1)
        comp[at] = comp[at] / (cnt - 1)
      }
      const m = mean[at]
      if (m === Infinity || m === -Infinity) {
        if ((f === Infinity || f === -Infinity) && m > 0 === f > 0) continue
        if (f !== Infinity && f !== -Infinity && f === f) continue
      }
      const cur = m + comp[at]
      const [t, c] = kahanSumInc(f / cnt - cur / cnt, m, comp[at])
      mean[at] = t
      comp[at] = c
    }
  }
  const out: GridSeries[] = []
  for (let g = 0; g < G; g++) {
    let slot: GridSeries | null = null
    for (let k = 0; k < n; k++) {
      const at = g * n + k
      if (seen[at] === 0) continue
      const fl = flags[at]
      if ((fl & HAS_FLOAT) !== 0 && (fl & HAS_HISTOGRAM) !== 0) {
        ev.ctx.annotations.push({
          level: 'warning',
          text: annotate(
            ev,
            'PromQL warning: encountered a mix of histograms and floats for aggregation',
            pos
          ),
        })
        continue
      }
      if ((fl & INCOMPATIBLE) !== 0) continue
      if (slot === null) slot = ev.newSeries(groups[g], input.series[g]?.dropName ?? false)
      slot.present[k] = 1
      const h = hist[at]
      if ((fl & HAS_HISTOGRAM) !== 0 && h !== undefined) setHistogram(slot, k, h.compact())
      else if (isSum) slot.vals[k] = value[at] + comp[at]
      else {
        slot.vals[k] =
          incremental[at] === 1 ? mean[at] + comp[at] : (value[at] + comp[at]) / count[at]
      }
    }
    if (slot !== null) out.push(slot)
  }
  return { kind: 'grid', series: out }
}

function aggregateQuantile(
  ev: Evaluator,
  e: AggregateExpr,
  input: Grid,
  groupOf: Int32Array,
  groups: Labels[],
  q: number
): Grid {
  if (q !== q || q < 0 || q > 1) {
    ev.ctx.annotations.push({
      level: 'warning',
      text: annotate(
        ev,
        `PromQL warning: quantile value should be between 0 and 1, got ${goFloatG(q)}`,
        (e.param as NonNullable<typeof e.param>).pos.start
      ),
    })
  }
  const n = ev.numSteps
  const G = groups.length
  const counts = new Int32Array(G)
  const members: number[][] = groups.map(() => [])
  for (let si = 0; si < input.series.length; si++) members[groupOf[si]].push(si)
  const buf = new Float64Array(Math.max(1, input.series.length))
  const slots: (GridSeries | null)[] = groups.map(() => null)
  for (let k = 0; k < n; k++) {
    ev.check()
    counts.fill(0)
    for (let g = 0; g < G; g++) {
      let c = 0
      for (const si of members[g]) {
        const s = input.series[si]
        if (s.present[k] === 1) buf[c++] = s.vals[k]
      }
      if (c === 0) continue
      let slot = slots[g]
      if (slot === null)
        slot = slots[g] = ev.newSeries(groups[g], input.series[g]?.dropName ?? false)
      slot.vals[k] = quantile(q, buf, c)
      slot.present[k] = 1
    }
  }
  return { kind: 'grid', series: slots.filter((s): s is GridSeries => s !== null) }
}

interface Entry {
  si: number
  v: number
}

/** GoHeap is Go's container/heap over entries with Prometheus's value order (NaN first). */
class GoHeap {
  readonly items: Entry[] = []
  constructor(readonly reverse: boolean) {}
  less(i: number, j: number): boolean {
    const a = this.items[i].v
    const b = this.items[j].v
    if (a !== a) return true
    return this.reverse ? a > b : a < b
  }
  swap(i: number, j: number): void {
    const t = this.items[i]
    this.items[i] = this.items[j]
    this.items[j] = t
  }
  up(j: number): void {
    for (;;) {
      const i = Math.floor((j - 1) / 2)
      if (i === j || j <= 0 || !this.less(j, i)) break
      this.swap(i, j)
      j = i
    }
  }
  down(i0: number, n: number): boolean {
    let i = i0
    for (;;) {
      const j1 = 2 * i + 1
      if (j1 >= n || j1 < 0) break
      let j = j1
      const j2 = j1 + 1
      if (j2 < n && this.less(j2, j1)) j = j2
      if (!this.less(j, i)) break
      this.swap(i, j)
      i = j
    }
    return i > i0
  }
  push(e: Entry): void {
    this.items.push(e)
    this.up(this.items.length - 1)
  }
  fix(i: number): void {
    if (!this.down(i, this.items.length)) this.up(i)
  }
}

function aggregateK(
  ev: Evaluator,
  e: AggregateExpr,
  input: Grid,
  groupOf: Int32Array,
  G: number,
  p: number
): Grid {
  const op = e.op
  let k = 0
  let ratio = 0
  if (op === 'limit_ratio') {
    if (p !== p) throw executionError(`Ratio value ${goFloatG(p)} is NaN`)
    if (p === 0) return { kind: 'grid', series: [] }
    ratio = p
    if (p < -1 || p > 1) {
      ratio = p < -1 ? -1 : 1
      ev.ctx.annotations.push({
        level: 'warning',
        text: annotate(
          ev,
          `PromQL warning: ratio value should be between -1 and 1, got ${goFloatG(p)}, capping to ${goFloatG(ratio)}`,
          (e.param as NonNullable<typeof e.param>).pos.start
        ),
      })
    }
  } else {
    if (!(p <= TWO_63 && p >= -TWO_63)) {
      throw executionError(`Scalar value ${goFloatG(p)} overflows int64`)
    }
    k = Math.trunc(p)
    if (k > input.series.length) k = input.series.length
    if (k < 1) return { kind: 'grid', series: [] }
  }
  const n = ev.numSteps
  const instant = n === 1
  const out = new OutBuilder(n)
  const keys = input.series.map((s) => labelsKey(s.labels))
  let offsets: Float64Array | null = null
  if (op === 'limit_ratio') {
    offsets = new Float64Array(input.series.length)
    for (let si = 0; si < input.series.length; si++) {
      offsets[si] = Number(hashLabels(input.series[si].labels)) / 2 ** 64
    }
  }
  const ordered: GridSeries[] = []
  for (let step = 0; step < n; step++) {
    ev.check()
    const heaps: (GoHeap | null)[] = new Array<GoHeap | null>(G).fill(null)
    const order: number[] = []
    for (let si = 0; si < input.series.length; si++) {
      const s = input.series[si]
      if (s.present[step] === 0) continue
      const g = groupOf[si]
      const entry = { si, v: s.vals[step] }
      let h = heaps[g]
      if (h === null) {
        h = heaps[g] = new GoHeap(op === 'bottomk')
        order.push(g)
        if (op === 'limit_ratio') {
          if (addRatioSample(ratio, (offsets as Float64Array)[si])) h.items.push(entry)
        } else h.items.push(entry)
        continue
      }
      if (op === 'topk') {
        const top = h.items[0]
        if (h.items.length < k) h.push(entry)
        else if (top.v < entry.v || (top.v !== top.v && entry.v === entry.v)) {
          h.items[0] = entry
          if (k > 1) h.fix(0)
        }
      } else if (op === 'bottomk') {
        const top = h.items[0]
        if (h.items.length < k) h.push(entry)
        else if (top.v > entry.v || (top.v !== top.v && entry.v === entry.v)) {
          h.items[0] = entry
          if (k > 1) h.fix(0)
        }
      } else if (op === 'limitk') {
        if (h.items.length < k) h.items.push(entry)
      } else if (addRatioSample(ratio, (offsets as Float64Array)[si])) {
        h.items.push(entry)
      }
    }
    for (const g of order) {
      const h = heaps[g] as GoHeap
      const items = h.items.slice()
      if (op === 'topk') items.sort((a, b) => cmpDesc(a.v, b.v))
      else if (op === 'bottomk') items.sort((a, b) => cmpAsc(a.v, b.v))
      for (const it of items) {
        const s = input.series[it.si]
        const slot = out.slot(s.labels, s.dropName, keys[it.si])
        out.put(slot, step, it.v, s.hs === undefined ? undefined : s.hs[step])
        if (instant) ordered.push(slot)
      }
    }
  }
  return instant ? { kind: 'grid', series: ordered } : out.grid()
}

/** cmpDesc orders values high to low with NaN last (the reverse of Prometheus's heap order). */
function cmpDesc(a: number, b: number): number {
  if (a !== a) return b !== b ? 0 : 1
  if (b !== b) return -1
  return b - a
}

/** cmpAsc orders values low to high with NaN last. */
function cmpAsc(a: number, b: number): number {
  if (a !== a) return b !== b ? 0 : 1
  if (b !== b) return -1
  return a - b
}

function addRatioSample(ratio: number, offset: number): boolean {
  return (ratio >= 0 && offset < ratio) || (ratio < 0 && offset >= 1 + ratio)
}

function countValues(
  ev: Evaluator,
  e: AggregateExpr,
  grouping: string[],
  valueLabel: string
): Grid {
  if (!isValidLabelName(valueLabel)) {
    throw executionError(`invalid label name ${JSON.stringify(valueLabel)}`)
  }
  const g2 = e.without ? grouping : [...grouping, valueLabel].sort()
  const input = ev.evalGrid(e.expr)
  const n = ev.numSteps
  const out = new OutBuilder(n)
  const counts = new Map<string, { labels: Labels; count: number }>()
  for (let k = 0; k < n; k++) {
    ev.check()
    counts.clear()
    for (const s of input.series) {
      if (s.present[k] === 0) continue
      const ls = setLabel(s.labels, valueLabel, formatFloat(s.vals[k]))
      const key = groupKey(ls, g2, e.without)
      const c = counts.get(key)
      if (c === undefined) counts.set(key, { labels: groupLabels(ls, g2, e.without), count: 1 })
      else c.count++
    }
    for (const c of counts.values()) out.put(out.slot(c.labels, false), k, c.count)
  }
  return out.grid()
}
