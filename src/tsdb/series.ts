// A series in memory: its identity, the open head chunk, sealed head chunks and its entries in blocks.
import type { CounterType } from '../core/model.js'
import { seriesKeyOf } from '../core/model.js'
import { ByteWriter } from './chunk/byte-buffer.js'
import { type Columns, encodeChunk, ensureRoom, keepWithin } from './chunk/chunk.js'
import {
  clearOpen,
  type OpenChunk,
  openAppend,
  openDecode,
  openEncodable,
} from './chunk/open-chunk.js'
import type { Block, BlockSeries } from './block.js'
import type { Labels } from './querier.js'

/** DsType is how graph stores a series: GAUGE as is, DERIVE (falcon's COUNTER and DERIVE) as a rate. */
export type DsType = 'GAUGE' | 'DERIVE'

/** dsTypeOf maps a falcon counterType to the stored type, as transfer does for graph (COUNTER → DERIVE). */
export function dsTypeOf(counterType: CounterType | DsType): DsType {
  return counterType === 'GAUGE' ? 'GAUGE' : 'DERIVE'
}

/** SeriesDesc identifies a series: falcon's endpoint, metric, sorted tags, plus dstype and step (seconds). */
export interface SeriesDesc {
  endpoint: string
  metric: string
  /** tags in canonical `k1=v1,k2=v2` sorted form (core `formatTags`). */
  tags: string
  dstype: DsType
  step: number
}

/** uidOf is the internal identity: falcon keeps one RRD file per key, dstype and step, and so do we. */
export function uidOf(d: SeriesDesc): string {
  // One flat string (see core formatTags): a series keeps it.
  return [seriesKeyOf(d.endpoint, d.metric, d.tags), d.dstype, d.step].join('\x00')
}

// The chunk lists of a series that has none: shared, and replaced by its own list before a chunk is
// added (three empty arrays a series are ~100 bytes).
const NO_CHUNKS: readonly SealedChunk[] = Object.freeze([])
const NO_BLOCKS: readonly InBlock[] = Object.freeze([])

/** HEAD_CHUNK_POINTS is how many points the open head chunk takes before it is compressed. */
export const HEAD_CHUNK_POINTS = 240

/** SealedChunk is a compressed head chunk. */
export interface SealedChunk {
  minT: number
  maxT: number
  n: number
  bytes: Uint8Array
}

/** OOO_CHUNK_POINTS is how many late points the out-of-order buffer takes before it is compressed. */
export const OOO_CHUNK_POINTS = 240

/** AppendOutcome says what became of one point. */
export const APPENDED = 0
export const DUPLICATE = 1
export const OUT_OF_ORDER_INSERTED = 2

const sealWriter = new ByteWriter(4096)

/**
 * MemSeries holds one series. Points newer than the newest are appended to the open chunk; points older
 * than that but newer than anything sealed or in a block are inserted in order into the open chunk; older
 * ones (late, out of order) go to the out-of-order buffer, kept sorted, and are compressed into `oooSealed`
 * chunks when it fills. Those chunks may overlap each other, the sealed chunks and the blocks: reads and
 * flushes merge them in time order, and of two points with one timestamp the one written first is kept.
 *
 *   blocks: [chunk][chunk] …   sealed: [chunk][chunk]   open: n points, compressed (time grows →)
 *   late:   oooSealed: [chunk][chunk] …   ooo: oooTs[0..oooN) oooVs[0..oooN)    (any time before frozenT)
 */
/** InBlock is a series' entry in one block. */
export interface InBlock {
  readonly block: Block
  readonly entry: BlockSeries
}

