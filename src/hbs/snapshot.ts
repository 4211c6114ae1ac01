// The snapshot hbs answers from: every portal table it needs read in one transaction, computed once
// into per-host answers, with the large Hbs.GetStrategies reply serialised ahead of the calls.
import { performance } from 'node:perf_hooks'
import type { Kysely } from 'kysely'
import { type Logger, RawJson } from '../core/index.js'
import type { PortalDatabase } from '../store/index.js'
import {
  BUILTIN_METRIC_NAMES,
  type BuiltinMetric,
  type BuiltinMetrics,
  builtinMetrics,
  clockOf,
  type Expression,
  type ExpressionRow,
  type Inherited,
  inherit,
  MAX_TEMPLATE_DEPTH,
  pluginsOf,
  type Report,
  runsAt,
  type Strategy,
  strategyKey,
  type StrategyRow,
  type Template,
  type TemplateRow,
  templateChain,
  toExpressions,
  toStrategies,
  toTemplates,
} from './strategies.js'

/** Tables holds the rows a snapshot is computed from, each table read with one query. */
export interface Tables {
  hosts: { id: number; hostname: string; maintain_begin: number; maintain_end: number }[]
  grpHost: { grp_id: number; host_id: number }[]
  grpTpl: { grp_id: number; tpl_id: number }[]
  templates: TemplateRow[]
  strategies: StrategyRow[]
  expressions: ExpressionRow[]
  pluginDirs: { grp_id: number; dir: string }[]
}

/**
 * loadTables reads every table hbs needs in one read transaction, so the snapshot is consistent (a
 * template and its strategies are seen together). Throws what the store throws (PG_STORE_UNAVAILABLE
 * while it cannot be reached).
 */
export function loadTables(db: Kysely<PortalDatabase>): Promise<Tables> {
  return db.transaction().execute(async (trx) => ({
    hosts: await trx
      .selectFrom('host')
      .select(['id', 'hostname', 'maintain_begin', 'maintain_end'])
      .orderBy('id')
      .execute(),
    grpHost: await trx.selectFrom('grp_host').select(['grp_id', 'host_id']).execute(),
    grpTpl: await trx
      .selectFrom('grp_tpl')
      .select(['grp_id', 'tpl_id'])
      .orderBy('grp_id')
      .orderBy('tpl_id')
      .execute(),
    templates: await trx
      .selectFrom('tpl')
      .select(['id', 'tpl_name', 'parent_id', 'action_id', 'create_user'])
      .orderBy('id')
      .execute(),
    strategies: await trx
      .selectFrom('strategy')
      .select([
        'id',
        'metric',
        'tags',
        'func',
        'op',
        'right_value',
        'max_step',
        'priority',
        'note',
        'run_begin',
        'run_end',
        'tpl_id',
        'for_duration',
      ])
      .orderBy('id')
      .execute(),
    expressions: await trx
      .selectFrom('expression')
      .select([
        'id',
        'expression',
        'func',
        'op',
        'right_value',
        'max_step',
        'priority',
        'note',
        'action_id',
        'for_duration',
      ])
      .where('action_id', '>', 0)
      .where('pause', '=', 0)
      .orderBy('id')
      .execute(),
    pluginDirs: await trx
      .selectFrom('plugin_dir')
      .select(['grp_id', 'dir'])
      .orderBy('id')
      .execute(),
  }))
}

/** HostStrategy is falcon's model.HostStrategy. */
export interface HostStrategy {
  readonly hostname: string
  readonly strategies: readonly Strategy[]
}

/** MonitoredHost is falcon's model.Host (no json tags) of a host not in maintenance. */
export interface MonitoredHost {
  readonly Id: number
  readonly Name: string
}

// What a host gets, shared by every host with the same set of groups.
interface GroupSetAnswers {
  readonly plugins: readonly string[]
  readonly builtin: BuiltinMetrics
  readonly strategies: StrategySet | undefined
}

