// Integer column codec: constant, delta or delta-of-delta, then patched frame-of-reference bit packing.
import { type ByteReader, type ByteWriter, bitWidth, zigzag, unzigzag } from './byte-buffer.js'

/** MAX_CODEC_INT bounds the integers this codec takes, so deltas of deltas stay safe integers. */
export const MAX_CODEC_INT = 2 ** 50

const MODE_CONST = 0
const MODE_DELTA = 1
const MODE_DOD = 2
const SCALED = 0x80

// Scratch columns shared by every encode call; the codec is synchronous, so one set is enough.
let scratchA = new Float64Array(1024)
let scratchB = new Float64Array(1024)
let scratchRaw = new Float64Array(1024)
const hist = new Float64Array(64)
const excCostByWidth = new Float64Array(64)

function scratch(n: number): void {
  if (scratchA.length >= n) return
  let size = scratchA.length
  while (size < n) size *= 2
  scratchA = new Float64Array(size)
  scratchB = new Float64Array(size)
  scratchRaw = new Float64Array(size)
}

/**
 * encodeInts writes `n` integers of `src` (|x| ≤ MAX_CODEC_INT) choosing the smallest of: one value repeated,
 * packed deltas (gauges) or packed deltas of deltas (counters and timestamps: regular steps cost 0 bits).
 * Deltas are divided by their greatest common divisor first (byte sizes move in 4096s, ms timestamps in
 * whole seconds). The first value is stored relative to `base`, which the decoder must be given again.
 *
 *   [mode u8 (bit 7: scaled by gcd)] [first-base varint] [gcd uvarint, if scaled] [first delta, if dod] [packed]
 */
export function encodeInts(w: ByteWriter, src: ArrayLike<number>, n: number, base = 0): void {
  if (n === 0) return
  const first = src[0]
  let constant = true
  for (let i = 1; i < n; i++) {
    if (src[i] !== first) {
      constant = false
      break
    }
  }
  if (constant) {
    w.u8(MODE_CONST)
    w.varint(first - base)
    return
  }
  scratch(n)
  const raw = scratchRaw
  let g = 0
  for (let i = 1; i < n; i++) {
    const d = src[i] - src[i - 1]
    raw[i - 1] = d
    g = gcd(g, d < 0 ? -d : d)
  }
  if (g < 1) g = 1
  const deltas = scratchA
  const dods = scratchB
  for (let i = 0; i < n - 1; i++) deltas[i] = zigzag(raw[i] / g)
  for (let i = 1; i < n - 1; i++) dods[i - 1] = zigzag((raw[i] - raw[i - 1]) / g)
  const scaled = g > 1 ? SCALED : 0
  const deltaCost = packedCostBits(deltas, n - 1)
  const dodCost = packedCostBits(dods, n - 2) + 8 * varintBytes(deltas[0])
  if (deltaCost <= dodCost) {
    w.u8(MODE_DELTA | scaled)
    w.varint(first - base)
    if (scaled !== 0) w.uvarint(g)
    writePacked(w, deltas, n - 1)
  } else {
    w.u8(MODE_DOD | scaled)
    w.varint(first - base)
    if (scaled !== 0) w.uvarint(g)
    w.uvarint(deltas[0])
    writePacked(w, dods, n - 2)
  }
}

/**
 * decodeInts reads `n` integers written by encodeInts (with the same `base`) into `out` from index
 * `at` on, each divided by `div` when it is not 1 (the value codec's decimal exponent, applied in the
 * same pass). Bits are unpacked, zig-zag undone and summed in one loop: no second pass over `out`.
 */
export function decodeInts(
  r: ByteReader,
  n: number,
  out: Float64Array,
  base = 0,
  at = 0,
  div = 1
): void {
  if (n === 0) return
  if (out.length < at + n)
    throw new RangeError(`${n} integers do not fit at ${at} of ${out.length}`)
  const head = r.u8()
  const mode = head & ~SCALED
  const first = r.varint() + base
  out[at] = div === 1 ? first : first / div
  if (mode === MODE_CONST) {
    out.fill(out[at], at + 1, at + n)
    return
  }
  const g = (head & SCALED) !== 0 ? r.uvarint() : 1
  if (mode === MODE_DELTA) {
    readSums(r, n - 1, out, at + 1, first, 0, g, false, div)
    return
  }
  if (mode !== MODE_DOD) throw new RangeError(`unknown integer mode ${mode}`)
  const delta = unzigzag(r.uvarint())
  if (n < 2) return
  const prev = first + delta * g
  out[at + 1] = div === 1 ? prev : prev / div
  readSums(r, n - 2, out, at + 2, prev, delta, g, true, div)
}

