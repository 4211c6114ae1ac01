// The scrape component's way into storage. Beside a transfer in the same process (the all-in-one)
// scraped samples are handed to its appender: each series is placed once and its ref kept in the
// scrape cache, so a sample costs a lookup and two numbers, nothing encoded. Elsewhere they go by
// remote write 1.0 to a transfer, as Prometheus's agent mode would, so scrape can run on any host.
// Either way writes go out `SHARDS` at a time (as Prometheus's shards: each waits for its WAL
// commit), are retried with backoff while storage cannot take them (5xx, 429, network errors, a
// graph node down: nothing is lost while transfer restarts), and dropped (counted) when refused for
// good (4xx) or past `maxPending` queued writes.
import {
  type Deps,
  encodeSnappy,
  encodeWriteRequest,
  type PromAppender,
  type SeriesRef,
  type WriteSeries,
} from '../core/index.js'
import type { ScrapeBatch, ScrapedSeries } from './scraper.js'

/** WriterCounters count what the writer did. */
export interface WriterCounters {
  requests: number
  samples: number
  failures: number
  retries: number
  dropped: number
  /** droppedSamples: samples of dropped writes (refused, or past maxPending). */
  droppedSamples: number
}

/** MAX_SAMPLES_PER_REQUEST splits large scrapes into writes of at most this many samples. */
const MAX_SAMPLES_PER_REQUEST = 5000

/** SHARDS: writes in flight at once. */
const SHARDS = 8

// One write waiting: a remote write body, or the refs and columns of an in-process append.
interface Pending {
  notStored: ScrapeBatch['notStored']
  body: Uint8Array<ArrayBuffer> | null
  refs: SeriesRef[]
  t: Float64Array
  v: Float64Array
  samples: number
  step: number
}

// What became of one attempt: sent, refused for good (with why), or to be tried again.
type Attempt = { ok: true; refused: number } | { ok: false; retry: boolean; why: string }

export class ScrapeWriter {
  readonly counters: WriterCounters = {
    requests: 0,
    samples: 0,
    failures: 0,
    retries: 0,
    dropped: 0,
    droppedSamples: 0,
  }
  #queue: Pending[] = []
  #busy = 0
  #closed = false
  /** Aborts the requests in flight when the writer closes: a stopping transfer must not hold them. */
  readonly #abort = new AbortController()
  #backoff = 0
  #loggedAt = -Infinity

  /** With `appender`, samples are appended in-process and `url` only names where they go. */
  constructor(
    readonly url: string,
    private readonly deps: Deps,
    private readonly appender: PromAppender | null = null,
    private readonly maxPending = 1000
  ) {}

  /** pending is how many writes wait to be sent (those in flight not counted). */
  get pending(): number {
    return this.#queue.length
  }

  /** write queues a scrape's samples and returns at once. */
  write(batch: ScrapeBatch): void {
    const n = batch.series.length
    if (this.#closed || n === 0) return
    for (let from = 0; from < n; from += MAX_SAMPLES_PER_REQUEST) {
      const to = Math.min(n, from + MAX_SAMPLES_PER_REQUEST)
      const p =
        this.appender === null ? this.#encoded(batch, from, to) : this.#placed(batch, from, to)
      if (p !== null) this.#queue.push(p)
    }
    while (this.#queue.length > this.maxPending) {
      const old = this.#queue.shift() as Pending
      this.counters.dropped++
      this.counters.droppedSamples += old.samples
      old.notStored?.(
        old.samples,
        `the queue of writes to transfer was full (${this.maxPending}): the oldest were dropped`
      )
    }
    while (this.#busy < SHARDS && this.#busy < this.#queue.length) void this.#pump()
  }

  // Samples from..to as a remote write body.
  #encoded(batch: ScrapeBatch, from: number, to: number): Pending {
    const series: WriteSeries[] = []
    for (let k = from; k < to; k++)
      series.push({ labels: batch.series[k].labels, samples: [[batch.t[k], batch.v[k]]] })
    return {
      notStored: batch.notStored,
      body: new Uint8Array(encodeSnappy(encodeWriteRequest(series))),
      refs: [],
      t: EMPTY,
      v: EMPTY,
      samples: to - from,
      step: batch.step,
    }
  }

  // Samples from..to by the appender's refs, placing series not placed yet; a series storage will
  // not keep (its labels cannot be stored) is dropped and counted, as a 400 for it would be.
  #placed(batch: ScrapeBatch, from: number, to: number): Pending | null {
    const appender = this.appender as PromAppender
    const refs: SeriesRef[] = []
    let keep: number[] | null = null
    for (let k = from; k < to; k++) {
      const s: ScrapedSeries = batch.series[k]
      let ref = s.ref
      if (ref === null) {
        const r = appender.ref(s.labels)
        if (typeof r === 'string') {
          this.counters.droppedSamples++
          batch.notStored?.(1, r)
          this.#log(`a scraped series is not stored: ${r}`)
          keep ??= Array.from({ length: k - from }, (_, i) => from + i)
          continue
        }
        ref = s.ref = r
      }
      refs.push(ref)
      keep?.push(k)
    }
    if (refs.length === 0) return null
    const t =
      keep === null ? batch.t.subarray(from, to) : Float64Array.from(keep, (k) => batch.t[k])
    const v = new Float64Array(refs.length)
    // Element by element: a Float64Array copy keeps the stale marker's NaN payload.
    for (let j = 0; j < refs.length; j++) v[j] = batch.v[keep === null ? from + j : keep[j]]
    return {
      notStored: batch.notStored,
      body: null,
      refs,
      t,
      v,
      samples: refs.length,
      step: batch.step,
    }
  }

