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
