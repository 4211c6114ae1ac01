import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { escapeTagValue, promSeriesOf, storedTagsOf, unescapeTagValue } from './prom-series.js'

describe('promSeriesOf', () => {
  it('takes the endpoint from endpoint, else the host of instance, else job, else "prometheus"', () => {
    const of = (...pairs: string[]) => promSeriesOf(['__name__', 'm', ...pairs])
    assert.deepEqual(of('endpoint', 'e1', 'instance', 'h:9100'), {
      endpoint: 'e1',
      metric: 'm',
      tags: 'instance=h:9100',
      labels: Object.assign(Object.create(null) as object, { instance: 'h:9100' }),
    })
    assert.equal(
      (of('instance', 'host1:9100', 'job', 'node') as { endpoint: string }).endpoint,
      'host1'
    )
    assert.equal((of('instance', '[::1]:9100') as { endpoint: string }).endpoint, '::1')
    assert.equal((of('instance', 'a:b:c') as { endpoint: string }).endpoint, 'a:b:c')
    assert.equal((of('job', 'batch') as { endpoint: string }).endpoint, 'batch')
    assert.equal((of() as { endpoint: string }).endpoint, 'prometheus')
    assert.equal((of('empty', '', 'job', 'j') as { tags: string }).tags, 'job=j')
  })

  it('refuses what it cannot keep, saying why', () => {
    assert.equal(promSeriesOf(['job', 'x']), 'series without __name__')
    assert.match(promSeriesOf(['__name__', 'm', 'a', '1', 'a', '2']) as string, /named twice/)
    assert.match(promSeriesOf(['__name__', 'm', 'b', '1', 'a', '2']) as string, /not sorted/)
    assert.match(promSeriesOf(['__name__', 'm', '__x', '1']) as string, /not a label name/)
    assert.match(promSeriesOf(['__name__', 'a/b']) as string, /not a metric name/)
    assert.match(
      promSeriesOf(['__name__', 'm', 'endpoint', 'a"b']) as string,
      /not a falcon endpoint/
    )
    assert.match(promSeriesOf(['__name__', 'm', 'v', 'x'.repeat(600)]) as string, /510/)
  })

  it('escapes tag values with commas or spaces so that they read back as they were', () => {
    for (const v of ['plain', 'a b', 'a,b', '100%', '50% of a, b', ' lead', '%2C', 'x=y']) {
      assert.equal(unescapeTagValue(escapeTagValue(v)), v)
      assert.ok(!escapeTagValue(v).slice(1).includes(' ') && !escapeTagValue(v).includes(','))
    }
    assert.equal(escapeTagValue('plain'), 'plain')
    assert.equal(escapeTagValue('100%'), '100%')
    const s = promSeriesOf(['__name__', 'm', 'a', 'x, y', 'b', 'k=v']) as { tags: string }
    assert.deepEqual(storedTagsOf(s.tags), [
      ['a', 'x, y'],
      ['b', 'k=v'],
    ])
  })
})
