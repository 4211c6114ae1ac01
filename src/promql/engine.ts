// The query engine: parse, preprocess (@, step invariants), fetch every selector once, evaluate, shape.
import { PeregrineError, isPeregrineError } from '../core/index.js'
import {
  compareLabels,
  type Matcher,
  type Querier,
  type SelectHints,
  type SeriesSet,
} from '../tsdb/index.js'
import {
  AT_MODIFIER_UNSAFE_FUNCTIONS,
  inspect,
  typeOf,
  type AggregateExpr,
  type Expr,
  type StepInvariantExpr,
  type VectorSelector,
} from './ast.js'
import { FoldRefused, SelectorFold, foldSpecOf, isFoldingQuerier, type FoldSpec } from './fold.js'
import { executionError, hasSameLabelset, type EvalValue, type QueryContext } from './eval-types.js'
import { Evaluator, gridPoints, setOffsetForAtModifier, subqueryTimes } from './evaluator.js'
import { dropMetricName } from './labels.js'
import { badQuery, documentedType, parseExpr } from './parser.js'
import type {
  EngineOptions,
  QueryOptions,
  QueryResult,
  Sample,
  SeriesPoints,
  Value,
} from './types.js'

/** defaultEngineOptions are Prometheus's defaults: 2 min, 50,000,000 samples, 5 min lookback, 11,000 points. */
export const defaultEngineOptions: EngineOptions = Object.freeze({
  timeout: 120_000,
  maxSamples: 50_000_000,
  lookbackDelta: 300_000,
  maxPointsPerSeries: 11_000,
})

/**
 * EngineExtras are switches beyond Prometheus's flags: `delayedNameRemoval` is 2.55's feature flag
 * promql-delayed-name-removal (off by default, as there; Prometheus's test scripts assume it on);
 * `subqueryStep` is the step of a subquery written without one (ms, Prometheus's evaluation interval).
 */
export interface EngineExtras {
  delayedNameRemoval?: boolean
  subqueryStep?: number
}

/**
 * Engine evaluates PromQL over a Querier with Prometheus 2.55's semantics. Queries are independent;
 * an Engine holds only its options. Errors are PeregrineErrors: PG_PROMQL_BAD_QUERY (400),
 * PG_PROMQL_EXECUTION (422), PG_PROMQL_TOO_MANY_SAMPLES (422), PG_PROMQL_TIMEOUT (503), PG_CORE_BAD_REGEX.
 */
export class Engine {
  readonly options: EngineOptions
  readonly #delayedNameRemoval: boolean
  readonly #subqueryStep: number

  constructor(options: Partial<EngineOptions> & EngineExtras = {}) {
    const { delayedNameRemoval, subqueryStep, ...rest } = options
    this.options = Object.freeze({ ...defaultEngineOptions, ...rest })
    this.#delayedNameRemoval = delayedNameRemoval ?? false
    this.#subqueryStep = subqueryStep ?? 60_000
  }

  /** instantQuery evaluates `expr` at `time` (ms). */
  instantQuery(
    querier: Querier,
    expr: string,
    time: number,
    opts: QueryOptions = {}
  ): Promise<QueryResult> {
    return this.#exec(querier, expr, time, time, 0, opts)
  }

  /** rangeQuery evaluates `expr` at start, start+step, … ≤ end (all ms) and answers a matrix. */
  rangeQuery(
    querier: Querier,
    expr: string,
    start: number,
    end: number,
    step: number,
    opts: QueryOptions = {}
  ): Promise<QueryResult> {
    if (!(step > 0)) {
      return Promise.reject(
        badQuery(
          'zero or negative query resolution step widths are not accepted. Try a positive integer'
        )
      )
    }
    if (end < start) return Promise.reject(badQuery('end timestamp must not be before start time'))
    if ((end - start) / step > this.options.maxPointsPerSeries) {
      return Promise.reject(
        badQuery(
          `exceeded maximum resolution of ${this.options.maxPointsPerSeries.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`
        )
      )
    }
    return this.#exec(querier, expr, start, end, step, opts)
  }

