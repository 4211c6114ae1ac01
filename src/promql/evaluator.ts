// The evaluator: one expression over a grid of steps, Prometheus 2.55's semantics (promql/engine.go).
import { PeregrineError } from '../core/index.js'
import type { FloatHistogram, Labels, SeriesSet } from '../tsdb/index.js'
import {
  inspect,
  type Call,
  type Expr,
  type MatrixSelector,
  type StepInvariantExpr,
  type SubqueryExpr,
  type VectorSelector,
} from './ast.js'
import { evalAggregate } from './eval-aggregate.js'
import { evalBinary } from './eval-binary.js'
import { evalCall } from './eval-call.js'
import {
  executionError,
  hasSameLabelset,
  tooManySamplesError,
  valuePoints,
  type EvalValue,
  type Grid,
  type GridSeries,
  type QueryContext,
  type Raw,
  type RawSeries,
} from './eval-types.js'
import { dropMetricName } from './labels.js'

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)

/** isStale tells Prometheus's staleness marker (NaN 0x7ff0000000000002, quiet bit tolerated). */
export function isStale(v: number): boolean {
  if (v === v) return false
  f64[0] = v
  return u32[0] === 2 && (u32[1] & 0x7ff7ffff) === 0x7ff00000
}

/**
 * pickSteps writes, for float samples ts/vs[lo, hi) (ascending), the sample lookback picks at each of
 * the n steps `first + k × interval` into vals and present (zero where nothing is picked: no sample
 * within `lookback` at or before the step, or a stale marker), and where `picked` is given, the index
 * of the sample each step picks; returns how many steps have one.
 */
export function pickSteps(
  ts: Float64Array,
  vs: Float64Array,
  lo: number,
  hi: number,
  first: number,
  interval: number,
  n: number,
  lookback: number,
  vals: Float64Array,
  present: Uint8Array,
  picked?: Int32Array
): number {
  let j = lo
  let count = 0
  for (let k = 0; k < n; k++) {
    const ref = first + k * interval
    while (j < hi && ts[j] <= ref) j++
    if (j === lo) continue
    const idx = j - 1
    if (ts[idx] < ref - lookback) continue
    const v = vs[idx]
    if (v !== v && isStale(v)) continue
    vals[k] = v
    present[k] = 1
    if (picked !== undefined) picked[k] = idx
    count++
  }
  return count
}

/** Evaluator evaluates expressions at the steps start, start+interval, …, end (ms). */
export class Evaluator {
  readonly numSteps: number
  #checks = 0

  constructor(
    readonly ctx: QueryContext,
    readonly start: number,
    readonly end: number,
    readonly interval: number
  ) {
    this.numSteps = Math.floor((end - start) / interval) + 1
  }

  /** time is the timestamp (ms) of step i. */
  time(i: number): number {
    return this.start + i * this.interval
  }

