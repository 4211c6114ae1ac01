// The write-ahead log: numbered segment files of CRC-framed records, written with group commit.
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writev,
  writevSync,
} from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { PeregrineError } from '../../core/errors.js'

/** WalSync says when a group commit returns: after fdatasync (`fsync`, survives power loss) or after write(2) (`write`, survives kill -9). */
export type WalSync = 'fsync' | 'write'

/** WalDamage describes one damaged spot found on replay. */
export interface WalDamage {
  file: string
  offset: number
  message: string
  /** torn is true for a half-written last record: the normal trace of a crash, not corruption. */
  torn: boolean
}

const HEADER_BYTES = 8

/**
 * MAX_RECORD_BYTES is the largest record a writer produces (the database splits larger batches). A
 * header claiming more is corruption, never a torn write: a torn write cuts a real record short.
 */
export const MAX_RECORD_BYTES = 64 << 20

/** RETRY_AFTER_FAILURE_MS: while writes fail, a commit tries the disk again at most this often. */
const RETRY_AFTER_FAILURE_MS = 1000

/**
 * Wal appends records to `dir/<seq>.wal`. `append` frames a record (u32 length, u32 crc32, payload) into the
 * pending group; `commit()` resolves once everything queued before it is written (and synced, per
 * `sync`). Writes run off the event loop's critical path only as far as one write+sync per group.
 *
 *   segment: [len u32][crc u32][payload …][len][crc][payload …] …
 */
export class Wal {
  readonly dir: string
  readonly sync: WalSync
  #seq: number
  #fd = -1
  #fdSeq = -1
  #pending: { seq: number; buf: Uint8Array }[] = []
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  #scheduled = false
  /** syncFd: the descriptor a group's fdatasync is running on, off the event loop (-1: none). */
  #syncFd = -1
  /** Descriptors closed while their sync ran: closed when it ends. */
  #closeAfterSync: number[] = []
  /** idle: who waits for the group in the thread pool to end (close). */
  #idle: (() => void)[] = []
  /** Bytes of the open segment known to be whole records (what a failed write is cut back to). */
  #good = 0
  /** Records queued for segments numbered ≤ this are dropped: a write to them failed. */
  #deadUpTo = 0
  /** The last write failure while it lasts (cleared by the next write that succeeds), and when. */
  #failed: PeregrineError | null = null
  #failedAt = 0
  #failingSince = 0
  bytesWritten = 0
  groupCommits = 0

  private constructor(dir: string, sync: WalSync, nextSeq: number) {
    this.dir = dir
    this.sync = sync
    this.#seq = nextSeq
  }

  /** segments lists the segment numbers present in `dir`, ascending. */
  static segments(dir: string): number[] {
    mkdirSync(dir, { recursive: true })
    return readdirSync(dir)
      .filter((f) => /^\d{8}\.wal$/.test(f))
      .map((f) => parseInt(f, 10))
      .sort((a, b) => a - b)
  }

  /** fileOf names a segment's file. */
  static fileOf(dir: string, seq: number): string {
    return join(dir, String(seq).padStart(8, '0') + '.wal')
  }

