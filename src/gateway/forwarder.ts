// Forwards valid points to every transfer cluster: from memory while a cluster answers, through its
// disk buffer (spool) while it does not, so that what a push was acknowledged for is never dropped.
import { join } from 'node:path'
import {
  type Deps,
  JsonRpcClient,
  type Logger,
  type MetricValue,
  PeregrineError,
  type RpcCaller,
} from '../core/index.js'
import type { GatewayConfig } from './config.js'
import { DiskBudget, Spool, type SpoolBatch, type SpoolOwner } from '../spool/index.js'

/** ClusterCounters are one cluster's figures on /counter/all (points unless named calls). */
export interface ClusterCounters {
  /** forwarded: points a transfer of the cluster acknowledged. */
  forwarded: number
  /** calls: `Transfer.Update` calls made (each address tried counts one). */
  calls: number
  /** callFailures: calls that failed (no answer in time, connection refused, an error answer). */
  callFailures: number
  /** retried: points sent again after a failed call (to another address, or later from disk). */
  retried: number
  /** spilled: points written to the disk buffer (acknowledged to their sender from there). */
  spilled: number
  /** refused: points the cluster's transfer counted `Invalid` (refused by its graph: too old, …). */
  refused: number
}

/** BACKOFF_MIN_MS, BACKOFF_MAX_MS: the pause after a failure, doubling from min to max. */
const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 10_000
/** SWEEP_MS: how often points waiting in memory are checked against `spillAfter`. */
const SWEEP_MS = 250

/** A part of a push of at most `batch` points, serialised once for every cluster (lazily). */
interface Chunk {
  items: readonly MetricValue[]
  /** json: the items as UTF-8 JSON, comma-separated without the brackets (null until first needed). */
  json: Buffer | null
}

/** Entry is a chunk waiting for one cluster; `done` is called once: null when kept, else why not. */
interface Entry {
  chunk: Chunk
  at: number
  done: (err: Error | null) => void
}

/**
 * A caller that takes its argument as JSON text or bytes when it can (JsonRpcClient), else as a
 * value (an in-process caller).
 */
type Caller = RpcCaller & {
  callJson?<T>(method: string, json: string): Promise<T>
  callRaw?<T>(method: string, parts: readonly (string | Uint8Array)[]): Promise<T>
}

interface Address {
  readonly address: string
  /**
   * clients: one connection per call the cluster may have in flight, as falcon's gateway keeps a
   * pool per transfer: a transfer reads each connection in turn, so calls on one would wait for
   * each other's bytes. Each dials when first used.
   */
  readonly clients: Caller[]
  next: number
  failedUntil: number
  backoff: number
  calls: number
  failures: number
}

/** The part of falcon's TransferResponse the gateway reads. */
interface Answer {
  Invalid?: unknown
  Errors?: unknown
}

// Bytes, not a string: written as they are to every cluster's socket and to the spool, where a
// string would be encoded again each time. The brackets are one byte each.
/** The spool's records (items comma-separated, no brackets) as the parts of one JSON array. */
function jsonArrayOf(records: readonly Buffer[]): (string | Buffer)[] {
  const parts: (string | Buffer)[] = []
  for (const r of records) parts.push(parts.length === 0 ? '[' : ',', r)
  parts.push(']')
  return parts
}

/** spoolOwner: a cluster's disk buffer, and what its errors tell the pusher. */
function spoolOwner(name: string): SpoolOwner {
  return {
    name: `gateway: cluster ${name}`,
    fullError: (used, max) =>
      new PeregrineError(
        'PG_GATEWAY_DISK_FULL',
        `gateway: the disk buffer holds ${used} bytes and gateway.maxDiskBytes is ${max}, so cluster ${name}'s share of this push cannot be kept while it is unreachable; nothing of it is acknowledged: push it again later, or raise gateway.maxDiskBytes`,
        { status: 503 }
      ),
    writeError: (dir, cause) =>
      new PeregrineError(
        'PG_GATEWAY_DISK_WRITE',
        `gateway: the disk buffer of cluster ${name} (${dir}) cannot be written (${cause.message}); nothing of this push is acknowledged: free space or fix the disk, then push it again`,
        { status: 503, cause }
      ),
  }
}

