// Tests for transfer's per-item validation and the Go ParseFloat port.

import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { MetricValue } from './model.js'
import {
  MAX_ENDPOINT_CHARS,
  MAX_METRIC_TAGS_BYTES,
  parseGoFloat,
  validateBatch,
  validateMetricValue,
} from './validate.js'

const NOW = 1_700_000_000

const base = {
  endpoint: 'host1',
  metric: 'cpu.idle',
  value: 97.5,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp: 1_559_200_000,
}

const want = (patch: Partial<MetricValue>): MetricValue => ({ ...(base as MetricValue), ...patch })

describe('parseGoFloat', () => {
  it('parses what Go strconv.ParseFloat(s, 64) parses', () => {
    const f = (input: string, want: number) => {
      assert.equal(parseGoFloat(input), want, JSON.stringify(input))
    }
    f('0', 0)
    f('-0', -0)
    f('1', 1)
    f('+1', 1)
    f('-1.5', -1.5)
    f('1e3', 1000)
    f('1E3', 1000)
    f('1e+3', 1000)
    f('625e-3', 0.625)
    f('.5', 0.5)
    f('5.', 5)
    f('007', 7)
    f('1e23', 1e23)
    f('1.7976931348623157e308', Number.MAX_VALUE)
    f('1.7976931348623158e308', Number.MAX_VALUE)
    f('5e-324', Number.MIN_VALUE)
    f('2e-324', 0)
    f('1e-400', 0)
    f('0e99999', 0)
    f('NaN', NaN)
    f('nan', NaN)
    f('Inf', Infinity)
    f('+Inf', Infinity)
    f('-Inf', -Infinity)
    f('inf', Infinity)
    f('Infinity', Infinity)
    f('-INFINITY', -Infinity)
    f('0x1p-2', 0.25)
    f('0X1P-2', 0.25)
    f('-0x1ep-1', -15)
    f('0x.8p1', 1)
    f('0x1fFe2.p0', 131042)
    f('0x1.fffffffffffffp1023', Number.MAX_VALUE)
    f('0x1p-1074', Number.MIN_VALUE)
    f('0x1p-1075', 0)
    f('0x1.8p-1075', Number.MIN_VALUE)
    f('0x1.00000000000008p0', 1)
    f('0x1.00000000000018p0', 1.0000000000000004)
    f('1_000', 1000)
    f('1_23.50_0_0e+1_2', 1.235e14)
    f('0x_1_2.3_4_5p+1_2', 74565)
    f('1.00000000000000011102230246251565404236316680908203125', 1)
    f(
      '1.00000000000000011102230246251565404236316680908203125' + '0'.repeat(1000) + '1',
      1 + 2 ** -52
    )
  })

  it('returns undefined where Go returns an error', () => {
    const f = (input: string) => {
      assert.equal(parseGoFloat(input), undefined, JSON.stringify(input))
    }
    f('')
    f(' 1')
    f('1 ')
    f('\t1')
    f('12abc')
    f('1x')
    f('1.1.')
    f('.')
    f('+')
    f('-')
    f('e3')
    f('1e')
    f('1e-')
    f('.e-1')
    f('1\x00.2')
    f('1e400')
    f('-1e400')
    f('2e308')
    f('1e+4294967296')
    f('0x1p1024')
    f('0x1.fffffffffffff8p1023')
    f('0x')
    f('0x1')
    f('0x1e2')
    f('0xp1')
    f('0x1p')
    f('1p2')
    f('+NaN')
    f('-nan')
    f('infin')
    f('Infinityx')
    f('nana')
    f('_1')
    f('1__0')
    f('1_')
    f('1_.5')
    f('1._5')
    f('1e_3')
    f('0x__1p0')
    f('１') // fullwidth digit: Go reads bytes, never Unicode digits
    // Go stops reading exponent digits at 10000, so these overflow although their exact value is 1.
    f('1' + '0'.repeat(100_000) + 'e-100000')
    f('0x1' + '0'.repeat(30_000) + 'p-120000')
  })
})

