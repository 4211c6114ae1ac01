// The agents hbs has heard from (falcon's cache.Agents), and the host rows their reports write: a row is
// written only when a host is new to hbs or its IP or versions changed, and kept until written.
import type { Kysely } from 'kysely'
import type { Logger } from '../core/index.js'
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

/** AgentsOptions: the store to write to, falcon's `hosts` mode, the clock and the log. */
export interface AgentsOptions {
  db: Kysely<PortalDatabase>
  /** updateOnly: only update hosts that exist, never insert (falcon `hosts` non-empty). */
  updateOnly: boolean
  now: () => number
  log: Logger
}

/** STALE_MS: an agent not heard from for this long is forgotten (falcon: a day). */
export const STALE_MS = 24 * 3600 * 1000

// How many host rows are written at once when catching up after an outage.
const FLUSH_CONCURRENCY = 8

/** HOSTNAME_MAX_CHARS: the width of `host.hostname`; a longer hostname cannot be registered. */
export const HOSTNAME_MAX_CHARS = 255

// The widths of the other columns a report writes. A longer value is cut to fit, as MySQL does
// outside strict mode: in strict mode (MariaDB's default) it would fail the write, and the host
// would never be registered, while SQLite would store it whole.
const IP_MAX_CHARS = 64
const AGENT_VERSION_MAX_CHARS = 16
const PLUGIN_VERSION_MAX_CHARS = 128

// unitsAt is how many UTF-16 units the character at `i` takes (2 for a surrogate pair).
function unitsAt(s: string, i: number): number {
  return (s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1
}

/**
 * tooLong tells whether `s` has more than `max` characters as a varchar column counts them (code
 * points, not UTF-16 units).
 */
export function tooLong(s: string, max: number): boolean {
  if (s.length <= max) return false
  if (s.length > 2 * max) return true
  let n = 0
  for (let i = 0; i < s.length; i += unitsAt(s, i)) n++
  return n > max
}

// fit cuts `s` to its first `max` characters, never inside a surrogate pair.
function fit(s: string, max: number): string {
  if (s.length <= max) return s
  let i = 0
  for (let n = 0; n < max && i < s.length; n++) i += unitsAt(s, i)
  return s.slice(0, i)
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

  constructor(options: AgentsOptions) {
    this.#db = options.db
    this.#updateOnly = options.updateOnly
    this.#now = options.now
    this.#log = options.log
  }

  /**
   * report records `r` (Hostname not empty, at most HOSTNAME_MAX_CHARS) and, when the host is new to
   * hbs or its IP or versions changed, writes its row. IP and versions longer than their columns are
   * cut to fit. Resolves once written, or once kept for later when the store is down. Never rejects.
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

  /** counters: agents known, host writes waiting for the store, written and dropped since start. */
  get counters(): { agents: number; pendingWrites: number; written: number; dropped: number } {
    return {
      agents: this.#seen.size,
      pendingWrites: this.#pending.size,
      written: this.#written,
      dropped: this.#failed,
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
