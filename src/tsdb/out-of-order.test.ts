// Late and out-of-order points against a reference model: whatever order points arrive in, and whatever
// flushes, compactions, rollups and reopens happen between, every stored point reads back exactly (the
// first value written at a timestamp), rollups agree with the points, and refusals are exactly the
// points that are too old.
import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import type { SeriesDesc } from './series.js'

const M = 60_000
const H = 60 * M

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

let dir = ''
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-tsdb-ooo-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('tsdb out-of-order points', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`random late points, duplicates, flushes, compactions, rollups and reopens (seed ${seed})`, async () => {
      const r = rng(seed)
      const now = 200 * H
      const options: Partial<TsdbOptions> & { dir: string } = {
        dir,
        now: () => now,
        maintenanceInterval: 0,
        walSync: 'write',
        maxBlockSpan: 6 * H,
        blockDuration: 1000 * H, // flushes only when the test asks
        tiers: [5, 20],
        rollupAfter: 20 * H,
        retention: { raw: 100 * H, r5: 1000 * H, r20: 1000 * H },
      }
      let db = Db.open(options)
      const descs: SeriesDesc[] = [0, 1, 2].map((i) => ({
        endpoint: `host${i}`,
        metric: 'm',
        tags: i === 2 ? 'a=1,b=2' : '',
        dstype: 'GAUGE',
        step: 60,
      }))
      // The model: per series, timestamp → the first value stored there.
      const want = descs.map(() => new Map<number, number>())
      const horizon = now - 100 * H
      let rolledUp = false
      for (let round = 0; round < 40; round++) {
        const app = db.appender()
        const batch: { s: number; t: number; v: number }[] = []
        const size = 1 + Math.floor(r() * 300)
        for (let i = 0; i < size; i++) {
          const s = Math.floor(r() * descs.length)
          // Mostly inside retention, some before it; some reuse a timestamp already written.
          const known = [...want[s].keys()]
          const t =
            known.length > 0 && r() < 0.15
              ? known[Math.floor(r() * known.length)]
              : Math.floor((90 + r() * 110) * 60) * M
          const v = Math.floor(r() * 1e6)
          batch.push({ s, t, v })
          app.append(0, descs[s], t, v)
        }
        const result = await app.commit()
        const refused = new Set(result.refused.map((x) => x.index))
        for (let i = 0; i < batch.length; i++) {
          const { s, t, v } = batch[i]
          if (refused.has(i)) {
            // Refused: before the raw retention, or (after a rollup) in a bucket reaching before it.
            const bucketStart = Math.ceil(t / (20 * M)) * 20 * M - 20 * M
            assert.ok(
              t < horizon || (rolledUp && bucketStart < horizon),
              `point ${i} at ${t / M} min refused`
            )
            continue
          }
          assert.ok(t >= horizon, `point ${i} at ${t / M} min stored though too old`)
          if (!want[s].has(t)) want[s].set(t, v)
        }
        const op = r()
        if (op < 0.2) await db.flush()
        else if (op < 0.3) await db.compact()
        else if (op < 0.4) {
          await db.rollup(true)
          rolledUp = true
        } else if (op < 0.5) {
          await db.close({ flush: r() < 0.5 })
          db = Db.open(options)
        }
        if (round % 10 === 9 || round === 39) {
          check(db, descs, want, horizon, `round ${round}`)
        }
      }
      await db.flush()
      await db.compact()
      check(db, descs, want, horizon, 'after a last flush and compaction')
      await db.close()
      db = Db.open(options)
      check(db, descs, want, horizon, 'after a restart')
      await db.close()
    })
  }
})

function check(
  db: Db,
  descs: SeriesDesc[],
  want: Map<number, number>[],
  horizon: number,
  phase: string
): void {
  for (let s = 0; s < descs.length; s++) {
    const points = [...want[s]].sort((a, b) => a[0] - b[0])
    const raw = db.query(descs[s], { start: horizon, end: 300 * H })
    const got = Array.from(raw?.ts.subarray(0, raw.n) ?? [], (t, i) => [t, raw?.vs[i]])
    assert.deepEqual(got, points, `${phase}: raw points of series ${s}`)
    for (const [step, res] of [
      [300, 5 * M],
      [1200, 20 * M],
    ]) {
      const tier = db.query(descs[s], { start: horizon, end: 300 * H, step, consolFun: 'MAX' })
      const buckets = new Map<number, number>()
      for (const [t, v] of points) {
        const end = Math.ceil(t / res) * res
        buckets.set(end, Math.max(buckets.get(end) ?? -Infinity, v))
      }
      const first = Math.ceil(horizon / res) * res
      const wantBuckets = [...buckets].filter(([e]) => e >= first).sort((a, b) => a[0] - b[0])
      const gotBuckets = Array.from(tier?.ts.subarray(0, tier.n) ?? [], (t, i) => [t, tier?.vs[i]])
      assert.deepEqual(gotBuckets, wantBuckets, `${phase}: step ${step} buckets of series ${s}`)
    }
  }
}
