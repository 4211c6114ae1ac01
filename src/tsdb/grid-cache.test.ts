import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import { GridCache, thinChunk } from './grid-cache.js'
import type { MemSeries } from './series.js'
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
  const rand = seededRandom(seed)
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

/** eachThinned reads a select through selectEach and thins each series at the grid, as select does. */
async function eachThinned(db: Db, hints: SelectHints): Promise<ReturnType<typeof plain>> {
  const out: ReturnType<typeof plain> = []
  const g = hints.grid
  await db.querier().selectEach(all, hints, (labels, ts, vs, n) => {
    const t: number[] = []
    const v: number[] = []
    for (let i = 0; i < n; i++) {
      if (g !== undefined) {
        // The sample a grid time at or after it would pick: kept when the next sample is later.
        const at =
          ts[i] <= g.first ? g.first : g.first + Math.ceil((ts[i] - g.first) / g.step) * g.step
        if (at > hints.end) break
        if (i + 1 < n && ts[i + 1] <= at) continue
      }
      t.push(ts[i])
      v.push(vs[i])
    }
    if (t.length > 0)
      out.push({ labels: labels.map((l) => `${l.name}=${l.value}`).join(','), t, v })
  })
  return out
}

/** The end of the last grid time ≤ end, as select thins to. */
function gridHints(start: number, end: number, step: number): SelectHints {
  const first = start
  const last = first + Math.floor((end - first) / step) * step
  return { start: start - 5 * MIN, end: last, grid: { first, step } }
}

