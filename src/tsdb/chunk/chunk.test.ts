import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../../core/index.js'
import { ByteReader, ByteWriter } from './byte-buffer.js'
import { decodeChunk, encodeChunk } from './chunk.js'
import { decodeInts, encodeInts, unpack } from './int-codec.js'
import { decimalPlaces } from './value-codec.js'

const bits = new Float64Array(1)
const bitsU = new Uint32Array(bits.buffer)
function bitString(v: number): string {
  bits[0] = v
  return bitsU[1].toString(16) + ':' + bitsU[0].toString(16)
}

function roundTrip(ts: number[], vs: number[]): number {
  const w = new ByteWriter(8)
  w.u8(0xaa)
  encodeChunk(w, ts, vs, ts.length)
  const bytes = w.take()
  assert.equal(bytes[0], 0xaa, 'prefix byte survives')
  const got = decodeChunk(bytes.subarray(1), ts.length > 0 ? ts[0] : 0)
  assert.equal(got.n, ts.length)
  assert.deepEqual(Array.from(got.ts.subarray(0, got.n)), ts)
  for (let i = 0; i < vs.length; i++) {
    assert.equal(bitString(got.vs[i]), bitString(vs[i]), `value ${i}: ${vs[i]} vs ${got.vs[i]}`)
  }
  return bytes.length - 1
}

type Gen = (r: () => number, i: number, prev: number) => number
const valueKinds: Record<string, Gen> = {
  constant: () => 42.5,
  percent2dp: (r) => Math.round((90 + r() * 10) * 100) / 100,
  counter: (r, _i, prev) => prev + Math.floor(r() * 5000),
  bytesGauge: (r) => 8_000_000_000 + Math.floor(r() * 1000) * 4096,
  noise: (r) => r() * 1e6 - 5e5,
  special: (r) => [NaN, Infinity, -Infinity, -0, 0, 1e308, -1e-308, 5e-324][Math.floor(r() * 8)],
  hugeJumps: (r) => (r() < 0.1 ? (r() - 0.5) * 1e300 : r() * 10),
  mixed: (r, i) => (i % 7 === 0 ? NaN : Math.round(r() * 1000) / 10),
}

describe('chunk codec', () => {
  it('round-trips random series of every kind bit-exactly', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = seededRandom(seed)
      for (const [kind, gen] of Object.entries(valueKinds)) {
        const n = 1 + Math.floor(r() * 700)
        const ts: number[] = []
        const vs: number[] = []
        let t = 1_700_000_000_000 + Math.floor(r() * 1e9)
        let prev = 0
        const irregular = r() < 0.5
        for (let i = 0; i < n; i++) {
          t += irregular ? 1 + Math.floor(r() * 120_000) : 60_000
          if (irregular && r() < 0.02) t += Math.floor(r() * 1e10)
          ts.push(t)
          prev = gen(r, i, prev)
          vs.push(prev)
        }
        assert.doesNotThrow(() => roundTrip(ts, vs), `seed ${seed} kind ${kind}`)
      }
    }
  })

  it('keeps regular timestamps and constants nearly free', () => {
    const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 60_000)
    const size = roundTrip(
      ts,
      ts.map(() => 7)
    )
    assert.ok(size < 24, `720 constant points took ${size} bytes`)
  })

  it('packs 2-decimal percentages into about a byte and a half', () => {
    const r = seededRandom(7)
    const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 60_000)
    const vs = ts.map(() => Math.round((95 + r() * 5) * 100) / 100)
    const size = roundTrip(ts, vs)
    assert.ok(size / 720 < 1.3, `${size / 720} bytes per point`)
  })

  it('round-trips an empty and a one-point chunk', () => {
    roundTrip([], [])
    roundTrip([5], [NaN])
    roundTrip([-5], [-0])
  })

  it('rejects bytes that are not a chunk', () => {
    assert.throws(() => decodeChunk(Uint8Array.of(5, 9), 0), RangeError)
    assert.throws(() => decodeChunk(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff), 0), RangeError)
  })
})

describe('integer codec', () => {
  const f = (values: number[]) => {
    const w = new ByteWriter()
    encodeInts(w, values, values.length)
    const out = new Float64Array(values.length)
    decodeInts(new ByteReader(w.take()), values.length, out)
    assert.deepEqual(Array.from(out), values)
  }
  it('round-trips edge values', () => {
    f([0])
    f([1, 1, 1])
    f([2 ** 50, -(2 ** 50), 2 ** 50, 0])
    f([1, 2, 4, 8, 16, 2 ** 40, 3])
    f([-1, -2, -3, -4])
  })
})

describe('decimalPlaces', () => {
  const f = (v: number, want: number) => assert.equal(decimalPlaces(v), want, String(v))
  it('finds the shortest decimal form', () => {
    f(97.35, 2)
    f(0.1, 1)
    f(12, 0)
    f(1.005, 3)
    f(-0, -1)
    f(NaN, -1)
    f(1 / 3, -1)
  })
})