describe('validateMetricValue', () => {
  it('accepts valid items and normalises only the timestamp', () => {
    const f = (input: Record<string, unknown>, want: MetricValue) => {
      const r = validateMetricValue(input, NOW)
      assert.ok(r.ok, r.ok ? '' : r.error.message)
      assert.deepEqual(r.value, want)
    }
    f(base, want({}))
    f({ ...base, counterType: 'COUNTER' }, want({ counterType: 'COUNTER' }))
    f({ ...base, counterType: 'DERIVE' }, want({ counterType: 'DERIVE' }))
    f({ ...base, value: 0 }, want({ value: 0 }))
    f({ ...base, value: -3 }, want({ value: -3 }))
    f({ ...base, value: '1e3' }, want({ value: 1000 }))
    f({ ...base, value: 'NaN' }, want({ value: NaN }))
    f({ ...base, value: '-Inf' }, want({ value: -Infinity }))
    f({ ...base, value: '0x1p-2' }, want({ value: 0.25 }))
    f({ ...base, step: 1 }, want({ step: 1 }))
    f({ ...base, tags: ' b=2, a=1 ,noeq' }, want({ tags: ' b=2, a=1 ,noeq' }))
    f({ ...base, tags: undefined }, want({ tags: '' }))
    f({ ...base, tags: null }, want({ tags: '' }))
    f({ ...base, extra: 'ignored' }, want({}))
    // timestamps falcon replaces by now instead of refusing
    f({ ...base, timestamp: undefined }, want({ timestamp: NOW }))
    f({ ...base, timestamp: null }, want({ timestamp: NOW }))
    f({ ...base, timestamp: 0 }, want({ timestamp: NOW }))
    f({ ...base, timestamp: -1 }, want({ timestamp: NOW }))
    f({ ...base, timestamp: 2 * NOW + 1 }, want({ timestamp: NOW }))
    f({ ...base, timestamp: 2 * NOW }, want({ timestamp: 2 * NOW }))
    f({ ...base, timestamp: 1 }, want({ timestamp: 1 }))
  })

  it('refuses what transfer counts as Invalid, naming the field', () => {
    const f = (input: unknown, want: string) => {
      const r = validateMetricValue(input, NOW)
      assert.equal(r.ok, false, JSON.stringify(input))
      if (r.ok) return
      assert.equal(r.error.code, 'PG_CORE_INVALID_FIELD')
      assert.equal(r.error.status, 400)
      assert.equal(r.error.message, want)
    }
    f(null, 'item: expected an object, got null')
    f(undefined, 'item: expected an object, got nothing')
    f('x', 'item: expected an object, got "x"')
    f(7, 'item: expected an object, got 7')
    f([base], 'item: expected an object, got an array')
    f(
      { ...base, metric: 'kernel.hostname' },
      'metric: "kernel.hostname" is a legacy metric, dropped'
    )
    f({ ...base, metric: '' }, 'metric: must be a non-empty string, got ""')
    f({ ...base, metric: undefined }, 'metric: must be a non-empty string, got nothing')
    f({ ...base, metric: 5 }, 'metric: must be a non-empty string, got 5')
    f({ ...base, endpoint: '' }, 'endpoint: must be a non-empty string, got ""')
    f({ ...base, endpoint: null }, 'endpoint: must be a non-empty string, got null')
    f({ ...base, endpoint: ['h'] }, 'endpoint: must be a non-empty string, got an array')
    f(
      { ...base, endpoint: 'h'.repeat(MAX_ENDPOINT_CHARS + 1) },
      `endpoint: at most ${MAX_ENDPOINT_CHARS} characters (falcon's graph index holds ${MAX_ENDPOINT_CHARS}), got ${MAX_ENDPOINT_CHARS + 1}`
    )
    f(
      { ...base, counterType: 'gauge' },
      'counterType: "gauge" is not one of GAUGE, COUNTER, DERIVE (case-sensitive)'
    )
    f(
      { ...base, counterType: undefined },
      'counterType: nothing is not one of GAUGE, COUNTER, DERIVE (case-sensitive)'
    )
    f({ ...base, value: '' }, 'value: "" is not a number (Go strconv.ParseFloat syntax)')
    f({ ...base, value: ' 1' }, 'value: " 1" is not a number (Go strconv.ParseFloat syntax)')
    f({ ...base, value: '1 ' }, 'value: "1 " is not a number (Go strconv.ParseFloat syntax)')
    f({ ...base, value: '12abc' }, 'value: "12abc" is not a number (Go strconv.ParseFloat syntax)')
    f({ ...base, value: '1e400' }, 'value: "1e400" is not a number (Go strconv.ParseFloat syntax)')
    f(
      { ...base, value: 'x'.repeat(100) },
      `value: "${'x'.repeat(40)}…" is not a number (Go strconv.ParseFloat syntax)`
    )
    f({ ...base, value: Infinity }, 'value: Infinity is out of float64 range')
    f({ ...base, value: null }, 'value: expected a number or a numeric string, got null')
    f({ ...base, value: undefined }, 'value: expected a number or a numeric string, got nothing')
    f({ ...base, value: true }, 'value: expected a number or a numeric string, got true')
    f({ ...base, value: {} }, 'value: expected a number or a numeric string, got an object')
    f({ ...base, value: [1] }, 'value: expected a number or a numeric string, got an array')
    f({ ...base, step: 0 }, 'step: must be a positive integer, got 0')
    f({ ...base, step: -60 }, 'step: must be a positive integer, got -60')
    f({ ...base, step: 60.5 }, 'step: must be a positive integer, got 60.5')
    f({ ...base, step: '60' }, 'step: must be a positive integer, got "60"')
    f({ ...base, step: undefined }, 'step: must be a positive integer, got nothing')
    f({ ...base, step: 2 ** 53 }, 'step: must be a positive integer, got 9007199254740992')
    f({ ...base, tags: 5 }, 'tags: expected a string k1=v1,k2=v2, got 5')
    f(
      { ...base, metric: 'm'.repeat(506), tags: 'k=€' },
      'metric+tags: 511 bytes of UTF-8, more than the 510 allowed'
    )
    f({ ...base, tags: { a: '1' } }, 'tags: expected a string k1=v1,k2=v2, got an object')
    f(
      { ...base, timestamp: '1559200000' },
      'timestamp: expected unix seconds as a JSON number, got "1559200000"'
    )
    f({ ...base, timestamp: true }, 'timestamp: expected unix seconds as a JSON number, got true')
    // Go's int64 decode fails the whole request on a fraction; we refuse the item alone
    f(
      { ...base, timestamp: 1.5e9 + 0.5 },
      'timestamp: expected integer unix seconds, got 1500000000.5'
    )
  })

  it('matches field names as Go does: case-insensitively, the last matching key winning', () => {
    const f = (input: Record<string, unknown>, want: Partial<MetricValue>) => {
      const r = validateMetricValue(input, NOW)
      assert.ok(r.ok, JSON.stringify(input) + (r.ok ? '' : ': ' + r.error.message))
      for (const [k, v] of Object.entries(want)) assert.equal(r.value[k as keyof MetricValue], v)
    }
    f(
      {
        Endpoint: 'h',
        Metric: 'm',
        Value: 1,
        Step: 60,
        COUNTERTYPE: 'GAUGE',
        Tags: 'a=b',
        TimeStamp: 1,
      },
      { endpoint: 'h', metric: 'm', counterType: 'GAUGE', tags: 'a=b', timestamp: 1 }
    )
    f({ ...base, metric: '', Metric: 'later' }, { metric: 'later' })
    f({ ...base, step: undefined, ſtep: 30 }, { step: 30 })
  })

  it('refuses in transfer order: the first failing rule names the field', () => {
    const f = (input: Record<string, unknown>, field: string) => {
      const r = validateMetricValue(input, NOW)
      assert.equal(r.ok ? '' : r.error.message.slice(0, r.error.message.indexOf(':')), field)
    }
    const bad = { metric: '', endpoint: '', counterType: 'x', value: null, step: 0, tags: 1 }
    f({ ...bad, timestamp: 'x' }, 'metric')
    f({ ...bad, metric: 'kernel.hostname' }, 'metric')
    f({ ...bad, metric: 'm' }, 'endpoint')
    f({ ...bad, metric: 'm', endpoint: 'e' }, 'counterType')
    f({ ...bad, metric: 'm', endpoint: 'e', counterType: 'GAUGE' }, 'value')
    f({ ...bad, metric: 'm', endpoint: 'e', counterType: 'GAUGE', value: 1 }, 'step')
    f({ ...bad, metric: 'm', endpoint: 'e', counterType: 'GAUGE', value: 1, step: 1 }, 'tags')
    const long = { ...base, metric: 'm'.repeat(600) }
    f({ ...long, timestamp: 'x' }, 'metric+tags')
    f({ ...base, timestamp: 'x' }, 'timestamp')
  })

  it(`takes endpoints of up to ${MAX_ENDPOINT_CHARS} characters, however many bytes`, () => {
    for (const endpoint of [
      'h'.repeat(MAX_ENDPOINT_CHARS),
      '主'.repeat(MAX_ENDPOINT_CHARS),
      '😀'.repeat(MAX_ENDPOINT_CHARS),
    ]) {
      assert.ok(validateMetricValue({ ...base, endpoint }, NOW).ok, endpoint.slice(0, 3))
    }
  })

  it(`limits metric+tags to ${MAX_METRIC_TAGS_BYTES} UTF-8 bytes`, () => {
    const f = (metric: string, tags: string, ok: boolean) => {
      const r = validateMetricValue({ ...base, metric, tags }, NOW)
      assert.equal(r.ok, ok, `${Buffer.byteLength(metric + tags)} bytes`)
      if (!r.ok) assert.match(r.error.message, /^metric\+tags: \d+ bytes of UTF-8/)
    }
    f('m'.repeat(510), '', true)
    f('m'.repeat(511), '', false)
    f('m'.repeat(500), 'a=' + 'b'.repeat(8), true)
    f('m'.repeat(500), 'a=' + 'b'.repeat(9), false)
    f('m'.repeat(170), '', true)
    // 'é' is 2 bytes, '€' 3 and '😀' 4 (two UTF-16 units): the limit counts bytes, not characters.
    f('m'.repeat(506), 'k=é', true)
    f('m'.repeat(507), 'k=é', false)
    f('m'.repeat(505), 'k=€', true)
    f('m'.repeat(506), 'k=€', false)
    f('€'.repeat(170), '', true)
    f('€'.repeat(170), 'k', false)
    f('m'.repeat(504), 'k=😀', true)
    f('m'.repeat(505), 'k=😀', false)
  })

  it('returns a fresh object and leaves the input alone', () => {
    const input = { ...base, timestamp: 0 }
    const r = validateMetricValue(input, NOW)
    assert.ok(r.ok)
    assert.notEqual(r.value, input)
    assert.equal(input.timestamp, 0)
  })
})

