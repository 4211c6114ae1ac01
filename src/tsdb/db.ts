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
import {
  APPENDED,
  DUPLICATE,
  MemSeries,
  OUT_OF_ORDER_DROPPED,
  OUT_OF_ORDER_INSERTED,
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
}

/** SeriesRef is a series' number for this process; `Appender.append` returns it for reuse. */
export type SeriesRef = number

/** CommitResult counts what a commit did with its points. */
export interface CommitResult {
  appended: number
  duplicates: number
  outOfOrderInserted: number
  outOfOrderDropped: number
  tooOld: number
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
  outOfOrderDropped: number
  tooOld: number
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

/**
 * Appender collects points and writes them with `commit()`, which resolves only after the batch is in the
 * write-ahead log (one write and one sync shared with every concurrent commit). Points are visible to
 * queries from the moment `commit()` is called.
 */
export class Appender {
  readonly #db: Db
  #ids = new Float64Array(1024)
  #ts = new Float64Array(1024)
  #vs = new Float64Array(1024)
  #n = 0

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * append adds a point to series `ref` (0 when unknown: then `desc` finds or creates the series) and
   * returns the series' ref, to pass next time. `t` is ms, an integer.
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
      id = this.#db.seriesFor(desc).id
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
    this.#n = 0
    return this.#db.commitBatch(this.#ids, this.#ts, this.#vs, n)
  }

