// Remote storage's settings (`storage: remote`, the `remoteStorage` section), checked with every
// problem named.
import { checkInt, checkKnownKeys } from '../core/index.js'

/**
 * RemoteStorageConfig says where points go and are read from when Peregrine keeps no tsdb of its own:
 * a Prometheus remote-write receiver (VictoriaMetrics' vminsert, Mimir, Thanos Receive, Prometheus with
 * its receiver on) and the same store's Prometheus query API (vmselect, Mimir's query-frontend, Thanos
 * Query, Prometheus). Both URLs are the operator's: they may name loopback and private addresses.
 */
export interface RemoteStorageConfig {
  /** writeUrl: the remote write endpoint, e.g. `http://vminsert:8480/insert/0/prometheus/api/v1/write`. */
  writeUrl: string
  /**
   * readUrl: the base of the query API, the part before `/api/v1/query`, e.g.
   * `http://vmselect:8481/select/0/prometheus` (VictoriaMetrics cluster), `http://vm:8428` (single node).
   */
  readUrl: string
  /** headers: sent with every write and read (a tenant's `X-Scope-OrgID`, an `Authorization`). */
  headers: Record<string, string>
  /** queueDir: where the forward queue keeps what the store has not taken yet (default `<dataDir>/remote-queue`). */
  queueDir: string
  /** maxQueueBytes: most bytes the queue holds on disk; a push past it is refused (503), never dropped. */
  maxQueueBytes: number
  /** maxSamplesPerSend: most samples in one remote write request. */
  maxSamplesPerSend: number
  /** maxBytesPerSend: most uncompressed protobuf bytes in one remote write request. */
  maxBytesPerSend: number
  /** sendConcurrency: remote write requests in flight at once. */
  sendConcurrency: number
  /**
   * onRefused: what a remote write request the store refuses with a 4xx other than 429 becomes.
   * `retry` (the default): it is sent again, as after a 5xx, until the store takes it (a wrong URL, a
   * missing tenant or credentials are refused so, and the points are acknowledged: they must not go);
   * the queue fills meanwhile and then refuses pushes. `drop`: it is dropped and counted, as
   * Prometheus's remote write drops it.
   */
  onRefused: 'retry' | 'drop'
  /** timeout: ms a remote write request may take before it counts as failed and is retried. */
  timeout: number
  /** minBackoff, maxBackoff: ms waited before retrying after a failure, doubling from min to max. */
  minBackoff: number
  maxBackoff: number
  /** queryTimeout: ms a read of the query API may take. */
  queryTimeout: number
  /** maxResponseBytes: largest answer read from the query API; a larger one fails the read. */
  maxResponseBytes: number
  /**
   * lastLookback: seconds back from now that falcon's last-point reads (Graph.Last, nodata, aggregator)
   * look for a series' newest point: a series silent for longer has no last point.
   */
  lastLookback: number
}

/**
 * REMOTE_GRAPH_ADDRESS stands for the store where a graph node's address is expected: with `storage:
 * remote` the graph cluster of transfer, api, nodata and aggregator is this one node, reached in process.
 */
export const REMOTE_GRAPH_ADDRESS = 'remote-storage:1'

/** defaultRemoteStorageConfig holds every default (the URLs have none: they must be given). */
export const defaultRemoteStorageConfig: RemoteStorageConfig = {
  writeUrl: '',
  readUrl: '',
  headers: {},
  queueDir: '',
  maxQueueBytes: 1 << 30,
  maxSamplesPerSend: 10_000,
  maxBytesPerSend: 4 << 20,
  sendConcurrency: 4,
  onRefused: 'retry',
  timeout: 30_000,
  minBackoff: 30,
  maxBackoff: 5_000,
  queryTimeout: 60_000,
  maxResponseBytes: 256 << 20,
  lastLookback: 3600,
}

const KEYS = Object.keys(defaultRemoteStorageConfig)

/**
 * parseRemoteStorageConfig merges `raw` over the defaults, `queueDir` defaulting to
 * `<dataDir>/remote-queue`, and checks it, naming every bad key at once.
 */