describe('step-grid reads of blocks', () => {
  it('answer as the reads without the cache, cold and warm, for several grids and ranges', async () => {
    for (const seed of [1, 2, 3]) {
      const cached = open(`cached-${seed}`)
      const uncached = open(`uncached-${seed}`, { gridCacheBytes: 0 })
      await history(cached, uncached, seed)
      const rand = seededRandom(seed * 7919)
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
        const each = await eachThinned(cached, gridHints(start, end, step))
        const wantEach = plain(await uncached.querier().select(all, gridHints(start, end, step)))
        assert.deepEqual(each, wantEach, `seed ${seed}, query ${q}, selectEach: step ${step}`)
      }
      const grid = cached.stats().caches.grid
      assert.ok(grid.hits > 0, `the cache was read: ${JSON.stringify(grid)}`)
      assert.equal(uncached.stats().caches.grid.bytes, 0)
    }
  })

  it('read older blocks into an entry when a read reaches further back than it', async () => {
    const cached = open('back')
    const uncached = open('back-plain', { gridCacheBytes: 0 })
    await history(cached, uncached, 11)
    // Newest hours first: the entries hold only the newest blocks; then the whole history.
    for (const start of [T0 + 9 * HOUR, T0 + 5 * HOUR, T0 - HOUR, T0 + 9 * HOUR]) {
      const hints = gridHints(start, T0 + 13 * HOUR, 5 * MIN)
      const before = cached.stats().caches.grid
      assert.deepEqual(
        plain(await cached.querier().select(all, hints)),
        plain(await uncached.querier().select(all, hints)),
        `from ${(start - T0) / HOUR} h`
      )
      const after = cached.stats().caches.grid
      if (start === T0 + 9 * HOUR && before.hits + before.misses > 0) {
        assert.equal(after.misses, before.misses, 'a read within what the entries hold hits')
      }
    }
  })

  it('see a flush, a compaction and a retention pass on the next read, within the budget', async () => {
    const budget = 60_000
    const db = open('small', { gridCacheBytes: budget, maxBlockSpan: DAY })
    const other = open('other', { gridCacheBytes: 0, maxBlockSpan: DAY })
    await history(db, other, 9)
    const same = async (what: string): Promise<void> => {
      for (let phase = 0; phase < 3; phase++) {
        const h = gridHints(T0 - HOUR + phase * 1000, T0 + 13 * HOUR, 5 * MIN)
        assert.deepEqual(
          plain(await db.querier().select(all, h)),
          plain(await other.querier().select(all, h)),
          `${what}, phase ${phase}`
        )
        assert.ok(db.stats().caches.grid.bytes <= budget, JSON.stringify(db.stats().caches.grid))
      }
    }
    await same('first read')
    const warm = db.stats().caches.grid
    await same('second read')
    assert.equal(db.stats().caches.grid.misses, warm.misses, 'the second read hits every series')
    // New points flushed into a new block: entries grow by it.
    for (const d of [db, other]) {
      const app = d.appender()
      for (let i = 0; i < 30; i++)
        app.append(0, desc('a', 'cpu.idle'), T0 + 12 * HOUR + i * MIN, -i)
      await app.commit()
      await d.flush()
    }
    await same('after a flush')
    assert.ok((await db.compact()) > 0, 'the blocks were compacted')
    await other.compact()
    await same('after a compaction')
  })

  it('read a series whose blocks all end before the read, as the segments around it change', async () => {
    // The reviewer's case: an empty entry (blocks end before `from`) next to entries rebuilt by a flush.
    const db = open('empty-entry')
    const other = open('empty-entry-plain', { gridCacheBytes: 0 })
    const write = async (name: string, from: number, to: number): Promise<void> => {
      for (const d of [db, other]) {
        const app = d.appender()
        for (let t = from; t < to; t += 5000) app.append(0, desc(name, 'm', 5), T0 + t, t / 1000)
        await app.commit()
      }
    }
    await write('z', 0, 600_000)
    await write('b', 0, 2_000_000)
    await write('c2', 0, 800_000)
    await write('c1', 0, 3_000_000)
    for (const d of [db, other]) await d.flush()
    const read = async (d: Db, endpoint: string, from: number): Promise<ReturnType<typeof plain>> =>
      plain(
        await d.querier().select([{ name: 'endpoint', op: '=~', value: endpoint }], {
          start: T0 + from,
          end: T0 + 4 * HOUR,
          grid: { first: T0 + from, step: 20_000 },
        })
      )
    const same = async (endpoint: string, from: number): Promise<void> =>
      assert.deepEqual(await read(db, endpoint, from), await read(other, endpoint, from), endpoint)
    await same('c2', 0)
    await same('z', 3 * HOUR)
    await same('c1', 0)
    await same('b', 0)
    await write('c2', 800_000, 1_000_000)
    await write('c1', 3_000_000, 3_200_000)
    for (const d of [db, other]) await d.flush()
    await same('c.*', 0)
    await same('z', 3 * HOUR)
    await same('z', 3 * HOUR)
    await same('.*', 0)
  })

  it('see blocks that retention deleted', async () => {
    // Raw data is kept 42 hours: written at T0 + 13 h, the first block (T0 … T0 + 4 h) goes at T0 + 2 d.
    let clock = T0 + 13 * HOUR
    const opts = { tiers: [], retention: { raw: 42 * HOUR }, now: () => clock }
    const db = open('retention', opts)
    const other = open('retention-plain', { gridCacheBytes: 0, ...opts })
    await history(db, other, 12)
    const h = gridHints(T0 - HOUR, T0 + 14 * HOUR, 5 * MIN)
    const full = plain(await db.querier().select(all, h))
    assert.deepEqual(full, plain(await other.querier().select(all, h)))
    clock = T0 + 2 * DAY
    for (const d of [db, other]) await d.applyRetention()
    assert.equal(db.stats().blocksDeleted, 1, 'a block was deleted')
    // A new block in its place: as many blocks as the entries cover, but not the same ones.
    for (const d of [db, other]) {
      const app = d.appender()
      for (let i = 0; i < 60; i++) app.append(0, desc('a', 'cpu.idle'), T0 + 13 * HOUR + i * MIN, i)
      await app.commit()
      await d.flush()
    }
    const cut = plain(await db.querier().select(all, h))
    assert.deepEqual(cut, plain(await other.querier().select(all, h)))
    assert.notDeepEqual(cut, full, 'retention deleted a block the entries held')
  })
})

