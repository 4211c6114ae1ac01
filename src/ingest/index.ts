/**
 * @module ingest
 * The receivers of falcon's push protocols (JSON-RPC `Transfer.Update`, HTTP `/api/push`, the line
 * socket) with transfer's validation, answers and bounds, around a sink that says where valid points
 * go: transfer routes them to graph, gateway forwards them to central transfers. A library: the
 * components that use it listen.
 */
export {
  createPushReceivers,
  InflightBudget,
  type PushConfig,
  type PushCounters,
  type PushOptions,
  type PushReceivers,
  type PushAsSent,
  type PushSink,
  type Refused,
  type TransferResponse,
} from './push.js'
export { serveLineSocket, type LineSocketCounters, type LineSocketOptions } from './line-socket.js'
export {
  ParsePool,
  type ParsedPush,
  type ParsePoolOptions,
  type ValidatedPush,
  MAX_WORKER_SERIES,
} from './parse-pool.js'