export class MemSeries implements SeriesDesc, OpenChunk {
  readonly id: number
  readonly uid: string
  readonly key: string
  readonly endpoint: string
  readonly metric: string
  readonly tags: string
  readonly dstype: DsType
  readonly step: number
  /**
   * The open chunk: n points, compressed as they arrive (chunk/open-chunk.ts) in
   * openBytes[0 .. openPos), a few bytes each where raw columns took 16, no bytes at all before the
   * first point or once sealed; the other open* fields are what the next point is written against.
   * A point inserted among them (late, but after frozenT) turns the chunk raw until it is sealed:
   * timestamps at rawCols[0 .. n), values at rawCols[rawCap .. rawCap+n), one array for both, so
   * that a sender whose batches arrive out of order costs a copy per late point, not a re-encoding.
   * rawCap is 0 while the chunk is compressed.
   */
  openBytes!: Uint8Array
  openPos!: number
  openFirstT!: number
  openLastT!: number
  openDelta!: number
  openLastV!: number
  openK!: number
  rawCols: Float64Array
  rawCap: number
  n: number
  sealed: readonly SealedChunk[]
  /** maxT: newest timestamp anywhere (ms), -Infinity when none. */
  maxT: number
  /** frozenT: newest timestamp in sealed chunks or blocks; nothing at or before it can be inserted. */
  frozenT: number
  /** walSeq: the WAL segment that last got this series' record. */
  walSeq: number
  /**
   * inBlocks: this series' entries in open blocks, oldest block first. Changed only by addBlock and
   * setBlocks, so that `blocksEpoch` tells what a reader saw is still a prefix of it.
   */
  inBlocks: readonly InBlock[]
  /** blocksEpoch: bumped whenever inBlocks changes other than by a block added at its end. */
  blocksEpoch: number
  /** promLabels: the series' Prometheus labels once a select asked for them (SeriesIndex.labels). */
  promLabels: Labels | undefined
  /** oooTs, oooVs, oooN: the out-of-order buffer, sorted, no timestamp twice. */
  oooTs: Float64Array
  oooVs: Float64Array
  oooN: number
  /** oooSealed: compressed out-of-order chunks, in the order they were sealed (each one sorted). */
  oooSealed: readonly SealedChunk[]
  /**
   * arrivedAt, arrivedT, arrivedV: when the last point reached this series (the database's clock, ms),
   * and that point's timestamp and value, whatever its place in time. nodata reads them: a point's
   * own timestamp says when the sender's clock thought it was measured, not whether the sender is
   * alive now. After a restart, a replayed point's arrival is its timestamp (no later than the replay).
   */
  arrivedAt: number
  arrivedT: number
  arrivedV: number

  constructor(id: number, d: SeriesDesc) {
    this.id = id
    this.uid = uidOf(d)
    // The key is the uid's start: a slice shares its characters.
    this.key = this.uid.slice(0, this.uid.length - d.dstype.length - String(d.step).length - 2)
    this.endpoint = d.endpoint
    this.metric = d.metric
    this.tags = d.tags
    this.dstype = d.dstype
    this.step = d.step
    this.n = 0
    clearOpen(this)
    this.rawCols = EMPTY
    this.rawCap = 0
    this.sealed = NO_CHUNKS
    this.maxT = -Infinity
    this.frozenT = -Infinity
    this.walSeq = -1
    this.inBlocks = NO_BLOCKS
    this.blocksEpoch = 0
    this.promLabels = undefined
    this.oooTs = EMPTY
    this.oooVs = EMPTY
    this.oooN = 0
    this.oooSealed = NO_CHUNKS
    this.arrivedAt = -Infinity
    this.arrivedT = NaN
    this.arrivedV = NaN
  }

  /** addBlock adds the series' entry in a block written after all those it has. */
  addBlock(block: Block, entry: BlockSeries): void {
    if (this.inBlocks === NO_BLOCKS) this.inBlocks = [{ block, entry }]
    else (this.inBlocks as InBlock[]).push({ block, entry })
  }

  /** setBlocks replaces the series' block entries (compaction, retention, reopening, deletion). */
  setBlocks(list: readonly InBlock[]): void {
    this.inBlocks = list.length === 0 ? NO_BLOCKS : list
    this.blocksEpoch = (this.blocksEpoch + 1) | 0
  }

