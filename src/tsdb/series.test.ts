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
  it('holds room for the points it has: none before the first, none once sealed', () => {
    const s = new MemSeries(1, desc)
    assert.equal(s.cap, 0)
    for (let i = 1; i <= 20; i++) s.append(i * 1000, i)
    assert.equal(s.n, 20)
    assert.equal(s.cap, 32)
    // Both columns in one array.
    assert.equal(s.cols.length, 64)
    s.seal()
    assert.equal(s.cap, 0)
    assert.equal(s.sealed.length, 1)
    s.append(21_000, 21)
    assert.equal(s.cap, 8)
    assert.deepEqual(openPoints(s), [[21_000, 21]])
  })

  it('inserts late points in order, growing past the chunk size, and reads a range', () => {
    const s = new MemSeries(1, desc)
    for (let i = 0; i < HEAD_CHUNK_POINTS; i++) s.append(10_000 + i * 2000, i)
    // Odd seconds, inside the open chunk: inserted in place; the chunk runs long rather than sealing.
    for (let i = 0; i < 40; i++) s.append(11_000 + i * 2000, -i)
    assert.equal(s.n, HEAD_CHUNK_POINTS + 40)
    assert.ok(s.cap >= s.n)
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
