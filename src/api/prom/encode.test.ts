import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FloatHistogram } from '../../tsdb/index.js'
import {
  histogramValue,
  labelsJson,
  queryDataJson,
  sampleTime,
  sampleValue,
  successJson,
  valueJson,
} from './encode.js'

const labels = (o: Record<string, string>) =>
  Object.entries(o).map(([name, value]) => ({ name, value }))

describe('prometheus json', () => {
  it('writes sample times as MarshalTimestamp: seconds and three ms digits when not zero', () => {
    const f = (t: number, want: string) => assert.equal(sampleTime(t), want, String(t))
    f(1435781451781, '1435781451.781')
    f(1435781451000, '1435781451')
    f(1500, '1.500')
    f(1050, '1.050')
    f(1005, '1.005')
    f(5, '0.005')
    f(0, '0')
    f(-1500, '-1.500')
    f(-1000, '-1')
  })

  it('writes values as MarshalFloat: shortest digits, e below 1e-6 and from 1e21', () => {
    const f = (v: number, want: string) => assert.equal(sampleValue(v), `"${want}"`, String(v))
    f(1, '1')
    f(0, '0')
    f(-0, '-0')
    f(0.30000000000000004, '0.30000000000000004')
    f(123.456, '123.456')
    f(1e-6, '0.000001')
    f(1e-7, '1e-07')
    f(-1.5e-7, '-1.5e-07')
    f(1.234e-300, '1.234e-300')
    f(1e20, '100000000000000000000')
    f(1e21, '1e+21')
    f(1.5e21, '1.5e+21')
    f(Number.MAX_VALUE, '1.7976931348623157e+308')
    f(Infinity, '+Inf')
    f(-Infinity, '-Inf')
    f(NaN, 'NaN')
  })

  it('writes labels in their order, escaped', () => {
    assert.equal(
      labelsJson(labels({ __name__: 'cpu.idle', endpoint: 'h"1' })),
      '{"__name__":"cpu.idle","endpoint":"h\\"1"}'
    )
    assert.equal(labelsJson([]), '{}')
  })

  it('writes each result type as Prometheus does', () => {
    assert.equal(
      valueJson({ resultType: 'scalar', t: 1435781451781, v: 1e21 }),
      '{"resultType":"scalar","result":[1435781451.781,"1000000000000000000000"]}'
    )
    assert.equal(
      valueJson({ resultType: 'string', t: 1500, s: 'a"b' }),
      '{"resultType":"string","result":[1.5,"a\\"b"]}'
    )
    assert.equal(
      valueJson({
        resultType: 'vector',
        samples: [
          { labels: labels({ __name__: 'up', job: 'a' }), t: 1000, v: 1 },
          { labels: labels({ job: 'b' }), t: 1000, v: NaN },
        ],
      }),
      '{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1,"1"]},{"metric":{"job":"b"},"value":[1,"NaN"]}]}'
    )
    assert.equal(
      valueJson({ resultType: 'vector', samples: [] }),
      '{"resultType":"vector","result":[]}'
    )
    assert.equal(
      valueJson({
        resultType: 'matrix',
        series: [
          {
            labels: labels({ a: '1' }),
            ts: Float64Array.of(60_000, 120_500),
            vs: Float64Array.of(0.5, -Infinity),
          },
          { labels: labels({ a: '2' }), ts: new Float64Array(0), vs: new Float64Array(0) },
        ],
      }),
      '{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[60,"0.5"],[120.500,"-Inf"]]},{"metric":{"a":"2"}}]}'
    )
  })

  it('writes native histograms as MarshalHistogram, apart from float points', () => {
    // (0.5,1]:1, (1,2]:2, (2,4]:1 and a tiny sum, which MarshalFloat writes with an exponent.
    const h = FloatHistogram.from({
      sum: 1e-7,
      count: 4,
      positiveSpans: [{ offset: 0, length: 3 }],
      positiveBuckets: [1, 2, 1],
    })
    assert.equal(
      histogramValue(h),
      '{"count":"4","sum":"1e-07","buckets":[[0,"0.5","1","1"],[0,"1","2","2"],[0,"2","4","1"]]}'
    )
    assert.equal(histogramValue(new FloatHistogram()), '{"count":"0","sum":"0"}')
    assert.equal(
      valueJson({
        resultType: 'vector',
        samples: [{ labels: labels({ a: '1' }), t: 1000, v: 0, h }],
      }),
      `{"resultType":"vector","result":[{"metric":{"a":"1"},"histogram":[1,${histogramValue(h)}]}]}`
    )
    assert.equal(
      valueJson({
        resultType: 'matrix',
        series: [
          {
            labels: labels({ a: '1' }),
            ts: Float64Array.of(1000, 2000),
            vs: Float64Array.of(5, 0),
            hs: [undefined, h],
          },
        ],
      }),
      `{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"5"]],"histograms":[[2,${histogramValue(h)}]]}]}`
    )
  })

  it('adds warnings only when there are some, and stats only when asked', () => {
    assert.equal(successJson('[]'), '{"status":"success","data":[]}')
    assert.equal(successJson('[]', ['w']), '{"status":"success","data":[],"warnings":["w"]}')
    const r = {
      value: { resultType: 'vector' as const, samples: [] },
      warnings: [],
      peakSamples: 3,
      totalSamples: 7,
    }
    assert.equal(queryDataJson(r, false, { queued: 0, evaluated: 0 }), valueJson(r.value))
    const withStats = JSON.parse(queryDataJson(r, true, { queued: 0.5, evaluated: 0.25 })) as {
      stats: { samples: unknown; timings: { execTotalTime: number } }
    }
    assert.deepEqual(withStats.stats.samples, { totalQueryableSamples: 7, peakSamples: 3 })
    assert.equal(withStats.stats.timings.execTotalTime, 0.75)
  })
})
