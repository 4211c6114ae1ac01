// Rollup tiers, falcon's RRD archives: materialising tier buckets from raw data up to a watermark, and
// recomputing the buckets late points changed (the repair).
import { rmSync } from 'node:fs'
import type { Block, BlockSeriesInput } from './block.js'
import { addByWindow, writeBlock } from './block-writer.js'
import { bucketsFromRaw } from './read.js'
import { Buckets } from './rollup.js'
import type { DbState } from './state.js'

/**
 * rollup materialises the tiers for raw data older than `rollupAfter`, so it outlives the raw retention.
 * With `force`, it runs even when less than a block's worth of time has passed since the last run.
 */
export function rollup(st: DbState, force = false): Promise<void> {
  return st.serial(() => {
    st.checkOpen()
    const target = st.options.now() - st.options.rollupAfter
    for (const k of st.options.tiers) {
      const wm = st.watermarks.get(k) ?? -Infinity
      if (target <= wm) continue
      if (!force && wm !== -Infinity && target - wm < st.options.blockDuration) continue
      rollupTier(st, k, wm, target)
    }
    return Promise.resolve()
  })
}

// Rolls tier k up from watermark wm to target: one block per tier window with buckets in it; only
// the last claims the new watermark (see BlockMeta.partial).
function rollupTier(st: DbState, k: number, wm: number, target: number): void {
  const buckets = new Buckets(256)
  const byWindow = new Map<number, BlockSeriesInput[]>()
  const span = k * st.options.maxBlockSpan
  for (const s of st.index.byUid.values()) {
    const res = k * s.step * 1000
    const from = wm === -Infinity ? -Infinity : Math.floor(wm / res) * res
    const to = Math.floor(target / res) * res
    if (to <= from) continue
    bucketsFromRaw(st, s, res, from, to, buckets.reset())
    addByWindow(byWindow, s, buckets, span)
  }
  const windows = [...byWindow.keys()].sort((a, b) => a - b)
  for (let i = 0; i < windows.length; i++) {
    const last = i === windows.length - 1
    st.blocks.push(
      writeBlock(st, `r${k}`, byWindow.get(windows[i]) as BlockSeriesInput[], {
        upTo: target,
        partial: !last,
      })
    )
  }
  if (windows.length > 0) st.counters.rollups++
  st.setWatermark(k, target)
}

/**
 * repairRollups recomputes, from raw data, the rolled-up buckets that late points changed (the dirty
 * series), and writes them to new tier blocks that take precedence over the old ones (later wins).
 */
export function repairRollups(st: DbState): void {
  if (st.dirty.size === 0) return
  const work = st.dirty
  st.dirty = new Map()
  const written: Block[] = []
  try {
    const buckets = new Buckets(256)
    for (const k of st.options.tiers) {
      const wm = st.watermarks.get(k) ?? -Infinity
      if (wm === -Infinity) continue
      const span = k * st.options.maxBlockSpan
      const byWindow = new Map<number, BlockSeriesInput[]>()
      for (const [s, late] of work) {
        if (st.byId[s.id] !== s) continue // deleted since
        const res = k * s.step * 1000
        const stored = Math.floor(wm / res) * res
        const first = Math.ceil(late / res) * res
        if (first > stored) continue
        bucketsFromRaw(st, s, res, first - res, stored, buckets.reset())
        addByWindow(byWindow, s, buckets, span)
      }
      for (const inputs of byWindow.values()) {
        written.push(writeBlock(st, `r${k}`, inputs, { upTo: wm }))
      }
    }
  } catch (err) {
    for (const b of written) {
      b.close()
      rmSync(b.file, { force: true })
    }
    for (const [s, late] of work) {
      const was = st.dirty.get(s)
      if (was === undefined || late < was) st.dirty.set(s, late)
    }
    throw err
  }
  st.blocks.push(...written)
  if (written.length > 0) {
    st.options.log('info', `tsdb: recomputed rollups of ${work.size} series changed by late points`)
  }
}
