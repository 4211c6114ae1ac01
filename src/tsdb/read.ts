// Reads: a series' raw points from blocks and head into reused columns, rollup buckets of a tier
// (stored, or computed from raw data past the watermark), and falcon's `query`, `last` and `seriesInfo`.
import { PeregrineError } from '../core/errors.js'
import type { Block, BlockKind, ChunkRef } from './block.js'
import {
  type Columns,
  decodeChunkInto,
  ensureRoom,
  growColumns,
  keepWithin,
} from './chunk/chunk.js'
import { type SeriesGrid, thinChunk } from './grid-cache.js'
import { mergeFirstWins, mergeLastWins } from './merge.js'
import {
  Buckets,
  type ConsolFun,
  CONSOL_FUNS,
  consolidate,
  decodeBuckets,
  toRates,
} from './rollup.js'
import { type MemSeries, type SeriesDesc, uidOf } from './series.js'
import type { DbState } from './state.js'

/** QueryOptions selects a time range (ms, inclusive), an optional step (s) and a consolidation function. */
export interface QueryOptions {
  start: number
  end: number
  /** step: the wanted resolution in seconds; the finest tier whose resolution is ≤ it is used. */
  step?: number
  consolFun?: ConsolFun
}

/** QueryResult holds a series' points in columns: `ts` (ms) and `vs`, `n` valid. DERIVE values are rates. */
export interface QueryResult {
  dstype: string
  /** step: the resolution of the points, in seconds (the series' step for raw data). */
  step: number
  tier: BlockKind
  ts: Float64Array
  vs: Float64Array
  n: number
}

/**
 * rawColumns returns the raw points of s with from < t ≤ to, from blocks then the head, merged (first
 * written wins), in the database's shared column buffer: valid until the next read.
 */
export function rawColumns(st: DbState, s: MemSeries, from: number, to: number): Columns {
  const out = st.columns
  out.n = 0
  appendRaw(st, s, from, to, out)
  mergeFirstWins(out)
  return out
}

/**
 * appendRaw appends to `out` (after its `n` points, growing its arrays by doubling) the raw points of
 * s with from < t ≤ to, oldest writes first (blocks in flush order, then the head, late points last):
 * in time order unless late points or overlapping blocks interleave, and then a timestamp may come
 * twice, the first written first. Chunks are decoded straight into `out` when it has room.
 */
export function appendRaw(st: DbState, s: MemSeries, from: number, to: number, out: Columns): void {
  for (const { block, entry } of s.inBlocks) {
    for (const c of entry.chunks) {
      if (c.maxT <= from || c.minT > to) continue
      appendChunk(readChunk(st, block, c), c.minT, c.n, from, to, out)
    }
  }
  appendUnflushed(s, from, to, out)
}

/**
 * appendGridRaw is appendRaw for a select read only at the times `phase + k × step`: of s's blocks it
 * appends the samples those times can pick (thinChunk), from the grid cache when it holds them, else
 * decoded and thinned (and cached when the series' samples are closer than half a step); the head's
 * points all. Thinning the merged answer at the query's grid then gives what it gives on appendRaw's.
 */
export function appendGridRaw(
  st: DbState,
  s: MemSeries,
  from: number,
  to: number,
  out: Columns,
  step: number,
  phase: number
): void {
  const cache = st.gridCache
  const grid = cache.enabled && s.inBlocks.length > 0 ? cache.grid(step, phase) : null
  if (grid !== null && grid.covers(s, from)) {
    cache.count(true)
    grid.append(s, from, to, out)
  } else if (grid !== null && thinningPays(s, step)) {
    cache.count(false)
    const built = fillGrid(st, grid, s, from, step, phase)
    appendWithin(built.ts, built.vs, built.n, from, to, out)
  } else {
    appendThinned(st, s, from, to, out, step, phase)
  }
  appendUnflushed(s, from, to, out)
}