describe('the grid cache under a tight budget', () => {
  it('evicts the least recently used grid and keeps answering right', async () => {
    // Two blocks of one series; a budget for about one grid: a second phase evicts the first.
    const db = open('tight', { gridCacheBytes: 9000 })
    const other = open('tight-plain', { gridCacheBytes: 0 })
    const d = desc('a', 'cpu')
    for (const x of [db, other]) {
      for (let b = 0; b < 2; b++) {
        const app = x.appender()
        for (let i = 0; i < 240; i++) app.append(0, d, T0 + b * 4 * HOUR + i * MIN, i)
        await app.commit()
        await x.flush()
      }
    }
    const read = async (x: Db, phase: number): Promise<ReturnType<typeof plain>> =>
      plain(
        await x.querier().select(all, {
          start: T0,
          end: T0 + 8 * HOUR,
          grid: { first: T0 + phase, step: 5 * MIN },
        })
      )
    assert.deepEqual(await read(db, 0), await read(other, 0))
    assert.deepEqual(await read(db, 1000), await read(other, 1000))
    const after = db.stats().caches.grid
    assert.equal(after.grids, 1, `one grid fits: ${JSON.stringify(after)}`)
    assert.ok(after.bytes <= 9000)
    assert.deepEqual(await read(db, 1000), await read(other, 1000))
    assert.equal(db.stats().caches.grid.hits, after.hits + 1, 'the second read at 1000 hits')
    assert.deepEqual(await read(db, 0), await read(other, 0))
    assert.equal(db.stats().caches.grid.misses, after.misses + 1, 'phase 0 was evicted')
  })
})

