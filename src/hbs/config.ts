// hbs's configuration (falcon's modules/hbs cfg.json roles), validated with every problem named.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'
import { checkStoreUrl } from '../store/index.js'

/**
 * HbsConfig configures the heartbeat server. The connection limits apply to each listener; the cap
 * allows a fleet's agents, each holding one JSON-RPC connection open.
 */
export interface HbsConfig extends ConnectionLimits {
  /** rpc: JSON-RPC listener for agents and judges (falcon `listen`, default `0.0.0.0:6030`). */
  rpc: string
  /** http: HTTP listener (falcon `http.listen`, default `127.0.0.1:6031`: it is for the operator). */
  http: string
  /** store: the portal store, `sqlite:PATH` or `mysql://user:pass@host:3306/db` (falcon `database`). */
  store: string
  /**
   * refreshInterval: ms between two reloads of hosts, groups, templates, strategies, expressions and
   * plugin dirs from the store (default 5000; falcon reloads every 60 s). Also how often host rows that
   * could not be written while the store was down are retried.
   */
  refreshInterval: number
  /**
   * hosts: `''` (default): an agent's first report registers its host; `'update'`: reports only update
   * hosts that already exist, never insert (falcon `hosts` non-empty, when hosts are synced from a CMDB).
   */
  hosts: '' | 'update'
  /** trustable: IPs the agents accept `/exit`, `/config/reload` and `/run` from (Agent.TrustableIps). */
  trustable: string[]
  /**
   * maxHosts: the most hosts hbs knows, the host table's and those agents registered since it was
   * read; past it, Agent.ReportStatus of a new host is refused naming this setting (hosts hbs knows
   * keep reporting). 0: no limit.
   */
  maxHosts: number
  /**
   * maxNewHostsPerHour: new hosts Agent.ReportStatus takes per hour (a token bucket: a burst of this
   * many, then this many an hour); past it, a new host is refused naming this setting. 0: no limit.
   */
  maxNewHostsPerHour: number
}

/** defaultHbsConfig holds every default. */
export const defaultHbsConfig: HbsConfig = {
  rpc: '0.0.0.0:6030',
  http: '127.0.0.1:6031',
  store: 'sqlite:./data/portal.db',
  refreshInterval: 5000,
  hosts: '',
  trustable: [],
  // Measured: 10,000 new hosts add 31 MB (short names) to 42 MB (210 characters) to hbs's RSS and
  // about 5 MB to portal.db; 100,000, then, fit the machine of a fleet that size. A spray of names stops
  // there, taken at most 10,000 an hour (a datacentre at once, then almost three a second).
  maxHosts: 100_000,
  maxNewHostsPerHour: 10_000,
  ...defaultConnectionLimits,
  maxConnections: 10_000,
  // A NAT or a proxy in front of a thousand agents is one address; one address is a tenth of a port.
  maxConnectionsPerAddress: 1000,
}

const MIN_REFRESH_MS = 100
const MAX_REFRESH_MS = 3_600_000

/** parseHbsConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseHbsConfig(raw: Record<string, unknown>): Readonly<HbsConfig> {
  const c = { ...defaultHbsConfig, ...raw }
  const problems: string[] = []
  for (const key of ['rpc', 'http'] as const) checkListen(problems, `hbs.${key}`, c[key])
  checkStoreUrl(problems, 'hbs.store', c.store)
  const interval: unknown = c.refreshInterval
  if (
    typeof interval !== 'number' ||
    !Number.isInteger(interval) ||
    interval < MIN_REFRESH_MS ||
    interval > MAX_REFRESH_MS
  ) {
    problems.push(
      `hbs.refreshInterval: expected an integer number of milliseconds from ${MIN_REFRESH_MS} to ${MAX_REFRESH_MS}, got ${JSON.stringify(interval)}`
    )
  }
  const hosts: unknown = c.hosts
  if (hosts !== '' && hosts !== 'update') {
    problems.push(
      `hbs.hosts: expected "" (agents register their hosts) or "update" (agents only update hosts that exist), got ${JSON.stringify(hosts)}`
    )
  }
  const trustable: unknown = c.trustable
  if (!Array.isArray(trustable) || !trustable.every((ip) => typeof ip === 'string')) {
    problems.push(
      `hbs.trustable: expected an array of IP strings, like ["10.0.0.1"], got ${JSON.stringify(trustable)}`
    )
  }
  for (const key of ['maxHosts', 'maxNewHostsPerHour'] as const) {
    const v: unknown = c[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      problems.push(`hbs.${key}: expected an integer ≥ 0 (0: no limit), got ${JSON.stringify(v)}`)
  }
  checkConnectionLimits(problems, 'hbs', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({ ...c, trustable: Object.freeze([...c.trustable]) as string[] })
}
