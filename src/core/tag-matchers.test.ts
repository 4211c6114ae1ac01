import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  compileTagMatcher,
  parseTagMatchers,
  splitTagPiece,
  tagEntryOf,
  tagMatcherOf,
  tagTestMatches,
  type TagMatcher,
} from './tag-matchers.js'

describe('tag matchers', () => {
  it('parse the four forms of a strategy tags text', () => {
    assert.deepEqual(parseTagMatchers(''), [])
    assert.deepEqual(parseTagMatchers('mount=/,fstype=~ext[34],dev!=tmpfs,path!~/(boot|tmp).*'), [
      { name: 'mount', op: '=', value: '/' },
      { name: 'fstype', op: '=~', value: 'ext[34]' },
      { name: 'dev', op: '!=', value: 'tmpfs' },
      { name: 'path', op: '!~', value: '/(boot|tmp).*' },
    ])
    // A pattern may hold = and !, and one positive and one negative matcher may share a key.
    assert.deepEqual(parseTagMatchers('q=~a=b!c,q!~a=bx'), [
      { name: 'q', op: '=~', value: 'a=b!c' },
      { name: 'q', op: '!~', value: 'a=bx' },
    ])
    assert.deepEqual(parseTagMatchers('k=,k!='), [
      { name: 'k', op: '=', value: '' },
      { name: 'k', op: '!=', value: '' },
    ])
  })

  it('name what is wrong with a piece', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => parseTagMatchers(text), re, text)
    bad('port', /"port" is not a tag matcher: write k=v, k!=v, k=~regex or k!~regex/)
    bad('k=~a{1,2}', /"2}" is not a tag matcher.*cannot hold a comma/)
    bad('=b', /empty key/)
    bad('!=b', /empty key/)
    bad('a!b=c', /"!" in a key/)
    bad('a=b=c', /more than one "="/)
    bad('a!=b=c', /more than one "="/)
    bad(' a=1', /spaces/)
    bad('a= 1', /spaces/)
    bad('a=1,', /"" is not a tag matcher/)
    bad('a=1,a=~2', /tag a is given twice/)
    bad('a!=1,a!~2', /tag a is negated twice/)
    bad('a!=~x', /a value starting with ~ reads as a regex; write a!~regex/)
    bad('a=~(', /"a=~\(": error parsing regexp "\(": /)
    bad('a!~(?=x)', /look-around/)
    bad('a=~(a)\\1', /back references/)
  })

  it('travel in falcon tags map and back unchanged', () => {
    const f = (text: string, entry: [string, string]) => {
      const [m] = parseTagMatchers(text)
      assert.deepEqual(tagEntryOf(m), entry, text)
      assert.deepEqual(tagMatcherOf(...entry), m, text)
      // hbs splits the text the same way.
      assert.deepEqual(splitTagPiece(text), entry, text)
    }
    f('k=v', ['k', 'v'])
    f('k=~a.*', ['k', '~a.*'])
    f('k!=v', ['k!', 'v'])
    f('k!~a=b', ['k!', '~a=b'])
    f('k=', ['k', ''])
    // falcon's exact value that holds `!~` stays exact: the `=` comes first.
    assert.deepEqual(splitTagPiece('k=a!~b'), ['k', 'a!~b'])
    assert.equal(splitTagPiece('port'), undefined)
    // A key that is only `!` is a name, not a negation.
    assert.deepEqual(tagMatcherOf('!', 'x'), { name: '!', op: '=', value: 'x' })
  })

  it('match as falcon for = and as Prometheus for patterns, negations their exact opposite', () => {
    const f = (m: TagMatcher, tags: Record<string, string>, want: boolean) =>
      assert.equal(
        tagTestMatches(compileTagMatcher(m), tags),
        want,
        `${JSON.stringify(m)} ${JSON.stringify(tags)}`
      )
    f({ name: 'mount', op: '=', value: '/' }, { mount: '/' }, true)
    f({ name: 'mount', op: '=', value: '/' }, { mount: '/data' }, false)
    f({ name: 'mount', op: '=', value: '' }, {}, false) // falcon: the tag must be there
    f({ name: 'mount', op: '!=', value: '/' }, { mount: '/data' }, true)
    f({ name: 'mount', op: '!=', value: '/' }, { mount: '/' }, false)
    f({ name: 'mount', op: '!=', value: '/' }, {}, true)
    // Fully anchored: `/data` does not match `/data1` nor `x/data`.
    f({ name: 'mount', op: '=~', value: '/data' }, { mount: '/data' }, true)
    f({ name: 'mount', op: '=~', value: '/data' }, { mount: '/data1' }, false)
    f({ name: 'mount', op: '=~', value: '/data' }, { mount: 'x/data' }, false)
    f({ name: 'mount', op: '=~', value: '/data.*' }, { mount: '/data1' }, true)
    // A missing tag is the empty value to a pattern.
    f({ name: 'mount', op: '=~', value: '.*' }, {}, true)
    f({ name: 'mount', op: '=~', value: '.+' }, {}, false)
    f({ name: 'mount', op: '!~', value: '/boot|/tmp' }, { mount: '/tmp' }, false)
    f({ name: 'mount', op: '!~', value: '/boot|/tmp' }, { mount: '/' }, true)
    f({ name: 'mount', op: '!~', value: '.+' }, {}, true)
    // RE2 syntax through compileRe2: flags and an escaped ~.
    f({ name: 'env', op: '=~', value: '(?i)prod' }, { env: 'PROD' }, true)
    f({ name: 'v', op: '=~', value: '\\~x' }, { v: '~x' }, true)
    // A name inherited from Object.prototype is not a tag.
    f({ name: 'constructor', op: '=~', value: '.+' }, {}, false)
  })

  it('refuses a bad pattern when compiled, with its code', () => {
    assert.throws(() => compileTagMatcher({ name: 'k', op: '=~', value: '(' }), {
      code: 'PG_CORE_BAD_REGEX',
    })
  })
})