/**
 * readSums reads `m` packed zig-zag integers and writes their running sums after `prev` into `out`
 * from `at`: with `dod`, each is added to `delta` and `delta × g` to the sum (deltas of deltas);
 * else each times g is added to the sum. Sums are divided by `div` when it is not 1.
 */
function readSums(
  r: ByteReader,
  m: number,
  out: Float64Array,
  at: number,
  prev: number,
  delta: number,
  g: number,
  dod: boolean,
  div: number
): void {
  if (m <= 0) return
  const width = readPackedHeader(r, m)
  const buf = r.buf
  const bytes = Math.ceil((m * width) / 8)
  if (r.pos + bytes > r.end) throw new RangeError(`read past end at byte ${r.end}`)
  if (width > 25) {
    // Wide values (rare: deltas of noisy data) are unpacked first, then summed.
    r.pos = unpack(buf, r.pos, r.end, m, width, out, at)
    for (let e = 0; e < excCount; e++) out[at + excIdx[e]] = excVal[e]
    for (let i = 0; i < m; i++) {
      const d = unzigzag(out[at + i])
      if (dod) {
        delta += d
        prev += delta * g
      } else prev += d * g
      out[at + i] = div === 1 ? prev : prev / div
    }
    return
  }
  // The runs between exceptions go through loops that see only 32-bit integers (an exception's value
  // is a float: mixed into the loop, it makes every step a float step, several times slower).
  sums[0] = prev
  sums[1] = delta
  let bit = r.pos * 8
  const wordEnd = r.end - 4
  let i = 0
  for (let e = 0; ; e++) {
    const stop = e < excCount ? excIdx[e] : m
    bit = dod
      ? sumDods(buf, bit, wordEnd, r.end, width, out, at, i, stop, g, div)
      : sumDeltas(buf, bit, wordEnd, r.end, width, out, at, i, stop, g, div)
    if (stop === m) break
    bit += width
    const d = unzigzag(excVal[e])
    if (dod) {
      sums[1] += d
      sums[0] += sums[1] * g
    } else sums[0] += d * g
    out[at + stop] = div === 1 ? sums[0] : sums[0] / div
    i = stop + 1
  }
  r.pos += bytes
}

/** sums: a run's running sum and delta, carried between sumDods/sumDeltas calls. */
const sums = new Float64Array(2)

