// What nodata and aggregator push their points through: a transfer (falcon's Transfer.Update over
// JSON-RPC, or POST of a JSON array to an /api/push or agent /v1/push URL), with a bounded queue that
// keeps a batch until a transfer took it and retries with backoff while none does.
import {
  counterFrom,
  gaugeFrom,
  type MetricsRegistry,
  type Deps,
  JsonRpcClient,
  type MetricValue,
  printable,
  type RpcCaller,
} from '../core/index.js'

/** TransferPusherOptions configure a TransferPusher. */
export interface TransferPusherOptions {
  /** addresses: transfer `host:port` (JSON-RPC) or `http://host:port[/path]` (POST JSON) addresses. */
  addresses: readonly string[]
  /** batch: points per call (falcon's nodata sends 500). */
  batch: number
  /** inFlight: calls at once (a transfer acknowledges after its graph's WAL sync: calls overlap). */
  inFlight: number
  /** callTimeout: ms a call may take. */
  callTimeout: number
  /** maxPending: points held while no transfer takes them; past it the oldest are dropped, counted. */
  maxPending: number
  /** name: who pushes, for the log (`nodata`, `aggregator`). */
  name: string
}

/** PusherCounters: what a TransferPusher did since it started. */
export interface PusherCounters {
  /** pushed: points a transfer took (its answer counted them valid). */
  pushed: number
  /** refused: points a transfer answered Invalid for (too old, …): not retried. */
  refused: number
  /** failedCalls: calls that failed (no answer, an error): their points stay queued. */
  failedCalls: number
  /** dropped: points dropped because the queue was past maxPending. */
  dropped: number
}

interface TransferAnswer {
  Message?: string
  Total?: number
  Invalid?: number
}

const MAX_BACKOFF_MS = 30_000

/**
 * TransferPusher sends queued points in batches, one call at a time, each batch to the next address
 * (a failed call moves on to the next). A batch stays queued until a transfer answered it: a transfer
 * that errors or does not answer delays points, it does not lose them (within maxPending).
 */
export class TransferPusher {
  readonly counters: PusherCounters = { pushed: 0, refused: 0, failedCalls: 0, dropped: 0 }
  readonly #o: TransferPusherOptions
  readonly #deps: Deps
  readonly #clients: (RpcCaller | null)[]
  /** #queue from #head: points not yet sent. */
  #queue: MetricValue[] = []
  #head = 0
  /** #retry: batches a call failed to deliver, sent again first. */
  #retry: MetricValue[][] = []
  #inFlightPoints = 0
  #active = 0
  #idle: (() => void)[] = []
  #next = 0
  #backoff = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false
  #lastError = ''
  #errorLoggedAt = -Infinity

