// gateway's configuration (falcon's modules/gateway cfg.json roles), validated with every problem named.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
  MAX_TIMEOUT_MS,
} from '../core/index.js'

/**
 * GatewayConfig configures one gateway: transfer's three receivers and their bounds, the transfer
 * clusters it forwards to, and its disk buffer. The connection limits apply to each listener.
 */
export interface GatewayConfig extends ConnectionLimits {
  /** rpc: JSON-RPC listener (`Transfer.Update`; falcon's packaged gateway: `0.0.0.0:18433`). */
  rpc: string
  /** http: HTTP listener for `/api/push` (falcon's packaged gateway: `0.0.0.0:16060`). */
  http: string
  /** socket: the line protocol listener (`0.0.0.0:14444`), or '' for none. */
  socket: string
  /**
   * clusters: cluster name → its transfer addresses. Every point goes to every cluster (to one
   * transfer of each, load-balanced with failover: a cluster's transfers share its graph cluster).
   */
  clusters: Record<string, readonly string[]>
  /** dataDir: the disk buffer, one directory per cluster (default `DATA/gateway`). */
  dataDir: string
  /** batch: most points per `Transfer.Update` call (and per line socket connection held). */
  batch: number
  /** callsInFlight: `Transfer.Update` calls one cluster has in flight at once (from memory). */
  callsInFlight: number
  /** callTimeout: ms a `Transfer.Update` may take before it counts as failed (falcon `callTimeout`). */
  callTimeout: number
  /** connectTimeout: ms to connect to a transfer (falcon `connTimeout`). */
  connectTimeout: number
  /**
   * maxMemoryPoints: points one cluster holds in memory waiting to be sent; past it, a push's points
   * for that cluster are written to disk instead (and acknowledged once there).
   */
  maxMemoryPoints: number
  /** spillAfter: ms a point waits in memory for a cluster that is up but slow before it goes to disk. */
  spillAfter: number
  /**
   * maxDiskBytes: bytes the disk buffer may take, every cluster together; past it a push that needs
   * the disk fails (RPC error, HTTP 503, `PG_GATEWAY_DISK_FULL`) rather than drop anything.
   */
  maxDiskBytes: number
  /** maxBodyBytes: largest HTTP push body (413 beyond) and RPC request. */
  maxBodyBytes: number
  /** maxLineBytes: longest line on the line socket; a longer one closes its connection. */
  maxLineBytes: number
  /** maxInflightBytes: request bodies the HTTP port holds at once (429 beyond), as transfer's. */
  maxInflightBytes: number
}

/** defaultGatewayConfig holds every default (falcon's packaged ports; transfer's bounds). */
export const defaultGatewayConfig: GatewayConfig = {
  rpc: '0.0.0.0:18433',
  http: '0.0.0.0:16060',
  socket: '0.0.0.0:14444',
  clusters: { central: ['127.0.0.1:8433'] },
  dataDir: './data/gateway',
  batch: 5000,
  callsInFlight: 8,
  callTimeout: 5000,
  connectTimeout: 1000,
  maxMemoryPoints: 500_000,
  spillAfter: 2000,
  maxDiskBytes: 8 * 2 ** 30,
  maxBodyBytes: 32 << 20,
  maxLineBytes: 4096,
  maxInflightBytes: 256 << 20,
  ...defaultConnectionLimits,
  // As transfer's: the agents of a whole data centre connect here.
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1000,
}

const KEYS = Object.keys(defaultGatewayConfig)
const POSITIVE = [
  'batch',
  'callsInFlight',
  'maxMemoryPoints',
  'maxDiskBytes',
  'maxBodyBytes',
  'maxLineBytes',
  'maxInflightBytes',
] as const
const MILLIS = ['callTimeout', 'connectTimeout', 'spillAfter'] as const
/** A cluster's name is a directory of the disk buffer: plain characters only. */
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * parseGatewayConfig merges `raw` over the defaults and checks it, naming every bad or unknown key at
 * once (`gateway.clusters.central: …`). A cluster's addresses may be given as a list or as `"a,b"`.
 */
