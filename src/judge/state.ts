// judge's state on disk, so that a restart neither sends a PROBLEM again nor forgets one (falcon keeps
// it in memory only: issue #727): every series' newest points and last events in a snapshot, and each
// last event sent since then in an append-only log, written before the event is queued. Format and
// rules: STATE.md beside this file.
import {
  closeSync,
  type Dirent,
  fdatasync,
  close as closeFd,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from '../core/index.js'
import type { RuleState, Series, SeriesStore } from './series.js'

/** SNAPSHOT_FILE, LOG_PREFIX: the files under the state directory (judge's `spillDir`). */
export const SNAPSHOT_FILE = 'judge-state.snap'
export const LOG_PREFIX = 'judge-state-'
const LOG_SUFFIX = '.wal'
const SNAPSHOT_MAGIC = 0x534a4750 // "PGJS" little-endian
const LOG_MAGIC = 0x4c4a4750 // "PGJL"
const VERSION = 1
const HEADER_BYTES = 16
/** FRAME_BYTES: each record is framed by its length and the CRC-32 of its bytes. */
const FRAME_BYTES = 8
const KIND_END = 0
const KIND_SERIES = 1
const KIND_EVENT = 2
/** MAX_LOG_BYTES: a log this long asks for a snapshot at once, which starts a new one. */
export const MAX_LOG_BYTES = 64 << 20
/** CHUNK_BYTES: a snapshot is written in pieces this large, between which points are judged. */
const CHUNK_BYTES = 1 << 20
/** SYNC_INTERVAL_MS: how often the log is flushed to the disk itself (a write alone survives kill -9). */
const SYNC_INTERVAL_MS = 1000

/** RestoredSeries is one series as read back: its points (oldest first) and last events by rule key. */
export interface RestoredSeries {
  endpoint: string
  metric: string
  tags: Record<string, string>
  gauge: boolean
  ts: number[]
  vs: number[]
  states: Map<string, RuleState>
}

/**
 * StateJournal is what the engine sees: `record` a rule's new last event (kept in memory), then
 * `commit` them all in one write before the events are queued.
 */
export interface StateJournal {
  record(s: Series, ruleKey: string, state: RuleState): void
  commit(): void
}

/** StateCounters are shown on /counter/all. */
export interface StateCounters {
  snapshots: number
  /** snapshotBytes: size of the last snapshot written */
  snapshotBytes: number
  /** logBytes: bytes in the current log */
  logBytes: number
  /** writeFailures: log writes and snapshots that failed (each logged) */
  writeFailures: number
}

/**
 * Buf is a growable byte buffer records are encoded into (one per writer, reused: no allocation per
 * record once it has grown).
 */
class Buf {
  bytes = Buffer.allocUnsafe(64 << 10)
  n = 0

  reserve(more: number): void {
    if (this.n + more <= this.bytes.length) return
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.n + more))
    this.bytes.copy(next, 0, 0, this.n)
    this.bytes = next
  }

  u8(v: number): void {
    this.reserve(1)
    this.bytes[this.n++] = v
  }

  u32(v: number): void {
    this.reserve(4)
    this.bytes.writeUInt32LE(v, this.n)
    this.n += 4
  }

  f64(v: number): void {
    this.reserve(8)
    this.bytes.writeDoubleLE(v, this.n)
    this.n += 8
  }

  str(s: string): void {
    const len = Buffer.byteLength(s)
    this.reserve(4 + len)
    this.bytes.writeUInt32LE(len, this.n)
    this.bytes.write(s, this.n + 4, len, 'utf8')
    this.n += 4 + len
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length)
    this.bytes.set(b, this.n)
    this.n += b.length
  }

  /** begin reserves a frame header and returns where it is; end fills it in. */
  begin(): number {
    this.reserve(FRAME_BYTES)
    const at = this.n
    this.n += FRAME_BYTES
    return at
  }

  end(at: number): void {
    const body = this.bytes.subarray(at + FRAME_BYTES, this.n)
    this.bytes.writeUInt32LE(body.length, at)
    this.bytes.writeUInt32LE(crc32(body), at + 4)
  }
}

function header(magic: number, gen: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES)
  b.writeUInt32LE(magic, 0)
  b.writeUInt32LE(VERSION, 4)
  b.writeUInt32LE(gen, 8)
  return b
}

/** scratch: where identities are encoded before being copied out at their size. */
const scratch = new Buf()

