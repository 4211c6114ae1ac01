// A series in memory: its identity, the open head chunk, sealed head chunks and its entries in blocks.
import type { CounterType } from '../core/model.js'
import { seriesKeyOf } from '../core/model.js'
import { ByteWriter } from './chunk/byte-buffer.js'
import { encodeChunk } from './chunk/chunk.js'
import type { Block, BlockSeries } from './block.js'

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
  return seriesKeyOf(d.endpoint, d.metric, d.tags) + '\x00' + d.dstype + '\x00' + d.step
}

/** HEAD_CHUNK_POINTS is how many points the open head chunk takes before it is compressed. */
export const HEAD_CHUNK_POINTS = 240

/** SealedChunk is a compressed head chunk. */
export interface SealedChunk {
  minT: number
  maxT: number
  n: number
  bytes: Uint8Array
}

/** AppendOutcome says what became of one point. */
export const APPENDED = 0
export const DUPLICATE = 1
export const OUT_OF_ORDER_INSERTED = 2
export const OUT_OF_ORDER_DROPPED = 3

const sealWriter = new ByteWriter(4096)

/**
 * MemSeries holds one series. Points newer than the newest are appended to the open chunk; points older
 * than that but newer than anything sealed or in a block are inserted in order; older ones are dropped.
 *
 *   blocks: [chunk][chunk] …   sealed: [chunk][chunk]   open: ts[0..n) vs[0..n)   (time grows →)
 */
export class MemSeries implements SeriesDesc {
  readonly id: number
  readonly uid: string
  readonly key: string
  readonly endpoint: string
  readonly metric: string
  readonly tags: string
  readonly dstype: DsType
  readonly step: number
  ts: Float64Array
  vs: Float64Array
  n: number
  sealed: SealedChunk[]
  /** maxT: newest timestamp anywhere (ms), -Infinity when none. */
  maxT: number
  /** frozenT: newest timestamp in sealed chunks or blocks; nothing at or before it can be inserted. */
  frozenT: number
  /** walSeq: the WAL segment that last got this series' record. */
  walSeq: number
  /** inBlocks: this series' entries in open blocks, oldest block first. */
  inBlocks: { block: Block; entry: BlockSeries }[]

  constructor(id: number, d: SeriesDesc) {
    this.id = id
    this.uid = uidOf(d)
    this.key = seriesKeyOf(d.endpoint, d.metric, d.tags)
    this.endpoint = d.endpoint
    this.metric = d.metric
    this.tags = d.tags
    this.dstype = d.dstype
    this.step = d.step
    this.ts = EMPTY
    this.vs = EMPTY
    this.n = 0
    this.sealed = []
    this.maxT = -Infinity
    this.frozenT = -Infinity
    this.walSeq = -1
    this.inBlocks = []
  }

  /** append stores one point (DERIVE values truncated to integers, as falcon does) and says what it did. */
  append(t: number, v: number): number {
    if (this.dstype === 'DERIVE') v = Math.trunc(v)
    if (t > this.maxT) {
      // Seal on the point count alone, never on the array's capacity: replay must seal at the same points.
      if (this.n >= HEAD_CHUNK_POINTS) this.seal()
      if (this.n === this.ts.length) this.#grow()
      this.ts[this.n] = t
      this.vs[this.n] = v
      this.n++
      this.maxT = t
      return APPENDED
    }
    if (t === this.maxT) return DUPLICATE
    if (t <= this.frozenT) return OUT_OF_ORDER_DROPPED
    // Inside the open chunk's range: binary search, drop an exact duplicate, else insert in place.
    let lo = 0
    let hi = this.n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ts[mid] < t) lo = mid + 1
      else hi = mid
    }
    if (lo < this.n && this.ts[lo] === t) return DUPLICATE
    // Never seal here: sealing would freeze the range the point belongs to. Let the chunk run long instead.
    if (this.n === this.ts.length) this.#resize(this.n + 16)
    this.ts.copyWithin(lo + 1, lo, this.n)
    this.vs.copyWithin(lo + 1, lo, this.n)
    this.ts[lo] = t
    this.vs[lo] = v
    this.n++
    return OUT_OF_ORDER_INSERTED
  }

  #grow(): void {
    this.#resize(Math.min(HEAD_CHUNK_POINTS, Math.max(8, this.ts.length * 2)))
  }

  #resize(size: number): void {
    const ts = new Float64Array(size)
    const vs = new Float64Array(size)
    ts.set(this.ts.subarray(0, this.n))
    vs.set(this.vs.subarray(0, this.n))
    this.ts = ts
    this.vs = vs
  }

  /** seal compresses the open chunk into `sealed`; its points can no longer be changed. */
  seal(): void {
    if (this.n === 0) return
    sealWriter.reset()
    encodeChunk(sealWriter, this.ts, this.vs, this.n)
    this.sealed.push({
      minT: this.ts[0],
      maxT: this.ts[this.n - 1],
      n: this.n,
      bytes: sealWriter.take(),
    })
    this.frozenT = this.ts[this.n - 1]
    this.n = 0
  }

  /** headPoints counts points still in memory only (sealed and open). */
  headPoints(): number {
    let c = this.n
    for (const s of this.sealed) c += s.n
    return c
  }

  /** headMinT is the oldest head timestamp, Infinity when the head is empty. */
  headMinT(): number {
    if (this.sealed.length > 0) return this.sealed[0].minT
    return this.n > 0 ? this.ts[0] : Infinity
  }

  /** dropHead forgets every point in memory, as a deletion does. */
  dropHead(): void {
    this.sealed = []
    this.n = 0
  }
}

const EMPTY = new Float64Array(0)
