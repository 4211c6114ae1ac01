// Writing blocks: points and rollup buckets encoded as block chunks, cut by time window, and the block
// file written, numbered and opened.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import {
  Block,
  type BlockKind,
  type BlockMeta,
  type BlockSeriesInput,
  writeBlock as writeBlockFile,
} from './block.js'
import { ByteWriter } from './chunk/byte-buffer.js'
import { type Columns, decodeChunk, encodeChunk } from './chunk/chunk.js'
import { mergeFirstWins } from './merge.js'
import { type Buckets, encodeBuckets } from './rollup.js'
import { type MemSeries, type SealedChunk, uidOf } from './series.js'
import { type DbState, descOf } from './state.js'

/** BLOCK_CHUNK_POINTS bounds a chunk written to a block: a day at step 10 s fits in one. */
const BLOCK_CHUNK_POINTS = 8640

/** writeBlock writes one block of `kind` holding `inputs` and opens it; `minT`/`maxT` come from the chunks. */
export function writeBlock(
  st: DbState,
  kind: BlockKind,
  inputs: BlockSeriesInput[],
  extra: {
    walSeq?: number
    covers?: number
    upTo?: number
    partial?: boolean
    compactedFrom?: number[]
  }
): Block {
  let minT = Infinity
  let maxT = -Infinity
  let points = 0
  for (const input of inputs) {
    for (const c of input.chunks) {
      if (c.minT < minT) minT = c.minT
      if (c.maxT > maxT) maxT = c.maxT
      points += c.n
    }
  }
  const seq = ++st.seq
  const file = join(st.options.dir, 'blocks', `${kind}-${String(seq).padStart(8, '0')}.blk`)
  const meta: BlockMeta = {
    kind,
    seq,
    minT,
    maxT,
    walSeq: extra.walSeq ?? 0,
    upTo: extra.upTo ?? maxT,
    points,
    createdAt: st.options.now(),
  }
  if (extra.covers !== undefined) meta.covers = extra.covers
  if (extra.compactedFrom !== undefined) meta.compactedFrom = extra.compactedFrom
  if (extra.partial === true) meta.partial = true
  return writeAndOpen(file, meta, inputs)
}

/**
 * mergedColumns decodes chunks (given oldest writes first) into one fresh column set in time order, a
 * timestamp once (the first written wins).
 */
export function mergedColumns(
  chunks: readonly { minT: number; n: number; bytes: Uint8Array }[]
): Columns {
  let total = 0
  for (const c of chunks) total += c.n
  const out: Columns = { ts: new Float64Array(total), vs: new Float64Array(total), n: total }
  let at = 0
  let cols: Columns | undefined
  for (const c of chunks) {
    cols = decodeChunk(c.bytes, c.minT, cols)
    out.ts.set(cols.ts.subarray(0, cols.n), at)
    out.vs.set(cols.vs.subarray(0, cols.n), at)
    at += cols.n
  }
  mergeFirstWins(out)
  return out
}

/**
 * encodeChunks encodes points [from, to) (in time order) as block chunks of at most BLOCK_CHUNK_POINTS,
 * with `w` as scratch: few chunk headers, good packing.
 */
export function encodeChunks(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  w: ByteWriter
): SealedChunk[] {
  // If order ever broke here, writing the chunks would corrupt the block.
  for (let i = from + 1; i < to; i++) {
    if (!(ts[i] > ts[i - 1]))
      throw new Error(`BUG: points out of order at ${ts[i]} while re-chunking`)
  }
  const out: SealedChunk[] = []
  for (let i = from; i < to; i += BLOCK_CHUNK_POINTS) {
    const hi = Math.min(to, i + BLOCK_CHUNK_POINTS)
    w.reset()
    encodeChunk(w, ts.subarray(i, hi), vs.subarray(i, hi), hi - i)
    out.push({ minT: ts[i], maxT: ts[hi - 1], n: hi - i, bytes: w.take() })
  }
  return out
}

/**
 * chunkByWindow merges a series' head chunks (in-order ones, then late ones; oldest writes first) and
 * splits them into block chunks per time window of `span` ms (window w holds [w·span, (w+1)·span)).
 */
export function chunkByWindow(
  chunks: SealedChunk[],
  late: boolean,
  span: number,
  w: ByteWriter
): Map<number, SealedChunk[]> {
  const out = new Map<number, SealedChunk[]>()
  if (chunks.length === 0) return out
  // The common case, in-order points of one window in one chunk, is written as it is: no re-encoding.
  const window = Math.floor(chunks[0].minT / span)
  if (!late && chunks.length === 1 && Math.floor(chunks[0].maxT / span) === window) {
    out.set(window, chunks)
    return out
  }
  const { ts, vs, n } = mergedColumns(chunks)
  let from = 0
  while (from < n) {
    const window = Math.floor(ts[from] / span)
    const end = (window + 1) * span
    let to = from + 1
    while (to < n && ts[to] < end) to++
    out.set(window, encodeChunks(ts, vs, from, to, w))
    from = to
  }
  return out
}

// Writes a block and opens it; if either fails the file is removed, so a retry cannot leave two copies.
function writeAndOpen(file: string, meta: BlockMeta, series: Iterable<BlockSeriesInput>): Block {
  try {
    writeBlockFile(file, meta, series)
    return Block.open(file, uidOf).block
  } catch (err) {
    rmSync(file, { force: true })
    throw err
  }
}

/** addByWindow adds a series' buckets to the tier blocks being written, split by tier window of `span` ms. */
export function addByWindow(
  byWindow: Map<number, BlockSeriesInput[]>,
  s: MemSeries,
  b: Buckets,
  span: number
): void {
  let from = 0
  while (from < b.n) {
    const window = Math.floor(b.end[from] / span)
    const end = (window + 1) * span
    let to = from + 1
    while (to < b.n && b.end[to] < end) to++
    let inputs = byWindow.get(window)
    if (inputs === undefined) {
      inputs = []
      byWindow.set(window, inputs)
    }
    inputs.push({ ...descOf(s), chunks: encodeBucketChunks(b, from, to) })
    from = to
  }
}
/** encodeBucketChunks encodes buckets [from, to) as rollup chunks of at most BLOCK_CHUNK_POINTS. */
export function encodeBucketChunks(b: Buckets, from: number, to: number): SealedChunk[] {
  const w = new ByteWriter(4096)
  const out: SealedChunk[] = []
  for (let i = from; i < to; i += BLOCK_CHUNK_POINTS) {
    const hi = Math.min(to, i + BLOCK_CHUNK_POINTS)
    w.reset()
    encodeBuckets(w, b, i, hi)
    out.push({ minT: b.end[i], maxT: b.end[hi - 1], n: hi - i, bytes: w.take() })
  }
  return out
}