// Whether thinning s at `step` keeps at most about half its samples: its block samples are on average
// less than half a step apart.
function thinningPays(s: MemSeries, step: number): boolean {
  let span = 0
  let gaps = 0
  for (const { entry } of s.inBlocks) {
    for (const c of entry.chunks) {
      span += c.maxT - c.minT
      gaps += c.n - 1
    }
  }
  return gaps > 0 && span * 2 <= step * gaps
}

/**
 * fillGrid reads s's blocks that a read of (from, …] needs, thinned, and makes them s's entry in
 * `grid`: the blocks from the first whose samples reach past `from` (or the entry's first, if older) to
 * the newest, reusing what an entry of the same epoch holds. Returns the samples (in gridBuild, valid
 * until the next call), cached or not (a series whose thinning does not halve it, or past the budget).
 */
function fillGrid(
  st: DbState,
  grid: SeriesGrid,
  s: MemSeries,
  from: number,
  step: number,
  phase: number
): Columns {
  const blocks = s.inBlocks
  const run = grid.run(s)
  // The first block with a sample after `from`; every block before it ends at or before `from`.
  let need = blocks.length
  for (let k = 0; k < blocks.length; k++) {
    if (maxTOf(blocks[k].entry.chunks) > from) {
      need = k
      break
    }
  }
  const lo = run === null ? need : Math.min(run.lo, need)
  let before = -Infinity
  for (let k = 0; k < lo; k++) before = Math.max(before, maxTOf(blocks[k].entry.chunks))
  const out = gridBuild
  out.n = 0
  let raw = 0
  raw += appendBlocksThinned(st, s, lo, run === null ? blocks.length : run.lo, out, step, phase)
  if (run !== null) {
    ensureRoom(out, out.n + grid.entryLength(s))
    out.n += grid.copyOut(s, out.ts, out.vs, out.n)
    raw += appendBlocksThinned(st, s, run.hi, blocks.length, out, step, phase)
  }
  // A new entry must save at least half of what it holds; one grown from a cached one already did.
  if (run !== null || out.n * 2 <= raw) {
    grid.put(s, out.ts, out.vs, out.n, lo, blocks.length, before, (extra) =>
      st.gridCache.room(grid, extra)
    )
  }
  return out
}

// Appends the thinned chunks of s's blocks [lo, hi) to out; returns how many samples they held.
function appendBlocksThinned(
  st: DbState,
  s: MemSeries,
  lo: number,
  hi: number,
  out: Columns,
  step: number,
  phase: number
): number {
  let raw = 0
  for (let k = lo; k < hi; k++) {
    const { block, entry } = s.inBlocks[k]
    for (const c of entry.chunks) {
      ensureRoom(out, out.n + c.n)
      const n = decodeChunkInto(readChunk(st, block, c), c.minT, out.ts, out.vs, out.n)
      raw += n
      // Thinned where it was decoded (a cold path: two views a chunk).
      const ts = out.ts.subarray(out.n, out.n + n)
      out.n += thinChunk(ts, out.vs.subarray(out.n, out.n + n), n, step, phase)
    }
  }
  return raw
}

// The newest time of a block entry's chunks.
function maxTOf(chunks: readonly ChunkRef[]): number {
  let max = -Infinity
  for (const c of chunks) if (c.maxT > max) max = c.maxT
  return max
}

/**
 * appendThinned appends, of s's block chunks in (from, to], the samples the grid's times can pick:
 * each decoded and thinned, or whole when its samples are about a step apart or further (thinning
 * would keep most of them, and all of them is a correct superset).
 */
function appendThinned(
  st: DbState,
  s: MemSeries,
  from: number,
  to: number,
  out: Columns,
  step: number,
  phase: number
): void {
  const scratch = gridScratch
  for (const { block, entry } of s.inBlocks) {
    for (const c of entry.chunks) {
      if (c.maxT <= from || c.minT > to) continue
      if ((c.maxT - c.minT) * 2 > step * (c.n - 1)) {
        appendChunk(readChunk(st, block, c), c.minT, c.n, from, to, out)
        continue
      }
      if (scratch.ts.length < c.n) {
        scratch.ts = new Float64Array(c.n * 2)
        scratch.vs = new Float64Array(c.n * 2)
      }
      const n = thinChunk(
        scratch.ts,
        scratch.vs,
        decodeChunkInto(readChunk(st, block, c), c.minT, scratch.ts, scratch.vs, 0),
        step,
        phase
      )
      appendRange(scratch.ts, scratch.vs, n, from, to, out)
    }
  }
}

