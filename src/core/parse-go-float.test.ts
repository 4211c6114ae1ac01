import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseGoFloat } from './validate.js'

describe('parseGoFloat (Go strconv.ParseFloat(s, 64))', () => {
  it('accepts what Go accepts, with the same value', () => {
    const f = (s: string, want: number) => assert.equal(parseGoFloat(s), want, JSON.stringify(s))
    f('90', 90)
    f('1.5', 1.5)
    f('-0.5', -0.5)
    f('+3', 3)
    f('.5', 0.5)
    f('5.', 5)
    f('007', 7)
    f('1e3', 1000)
    f('1E-2', 0.01)
    f('1e-400', 0) // underflow is not an error in Go
    f('1_000', 1000)
    f('1_000.000_5', 1000.0005)
    f('1e1_0', 1e10)
    f('0x1p-2', 0.25)
    f('0X1.8P1', 3)
    f('0x_1p0', 1)
    f('-0x10p0', -16)
    f('0x1.fffffffffffffp1023', Number.MAX_VALUE)
    f('0x1p-1074', Number.MIN_VALUE)
    f('inf', Infinity)
    f('+INF', Infinity)
    f('-Infinity', -Infinity)
    assert.ok(Number.isNaN(parseGoFloat('NaN')))
    assert.ok(Object.is(parseGoFloat('-0'), -0))
  })

  it('refuses what Go refuses (a syntax error or a value out of range)', () => {
    for (const s of [
      '',
      ' 1',
      '1 ',
      '1,5',
      'abc',
      '.',
      '-',
      '--1',
      '1e',
      '1e+',
      '1.2.3',
      '0x',
      '0x1',
      '0xp1',
      '0x1.8',
      '1__000',
      '_1',
      '1_',
      '1_.5',
      '-nan',
      '+nan',
      'infin',
      'infinityy',
      '1e400',
      '-1e400',
      '0x1p1024',
      '１',
    ]) {
      assert.equal(parseGoFloat(s), undefined, JSON.stringify(s))
    }
  })
})
