// A bounded cache of series thinned to a step grid: per grid and series, the samples of its blocks that
// a range query reading the series only at the grid's times can use, in one run, so that a dashboard's
// repeated range queries decode each immutable chunk once, not once a refresh, and read a series in
// one copy rather than chunk by chunk.
import { type Columns, ensureRoom } from './chunk/chunk.js'
import type { MemSeries } from './series.js'

/** SAMPLE_BYTES: what a cached sample costs (a value, float64, and its time, a u32 offset). */
const SAMPLE_BYTES = 12
/** SLOT_BYTES: what a grid keeps per series id it has room for (where an entry is and what it covers). */
const SLOT_BYTES = 4 * 6 + 8 * 2 + 1
/** GRID_OVERHEAD: the fixed cost of one grid. */
const GRID_OVERHEAD = 256
/** MAX_SPAN: an entry's times are u32 offsets from its first: a longer run of blocks is not cached. */
const MAX_SPAN = 2 ** 32
/**
 * SEGMENT_MIN and SEGMENT_MAX bound the samples of one segment of a grid's columns (3 KiB to 768 KiB):
 * a grid grows by a new segment of half its size, never by copying, so filling a cache of tens of MB
 * allocates it once rather than again at each doubling (memory the allocator may not give back).
 */
const SEGMENT_MIN = 256
const SEGMENT_MAX = 65_536

/** NO_ENTRY and EMPTY_ENTRY: a series' segment when it has no entry, and when its entry has no sample. */
const NO_ENTRY = -1
const EMPTY_ENTRY = -2

/** Segment is one piece of a grid's columns: entries never span two. */
class Segment {
  readonly ts: Uint32Array
  readonly vs: Float64Array
  /** used: samples written; live: those of current entries (the rest is garbage). */
  used = 0
  live = 0

  constructor(size: number) {
    this.ts = new Uint32Array(size)
    this.vs = new Float64Array(size)
  }

  get bytes(): number {
    return this.ts.length * SAMPLE_BYTES
  }
}

/**
 * SeriesGrid holds, for one infinite grid `phase + k × step` (ms), per series (by id) at most one entry:
 * the samples of a run of the series' blocks, `inBlocks[lo … hi)` as it was at epoch `blocksEpoch`,
 * each block chunk thinned to those the grid's times can pick (`thinChunk`), concatenated in
 * inBlocks order. Blocks older than the run end at `before`: a read after that never needs them.
 */
export class SeriesGrid {
  readonly step: number
  readonly phase: number
  // Per series id: its entry's segment (NO_ENTRY, or EMPTY_ENTRY for one of no sample), where it starts there and how many samples it has,
  // the blocks it covers, the series' blocksEpoch then, the time its offsets count from, the newest
  // time of the blocks before the run, and whether its samples ascend.
  #seg: Int32Array = new Int32Array(0)
  #at: Int32Array = new Int32Array(0)
  #len: Int32Array = new Int32Array(0)
  #lo: Int32Array = new Int32Array(0)
  #hi: Int32Array = new Int32Array(0)
  #epoch: Int32Array = new Int32Array(0)
  #base: Float64Array = new Float64Array(0)
  #before: Float64Array = new Float64Array(0)
  #sorted: Uint8Array = new Uint8Array(0)
  /** The segments (null where one was freed) and the one new entries go into (-1: none yet). */
  readonly #segments: (Segment | null)[] = []
  #open = -1
  /** Samples the segments hold room for, and samples of garbage in them. */
  #capacity = 0
  #garbage = 0
  prev: SeriesGrid | null = null
  next: SeriesGrid | null = null

  constructor(step: number, phase: number) {
    this.step = step
    this.phase = phase
  }

  /** bytes is what this grid holds: its segments and its series slots. */
  get bytes(): number {
    return GRID_OVERHEAD + this.#capacity * SAMPLE_BYTES + this.#at.length * SLOT_BYTES
  }

