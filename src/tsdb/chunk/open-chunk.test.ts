import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { clearOpen, type OpenChunk, openAppend, openDecode } from './open-chunk.js'

function chunk(): OpenChunk {
  const c = {} as OpenChunk
  clearOpen(c)
  return c
}

function bitsOf(v: number): string {
  const b = Buffer.alloc(8)
  b.writeDoubleLE(v)
  return b.toString('hex')
}

// roundTrip appends every point and checks the decoded points are the same, bit for bit.
function roundTrip(ts: number[], vs: number[]): OpenChunk {
  const c = chunk()
  for (let i = 0; i < ts.length; i++) openAppend(c, ts[i], vs[i])
  const gotT = new Float64Array(ts.length + 3)
  const gotV = new Float64Array(ts.length + 3)
  assert.equal(openDecode(c, gotT, gotV, 3), ts.length)
  for (let i = 0; i < ts.length; i++) {
    assert.equal(gotT[3 + i], ts[i], `t ${i}`)
    assert.equal(bitsOf(gotV[3 + i]), bitsOf(vs[i]), `v ${i}: ${vs[i]} came back ${gotV[3 + i]}`)
  }
  return c
}

describe('open chunk codec', () => {
  it('keeps falcon-like points in a few bytes each', () => {
    const ts = Array.from({ length: 240 }, (_, i) => 1_700_000_000_000 + i * 60_000)
    const vs = ts.map((_, i) => Math.round((50 + 10 * Math.sin(i / 9)) * 100) / 100)
    const c = roundTrip(ts, vs)
    assert.ok(c.openPos < 8 + 240 * 5, `${c.openPos} bytes for 240 points`)
    const flat = roundTrip(
      ts,
      ts.map(() => 7)
    )
    // The second point pays for the interval (three bytes of delta).
    assert.ok(flat.openPos <= 8 + 240 * 2 + 4, `${flat.openPos} bytes for a constant`)
  })

  it('gives back every float64 bit for bit: NaN payloads, -0, ±Inf, huge, tiny, noise', () => {
    const stale = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]
    const vs = [
      0,
      -0,
      0,
      NaN,
      stale,
      NaN,
      stale,
      stale,
      Infinity,
      -Infinity,
      1e308,
      -1e-308,
      5e-324,
      2 ** 53,
      -(2 ** 53) + 1,
      0.1,
      0.2,
      0.30000000000000004,
      123.456,
      -123.456,
      1e15 + 0.5,
      Math.PI,
      -Math.E,
      99.99,
      100,
      100,
      1e21,
      12345678.123456,
    ]
    let seed = 7
    for (let i = 0; i < 300; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      vs.push(i % 3 === 0 ? seed / 7 : i % 3 === 1 ? Math.round(seed / 1000) / 100 : -seed)
    }
    // Irregular timestamps: gaps, one ms apart, large jumps, negative.
    const ts: number[] = []
    let t = -5_000_000
    for (let i = 0; i < vs.length; i++) {
      t += i % 7 === 0 ? 1 : i % 11 === 0 ? 86_400_000 * 365 : 60_000 + (i % 5)
      ts.push(t)
    }
    roundTrip(ts, vs)
  })

  it('keeps its first and last timestamps, and starts again empty', () => {
    const c = chunk()
    openAppend(c, 1000, 1.5)
    openAppend(c, 2000, 2.5)
    openAppend(c, 3000, NaN)
    const ts = new Float64Array(3)
    const vs = new Float64Array(3)
    openDecode(c, ts, vs, 0)
    assert.deepEqual([...ts], [1000, 2000, 3000])
    assert.deepEqual([...vs], [1.5, 2.5, NaN])
    assert.equal(c.openFirstT, 1000)
    assert.equal(c.openLastT, 3000)
    clearOpen(c)
    assert.equal(c.n, 0)
    assert.equal(c.openBytes.length, 0)
  })
})