describe("a grid's entries", () => {
  // What a grid reads of a series: its id, blocks epoch and how many blocks it has.
  const series = (id: number, blocks = 1, epoch = 0): MemSeries =>
    ({ id, blocksEpoch: epoch, inBlocks: new Array(blocks) }) as unknown as MemSeries
  const read = (
    g: NonNullable<ReturnType<GridCache['grid']>>,
    s: MemSeries,
    from = -Infinity,
    to = Infinity
  ): number[][] => {
    const out = { ts: new Float64Array(1), vs: new Float64Array(1), n: 0 }
    g.append(s, from, to, out)
    return [Array.from(out.ts.subarray(0, out.n)), Array.from(out.vs.subarray(0, out.n))]
  }

  it('read back what was put, within a range, ascending or not', () => {
    const cache = new GridCache(1 << 20)
    const g = cache.grid(5 * MIN, 0)
    assert.ok(g !== null)
    const room = (extra: number): boolean => cache.room(g, extra)
    const up = series(3)
    const t = Float64Array.from([T0, T0 + MIN, T0 + 2 * MIN, T0 + 9 * MIN])
    const v = Float64Array.from([1, -0, Number.NaN, Infinity])
    assert.ok(g.put(up, t, v, 4, 0, 1, -Infinity, room))
    assert.ok(g.covers(up, T0 - 1))
    assert.deepEqual(read(g, up), [Array.from(t), Array.from(v)])
    assert.deepEqual(read(g, up, T0, T0 + 2 * MIN), [
      [T0 + MIN, T0 + 2 * MIN],
      [-0, Number.NaN],
    ])
    const mixed = series(7)
    const mt = Float64Array.from([T0 + 5 * MIN, T0, T0 + 7 * MIN])
    assert.ok(g.put(mixed, mt, Float64Array.from([1, 2, 3]), 3, 0, 1, -Infinity, room))
    assert.deepEqual(read(g, mixed, T0, T0 + 6 * MIN), [[T0 + 5 * MIN], [1]])
    assert.equal(cache.stats().bytes, g.bytes)
  })

  it("are stale once the series' blocks change, and do not cover a read before their run", () => {
    const cache = new GridCache(1 << 20)
    const g = cache.grid(MIN, 0)
    assert.ok(g !== null)
    const s = series(1, 3)
    g.put(s, Float64Array.of(T0), Float64Array.of(1), 1, 1, 3, T0 - HOUR, (x) => cache.room(g, x))
    assert.ok(g.covers(s, T0 - HOUR))
    assert.ok(!g.covers(s, T0 - HOUR - 1), 'the block before the run may hold samples after that')
    assert.deepEqual(g.run(s), { lo: 1, hi: 3 })
    assert.ok(!g.covers(series(1, 4), T0), 'a block was added')
    assert.deepEqual(g.run(series(1, 4)), { lo: 1, hi: 3 }, 'the run stays a prefix')
    assert.equal(g.run(series(1, 3, 1)), null, 'another epoch: rebuilt')
    assert.ok(!g.covers(series(1, 3, 1), T0))
  })

  it('stay right and within bounds as entries are put again and again', () => {
    const cache = new GridCache(64 << 20)
    const g = cache.grid(MIN, 0)
    assert.ok(g !== null)
    const room = (extra: number): boolean => cache.room(g, extra)
    const rand = seededRandom(5)
    const want = new Map<number, number[]>()
    for (let round = 0; round < 4000; round++) {
      // A few hot series put often, many cold ones once: segments end up partly live.
      const id = rand() < 0.5 ? Math.floor(rand() * 8) : Math.floor(rand() * 3000)
      const n = 1 + Math.floor(rand() * 600)
      const t = Float64Array.from({ length: n }, (_, i) => T0 + i * MIN)
      const v = Float64Array.from({ length: n }, () => Math.floor(rand() * 1e6))
      assert.ok(g.put(series(id), t, v, n, 0, 1, -Infinity, room))
      want.set(id, Array.from(v))
    }
    let live = 0
    for (const [id, v] of want) {
      assert.deepEqual(read(g, series(id))[1], v, `series ${id}`)
      live += v.length
    }
    assert.equal(cache.stats().bytes, g.bytes, 'the cache counts what the grid holds')
    // Garbage is moved out of mostly empty segments: at most about as much again as what is live.
    assert.ok(g.bytes < live * 12 * 2.5, `${g.bytes} bytes for ${live} live samples`)
  })

  it('keep an entry of no sample apart from the segments, whatever is freed around it', () => {
    // An empty entry (every block of the series ends before the read) once pointed into a segment
    // that did not count it; when the segment was freed, reading it threw.
    const cache = new GridCache(1 << 20)
    const g = cache.grid(MIN, 0)
    assert.ok(g !== null)
    const room = (extra: number): boolean => cache.room(g, extra)
    const none = new Float64Array(0)
    const empty = series(1)
    assert.ok(g.put(empty, none, none, 0, 1, 1, T0, room))
    const t = Float64Array.from({ length: 300 }, (_, i) => T0 + i * MIN)
    for (let round = 0; round < 20; round++) {
      for (let id = 2; id < 6; id++) assert.ok(g.put(series(id), t, t, 300, 0, 1, -Infinity, room))
    }
    assert.ok(g.covers(empty, T0))
    assert.deepEqual(read(g, empty), [[], []])
    assert.ok(g.put(empty, t, t, 3, 0, 1, -Infinity, room), 'the entry grows again')
    assert.deepEqual(read(g, empty)[0], [T0, T0 + MIN, T0 + 2 * MIN])
    assert.equal(cache.stats().bytes, g.bytes)
  })

  it('refuse an entry past the budget or spanning more than 2^32 ms, forgetting the old one', () => {
    const cache = new GridCache(8192)
    const g = cache.grid(MIN, 0)
    assert.ok(g !== null)
    const room = (extra: number): boolean => cache.room(g, extra)
    const s = series(0)
    assert.ok(g.put(s, Float64Array.of(T0), Float64Array.of(1), 1, 0, 1, -Infinity, room))
    const big = 10_000
    assert.ok(!g.put(s, new Float64Array(big), new Float64Array(big), big, 0, 1, -Infinity, room))
    assert.equal(g.run(s), null, 'the old entry is not kept in place of the new one')
    assert.ok(
      !g.put(s, Float64Array.of(0, 2 ** 32), Float64Array.of(1, 2), 2, 0, 1, -Infinity, room)
    )
    assert.ok(cache.stats().bytes <= 8192)
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