  constructor(options: TransferPusherOptions, deps: Deps) {
    this.#o = options
    this.#deps = deps
    const dial =
      deps.dial ?? ((address: string, o: { callTimeout: number }) => new JsonRpcClient(address, o))
    this.#clients = options.addresses.map((a) =>
      isUrl(a) ? null : dial(a, { callTimeout: options.callTimeout, maxResponseBytes: 1 << 20 })
    )
  }

  /** pending: points not yet taken by a transfer (queued, being sent, or to be sent again). */
  get pending(): number {
    let n = this.#queue.length - this.#head + this.#inFlightPoints
    for (const b of this.#retry) n += b.length
    return n
  }

  /** lastError: why the last failed call failed ('' once one succeeds). */
  get lastError(): string {
    return this.#lastError
  }

  /** push queues points and starts sending (unless a backoff is waiting). */
  push(points: readonly MetricValue[]): void {
    if (this.#closed || points.length === 0) return
    for (const p of points) this.#queue.push(p)
    const over = Math.min(this.pending - this.#o.maxPending, this.#queue.length - this.#head)
    if (over > 0) {
      this.#head += over
      this.counters.dropped += over
      this.#deps.log.warn(
        `${this.#o.name}: dropped the ${over} oldest points to push: more than ${this.#o.maxPending} waited for a transfer (${this.#lastError})`
      )
    }
    this.#kick()
  }

  /**
   * flush sends now (a backoff cut short) until nothing is pending or a call fails; resolves true
   * when everything queued was taken. For tests, the debug route and a clean stop.
   */
  async flush(): Promise<boolean> {
    while (this.pending > 0 && !this.#closed) {
      if (this.#timer !== null) {
        clearTimeout(this.#timer)
        this.#timer = null
      }
      this.#lastError = ''
      this.#kick()
      await new Promise<void>((resolve) => {
        if (this.#active === 0) resolve()
        else this.#idle.push(resolve)
      })
      if (this.pending > 0 && this.#lastError !== '') return false
    }
    return this.pending === 0
  }

  /** close stops retrying and closes the clients (what is still queued is counted in the log). */
  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    if (this.pending > 0)
      this.#deps.log.warn(`${this.#o.name}: stopped with ${this.pending} points not pushed`)
    for (const c of this.#clients) c?.close()
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  // Starts senders, up to `inFlight` calls at once, unless a backoff is waiting.
  #kick(): void {
    while (
      !this.#closed &&
      this.#timer === null &&
      this.#active < this.#o.inFlight &&
      (this.#retry.length > 0 || this.#queue.length > this.#head)
    ) {
      this.#active++
      void this.#sender()
    }
  }

  #take(): MetricValue[] | undefined {
    const again = this.#retry.shift()
    if (again !== undefined) return again
    if (this.#queue.length === this.#head) return undefined
    const batch = this.#queue.slice(this.#head, this.#head + this.#o.batch)
    this.#head += batch.length
    // Compact once the sent prefix is large, so the queue does not grow without end.
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    return batch
  }

  // One sender: batch after batch until none is left, a call fails (then a backoff) or close.
  async #sender(): Promise<void> {
    try {
      while (!this.#closed && this.#timer === null) {
        const batch = this.#take()
        if (batch === undefined) break
        this.#inFlightPoints += batch.length
        const ok = await this.#send(batch)
        this.#inFlightPoints -= batch.length
        if (!ok) {
          this.#retry.unshift(batch)
          this.#retryLater()
          break
        }
      }
    } finally {
      this.#active--
      if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve()
    }
  }

  #retryLater(): void {
    if (this.#closed || this.#timer !== null) return
    this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff === 0 ? 500 : this.#backoff * 2)
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#kick()
    }, this.#backoff)
    this.#timer.unref()
  }

  // One batch to one address after another until one takes it; false when none did.
  async #send(batch: MetricValue[]): Promise<boolean> {
    const n = this.#o.addresses.length
    for (let k = 0; k < n; k++) {
      const i = this.#next
      this.#next = (this.#next + 1) % n
      const address = this.#o.addresses[i]
      try {
        const answer = await this.#call(i, batch)
        const invalid = Math.max(0, Math.min(batch.length, Number(answer.Invalid ?? 0) || 0))
        this.counters.pushed += batch.length - invalid
        if (invalid > 0) {
          this.counters.refused += invalid
          this.#warn(
            `${this.#o.name}: ${address} refused ${invalid} of ${batch.length} points (${printable(JSON.stringify(answer).slice(0, 300))})`
          )
        }
        this.#backoff = 0
        this.#lastError = ''
        return true
      } catch (err) {
        this.counters.failedCalls++
        this.#lastError = `${address}: ${(err as Error).message}`
        this.#warn(`${this.#o.name}: pushing to ${this.#lastError}; will retry`)
      }
    }
    return false
  }

  async #call(i: number, batch: MetricValue[]): Promise<TransferAnswer> {
    const client = this.#clients[i]
    if (client !== null) return client.call<TransferAnswer>('Transfer.Update', batch)
    const address = this.#o.addresses[i]
    const url = new URL(address)
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/push'
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
      signal: AbortSignal.timeout(this.#o.callTimeout),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`HTTP ${res.status} ${printable(text.slice(0, 200))}`)
    // transfer's /api/push answers {msg, data: TransferResponse}; an agent's /v1/push answers "success".
    try {
      const body = JSON.parse(text) as { data?: TransferAnswer } | TransferAnswer
      return (body as { data?: TransferAnswer }).data ?? (body as TransferAnswer)
    } catch {
      return {}
    }
  }

  // At most one line every 10 s: a transfer down for an hour must not fill the log.
  #warn(line: string): void {
    const now = this.#deps.now()
    if (now - this.#errorLoggedAt < 10_000) return
    this.#errorLoggedAt = now
    this.#deps.log.warn(line)
  }
}

/** isUrl: an http(s) address (POST JSON) rather than a JSON-RPC `host:port`. */
export function isUrl(address: string): boolean {
  return /^https?:\/\//.test(address)
}

/**
 * pusherMetrics registers `<prefix>_pushed_total{outcome}` (pushed: a transfer took them; refused;
 * dropped past maxPending) and `<prefix>_push_pending` of `pusher`; `what` names the points in the help.
 */
export function pusherMetrics(
  registry: MetricsRegistry,
  prefix: string,
  pusher: TransferPusher,
  what: string
): void {
  counterFrom(registry, {
    name: `${prefix}_pushed_total`,
    help: `${what} pushed, by outcome (pushed: a transfer took them).`,
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'pushed' }, pusher.counters.pushed],
      [{ outcome: 'refused' }, pusher.counters.refused],
      [{ outcome: 'dropped' }, pusher.counters.dropped],
    ],
  })
  gaugeFrom(registry, {
    name: `${prefix}_push_pending`,
    help: `${what} waiting for a transfer to take them.`,
    read: () => pusher.pending,
  })
}
