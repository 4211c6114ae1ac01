// Aggregations folded as storage reads: sum … stdvar straight over a selector take each series' step
// values into their group as it arrives (Querier.selectEach), or storage itself folds and sends the
// groups' state (FoldingQuerier.fold, a graph node's Graph.Fold), so the selection is never held.
import { decodeFloat64s, encodeFloat64s } from '../core/index.js'
import type { FloatHistogram, Labels, Matcher, Querier, SelectHints } from '../tsdb/index.js'
import type { AggregateExpr } from './ast.js'
import {
  Accumulator,
  type AccOp,
  type AccumulatorState,
  groupFor,
  isAccOp,
} from './eval-aggregate.js'
import { tooManySamplesError, type Grid } from './eval-types.js'
import { pickSteps, type Evaluator } from './evaluator.js'

/**
 * FoldSpec says what to fold: the aggregation and its grouping (names sorted), and where the selector
 * is read: at `first + k × interval` (ms), k < n, with a lookback; folding stops past `maxSamples` step
 * values read (the query's budget).
 */
export interface FoldSpec {
  op: AccOp
  grouping: string[]
  without: boolean
  first: number
  interval: number
  n: number
  lookback: number
  maxSamples: number
}

/** FoldState is what a fold has gathered: its groups' labels and columns, and the step values read. */
export interface FoldState extends AccumulatorState {
  groups: Labels[]
  points: number
  warnings: readonly string[]
}

/**
 * FoldingQuerier is a Querier that folds a selection itself (a graph cluster pushes the aggregation
 * down to its node): `fold` resolves to the folded state, or to null when it cannot fold this one
 * (the engine then reads the selection).
 */
export interface FoldingQuerier extends Querier {
  fold(matchers: readonly Matcher[], hints: SelectHints, spec: FoldSpec): Promise<FoldState | null>
}

/** isFoldingQuerier tells a FoldingQuerier. */
export function isFoldingQuerier(q: Querier): q is FoldingQuerier {
  return typeof (q as Partial<FoldingQuerier>).fold === 'function'
}

/**
 * FoldRefused is thrown from a SelectorFold's visitor at a series holding native histograms, which
 * only the general path aggregates: the engine then reads the selector whole instead.
 */
export class FoldRefused extends Error {
  constructor() {
    super('native histograms are aggregated from the whole selection')
  }
}

/**
 * FOLD_TOO_LARGE ends the message of a graph node refusing to answer a fold past its answer limit:
 * the caller then selects the series instead, as it would have without the fold.
 */
export const FOLD_TOO_LARGE = 'the fold is larger than one graph node answers'

/** FoldCellsExceeded is thrown from a SelectorFold's visitor past its bound of groups × steps. */
export class FoldCellsExceeded extends Error {
  constructor(readonly cells: number) {
    super(`more than ${cells} groups × steps`)
  }
}

/** foldSpecOf is the FoldSpec of an aggregation over a selector read at a query's steps, or null. */
export function foldSpecOf(
  e: AggregateExpr,
  grid: Omit<FoldSpec, 'op' | 'grouping' | 'without'>
): FoldSpec | null {
  if (!isAccOp(e.op)) return null
  return { op: e.op, grouping: [...e.grouping].sort(), without: e.without, ...grid }
}

/**
 * SelectorFold aggregates, with one of sum … stdvar, a selector's series as storage hands them over,
 * keeping only one series' step values and the groups' state. Series arrive in select's order, so
 * the result is that of the aggregation over the whole selection, to the last bit.
 */
export class SelectorFold {
  readonly spec: FoldSpec
  readonly #vals: Float64Array
  readonly #present: Uint8Array
  readonly #groupIndex = new Map<string, number>()
  readonly #groups: Labels[]
  #acc: Accumulator
  #points: number
  readonly #maxGroups: number
  /** warnings storage gave with the selection. */
  warnings: readonly string[] = []

  /**
   * A fold starts empty, or from a state folded elsewhere (then it only answers `result`). `maxCells`
   * bounds groups × steps: past it the visitor throws FoldCellsExceeded.
   */
  constructor(spec: FoldSpec, state?: FoldState, maxCells = Infinity) {
    this.spec = spec
    this.#maxGroups = Math.floor(maxCells / spec.n)
    this.#vals = new Float64Array(spec.n)
    this.#present = new Uint8Array(spec.n)
    this.#groups = state === undefined ? [] : [...state.groups]
    this.#points = state?.points ?? 0
    this.warnings = state?.warnings ?? []
    this.#acc =
      state === undefined
        ? new Accumulator(spec.op, 16, spec.n)
        : new Accumulator(spec.op, state.groups.length, spec.n, state)
  }

