/**
 * @module cluster
 * What several apps share to reach graph nodes: the ring placement of falcon series and a client per
 * node (GraphCluster), reading by series, by batch and fanned out to every node. A library.
 */
export {
  GraphCluster,
  GraphUnavailable,
  LAST_MANY_BATCH,
  type LastPoint,
  type SeriesId,
} from './graph-cluster.js'
export {
  isUrl,
  TransferPusher,
  type PusherCounters,
  type TransferPusherOptions,
} from './transfer-pusher.js'
