import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileRe2 } from './re2.js'

describe('compileRe2', () => {
  it('matches case-insensitively inside (?i:…) and after an inner (?i) until its group ends', () => {
    const f = (re: string, yes: string[], no: string[]): void => {
      const r = compileRe2(re, true)
      for (const s of yes) assert.ok(r.test(s), `${re} should match ${s}`)
      for (const s of no) assert.ok(!r.test(s), `${re} should not match ${s}`)
    }
    f('(?i:PRO).*', ['production', 'PROD'], ['xpro'])
    f('.*((?i)TION)', ['production', 'acTIon'], ['productio'])
    f('a(?i:b)c', ['abc', 'aBc'], ['aBC', 'Abc'])
    f('(?i:[a-c]x)', ['Bx', 'cX'], ['dx'])
    f('(?i:[^a])', ['b'], ['a', 'A'])
    f('((?i)a)a', ['Aa'], ['AA'])
    f('(?i)foo', ['FOO'], ['bar'])
  })

  it('still refuses what RE2 and JavaScript disagree on', () => {
    for (const re of ['a(?s:.)', '(?=a)', '(a)\\1', '(?U)a']) {
      assert.throws(() => compileRe2(re, true), { code: 'PG_CORE_BAD_REGEX' }, re)
    }
  })
})

describe('compileRe2 in linear time', () => {
  it('matches a pattern that makes a backtracking engine take exponential time, at once', () => {
    // (a+)+$ against a's then a mismatch takes 2^n steps in a backtracking engine: with n = 5,000 the
    // test would never end; RE2 (and V8's linear engine) answer in linear time.
    const re = compileRe2('(a+)+$', true)
    assert.equal(re.test('a'.repeat(5000) + '!'), false)
    assert.equal(re.test('a'.repeat(5000)), true)
  })
  it('keeps a leading (?i) and \\z working without JavaScript flags the linear engine lacks', () => {
    assert.equal(compileRe2('(?i)foo.*', true).test('FOObar'), true)
    assert.equal(compileRe2('foo\\z', false).test('xfoo'), true)
    assert.equal(compileRe2('foo\\z', false).test('foox'), false)
  })
})
