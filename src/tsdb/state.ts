// What the parts of an open database share: its state (series, head counters, blocks, watermarks,
// tombstones, flush scheduling, scratch buffers) and the small rules every part applies to it.
import { join } from 'node:path'
import { PeregrineError } from '../core/errors.js'
import type { Block } from './block.js'
import { ByteWriter } from './chunk/byte-buffer.js'
import type { Columns } from './chunk/chunk.js'
import { BlockCache } from './block-cache.js'
import { GridCache } from './grid-cache.js'
import type { TsdbOptions } from './options.js'
import type { MemSeries, SeriesDesc } from './series.js'
import { SeriesIndex } from './series-index.js'
import type { Wal } from './wal/wal.js'

/** Counters are the totals `Db.stats()` reports, kept by the parts that count them. */
export interface Counters {
  appended: number
  replayed: number
  duplicates: number
  outOfOrderInserted: number
  tooOld: number
  tooNew: number
  seriesLimited: number
  flushes: number
  compactions: number
  rollups: number
  blocksDeleted: number
  seriesDeleted: number
}

/** KeptPoints are the accepted points of one commit in flight, copied out of its appender. */
export interface KeptPoints {
  ids: Float64Array
  ts: Float64Array
  vs: Float64Array
}

/**
 * DbState is one open database's state. `Db` owns it and hands it to the functions of open.ts,
 * head.ts, flush.ts, compact.ts, rollup-tiers.ts, retention.ts and read.ts; nothing outside the
 * tsdb folder sees it. Every field is assigned here (one shape for V8).
 */
export class DbState {
  readonly options: Readonly<TsdbOptions>
  readonly index = new SeriesIndex()
  /** byId: series by ref (index 0 unused); a deleted series leaves `undefined`. */
  byId: (MemSeries | undefined)[] = [undefined]
  /** wal is set by open() before anything else reads it. */
  wal: Wal = undefined as unknown as Wal
  blocks: Block[] = []
  /** seq: the largest block sequence number used (blocks and tombstones). */
  seq = 0
  /** watermarks: per tier k, every bucket ending at or before it is materialised. */
  watermarks = new Map<number, number>()
  /** maxWatermark: the newest watermark of any tier; points after it skip the per-tier check. */
  maxWatermark = -Infinity
  tombstones: { uid: string; seq: number }[] = []
  headPoints = 0
  headMinT = Infinity
  headMaxT = -Infinity
  closed = false
  timer: NodeJS.Timeout | null = null
  /** busy: the tail of the serial chain flush, compaction, rollup, retention and deletion run on. */
  busy: Promise<unknown> = Promise.resolve()
  readonly lockFile: string
  readonly counters: Counters = {
    appended: 0,
    replayed: 0,
    duplicates: 0,
    outOfOrderInserted: 0,
    tooOld: 0,
    tooNew: 0,
    seriesLimited: 0,
    flushes: 0,
    compactions: 0,
    rollups: 0,
    blocksDeleted: 0,
    seriesDeleted: 0,
  }
  readonly repairs: string[] = []
  /**
   * Series with points stored in a bucket some tier had already rolled up, and the oldest such point:
   * those buckets are recomputed from raw data at the next flush, and read from raw data until then.
   */
  dirty = new Map<MemSeries, number>()
  /** New-series tokens (maxNewSeriesPerHour) and when they were last refilled. */
  seriesTokens = 0
  seriesTokensAt = 0
  readonly walWriter = new ByteWriter(1 << 16)
  /** Column sets for the points of commits in flight, reused (a few: one per concurrent writer). */
  kept: KeptPoints[] = []
  // Flush scheduling (flush.ts).
  flushPending = false
  /** A flush is under way: commits applied while it waits for the WAL do not call for another. */
  flushing = false
  flushedUpTo = -Infinity
  lastFlushWall = 0
  flushBackoff = 0
  flushRetryAt = -Infinity
  flushError: string | null = null
  /** encodeScratch is the writer block chunks are encoded with; one per database. */
  readonly encodeScratch = new ByteWriter(1 << 14)
  // Read scratch (read.ts): the raw columns of one series, a chunk's bytes.
  columns: Columns = { ts: new Float64Array(2048), vs: new Float64Array(2048), n: 0 }
  chunkBuf = new Uint8Array(1 << 16)
  /** blockCache: pages of block chunk regions read by queries (options.blockCacheBytes). */
  readonly blockCache: BlockCache
  /** gridCache: thinned block chunks of step-grid selects (options.gridCacheBytes). */
  readonly gridCache: GridCache

  constructor(options: Readonly<TsdbOptions>) {
    this.options = options
    this.blockCache = new BlockCache(options.blockCacheBytes)
    this.gridCache = new GridCache(options.gridCacheBytes)
    this.lockFile = join(options.dir, 'LOCK')
  }

  /** checkOpen throws PG_TSDB_CLOSED once the database is closed. */
  checkOpen(): void {
    if (this.closed)
      throw new PeregrineError('PG_TSDB_CLOSED', `database ${this.options.dir} is closed`)
  }

  /** damaged reports a damaged file: recorded as a repair, or thrown with onCorruption `fail`. */
  damaged(file: string, message: string): void {
    if (this.options.onCorruption === 'fail') {
      throw new PeregrineError('PG_TSDB_CORRUPT', `${file}: ${message}`)
    }
    this.repairs.push(`${file}: ${message}`)
    this.options.log('warn', `tsdb repair: ${file}: ${message}`)
  }

  setWatermark(k: number, wm: number): void {
    this.watermarks.set(k, wm)
    if (wm > this.maxWatermark) this.maxWatermark = wm
  }

  /** deletedIn tells whether series uid was deleted after block b was written (b's data of it is dead). */
  deletedIn(uid: string, b: Block): boolean {
    for (const t of this.tombstones) if (t.uid === uid && b.meta.seq <= t.seq) return true
    return false
  }

  /** forget drops a series from the head, its blocks' list and the index. */
  forget(s: MemSeries): void {
    this.dirty.delete(s)
    this.headPoints -= s.headPoints()
    s.dropHead()
    s.setBlocks([])
    this.index.remove(s)
    this.byId[s.id] = undefined
  }

  /** serial runs flush, rollup, retention and deletion one at a time. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn)
    this.busy = run.catch(() => undefined)
    return run
  }
}

/** descOf is a series' descriptor alone (no chunks, no head). */
export function descOf(s: SeriesDesc): SeriesDesc {
  return { endpoint: s.endpoint, metric: s.metric, tags: s.tags, dstype: s.dstype, step: s.step }
}

/** tierOf is k of tier kind `r<k>`. */
export function tierOf(kind: string): number {
  return parseInt(kind.slice(1), 10)
}

/**
 * coverageOf is the WAL segments a raw block claims to hold (every one numbered ≤ this): see
 * BlockMeta.partial.
 */
export function coverageOf(b: Block): number {
  return b.meta.covers ?? (b.meta.partial === true ? 0 : b.meta.walSeq)
}

/**
 * byWalOrder orders raw blocks as their data was flushed: walSeq grows with every flush, and a
 * compacted block carries the largest walSeq of its (contiguous) sources.
 */
export function byWalOrder(a: { block: Block }, b: { block: Block }): number {
  const x = a.block.meta
  const y = b.block.meta
  // Blocks of one flush (one per window), or a compacted window beside the next window's block of the
  // same flush, share a walSeq and do not overlap: time order then, so a read needs no merge.
  return x.walSeq - y.walSeq || x.minT - y.minT || x.seq - y.seq
}
