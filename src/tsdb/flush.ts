// Flushing the head: when a flush is due, and writing the head's chunks to raw blocks (one per time
// window) behind a WAL barrier, then dropping the WAL segments the blocks cover.
import { rmSync } from 'node:fs'
import { PeregrineError } from '../core/errors.js'
import type { Block, BlockSeriesInput } from './block.js'
import { chunkByWindow, writeBlock } from './block-writer.js'
import { repairRollups } from './rollup-tiers.js'
import type { MemSeries, SealedChunk } from './series.js'
import { type DbState, descOf } from './state.js'
import { REC_SEAL_ALL } from './wal/records.js'

/**
 * maybeScheduleFlush schedules a flush on the next turn of the event loop when the head holds
 * `maxHeadPoints` or spans 1.5 × `blockDuration` since the last flush (not while one runs or backs off).
 */
export function maybeScheduleFlush(st: DbState): void {
  const o = st.options
  // Measured from the last flush, so one series lagging hours behind does not make every commit flush,
  // and up to now, so points ahead of the clock do not either (each would call for one).
  const from = Math.max(st.headMinT, st.flushedUpTo)
  const to = Math.min(st.headMaxT, o.now())
  if (st.headPoints < o.maxHeadPoints && to - from < 1.5 * o.blockDuration) {
    return
  }
  if (st.flushPending || st.flushing || o.now() < st.flushRetryAt) return
  st.flushPending = true
  setImmediate(() => {
    st.flushPending = false
    if (!st.closed) {
      flush(st).catch((err: unknown) =>
        st.options.log('warn', `tsdb flush failed: ${(err as Error).message}`)
      )
    }
  })
}

/**
 * flush writes every point in the head to new blocks, one per time window of `maxBlockSpan` it has
 * points in (late points go to the window they belong to), and drops the WAL segments they cover.
 * Points appended meanwhile go to the next segment and the next flush. Rollup buckets that late points
 * changed are recomputed first.
 */
export function flush(st: DbState): Promise<void> {
  return st.serial(async () => {
    st.flushing = true
    try {
      await flushHead(st)
    } finally {
      st.flushing = false
    }
  })
}

async function flushHead(st: DbState): Promise<void> {
  st.checkOpen()
  const wal = st.wal
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
  for (const s of st.index.byUid.values()) {
    s.seal()
    if (s.sealed.length === 0 && s.oooSealed.length === 0) continue
    parts.push({ s, sealed: s.sealed.slice(), late: s.oooSealed.slice() })
    for (const c of s.sealed) points += c.n
    for (const c of s.oooSealed) points += c.n
  }
  // From here the head counters cover only points appended after this snapshot.
  const saved = { points: st.headPoints, min: st.headMinT, max: st.headMaxT }
  st.headPoints = 0
  st.headMinT = Infinity
  st.headMaxT = -Infinity
  const written: Block[] = []
  const started = performance.now()
  try {
    // Before the WAL segments go: a crash after the repair replays the late points, which marks
    // their series again, and the repair runs again.
    repairRollups(st)
    // Re-encoding is the heavy part: done in slices that let the event loop serve pushes and
    // queries meanwhile. The head keeps every point until the blocks are in place.
    const byWindow = new Map<number, BlockSeriesInput[]>()
    for (let i = 0; i < parts.length; i++) {
      const { s, sealed, late } = parts[i]
      const windows = chunkByWindow(
        late.length === 0 ? sealed : [...sealed, ...late],
        late.length > 0,
        st.options.maxBlockSpan,
        st.encodeScratch
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
      written.push(writeBlock(st, 'raw', inputs, { walSeq, partial: w < windows.length - 1 }))
    }
  } catch (err) {
    // The head keeps every point and its WAL segments stay. Commits do not retry at once: a full
    // disk would have every commit re-encode the head; maintenance and the backoff retry instead.
    for (const b of written) {
      b.close()
      rmSync(b.file, { force: true })
    }
    st.headPoints += saved.points
    st.headMinT = Math.min(st.headMinT, saved.min)
    st.headMaxT = Math.max(st.headMaxT, saved.max)
    st.flushBackoff = Math.min(Math.max(2 * st.flushBackoff, 1000), 60_000)
    st.flushRetryAt = st.options.now() + st.flushBackoff
    st.flushError = `${(err as Error).message}`
    throw new PeregrineError(
      'PG_TSDB_WAL_WRITE',
      `flush failed: ${(err as Error).message}; the points stay in memory and in the WAL`,
      { cause: err }
    )
  }
  st.flushBackoff = 0
  st.flushRetryAt = -Infinity
  st.flushError = null
  // The flushed chunks leave the head; chunks sealed since the snapshot stay behind them.
  st.blocks.push(...written)
  for (const { s, sealed, late } of parts) {
    s.dropFlushed(sealed.length, late.length)
    for (const block of written) {
      const entry = block.series.get(s.uid)
      if (entry !== undefined) s.addBlock(block, entry)
    }
  }
  if (written.length > 0) {
    st.counters.flushes++
    st.options.log(
      'info',
      `tsdb: wrote ${written.map((b) => b.name).join(', ')}: ${parts.length} series, ${points} points, ${written.reduce((a, b) => a + b.bytes, 0)} bytes in ${Math.round(performance.now() - started)} ms`
    )
  }
  // Capped at now: one point from a clock far ahead must not hold the next flush off for days.
  st.flushedUpTo = Math.max(st.flushedUpTo, Math.min(saved.max, st.options.now()))
  st.lastFlushWall = st.options.now()
  await wal.commit()
  wal.removeUpTo(walSeq)
}
