import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeWriteRequest, PromSeriesItem } from '../core/index.js'
import { encodeLabels, labelPairs, SeriesLabelCache, TimeSeriesWriter } from './encode.js'

describe('remote write encoding', () => {
  it('writes falcon series as Prometheus decodes them: sorted labels, hidden variant labels, ms samples', () => {
    const w = new TimeSeriesWriter(16)
    const tags: [string, string][] = [
      ['iface', 'eth0'],
      ['Zone', 'a'],
      ['empty', ''],
      ['endpoint', 'shadowed'],
    ]
    w.one(
      encodeLabels(labelPairs('host1', 'net.if.in.bytes', tags, true, 60)),
      1_700_000_000_000,
      42.5
    )
    w.series(
      encodeLabels(labelPairs('', 'up', [], false, 15)),
      [1, 2, 2 ** 50],
      [NaN, -Infinity, 1e300],
      0,
      3
    )
    const batch = decodeWriteRequest(w.take())
    assert.equal(batch.series, 2)
    assert.deepEqual(batch.labelsOf(0), [
      'Zone',
      'a',
      '__name__',
      'net.if.in.bytes',
      '__step__',
      '60',
      '__type__',
      'counter',
      'endpoint',
      'host1',
      'iface',
      'eth0',
    ])
    assert.deepEqual(batch.labelsOf(1), ['__name__', 'up', '__step__', '15', '__type__', 'gauge'])
    assert.deepEqual(Array.from(batch.t), [1_700_000_000_000, 1, 2, 2 ** 50])
    assert.deepEqual(Array.from(batch.v), [42.5, NaN, -Infinity, 1e300])
  })

  it('caches labels per series object and never gives one series the labels of another', () => {
    const cache = new SeriesLabelCache()
    const tags = { iface: 'eth0' }
    const a = cache.ofSendItem({
      endpoint: 'h1',
      metric: 'm',
      tags,
      value: 1,
      timestamp: 1,
      dstype: 'GAUGE',
      step: 60,
    })
    assert.equal(
      cache.ofSendItem({
        endpoint: 'h1',
        metric: 'm',
        tags,
        value: 2,
        timestamp: 2,
        dstype: 'GAUGE',
        step: 60,
      }),
      a
    )
    // The same tags object with another endpoint, step or type: other labels.
    const b = cache.ofSendItem({
      endpoint: 'h2',
      metric: 'm',
      tags,
      value: 1,
      timestamp: 1,
      dstype: 'GAUGE',
      step: 60,
    })
    const c = cache.ofSendItem({
      endpoint: 'h2',
      metric: 'm',
      tags,
      value: 1,
      timestamp: 1,
      dstype: 'DERIVE',
      step: 60,
    })
    assert.notDeepEqual(b, a)
    assert.notDeepEqual(c, b)
    const item = new PromSeriesItem(
      'h1',
      'up',
      'job= node%2Cx',
      15,
      0,
      new Float64Array(1),
      new Float64Array(1)
    )
    const w = new TimeSeriesWriter()
    w.one(cache.ofWriteItem(item), 1, 1)
    // A stored tag value escaped for falcon goes out as the label value it stands for.
    assert.deepEqual(decodeWriteRequest(w.take()).labelsOf(0), [
      '__name__',
      'up',
      '__step__',
      '15',
      '__type__',
      'gauge',
      'endpoint',
      'h1',
      'job',
      'node,x',
    ])
  })
})
