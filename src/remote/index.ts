/**
 * @module remote
 * Remote storage (`storage: remote`): Peregrine keeps no tsdb of its own; transfer forwards every
 * accepted point as Prometheus remote write through a durable queue, and api, nodata and aggregator
 * read the store's Prometheus query API. `openRemoteStorage` gives the graph node that stands for the
 * store (reached in process at REMOTE_GRAPH_ADDRESS) and the Querier the PromQL engine reads.
 */
import { counterFrom, type Deps, gaugeFrom, newMetricsRegistry } from '../core/index.js'
import type { RemoteStorageConfig } from './config.js'
import { RemoteGraphNode } from './graph-node.js'
import { ForwardQueue } from './queue.js'
import { RemoteReader } from './reader.js'

export {
  REMOTE_GRAPH_ADDRESS,
  defaultRemoteStorageConfig,
  parseRemoteStorageConfig,
  type RemoteStorageConfig,
} from './config.js'
export { RemoteGraphNode } from './graph-node.js'
export { ForwardQueue, type ForwardCounters } from './queue.js'
export { LocalMatch, pushdown, RemoteReader, type StoredSeries } from './reader.js'
export { encodeLabels, labelPairs, SeriesLabelCache, TimeSeriesWriter } from './encode.js'

/** RemoteStorage is one process's way to the store. */
export interface RemoteStorage {
  /** node: the graph node transfer, api, nodata and aggregator call. */
  node: RemoteGraphNode
  /** reader: the Querier api's PromQL engine reads. */
  reader: RemoteReader
  /** queue: the forward queue, when this process writes (runs transfer); else null. */
  queue: ForwardQueue | null
  stop(): Promise<void>
}

/**
 * openRemoteStorage opens the forward queue (when `write`) and the reader, and registers the queue's
 * metrics in `deps.metrics`.
 */
export function openRemoteStorage(
  cfg: Readonly<RemoteStorageConfig>,
  write: boolean,
  deps: Deps
): RemoteStorage {
  const queue = write ? ForwardQueue.open(cfg, deps.log, deps.now) : null
  const reader = new RemoteReader(cfg)
  if (queue !== null) registerQueueMetrics(queue, deps)
  return {
    node: new RemoteGraphNode(queue, reader, deps.now),
    reader,
    queue,
    stop: async () => {
      await queue?.close()
    },
  }
}

function registerQueueMetrics(q: ForwardQueue, deps: Deps): void {
  const r = deps.metrics ?? newMetricsRegistry()
  const c = q.counters
  gaugeFrom(r, {
    name: 'peregrine_remote_queue_samples',
    help: 'Samples acknowledged into the remote storage forward queue and not yet taken by the store.',
    read: () => q.pendingSamples,
  })
  gaugeFrom(r, {
    name: 'peregrine_remote_queue_bytes',
    help: 'Bytes of the forward queue on disk (remoteStorage.maxQueueBytes bounds them).',
    read: () => q.pendingBytes,
  })
  gaugeFrom(r, {
    name: 'peregrine_remote_queue_lag_seconds',
    help: 'How long the oldest sample the store has not taken yet has waited in the queue.',
    read: () => q.lagSeconds,
  })
  gaugeFrom(r, {
    name: 'peregrine_remote_requests_in_flight',
    help: 'Remote write requests out now.',
    read: () => q.inFlight,
  })
  counterFrom(r, {
    name: 'peregrine_remote_enqueued_samples_total',
    help: 'Samples acknowledged into the forward queue (durable on local disk).',
    read: () => c.enqueuedSamples,
  })
  counterFrom(r, {
    name: 'peregrine_remote_sent_samples_total',
    help: 'Samples the store answered 2xx for.',
    read: () => c.sentSamples,
  })
  counterFrom(r, {
    name: 'peregrine_remote_sent_requests_total',
    help: 'Remote write requests the store answered 2xx.',
    read: () => c.sentRequests,
  })
  counterFrom(r, {
    name: 'peregrine_remote_failed_requests_total',
    help: 'Remote write requests that failed (5xx, 429, no answer, timeout) and were sent again.',
    read: () => c.failedRequests,
  })
  counterFrom(r, {
    name: 'peregrine_remote_dropped_samples_total',
    help: 'Samples the store refused (a 4xx other than 429) and were dropped (remoteStorage.onRefused: drop).',
    read: () => c.droppedSamples,
  })
  counterFrom(r, {
    name: 'peregrine_remote_refused_requests_total',
    help: 'Remote write requests the store refused with a 4xx other than 429, kept and sent again.',
    read: () => c.refusedRequests,
  })
  counterFrom(r, {
    name: 'peregrine_remote_refused_samples_total',
    help: 'Samples refused at the queue (full or disk error), never acknowledged.',
    read: () => c.refusedSamples,
  })
}
