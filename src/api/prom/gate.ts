// How many queries run at once (Prometheus's --query.max-concurrency): the others wait their turn in
// a bounded line, and a query that cannot get a slot in its time is answered, not left waiting.
import { PromError } from './errors.js'

/**
 * QueryGate lets `max` queries run at once. Past that, up to `maxWaiting` wait in arrival order; one
 * more is refused at once (unavailable, 503), and a waiting one whose signal aborts (its timeout, or
 * its client gone) leaves the line with a timeout (503).
 *
 *   running: [q1 … q_max]      waiting: q → q → q (≤ maxWaiting)      refused: the next one
 */
export class QueryGate {
  #running = 0
  readonly #waiting: { go: () => void }[] = []
  /** refused: queries answered 503 because the line was full; timedOut: those that waited too long. */
  refused = 0
  timedOut = 0

  constructor(
    readonly max: number,
    readonly maxWaiting: number
  ) {}

  get running(): number {
    return this.#running
  }

  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * acquire resolves with `release` once the query may run; the caller must call it exactly once when
   * the query ends. It rejects when the line is full or `signal` aborts first.
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    let released = false
    const release = () => {
      if (released) return
      released = true
      // The slot passes to the first in line, or frees.
      const next = this.#waiting.shift()
      if (next !== undefined) next.go()
      else this.#running--
    }
    if (this.#running < this.max) {
      this.#running++
      return Promise.resolve(release)
    }
    if (this.#waiting.length >= this.maxWaiting) {
      this.refused++
      return Promise.reject(
        new PromError(
          'unavailable',
          `too many queries: ${this.max} running and ${this.maxWaiting} waiting (api.query.maxConcurrency, api.query.maxWaiting); try again shortly`
        )
      )
    }
    if (signal.aborted) return Promise.reject(this.#timeout())
    return new Promise((resolve, reject) => {
      const entry = {
        go: () => {
          signal.removeEventListener('abort', onAbort)
          resolve(release)
        },
      }
      const onAbort = () => {
        const at = this.#waiting.indexOf(entry)
        if (at >= 0) this.#waiting.splice(at, 1)
        reject(this.#timeout())
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(entry)
    })
  }

  #timeout(): PromError {
    this.timedOut++
    return new PromError(
      'timeout',
      `query timed out while waiting for one of the ${this.max} query slots (api.query.maxConcurrency)`
    )
  }
}
