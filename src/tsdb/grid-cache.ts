// A bounded cache of thinned block chunks: per block and step grid, the samples of each chunk that a
// range query reading the series only at the grid's times can use, so a dashboard's repeated range
// queries decode each immutable chunk once, not once a refresh.
import type { Block, ChunkRef } from './block.js'

/** SAMPLE_BYTES: what a cached sample costs (a value, float64, and its time, a u32 offset). */
const SAMPLE_BYTES = 12
/** GRID_OVERHEAD: the fixed cost of one block's grid, plus per chunk slot (8 bytes). */
const GRID_OVERHEAD = 256

/**
 * BlockGrid holds, for one block and one infinite grid `phase + k × step` (ms), each cached chunk's
 * thinned samples (see `thinChunk`) in two growing columns: times as offsets from the chunk's minT,
 * values as float64. A chunk is cached whole or not at all.
 */
export class BlockGrid {
  readonly block: Block
  readonly step: number
  readonly phase: number
  /** Per chunk id, where its samples start in the columns (-1: not cached) and how many. */
  readonly #start: Int32Array
  readonly #len: Int32Array
  ts: Uint32Array
  vs: Float64Array
  used = 0
  prev: BlockGrid | null = null
  next: BlockGrid | null = null

  constructor(block: Block, step: number, phase: number) {
    this.block = block
    this.step = step
    this.phase = phase
    this.#start = new Int32Array(block.chunkCount).fill(-1)
    this.#len = new Int32Array(block.chunkCount)
    this.ts = new Uint32Array(256)
    this.vs = new Float64Array(256)
  }

  /** bytes is what this grid holds: its columns' capacity and its chunk slots. */
  get bytes(): number {
    return GRID_OVERHEAD + this.ts.length * SAMPLE_BYTES + this.#start.length * 8
  }

  /** has says whether chunk `id` is cached. */
  has(id: number): boolean {
    return this.#start[id] >= 0
  }

  /** start and count of chunk `id`'s samples in the columns (only when `has(id)`). */
  startOf(id: number): number {
    return this.#start[id]
  }

  countOf(id: number): number {
    return this.#len[id]
  }

  /**
   * add caches the `n` samples `ts`/`vs` (times ms, ≥ ref.minT) of chunk `ref`, growing the columns
   * by half when `room(extra)` allows the growth (bytes), and returns whether they were kept.
   */
  add(
    ref: ChunkRef,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    room: (extra: number) => boolean
  ): boolean {
    if (this.used + n > this.ts.length) {
      // By half, not doubling: the slack is memory held for nothing (12 bytes a sample).
      let size = this.ts.length
      while (size < this.used + n) size = Math.ceil(size * 1.5)
      if (!room((size - this.ts.length) * SAMPLE_BYTES)) return false
      const nt = new Uint32Array(size)
      const nv = new Float64Array(size)
      nt.set(this.ts.subarray(0, this.used))
      nv.set(this.vs.subarray(0, this.used))
      this.ts = nt
      this.vs = nv
    }
    const at = this.used
    for (let i = 0; i < n; i++) {
      this.ts[at + i] = ts[i] - ref.minT
      this.vs[at + i] = vs[i]
    }
    this.#start[ref.id] = at
    this.#len[ref.id] = n
    this.used += n
    return true
  }
}

/**
 * GridCache holds BlockGrids under a byte budget (`TsdbOptions.gridCacheBytes`), least recently used
 * leaving first; a block's grids leave when the block is closed (compaction, retention). A budget of 0
 * turns it off. One cache serves one database; it is used from synchronous code only.
 */
export class GridCache {
  readonly budget: number
  #used = 0
  #head: BlockGrid | null = null
  #tail: BlockGrid | null = null
  readonly #byBlock = new Map<Block, BlockGrid[]>()
  #hits = 0
  #misses = 0

  constructor(budget: number) {
    this.budget = budget
  }

  get enabled(): boolean {
    return this.budget > 0
  }