// A point may be the pusher's own object (validation keeps an item already as falcon would make it),
// its keys in the pusher's order: the gateway writes every point with falcon's fields in Go's order.
const inFalconOrder = (m: MetricValue): MetricValue => ({
  endpoint: m.endpoint,
  metric: m.metric,
  value: m.value,
  step: m.step,
  counterType: m.counterType,
  tags: m.tags,
  timestamp: m.timestamp,
})

function jsonOf(c: Chunk): Buffer {
  if (c.json === null) {
    const items = c.items.map(inFalconOrder)
    // JSON has no NaN (a value falcon's ParseFloat takes): it goes as the string "NaN", which
    // transfer parses back. The replacer only when needed: it slows every item down.
    const all = Buffer.from(
      items.some((m) => Number.isNaN(m.value))
        ? JSON.stringify(items, (_k, v: unknown) => (Number.isNaN(v) ? 'NaN' : v))
        : JSON.stringify(items)
    )
    c.json = all.subarray(1, all.length - 1)
  }
  return c.json
}

/**
 * Cluster forwards to one transfer cluster. Chunks wait in a memory queue and go out in calls of up
 * to `batch` points, `callsInFlight` at once, each to the next address in turn; a failed call is tried
 * at the cluster's other addresses at once. When every address has failed, the cluster is down: the
 * chunks of the call, those queued, and every chunk until it answers again are written to its spool,
 * and their `done` called once they are durable there. The spool is sent one call at a time (the
 * first of them after each backoff is the probe), its cursor moved only past what a transfer
 * acknowledged, so no point is sent twice unless a call that failed had in fact been applied.
 */
export class Cluster {
  readonly name: string
  readonly counters: ClusterCounters = {
    forwarded: 0,
    calls: 0,
    callFailures: 0,
    retried: 0,
    spilled: 0,
    refused: 0,
  }
  readonly spool: Spool
  readonly #addresses: Address[]
  readonly #cfg: Readonly<GatewayConfig>
  readonly #log: Logger
  #rr = 0
  #queue: (Entry | undefined)[] = []
  #head = 0
  #queuedPoints = 0
  // Points in the memory queue only (not in a call).
  #waitingPoints = 0
  #inFlight = 0
  #spilling = 0
  #draining = false
  #down = false
  #downSince = 0
  #backoff = 0
  #probe: NodeJS.Timeout | null = null
  #scheduled = false
  #closing = false
  #refusalLoggedAt = -Infinity