  async #exec(
    querier: Querier,
    text: string,
    start: number,
    end: number,
    step: number,
    opts: QueryOptions
  ): Promise<QueryResult> {
    let expr = parseExpr(text)
    const isRange = step > 0
    if (isRange) {
      const t = typeOf(expr)
      if (t !== 'vector' && t !== 'scalar') {
        throw badQuery(
          `invalid expression type "${documentedType(t)}" for range query, must be Scalar or instant Vector`
        )
      }
    }
    expr = preprocess(expr, start, end)
    const deadline =
      Date.now() +
      (opts.timeout !== undefined && opts.timeout > 0
        ? Math.min(opts.timeout, this.options.timeout)
        : this.options.timeout)
    const ctx: QueryContext = {
      data: new Map(),
      folds: new Map(),
      lookbackDelta: this.options.lookbackDelta,
      maxSamples: this.options.maxSamples,
      deadline,
      signal: opts.signal,
      delayedNameRemoval: this.#delayedNameRemoval,
      query: text,
      current: 0,
      peak: 0,
      total: 0,
      annotations: [],
      noStepSubqueryInterval: () => this.#subqueryStep,
    }
    const warnings: string[] = []
    await this.#populate(querier, expr, start, end, step, ctx, warnings)
    setOffsetForAtModifier(start, expr)
    let value: EvalValue
    try {
      const ev = isRange
        ? new Evaluator(ctx, start, end, step)
        : new Evaluator(ctx, start, start, 1)
      ev.checkNow()
      value = ev.eval(expr)
      if (ctx.delayedNameRemoval) cleanupMetricLabels(value)
    } catch (err) {
      if (isPeregrineError(err)) throw err
      throw new PeregrineError(
        'PG_PROMQL_EXECUTION',
        `unexpected error: ${err instanceof Error ? err.message : String(err)}`,
        { status: 422, cause: err }
      )
    }
    for (const a of ctx.annotations) {
      if (a.level === 'warning') warnings.push(a.text)
    }
    const infos = ctx.annotations.filter((a) => a.level === 'info').map((a) => a.text)
    const shaped = shape(value, expr, isRange, start, step)
    // Only a range vector answer (`raw`) shows the selectors' arrays; anything else is built in new
    // ones, so the storage may have them back.
    if (value.kind !== 'raw' && querier.release !== undefined) {
      for (const set of ctx.data.values()) querier.release(set)
    }
    return {
      value: shaped,
      warnings: [...new Set(warnings)],
      infos: [...new Set(infos)],
      peakSamples: ctx.peak,
      totalSamples: ctx.total,
    }
  }

  /** #populate fetches each selector once with the range Prometheus computes for it (populateSeries). */
  async #populate(
    querier: Querier,
    expr: Expr,
    start: number,
    end: number,
    step: number,
    ctx: QueryContext,
    warnings: string[]
  ): Promise<void> {
    const jobs: { vs: VectorSelector; promise: Promise<SeriesSet | SelectorFold> }[] = []
    let evalRange = 0
    const lookback = ctx.lookbackDelta
    const signal = signalFor(ctx)
    inspect(expr, (n, path) => {
      if (n.kind === 'MatrixSelector') {
        evalRange = n.range
        return
      }
      if (n.kind !== 'VectorSelector') return
      const sq = subqueryTimes(path)
      let s = start
      let e = end
      if (sq.ts !== null) {
        s = sq.ts
        e = sq.ts
      }
      if (n.timestamp !== null) {
        s = n.timestamp
        e = n.timestamp
      } else {
        s = s - sq.offset - sq.range
        e -= sq.offset
      }
      s -= evalRange === 0 ? lookback : evalRange
      s -= n.originalOffset
      e -= n.originalOffset
      let interval = 0
      for (const p of path) {
        if (p.kind === 'SubqueryExpr') interval = p.step !== 0 ? p.step : this.#subqueryStep
      }
      if (interval === 0) interval = step
      const func = funcOfPath(path)
      // An instant selector outside subqueries and `@` is read only at the query's steps: storage may
      // send only the sample each step picks.
      const onGrid =
        evalRange === 0 &&
        n.timestamp === null &&
        sq.ts === null &&
        !path.some((p) => p.kind === 'SubqueryExpr')
      const hints: SelectHints = {
        start: s,
        end: e,
        step: interval,
        range: evalRange,
        ...(onGrid ? { grid: { first: start - n.originalOffset, step: step > 0 ? step : 1 } } : {}),
        ...(func !== '' ? { func } : {}),
        maxSamples: ctx.maxSamples,
        signal,
        deadline: ctx.deadline,
      }
      evalRange = 0
      // An aggregation sum … stdvar straight over such a selector folds its series as storage reads
      // them, when storage can hand them over one by one: the selection is never held whole.
      const parent = aggregateParent(path)
      const spec =
        onGrid && parent !== null
          ? foldSpecOf(parent, {
              first: start - n.originalOffset,
              interval: step > 0 ? step : 1,
              n: step > 0 ? Math.floor((end - start) / step) + 1 : 1,
              lookback,
              maxSamples: ctx.maxSamples,
            })
          : null
      if (spec !== null) {
        const folded = foldSelection(querier, n.matchers, hints, spec)
        if (folded !== null) {
          jobs.push({ vs: n, promise: folded })
          return
        }
      }
      jobs.push({ vs: n, promise: querier.select(n.matchers, hints) })
    })
    try {
      const answers = await Promise.all(jobs.map((j) => j.promise))
      for (let i = 0; i < jobs.length; i++) {
        const a = answers[i]
        if (a instanceof SelectorFold) ctx.folds.set(jobs[i].vs, a)
        else ctx.data.set(jobs[i].vs, a)
        for (const w of a.warnings) warnings.push(w)
      }
    } catch (err) {
      if (ctx.signal?.aborted === true) {
        throw new PeregrineError('PG_PROMQL_TIMEOUT', 'query was canceled in query preparation', {
          status: 503,
          cause: err,
        })
      }
      if (Date.now() > ctx.deadline) {
        throw new PeregrineError('PG_PROMQL_TIMEOUT', 'query timed out in query preparation', {
          status: 503,
          cause: err,
        })
      }
      throw err
    }
  }
}

