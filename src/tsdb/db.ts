// The database: series registry, head, WAL, blocks, rollup tiers, retention and queries, in one directory.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { isPeregrineError, PeregrineError } from '../core/errors.js'
import { processAlive } from '../core/service.js'
import {
  Block,
  type BlockKind,
  type BlockMeta,
  type BlockSeriesInput,
  writeBlock,
} from './block.js'
import { ByteReader, ByteWriter } from './chunk/byte-buffer.js'
import { type Columns, decodeChunk, encodeChunk } from './chunk/chunk.js'
import {
  Buckets,
  type ConsolFun,
  CONSOL_FUNS,
  consolidate,
  decodeBuckets,
  encodeBuckets,
  toRates,
} from './rollup.js'
import { mergeFirstWins, mergeLastWins } from './merge.js'
import {
  APPENDED,
  DUPLICATE,
  MemSeries,
  type SealedChunk,
  type SeriesDesc,
  uidOf,
} from './series.js'
import { type CounterInfo, type Matcher, SeriesIndex } from './series-index.js'
import { syncDir, Wal, type WalSync } from './wal/wal.js'

const HOUR = 3_600_000
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
}

/** SeriesRef is a series' number for this process; `Appender.append` returns it for reuse. */
export type SeriesRef = number

/**
 * Refusal is a point the database would not store, and why: older than it can keep
 * (`PG_TSDB_TOO_OLD`), further ahead than `maxAhead` (`PG_TSDB_TOO_NEW`), or a new series past a
 * series limit (`PG_TSDB_SERIES_LIMIT`). `index` is the
 * point's position among the appends of its commit, counting refused ones, from 0.
 */
export interface Refusal {
  index: number
  code: 'PG_TSDB_TOO_OLD' | 'PG_TSDB_TOO_NEW' | 'PG_TSDB_SERIES_LIMIT'
  message: string
}

/**
 * CommitResult counts what a commit did with its points. Every point is stored but for the duplicates
 * (a timestamp the series already has: the first value is kept) and the `refused`.
 */
export interface CommitResult {
  appended: number
  duplicates: number
  outOfOrderInserted: number
  tooOld: number
  tooNew: number
  seriesLimited: number
  /** refused lists the points not stored, in append order (empty when none). */
  refused: Refusal[]
}

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
}

// Directories open in this process: a LOCK file holding our own pid is stale unless listed here
// (in a container, a restarted process is often pid 1 again).
const OPEN_DIRS = new Set<string>()

const REC_SERIES = 1
const REC_SAMPLES = 2
const REC_DELETE = 3
const REC_SEAL_ALL = 4

/** BLOCK_CHUNK_POINTS bounds a chunk written to a block: a day at step 10 s fits in one. */
const BLOCK_CHUNK_POINTS = 8640

/** MAX_SAMPLES_PER_RECORD bounds a WAL samples record (at most ~19 bytes a point). */
const MAX_SAMPLES_PER_RECORD = 1 << 20

// Why a point is refused (#refusal), or ACCEPTED.
const ACCEPTED = 0
const TOO_OLD = 1
const TOO_NEW = 2

const TOO_OLD_MESSAGE =
  'older than this graph node keeps: before its raw retention (tsdb retention.raw), or in a rollup bucket whose raw data has expired'
const TOO_NEW_MESSAGE =
  "further ahead of this graph node's clock than it takes (tsdb maxAhead, 2 days by default): check the sender's clock"
const SERIES_LIMIT_MESSAGE =
  'a new series past the series limit of this graph node (graph.maxSeries, graph.maxNewSeriesPerHour)'

// The refusals of one commit in append order: `limited` are positions among all appends, `refused`
// indices among the points that reached the batch (the limited ones never did), with `why` (TOO_OLD or
// TOO_NEW) for each.
function refusals(
  limited: readonly number[],
  refused: readonly number[],
  why: readonly number[]
): Refusal[] {
  const out: Refusal[] = []
  let l = 0
  for (let k = 0; k < refused.length; k++) {
    const i = refused[k]
    // Position of batch point i: i plus the limited appends before it.
    while (l < limited.length && limited[l] <= i + l) {
      out.push({ index: limited[l], code: 'PG_TSDB_SERIES_LIMIT', message: SERIES_LIMIT_MESSAGE })
      l++
    }
    out.push(
      why[k] === TOO_NEW
        ? { index: i + l, code: 'PG_TSDB_TOO_NEW', message: TOO_NEW_MESSAGE }
        : { index: i + l, code: 'PG_TSDB_TOO_OLD', message: TOO_OLD_MESSAGE }
    )
  }
  for (; l < limited.length; l++) {
    out.push({ index: limited[l], code: 'PG_TSDB_SERIES_LIMIT', message: SERIES_LIMIT_MESSAGE })
  }
  return out
}

/**
 * Appender collects points and writes them with `commit()`, which resolves only after the batch is in the
 * write-ahead log (one write and one sync shared with every concurrent commit). Points are visible to
 * queries once they are in the WAL, just before `commit()` resolves.
 */
