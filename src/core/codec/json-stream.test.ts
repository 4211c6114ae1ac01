import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { JsonFrameError, JsonStreamDecoder, JsonSyntaxError } from './json-stream.js'

function decodeAll(chunks: Buffer[], d = new JsonStreamDecoder()): string[] {
  const out: string[] = []
  for (const c of chunks)
    d.push(c, (v, bytes) => {
      // The value given is the text parsed.
      const t = bytes.toString('utf8')
      assert.deepEqual(v, JSON.parse(t))
      out.push(t)
    })
  return out
}

/** A value of `n` items with nested objects: `}}` closes each item. */
function nested(n: number): string {
  return JSON.stringify({
    items: Array.from({ length: n }, (_, i) => ({ s: `v${i}`, o: { n: i } })),
  })
}

/**
 * readsAfterClosers cuts `text` into reads that each end just after a `}}`, the first one found at or
 * past `nextFrom(start of the read)`, as a socket might deliver it.
 */
function readsAfterClosers(text: string, nextFrom: (at: number) => number): Buffer[] {
  const bytes = Buffer.from(text)
  const pieces: Buffer[] = []
  for (let at = 0; at < bytes.length;) {
    const cut = bytes.indexOf('}}', nextFrom(at))
    const next = cut < 0 ? bytes.length : cut + 2
    pieces.push(bytes.subarray(at, next))
    at = next
  }
  return pieces
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

  it('cuts a value of several MiB whose reads end after nested closers, with or without a newline', () => {
    const big = nested(100_000)
    assert.ok(big.length > 2 << 20)
    for (const end of ['\n', '']) {
      // Every read ends just after a `}}`, past the first MiB as well as within it.
      const pieces = readsAfterClosers(big + end, (at) => at + 50_000)
      assert.ok(pieces.length > 40)
      assert.deepEqual(decodeAll(pieces), [big])
    }
  })

  it('parses a value cut short at many reads in vain for at most twice its size, up to 1 MiB', () => {
    // Reads of about 1,000 bytes, each ending just after a `}}`.
    const small = nested(20_000) // about 600 kB
    const everyKb = (text: string) => readsAfterClosers(text, (at) => at + 1000)
    let d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll(everyKb(small), d), [small])
    assert.ok(d.parsedInVain <= 2 * small.length, `${d.parsedInVain} of ${small.length}`)
    // Reads ending after a `}}` at tripling sizes, each one allowed a parse by the doubling rule:
    // past 1 MiB the scanner takes over.
    const big = nested(200_000) // about 6 MB
    let size = 1000
    const pieces = readsAfterClosers(big, () => (size *= 3) / 3)
    d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll(pieces, d), [big])
    assert.ok(d.parsedInVain <= 2 << 20, `${d.parsedInVain} of ${big.length}`)
    // The allowance is the value's own: the next one is parsed the cheap way again.
    d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll(everyKb(small), d), [small])
    assert.ok(d.parsedInVain > 0)
    decodeAll([Buffer.from('{"a":{"b":1}')], d)
    assert.ok(d.unscanned, 'held for a cheap parse, not handed to the scanner')
  })

  it('scans values with escapes, back to back with no newline, whatever the split', () => {
    const tight = Buffer.from(values.join(''))
    for (let at = 0; at <= tight.length; at++) {
      assert.deepEqual(
        decodeAll([tight.subarray(0, at), tight.subarray(at)]),
        values,
        `split at ${at}`
      )
    }
  })

  it('names the byte of garbage by its offset in the stream, bytes held before it counted', () => {
    const d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll([Buffer.from('{"a":1}{"b"'), Buffer.from(':2}G')], d), [])
    // Nothing ends in a newline or a closing brace: held until the reader settles it.
    assert.ok(d.unscanned)
    const seen: unknown[] = []
    assert.throws(
      () => d.settle((v) => seen.push(v)),
      (err: Error) =>
        err.message === 'invalid character "G" at byte 14 looking for beginning of value'
    )
  })

  it('holds only the unfinished value after a newline', () => {
    const d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll([Buffer.from('{"a":1}\n{"b":')], d), ['{"a":1}'])
    assert.equal(d.buffered, 5)
    assert.deepEqual(decodeAll([Buffer.from('2}')], d), ['{"b":2}'])
    assert.equal(d.buffered, 0)
  })

  it('delivers a value followed by part of the next, with no newline between, when the next ends', () => {
    const d = new JsonStreamDecoder()
    assert.deepEqual(decodeAll([Buffer.from('{"a":1}{"b":')], d), [])
    assert.equal(d.buffered, 12)
    assert.deepEqual(decodeAll([Buffer.from('2}')], d), ['{"a":1}', '{"b":2}'])
    assert.equal(d.buffered, 0)
  })

  it('cuts pretty-printed values, values without newlines and nested closers at read ends', () => {
    const pretty = [
      JSON.stringify({ a: [1, { b: 2 }], c: { d: [] } }, null, 2),
      JSON.stringify([[1], [2, [3]]], null, 1),
    ]
    // A string holding an escaped newline and braces: only the scanner sees it is inside a string.
    const tight = '{"x":{"y":1}}[1,[2]]{"z":"}\\n{"}'
    const text = pretty.join('\n') + '\n' + tight + '\n'
    const want = [...pretty, '{"x":{"y":1}}', '[1,[2]]', '{"z":"}\\n{"}']
    const bytes = Buffer.from(text)
    for (let at = 0; at <= bytes.length; at++) {
      for (const at2 of [at, Math.min(bytes.length, at + 7)]) {
        assert.deepEqual(
          decodeAll([bytes.subarray(0, at), bytes.subarray(at, at2), bytes.subarray(at2)]),
          want,
          `split at ${at}, ${at2}`
        )
      }
    }
  })

  it('goes back to the cheap way after a value the scanner framed', () => {
    const d = new JsonStreamDecoder()
    // Two values in one read: the parse of both fails, the scanner cuts them.
    assert.equal(decodeAll([Buffer.from('{"a":1}{"b":2}')], d).length, 2)
    assert.deepEqual(decodeAll([Buffer.from('{"c":3}\n')], d), ['{"c":3}'])
  })

  it('refuses a value that frames but is not JSON, after the values before it', () => {
    const d = new JsonStreamDecoder()
    const seen: unknown[] = []
    assert.throws(
      () => d.push(Buffer.from('{"a":1}\n{"b":,}\n'), (v) => seen.push(v)),
      (err: Error) => err instanceof JsonSyntaxError && /JSON|Unexpected/.test(err.message)
    )
    assert.deepEqual(seen, [{ a: 1 }])
  })

  it('takes a long run of newlines inside a value in time linear in its length', () => {
    const d = new JsonStreamDecoder()
    decodeAll([Buffer.from('{"a":' + '\n'.repeat(1 << 20))], d)
    assert.deepEqual(decodeAll([Buffer.from('1}')], d), ['{"a":' + '\n'.repeat(1 << 20) + '1}'])
    // (Quadratic work over 1 MiB of newlines would not end within the test runner's timeout.)
  })
})
