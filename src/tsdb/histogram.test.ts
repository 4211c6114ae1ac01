import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  CounterResetHint,
  CUSTOM_BUCKETS_SCHEMA,
  FloatHistogram,
  boundExponential,
} from './histogram.js'

const pos = (
  offset: number,
  buckets: number[],
  extra: Partial<Parameters<typeof FloatHistogram.from>[0]> = {}
) =>
  FloatHistogram.from({
    positiveSpans: [{ offset, length: buckets.length }],
    positiveBuckets: buckets,
    count: buckets.reduce((a, b) => a + b, 0),
    ...extra,
  })

describe('FloatHistogram', () => {
  it('decodes spans into bucket indices and encodes them back', () => {
    const h = FloatHistogram.from({
      positiveSpans: [
        { offset: 1, length: 2 },
        { offset: 2, length: 1 },
      ],
      positiveBuckets: [1, 2, 3],
    })
    assert.deepEqual(h.pIdx, [1, 2, 5])
    assert.deepEqual(h.pCnt, [1, 2, 3])
    assert.deepEqual(h.positiveSpans(), [
      { offset: 1, length: 2 },
      { offset: 2, length: 1 },
    ])
  })

  it('computes exponential bucket bounds for positive and negative schemas', () => {
    assert.equal(boundExponential(0, 0), 1)
    assert.equal(boundExponential(1, 0), 2)
    assert.equal(boundExponential(-1, 0), 0.5)
    assert.ok(Math.abs(boundExponential(1, 1) - Math.SQRT2) < 1e-15)
    assert.equal(boundExponential(1, -1), 4)
    assert.equal(boundExponential(1024, 0), Number.MAX_VALUE)
    assert.equal(boundExponential(1025, 0), Infinity)
  })

  it('adds histograms of different schemas at the coarser one', () => {
    const fine = pos(1, [1, 2], { schema: 1, sum: 3 })
    const coarse = pos(1, [5], { schema: 0, sum: 7 })
    assert.equal(fine.add(coarse), '')
    assert.equal(fine.schema, 0)
    assert.deepEqual(fine.pIdx, [1])
    assert.deepEqual(fine.pCnt, [8])
    assert.equal(fine.count, 8)
    assert.equal(fine.sum, 10)
  })

  it('widens the zero bucket to the larger threshold when adding', () => {
    const a = pos(0, [2, 3])
    const b = FloatHistogram.from({ zeroThreshold: 1, zeroCount: 4, count: 4 })
    assert.equal(a.add(b), '')
    assert.equal(a.zeroThreshold, 1)
    assert.equal(a.zeroCount, 6)
    assert.deepEqual(a.pIdx, [1])
    assert.deepEqual(a.pCnt, [3])
  })

  it('subtracts, keeps zero buckets until compact, and scales', () => {
    const a = pos(0, [2, 3])
    assert.equal(a.sub(pos(0, [2, 1])), '')
    assert.deepEqual(a.pCnt, [0, 2])
    a.compact()
    assert.deepEqual(a.pIdx, [1])
    a.mul(3).div(2)
    assert.deepEqual(a.pCnt, [3])
    assert.equal(a.count, 3)
  })

  it('refuses to combine custom buckets with other bounds or with exponential buckets', () => {
    const c1 = pos(0, [1, 1], { schema: CUSTOM_BUCKETS_SCHEMA, customValues: [1] })
    const c2 = pos(0, [1, 1], { schema: CUSTOM_BUCKETS_SCHEMA, customValues: [2] })
    assert.equal(c1.copy().add(c2), 'incompatible-bounds')
    assert.equal(c1.copy().sub(pos(0, [1])), 'incompatible-schema')
    const c3 = pos(0, [1, 1], { schema: CUSTOM_BUCKETS_SCHEMA, customValues: [1] })
    assert.equal(c1.add(c3), '')
    assert.deepEqual(c1.pCnt, [2, 2])
  })

  it('detects counter resets by count, bucket and hint', () => {
    const prev = pos(0, [5, 5])
    assert.equal(pos(0, [4, 8]).detectReset(prev), true)
    assert.equal(pos(0, [6, 6]).detectReset(prev), false)
    assert.equal(pos(1, [12]).detectReset(prev), true)
    assert.equal(
      pos(0, [4, 8], { counterResetHint: CounterResetHint.NotReset }).detectReset(prev),
      false
    )
    assert.equal(
      pos(0, [6, 6], { counterResetHint: CounterResetHint.Reset }).detectReset(prev),
      true
    )
    assert.equal(pos(0, [5, 5], { schema: 1 }).detectReset(prev), true)
  })

  it('lists buckets with bounds and inclusiveness, zero bucket in the middle', () => {
    const h = FloatHistogram.from({
      zeroThreshold: 0.5,
      zeroCount: 1,
      negativeSpans: [{ offset: 1, length: 1 }],
      negativeBuckets: [2],
      positiveSpans: [{ offset: 1, length: 1 }],
      positiveBuckets: [3],
    })
    assert.deepEqual(
      h.allBuckets().map((b) => [b.lower, b.upper, b.lowerInclusive, b.upperInclusive, b.count]),
      [
        [-2, -1, true, false, 2],
        [-0.5, 0.5, true, true, 1],
        [1, 2, false, true, 3],
      ]
    )
  })

  it('compares as the test runner does: compacted, within epsilon', () => {
    const eq = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9
    const a = pos(0, [0, 2, 0])
    assert.ok(a.equalsApprox(pos(1, [2]), eq))
    assert.ok(!a.equalsApprox(pos(1, [3]), eq))
    assert.ok(!a.equalsApprox(pos(2, [2]), eq))
  })
})