  constructor(
    name: string,
    addresses: readonly string[],
    cfg: Readonly<GatewayConfig>,
    budget: DiskBudget,
    deps: Deps
  ) {
    this.name = name
    this.#cfg = cfg
    this.#log = deps.log
    const dial =
      deps.dial ??
      ((address: string, o: { callTimeout: number }) =>
        new JsonRpcClient(address, { ...o, connectTimeout: cfg.connectTimeout }))
    this.#addresses = addresses.map((address) => ({
      address,
      clients: Array.from({ length: cfg.callsInFlight }, () =>
        dial(address, { callTimeout: cfg.callTimeout })
      ),
      next: 0,
      failedUntil: 0,
      backoff: 0,
      calls: 0,
      failures: 0,
    }))
    this.spool = Spool.open(join(cfg.dataDir, name), spoolOwner(name), budget, deps.log)
    if (this.spool.points > 0)
      this.#log.info(
        `gateway: cluster ${name}: ${this.spool.points} points in the disk buffer from before; sending them`
      )
    // What the disk held from before goes out at once (pump ends with a drain).
    if (this.spool.points > 0) this.#schedule()
  }

  /** down: every address failed its last call; points go to disk until one answers. */
  get down(): boolean {
    return this.#down
  }

  /** memoryPoints: points waiting in memory (queued or in a call). */
  get memoryPoints(): number {
    return this.#queuedPoints
  }

  /** addresses: per transfer address, its calls and failures, and whether it is backing off. */
  addresses(): Record<string, { calls: number; failures: number; backingOff: boolean }> {
    const now = Date.now()
    const out: Record<string, { calls: number; failures: number; backingOff: boolean }> = {}
    for (const a of this.#addresses)
      out[a.address] = { calls: a.calls, failures: a.failures, backingOff: a.failedUntil > now }
    return out
  }

  /** enqueue takes a chunk for this cluster; `done` is called once it is acknowledged or on disk. */
  enqueue(entry: Entry): void {
    const n = entry.chunk.items.length
    if (this.#down || this.#closing || this.#queuedPoints + n > this.#cfg.maxMemoryPoints) {
      this.#spill([entry])
      return
    }
    this.#queue.push(entry)
    this.#queuedPoints += n
    this.#waitingPoints += n
    // A free call slot takes the push at once: the transfer starts on it while this process reads
    // the next. Otherwise what waits goes out with what arrives in this turn of the event loop.
    if (this.#inFlight < this.#cfg.callsInFlight && !this.#scheduled) this.#pump()
    else this.#schedule()
  }

  /** sweep writes to disk what has waited in memory, unsent, longer than `spillAfter`. */
  sweep(now: number): void {
    const old: Entry[] = []
    while (this.#length > 0 && now - (this.#queue[this.#head] as Entry).at >= this.#cfg.spillAfter)
      old.push(this.#shift())
    if (old.length > 0) this.#spill(old)
  }

  /**
   * close stops sending: what waits in memory goes to disk, calls under way end (within
   * `callTimeout` per address), then the spool and the connections close.
   */
  async close(): Promise<void> {
    this.#closing = true
    if (this.#probe !== null) clearTimeout(this.#probe)
    const rest: Entry[] = []
    while (this.#length > 0) rest.push(this.#shift())
    if (rest.length > 0) this.#spill(rest)
    while (this.#inFlight > 0 || this.#spilling > 0 || this.#draining) {
      await new Promise((r) => setTimeout(r, 10))
    }
    await this.spool.close()
    for (const a of this.#addresses) for (const c of a.clients) c.close()
  }

  get #length(): number {
    return this.#queue.length - this.#head
  }

  #shift(): Entry {
    const e = this.#queue[this.#head] as Entry
    this.#queue[this.#head++] = undefined
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    this.#queuedPoints -= e.chunk.items.length
    this.#waitingPoints -= e.chunk.items.length
    return e
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // setImmediate gathers the pushes of this turn of the event loop into one call.
    setImmediate(() => {
      this.#scheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    while (
      !this.#down &&
      !this.#closing &&
      this.#length > 0 &&
      this.#inFlight < this.#cfg.callsInFlight
    ) {
      const take: Entry[] = []
      const parts: (string | Buffer)[] = ['[']
      let points = 0
      // What waits is spread over the calls that may start now: a transfer works on several calls at
      // once (parsing one while another waits for its WAL), so a few pushes go out as a few calls,
      // and only when every slot is busy do they wait to go out together, up to `batch` points.
      const share = Math.min(
        this.#cfg.batch,
        Math.ceil(this.#waitingPoints / (this.#cfg.callsInFlight - this.#inFlight))
      )
      while (
        this.#length > 0 &&
        (points === 0 || points + (this.#queue[this.#head] as Entry).chunk.items.length <= share)
      ) {
        const e = this.#shift()
        if (take.length > 0) parts.push(',')
        take.push(e)
        parts.push(jsonOf(e.chunk))
        points += e.chunk.items.length
      }
      // Counted in memory until the call ends.
      this.#queuedPoints += points
      this.#inFlight++
      parts.push(']')
      this.#send(parts, points).then(
        () => {
          this.#inFlight--
          this.#queuedPoints -= points
          this.counters.forwarded += points
          for (const e of take) e.done(null)
          this.#schedule()
        },
        (err: Error) => {
          this.#inFlight--
          this.#queuedPoints -= points
          // Sent again from disk once the cluster answers.
          this.counters.retried += points
          this.#markDown(err)
          this.#spill(take)
        }
      )
    }
    this.#drain(false)
  }

  // Writes entries to the spool; each is done once durable there, or fails the push.
  #spill(entries: Entry[]): void {
    for (const e of entries) {
      const n = e.chunk.items.length
      this.#spilling++
      this.spool.append(jsonOf(e.chunk), n).then(
        () => {
          this.#spilling--
          this.counters.spilled += n
          e.done(null)
          this.#drain(false)
        },
        (err: Error) => {
          this.#spilling--
          e.done(err)
        }
      )
    }
  }

  // Sends the spool's next batch: when the cluster is up, or as the probe after a backoff.
  #drain(probe: boolean): void {
    if (this.#draining || this.#closing || (this.#down && !probe)) return
    const batch: SpoolBatch | null = this.spool.next(this.#cfg.batch)
    if (batch === null) {
      // Nothing on disk to probe with: a ping tells whether the cluster answers.
      if (probe) {
        this.#draining = true
        this.#send(null, 0).then(
          () => {
            this.#draining = false
            this.#markUp()
          },
          (err: Error) => {
            this.#draining = false
            this.#markDown(err)
          }
        )
      }
      return
    }
    this.#draining = true
    this.#send(jsonArrayOf(batch.records), batch.points).then(
      () => {
        this.spool.ack(batch)
        this.counters.forwarded += batch.points
        this.#draining = false
        this.#markUp()
        this.#drain(false)
      },
      (err: Error) => {
        this.spool.rewind()
        this.counters.retried += batch.points
        this.#draining = false
        this.#markDown(err)
      }
    )
  }

  #markDown(err: Error): void {
    if (!this.#down) {
      this.#downSince = Date.now()
      this.#log.warn(
        `gateway: cluster ${this.name} (${this.#addresses.map((a) => a.address).join(', ')}) does not answer: ${err.message}; its points are kept on disk (${this.spool.dir}) and sent once it answers`
      )
      this.#down = true
      // What waits in memory would only wait longer: it goes to disk now, acknowledged from there.
      const rest: Entry[] = []
      while (this.#length > 0) rest.push(this.#shift())
      if (rest.length > 0) this.#spill(rest)
    }
    this.#backoff = Math.min(Math.max(this.#backoff * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS)
    if (this.#probe === null && !this.#closing) {
      this.#probe = setTimeout(() => {
        this.#probe = null
        this.#drain(true)
      }, this.#backoff)
      this.#probe.unref()
    }
  }

  #markUp(): void {
    this.#backoff = 0
    if (!this.#down) return
    this.#down = false
    this.#log.info(
      `gateway: cluster ${this.name} answers again after ${Math.round((Date.now() - this.#downSince) / 1000)} s; sending the ${this.spool.points} points its disk buffer holds`
    )
    this.#schedule()
  }

  // One call to the cluster: `Transfer.Update` with `json` (parts joining into a JSON array), or
  // `Transfer.Ping` when null. Tried at the next address in turn, then at each other one that is not
  // backing off (every one when all are); rejects with the last failure when none took it.
  async #send(json: readonly (string | Buffer)[] | null, points: number): Promise<void> {
    const now = Date.now()
    const n = this.#addresses.length
    const start = this.#rr++ % n
    const order: Address[] = []
    for (let i = 0; i < n; i++) {
      const a = this.#addresses[(start + i) % n]
      if (a.failedUntil <= now) order.push(a)
    }
    if (order.length === 0)
      order.push(...[...this.#addresses].sort((a, b) => a.failedUntil - b.failedUntil))
    let last: Error = new Error('no transfer address')
    for (let i = 0; i < order.length; i++) {
      const a = order[i]
      if (i > 0) this.counters.retried += points
      a.calls++
      this.counters.calls++
      const client = a.clients[a.next++ % a.clients.length]
      try {
        const answer =
          json === null
            ? await client.call('Transfer.Ping', {})
            : client.callRaw !== undefined
              ? await client.callRaw<Answer>('Transfer.Update', json)
              : await client.call<Answer>('Transfer.Update', JSON.parse(json.join('')))
        a.backoff = 0
        a.failedUntil = 0
        if (json !== null) this.#refusals(answer as Answer | null, points)
        return
      } catch (err) {
        a.failures++
        this.counters.callFailures++
        a.backoff = Math.min(Math.max(a.backoff * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS)
        a.failedUntil = Date.now() + a.backoff
        last = new Error(`${a.address}: ${(err as Error).message}`, { cause: err })
      }
    }
    throw last
  }

  // Points the cluster's transfer did not keep (its graph refused them): counted and logged, at
  // most one line per 10 s. They were acknowledged here already, so no sender can be told.
  #refusals(answer: Answer | null, points: number): void {
    const invalid = typeof answer?.Invalid === 'number' ? answer.Invalid : 0
    if (invalid <= 0) return
    this.counters.refused += invalid
    const now = Date.now()
    if (now - this.#refusalLoggedAt < 10_000) return
    this.#refusalLoggedAt = now
    const errors = Array.isArray(answer?.Errors) ? (answer.Errors as unknown[]).slice(0, 3) : []
    this.#log.warn(
      `gateway: cluster ${this.name} refused ${invalid} of ${points} points${errors.length > 0 ? `: ${errors.map(String).join('; ')}` : ''}`
    )
  }
}

/**
 * Forwarder sends every valid point to every cluster. `accept` resolves once each cluster has the
 * points acknowledged or on disk, and rejects (naming the cluster and the setting) when a cluster's
 * share could be kept neither way: the push is then not acknowledged, and the clusters that had it
 * may get it again when it is pushed again.
 */
export class Forwarder {
  readonly clusters: Cluster[]
  readonly budget: DiskBudget
  readonly #batch: number
  readonly #sweep: NodeJS.Timeout

  constructor(cfg: Readonly<GatewayConfig>, deps: Deps) {
    this.budget = new DiskBudget(cfg.maxDiskBytes)
    this.#batch = cfg.batch
    this.clusters = Object.entries(cfg.clusters).map(
      ([name, addresses]) => new Cluster(name, addresses, cfg, this.budget, deps)
    )
    // One coarse timer for every cluster, not one per point.
    this.#sweep = setInterval(() => {
      const now = Date.now()
      for (const c of this.clusters) c.sweep(now)
    }, SWEEP_MS)
    this.#sweep.unref()
  }

  /**
   * accept forwards `values` (valid points); see the class. It refuses nothing point by point. `json`
   * is their JSON (items comma-separated, no brackets) when the caller has it, taken as it is when
   * the values make one call.
   */
  accept(values: readonly MetricValue[], json: Buffer | null = null): Promise<[]> {
    const at = Date.now()
    const waits: Promise<void>[] = []
    const whole = values.length <= this.#batch
    for (let from = 0; from < values.length; from += this.#batch) {
      const chunk: Chunk = {
        items: whole ? values : values.slice(from, from + this.#batch),
        json: whole ? json : null,
      }
      for (const c of this.clusters) {
        waits.push(
          new Promise<void>((resolve, reject) =>
            c.enqueue({ chunk, at, done: (err) => (err === null ? resolve() : reject(err)) })
          )
        )
      }
    }
    return Promise.all(waits).then(() => [])
  }

  /** close stops every cluster (see Cluster.close). */
  async close(): Promise<void> {
    clearInterval(this.#sweep)
    await Promise.all(this.clusters.map((c) => c.close()))
  }
}