  /** append stores one point (DERIVE values truncated to integers, as falcon does) and says what it did. */
  append(t: number, v: number): number {
    if (this.dstype === 'DERIVE') v = Math.trunc(v)
    if (t > this.maxT) {
      // Seal on the point count alone, never on the array's capacity: replay must seal at the same points.
      if (this.n >= HEAD_CHUNK_POINTS) this.#sealOpen()
      // The encoding holds integer timestamps within ±2^49 ms (what the appender lets in); any other
      // turns the chunk raw rather than be stored wrong.
      if (this.rawCap === 0 && !openEncodable(t)) this.#toRaw(0)
      if (this.rawCap === 0) openAppend(this, t, v)
      else {
        if (this.n === this.rawCap) this.#resizeRaw(Math.max(8, this.n * 2))
        this.rawCols[this.n] = t
        this.rawCols[this.rawCap + this.n] = v
        this.n++
      }
      this.maxT = t
      return APPENDED
    }
    if (t === this.maxT) return DUPLICATE
    if (t <= this.frozenT) return this.#appendLate(t, v)
    // Inside the open chunk's range: binary search, drop an exact duplicate, else insert in place.
    const n = this.n
    if (this.rawCap === 0) {
      // A point sent again (a retry) leaves the chunk compressed; one inserted turns it raw.
      const { ts, vs } = scratchFor(n)
      openDecode(this, ts, vs, 0)
      const at = lowerBound(ts, n, t)
      if (at < n && ts[at] === t) return DUPLICATE
      this.#toRaw(16, true)
    }
    const lo = lowerBound(this.rawCols, n, t)
    if (lo < n && this.rawCols[lo] === t) return DUPLICATE
    // Never seal here: sealing would freeze the range the point belongs to. Let the chunk run long instead.
    if (n === this.rawCap) this.#resizeRaw(n + 16)
    const cols = this.rawCols
    const cap = this.rawCap
    cols.copyWithin(lo + 1, lo, n)
    cols.copyWithin(cap + lo + 1, cap + lo, cap + n)
    cols[lo] = t
    cols[cap + lo] = v
    this.n++
    return OUT_OF_ORDER_INSERTED
  }

  // A point at or before frozenT: into the sorted out-of-order buffer. A timestamp already there keeps
  // its first value; one already in a sealed chunk or a block is settled when they are merged (first wins).
  #appendLate(t: number, v: number): number {
    let lo = lowerBound(this.oooTs, this.oooN, t)
    if (lo < this.oooN && this.oooTs[lo] === t) return DUPLICATE
    // Seal on the count alone, as the open chunk does, so replay seals at the same points.
    if (this.oooN >= OOO_CHUNK_POINTS) {
      this.sealLate()
      lo = 0
    }
    if (this.oooN === this.oooTs.length) {
      const size = Math.min(OOO_CHUNK_POINTS, Math.max(8, this.oooN * 2))
      this.oooTs = resized(this.oooTs, this.oooN, size)
      this.oooVs = resized(this.oooVs, this.oooN, size)
    }
    this.oooTs.copyWithin(lo + 1, lo, this.oooN)
    this.oooVs.copyWithin(lo + 1, lo, this.oooN)
    this.oooTs[lo] = t
    this.oooVs[lo] = v
    this.oooN++
    return OUT_OF_ORDER_INSERTED
  }

  // Turns the open chunk raw (until it is sealed), with room for `extra` more points; `decoded`: its
  // points are already in the scratch columns.
  #toRaw(extra: number, decoded = false): void {
    const n = this.n
    const cap = Math.max(8, n + extra)
    const { ts, vs } = scratchFor(n)
    if (!decoded) openDecode(this, ts, vs, 0)
    const cols = new Float64Array(2 * cap)
    cols.set(ts.subarray(0, n))
    cols.set(vs.subarray(0, n), cap)
    clearOpen(this)
    this.n = n
    this.rawCols = cols
    this.rawCap = cap
  }

  // Moves a raw open chunk to an array of room for `size` points.
  #resizeRaw(size: number): void {
    const { rawCols, rawCap, n } = this
    const to = new Float64Array(2 * size)
    to.set(rawCols.subarray(0, n))
    to.set(rawCols.subarray(rawCap, rawCap + n), size)
    this.rawCols = to
    this.rawCap = size
  }

  /** openMinT is the open chunk's first timestamp (meaningful when n > 0). */
  openMinT(): number {
    return this.rawCap === 0 ? this.openFirstT : this.rawCols[0]
  }

  /** appendOpen appends the open chunk's points in (from, to] to `out`. */
  appendOpen(from: number, to: number, out: Columns): void {
    const n = this.n
    if (n === 0) return
    const at = out.n
    if (this.rawCap === 0) {
      if (this.openLastT <= from || this.openFirstT > to) return
      ensureRoom(out, at + n)
      openDecode(this, out.ts, out.vs, at)
    } else {
      ensureRoom(out, at + n)
      out.ts.set(this.rawCols.subarray(0, n), at)
      out.vs.set(this.rawCols.subarray(this.rawCap, this.rawCap + n), at)
    }
    keepWithin(out, at, at + n, from, to)
  }

  /** seal compresses the open chunk into `sealed` and the out-of-order buffer into `oooSealed`. */
  seal(): void {
    this.sealLate()
    this.#sealOpen()
  }

  /** sealLate compresses the out-of-order buffer into `oooSealed`. */
  sealLate(): void {
    if (this.oooN === 0) return
    this.oooSealed = added(this.oooSealed, compressed(this.oooTs, this.oooVs, this.oooN))
    this.oooN = 0
  }

  #sealOpen(): void {
    if (this.n === 0) return
    const n = this.n
    if (this.rawCap === 0) {
      const { ts, vs } = scratchFor(n)
      openDecode(this, ts, vs, 0)
      this.sealed = added(this.sealed, compressed(ts, vs, n))
      this.frozenT = this.openLastT
    } else {
      const { rawCols, rawCap } = this
      this.sealed = added(
        this.sealed,
        compressed(rawCols.subarray(0, n), rawCols.subarray(rawCap, rawCap + n), n)
      )
      this.frozenT = rawCols[n - 1]
    }
    this.#dropOpen()
  }

  // The open chunk emptied, compressed again for the next points, with no room held.
  #dropOpen(): void {
    this.n = 0
    clearOpen(this)
    this.rawCols = EMPTY
    this.rawCap = 0
  }

  /** headPoints counts points still in memory only (sealed, open and out of order). */
  headPoints(): number {
    let c = this.n + this.oooN
    for (const s of this.sealed) c += s.n
    for (const s of this.oooSealed) c += s.n
    return c
  }

  /** hasHead tells whether any point is still in memory only. */
  hasHead(): boolean {
    return this.n > 0 || this.oooN > 0 || this.sealed.length > 0 || this.oooSealed.length > 0
  }

  /** dropFlushed forgets the first `sealed` and `late` chunks of the lists, written to a block. */
  dropFlushed(sealed: number, late: number): void {
    this.sealed = dropped(this.sealed, sealed)
    this.oooSealed = dropped(this.oooSealed, late)
  }

  /** dropHead forgets every point in memory, as a deletion does. */
  dropHead(): void {
    this.sealed = NO_CHUNKS
    this.#dropOpen()
    this.oooSealed = NO_CHUNKS
    this.oooN = 0
  }
}

