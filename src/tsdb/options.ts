// A database's options: every setting with its unit and default, and their validation.
import { PeregrineError } from '../core/errors.js'
import type { WalSync } from './wal/wal.js'

/** HOUR is an hour in ms. */
export const HOUR = 3_600_000
const DAY = 24 * HOUR

/** TsdbOptions configures a database; `defaultTsdbOptions` holds every default. Times are milliseconds. */
export interface TsdbOptions {
  /** dir holds wal/, blocks/ and tombstones.json. */
  dir: string
  /** walSync: `fsync` (default) acknowledges after fdatasync; `write` after write(2), enough for kill -9. */
  walSync: WalSync
  /** blockDuration: the head is written to a block once it spans this much time (default 2 h). */
  blockDuration: number
  /** maxHeadPoints: the head is written to a block once it holds this many points (default 20 M). */
  maxHeadPoints: number
  /** maxBlockSpan: adjacent raw blocks are compacted into one while it spans at most this (default 24 h). */
  maxBlockSpan: number
  /** retention per tier: `raw` and `r5`, `r20`, `r180`, `r720` (defaults 7 d, 35 d, 90 d, 400 d, 5 y). */
  retention: Record<string, number>
  /** tiers: rollup tiers in steps per bucket, as falcon's RRAs (default 5, 20, 180, 720). */
  tiers: readonly number[]
  /** rollupAfter: raw data older than this is rolled up into the tiers (default 40 h). */
  rollupAfter: number
  /** maintenanceInterval: how often flush, rollup and retention run in the background (0 = never). */
  maintenanceInterval: number
  /** onCorruption: `repair` recovers what is intact and reports the rest; `fail` throws naming the file. */
  onCorruption: 'repair' | 'fail'
  /** now returns the current time in ms (tests pass a fixed clock). */
  now: () => number
  /** log receives warnings (damaged files, repairs) and notices (flushes). */
  log: (level: 'info' | 'warn', message: string) => void
  /**
   * maxSeries: the most series this database holds (0: no limit). A point of a new series past it is
   * refused (`PG_TSDB_SERIES_LIMIT`, counted in `seriesLimited`); series already known are unaffected.
   */
  maxSeries: number
  /**
   * maxNewSeriesPerHour: how many new series may be created per hour (0: no limit), a token bucket that
   * refills continuously, so a burst of up to this many is allowed at once. Past it, as `maxSeries`.
   */
  maxNewSeriesPerHour: number
  /**
   * maxAhead: how far ahead of `now` a point may be (ms, default 2 days, as VictoriaMetrics); a point
   * further ahead is refused (`PG_TSDB_TOO_NEW`, counted in `tooNew`): a sender's clock is wrong.
   */
  maxAhead: number
  /**
   * blockCacheBytes: the budget of the block chunk cache (bytes, default 128 MiB): queries read block
   * chunks in 256 KiB pages kept in least-recently-used order, one pread a page instead of one a chunk.
   * Below 256 KiB the cache is off and each chunk is read with its own pread.
   */
  blockCacheBytes: number
  /**
   * gridCacheBytes: the budget of the step-grid cache (bytes, default 64 MiB, 0 turns it off): a range
   * query reading a series only at its step times keeps, per block chunk, the samples those times can
   * pick (12 bytes each), so the next query on the same step grid (a dashboard's refresh) reads them
   * instead of decoding the chunk again. Least recently used blocks' grids leave first.
   */
  gridCacheBytes: number
}

/** defaultTsdbOptions are the defaults of every option but `dir`. */
export const defaultTsdbOptions: Omit<TsdbOptions, 'dir'> = {
  walSync: 'fsync',
  blockDuration: 2 * HOUR,
  maxHeadPoints: 20_000_000,
  maxBlockSpan: 24 * HOUR,
  retention: { raw: 7 * DAY, r5: 35 * DAY, r20: 90 * DAY, r180: 400 * DAY, r720: 5 * 365 * DAY },
  tiers: [5, 20, 180, 720],
  rollupAfter: 40 * HOUR,
  maintenanceInterval: 60_000,
  onCorruption: 'repair',
  now: () => Date.now(),
  log: () => undefined,
  maxSeries: 0,
  maxNewSeriesPerHour: 0,
  maxAhead: 2 * DAY,
  blockCacheBytes: 128 * 2 ** 20,
  gridCacheBytes: 64 * 2 ** 20,
}

/** validateOptions throws PG_TSDB_BAD_OPTION naming the first option out of its range. */
export function validateOptions(o: TsdbOptions): void {
  const bad = (field: string, want: string, got: unknown): PeregrineError =>
    new PeregrineError(
      'PG_TSDB_BAD_OPTION',
      `tsdb.${field}: expected ${want}, got ${JSON.stringify(got)}`,
      {
        status: 400,
      }
    )
  if (typeof o.dir !== 'string' || o.dir === '') throw bad('dir', 'a directory path', o.dir)
  if (o.walSync !== 'fsync' && o.walSync !== 'write')
    throw bad('walSync', '"fsync" or "write"', o.walSync)
  for (const f of [
    'blockDuration',
    'maxHeadPoints',
    'maxBlockSpan',
    'rollupAfter',
    'maxAhead',
  ] as const) {
    if (!(o[f] > 0)) throw bad(f, 'a positive number', o[f])
  }
  if (!(Number.isSafeInteger(o.blockCacheBytes) && o.blockCacheBytes >= 0))
    throw bad('blockCacheBytes', 'an integer number of bytes ≥ 0', o.blockCacheBytes)
  if (!(Number.isSafeInteger(o.gridCacheBytes) && o.gridCacheBytes >= 0))
    throw bad('gridCacheBytes', 'an integer number of bytes ≥ 0', o.gridCacheBytes)
  if (!(o.maintenanceInterval >= 0))
    throw bad('maintenanceInterval', 'a number ≥ 0', o.maintenanceInterval)
  for (const k of o.tiers) {
    if (!Number.isInteger(k) || k < 2)
      throw bad('tiers', 'integers ≥ 2 (steps per bucket)', o.tiers)
  }
  for (const [kind, ms] of Object.entries(o.retention)) {
    if (!(ms > 0)) throw bad(`retention.${kind}`, 'a positive number of ms', ms)
  }
  if (o.tiers.length > 0 && o.retention.raw <= o.rollupAfter) {
    throw bad(
      'retention.raw',
      `more than rollupAfter (${o.rollupAfter} ms), or raw data expires before it is rolled up`,
      o.retention.raw
    )
  }
}