describe('validateBatch', () => {
  it('counts bad items, keeps the first errors with their index, never throws for them', () => {
    const f = (
      input: unknown[],
      maxErrors: number | undefined,
      want: { valid: number; invalid: number; indices: number[] }
    ) => {
      const r = validateBatch(input, NOW, maxErrors)
      assert.equal(r.valid.length, want.valid)
      assert.equal(r.invalid, want.invalid)
      assert.deepEqual(
        r.errors.map((e) => e.index),
        want.indices
      )
      for (const e of r.errors) assert.equal(e.error.code, 'PG_CORE_INVALID_FIELD')
    }
    const mixed = [
      base,
      null,
      { ...base, counterType: 'gauge' },
      { ...base, metric: 'mem.free', value: '12', timestamp: 0 },
      'junk',
      { ...base, step: 0 },
    ]
    f([], undefined, { valid: 0, invalid: 0, indices: [] })
    f([base], undefined, { valid: 1, invalid: 0, indices: [] })
    f(mixed, undefined, { valid: 2, invalid: 4, indices: [1, 2, 4, 5] })
    f(mixed, 2, { valid: 2, invalid: 4, indices: [1, 2] })
    f(mixed, 0, { valid: 2, invalid: 4, indices: [] })
    f(Array(25).fill(null), undefined, {
      valid: 0,
      invalid: 25,
      indices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    })
  })

  it('returns valid points in input order, validated', () => {
    const r = validateBatch(
      [{ ...base, metric: 'a' }, null, { ...base, metric: 'b', value: '1e3', timestamp: -5 }],
      NOW
    )
    assert.deepEqual(r.valid, [
      want({ metric: 'a' }),
      want({ metric: 'b', value: 1000, timestamp: NOW }),
    ])
    assert.equal(r.errors[0].error.message, 'item: expected an object, got null')
  })

  it('throws a 400 when the body is not an array', () => {
    const f = (input: unknown) => {
      assert.throws(() => validateBatch(input, NOW), {
        code: 'PG_CORE_INVALID_FIELD',
        status: 400,
        message: 'body: expected a JSON array of MetricValue',
      })
    }
    f(null)
    f(undefined)
    f(base)
    f('[]')
    f(42)
  })
})
