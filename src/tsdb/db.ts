// The database: the public class over one directory, delegating to its parts (open.ts, head.ts,
// flush.ts, compact.ts, rollup-tiers.ts, retention.ts, read.ts), plus maintenance, health and stats.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { ByteWriter } from './chunk/byte-buffer.js'
import { compact } from './compact.js'
import { flush } from './flush.js'
import {
  admitSeries,
  Appender,
  commitBatch,
  type CommitResult,
  type SeriesRef,
  seriesFor,
} from './head.js'
import { openDir, releaseDir } from './open.js'
import { defaultTsdbOptions, type TsdbOptions, validateOptions } from './options.js'
import {
  type Arrival,
  arrival,
  last,
  query,
  type QueryOptions,
  type QueryResult,
  seriesInfo,
} from './read.js'
import { applyRetention, deleteSeries } from './retention.js'
import { rollup } from './rollup-tiers.js'
import type { MemSeries, SeriesDesc } from './series.js'
import type { CounterInfo, Matcher } from './series-index.js'
import { DbState, descOf } from './state.js'
import { TsdbQuerier } from './tsdb-querier.js'

export { defaultTsdbOptions, type TsdbOptions } from './options.js'
export { Appender, type CommitResult, type Refusal, type SeriesRef } from './head.js'
export type { Arrival, QueryOptions, QueryResult } from './read.js'

/** DbStats are the counters and sizes `stats()` reports. */
export interface DbStats {
  series: number
  headPoints: number
  blocks: Record<string, number>
  diskBytes: { wal: number; blocks: number; total: number }
  appended: number
  /** replayed: points read back from the WAL when the database was opened. */
  replayed: number
  duplicates: number
  outOfOrderInserted: number
  tooOld: number
  tooNew: number
  seriesLimited: number
  walBytesWritten: number
  walGroupCommits: number
  flushes: number
  compactions: number
  rollups: number
  blocksDeleted: number
  seriesDeleted: number
  repairs: string[]
  /** caches: the block page cache and the step-grid cache of thinned chunks (bytes held, hits, misses). */
  caches: {
    block: { bytes: number; pages: number; hits: number; misses: number }
    grid: { bytes: number; grids: number; hits: number; misses: number }
  }
}

// Directories open in this process: a LOCK file holding our own pid is stale unless listed here

/**
 * Db is an open database directory. Open it with `Db.open`, write with `appender()`, read with `query`,
 * find series with `endpoints`, `counters` and `select`, and `close()` it when done.
 *
 *   dir/wal/00000007.wal …         records not yet in a block (replayed on open)
 *   dir/blocks/raw-00000012.blk …  immutable blocks of raw points
 *   dir/blocks/r5-00000013.blk …   rollup tiers (AVERAGE/MAX/MIN/LAST buckets of 5 steps, …)
 *   dir/tombstones.json            deleted series, until no block holds them
 */
export class Db {
  readonly options: Readonly<TsdbOptions>
  readonly #st: DbState
  readonly #querier: TsdbQuerier
  /** encodeScratch is the writer block chunks are encoded with; one per database. */
  readonly encodeScratch: ByteWriter

  private constructor(options: TsdbOptions) {
    this.options = options
    this.#st = new DbState(options)
    this.encodeScratch = this.#st.encodeScratch
    this.#querier = new TsdbQuerier(this.#st)
  }

  /**
   * open opens (or creates) the database in `options.dir`: takes the lock, opens the blocks, replays the
   * WAL. Damaged files are repaired and reported in `stats().repairs` (or throw, with onCorruption `fail`).
   */
  static open(options: Partial<TsdbOptions> & { dir: string }): Db {
    const opts: TsdbOptions = {
      ...defaultTsdbOptions,
      ...options,
      retention: { ...defaultTsdbOptions.retention, ...options.retention },
    }
    validateOptions(opts)
    const db = new Db(opts)
    db.#open()
    return db
  }