export class Appender {
  readonly #db: Db
  #ids = new Float64Array(1024)
  #ts = new Float64Array(1024)
  #vs = new Float64Array(1024)
  #n = 0
  /** Positions (among this batch's appends) of points refused by a series limit, ascending. */
  #limited: number[] = []

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * append adds a point to series `ref` (0 when unknown: then `desc` finds or creates the series) and
   * returns the series' ref, to pass next time. `t` is ms, an integer. A new series past `maxSeries` or
   * `maxNewSeriesPerHour` is not created: the point is refused (listed in the commit's `refused`) and
   * 0 is returned.
   */
  append(ref: SeriesRef, desc: SeriesDesc | null, t: number, v: number): SeriesRef {
    if (!Number.isSafeInteger(t) || Math.abs(t) > 2 ** 49) {
      throw new PeregrineError(
        'PG_TSDB_BAD_QUERY',
        `timestamp: expected integer milliseconds, got ${t}`,
        { status: 400 }
      )
    }
    let id = ref
    if (id <= 0 || !this.#db.hasRef(id)) {
      if (desc === null)
        throw new PeregrineError('PG_TSDB_BAD_QUERY', `series ref ${ref} is unknown`)
      const s = this.#db.admitSeries(desc)
      if (s === null) {
        this.#limited.push(this.#n + this.#limited.length)
        return 0
      }
      id = s.id
    }
    if (this.#n === this.#ids.length) this.#grow()
    this.#ids[this.#n] = id
    this.#ts[this.#n] = t
    this.#vs[this.#n] = v
    this.#n++
    return id
  }

  /** commit applies the points and resolves once they are in the WAL; the appender is reusable after. */
  commit(): Promise<CommitResult> {
    const n = this.#n
    const limited = this.#limited
    this.#n = 0
    if (limited.length > 0) this.#limited = []
    return this.#db.commitBatch(this.#ids, this.#ts, this.#vs, n, limited)
  }

  /** rollback forgets the points appended since the last commit. */
  rollback(): void {
    this.#n = 0
    this.#limited = []
  }

  #grow(): void {
    const size = this.#ids.length * 2
    const ids = new Float64Array(size)
    ids.set(this.#ids)
    this.#ids = ids
    const ts = new Float64Array(size)
    ts.set(this.#ts)
    this.#ts = ts
    const vs = new Float64Array(size)
    vs.set(this.#vs)
    this.#vs = vs
  }
}

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
  readonly #index = new SeriesIndex()
  #byId: (MemSeries | undefined)[] = [undefined]
  #wal!: Wal
  #blocks: Block[] = []
  #seq = 0
  #watermarks = new Map<number, number>()
  #tombstones: { uid: string; seq: number }[] = []
  #headPoints = 0
  #headMinT = Infinity
  #headMaxT = -Infinity
  #closed = false
  #timer: NodeJS.Timeout | null = null
  #busy: Promise<unknown> = Promise.resolve()
  #lockFile: string
  readonly #counters = {
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
  readonly #repairs: string[] = []
  /**
   * Series with points stored in a bucket some tier had already rolled up, and the oldest such point:
   * those buckets are recomputed from raw data at the next flush, and read from raw data until then.
   */
  #dirty = new Map<MemSeries, number>()
  /** New-series tokens (maxNewSeriesPerHour) and when they were last refilled. */
  #seriesTokens = 0
  #seriesTokensAt = 0
  readonly #walWriter = new ByteWriter(1 << 16)
  #columns: Columns = { ts: new Float64Array(2048), vs: new Float64Array(2048), n: 0 }
  #chunkBuf = new Uint8Array(1 << 16)

  private constructor(options: TsdbOptions) {
    this.options = options
    this.#lockFile = join(options.dir, 'LOCK')
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
    const { dir } = this.options
    mkdirSync(join(dir, 'blocks'), { recursive: true })
    this.#lock()
    try {
      this.#loadTombstones()
      this.#loadBlocks()
      this.#replayWal()
    } catch (err) {
      rmSync(this.#lockFile, { force: true })
      throw err
    }
    OPEN_DIRS.add(resolve(dir))
    this.#lastFlushWall = this.options.now()
    if (this.options.maintenanceInterval > 0) {
      this.#timer = setInterval(() => {
        this.maintain().catch((err: unknown) =>
          this.options.log('warn', `tsdb maintenance failed: ${(err as Error).message}`)
        )
      }, this.options.maintenanceInterval)
      this.#timer.unref()
    }
  }

  #lock(): void {
    if (OPEN_DIRS.has(resolve(this.options.dir))) {
      throw new PeregrineError(
        'PG_TSDB_LOCKED',
        `${this.options.dir} is already open in this process`
      )
    }
    try {
      const fd = openSync(this.#lockFile, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const pid = parseInt(readFileSync(this.#lockFile, 'utf8'), 10)
    if (pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new PeregrineError(
        'PG_TSDB_LOCKED',
        `${this.options.dir} is in use by process ${pid}; stop it or choose another data directory`
      )
    }
    writeFileSync(this.#lockFile, String(process.pid))
  }

  #damaged(file: string, message: string): void {
    if (this.options.onCorruption === 'fail') {
      throw new PeregrineError('PG_TSDB_CORRUPT', `${file}: ${message}`)
    }
    this.#repairs.push(`${file}: ${message}`)
    this.options.log('warn', `tsdb repair: ${file}: ${message}`)
  }

  #loadTombstones(): void {
    const file = join(this.options.dir, 'tombstones.json')
    if (!existsSync(file)) return
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
      const valid =
        Array.isArray(parsed) &&
        parsed.every(
          (t: unknown) =>
            typeof t === 'object' &&
            t !== null &&
            typeof (t as { uid?: unknown }).uid === 'string' &&
            Number.isInteger((t as { seq?: unknown }).seq)
        )
      if (!valid) throw new Error('expected an array of {"uid": string, "seq": integer}')
      this.#tombstones = parsed as { uid: string; seq: number }[]
      // New blocks must number above every tombstone, even when the newest blocks have expired.
      for (const t of this.#tombstones) this.#seq = Math.max(this.#seq, t.seq)
    } catch (err) {
      this.#damaged(
        file,
        `unreadable (${(err as Error).message}); deletions recorded there are lost`
      )
    }
  }

  #loadBlocks(): void {
    const dir = join(this.options.dir, 'blocks')
    const names = readdirSync(dir)
    for (const name of names) if (name.endsWith('.tmp')) rmSync(join(dir, name), { force: true })
    const files = names
      .filter((f) => /^(raw|r\d+)-\d{8}\.blk$/.test(f))
      .sort((a, b) => seqOfName(a) - seqOfName(b))
    const tombs = new Map(this.#tombstones.map((t) => [t.uid, t.seq]))
    const opened: Block[] = []
    for (const name of files) {
      const file = join(dir, name)
      this.#seq = Math.max(this.#seq, seqOfName(name))
      try {
        const { block, damage } = Block.open(file, uidOf)
        for (const d of damage) this.#damaged(d.file, d.message)
        opened.push(block)
      } catch (err) {
        // Only damage moves a file aside; EMFILE, EACCES and the like are the operator's to fix.
        if (!isPeregrineError(err) || err.code !== 'PG_TSDB_CORRUPT') {
          throw new PeregrineError(
            'PG_TSDB_CORRUPT',
            `cannot open block ${file}: ${(err as Error).message}; nothing was changed, fix the cause and open again`,
            { cause: err }
          )
        }
        this.#damaged(file, err.message.replace(`block ${file}: `, '') + '; moved aside')
        renameSync(file, file + '.corrupt')
      }
    }
    // A compaction that crashed before deleting its sources leaves them behind: the result wins.
    const superseded = new Set<number>()
    for (const b of opened) for (const seq of b.meta.compactedFrom ?? []) superseded.add(seq)
    for (const block of opened) {
      if (superseded.has(block.meta.seq)) {
        block.close()
        rmSync(block.file, { force: true })
        continue
      }
      this.#blocks.push(block)
      const raw = block.meta.kind === 'raw'
      // A part of a multi-block write other than its last claims nothing: if the write was cut short,
      // what it covers is written again (the copies merge away on read and in compaction).
      if (!raw && block.meta.partial !== true) {
        const k = tierOf(block.meta.kind)
        this.#setWatermark(k, Math.max(this.#watermarks.get(k) ?? -Infinity, block.meta.upTo))
      }
      for (const [uid, entry] of block.series) {
        const dead = tombs.get(uid)
        if (dead !== undefined && block.meta.seq <= dead) continue
        if (entry.chunks.length === 0) continue
        // A series whose raw data has expired still lives in the tiers, so the index keeps it.
        const s = this.seriesFor(entry)
        if (!raw) continue
        s.inBlocks.push({ block, entry })
        const last = entry.chunks[entry.chunks.length - 1].maxT
        if (last > s.maxT) s.maxT = last
        if (last > s.frozenT) s.frozenT = last
      }
    }
    // A series' raw blocks in the order they were flushed (a compacted block takes its sources' place),
    // which is time order for that series.
    for (const s of this.#index.byUid.values()) s.inBlocks.sort(byWalOrder)
  }

  #replayWal(): void {
    const walDir = join(this.options.dir, 'wal')
    let covered = 0
    for (const b of this.#blocks)
      if (b.meta.kind === 'raw') covered = Math.max(covered, coverageOf(b))
    let refs = new Map<number, MemSeries>()
    let refSeq = -1
    const r = new ByteReader(new Uint8Array(0))
    const horizon = this.options.now() - this.options.retention.raw
    const { damage, lastSeq } = Wal.replay(
      walDir,
      covered,
      this.options.onCorruption === 'fail',
      (seq, payload) => {
        if (seq !== refSeq) {
          refs = new Map()
          refSeq = seq
        }
        r.reset(payload)
        const type = r.u8()
        if (type === REC_SERIES) {
          const ref = r.uvarint()
          const endpoint = r.string()
          const metric = r.string()
          const tags = r.string()
          const dstype = r.u8() === 0 ? 'GAUGE' : 'DERIVE'
          const step = r.uvarint()
          refs.set(ref, this.seriesFor({ endpoint, metric, tags, dstype, step }))
        } else if (type === REC_SAMPLES) {
          const count = r.uvarint()
          let t = 0
          for (let i = 0; i < count; i++) {
            const s = refs.get(r.uvarint())
            t += r.varint()
            const v = r.f64()
            if (s === undefined) continue
            // Acknowledged once: kept, unless it has since passed the retention.
            if (t < horizon) this.#counters.tooOld++
            else this.#store(s, t, v)
          }
        } else if (type === REC_DELETE) {
          const s = this.#index.byUid.get(r.string())
          if (s !== undefined) this.#forget(s)
        } else if (type === REC_SEAL_ALL) {
          // A flush started here (and did not finish, or this segment would be covered by its block).
          for (const s of this.#index.byUid.values()) s.seal()
        }
      }
    )
    for (const d of damage) {
      if (d.torn)
        this.options.log('warn', `tsdb: cut a torn record off ${d.file} at byte ${d.offset}`)
      else
        this.#damaged(d.file, `${d.message} at byte ${d.offset}; the rest of that segment is lost`)
    }
    this.#counters.replayed = this.#counters.appended + this.#counters.outOfOrderInserted
    this.#counters.appended = 0
    this.#counters.outOfOrderInserted = 0
    this.#wal = Wal.create(walDir, this.options.walSync, Math.max(lastSeq, covered) + 1)
    this.#wal.removeUpTo(covered)
  }

  /** hasRef tells whether a series ref is live. */
  hasRef(ref: SeriesRef): boolean {
    return this.#byId[ref] !== undefined
  }

  /** seriesFor returns the series described, creating it (in memory) when new. */
  seriesFor(desc: SeriesDesc): MemSeries {
    const uid = uidOf(desc)
    const found = this.#index.byUid.get(uid)
    if (found !== undefined) return found
    if (desc.step <= 0 || !Number.isInteger(desc.step)) {
      throw new PeregrineError(
        'PG_TSDB_BAD_QUERY',
        `step: expected a positive integer, got ${desc.step}`,
        {
          status: 400,
        }
      )
    }
    const s = new MemSeries(this.#byId.length, desc)
    this.#byId.push(s)
    this.#index.add(s)
    return s
  }

  /**
   * admitSeries is seriesFor for a live append: a new series is created only within `maxSeries` and
   * `maxNewSeriesPerHour`; past either it returns null and counts the point in `seriesLimited`.
   */
  admitSeries(desc: SeriesDesc): MemSeries | null {
    const found = this.#index.byUid.get(uidOf(desc))
    if (found !== undefined) return found
    const o = this.options
    if (o.maxSeries > 0 && this.#index.size >= o.maxSeries) {
      this.#counters.seriesLimited++
      return null
    }
    if (o.maxNewSeriesPerHour > 0) {
      // A token bucket: full at start, refilled at maxNewSeriesPerHour per hour.
      const now = o.now()
      this.#seriesTokens = Math.min(
        o.maxNewSeriesPerHour,
        this.#seriesTokens + ((now - this.#seriesTokensAt) * o.maxNewSeriesPerHour) / HOUR
      )
      this.#seriesTokensAt = now
      if (this.#seriesTokens < 1) {
        this.#counters.seriesLimited++
        return null
      }
      this.#seriesTokens--
    }
    return this.seriesFor(desc)
  }

  /** appender returns a new Appender; each writer keeps its own. */
  appender(): Appender {
    this.#checkOpen()
    return new Appender(this)
  }

  // Whether a point may be stored (ACCEPTED), or is TOO_OLD (before the raw retention, or in a bucket
  // a tier has rolled up when the raw data that bucket was computed from may be gone, so it could not be
  // recomputed with it) or TOO_NEW (further ahead than maxAhead).
  #refusal(s: MemSeries, t: number, horizon: number, ahead: number): number {
    if (t < horizon) return TOO_OLD
    if (t > ahead) return TOO_NEW
    if (t <= this.#maxWatermark && this.#rolledUpFrom(s, t) < horizon) return TOO_OLD
    return ACCEPTED
  }

  // Puts one point in the head and counts it; returns what s.append did (APPENDED, DUPLICATE or
  // OUT_OF_ORDER_INSERTED). A point in a bucket a tier has rolled up marks its series for a repair.
  #store(s: MemSeries, t: number, v: number): number {
    const outcome = s.append(t, v)
    if (outcome === DUPLICATE) {
      this.#counters.duplicates++
      return DUPLICATE
    }
    if (outcome === APPENDED) this.#counters.appended++
    else this.#counters.outOfOrderInserted++
    this.#headPoints++
    if (t < this.#headMinT) this.#headMinT = t
    if (t > this.#headMaxT) this.#headMaxT = t
    if (t <= this.#maxWatermark && this.#rolledUpFrom(s, t) !== Infinity) {
      const was = this.#dirty.get(s)
      if (was === undefined || t < was) this.#dirty.set(s, t)
    }
    return outcome
  }

  // The start of the earliest rolled-up bucket that holds t, over every tier (Infinity when no tier has
  // rolled up t's bucket for series s).
  #rolledUpFrom(s: MemSeries, t: number): number {
    let from = Infinity
    for (const k of this.options.tiers) {
      const wm = this.#watermarks.get(k) ?? -Infinity
      const res = k * s.step * 1000
      const end = Math.ceil(t / res) * res
      if (end <= Math.floor(wm / res) * res && end - res < from) from = end - res
    }
    return from
  }

  #setWatermark(k: number, wm: number): void {
    this.#watermarks.set(k, wm)
    if (wm > this.#maxWatermark) this.#maxWatermark = wm
  }
  // The newest watermark of any tier: points after it skip the per-tier check on the hot path.
  #maxWatermark = -Infinity

  /**
   * commitBatch is Appender.commit's body: refuse what cannot be stored, log the rest to the WAL, and
   * once the group commit has written it, put it in the head (as Prometheus's head appender does): a
   * point is never in the head without being in the WAL, so a batch whose write failed leaves nothing
   * behind that would make its retry look like a duplicate. `limited` holds the positions of points
   * the appender refused for a series limit.
   */
  commitBatch(
    ids: Float64Array,
    ts: Float64Array,
    vs: Float64Array,
    n: number,
    limited: readonly number[] = []
  ): Promise<CommitResult> {
    this.#checkOpen()
    const now = this.options.now()
    const horizon = now - this.options.retention.raw
    const ahead = now + this.options.maxAhead
    const wal = this.#wal
    const seq = wal.seq
    const w = this.#walWriter
    // Series records first, each once per segment, so every segment can be replayed on its own.
    for (let i = 0; i < n; i++) {
      const s = this.#byId[ids[i]]
      if (s === undefined || s.walSeq === seq) continue
      s.walSeq = seq
      w.reset()
      w.u8(REC_SERIES)
      w.uvarint(s.id)
      w.string(s.endpoint)
      w.string(s.metric)
      w.string(s.tags)
      w.u8(s.dstype === 'GAUGE' ? 0 : 1)
      w.uvarint(s.step)
      wal.append(w.buf.subarray(0, w.pos))
    }
    // The accepted points, copied: the appender's arrays are reused before the WAL write ends. The
    // copies come from a pool (one set per commit in flight), so a commit allocates nothing here.
    const keep = this.#takeKept(n)
    const keepIds = keep.ids
    const keepTs = keep.ts
    const keepVs = keep.vs
    let kept = 0
    let refused: number[] | null = null
    let why: number[] | null = null
    let stored = 0
    let prevT = 0
    let countAt = 0
    for (let i = 0; i < n; i++) {
      const s = this.#byId[ids[i]]
      if (s === undefined) continue
      const t = ts[i]
      const r = this.#refusal(s, t, horizon, ahead)
      if (r !== ACCEPTED) {
        ;(refused ??= []).push(i)
        ;(why ??= []).push(r)
        if (r === TOO_OLD) this.#counters.tooOld++
        else this.#counters.tooNew++
        continue
      }
      keepIds[kept] = ids[i]
      keepTs[kept] = t
      keepVs[kept] = vs[i]
      kept++
      if (stored === 0) {
        w.reset()
        w.u8(REC_SAMPLES)
        countAt = w.pos
        w.u32(0) // placeholder; rewritten as a fixed-width count below
        prevT = 0
      }
      w.uvarint(s.id)
      w.varint(t - prevT)
      w.f64(vs[i])
      prevT = t
      // Records stay far below the WAL's record size limit: a huge commit becomes several records.
      if (++stored === MAX_SAMPLES_PER_RECORD) {
        this.#appendSamples(countAt, stored)
        stored = 0
      }
    }
    if (stored > 0) this.#appendSamples(countAt, stored)
    const result: CommitResult = {
      appended: 0,
      duplicates: 0,
      outOfOrderInserted: 0,
      tooOld: 0,
      tooNew: 0,
      seriesLimited: limited.length,
      refused:
        limited.length === 0 && refused === null ? [] : refusals(limited, refused ?? [], why ?? []),
    }
    for (const r of result.refused) {
      if (r.code === 'PG_TSDB_TOO_OLD') result.tooOld++
      else if (r.code === 'PG_TSDB_TOO_NEW') result.tooNew++
    }
    // Waiters are resolved in the order they committed, which is the order of their WAL records:
    // the head sees the points in the order replay will.
    return wal.commit().then(
      () => {
        for (let k = 0; k < kept; k++) {
          const s = this.#byId[keepIds[k]]
          // A series deleted since: its points went with it, as replay (points, then the deletion) does.
          if (s === undefined) continue
          const outcome = this.#store(s, keepTs[k], keepVs[k])
          if (outcome === APPENDED) result.appended++
          else if (outcome === DUPLICATE) result.duplicates++
          else result.outOfOrderInserted++
        }
        this.#giveKept(keep)
        this.#maybeScheduleFlush()
        return result
      },
      (err: unknown) => {
        this.#giveKept(keep)
        throw err
      }
    )
  }

  // Column sets for the points of commits in flight, reused (a few: one per concurrent writer).
  #kept: { ids: Float64Array; ts: Float64Array; vs: Float64Array }[] = []

  // Back to the pool, unless it is a huge commit's: those are not kept around.
  #giveKept(k: { ids: Float64Array; ts: Float64Array; vs: Float64Array }): void {
    if (k.ids.length <= 1 << 16 && this.#kept.length < 16) this.#kept.push(k)
  }

  #takeKept(n: number): { ids: Float64Array; ts: Float64Array; vs: Float64Array } {
    const k = this.#kept.pop()
    if (k !== undefined && k.ids.length >= n) return k
    const size = Math.max(n, 1024)
    return { ids: new Float64Array(size), ts: new Float64Array(size), vs: new Float64Array(size) }
  }

  // Writes the count of the samples record in the WAL writer and appends the record to the WAL.
  #appendSamples(countAt: number, count: number): void {
    const w = this.#walWriter
    // The count is a uvarint on replay, written in 4 fixed bytes (up to 2^28) so it can be patched.
    const b = w.buf
    b[countAt] = (count & 0x7f) | 0x80
    b[countAt + 1] = ((count >>> 7) & 0x7f) | 0x80
    b[countAt + 2] = ((count >>> 14) & 0x7f) | 0x80
    b[countAt + 3] = (count >>> 21) & 0x7f
    this.#wal.append(w.buf.subarray(0, w.pos))
  }

  #maybeScheduleFlush(): void {
    const o = this.options
    // Measured from the last flush, so one series lagging hours behind does not make every commit flush,
    // and up to now, so points ahead of the clock do not either (each would call for one).
    const from = Math.max(this.#headMinT, this.#flushedUpTo)
    const to = Math.min(this.#headMaxT, o.now())
    if (this.#headPoints < o.maxHeadPoints && to - from < 1.5 * o.blockDuration) {
      return
    }
    if (this.#flushPending || this.#flushing || o.now() < this.#flushRetryAt) return
    this.#flushPending = true
    setImmediate(() => {
      this.#flushPending = false
      if (!this.#closed) {
        this.flush().catch((err: unknown) =>
          this.options.log('warn', `tsdb flush failed: ${(err as Error).message}`)
        )
      }
    })
  }
  #flushPending = false
  /** A flush is under way: commits applied while it waits for the WAL do not call for another. */
  #flushing = false
  #flushedUpTo = -Infinity
  #lastFlushWall = 0
  #flushBackoff = 0
  #flushRetryAt = -Infinity

  /**
   * flush writes every point in the head to new blocks, one per time window of `maxBlockSpan` it has
   * points in (late points go to the window they belong to), and drops the WAL segments they cover.
   * Points appended meanwhile go to the next segment and the next flush. Rollup buckets that late points
   * changed are recomputed first.
   */
  flush(): Promise<void> {
    return this.#serial(async () => {
      this.#flushing = true
      try {
        await this.#flushHead()
      } finally {
        this.#flushing = false
      }
    })
  }

  async #flushHead(): Promise<void> {
    this.#checkOpen()
    const wal = this.#wal
    // The barrier: every series seals its open chunk here, and replay does the same at this record,
    // so a flush that fails leaves the head exactly as WAL replay will rebuild it.
    wal.append(Uint8Array.of(REC_SEAL_ALL))
    const walSeq = wal.rotate()
    // Points are put in the head once their WAL write is done: wait until every commit logged
    // before the barrier is in the head (or failed), so the segments deleted below hold nothing
    // that this flush leaves out.
    await wal.commit().catch(() => undefined)
    const parts: { s: MemSeries; sealed: SealedChunk[]; late: SealedChunk[] }[] = []
    let points = 0
    for (const s of this.#index.byUid.values()) {
      s.seal()
      if (s.sealed.length === 0 && s.oooSealed.length === 0) continue
      parts.push({ s, sealed: s.sealed.slice(), late: s.oooSealed.slice() })
      for (const c of s.sealed) points += c.n
      for (const c of s.oooSealed) points += c.n
    }
    // From here the head counters cover only points appended after this snapshot.
    const saved = { points: this.#headPoints, min: this.#headMinT, max: this.#headMaxT }
    this.#headPoints = 0
    this.#headMinT = Infinity
    this.#headMaxT = -Infinity
    const written: Block[] = []
    const started = performance.now()
    try {
      // Before the WAL segments go: a crash after the repair replays the late points, which marks
      // their series again, and the repair runs again.
      this.#repairRollups()
      // Re-encoding is the heavy part: done in slices that let the event loop serve pushes and
      // queries meanwhile. The head keeps every point until the blocks are in place.
      const byWindow = new Map<number, BlockSeriesInput[]>()
      for (let i = 0; i < parts.length; i++) {
        const { s, sealed, late } = parts[i]
        const windows = chunkByWindow(
          late.length === 0 ? sealed : [...sealed, ...late],
          late.length > 0,
          this.options.maxBlockSpan,
          this
        )
        for (const [window, chunks] of windows) {
          let inputs = byWindow.get(window)
          if (inputs === undefined) {
            inputs = []
            byWindow.set(window, inputs)
          }
          inputs.push({ ...descOf(s), chunks })
        }
        if ((i & 255) === 255) await new Promise((r) => setImmediate(r))
      }
      // Oldest window first; only the last block claims the WAL segments (see BlockMeta.partial).
      const windows = [...byWindow.keys()].sort((a, b) => a - b)
      for (let w = 0; w < windows.length; w++) {
        const inputs = byWindow.get(windows[w]) as BlockSeriesInput[]
        written.push(this.#writeBlock('raw', inputs, { walSeq, partial: w < windows.length - 1 }))
      }
    } catch (err) {
      // The head keeps every point and its WAL segments stay. Commits do not retry at once: a full
      // disk would have every commit re-encode the head; maintenance and the backoff retry instead.
      for (const b of written) {
        b.close()
        rmSync(b.file, { force: true })
      }
      this.#headPoints += saved.points
      this.#headMinT = Math.min(this.#headMinT, saved.min)
      this.#headMaxT = Math.max(this.#headMaxT, saved.max)
      this.#flushBackoff = Math.min(Math.max(2 * this.#flushBackoff, 1000), 60_000)
      this.#flushRetryAt = this.options.now() + this.#flushBackoff
      this.#flushError = `${(err as Error).message}`
      throw new PeregrineError(
        'PG_TSDB_WAL_WRITE',
        `flush failed: ${(err as Error).message}; the points stay in memory and in the WAL`,
        { cause: err }
      )
    }
    this.#flushBackoff = 0
    this.#flushRetryAt = -Infinity
    this.#flushError = null
    // The flushed chunks leave the head; chunks sealed since the snapshot stay behind them.
    this.#blocks.push(...written)
    for (const { s, sealed, late } of parts) {
      s.sealed.splice(0, sealed.length)
      s.oooSealed.splice(0, late.length)
      for (const block of written) {
        const entry = block.series.get(s.uid)
        if (entry !== undefined) s.inBlocks.push({ block, entry })
      }
    }
    if (written.length > 0) {
      this.#counters.flushes++
      this.options.log(
        'info',
        `tsdb: wrote ${written.map((b) => b.name).join(', ')}: ${parts.length} series, ${points} points, ${written.reduce((a, b) => a + b.bytes, 0)} bytes in ${Math.round(performance.now() - started)} ms`
      )
    }
    // Capped at now: one point from a clock far ahead must not hold the next flush off for days.
    this.#flushedUpTo = Math.max(this.#flushedUpTo, Math.min(saved.max, this.options.now()))
    this.#lastFlushWall = this.options.now()
    await wal.commit()
    wal.removeUpTo(walSeq)
  }
  #flushError: string | null = null

  // Writes one block of `kind` holding `inputs` and opens it; `minT`/`maxT` come from the chunks.
  #writeBlock(
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
    const seq = ++this.#seq
    const file = join(this.options.dir, 'blocks', `${kind}-${String(seq).padStart(8, '0')}.blk`)
    const meta: BlockMeta = {
      kind,
      seq,
      minT,
      maxT,
      walSeq: extra.walSeq ?? 0,
      upTo: extra.upTo ?? maxT,
      points,
      createdAt: this.options.now(),
    }
    if (extra.covers !== undefined) meta.covers = extra.covers
    if (extra.compactedFrom !== undefined) meta.compactedFrom = extra.compactedFrom
    if (extra.partial === true) meta.partial = true
    return writeAndOpen(file, meta, inputs)
  }

  /**
   * compact merges the blocks of one kind that lie in the same time window: `maxBlockSpan` for raw
   * blocks (a day by default, aligned to UTC midnight), `maxBlockSpan × k` for tier r<k> (so a tier
   * block holds about as many buckets as a day of raw points). Blocks overlapping in time, as late
   * points make them, are merged point by point: of two raw points with one timestamp the one written
   * first stays, of two tier buckets the one computed last. Fewer files to open per query, fewer
   * descriptors held. Returns how many blocks it replaced.
   */
  compact(): Promise<number> {
    return this.#serial(() => {
      this.#checkOpen()
      let replaced = 0
      const groups = new Map<string, Block[]>()
      for (const b of this.#blocks) {
        const kind = b.meta.kind
        const span =
          kind === 'raw' ? this.options.maxBlockSpan : this.options.maxBlockSpan * tierOf(kind)
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
        if (group[0].meta.kind === 'raw')
          group.sort((a, b) => byWalOrder({ block: a }, { block: b }))
        else group.sort((a, b) => a.meta.seq - b.meta.seq)
        replaced += this.#merge(group)
      }
      return Promise.resolve(replaced)
    })
  }

  // Merges `run` (in the order its blocks' data was written) into one block that replaces them.
  #merge(run: Block[]): number {
    const kind = run[0].meta.kind
    const raw = kind === 'raw'
    const sources = new Set(run)
    const bySeries = new Map<string, BlockSeriesInput>()
    for (const b of run) {
      for (const [uid, entry] of b.series) {
        // Dead data stays behind: raw entries no live series points to, tier entries deleted since.
        if (raw) {
          const s = this.#index.byUid.get(uid)
          if (s === undefined || !s.inBlocks.some((x) => x.block === b)) continue
        } else if (this.#deletedIn(uid, b)) continue
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
        input.chunks = encodeChunks(cols.ts, cols.vs, 0, cols.n, this)
      } else if (!chunksInOrder(input.chunks)) input.chunks = mergedBucketChunks(input.chunks)
    }
    // What the result claims is what its complete sources claimed (see BlockMeta.partial).
    const claims = run.filter((b) => b.meta.partial !== true)
    const block = this.#writeBlock(kind, [...bySeries.values()], {
      walSeq: Math.max(...run.map((b) => b.meta.walSeq)),
      covers: raw ? Math.max(0, ...run.map(coverageOf)) : undefined,
      upTo: claims.length > 0 ? Math.max(...claims.map((b) => b.meta.upTo)) : undefined,
      partial: !raw && claims.length === 0,
      compactedFrom: run.map((b) => b.meta.seq),
    })
    if (raw) {
      for (const uid of bySeries.keys()) {
        const s = this.#index.byUid.get(uid)
        const entry = block.series.get(uid)
        if (s === undefined || entry === undefined) continue
        s.inBlocks = s.inBlocks.filter((x) => !sources.has(x.block))
        s.inBlocks.push({ block, entry })
        s.inBlocks.sort(byWalOrder)
      }
    }
    this.#blocks = this.#blocks.filter((b) => !sources.has(b))
    this.#blocks.push(block)
    for (const b of run) {
      b.close()
      rmSync(b.file, { force: true })
    }
    this.#counters.compactions++
    this.options.log(
      'info',
      `tsdb: compacted ${run.length} blocks into ${block.name} (${block.bytes} bytes)`
    )
    return run.length
  }

  /**
   * rollup materialises the tiers for raw data older than `rollupAfter`, so it outlives the raw retention.
   * With `force`, it runs even when less than a block's worth of time has passed since the last run.
   */
  rollup(force = false): Promise<void> {
    return this.#serial(() => {
      this.#checkOpen()
      const target = this.options.now() - this.options.rollupAfter
      for (const k of this.options.tiers) {
        const wm = this.#watermarks.get(k) ?? -Infinity
        if (target <= wm) continue
        if (!force && wm !== -Infinity && target - wm < this.options.blockDuration) continue
        this.#rollupTier(k, wm, target)
      }
      return Promise.resolve()
    })
  }

  // Rolls tier k up from watermark wm to target: one block per tier window with buckets in it; only
  // the last claims the new watermark (see BlockMeta.partial).
  #rollupTier(k: number, wm: number, target: number): void {
    const buckets = new Buckets(256)
    const byWindow = new Map<number, BlockSeriesInput[]>()
    const span = k * this.options.maxBlockSpan
    for (const s of this.#index.byUid.values()) {
      const res = k * s.step * 1000
      const from = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
      const to = Math.floor(target / res) * res
      if (to <= from) continue
      this.#bucketsFromRaw(s, res, from, to, buckets.reset())
      addByWindow(byWindow, s, buckets, span)
    }
    const windows = [...byWindow.keys()].sort((a, b) => a - b)
    for (let i = 0; i < windows.length; i++) {
      const last = i === windows.length - 1
      this.#blocks.push(
        this.#writeBlock(`r${k}`, byWindow.get(windows[i]) as BlockSeriesInput[], {
          upTo: target,
          partial: !last,
        })
      )
    }
    if (windows.length > 0) this.#counters.rollups++
    this.#setWatermark(k, target)
  }

  // Appends to `out` the buckets of resolution res ending in (from, to], computed from raw points.
  #bucketsFromRaw(s: MemSeries, res: number, from: number, to: number, out: Buckets): void {
    const derive = s.dstype === 'DERIVE'
    // A DERIVE rate needs the point before; a bucket needs every point after its start.
    const cols = this.#rawColumns(s, from === -Infinity ? -Infinity : from - res, to)
    let n = cols.n
    if (derive) n = toRates(cols.ts, cols.vs, n, s.step)
    let lo = 0
    while (lo < n && cols.ts[lo] <= from) lo++
    let hi = n
    while (hi > lo && cols.ts[hi - 1] > to) hi--
    consolidate(cols.ts.subarray(lo), cols.vs.subarray(lo), hi - lo, res, out)
  }

  // Recomputes, from raw data, the rolled-up buckets that late points changed (the dirty series), and
  // writes them to new tier blocks that take precedence over the old buckets (later computation wins).
  #repairRollups(): void {
    if (this.#dirty.size === 0) return
    const work = this.#dirty
    this.#dirty = new Map()
    const written: Block[] = []
    try {
      const buckets = new Buckets(256)
      for (const k of this.options.tiers) {
        const wm = this.#watermarks.get(k) ?? -Infinity
        if (wm === -Infinity) continue
        const span = k * this.options.maxBlockSpan
        const byWindow = new Map<number, BlockSeriesInput[]>()
        for (const [s, late] of work) {
          if (this.#byId[s.id] !== s) continue // deleted since
          const res = k * s.step * 1000
          const stored = Math.floor(wm / res) * res
          const first = Math.ceil(late / res) * res
          if (first > stored) continue
          this.#bucketsFromRaw(s, res, first - res, stored, buckets.reset())
          addByWindow(byWindow, s, buckets, span)
        }
        for (const inputs of byWindow.values()) {
          written.push(this.#writeBlock(`r${k}`, inputs, { upTo: wm }))
        }
      }
    } catch (err) {
      for (const b of written) {
        b.close()
        rmSync(b.file, { force: true })
      }
      for (const [s, late] of work) {
        const was = this.#dirty.get(s)
        if (was === undefined || late < was) this.#dirty.set(s, late)
      }
      throw err
    }
    this.#blocks.push(...written)
    if (written.length > 0) {
      this.options.log(
        'info',
        `tsdb: recomputed rollups of ${work.size} series changed by late points`
      )
    }
  }

  /**
   * applyRetention deletes blocks past their tier's retention. A raw block goes only once every tier has
   * been rolled up past its end, so no point is lost before it lives on in the tiers.
   */
  applyRetention(): Promise<void> {
    return this.#serial(() => {
      this.#checkOpen()
      const now = this.options.now()
      const keep: Block[] = []
      const gone: Block[] = []
      for (const b of this.#blocks) {
        const limit = this.options.retention[b.meta.kind] ?? Infinity
        // Raw blocks stay while a rollup repair is pending: it recomputes buckets from them.
        const expired =
          b.meta.maxT < now - limit &&
          (b.meta.kind !== 'raw' || (this.#dirty.size === 0 && this.#rolledUpBlock(b)))
        if (expired) gone.push(b)
        else keep.push(b)
      }
      this.#blocks = keep
      for (const b of gone) {
        b.close()
        rmSync(b.file, { force: true })
        this.#counters.blocksDeleted++
        for (const uid of b.series.keys()) {
          const s = this.#index.byUid.get(uid)
          if (s === undefined) continue
          s.inBlocks = s.inBlocks.filter((x) => x.block !== b)
          // A series with nothing left anywhere leaves the index, as Prometheus' head GC does.
          const empty = s.inBlocks.length === 0 && !s.hasHead()
          if (empty && !keep.some((k) => k.series.has(uid))) this.#forget(s)
        }
      }
      this.#pruneTombstones()
      return Promise.resolve()
    })
  }

  // Whether every point of raw block b lies in a bucket each tier has materialised (per step in b).
  #rolledUpBlock(b: Block): boolean {
    const steps = new Set<number>()
    for (const e of b.series.values()) steps.add(e.step)
    for (const k of this.options.tiers) {
      const wm = this.#watermarks.get(k) ?? -Infinity
      for (const step of steps) {
        const res = k * step * 1000
        if (Math.ceil(b.meta.maxT / res) * res > Math.floor(wm / res) * res) return false
      }
    }
    return true
  }

  /** maintain runs what the background timer runs: flush when due, rollup, retention. */
  async maintain(): Promise<void> {
    if (this.#closed) return
    const o = this.options
    const steps: [string, () => Promise<unknown>][] = [
      ['compact', () => this.compact()],
      ['rollup', () => this.rollup()],
      // Retention runs even when a flush failed: on a full disk, expired blocks are the space to free.
      ['retention', () => this.applyRetention()],
    ]
    const flushDue =
      this.#headPoints > 0 &&
      o.now() >= this.#flushRetryAt &&
      (this.#headPoints >= o.maxHeadPoints || o.now() - this.#lastFlushWall >= o.blockDuration)
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
    return this.#serial(async () => {
      this.#checkOpen()
      const victims: MemSeries[] = []
      for (const key of keys) victims.push(...this.#index.variants(key))
      if (victims.length === 0) return 0
      const w = new ByteWriter()
      for (const s of victims) {
        this.#tombstones.push({ uid: s.uid, seq: this.#seq })
        w.reset()
        w.u8(REC_DELETE)
        w.string(s.uid)
        this.#wal.append(w.take())
        this.#forget(s)
        this.#counters.seriesDeleted++
      }
      this.#writeTombstones()
      await this.#wal.commit()
      return victims.length
    })
  }

  #forget(s: MemSeries): void {
    this.#dirty.delete(s)
    this.#headPoints -= s.headPoints()
    s.dropHead()
    s.inBlocks = []
    this.#index.remove(s)
    this.#byId[s.id] = undefined
  }

  #writeTombstones(): void {
    const file = join(this.options.dir, 'tombstones.json')
    writeFileSync(file + '.tmp', JSON.stringify(this.#tombstones))
    const fd = openSync(file + '.tmp', 'r+')
    try {
      // The deletion is acknowledged only once it is on disk.
      fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(file + '.tmp', file)
    syncDir(this.options.dir)
  }

  // Whether series uid was deleted after block b was written (so b's data of it is dead).
  #deletedIn(uid: string, b: Block): boolean {
    for (const t of this.#tombstones) if (t.uid === uid && b.meta.seq <= t.seq) return true
    return false
  }

  #pruneTombstones(): void {
    let oldest = Infinity
    for (const b of this.#blocks) oldest = Math.min(oldest, b.meta.seq)
    const before = this.#tombstones.length
    this.#tombstones = this.#tombstones.filter((t) => t.seq >= oldest)
    if (this.#tombstones.length !== before) this.#writeTombstones()
  }

  // Raw points of s with from < t ≤ to, from blocks then the head, in the shared column buffer.
  #rawColumns(s: MemSeries, from: number, to: number): Columns {
    const out = this.#columns
    out.n = 0
    // Oldest writes first (blocks in flush order, then the head, late points last), so that merging
    // keeps the first value written at a timestamp.
    for (const { block, entry } of s.inBlocks) {
      for (const c of entry.chunks) {
        if (c.maxT <= from || c.minT > to) continue
        if (this.#chunkBuf.length < c.len) this.#chunkBuf = new Uint8Array(c.len * 2)
        this.#appendChunk(block.read(c, this.#chunkBuf), c.minT, from, to)
      }
    }
    for (const c of s.sealed) {
      if (c.maxT > from && c.minT <= to) this.#appendChunk(c.bytes, c.minT, from, to)
    }
    this.#appendRange(s.ts, s.vs, s.n, from, to)
    for (const c of s.oooSealed) {
      if (c.maxT > from && c.minT <= to) this.#appendChunk(c.bytes, c.minT, from, to)
    }
    this.#appendRange(s.oooTs, s.oooVs, s.oooN, from, to)
    mergeFirstWins(out)
    return out
  }

  #appendChunk(bytes: Uint8Array, minT: number, from: number, to: number): void {
    const cols = decodeChunk(bytes, minT, this.#scratch)
    this.#scratch = cols
    this.#appendRange(cols.ts, cols.vs, cols.n, from, to)
  }
  #scratch: Columns = { ts: new Float64Array(1024), vs: new Float64Array(1024), n: 0 }

  #appendRange(ts: Float64Array, vs: Float64Array, n: number, from: number, to: number): void {
    const out = this.#columns
    let lo = 0
    while (lo < n && ts[lo] <= from) lo++
    let hi = n
    while (hi > lo && ts[hi - 1] > to) hi--
    if (hi <= lo) return
    const need = out.n + hi - lo
    if (out.ts.length < need) {
      const size = Math.max(need, out.ts.length * 2)
      const nts = new Float64Array(size)
      const nvs = new Float64Array(size)
      nts.set(out.ts.subarray(0, out.n))
      nvs.set(out.vs.subarray(0, out.n))
      out.ts = nts
      out.vs = nvs
    }
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
  query(series: string | SeriesDesc, opts: QueryOptions): QueryResult | null {
    this.#checkOpen()
    const s =
      typeof series === 'string' ? this.#index.byKey(series) : this.#index.byUid.get(uidOf(series))
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
    const k = this.#chooseTier(s, opts)
    if (k === 1) {
      const from = opts.start - 1 - (s.dstype === 'DERIVE' ? 2 * s.step * 1000 : 0)
      const cols = this.#rawColumns(s, from, opts.end)
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
    const buckets = this.#tierBuckets(s, k, res, opts.start, opts.end)
    const ts = new Float64Array(buckets.n)
    const vs = new Float64Array(buckets.n)
    for (let i = 0; i < buckets.n; i++) {
      ts[i] = buckets.end[i]
      vs[i] = buckets.value(i, cf)
    }
    return { dstype: s.dstype, step: k * s.step, tier: `r${k}`, ts, vs, n: buckets.n }
  }

  // 1 for raw, else the tier's steps per bucket.
  #chooseTier(s: MemSeries, opts: QueryOptions): number {
    const now = this.options.now()
    const tiers = [1, ...this.options.tiers]
    const covering = tiers.filter((k) => {
      const kind = k === 1 ? 'raw' : `r${k}`
      return opts.start >= now - (this.options.retention[kind] ?? Infinity)
    })
    if (covering.length === 0) return tiers[tiers.length - 1]
    if (opts.step === undefined || opts.step <= s.step) return covering[0]
    let best = covering[0]
    for (const k of covering) if (k * s.step <= opts.step) best = k
    return best
  }

  // Buckets of resolution res overlapping [start, end]: from tier blocks up to the watermark, then from raw.
  #tierBuckets(s: MemSeries, k: number, res: number, start: number, end: number): Buckets {
    const out = new Buckets(64)
    const first = Math.ceil(start / res) * res
    const last = Math.ceil(end / res) * res
    const wm = this.#watermarks.get(k) ?? -Infinity
    let stored = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
    // Buckets late points changed are read from raw data until the repair has rewritten them.
    const late = this.#dirty.get(s)
    if (late !== undefined) stored = Math.min(stored, Math.ceil(late / res) * res - res)
    const kind = `r${k}`
    if (stored >= first) {
      // In the order they were written: a repair's bucket replaces the one computed before it.
      const blocks = this.#blocks.filter((b) => b.meta.kind === kind)
      blocks.sort((a, b) => a.meta.seq - b.meta.seq)
      const tmp = new Buckets(64)
      for (const b of blocks) {
        if (b.meta.maxT < first || b.meta.minT > last) continue
        const entry = b.series.get(s.uid)
        if (entry === undefined || this.#deletedIn(s.uid, b)) continue
        for (const c of entry.chunks) {
          if (c.maxT < first || c.minT > last) continue
          decodeBuckets(b.read(c), c.minT, tmp.reset())
          for (let i = 0; i < tmp.n; i++) {
            const e = tmp.end[i]
            if (e < first || e > last || e > stored) continue
            out.push(e, tmp.count[i], tmp.sum[i], tmp.min[i], tmp.max[i], tmp.last[i])
          }
        }
      }
      mergeLastWins(out)
    }
    if (last > stored) this.#bucketsFromRaw(s, res, Math.max(stored, first - res), last, out)
    return out
  }

  /** seriesInfo returns the dstype and step of falcon key `endpoint/counter` (the variant written last). */
  seriesInfo(key: string): { dstype: string; step: number } | null {
    this.#checkOpen()
    const s = this.#index.byKey(key)
    return s === undefined ? null : { dstype: s.dstype, step: s.step }
  }

  /** last returns the newest raw point and the one before it (for falcon's Graph.Last), or null. */
  last(key: string): { dstype: string; step: number; t: number[]; v: number[] } | null {
    this.#checkOpen()
    const s = this.#index.byKey(key)
    if (s === undefined || s.maxT === -Infinity) return null
    const cols = this.#rawColumns(s, s.maxT - 2 * s.step * 1000 - 1, s.maxT)
    const from = Math.max(0, cols.n - 2)
    return {
      dstype: s.dstype,
      step: s.step,
      t: Array.from(cols.ts.subarray(from, cols.n)),
      v: Array.from(cols.vs.subarray(from, cols.n)),
    }
  }

  /** endpoints lists endpoint names matching every term (regex, else substring) and tags. */
  endpoints(terms: readonly string[] = [], tags: readonly string[] = [], limit?: number): string[] {
    return this.#index.endpoints(terms, tags, limit)
  }

  /** counters lists an endpoint's counters matching every term (`!term` excludes). */
  counters(endpoint: string, terms: readonly string[] = [], limit?: number): CounterInfo[] {
    return this.#index.counters(endpoint, terms, limit)
  }

  /** select returns the descriptors of the series matching Prometheus-style label matchers. */
  select(matchers: readonly Matcher[]): (SeriesDesc & { key: string })[] {
    return this.#index.select(matchers).map((s) => ({ ...descOf(s), key: s.key }))
  }

  /** labelValues lists the values of a label (`__name__`, `endpoint` or a tag key). */
  labelValues(name: string): string[] {
    return this.#index.labelValues(name)
  }

  /**
   * analyze reports, per series, the points and chunk bytes it has in raw blocks (head excluded), as
   * `promtool tsdb analyze` does: where the bytes go.
   */
  analyze(): { key: string; dstype: string; step: number; points: number; bytes: number }[] {
    this.#checkOpen()
    const out = []
    for (const s of this.#index.byUid.values()) {
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
    const problems: string[] = []
    const wal = this.#wal.failure
    if (wal !== null) problems.push(wal)
    if (this.#flushError !== null) {
      problems.push(
        `flushing the head to a block fails (${this.#flushError}); retried with backoff`
      )
    }
    return { ok: problems.length === 0, problems }
  }

  /** stats reports counters, head size, blocks per tier and disk usage. */
  stats(): DbStats {
    const blocks: Record<string, number> = {}
    let blockBytes = 0
    for (const b of this.#blocks) {
      blocks[b.meta.kind] = (blocks[b.meta.kind] ?? 0) + 1
      blockBytes += b.bytes
    }
    const walBytes = dirBytes(join(this.options.dir, 'wal'))
    const other = dirBytes(this.options.dir, false)
    return {
      series: this.#index.size,
      headPoints: this.#headPoints,
      blocks,
      diskBytes: { wal: walBytes, blocks: blockBytes, total: walBytes + blockBytes + other },
      ...this.#counters,
      walBytesWritten: this.#wal.bytesWritten,
      walGroupCommits: this.#wal.groupCommits,
      repairs: [...this.#repairs],
    }
  }

  /**
   * close waits for pending commits, writes the head to a block (so the next open replays nothing) unless
   * `flush` is false, and releases the directory.
   */
  async close(opts: { flush?: boolean } = {}): Promise<void> {
    if (this.#closed) return
    if (this.#timer !== null) clearInterval(this.#timer)
    if (opts.flush !== false) {
      await this.flush().catch((err: unknown) =>
        this.options.log(
          'warn',
          `tsdb: flush on close failed (${(err as Error).message}); the WAL keeps every point, replayed on next open`
        )
      )
    } else await this.#busy.catch(() => undefined)
    this.#closed = true
    await this.#wal.close()
    for (const b of this.#blocks) b.close()
    rmSync(this.#lockFile, { force: true })
    OPEN_DIRS.delete(resolve(this.options.dir))
  }

  #checkOpen(): void {
    if (this.#closed)
      throw new PeregrineError('PG_TSDB_CLOSED', `database ${this.options.dir} is closed`)
  }

  // Runs flush, rollup, retention and deletion one at a time.
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn)
    this.#busy = run.catch(() => undefined)
    return run
  }

  /** encodeScratch is the writer block chunks are encoded with; one per database. */
  readonly encodeScratch = new ByteWriter(1 << 14)
}

// Decodes chunks (given oldest writes first) into one column set in time order, a timestamp once (the
// first written wins).
function mergedColumns(chunks: readonly { minT: number; n: number; bytes: Uint8Array }[]): Columns {
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

// Encodes points (in time order) as block chunks of at most BLOCK_CHUNK_POINTS: few chunk headers, good
// packing.
function encodeChunks(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  db: Db
): SealedChunk[] {
  // If order ever broke here, writing the chunks would corrupt the block.
  for (let i = from + 1; i < to; i++) {
    if (!(ts[i] > ts[i - 1]))
      throw new Error(`BUG: points out of order at ${ts[i]} while re-chunking`)
  }
  const out: SealedChunk[] = []
  const w = db.encodeScratch
  for (let i = from; i < to; i += BLOCK_CHUNK_POINTS) {
    const hi = Math.min(to, i + BLOCK_CHUNK_POINTS)
    w.reset()
    encodeChunk(w, ts.subarray(i, hi), vs.subarray(i, hi), hi - i)
    out.push({ minT: ts[i], maxT: ts[hi - 1], n: hi - i, bytes: w.take() })
  }
  return out
}

// A series' head chunks (in-order ones, then late ones; oldest writes first) merged and split into
// block chunks per time window of `span` ms (window w holds [w·span, (w+1)·span)).
function chunkByWindow(
  chunks: SealedChunk[],
  late: boolean,
  span: number,
  db: Db
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
    out.set(window, encodeChunks(ts, vs, from, to, db))
    from = to
  }
  return out
}

// Writes a block and opens it; if either fails the file is removed, so a retry cannot leave two copies.
function writeAndOpen(file: string, meta: BlockMeta, series: Iterable<BlockSeriesInput>): Block {
  try {
    writeBlock(file, meta, series)
    return Block.open(file, uidOf).block
  } catch (err) {
    rmSync(file, { force: true })
    throw err
  }
}

// Adds a series' buckets to the tier blocks being written, split by tier window of `span` ms.
function addByWindow(
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

// The WAL segments a raw block claims to hold (every segment numbered ≤ this): see BlockMeta.partial.
function coverageOf(b: Block): number {
  return b.meta.covers ?? (b.meta.partial === true ? 0 : b.meta.walSeq)
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

// Buckets [from, to) as rollup chunks of at most BLOCK_CHUNK_POINTS.
function encodeBucketChunks(b: Buckets, from: number, to: number): SealedChunk[] {
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

// Raw blocks in the order their data was flushed: walSeq grows with every flush, and a compacted block
// carries the largest walSeq of its (contiguous) sources.
function byWalOrder(a: { block: Block }, b: { block: Block }): number {
  const x = a.block.meta
  const y = b.block.meta
  // Blocks of one flush (one per window), or a compacted window beside the next window's block of the
  // same flush, share a walSeq and do not overlap: time order then, so a read needs no merge.
  return x.walSeq - y.walSeq || x.minT - y.minT || x.seq - y.seq
}

function descOf(s: SeriesDesc): SeriesDesc {
  return { endpoint: s.endpoint, metric: s.metric, tags: s.tags, dstype: s.dstype, step: s.step }
}

function seqOfName(name: string): number {
  return parseInt(name.slice(name.indexOf('-') + 1), 10)
}

function tierOf(kind: string): number {
  return parseInt(kind.slice(1), 10)
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

function validateOptions(o: TsdbOptions): void {
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
