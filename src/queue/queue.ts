// The Queue seam: Open-Falcon's Redis lists (judge LPUSHes events, alarm BRPOPs them), in-process or in Redis.

/** QueueStats counts what went through a queue since it was created. */
export interface QueueStats {
  /** payloads accepted by push */
  pushed: number
  /** payloads returned by pop */
  popped: number
  /** payloads accepted but not yet in Redis (held in memory or spilled to disk); 0 for the memory queue */
  backlog: number
  /** payloads ever written to the spill file */
  spilled: number
  /** payloads delivered to Redis after being held in memory or spilled */
  replayed: number
}

/** Queue is a set of named FIFO lists with falcon's semantics. */
export interface Queue {
  /** push appends payloads to the named list (falcon: LPUSH); resolves once accepted (in memory, in Redis, or spilled to disk). */
  push(list: string, ...payloads: string[]): Promise<void>
  /** pop takes the oldest payload from the first non-empty of `lists` in order (falcon: BRPOP lists... timeout), waiting up to timeoutMs; undefined on timeout. */
  pop(
    lists: readonly string[],
    timeoutMs: number
  ): Promise<{ list: string; payload: string } | undefined>
  /** length of one list (LLEN). */
  length(list: string): Promise<number>
  /** stats: pushed, popped, backlog (held in memory or spilled while Redis is down), spilled, replayed. */
  stats(): QueueStats
  /** close wakes waiting poppers (with undefined) and, for Redis, keeps what is still held for the next start. */
  close(): Promise<void>
}

/** Fifo is an array-backed FIFO with amortised O(1) push and shift. */
export class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(value: T): void {
    this.items.push(value)
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const value = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return value
  }

  /** peek returns up to n of the oldest values without removing them. */
  peek(n: number): T[] {
    return this.items.slice(this.head, this.head + n) as T[]
  }

  /** drop removes the n oldest values. */
  drop(n: number): void {
    for (let i = 0; i < n; i++) this.shift()
  }

  /** take removes and returns every value, oldest first. */
  take(): T[] {
    const all = this.items.slice(this.head) as T[]
    this.items = []
    this.head = 0
    return all
  }
}
