// transfer's metrics: what it received, refused and sent on, per path (the /counter/all figures).
import {
  counterFrom,
  gaugeFrom,
  type LabelledValue,
  listenerMetrics,
  type ListenerStats,
  type MetricsRegistry,
} from '../core/index.js'
import type { RemoteWriteCounters } from './remote-write.js'
import type { Router, SenderCounters } from './router.js'

/** TransferCounters are transfer's own counters (index.ts). */
export interface TransferCounters {
  rpcCalls: number
  httpPushes: number
  socketConnections: number
  socketLines: number
  socketLinesTooLong: number
  received: number
  invalid: number
  refused: number
  refusedByCode: Record<string, number>
}

/** registerTransferMetrics registers transfer's metrics, read at scrape time. */
export function registerTransferMetrics(
  registry: MetricsRegistry,
  counters: TransferCounters,
  router: Router,
  remoteWrite: RemoteWriteCounters,
  listeners: Record<string, ListenerStats>
): void {
  const counter = (name: string, help: string, read: () => number) =>
    counterFrom(registry, { name, help, read })
  counterFrom(registry, {
    name: 'peregrine_transfer_pushes_total',
    help: 'Pushes received, by path (rpc: Transfer.Update, http: /api/push, remote_write: /api/v1/write).',
    labels: ['path'],
    read: () => [
      [{ path: 'rpc' }, counters.rpcCalls],
      [{ path: 'http' }, counters.httpPushes],
      [{ path: 'remote_write' }, remoteWrite.requests],
    ],
  })
  counter(
    'peregrine_transfer_points_received_total',
    'Falcon points received on every path (valid or not).',
    () => counters.received
  )
  counter(
    'peregrine_transfer_points_invalid_total',
    'Falcon points refused by transfer’s validation.',
    () => counters.invalid
  )
  counterFrom(registry, {
    name: 'peregrine_transfer_points_refused_total',
    help: 'Valid points a graph node would not store, by code.',
    labels: ['code'],
    read: () =>
      Object.entries(counters.refusedByCode).map(([code, n]) => [{ code }, n] as LabelledValue),
  })
  counter(
    'peregrine_transfer_socket_connections_total',
    'Line socket connections.',
    () => counters.socketConnections
  )
  counter('peregrine_transfer_socket_lines_total', 'Line socket lines.', () => counters.socketLines)
  counter(
    'peregrine_transfer_socket_lines_too_long_total',
    'Line socket lines over maxLineBytes (their connection closed).',
    () => counters.socketLinesTooLong
  )
  const sender = (pick: (c: SenderCounters) => number): LabelledValue[] => [
    [{ to: 'graph' }, pick(router.counters)],
    [{ to: 'judge' }, pick(router.judgeCounters)],
  ]
  counterFrom(registry, {
    name: 'peregrine_transfer_sent_total',
    help: 'Items (falcon points, Prometheus samples) acknowledged by graph nodes, and sent to judges.',
    labels: ['to'],
    read: () => sender((c) => c.sent),
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_send_calls_total',
    help: 'Graph.Send, Graph.Write and Judge.Send calls.',
    labels: ['to'],
    read: () => sender((c) => c.sendCalls),
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_send_failures_total',
    help: 'Calls to graph or judge that failed (their items kept and retried).',
    labels: ['to'],
    read: () => sender((c) => c.sendFailures),
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_dropped_total',
    help: 'Items dropped from a full send buffer while their graph or judge was down.',
    labels: ['to'],
    read: () => sender((c) => c.dropped),
  })
  gaugeFrom(registry, {
    name: 'peregrine_transfer_buffered_items',
    help: 'Items waiting to be sent, by graph or judge address.',
    labels: ['to', 'address'],
    read: () => [
      ...Object.entries(router.buffered()).map(
        ([address, n]) => [{ to: 'graph', address }, n] as LabelledValue
      ),
      ...Object.entries(router.bufferedByJudge()).map(
        ([address, n]) => [{ to: 'judge', address }, n] as LabelledValue
      ),
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_graph_dropped_items_total',
    help: 'Items a graph address never got: dropped from its full send buffer while it was down.',
    labels: ['address'],
    read: () =>
      Object.entries(router.droppedByGraph()).map(
        ([address, n]) => [{ address }, n] as LabelledValue
      ),
  })
  gaugeFrom(registry, {
    name: 'peregrine_transfer_placements_cached',
    help: 'Series whose graph node transfer remembers.',
    read: () => router.cachedPlacements,
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_remote_write_requests_total',
    help: "Remote write requests, by protocol version (in-process: scrape's appends in the same process).",
    labels: ['version'],
    read: () => [
      [{ version: '1.0' }, remoteWrite.requests - remoteWrite.requestsV2],
      [{ version: '2.0' }, remoteWrite.requestsV2],
      [{ version: 'in-process' }, remoteWrite.appends],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_remote_write_samples_total',
    help: 'Remote write samples, by outcome (stored: in every WAL; invalid: refused here; refused: by a graph node).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'stored' }, remoteWrite.samplesStored],
      [{ outcome: 'invalid' }, remoteWrite.invalidSamples],
      [{ outcome: 'refused' }, remoteWrite.refusedSamples],
    ],
  })
  counter(
    'peregrine_transfer_remote_write_series_invalid_total',
    'Remote-written series refused (no __name__, bad or repeated label names, unsorted labels, too long).',
    () => remoteWrite.invalidSeries
  )
  counterFrom(registry, {
    name: 'peregrine_transfer_remote_write_not_stored_total',
    help: 'Remote-written data not stored: native histogram samples, exemplars, metadata entries.',
    labels: ['kind'],
    read: () => [
      [{ kind: 'histogram' }, remoteWrite.histogramsDropped],
      [{ kind: 'exemplar' }, remoteWrite.exemplarsIgnored],
      [{ kind: 'metadata' }, remoteWrite.metadataIgnored],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_remote_write_errors_total',
    help: 'Remote write requests answered with an error, by status code.',
    labels: ['code'],
    read: () => [
      [{ code: '400' }, remoteWrite.badRequests],
      [{ code: '415' }, remoteWrite.unsupported],
      [{ code: '429' }, remoteWrite.tooManyRequests],
      [{ code: '503' }, remoteWrite.unavailable],
    ],
  })
  listenerMetrics(registry, 'transfer', () => listeners)
}
