// Compaction: the blocks of one kind in the same time window merged into one (raw points first written
// wins, tier buckets last computed wins), so a query opens fewer files.
import { rmSync } from 'node:fs'
import type { Block, BlockSeriesInput } from './block.js'
import { encodeBucketChunks, encodeChunks, mergedColumns, writeBlock } from './block-writer.js'
import { mergeLastWins } from './merge.js'
import { Buckets, decodeBuckets } from './rollup.js'
import type { SealedChunk } from './series.js'
import { byWalOrder, coverageOf, type DbState, descOf, tierOf } from './state.js'

/**
 * compact merges the blocks of one kind that lie in the same time window: `maxBlockSpan` for raw
 * blocks (a day by default, aligned to UTC midnight), `maxBlockSpan × k` for tier r<k> (so a tier
 * block holds about as many buckets as a day of raw points). Blocks overlapping in time, as late
 * points make them, are merged point by point: of two raw points with one timestamp the one written
 * first stays, of two tier buckets the one computed last. Fewer files to open per query, fewer
 * descriptors held. Returns how many blocks it replaced.
 */
export function compact(st: DbState): Promise<number> {
  return st.serial(() => {
    st.checkOpen()
    let replaced = 0
    const groups = new Map<string, Block[]>()
    for (const b of st.blocks) {
      const kind = b.meta.kind
      const span = kind === 'raw' ? st.options.maxBlockSpan : st.options.maxBlockSpan * tierOf(kind)
      const window = Math.floor(b.meta.minT / span)
      // A block across windows (written before blocks were cut by window) stays as it is.
      if (Math.floor(b.meta.maxT / span) !== window) continue
      const key = `${kind}/${window}`
      let group = groups.get(key)
      if (group === undefined) {
        group = []
        groups.set(key, group)
      }
      group.push(b)
    }
    for (const group of groups.values()) {
      if (group.length < 2) continue
      // Raw blocks in flush order (first written first), tier blocks in the order they were written.
      if (group[0].meta.kind === 'raw') group.sort((a, b) => byWalOrder({ block: a }, { block: b }))
      else group.sort((a, b) => a.meta.seq - b.meta.seq)
      replaced += merge(st, group)
    }
    return Promise.resolve(replaced)
  })
}

// Merges `run` (in the order its blocks' data was written) into one block that replaces them.
function merge(st: DbState, run: Block[]): number {
  const kind = run[0].meta.kind
  const raw = kind === 'raw'
  const sources = new Set(run)
  const bySeries = new Map<string, BlockSeriesInput>()
  for (const b of run) {
    for (const [uid, entry] of b.series) {
      // Dead data stays behind: raw entries no live series points to, tier entries deleted since.
      if (raw) {
        const s = st.index.byUid.get(uid)
        if (s === undefined || !s.inBlocks.some((x) => x.block === b)) continue
      } else if (st.deletedIn(uid, b)) continue
      let input = bySeries.get(uid)
      if (input === undefined) {
        input = { ...descOf(entry), chunks: [] }
        bySeries.set(uid, input)
      }
      for (const c of entry.chunks) {
        input.chunks.push({ minT: c.minT, maxT: c.maxT, n: c.n, bytes: b.read(c) })
      }
    }
  }
  for (const input of bySeries.values()) {
    if (raw) {
      const cols = mergedColumns(input.chunks)
      input.chunks = encodeChunks(cols.ts, cols.vs, 0, cols.n, st.encodeScratch)
    } else if (!chunksInOrder(input.chunks)) input.chunks = mergedBucketChunks(input.chunks)
  }
  // What the result claims is what its complete sources claimed (see BlockMeta.partial).
  const claims = run.filter((b) => b.meta.partial !== true)
  const block = writeBlock(st, kind, [...bySeries.values()], {
    walSeq: Math.max(...run.map((b) => b.meta.walSeq)),
    covers: raw ? Math.max(0, ...run.map(coverageOf)) : undefined,
    upTo: claims.length > 0 ? Math.max(...claims.map((b) => b.meta.upTo)) : undefined,
    partial: !raw && claims.length === 0,
    compactedFrom: run.map((b) => b.meta.seq),
  })
  if (raw) {
    for (const uid of bySeries.keys()) {
      const s = st.index.byUid.get(uid)
      const entry = block.series.get(uid)
      if (s === undefined || entry === undefined) continue
      const list = s.inBlocks.filter((x) => !sources.has(x.block))
      list.push({ block, entry })
      s.setBlocks(list.sort(byWalOrder))
    }
  }
  st.blocks = st.blocks.filter((b) => !sources.has(b))
  st.blocks.push(block)
  for (const b of run) {
    b.close()
    rmSync(b.file, { force: true })
  }
  st.counters.compactions++
  st.options.log(
    'info',
    `tsdb: compacted ${run.length} blocks into ${block.name} (${block.bytes} bytes)`
  )
  return run.length
}

// Whether chunks (in the order given) follow one another in time without overlapping.
function chunksInOrder(chunks: readonly { minT: number; maxT: number }[]): boolean {
  for (let i = 1; i < chunks.length; i++) if (!(chunks[i].minT > chunks[i - 1].maxT)) return false
  return true
}

// Rollup chunks (oldest computation first) merged by bucket end, the newest computation of a bucket
// kept, and encoded again.
function mergedBucketChunks(chunks: readonly { minT: number; bytes: Uint8Array }[]): SealedChunk[] {
  const b = new Buckets(256)
  for (const c of chunks) decodeBuckets(c.bytes, c.minT, b)
  mergeLastWins(b)
  return encodeBucketChunks(b, 0, b.n)
}
