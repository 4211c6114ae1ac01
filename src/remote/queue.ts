// The remote storage forward queue: every accepted point is written to a spool on local disk (acknowledged
// once fdatasynced there), then sent to the store as Prometheus remote write, retried until the store
// takes it. What the store refuses (a 4xx other than 429) is sent again too unless
// `remoteStorage.onRefused` is `drop` (Prometheus's way): a wrong URL or missing credentials answer so.
import { accessSync, constants, mkdirSync, type Stats, statSync } from 'node:fs'
import { resolve, sep } from 'node:path'
import { encodeSnappy, type Logger, PeregrineError } from '../core/index.js'
import { DiskBudget, Spool, type SpoolBatch } from '../spool/index.js'
import type { RemoteStorageConfig } from './config.js'

/** ForwardCounters are what the queue did, for /metrics and /counter/all. */
export interface ForwardCounters {
  /** enqueuedSamples: samples acknowledged into the queue (durable on local disk). */
  enqueuedSamples: number
  /** sentSamples, sentRequests: what the store answered 2xx for. */
  sentSamples: number
  sentRequests: number
  /** failedRequests: requests that failed (5xx, 429, no answer, timeout) and were retried. */
  failedRequests: number
  /** droppedSamples, droppedRequests: refused by the store with a 4xx other than 429 (malformed). */
  droppedSamples: number
  droppedRequests: number
  /** refusedSamples: appends refused because the queue was full (never acknowledged). */
  refusedSamples: number
  /** refusedRequests: requests the store refused with a 4xx other than 429, kept and sent again. */
  refusedRequests: number
}

interface Out {
  batch: SpoolBatch
  body: Buffer
  done: boolean
  tries: number
}

/** How long an answer's text may be in a log line and an error. */
const MAX_ERROR_TEXT = 512

/**
 * ForwardQueue is the durable queue between transfer and a remote write receiver. `append` resolves
 * once a record (remote write TimeSeries, see encode.ts) is fdatasynced in the spool; a pump keeps up
 * to `sendConcurrency` requests of at most `maxSamplesPerSend` samples in flight, acknowledges them to
 * the spool in order, and after a failure waits (doubling from `minBackoff` to `maxBackoff`, or the
 * store's Retry-After) before sending again.
 */
export class ForwardQueue {
  readonly counters: ForwardCounters = {
    enqueuedSamples: 0,
    sentSamples: 0,
    sentRequests: 0,
    failedRequests: 0,
    droppedSamples: 0,
    droppedRequests: 0,
    refusedSamples: 0,
    refusedRequests: 0,
  }
  /** lastError: the last failure, as a sentence ('' when the last request went through). */
  lastError = ''
  readonly #cfg: Readonly<RemoteStorageConfig>
  readonly #log: Logger
  readonly #now: () => number
  readonly #spool: Spool
  readonly #budget: DiskBudget
  readonly #out: Out[] = []
  #backoff = 0
  #retryTimer: NodeJS.Timeout | null = null
  #closed = false
  readonly #aborts = new Set<AbortController>()
  // When each append was acknowledged, by the running count of samples appended: the oldest sample
  // the store does not have yet is the first entry past what it acknowledged (the lag).
  readonly #appendTimes: { upTo: number; at: number }[] = []
  #appended = 0
  #acked = 0