/** identityOf encodes a series' endpoint, metric and tags, the key of its records. */
function identityOf(s: Series): Buffer {
  const b = scratch
  b.n = 0
  b.str(s.endpoint)
  b.str(s.metric)
  const keys = Object.keys(s.tags)
  b.u32(keys.length)
  for (const k of keys) {
    b.str(k)
    b.str(s.tags[k])
  }
  return Buffer.from(b.bytes.subarray(0, b.n))
}

/** Reader decodes one record's bytes; a read past its end throws (a record that lies). */
class Reader {
  off = 0
  constructor(readonly b: Buffer) {}

  need(n: number): void {
    if (this.off + n > this.b.length) throw new Error('record shorter than its contents')
  }

  u8(): number {
    this.need(1)
    return this.b[this.off++]
  }

  u32(): number {
    this.need(4)
    const v = this.b.readUInt32LE(this.off)
    this.off += 4
    return v
  }

  f64(): number {
    this.need(8)
    const v = this.b.readDoubleLE(this.off)
    this.off += 8
    return v
  }

  str(): string {
    const len = this.u32()
    this.need(len)
    const s = this.b.toString('utf8', this.off, this.off + len)
    this.off += len
    return s
  }
}

function readIdentity(r: Reader): Pick<RestoredSeries, 'endpoint' | 'metric' | 'tags'> {
  const endpoint = r.str()
  const metric = r.str()
  const n = r.u32()
  const tags = Object.create(null) as Record<string, string>
  for (let i = 0; i < n; i++) {
    const k = r.str()
    tags[k] = r.str()
  }
  return { endpoint, metric, tags }
}

/**
 * readRuleState reads one last event into `states`. An OK is kept as no last event at all, which the
 * engine treats the same way (falcon's `!exists || Status == OK`): it only has to undo a PROBLEM.
 */
function readRuleState(r: Reader, states: Map<string, RuleState>): void {
  const key = r.str()
  const problem = r.u8() === 1
  const currentStep = r.u32()
  const eventTime = r.f64()
  if (problem) states.set(key, { status: 'PROBLEM', currentStep, eventTime })
  else states.delete(key)
}

/** frames yields each intact record of `b` from `off`; `damage` gets why it stopped early. */
function* frames(b: Buffer, off: number, damage: (at: number, why: string) => void) {
  while (off < b.length) {
    if (off + FRAME_BYTES > b.length) return damage(off, 'cut short')
    const len = b.readUInt32LE(off)
    if (off + FRAME_BYTES + len > b.length) return damage(off, 'cut short')
    const body = b.subarray(off + FRAME_BYTES, off + FRAME_BYTES + len)
    if (crc32(body) !== b.readUInt32LE(off + 4)) return damage(off, 'checksum mismatch')
    yield body
    off += FRAME_BYTES + len
  }
}

/** logGenOf reads the generation out of a log file's name, or undefined for another file. */
function logGenOf(name: string): number | undefined {
  if (!name.startsWith(LOG_PREFIX) || !name.endsWith(LOG_SUFFIX)) return undefined
  const digits = name.slice(LOG_PREFIX.length, -LOG_SUFFIX.length)
  return /^\d{1,10}$/.test(digits) ? Number(digits) : undefined
}

const logName = (gen: number) => `${LOG_PREFIX}${String(gen).padStart(10, '0')}${LOG_SUFFIX}`

/**
 * readState reads what `dir` holds: the snapshot, then the logs from its generation on, in order (a
 * later record of an event id replaces an earlier one). Damaged files are read up to the damage and
 * named in `problems`; nothing here throws for what is on disk. Returns the series by identity and
 * the highest generation seen.
 */
