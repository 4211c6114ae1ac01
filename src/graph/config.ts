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
  /** rpc: `host:port` of the JSON-RPC listener (falcon's `rpc.listen`, default `0.0.0.0:6070`). */
  rpc: string
  /** http: `host:port` of the HTTP listener (falcon's `http.listen`, default `0.0.0.0:6071`). */
  http: string
  /** dataDir: where the storage engine keeps its files (falcon's `rrd.storage` role). */
  dataDir: string
  /** walSync: `fsync` (default) or `write`; see docs/tsdb.md. */
  walSync: 'fsync' | 'write'
  /**
   * maxIndexRows: most rows one Graph.Endpoints or Graph.Counters call answers; a call asking more (or
   * matching more without a limit) is refused, naming this setting.
   */
  maxIndexRows: number
}

/** defaultGraphConfig holds every default. */
export const defaultGraphConfig: GraphConfig = {
  rpc: '0.0.0.0:6070',
  http: '0.0.0.0:6071',
  dataDir: './data/graph',
  walSync: 'fsync',
  maxIndexRows: 100_000,
  ...defaultConnectionLimits,
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
  if (!Number.isInteger(c.maxIndexRows) || c.maxIndexRows <= 0)
    problems.push(
      `graph.maxIndexRows: expected a positive integer, got ${JSON.stringify(c.maxIndexRows)}`
    )
  checkConnectionLimits(problems, 'graph', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
