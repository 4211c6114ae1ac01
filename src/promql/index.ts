/**
 * @module promql
 * Peregrine's PromQL engine, a library with no network: it parses with `@prometheus-io/lezer-promql`
 * (the grammar Prometheus ships) and evaluates with Prometheus 2.x's semantics over a tsdb `Querier`.
 */
export { Engine, defaultEngineOptions } from './engine.js'
export type { EngineExtras } from './engine.js'
export { parseExpr, parseSelector } from './parser.js'
export { formatQuery } from './format-query.js'
export { parseDuration, formatDuration, formatFloat } from './format.js'
export { histogramJson } from './eval-histogram.js'
export type { HistogramJson } from './eval-histogram.js'
export type {
  EngineOptions,
  QueryOptions,
  QueryResult,
  Sample,
  SeriesPoints,
  Value,
} from './types.js'
export {
  FOLD_TOO_LARGE,
  FoldCellsExceeded,
  SelectorFold,
  decodeFoldState,
  encodeFoldState,
  isFoldingQuerier,
  wireFoldBytes,
} from './fold.js'
export type { FoldSpec, FoldState, FoldingQuerier, WireFoldState } from './fold.js'
export { isAccOp } from './eval-aggregate.js'
