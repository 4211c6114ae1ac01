// Retention and deletion: blocks past their tier's retention removed (raw ones only once rolled up),
// series deleted by tombstone and WAL record, and the tombstones file kept and pruned.
import { closeSync, fdatasyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ByteWriter } from './chunk/byte-buffer.js'
import type { Block } from './block.js'
import type { MemSeries } from './series.js'
import type { DbState } from './state.js'
import { REC_DELETE } from './wal/records.js'
import { syncDir } from './wal/wal.js'

/**
 * applyRetention deletes blocks past their tier's retention. A raw block goes only once every tier has
 * been rolled up past its end, so no point is lost before it lives on in the tiers.
 */
export function applyRetention(st: DbState): Promise<void> {
  return st.serial(() => {
    st.checkOpen()
    const now = st.options.now()
    const keep: Block[] = []
    const gone: Block[] = []
    for (const b of st.blocks) {
      const limit = st.options.retention[b.meta.kind] ?? Infinity
      // Raw blocks stay while a rollup repair is pending: it recomputes buckets from them.
      const expired =
        b.meta.maxT < now - limit &&
        (b.meta.kind !== 'raw' || (st.dirty.size === 0 && rolledUpBlock(st, b)))
      if (expired) gone.push(b)
      else keep.push(b)
    }
    st.blocks = keep
    for (const b of gone) {
      b.close()
      rmSync(b.file, { force: true })
      st.counters.blocksDeleted++
      for (const uid of b.series.keys()) {
        const s = st.index.byUid.get(uid)
        if (s === undefined) continue
        s.setBlocks(s.inBlocks.filter((x) => x.block !== b))
        // A series with nothing left anywhere leaves the index, as Prometheus' head GC does.
        const empty = s.inBlocks.length === 0 && !s.hasHead()
        if (empty && !keep.some((k) => k.series.has(uid))) st.forget(s)
      }
    }
    pruneTombstones(st)
    return Promise.resolve()
  })
}

// Whether every point of raw block b lies in a bucket each tier has materialised (per step in b).
function rolledUpBlock(st: DbState, b: Block): boolean {
  const steps = new Set<number>()
  for (const e of b.series.values()) steps.add(e.step)
  for (const k of st.options.tiers) {
    const wm = st.watermarks.get(k) ?? -Infinity
    for (const step of steps) {
      const res = k * step * 1000
      if (Math.ceil(b.meta.maxT / res) * res > Math.floor(wm / res) * res) return false
    }
  }
  return true
}

/**
 * deleteSeries deletes the series with these falcon keys (`endpoint/counter`, every dstype and step),
 * from the head, the blocks (by tombstone) and the index; resolves once the deletion is durable.
 */
export function deleteSeries(st: DbState, keys: readonly string[]): Promise<number> {
  return st.serial(async () => {
    st.checkOpen()
    const victims: MemSeries[] = []
    for (const key of keys) victims.push(...st.index.variants(key))
    if (victims.length === 0) return 0
    const w = new ByteWriter()
    for (const s of victims) {
      st.tombstones.push({ uid: s.uid, seq: st.seq })
      w.reset()
      w.u8(REC_DELETE)
      w.string(s.uid)
      st.wal.append(w.take())
      st.forget(s)
      st.counters.seriesDeleted++
    }
    writeTombstones(st)
    await st.wal.commit()
    return victims.length
  })
}

function writeTombstones(st: DbState): void {
  const file = join(st.options.dir, 'tombstones.json')
  writeFileSync(file + '.tmp', JSON.stringify(st.tombstones))
  const fd = openSync(file + '.tmp', 'r+')
  try {
    // The deletion is acknowledged only once it is on disk.
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(file + '.tmp', file)
  syncDir(st.options.dir)
}

function pruneTombstones(st: DbState): void {
  let oldest = Infinity
  for (const b of st.blocks) oldest = Math.min(oldest, b.meta.seq)
  const before = st.tombstones.length
  st.tombstones = st.tombstones.filter((t) => t.seq >= oldest)
  if (st.tombstones.length !== before) writeTombstones(st)
}
