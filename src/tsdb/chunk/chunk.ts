// A chunk: one series' points over a time range, timestamps and values compressed as two columns.
import { ByteReader, type ByteWriter } from './byte-buffer.js'
import { decodeInts, encodeInts } from './int-codec.js'
import { decodeValues, encodeValues } from './value-codec.js'

/** Columns are a series' points as parallel arrays; `n` of them are valid. */
export interface Columns {
  ts: Float64Array
  vs: Float64Array
  n: number
}

/** ensureRoom grows the columns of `out` (by doubling, its n samples copied) to hold `need`. */
export function ensureRoom(out: Columns, need: number): void {
  if (out.ts.length < need) growColumns(out, Math.max(need, out.ts.length * 2))
}

/**
 * keepWithin keeps of out's points [at, end) (in time order) those in (from, to], moved down to `at`,
 * and sets out.n past them: a chunk decoded onto the end of `out`, cut to a read's range.
 */
export function keepWithin(out: Columns, at: number, end: number, from: number, to: number): void {
  const ts = out.ts
  let lo = at
  while (lo < end && ts[lo] <= from) lo++
  let hi = end
  while (hi > lo && ts[hi - 1] > to) hi--
  if (lo > at) {
    ts.copyWithin(at, lo, hi)
    out.vs.copyWithin(at, lo, hi)
  }
  out.n = at + hi - lo
}

/** growColumns replaces the columns of `out` with ones of `size`, its n samples copied. */
export function growColumns(out: Columns, size: number): void {
  const ts = new Float64Array(size)
  const vs = new Float64Array(size)
  ts.set(out.ts.subarray(0, out.n))
  vs.set(out.vs.subarray(0, out.n))
  out.ts = ts
  out.vs = vs
}

/**
 * encodeChunk appends a chunk of `n` points to `w`: uvarint n, the timestamp column (integers, usually
 * deltas of deltas) and the value column. Timestamps must be integers with |t| ≤ 2^49. The first
 * timestamp is not stored: the decoder is given it (the chunk's minT, kept in the index anyway).
 */
export function encodeChunk(
  w: ByteWriter,
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  n: number
): void {
  w.uvarint(n)
  encodeInts(w, ts, n, n > 0 ? ts[0] : 0)
  encodeValues(w, vs, n)
}

const reader = new ByteReader(new Uint8Array(0))

/**
 * decodeChunk decodes `bytes`, whose first timestamp is `minT`, into `into` (grown if needed) and returns
 * it. Throws RangeError on bytes that are not a chunk; callers name the file.
 */
export function decodeChunk(bytes: Uint8Array, minT: number, into?: Columns): Columns {
  const r = reader.reset(bytes)
  const n = r.uvarint()
  if (n > 1 << 24) throw new RangeError(`chunk claims ${n} points`)
  let out = into
  if (out === undefined || out.ts.length < n) {
    out = { ts: new Float64Array(n), vs: new Float64Array(n), n }
  }
  out.n = n
  decodeInts(r, n, out.ts, minT)
  decodeValues(r, n, out.vs)
  return out
}

/**
 * decodeChunkInto decodes `bytes`, whose first timestamp is `minT`, into `ts` and `vs` from index `at`
 * on, and returns how many points it wrote. Throws RangeError on bytes that are not a chunk or a chunk
 * that does not fit.
 */
export function decodeChunkInto(
  bytes: Uint8Array,
  minT: number,
  ts: Float64Array,
  vs: Float64Array,
  at: number
): number {
  const r = reader.reset(bytes)
  const n = r.uvarint()
  if (n > ts.length - at || n > vs.length - at) {
    throw new RangeError(`a chunk of ${n} points does not fit at ${at} of ${ts.length}`)
  }
  decodeInts(r, n, ts, minT, at)
  decodeValues(r, n, vs, at)
  return n
}
