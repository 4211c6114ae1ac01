// A bounded cache of block chunk bytes: pages of a block's chunk region, read with one pread each and
// kept in least-recently-used order under a byte budget, so a query reads chunks without a syscall each.

/** PAGE_BYTES is the unit the cache reads and keeps: 256 KiB of a block's chunk region. */
export const PAGE_BYTES = 1 << 18

/** PageTable is a block's page slots: page i of its chunk region, when cached. */
export type PageTable = (CachedPage | undefined)[]

/** CachedPage is page `index` of one block, its bytes in `buf`. */
export interface CachedPage {
  readonly table: PageTable
  readonly index: number
  readonly buf: Uint8Array
  prev: CachedPage | null
  next: CachedPage | null
}

/**
 * BlockCache holds pages of block files under a byte budget (`TsdbOptions.blockCacheBytes`): a page is
 * loaded when a read needs it and the least recently used pages leave when the budget is reached. A
 * budget below one page turns the cache off (blocks then pread each chunk). Pages of a block closed
 * (deleted by compaction or retention) leave at once. One cache serves one database.
 */
export class BlockCache {
  readonly budget: number
  #used = 0
  // The list runs from the most recently used (head) to the least (tail).
  #head: CachedPage | null = null
  #tail: CachedPage | null = null
  #pages = 0
  #hits = 0
  #misses = 0

  constructor(budget: number) {
    this.budget = budget
  }

  /** enabled says whether a page fits the budget at all. */
  get enabled(): boolean {
    return this.budget >= PAGE_BYTES
  }

  /** stats: bytes and pages held, and page hits and misses since the cache was made. */
  stats(): { bytes: number; pages: number; hits: number; misses: number } {
    return { bytes: this.#used, pages: this.#pages, hits: this.#hits, misses: this.#misses }
  }

  /** get returns page `index` of a block's `table` when cached, and marks it the most recently used. */
  get(table: PageTable, index: number): Uint8Array | undefined {
    const p = table[index]
    if (p === undefined) {
      this.#misses++
      return undefined
    }
    this.#hits++
    if (p !== this.#head) {
      this.#unlink(p)
      this.#pushHead(p)
    }
    return p.buf
  }

  /**
   * alloc returns a buffer of `len` bytes for a page about to be loaded, making room under the budget
   * first (the least recently used pages leave; a buffer of theirs of that size is reused).
   */
  alloc(len: number): Uint8Array {
    let reuse: Uint8Array | undefined
    while (this.#used + len > this.budget && this.#tail !== null) {
      const victim = this.#tail
      this.#remove(victim)
      if (victim.buf.length === len) reuse = victim.buf
    }
    return reuse ?? new Uint8Array(len)
  }

  /** put caches `buf` (from `alloc`, now loaded) as page `index` of a block's `table`. */
  put(table: PageTable, index: number, buf: Uint8Array): void {
    const old = table[index]
    if (old !== undefined) this.#remove(old)
    const p: CachedPage = { table, index, buf, prev: null, next: null }
    table[index] = p
    this.#used += buf.length
    this.#pages++
    this.#pushHead(p)
  }

  /** drop removes every page of a block's `table` (the block is closed). */
  drop(table: PageTable): void {
    for (const p of table) if (p !== undefined) this.#remove(p)
    table.length = 0
  }

  // Takes p out of the list and empties its slot in its block's table.
  #remove(p: CachedPage): void {
    this.#unlink(p)
    this.#used -= p.buf.length
    this.#pages--
    p.table[p.index] = undefined
  }

  #unlink(p: CachedPage): void {
    if (p.prev !== null) p.prev.next = p.next
    else if (this.#head === p) this.#head = p.next
    if (p.next !== null) p.next.prev = p.prev
    else if (this.#tail === p) this.#tail = p.prev
    p.prev = null
    p.next = null
  }

  #pushHead(p: CachedPage): void {
    p.next = this.#head
    p.prev = null
    if (this.#head !== null) this.#head.prev = p
    this.#head = p
    if (this.#tail === null) this.#tail = p
  }
}
