import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import protobuf from 'protobufjs/minimal.js'
import {
  decodeSnappy,
  decodeWriteRequest,
  decodeWriteRequestV2,
  encodeSnappy,
  encodeWriteRequest,
  encodeWriteRequestV2,
  RemoteWriteError,
  snappyBlockLength,
} from './remote-write.js'

const STALE = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]
// Stored by assignment: \`new Float64Array([x])\` sets a NaN's quiet bit, assignment keeps its bits.
const bits = (x: number) => {
  const f = new Float64Array(1)
  f[0] = x
  return new BigUint64Array(f.buffer)[0]
}

describe('remote write codec', () => {
  it('decodes 1.0 as encoded: labels, ms timestamps (negative too), values bit for bit, metadata', () => {
    const buf = encodeWriteRequest(
      [
        {
          labels: [
            ['__name__', 'up'],
            ['job', 'ñode'],
          ],
          samples: [
            [1_700_000_000_123, 1],
            [-5, STALE],
          ],
        },
        { labels: [['__name__', 'x']], samples: [] },
      ],
      [{ metric: 'up', type: 'gauge', help: 'Up.', unit: '' }]
    )
    const b = decodeWriteRequest(buf)
    assert.equal(b.series, 2)
    assert.deepEqual(b.labelsOf(0), ['__name__', 'up', 'job', 'ñode'])
    assert.deepEqual(b.labelsOf(1), ['__name__', 'x'])
    assert.deepEqual([...b.sampleStart], [0, 2, 2])
    assert.deepEqual([...b.t], [1_700_000_000_123, -5])
    assert.ok(Number.isNaN(b.v[1]))
    assert.deepEqual(b.metadata, [{ metric: 'up', type: 'gauge', help: 'Up.', unit: '' }])
    assert.notEqual(b.key(0), b.key(1))
    assert.equal(decodeWriteRequest(buf).key(0), b.key(0))
  })

  it('keeps a NaN payload (the stale marker) bit for bit', () => {
    // Written without a JS array in between: V8 canonicalises NaNs stored in arrays of doubles.
    const stale = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)
    const w = protobuf.Writer.create()
    w.uint32(10).fork()
    w.uint32(10).fork().uint32(10).string('__name__').uint32(18).string('m').ldelim()
    w.uint32(18).fork().uint32(9).double(stale[0]).uint32(16).int64(7).ldelim()
    w.ldelim()
    assert.equal(bits(decodeWriteRequest(w.finish()).v[0]), 0x7ff0000000000002n)
  })

  it('hashes label bytes by what they are, wherever they sit in the request, and compares them', () => {
    const reference = (b: Uint8Array) => {
      let h = 0x811c9dc5 ^ b.length
      let k = 0
      for (; k + 4 <= b.length; k += 4) {
        h = Math.imul(
          h ^ (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)),
          0x01000193
        )
        h ^= h >>> 15
      }
      for (; k < b.length; k++) h = Math.imul(h ^ b[k], 0x01000193)
      return (h ^ (h >>> 30)) & 0x3fffffff
    }
    for (let len = 1; len < 24; len++) {
      const labels: [string, string][] = [
        ['__name__', 'm'],
        ['a', 'x'.repeat(len)],
      ]
      const enc = encodeWriteRequest([{ labels, samples: [[1, 1]] }])
      const hashes = new Set<number>()
      // At every alignment, and with the request at the very end of its memory.
      for (let pad = 0; pad < 4; pad++) {
        for (let after = 0; after < 4; after++) {
          const u = new Uint8Array(new ArrayBuffer(pad + enc.length + after), pad, enc.length)
          u.set(enc)
          const b = decodeWriteRequest(u)
          const bytes = b.labelBytes(0) as Uint8Array
          assert.equal(b.labelHash(0), reference(bytes))
          assert.ok(b.sameLabels(0, bytes.slice()))
          assert.ok(!b.sameLabels(0, bytes.slice(1)))
          hashes.add(b.labelHash(0))
        }
      }
      assert.equal(hashes.size, 1, `labels of ${len}: one hash`)
    }
  })

  it('decodes what proto3 allows besides Prometheus’s own order: fields swapped, zeros left out, negative times', () => {
    const w = protobuf.Writer.create()
    // A sample with its timestamp first; one with value 0 and time 0 (both left out); a negative time.
    w.uint32(10).fork()
    w.uint32(10).fork().uint32(10).string('__name__').uint32(18).string('m').ldelim()
    w.uint32(18).fork().uint32(16).int64(5).uint32(9).double(1.5).ldelim()
    w.uint32(18).fork().ldelim()
    w.uint32(18).fork().uint32(9).double(2).uint32(16).int64(-1000).ldelim()
    w.ldelim()
    // A label written value first, and one whose value is left out (empty).
    w.uint32(10).fork()
    w.uint32(10).fork().uint32(18).string('n').uint32(10).string('__name__').ldelim()
    w.uint32(10).fork().uint32(10).string('e').ldelim()
    w.uint32(18).fork().uint32(9).double(3).uint32(16).int64(9).ldelim()
    w.ldelim()
    const b = decodeWriteRequest(w.finish())
    assert.deepEqual([...b.t], [5, 0, -1000, 9])
    assert.deepEqual([...b.v], [1.5, 0, 2, 3])
    assert.deepEqual([...b.sampleStart], [0, 3, 4])
    assert.deepEqual(b.labelsOf(1), ['__name__', 'n', 'e', ''])
    // And the same series written as Prometheus writes it reads alike, by the fast reader.
    const canonical = decodeWriteRequest(
      encodeWriteRequest([
        {
          labels: [['__name__', 'm']],
          samples: [
            [5, 1.5],
            [0, 0],
            [-1000, 2],
          ],
        },
      ])
    )
    assert.deepEqual([...canonical.t], [5, 0, -1000])
    assert.deepEqual([...canonical.v], [1.5, 0, 2])
    assert.deepEqual(canonical.labelsOf(0), b.labelsOf(0))
    assert.equal(canonical.labelHash(0), b.labelHash(0))
  })

  it('decodes labels that are not contiguous in their TimeSeries', () => {
    const w = protobuf.Writer.create()
    w.uint32(10).fork()
    w.uint32(10).fork().uint32(10).string('__name__').uint32(18).string('m').ldelim()
    w.uint32(18).fork().uint32(9).double(2).uint32(16).int64(7).ldelim()
    w.uint32(10).fork().uint32(10).string('a').uint32(18).string('b').ldelim()
    w.ldelim()
    const b = decodeWriteRequest(w.finish())
    assert.deepEqual(b.labelsOf(0), ['__name__', 'm', 'a', 'b'])
    assert.deepEqual([...b.t], [7])
  })

  it('decodes 2.0: symbols, metadata, created timestamps in samples and in the release candidates’ field 6', () => {
    const buf = encodeWriteRequestV2([
      {
        labels: [
          ['__name__', 'c_total'],
          ['a', 'b'],
        ],
        samples: [[1000, 3]],
        created: 500,
        type: 'counter',
        help: 'A counter.',
        unit: 'seconds',
      },
    ])
    const b = decodeWriteRequestV2(buf)
    assert.deepEqual(b.labelsOf(0), ['__name__', 'c_total', 'a', 'b'])
    assert.deepEqual([...b.created], [500])
    assert.deepEqual(b.type, ['counter'])
    assert.deepEqual(b.metadata, [
      { metric: 'c_total', type: 'counter', help: 'A counter.', unit: 'seconds' },
    ])
    const w = protobuf.Writer.create()
    w.uint32(34).string('').uint32(34).string('__name__').uint32(34).string('m')
    w.uint32(42).fork().uint32(10).fork().uint32(1).uint32(2).ldelim().uint32(48).int64(77).ldelim()
    assert.deepEqual([...decodeWriteRequestV2(w.finish()).created], [77])
  })

  it('refuses what does not decode, naming it', () => {
    assert.throws(() => decodeWriteRequest(Buffer.from([0x0a, 0x05, 0x01])), RemoteWriteError)
    assert.throws(
      () => decodeWriteRequestV2(Buffer.from([0x22, 0x01, 0x61])),
      /first symbol must be the empty string/
    )
    assert.throws(
      () => decodeSnappy(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), 1 << 20),
      /more than/
    )
    assert.throws(() => decodeSnappy(Buffer.from([0x80]), 1 << 20), /does not start with a length/)
    assert.throws(() => decodeSnappy(Buffer.from([0x05, 0x00, 0x01]), 1 << 20), /corrupt/)
    assert.equal(snappyBlockLength(Buffer.from([0xac, 0x02])), 300)
    const data = Buffer.from('hello '.repeat(100))
    assert.deepEqual(decodeSnappy(encodeSnappy(data), 1 << 20), data)
  })
})
