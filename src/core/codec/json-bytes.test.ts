import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseJsonBytes } from './json-bytes.js'

// Small pieces, so that short inputs are cut many times over.
const PIECE = 64

// same asserts that parseJsonBytes answers exactly what JSON.parse does: the value, or the error.
function same(text: string, piece = PIECE): void {
  const bytes = Buffer.from(text, 'utf8')
  let want: unknown
  let wantError: string | null = null
  try {
    want = JSON.parse(text)
  } catch (err) {
    wantError = (err as Error).message
  }
  if (wantError !== null) {
    assert.throws(() => parseJsonBytes(bytes, piece), { name: 'SyntaxError', message: wantError })
  } else assert.deepEqual(parseJsonBytes(bytes, piece), want, text.slice(0, 200))
}

const point = (i: number, tags = 'a=b') => ({
  endpoint: `host-${i % 7}`,
  metric: 'cpu.idle',
  value: i / 3,
  step: 60,
  counterType: 'GAUGE',
  tags,
  timestamp: 1_700_000_000 + i,
})

describe('parseJsonBytes', () => {
  it('parses a large array of objects in pieces to what JSON.parse gives', () => {
    const items = Array.from({ length: 500 }, (_, i) => point(i))
    same(JSON.stringify(items))
    same(` \n${JSON.stringify(items)}\n `)
    // At the real piece size: a push of 5,000 points.
    const big = JSON.stringify(Array.from({ length: 5000 }, (_, i) => point(i)))
    assert.ok(big.length > 3 * 65536)
    assert.deepEqual(parseJsonBytes(Buffer.from(big)), JSON.parse(big))
  })

  it('parses no text longer than about two pieces when the input is an array or a Go request', () => {
    const items = JSON.stringify(Array.from({ length: 500 }, (_, i) => point(i)))
    const parse = JSON.parse
    const seen: number[] = []
    JSON.parse = ((text: string) => {
      seen.push(text.length)
      return parse(text) as unknown
    }) as typeof JSON.parse
    try {
      parseJsonBytes(Buffer.from(items), 1024)
      parseJsonBytes(Buffer.from(`{"method":"Transfer.Update","params":[${items}],"id":3}`), 1024)
    } finally {
      JSON.parse = parse
    }
    assert.ok(seen.length > 40, `${seen.length} parses`)
    assert.ok(Math.max(...seen) < 2 * 1024 + 200, `longest ${Math.max(...seen)}`)
  })

  it('gives the same answer when a cut falls inside a string or a nested value', () => {
    // Every item holds `},{` where a cut could fall: in a string, in a nested array of objects.
    const items = Array.from({ length: 300 }, (_, i) => ({
      ...point(i, `x=},{"a":"b"},{,i=${i}`),
      nested: [{ a: i }, { b: '},{' }],
    }))
    same(JSON.stringify(items))
    // Only strings and nested values: items with no `},{` between them at the top level.
    const nestedOnly = Array.from({ length: 300 }, (_, i) => [{ a: i }, { b: i }])
    same(JSON.stringify(nestedOnly))
  })

  it('keeps multi-byte UTF-8 whole around the cuts', () => {
    const items = Array.from({ length: 300 }, (_, i) => point(i, `城市=北京,emoji=😀${i}`))
    same(JSON.stringify(items))
  })

  it('parses a JSON-RPC request laid out as Go writes it, the method and id kept', () => {
    const items = Array.from({ length: 300 }, (_, i) => point(i))
    const text = `{"method":"Transfer.Update","params":[${JSON.stringify(items)}],"id":42}\n`
    same(text)
    const v = parseJsonBytes(Buffer.from(text), PIECE) as Record<string, unknown>
    assert.deepEqual(Object.keys(v), ['method', 'params', 'id'])
    assert.equal(v.id, 42)
    // Other layouts are parsed whole, to the same value.
    same(`{"params":[${JSON.stringify(items)}],"method":"Transfer.Update","id":1}`)
    same(`{"method":"Transfer.Update","params":[${JSON.stringify(items)}, 5],"id":1}`)
    same(`{"method":"Transfer.Update","params":${JSON.stringify(items)},"id":1}`)
    same(`{"method":"a\\"b","params":[${JSON.stringify(items)}],"id":1}`)
  })

  it('throws what JSON.parse throws for input that is not JSON, wherever the fault is', () => {
    const text = JSON.stringify(Array.from({ length: 200 }, (_, i) => point(i)))
    // Truncated, a trailing comma, a byte changed at many places, a missing bracket.
    same(text.slice(0, -1))
    same(text.slice(0, -1) + ',]')
    same(text.slice(1))
    same('\ufeff' + text)
    const rpc = `{"method":"Transfer.Update","params":[${text}],"id":7}`
    for (let at = 1; at < text.length; at += 97) {
      for (const c of ['"', '}', ']', ',', '{', 'x', '\\']) {
        same(text.slice(0, at) + c + text.slice(at + 1))
        same(rpc.slice(0, at) + c + rpc.slice(at + 1))
      }
      same(text.slice(0, at) + text.slice(at + 1))
    }
  })

  it('agrees with JSON.parse on random arrays of objects with hostile strings', () => {
    let seed = 12345
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    const alphabet = ['}', '{', ',', '"', '\\', '[', ']', 'a', '城', '😀', ' ', '\n', '},{']
    const str = () => {
      let s = ''
      const n = Math.floor(rand() * 12)
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rand() * alphabet.length)]
      return s
    }
    for (let round = 0; round < 60; round++) {
      const items = Array.from({ length: 20 + Math.floor(rand() * 200) }, () =>
        rand() < 0.1 ? [{ s: str() }, { t: str() }] : { s: str(), n: rand(), o: { k: str() } }
      )
      const text = JSON.stringify(items)
      same(text, 16 + Math.floor(rand() * 200))
      // And one byte broken.
      const at = Math.floor(rand() * text.length)
      same(text.slice(0, at) + alphabet[Math.floor(rand() * 7)] + text.slice(at + 1), 32)
    }
  })

  it('parses small and other values whole', () => {
    same('[]')
    same('{"a":1}')
    same('  42 ')
    same('')
    same('[{"a":1},{"b":2}]', 4)
  })
})
