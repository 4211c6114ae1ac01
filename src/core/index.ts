/**
 * @module core
 * The shared data model and codecs: Open-Falcon's MetricValue, tags and series keys, transfer's
 * validation, the rule for host names, the error catalogue, falcon's consistent hash ring, Go's
 * net/rpc JSON codec, the service seam every app implements, and the policy for where a user's URL
 * may lead. Imports nothing else in src/.
 */
export * from './model.js'
export * from './point-columns.js'
export * from './errors.js'
export * from './validate.js'
export * from './hostname.js'
export * from './hash-ring.js'
export * from './alerting.js'
export * from './tag-matchers.js'
export * from './go-format.js'
export * from './service.js'
export * from './address-policy.js'
export * from './printable.js'
export { compileRe2, literalAlternatives, MAX_REPEATS } from './re2.js'
export { VERSION } from './version.js'
export * from './connection-limits.js'
export * from './codec/falcon-jsonrpc.js'
export { JsonStreamDecoder, JsonFrameError } from './codec/json-stream.js'
export { parseJsonBytes } from './codec/json-bytes.js'
export { decodeFloat64s, decodeUint32s, encodeFloat64s, encodeUint32s } from './codec/columns.js'
export {
  bitsJson,
  recordingLogger,
  seededRandom,
  smallDisk,
  SMALL_DISK_SKIP,
  waitUntil,
} from './testing.js'
export * from './prom-series.js'
export type { AppendResult, PromAppender, SeriesRef } from './prom-appender.js'
export {
  GRAPH_BAD_ITEM,
  GRAPH_OUT_OF_RANGE,
  graphItemProblem,
  PromSeriesItem,
  readPromSeriesItem,
  graphNamesProblem,
  graphValueProblem,
} from './codec/graph-write.js'
export {
  decodeSnappy,
  decodeWriteRequest,
  decodeWriteRequestV2,
  encodeSnappy,
  encodeWriteRequest,
  encodeWriteRequestV2,
  MAX_LABELS,
  MAX_SERIES_PER_REQUEST,
  RemoteWriteError,
  snappyBlockLength,
} from './codec/remote-write.js'
export type {
  MetricType,
  RemoteWriteBatch,
  RemoteWriteMetadata,
  WriteSeries,
} from './codec/remote-write.js'
export {
  counterFrom,
  exposition,
  EXPOSITION_CONTENT_TYPE,
  gaugeFrom,
  histogram,
  LATENCY_BUCKETS,
  listenerMetrics,
  newMetricsRegistry,
} from './metrics.js'
export type { Histogram, LabelledValue, MetricSource, MetricsRegistry } from './metrics.js'
export { escapeName } from './prom-names.js'
export {
  ExpositionError,
  ExpositionScanner,
  formatOf,
  parseExposition,
  scanExposition,
} from './codec/exposition.js'
export type {
  Exposition,
  ExposedSample,
  ExpositionFormat,
  ExpositionInfo,
  ExpositionVisitor,
} from './codec/exposition.js'
export * from './aggregator-expr.js'
export * from './config-keys.js'
export { graphSeriesParam, graphStringList } from './codec/graph-params.js'
