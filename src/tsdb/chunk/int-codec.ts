// Integer column codec: constant, delta or delta-of-delta, then patched frame-of-reference bit packing.
import { type ByteReader, type ByteWriter, bitWidth, zigzag, unzigzag } from './byte-buffer.js'

/** MAX_CODEC_INT bounds the integers this codec takes, so deltas of deltas stay safe integers. */
export const MAX_CODEC_INT = 2 ** 50

const MODE_CONST = 0
const MODE_DELTA = 1
const MODE_DOD = 2
const SCALED = 0x80
const TWO_32 = 4294967296

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
 * `at` on.
 */
export function decodeInts(r: ByteReader, n: number, out: Float64Array, base = 0, at = 0): void {
  if (n === 0) return
  if (out.length < at + n)
    throw new RangeError(`${n} integers do not fit at ${at} of ${out.length}`)
  const head = r.u8()
  const mode = head & ~SCALED
  const first = r.varint() + base
  out[at] = first
  if (mode === MODE_CONST) {
    out.fill(first, at + 1, at + n)
    return
  }
  const g = (head & SCALED) !== 0 ? r.uvarint() : 1
  const end = at + n
  if (mode === MODE_DELTA) {
    readPacked(r, n - 1, out, at + 1)
    let prev = first
    for (let i = at + 1; i < end; i++) {
      const u = out[i]
      // Zig-zag undone with 32-bit ops while the value fits (packed values up to 32 bits wide).
      prev += (u < TWO_32 ? (u >>> 1) ^ -(u & 1) : unzigzag(u)) * g
      out[i] = prev
    }
    return
  }
  if (mode !== MODE_DOD) throw new RangeError(`unknown integer mode ${mode}`)
  let delta = unzigzag(r.uvarint())
  if (n < 2) return
  let prev = first + delta * g
  out[at + 1] = prev
  readPacked(r, n - 2, out, at + 2)
  for (let i = at + 2; i < end; i++) {
    const u = out[i]
    delta += u < TWO_32 ? (u >>> 1) ^ -(u & 1) : unzigzag(u)
    prev += delta * g
    out[i] = prev
  }
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

const excIdx: number[] = []
const excVal: number[] = []
function readPacked(r: ByteReader, m: number, out: Float64Array, at: number): void {
  if (m <= 0) return
  const width = r.u8()
  if (width > 53) throw new RangeError(`bad packing width ${width}`)
  const exceptions = r.uvarint()
  if (exceptions > m) throw new RangeError(`${exceptions} exceptions for ${m} values`)
  excIdx.length = 0
  excVal.length = 0
  let idx = 0
  for (let e = 0; e < exceptions; e++) {
    idx += r.uvarint()
    if (idx >= m) throw new RangeError(`exception index ${idx} out of ${m}`)
    excIdx.push(idx)
    excVal.push(r.uvarint())
  }
  if (width === 0) out.fill(0, at, at + m)
  else r.pos = unpack(r.buf, r.pos, r.end, m, width, out, at)
  for (let e = 0; e < exceptions; e++) out[at + excIdx[e]] = excVal[e]
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
