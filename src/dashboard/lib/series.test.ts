import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alignSeries, decimate, formatValue, isolatedPoints, seriesStats } from './series.js'

describe('series for charts', () => {
  it('aligns series on the union of their times, a missing point a null (a gap, not a zero)', () => {
    const a = { times: [10, 20, 30], values: [1, null, 3] }
    const b = { times: [20, 40], values: [5, 6] }
    assert.deepEqual(alignSeries([a, b]), [
      [10, 20, 30, 40],
      [1, null, 3, null],
      [null, 5, null, 6],
    ])
    assert.deepEqual(alignSeries([]), [[]])
  })

  it('decimates to min and max per bucket, keeping spikes and gaps', () => {
    const n = 10_000
    const times = Array.from({ length: n }, (_, i) => i)
    const values: (number | null)[] = times.map((i) => (i === 5_000 ? 1000 : i % 2))
    for (let i = 7_000; i < 7_100; i++) values[i] = null
    const out = decimate({ times, values }, 100)
    const d = { times: Array.from(out.times), values: Array.from(out.values) }
    assert.ok(d.times.length <= 300, `kept ${d.times.length}`)
    assert.ok(d.values.includes(1000), 'the spike survives')
    assert.ok(d.values.includes(null), 'the gap survives')
    assert.deepEqual(
      [...d.times],
      [...d.times].sort((x, y) => x - y),
      'in time order'
    )
    const short = { times: [1, 2, 3], values: [1, 2, 3] }
    assert.equal(decimate(short, 100), short)
  })

  it('computes the legend over stored points only', () => {
    assert.deepEqual(seriesStats([1, null, 3, NaN, 2]), { last: 2, min: 1, max: 3, avg: 2 })
    assert.deepEqual(seriesStats([null, null]), { last: null, min: null, max: null, avg: null })
  })

  it('formats values with k/M/G/T and 4 significant digits', () => {
    assert.equal(formatValue(null), '—')
    assert.equal(formatValue(0), '0')
    assert.equal(formatValue(12.3456), '12.35')
    assert.equal(formatValue(1536), '1.536k')
    assert.equal(formatValue(-2_500_000), '-2.5M')
    assert.equal(formatValue(3e12), '3T')
    assert.equal(formatValue(0.0001), '1.00e-4')
  })
})

describe('points a line cannot show', () => {
  it('are the ones with no neighbour', () => {
    assert.deepEqual(isolatedPoints([5]), [0])
    assert.deepEqual(isolatedPoints([null, 5, null, 1, 2, null, 3]), [1, 6])
    assert.deepEqual(isolatedPoints([1, 2, 3]), [])
    assert.deepEqual(isolatedPoints([]), [])
  })
})