  private constructor(cfg: Readonly<RemoteStorageConfig>, log: Logger, now: () => number) {
    this.#cfg = cfg
    this.#log = log
    this.#now = now
    this.#budget = new DiskBudget(cfg.maxQueueBytes)
    try {
      makeDirectory(cfg.queueDir)
    } catch (err) {
      throw new Error(
        `remoteStorage.queueDir: cannot make ${JSON.stringify(cfg.queueDir)} a directory for the forward queue (${(err as Error).message}); give a writable directory`,
        { cause: err }
      )
    }
    this.#spool = Spool.open(
      cfg.queueDir,
      {
        name: 'remote storage queue',
        fullError: (used, max) =>
          new PeregrineError(
            'PG_REMOTE_QUEUE_FULL',
            `remote storage: the forward queue holds ${used} bytes and remoteStorage.maxQueueBytes is ${max}: the store at ${cfg.writeUrl} is not taking points (${this.lastError || 'slower than they arrive'}); nothing of this push is acknowledged: push it again later, bring the store back, or raise remoteStorage.maxQueueBytes`,
            { status: 503 }
          ),
        writeError: (dir, cause) =>
          new PeregrineError(
            'PG_REMOTE_QUEUE_WRITE',
            `remote storage: the forward queue (${dir}) cannot be written (${cause.message}); nothing of this push is acknowledged: free space or fix the disk, then push it again`,
            { status: 503, cause }
          ),
      },
      this.#budget,
      log
    )
    // What the disk held from before: its age is counted from now.
    this.#appended = this.#spool.points
    if (this.#appended > 0) {
      this.#appendTimes.push({ upTo: this.#appended, at: now() })
      log.info(
        `remote storage: ${this.#appended} samples in the forward queue (${cfg.queueDir}) from before; sending them to ${cfg.writeUrl}`
      )
    }
  }

  /** open opens (or creates) the queue's directory and starts sending what it holds. */
  static open(
    cfg: Readonly<RemoteStorageConfig>,
    log: Logger,
    now: () => number = Date.now
  ): ForwardQueue {
    const q = new ForwardQueue(cfg, log, now)
    q.#pump()
    return q
  }

  /**
   * append keeps a record of `samples` samples (remote write TimeSeries) and resolves once it is
   * durable; it rejects with PG_REMOTE_QUEUE_FULL or PG_REMOTE_QUEUE_WRITE, keeping nothing of it.
   */
  async append(record: Uint8Array, samples: number): Promise<void> {
    try {
      await this.#spool.append(record, samples)
    } catch (err) {
      this.counters.refusedSamples += samples
      throw err
    }
    this.counters.enqueuedSamples += samples
    this.#appended += samples
    const last = this.#appendTimes.at(-1)
    const at = this.#now()
    // One entry per millisecond is enough for a lag in seconds.
    if (last !== undefined && last.at === at) last.upTo = this.#appended
    else this.#appendTimes.push({ upTo: this.#appended, at })
    this.#pump()
  }

  /** dir: where the queue's segment files are. */
  get dir(): string {
    return this.#cfg.queueDir
  }

  /** pendingSamples: samples acknowledged into the queue and not yet to the store. */
  get pendingSamples(): number {
    return this.#spool.points
  }

  /** pendingBytes: bytes the queue's segment files hold. */
  get pendingBytes(): number {
    return this.#spool.bytes
  }

  /** lagSeconds: how long the oldest sample the store does not have yet has waited (0: none). */
  get lagSeconds(): number {
    const first = this.#appendTimes[0]
    return first === undefined ? 0 : Math.max(0, (this.#now() - first.at) / 1000)
  }

  /** inFlight: remote write requests out now. */
  get inFlight(): number {
    return this.#out.length
  }

  /** close stops sending (requests out are aborted: they are sent again after a restart). */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    for (const a of this.#aborts) a.abort(new Error('transfer is stopping'))
    await this.#spool.close()
  }

  // Sends what the spool holds, up to sendConcurrency requests at once, unless waiting out a backoff.
  #pump(): void {
    if (this.#closed || this.#retryTimer !== null) return
    while (this.#out.length < this.#cfg.sendConcurrency) {
      const batch = this.#spool.next(this.#cfg.maxSamplesPerSend, this.#cfg.maxBytesPerSend)
      if (batch === null) return
      const out: Out = {
        batch,
        // Records are TimeSeries fields: their concatenation is one WriteRequest.
        body: encodeSnappy(Buffer.concat(batch.records, batch.bytes)),
        done: false,
        tries: 0,
      }
      this.#out.push(out)
      this.#send(out)
    }
  }

  #send(out: Out): void {
    out.tries++
    const abort = new AbortController()
    this.#aborts.add(abort)
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer in ${this.#cfg.timeout} ms (remoteStorage.timeout)`)),
      this.#cfg.timeout
    )
    fetch(this.#cfg.writeUrl, {
      method: 'POST',
      body: new Uint8Array(out.body.buffer as ArrayBuffer, out.body.byteOffset, out.body.length),
      headers: {
        ...this.#cfg.headers,
        'Content-Type': 'application/x-protobuf',
        'Content-Encoding': 'snappy',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
        'User-Agent': 'peregrine-transfer',
      },
      signal: abort.signal,
      redirect: 'error',
    })
      .then(
        async (res) => {
          const text = await boundedText(res)
          return { status: res.status, text, retryAfter: res.headers.get('retry-after') }
        },
        (err: unknown) => ({
          status: 0,
          text: abort.signal.aborted
            ? String((abort.signal.reason as Error | undefined)?.message ?? 'aborted')
            : causeOf(err),
          retryAfter: null,
        })
      )
      .then(({ status, text, retryAfter }) => {
        clearTimeout(timer)
        this.#aborts.delete(abort)
        if (this.#closed) return
        if (status >= 200 && status < 300) {
          this.counters.sentSamples += out.batch.points
          this.counters.sentRequests++
          if (this.lastError !== '' || this.#backoff > 0) {
            this.#log.info(`remote storage: ${this.#cfg.writeUrl} takes points again`)
          }
          this.lastError = ''
          this.#backoff = 0
          this.#finish(out)
        } else if (
          status >= 400 &&
          status < 500 &&
          status !== 429 &&
          this.#cfg.onRefused === 'drop'
        ) {
          this.counters.droppedSamples += out.batch.points
          this.counters.droppedRequests++
          this.lastError = `${this.#cfg.writeUrl} answered ${status}: ${text}`
          this.#log.error(
            `remote storage: ${this.#cfg.writeUrl} refused ${out.batch.points} samples (${status}: ${text}); they are dropped (remoteStorage.onRefused: drop) and counted in peregrine_remote_dropped_samples_total`
          )
          this.#finish(out)
        } else if (status >= 400 && status < 500 && status !== 429) {
          // Refused, and kept: a wrong URL or missing credentials must not cost acknowledged points.
          this.counters.failedRequests++
          this.counters.refusedRequests++
          const first = this.lastError === ''
          this.lastError = `${this.#cfg.writeUrl} answered ${status}: ${text}`
          if (first || this.counters.refusedRequests % 100 === 1)
            this.#log.error(
              `remote storage: ${this.#cfg.writeUrl} refuses remote write (${status}: ${text}); check remoteStorage.writeUrl, headers (tenant, credentials) and the store's limits. The ${this.#spool.points} samples in the forward queue are kept and sent again; once it is full pushes are refused (remoteStorage.onRefused: drop drops such requests instead)`
            )
          this.#retry(out, null)
        } else {
          this.counters.failedRequests++
          const why = status === 0 ? text : `answered ${status}: ${text}`
          if (this.lastError === '')
            this.#log.warn(
              `remote storage: ${this.#cfg.writeUrl} ${why}; ${this.#spool.points} samples are kept in the forward queue and sent again`
            )
          this.lastError = `${this.#cfg.writeUrl} ${why}`
          this.#retry(out, retryAfter)
        }
      })
      .catch((err: unknown) => {
        // A bug above must not leave the queue stuck with a request counted out.
        this.#log.error(`remote storage: BUG: ${(err as Error).stack ?? String(err)}`)
        this.#retry(out, null)
      })
  }

  // A request that went through (or was dropped): the spool moves past every finished request at the
  // front, in order, so a restart never skips one still out.
  #finish(out: Out): void {
    out.done = true
    while (this.#out.length > 0 && this.#out[0].done) {
      const first = this.#out.shift() as Out
      this.#spool.ack(first.batch)
      this.#acked += first.batch.points
    }
    while (this.#appendTimes.length > 0 && this.#appendTimes[0].upTo <= this.#acked)
      this.#appendTimes.shift()
    if (this.#appendTimes.length === 0) {
      // Counts start again so they never grow without bound.
      this.#appended -= this.#acked
      this.#acked = 0
    }
    this.#pump()
  }

  // The same request again after the backoff; no new request starts meanwhile.
  #retry(out: Out, retryAfter: string | null): void {
    const { minBackoff, maxBackoff } = this.#cfg
    this.#backoff = this.#backoff === 0 ? minBackoff : Math.min(maxBackoff, this.#backoff * 2)
    let wait = this.#backoff
    const asked = retryAfter === null ? NaN : Number(retryAfter)
    if (Number.isFinite(asked) && asked >= 0)
      wait = Math.min(maxBackoff, Math.max(wait, asked * 1000))
    const again = () => {
      if (this.#closed) return
      this.#send(out)
    }
    if (this.#retryTimer === null) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null
        // Every failed request goes again; the first to answer opens the way for new ones.
        again()
        for (const o of this.#waiting.splice(0)) this.#send(o)
        this.#pump()
      }, wait)
    } else this.#waiting.push(out)
  }
  readonly #waiting: Out[] = []
}