// `list` with `c` added at its end: the list itself unless it is the shared empty one.
function added(list: readonly SealedChunk[], c: SealedChunk): readonly SealedChunk[] {
  if (list === NO_CHUNKS) return [c]
  ;(list as SealedChunk[]).push(c)
  return list
}

// `list` without its first `n` chunks, the shared empty list when none are left.
function dropped(list: readonly SealedChunk[], n: number): readonly SealedChunk[] {
  if (n === 0) return list
  if (n >= list.length) return NO_CHUNKS
  ;(list as SealedChunk[]).splice(0, n)
  return list
}

// Columns of room for at least `n` points, shared by the series of this thread (used synchronously).
let scratch: Columns = { ts: new Float64Array(256), vs: new Float64Array(256), n: 0 }
function scratchFor(n: number): Columns {
  if (scratch.ts.length < n) {
    const size = Math.max(n, scratch.ts.length * 2)
    scratch = { ts: new Float64Array(size), vs: new Float64Array(size), n: 0 }
  }
  return scratch
}

// Points ts/vs[0..n) (in time order) as a compressed chunk.
function compressed(ts: Float64Array, vs: Float64Array, n: number): SealedChunk {
  sealWriter.reset()
  encodeChunk(sealWriter, ts, vs, n)
  return { minT: ts[0], maxT: ts[n - 1], n, bytes: sealWriter.take() }
}

// A copy of a[0..n) in a new array of `size`.
function resized(a: Float64Array, n: number, size: number): Float64Array {
  const out = new Float64Array(size)
  out.set(a.subarray(0, n))
  return out
}

// The first index in ts[0..n) whose timestamp is ≥ t.
function lowerBound(ts: Float64Array, n: number, t: number): number {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ts[mid] < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

const EMPTY = new Float64Array(0)