  /**
   * covers tells whether s's entry answers a read of (from, …]: made at the series' current epoch,
   * reaching its newest block, and starting early enough.
   */
  covers(s: MemSeries, from: number): boolean {
    const id = s.id
    if (id >= this.#seg.length || this.#seg[id] === NO_ENTRY) return false
    if (this.#epoch[id] !== s.blocksEpoch || this.#hi[id] !== s.inBlocks.length) return false
    return this.#lo[id] === 0 || this.#before[id] <= from
  }

  /**
   * run says which of s's blocks an entry holds now, or null when it has none of the series' current
   * epoch (it is then rebuilt).
   */
  run(s: MemSeries): { lo: number; hi: number } | null {
    const id = s.id
    if (id >= this.#seg.length || this.#seg[id] === NO_ENTRY || this.#epoch[id] !== s.blocksEpoch)
      return null
    return { lo: this.#lo[id], hi: this.#hi[id] }
  }

  /** append appends s's cached samples in (from, to] to `out` (only when `covers`). */
  append(s: MemSeries, from: number, to: number, out: Columns): void {
    const id = s.id
    if (this.#seg[id] === EMPTY_ENTRY) return
    const seg = this.#segments[this.#seg[id]] as Segment
    const start = this.#at[id]
    const end = start + this.#len[id]
    const base = this.#base[id]
    const ts = seg.ts
    const vs = seg.vs
    // Offsets: a sample is in range when from - base < offset ≤ to - base.
    const lo = from - base
    const hi = to - base
    let i = start
    let j = end
    if (this.#sorted[id] === 1) {
      while (i < j && ts[i] <= lo) i++
      while (j > i && ts[j - 1] > hi) j--
      if (j <= i) return
      ensureRoom(out, out.n + j - i)
      const ots = out.ts
      const ovs = out.vs
      let w = out.n
      for (; i < j; i++, w++) {
        ots[w] = ts[i] + base
        ovs[w] = vs[i]
      }
      out.n = w
      return
    }
    ensureRoom(out, out.n + j - i)
    const ots = out.ts
    const ovs = out.vs
    let w = out.n
    for (; i < j; i++) {
      const t = ts[i]
      if (t <= lo || t > hi) continue
      ots[w] = t + base
      ovs[w] = vs[i]
      w++
    }
    out.n = w
  }

  /**
   * put makes `n` samples ts/vs (ms) s's entry, covering inBlocks[lo … hi) at its current epoch with
   * the blocks before ending at `before`, in room `room(extra)` grants (bytes; a negative `extra` gives
   * bytes back); returns whether it was kept. Its previous entry, if any, becomes garbage.
   */
  put(
    s: MemSeries,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    lo: number,
    hi: number,
    before: number,
    room: (extra: number) => boolean
  ): boolean {
    let base = Infinity
    let last = -Infinity
    for (let i = 0; i < n; i++) {
      const t = ts[i]
      if (t < base) base = t
      if (t > last) last = t
    }
    if (n === 0) base = last = 0
    const id = s.id
    if (id >= this.#seg.length && !this.#growSlots(id + 1, room)) return false
    this.#drop(id, room)
    if (last - base >= MAX_SPAN) return false
    if (n === 0) {
      // In no segment: an entry a segment does not count as live must not point into it.
      this.#seg[id] = EMPTY_ENTRY
      this.#setRun(id, 0, 0, 0, { lo, hi, epoch: s.blocksEpoch, before })
      return true
    }
    if (this.#garbage * 2 > this.#capacity && this.#capacity > SEGMENT_MAX) this.#compact(room)
    const k = this.#place(n, room)
    if (k < 0) return false
    this.#write(id, k, ts, vs, n, base, { lo, hi, epoch: s.blocksEpoch, before })
    return true
  }

  // Writes entry `id` at the end of segment k: n samples, times ms, stored as offsets from base.
  #write(
    id: number,
    k: number,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    base: number,
    run: { lo: number; hi: number; epoch: number; before: number }
  ): void {
    const seg = this.#segments[k] as Segment
    const at = seg.used
    const cts = seg.ts
    const cvs = seg.vs
    let sorted = 1
    for (let i = 0; i < n; i++) {
      cts[at + i] = ts[i] - base
      cvs[at + i] = vs[i]
      if (i > 0 && !(ts[i] > ts[i - 1])) sorted = 0
    }
    seg.used += n
    seg.live += n
    this.#seg[id] = k
    this.#setRun(id, at, n, base, run)
    this.#sorted[id] = sorted
  }

  #setRun(
    id: number,
    at: number,
    n: number,
    base: number,
    run: { lo: number; hi: number; epoch: number; before: number }
  ): void {
    this.#at[id] = at
    this.#len[id] = n
    this.#lo[id] = run.lo
    this.#hi[id] = run.hi
    this.#epoch[id] = run.epoch
    this.#base[id] = base
    this.#before[id] = run.before
  }

  /** copyOut writes s's entry (times in ms) to ts/vs from index `at` and returns how many. */
  copyOut(s: MemSeries, ts: Float64Array, vs: Float64Array, at: number): number {
    const id = s.id
    if (this.#seg[id] === EMPTY_ENTRY) return 0
    const seg = this.#segments[this.#seg[id]] as Segment
    const start = this.#at[id]
    const n = this.#len[id]
    const base = this.#base[id]
    for (let i = 0; i < n; i++) {
      ts[at + i] = seg.ts[start + i] + base
      vs[at + i] = seg.vs[start + i]
    }
    return n
  }

  /** entryLength is how many samples s's entry holds (only when `run` is not null). */
  entryLength(s: MemSeries): number {
    return this.#len[s.id]
  }

  // Makes entry `id` garbage: a segment left without a live entry is freed (the open one emptied).
  #drop(id: number, room: (extra: number) => boolean): void {
    const k = this.#seg[id]
    if (k === EMPTY_ENTRY) this.#seg[id] = NO_ENTRY
    if (k < 0) return
    const seg = this.#segments[k] as Segment
    seg.live -= this.#len[id]
    this.#garbage += this.#len[id]
    this.#seg[id] = NO_ENTRY
    this.#len[id] = 0
    if (seg.live > 0) return
    if (k === this.#open) {
      this.#garbage -= seg.used
      seg.used = 0
    } else this.#free(k, room)
  }

  #free(k: number, room: (extra: number) => boolean): void {
    const seg = this.#segments[k] as Segment
    this.#segments[k] = null
    this.#capacity -= seg.ts.length
    this.#garbage -= seg.used - seg.live
    room(-seg.bytes)
  }

  // The segment an entry of n samples goes into: the open one, or a new one when that is full; -1
  // when the budget has no room for a new one.
  #place(n: number, room: (extra: number) => boolean): number {
    const open = this.#open >= 0 ? this.#segments[this.#open] : null
    if (open !== null && open.used + n <= open.ts.length) return this.#open
    // A new segment of half the grid's size, between the bounds; an entry larger gets one its size.
    const size = Math.max(n, Math.min(SEGMENT_MAX, Math.max(SEGMENT_MIN, this.#capacity >> 1)))
    if (!room(size * SAMPLE_BYTES)) return -1
    let k = this.#segments.indexOf(null)
    if (k < 0) k = this.#segments.push(null) - 1
    this.#segments[k] = new Segment(size)
    this.#capacity += size
    // The open segment's unused tail is given up; it is freed once its entries are.
    const old = this.#open
    this.#open = k
    if (old >= 0 && (this.#segments[old] as Segment).live === 0) this.#free(old, room)
    return k
  }

  // Moves the entries of segments less than half live (never the open one) into the open segment and
  // new ones; the emptied segments are freed.
  #compact(room: (extra: number) => boolean): void {
    const sparse = new Set<number>()
    for (let k = 0; k < this.#segments.length; k++) {
      const seg = this.#segments[k]
      if (seg !== null && k !== this.#open && seg.live * 2 < seg.used) sparse.add(k)
    }
    if (sparse.size === 0) return
    let ts = new Float64Array(256)
    let vs = new Float64Array(256)
    for (let id = 0; id < this.#seg.length; id++) {
      const k = this.#seg[id]
      if (k < 0 || !sparse.has(k)) continue
      const n = this.#len[id]
      if (ts.length < n) {
        ts = new Float64Array(n)
        vs = new Float64Array(n)
      }
      const seg = this.#segments[k] as Segment
      const start = this.#at[id]
      const base = this.#base[id]
      for (let i = 0; i < n; i++) {
        ts[i] = seg.ts[start + i] + base
        vs[i] = seg.vs[start + i]
      }
      const run = {
        lo: this.#lo[id],
        hi: this.#hi[id],
        epoch: this.#epoch[id],
        before: this.#before[id],
      }
      this.#drop(id, room)
      const to = this.#place(n, room)
      if (to >= 0) this.#write(id, to, ts, vs, n, base, run)
    }
  }

  #growSlots(need: number, room: (extra: number) => boolean): boolean {
    let size = Math.max(64, this.#seg.length)
    while (size < need) size = Math.ceil(size * 1.5)
    if (!room((size - this.#seg.length) * SLOT_BYTES)) return false
    const grow32 = (a: Int32Array, fill: number): Int32Array => {
      const b = new Int32Array(size).fill(fill)
      b.set(a)
      return b
    }
    const grow64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(size)
      b.set(a)
      return b
    }
    this.#seg = grow32(this.#seg, NO_ENTRY)
    this.#at = grow32(this.#at, 0)
    this.#len = grow32(this.#len, 0)
    this.#lo = grow32(this.#lo, 0)
    this.#hi = grow32(this.#hi, 0)
    this.#epoch = grow32(this.#epoch, 0)
    this.#base = grow64(this.#base)
    this.#before = grow64(this.#before)
    const sorted = new Uint8Array(size)
    sorted.set(this.#sorted)
    this.#sorted = sorted
    return true
  }
}

/**
 * GridCache holds SeriesGrids under a byte budget (`TsdbOptions.gridCacheBytes`), least recently used
 * leaving first. A budget of 0 turns it off. One cache serves one database; it is used from
 * synchronous code only. Entries need no invalidation: blocks are immutable, and an entry records the
 * series' blocks epoch and how many of its blocks it covers, so a flush, compaction or retention pass
 * is seen on the next read.
 */
export class GridCache {
  readonly budget: number
  #used = 0
  #head: SeriesGrid | null = null
  #tail: SeriesGrid | null = null
  readonly #grids = new Map<string, SeriesGrid>()
  #hits = 0
  #misses = 0

  constructor(budget: number) {
    this.budget = budget
  }

  get enabled(): boolean {
    return this.budget > 0
  }

  /** stats: bytes held, grids, and series reads served (hits) or read from chunks (misses). */
  stats(): { bytes: number; grids: number; hits: number; misses: number } {
    return { bytes: this.#used, grids: this.#grids.size, hits: this.#hits, misses: this.#misses }
  }

  /** count records a series read through the cache: from an entry (hit) or from chunks (miss). */
  count(hit: boolean): void {
    if (hit) this.#hits++
    else this.#misses++
  }

  /**
   * grid returns the grid of `step` and `phase` (0 ≤ phase < step), made empty when missing, and
   * marks it the most recently used; null when even an empty grid does not fit the budget.
   */
  grid(step: number, phase: number): SeriesGrid | null {
    const key = `${step}/${phase}`
    let g = this.#grids.get(key)
    if (g !== undefined) {
      if (g !== this.#head) {
        this.#unlink(g)
        this.#pushHead(g)
      }
      return g
    }
    g = new SeriesGrid(step, phase)
    if (!this.#makeRoom(g.bytes, null)) return null
    this.#grids.set(key, g)
    this.#used += g.bytes
    this.#pushHead(g)
    return g
  }

  /**
   * room is what a grid asks before growing by `extra` bytes: older grids leave to make it. A grid
   * that frees memory says so with a negative `extra`.
   */
  room(g: SeriesGrid, extra: number): boolean {
    if (extra > 0 && !this.#makeRoom(extra, g)) return false
    this.#used += extra
    return true
  }

  // Evicts least recently used grids (never `keep`) until `extra` more bytes fit; false when they can't.
  #makeRoom(extra: number, keep: SeriesGrid | null): boolean {
    if (extra > this.budget) return false
    while (this.#used + extra > this.budget) {
      let victim = this.#tail
      if (victim === keep) victim = victim?.prev ?? null
      if (victim === null) return false
      this.#remove(victim)
    }
    return true
  }

  #remove(g: SeriesGrid): void {
    this.#unlink(g)
    this.#used -= g.bytes
    this.#grids.delete(`${g.step}/${g.phase}`)
  }

  #pushHead(g: SeriesGrid): void {
    g.prev = null
    g.next = this.#head
    if (this.#head !== null) this.#head.prev = g
    this.#head = g
    if (this.#tail === null) this.#tail = g
  }

  #unlink(g: SeriesGrid): void {
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
