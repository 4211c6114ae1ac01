import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { printable, PRINTABLE_MAX } from './printable.js'

describe('printable', () => {
  it('keeps printable text, other scripts included, as it is', () => {
    assert.equal(printable('cpu.idle on 主机-1: "97.5"'), 'cpu.idle on 主机-1: "97.5"')
    assert.equal(printable(''), '')
  })

  it('escapes what would not print as itself', () => {
    assert.equal(printable('a\x00b\x1f\x7f\x85'), 'a\\x00b\\x1f\\x7f\\x85')
    // Bidi override, zero width space, BOM, the replacement character, a lone surrogate, a tag.
    assert.equal(
      printable('\u202e\u200b\ufeff\ufffd\ud800\u{e0001}'),
      '\\u202e\\u200b\\ufeff\\ufffd\\ud800\\u{e0001}'
    )
    assert.equal(printable('line\nnext\u2028'), 'line\\x0anext\\u2028')
  })

  it('cuts at max characters, escapes counted, with …', () => {
    assert.equal(printable('abcdef', 6), 'abcdef')
    assert.equal(printable('abcdefg', 6), 'abcde…')
    assert.equal(printable('ab\x00cdef', 6), 'ab…')
    assert.equal(printable('x'.repeat(10_000)).length, PRINTABLE_MAX)
  })

  it('makes a gzip body read as text short and printable', () => {
    const body = gzipSync(Buffer.from(JSON.stringify([{ endpoint: 'h' }]).repeat(100))).toString()
    const shown = printable(body)
    assert.ok(shown.length <= PRINTABLE_MAX)
    assert.match(shown, /^\\x1f\\ufffd\\x08/)
    assert.doesNotMatch(shown, /[\p{C}\p{Zl}\p{Zp}\ufffd]/u)
  })
})
