// api's configuration: its HTTP listener and the graph cluster it reads.
import { parseListen } from '../core/index.js'

/** ApiConfig configures the api (falcon's modules/api cfg.json roles for the graph routes). */
export interface ApiConfig {
  /** http: `host:port` of the HTTP listener (falcon `listen`, default `0.0.0.0:8080`). */
  http: string
  /** graphCluster: node name → `host:port[,host:port]`, the same as transfer's (falcon `graphs.cluster`). */
  graphCluster: Record<string, string>
  /** replicas: points per node on the hash ring (falcon default 500). */
  replicas: number
  /** callTimeout: ms a graph call may take. */
  callTimeout: number
}

/** defaultApiConfig holds every default. */
export const defaultApiConfig: ApiConfig = {
  http: '0.0.0.0:8080',
  graphCluster: { 'graph-00': '127.0.0.1:6070' },
  replicas: 500,
  callTimeout: 10_000,
}

/** parseApiConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseApiConfig(raw: Record<string, unknown>): Readonly<ApiConfig> {
  const c = { ...defaultApiConfig, ...raw }
  const problems: string[] = []
  try {
    parseListen('api.http', c.http)
  } catch (err) {
    problems.push((err as Error).message)
  }
  const cluster = c.graphCluster as unknown
  if (typeof cluster !== 'object' || cluster === null || Object.keys(cluster).length === 0) {
    problems.push('api.graphCluster: expected {"graph-00": "host:port", …} with at least one node')
  } else {
    for (const [name, addrs] of Object.entries(cluster as Record<string, unknown>)) {
      if (typeof addrs !== 'string' || addrs === '')
        problems.push(`api.graphCluster.${name}: expected "host:port"`)
    }
  }
  for (const key of ['replicas', 'callTimeout'] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0)
      problems.push(`api.${key}: expected a positive integer`)
  }
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
