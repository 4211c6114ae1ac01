// The head's write path: the Appender, series creation within the series limits, the refusal rules
// (too old, too new), the WAL records of a commit and the points put in the head once it is logged.
import { PeregrineError } from '../core/errors.js'
import type { Db } from './db.js'
import { maybeScheduleFlush } from './flush.js'
import { HOUR } from './options.js'
import { APPENDED, DUPLICATE, MemSeries, type SeriesDesc, uidOf } from './series.js'
import type { DbState, KeptPoints } from './state.js'
import { MAX_SAMPLES_PER_RECORD, REC_SAMPLES, REC_SERIES } from './wal/records.js'

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

/** seriesFor returns the series described, creating it (in memory) when new. */
export function seriesFor(st: DbState, desc: SeriesDesc): MemSeries {
  const uid = uidOf(desc)
  const found = st.index.byUid.get(uid)
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
  const s = new MemSeries(st.byId.length, desc)
  st.byId.push(s)
  st.index.add(s)
  return s
}

/**
 * admitSeries is seriesFor for a live append: a new series is created only within `maxSeries` and
 * `maxNewSeriesPerHour`; past either it returns null and counts the point in `seriesLimited`.
 */
export function admitSeries(st: DbState, desc: SeriesDesc): MemSeries | null {
  const found = st.index.byUid.get(uidOf(desc))
  if (found !== undefined) return found
  const o = st.options
  if (o.maxSeries > 0 && st.index.size >= o.maxSeries) {
    st.counters.seriesLimited++
    return null
  }
  if (o.maxNewSeriesPerHour > 0) {
    // A token bucket: full at start, refilled at maxNewSeriesPerHour per hour.
    const now = o.now()
    st.seriesTokens = Math.min(
      o.maxNewSeriesPerHour,
      st.seriesTokens + ((now - st.seriesTokensAt) * o.maxNewSeriesPerHour) / HOUR
    )
    st.seriesTokensAt = now
    if (st.seriesTokens < 1) {
      st.counters.seriesLimited++
      return null
    }
    st.seriesTokens--
  }
  return seriesFor(st, desc)
}

// Whether a point may be stored (ACCEPTED), or is TOO_OLD (before the raw retention, or in a bucket
// a tier has rolled up when the raw data that bucket was computed from may be gone, so it could not be
// recomputed with it) or TOO_NEW (further ahead than maxAhead).
function refusal(st: DbState, s: MemSeries, t: number, horizon: number, ahead: number): number {
  if (t < horizon) return TOO_OLD
  if (t > ahead) return TOO_NEW
  if (t <= st.maxWatermark && rolledUpFrom(st, s, t) < horizon) return TOO_OLD
  return ACCEPTED
}

/**
 * store puts one point in the head and counts it; returns what s.append did (APPENDED, DUPLICATE or
 * OUT_OF_ORDER_INSERTED). A point in a bucket a tier has rolled up marks its series for a repair.
 */
export function store(st: DbState, s: MemSeries, t: number, v: number, at: number): number {
  // Arrival first: a duplicate (a sender resending) is still a sign of life.
  if (at >= s.arrivedAt) {
    s.arrivedAt = at
    s.arrivedT = t
    s.arrivedV = v
  }
  const outcome = s.append(t, v)
  if (outcome === DUPLICATE) {
    st.counters.duplicates++
    return DUPLICATE
  }
  if (outcome === APPENDED) st.counters.appended++
  else st.counters.outOfOrderInserted++
  st.headPoints++
  if (t < st.headMinT) st.headMinT = t
  if (t > st.headMaxT) st.headMaxT = t
  if (t <= st.maxWatermark && rolledUpFrom(st, s, t) !== Infinity) {
    const was = st.dirty.get(s)
    if (was === undefined || t < was) st.dirty.set(s, t)
  }
  return outcome
}

// The start of the earliest rolled-up bucket that holds t, over every tier (Infinity when no tier has
// rolled up t's bucket for series s).
function rolledUpFrom(st: DbState, s: MemSeries, t: number): number {
  let from = Infinity
  for (const k of st.options.tiers) {
    const wm = st.watermarks.get(k) ?? -Infinity
    const res = k * s.step * 1000
    const end = Math.ceil(t / res) * res
    if (end <= Math.floor(wm / res) * res && end - res < from) from = end - res
  }
  return from
}

/**
 * commitBatch is Appender.commit's body: refuse what cannot be stored, log the rest to the WAL, and
 * once the group commit has written it, put it in the head (as Prometheus's head appender does): a
 * point is never in the head without being in the WAL, so a batch whose write failed leaves nothing
 * behind that would make its retry look like a duplicate. `limited` holds the positions of points
 * the appender refused for a series limit.
 */
export function commitBatch(
  st: DbState,
  ids: Float64Array,
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  limited: readonly number[] = []
): Promise<CommitResult> {
  st.checkOpen()
  const now = st.options.now()
  const horizon = now - st.options.retention.raw
  const ahead = now + st.options.maxAhead
  const wal = st.wal
  const seq = wal.seq
  const w = st.walWriter
  // Series records first, each once per segment, so every segment can be replayed on its own.
  for (let i = 0; i < n; i++) {
    const s = st.byId[ids[i]]
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
  const keep = takeKept(st, n)
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
    const s = st.byId[ids[i]]
    if (s === undefined) continue
    const t = ts[i]
    const r = refusal(st, s, t, horizon, ahead)
    if (r !== ACCEPTED) {
      ;(refused ??= []).push(i)
      ;(why ??= []).push(r)
      if (r === TOO_OLD) st.counters.tooOld++
      else st.counters.tooNew++
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
      appendSamples(st, countAt, stored)
      stored = 0
    }
  }
  if (stored > 0) appendSamples(st, countAt, stored)
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
      const arrived = st.options.now()
      for (let k = 0; k < kept; k++) {
        const s = st.byId[keepIds[k]]
        // A series deleted since: its points went with it, as replay (points, then the deletion) does.
        if (s === undefined) continue
        const outcome = store(st, s, keepTs[k], keepVs[k], arrived)
        if (outcome === APPENDED) result.appended++
        else if (outcome === DUPLICATE) result.duplicates++
        else result.outOfOrderInserted++
      }
      giveKept(st, keep)
      maybeScheduleFlush(st)
      return result
    },
    (err: unknown) => {
      giveKept(st, keep)
      throw err
    }
  )
}

// Back to the pool, unless it is a huge commit's: those are not kept around.
function giveKept(st: DbState, k: KeptPoints): void {
  if (k.ids.length <= 1 << 16 && st.kept.length < 16) st.kept.push(k)
}

function takeKept(st: DbState, n: number): KeptPoints {
  const k = st.kept.pop()
  if (k !== undefined && k.ids.length >= n) return k
  const size = Math.max(n, 1024)
  return { ids: new Float64Array(size), ts: new Float64Array(size), vs: new Float64Array(size) }
}

// Writes the count of the samples record in the WAL writer and appends the record to the WAL.
function appendSamples(st: DbState, countAt: number, count: number): void {
  const w = st.walWriter
  // The count is a uvarint on replay, written in 4 fixed bytes (up to 2^28) so it can be patched.
  const b = w.buf
  b[countAt] = (count & 0x7f) | 0x80
  b[countAt + 1] = ((count >>> 7) & 0x7f) | 0x80
  b[countAt + 2] = ((count >>> 14) & 0x7f) | 0x80
  b[countAt + 3] = (count >>> 21) & 0x7f
  st.wal.append(w.buf.subarray(0, w.pos))
}
