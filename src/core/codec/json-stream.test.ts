import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { JsonFrameError, JsonStreamDecoder } from './json-stream.js'

function decodeAll(chunks: Buffer[], d = new JsonStreamDecoder()): string[] {
  const out: string[] = []
  for (const c of chunks) d.push(c, (t) => out.push(t))
  return out
}

describe('JsonStreamDecoder', () => {
  const values = [
    '{"method":"Transfer.Update","params":[[{"endpoint":"h","metric":"m","value":1}]],"id":0}',
    '{"s":"braces } { ] [ and \\"quotes\\" and \\\\ backslash","id":1}',
    '[1,2,{"a":[3]}]',
    '{"unicode":"é€😀","id":2}',
    '{"s":"ends in a backslash \\\\","t":"\\\\\\"quoted\\\\\\"","id":3}',
  ]
  const stream = Buffer.from(values.join('\n') + '\n  \r\n\t')

  it('cuts values out of one chunk', () => {
    assert.deepEqual(decodeAll([stream]), values)
  })

  it('cuts the same values whatever the split, even inside multi-byte characters', () => {
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(
        decodeAll([stream.subarray(0, at), stream.subarray(at)]),
        values,
        `split at ${at}`
      )
    }
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
    assert.deepEqual(decodeAll(bytes), values)
  })

  it('refuses garbage, naming the byte', () => {
    const d = new JsonStreamDecoder()
    decodeAll([Buffer.from('{"a":1}\n')], d)
    assert.throws(
      () => decodeAll([Buffer.from('GET / HTTP/1.1\r\n')], d),
      (err: Error) => {
        assert.ok(err instanceof JsonFrameError)
        assert.equal(err.message, 'invalid character "G" at byte 8 looking for beginning of value')
        return true
      }
    )
  })

  it('refuses a value over the size limit before it is complete', () => {
    const d = new JsonStreamDecoder(100)
    assert.throws(
      () => decodeAll([Buffer.from('{"a":"' + 'x'.repeat(200))], d),
      /more than 100 bytes/
    )
  })

  it('joins a large value sent in many small pieces', () => {
    const big = JSON.stringify({
      items: Array.from({ length: 20_000 }, (_, i) => ({ s: `v\\"${i}\\`, n: i })),
    })
    const bytes = Buffer.from(big + '\n' + values[0])
    const pieces: Buffer[] = []
    for (let at = 0; at < bytes.length; at += 997) pieces.push(bytes.subarray(at, at + 997))
    const out = decodeAll(pieces)
    assert.equal(out.length, 2)
    assert.equal(out[0], big)
    assert.equal(out[1], values[0])
  })

  it('holds only the unfinished value', () => {
    const d = new JsonStreamDecoder()
    decodeAll([Buffer.from('{"a":1}{"b":')], d)
    assert.equal(d.buffered, 5)
  })
})
