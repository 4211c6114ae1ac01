// Routes valid points to their graph nodes and judge nodes: falcon's normalisation, the hash rings,
// per-address batching, bounded buffers and retry.
import {
  type Deps,
  HashRing,
  JsonRpcClient,
  type JudgeItem,
  type Logger,
  type RpcCaller,
  type MetricValue,
  parseTags,
  seriesKeyOf,
  formatTags,
  type PromSeriesItem,
  type GraphColumns,
  type GraphSeries,
  type PointColumns,
  pointAt,
  type PushSeries,
} from '../core/index.js'
import type { TransferConfig } from './config.js'

/** GraphItem is the shape graph's Graph.Send takes (common/model/graph.go). */
interface GraphItem {
  endpoint: string
  metric: string
  tags: Record<string, string>
  value: number
  timestamp: number
  dstype: string
  step: number
  heartbeat: number
  min: string
  max: string
}

/**
 * SenderCounters are shown on /counter/all, once for graph and once for judge (its keys prefixed
 * `judge`): nothing is dropped without being counted here.
 */
export interface SenderCounters {
  sent: number
  sendCalls: number
  sendFailures: number
  retried: number
  buffered: number
  dropped: number
}

const newCounters = (): SenderCounters => ({
  sent: 0,
  sendCalls: 0,
  sendFailures: 0,
  retried: 0,
  buffered: 0,
  dropped: 0,
})

/** Refused is an item the receiver would not keep: its index in its batch, a code and why. */
export interface Refused {
  index: number
  code: string
  message: string
}

interface Batch<T> {
  items: T[]
  /** size: what the batch weighs against `batch` and `maxBuffered`: points (items.length), or samples. */
  size?: number
  /** done gets the outcome of the first attempt, and on success the items the receiver refused. */
  done: (err: Error | null, refused?: readonly Refused[]) => void
}

/** SenderLimits bound one address's sender: items per call, items held, ms per call. */
interface SenderLimits {
  batch: number
  maxBuffered: number
  callTimeout: number
}

/**
 * AddressSender owns one graph or judge address and calls `method` (`Graph.Send`, `Judge.Send`) there:
 * batches queued by concurrent pushes go out together in one call of up to `batch` items, a few calls in
 * flight. A failed call keeps its batches at the front and retries with backoff; past `maxBuffered` items
 * the oldest batches are dropped and counted. Each batch's `done` is called once, with the outcome of its
 * first attempt (or the drop).
 */
class AddressSender<T> {
  readonly address: string
  readonly #method: string
  /** What the address is in log lines and errors: `graph 10.0.0.1:6070`. */
  readonly #name: string
  readonly #client: RpcCaller
  // A queue with a moving head: shift() on a long array is linear, and after an outage it holds one
  // batch per push that arrived meanwhile.
  #queue: (Batch<T> | undefined)[] = []
  #head = 0
  #queued = 0
  #inFlight = 0
  #retryAt = 0
  #backoff = 0
  #scheduled = false
  readonly #batch: number
  readonly #maxBuffered: number
  readonly #counters: SenderCounters
  readonly #log: Logger
  #closed = false
  #dropped = 0
  /** bySize: refusals index the points of a call (its batches' sizes), not its items (GraphColumns). */
  readonly #bySize: boolean

  constructor(
    address: string,
    method: 'Graph.Send' | 'Graph.SendColumns' | 'Graph.Write' | 'Judge.Send',
    limits: SenderLimits,
    counters: SenderCounters,
    deps: Deps
  ) {
    this.address = address
    this.#method = method
    this.#name = `${method === 'Judge.Send' ? 'judge' : 'graph'} ${address}`
    this.#client = dialOf(deps)(address, { callTimeout: limits.callTimeout })
    this.#bySize = method === 'Graph.SendColumns'
    this.#batch = limits.batch
    this.#maxBuffered = limits.maxBuffered
    this.#counters = counters
    this.#log = deps.log
  }

  get buffered(): number {
    return this.#queued
  }

  /** columns: the address is a graph in this process that takes Graph.SendColumns. */
  get columns(): boolean {
    return this.#client.columns === true
  }

  /** dropped: items this address's buffer dropped, full while it was down (never delivered here). */
  get dropped(): number {
    return this.#dropped
  }