  /** stats: bytes held, grids, and chunk hits and misses since the cache was made. */
  stats(): { bytes: number; grids: number; hits: number; misses: number } {
    let grids = 0
    for (const list of this.#byBlock.values()) grids += list.length
    return { bytes: this.#used, grids, hits: this.#hits, misses: this.#misses }
  }

  /** count records a chunk read through the cache: found (hit) or thinned afresh (miss). */
  count(hit: boolean): void {
    if (hit) this.#hits++
    else this.#misses++
  }

  /**
   * grid returns block's grid of `step` and `phase` (0 ≤ phase < step), made empty when missing, and
   * marks it the most recently used; null when even an empty grid does not fit the budget.
   */
  grid(block: Block, step: number, phase: number): BlockGrid | null {
    let list = this.#byBlock.get(block)
    if (list !== undefined) {
      for (const g of list) {
        if (g.step === step && g.phase === phase) {
          if (g !== this.#head) {
            this.#unlink(g)
            this.#pushHead(g)
          }
          return g
        }
      }
    }
    const g = new BlockGrid(block, step, phase)
    if (!this.#makeRoom(g.bytes, null)) return null
    // Making room may have evicted this block's last grid, and its list with it.
    list = this.#byBlock.get(block)
    if (list === undefined) {
      list = []
      this.#byBlock.set(block, list)
      block.useGridCache(this)
    }
    list.push(g)
    this.#used += g.bytes
    this.#pushHead(g)
    return g
  }

  /** room is what a grid asks before growing by `extra` bytes: older grids leave to make it. */
  room(g: BlockGrid, extra: number): boolean {
    if (!this.#makeRoom(extra, g)) return false
    this.#used += extra
    return true
  }

  /** drop forgets every grid of a block (it is being closed). */
  drop(block: Block): void {
    const list = this.#byBlock.get(block)
    if (list === undefined) return
    for (const g of [...list]) this.#remove(g)
  }

  // Evicts least recently used grids (never `keep`) until `extra` more bytes fit; false when they can't.
  #makeRoom(extra: number, keep: BlockGrid | null): boolean {
    if (extra > this.budget) return false
    while (this.#used + extra > this.budget) {
      let victim = this.#tail
      if (victim === keep) victim = victim?.prev ?? null
      if (victim === null) return false
      this.#remove(victim)
    }
    return true
  }

  #remove(g: BlockGrid): void {
    this.#unlink(g)
    this.#used -= g.bytes
    const list = this.#byBlock.get(g.block)
    if (list === undefined) return
    const i = list.indexOf(g)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#byBlock.delete(g.block)
  }

  #pushHead(g: BlockGrid): void {
    g.prev = null
    g.next = this.#head
    if (this.#head !== null) this.#head.prev = g
    this.#head = g
    if (this.#tail === null) this.#tail = g
  }

  #unlink(g: BlockGrid): void {
    if (g.prev !== null) g.prev.next = g.next
    else if (this.#head === g) this.#head = g.next
    if (g.next !== null) g.next.prev = g.prev
    else if (this.#tail === g) this.#tail = g.prev
    g.prev = null
    g.next = null
  }
}

/**
 * thinChunk keeps, of the `n` samples of one chunk in ts/vs (ascending), those a read at the grid
 * times `phase + k × step` (every integer k) can pick, compacted in place, and returns how many: a
 * sample is kept when a grid time falls at or after it and before the next sample, and the last
 * sample always (a later chunk decides). Thinning each source of a series so and then the merged
 * series at the query's own grid gives what thinning the merged raw samples gives: the sample a
 * grid time picks is the newest at or before it, which its own source keeps.
 */
export function thinChunk(
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  step: number,
  phase: number
): number {
  let w = 0
  for (let i = 0; i < n; i++) {
    const t = ts[i]
    if (i + 1 < n && ts[i + 1] <= phase + Math.ceil((t - phase) / step) * step) continue
    ts[w] = t
    vs[w] = vs[i]
    w++
  }
  return w
}