export function readState(dir: string): {
  series: Map<string, RestoredSeries>
  gen: number
  problems: string[]
} {
  const series = new Map<string, RestoredSeries>()
  const problems: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { series, gen: 0, problems }
    problems.push(`${dir}: ${(err as Error).message}`)
    return { series, gen: 0, problems }
  }
  const keyOf = (x: Pick<RestoredSeries, 'endpoint' | 'metric' | 'tags'>) =>
    JSON.stringify([x.endpoint, x.metric, Object.entries(x.tags).sort()])
  let snapGen = 0
  const snapPath = join(dir, SNAPSHOT_FILE)
  if (entries.some((e) => e.name === SNAPSHOT_FILE)) {
    const b = readOrNull(snapPath, problems)
    if (b !== null) {
      const gen = headerGen(b, SNAPSHOT_MAGIC)
      if (typeof gen === 'string') problems.push(`${snapPath}: ${gen}`)
      else {
        snapGen = gen
        let ended = false
        let at = -1
        const damage = (off: number, why: string) => {
          at = off
          problems.push(`${snapPath}: ${why} at byte ${off}`)
        }
        try {
          for (const body of frames(b, HEADER_BYTES, damage)) {
            const r = new Reader(body)
            const kind = r.u8()
            if (kind === KIND_END) {
              ended = true
              break
            }
            if (kind !== KIND_SERIES) throw new Error(`unknown record kind ${kind}`)
            const id = readIdentity(r)
            const gauge = r.u8() === 1
            const n = r.u32()
            r.need(n * 16)
            const ts = new Array<number>(n)
            const vs = new Array<number>(n)
            for (let i = 0; i < n; i++) {
              ts[i] = r.f64()
              vs[i] = r.f64()
            }
            const states = new Map<string, RuleState>()
            for (let i = r.u32(); i > 0; i--) readRuleState(r, states)
            const { endpoint, metric, tags } = id
            series.set(keyOf(id), { endpoint, metric, tags, gauge, ts, vs, states })
          }
        } catch (err) {
          problems.push(`${snapPath}: ${(err as Error).message}`)
          ended = true
        }
        if (!ended && at < 0) problems.push(`${snapPath}: cut short (no end record)`)
      }
    }
  }
  const logs = entries
    .map((e) => ({ name: e.name, gen: logGenOf(e.name) }))
    .filter((x): x is { name: string; gen: number } => x.gen !== undefined && x.gen >= snapGen)
    .sort((a, b) => a.gen - b.gen)
  let gen = snapGen
  for (const { name, gen: g } of logs) {
    gen = Math.max(gen, g)
    const path = join(dir, name)
    const b = readOrNull(path, problems)
    if (b === null) continue
    const hg = headerGen(b, LOG_MAGIC)
    if (typeof hg === 'string') {
      // A log cut before its header was written holds nothing yet: not damage.
      if (b.length > 0) problems.push(`${path}: ${hg}`)
      continue
    }
    try {
      for (const body of frames(b, HEADER_BYTES, (off, why) =>
        problems.push(`${path}: ${why} at byte ${off}`)
      )) {
        // A frame holds the events of one commit, one after the other.
        const r = new Reader(body)
        while (r.off < body.length) {
          const kind = r.u8()
          if (kind !== KIND_EVENT) throw new Error(`unknown record kind ${kind}`)
          const id = readIdentity(r)
          const key = keyOf(id)
          let s = series.get(key)
          if (s === undefined) {
            const { endpoint, metric, tags } = id
            s = { endpoint, metric, tags, gauge: true, ts: [], vs: [], states: new Map() }
            series.set(key, s)
          }
          readRuleState(r, s.states)
        }
      }
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`)
    }
  }
  return { series, gen, problems }
}

function readOrNull(path: string, problems: string[]): Buffer | null {
  try {
    return readFileSync(path)
  } catch (err) {
    problems.push(`${path}: ${(err as Error).message}`)
    return null
  }
}

/** headerGen checks a file's header and returns its generation, or why it cannot be read. */
function headerGen(b: Buffer, magic: number): number | string {
  if (b.length < HEADER_BYTES) return 'cut short in its header'
  if (b.readUInt32LE(0) !== magic) return 'not a judge state file'
  const v = b.readUInt32LE(4)
  if (v !== VERSION) return `format version ${v}, this judge reads ${VERSION}`
  return b.readUInt32LE(8)
}

/**
 * restoreInto puts what was read into `store` (taking over `series`' maps): points into each ring,
 * last events parked. A series whose PROBLEM is newer than its newest point (the process died after
 * the snapshot, and the points in between are lost) starts with no points: a window of points from
 * before the problem and after the restart would clear it with a false OK.
 */
export function restoreInto(store: SeriesStore, series: Iterable<RestoredSeries>): number {
  let n = 0
  for (const r of series) {
    const newest = r.ts.length === 0 ? 0 : r.ts[r.ts.length - 1]
    let gap = false
    for (const st of r.states.values()) if (st.eventTime > newest) gap = true
    const s = store.get(r.endpoint, r.metric, r.tags, gap ? 0 : r.ts.length, true) as Series
    if (!gap) s.load(r.ts, r.vs, r.gauge)
    // The rules are not known yet: a series matches them on its next point, and takes these
    // states then by rule key (as a rule that comes back after hbs left it out).
    if (r.states.size > 0) s.parked = r.states
    n++
  }
  return n
}

/**
 * StateFile keeps judge's state under `dir`: a log of last events (the StateJournal the engine
 * writes to, one write per Judge.Send) and snapshots of every series, after each of which the log
 * starts again. Single-threaded like the engine; `close` ends it with a last snapshot.
 */
export class StateFile implements StateJournal {
  readonly counters: StateCounters = {
    snapshots: 0,
    snapshotBytes: 0,
    logBytes: 0,
    writeFailures: 0,
  }
  readonly #dir: string
  readonly #log: Logger
  readonly #buf = new Buf()
  readonly #ids = new WeakMap<Series, Buffer>()
  readonly #onFull: () => void
  readonly #maxLogBytes: number
  #gen: number
  #fd: number
  #dirty = false
  #syncing = false
  /** #chain orders the log's fdatasyncs and its close after rotation, so no fd is used once closed. */
  #chain: Promise<void> = Promise.resolve()
  #failing = false
  #snapshotting: Promise<void> | undefined = undefined
  #fullAsked = false
  #syncTimer: NodeJS.Timeout
  #closing: Promise<void> | undefined = undefined
  #closed = false

  /**
   * constructor opens a new log after generation `gen` (what readState returned) in `dir`, creating
   * the directory. Throws when it cannot: judge does not start without the state it was asked to
   * keep. `onFull` is called (once per log) when the log passes `maxLogBytes`.
   */
  constructor(
    dir: string,
    gen: number,
    log: Logger,
    onFull: () => void,
    maxLogBytes = MAX_LOG_BYTES
  ) {
    this.#dir = dir
    this.#log = log
    this.#onFull = onFull
    this.#maxLogBytes = maxLogBytes
    mkdirSync(dir, { recursive: true })
    // A snapshot being written when the process stopped is not the snapshot: drop it.
    rmSync(join(dir, `${SNAPSHOT_FILE}.tmp`), { force: true })
    this.#gen = gen + 1
    this.#fd = this.#openLog(this.#gen)
    this.#syncTimer = setInterval(() => this.#sync(), SYNC_INTERVAL_MS)
    this.#syncTimer.unref()
  }

  #openLog(gen: number): number {
    const fd = openSync(join(this.#dir, logName(gen)), 'w')
    writeSync(fd, header(LOG_MAGIC, gen))
    this.counters.logBytes = HEADER_BYTES
    this.#fullAsked = false
    return fd
  }

  /** record encodes `state` as the last event of `ruleKey` on `s` (in memory until commit). */
  record(s: Series, ruleKey: string, state: RuleState): void {
    let id = this.#ids.get(s)
    if (id === undefined) {
      id = identityOf(s)
      this.#ids.set(s, id)
    }
    const b = this.#buf
    // One frame per commit (a Judge.Send's events): one checksum for all of them, computed at commit.
    if (b.n === 0) b.begin()
    b.u8(KIND_EVENT)
    b.raw(id)
    b.str(ruleKey)
    b.u8(state.status === 'PROBLEM' ? 1 : 0)
    b.u32(state.currentStep)
    b.f64(state.eventTime)
  }

  /**
   * commit writes what was recorded since the last commit in one write(2): once it returns, a kill -9
   * keeps it (the OS holds it). A failed write is counted and logged once until one succeeds; the
   * events still go out (an alarm is worth more than its record).
   */
  commit(): void {
    const b = this.#buf
    if (b.n === 0) return
    if (this.#closed) {
      // Nothing is judged after stop; should it be, its records are dropped rather than kept.
      b.n = 0
      return
    }
    b.end(0)
    try {
      let off = 0
      while (off < b.n) off += writeSync(this.#fd, b.bytes, off, b.n - off)
      this.counters.logBytes += b.n
      this.#dirty = true
      if (this.#failing) this.#log.info(`judge: state log ${this.#logPath()} written again`)
      this.#failing = false
    } catch (err) {
      this.counters.writeFailures++
      if (!this.#failing) {
        this.#log.error(
          `judge: cannot write the state log ${this.#logPath()} (${(err as Error).message}); events are still sent, and a restart may repeat them`
        )
      }
      this.#failing = true
    }
    b.n = 0
    if (this.counters.logBytes > this.#maxLogBytes && !this.#fullAsked) {
      this.#fullAsked = true
      this.#onFull()
    }
  }

  #logPath(): string {
    return join(this.#dir, logName(this.#gen))
  }

  /** #sync flushes the log to the disk in the background (power loss; a crash needs no more). */
  #sync(): void {
    if (!this.#dirty || this.#syncing) return
    this.#dirty = false
    this.#syncing = true
    const fd = this.#fd
    this.#chain = this.#chain
      .then(() => new Promise<void>((ok) => fdatasync(fd, () => ok())))
      .finally(() => {
        this.#syncing = false
      })
  }

  /**
   * snapshot writes every series of `store` to a new snapshot and starts a new log; the logs before
   * it are deleted once the snapshot is on disk. A snapshot already running is waited for instead.
   * The series are read in pieces between which the engine goes on, which is safe: each later change
   * is in the new log, whose records replace the snapshot's on restore.
   */
  snapshot(store: SeriesStore): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#snapshotting ??= this.#writeSnapshot(store).finally(() => {
      this.#snapshotting = undefined
    })
    return this.#snapshotting
  }

  async #writeSnapshot(store: SeriesStore): Promise<void> {
    this.commit()
    const gen = this.#gen + 1
    const old = this.#fd
    try {
      this.#fd = this.#openLog(gen)
    } catch (err) {
      this.counters.writeFailures++
      this.#log.error(`judge: cannot start a new state log: ${(err as Error).message}`)
      return
    }
    this.#gen = gen
    this.#chain = this.#chain
      .then(() => new Promise<void>((ok) => fdatasync(old, () => ok())))
      .then(() => new Promise<void>((ok) => closeFd(old, () => ok())))
    const tmp = join(this.#dir, `${SNAPSHOT_FILE}.tmp`)
    const b = new Buf()
    let bytes = 0
    try {
      const fh = await open(tmp, 'w')
      try {
        b.raw(header(SNAPSHOT_MAGIC, gen))
        let count = 0
        for (const s of store.all()) {
          encodeSeries(b, s)
          count++
          if (b.n >= CHUNK_BYTES) {
            await fh.write(b.bytes, 0, b.n)
            bytes += b.n
            b.n = 0
          }
        }
        const at = b.begin()
        b.u8(KIND_END)
        b.u32(count)
        b.end(at)
        await fh.write(b.bytes, 0, b.n)
        bytes += b.n
        await fh.datasync()
      } finally {
        await fh.close()
      }
      renameSync(tmp, join(this.#dir, SNAPSHOT_FILE))
      syncDir(this.#dir)
      for (const name of readdirSync(this.#dir)) {
        const g = logGenOf(name)
        if (g !== undefined && g < gen) rmSync(join(this.#dir, name), { force: true })
      }
      this.counters.snapshots++
      this.counters.snapshotBytes = bytes
    } catch (err) {
      this.counters.writeFailures++
      this.#log.error(
        `judge: cannot write the state snapshot ${tmp}: ${(err as Error).message}; the logs since the last one are kept`
      )
    }
  }

  /**
   * close writes a last snapshot of `store` and closes the log. A second call waits for the first;
   * after it, snapshot and commit do nothing.
   */
  close(store: SeriesStore): Promise<void> {
    this.#closing ??= this.#close(store)
    return this.#closing
  }

  async #close(store: SeriesStore): Promise<void> {
    clearInterval(this.#syncTimer)
    await this.#snapshotting
    await this.snapshot(store)
    this.commit()
    this.#closed = true
    const fd = this.#fd
    await this.#chain
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
}

/** encodeSeries writes one series record: identity, points oldest first, last events by rule key. */
function encodeSeries(b: Buf, s: Series): void {
  const at = b.begin()
  b.u8(KIND_SERIES)
  b.str(s.endpoint)
  b.str(s.metric)
  const keys = Object.keys(s.tags)
  b.u32(keys.length)
  for (const k of keys) {
    b.str(k)
    b.str(s.tags[k])
  }
  b.u8(s.gauge ? 1 : 0)
  b.u32(s.size)
  for (let i = s.size - 1; i >= 0; i--) {
    b.f64(s.t(i))
    b.f64(s.v(i))
  }
  let n = 0
  const countAt = b.n
  b.u32(0)
  // Only PROBLEMs: an OK is the same as no last event to the engine (see readRuleState), and a
  // healthy fleet's snapshot then holds next to no events.
  const put = (key: string, st: RuleState) => {
    if (st.status !== 'PROBLEM') return
    b.str(key)
    b.u8(1)
    b.u32(st.currentStep)
    b.f64(st.eventTime)
    n++
  }
  for (let i = 0; i < s.rules.length; i++) {
    const st = s.states[i]
    if (st !== undefined) put(s.rules[i].key, st)
  }
  if (s.parked !== undefined) for (const [key, st] of s.parked) put(key, st)
  b.bytes.writeUInt32LE(n, countAt)
  b.end(at)
}

/** syncDir makes a rename in `dir` durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
