// A durable FIFO on local disk: what was acknowledged to a sender and not yet to where it goes next,
// in CRC-framed records of numbered segment files, written with group commit and fdatasync. The
// gateway's disk buffer and the remote storage forward queue are spools.
import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
  writevSync,
} from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from '../core/index.js'

/**
 *   segment NNNNNNNNNNNN.spool: [len u32][crc u32][points u32][body …] [len][crc][points][body …] …
 *   cursor:                     [seq u32][offset u32][crc u32]
 *
 * `len` counts `points` and `body`; `crc` is crc32 of both. `body` is the owner's bytes (the gateway's:
 * the items of one push as falcon's MetricValue JSON, comma-separated without brackets; the remote
 * forward queue's: remote write TimeSeries), `points` how many points they hold. The cursor names the
 * first record not yet acknowledged downstream; it is written in place without fdatasync: a cursor lost
 * to a crash sends some records again (at least once), never fewer.
 */
const HEADER_BYTES = 12
/** SEGMENT_BYTES: a segment is closed past this size, and removed once the cluster has it all. */
export const SEGMENT_BYTES = 16 << 20
/** A header claiming more than this is damage, never a torn write. */
const MAX_RECORD_BYTES = 256 << 20

/** DiskBudget is what spools may take on disk together (`gateway.maxDiskBytes`, `remoteStorage.maxQueueBytes`). */
export class DiskBudget {
  used = 0
  /** refused: appends refused because the budget was reached. */
  refused = 0
  constructor(readonly max: number) {}
}

/** Position is a record's place: its segment and byte offset. */
interface Position {
  seq: number
  offset: number
}

/** SpoolBatch is what `next()` read: the records' bodies in order, their points, where they end. */
export interface SpoolBatch {
  records: Buffer[]
  points: number
  bytes: number
  end: Position
}

/**
 * SpoolOwner says who a spool belongs to, for its log lines and its errors: `name` (`gateway: cluster
 * c1`, `remote storage queue`) and the errors an append rejects with when the budget is reached and when
 * the disk fails (each says what to do next).
 */
export interface SpoolOwner {
  name: string
  fullError: (used: number, max: number) => Error
  writeError: (dir: string, cause: Error) => Error
}

interface Pending {
  buf: Buffer
  points: number
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Spool is one cluster's disk buffer, a FIFO. `append` resolves once its record is written and
 * fdatasynced (many appends of one turn of the event loop share one write and one sync); `next` reads
 * the records after the last acknowledged ones, up to a number of points, and only what is durable;
 * `ack` moves the cursor past them and removes segments wholly behind it; `rewind` reads again from
 * the cursor (the call failed). One batch is out at a time.
 */
export class Spool {
  readonly dir: string
  readonly #budget: DiskBudget
  readonly #log: Logger
  readonly #owner: SpoolOwner
  /** Segment number → its size in bytes (durable bytes for the one being written). */
  readonly #sizes = new Map<number, number>()
  #writeSeq: number
  #fd = -1
  #cursor: Position
  #cursorFd: number
  #read: Position
  #pending: Pending[] = []
  #scheduled = false
  #syncing = false
  #closed = false
  /** points: points on disk not yet acknowledged by the cluster. */
  points = 0
  /** damaged: records skipped because they were damaged (their points are lost; logged). */
  damaged = 0