// Values [from, to) of a packed run from `bit` on, as deltas of deltas; returns the bit after them.
// Up to 25 bits at a bit offset of at most 7 fit one big-endian word; a word that would run past
// `end` is read a byte at a time.
function sumDods(
  buf: Uint8Array,
  bit: number,
  wordEnd: number,
  end: number,
  width: number,
  out: Float64Array,
  at: number,
  from: number,
  to: number,
  g: number,
  div: number
): number {
  let prev = sums[0]
  let delta = sums[1]
  for (let i = from; i < to; i++) {
    let u = 0
    if (width > 0) {
      const p = bit >>> 3
      const w =
        p <= wordEnd
          ? (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
          : tailWord(buf, end, p)
      u = (w << (bit & 7)) >>> (32 - width)
      bit += width
    }
    delta += (u >>> 1) ^ -(u & 1)
    prev += delta * g
    out[at + i] = div === 1 ? prev : prev / div
  }
  sums[0] = prev
  sums[1] = delta
  return bit
}

// As sumDods, for deltas. Two loops, not one testing `dod` a value: each keeps only the state it
// needs (one sum, no delta), and the hot path of the codec stays branch-free.
function sumDeltas(
  buf: Uint8Array,
  bit: number,
  wordEnd: number,
  end: number,
  width: number,
  out: Float64Array,
  at: number,
  from: number,
  to: number,
  g: number,
  div: number
): number {
  let prev = sums[0]
  for (let i = from; i < to; i++) {
    let u = 0
    if (width > 0) {
      const p = bit >>> 3
      const w =
        p <= wordEnd
          ? (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
          : tailWord(buf, end, p)
      u = (w << (bit & 7)) >>> (32 - width)
      bit += width
    }
    prev += ((u >>> 1) ^ -(u & 1)) * g
    out[at + i] = div === 1 ? prev : prev / div
  }
  sums[0] = prev
  return bit
}

// The big-endian word at byte p of buf with zeros past `end`.
function tailWord(buf: Uint8Array, end: number, p: number): number {
  let w = 0
  for (let i = p; i < p + 4; i++) w = (w << 8) | (i < end ? buf[i] : 0)
  return w
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b
    a = b
    b = t
  }
  return a
}

function varintBytes(u: number): number {
  return u < 128 ? 1 : Math.ceil(bitWidth(u) / 7)
}

// Cost in bits of the best packing width: most values in `w` bits, the few wider ones as exceptions.
function packedCostBits(u: Float64Array, m: number): number {
  return chooseWidth(u, m) >= 0 ? bestCost : 0
}

let bestCost = 0

function chooseWidth(u: Float64Array, m: number): number {
  hist.fill(0)
  for (let i = 0; i < m; i++) hist[bitWidth(u[i])]++
  // An exception costs its index gap (about a byte) and its value as a varint.
  for (let b = 0; b < 64; b++) excCostByWidth[b] = hist[b] * 8 * (1 + Math.ceil(b / 7))
  let best = 0
  bestCost = Infinity
  let excCost = 0
  for (let b = 0; b < 64; b++) excCost += excCostByWidth[b]
  for (let width = 0; width < 54; width++) {
    excCost -= excCostByWidth[width]
    const cost = m * width + excCost + 16
    if (cost < bestCost) {
      bestCost = cost
      best = width
    }
  }
  return best
}

function writePacked(w: ByteWriter, u: Float64Array, m: number): void {
  if (m <= 0) return
  const width = chooseWidth(u, m)
  const limit = width === 0 ? 1 : 2 ** width
  let exceptions = 0
  for (let i = 0; i < m; i++) if (u[i] >= limit) exceptions++
  w.u8(width)
  w.uvarint(exceptions)
  let last = 0
  for (let i = 0; i < m; i++) {
    if (u[i] < limit) continue
    w.uvarint(i - last)
    w.uvarint(u[i])
    last = i
  }
  if (width > 0) {
    for (let i = 0; i < m; i++) w.wideBits(u[i] < limit ? u[i] : 0, width)
    w.alignBits()
  }
}

// A packed run's exceptions (index, value), read by readPackedHeader; grown when a run has more.
let excIdx = new Int32Array(64)
let excVal = new Float64Array(64)

// Reads a packed run's width and its exceptions (into excIdx/excVal); returns the width and leaves
// the count in `excCount`.
let excCount = 0
function readPackedHeader(r: ByteReader, m: number): number {
  const width = r.u8()
  if (width > 53) throw new RangeError(`bad packing width ${width}`)
  const exceptions = r.uvarint()
  if (exceptions > m) throw new RangeError(`${exceptions} exceptions for ${m} values`)
  if (exceptions > excIdx.length) {
    excIdx = new Int32Array(exceptions)
    excVal = new Float64Array(exceptions)
  }
  let idx = 0
  for (let e = 0; e < exceptions; e++) {
    idx += r.uvarint()
    if (idx >= m) throw new RangeError(`exception index ${idx} out of ${m}`)
    excIdx[e] = idx
    excVal[e] = r.uvarint()
  }
  excCount = exceptions
  return width
}

/**
 * unpack reads `m` values of `width` bits (1 to 53, most significant bit first, as ByteWriter.bits
 * writes them) from byte `pos` of `buf` into `out` from `at`, and returns the byte after them (the
 * last byte's spare bits are padding). Bits are taken with local state, 32-bit ops, up to 24 at a time.
 */
export function unpack(
  buf: Uint8Array,
  pos: number,
  end: number,
  m: number,
  width: number,
  out: Float64Array,
  at: number
): number {
  const bytes = Math.ceil((m * width) / 8)
  if (pos + bytes > end) throw new RangeError(`read past end at byte ${end}`)
  let acc = 0
  let have = 0
  let p = pos
  if (width <= 24) {
    const mask = (1 << width) - 1
    for (let i = 0; i < m; i++) {
      // acc holds `have` < width ≤ 24 pending bits: a byte more keeps it within 31 bits.
      while (have < width) {
        acc = (acc << 8) | buf[p++]
        have += 8
      }
      have -= width
      out[at + i] = (acc >>> have) & mask
      acc &= (1 << have) - 1
    }
    return pos + bytes
  }
  for (let i = 0; i < m; i++) {
    let v = 0
    let rest = width
    while (rest > 0) {
      const k = rest < 24 ? rest : 24
      while (have < k) {
        acc = (acc << 8) | buf[p++]
        have += 8
      }
      have -= k
      v = v * (1 << k) + ((acc >>> have) & ((1 << k) - 1))
      acc &= (1 << have) - 1
      rest -= k
    }
    out[at + i] = v
  }
  return pos + bytes
}
