/**
 * @module cluster
 * What several apps share to reach graph nodes: the ring placement of falcon series and a client per
 * node (GraphCluster), reading by series, by batch and fanned out to every node; the pusher of points
 * to transfer (TransferPusher); the settings of a component that does both (ReadPushConfig). A library.
 */
export {
  GraphCluster,
  GraphUnavailable,
  mergeReplicaAnswers,
  LAST_MANY_BATCH,
  type LastPoint,
  type SeriesId,
} from './graph-cluster.js'
export { checkReadPush, defaultReadPush, readPush, type ReadPushConfig } from './read-push.js'
export {
  isUrl,
  pusherMetrics,
  TransferPusher,
  type PusherCounters,
  type TransferPusherOptions,
} from './transfer-pusher.js'
