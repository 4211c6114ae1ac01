// Float column codec: decimal mantissas packed as integers (VictoriaMetrics' lesson), else Gorilla XOR.
import { type ByteReader, type ByteWriter } from './byte-buffer.js'
import { MAX_CODEC_INT, decodeInts, encodeInts } from './int-codec.js'

const MODE_CONST = 0
const MODE_DECIMAL = 1
const MODE_XOR = 2

const MAX_DECIMALS = 15
const POW10: number[] = []
for (let k = 0; k <= MAX_DECIMALS; k++) POW10.push(10 ** k)

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
let mantissas = new Float64Array(1024)

/** decimalPlaces returns the fewest decimals k ≤ 15 with round(v·10^k)/10^k === v, or -1. */
export function decimalPlaces(v: number): number {
  if (Number.isInteger(v)) return Object.is(v, -0) ? -1 : 0
  if (!Number.isFinite(v)) return -1
  for (let k = 1; k <= MAX_DECIMALS; k++) {
    const p = POW10[k]
    if (Math.round(v * p) / p === v) return k
  }
  return -1
}

/**
 * encodeValues writes `n` floats. Values that are short decimals (percentages, counters, byte counts) become
 * integer mantissas with one shared decimal exponent and go through the integer codec; anything else (NaN,
 * ±Inf, -0, full-precision noise) falls back to Gorilla XOR, which is bit-exact.
 */
export function encodeValues(w: ByteWriter, vs: ArrayLike<number>, n: number): void {
  if (n === 0) return
  const first = vs[0]
  if (!Number.isNaN(first)) {
    let constant = true
    for (let i = 1; i < n; i++) {
      if (!Object.is(vs[i], first)) {
        constant = false
        break
      }
    }
    if (constant) {
      w.u8(MODE_CONST)
      w.f64(first)
      return
    }
  }
  const k = sharedDecimals(vs, n)
  if (k >= 0) {
    w.u8(MODE_DECIMAL)
    w.u8(k)
    encodeInts(w, mantissas, n)
    return
  }
  w.u8(MODE_XOR)
  encodeXor(w, vs, n)
}

/** decodeValues reads `n` floats written by encodeValues into `out` from index `at` on. */
export function decodeValues(r: ByteReader, n: number, out: Float64Array, at = 0): void {
  if (n === 0) return
  if (out.length < at + n) throw new RangeError(`${n} values do not fit at ${at} of ${out.length}`)
  const mode = r.u8()
  if (mode === MODE_CONST) {
    out.fill(r.f64(), at, at + n)
  } else if (mode === MODE_DECIMAL) {
    const k = r.u8()
    if (k > MAX_DECIMALS) throw new RangeError(`bad decimal exponent ${k}`)
    decodeInts(r, n, out, 0, at, POW10[k])
  } else if (mode === MODE_XOR) {
    decodeXor(r, n, out, at)
  } else {
    throw new RangeError(`unknown value mode ${mode}`)
  }
}

// Fills `mantissas` and returns the shared exponent, or -1 when some value is not a short decimal.
function sharedDecimals(vs: ArrayLike<number>, n: number): number {
  let k = 0
  for (let i = 0; i < n; i++) {
    const d = decimalPlaces(vs[i])
    if (d < 0) return -1
    if (d > k) k = d
  }
  if (mantissas.length < n) mantissas = new Float64Array(Math.max(n, mantissas.length * 2))
  const p = POW10[k]
  for (let i = 0; i < n; i++) {
    const m = Math.round(vs[i] * p)
    // The decoder divides by p, so the check divides too: the value must come back bit for bit.
    if (m > MAX_CODEC_INT || m < -MAX_CODEC_INT || m / p !== vs[i]) return -1
    mantissas[i] = m
  }
  return k
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x)
}

function encodeXor(w: ByteWriter, vs: ArrayLike<number>, n: number): void {
  f64[0] = vs[0]
  let prevLo = u32[0]
  let prevHi = u32[1]
  w.bits(prevHi, 32)
  w.bits(prevLo, 32)
  let prevLeading = -1
  let prevTrailing = 0
  for (let i = 1; i < n; i++) {
    f64[0] = vs[i]
    const lo = u32[0]
    const hi = u32[1]
    const xl = (lo ^ prevLo) >>> 0
    const xh = (hi ^ prevHi) >>> 0
    prevLo = lo
    prevHi = hi
    if (xl === 0 && xh === 0) {
      w.bits(0, 1)
      continue
    }
    let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl)
    if (leading > 31) leading = 31
    const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh)
    let lead = leading
    let trail = trailing
    if (prevLeading >= 0 && leading >= prevLeading && trailing >= prevTrailing) {
      // The meaningful bits fit the previous window: reuse it and skip the 11 bits of header.
      w.bits(2, 2)
      lead = prevLeading
      trail = prevTrailing
    } else {
      const sig = 64 - leading - trailing
      w.bits(3, 2)
      w.bits(leading, 5)
      w.bits(sig === 64 ? 0 : sig, 6)
      prevLeading = leading
      prevTrailing = trailing
    }
    writeShifted(w, xh, xl, trail, 64 - lead - trail)
  }
  w.alignBits()
}

