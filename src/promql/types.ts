// The engine's public shapes: what api, the CLI and the tests see of a query and its answer.
import type { FloatHistogram, Labels } from '../tsdb/index.js'

/** EngineOptions are the engine's budgets, named after Prometheus's flags. Times are ms. */
export interface EngineOptions {
  /** query.timeout: a query running longer is stopped with `PG_PROMQL_TIMEOUT` (default 2 min). */
  timeout: number
  /** query.max-samples: the most samples a query may hold in memory at once (default 50,000,000). */
  maxSamples: number
  /** query.lookback-delta: how far back an instant selector looks for a sample (default 5 min). */
  lookbackDelta: number
  /** the most points one series may have in a range query's answer (default 11,000, as Prometheus). */
  maxPointsPerSeries: number
}

/** Sample is one value of an instant vector. `t` is ms. */
export interface Sample {
  labels: Labels
  t: number
  v: number
  /** h, when set, is the sample: a native histogram (and `v` is 0). */
  h?: FloatHistogram
}

/** SeriesPoints is one series of a matrix: times (ms, ascending) and values, `n` of each used. */
export interface SeriesPoints {
  labels: Labels
  ts: Float64Array
  vs: Float64Array
  /** hs, when set, holds native histogram points aligned with ts: where `hs[i]` is set, point i is it. */
  hs?: readonly (FloatHistogram | undefined)[]
}

/** Value is what an expression evaluates to, as Prometheus's `resultType`. */
export type Value =
  | { resultType: 'scalar'; t: number; v: number }
  | { resultType: 'string'; t: number; s: string }
  | { resultType: 'vector'; samples: Sample[] }
  | { resultType: 'matrix'; series: SeriesPoints[] }

/** QueryResult is a query's value and the warnings to show beside it. */
export interface QueryResult {
  value: Value
  warnings: string[]
  /** infos: Prometheus's info annotations (`PromQL info: …`), shown apart from warnings. */
  infos?: string[]
  /** samples: how many samples the query held at its peak (Prometheus's stats `peakSamples`). */
  peakSamples: number
  totalSamples: number
}

/** QueryOptions are per query: `signal` cancels it (a client that went away). */
export interface QueryOptions {
  signal?: AbortSignal
  /** timeout (ms) of this query, at most the engine's: its deadline is checked as the work goes on. */
  timeout?: number
}
