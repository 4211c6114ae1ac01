import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Block, type BlockMeta, type ChunkRef, type BlockSeriesInput, writeBlock } from './block.js'
import { BlockCache, PAGE_BYTES } from './block-cache.js'
import { uidOf } from './series.js'

const meta: BlockMeta = {
  kind: 'raw',
  seq: 1,
  minT: 0,
  maxT: 1_000_000,
  walSeq: 0,
  upTo: 0,
  points: 0,
  createdAt: 0,
}

// Chunks of odd sizes (1 byte to 9 KiB), their bytes a function of series and chunk: some cross pages.
function series(count: number): BlockSeriesInput[] {
  const out: BlockSeriesInput[] = []
  for (let s = 0; s < count; s++) {
    const chunks = []
    for (let c = 0; c < 3; c++) {
      const len = 1 + ((s * 7919 + c * 104_729) % 9000)
      const bytes = new Uint8Array(len)
      for (let i = 0; i < len; i++) bytes[i] = (s * 31 + c * 17 + i) & 0xff
      chunks.push({ minT: c * 1000, maxT: c * 1000 + 999, n: 1, bytes })
    }
    out.push({ endpoint: `e${s}`, metric: 'm', tags: '', dstype: 'GAUGE', step: 60, chunks })
  }
  return out
}

describe('block cache', () => {
  let dir: string
  let block: Block
  const input = series(300)
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-block-cache-'))
    writeBlock(join(dir, 'b.blk'), meta, input)
    block = Block.open(join(dir, 'b.blk'), uidOf).block
  })
  after(() => {
    block.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('returns the bytes pread returns, for chunks within and across pages, under its budget', () => {
    const cache = new BlockCache(2 * PAGE_BYTES)
    assert.ok(block.bytes > 4 * PAGE_BYTES, `the block spans ${block.bytes} bytes`)
    let crossing = 0
    // Twice in order (the second pass misses again: the budget holds 2 of the pages), then backwards.
    const order = [...input, ...input, ...[...input].reverse()]
    for (const s of order) {
      const entry = block.series.get(uidOf(s))
      assert.ok(entry !== undefined)
      for (let c = 0; c < entry.chunks.length; c++) {
        const ref: ChunkRef = entry.chunks[c]
        const rel = ref.offset - 8
        if (Math.floor(rel / PAGE_BYTES) !== Math.floor((rel + ref.len - 1) / PAGE_BYTES))
          crossing++
        const got = block.read(ref, undefined, cache)
        assert.deepEqual(got, s.chunks[c].bytes, `${s.endpoint} chunk ${c}`)
        assert.deepEqual(got, block.read(ref))
        assert.ok(cache.stats().bytes <= cache.budget)
      }
    }
    assert.ok(crossing > 0, 'some chunk crosses a page boundary')
    const st = cache.stats()
    assert.ok(st.hits > st.misses, `${st.hits} hits, ${st.misses} misses`)
    assert.equal(st.pages, 2)
  })

  it('is off below one page, and drops a closed block’s pages', () => {
    const off = new BlockCache(PAGE_BYTES - 1)
    const ref = block.series.get(uidOf(input[5]))?.chunks[0]
    assert.ok(ref !== undefined)
    assert.deepEqual(block.read(ref, undefined, off), input[5].chunks[0].bytes)
    assert.equal(off.stats().pages, 0)
    const cache = new BlockCache(8 * PAGE_BYTES)
    const other = Block.open(join(dir, 'b.blk'), uidOf).block
    other.read(ref, undefined, cache)
    assert.equal(cache.stats().pages, 1)
    other.close()
    assert.deepEqual(cache.stats().pages, 0)
    assert.equal(cache.stats().bytes, 0)
  })
})