// The start of an answer's body as one line: at most 64 KiB is read, the rest cancelled.
// Makes `dir` and its missing parents one at a time: Node's recursive mkdir can spin forever on a
// path under /proc, and an error here names the part that failed.
function makeDirectory(dir: string): void {
  const parts = resolve(dir).split(sep)
  let path = ''
  for (let i = 1; i <= parts.length; i++) {
    path = parts.slice(0, i).join(sep) || sep
    let st: Stats | undefined
    try {
      st = statSync(path)
    } catch {
      mkdirSync(path)
      continue
    }
    if (!st.isDirectory()) throw new Error(`${path} is not a directory`)
  }
  accessSync(path, constants.W_OK)
}

async function boundedText(res: Response): Promise<string> {
  const reader = res.body?.getReader()
  if (reader === undefined) return ''
  const parts: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
      size += value.length
      if (size >= 64 << 10) {
        await reader.cancel()
        break
      }
    }
  } catch {
    // What was read is enough for a message.
  }
  const one = Buffer.concat(parts).toString('utf8').replace(/\s+/g, ' ').trim()
  return one.length > MAX_ERROR_TEXT ? one.slice(0, MAX_ERROR_TEXT) + '…' : one
}

function causeOf(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } }
  const c = e.cause
  if (c !== undefined) return `cannot be reached (${c.code ?? c.message})`
  return `cannot be reached (${e.message})`
}