/** signalFor is the query's signal joined with its deadline, for storage to stop early. */
function signalFor(ctx: QueryContext): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, ctx.deadline - Date.now()))
  return ctx.signal === undefined ? timeout : AbortSignal.any([ctx.signal, timeout])
}

/**
 * foldSelection folds a selection for an aggregation over it, when the querier can: storage folds it
 * (FoldingQuerier, a graph cluster), or hands its series over one by one (selectEach) to a fold here.
 * Where that does not apply (native histograms, a cluster of several nodes), the selection is read
 * whole. Null when the querier can do neither.
 */
function foldSelection(
  querier: Querier,
  matchers: readonly Matcher[],
  hints: SelectHints,
  spec: FoldSpec
): Promise<SeriesSet | SelectorFold> | null {
  if (isFoldingQuerier(querier)) {
    const folding = querier
    return folding
      .fold(matchers, hints, spec)
      .then((state): Promise<SeriesSet | SelectorFold> =>
        state === null
          ? folding.select(matchers, hints)
          : Promise.resolve(new SelectorFold(spec, state))
      )
  }
  if (querier.selectEach === undefined) return null
  const fold = new SelectorFold(spec)
  return querier.selectEach(matchers, hints, fold.visit).then(
    (warnings) => {
      fold.warnings = warnings
      return fold
    },
    (err: unknown) => {
      // Native histograms: read whole, aggregated by the general path.
      if (err instanceof FoldRefused) return querier.select(matchers, hints)
      throw err
    }
  )
}

/** aggregateParent is the aggregation a selector is the whole argument of (parentheses aside), or null. */
function aggregateParent(path: readonly Expr[]): AggregateExpr | null {
  for (let i = path.length - 1; i >= 0; i--) {
    const p = path[i]
    if (p.kind === 'ParenExpr') continue
    return p.kind === 'AggregateExpr' ? p : null
  }
  return null
}

/** funcOfPath is the nearest enclosing function or aggregation of a selector (extractFuncFromPath). */
function funcOfPath(path: readonly Expr[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const p = path[i]
    if (p.kind === 'AggregateExpr') return p.op
    if (p.kind === 'Call') return p.func.name
    if (p.kind === 'BinaryExpr') return ''
  }
  return ''
}