export function parseRemoteStorageConfig(
  raw: Record<string, unknown>,
  dataDir: string
): Readonly<RemoteStorageConfig> {
  const problems: string[] = []
  checkKnownKeys(problems, 'remoteStorage', raw, KEYS)
  const c = { ...defaultRemoteStorageConfig, ...raw }
  for (const key of ['writeUrl', 'readUrl'] as const) {
    const v = c[key] as unknown
    if (typeof v !== 'string' || !/^https?:\/\/\S+$/.test(v) || !URL.canParse(v))
      problems.push(
        `remoteStorage.${key}: expected an http:// or https:// URL of the store${key === 'writeUrl' ? "'s remote write endpoint" : "'s Prometheus query API (the part before /api/v1/query)"}, got ${JSON.stringify(v)}`
      )
  }
  for (const key of ['writeUrl', 'readUrl'] as const) {
    const v = c[key] as unknown
    if (typeof v !== 'string' || !URL.canParse(v)) continue
    const u = new URL(v)
    if (u.username !== '' || u.password !== '')
      problems.push(
        `remoteStorage.${key}: credentials in the URL are not sent (and would be logged); give them as remoteStorage.headers.Authorization ("Basic " + base64 of user:password, or "Bearer TOKEN")`
      )
  }
  if (typeof c.readUrl === 'string' && /\/api\/v1(\/[a-z_]*)?\/?$/.test(c.readUrl))
    problems.push(
      `remoteStorage.readUrl: give the part before /api/v1/query (e.g. http://vmselect:8481/select/0/prometheus), got ${JSON.stringify(c.readUrl)}`
    )
  const headers = c.headers as unknown
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Array.isArray(headers) ||
    !Object.entries(headers).every(
      ([k, v]) =>
        /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) && typeof v === 'string' && !/[\r\n]/.test(v)
    )
  )
    problems.push(
      'remoteStorage.headers: expected {"Header-Name": "value", …} (token names, one-line string values)'
    )
  if (typeof c.queueDir !== 'string')
    problems.push(`remoteStorage.queueDir: expected a directory, got ${JSON.stringify(c.queueDir)}`)
  if (c.onRefused !== 'retry' && c.onRefused !== 'drop')
    problems.push(
      `remoteStorage.onRefused: expected "retry" (send a refused request again until the store takes it) or "drop" (as Prometheus), got ${JSON.stringify(c.onRefused)}`
    )
  checkInt(problems, 'remoteStorage.maxQueueBytes', c.maxQueueBytes, 1 << 20, 2 ** 46, 'bytes')
  checkInt(problems, 'remoteStorage.maxSamplesPerSend', c.maxSamplesPerSend, 1, 1_000_000)
  checkInt(problems, 'remoteStorage.maxBytesPerSend', c.maxBytesPerSend, 4096, 256 << 20, 'bytes')
  checkInt(problems, 'remoteStorage.sendConcurrency', c.sendConcurrency, 1, 64)
  checkInt(problems, 'remoteStorage.timeout', c.timeout, 100, 600_000, 'ms')
  checkInt(problems, 'remoteStorage.minBackoff', c.minBackoff, 1, 600_000, 'ms')
  checkInt(problems, 'remoteStorage.maxBackoff', c.maxBackoff, 1, 600_000, 'ms')
  checkInt(problems, 'remoteStorage.queryTimeout', c.queryTimeout, 100, 3_600_000, 'ms')
  checkInt(
    problems,
    'remoteStorage.maxResponseBytes',
    c.maxResponseBytes,
    1 << 16,
    2 ** 32,
    'bytes'
  )
  checkInt(problems, 'remoteStorage.lastLookback', c.lastLookback, 1, 366 * 86_400, 's')
  if (
    Number.isInteger(c.minBackoff) &&
    Number.isInteger(c.maxBackoff) &&
    c.maxBackoff < c.minBackoff
  )
    problems.push(
      `remoteStorage.maxBackoff: ${c.maxBackoff} is less than minBackoff (${c.minBackoff})`
    )
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({
    ...c,
    headers: Object.freeze({ ...c.headers }),
    queueDir: c.queueDir === '' ? `${dataDir}/remote-queue` : c.queueDir,
  })
}
