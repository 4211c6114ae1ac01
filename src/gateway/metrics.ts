// gateway's metrics: what it received and refused, and per cluster what it forwarded, retried and holds.
import {
  counterFrom,
  gaugeFrom,
  type LabelledValue,
  listenerMetrics,
  type ListenerStats,
  type MetricsRegistry,
} from '../core/index.js'
import type { InflightBudget, PushCounters } from '../ingest/index.js'
import type { Cluster, ClusterCounters, Forwarder } from './forwarder.js'

/** GatewayCounters are gateway's own counters beside the receivers'. */
export interface GatewayCounters {
  /** pushesFailed: pushes answered with an error because a cluster's share could not be kept. */
  pushesFailed: number
}

/** registerGatewayMetrics registers gateway's metrics, read at scrape time. */
export function registerGatewayMetrics(
  registry: MetricsRegistry,
  push: PushCounters,
  own: GatewayCounters,
  forwarder: Forwarder,
  inflight: InflightBudget,
  listeners: Record<string, ListenerStats>
): void {
  const perCluster = (pick: (c: Cluster) => number): LabelledValue[] =>
    forwarder.clusters.map((c) => [{ cluster: c.name }, pick(c)])
  const clusterCounter = (name: string, help: string, key: keyof ClusterCounters) =>
    counterFrom(registry, {
      name,
      help,
      labels: ['cluster'],
      read: () => perCluster((c) => c.counters[key]),
    })
  counterFrom(registry, {
    name: 'peregrine_gateway_pushes_total',
    help: 'Pushes received, by path (rpc: Transfer.Update, http: /api/push).',
    labels: ['path'],
    read: () => [
      [{ path: 'rpc' }, push.rpcCalls],
      [{ path: 'http' }, push.httpPushes],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_gateway_points_received_total',
    help: 'Falcon points received on every path (valid or not).',
    read: () => push.received,
  })
  counterFrom(registry, {
    name: 'peregrine_gateway_points_invalid_total',
    help: 'Falcon points refused by the gateway’s validation (transfer’s rules).',
    read: () => push.invalid,
  })
  counterFrom(registry, {
    name: 'peregrine_gateway_pushes_failed_total',
    help: 'Pushes answered with an error, nothing acknowledged, because the disk buffer was full or could not be written.',
    read: () => own.pushesFailed,
  })
  counterFrom(registry, {
    name: 'peregrine_gateway_socket_lines_total',
    help: 'Line socket lines.',
    read: () => push.socketLines,
  })
  clusterCounter(
    'peregrine_gateway_points_forwarded_total',
    'Points a transfer of the cluster acknowledged.',
    'forwarded'
  )
  clusterCounter(
    'peregrine_gateway_calls_total',
    'Transfer.Update and Transfer.Ping calls made to the cluster, each address tried counting one.',
    'calls'
  )
  clusterCounter(
    'peregrine_gateway_call_failures_total',
    'Calls to the cluster that failed (no answer in callTimeout, connection refused, an error answer).',
    'callFailures'
  )
  clusterCounter(
    'peregrine_gateway_points_retried_total',
    'Points sent again after a failed call (to another address, or later from disk).',
    'retried'
  )
  clusterCounter(
    'peregrine_gateway_points_spilled_total',
    'Points written to the disk buffer while the cluster was unreachable or slow.',
    'spilled'
  )
  clusterCounter(
    'peregrine_gateway_points_refused_total',
    'Points the cluster’s transfer counted Invalid (refused by its graph) after the gateway acknowledged them.',
    'refused'
  )
  gaugeFrom(registry, {
    name: 'peregrine_gateway_buffered_points',
    help: 'Points not yet acknowledged by the cluster, in memory (waiting or in a call) and on disk.',
    labels: ['cluster', 'where'],
    read: () =>
      forwarder.clusters.flatMap((c): LabelledValue[] => [
        [{ cluster: c.name, where: 'memory' }, c.memoryPoints],
        [{ cluster: c.name, where: 'disk' }, c.spool.points],
      ]),
  })
  gaugeFrom(registry, {
    name: 'peregrine_gateway_disk_bytes',
    help: 'Bytes of the disk buffer, by cluster (every cluster together is bounded by gateway.maxDiskBytes).',
    labels: ['cluster'],
    read: () => perCluster((c) => c.spool.bytes),
  })
  gaugeFrom(registry, {
    name: 'peregrine_gateway_cluster_up',
    help: '1 while the cluster answers, 0 while every address failed its last call.',
    labels: ['cluster'],
    read: () => perCluster((c) => (c.down ? 0 : 1)),
  })
  gaugeFrom(registry, {
    name: 'peregrine_gateway_inflight_bytes',
    help: 'Request bytes the HTTP port holds now.',
    read: () => inflight.bytes,
  })
  counterFrom(registry, {
    name: 'peregrine_gateway_inflight_refused_total',
    help: 'HTTP requests answered 429 because gateway.maxInflightBytes was reached.',
    read: () => inflight.refused,
  })
  listenerMetrics(registry, 'gateway', () => listeners)
}
