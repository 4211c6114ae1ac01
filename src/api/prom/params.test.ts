import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PromError } from './errors.js'
import {
  Form,
  MAX_TIME,
  MIN_TIME,
  parseDurationParam,
  parseLimit,
  parseMatchers,
  parseTime,
} from './params.js'

const refused = (fn: () => unknown, want: RegExp) =>
  assert.throws(fn, (err: PromError) => err.type === 'bad_data' && want.test(err.message))

describe('prometheus api parameters', () => {
  it('reads times as Unix seconds with ms decimals, RFC 3339, or the min and max strings', () => {
    const f = (s: string, want: number) => assert.equal(parseTime(s, 'time'), want, s)
    f('1435781451.781', 1435781451781)
    f('1435781451', 1435781451000)
    f('1435781451.7815', 1435781451782)
    f('1e3', 1_000_000)
    f('.5', 500)
    f('-1.5', -1500)
    f('2015-07-01T20:10:51.781Z', 1435781451781)
    f('2015-07-01T20:10:51Z', 1435781451000)
    f('2015-07-01T22:10:51.781999+02:00', 1435781451781)
    f('2015-07-01T18:40:51-01:30', 1435781451000)
    f('-292273086-05-16T16:47:06Z', MIN_TIME)
    f('292277025-08-18T07:12:54.999999999Z', MAX_TIME)
  })

  it('refuses other times, naming the parameter', () => {
    const f = (s: string) =>
      refused(
        () => parseTime(s, 'start'),
        new RegExp(`^invalid parameter "start": Invalid time value for 'start': cannot parse`)
      )
    for (const s of [
      '',
      'now',
      'NaN',
      'Inf',
      '2015-02-30T00:00:00Z',
      '2015-07-01 20:10:51Z',
      '1e300',
    ])
      f(s)
  })

  it('reads durations as float seconds or Prometheus durations, in ms', () => {
    const f = (s: string, want: number) => assert.equal(parseDurationParam(s, 'step'), want, s)
    f('15', 15_000)
    f('0.5', 500)
    f('1e-3', 1)
    f('5m', 300_000)
    f('1h', 3_600_000)
    refused(
      () => parseDurationParam('5 minutes', 'step'),
      /^invalid parameter "step": cannot parse "5 minutes" to a valid duration$/
    )
    refused(() => parseDurationParam('1e300', 'timeout'), /overflows int64/)
  })

  it('reads limit as a non-negative integer', () => {
    assert.equal(parseLimit(new Form({})), 0)
    assert.equal(parseLimit(new Form({ limit: '10' })), 10)
    refused(() => parseLimit(new Form({ limit: '-1' })), /limit must be non-negative/)
    refused(() => parseLimit(new Form({ limit: 'ten' })), /^invalid parameter "limit"/)
  })

  it('takes the POST form before the URL, and keeps every match[]', () => {
    const form = new Form(
      { query: 'from_body', 'match[]': ['a', 'b'] },
      { query: 'from_url', 'match[]': 'c', n: 3 }
    )
    assert.equal(form.value('query'), 'from_body')
    assert.deepEqual(form.all('match[]'), ['a', 'b', 'c'])
    assert.equal(form.value('n'), '')
    assert.equal(form.value('absent'), '')
  })

  it('reads match[] selectors and refuses one that matches everything', () => {
    const [set] = parseMatchers(['up{job="a"}'])
    assert.deepEqual(
      [...set].sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { name: '__name__', op: '=', value: 'up' },
        { name: 'job', op: '=', value: 'a' },
      ]
    )
    // The selector parser may refuse it itself, in its own words.
    refused(() => parseMatchers(['{job=~".*"}']), /at least one non-empty matcher$/)
    refused(
      () => parseMatchers(['{job=""}'], true),
      /^invalid parameter "match\[\]": .*at least one non-empty matcher$/
    )
    refused(() => parseMatchers(['up{'], true), /^invalid parameter "match\[\]": /)
  })
})
