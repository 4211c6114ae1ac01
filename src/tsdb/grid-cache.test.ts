import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import { thinChunk } from './grid-cache.js'
import type { SelectHints, SeriesSet } from './querier.js'
import type { SeriesDesc } from './series.js'
import type { Matcher } from './series-index.js'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const T0 = 1_700_006_400_000 - (1_700_006_400_000 % DAY)

let dir = ''
const dbs: Db[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-grid-cache-'))
})
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close({ flush: false })
  rmSync(dir, { recursive: true, force: true })
})

function open(sub: string, extra: Partial<TsdbOptions> = {}): Db {
  const db = Db.open({
    dir: join(dir, sub),
    maintenanceInterval: 0,
    walSync: 'write',
    now: () => T0 + 2 * DAY,
    maxAhead: 10 * DAY,
    ...extra,
  })
  dbs.push(db)
  return db
}

const desc = (endpoint: string, metric: string, step = 60): SeriesDesc => ({
  endpoint,
  metric,
  tags: 'kind=test',
  dstype: 'GAUGE',
  step,
})

// A seeded generator, so a failing case can be replayed.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

function plain(set: SeriesSet): { labels: string; t: number[]; v: number[] }[] {
  return set.labels.map((ls, i) => ({
    labels: ls.map((l) => `${l.name}=${l.value}`).join(','),
    t: Array.from(set.ts.subarray(set.offsets[i], set.offsets[i + 1])),
    v: Array.from(set.vs.subarray(set.offsets[i], set.offsets[i + 1])),
  }))
}

/**
 * Writes the same history into two databases, one with the grid cache and one without: several
 * blocks, a series whose interval changes, late points into flushed time (overlapping blocks and the
 * out-of-order head), duplicates of flushed timestamps with other values, and a head not yet flushed.
 */
async function history(dbA: Db, dbB: Db, seed: number): Promise<void> {
  const rand = rng(seed)
  const series = [desc('a', 'cpu.idle'), desc('b', 'cpu.idle'), desc('c', 'mem.used', 30)]
  const write = async (points: [number, number, number][]): Promise<void> => {
    for (const db of [dbA, dbB]) {
      const app = db.appender()
      for (const [s, t, v] of points) app.append(0, series[s], t, v)
      await app.commit()
    }
  }
  for (let block = 0; block < 3; block++) {
    const pts: [number, number, number][] = []
    for (let i = 0; i < 240; i++) {
      const t = T0 + block * 4 * HOUR + i * MIN
      pts.push([0, t, Math.round(rand() * 1000) / 10])
      if (i % 3 !== 0) pts.push([1, t + 7_000, rand() * 100])
      pts.push([2, T0 + block * 4 * HOUR + i * 30_000 + 13, i % 50])
    }
    await write(pts)
    for (const db of [dbA, dbB]) await db.flush()
  }
  // Late points inside flushed time: some new timestamps, some equal to flushed ones.
  const late: [number, number, number][] = []
  for (let i = 0; i < 60; i++) {
    const t = T0 + Math.floor(rand() * 12 * HOUR)
    late.push([i % 2, rand() < 0.5 ? t - (t % MIN) : t, 5000 + i])
  }
  await write(late)
  for (const db of [dbA, dbB]) await db.flush()
  // Points left in the head.
  const head: [number, number, number][] = []
  for (let i = 0; i < 30; i++) head.push([0, T0 + 12 * HOUR + i * MIN, i])
  await write(head)
}

const all: Matcher[] = [{ name: 'kind', op: '=', value: 'test' }]

describe('thinChunk', () => {
  it('keeps the samples a grid time picks and the last one', () => {
    const ts = Float64Array.from([0, 10, 20, 30, 40, 50, 61])
    const vs = Float64Array.from([0, 1, 2, 3, 4, 5, 6])
    // Grid times …, -5, 20, 45, 70: 20 picks 20, 45 picks 40, 70 picks 61 (also the last).
    const n = thinChunk(ts, vs, 7, 25, 20)
    assert.deepEqual(Array.from(ts.subarray(0, n)), [20, 40, 61])
    assert.deepEqual(Array.from(vs.subarray(0, n)), [2, 4, 6])
  })

  it('keeps every sample when the grid is finer than the samples', () => {
    const ts = Float64Array.from([0, 10, 20])
    const vs = Float64Array.from([1, 2, 3])
    assert.equal(thinChunk(ts, vs, 3, 5, 0), 3)
  })
})

