// The agents hbs has heard from (falcon's cache.Agents), and the host rows their reports write: a row is
// written only when a host is new to hbs or its IP or versions changed, and kept until written.
import type { Kysely } from 'kysely'
import { fitChars as fit, hostnameProblem, type Logger } from '../core/index.js'
import type { PortalDatabase } from '../store/index.js'

/** AgentReport is falcon's model.AgentReportRequest (Go field names on the wire). */
export interface AgentReport {
  readonly Hostname: string
  readonly IP: string
  readonly AgentVersion: string
  readonly PluginVersion: string
}

/** AgentInfo is falcon's model.AgentUpdateInfo: the last report and when it came (Unix seconds). */
export interface AgentInfo {
  readonly LastUpdate: number
  readonly ReportRequest: AgentReport
}

/** StoredHosts is the host table as hbs last read it (its snapshot), to tell a host that is new. */
export interface StoredHosts {
  hasHost(hostname: string): boolean
  readonly hostCount: number
}

const NO_HOSTS: StoredHosts = { hasHost: () => false, hostCount: 0 }

/** AgentsOptions: the store to write to, falcon's `hosts` mode, the limits, the clock and the log. */
export interface AgentsOptions {
  db: Kysely<PortalDatabase>
  /** updateOnly: only update hosts that exist, never insert (falcon `hosts` non-empty). */
  updateOnly: boolean
  now: () => number
  log: Logger
  /** stored: the host table as last read (none when left out); it may be replaced at any time. */
  stored?: () => StoredHosts
  /** maxHosts: the most hosts hbs knows, the host table's and the new ones together (0: no limit). */
  maxHosts?: number
  /** maxNewHostsPerHour: new hosts taken per hour, a burst of as many (0: no limit). */
  maxNewHostsPerHour?: number
}

/** HostsRefused counts the reports of new hosts refused, by reason. */
export interface HostsRefused {
  /** badHostname: the name breaks the rule of host names (hostnameProblem). */
  badHostname: number
  /** maxHosts: hbs knew `maxHosts` hosts. */
  maxHosts: number
  /** maxNewHostsPerHour: `maxNewHostsPerHour` new hosts had been taken within the hour. */
  maxNewHostsPerHour: number
}

/** STALE_MS: an agent not heard from for this long is forgotten (falcon: a day). */
export const STALE_MS = 24 * 3600 * 1000

// How many host rows are written at once when catching up after an outage.
const FLUSH_CONCURRENCY = 8

// The widths of the other columns a report writes. A longer value is cut to fit, as MySQL does
// outside strict mode: in strict mode (MariaDB's default) it would fail the write, and the host
// would never be registered, while SQLite would store it whole.
const IP_MAX_CHARS = 64
const AGENT_VERSION_MAX_CHARS = 16
const PLUGIN_VERSION_MAX_CHARS = 128

const HOUR_MS = 3_600_000

// quoted shows a name in an error, cut to a length a log line can carry.
function quoted(name: string): string {
  const shown = fit(name, 64)
  return JSON.stringify(shown) + (shown === name ? '' : '…')
}

/**
 * Agents holds the last report of each agent and writes host rows. A write that fails because the
 * store cannot be reached (or is locked, or full) is kept (the latest report per host) and retried by
 * `flush()`, so no change is lost to an outage; a write the store refuses for another reason is logged
 * and dropped.
 */
export class Agents {
  readonly #db: Kysely<PortalDatabase>
  readonly #updateOnly: boolean
  readonly #now: () => number
  readonly #log: Logger
  readonly #seen = new Map<string, AgentInfo>()
  // Reports not yet written, by hostname (the latest one wins).
  readonly #pending = new Map<string, AgentReport>()
  // The write in progress per hostname: writes of one host run one after the other.
  readonly #writes = new Map<string, Promise<void>>()
  #down: { since: number; reason: string } | undefined = undefined
  #written = 0
  #failed = 0
  readonly #stored: () => StoredHosts
  readonly #maxHosts: number
  readonly #maxNewHostsPerHour: number
  // New hosts taken that the host table, as last read, does not hold: their rows are being written,
  // or were written after that read, or (updateOnly) never will be. Pruned when the table is read.
  readonly #unstored = new Set<string>()
  #prunedAgainst: StoredHosts | undefined = undefined
  // The new-host tokens (maxNewHostsPerHour) in token-milliseconds, one token being HOUR_MS: a refill
  // adds elapsed ms × maxNewHostsPerHour, an integer, so no rounding loses a token. And when refilled.
  #credit: number
  #refilledAt: number
  readonly #refused: HostsRefused = { badHostname: 0, maxHosts: 0, maxNewHostsPerHour: 0 }

