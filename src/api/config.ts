// api's configuration: its HTTP listener, the graph cluster it reads, the portal store and auth.
import {
  checkConnectionLimits,
  checkListen,
  checkReplication,
  type ConnectionLimits,
  defaultConnectionLimits,
  MAX_TIMEOUT_MS,
} from '../core/index.js'
import { parseDuration } from '../promql/index.js'
import { checkStoreUrl } from '../store/index.js'

/**
 * QueryConfig bounds the Prometheus query API (`/api/v1/query`, `query_range`, `series`, `labels`…),
 * with Prometheus's flags' names and defaults. Durations are ms here; the file may give them as
 * Prometheus durations (`"2m"`) or ms.
 */
export interface QueryConfig {
  /** timeout: a query running longer is stopped, 503 (Prometheus `--query.timeout`, 2m). */
  timeout: number
  /** maxSamples: samples one query may hold at once, else 422 (`--query.max-samples`, 50,000,000). */
  maxSamples: number
  /** lookbackDelta: how far back an instant selector looks (`--query.lookback-delta`, 5m). */
  lookbackDelta: number
  /** maxPointsPerSeries: points per series a range query may answer, else 400 (11,000, fixed in Prometheus). */
  maxPointsPerSeries: number
  /** maxConcurrency: queries run at once; more wait (`--query.max-concurrency`, 20). */
  maxConcurrency: number
  /** maxWaiting: queries that may wait for a slot; one more is answered 503 at once (100). */
  maxWaiting: number
  /**
   * maxSeries: most series a /series answer, or names or values a label answer, holds (50,000). Keep
   * it below graph.maxIndexRows: one more than it is asked of every graph node, to tell a cut answer.
   */
  maxSeries: number
}

/** defaultQueryConfig holds Prometheus's defaults. */
export const defaultQueryConfig: QueryConfig = {
  timeout: 120_000,
  maxSamples: 50_000_000,
  lookbackDelta: 300_000,
  maxPointsPerSeries: 11_000,
  maxConcurrency: 20,
  maxWaiting: 100,
  maxSeries: 50_000,
}

/**
 * ApiConfig configures the api (falcon's modules/api cfg.json roles for the graph routes). The
 * connection limits apply to its HTTP listener.
 */
export interface ApiConfig extends ConnectionLimits {
  /** http: `host:port` of the HTTP listener (falcon `listen`, default `0.0.0.0:8080`). */
  http: string
  /**
   * dashboardHttp: a second `host:port` answering the same routes (dashboard and API), for users who
   * open falcon-dashboard's `:8081`; empty (the default) for none. The same connection limits apply.
   */
  dashboardHttp: string
  /** graphCluster: node name → `host:port[,host:port]`, the same as transfer's (falcon `graphs.cluster`). */
  graphCluster: Record<string, string>
  /** replicas: points per node on the hash ring (falcon default 500). */
  replicas: number
  /**
   * replication: on how many graph nodes transfer keeps each series (transfer.replication, default
   * 1): a series is read from all of them, merged, and a fan-out call takes up to `replication` − 1
   * nodes not answering.
   */
  replication: number
  /** callTimeout: ms a graph call may take. */
  callTimeout: number
  /** store: the portal store, `sqlite:PATH` or `mysql://user:pass@host:3306/db` (see docs/configuration.md). */
  store: string
  /**
   * defaultToken: an `Apitoken` sig that authorises any name, for Peregrine's own components (falcon
   * `default_token`, used by alarm, nodata and aggregator). Empty (the default) turns it off.
   */
  defaultToken: string
  /** salt: falcon's password salt, only to check passwords imported from a falcon `uic.user` (md5). */
  salt: string
  /**
   * signupDisable: when true (the default), POST /user/create needs an admin's Apitoken; false lets
   * anyone create an account (falcon `signup_disable`, false in falcon).
   */
  signupDisable: boolean
  /**
   * corsOrigins: the web origins whose pages may read the api's answers (`https://dash.example.com`),
   * or `["*"]` for any page; [] (the default) answers no CORS at all. Never with credentials: the
   * Apitoken is a header a page must send itself, not a cookie a browser adds.
   */
  corsOrigins: string[]
  /** sessionTtl: seconds a login stays valid (falcon: 30 days). */
  sessionTtl: number
  /**
   * loginAttempts: failed logins one client address (an IPv6 client: its /64) may make in
   * `loginWindow` seconds, whatever the names; then it waits (429).
   */
  loginAttempts: number
  /**
   * loginNameAttempts: failed logins for one user name from every address together in `loginWindow`
   * seconds past which each address may try that name once a window (an address that failed for it
   * waits; any other may still log in).
   */
  loginNameAttempts: number
  loginWindow: number
  /** maxHistoryPoints: most points one /graph/history answer holds, every series together. */
  maxHistoryPoints: number
  /** maxIndexRows: most rows (page × limit) /graph/endpoint and /graph/endpoint_counter read. */
  maxIndexRows: number
  /** queryTimeout: ms a graph route may wait for the graph cluster before it answers 400. */
  queryTimeout: number
  /** query: the Prometheus query API's budgets. */
  query: QueryConfig
}

