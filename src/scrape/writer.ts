// The scrape component's way into storage: remote write 1.0 to a transfer (the local one in the
// all-in-one), as Prometheus's agent mode would, so scrape can run on any host. Requests go out
// `SHARDS` at a time (as Prometheus's shards: each waits for its WAL commit), are retried with
// backoff on 5xx, 429 and network errors (nothing is lost while transfer restarts), and dropped
// (counted) on 4xx or past `maxPending` queued requests.
import { type Deps, encodeSnappy, encodeWriteRequest, type WriteSeries } from '../core/index.js'

/** WriterCounters count what the writer did. */
export interface WriterCounters {
  requests: number
  samples: number
  failures: number
  retries: number
  dropped: number
  /** droppedSamples: samples of dropped requests (refused with a 4xx, or past maxPending). */
  droppedSamples: number
}

/** MAX_SAMPLES_PER_REQUEST splits large scrapes into requests of at most this many samples. */
const MAX_SAMPLES_PER_REQUEST = 5000

/** SHARDS: requests in flight at once. */
const SHARDS = 8

interface Pending {
  body: Uint8Array<ArrayBuffer>
  samples: number
  step: number
}

export class RemoteWriter {
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

  constructor(
    readonly url: string,
    private readonly deps: Deps,
    private readonly maxPending = 1000
  ) {}

  /** pending is how many requests wait to be sent (those in flight not counted). */
  get pending(): number {
    return this.#queue.length
  }

  /** write queues `series` (stored with step `step` seconds) and returns at once. */
  write(series: WriteSeries[], step: number): void {
    if (this.#closed || series.length === 0) return
    for (let from = 0; from < series.length; from += MAX_SAMPLES_PER_REQUEST) {
      const part = series.slice(from, from + MAX_SAMPLES_PER_REQUEST)
      this.#queue.push({
        body: new Uint8Array(encodeSnappy(encodeWriteRequest(part))),
        samples: part.length,
        step,
      })
    }
    while (this.#queue.length > this.maxPending) {
      const old = this.#queue.shift()
      this.counters.dropped++
      this.counters.droppedSamples += old?.samples ?? 0
    }
    while (this.#busy < SHARDS && this.#busy < this.#queue.length) void this.#pump()
  }

  // One shard: takes the next request, sends it until it is taken or refused for good.
  async #pump(): Promise<void> {
    this.#busy++
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const r = this.#queue.shift() as Pending
        let status = 0
        let text = ''
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
        if (this.#closed) break
        if (status >= 200 && status < 300) {
          this.counters.requests++
          this.counters.samples += r.samples
          this.#backoff = 0
          continue
        }
        this.counters.failures++
        if (status >= 400 && status < 500 && status !== 429) {
          // Refused for good (or in part: a 400 says which series): not retried, as Prometheus.
          this.counters.dropped++
          this.counters.droppedSamples += r.samples
          this.#log(`remote write to ${this.url} refused (${status}): ${text.trim().slice(0, 300)}`)
          continue
        }
        this.counters.retries++
        this.#log(`remote write to ${this.url} failed (${status || text}); retrying`)
        // Back at the front, to be sent again after the pause.
        this.#queue.unshift(r)
        this.#backoff = Math.min(Math.max(this.#backoff * 2, 100), 5000)
        await new Promise((ok) => setTimeout(ok, this.#backoff).unref())
      }
    } finally {
      this.#busy--
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