// Appends the samples of ts/vs[0, n) in (from, to], in their order, to out.
function appendWithin(
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  from: number,
  to: number,
  out: Columns
): void {
  ensureRoom(out, out.n + n)
  const ots = out.ts
  const ovs = out.vs
  let w = out.n
  for (let i = 0; i < n; i++) {
    const t = ts[i]
    if (t <= from || t > to) continue
    ots[w] = t
    ovs[w] = vs[i]
    w++
  }
  out.n = w
}

// A block chunk's bytes, through the block cache (a view valid until the next read).
function readChunk(st: DbState, block: Block, c: ChunkRef): Uint8Array {
  if (st.chunkBuf.length < c.len) st.chunkBuf = new Uint8Array(c.len * 2)
  return block.read(c, st.chunkBuf, st.blockCache)
}

/** gridScratch: one block chunk decoded for thinning (reads are synchronous). */
const gridScratch: Columns = { ts: new Float64Array(1024), vs: new Float64Array(1024), n: 0 }

/** gridBuild: a series' thinned blocks, built for the grid cache (fillGrid). */
const gridBuild: Columns = { ts: new Float64Array(1024), vs: new Float64Array(1024), n: 0 }

// The points of s not yet in a block (sealed head chunks, the open head, late points) in (from, to].
function appendUnflushed(s: MemSeries, from: number, to: number, out: Columns): void {
  for (const c of s.sealed) {
    if (c.maxT > from && c.minT <= to) appendChunk(c.bytes, c.minT, c.n, from, to, out)
  }
  s.appendOpen(from, to, out)
  for (const c of s.oooSealed) {
    if (c.maxT > from && c.minT <= to) appendChunk(c.bytes, c.minT, c.n, from, to, out)
  }
  appendRange(s.oooTs, s.oooVs, s.oooN, from, to, out)
}

/**
 * rawCount is how many raw points of s the chunks and head overlapping (from, to] hold: at least what
 * appendRaw appends, exact when no chunk straddles a bound.
 */
export function rawCount(s: MemSeries, from: number, to: number): number {
  let n = 0
  for (const { entry } of s.inBlocks) {
    for (const c of entry.chunks) if (c.maxT > from && c.minT <= to) n += c.n
  }
  for (const c of s.sealed) if (c.maxT > from && c.minT <= to) n += c.n
  for (const c of s.oooSealed) if (c.maxT > from && c.minT <= to) n += c.n
  return n + s.n + s.oooN
}

// A chunk of n points into `out`, decoded in place (the columns grown by half first when it has no
// room), then cut to (from, to].
function appendChunk(
  bytes: Uint8Array,
  minT: number,
  n: number,
  from: number,
  to: number,
  out: Columns
): void {
  const at = out.n
  if (out.ts.length - at < n) growColumns(out, Math.max(at + n, Math.ceil(out.ts.length * 1.5)))
  const got = decodeChunkInto(bytes, minT, out.ts, out.vs, at)
  keepWithin(out, at, at + got, from, to)
}

function appendRange(
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  from: number,
  to: number,
  out: Columns
): void {
  let lo = 0
  while (lo < n && ts[lo] <= from) lo++
  let hi = n
  while (hi > lo && ts[hi - 1] > to) hi--
  if (hi <= lo) return
  const need = out.n + hi - lo
  ensureRoom(out, need)
  out.ts.set(ts.subarray(lo, hi), out.n)
  out.vs.set(vs.subarray(lo, hi), out.n)
  out.n = need
}

/**
 * query reads one series (by falcon key `endpoint/counter`, or a SeriesDesc) over [start, end]. It picks
 * the finest tier whose retention reaches back to `start` and whose resolution is ≤ `step` (falcon's
 * archive choice), consolidates with `consolFun` (default AVERAGE) and returns columns, or null when the
 * series is unknown. DERIVE series come back as per-second rates. The result's arrays are fresh.
 */