/** defaultApiConfig holds every default. */
export const defaultApiConfig: ApiConfig = {
  http: '0.0.0.0:8080',
  dashboardHttp: '',
  graphCluster: { 'graph-00': '127.0.0.1:6070' },
  replicas: 500,
  replication: 1,
  callTimeout: 10_000,
  store: 'sqlite:./data/portal.db',
  defaultToken: '',
  salt: '',
  signupDisable: true,
  corsOrigins: [],
  sessionTtl: 30 * 86400,
  loginAttempts: 5,
  loginNameAttempts: 100,
  loginWindow: 60,
  maxHistoryPoints: 1_000_000,
  maxIndexRows: 100_000,
  queryTimeout: 30_000,
  query: defaultQueryConfig,
  ...defaultConnectionLimits,
}

// An origin as a browser sends it: http(s), host and port, nothing after.
function isOrigin(v: string): boolean {
  if (!URL.canParse(v)) return false
  const u = new URL(v)
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v
}

/** parseApiConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseApiConfig(raw: Record<string, unknown>): Readonly<ApiConfig> {
  const c = { ...defaultApiConfig, ...raw }
  const problems: string[] = []
  checkListen(problems, 'api.http', c.http)
  if (c.dashboardHttp !== '') checkListen(problems, 'api.dashboardHttp', c.dashboardHttp)
  const cluster = c.graphCluster as unknown
  if (typeof cluster !== 'object' || cluster === null || Object.keys(cluster).length === 0) {
    problems.push('api.graphCluster: expected {"graph-00": "host:port", …} with at least one node')
  } else {
    for (const [name, addrs] of Object.entries(cluster as Record<string, unknown>)) {
      if (typeof addrs !== 'string' || addrs === '')
        problems.push(`api.graphCluster.${name}: expected "host:port"`)
    }
  }
  checkReplication(problems, 'api', c.replication, cluster)
  checkStoreUrl(problems, 'api.store', c.store)
  for (const key of ['defaultToken', 'salt'] as const) {
    if (typeof c[key] !== 'string') problems.push(`api.${key}: expected a string`)
  }
  if (typeof c.defaultToken === 'string' && c.defaultToken !== '' && c.defaultToken.length < 16) {
    problems.push('api.defaultToken: use at least 16 characters (it authorises as anyone)')
  }
  if (typeof c.signupDisable !== 'boolean')
    problems.push('api.signupDisable: expected true or false')
  const origins = c.corsOrigins as unknown
  if (!Array.isArray(origins))
    problems.push('api.corsOrigins: expected a list of origins like ["https://dash.example.com"]')
  else
    origins.forEach((o: unknown, i) => {
      if (o === '*' || (typeof o === 'string' && isOrigin(o))) return
      problems.push(
        `api.corsOrigins[${i}]: expected an origin like "https://dash.example.com" (scheme, host and port, no path) or "*", got ${JSON.stringify(o)}`
      )
    })
  for (const key of [
    'replicas',
    'callTimeout',
    'sessionTtl',
    'loginAttempts',
    'loginNameAttempts',
    'loginWindow',
    'maxHistoryPoints',
    'maxIndexRows',
  ] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0)
      problems.push(`api.${key}: expected a positive integer`)
  }
  if (!Number.isInteger(c.queryTimeout) || c.queryTimeout <= 0 || c.queryTimeout > MAX_TIMEOUT_MS)
    problems.push(
      `api.queryTimeout: expected an integer from 1 to ${MAX_TIMEOUT_MS} (ms), got ${JSON.stringify(c.queryTimeout)}`
    )
  checkConnectionLimits(problems, 'api', c)
  c.query = parseQueryConfig(problems, c.query)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}

/** PROMETHEUS_NAMES maps Prometheus's `--query.*` flag names onto api.query's keys. */
const PROMETHEUS_NAMES: Record<string, string> = {
  'max-samples': 'maxSamples',
  'lookback-delta': 'lookbackDelta',
  'max-concurrency': 'maxConcurrency',
}

/** parseQueryConfig reads `api.query` over its defaults, naming every bad or unknown key. */
function parseQueryConfig(problems: string[], raw: unknown): QueryConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push('api.query: expected an object like {"timeout": "2m", "maxSamples": 50000000}')
    return defaultQueryConfig
  }
  // Prometheus's flag names (`--query.max-samples`) are accepted as they are spelt there.
  const given: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(raw)) {
    const name = PROMETHEUS_NAMES[key] ?? key
    if (name in given) problems.push(`api.query.${key}: ${name} is given twice, in two spellings`)
    given[name] = v
  }
  const q: Record<string, unknown> = { ...defaultQueryConfig, ...given }
  for (const key of Object.keys(given)) {
    if (!(key in defaultQueryConfig))
      problems.push(
        `api.query.${key}: not a query setting (expected ${Object.keys(defaultQueryConfig).join(', ')})`
      )
  }
  const out = { ...defaultQueryConfig }
  for (const key of ['timeout', 'lookbackDelta'] as const) {
    const v = q[key]
    let ms = typeof v === 'number' ? v : NaN
    if (typeof v === 'string') {
      try {
        ms = parseDuration(v)
      } catch {
        ms = NaN
      }
    }
    if (!Number.isInteger(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) {
      problems.push(
        `api.query.${key}: expected a duration like "2m" or "30s", or ms from 1 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(v)}`
      )
    } else out[key] = ms
  }
  for (const key of [
    'maxSamples',
    'maxPointsPerSeries',
    'maxConcurrency',
    'maxWaiting',
    'maxSeries',
  ] as const) {
    const v = q[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      problems.push(`api.query.${key}: expected a positive integer, got ${JSON.stringify(v)}`)
    else out[key] = v
  }
  return Object.freeze(out)
}
