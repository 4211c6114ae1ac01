import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fitChars, hostnameProblem, tooLong } from './hostname.js'

describe('hostnameProblem', () => {
  it('takes what a host is named and names the rule a bad name breaks', () => {
    const f = (name: string, want: string | undefined) =>
      assert.equal(hostnameProblem(name), want, JSON.stringify(name))
    f('web-01.example.com', undefined)
    f('10.0.0.1', undefined)
    f('h'.repeat(255), undefined)
    // 255 emoji are 510 UTF-16 units but 255 characters, as the column counts them.
    f('😀'.repeat(255), undefined)
    f('', 'expected a host name')
    f('h'.repeat(256), 'expected at most 255 characters')
    f('😀'.repeat(256), 'expected at most 255 characters')
    f('a b', 'expected no whitespace or control characters')
    f('a\u0000b', 'expected no whitespace or control characters')
    f('a\u007fb', 'expected no whitespace or control characters')
    f('a\u00a0b', 'expected no whitespace or control characters')
    f('trailing\n', 'expected no whitespace or control characters')
  })

  it('counts and cuts characters as a varchar does', () => {
    assert.equal(tooLong('😀'.repeat(3), 3), false)
    assert.equal(tooLong('😀'.repeat(3) + 'a', 3), true)
    assert.equal(fitChars('😀😀😀', 2), '😀😀')
    assert.equal(fitChars('abc', 5), 'abc')
  })
})