  /**
   * replay calls `onRecord` for every intact record of the segments numbered above `afterSeq`, in order.
   * A torn last record of the last segment is cut off the file. Other damage stops that segment (the rest of
   * it is lost) and is reported; with `strict`, it throws PG_TSDB_CORRUPT naming the file instead.
   */
  static replay(
    dir: string,
    afterSeq: number,
    strict: boolean,
    onRecord: (seq: number, payload: Uint8Array) => void
  ): { damage: WalDamage[]; lastSeq: number } {
    const segs = Wal.segments(dir)
    const damage: WalDamage[] = []
    for (let s = 0; s < segs.length; s++) {
      const seq = segs[s]
      if (seq <= afterSeq) continue
      const file = Wal.fileOf(dir, seq)
      const buf = readFileSync(file)
      let pos = 0
      while (pos < buf.length) {
        const isLast = s === segs.length - 1
        const problem = checkRecord(buf, pos)
        if (problem !== null) {
          const torn = isLast && problem.torn
          const d: WalDamage = { file, offset: pos, message: problem.message, torn }
          if (strict && !torn) {
            throw new PeregrineError(
              'PG_TSDB_CORRUPT',
              `${file}: ${problem.message} at byte ${pos}`
            )
          }
          damage.push(d)
          // Cut the damaged tail so the next open does not report it again.
          const fd = openSync(file, 'r+')
          try {
            ftruncateSync(fd, pos)
            fdatasyncSync(fd)
          } finally {
            closeSync(fd)
          }
          break
        }
        const len = buf.readUInt32LE(pos)
        onRecord(seq, buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len))
        pos += HEADER_BYTES + len
      }
    }
    return { damage, lastSeq: segs.length > 0 ? segs[segs.length - 1] : 0 }
  }

  /** create opens a log whose next segment is `nextSeq` (after whatever replay found). */
  static create(dir: string, sync: WalSync, nextSeq: number): Wal {
    mkdirSync(dir, { recursive: true })
    return new Wal(dir, sync, nextSeq)
  }

  /** seq is the segment that records appended now go to. */
  get seq(): number {
    return this.#seq
  }

  /**
   * failure describes the write failure the log is in, or is null when writes succeed. A log that
   * failed keeps trying: the first write that succeeds clears it.
   */
  get failure(): string | null {
    if (this.#failed === null) return null
    return `the write-ahead log cannot be written since ${new Date(this.#failingSince).toISOString()} (${(this.#failed.cause as Error).message}); writes are refused until it can: free space or fix the disk`
  }

  /** append queues one record; it is durable once a later `commit()` resolves. */
  append(payload: Uint8Array): void {
    if (payload.length > MAX_RECORD_BYTES) {
      throw new Error(`BUG: a WAL record of ${payload.length} bytes; split it`)
    }
    const buf = new Uint8Array(HEADER_BYTES + payload.length)
    const view = new DataView(buf.buffer)
    view.setUint32(0, payload.length, true)
    view.setUint32(4, crc32(payload), true)
    buf.set(payload, HEADER_BYTES)
    this.#pending.push({ seq: this.#seq, buf })
  }

  /**
   * commit resolves when every record appended so far is written (and synced). Concurrent commits share one
   * write and one sync: that is the group commit.
   */
  commit(): Promise<void> {
    // A failing disk is tried again, but not by every commit: most fail at once meanwhile.
    if (this.#failed !== null && Date.now() - this.#failedAt < RETRY_AFTER_FAILURE_MS) {
      return Promise.reject(this.#failed)
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject })
      // While a group syncs, the next one gathers; it is flushed when the sync ends.
      if (!this.#scheduled && this.#syncFd < 0) {
        this.#scheduled = true
        // setImmediate lets every writer of this turn of the event loop join the group.
        setImmediate(() => this.#flushGroup())
      }
    })
  }

  /** rotate makes later records go to a new segment and returns the number of the one closed. */
  rotate(): number {
    return this.#seq++
  }

  /**
   * removeUpTo deletes the segments numbered ≤ `seq` (their contents are safe in blocks). The caller awaits
   * `commit()` first, so nothing is still queued for them.
   */
  removeUpTo(seq: number): void {
    if (this.#fd >= 0 && this.#fdSeq <= seq) this.#closeSegment()
    for (const s of Wal.segments(this.dir)) {
      if (s <= seq) rmSync(Wal.fileOf(this.dir, s), { force: true })
    }
  }

  /** close writes what is pending and closes the segment. */
  async close(): Promise<void> {
    await this.commit().catch(() => undefined)
    // A commit refused at once (the log failed a moment ago) does not wait for a group whose write
    // and sync are still running in the thread pool: wait for it here.
    while (this.#syncFd >= 0) await new Promise<void>((ok) => this.#idle.push(ok))
    if (this.#fd >= 0) this.#closeSegment()
  }

  #closeSegment(): void {
    // Not under a sync still running on it: the number could be reused by the next open.
    if (this.#fd === this.#syncFd) this.#closeAfterSync.push(this.#fd)
    else closeQuietly(this.#fd)
    this.#fd = -1
    this.#fdSeq = -1
    this.#good = 0
  }

  // One group: write every pending record with writev per segment, sync, then resolve the waiters.
  // With `fsync`, the last segment's write and its fdatasync run in the thread pool, one after the
  // other: the event loop decodes the next requests meanwhile (a write to the page cache can wait
  // for the disk too, when the kernel holds back writers with many dirty pages), and writers that
  // arrive form the next group, flushed as soon as this one is durable: groups never overlap, so
  // records reach the file in order. Earlier segments of a group (one that spans a rotation) and
  // `write` mode write on the event loop: there nothing waits for the disk after.
  #flushGroup(): void {
    this.#scheduled = false
    let pending = this.#pending
    const waiters = this.#waiters
    this.#pending = []
    this.#waiters = []
    // Records for a segment a write failed in were queued before the failure was known: they may need
    // records that never made it (a series record), so they are dropped and their commits refused.
    const stale = pending.some((p) => p.seq <= this.#deadUpTo)
    if (stale) pending = pending.filter((p) => p.seq > this.#deadUpTo)
    let unsynced = -1
    let lastBufs: Uint8Array[] = []
    try {
      let i = 0
      while (i < pending.length) {
        const seq = pending[i].seq
        let j = i
        const bufs: Uint8Array[] = []
        let bytes = 0
        while (j < pending.length && pending[j].seq === seq) {
          bytes += pending[j].buf.length
          bufs.push(pending[j++].buf)
        }
        this.#openSegment(seq)
        if (this.sync === 'fsync' && j >= pending.length) {
          lastBufs = bufs
          unsynced = bytes
          break
        }
        writeAll(this.#fd, bufs)
        i = j
        if (this.sync === 'fsync') fdatasyncSync(this.#fd)
        this.#good += bytes
        this.bytesWritten += bytes
      }
    } catch (err) {
      this.#fail(err as Error)
      for (const w of waiters) w.reject(this.#failed as PeregrineError)
      return
    }
    if (unsynced < 0) {
      this.#groupDone(stale, waiters)
      return
    }
    const fd = this.#fd
    this.#syncFd = fd
    writeAllThenSync(fd, lastBufs, (err) => {
      this.#syncFd = -1
      for (const ok of this.#idle.splice(0)) ok()
      for (const closed of this.#closeAfterSync.splice(0)) closeQuietly(closed)
      if (err !== null) {
        // The segment is cut back to before this group (its bytes were never counted as good).
        // (A segment closed meanwhile was one blocks already hold: only the failure is kept.)
        this.#fail(err, this.#fd === fd)
        for (const w of waiters) w.reject(this.#failed as PeregrineError)
      } else {
        if (this.#fd === fd) this.#good += unsynced
        this.bytesWritten += unsynced
        this.#groupDone(stale, waiters)
      }
      if (this.#waiters.length > 0 && !this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flushGroup())
      }
    })
  }

  // A group is durable: its commits resolve (or are refused, when it lost records to a failure).
  #groupDone(stale: boolean, waiters: { resolve: () => void; reject: (e: Error) => void }[]): void {
    this.groupCommits++
    this.#failed = null
    if (stale) {
      const err = new PeregrineError(
        'PG_TSDB_WAL_WRITE',
        'the write-ahead log failed before this batch was written; it is not acknowledged, send it again'
      )
      for (const w of waiters) w.reject(err)
    } else for (const w of waiters) w.resolve()
  }

  // A write failed: cut the segment back to its last whole record (or remove it when it holds none), and
  // send later records to a new segment, so that every segment stays a run of whole records the
  // database can replay on its own (it logs each series again in a new segment).
  #fail(err: Error, cut = true): void {
    const file = Wal.fileOf(this.dir, this.#fdSeq >= 0 ? this.#fdSeq : this.#seq)
    if (this.#failed === null) this.#failingSince = Date.now()
    this.#failedAt = Date.now()
    this.#failed = new PeregrineError(
      'PG_TSDB_WAL_WRITE',
      `write-ahead log ${file}: ${err.message}; the batch is not acknowledged, send it again`,
      { cause: err }
    )
    if (cut && this.#fd >= 0) {
      const good = this.#good
      try {
        ftruncateSync(this.#fd, good)
      } catch {
        // Replay reports what is left past the last whole record; nothing after it was acknowledged.
      }
      this.#closeSegment()
      if (good === 0) rmSync(file, { force: true })
    }
    this.#deadUpTo = Math.max(this.#deadUpTo, this.#seq)
    this.#seq++
  }

  #openSegment(seq: number): void {
    if (this.#fdSeq === seq) return
    if (this.#fd >= 0) {
      fdatasyncSync(this.#fd)
      this.#closeSegment()
    }
    this.#fd = openSync(Wal.fileOf(this.dir, seq), 'a')
    this.#fdSeq = seq
    const size = fstatSync(this.#fd).size
    this.#good = size
    if (size === 0) syncDir(this.dir)
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // Nothing to keep from a descriptor that cannot be closed.
  }
}

function writeAll(fd: number, bufs: Uint8Array[]): void {
  let rest = bufs
  while (rest.length > 0) rest = unwritten(rest, writevSync(fd, rest))
}

// unwritten is what of `bufs` a writev that wrote `written` bytes left to write.
function unwritten(bufs: Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = []
  for (const b of bufs) {
    if (written >= b.length) {
      written -= b.length
      continue
    }
    rest.push(written > 0 ? b.subarray(written) : b)
    written = 0
  }
  return rest
}

// writeAllThenSync writes `bufs` to `fd` and then fdatasyncs it, both in the thread pool, and calls
// `done` once with the first error or null.
function writeAllThenSync(fd: number, bufs: Uint8Array[], done: (err: Error | null) => void): void {
  if (bufs.length === 0) {
    fdatasync(fd, done)
    return
  }
  writev(fd, bufs, (err, written) => {
    if (err !== null) return done(err)
    const rest = unwritten(bufs, written)
    if (rest.length > 0) writeAllThenSync(fd, rest, done)
    else fdatasync(fd, done)
  })
}

/** syncDir makes a new or renamed file's directory entry durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function checkRecord(buf: Buffer, pos: number): { message: string; torn: boolean } | null {
  if (pos + HEADER_BYTES > buf.length) {
    return { message: 'record header cut short', torn: true }
  }
  const len = buf.readUInt32LE(pos)
  if (len === 0 || len > MAX_RECORD_BYTES) {
    // No writer makes such a record, so this is not a write cut short: the header is damaged.
    return { message: `impossible record length ${len}`, torn: false }
  }
  if (pos + HEADER_BYTES + len > buf.length) {
    return { message: `record of ${len} bytes cut short`, torn: true }
  }
  const want = buf.readUInt32LE(pos + 4)
  if (crc32(buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len)) !== want) {
    // A bad checksum on the very last record is still most likely a torn write.
    const torn = pos + HEADER_BYTES + len === buf.length
    return { message: 'record checksum mismatch', torn }
  }
  return null
}