  /** check stops a query past its deadline or cancelled; called per series and per step. */
  check(): void {
    if ((++this.#checks & 63) !== 0) return
    this.checkNow()
  }

  #work = 0

  /**
   * work counts units of work done in an inner loop (samples of a window, steps of a series) and checks
   * the deadline every million: a query whose steps or windows are huge stops in time too.
   */
  work(n: number): void {
    this.#work += n
    if (this.#work < 1_000_000) return
    this.#work = 0
    this.checkNow()
  }

  checkNow(): void {
    const ctx = this.ctx
    if (ctx.signal?.aborted === true) {
      throw new PeregrineError('PG_PROMQL_TIMEOUT', 'query was canceled in expression evaluation', {
        status: 503,
      })
    }
    if (Date.now() > ctx.deadline) {
      throw new PeregrineError('PG_PROMQL_TIMEOUT', 'query timed out in expression evaluation', {
        status: 503,
      })
    }
  }

  /** addSamples counts samples held; past the budget the query stops (Prometheus's max-samples). */
  addSamples(n: number): void {
    const ctx = this.ctx
    ctx.current += n
    if (ctx.current > ctx.peak) ctx.peak = ctx.current
    if (ctx.current > ctx.maxSamples) throw tooManySamplesError()
  }

  /** newGridSeries allocates a series over this evaluator's steps. */
  newSeries(labels: Labels, dropName: boolean): GridSeries {
    this.work(this.numSteps)
    return {
      labels,
      vals: new Float64Array(this.numSteps),
      present: new Uint8Array(this.numSteps),
      dropName,
    }
  }

  /** scalarGrid is a scalar as a grid: one series without labels, present at every step. */
  scalarGrid(at: (step: number) => number): Grid {
    const s = this.newSeries([], false)
    for (let i = 0; i < this.numSteps; i++) {
      s.vals[i] = at(i)
      s.present[i] = 1
    }
    return { kind: 'grid', series: [s] }
  }

  /** eval evaluates an expression; what it returns is counted as held until the caller drops it. */
  eval(e: Expr): EvalValue {
    this.checkNow()
    const before = this.ctx.current
    const v = this.#eval(e)
    this.ctx.current = before
    this.addSamples(valuePoints(v))
    return v
  }

  evalGrid(e: Expr): Grid {
    const v = this.eval(e)
    if (v.kind !== 'grid')
      throw new Error(`BUG: expected an instant vector or scalar from ${e.kind}`)
    return v
  }

  #eval(e: Expr): EvalValue {
    switch (e.kind) {
      case 'NumberLiteral': {
        const val = e.val
        return this.scalarGrid(() => val)
      }
      case 'StringLiteral':
        return { kind: 'string', s: e.val }
      case 'ParenExpr':
        return this.#eval(e.expr)
      case 'UnaryExpr': {
        const g = this.evalGrid(e.expr)
        if (e.op === '-') {
          for (const s of g.series) {
            if (!this.ctx.delayedNameRemoval) s.labels = dropMetricName(s.labels)
            s.dropName = true
            for (let i = 0; i < s.vals.length; i++) s.vals[i] = -s.vals[i]
            if (s.hs !== undefined) {
              for (let i = 0; i < s.hs.length; i++) {
                const h = s.hs[i]
                if (h !== undefined) s.hs[i] = h.copy().mul(-1)
              }
            }
          }
          if (!this.ctx.delayedNameRemoval && hasSameLabelset(g.series)) {
            throw executionError('vector cannot contain metrics with the same labelset')
          }
        }
        return g
      }
      case 'VectorSelector':
        return this.vectorSelector(e)
      case 'MatrixSelector':
        return this.matrixSelector(e)
      case 'SubqueryExpr':
        return this.subquery(e)
      case 'StepInvariantExpr':
        return this.stepInvariant(e)
      case 'BinaryExpr':
        return evalBinary(this, e)
      case 'AggregateExpr':
        return evalAggregate(this, e)
      case 'Call':
        return evalCall(this, e)
    }
  }

  /** vectorSelector picks, at each step, the latest sample within the lookback (none if stale). */
  vectorSelector(vs: VectorSelector): Grid {
    const set = this.selected(vs)
    const out: GridSeries[] = []
    const n = this.numSteps
    // One slab for every series' values and flags: two allocations per selector, not per series.
    const slabVals = new Float64Array(n * set.labels.length)
    const slabPresent = new Uint8Array(n * set.labels.length)
    let used = 0
    let points = 0
    for (let si = 0; si < set.labels.length; si++) {
      this.check()
      const vals = slabVals.subarray(used * n, used * n + n)
      const present = slabPresent.subarray(used * n, used * n + n)
      const hs: (FloatHistogram | undefined)[] = []
      const count = this.stepValues(vs, set, si, vals, present, hs)
      if (count > 0) {
        used++
        points += count
        const g: GridSeries = { labels: set.labels[si], vals, present, dropName: false }
        if (hs.length > 0) g.hs = hs
        out.push(g)
      }
    }
    this.addSamples(points)
    this.ctx.total += points
    return { kind: 'grid', series: out, points }
  }

  /** selected is the answer read for a selector before evaluation. */
  selected(vs: VectorSelector): SeriesSet {
    const set = this.ctx.data.get(vs)
    if (set === undefined) throw new Error('BUG: selector was not fetched')
    return set
  }

  /**
   * stepValues writes, for series si of selector vs's answer `set`, the sample lookback picks at each
   * step into vals and present (which must be zero where nothing is picked) and a native histogram's
   * into hs (grown to the steps when one is picked); returns how many steps have one.
   */
  stepValues(
    vs: VectorSelector,
    set: SeriesSet,
    si: number,
    vals: Float64Array,
    present: Uint8Array,
    hs: (FloatHistogram | undefined)[]
  ): number {
    const { ts, vs: values, offsets } = set
    const hsIn = set.hs
    const lo = offsets[si]
    const hi = offsets[si + 1]
    const n = this.numSteps
    // With native histograms, which sample each step picks: its histogram, where it has one, goes in hs.
    const picked = hsIn === undefined ? undefined : new Int32Array(n)
    const count = pickSteps(
      ts,
      values,
      lo,
      hi,
      this.start - vs.offset,
      this.interval,
      n,
      this.ctx.lookbackDelta,
      vals,
      present,
      picked
    )
    if (hsIn === undefined || picked === undefined) return count
    for (let k = 0; k < n; k++) {
      if (present[k] === 0) continue
      const h = hsIn[picked[k]]
      if (h !== undefined) {
        if (hs.length < n) hs.length = n
        hs[k] = h
      }
    }
    return count
  }

  /** rawSeries returns the samples of a fetched selector's series i, stale markers removed. */
  rawOf(vs: VectorSelector): RawSeries[] {
    const set = this.ctx.data.get(vs)
    if (set === undefined) throw new Error('BUG: selector was not fetched')
    const out: RawSeries[] = []
    for (let si = 0; si < set.labels.length; si++) {
      const lo = set.offsets[si]
      const hi = set.offsets[si + 1]
      let ts = set.ts.subarray(lo, hi)
      let vs2 = set.vs.subarray(lo, hi)
      let hs: (FloatHistogram | undefined)[] | undefined
      if (set.hs !== undefined) {
        for (let i = lo; i < hi; i++) {
          if (set.hs[i] !== undefined) {
            hs = set.hs.slice(lo, hi)
            break
          }
        }
      }
      let stale = 0
      for (let i = 0; i < vs2.length; i++) {
        const v = vs2[i]
        if (v !== v && isStale(v)) stale++
      }
      if (stale > 0) {
        const nts = new Float64Array(ts.length - stale)
        const nvs = new Float64Array(ts.length - stale)
        const nhs: (FloatHistogram | undefined)[] | undefined = hs === undefined ? undefined : []
        let w = 0
        for (let i = 0; i < vs2.length; i++) {
          const v = vs2[i]
          if (v !== v && isStale(v)) continue
          nts[w] = ts[i]
          nvs[w] = v
          if (nhs !== undefined) nhs.push((hs as (FloatHistogram | undefined)[])[i])
          w++
        }
        ts = nts
        vs2 = nvs
        hs = nhs
      }
      const r: RawSeries = { labels: set.labels[si], ts, vs: vs2, dropName: false }
      if (hs !== undefined) r.hs = hs
      out.push(r)
    }
    return out
  }

  /** matrixSelector is a range vector at one evaluation time: samples in [t-offset-range, t-offset]. */
  matrixSelector(ms: MatrixSelector): Raw {
    if (this.start !== this.end) throw new Error('BUG: range evaluation of a matrix selector')
    const maxt = this.start - ms.vs.offset
    const mint = maxt - ms.range
    const out: RawSeries[] = []
    for (const s of this.rawOf(ms.vs)) {
      this.check()
      let lo = 0
      while (lo < s.ts.length && s.ts[lo] < mint) lo++
      let hi = lo
      while (hi < s.ts.length && s.ts[hi] <= maxt) hi++
      if (hi === lo) continue
      this.addSamples(hi - lo)
      this.ctx.total += hi - lo
      const r: RawSeries = {
        labels: s.labels,
        ts: s.ts.slice(lo, hi),
        vs: s.vs.slice(lo, hi),
        dropName: false,
      }
      if (s.hs !== undefined) r.hs = s.hs.slice(lo, hi)
      out.push(r)
    }
    return { kind: 'raw', series: out }
  }

  /** subqueryEvaluator is the evaluator of a subquery's inner expression (steps aligned to absolute time). */
  subqueryEvaluator(sq: SubqueryExpr): Evaluator {
    const interval = sq.step !== 0 ? sq.step : this.ctx.noStepSubqueryInterval(sq.range)
    const from = this.start - sq.offset - sq.range
    let start = interval * Math.trunc(from / interval)
    if (start < from) start += interval
    const steps = Math.floor((this.end - sq.offset - start) / interval) + 1
    if (steps > this.ctx.maxSamples) {
      // Each step is a sample of every series; past the budget the grid cannot even be allocated.
      throw new PeregrineError(
        'PG_PROMQL_TOO_MANY_SAMPLES',
        `a subquery of step ${interval} ms over ${this.end - sq.offset - start} ms would evaluate ${steps} steps, more than query.max-samples (${this.ctx.maxSamples}); use a larger subquery step`,
        { status: 422 }
      )
    }
    const ev = new Evaluator(this.ctx, start, this.end - sq.offset, interval)
    if (start !== this.start) setOffsetForAtModifier(start, sq.expr)
    return ev
  }

  subquery(sq: SubqueryExpr): Raw {
    const ev = this.subqueryEvaluator(sq)
    if (ev.end < ev.start) return { kind: 'raw', series: [] }
    const g = ev.evalGrid(sq.expr)
    return gridToRaw(ev, g)
  }

  stepInvariant(e: StepInvariantExpr): EvalValue {
    const inner = e.expr
    if (inner.kind === 'StringLiteral' || inner.kind === 'NumberLiteral') return this.#eval(inner)
    const ev = new Evaluator(this.ctx, this.start, this.start, this.interval)
    const res = ev.eval(inner)
    if (inner.kind === 'MatrixSelector' || inner.kind === 'SubqueryExpr') return res
    if (res.kind !== 'grid') return res
    if (this.numSteps === 1) return res
    const out: GridSeries[] = []
    for (const s of res.series) {
      if (s.present[0] !== 1) continue
      const t = this.newSeries(s.labels, s.dropName)
      t.vals.fill(s.vals[0])
      t.present.fill(1)
      const h = s.hs?.[0]
      if (h !== undefined) t.hs = new Array<FloatHistogram | undefined>(this.numSteps).fill(h)
      out.push(t)
    }
    this.addSamples(out.length * (this.numSteps - 1))
    return { kind: 'grid', series: out }
  }
}

/**
 * gridPoints compacts a grid series into the points it has, at times `start + i × step`, or null when it
 * has none: the one loop behind a range query's matrix and a subquery's range vector.
 */
export function gridPoints(
  s: GridSeries,
  start: number,
  step: number
): { ts: Float64Array; vs: Float64Array; hs?: (FloatHistogram | undefined)[] } | null {
  let n = 0
  for (let i = 0; i < s.present.length; i++) n += s.present[i]
  if (n === 0) return null
  const ts = new Float64Array(n)
  const vs = new Float64Array(n)
  const hs: (FloatHistogram | undefined)[] | undefined = s.hs === undefined ? undefined : []
  let w = 0
  for (let i = 0; i < s.present.length; i++) {
    if (s.present[i] === 0) continue
    ts[w] = start + i * step
    vs[w] = s.vals[i]
    if (hs !== undefined) hs.push((s.hs as (FloatHistogram | undefined)[])[i])
    w++
  }
  return hs === undefined ? { ts, vs } : { ts, vs, hs }
}

/** gridToRaw turns a grid evaluated by `ev` into range-vector series at the grid's step times. */
export function gridToRaw(ev: Evaluator, g: Grid): Raw {
  const out: RawSeries[] = []
  for (const s of g.series) {
    const p = gridPoints(s, ev.start, ev.interval)
    if (p === null) continue
    const r: RawSeries = { labels: s.labels, ts: p.ts, vs: p.vs, dropName: s.dropName }
    if (p.hs !== undefined) r.hs = p.hs
    out.push(r)
  }
  return { kind: 'raw', series: out }
}

/** subqueryTimes sums the offsets and ranges of the subqueries on a path (reset by an `@`). */
export function subqueryTimes(path: readonly Expr[]): {
  offset: number
  range: number
  ts: number | null
} {
  let offset = 0
  let range = 0
  let ts: number | null = null
  for (const n of path) {
    if (n.kind !== 'SubqueryExpr') continue
    offset += n.originalOffset
    range += n.range
    if (n.timestamp !== null) {
      offset = n.originalOffset
      range = n.range
      ts = n.timestamp
    }
  }
  return { offset, range, ts }
}

/** setOffsetForAtModifier sets each selector's and subquery's offset to honour its `@` at evalTime. */
export function setOffsetForAtModifier(evalTime: number, e: Expr): void {
  const getOffset = (ts: number | null, original: number, path: readonly Expr[]): number => {
    if (ts === null) return original
    const sq = subqueryTimes(path)
    let subqOffset = sq.offset
    if (sq.ts !== null) subqOffset += evalTime - sq.ts
    return original + (evalTime - ts) - subqOffset
  }
  inspect(e, (n, path) => {
    if (n.kind === 'VectorSelector') n.offset = getOffset(n.timestamp, n.originalOffset, path)
    else if (n.kind === 'SubqueryExpr') n.offset = getOffset(n.timestamp, n.originalOffset, path)
  })
}

/** unwrap removes parentheses and a step-invariant wrapper, as Prometheus does before calls. */
export function unwrap(e: Expr): Expr {
  while (e.kind === 'ParenExpr') e = e.expr
  if (e.kind === 'StepInvariantExpr') e = e.expr
  while (e.kind === 'ParenExpr') e = e.expr
  return e
}

export type { Call }
