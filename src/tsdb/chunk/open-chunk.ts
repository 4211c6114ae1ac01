// The open head chunk of a series, compressed as points arrive: a few bytes a point instead of 16.
//
// A point is written as the zig-zag varint of its timestamp's delta of delta (0, one byte, for points
// at a steady interval; the first point's timestamp is a float64), then a kind byte and what it says:
//
//   kind 0..15  the value is a decimal of that many places: the zig-zag varint of its mantissa minus
//               the previous value's mantissa at those places (falcon's values are mostly short
//               decimals: percentages, counters, byte counts)
//   kind 16     the value is the previous one, exactly (Object.is)
//   kind 17     the value as a float64 (NaN, ±Inf, -0, full-precision noise)
//
// Appending is O(1); reading decodes the chunk from its start. A chunk is sealed into the block chunk
// format (chunk.ts) by decoding it once.

const KIND_SAME = 16
const KIND_RAW = 17
const MAX_DECIMALS = 15
const POW10: number[] = []
for (let k = 0; k <= MAX_DECIMALS; k++) POW10.push(10 ** k)
/** Mantissas beyond this go raw: their differences must stay exact integers. */
const MAX_MANTISSA = 2 ** 50
/** MAX_TIMESTAMP: deltas of deltas of timestamps within it stay exact integers (the appender's bound). */
const MAX_TIMESTAMP = 2 ** 49
/** The most bytes one point takes: an 8-byte varint delta, a kind, an 8-byte payload. */
const MAX_POINT_BYTES = 18
const FIRST_BYTES = 32

const f64 = new Float64Array(1)
const f64b = new Uint8Array(f64.buffer)

/**
 * OpenChunk is the state of one open chunk (a series holds these fields itself, no object of their
 * own). `openBytes[0 .. openPos)` holds `n` points, the first at `openFirstT`; `openLastT`,
 * `openDelta`, `openLastV` and `openK` are what the next point is written against (`openK`: the
 * decimals tried first, those of the last decimal value).
 */
export interface OpenChunk {
  openBytes: Uint8Array
  openPos: number
  n: number
  openFirstT: number
  openLastT: number
  openDelta: number
  openLastV: number
  openK: number
}

const NO_BYTES = new Uint8Array(0)

/** clearOpen empties `c` and gives up its bytes. */
export function clearOpen(c: OpenChunk): void {
  c.openBytes = NO_BYTES
  c.openPos = 0
  c.n = 0
  c.openFirstT = NaN
  c.openLastT = 0
  c.openDelta = 0
  c.openLastV = 0
  c.openK = 0
}

/** openEncodable tells whether the encoding holds timestamp `t`: an integer within ±2^49. */
export function openEncodable(t: number): boolean {
  return Number.isInteger(t) && Math.abs(t) <= MAX_TIMESTAMP
}

/**
 * openAppend adds a point after every point of `c`: t greater than its last timestamp and
 * `openEncodable` (the caller checks).
 */
export function openAppend(c: OpenChunk, t: number, v: number): void {
  if (c.openPos + MAX_POINT_BYTES > c.openBytes.length) grow(c)
  const b = c.openBytes
  let p = c.openPos
  if (c.n === 0) {
    f64[0] = t
    for (let i = 0; i < 8; i++) b[p + i] = f64b[i]
    p += 8
    c.openFirstT = t
  } else {
    const delta = t - c.openLastT
    p = putVarint(b, p, zigzag(delta - c.openDelta))
    c.openDelta = delta
  }
  c.openLastT = t
  const prev = c.openLastV
  // NaN is never the same: a stale marker's bits differ from another NaN's.
  if (c.n > 0 && v === prev && (v !== 0 || Object.is(v, prev))) {
    b[p++] = KIND_SAME
  } else {
    const k = decimalsOf(v, c.openK)
    if (k >= 0) {
      const scale = POW10[k]
      b[p++] = k
      p = putVarint(b, p, zigzag(Math.round(v * scale) - mantissaOf(prev, scale)))
    } else {
      b[p++] = KIND_RAW
      f64[0] = v
      for (let i = 0; i < 8; i++) b[p + i] = f64b[i]
      p += 8
    }
    c.openK = k < 0 ? c.openK : k
  }
  c.openLastV = v
  c.openPos = p
  c.n++
}

/**
 * openDecode writes the points of `c` to ts/vs from index `at` (the caller makes room for `c.n`) and
 * returns how many.
 */
export function openDecode(c: OpenChunk, ts: Float64Array, vs: Float64Array, at: number): number {
  const b = c.openBytes
  const n = c.n
  let t = 0
  let delta = 0
  let v = 0
  readAt = 0
  for (let i = 0; i < n; i++) {
    if (i === 0) t = getFloat64(b)
    else {
      delta += unzigzag(getVarint(b))
      t += delta
    }
    const kind = b[readAt++]
    if (kind === KIND_RAW) v = getFloat64(b)
    else if (kind !== KIND_SAME) {
      const scale = POW10[kind]
      v = (mantissaOf(v, scale) + unzigzag(getVarint(b))) / scale
    }
    ts[at + i] = t
    vs[at + i] = v
  }
  return n
}

// The decoder's place in the bytes it reads (decoding is synchronous: one cursor will do).
let readAt = 0

function getVarint(b: Uint8Array): number {
  let z = 0
  let mul = 1
  let byte: number
  do {
    byte = b[readAt++]
    z += (byte & 0x7f) * mul
    mul *= 128
  } while (byte >= 0x80)
  return z
}

function getFloat64(b: Uint8Array): number {
  for (let k = 0; k < 8; k++) f64b[k] = b[readAt + k]
  readAt += 8
  return f64[0]
}

function grow(c: OpenChunk): void {
  let size = c.openBytes.length === 0 ? FIRST_BYTES : c.openBytes.length * 2
  while (size < c.openPos + MAX_POINT_BYTES) size *= 2
  const next = new Uint8Array(size)
  next.set(c.openBytes.subarray(0, c.openPos))
  c.openBytes = next
}

// The previous value's mantissa at `scale`: exact when it was written at those places (a decimal of
// at most as many), else some integer the decoder works out the same way from the same value.
function mantissaOf(v: number, scale: number): number {
  const m = Math.round(v * scale)
  return Number.isSafeInteger(m) && Math.abs(m) <= MAX_MANTISSA ? m : 0
}

// Decimals k ≤ 15 with round(v·10^k)/10^k === v and a mantissa within MAX_MANTISSA: `hint` when it
// does, else the fewest; -1 when none.
function decimalsOf(v: number, hint: number): number {
  if (!Number.isFinite(v) || Object.is(v, -0)) return -1
  if (fits(v, hint)) return hint
  const abs = Math.abs(v)
  for (let k = 0; k <= MAX_DECIMALS; k++) {
    // More places only make the mantissa larger.
    if (abs * POW10[k] > MAX_MANTISSA) return -1
    if (fits(v, k)) return k
  }
  return -1
}

function fits(v: number, k: number): boolean {
  const scale = POW10[k]
  const m = Math.round(v * scale)
  return Math.abs(m) <= MAX_MANTISSA && m / scale === v
}

function zigzag(d: number): number {
  return d >= 0 ? 2 * d : -2 * d - 1
}

function unzigzag(z: number): number {
  // z is a non-negative integer below 2^53: odd ones are negative.
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2
}

function putVarint(b: Uint8Array, p: number, z: number): number {
  while (z >= 0x80) {
    b[p++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  b[p++] = z
  return p
}