// The strategies of one set of templates: what inherit() gave, and their JSON followed by the `}`
// closing a HostStrategy. The objects for in-process callers are made only when asked for.
interface StrategySet {
  readonly pairs: readonly Inherited[]
  readonly tail: Buffer
  list?: readonly Strategy[]
}

const NO_ANSWERS: GroupSetAnswers = {
  plugins: Object.freeze([]),
  builtin: Object.freeze({ metrics: Object.freeze([]), checksum: '' }),
  strategies: undefined,
}

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']}')

function rowsEqual(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Record<string, unknown>
    const y = b[i] as Record<string, unknown>
    for (const k in x) if (x[k] !== y[k]) return false
  }
  return true
}

function idsEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

/**
 * Derivation is everything computed from the templates, their bindings to groups and the strategies
 * active at one minute: per set of templates, the inherited strategies serialised, and the builtin
 * metrics. The next refresh reuses it when those rows and the active strategies are unchanged, so a
 * refresh that finds nothing new reserialises nothing.
 */
class Derivation {
  readonly templates: Map<number, Template>
  readonly strategies: Map<number, Strategy>
  /** problems found in these rows, reported again by every snapshot that reuses them. */
  readonly problems: readonly string[]
  readonly #rows: Pick<Tables, 'templates' | 'grpTpl' | 'strategies'>
  readonly #active: readonly number[]
  readonly #byTemplate = new Map<number, Strategy[]>()
  readonly #builtinByTemplate = new Map<number, BuiltinMetric[]>()
  readonly #templatesOfGroup = new Map<number, number[]>()
  readonly #sets = new Map<string, StrategySet | undefined>()
  readonly #builtins = new Map<string, BuiltinMetrics>()
  // JSON of a strategy up to its `"tpl":` (falcon's key order), and of a template followed by the
  // strategy's closing `}`: for a strategy with Peregrine's `for`, `,"for":N}` closes it instead, so
  // those tails are kept by template id and N.
  readonly #head = new Map<Strategy, Buffer>()
  readonly #tplTail = new Map<Template, Buffer>()
  readonly #forTail = new Map<string, Buffer>()
  readonly #retagged = new Map<string, Strategy>()
  readonly #keys = new Map<Strategy, string>()
  readonly #keyOf = (s: Strategy): string => {
    let key = this.#keys.get(s)
    if (key === undefined) {
      key = strategyKey(s)
      this.#keys.set(s, key)
    }
    return key
  }

  private constructor(tables: Tables, active: readonly number[], hhmm: string) {
    this.#rows = {
      templates: tables.templates,
      grpTpl: tables.grpTpl,
      strategies: tables.strategies,
    }
    this.#active = active
    const problems: string[] = []
    this.templates = toTemplates(tables.templates, (p) => problems.push(p))
    for (const t of this.templates.values()) Object.freeze(t)
    this.strategies = toStrategies(tables.strategies, this.templates, hhmm, (p) => problems.push(p))
    for (const s of this.strategies.values()) {
      Object.freeze(s.tags)
      Object.freeze(s)
      push(this.#byTemplate, s.tpl.id, s)
    }
    // Builtin metrics come from every strategy row, whatever its run window (falcon queries them apart).
    for (const r of tables.strategies) {
      if (BUILTIN_METRIC_NAMES.has(r.metric)) {
        push(this.#builtinByTemplate, r.tpl_id, Object.freeze({ Metric: r.metric, Tags: r.tags }))
      }
    }
    const bound = new Set<number>()
    for (const r of tables.grpTpl) {
      push(this.#templatesOfGroup, r.grp_id, r.tpl_id)
      bound.add(r.tpl_id)
    }
    for (const tid of bound) {
      if (this.templates.has(tid) && templateChain(this.templates, tid).length === 0) {
        problems.push(
          `template ${tid}: its parents form a cycle or a chain of ${MAX_TEMPLATE_DEPTH} or more; hosts bound to it get none of its strategies`
        )
      }
    }
    this.problems = problems
  }

  /** derive returns `previous` when `tables` give the same result at `hhmm`, else a new one. */
  static derive(tables: Tables, hhmm: string, previous: Derivation | undefined): Derivation {
    const active: number[] = []
    for (const r of tables.strategies) if (runsAt(r.run_begin, r.run_end, hhmm)) active.push(r.id)
    if (
      previous !== undefined &&
      idsEqual(previous.#active, active) &&
      rowsEqual(previous.#rows.templates, tables.templates) &&
      rowsEqual(previous.#rows.grpTpl, tables.grpTpl) &&
      rowsEqual(previous.#rows.strategies, tables.strategies)
    ) {
      return previous
    }
    return new Derivation(tables, active, hhmm)
  }

  /** templatesOf: the templates bound to groups `gids`, unique, ascending. */
  templatesOf(gids: readonly number[]): number[] {
    const tids = new Set<number>()
    for (const g of gids) for (const t of this.#templatesOfGroup.get(g) ?? []) tids.add(t)
    return [...tids].sort((x, y) => x - y)
  }

  strategySet(tids: readonly number[], key: string): StrategySet | undefined {
    if (this.#sets.has(key)) return this.#sets.get(key)
    const pairs = inherit(this.templates, tids, this.#byTemplate, this.#keyOf)
    let set: StrategySet | undefined
    if (pairs.length > 0) {
      // Copied once from the cached pieces into one buffer: no intermediate string per set.
      const pieces: Buffer[] = [OPEN]
      for (let i = 0; i < pairs.length; i++) {
        if (i > 0) pieces.push(COMMA)
        const { strategy, tpl } = pairs[i]
        pieces.push(this.#headOf(strategy), this.#tailOf(tpl, strategy.for))
      }
      pieces.push(CLOSE)
      set = { pairs, tail: Buffer.concat(pieces) }
    }
    this.#sets.set(key, set)
    return set
  }

  builtin(tids: readonly number[], key: string): BuiltinMetrics {
    let b = this.#builtins.get(key)
    if (b === undefined) {
      const m = builtinMetrics(this.templates, tids, this.#builtinByTemplate)
      b = Object.freeze({ metrics: Object.freeze(m.metrics), checksum: m.checksum })
      this.#builtins.set(key, b)
    }
    return b
  }

  /** listOf gives a set's strategies as objects, each (strategy, template) pair made once. */
  listOf(set: StrategySet): readonly Strategy[] {
    set.list ??= Object.freeze(
      set.pairs.map(({ strategy, tpl }) => {
        if (strategy.tpl === tpl) return strategy
        const key = `${strategy.id}/${tpl.id}`
        let r = this.#retagged.get(key)
        if (r === undefined) {
          r = Object.freeze({ ...strategy, tpl })
          this.#retagged.set(key, r)
        }
        return r
      })
    )
    return set.list
  }

  /** prune forgets the sets no host used in the last snapshot (keys not in `used`). */
  prune(used: ReadonlySet<string>): void {
    for (const key of this.#sets.keys()) if (!used.has(key)) this.#sets.delete(key)
    for (const key of this.#builtins.keys()) if (!used.has(key)) this.#builtins.delete(key)
  }

  /** setCount: template sets with at least one strategy. */
  get setCount(): number {
    let n = 0
    for (const s of this.#sets.values()) if (s !== undefined) n++
    return n
  }

  #headOf(s: Strategy): Buffer {
    let h = this.#head.get(s)
    if (h === undefined) {
      h = Buffer.from(
        `{"id":${s.id},"metric":${JSON.stringify(s.metric)},"tags":${JSON.stringify(s.tags)},` +
          `"func":${JSON.stringify(s.func)},"operator":${JSON.stringify(s.operator)},` +
          `"rightValue":${JSON.stringify(s.rightValue)},"maxStep":${s.maxStep},` +
          `"priority":${s.priority},"note":${JSON.stringify(s.note)},"tpl":`
      )
      this.#head.set(s, h)
    }
    return h
  }

  /** #tailOf: the template `t` sent as a strategy's `tpl`, then its `for` when it has one, and `}`. */
  #tailOf(t: Template, forSeconds: number | undefined): Buffer {
    if (forSeconds === undefined) {
      let tail = this.#tplTail.get(t)
      if (tail === undefined) {
        tail = Buffer.from(`${JSON.stringify(t)}}`)
        this.#tplTail.set(t, tail)
      }
      return tail
    }
    const key = `${t.id}/${forSeconds}`
    let tail = this.#forTail.get(key)
    if (tail === undefined) {
      tail = Buffer.from(`${JSON.stringify(t)},"for":${JSON.stringify(forSeconds)}}`)
      this.#forTail.set(key, tail)
    }
    return tail
  }
}

/**
 * Snapshot is one immutable view of the portal tables, computed for the RPC and HTTP answers. Hosts
 * bound to the same groups share their answers, and hosts bound to the same templates share one
 * serialised strategies array: the Hbs.GetStrategies reply is a list of buffers referencing them, so
 * it costs no serialisation per call and little memory, whatever its size on the wire.
 */
export class Snapshot {
  /** builtAt: the clock (deps.now) the snapshot was computed at, ms; 0 for the empty snapshot. */
  readonly builtAt: number
  /** buildMs: time taken to compute it from the rows (not counting the reads). */
  readonly buildMs: number
  readonly templates: ReadonlyMap<number, Template>
  /** strategies: every strategy active at builtAt, with its own template as `tpl`, by id. */
  readonly strategies: ReadonlyMap<number, Strategy>
  /** expressions: null when there are none (falcon sends `null` then, not `[]`). */
  readonly expressions: readonly Expression[] | null
  /** monitored: the hosts not in maintenance, by id. */
  readonly monitored: ReadonlyMap<number, MonitoredHost>
  /** strategiesReply: the whole `{"hostStrategies":[...]}` of Hbs.GetStrategies. */
  readonly strategiesReply: RawJson
  /** replyBytes: the size of strategiesReply. */
  readonly replyBytes: number
  /** hostCount: hosts in the host table; strategySets: distinct template sets serialised. */
  readonly hostCount: number
  readonly strategySets: number
  /** reused: true when the strategies were taken over from the previous snapshot (nothing changed). */
  readonly reused: boolean
  readonly #derivation: Derivation
  readonly #answers: ReadonlyMap<string, GroupSetAnswers>
  readonly #hosts: readonly { hostname: string; set: StrategySet }[]
  #value: { hostStrategies: readonly HostStrategy[] } | undefined = undefined

  private constructor(
    builtAt: number,
    buildMs: number,
    derivation: Derivation,
    reused: boolean,
    expressions: readonly Expression[] | null,
    monitored: ReadonlyMap<number, MonitoredHost>,
    reply: { parts: Buffer[]; bytes: number; hosts: { hostname: string; set: StrategySet }[] },
    answers: ReadonlyMap<string, GroupSetAnswers>,
    hostCount: number
  ) {
    this.builtAt = builtAt
    this.buildMs = buildMs
    this.#derivation = derivation
    this.reused = reused
    this.templates = derivation.templates
    this.strategies = derivation.strategies
    this.expressions = expressions
    this.monitored = monitored
    this.strategiesReply = new RawJson(reply.parts)
    this.replyBytes = reply.bytes
    this.strategySets = derivation.setCount
    this.#hosts = reply.hosts
    this.#answers = answers
    this.hostCount = hostCount
  }

  /** empty is the snapshot served before the store could be read once. */
  static empty(): Snapshot {
    return Snapshot.build(
      {
        hosts: [],
        grpHost: [],
        grpTpl: [],
        templates: [],
        strategies: [],
        expressions: [],
        pluginDirs: [],
      },
      0,
      () => undefined
    )
  }

  /**
   * build computes a snapshot from `tables` at clock `now` (ms): the run windows are those of its
   * local `HH:MM`, maintenance is judged at its second. Problems in the data go to `report`. With
   * `previous`, its strategy sets are reused when templates, bindings and active strategies are
   * unchanged (`previous` stays valid: nothing it answers from is changed).
   */
  static build(tables: Tables, now: number, report: Report, previous?: Snapshot): Snapshot {
    const started = performance.now()
    const before = previous === undefined ? undefined : previous.#derivation
    const d = Derivation.derive(tables, clockOf(now), before)
    for (const p of d.problems) report(p)
    const dirsOfGroup = new Map<number, string[]>()
    for (const r of tables.pluginDirs) push(dirsOfGroup, r.grp_id, r.dir)
    const groupsOfHost = new Map<number, number[]>()
    for (const r of tables.grpHost) push(groupsOfHost, r.host_id, r.grp_id)

    const used = new Set<string>()
    const answers = new Map<string, GroupSetAnswers>()
    const answersFor = (gids: number[]): GroupSetAnswers => {
      const gkey = gids.join(',')
      let a = answers.get(gkey)
      if (a !== undefined) return a
      const tids = d.templatesOf(gids)
      const tkey = tids.join(',')
      used.add(tkey)
      a = {
        plugins: Object.freeze(pluginsOf(gids, dirsOfGroup)),
        builtin: d.builtin(tids, tkey),
        strategies: d.strategySet(tids, tkey),
      }
      answers.set(gkey, a)
      return a
    }

    const nowSec = Math.floor(now / 1000)
    const monitored = new Map<number, MonitoredHost>()
    const byName = new Map<string, GroupSetAnswers>()
    const hosts: { hostname: string; set: StrategySet }[] = []
    const parts: Buffer[] = [Buffer.from('{"hostStrategies":[')]
    let bytes = parts[0].length
    for (const h of tables.hosts) {
      const gids = groupsOfHost.get(h.id)
      const a =
        gids === undefined ? NO_ANSWERS : answersFor([...new Set(gids)].sort((x, y) => x - y))
      byName.set(h.hostname, a)
      // falcon's condition for a host out of maintenance: maintain_begin > now or maintain_end < now.
      if (!(h.maintain_begin > nowSec || h.maintain_end < nowSec)) continue
      monitored.set(h.id, Object.freeze({ Id: h.id, Name: h.hostname }))
      if (a.strategies === undefined) continue
      const head = Buffer.from(
        `${hosts.length > 0 ? ',' : ''}{"hostname":${JSON.stringify(h.hostname)},"strategies":`
      )
      parts.push(head, a.strategies.tail)
      bytes += head.length + a.strategies.tail.length
      hosts.push({ hostname: h.hostname, set: a.strategies })
    }
    parts.push(Buffer.from(']}'))
    bytes += 2
    d.prune(used)
    const expressions = toExpressions(tables.expressions, report)
    for (const e of expressions) {
      Object.freeze(e.tags)
      Object.freeze(e)
    }
    return new Snapshot(
      now,
      performance.now() - started,
      d,
      d === before,
      expressions.length === 0 ? null : Object.freeze(expressions),
      monitored,
      { parts, bytes, hosts },
      byName,
      tables.hosts.length
    )
  }

  /** hasHost tells whether the host table held `hostname`. */
  hasHost(hostname: string): boolean {
    return this.#answers.has(hostname)
  }

  /** plugins is falcon's GetPlugins: the host's plugin dirs; [] for a host not in the store. */
  plugins(hostname: string): readonly string[] {
    return (this.#answers.get(hostname) ?? NO_ANSWERS).plugins
  }

  /** builtinMetrics is the host's builtin metrics and checksum; none for a host not in the store. */
  builtinMetrics(hostname: string): BuiltinMetrics {
    return (this.#answers.get(hostname) ?? NO_ANSWERS).builtin
  }

  /** hostStrategiesValue is the Hbs.GetStrategies reply as (frozen) objects, for in-process callers. */
  hostStrategiesValue(): { hostStrategies: readonly HostStrategy[] } {
    this.#value ??= Object.freeze({
      hostStrategies: Object.freeze(
        this.#hosts.map((h) =>
          Object.freeze({ hostname: h.hostname, strategies: this.#derivation.listOf(h.set) })
        )
      ),
    })
    return this.#value
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k)
  if (list === undefined) m.set(k, [v])
  else list.push(v)
}

/** SnapshotSourceOptions: how often problems are logged, and where. */
export interface SnapshotSourceOptions {
  log: Logger
  now: () => number
}

// At most this many new data problems are logged per refresh; the rest are counted in one line.
const MAX_PROBLEM_LINES = 10

/**
 * SnapshotSource keeps the current snapshot and refreshes it from the store. While the store cannot be
 * read the previous snapshot stays current: one line is logged when refreshing starts to fail, one
 * when it works again. A data problem (a bad expression, a template cycle) is logged when it first
 * appears, not at every refresh.
 */
export class SnapshotSource {
  readonly #db: Kysely<PortalDatabase>
  readonly #log: Logger
  readonly #now: () => number
  #current: Snapshot = Snapshot.empty()
  #failing: { since: number; reason: string } | undefined = undefined
  #problems = new Set<string>()
  #chain: Promise<unknown> = Promise.resolve()
  // The refresh asked for that has not started yet, if any.
  #queued: Promise<boolean> | undefined = undefined
  #refreshes = 0
  #failures = 0

  constructor(db: Kysely<PortalDatabase>, options: SnapshotSourceOptions) {
    this.#db = db
    this.#log = options.log
    this.#now = options.now
  }

  /** current is the snapshot to answer from; it is replaced, never changed. */
  get current(): Snapshot {
    return this.#current
  }

  /** failing is why the last refresh failed, or undefined when it worked. */
  get failing(): string | undefined {
    return this.#failing?.reason
  }

  /** counters: refreshes done and failed since start. */
  get counters(): { refreshes: number; failures: number } {
    return { refreshes: this.#refreshes, failures: this.#failures }
  }

  /**
   * refresh reads the store and replaces the snapshot; resolves true when it did, false when the
   * store could not be read (the previous snapshot stays). Refreshes run one at a time, so one asked
   * for after a change in the store reads that change; callers that ask while one is waiting to start
   * share it (a burst of /config/reload queues one reread, not one per request). Never rejects.
   */
  refresh(): Promise<boolean> {
    if (this.#queued !== undefined) return this.#queued
    const next = this.#chain.then(() => {
      this.#queued = undefined
      return this.#run()
    })
    this.#queued = next
    this.#chain = next
    return next
  }

  async #run(): Promise<boolean> {
    this.#refreshes++
    let tables: Tables
    try {
      tables = await loadTables(this.#db)
    } catch (err) {
      this.#failed(`cannot read the store: ${(err as Error).message}`)
      return false
    }
    const problems = new Set<string>()
    let snapshot: Snapshot
    try {
      snapshot = Snapshot.build(tables, this.#now(), (p) => problems.add(p), this.#current)
    } catch (err) {
      this.#failed(`cannot compute the snapshot: ${(err as Error).stack ?? String(err)}`)
      return false
    }
    let logged = 0
    for (const p of problems) {
      if (this.#problems.has(p)) continue
      if (logged++ < MAX_PROBLEM_LINES) this.#log.warn(`hbs: ${p}`)
    }
    if (logged > MAX_PROBLEM_LINES)
      this.#log.warn(`hbs: and ${logged - MAX_PROBLEM_LINES} more problems in the portal tables`)
    this.#problems = problems
    this.#current = snapshot
    if (this.#failing !== undefined) {
      this.#log.info(
        `hbs: the store is readable again after ${this.#now() - this.#failing.since} ms; answering from a fresh snapshot (${snapshot.hostCount} hosts)`
      )
      this.#failing = undefined
    }
    return true
  }

  #failed(reason: string): void {
    this.#failures++
    if (this.#failing !== undefined) return
    this.#failing = { since: this.#now(), reason }
    const c = this.#current
    const of =
      c.builtAt === 0
        ? 'nothing (no snapshot yet: no strategies, no plugins)'
        : `the snapshot of ${new Date(c.builtAt).toISOString()} (${c.hostCount} hosts)`
    this.#log.error(`hbs: ${reason}; answering from ${of} until it works again`)
  }
}