  constructor(options: AgentsOptions) {
    this.#db = options.db
    this.#updateOnly = options.updateOnly
    this.#now = options.now
    this.#log = options.log
    this.#stored = options.stored ?? (() => NO_HOSTS)
    this.#maxHosts = options.maxHosts ?? 0
    this.#maxNewHostsPerHour = options.maxNewHostsPerHour ?? 0
    this.#credit = this.#maxNewHostsPerHour * HOUR_MS
    this.#refilledAt = options.now()
  }

  /**
   * admit tells whether a report from `hostname` (not empty) may be taken: undefined when it may, else
   * why not, naming the rule or the setting (the RPC error's text). A host hbs knows (in the host table
   * as last read, or reported since) always may. A new one must have a name hostnameProblem finds
   * nothing wrong with, and fit under `maxHosts` (the table's hosts and the new ones not yet in it) and
   * `maxNewHostsPerHour`; once admitted it counts against both, before its row is written, so reports
   * arriving together cannot pass the limits. Each refusal is counted. Call `report` next.
   */
  admit(hostname: string): string | undefined {
    if (this.#seen.has(hostname)) return undefined
    const stored = this.#stored()
    if (stored.hasHost(hostname)) return undefined
    const problem = hostnameProblem(hostname)
    if (problem !== undefined) {
      this.#refused.badHostname++
      return `host name ${quoted(hostname)} refused (PG_HBS_BAD_HOSTNAME): ${problem}, as the api's host names`
    }
    if (stored !== this.#prunedAgainst) {
      for (const h of this.#unstored) if (stored.hasHost(h)) this.#unstored.delete(h)
      this.#prunedAgainst = stored
    }
    const known = stored.hostCount + this.#unstored.size
    if (this.#maxHosts > 0 && known >= this.#maxHosts) {
      this.#refused.maxHosts++
      return `host ${quoted(hostname)} not registered (PG_HBS_HOST_LIMIT): hbs knows ${known} hosts, its limit (hbs.maxHosts: ${this.#maxHosts}); hosts it knows keep reporting. Delete hosts no longer used, or raise hbs.maxHosts`
    }
    const perHour = this.#maxNewHostsPerHour
    if (perHour > 0) {
      const t = this.#now()
      const elapsed = Math.max(0, t - this.#refilledAt)
      this.#credit = Math.min(perHour * HOUR_MS, this.#credit + elapsed * perHour)
      this.#refilledAt = t
      if (this.#credit < HOUR_MS) {
        this.#refused.maxNewHostsPerHour++
        const wait = Math.ceil((HOUR_MS - this.#credit) / perHour / 1000)
        return `host ${quoted(hostname)} not registered (PG_HBS_HOST_LIMIT): more new hosts than hbs.maxNewHostsPerHour (${perHour}) within the hour; the next may register in ${wait} s (its agent reports again by itself), or raise hbs.maxNewHostsPerHour`
      }
      this.#credit -= HOUR_MS
    }
    this.#unstored.add(hostname)
    return undefined
  }

  /**
   * report records `r` (its host admitted by `admit`) and, when the host is new to hbs or its IP or
   * versions changed, writes its row. IP and versions longer than their columns are cut to fit. Resolves once written, or once kept for later when the store is down. Never rejects.
   */
  report(report: AgentReport): Promise<void> {
    const r: AgentReport = {
      Hostname: report.Hostname,
      IP: fit(report.IP, IP_MAX_CHARS),
      AgentVersion: fit(report.AgentVersion, AGENT_VERSION_MAX_CHARS),
      PluginVersion: fit(report.PluginVersion, PLUGIN_VERSION_MAX_CHARS),
    }
    const prev = this.#seen.get(r.Hostname)
    this.#seen.set(r.Hostname, {
      LastUpdate: Math.floor(this.#now() / 1000),
      ReportRequest: r,
    })
    if (
      prev !== undefined &&
      prev.ReportRequest.IP === r.IP &&
      prev.ReportRequest.AgentVersion === r.AgentVersion &&
      prev.ReportRequest.PluginVersion === r.PluginVersion
    ) {
      return Promise.resolve()
    }
    this.#pending.set(r.Hostname, r)
    return this.#write(r.Hostname)
  }

  /** flush retries the writes kept while the store was down. Never rejects. */
  async flush(): Promise<void> {
    const hostnames = [...this.#pending.keys()]
    let next = 0
    const worker = async () => {
      while (next < hostnames.length) await this.#write(hostnames[next++])
    }
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, hostnames.length) }, worker))
  }

  /** sweep forgets agents not heard from for STALE_MS; returns how many. */
  sweep(): number {
    const before = Math.floor((this.#now() - STALE_MS) / 1000)
    let n = 0
    for (const [hostname, info] of this.#seen) {
      if (info.LastUpdate < before) {
        this.#seen.delete(hostname)
        this.#unstored.delete(hostname)
        n++
      }
    }
    return n
  }

  /** hostnames lists the agents heard from, sorted. */
  hostnames(): string[] {
    return [...this.#seen.keys()].sort()
  }

  /** get is the last report of `hostname`. */
  get(hostname: string): AgentInfo | undefined {
    return this.#seen.get(hostname)
  }

  /**
   * counters: agents known, host writes waiting for the store, written and dropped since start, and
   * the reports of new hosts refused since start.
   */
  get counters(): {
    agents: number
    pendingWrites: number
    written: number
    dropped: number
    hostsRefused: HostsRefused
  } {
    return {
      agents: this.#seen.size,
      pendingWrites: this.#pending.size,
      written: this.#written,
      dropped: this.#failed,
      hostsRefused: { ...this.#refused },
    }
  }

  #write(hostname: string): Promise<void> {
    const prior = this.#writes.get(hostname)
    const p = (prior ?? Promise.resolve()).then(() => this.#writeOne(hostname))
    this.#writes.set(hostname, p)
    void p.then(() => {
      if (this.#writes.get(hostname) === p) this.#writes.delete(hostname)
    })
    return p
  }

  async #writeOne(hostname: string): Promise<void> {
    const r = this.#pending.get(hostname)
    if (r === undefined) return // an earlier write already took it
    try {
      await writeHost(this.#db, r, this.#updateOnly, this.#now())
    } catch (err) {
      if (isTransient(err)) {
        if (this.#down === undefined) {
          this.#down = { since: this.#now(), reason: (err as Error).message }
          this.#log.error(
            `hbs: host rows cannot be written (${(err as Error).message}); agents' changes are kept in memory and written when the store is back`
          )
        }
        return
      }
      if (this.#pending.get(hostname) === r) this.#pending.delete(hostname)
      this.#failed++
      this.#log.warn(
        `hbs: writing host ${JSON.stringify(hostname)} failed: ${(err as Error).message}; its report is dropped`
      )
      return
    }
    this.#written++
    if (this.#pending.get(hostname) === r) this.#pending.delete(hostname)
    if (this.#down !== undefined) {
      this.#log.info(
        `hbs: host rows written again after ${this.#now() - this.#down.since} ms; ${this.#pending.size} still to write`
      )
      this.#down = undefined
    }
  }
}

/** stamp formats `ms` as the store's timestamps: 'YYYY-MM-DD HH:MM:SS' in UTC. */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

// Failures that pass: the store is unreachable, locked, or out of space. Others (a value the store
// refuses) would fail again, so that report is dropped.
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string') return false
  return (
    code === 'PG_STORE_UNAVAILABLE' ||
    code === 'ER_LOCK_DEADLOCK' ||
    code === 'ER_LOCK_WAIT_TIMEOUT' ||
    /^SQLITE_(BUSY|LOCKED|FULL|IOERR)/.test(code)
  )
}

function isDuplicate(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown }
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'ER_DUP_ENTRY' || e.errno === 1062
}

/**
 * writeHost sets a host's ip, versions and update_at, inserting the row when it is missing (unless
 * `updateOnly`). Update first, insert when nothing matched, and update again when the insert meets the
 * unique key (another hbs or the API inserted it in between): every statement is atomic on its own, so
 * no transaction is held, and two writers cannot both insert.
 */
export async function writeHost(
  db: Kysely<PortalDatabase>,
  r: AgentReport,
  updateOnly: boolean,
  now: number
): Promise<void> {
  const values = {
    ip: r.IP,
    agent_version: r.AgentVersion,
    plugin_version: r.PluginVersion,
    update_at: stamp(now),
  }
  const update = () =>
    db.updateTable('host').set(values).where('hostname', '=', r.Hostname).executeTakeFirst()
  const updated = await update()
  if (updated.numUpdatedRows > 0n || updateOnly) return
  try {
    await db
      .insertInto('host')
      .values({ hostname: r.Hostname, ...values })
      .executeTakeFirst()
  } catch (err) {
    if (!isDuplicate(err)) throw err
    await update()
  }
}
