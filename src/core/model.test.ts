// Tests for falcon's tag strings, counters and series keys.

import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  COUNTER_TYPES,
  counterOf,
  formatTags,
  normalizeTags,
  parseTags,
  seriesKeyOf,
  seriesKeyOfCounter,
  splitCounter,
  type Tags,
} from './model.js'

describe('parseTags', () => {
  it('keeps every key as data, __proto__ and constructor too, with no prototype', () => {
    const tags = parseTags('__proto__=x,constructor=y,toString=z,a=1,a=2')
    assert.equal(Object.getPrototypeOf(tags), null)
    assert.deepEqual(Object.keys(tags), ['__proto__', 'constructor', 'toString', 'a'])
    assert.equal(tags.__proto__, 'x')
    assert.equal(tags.constructor, 'y')
    assert.equal(tags.a, '2')
    assert.equal(tags.missing, undefined)
    assert.equal('hasOwnProperty' in tags, false)
    assert.equal(formatTags(tags), '__proto__=x,a=2,constructor=y,toString=z')
  })

  it('parses like DictedTagstring', () => {
    const f = (input: string, want: Tags) => {
      assert.deepEqual({ ...parseTags(input) }, want, JSON.stringify(input))
    }
    f('', {})
    f('iface=eth0', { iface: 'eth0' })
    f('a=1,b=2', { a: '1', b: '2' })
    // every space goes, inside keys and values too
    f(' a = 1 , b=2 ', { a: '1', b: '2' })
    f('mount=/data dir', { mount: '/datadir' })
    // an item without '=' is dropped silently, as are empty items
    f('a=1,noeq,b=2', { a: '1', b: '2' })
    f('a=1,,b=2', { a: '1', b: '2' })
    f('noeq', {})
    // split at the first '=' only
    f('url=a=b=c', { url: 'a=b=c' })
    f('k=', { k: '' })
    f('=v', { '': 'v' })
    // a repeated key keeps the last value, as a Go map assignment does
    f('a=1,a=2', { a: '2' })
  })
})

describe('formatTags', () => {
  it('renders keys in ascending order', () => {
    const f = (input: Tags, want: string) => {
      assert.equal(formatTags(input), want)
    }
    f({}, '')
    f({ a: '1' }, 'a=1')
    f({ b: '2', a: '1', c: '3' }, 'a=1,b=2,c=3')
    f({ b: '1', B: '2', a: '3' }, 'B=2,a=3,b=1')
    f({ k10: 'x', k2: 'y' }, 'k10=x,k2=y')
  })

  it('normalizeTags is formatTags of parseTags', () => {
    const f = (input: string, want: string) => {
      assert.equal(normalizeTags(input), want)
    }
    f('', '')
    f('b=2, a=1', 'a=1,b=2')
    f('z=1,noeq,a=2', 'a=2,z=1')
    f('noeq', '')
  })
})

describe('counters and series keys', () => {
  it('counterOf joins metric and sorted tags with /', () => {
    const f = (metric: string, tags: string, want: string) => {
      assert.equal(counterOf(metric, tags), want)
    }
    f('cpu.idle', '', 'cpu.idle')
    f('net.if.in.bytes', 'iface=eth0', 'net.if.in.bytes/iface=eth0')
    f('df.bytes.free', 'fstype=ext4,mount=/', 'df.bytes.free/fstype=ext4,mount=/')
  })

  it('seriesKeyOf is endpoint/counter', () => {
    const f = (endpoint: string, metric: string, tags: string, want: string) => {
      assert.equal(seriesKeyOf(endpoint, metric, tags), want)
    }
    f('host1', 'cpu.idle', '', 'host1/cpu.idle')
    f('host1', 'net.if.in.bytes', 'iface=eth0', 'host1/net.if.in.bytes/iface=eth0')
    f('host1', 'm', normalizeTags('b=2,a=1'), 'host1/m/a=1,b=2')
  })

  it('seriesKeyOfCounter is one key for a counter in any tag order', () => {
    const f = (endpoint: string, counter: string, want: string) => {
      assert.equal(seriesKeyOfCounter(endpoint, counter), want, counter)
    }
    f('host1', 'cpu.idle', 'host1/cpu.idle')
    f('host1', 'm/c=3,a=1,b=2', 'host1/m/a=1,b=2,c=3')
    f('host1', 'm/b=2,c=3,a=1', 'host1/m/a=1,b=2,c=3')
    // already sorted: falcon's own `endpoint/counter`, so the ring agrees with falcon's api
    f(
      'host1',
      'df.bytes.free/fstype=ext4,mount=/data',
      'host1/df.bytes.free/fstype=ext4,mount=/data'
    )
    assert.equal(
      seriesKeyOfCounter('h', 'm/zone=z,dc=d'),
      seriesKeyOf('h', 'm', formatTags(parseTags('dc=d,zone=z')))
    )
  })

  it('splitCounter undoes counterOf and sorts the tags', () => {
    const f = (counter: string, want: { metric: string; tags: string }) => {
      assert.deepEqual(splitCounter(counter), want, counter)
    }
    f('cpu.idle', { metric: 'cpu.idle', tags: '' })
    f('net.if.in.bytes/iface=eth0', { metric: 'net.if.in.bytes', tags: 'iface=eth0' })
    f('m/b=2,a=1', { metric: 'm', tags: 'a=1,b=2' })
    // a '/' inside the metric stays there when no tags part follows
    f('disk/io', { metric: 'disk/io', tags: '' })
    // tag values hold '/' far more often than metrics do (mount=/data), so the first '/' splits
    f('df.bytes.free/mount=/data', { metric: 'df.bytes.free', tags: 'mount=/data' })
    f('m/', { metric: 'm/', tags: '' })
  })

  it('round-trips counterOf through splitCounter', () => {
    const f = (metric: string, tags: string) => {
      assert.deepEqual(splitCounter(counterOf(metric, tags)), { metric, tags })
    }
    f('cpu.idle', '')
    f('net.if.in.bytes', 'iface=eth0')
  })

  it('round-trips a tag value that holds "/"', () => {
    const f = (metric: string, tags: string) => {
      assert.deepEqual(splitCounter(counterOf(metric, tags)), { metric, tags })
    }
    f('df.bytes.free', 'fstype=ext4,mount=/')
    f('df.bytes.free', 'fstype=ext4,mount=/data')
  })
})

describe('COUNTER_TYPES', () => {
  it('lists the three falcon types, upper case', () => {
    assert.deepEqual([...COUNTER_TYPES], ['GAUGE', 'COUNTER', 'DERIVE'])
  })
})
