import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FloatHistogram, MemoryQuerier } from '../tsdb/index.js'
import { Engine } from './engine.js'
import { histogramJson } from './eval-histogram.js'

const MIN = 60_000

const hist = (n: number): FloatHistogram =>
  FloatHistogram.from({
    sum: 2 * n,
    count: 2 * n,
    positiveSpans: [{ offset: 0, length: 2 }],
    positiveBuckets: [n, n],
  })

function data(): MemoryQuerier {
  const q = new MemoryQuerier()
  const ts = Array.from({ length: 6 }, (_, i) => i * MIN)
  q.add(
    { __name__: 'lat', job: 'a' },
    ts,
    ts.map(() => 0),
    ts.map((_, i) => hist(i))
  )
  q.add(
    { __name__: 'lat', job: 'b' },
    ts,
    ts.map((_, i) => i)
  )
  return q
}

describe('engine over native histograms', () => {
  it('selects histogram samples beside float series, and the column only where set', async () => {
    const q = data()
    const set = await q.select([{ name: 'job', op: '=', value: 'b' }], { start: 0, end: 10 * MIN })
    assert.equal(set.hs, undefined)
    const r = await new Engine().instantQuery(q, 'lat', 5 * MIN)
    assert.equal(r.value.resultType, 'vector')
    if (r.value.resultType !== 'vector') return
    const a = r.value.samples.find((s) => s.labels.some((l) => l.value === 'a'))
    const b = r.value.samples.find((s) => s.labels.some((l) => l.value === 'b'))
    assert.ok(a?.h !== undefined && b !== undefined)
    assert.equal(b.h, undefined)
    assert.equal(b.v, 5)
    assert.deepEqual(histogramJson(a.h), {
      count: '10',
      sum: '10',
      buckets: [
        [0, '0.5', '1', '5'],
        [0, '1', '2', '5'],
      ],
    })
  })

  it('computes rate, histogram_count and sum over histograms, and warns on a mix with floats', async () => {
    const q = data()
    const e = new Engine()
    const rate = await e.instantQuery(q, 'histogram_count(rate(lat{job="a"}[5m]))', 5 * MIN)
    assert.equal(rate.value.resultType, 'vector')
    if (rate.value.resultType === 'vector') {
      // 10 more observations between the samples at 0 and 5m, the whole window: 10 / 300 s.
      assert.ok(Math.abs(rate.value.samples[0].v - 10 / 300) < 1e-12)
    }
    const sum = await e.instantQuery(q, 'sum(lat)', 5 * MIN)
    assert.equal(sum.value.resultType, 'vector')
    if (sum.value.resultType === 'vector') assert.equal(sum.value.samples.length, 0)
    assert.deepEqual(sum.warnings, [
      'PromQL warning: encountered a mix of histograms and floats for aggregation (1:5)',
    ])
    const scaled = await e.rangeQuery(q, 'lat{job="a"} * 2', 0, 2 * MIN, MIN)
    assert.equal(scaled.value.resultType, 'matrix')
    if (scaled.value.resultType === 'matrix') {
      const hs = scaled.value.series[0].hs
      assert.deepEqual(
        hs?.map((h) => h?.count),
        [0, 4, 8]
      )
    }
  })
})
