// The SQL nodata and aggregator need: their rules, the hosts of host groups with their maintenance
// windows, and a cheap fingerprint of all of it, so a reader rereads only when something changed.
import { type Kysely, sql } from 'kysely'
import type { PortalDatabase } from './schema.js'

type Db = Kysely<PortalDatabase>

/** GroupHost is a host of a host group, with its maintenance window (Unix seconds; 0 for none). */
export interface GroupHost {
  id: number
  hostname: string
  maintainBegin: number
  maintainEnd: number
}

/** inMaintenance: falcon's rule, `maintain_begin <= now <= maintain_end` (now in Unix seconds). */
export function inMaintenance(h: GroupHost, nowSeconds: number): boolean {
  return h.maintainBegin <= nowSeconds && nowSeconds <= h.maintainEnd && h.maintainEnd > 0
}

/**
 * groupHosts reads every host group's hosts, by group id and by group name (a name two groups share,
 * which falcon's unique key forbids, gets both groups' hosts).
 */
export async function groupHosts(
  db: Db
): Promise<{ byId: Map<number, GroupHost[]>; byName: Map<string, GroupHost[]> }> {
  const rows = await db
    .selectFrom('grp_host')
    .innerJoin('grp', 'grp.id', 'grp_host.grp_id')
    .innerJoin('host', 'host.id', 'grp_host.host_id')
    .select([
      'grp.id as grpId',
      'grp.grp_name as grpName',
      'host.id as hostId',
      'host.hostname as hostname',
      'host.maintain_begin as maintainBegin',
      'host.maintain_end as maintainEnd',
    ])
    .execute()
  const byId = new Map<number, GroupHost[]>()
  const byName = new Map<string, GroupHost[]>()
  const groups = await db.selectFrom('grp').select(['id', 'grp_name']).execute()
  // A group without hosts is still a group: a rule naming it is not a rule naming nothing.
  for (const g of groups) {
    byId.set(Number(g.id), [])
    byName.set(g.grp_name, [])
  }
  for (const r of rows) {
    const h: GroupHost = {
      id: Number(r.hostId),
      hostname: r.hostname,
      maintainBegin: Number(r.maintainBegin),
      maintainEnd: Number(r.maintainEnd),
    }
    byId.get(Number(r.grpId))?.push(h)
    byName.get(r.grpName)?.push(h)
  }
  return { byId, byName }
}

/** hostMaintenance reads the maintenance window of every host that has one, by hostname. */
export async function hostMaintenance(db: Db): Promise<Map<string, GroupHost>> {
  const rows = await db
    .selectFrom('host')
    .select(['id', 'hostname', 'maintain_begin', 'maintain_end'])
    .where('maintain_end', '>', 0)
    .execute()
  return new Map(
    rows.map((r) => [
      r.hostname,
      {
        id: Number(r.id),
        hostname: r.hostname,
        maintainBegin: Number(r.maintain_begin),
        maintainEnd: Number(r.maintain_end),
      },
    ])
  )
}

/**
 * rulesFingerprint sums up the rows nodata and aggregator read (their rule tables, groups, group
 * members and hosts' maintenance windows) in a few aggregate queries: equal fingerprints, nothing to
 * reread. Changing a row changes a count, a largest id or timestamp, or a sum.
 */
export async function rulesFingerprint(db: Db, table: 'mockcfg' | 'cluster'): Promise<string> {
  const stamp = table === 'mockcfg' ? sql`max(t_modify)` : sql`max(last_update)`
  const len =
    table === 'mockcfg'
      ? sql`sum(length(obj) + length(metric) + length(tags) + step + mock)`
      : sql`sum(grp_id + length(numerator) + length(denominator) + length(metric) + length(tags) + step)`
  const [rules, groups, members, hosts] = await Promise.all([
    sql<
      Record<string, unknown>
    >`select count(*) as n, max(id) as id, ${stamp} as t, ${len} as l from ${sql.table(table)}`.execute(
      db
    ),
    sql<
      Record<string, unknown>
    >`select count(*) as n, max(id) as id, sum(length(grp_name)) as l from grp`.execute(db),
    sql<
      Record<string, unknown>
    >`select count(*) as n, sum(grp_id * 7 + host_id * 13) as s from grp_host`.execute(db),
    sql<
      Record<string, unknown>
    >`select count(*) as n, sum(maintain_begin % 1000003 + maintain_end % 1000033) as s from host`.execute(
      db
    ),
  ])
  return JSON.stringify(
    [rules.rows[0], groups.rows[0], members.rows[0], hosts.rows[0]],
    (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Date ? v.getTime() : v)
  )
}

/** RuleRefresherOptions configure a RuleRefresher. */
export interface RuleRefresherOptions {
  /** name: who reads (`nodata`, `aggregator`), for the log. */
  name: string
  db: Db
  table: 'mockcfg' | 'cluster'
  /** interval: ms between two fingerprint checks. */
  interval: number
  /** full: ms after which the rules are reread even when the fingerprint is the same. */
  full: number
  now: () => number
  log: { info(m: string): void; warn(m: string): void; error(m: string): void }
  /** load rereads and applies the rules; resolves with the skipped rules' reasons. */
  load: () => Promise<readonly string[]>
}

/**
 * RuleRefresher rereads nodata's or aggregator's rules when the rows they come from changed (or
 * `full` ms passed), every `interval` ms; while the store does not answer, the rules read last stay
 * in force and the outage is logged once. Each skipped rule is logged once, not at every reread.
 */
export class RuleRefresher {
  readonly counters = { reloads: 0, reloadFailures: 0 }
  readonly #o: RuleRefresherOptions
  #fingerprint = ''
  #loadedAt = -Infinity
  #logged = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> = Promise.resolve()
  #failing = false
  #stopped = false

  constructor(options: RuleRefresherOptions) {
    this.#o = options
  }

  /** reload rereads now when forced or when something changed; throws when the store fails. */
  async reload(force: boolean): Promise<void> {
    const o = this.#o
    const fp = await rulesFingerprint(o.db, o.table)
    if (!force && fp === this.#fingerprint && o.now() - this.#loadedAt < o.full) return
    const skipped = await o.load()
    this.#fingerprint = fp
    this.#loadedAt = o.now()
    this.counters.reloads++
    for (const why of skipped) {
      if (this.#logged.has(why)) continue
      this.#logged.add(why)
      o.log.warn(`${o.name}: skipped ${why}`)
    }
    if (this.#logged.size > 10_000) this.#logged.clear()
  }

  /** start reads the rules once (a failure is logged, not thrown), then every `interval`. */
  async start(): Promise<void> {
    try {
      await this.reload(true)
    } catch (err) {
      this.counters.reloadFailures++
      this.#failing = true
      this.#o.log.error(
        `${this.#o.name}: cannot read the rules (${(err as Error).message}); none run until the store answers`
      )
    }
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running.catch(() => undefined)
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#running = this.reload(false)
        .then(() => {
          if (this.#failing) this.#o.log.info(`${this.#o.name}: the store answers again`)
          this.#failing = false
        })
        .catch((err: unknown) => {
          this.counters.reloadFailures++
          if (!this.#failing)
            this.#o.log.error(
              `${this.#o.name}: cannot reread the rules (${(err as Error).message}); keeping the ones read last`
            )
          this.#failing = true
        })
        .finally(() => this.#schedule())
    }, this.#o.interval)
  }
}
