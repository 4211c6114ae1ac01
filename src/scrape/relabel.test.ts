import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { expand, parseRelabelConfigs, relabel } from './relabel.js'

const run = (labels: Record<string, string>, configs: unknown[]) => {
  const m = new Map(Object.entries(labels))
  const kept = relabel(m, parseRelabelConfigs(configs, 'relabel_configs'))
  return kept ? Object.fromEntries([...m].sort()) : null
}

// Cases from Prometheus's model/relabel/relabel_test.go.
describe('relabel', () => {
  it('replace: groups, defaults, an empty result deletes, no match leaves as is', () => {
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [
        {
          source_labels: ['a'],
          regex: 'f(.*)',
          target_label: 'd',
          separator: ';',
          replacement: 'ch${1}-ch${1}',
          action: 'replace',
        },
      ]),
      { a: 'foo', b: 'bar', c: 'baz', d: 'choo-choo' }
    )
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [
        {
          source_labels: ['a', 'b'],
          regex: 'f(.*);(.*)r',
          target_label: 'a',
          replacement: 'b${1}${2}m',
        },
        {
          source_labels: ['c', 'a'],
          regex: '(b).*b(.*)ba(.*)',
          target_label: 'd',
          replacement: '$1$2$2$3',
        },
      ]),
      { a: 'boobam', b: 'bar', c: 'baz', d: 'boooom' }
    )
    assert.deepEqual(run({ a: 'foo' }, [{ source_labels: ['a'], regex: 'o', target_label: 'b' }]), {
      a: 'foo',
    })
    assert.deepEqual(run({ a: 'foo', b: 'x' }, [{ source_labels: ['c'], target_label: 'b' }]), {
      a: 'foo',
    })
    // `$1x` names a group "1x" (Go), so it expands to nothing.
    assert.deepEqual(
      run({ a: 'foo' }, [
        { source_labels: ['a'], regex: '(f)oo', target_label: 'b', replacement: '$1x' },
      ]),
      {
        a: 'foo',
      }
    )
    assert.deepEqual(
      run({ __address__: 'h:9100' }, [
        {
          source_labels: ['__address__'],
          regex: '(.*):.*',
          target_label: '${1}_host',
          replacement: '$1',
        },
      ]),
      { __address__: 'h:9100', h_host: 'h' }
    )
  })

  it('keep, drop, keepequal, dropequal', () => {
    assert.equal(
      run({ a: 'foo' }, [{ source_labels: ['a'], regex: '.*o.*', action: 'drop' }]),
      null
    )
    assert.deepEqual(
      run({ a: 'abc' }, [{ source_labels: ['a'], regex: '.*o.*', action: 'drop' }]),
      { a: 'abc' }
    )
    assert.equal(
      run({ a: 'foo' }, [{ source_labels: ['a'], regex: 'no-match', action: 'keep' }]),
      null
    )
    assert.deepEqual(run({ a: 'foo' }, [{ source_labels: ['a'], regex: 'f.*', action: 'keep' }]), {
      a: 'foo',
    })
    assert.equal(
      run({ a: '1', b: '2' }, [{ source_labels: ['a'], target_label: 'b', action: 'keepequal' }]),
      null
    )
    assert.equal(
      run({ a: '1', b: '1' }, [{ source_labels: ['a'], target_label: 'b', action: 'dropequal' }]),
      null
    )
  })

  it('hashmod as Prometheus computes it', () => {
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [
        { source_labels: ['c'], target_label: 'd', modulus: 1000, action: 'hashmod' },
      ]),
      { a: 'foo', b: 'bar', c: 'baz', d: '976' }
    )
  })

  it('labelmap, labeldrop, labelkeep, lowercase, uppercase', () => {
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [
        { regex: '(b.*)', replacement: 'bar_${1}', action: 'labelmap' },
      ]),
      { a: 'foo', b: 'bar', bar_b: 'bar', c: 'baz' }
    )
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [{ regex: '(b.*)', action: 'labeldrop' }]),
      { a: 'foo', c: 'baz' }
    )
    assert.deepEqual(
      run({ a: 'foo', b: 'bar', c: 'baz' }, [{ regex: '(b.*)', action: 'labelkeep' }]),
      { b: 'bar' }
    )
    assert.deepEqual(
      run({ a: 'AbC' }, [
        { source_labels: ['a'], target_label: 'l', action: 'lowercase' },
        { source_labels: ['a'], target_label: 'u', action: 'uppercase' },
      ]),
      {
        a: 'AbC',
        l: 'abc',
        u: 'ABC',
      }
    )
  })

  it('refuses configs Prometheus refuses, naming the key', () => {
    assert.throws(() => parseRelabelConfigs([{ action: 'explode' }], 'rc'), /rc\[0\]\.action/)
    assert.throws(
      () => parseRelabelConfigs([{ action: 'hashmod', target_label: 'x' }], 'rc'),
      /modulus/
    )
    assert.throws(
      () => parseRelabelConfigs([{ action: 'replace' }], 'rc'),
      /target_label: required/
    )
    assert.throws(() => parseRelabelConfigs([{ regex: '(a' }], 'rc'), /rc\[0\]\.regex/)
    assert.throws(
      () => parseRelabelConfigs([{ sourcelabels: ['a'] }], 'rc'),
      /rc\[0\]\.sourcelabels: unknown key/
    )
  })

  it('expand: $$, ${name}', () => {
    const m = /(?<x>a)(b)/.exec('ab') as RegExpExecArray
    assert.equal(expand('$$-${x}-$2-${9}', m), '$-a-b-')
  })
})
