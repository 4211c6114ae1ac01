// graph's metrics: its RPC calls and what the storage engine holds and did (the /counter/all figures).
import {
  counterFrom,
  gaugeFrom,
  type LabelledValue,
  listenerMetrics,
  type ListenerStats,
  type MetricsRegistry,
} from '../core/index.js'
import type { Db } from '../tsdb/index.js'
import type { GraphCounters } from './rpc.js'

/** registerGraphMetrics registers graph's metrics, read at scrape time. */
export function registerGraphMetrics(
  registry: MetricsRegistry,
  db: Db,
  counters: GraphCounters,
  listeners: Record<string, ListenerStats>
): void {
  // One stats() a scrape, not one a metric: it walks the block list and the disk.
  let cached: { at: number; stats: ReturnType<Db['stats']> } | null = null
  const stats = () => {
    const now = Date.now()
    if (cached === null || now - cached.at > 50) cached = { at: now, stats: db.stats() }
    return cached.stats
  }
  const counter = (name: string, help: string, read: () => number) =>
    counterFrom(registry, { name, help, read })
  const gauge = (name: string, help: string, read: () => number) =>
    gaugeFrom(registry, { name, help, read })
  counterFrom(registry, {
    name: 'peregrine_graph_rpc_calls_total',
    help: 'Graph RPC calls by method (Send: falcon points, Write: Prometheus samples).',
    labels: ['method'],
    read: () => [
      [{ method: 'Graph.Send' }, counters.sendCalls],
      [{ method: 'Graph.Write' }, counters.writeCalls],
      [{ method: 'Graph.Query' }, counters.queryCalls],
      [{ method: 'Graph.Last' }, counters.lastCalls],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_graph_points_received_total',
    help: 'Points received by Graph.Send (falcon) and samples by Graph.Write (Prometheus).',
    labels: ['method'],
    read: () => [
      [{ method: 'Graph.Send' }, counters.sendItems],
      [{ method: 'Graph.Write' }, counters.writeSamples],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_graph_points_refused_total',
    help: 'Points graph did not store: malformed, or refused by the storage (too old, too new, series limit).',
    labels: ['method', 'reason'],
    read: () => [
      [{ method: 'Graph.Send', reason: 'invalid' }, counters.sendInvalid],
      [{ method: 'Graph.Send', reason: 'storage' }, counters.sendRefused],
      [{ method: 'Graph.Write', reason: 'storage' }, counters.writeRefused],
    ],
  })
  gauge(
    'peregrine_tsdb_healthy',
    '1 when the WAL and flushes work, 0 when degraded (see /health).',
    () => (db.health().ok ? 1 : 0)
  )
  gauge('peregrine_tsdb_head_series', 'Series in the head (in memory).', () => stats().series)
  gauge(
    'peregrine_tsdb_head_samples',
    'Samples in the head not yet in a block.',
    () => stats().headPoints
  )
  gaugeFrom(registry, {
    name: 'peregrine_tsdb_blocks',
    help: 'Blocks on disk, by tier (raw, r5, r20, r180, r720).',
    labels: ['tier'],
    read: () => Object.entries(stats().blocks).map(([tier, n]) => [{ tier }, n] as LabelledValue),
  })
  gaugeFrom(registry, {
    name: 'peregrine_tsdb_disk_bytes',
    help: 'Bytes on disk, by part (wal, blocks).',
    labels: ['part'],
    read: () => [
      [{ part: 'wal' }, stats().diskBytes.wal],
      [{ part: 'blocks' }, stats().diskBytes.blocks],
    ],
  })
  counter(
    'peregrine_tsdb_samples_appended_total',
    'Samples appended in time order.',
    () => stats().appended
  )
  counter(
    'peregrine_tsdb_samples_out_of_order_total',
    'Samples inserted before their series’ newest (kept).',
    () => stats().outOfOrderInserted
  )
  counter(
    'peregrine_tsdb_samples_duplicate_total',
    'Samples at a timestamp their series already had (the first value kept).',
    () => stats().duplicates
  )
  counter(
    'peregrine_tsdb_samples_replayed_total',
    'Samples read back from the WAL at start.',
    () => stats().replayed
  )
  counterFrom(registry, {
    name: 'peregrine_tsdb_samples_refused_total',
    help: 'Samples the storage refused, by reason (too_old, too_new, series_limit).',
    labels: ['reason'],
    read: () => [
      [{ reason: 'too_old' }, stats().tooOld],
      [{ reason: 'too_new' }, stats().tooNew],
      [{ reason: 'series_limit' }, stats().seriesLimited],
    ],
  })
  counter(
    'peregrine_tsdb_wal_written_bytes_total',
    'Bytes written to the WAL.',
    () => stats().walBytesWritten
  )
  counter(
    'peregrine_tsdb_wal_group_commits_total',
    'WAL group commits (one write and one sync each).',
    () => stats().walGroupCommits
  )
  counter('peregrine_tsdb_flushes_total', 'Head flushes into blocks.', () => stats().flushes)
  counter('peregrine_tsdb_compactions_total', 'Block compactions.', () => stats().compactions)
  counter('peregrine_tsdb_rollups_total', 'Rollup passes into the tiers.', () => stats().rollups)
  counter(
    'peregrine_tsdb_blocks_deleted_total',
    'Blocks deleted (retention, compaction).',
    () => stats().blocksDeleted
  )
  counter('peregrine_tsdb_series_deleted_total', 'Series deleted.', () => stats().seriesDeleted)
  const cache = (pick: (c: { bytes: number; hits: number; misses: number }) => number) =>
    (['block', 'grid'] as const).map(
      (name) => [{ cache: name }, pick(stats().caches[name])] as LabelledValue
    )
  gaugeFrom(registry, {
    name: 'peregrine_tsdb_cache_bytes',
    help: 'Bytes held by a read cache (block pages, step grids).',
    labels: ['cache'],
    read: () => cache((c) => c.bytes),
  })
  counterFrom(registry, {
    name: 'peregrine_tsdb_cache_hits_total',
    help: 'Read cache hits.',
    labels: ['cache'],
    read: () => cache((c) => c.hits),
  })
  counterFrom(registry, {
    name: 'peregrine_tsdb_cache_misses_total',
    help: 'Read cache misses.',
    labels: ['cache'],
    read: () => cache((c) => c.misses),
  })
  listenerMetrics(registry, 'graph', () => listeners)
}