export function parseGatewayConfig(raw: Record<string, unknown>): Readonly<GatewayConfig> {
  const problems: string[] = []
  for (const k of Object.keys(raw)) {
    if (!KEYS.includes(k))
      problems.push(`gateway.${k}: not a gateway setting (expected one of ${KEYS.join(', ')})`)
  }
  const c = { ...defaultGatewayConfig, ...raw }
  checkListen(problems, 'gateway.rpc', c.rpc)
  checkListen(problems, 'gateway.http', c.http)
  if (c.socket !== '') checkListen(problems, 'gateway.socket', c.socket)
  const clusters: Record<string, readonly string[]> = {}
  const given = c.clusters as unknown
  if (
    typeof given !== 'object' ||
    given === null ||
    Array.isArray(given) ||
    Object.keys(given).length === 0
  ) {
    problems.push(
      'gateway.clusters: expected {"central": ["host:port", …], …} with at least one cluster'
    )
  } else {
    const seen = new Map<string, string>()
    for (const [name, v] of Object.entries(given as Record<string, unknown>)) {
      const path = `gateway.clusters.${name}`
      if (!CLUSTER_NAME.test(name))
        problems.push(
          `${path}: a cluster name is 1 to 64 letters, digits, '.', '_' or '-' (it names a directory of the disk buffer)`
        )
      const list =
        typeof v === 'string'
          ? v.split(',').map((a) => a.trim())
          : Array.isArray(v) && v.every((a) => typeof a === 'string')
            ? v
            : null
      if (list === null || list.length === 0 || list.includes('')) {
        problems.push(`${path}: expected ["host:port", …] or "host:port,host:port"`)
        continue
      }
      for (const a of list) {
        checkListen(problems, path, a)
        // One transfer in two clusters would take every point twice into one graph cluster.
        const other = seen.get(a)
        if (other !== undefined && other !== name)
          problems.push(
            `${path}: ${a} is in cluster ${other} too; a transfer belongs to one cluster`
          )
        seen.set(a, name)
        // Forwarding to its own RPC port, each point would come back to be forwarded again.
        if (isOwnRpc(a, c.rpc))
          problems.push(
            `${path}: ${a} is this gateway's own rpc (gateway.rpc ${String(c.rpc)}); name the central transfers`
          )
      }
      clusters[name] = Object.freeze([...new Set(list)])
    }
  }
  if (typeof c.dataDir !== 'string' || c.dataDir === '')
    problems.push(`gateway.dataDir: expected a directory, got ${JSON.stringify(c.dataDir)}`)
  for (const key of POSITIVE) {
    if (!Number.isSafeInteger(c[key]) || c[key] <= 0)
      problems.push(`gateway.${key}: expected a positive integer, got ${JSON.stringify(c[key])}`)
  }
  for (const key of MILLIS) {
    if (!Number.isInteger(c[key]) || c[key] <= 0 || c[key] > MAX_TIMEOUT_MS)
      problems.push(
        `gateway.${key}: expected an integer from 1 to ${MAX_TIMEOUT_MS} (ms), got ${JSON.stringify(c[key])}`
      )
  }
  if (Number.isInteger(c.maxInflightBytes) && c.maxInflightBytes < c.maxBodyBytes)
    problems.push(
      `gateway.maxInflightBytes: ${c.maxInflightBytes} is less than maxBodyBytes (${c.maxBodyBytes}), so the largest request could never be taken`
    )
  checkConnectionLimits(problems, 'gateway', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({ ...c, clusters: Object.freeze(clusters) })
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '::1', '::', ''])

/** isOwnRpc: `address` reaches the gateway's own `rpc` listener (the same port, on its host or a local name). */
function isOwnRpc(address: string, rpc: unknown): boolean {
  if (typeof rpc !== 'string') return false
  const split = (v: string) => {
    const i = v.lastIndexOf(':')
    return { host: v.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: v.slice(i + 1) }
  }
  const a = split(address)
  const r = split(rpc)
  if (a.port !== r.port || r.port === '0') return false
  // Another host's transfer may listen on the same port number: only a local name is this gateway.
  return a.host === r.host || (LOCAL_HOSTS.has(a.host) && LOCAL_HOSTS.has(r.host))
}
