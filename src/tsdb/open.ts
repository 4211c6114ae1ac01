// Opening a database directory: the lock, the tombstones, the blocks (damaged ones moved aside, a
// crashed compaction's sources dropped) and WAL replay into the head.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { isPeregrineError, PeregrineError } from '../core/errors.js'
import { processAlive } from '../core/service.js'
import { Block } from './block.js'
import { ByteReader } from './chunk/byte-buffer.js'
import { seriesFor, store } from './head.js'
import { type MemSeries, uidOf } from './series.js'
import { byWalOrder, coverageOf, type DbState, tierOf } from './state.js'
import { REC_DELETE, REC_SAMPLES, REC_SEAL_ALL, REC_SERIES } from './wal/records.js'
import { Wal } from './wal/wal.js'

// Directories open in this process: a LOCK file holding our own pid is stale unless listed here
// (in a container, a restarted process is often pid 1 again).
const OPEN_DIRS = new Set<string>()

/**
 * openDir opens the directory of `st`: creates it, takes the lock, loads tombstones and blocks, and
 * replays the WAL into the head (which creates `st.wal`). On failure the lock is released again.
 */
export function openDir(st: DbState): void {
  const { dir } = st.options
  mkdirSync(join(dir, 'blocks'), { recursive: true })
  lock(st)
  try {
    loadTombstones(st)
    loadBlocks(st)
    replayWal(st)
  } catch (err) {
    rmSync(st.lockFile, { force: true })
    throw err
  }
  OPEN_DIRS.add(resolve(dir))
}

/** releaseDir releases the lock of a closed database's directory. */
export function releaseDir(st: DbState): void {
  rmSync(st.lockFile, { force: true })
  OPEN_DIRS.delete(resolve(st.options.dir))
}

function lock(st: DbState): void {
  if (OPEN_DIRS.has(resolve(st.options.dir))) {
    throw new PeregrineError('PG_TSDB_LOCKED', `${st.options.dir} is already open in this process`)
  }
  try {
    const fd = openSync(st.lockFile, 'wx')
    writeSync(fd, String(process.pid))
    closeSync(fd)
    return
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const pid = parseInt(readFileSync(st.lockFile, 'utf8'), 10)
  if (pid > 0 && pid !== process.pid && processAlive(pid)) {
    throw new PeregrineError(
      'PG_TSDB_LOCKED',
      `${st.options.dir} is in use by process ${pid}; stop it or choose another data directory`
    )
  }
  writeFileSync(st.lockFile, String(process.pid))
}

function loadTombstones(st: DbState): void {
  const file = join(st.options.dir, 'tombstones.json')
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
    st.tombstones = parsed as { uid: string; seq: number }[]
    // New blocks must number above every tombstone, even when the newest blocks have expired.
    for (const t of st.tombstones) st.seq = Math.max(st.seq, t.seq)
  } catch (err) {
    st.damaged(file, `unreadable (${(err as Error).message}); deletions recorded there are lost`)
  }
}

function loadBlocks(st: DbState): void {
  const dir = join(st.options.dir, 'blocks')
  const names = readdirSync(dir)
  for (const name of names) if (name.endsWith('.tmp')) rmSync(join(dir, name), { force: true })
  const files = names
    .filter((f) => /^(raw|r\d+)-\d{8}\.blk$/.test(f))
    .sort((a, b) => seqOfName(a) - seqOfName(b))
  const tombs = new Map(st.tombstones.map((t) => [t.uid, t.seq]))
  const opened: Block[] = []
  for (const name of files) {
    const file = join(dir, name)
    st.seq = Math.max(st.seq, seqOfName(name))
    try {
      const { block, damage } = Block.open(file, uidOf)
      for (const d of damage) st.damaged(d.file, d.message)
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
      st.damaged(file, err.message.replace(`block ${file}: `, '') + '; moved aside')
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
    st.blocks.push(block)
    const raw = block.meta.kind === 'raw'
    // A part of a multi-block write other than its last claims nothing: if the write was cut short,
    // what it covers is written again (the copies merge away on read and in compaction).
    if (!raw && block.meta.partial !== true) {
      const k = tierOf(block.meta.kind)
      st.setWatermark(k, Math.max(st.watermarks.get(k) ?? -Infinity, block.meta.upTo))
    }
    for (const [uid, entry] of block.series) {
      const dead = tombs.get(uid)
      if (dead !== undefined && block.meta.seq <= dead) continue
      if (entry.chunks.length === 0) continue
      // A series whose raw data has expired still lives in the tiers, so the index keeps it.
      const s = seriesFor(st, entry)
      if (!raw) continue
      s.addBlock(block, entry)
      const last = entry.chunks[entry.chunks.length - 1].maxT
      if (last > s.maxT) s.maxT = last
      if (last > s.frozenT) s.frozenT = last
    }
  }
  // A series' raw blocks in the order they were flushed (a compacted block takes its sources' place),
  // which is time order for that series.
  for (const s of st.index.byUid.values()) s.setBlocks([...s.inBlocks].sort(byWalOrder))
}

function replayWal(st: DbState): void {
  const walDir = join(st.options.dir, 'wal')
  let covered = 0
  for (const b of st.blocks) if (b.meta.kind === 'raw') covered = Math.max(covered, coverageOf(b))
  let refs = new Map<number, MemSeries>()
  let refSeq = -1
  const r = new ByteReader(new Uint8Array(0))
  const replayedAt = st.options.now()
  const horizon = replayedAt - st.options.retention.raw
  const { damage, lastSeq } = Wal.replay(
    walDir,
    covered,
    st.options.onCorruption === 'fail',
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
        refs.set(ref, seriesFor(st, { endpoint, metric, tags, dstype, step }))
      } else if (type === REC_SAMPLES) {
        const count = r.uvarint()
        let t = 0
        for (let i = 0; i < count; i++) {
          const s = refs.get(r.uvarint())
          t += r.varint()
          const v = r.f64()
          if (s === undefined) continue
          // Acknowledged once: kept, unless it has since passed the retention.
          if (t < horizon) st.counters.tooOld++
          // The arrival was not logged: the point's own time stands in, never later than now.
          else store(st, s, t, v, Math.min(t, replayedAt))
        }
      } else if (type === REC_DELETE) {
        const s = st.index.byUid.get(r.string())
        if (s !== undefined) st.forget(s)
      } else if (type === REC_SEAL_ALL) {
        // A flush started here (and did not finish, or this segment would be covered by its block).
        for (const s of st.index.byUid.values()) s.seal()
      }
    }
  )
  for (const d of damage) {
    if (d.torn) st.options.log('warn', `tsdb: cut a torn record off ${d.file} at byte ${d.offset}`)
    else st.damaged(d.file, `${d.message} at byte ${d.offset}; the rest of that segment is lost`)
  }
  st.counters.replayed = st.counters.appended + st.counters.outOfOrderInserted
  st.counters.appended = 0
  st.counters.outOfOrderInserted = 0
  st.wal = Wal.create(walDir, st.options.walSync, Math.max(lastSeq, covered) + 1)
  st.wal.removeUpTo(covered)
}

function seqOfName(name: string): number {
  return parseInt(name.slice(name.indexOf('-') + 1), 10)
}