  private constructor(dir: string, owner: SpoolOwner, budget: DiskBudget, log: Logger) {
    this.dir = dir
    this.#owner = owner
    this.#budget = budget
    this.#log = log
    mkdirSync(dir, { recursive: true })
    const segs = readdirSync(dir)
      .filter((f) => /^\d{12}\.spool$/.test(f))
      .map((f) => parseInt(f, 10))
      .sort((a, b) => a - b)
    // Not 'a+': writes of an O_APPEND descriptor go to the end whatever their position.
    this.#cursorFd = openSync(join(dir, 'cursor'), constants.O_RDWR | constants.O_CREAT, 0o644)
    this.#cursor = this.#readCursor(segs)
    for (const seq of segs) {
      if (seq < this.#cursor.seq) {
        rmSync(this.#file(seq), { force: true })
        continue
      }
      this.#sizes.set(seq, this.#scan(seq, seq === segs[segs.length - 1]))
    }
    for (const size of this.#sizes.values()) budget.used += size
    // Never behind the cursor: a spool emptied before a restart has a cursor naming the next segment
    // and no file; writing below it would put records where `next` never reads and the next open
    // removes them as sent.
    this.#writeSeq = Math.max(segs.at(-1) ?? 1, this.#cursor.seq)
    if (!this.#sizes.has(this.#writeSeq)) this.#sizes.set(this.#writeSeq, 0)
    this.#read = { ...this.#cursor }
  }

  /** open reads what `dir` holds (cutting a torn last record off) and counts it against `budget`. */
  static open(dir: string, owner: SpoolOwner, budget: DiskBudget, log: Logger): Spool {
    return new Spool(dir, owner, budget, log)
  }

  /** bytes: bytes of this spool's segment files. */
  get bytes(): number {
    let n = 0
    for (const size of this.#sizes.values()) n += size
    return n
  }

  /**
   * append writes one record of `points` points and resolves once it is durable. It rejects with the
   * owner's `fullError` when the budget is reached and its `writeError` when the write or sync fails;
   * nothing of a refused record is kept.
   */
  append(body: Uint8Array, points: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`BUG: spool ${this.dir} used after close`))
    const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length)
    buf.writeUInt32LE(body.length + 4, 0)
    buf.writeUInt32LE(points, 8)
    buf.set(body, HEADER_BYTES)
    buf.writeUInt32LE(crc32(buf.subarray(8)), 4)
    if (this.#budget.used + buf.length > this.#budget.max) {
      this.#budget.refused++
      return Promise.reject(this.#owner.fullError(this.#budget.used, this.#budget.max))
    }
    // Counted at once: appends of this turn must not pass the budget together.
    this.#budget.used += buf.length
    return new Promise((resolve, reject) => {
      this.#pending.push({ buf, points, resolve, reject })
      if (!this.#scheduled && !this.#syncing) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  /**
   * next reads durable records after what is out, up to `maxPoints` and `maxBytes` of bodies (at least
   * one record), or null. Several batches may be out at once; they are acknowledged in order.
   */
  next(maxPoints: number, maxBytes = Infinity): SpoolBatch | null {
    const parts: Buffer[] = []
    let points = 0
    let bytes = 0
    const at = { ...this.#read }
    while (points < maxPoints || parts.length === 0) {
      const size = this.#sizes.get(at.seq)
      if (size === undefined) break
      if (at.offset >= size) {
        if (at.seq >= this.#writeSeq) break
        at.seq++
        at.offset = 0
        continue
      }
      const rec = this.#record(at.seq, at.offset, size)
      if (rec === null) {
        // Damage inside a segment: the rest of it cannot be framed again.
        this.damaged++
        at.offset = size
        continue
      }
      if (
        parts.length > 0 &&
        (points + rec.points > maxPoints || bytes + rec.body.length > maxBytes)
      )
        break
      parts.push(rec.body)
      points += rec.points
      bytes += rec.body.length
      at.offset += rec.bytes
    }
    if (parts.length === 0) {
      // Only damage was passed over: the cursor moves past it too, so it is reported once.
      if (this.#read.seq === this.#cursor.seq && this.#read.offset === this.#cursor.offset) {
        this.#cursor = { ...at }
        this.#writeCursor()
      }
      this.#read = at
      return null
    }
    this.#read = { ...at }
    return { records: parts, points, bytes, end: at }
  }

  /** ack: the cluster has everything up to `end` (a batch's); its points leave the spool. */
  ack(batch: SpoolBatch): void {
    this.#cursor = { ...batch.end }
    this.points -= batch.points
    // A segment wholly behind the cursor is done with; the one being written is kept unless empty
    // and idle, then a fresh one takes its place.
    for (const seq of [...this.#sizes.keys()]) {
      if (seq < this.#cursor.seq) this.#remove(seq)
    }
    if (
      this.#cursor.seq === this.#writeSeq &&
      this.#cursor.offset > 0 &&
      this.#cursor.offset === this.#sizes.get(this.#writeSeq) &&
      this.#pending.length === 0 &&
      !this.#syncing &&
      !this.#scheduled
    ) {
      this.#closeSegment()
      const old = this.#writeSeq
      this.#writeSeq++
      this.#sizes.set(this.#writeSeq, 0)
      this.#cursor = { seq: this.#writeSeq, offset: 0 }
      this.#read = { ...this.#cursor }
      this.#remove(old)
      // Nothing is on disk or being written: exact again even after damage was skipped.
      this.points = 0
    }
    this.#writeCursor()
  }

  /** rewind: the batch out was not acknowledged; `next` reads it again. */
  rewind(): void {
    this.#read = { ...this.#cursor }
  }

  /** close waits for the appends under way and closes the files. */
  async close(): Promise<void> {
    while (this.#pending.length > 0 || this.#syncing || this.#scheduled) {
      await new Promise((r) => setTimeout(r, 5))
    }
    this.#closed = true
    this.#closeSegment()
    this.#closeReadFd()
    closeSync(this.#cursorFd)
  }

  #file(seq: number): string {
    return join(this.dir, String(seq).padStart(12, '0') + '.spool')
  }

  #remove(seq: number): void {
    if (this.#readFdSeq === seq) this.#closeReadFd()
    this.#budget.used -= this.#sizes.get(seq) ?? 0
    this.#sizes.delete(seq)
    rmSync(this.#file(seq), { force: true })
  }

  #closeSegment(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
  }

  // One group: every pending record in one writev, one fdatasync off the event loop, then the
  // appends resolve. Appends that arrive meanwhile form the next group.
  #flush(): void {
    this.#scheduled = false
    const group = this.#pending
    this.#pending = []
    if (group.length === 0) return
    let bytes = 0
    for (const p of group) bytes += p.buf.length
    const fail = (err: Error) => {
      // Cut back to the last durable record: a refused record must not be sent later.
      this.#budget.used -= bytes
      try {
        if (this.#fd >= 0) ftruncateSync(this.#fd, this.#sizes.get(this.#writeSeq) ?? 0)
      } catch {
        // Replay cuts a torn tail at the next open; the refused pushes were not acknowledged.
      }
      const e = this.#owner.writeError(this.dir, err)
      for (const p of group) p.reject(e)
    }
    let fd: number
    try {
      const size = this.#sizes.get(this.#writeSeq) ?? 0
      if (size >= SEGMENT_BYTES) {
        this.#closeSegment()
        this.#writeSeq++
        this.#sizes.set(this.#writeSeq, 0)
      }
      if (this.#fd < 0) {
        this.#fd = openSync(this.#file(this.#writeSeq), 'a')
        const have = fstatSync(this.#fd).size
        // Bytes past the durable size are a group that failed: cut before writing after them.
        if (have !== (this.#sizes.get(this.#writeSeq) ?? 0))
          ftruncateSync(this.#fd, this.#sizes.get(this.#writeSeq) ?? 0)
        if (have === 0) syncDir(this.dir)
      }
      fd = this.#fd
      writeAll(
        fd,
        group.map((p) => p.buf)
      )
    } catch (err) {
      fail(err as Error)
      return
    }
    this.#syncing = true
    const seq = this.#writeSeq
    fdatasync(fd, (err) => {
      this.#syncing = false
      if (err !== null) fail(err)
      else {
        this.#sizes.set(seq, (this.#sizes.get(seq) ?? 0) + bytes)
        for (const p of group) this.points += p.points
        for (const p of group) p.resolve()
      }
      if (this.#pending.length > 0 && !this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  // The record at `offset` of segment `seq`, or null when it is damaged.
  #record(
    seq: number,
    offset: number,
    size: number
  ): { body: Buffer; points: number; bytes: number } | null {
    // One descriptor for the segment being read, not one per record.
    if (this.#readFdSeq !== seq) {
      this.#closeReadFd()
      try {
        this.#readFd = openSync(this.#file(seq), 'r')
        this.#readFdSeq = seq
      } catch (err) {
        this.#log.error(`${this.#owner.name}: spool ${this.#file(seq)}: ${(err as Error).message}`)
        return null
      }
    }
    const fd = this.#readFd
    const head = this.#head
    if (readSync(fd, head, 0, HEADER_BYTES, offset) < HEADER_BYTES) return this.#bad(seq, offset)
    const len = head.readUInt32LE(0)
    if (len < 4 || len > MAX_RECORD_BYTES || offset + 8 + len > size) return this.#bad(seq, offset)
    const body = Buffer.allocUnsafe(len)
    body.writeUInt32LE(head.readUInt32LE(8), 0)
    if (readSync(fd, body, 4, len - 4, offset + HEADER_BYTES) < len - 4)
      return this.#bad(seq, offset)
    if (crc32(body) !== head.readUInt32LE(4)) return this.#bad(seq, offset)
    return { body: body.subarray(4), points: body.readUInt32LE(0), bytes: 8 + len }
  }
  #readFd = -1
  #readFdSeq = -1
  readonly #head = Buffer.alloc(HEADER_BYTES)

  #closeReadFd(): void {
    if (this.#readFd >= 0) closeSync(this.#readFd)
    this.#readFd = -1
    this.#readFdSeq = -1
  }

  #bad(seq: number, offset: number): null {
    this.#log.error(
      `${this.#owner.name}: spool ${this.#file(seq)} is damaged at byte ${offset}; the rest of that segment is skipped (its points are lost)`
    )
    return null
  }

  // Checks segment `seq` from the cursor on, counting its points; the last segment's torn or damaged
  // tail is cut (it was never acknowledged: an append resolves only after its sync). Returns its size.
  #scan(seq: number, last: boolean): number {
    const file = this.#file(seq)
    const fd = openSync(file, 'r+')
    try {
      const size = fstatSync(fd).size
      let pos = seq === this.#cursor.seq ? this.#cursor.offset : 0
      const head = Buffer.alloc(HEADER_BYTES)
      while (pos < size) {
        const ok =
          readSync(fd, head, 0, HEADER_BYTES, pos) === HEADER_BYTES &&
          head.readUInt32LE(0) >= 4 &&
          head.readUInt32LE(0) <= MAX_RECORD_BYTES &&
          pos + 8 + head.readUInt32LE(0) <= size
        if (!ok) {
          if (last) {
            ftruncateSync(fd, pos)
            this.#log.warn(
              `${this.#owner.name}: spool ${file}: a record cut short at byte ${pos} (a write a crash interrupted, never acknowledged) removed`
            )
            return pos
          }
          this.#bad(seq, pos)
          return size
        }
        this.points += head.readUInt32LE(8)
        pos += 8 + head.readUInt32LE(0)
      }
      return size
    } finally {
      closeSync(fd)
    }
  }

  #readCursor(segs: number[]): Position {
    const buf = Buffer.alloc(12)
    const first = { seq: segs.length > 0 ? segs[0] : 1, offset: 0 }
    if (readSync(this.#cursorFd, buf, 0, 12, 0) !== 12) return first
    if (crc32(buf.subarray(0, 8)) !== buf.readUInt32LE(8)) return first
    const at = { seq: buf.readUInt32LE(0), offset: buf.readUInt32LE(4) }
    // A cursor naming a segment that is gone (removed after the cursor moved past it) starts at the
    // first one there is.
    if (!segs.includes(at.seq)) return at.seq > (segs.at(-1) ?? 0) ? at : first
    return at
  }

  #writeCursor(): void {
    const buf = Buffer.alloc(12)
    buf.writeUInt32LE(this.#cursor.seq, 0)
    buf.writeUInt32LE(this.#cursor.offset, 4)
    buf.writeUInt32LE(crc32(buf.subarray(0, 8)), 8)
    writeSync(this.#cursorFd, buf, 0, 12, 0)
  }
}

function writeAll(fd: number, bufs: Buffer[]): void {
  let rest: Uint8Array[] = bufs
  while (rest.length > 0) {
    let written = writevSync(fd, rest)
    const next: Uint8Array[] = []
    for (const b of rest) {
      if (written >= b.length) {
        written -= b.length
        continue
      }
      next.push(written > 0 ? b.subarray(written) : b)
      written = 0
    }
    rest = next
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