export function query(
  st: DbState,
  series: string | SeriesDesc,
  opts: QueryOptions
): QueryResult | null {
  st.checkOpen()
  const s = typeof series === 'string' ? st.index.byKey(series) : st.index.byUid.get(uidOf(series))
  if (s === undefined) return null
  const cf = opts.consolFun ?? 'AVERAGE'
  if (!CONSOL_FUNS.includes(cf)) {
    throw new PeregrineError(
      'PG_TSDB_BAD_QUERY',
      `consolFun: expected one of ${CONSOL_FUNS.join(', ')}, got ${String(cf)}`,
      {
        status: 400,
      }
    )
  }
  if (!(opts.end >= opts.start)) {
    throw new PeregrineError(
      'PG_TSDB_BAD_QUERY',
      `end: must not be before start (${opts.start} > ${opts.end})`,
      {
        status: 400,
      }
    )
  }
  const k = chooseTier(st, s, opts)
  if (k === 1) {
    const from = opts.start - 1 - (s.dstype === 'DERIVE' ? 2 * s.step * 1000 : 0)
    const cols = rawColumns(st, s, from, opts.end)
    let n = cols.n
    if (s.dstype === 'DERIVE') n = toRates(cols.ts, cols.vs, n, s.step)
    let lo = 0
    while (lo < n && cols.ts[lo] < opts.start) lo++
    return {
      dstype: s.dstype,
      step: s.step,
      tier: 'raw',
      ts: cols.ts.slice(lo, n),
      vs: cols.vs.slice(lo, n),
      n: n - lo,
    }
  }
  const res = k * s.step * 1000
  const buckets = tierBuckets(st, s, k, res, opts.start, opts.end)
  const ts = new Float64Array(buckets.n)
  const vs = new Float64Array(buckets.n)
  for (let i = 0; i < buckets.n; i++) {
    ts[i] = buckets.end[i]
    vs[i] = buckets.value(i, cf)
  }
  return { dstype: s.dstype, step: k * s.step, tier: `r${k}`, ts, vs, n: buckets.n }
}

/** chooseTier picks the tier a query reads: 1 for raw, else the tier's steps per bucket. */
export function chooseTier(st: DbState, s: MemSeries, opts: QueryOptions): number {
  const now = st.options.now()
  const tiers = [1, ...st.options.tiers]
  const covering = tiers.filter((k) => {
    const kind = k === 1 ? 'raw' : `r${k}`
    return opts.start >= now - (st.options.retention[kind] ?? Infinity)
  })
  if (covering.length === 0) return tiers[tiers.length - 1]
  if (opts.step === undefined || opts.step <= s.step) return covering[0]
  let best = covering[0]
  for (const k of covering) if (k * s.step <= opts.step) best = k
  return best
}

/**
 * tierBuckets returns the buckets of resolution res overlapping [start, end]: from tier blocks up to
 * the watermark, then computed from raw data.
 */
export function tierBuckets(
  st: DbState,
  s: MemSeries,
  k: number,
  res: number,
  start: number,
  end: number
): Buckets {
  const out = new Buckets(64)
  const first = Math.ceil(start / res) * res
  const last = Math.ceil(end / res) * res
  const wm = st.watermarks.get(k) ?? -Infinity
  let stored = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
  // Buckets late points changed are read from raw data until the repair has rewritten them.
  const late = st.dirty.get(s)
  if (late !== undefined) stored = Math.min(stored, Math.ceil(late / res) * res - res)
  const kind = `r${k}`
  if (stored >= first) {
    // In the order they were written: a repair's bucket replaces the one computed before it.
    const blocks = st.blocks.filter((b) => b.meta.kind === kind)
    blocks.sort((a, b) => a.meta.seq - b.meta.seq)
    const tmp = new Buckets(64)
    for (const b of blocks) {
      if (b.meta.maxT < first || b.meta.minT > last) continue
      const entry = b.series.get(s.uid)
      if (entry === undefined || st.deletedIn(s.uid, b)) continue
      for (const c of entry.chunks) {
        if (c.maxT < first || c.minT > last) continue
        decodeBuckets(b.read(c, undefined, st.blockCache), c.minT, tmp.reset())
        for (let i = 0; i < tmp.n; i++) {
          const e = tmp.end[i]
          if (e < first || e > last || e > stored) continue
          out.push(e, tmp.count[i], tmp.sum[i], tmp.min[i], tmp.max[i], tmp.last[i])
        }
      }
    }
    mergeLastWins(out)
  }
  if (last > stored) bucketsFromRaw(st, s, res, Math.max(stored, first - res), last, out)
  return out
}

