import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Columns } from './chunk/chunk.js'
import { HEAD_CHUNK_POINTS, MemSeries } from './series.js'

const desc = { endpoint: 'h', metric: 'm', tags: '', dstype: 'GAUGE' as const, step: 60 }

function openPoints(s: MemSeries): [number, number][] {
  const out: Columns = { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 }
  s.appendOpen(-Infinity, Infinity, out)
  return Array.from({ length: out.n }, (_, i) => [out.ts[i], out.vs[i]])
}

describe('MemSeries open chunk', () => {
  it('holds its points compressed: no bytes before the first, a few a point, none once sealed', () => {
    const s = new MemSeries(1, desc)
    assert.equal(s.openBytes.length, 0)
    for (let i = 1; i <= 20; i++) s.append(i * 1000, i)
    assert.equal(s.n, 20)
    // 8 bytes for the first timestamp, then a byte of delta, a kind and a byte of value a point.
    assert.ok(s.openPos <= 8 + 20 * 3, `${s.openPos} bytes`)
    assert.ok(s.openBytes.length <= 128, `${s.openBytes.length} bytes of room`)
    s.seal()
    assert.equal(s.openBytes.length, 0)
    assert.equal(s.sealed.length, 1)
    assert.equal(s.frozenT, 20_000)
    s.append(21_000, 21)
    assert.deepEqual(openPoints(s), [[21_000, 21]])
  })

  it('inserts late points in order, growing past the chunk size, and reads a range', () => {
    const s = new MemSeries(1, desc)
    for (let i = 0; i < HEAD_CHUNK_POINTS; i++) s.append(10_000 + i * 2000, i)
    // Odd seconds, inside the open chunk: inserted in place; the chunk runs long rather than sealing.
    for (let i = 0; i < 40; i++) s.append(11_000 + i * 2000, -i)
    assert.equal(s.n, HEAD_CHUNK_POINTS + 40)
    const pts = openPoints(s)
    for (let i = 1; i < pts.length; i++) assert.ok(pts[i][0] > pts[i - 1][0])
    assert.deepEqual(pts.slice(0, 3), [
      [10_000, 0],
      [11_000, -0],
      [12_000, 1],
    ])
    const out: Columns = { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 }
    s.appendOpen(11_000, 14_000, out)
    assert.deepEqual(Array.from(out.ts.subarray(0, out.n)), [12_000, 13_000, 14_000])
    assert.deepEqual(Array.from(out.vs.subarray(0, out.n)), [1, -1, 2])
  })
})

describe('MemSeries open chunk, raw once a point is inserted', () => {
  it('goes raw at the first insert, keeps order, and is compressed again after the seal', () => {
    const s = new MemSeries(1, desc)
    for (let i = 0; i < 10; i++) s.append(10_000 + i * 2000, i + 0.5)
    assert.equal(s.rawCap, 0)
    assert.equal(s.append(11_000, -1), 2)
    assert.ok(s.rawCap > 0)
    assert.equal(s.openBytes.length, 0)
    // Appends after it, a duplicate of an inserted point, growth past the first room.
    for (let i = 10; i < 40; i++) s.append(10_000 + i * 2000, i + 0.5)
    assert.equal(s.append(11_000, 99), 1)
    for (let i = 0; i < 30; i++) s.append(13_000 + i * 2000, -i)
    const pts = openPoints(s)
    assert.equal(pts.length, 10 + 1 + 30 + 30)
    for (let i = 1; i < pts.length; i++) assert.ok(pts[i][0] > pts[i - 1][0])
    assert.deepEqual(pts.slice(0, 4), [
      [10_000, 0.5],
      [11_000, -1],
      [12_000, 1.5],
      [13_000, -0],
    ])
    assert.equal(s.openMinT(), 10_000)
    s.seal()
    assert.equal(s.rawCap, 0)
    assert.equal(s.frozenT, 10_000 + 39 * 2000)
    s.append(200_000, 1)
    assert.equal(s.rawCap, 0)
    assert.deepEqual(openPoints(s), [[200_000, 1]])
  })
})

describe('MemSeries open chunk, from the review', () => {
  it('stays compressed when a point already held is sent again', () => {
    const s = new MemSeries(1, desc)
    for (let i = 1; i <= 100; i++) s.append(i * 60_000, i)
    assert.equal(s.append(50 * 60_000, 50), 1)
    assert.equal(s.rawCap, 0)
    assert.ok(s.openBytes.length > 0)
    assert.equal(openPoints(s).length, 100)
  })

  it('keeps timestamps the encoding cannot hold by going raw', () => {
    const s = new MemSeries(1, desc)
    const ts = [1000, 2000.5, 3001, 2 ** 60, 2 ** 60 + 2 ** 20]
    for (const t of ts) s.append(t, 1)
    assert.ok(s.rawCap > 0)
    assert.deepEqual(
      openPoints(s).map(([t]) => t),
      ts
    )
    const first = new MemSeries(2, desc)
    first.append(0.5, 7)
    first.append(1, 8)
    assert.deepEqual(openPoints(first), [
      [0.5, 7],
      [1, 8],
    ])
  })
})