  /** rollback forgets the points appended since the last commit. */
  rollback(): void {
    this.#n = 0
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
    outOfOrderDropped: 0,
    tooOld: 0,
    flushes: 0,
    compactions: 0,
    rollups: 0,
    blocksDeleted: 0,
    seriesDeleted: 0,
  }
  readonly #repairs: string[] = []
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
      if (!raw) {
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
      if (b.meta.kind === 'raw') covered = Math.max(covered, b.meta.walSeq)
    let refs = new Map<number, MemSeries>()
    let refSeq = -1
    const r = new ByteReader(new Uint8Array(0))
    const now = this.options.now()
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
            this.#applyPoint(s, t, v, now, false)
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

  /** appender returns a new Appender; each writer keeps its own. */
  appender(): Appender {
    this.#checkOpen()
    return new Appender(this)
  }

  // Applies one point to the head and counts the outcome; returns true when it was stored. A live point
  // (not a replayed one) in a bucket the tiers already hold is too old: the tiers would never see it.
  #applyPoint(s: MemSeries, t: number, v: number, now: number, live: boolean): boolean {
    if (
      t < now - this.options.retention.raw ||
      (live && t <= this.#maxWatermark && this.#rolledUp(s, t))
    ) {
      this.#counters.tooOld++
      return false
    }
    const outcome = s.append(t, v)
    if (outcome === APPENDED || outcome === OUT_OF_ORDER_INSERTED) {
      if (outcome === APPENDED) this.#counters.appended++
      else this.#counters.outOfOrderInserted++
      this.#headPoints++
      if (t < this.#headMinT) this.#headMinT = t
      if (t > this.#headMaxT) this.#headMaxT = t
      return true
    }
    if (outcome === DUPLICATE) this.#counters.duplicates++
    else if (outcome === OUT_OF_ORDER_DROPPED) this.#counters.outOfOrderDropped++
    return false
  }

  // Whether every tier has materialised the bucket holding t for series s (then no tier would see t).
  #rolledUp(s: MemSeries, t: number): boolean {
    for (const k of this.options.tiers) {
      const wm = this.#watermarks.get(k) ?? -Infinity
      const res = k * s.step * 1000
      if (Math.ceil(t / res) * res > Math.floor(wm / res) * res) return false
    }
    return true
  }

  #setWatermark(k: number, wm: number): void {
    this.#watermarks.set(k, wm)
    if (wm > this.#maxWatermark) this.#maxWatermark = wm
  }
  // The newest watermark of any tier: points after it skip the per-tier check on the hot path.
  #maxWatermark = -Infinity

  /** commitBatch is Appender.commit's body: apply to the head, log to the WAL, await the group commit. */
  commitBatch(
    ids: Float64Array,
    ts: Float64Array,
    vs: Float64Array,
    n: number
  ): Promise<CommitResult> {
    this.#checkOpen()
    if (n >= 2 ** 28) throw new Error(`BUG: one commit of ${n} points; commit in smaller batches`)
    const c = this.#counters
    const before = [c.appended, c.duplicates, c.outOfOrderInserted, c.outOfOrderDropped, c.tooOld]
    const now = this.options.now()
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
    w.reset()
    w.u8(REC_SAMPLES)
    const countAt = w.pos
    w.u32(0) // placeholder; rewritten as a fixed-width count below
    let stored = 0
    let prevT = 0
    for (let i = 0; i < n; i++) {
      const s = this.#byId[ids[i]]
      if (s === undefined) continue
      const t = ts[i]
      if (!this.#applyPoint(s, t, vs[i], now, true)) continue
      w.uvarint(s.id)
      w.varint(t - prevT)
      w.f64(vs[i])
      prevT = t
      stored++
    }
    const result: CommitResult = {
      appended: c.appended - before[0],
      duplicates: c.duplicates - before[1],
      outOfOrderInserted: c.outOfOrderInserted - before[2],
      outOfOrderDropped: c.outOfOrderDropped - before[3],
      tooOld: c.tooOld - before[4],
    }
    if (stored > 0) {
      // The count is a uvarint on replay; a 4-byte varint holds up to 2^28 points per record.
      const b = w.buf
      b[countAt] = (stored & 0x7f) | 0x80
      b[countAt + 1] = ((stored >>> 7) & 0x7f) | 0x80
      b[countAt + 2] = ((stored >>> 14) & 0x7f) | 0x80
      b[countAt + 3] = (stored >>> 21) & 0x7f
      wal.append(w.buf.subarray(0, w.pos))
    }
    this.#maybeScheduleFlush()
    return wal.commit().then(() => result)
  }

  #maybeScheduleFlush(): void {
    const o = this.options
    // Measured from the last flush, so one series lagging hours behind does not make every commit flush.
    const from = Math.max(this.#headMinT, this.#flushedUpTo)
    if (this.#headPoints < o.maxHeadPoints && this.#headMaxT - from < 1.5 * o.blockDuration) {
      return
    }
    if (this.#flushPending || o.now() < this.#flushRetryAt) return
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
  #flushedUpTo = -Infinity
  #lastFlushWall = 0
  #flushBackoff = 0
  #flushRetryAt = -Infinity

  /**
   * flush writes every point in the head to a new block and drops the WAL segments it covers. Points
   * appended meanwhile go to the next segment and the next block.
   */
  flush(): Promise<void> {
    return this.#serial(async () => {
      this.#checkOpen()
      const wal = this.#wal
      // The barrier: every series seals its open chunk here, and replay does the same at this record,
      // so a flush that fails leaves the head exactly as WAL replay will rebuild it.
      wal.append(Uint8Array.of(REC_SEAL_ALL))
      const walSeq = wal.rotate()
      const parts: { s: MemSeries; chunks: SealedChunk[] }[] = []
      let points = 0
      for (const s of this.#index.byUid.values()) {
        s.seal()
        if (s.sealed.length === 0) continue
        parts.push({ s, chunks: s.sealed.slice() })
        for (const c of s.sealed) points += c.n
      }
      // From here the head counters cover only points appended after this snapshot.
      const saved = { points: this.#headPoints, min: this.#headMinT, max: this.#headMaxT }
      this.#headPoints = 0
      this.#headMinT = Infinity
      this.#headMaxT = -Infinity
      if (parts.length > 0) {
        const seq = ++this.#seq
        const file = join(this.options.dir, 'blocks', `raw-${String(seq).padStart(8, '0')}.blk`)
        const started = performance.now()
        let block: Block
        try {
          // Re-encoding is the heavy part: done in slices that let the event loop serve pushes and
          // queries meanwhile. The head keeps every point until the block is in place.
          const inputs: BlockSeriesInput[] = []
          let minT = Infinity
          let maxT = -Infinity
          for (let i = 0; i < parts.length; i++) {
            const chunks = rechunk(parts[i].chunks, this)
            for (const c of chunks) {
              if (c.minT < minT) minT = c.minT
              if (c.maxT > maxT) maxT = c.maxT
            }
            inputs.push({ ...descOf(parts[i].s), chunks })
            if ((i & 255) === 255) await new Promise((r) => setImmediate(r))
          }
          const meta: BlockMeta = {
            kind: 'raw',
            seq,
            minT,
            maxT,
            walSeq,
            upTo: maxT,
            points,
            createdAt: this.options.now(),
          }
          block = writeAndOpen(file, meta, inputs)
        } catch (err) {
          // The head keeps every point and its WAL segments stay. Commits do not retry at once: a full
          // disk would have every commit re-encode the head; maintenance and the backoff retry instead.
          this.#headPoints += saved.points
          this.#headMinT = Math.min(this.#headMinT, saved.min)
          this.#headMaxT = Math.max(this.#headMaxT, saved.max)
          this.#flushBackoff = Math.min(Math.max(2 * this.#flushBackoff, 1000), 60_000)
          this.#flushRetryAt = this.options.now() + this.#flushBackoff
          throw new PeregrineError(
            'PG_TSDB_WAL_WRITE',
            `flush to ${file} failed: ${(err as Error).message}; the points stay in memory and in the WAL`,
            { cause: err }
          )
        }
        this.#flushBackoff = 0
        this.#flushRetryAt = -Infinity
        // The flushed chunks leave the head; chunks sealed since the snapshot stay behind them.
        this.#blocks.push(block)
        for (const { s, chunks } of parts) {
          s.sealed.splice(0, chunks.length)
          const entry = block.series.get(s.uid)
          if (entry !== undefined) s.inBlocks.push({ block, entry })
        }
        this.#counters.flushes++
        this.options.log(
          'info',
          `tsdb: wrote ${block.name}: ${parts.length} series, ${points} points, ${block.bytes} bytes in ${Math.round(performance.now() - started)} ms`
        )
      }
      // Capped at now: one point from a clock far ahead must not hold the next flush off for days.
      this.#flushedUpTo = Math.max(this.#flushedUpTo, Math.min(saved.max, this.options.now()))
      this.#lastFlushWall = this.options.now()
      await wal.commit()
      wal.removeUpTo(walSeq)
    })
  }

  /**
   * compact merges runs of adjacent blocks of one kind while the result spans at most `maxBlockSpan` (raw)
   * or `maxBlockSpan × k` (tier r<k>, so a tier block holds about as many buckets as a day of raw points).
   * Raw series are re-chunked: fewer chunk headers, better packing. Fewer files to open per query, fewer
   * descriptors held. Returns how many blocks it replaced.
   */
  compact(): Promise<number> {
    return this.#serial(() => {
      this.#checkOpen()
      let replaced = 0
      const kinds = new Set(this.#blocks.map((b) => b.meta.kind))
      for (const kind of kinds) {
        const blocks = this.#blocks.filter((b) => b.meta.kind === kind)
        // Raw blocks in flush order: a run may overlap in time across series (one lagging behind the
        // others), never within one series, whose points are always newer than anything flushed before.
        // Tier blocks in the order of the watermark they were rolled up to.
        if (kind === 'raw') blocks.sort((a, b) => byWalOrder({ block: a }, { block: b }))
        else blocks.sort((a, b) => a.meta.upTo - b.meta.upTo)
        const span =
          kind === 'raw' ? this.options.maxBlockSpan : this.options.maxBlockSpan * tierOf(kind)
        let run: Block[] = []
        let runMin = Infinity
        let runMax = -Infinity
        for (const b of blocks) {
          const min = Math.min(runMin, b.meta.minT)
          const max = Math.max(runMax, b.meta.maxT)
          if (run.length > 0 && max - min > span) {
            if (run.length > 1) replaced += this.#merge(run)
            run = []
            runMin = b.meta.minT
            runMax = b.meta.maxT
          } else {
            runMin = min
            runMax = max
          }
          run.push(b)
        }
        if (run.length > 1) replaced += this.#merge(run)
      }
      return Promise.resolve(replaced)
    })
  }

  #merge(run: Block[]): number {
    const kind = run[0].meta.kind
    const raw = kind === 'raw'
    const sources = new Set(run)
    const bySeries = new Map<string, BlockSeriesInput>()
    let points = 0
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
          points += c.n
        }
      }
    }
    if (raw) for (const input of bySeries.values()) input.chunks = rechunk(input.chunks, this)
    const seq = ++this.#seq
    const file = join(this.options.dir, 'blocks', `${kind}-${String(seq).padStart(8, '0')}.blk`)
    const meta: BlockMeta = {
      kind,
      seq,
      minT: Math.min(...run.map((b) => b.meta.minT)),
      maxT: Math.max(...run.map((b) => b.meta.maxT)),
      walSeq: Math.max(...run.map((b) => b.meta.walSeq)),
      upTo: Math.max(...run.map((b) => b.meta.upTo)),
      compactedFrom: run.map((b) => b.meta.seq),
      points,
      createdAt: this.options.now(),
    }
    const block = writeAndOpen(file, meta, bySeries.values())
    if (raw) {
      for (const uid of bySeries.keys()) {
        const s = this.#index.byUid.get(uid)
        const entry = block.series.get(uid)
        if (s === undefined || entry === undefined) continue
        const at = s.inBlocks.findIndex((x) => sources.has(x.block))
        const rest = s.inBlocks.filter((x) => !sources.has(x.block))
        rest.splice(at, 0, { block, entry })
        s.inBlocks = rest
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

  #rollupTier(k: number, wm: number, target: number): void {
    const inputs: BlockSeriesInput[] = []
    const buckets = new Buckets(256)
    const w = new ByteWriter(4096)
    let minT = Infinity
    let maxT = -Infinity
    let points = 0
    for (const s of this.#index.byUid.values()) {
      const res = k * s.step * 1000
      const from = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
      const to = Math.floor(target / res) * res
      if (to <= from) continue
      const cols = this.#rawColumns(s, from === -Infinity ? -Infinity : from - res, to)
      let n = cols.n
      if (s.dstype === 'DERIVE') n = toRates(cols.ts, cols.vs, n, s.step)
      consolidate(cols.ts, cols.vs, n, res, buckets.reset())
      let lo = 0
      while (lo < buckets.n && buckets.end[lo] <= from) lo++
      if (lo === buckets.n) continue
      const chunks = []
      for (let i = lo; i < buckets.n; i += BLOCK_CHUNK_POINTS) {
        const hi = Math.min(buckets.n, i + BLOCK_CHUNK_POINTS)
        w.reset()
        encodeBuckets(w, buckets, i, hi)
        chunks.push({ minT: buckets.end[i], maxT: buckets.end[hi - 1], n: hi - i, bytes: w.take() })
        points += hi - i
        if (buckets.end[i] < minT) minT = buckets.end[i]
        if (buckets.end[hi - 1] > maxT) maxT = buckets.end[hi - 1]
      }
      inputs.push({ ...descOf(s), chunks })
    }
    if (inputs.length > 0) {
      const seq = ++this.#seq
      const kind: BlockKind = `r${k}`
      const file = join(this.options.dir, 'blocks', `${kind}-${String(seq).padStart(8, '0')}.blk`)
      const meta: BlockMeta = {
        kind,
        seq,
        minT,
        maxT,
        walSeq: 0,
        upTo: target,
        points,
        createdAt: this.options.now(),
      }
      this.#blocks.push(writeAndOpen(file, meta, inputs))
      this.#counters.rollups++
    }
    this.#setWatermark(k, target)
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
        const expired =
          b.meta.maxT < now - limit && (b.meta.kind !== 'raw' || this.#rolledUpBlock(b))
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
          const empty = s.inBlocks.length === 0 && s.n === 0 && s.sealed.length === 0
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
    const scratch = this.#scratch
    for (const { block, entry } of s.inBlocks) {
      for (const c of entry.chunks) {
        if (c.maxT <= from || c.minT > to) continue
        if (this.#chunkBuf.length < c.len) this.#chunkBuf = new Uint8Array(c.len * 2)
        const cols = decodeChunk(block.read(c, this.#chunkBuf), c.minT, scratch)
        this.#scratch = cols
        this.#appendRange(cols.ts, cols.vs, cols.n, from, to)
      }
    }
    for (const c of s.sealed) {
      if (c.maxT <= from || c.minT > to) continue
      const cols = decodeChunk(c.bytes, c.minT, scratch)
      this.#scratch = cols
      this.#appendRange(cols.ts, cols.vs, cols.n, from, to)
    }
    this.#appendRange(s.ts, s.vs, s.n, from, to)
    return this.#columns
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
    const stored = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
    const kind = `r${k}`
    if (stored >= first) {
      const blocks = this.#blocks.filter((b) => b.meta.kind === kind)
      blocks.sort((a, b) => a.meta.upTo - b.meta.upTo)
      for (const b of blocks) {
        if (b.meta.maxT < first || b.meta.minT > last) continue
        const entry = b.series.get(s.uid)
        if (entry === undefined || this.#deletedIn(s.uid, b)) continue
        for (const c of entry.chunks) {
          if (c.maxT < first || c.minT > last) continue
          const tmp = new Buckets(c.n)
          decodeBuckets(b.read(c), c.minT, tmp)
          for (let i = 0; i < tmp.n; i++) {
            const e = tmp.end[i]
            if (e < first || e > last || e > stored) continue
            out.push(e, tmp.count[i], tmp.sum[i], tmp.min[i], tmp.max[i], tmp.last[i])
          }
        }
      }
    }
    if (last > stored) {
      const from = Math.max(stored, first - res)
      const derive = s.dstype === 'DERIVE'
      const cols = this.#rawColumns(s, from - (derive ? 2 * s.step * 1000 : 0), last)
      let n = cols.n
      if (derive) n = toRates(cols.ts, cols.vs, n, s.step)
      let lo = 0
      while (lo < n && cols.ts[lo] <= from) lo++
      consolidate(cols.ts.subarray(lo), cols.vs.subarray(lo), n - lo, res, out)
    }
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

  /** encodeScratch is the writer rechunk uses; one per database. */
  readonly encodeScratch = new ByteWriter(1 << 14)
}

// Joins a series' head chunks into as few block chunks as possible: fewer chunk headers, better packing.
function rechunk(chunks: SealedChunk[], db: Db): SealedChunk[] {
  if (chunks.length <= 1) return chunks
  let total = 0
  for (const c of chunks) total += c.n
  const ts = new Float64Array(total)
  const vs = new Float64Array(total)
  let at = 0
  let cols: Columns | undefined
  for (const c of chunks) {
    cols = decodeChunk(c.bytes, c.minT, cols)
    ts.set(cols.ts.subarray(0, cols.n), at)
    vs.set(cols.vs.subarray(0, cols.n), at)
    at += cols.n
  }
  // Chunks arrive in time order; if that ever broke, writing them as is would corrupt the block.
  for (let i = 1; i < total; i++) {
    if (!(ts[i] > ts[i - 1]))
      throw new Error(`BUG: points out of order at ${ts[i]} while re-chunking`)
  }
  const out: SealedChunk[] = []
  const w = db.encodeScratch
  for (let i = 0; i < total; i += BLOCK_CHUNK_POINTS) {
    const hi = Math.min(total, i + BLOCK_CHUNK_POINTS)
    w.reset()
    encodeChunk(w, ts.subarray(i, hi), vs.subarray(i, hi), hi - i)
    out.push({ minT: ts[i], maxT: ts[hi - 1], n: hi - i, bytes: w.take() })
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

// Raw blocks in the order their data was flushed: walSeq grows with every flush, and a compacted block
// carries the largest walSeq of its (contiguous) sources.
function byWalOrder(a: { block: Block }, b: { block: Block }): number {
  return a.block.meta.walSeq - b.block.meta.walSeq || a.block.meta.seq - b.block.meta.seq
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
  for (const f of ['blockDuration', 'maxHeadPoints', 'maxBlockSpan', 'rollupAfter'] as const) {
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