/** seriesInfo returns the dstype and step of falcon key `endpoint/counter` (the variant written last). */
export function seriesInfo(st: DbState, key: string): { dstype: string; step: number } | null {
  st.checkOpen()
  const s = st.index.byKey(key)
  return s === undefined ? null : { dstype: s.dstype, step: s.step }
}

/** last returns the newest raw point and the one before it (for falcon's Graph.Last), or null. */
export function last(
  st: DbState,
  key: string
): { dstype: string; step: number; t: number[]; v: number[] } | null {
  st.checkOpen()
  const s = st.index.byKey(key)
  if (s === undefined || s.maxT === -Infinity) return null
  const cols = rawColumns(st, s, s.maxT - 2 * s.step * 1000 - 1, s.maxT)
  const from = Math.max(0, cols.n - 2)
  return {
    dstype: s.dstype,
    step: s.step,
    t: Array.from(cols.ts.subarray(from, cols.n)),
    v: Array.from(cols.vs.subarray(from, cols.n)),
  }
}

/** Arrival is when the last point of a series reached the database, and that point (Db.arrival). */
export interface Arrival {
  /** at: the database's clock when the point arrived (ms); a replayed point's own timestamp. */
  at: number
  /** t, v: the point that arrived last (ms, raw value), which need not be the newest in time. */
  t: number
  v: number
  /** maxT: the series' newest timestamp (ms). */
  maxT: number
  step: number
  dstype: string
}

/**
 * arrival returns when falcon key `endpoint/counter` last got a point and which, or null (unknown, or
 * no point at all).
 */
export function arrival(st: DbState, key: string): Arrival | null {
  st.checkOpen()
  const s = st.index.byKey(key)
  if (s === undefined || s.maxT === -Infinity) return null
  if (s.arrivedAt === -Infinity) {
    // No point since the database opened (its points are in blocks, not in the WAL replayed): the
    // newest point stands in, arrived at its own time (never later than now).
    const l = last(st, key)
    if (l === null || l.t.length === 0) return null
    const t = l.t[l.t.length - 1]
    const v = l.v[l.v.length - 1]
    return { at: Math.min(t, st.options.now()), t, v, maxT: s.maxT, step: s.step, dstype: s.dstype }
  }
  return {
    at: s.arrivedAt,
    t: s.arrivedT,
    v: s.arrivedV,
    maxT: s.maxT,
    step: s.step,
    dstype: s.dstype,
  }
}

/** bucketsFromRaw appends to `out` the buckets of resolution res ending in (from, to], from raw points. */
export function bucketsFromRaw(
  st: DbState,
  s: MemSeries,
  res: number,
  from: number,
  to: number,
  out: Buckets
): void {
  const derive = s.dstype === 'DERIVE'
  // A DERIVE rate needs the point before; a bucket needs every point after its start.
  const cols = rawColumns(st, s, from === -Infinity ? -Infinity : from - res, to)
  let n = cols.n
  if (derive) n = toRates(cols.ts, cols.vs, n, s.step)
  let lo = 0
  while (lo < n && cols.ts[lo] <= from) lo++
  let hi = n
  while (hi > lo && cols.ts[hi - 1] > to) hi--
  consolidate(cols.ts.subarray(lo), cols.vs.subarray(lo), hi - lo, res, out)
}