function wrap(e: Expr): StepInvariantExpr {
  return { kind: 'StepInvariantExpr', expr: e, pos: e.pos }
}

/** preprocess resolves `@ start()`/`@ end()` and wraps step-invariant subtrees (PreprocessExpr). */
export function preprocess(e: Expr, start: number, end: number): Expr {
  return invariant(e, start, end) ? wrap(e) : e
}

function invariant(e: Expr, start: number, end: number): boolean {
  switch (e.kind) {
    case 'VectorSelector':
      if (e.startOrEnd === 'start') e.timestamp = start
      else if (e.startOrEnd === 'end') e.timestamp = end
      return e.timestamp !== null
    case 'AggregateExpr':
      return invariant(e.expr, start, end)
    case 'BinaryExpr': {
      const l = invariant(e.lhs, start, end)
      const r = invariant(e.rhs, start, end)
      if (l && r) return true
      if (l) e.lhs = wrap(e.lhs)
      if (r) e.rhs = wrap(e.rhs)
      return false
    }
    case 'Call': {
      let inv = !AT_MODIFIER_UNSAFE_FUNCTIONS.has(e.func.name)
      const each = e.args.map((a) => invariant(a, start, end))
      for (const x of each) inv = inv && x
      if (inv) return true
      for (let i = 0; i < each.length; i++) if (each[i]) e.args[i] = wrap(e.args[i])
      return false
    }
    case 'MatrixSelector':
      return invariant(e.vs, start, end)
    case 'SubqueryExpr': {
      if (invariant(e.expr, start, end)) e.expr = wrap(e.expr)
      if (e.startOrEnd === 'start') e.timestamp = start
      else if (e.startOrEnd === 'end') e.timestamp = end
      return e.timestamp !== null
    }
    case 'ParenExpr':
    case 'UnaryExpr':
      return invariant(e.expr, start, end)
    case 'StringLiteral':
    case 'NumberLiteral':
    case 'StepInvariantExpr':
      return true
  }
}

/** cleanupMetricLabels drops `__name__` where delayed, then refuses equal label sets (2.55). */
function cleanupMetricLabels(v: EvalValue): void {
  if (v.kind === 'string') return
  if (v.kind === 'grid') {
    v.series = v.series.filter((s) => {
      for (let i = 0; i < s.present.length; i++) if (s.present[i] === 1) return true
      return false
    })
  }
  for (const s of v.series) if (s.dropName) s.labels = dropMetricName(s.labels)
  if (hasSameLabelset(v.series)) {
    throw executionError('vector cannot contain metrics with the same labelset')
  }
}

/** shape turns the evaluator's value into the result type Prometheus answers. */
function shape(v: EvalValue, expr: Expr, isRange: boolean, start: number, step: number): Value {
  if (v.kind === 'string') return { resultType: 'string', t: start, s: v.s }
  if (v.kind === 'raw') {
    const series: SeriesPoints[] = v.series.map((s) =>
      s.hs === undefined
        ? { labels: s.labels, ts: s.ts, vs: s.vs }
        : { labels: s.labels, ts: s.ts, vs: s.vs, hs: s.hs }
    )
    series.sort((a, b) => compareLabels(a.labels, b.labels))
    return { resultType: 'matrix', series }
  }
  if (!isRange) {
    if (typeOf(expr) === 'scalar') {
      const s = v.series[0]
      return { resultType: 'scalar', t: start, v: s === undefined ? NaN : s.vals[0] }
    }
    const samples: Sample[] = []
    for (const s of v.series) {
      if (s.present[0] !== 1) continue
      const h = s.hs?.[0]
      samples.push(
        h === undefined
          ? { labels: s.labels, t: start, v: s.vals[0] }
          : { labels: s.labels, t: start, v: 0, h }
      )
    }
    return { resultType: 'vector', samples }
  }
  const series: SeriesPoints[] = []
  for (const s of v.series) {
    const p = gridPoints(s, start, step)
    if (p !== null) series.push({ labels: s.labels, ...p })
  }
  series.sort((a, b) => compareLabels(a.labels, b.labels))
  return { resultType: 'matrix', series }
}
