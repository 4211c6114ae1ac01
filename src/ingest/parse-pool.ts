// ParsePool parses and validates large pushes on worker threads, so that the main thread, which stores
// points (WAL, head) and answers, is not also the one core that parses: JSON.parse and validation were a
// fifth of its time at full rate, and the second core sat mostly idle.
import { Worker } from 'node:worker_threads'
import {
  type BatchError,
  type CounterType,
  type Logger,
  PeregrineError,
  type PointColumns,
  type PushSeries,
} from '../core/index.js'

/** ParseRequest is what the pool sends a worker: a push's bytes and how to validate them. */
export interface ParseRequest {
  id: number
  bytes: Uint8Array
  /** now: unix seconds, for falcon's timestamp rules. */
  now: number
  maxErrors: number
  /** maxSeries: the most series a worker numbers before it starts again (and says so: `reset`). */
  maxSeries: number
}

/**
 * ParseAnswer is a worker's answer: a fault (the bytes are not JSON, or not an array), or the valid
 * points as columns. A point's series is `ids[i]`, numbered by that worker: the series it had not sent
 * before are in `added`, five fields each (endpoint, metric, tags, counterType, step), numbered on
 * from the ones before, or from 0 when `reset` (the worker forgot every series it had numbered).
 */
export interface ParseAnswer {
  id: number
  fault: { kind: 'json' | 'shape'; message: string } | null
  reset: boolean
  added: (string | number)[]
  ids: Uint32Array
  ts: Float64Array
  vs: Float64Array
  invalid: number
  invalidAt: number[]
  errors: [number, string][]
}

/**
 * ValidatedPush is a push the pool validated: what validateBatch returns, the valid points as columns.
 */
export interface ValidatedPush {
  valid: PointColumns
  invalid: number
  errors: BatchError[]
  invalidAt: number[]
}

/** ParsedPush is a push parsed by the pool: a fault, or the push validated. */
export type ParsedPush =
  { fault: 'json'; message: string } | { fault: 'shape' } | { fault: null; push: ValidatedPush }

interface Pending {
  resolve: (p: ParsedPush) => void
  reject: (err: Error) => void
  /** bytes: the push's size, counted in the pool's queued bytes until it settles. */
  bytes: number
}

/**
 * WORKER_YOUNG_MB bounds a worker's young generation: what it allocates (a push's objects) dies young,
 * and V8's default lets it grow to 48 MB a thread; 8 parsed as fast in compare-vm and held ~30 MB less.
 */
const WORKER_YOUNG_MB = 8

/** MAX_WORKER_SERIES: the series one worker numbers (and the main thread keeps for it) at most. */
export const MAX_WORKER_SERIES = 200_000

// The worker's module beside this one: .js when built, .ts under tsx (which loads it in the worker too).
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './parse-worker.ts' : './parse-worker.js',
  import.meta.url
)

/** One worker thread, the requests it has not answered, and the series it has numbered. */
class ParseWorker {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #series: PushSeries[] = []
  #dead: Error | null = null
  readonly #onExit: (w: ParseWorker) => void

  readonly #settled: (bytes: number) => void