// Writes `sig` bits of the 64-bit value (hi, lo) shifted right by `t`.
function writeShifted(w: ByteWriter, hi: number, lo: number, t: number, sig: number): void {
  let sh: number
  let sl: number
  if (t === 0) {
    sh = hi
    sl = lo
  } else if (t >= 32) {
    sh = 0
    sl = hi >>> (t - 32)
  } else {
    sl = ((lo >>> t) | (hi << (32 - t))) >>> 0
    sh = hi >>> t
  }
  if (sig > 32) {
    w.bits(sh, sig - 32)
    w.bits(sl, 32)
  } else {
    w.bits(sl, sig)
  }
}

// The 32 bits from byte p of buf, big-endian (int32); zeros past `end`.
function word(buf: Uint8Array, end: number, p: number): number {
  if (p + 4 <= end) return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
  let w = 0
  for (let i = p; i < p + 4; i++) w = (w << 8) | (i < end ? buf[i] : 0)
  return w
}

// The 32 bits at bit offset `bit` of buf, unsigned; zeros past `end`.
function bits32(buf: Uint8Array, end: number, bit: number): number {
  const p = bit >>> 3
  const o = bit & 7
  const w = word(buf, end, p)
  if (o === 0) return w >>> 0
  return ((w << o) | ((p + 4 < end ? buf[p + 4] : 0) >>> (8 - o))) >>> 0
}

// Gorilla XOR, read with a local bit offset (no reader calls a value): the bytes of r from r.pos on.
// Reads of up to 25 bits take one big-endian word (`(word << offset) >>> (32 - k)`), wider ones two.
function decodeXor(r: ByteReader, n: number, out: Float64Array, at: number): void {
  const buf = r.buf
  const end = r.end
  const endBit = end * 8
  let bit = r.pos * 8
  let hi = bits32(buf, end, bit)
  let lo = bits32(buf, end, bit + 32)
  bit += 64
  if (bit > endBit) throw new RangeError(`read past end at byte ${end}`)
  u32[0] = lo
  u32[1] = hi
  out[at] = f64[0]
  let trail = 0
  let sig = 64
  for (let i = 1; i < n; i++) {
    // Control and, for a new window, its 11 bits of header: 13 bits, all in one word.
    const head = word(buf, end, bit >>> 3) << (bit & 7)
    if (head >= 0) {
      // Control bit 0: the value repeats.
      bit++
    } else {
      if ((head & 0x40000000) !== 0) {
        const lead = (head >>> 25) & 31
        sig = (head >>> 19) & 63
        if (sig === 0) sig = 64
        trail = 64 - lead - sig
        if (trail < 0) throw new RangeError('bad XOR window')
        bit += 13
      } else {
        bit += 2
      }
      let sh = 0
      let sl: number
      if (sig > 32) {
        const k = sig - 32
        sh =
          k <= 25
            ? (word(buf, end, bit >>> 3) << (bit & 7)) >>> (32 - k)
            : bits32(buf, end, bit) >>> (32 - k)
        sl = bits32(buf, end, bit + k)
      } else {
        sl = bits32(buf, end, bit) >>> (32 - sig)
      }
      bit += sig
      let xh: number
      let xl: number
      if (trail === 0) {
        xh = sh
        xl = sl
      } else if (trail >= 32) {
        xh = sl << (trail - 32)
        xl = 0
      } else {
        xh = (sh << trail) | (sl >>> (32 - trail))
        xl = sl << trail
      }
      hi = (hi ^ xh) >>> 0
      lo = (lo ^ xl) >>> 0
    }
    if (bit > endBit) throw new RangeError(`read past end at byte ${end}`)
    u32[0] = lo
    u32[1] = hi
    out[at + i] = f64[0]
  }
  r.pos = Math.ceil(bit / 8)
}