describe('integer codec scaling', () => {
  it('divides deltas by their gcd: page-sized steps pack as small numbers', () => {
    const r = seededRandom(3)
    let v = 8 * 1024 ** 3
    const values = Array.from({ length: 720 }, () => (v += Math.round((r() - 0.5) * 512) * 4096))
    const w = new ByteWriter()
    encodeInts(w, values, values.length)
    const out = new Float64Array(values.length)
    decodeInts(new ByteReader(w.take()), values.length, out)
    assert.deepEqual(Array.from(out), values)
    assert.ok(w.pos / values.length < 1.4, `${w.pos / values.length} bytes per value`)
  })
})

describe('NaN payloads', () => {
  it('keeps the exact bits of quiet, signalling and negative NaNs', () => {
    const vs = new Float64Array(4)
    const bitsIn = new Uint32Array(vs.buffer)
    bitsIn.set([1, 0x7ff80000, 0xdeadbeef, 0xfff00001, 0, 0x7ff00000 | 0x1234, 0, 0x3ff80000])
    const w = new ByteWriter()
    encodeChunk(w, [1000, 2000, 3000, 4000], vs, 4)
    const got = decodeChunk(w.take(), 1000)
    assert.deepEqual(Array.from(new Uint32Array(got.vs.buffer, 0, 8)), Array.from(bitsIn))
  })
})

describe('fast decoders', () => {
  it('unpack reads every width as the bit reader does', () => {
    const r = seededRandom(11)
    for (let width = 1; width <= 53; width++) {
      for (const m of [1, 2, 7, 8, 9, 63, 200]) {
        const w = new ByteWriter()
        w.u8(0x5a)
        const values: number[] = []
        for (let i = 0; i < m; i++) {
          // Random values of up to `width` bits, with the top bit set now and then.
          const hi = width > 32 ? Math.floor(r() * 2 ** (width - 32)) : 0
          const lo = width >= 32 ? Math.floor(r() * 2 ** 32) : Math.floor(r() * 2 ** width)
          const v = hi * 2 ** 32 + lo
          values.push(i % 5 === 0 ? 2 ** width - 1 : v)
          w.wideBits(values[i], width)
        }
        w.alignBits()
        w.u8(0xa5)
        const bytes = w.take()
        const out = new Float64Array(m + 1)
        const end = unpack(bytes, 1, bytes.length, m, width, out, 1)
        assert.equal(bytes[end], 0xa5, `width ${width}, ${m} values: ends where the writer stopped`)
        assert.deepEqual(Array.from(out.subarray(1)), values, `width ${width}, ${m} values`)
        const slow = new ByteReader(bytes, 1)
        for (let i = 0; i < m; i++) assert.equal(slow.wideBits(width), values[i])
        assert.throws(() => unpack(bytes, 1, end - 1, m, width, out, 1), RangeError)
      }
    }
  })

  it('round-trips random bit patterns through the XOR decoder, and rejects every truncation', () => {
    const r = seededRandom(5)
    const u = new Uint32Array(2)
    const f = new Float64Array(u.buffer)
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(r() * 300)
      const vs = new Float64Array(n)
      const bitsIn = new Uint32Array(vs.buffer)
      for (let i = 0; i < n; i++) {
        const pick = r()
        if (i > 0 && pick < 0.2) {
          vs[i] = vs[i - 1]
        } else if (pick < 0.5 && i > 0) {
          // A few low bits flipped: windows reused and narrow.
          bitsIn[2 * i] = bitsIn[2 * i - 2] ^ Math.floor(r() * 2 ** Math.floor(r() * 33))
          bitsIn[2 * i + 1] = bitsIn[2 * i - 1] ^ (r() < 0.2 ? Math.floor(r() * 16) : 0)
        } else {
          u[0] = Math.floor(r() * 2 ** 32)
          u[1] = Math.floor(r() * 2 ** 32)
          vs[i] = f[0]
          bitsIn[2 * i] = u[0]
          bitsIn[2 * i + 1] = u[1]
        }
      }
      const want = Array.from(bitsIn)
      const ts = Array.from({ length: n }, (_, i) => i * 1000)
      const w = new ByteWriter()
      encodeChunk(w, ts, vs, n)
      const bytes = w.take()
      const got = decodeChunk(bytes, 0)
      assert.deepEqual(Array.from(new Uint32Array(got.vs.buffer, 0, 2 * n)), want, `run ${run}`)
      for (const cut of [1, 2, Math.floor(bytes.length / 2)]) {
        if (cut >= bytes.length) continue
        assert.throws(() => decodeChunk(bytes.subarray(0, bytes.length - cut), 0), RangeError)
      }
    }
  })
})
