// Number columns in JSON: base64 of their little-endian bytes, exact (NaN payloads, ±Inf, -0).
import { endianness } from 'node:os'

const LITTLE = endianness() === 'LE'

/** encodeFloat64s returns base64 of the little-endian bytes of `a`. */
export function encodeFloat64s(a: Float64Array): string {
  if (LITTLE) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')
  const b = Buffer.allocUnsafe(a.length * 8)
  for (let i = 0; i < a.length; i++) b.writeDoubleLE(a[i], i * 8)
  return b.toString('base64')
}

/** encodeUint32s returns base64 of the little-endian bytes of `a`. */
export function encodeUint32s(a: Uint32Array): string {
  if (LITTLE) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')
  const b = Buffer.allocUnsafe(a.length * 4)
  for (let i = 0; i < a.length; i++) b.writeUInt32LE(a[i], i * 4)
  return b.toString('base64')
}

/**
 * decodeFloat64s reads what `encodeFloat64s` wrote into a new array; throws naming `field` when `s`
 * is not a string of base64 holding a whole number of float64s.
 */
export function decodeFloat64s(s: unknown, field: string): Float64Array {
  const bytes = base64Bytes(s, 8, field)
  const out = new Float64Array(bytes.length / 8)
  if (LITTLE) new Uint8Array(out.buffer).set(bytes)
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readDoubleLE(i * 8)
  return out
}

/** decodeUint32s reads what `encodeUint32s` wrote into a new array; throws naming `field`. */
export function decodeUint32s(s: unknown, field: string): Uint32Array {
  const bytes = base64Bytes(s, 4, field)
  const out = new Uint32Array(bytes.length / 4)
  if (LITTLE) new Uint8Array(out.buffer).set(bytes)
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(i * 4)
  return out
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function base64Bytes(s: unknown, width: number, field: string): Buffer {
  // Node's decoder skips what is not base64: check first, so a damaged column is an error.
  if (typeof s !== 'string' || s.length % 4 !== 0 || !BASE64.test(s)) {
    throw new TypeError(`${field}: expected base64 of ${width}-byte little-endian numbers`)
  }
  const bytes = Buffer.from(s, 'base64')
  if (bytes.length % width !== 0) {
    throw new TypeError(
      `${field}: ${bytes.length} bytes is not a whole number of ${width}-byte numbers`
    )
  }
  return bytes
}
