import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FloatHistogram } from '../tsdb/index.js'
import {
  histogramFraction,
  histogramJson,
  histogramQuantile,
  histogramRate,
  histogramVariance,
  type HistogramWarning,
} from './eval-histogram.js'

// {{schema:0 sum:5 count:4 buckets:[1 2 1]}}: (0.5,1]:1, (1,2]:2, (2,4]:1.
const single = (): FloatHistogram =>
  FloatHistogram.from({
    sum: 5,
    count: 4,
    positiveSpans: [{ offset: 0, length: 3 }],
    positiveBuckets: [1, 2, 1],
  })

describe('native histogram functions', () => {
  it('estimates quantiles and fractions by linear interpolation in a bucket', () => {
    assert.equal(histogramQuantile(0.5, single()), 1.5)
    assert.equal(histogramQuantile(1, single()), 4)
    assert.equal(histogramQuantile(-1, single()), -Infinity)
    assert.ok(Number.isNaN(histogramQuantile(0.5, new FloatHistogram())))
    assert.equal(histogramFraction(1, 2, single()), 0.5)
    assert.equal(histogramFraction(0, 8, single()), 1)
    assert.equal(histogramFraction(2, 1, single()), 0)
  })

  it('estimates the variance from geometric bucket midpoints', () => {
    assert.ok(Math.abs(histogramVariance(single()) - 0.7100243558256704) < 1e-12)
  })

  it('computes a counter increase over a reset and warns on a gauge', () => {
    const a = single()
    const b = single().mul(2)
    const c = single() // a reset: the count went down
    const warnings: HistogramWarning[] = []
    const h = histogramRate([a, b, c], true, (w) => warnings.push(w))
    assert.ok(h !== null)
    // (c - a) + b = b
    assert.equal(h.count, 8)
    assert.deepEqual(h.pCnt, [2, 4, 2])
    assert.equal(warnings.length, 0)
    histogramRate([a, b], false, (w) => warnings.push(w))
    assert.deepEqual(warnings, ['not-gauge'])
  })

  it('encodes a histogram as the HTTP API does', () => {
    const h = FloatHistogram.from({
      sum: -1.5,
      count: 6,
      zeroThreshold: 0.5,
      zeroCount: 1,
      negativeSpans: [{ offset: 1, length: 1 }],
      negativeBuckets: [2],
      positiveSpans: [{ offset: 0, length: 2 }],
      positiveBuckets: [0, 3],
    })
    assert.deepEqual(histogramJson(h), {
      count: '6',
      sum: '-1.5',
      buckets: [
        [1, '-2', '-1', '2'],
        [3, '-0.5', '0.5', '1'],
        [0, '1', '2', '3'],
      ],
    })
    assert.deepEqual(histogramJson(new FloatHistogram()), { count: '0', sum: '0' })
  })
})
