import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatGoFloat, formatLocalTime } from './go-format.js'

describe('formatGoFloat is Go’s %v of a float64', () => {
  it('writes what fmt.Sprintf("%v") writes', () => {
    const cases: [number, string][] = [
      [4.2, '4.2'],
      [100, '100'],
      [0, '0'],
      [-0, '-0'],
      [-3.5, '-3.5'],
      [123456, '123456'],
      [999999.5, '999999.5'],
      [1e6, '1e+06'],
      [1234567, '1.234567e+06'],
      [-15_000_000, '-1.5e+07'],
      [1e21, '1e+21'],
      [1e100, '1e+100'],
      [0.0001, '0.0001'],
      [0.00012, '0.00012'],
      [1e-5, '1e-05'],
      [1.5e-7, '1.5e-07'],
      [0.1 + 0.2, '0.30000000000000004'],
      [NaN, 'NaN'],
      [Infinity, '+Inf'],
      [-Infinity, '-Inf'],
    ]
    for (const [v, want] of cases) assert.equal(formatGoFloat(v), want, String(v))
  })
})

describe('formatLocalTime is Go’s Format("2006-01-02 15:04:05") in local time', () => {
  it('pads every field and uses the process time zone', () => {
    const d = new Date(2024, 0, 2, 3, 4, 5)
    assert.equal(formatLocalTime(d.getTime()), '2024-01-02 03:04:05')
    const e = new Date(1999, 11, 31, 23, 59, 59)
    assert.equal(formatLocalTime(e.getTime() + 999), '1999-12-31 23:59:59')
  })
})