  #open(): void {
    const st = this.#st
    openDir(st)
    st.lastFlushWall = this.options.now()
    if (this.options.maintenanceInterval > 0) {
      st.timer = setInterval(() => {
        this.maintain().catch((err: unknown) =>
          this.options.log('warn', `tsdb maintenance failed: ${(err as Error).message}`)
        )
      }, this.options.maintenanceInterval)
      st.timer.unref()
    }
  }

  /** hasRef tells whether a series ref is live. */
  hasRef(ref: SeriesRef): boolean {
    return this.#st.byId[ref] !== undefined
  }

  /** seriesFor returns the series described, creating it (in memory) when new. */
  seriesFor(desc: SeriesDesc): MemSeries {
    return seriesFor(this.#st, desc)
  }

  /**
   * admitSeries is seriesFor for a live append: a new series is created only within `maxSeries` and
   * `maxNewSeriesPerHour`; past either it returns null and counts the point in `seriesLimited`.
   */
  admitSeries(desc: SeriesDesc): MemSeries | null {
    return admitSeries(this.#st, desc)
  }

  /** appender returns a new Appender; each writer keeps its own. */
  appender(): Appender {
    this.#st.checkOpen()
    return new Appender(this)
  }

  /**
   * commitBatch is Appender.commit's body (head.ts): refuse what cannot be stored, log the rest to the
   * WAL, and once the group commit has written it, put it in the head. `limited` holds the positions of
   * points the appender refused for a series limit.
   */
  commitBatch(
    ids: Float64Array,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    limited: readonly number[] = []
  ): Promise<CommitResult> {
    return commitBatch(this.#st, ids, ts, vs, n, limited)
  }

  /**
   * flush writes every point in the head to new blocks, one per time window of `maxBlockSpan` it has
   * points in (late points go to the window they belong to), and drops the WAL segments they cover.
   * Points appended meanwhile go to the next segment and the next flush. Rollup buckets that late points
   * changed are recomputed first.
   */
  flush(): Promise<void> {
    return flush(this.#st)
  }

  /**
   * compact merges the blocks of one kind that lie in the same time window: `maxBlockSpan` for raw
   * blocks (a day by default, aligned to UTC midnight), `maxBlockSpan × k` for tier r<k>. Returns how
   * many blocks it replaced.
   */
  compact(): Promise<number> {
    return compact(this.#st)
  }

  /**
   * rollup materialises the tiers for raw data older than `rollupAfter`, so it outlives the raw retention.
   * With `force`, it runs even when less than a block's worth of time has passed since the last run.
   */
  rollup(force = false): Promise<void> {
    return rollup(this.#st, force)
  }

  /**
   * applyRetention deletes blocks past their tier's retention. A raw block goes only once every tier has
   * been rolled up past its end, so no point is lost before it lives on in the tiers.
   */
  applyRetention(): Promise<void> {
    return applyRetention(this.#st)
  }

  /** maintain runs what the background timer runs: flush when due, rollup, retention. */
  async maintain(): Promise<void> {
    const st = this.#st
    if (st.closed) return
    const o = this.options
    const steps: [string, () => Promise<unknown>][] = [
      ['compact', () => this.compact()],
      ['rollup', () => this.rollup()],
      // Retention runs even when a flush failed: on a full disk, expired blocks are the space to free.
      ['retention', () => this.applyRetention()],
    ]
    const flushDue =
      st.headPoints > 0 &&
      o.now() >= st.flushRetryAt &&
      (st.headPoints >= o.maxHeadPoints || o.now() - st.lastFlushWall >= o.blockDuration)
    if (flushDue) steps.unshift(['flush', () => this.flush()])
    let first: Error | undefined
    for (const [name, step] of steps) {
      try {
        await step()
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err))
        this.options.log('warn', `tsdb ${name} failed: ${e.message}`)
        first ??= e
      }
    }
    if (first !== undefined) throw first
  }

  /**
   * deleteSeries deletes the series with these falcon keys (`endpoint/counter`, every dstype and step),
   * from the head, the blocks (by tombstone) and the index; resolves once the deletion is durable.
   */
  deleteSeries(keys: readonly string[]): Promise<number> {
    return deleteSeries(this.#st, keys)
  }

  /**
   * query reads one series (by falcon key `endpoint/counter`, or a SeriesDesc) over [start, end]. It picks
   * the finest tier whose retention reaches back to `start` and whose resolution is ≤ `step` (falcon's
   * archive choice), consolidates with `consolFun` (default AVERAGE) and returns columns, or null when the
   * series is unknown. DERIVE series come back as per-second rates. The result's arrays are fresh.
   */
  query(series: string | SeriesDesc, opts: QueryOptions): QueryResult | null {
    return query(this.#st, series, opts)
  }

  /** seriesInfo returns the dstype and step of falcon key `endpoint/counter` (the variant written last). */
  seriesInfo(key: string): { dstype: string; step: number } | null {
    return seriesInfo(this.#st, key)
  }

  /** last returns the newest raw point and the one before it (for falcon's Graph.Last), or null. */
  last(key: string): { dstype: string; step: number; t: number[]; v: number[] } | null {
    return last(this.#st, key)
  }

  /** now is the database's clock (ms), the one arrival times are on. */
  now(): number {
    return this.#st.options.now()
  }

  /** arrival says when falcon key `endpoint/counter` last got a point, and which (for nodata), or null. */
  arrival(key: string): Arrival | null {
    return arrival(this.#st, key)
  }

  /**
   * querier returns the database read as Prometheus series (contract.md, docs/prometheus.md): the
   * Querier the PromQL engine and graph's Graph.Select run on. One per database.
   */
  querier(): TsdbQuerier {
    return this.#querier
  }

  /** endpoints lists endpoint names matching every term (regex, else substring) and tags. */
  endpoints(terms: readonly string[] = [], tags: readonly string[] = [], limit?: number): string[] {
    return this.#st.index.endpoints(terms, tags, limit)
  }

  /** counters lists an endpoint's counters matching every term (`!term` excludes). */
  counters(endpoint: string, terms: readonly string[] = [], limit?: number): CounterInfo[] {
    return this.#st.index.counters(endpoint, terms, limit)
  }

  /** select returns the descriptors of the series matching Prometheus-style label matchers. */
  select(matchers: readonly Matcher[]): (SeriesDesc & { key: string })[] {
    return this.#st.index.select(matchers).map((s) => ({ ...descOf(s), key: s.key }))
  }

  /** labelValues lists the values of a label (`__name__`, `endpoint` or a tag key). */
  labelValues(name: string): string[] {
    return this.#st.index.labelValues(name)
  }

  /**
   * analyze reports, per series, the points and chunk bytes it has in raw blocks (head excluded), as
   * `promtool tsdb analyze` does: where the bytes go.
   */
  analyze(): { key: string; dstype: string; step: number; points: number; bytes: number }[] {
    const st = this.#st
    st.checkOpen()
    const out = []
    for (const s of st.index.byUid.values()) {
      let points = 0
      let bytes = 0
      for (const { entry } of s.inBlocks) {
        for (const c of entry.chunks) {
          points += c.n
          bytes += c.len
        }
      }
      out.push({ key: s.key, dstype: s.dstype, step: s.step, points, bytes })
    }
    return out
  }

  /**
   * health says whether the database can take writes and keep them: `problems` is empty when it can,
   * else each entry says what is failing and since when (a WAL that cannot be written, flushes that
   * fail). Both clear by themselves once the cause is gone (space freed, the disk back).
   */
  health(): { ok: boolean; problems: string[] } {
    const st = this.#st
    const problems: string[] = []
    const wal = st.wal.failure
    if (wal !== null) problems.push(wal)
    if (st.flushError !== null) {
      problems.push(`flushing the head to a block fails (${st.flushError}); retried with backoff`)
    }
    return { ok: problems.length === 0, problems }
  }

  /** stats reports counters, head size, blocks per tier and disk usage. */
  stats(): DbStats {
    const st = this.#st
    const blocks: Record<string, number> = {}
    let blockBytes = 0
    for (const b of st.blocks) {
      blocks[b.meta.kind] = (blocks[b.meta.kind] ?? 0) + 1
      blockBytes += b.bytes
    }
    const walBytes = dirBytes(join(st.options.dir, 'wal'))
    const other = dirBytes(st.options.dir, false)
    return {
      series: st.index.size,
      headPoints: st.headPoints,
      blocks,
      diskBytes: { wal: walBytes, blocks: blockBytes, total: walBytes + blockBytes + other },
      ...st.counters,
      walBytesWritten: st.wal.bytesWritten,
      walGroupCommits: st.wal.groupCommits,
      repairs: [...st.repairs],
      caches: { block: st.blockCache.stats(), grid: st.gridCache.stats() },
    }
  }

  /**
   * close waits for pending commits, writes the head to a block (so the next open replays nothing) unless
   * `flush` is false, and releases the directory.
   */
  async close(opts: { flush?: boolean } = {}): Promise<void> {
    const st = this.#st
    if (st.closed) return
    if (st.timer !== null) clearInterval(st.timer)
    if (opts.flush !== false) {
      await this.flush().catch((err: unknown) =>
        st.options.log(
          'warn',
          `tsdb: flush on close failed (${(err as Error).message}); the WAL keeps every point, replayed on next open`
        )
      )
    } else await st.busy.catch(() => undefined)
    st.closed = true
    await st.wal.close()
    for (const b of st.blocks) b.close()
    releaseDir(st)
  }
}

function dirBytes(dir: string, recurse = true): number {
  let total = 0
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return 0
  }
  for (const name of names) {
    const st = statSync(join(dir, name), { throwIfNoEntry: false })
    if (st === undefined) continue
    if (st.isDirectory()) {
      if (recurse) total += dirBytes(join(dir, name))
    } else total += st.size
  }
  return total
}
