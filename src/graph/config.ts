// graph's configuration: listeners and the storage directory, validated with every problem named.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'

/**
 * GraphConfig configures one graph node (falcon's modules/graph cfg.json has the same roles). The
 * connection limits apply to each listener.
 */
export interface GraphConfig extends ConnectionLimits {
  /**
   * rpc: `host:port` of the JSON-RPC listener (falcon's `rpc.listen`). Default `127.0.0.1:6070`: its
   * `Graph.Delete` deletes series unauthenticated, so other hosts reach it only when configured so.
   */
  rpc: string
  /** http: `host:port` of the HTTP listener (falcon's `http.listen`, default `127.0.0.1:6071`). */
  http: string
  /** dataDir: where the storage engine keeps its files (falcon's `rrd.storage` role). */
  dataDir: string
  /** walSync: `fsync` (default) or `write`; see docs/tsdb.md. */
  walSync: 'fsync' | 'write'
  /**
   * maintenanceInterval: ms between the storage's background runs (flush when due, compaction, rollup,
   * retention); default 60,000.
   */
  maintenanceInterval: number
  /**
   * maxAhead: ms a point may be ahead of this node's clock (default 2 days, as VictoriaMetrics); one
   * further ahead is refused in the push answer (`PG_TSDB_TOO_NEW`): its sender's clock is wrong.
   */
  maxAhead: number
  /**
   * maxSeries: the most series this node holds; a point that would create one more is refused in the
   * push answer (`PG_TSDB_SERIES_LIMIT`) and counted in `seriesLimited`. `auto` (default): half the
   * process's V8 heap limit at 5 KB a series (434,000 with Node's default heap on a 24 GB machine,
   * 58,000 with `--max-old-space-size=512`). 0: no limit.
   */
  maxSeries: number | 'auto'
  /**
   * maxNewSeriesPerHour: how many series may be created per hour (a token bucket: a burst of this many,
   * then this many an hour). `auto` (default): half of maxSeries. 0: no limit.
   */
  maxNewSeriesPerHour: number | 'auto'
  /**
   * maxIndexRows: most rows one Graph.Endpoints, Graph.Counters or label call (LabelNames, LabelValues,
   * Metadata) answers; a call asking more (or matching more without a limit) is refused, naming this
   * setting.
   */
  maxIndexRows: number
}

/** defaultGraphConfig holds every default. */
export const defaultGraphConfig: GraphConfig = {
  rpc: '127.0.0.1:6070',
  http: '127.0.0.1:6071',
  dataDir: './data/graph',
  walSync: 'fsync',
  maintenanceInterval: 60_000,
  maxAhead: 2 * 86_400_000,
  maxSeries: 'auto',
  maxNewSeriesPerHour: 'auto',
  maxIndexRows: 100_000,
  ...defaultConnectionLimits,
}

/** SERIES_BYTES is what a series costs in memory with a full head, for the `auto` series limit. */
export const SERIES_BYTES = 5000

/**
 * seriesLimits turns `auto` into numbers: maxSeries from `heapLimit` (bytes; V8's heap_size_limit),
 * maxNewSeriesPerHour from maxSeries.
 */
export function seriesLimits(
  c: Pick<GraphConfig, 'maxSeries' | 'maxNewSeriesPerHour'>,
  heapLimit: number
): { maxSeries: number; maxNewSeriesPerHour: number } {
  const maxSeries =
    c.maxSeries === 'auto' ? Math.floor(heapLimit / 2 / SERIES_BYTES / 1000) * 1000 : c.maxSeries
  const maxNewSeriesPerHour =
    c.maxNewSeriesPerHour === 'auto' ? Math.floor(maxSeries / 2) : c.maxNewSeriesPerHour
  return { maxSeries, maxNewSeriesPerHour }
}

/** parseGraphConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseGraphConfig(raw: Record<string, unknown>): Readonly<GraphConfig> {
  const c = { ...defaultGraphConfig, ...raw }
  const problems: string[] = []
  for (const key of ['rpc', 'http'] as const) checkListen(problems, `graph.${key}`, c[key])
  if (typeof c.dataDir !== 'string' || c.dataDir === '')
    problems.push('graph.dataDir: expected a directory path')
  if (c.walSync !== 'fsync' && c.walSync !== 'write')
    problems.push('graph.walSync: expected "fsync" or "write"')
  if (!Number.isSafeInteger(c.maxAhead) || c.maxAhead < 60_000)
    problems.push(
      `graph.maxAhead: expected an integer ≥ 60000 (ms), got ${JSON.stringify(c.maxAhead)}`
    )
  if (!Number.isSafeInteger(c.maintenanceInterval) || c.maintenanceInterval < 100)
    problems.push(
      `graph.maintenanceInterval: expected an integer ≥ 100 (ms), got ${JSON.stringify(c.maintenanceInterval)}`
    )
  for (const key of ['maxSeries', 'maxNewSeriesPerHour'] as const) {
    const v = c[key]
    if (v !== 'auto' && !(Number.isSafeInteger(v) && v >= 0)) {
      problems.push(
        `graph.${key}: expected "auto" or an integer ≥ 0 (0: no limit), got ${JSON.stringify(v)}`
      )
    }
  }
  if (!Number.isInteger(c.maxIndexRows) || c.maxIndexRows <= 0)
    problems.push(
      `graph.maxIndexRows: expected a positive integer, got ${JSON.stringify(c.maxIndexRows)}`
    )
  checkConnectionLimits(problems, 'graph', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
