/**
 * @module tsdb
 * Peregrine's time-series storage engine, a library with no network: a write-ahead log with group commit,
 * a compressed in-memory head, immutable on-disk blocks, rollup tiers in the role of Open-Falcon's RRD
 * archives (AVERAGE/MAX/MIN at 5, 20, 180, 720 steps), retention, deletion and an index of endpoints,
 * counters and labels. See FORMAT.md for the bytes on disk.
 */
export { Db, Appender, defaultTsdbOptions } from './db.js'
export type {
  TsdbOptions,
  SeriesRef,
  CommitResult,
  QueryOptions,
  QueryResult,
  Arrival,
  DbStats,
} from './db.js'
export { dsTypeOf, uidOf } from './series.js'
export type { DsType, SeriesDesc } from './series.js'
export type { ConsolFun } from './rollup.js'
export { Buckets, CONSOL_FUNS, consolidate, falconLastPoint, toRates } from './rollup.js'
export { textTest } from './series-index.js'
export type { Matcher, MatchOp, CounterInfo } from './series-index.js'
export type { WalSync } from './wal/wal.js'
export { TsdbQuerier } from './tsdb-querier.js'
export { escapeName } from '../core/prom-names.js'
export { decodeSeriesSet, encodeSeriesSet, wireBytes } from './wire.js'
export type { LabelsParam, MetadataParam, MetadataRow, SelectParam, WireSeriesSet } from './wire.js'
export { MemoryQuerier, compareLabels, eachSeries, matcherTest, tooManySamples } from './querier.js'
export type {
  Querier,
  SeriesSet,
  SeriesVisitor,
  SelectHints,
  LabelHints,
  Label,
  Labels,
  MetricMetadata,
} from './querier.js'
export {
  FloatHistogram,
  CounterResetHint,
  CUSTOM_BUCKETS_SCHEMA,
  boundExponential,
  bucketsMatch,
} from './histogram.js'
export type { Bucket, Span, HistogramError, FloatHistogramInit } from './histogram.js'
