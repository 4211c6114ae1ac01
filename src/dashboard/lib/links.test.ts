import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  bareMetricName,
  exactEndpointQuery,
  safeNext,
  splitFieldErrors,
  thresholdOf,
  withoutFieldPath,
} from './links.js'

describe('after login', () => {
  it('returns to a page of this app', () => {
    assert.equal(safeNext('/charts?e=web-01&range=1h'), '/charts?e=web-01&range=1h')
    assert.equal(safeNext('/config/hostgroups/3'), '/config/hostgroups/3')
  })

  it('never leaves the origin or loops to login', () => {
    for (const bad of [
      null,
      '',
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/login?next=/x',
      '/\t/evil.example',
      '/a\\b',
    ]) {
      assert.equal(safeNext(bad), '/', String(bad))
    }
  })
})

describe("a case's threshold", () => {
  it('is the right side of the condition judge printed', () => {
    assert.equal(thresholdOf('97 > 90'), 90)
    assert.equal(thresholdOf('3 <= -1.5'), -1.5)
    assert.equal(thresholdOf('0.5 != 1e3'), 1000)
    assert.equal(thresholdOf('12 == 12'), 12)
    assert.equal(thresholdOf(''), undefined)
    assert.equal(thresholdOf('97 > x'), undefined)
  })
})

describe('metric names for the PromQL editor', () => {
  it('escapes names PromQL cannot write bare, as the engine reads them back', () => {
    assert.equal(bareMetricName('up'), 'up')
    assert.equal(bareMetricName('node_cpu_seconds_total'), 'node_cpu_seconds_total')
    assert.equal(bareMetricName('cpu.idle'), 'cpu_idle')
    assert.equal(bareMetricName('net.if.in.bytes'), 'net_if_in_bytes')
    assert.equal(bareMetricName('1min.load'), '_1min_load')
    assert.equal(bareMetricName('TcpExt.TCPDSACKUndo'), 'TcpExt_TCPDSACKUndo')
  })
})

describe('finding one endpoint by name', () => {
  it('escapes and anchors the name so graph matches it and nothing else', () => {
    assert.equal(exactEndpointQuery('web-01'), '^web-01$')
    assert.equal(exactEndpointQuery('db.a+b(1)[x]'), '^db\\.a\\+b\\(1\\)\\[x\\]$')
    assert.equal(exactEndpointQuery('a|b^c$d*e?f{2}\\g'), '^a\\|b\\^c\\$d\\*e\\?f\\{2\\}\\\\g$')
    const re = new RegExp(exactEndpointQuery('<img src=x onerror=alert(11) x='))
    assert.ok(re.test('<img src=x onerror=alert(11) x='))
    assert.ok(!re.test('a<img src=x onerror=alert(11) x='))
  })
})

describe('an API message beside its field', () => {
  it('drops the field path the field already shows', () => {
    assert.equal(
      withoutFieldPath('body.name: expected a host group name'),
      'expected a host group name'
    )
    assert.equal(
      withoutFieldPath('query.status: "X" is not one of PROBLEM, OK'),
      '"X" is not one of PROBLEM, OK'
    )
    assert.equal(withoutFieldPath('wrong name or password'), 'wrong name or password')
  })
})

describe('an API refusal naming several fields', () => {
  it('puts each problem beside its field and keeps the rest for above the form', () => {
    const fields = ['name', 'tags', 'step', 'mock']
    assert.deepEqual(
      splitFieldErrors(
        'body.tags: expected k=v pairs; got ""; body.step: expected a positive integer (seconds); body.mock: expected a finite number',
        fields
      ),
      {
        byField: {
          tags: 'expected k=v pairs; got ""',
          step: 'expected a positive integer (seconds)',
          mock: 'expected a finite number',
        },
        other: [],
      }
    )
    assert.deepEqual(splitFieldErrors('name: host group web already exists', fields), {
      byField: { name: 'host group web already exists' },
      other: [],
    })
    assert.deepEqual(splitFieldErrors('body.obj.2: no host group named "x"', ['obj']), {
      byField: { obj: 'no host group named "x"' },
      other: [],
    })
    assert.deepEqual(splitFieldErrors('only an admin may do this', fields), {
      byField: {},
      other: ['only an admin may do this'],
    })
    assert.deepEqual(splitFieldErrors('body.tpl_id: no template with id 7', fields), {
      byField: {},
      other: ['body.tpl_id: no template with id 7'],
    })
  })
})
