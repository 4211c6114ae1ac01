import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileRe2, literalAlternatives, MAX_REPEATS } from './re2.js'

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

describe('the cost of a regex', () => {
  it('refuses more repetition operators than MAX_REPEATS, naming the bound', () => {
    compileRe2('(a|b)*'.repeat(MAX_REPEATS), true)
    assert.throws(
      () => compileRe2('(a|b)*'.repeat(MAX_REPEATS + 1), true),
      (err: Error & { code?: string }) =>
        err.code === 'PG_CORE_BAD_REGEX' &&
        err.message.includes(`more than ${MAX_REPEATS} repetition operators`)
    )
    // The error names a long pattern by its start and length.
    assert.throws(
      () => compileRe2('(a|b)*'.repeat(20_000), true),
      (err: Error) => err.message.length < 1200 && err.message.includes('(120000 characters)')
    )
    // Escaped, in a class, or a repetition count: not operators, or counted once.
    compileRe2('\\*'.repeat(500) + '[*+?]'.repeat(100), true)
  })

  it('reads literal alternatives as a set, and any other pattern as null', () => {
    assert.deepEqual([...(literalAlternatives('a|b\\.c|') ?? [])], ['a', 'b.c', ''])
    assert.deepEqual([...(literalAlternatives('(web-1|web-2)') ?? [])], ['web-1', 'web-2'])
    assert.deepEqual([...(literalAlternatives('host') ?? [])], ['host'])
    for (const p of ['a.b', 'a|b*', '(?i)a|b', '(a)|(b)', 'a\\d', '[ab]', 'x{2}', '^a', 'a\\']) {
      assert.equal(literalAlternatives(p), null, p)
    }
    // However long: 20,000 hosts, as a Grafana variable with every value selected.
    const hosts = Array.from({ length: 20_000 }, (_, i) => `host-${i}\\.example\\.com`)
    assert.equal(literalAlternatives(hosts.join('|'))?.size, 20_000)
  })
})
