// api's configuration: its HTTP listener, the graph cluster it reads, the portal store and auth.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
  MAX_TIMEOUT_MS,
} from '../core/index.js'
import { checkStoreUrl } from '../store/index.js'

/**
 * ApiConfig configures the api (falcon's modules/api cfg.json roles for the graph routes). The
 * connection limits apply to its HTTP listener.
 */
export interface ApiConfig extends ConnectionLimits {
  /** http: `host:port` of the HTTP listener (falcon `listen`, default `0.0.0.0:8080`). */
  http: string
  /** graphCluster: node name → `host:port[,host:port]`, the same as transfer's (falcon `graphs.cluster`). */
  graphCluster: Record<string, string>
  /** replicas: points per node on the hash ring (falcon default 500). */
  replicas: number
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
}

/** defaultApiConfig holds every default. */
export const defaultApiConfig: ApiConfig = {
  http: '0.0.0.0:8080',
  graphCluster: { 'graph-00': '127.0.0.1:6070' },
  replicas: 500,
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
  const cluster = c.graphCluster as unknown
  if (typeof cluster !== 'object' || cluster === null || Object.keys(cluster).length === 0) {
    problems.push('api.graphCluster: expected {"graph-00": "host:port", …} with at least one node')
  } else {
    for (const [name, addrs] of Object.entries(cluster as Record<string, unknown>)) {
      if (typeof addrs !== 'string' || addrs === '')
        problems.push(`api.graphCluster.${name}: expected "host:port"`)
    }
  }
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
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