  /** visit takes one series (a SeriesVisitor). */
  readonly visit = (
    labels: Labels,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    hs: readonly (FloatHistogram | undefined)[] | undefined
  ): void => {
    if (hs !== undefined && hs.some((h) => h !== undefined)) throw new FoldRefused()
    const spec = this.spec
    const present = this.#present
    present.fill(0)
    const count = pickSteps(
      ts,
      vs,
      0,
      n,
      spec.first,
      spec.interval,
      spec.n,
      spec.lookback,
      this.#vals,
      present
    )
    if (count === 0) return
    this.#points += count
    // The groups' state grows with what is read: stop at the budget, not after reading everything.
    if (this.#points > spec.maxSamples) throw tooManySamplesError()
    const g = groupFor(labels, spec.grouping, spec.without, this.#groupIndex, this.#groups)
    if (g >= this.#maxGroups) throw new FoldCellsExceeded(this.#maxGroups * spec.n)
    if (g >= this.#acc.groups) this.#acc = this.#acc.grown(Math.max(g + 1, this.#acc.groups * 2))
    this.#acc.add(g, this.#vals, present, undefined)
  }

  /** state is what the fold has gathered (views of its columns). */
  state(): FoldState {
    return {
      groups: this.#groups,
      points: this.#points,
      warnings: this.warnings,
      ...this.#acc.state(this.#groups.length),
    }
  }

  /** result is the aggregation's grid, the step values read counted against the query's budget. */
  result(ev: Evaluator): Grid {
    ev.checkNow()
    if (ev.numSteps !== this.spec.n) throw new Error('BUG: fold evaluated on another grid')
    ev.addSamples(this.#points)
    ev.ctx.total += this.#points
    // A selector's series keep their name until an operation drops it: the flag is false throughout.
    return this.#acc.result(ev, this.#groups, () => false)
  }
}

/**
 * WireFoldState is a FoldState on the wire: groups' labels as `[name, value, …]`; per group and step,
 * `flags` (1: seen, 2: incremental mean) and the float columns as base64 of little-endian bytes, or as
 * the arrays themselves in process.
 */
export interface WireFoldState {
  groups: string[][]
  points: number
  flags: string | Uint8Array
  value: string | Float64Array
  comp: string | Float64Array
  mean: string | Float64Array
  count: string | Float64Array
  warnings: string[]
}

/** encodeFoldState turns a FoldState into its wire form; `inProcess` keeps the arrays as they are. */
export function encodeFoldState(s: FoldState, inProcess = false): WireFoldState {
  const flags = new Uint8Array(s.seen.length)
  for (let i = 0; i < flags.length; i++) flags[i] = s.seen[i] | (s.incremental[i] << 1)
  const f64 = (a: Float64Array): string | Float64Array => (inProcess ? a : encodeFloat64s(a))
  return {
    groups: s.groups.map((ls) => ls.flatMap((l) => [l.name, l.value])),
    points: s.points,
    flags: inProcess ? flags : Buffer.from(flags).toString('base64'),
    value: f64(s.value),
    comp: f64(s.comp),
    mean: f64(s.mean),
    count: f64(s.count),
    warnings: [...s.warnings],
  }
}

/** wireFoldBytes is about how many bytes a state takes as JSON, to bound it before it is encoded. */
export function wireFoldBytes(s: FoldState): number {
  let bytes = 128 + Math.ceil((s.seen.length * 33) / 3) * 4
  for (const ls of s.groups) for (const l of ls) bytes += l.name.length + l.value.length + 6
  return bytes
}

/**
 * decodeFoldState checks and reads a wire state for `n` steps (from JSON or in process). Throws a
 * TypeError naming the field when it is not one.
 */
export function decodeFoldState(x: unknown, n: number): FoldState {
  const w = x as Partial<WireFoldState> | null
  if (w === null || typeof w !== 'object') throw new TypeError('fold state: expected an object')
  if (!Array.isArray(w.groups)) throw new TypeError('groups: expected an array')
  const groups: Labels[] = w.groups.map((flat: unknown, i) => {
    if (!Array.isArray(flat) || flat.length % 2 !== 0 || flat.some((v) => typeof v !== 'string')) {
      throw new TypeError(`groups[${i}]: expected [name, value, …] strings`)
    }
    const ls = []
    for (let j = 0; j < flat.length; j += 2)
      ls.push({ name: flat[j] as string, value: flat[j + 1] as string })
    return ls
  })
  if (typeof w.points !== 'number' || !Number.isInteger(w.points) || w.points < 0) {
    throw new TypeError('points: expected a whole number ≥ 0')
  }
  const size = groups.length * n
  const f64 = (v: unknown, field: string): Float64Array => {
    const a = v instanceof Float64Array ? v : decodeFloat64s(v, field)
    if (a.length !== size) throw new TypeError(`${field}: expected ${size} values, got ${a.length}`)
    return a
  }
  let flags: Uint8Array
  if (w.flags instanceof Uint8Array) flags = w.flags
  else if (typeof w.flags === 'string') flags = new Uint8Array(Buffer.from(w.flags, 'base64'))
  else throw new TypeError('flags: expected base64')
  if (flags.length !== size)
    throw new TypeError(`flags: expected ${size} values, got ${flags.length}`)
  const seen = new Uint8Array(size)
  const incremental = new Uint8Array(size)
  for (let i = 0; i < size; i++) {
    seen[i] = flags[i] & 1
    incremental[i] = (flags[i] >> 1) & 1
  }
  const warnings = w.warnings ?? []
  if (!Array.isArray(warnings) || warnings.some((s) => typeof s !== 'string')) {
    throw new TypeError('warnings: expected an array of strings')
  }
  return {
    groups,
    points: w.points,
    seen,
    incremental,
    value: f64(w.value, 'value'),
    comp: f64(w.comp, 'comp'),
    mean: f64(w.mean, 'mean'),
    count: f64(w.count, 'count'),
    warnings,
  }
}