  constructor(url: URL, onExit: (w: ParseWorker) => void, settled: (bytes: number) => void) {
    this.#onExit = onExit
    this.#settled = settled
    // Under tsx (`npm run dev`, `test:one`) the worker registers tsx's loader before it loads the
    // TypeScript module (a worker does not inherit the loader its parent was started with).
    this.#worker = url.pathname.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url.href)}) })`,
          { eval: true }
        )
      : new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } })
    // An idle pool does not keep the process alive; a request in flight does (see post).
    this.#worker.unref()
    this.#worker.on('message', (a: ParseAnswer) => this.#answer(a))
    this.#worker.on('error', (err) => this.#die(err))
    // An answer that cannot be read would leave its push waiting and the series table behind.
    this.#worker.on('messageerror', (err) => {
      this.#die(err)
      void this.#worker.terminate()
    })
    this.#worker.on('exit', (code) =>
      this.#die(new Error(`the parse worker exited with code ${code}`))
    )
  }

  get load(): number {
    return this.#pending.size
  }

  get dead(): boolean {
    return this.#dead !== null
  }

  post(req: ParseRequest, transfer: ArrayBuffer[]): Promise<ParsedPush> {
    if (this.#dead !== null) return Promise.reject(this.#dead)
    const bytes = req.bytes.length
    return new Promise<ParsedPush>((resolve, reject) => {
      try {
        this.#worker.postMessage(req, transfer)
      } catch (err) {
        this.#settled(bytes)
        throw err
      }
      if (this.#pending.size === 0) this.#worker.ref()
      this.#pending.set(req.id, { resolve, reject, bytes })
    })
  }

  terminate(): Promise<number> {
    this.#dead ??= new Error('the parse pool is closed')
    return this.#worker.terminate()
  }

  #answer(a: ParseAnswer): void {
    // Series are taken in the order the worker answered, which is the order it numbered them in.
    if (a.reset) this.#series = []
    const added = a.added
    for (let k = 0; k < added.length; k += 5) {
      this.#series.push({
        endpoint: added[k] as string,
        metric: added[k + 1] as string,
        tags: added[k + 2] as string,
        counterType: added[k + 3] as CounterType,
        step: added[k + 4] as number,
        route: undefined,
      })
    }
    const p = this.#pending.get(a.id)
    if (p === undefined) return
    this.#pending.delete(a.id)
    this.#settled(p.bytes)
    if (this.#pending.size === 0) this.#worker.unref()
    if (a.fault !== null) {
      p.resolve(
        a.fault.kind === 'json' ? { fault: 'json', message: a.fault.message } : { fault: 'shape' }
      )
      return
    }
    p.resolve({
      fault: null,
      push: {
        // The table as it is now: a later reset replaces it, and this push's ids stay valid in it.
        valid: { series: this.#series, ids: a.ids, ts: a.ts, vs: a.vs },
        invalid: a.invalid,
        invalidAt: a.invalidAt,
        errors: a.errors.map(([index, message]) => ({
          index,
          error: new PeregrineError('PG_CORE_INVALID_FIELD', message, { status: 400 }),
        })),
      },
    })
  }

  #die(err: Error): void {
    if (this.#dead === null) this.#dead = err
    else if (this.#pending.size === 0) return
    for (const p of this.#pending.values()) {
      this.#settled(p.bytes)
      p.reject(err)
    }
    this.#pending.clear()
    this.#onExit(this)
  }
}

/** ParsePoolOptions: how many workers, and which pushes go to them. */
export interface ParsePoolOptions {
  workers: number
  /** minBytes: smaller pushes are parsed on the calling thread, where a round trip would cost more. */
  minBytes: number
  log: Logger
  /** name: the component, in log lines. */
  name: string
  /**
   * maxQueuedBytes: the push bytes the workers hold at once, queued or being parsed; a push past it
   * is parsed on the calling thread (which then reads no more until it is done). The HTTP in-flight
   * budget stops counting a push whose client went away; this keeps counting it until it is parsed.
   */
  maxQueuedBytes: number
  /** maxSeries: the series a worker numbers before it starts again (default MAX_WORKER_SERIES). */
  maxSeries?: number
  /** workerUrl: the worker's module (tests give one that fails); default parse-worker beside this. */
  workerUrl?: URL
}

/**
 * ParsePool hands pushes of at least `minBytes` to `workers` worker threads, the least busy first. A
 * worker that dies fails the pushes it held (the caller answers them as a failed push, not
 * acknowledged) and is started again; after repeated deaths within a minute the pool stops using
 * workers and says so, and `parse` answers null (parse on the calling thread).
 */
export class ParsePool {
  readonly #workers: ParseWorker[] = []
  readonly #minBytes: number
  readonly #log: Logger
  readonly #name: string
  #nextId = 1
  #closed = false
  readonly #deaths: number[] = []
  readonly #maxSeries: number
  readonly #url: URL
  readonly #maxQueuedBytes: number
  #queuedBytes = 0

  constructor(o: ParsePoolOptions) {
    this.#minBytes = o.minBytes
    this.#maxSeries = o.maxSeries ?? MAX_WORKER_SERIES
    this.#maxQueuedBytes = o.maxQueuedBytes
    this.#url = o.workerUrl ?? WORKER_URL
    this.#log = o.log
    this.#name = o.name
    for (let k = 0; k < o.workers; k++) this.#workers.push(this.#spawn())
  }

  get workers(): number {
    return this.#workers.length
  }

  /**
   * parse parses and validates `bytes` (a push: an array of MetricValue) on a worker, or returns null
   * when the caller is to do it (a small push, no worker). `bytes` may be handed to the worker (its
   * memory moved there) when it is a whole ArrayBuffer of its own: the caller must not use it after.
   */
  parse(bytes: Buffer, nowSeconds: number, maxErrors: number): Promise<ParsedPush> | null {
    if (
      bytes.length < this.#minBytes ||
      this.#workers.length === 0 ||
      this.#queuedBytes + bytes.length > this.#maxQueuedBytes
    )
      return null
    let w = this.#workers[0]
    for (let k = 1; k < this.#workers.length; k++) {
      if (this.#workers[k].load < w.load) w = this.#workers[k]
    }
    // A Buffer that is a whole ArrayBuffer (Buffer.concat's of a large body) is moved, not copied;
    // one in Node's shared pool is copied (a transfer would take the pool's other buffers along).
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    const view = whole ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes)
    const req: ParseRequest = {
      id: this.#nextId++,
      bytes: view,
      now: nowSeconds,
      maxErrors,
      maxSeries: this.#maxSeries,
    }
    this.#queuedBytes += bytes.length
    return w.post(req, [view.buffer as ArrayBuffer])
  }

  /** queuedBytes: the push bytes the workers hold now. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#workers.map((w) => w.terminate()))
    this.#workers.length = 0
  }

  #spawn(): ParseWorker {
    return new ParseWorker(
      this.#url,
      (dead) => this.#replace(dead),
      (bytes) => (this.#queuedBytes -= bytes)
    )
  }

  #replace(dead: ParseWorker): void {
    const at = this.#workers.indexOf(dead)
    if (at < 0 || this.#closed) return
    const now = Date.now()
    this.#deaths.push(now)
    while (this.#deaths.length > 0 && this.#deaths[0] < now - 60_000) this.#deaths.shift()
    if (this.#deaths.length >= 5) {
      this.#workers.splice(at, 1)
      this.#log.warn(
        `${this.#name}: a parse worker died ${this.#deaths.length} times within a minute; ${this.#workers.length} left${this.#workers.length === 0 ? ', pushes are parsed on the main thread' : ''}`
      )
      return
    }
    this.#log.warn(`${this.#name}: a parse worker died; starting another`)
    this.#workers[at] = this.#spawn()
  }
}
