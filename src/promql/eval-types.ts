// The evaluator's internal values: step-grid series for instant vectors and scalars, raw series for ranges.
import { PeregrineError } from '../core/index.js'
import type { FloatHistogram, Labels, SeriesSet } from '../tsdb/index.js'
import type { VectorSelector } from './ast.js'
import type { SelectorFold } from './fold.js'
import { labelsKey } from './labels.js'

/**
 * GridSeries is one series of an instant-vector (or scalar) expression evaluated over every step of the
 * query: `vals[i]` is its value at step i when `present[i]` is 1. `dropName` marks a series whose
 * `__name__` goes at the end (Prometheus's delayed name removal).
 */
export interface GridSeries {
  labels: Labels
  vals: Float64Array
  present: Uint8Array
  dropName: boolean
  /** hs, when set, holds the native histogram samples: at a step where `hs[i]` is set, the sample is it. */
  hs?: (FloatHistogram | undefined)[]
}

export interface Grid {
  kind: 'grid'
  series: GridSeries[]
  /** points, when the producer counted them (saves a pass over `present`). */
  points?: number
}

/** RawSeries is a range vector's series: samples at their own times (ms), stale markers removed. */
export interface RawSeries {
  labels: Labels
  ts: Float64Array
  vs: Float64Array
  dropName: boolean
  /** hs, when set, holds native histogram samples aligned with ts (vs is 0 there). */
  hs?: (FloatHistogram | undefined)[]
}

export interface Raw {
  kind: 'raw'
  series: RawSeries[]
}

export interface Str {
  kind: 'string'
  s: string
}

export type EvalValue = Grid | Raw | Str

/** Annotation is a warning or info shown beside a result (Prometheus's annotations). */
export interface Annotation {
  level: 'warning' | 'info'
  text: string
}

/** QueryContext is what every evaluator of one query shares: data, budgets, annotations. */
export interface QueryContext {
  data: Map<VectorSelector, SeriesSet>
  /** folds: selectors storage handed over series by series into their aggregation, in place of data. */
  folds: Map<VectorSelector, SelectorFold>
  lookbackDelta: number
  maxSamples: number
  deadline: number
  signal: AbortSignal | undefined
  delayedNameRemoval: boolean
  query: string
  current: number
  peak: number
  total: number
  annotations: Annotation[]
  /** the default step (ms) of a subquery written without one, from its range (Prometheus: 1m). */
  noStepSubqueryInterval: (rangeMs: number) => number
}

/** gridPoints counts the samples a grid holds. */
export function gridPoints(g: Grid): number {
  if (g.points !== undefined) return g.points
  let n = 0
  for (const s of g.series) for (let i = 0; i < s.present.length; i++) n += s.present[i]
  return n
}

/** valuePoints counts the samples a value holds (Prometheus's TotalSamples). */
export function valuePoints(v: EvalValue): number {
  switch (v.kind) {
    case 'grid':
      return gridPoints(v)
    case 'raw': {
      let n = 0
      for (const s of v.series) n += s.ts.length
      return n
    }
    case 'string':
      return 0
  }
}

/** executionError is a runtime error of the query (422 execution). */
export function executionError(message: string): PeregrineError {
  return new PeregrineError('PG_PROMQL_EXECUTION', message, { status: 422 })
}

/** tooManySamplesError is Prometheus's ErrTooManySamples. */
export function tooManySamplesError(where = 'query execution'): PeregrineError {
  return new PeregrineError(
    'PG_PROMQL_TOO_MANY_SAMPLES',
    `query processing would load too many samples into memory in ${where}`,
    { status: 422 }
  )
}

/**
 * OutBuilder collects the output series of a step-wise operation keyed by labels, as Prometheus's
 * rangeEval does: two samples with the same labels at the same step are an error.
 */
export class OutBuilder {
  readonly series: GridSeries[] = []
  readonly #byKey = new Map<string, GridSeries>()
  constructor(readonly numSteps: number) {}

  /** slot is the output series for these labels (created on first use). */
  slot(labels: Labels, dropName: boolean, key = labelsKey(labels)): GridSeries {
    let s = this.#byKey.get(key)
    if (s === undefined) {
      s = {
        labels,
        vals: new Float64Array(this.numSteps),
        present: new Uint8Array(this.numSteps),
        dropName,
      }
      this.#byKey.set(key, s)
      this.series.push(s)
    }
    return s
  }

  /** put sets a value at a step; a second value for the same series and step is an error. */
  put(s: GridSeries, step: number, v: number, h?: FloatHistogram): void {
    if (s.present[step] === 1) {
      throw executionError('vector cannot contain metrics with the same labelset')
    }
    s.present[step] = 1
    s.vals[step] = v
    if (h !== undefined) setHistogram(s, step, h)
  }

  grid(): Grid {
    return { kind: 'grid', series: this.series }
  }
}

/** hasSameLabelset tells whether two series of a list have equal labels (Prometheus's ContainsSameLabelset). */
export function hasSameLabelset(series: readonly { labels: Labels }[]): boolean {
  if (series.length < 2) return false
  const seen = new Set<string>()
  for (const s of series) {
    const k = labelsKey(s.labels)
    if (seen.has(k)) return true
    seen.add(k)
  }
  return false
}

/** setHistogram makes step `k` of a grid series the histogram `h`. */
export function setHistogram(s: GridSeries, k: number, h: FloatHistogram): void {
  if (s.hs === undefined) s.hs = new Array<FloatHistogram | undefined>(s.vals.length)
  s.hs[k] = h
  s.vals[k] = 0
}

/** histogramAt is the histogram of a grid series at step k, if the sample there is one. */
export function histogramAt(s: GridSeries, k: number): FloatHistogram | undefined {
  return s.hs === undefined ? undefined : s.hs[k]
}
