import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { formatDuration, formatFloat, goUnquote, parseDuration } from './format.js'
import { formatQuery } from './format-query.js'

describe('parseDuration', () => {
  it('reads Prometheus durations into ms', () => {
    const f = (s: string, ms: number): void => assert.equal(parseDuration(s), ms, s)
    f('1h30m', 5_400_000)
    f('5m', 300_000)
    f('1d', 86_400_000)
    f('1w', 604_800_000)
    f('1y', 31_536_000_000)
    f('500ms', 500)
    f('0', 0)
    f('1m30s500ms', 90_500)
  })

  it('refuses what is not one, naming it', () => {
    for (const s of ['', '5', '1.5h', 'm', '5m1h', '-5m', '1 h']) {
      assert.throws(() => parseDuration(s), { code: 'PG_PROMQL_BAD_QUERY' }, s)
    }
    assert.throws(() => parseDuration('5x'), { message: 'not a valid duration string: "5x"' })
  })

  it('prints as model.Duration.String()', () => {
    const f = (ms: number, s: string): void => assert.equal(formatDuration(ms), s)
    f(0, '0s')
    f(5_400_000, '1h30m')
    f(90 * 86_400_000, '90d')
    f(604_800_000, '1w')
    f(500, '500ms')
  })
})

describe('formatFloat', () => {
  it('prints as strconv.FormatFloat(v, f, -1, 64)', () => {
    const f = (v: number, s: string): void => assert.equal(formatFloat(v), s, s)
    f(0.1, '0.1')
    f(1, '1')
    f(-2.5, '-2.5')
    f(1e21, '1000000000000000000000')
    f(1e-7, '0.0000001')
    f(1.5e-10, '0.00000000015')
    f(123456789012345680000, '123456789012345680000')
    f(Infinity, '+Inf')
    f(-Infinity, '-Inf')
    f(NaN, 'NaN')
  })
})

describe('goUnquote', () => {
  it('reads Go string literals', () => {
    assert.deepEqual(goUnquote('"a\\nb"'), { value: 'a\nb' })
    assert.deepEqual(goUnquote("'a\"b'"), { value: 'a"b' })
    assert.deepEqual(goUnquote('"\\u00e9\\x41\\101"'), { value: 'éAA' })
    assert.deepEqual(goUnquote('`raw\\n`'), { value: 'raw\\n' })
    assert.ok('error' in goUnquote('"a\\qb"'))
    assert.ok('error' in goUnquote('"a\\\'b"'))
  })
})

describe('formatQuery', () => {
  it('prints short queries on one line and splits long ones as Prometheus', () => {
    assert.equal(formatQuery('sum(rate(x[5m]))by(job)'), 'sum by (job) (rate(x[5m]))')
    const long =
      'sum by (job) (rate(http_requests_total{job="api-server",handler="/api/v1/query"}[5m])) / sum by (job) (rate(http_requests_total[5m]))'
    assert.equal(
      formatQuery(long),
      [
        '  sum by (job) (rate(http_requests_total{handler="/api/v1/query",job="api-server"}[5m]))',
        '/',
        '  sum by (job) (rate(http_requests_total[5m]))',
      ].join('\n')
    )
  })
})