  /** down: the last call failed and the sender is waiting to retry. */
  get down(): boolean {
    return this.#backoff > 0
  }

  /** full: the buffer holds more than half of `maxBuffered`: the address is not keeping up. */
  get full(): boolean {
    return this.#queued * 2 > this.#maxBuffered
  }

  get #length(): number {
    return this.#queue.length - this.#head
  }

  #shift(): Batch<T> {
    const b = this.#queue[this.#head] as Batch<T>
    // Drop the reference at once: a consumed batch holds a push's worth of items.
    this.#queue[this.#head++] = undefined
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    return b
  }

  enqueue(batch: Batch<T>): void {
    this.#queue.push(batch)
    batch.size ??= batch.items.length
    this.#queued += batch.size
    this.#counters.buffered += batch.size
    while (this.#queued > this.#maxBuffered && this.#length > 1) {
      const old = this.#shift()
      const size = old.size as number
      this.#queued -= size
      this.#counters.buffered -= size
      this.#counters.dropped += size
      this.#dropped += size
      old.done(new Error(`${this.#name} is down and its buffer is full; points dropped`))
    }
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    const wait = Math.max(0, this.#retryAt - Date.now())
    // setImmediate gathers the pushes of this turn of the event loop into one call.
    const run = () => {
      this.#scheduled = false
      this.#pump()
    }
    if (wait > 0) setTimeout(run, wait).unref()
    else setImmediate(run)
  }

  #pump(): void {
    while (!this.#closed && this.#length > 0 && this.#inFlight < 4 && Date.now() >= this.#retryAt) {
      const take: Batch<T>[] = []
      let n = 0
      while (
        this.#length > 0 &&
        (n === 0 || n + ((this.#queue[this.#head] as Batch<T>).size as number) <= this.#batch)
      ) {
        const b = this.#shift()
        take.push(b)
        n += b.size as number
      }
      this.#queued -= n
      this.#inFlight++
      const items = take.length === 1 ? take[0].items : take.flatMap((b) => b.items)
      this.#counters.sendCalls++
      this.#client.call<{ refused?: unknown } | null>(this.#method, items).then(
        (reply) => {
          this.#inFlight--
          this.#counters.sent += n
          this.#counters.buffered -= n
          this.#backoff = 0
          const refused = refusedOf(reply)
          if (refused.length === 0) for (const b of take) b.done(null)
          else {
            // Indices are the call's: hand each batch its own.
            let at = 0
            let r = 0
            for (const b of take) {
              const mine: Refused[] = []
              const length = this.#bySize ? (b.size as number) : b.items.length
              for (; r < refused.length && refused[r].index < at + length; r++) {
                mine.push({ ...refused[r], index: refused[r].index - at })
              }
              b.done(null, mine)
              at += length
            }
          }
          this.#schedule()
        },
        (err: Error) => {
          this.#inFlight--
          this.#counters.sendFailures++
          this.#counters.retried += n
          // Keep the points, at the front, and tell the pushers; retry after a growing pause.
          if (this.#head >= take.length) {
            this.#head -= take.length
            for (let k = 0; k < take.length; k++) this.#queue[this.#head + k] = take[k]
          } else {
            this.#queue = [...take, ...this.#queue.slice(this.#head)]
            this.#head = 0
          }
          this.#queued += n
          this.#backoff = Math.min(Math.max(this.#backoff * 2, 200), 10_000)
          this.#retryAt = Date.now() + this.#backoff
          if (this.#backoff === 200) {
            this.#log.warn(`transfer: ${this.#name}: ${err.message}; retrying`)
          }
          for (const b of take) b.done(err)
          for (const b of take) b.done = noop
          this.#schedule()
        }
      )
    }
    if (this.#length > 0 && this.#inFlight < 4) this.#schedule()
  }

  close(): void {
    this.#closed = true
    this.#client.close()
  }
}

function noop(): void {}

/** MAX_PLACEMENTS bounds the series whose placement transfer remembers (cleared past it). */
export const MAX_PLACEMENTS = 200_000

// The refusals in a Graph.Send answer (`{"code":0,"refused":[…]}`), sorted by index; none when absent
// (falcon's graph answers `{"code":0}`) or not understood.
function refusedOf(reply: { refused?: unknown } | null): Refused[] {
  const list = reply?.refused
  if (!Array.isArray(list)) return []
  const out: Refused[] = []
  for (const x of list as Partial<Refused>[]) {
    if (typeof x?.index !== 'number') continue
    out.push({
      index: x.index,
      code: typeof x.code === 'string' ? x.code : 'PG_GRAPH_REFUSED',
      message: typeof x.message === 'string' ? x.message : 'refused by graph',
    })
  }
  return out.sort((a, b) => a.index - b.index)
}

function dialOf(deps: Deps): NonNullable<Deps['dial']> {
  return deps.dial ?? ((address, options) => new JsonRpcClient(address, options))
}

/**
 * ReplicaSet is the graph nodes that hold a series: `replication` distinct nodes of the ring, the owner
 * first (`HashRing.getN`). One object per distinct set, shared by every series placed on it; `name` is
 * the nodes joined by `,` (`graph-00,graph-02`), or the one node's name when the factor is 1.
 */
export interface ReplicaSet {
  readonly name: string
  readonly nodes: readonly string[]
}

/**
 * Placement is where a series goes: its parsed tags, its graph nodes, its judge (null: none).
 * `rawTags` is the tags string as pushed, which the placement was found by.
 */
interface Placement {
  rawTags: string
  tags: Record<string, string>
  set: ReplicaSet
  judge: AddressSender<JudgeItem> | null
}

/**
 * SeriesRoute is where a pushed series (PushSeries) goes, kept on it: the GraphSeries its points go to
 * graph as, its replica set, its judge, and whether every node of the set takes columns. One object
 * a series: transfer keeps it for every series pushed through a parse worker.
 */
interface SeriesRoute extends GraphSeries {
  readonly set: ReplicaSet
  readonly judge: AddressSender<JudgeItem> | null
  readonly columns: boolean
}

/** Part is one batch of items for every address of every node of a replica set. */
interface Part<T> {
  set: ReplicaSet
  items: T[]
  size?: number
  /** refused gets the refusals of one address that stored the part (indices are the part's). */
  refused: (mine: readonly Refused[]) => void
}

/**
 * Router turns valid MetricValues into GraphItems (falcon's normalisation: step raised to minStep,
 * timestamp aligned to the step, COUNTER stored as DERIVE with min 0) and sends each to the graph node the
 * ring picks, to every address of that node. `route` resolves when every address has acknowledged (the
 * points are in its write-ahead log), and rejects naming the node when one has not; the points stay
 * buffered and are retried either way.
 *
 * With `replication` R above 1, each series goes to the R distinct nodes `HashRing.getN` picks, and a
 * part of a push counts as stored once every one of those nodes that is up (its senders not waiting to
 * retry a failed call) has it in its WAL, and at least `writeQuorum` of them do. A node that is down
 * when the part comes is not waited for: the part is buffered for it (up to `maxBuffered` items per
 * address, the oldest dropped beyond) and delivered when it answers again. With fewer than
 * `writeQuorum` nodes up, every node's first attempt is waited for, as with R = 1.
 *
 * With a `judgeCluster`, each point also becomes a JudgeItem (the same aligned timestamp, the original
 * counter type as `judgeType`, the tags map) for the judge node a second ring over the judge names picks,
 * by the same key. `route` never waits for judge: judge keeps alerting state, not data, so a judge that
 * is down or slow must not fail or slow a push. Its items go out at once, are retried while it is down,
 * and past `judgeMaxBuffered` per address the oldest are dropped and counted in `judgeCounters`.
 * The tags object is shared by a series' graph and judge items: receivers must not change it.
 */
export class Router {
  /** counters are graph's. */
  readonly counters: SenderCounters = newCounters()
  /** judgeCounters are judge's, shown with a `judge` prefix (`judgeSent`, …). */
  readonly judgeCounters: SenderCounters = newCounters()
  readonly #ring: HashRing
  /** replica sets by name, so that each distinct set is one object. */
  readonly #sets = new Map<string, ReplicaSet>()
  readonly #senders = new Map<string, AddressSender<GraphItem>[]>()
  /**
   * columnSenders: per graph node whose every address is a graph in this process, a
   * Graph.SendColumns sender to each (the points of a push parsed by a worker, without an object each).
   */
  readonly #columnSenders = new Map<string, AddressSender<GraphColumns>[]>()
  /** writers: per graph node, a Graph.Write sender to each of its addresses (Prometheus series). */
  readonly #writers = new Map<string, AddressSender<PromSeriesItem>[]>()
  readonly #judgeRing: HashRing | null
  readonly #judges = new Map<string, AddressSender<JudgeItem>>()
  readonly #cfg: Readonly<TransferConfig>

  constructor(cfg: Readonly<TransferConfig>, deps: Deps) {
    this.#cfg = cfg
    this.#ring = new HashRing(Object.keys(cfg.graphCluster), cfg.replicas)
    const limits = { batch: cfg.batch, maxBuffered: cfg.maxBuffered, callTimeout: cfg.callTimeout }
    const byAddress = new Map<string, AddressSender<GraphItem>>()
    const writerByAddress = new Map<string, AddressSender<PromSeriesItem>>()
    const columnByAddress = new Map<string, AddressSender<GraphColumns>>()
    for (const [node, addrs] of Object.entries(cfg.graphCluster)) {
      const list = addrs.split(',').map((a) => {
        const addr = a.trim()
        let s = byAddress.get(addr)
        if (s === undefined) {
          s = new AddressSender<GraphItem>(addr, 'Graph.Send', limits, this.counters, deps)
          byAddress.set(addr, s)
        }
        return s
      })
      this.#senders.set(node, list)
      if (list.every((s) => s.columns)) {
        const columns = list.map((s) => {
          let c = columnByAddress.get(s.address)
          if (c === undefined) {
            c = new AddressSender<GraphColumns>(
              s.address,
              'Graph.SendColumns',
              limits,
              this.counters,
              deps
            )
            columnByAddress.set(s.address, c)
          }
          return c
        })
        this.#columnSenders.set(node, columns)
      }
      const writers = addrs.split(',').map((a) => {
        const addr = a.trim()
        let s = writerByAddress.get(addr)
        if (s === undefined) {
          s = new AddressSender<PromSeriesItem>(addr, 'Graph.Write', limits, this.counters, deps)
          writerByAddress.set(addr, s)
        }
        return s
      })
      this.#writers.set(node, writers)
    }
    const judgeNodes = Object.keys(cfg.judgeCluster)
    this.#judgeRing = judgeNodes.length === 0 ? null : new HashRing(judgeNodes, cfg.replicas)
    const judgeLimits = { ...limits, maxBuffered: cfg.judgeMaxBuffered }
    const judgeByAddress = new Map<string, AddressSender<JudgeItem>>()
    for (const [node, addr] of Object.entries(cfg.judgeCluster)) {
      let s = judgeByAddress.get(addr)
      if (s === undefined) {
        s = new AddressSender<JudgeItem>(addr, 'Judge.Send', judgeLimits, this.judgeCounters, deps)
        judgeByAddress.set(addr, s)
      }
      this.#judges.set(node, s)
    }
  }

  /**
   * route sends `values` and resolves, once every graph address holding them has them in its WAL, with
   * the ones a graph refused (their index in `values`, ascending; refused by any replica counts).
   */
  route(values: readonly MetricValue[]): Promise<Refused[]> {
    const perSet = new Map<ReplicaSet, GraphItem[]>()
    const perJudge =
      this.#judgeRing === null ? null : new Map<AddressSender<JudgeItem>, JudgeItem[]>()
    const minStep = this.#cfg.minStep
    for (const m of values) {
      const step = m.step < minStep ? minStep : m.step
      const timestamp = m.timestamp - (m.timestamp % step)
      const { tags, set, judge } = this.#placement(m)
      const counter = m.counterType !== 'GAUGE'
      let list = perSet.get(set)
      if (list === undefined) {
        list = []
        perSet.set(set, list)
      }
      list.push({
        endpoint: m.endpoint,
        metric: m.metric,
        tags,
        value: m.value,
        timestamp,
        dstype: counter ? 'DERIVE' : 'GAUGE',
        step,
        heartbeat: 2 * step,
        min: counter ? '0' : 'U',
        max: 'U',
      })
      if (perJudge !== null && judge !== null) {
        let items = perJudge.get(judge)
        if (items === undefined) {
          items = []
          perJudge.set(judge, items)
        }
        items.push({
          endpoint: m.endpoint,
          metric: m.metric,
          value: m.value,
          timestamp,
          judgeType: m.counterType,
          tags,
        })
      }
    }
    const max = this.#cfg.batch
    // Judge first, and nobody waits for it: its calls leave in this turn's setImmediate, ahead of graph's.
    if (perJudge !== null) this.#toJudges(perJudge)
    const waits: Promise<void>[] = []
    const refused = new Map<number, Refused>()
    // Where a replica set's items came from in `values`: worked out only when a graph refuses some
    // (rare), so pushes pay nothing for it.
    const origins = new Map<ReplicaSet, number[]>()
    const originOf = (set: ReplicaSet): number[] => {
      let list = origins.get(set)
      if (list === undefined) {
        list = []
        for (let i = 0; i < values.length; i++) {
          if (this.#placement(values[i]).set === set) list.push(i)
        }
        origins.set(set, list)
      }
      return list
    }
    for (const [set, items] of perSet) {
      // A push larger than `batch` goes out in several Graph.Send calls, never as one oversized call.
      for (let from = 0; from < items.length; from += max) {
        const part = from === 0 && items.length <= max ? items : items.slice(from, from + max)
        waits.push(
          this.#replicate(this.#senders, {
            set,
            items: part,
            refused: (mine) => {
              for (const r of mine) {
                const index = originOf(set)[from + r.index]
                if (index !== undefined) refused.set(index, { ...r, index })
              }
            },
          })
        )
      }
    }
    return Promise.all(waits).then(() =>
      refused.size === 0 ? [] : [...refused.values()].sort((a, b) => a.index - b.index)
    )
  }

  /**
   * routeColumns is `route` for points as columns (a push a parse worker validated): the same
   * normalisation, placement, judge items and answer, without an object per point on the way to a
   * graph in this process. Points of a series on nodes that are not all in this process take `route`'s
   * path, as MetricValues.
   */
  routeColumns(c: PointColumns): Promise<Refused[]> {
    const { series, ids, ts, vs } = c
    const n = ids.length
    // No graph in this process (transfer on its own): the wire's path, without a route a series.
    if (this.#columnSenders.size === 0) {
      const values = new Array<MetricValue>(n)
      for (let i = 0; i < n; i++) values[i] = pointAt(c, i)
      return this.route(values)
    }
    const perSet = new Map<ReplicaSet, GraphColumns>()
    const perJudge =
      this.#judgeRing === null ? null : new Map<AddressSender<JudgeItem>, JudgeItem[]>()
    // Points whose set has a node over the wire, by index (rare: a cluster with remote nodes).
    let wired: number[] | null = null
    let lastSet: ReplicaSet | null = null
    let lastPart: GraphColumns | null = null
    for (let i = 0; i < n; i++) {
      const ps = series[ids[i]]
      const r = (ps.route as SeriesRoute | undefined) ?? this.#routeOf(ps)
      if (!r.columns) {
        ;(wired ??= []).push(i)
        continue
      }
      const t = ts[i]
      const timestamp = t - (t % r.step)
      let part: GraphColumns
      if (r.set === lastSet) part = lastPart as GraphColumns
      else {
        let p = perSet.get(r.set)
        if (p === undefined) {
          p = { series: [], ts: [], vs: [] }
          perSet.set(r.set, p)
        }
        part = p
        lastSet = r.set
        lastPart = p
      }
      part.series.push(r)
      part.ts.push(timestamp)
      part.vs.push(vs[i])
      if (perJudge !== null && r.judge !== null) {
        let items = perJudge.get(r.judge)
        if (items === undefined) {
          items = []
          perJudge.set(r.judge, items)
        }
        items.push({
          endpoint: ps.endpoint,
          metric: ps.metric,
          value: vs[i],
          timestamp,
          judgeType: ps.counterType,
          tags: r.tags,
        })
      }
    }
    const max = this.#cfg.batch
    if (perJudge !== null) this.#toJudges(perJudge)
    const waits: Promise<void>[] = []
    const refused = new Map<number, Refused>()
    // Where a set's points came from in the push: worked out only when a graph refuses some.
    const origins = new Map<ReplicaSet, number[]>()
    const originOf = (set: ReplicaSet): number[] => {
      let list = origins.get(set)
      if (list === undefined) {
        list = []
        for (let i = 0; i < n; i++) {
          const r = series[ids[i]].route as SeriesRoute
          if (r.columns && r.set === set) list.push(i)
        }
        origins.set(set, list)
      }
      return list
    }
    for (const [set, all] of perSet) {
      const len = all.series.length
      for (let from = 0; from < len; from += max) {
        const part: GraphColumns =
          from === 0 && len <= max
            ? all
            : {
                series: all.series.slice(from, from + max),
                ts: all.ts.slice(from, from + max),
                vs: all.vs.slice(from, from + max),
              }
        waits.push(
          this.#replicate(this.#columnSenders, {
            set,
            items: [part],
            size: part.series.length,
            refused: (mine) => {
              for (const r of mine) {
                const index = originOf(set)[from + r.index]
                if (index !== undefined) refused.set(index, { ...r, index })
              }
            },
          })
        )
      }
    }
    if (wired !== null) {
      const at = wired
      waits.push(
        this.route(at.map((i) => pointAt(c, i))).then((mine) => {
          for (const r of mine) refused.set(at[r.index], { ...r, index: at[r.index] })
        })
      )
    }
    return Promise.all(waits).then(() =>
      refused.size === 0 ? [] : [...refused.values()].sort((a, b) => a.index - b.index)
    )
  }

  // #toJudges queues each judge's items, `batch` a call; nobody waits for them.
  #toJudges(perJudge: Map<AddressSender<JudgeItem>, JudgeItem[]>): void {
    const max = this.#cfg.batch
    for (const [sender, items] of perJudge) {
      for (let from = 0; from < items.length; from += max) {
        const part = from === 0 && items.length <= max ? items : items.slice(from, from + max)
        sender.enqueue({ items: part, done: noop })
      }
    }
  }

  // #routeOf works out where a pushed series goes, once, and keeps it on the series (not in the
  // placement cache, which the series table makes needless here).
  #routeOf(ps: PushSeries): SeriesRoute {
    const tags = parseTags(ps.tags)
    const key = seriesKeyOf(ps.endpoint, ps.metric, formatTags(tags))
    const set = this.setOf(key)
    const minStep = this.#cfg.minStep
    const r: SeriesRoute = {
      endpoint: ps.endpoint,
      metric: ps.metric,
      tags,
      dstype: ps.counterType !== 'GAUGE' ? 'DERIVE' : 'GAUGE',
      step: ps.step < minStep ? minStep : ps.step,
      stored: null,
      ref: 0,
      set,
      judge: this.judgeOf(key),
      columns: set.nodes.every((node) => this.#columnSenders.has(node)),
    }
    ps.route = r
    return r
  }

  /**
   * #replicate enqueues `part` at every address of every node of its set and settles by the rule in
   * the class comment: resolved once every node that was up has it and at least `writeQuorum` do,
   * rejected naming the nodes that failed when that cannot be. A node has a part once all its
   * addresses do (`a,b`), and has failed at the first address that fails.
   */
  #replicate<T>(senders: Map<string, AddressSender<T>[]>, part: Part<T>): Promise<void> {
    const nodes = part.set.nodes
    const quorum = this.#cfg.writeQuorum
    return new Promise<void>((resolve, reject) => {
      // Per node: 0 waited and pending, 1 not waited and pending, 2 stored, 3 failed.
      const state = new Uint8Array(nodes.length)
      const left = new Uint16Array(nodes.length)
      let up = 0
      for (let k = 0; k < nodes.length; k++) {
        const list = senders.get(nodes[k]) ?? []
        left[k] = list.length
        if (!list.some((s) => s.down)) up++
      }
      const waitAll = up < quorum
      const failures: string[] = []
      let settled = false
      const decide = () => {
        let stored = 0
        let waited = 0
        let pending = 0
        for (let k = 0; k < nodes.length; k++) {
          if (state[k] === 2) stored++
          else if (state[k] === 0) waited++
          else if (state[k] === 1) pending++
        }
        if (waited > 0 || (stored < quorum && pending > 0)) return
        settled = true
        if (stored >= quorum) resolve()
        else reject(new Error(failures.join('; ')))
      }
      for (let k = 0; k < nodes.length; k++) {
        const node = nodes[k]
        const list = senders.get(node) ?? []
        if (!waitAll && list.some((s) => s.down)) state[k] = 1
        for (const sender of list) {
          sender.enqueue({
            items: part.items,
            size: part.size,
            done: (err, mine) => {
              if (settled || state[k] >= 2) return
              if (err !== null) {
                state[k] = 3
                failures.push(`graph node ${node} (${sender.address}): ${err.message}`)
              } else {
                if (mine !== undefined && mine.length > 0) part.refused(mine)
                if (--left[k] > 0) return
                state[k] = 2
              }
              decide()
            },
          })
        }
        if (list.length === 0) {
          state[k] = 3
          failures.push(`graph node ${node}: no address`)
        }
      }
      decide()
    })
  }

  /**
   * nodeOf is the graph node that owns the series of falcon key `key` (`seriesKeyOf`): the first of
   * its replica set.
   */
  nodeOf(key: string): string {
    return this.#ring.get(key)
  }

  /** setOf is the replica set (the graph nodes) that holds the series of falcon key `key`. */
  setOf(key: string): ReplicaSet {
    const r = this.#cfg.replication
    if (r === 1) return this.#setNamed([this.#ring.get(key)])
    return this.#setNamed(this.#ring.getN(key, r))
  }

  #setNamed(nodes: string[]): ReplicaSet {
    const name = nodes.join(',')
    let set = this.#sets.get(name)
    if (set === undefined) {
      set = Object.freeze({ name, nodes: Object.freeze(nodes) })
      this.#sets.set(name, set)
    }
    return set
  }

  /** judgeOf is the judge sender for the series of key `key`, or null when there is no judge. */
  judgeOf(key: string): AddressSender<JudgeItem> | null {
    return this.#judgeRing === null ? null : (this.#judges.get(this.#judgeRing.get(key)) ?? null)
  }

  /**
   * writeState says whether the nodes of `set` can take Prometheus samples now: 'down' when fewer
   * than `writeQuorum` of them are up (a node is down when one of its addresses failed its last call;
   * the sender retries, and a remote-write client should too), 'busy' when an address of a node that
   * is up holds more than half its buffer, else 'ok'. Remote write is refused rather than buffered
   * then: its client keeps the samples and retries, so buffering them here too would only hold them
   * twice. A node that is down while enough others are up is written to later, from its buffer.
   */
  writeState(set: ReplicaSet): 'ok' | 'busy' | 'down' {
    let state: 'ok' | 'busy' | 'down' = 'ok'
    let up = 0
    for (const node of set.nodes) {
      const list = this.#writers.get(node) ?? []
      if (list.some((w) => w.down)) continue
      up++
      if (list.some((w) => w.full)) state = 'busy'
    }
    return up < this.#cfg.writeQuorum ? 'down' : state
  }

  /**
   * write sends Prometheus series items, each to every address of every node of `sets[i]`, and judge
   * items to their judges without waiting. It resolves once the items count as stored (`route`'s rule),
   * with the items a graph refused (index into `items`), and rejects naming the nodes when they do not.
   */
  write(
    items: readonly PromSeriesItem[],
    sets: readonly ReplicaSet[],
    judged: readonly { judge: AddressSender<JudgeItem>; items: JudgeItem[] }[]
  ): Promise<Refused[]> {
    for (const { judge, items: j } of judged) {
      const max = this.#cfg.batch
      for (let from = 0; from < j.length; from += max) {
        judge.enqueue({
          items: from === 0 && j.length <= max ? j : j.slice(from, from + max),
          done: noop,
        })
      }
    }
    const perSet = new Map<ReplicaSet, number[]>()
    for (let i = 0; i < items.length; i++) {
      let list = perSet.get(sets[i])
      if (list === undefined) perSet.set(sets[i], (list = []))
      list.push(i)
    }
    const waits: Promise<void>[] = []
    const refused = new Map<number, Refused>()
    const max = this.#cfg.batch
    for (const [set, indices] of perSet) {
      // Parts of at most `batch` samples (a series larger than that goes alone).
      const parts: number[][] = []
      let part: number[] = []
      let size = 0
      for (const i of indices) {
        const n = items[i].size
        if (part.length > 0 && size + n > max) {
          parts.push(part)
          part = []
          size = 0
        }
        part.push(i)
        size += n
      }
      if (part.length > 0) parts.push(part)
      for (const p of parts) {
        let n = 0
        for (const i of p) n += items[i].size
        waits.push(
          this.#replicate(this.#writers, {
            set,
            items: p.map((i) => items[i]),
            size: n,
            refused: (mine) => {
              for (const r of mine) {
                const index = p[r.index]
                if (index !== undefined) refused.set(index, { ...r, index })
              }
            },
          })
        )
      }
    }
    return Promise.all(waits).then(() =>
      refused.size === 0 ? [] : [...refused.values()].sort((a, b) => a.index - b.index)
    )
  }

  // Where a series goes, worked out once per series rather than once per point: parsing and sorting its
  // tags and hashing its key are most of the per-point cost otherwise. The tags object is shared by the
  // series' points (graph and judge only read it). Bounded: cleared when it holds too many series.
  // Nested maps, not one joined key: no string is built per point.
  // Placements by endpoint, then metric: the placement itself while the metric has one tags string
  // (most have), a map by tags string once it has several. A map a series would cost ~300 bytes.
  #placement(m: Pick<MetricValue, 'endpoint' | 'metric' | 'tags'>): Placement {
    let byMetric = this.#placements.get(m.endpoint)
    if (byMetric === undefined) {
      byMetric = new Map()
      this.#placements.set(m.endpoint, byMetric)
    }
    const found = byMetric.get(m.metric)
    if (found !== undefined) {
      if (!(found instanceof Map)) {
        if (found.rawTags === m.tags) return found
      } else {
        const p = found.get(m.tags)
        if (p !== undefined) return p
      }
    }
    // Bounded by series, not endpoints: one endpoint with a million metrics must not grow it.
    if (++this.#placementCount > MAX_PLACEMENTS) {
      this.#placements.clear()
      this.#placementCount = 1
      byMetric = new Map()
      this.#placements.set(m.endpoint, byMetric)
    }
    const tags = parseTags(m.tags)
    const key = seriesKeyOf(m.endpoint, m.metric, formatTags(tags))
    const judge =
      this.#judgeRing === null ? null : (this.#judges.get(this.#judgeRing.get(key)) ?? null)
    const p: Placement = { rawTags: m.tags, tags, set: this.setOf(key), judge }
    const now = byMetric.get(m.metric)
    if (now === undefined) byMetric.set(m.metric, p)
    else if (now instanceof Map) now.set(m.tags, p)
    else
      byMetric.set(
        m.metric,
        new Map([
          [now.rawTags, now],
          [m.tags, p],
        ])
      )
    return p
  }
  readonly #placements = new Map<string, Map<string, Placement | Map<string, Placement>>>()
  #placementCount = 0

  /** cachedPlacements is how many series' placements are remembered (at most MAX_PLACEMENTS). */
  get cachedPlacements(): number {
    return this.#placementCount
  }

  /** buffered reports the items waiting per graph address. */
  buffered(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const list of this.#senders.values()) for (const s of list) out[s.address] = s.buffered
    for (const list of this.#columnSenders.values())
      for (const s of list) out[s.address] = (out[s.address] ?? 0) + s.buffered
    for (const list of this.#writers.values())
      for (const s of list) out[s.address] = (out[s.address] ?? 0) + s.buffered
    return out
  }

  /**
   * droppedByGraph reports the items each graph address's buffer dropped while it was down. With
   * `replication` above 1 they are on the series' other replicas (readers merge them), but missing on
   * that node: nothing copies them back to it yet (docs/graph-cluster.md, "Catching up").
   */
  droppedByGraph(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const list of this.#senders.values()) for (const s of list) out[s.address] = s.dropped
    for (const list of this.#columnSenders.values())
      for (const s of list) out[s.address] = (out[s.address] ?? 0) + s.dropped
    for (const list of this.#writers.values())
      for (const s of list) out[s.address] = (out[s.address] ?? 0) + s.dropped
    return out
  }

  /** bufferedByJudge reports the items waiting per judge address. */
  bufferedByJudge(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const s of this.#judges.values()) out[s.address] = s.buffered
    return out
  }

  close(): void {
    for (const list of this.#senders.values()) for (const s of list) s.close()
    for (const list of this.#columnSenders.values()) for (const s of list) s.close()
    for (const list of this.#writers.values()) for (const s of list) s.close()
    for (const s of new Set(this.#judges.values())) s.close()
  }
}