  // One shard: takes the next write, sends it until it is taken or refused for good.
  async #pump(): Promise<void> {
    this.#busy++
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const r = this.#queue.shift() as Pending
        const a = r.body === null ? await this.#append(r) : await this.#post(r)
        if (this.#closed) break
        if (a.ok) {
          this.counters.requests++
          this.counters.samples += r.samples - a.refused
          this.#backoff = 0
          continue
        }
        this.counters.failures++
        if (!a.retry) {
          // Refused for good (or in part: the answer says which series): not retried, as Prometheus.
          this.counters.dropped++
          this.counters.droppedSamples += r.samples
          r.notStored?.(r.samples, a.why.trim().slice(0, 300))
          this.#log(`write to ${this.url} refused: ${a.why.trim().slice(0, 300)}`)
          continue
        }
        this.counters.retries++
        this.#log(`write to ${this.url} failed (${a.why.trim().slice(0, 300)}); retrying`)
        // Back at the front, to be sent again after the pause.
        this.#queue.unshift(r)
        this.#backoff = Math.min(Math.max(this.#backoff * 2, 100), 5000)
        await new Promise((ok) => setTimeout(ok, this.#backoff).unref())
      }
    } finally {
      this.#busy--
    }
  }

  async #append(r: Pending): Promise<Attempt> {
    const a = await (this.appender as PromAppender).append(r.refs, r.t, r.v, r.step)
    if (a.outcome === 'retry') return { ok: false, retry: true, why: a.reason }
    if (a.refused > 0) {
      // What storage would not keep (too old, a series limit) is dropped; the rest is stored.
      this.counters.droppedSamples += a.refused
      r.notStored?.(a.refused, a.reasons[0] ?? '')
      this.#log(`${a.refused} scraped samples not stored: ${a.reasons[0] ?? ''}`)
    }
    return { ok: true, refused: a.refused }
  }

  async #post(r: Pending): Promise<Attempt> {
    let status = 0
    let text: string
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        body: r.body,
        headers: {
          'Content-Type': 'application/x-protobuf',
          'Content-Encoding': 'snappy',
          'X-Prometheus-Remote-Write-Version': '0.1.0',
          'X-Peregrine-Step': String(Math.max(1, Math.round(r.step))),
        },
        signal: AbortSignal.any([AbortSignal.timeout(30_000), this.#abort.signal]),
      })
      status = res.status
      text = await res.text()
    } catch (err) {
      text = (err as Error).message
    }
    if (status >= 200 && status < 300) return { ok: true, refused: 0 }
    return {
      ok: false,
      retry: !(status >= 400 && status < 500 && status !== 429),
      why: status === 0 ? text : `${status}: ${text}`,
    }
  }

  #log(message: string): void {
    const now = this.deps.now()
    if (now - this.#loggedAt < 10_000) return
    this.#loggedAt = now
    this.deps.log.warn(`scrape: ${message}`)
  }

  close(): void {
    this.#closed = true
    this.#abort.abort()
  }
}

const EMPTY = new Float64Array(0)