describe('step-grid reads of blocks', () => {
  it('answer as the reads without the cache, cold and warm, for several grids and ranges', async () => {
    for (const seed of [1, 2, 3]) {
      const cached = open(`cached-${seed}`)
      const uncached = open(`uncached-${seed}`, { gridCacheBytes: 0 })
      await history(cached, uncached, seed)
      const rand = rng(seed * 7919)
      for (let q = 0; q < 40; q++) {
        const step = [MIN, 5 * MIN, 7 * MIN + 500, HOUR][q % 4]
        const start = T0 - HOUR + Math.floor(rand() * 10 * HOUR)
        const end = start + Math.floor(rand() * 8 * HOUR)
        const hints: SelectHints = {
          start: start - 5 * MIN,
          end,
          grid: { first: start, step },
        }
        const want = plain(await uncached.querier().select(all, hints))
        // Twice: the first read fills the cache, the second reads from it.
        for (let k = 0; k < 2; k++) {
          const got = plain(await cached.querier().select(all, hints))
          assert.deepEqual(got, want, `seed ${seed}, query ${q}, read ${k}: step ${step}`)
        }
      }
      const grid = cached.stats().caches.grid
      assert.ok(grid.hits > 0, `the cache was read: ${JSON.stringify(grid)}`)
      assert.equal(uncached.stats().caches.grid.bytes, 0)
    }
  })

  it('stays within its budget and forgets a block that compaction removes', async () => {
    const budget = 40_000
    const db = open('small', { gridCacheBytes: budget, maxBlockSpan: DAY })
    const other = open('other', { gridCacheBytes: 0 })
    await history(db, other, 9)
    const hints = (first: number, step: number): SelectHints => ({
      start: T0,
      end: T0 + 13 * HOUR,
      grid: { first, step },
    })
    for (let phase = 0; phase < 6; phase++) {
      const h = hints(T0 + phase * 1000, 5 * MIN)
      assert.deepEqual(
        plain(await db.querier().select(all, h)),
        plain(await other.querier().select(all, h))
      )
      assert.ok(db.stats().caches.grid.bytes <= budget, JSON.stringify(db.stats().caches.grid))
    }
    assert.ok(db.stats().caches.grid.grids > 0)
    assert.ok((await db.compact()) > 0, 'the blocks were compacted')
    assert.equal(db.stats().caches.grid.grids, 0, 'the grids of removed blocks left with them')
    const h = hints(T0, 5 * MIN)
    assert.deepEqual(
      plain(await db.querier().select(all, h)),
      plain(await other.querier().select(all, h))
    )
  })
})

describe('the grid cache under a tight budget', () => {
  it("finds a grid made after room was made by evicting its block's last one", async () => {
    // Two blocks; a budget for about two grids: a second phase evicts the first phase's grids.
    const db = open('tight', { gridCacheBytes: 9000 })
    const d = desc('a', 'cpu')
    for (let b = 0; b < 2; b++) {
      const app = db.appender()
      for (let i = 0; i < 240; i++) app.append(0, d, T0 + b * 4 * HOUR + i * MIN, i)
      await app.commit()
      await db.flush()
    }
    const read = (phase: number): Promise<SeriesSet> =>
      db.querier().select(all, {
        start: T0,
        end: T0 + 8 * HOUR,
        grid: { first: T0 + phase, step: 5 * MIN },
      })
    await read(0)
    await read(1000)
    const after = db.stats().caches.grid
    assert.equal(after.grids, 2, `the new grids are found: ${JSON.stringify(after)}`)
    await read(1000)
    assert.equal(db.stats().caches.grid.hits, after.hits + 2, 'the second read at 1000 hits')
    await db.compact()
    assert.deepEqual(
      [db.stats().caches.grid.grids, db.stats().caches.grid.bytes],
      [0, 0],
      'closed blocks leave nothing behind'
    )
  })
})

describe('cache options', () => {
  it('refuse a budget that is not a whole number of bytes ≥ 0, naming the option', () => {
    for (const [option, value] of [
      ['gridCacheBytes', -1],
      ['gridCacheBytes', 1.5],
      ['gridCacheBytes', Number.NaN],
      ['blockCacheBytes', -1],
    ] as const) {
      assert.throws(
        () => open(`bad-${option}-${String(value)}`, { [option]: value }),
        (err: Error & { code?: string }) =>
          err.code === 'PG_TSDB_BAD_OPTION' && err.message.includes(option),
        `${option} ${value}`
      )
    }
  })
})

describe('released answers', () => {
  it('reuse the columns of a released answer, never of one still held', async () => {
    const db = open('pool')
    const other = open('pool-other')
    await history(db, other, 4)
    const q = db.querier()
    const hints: SelectHints = { start: T0, end: T0 + 13 * HOUR }
    const held = await q.select(all, hints)
    const snapshot = plain(held)
    const released = await q.select(all, hints)
    const buffer = released.ts.buffer
    q.release(released)
    q.release(released) // a second release of the same answer is ignored
    const next = await q.select(all, { start: T0 + HOUR, end: T0 + 5 * HOUR })
    assert.equal(next.ts.buffer, buffer, 'the released columns were reused')
    const after = await q.select(all, { start: T0 + HOUR, end: T0 + 5 * HOUR })
    assert.notEqual(after.ts.buffer, buffer, 'columns are handed out once until released again')
    assert.deepEqual(plain(held), snapshot, 'an answer not released is never written over')
    assert.deepEqual(plain(next), plain(after))
  })
})
