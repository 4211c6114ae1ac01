// Regression tests, one per bug found in review; each failed before its fix.
import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import type { SeriesDesc } from './series.js'

const M = 60_000
const H = 60 * M
const desc: SeriesDesc = { endpoint: 'e', metric: 'm', tags: '', dstype: 'GAUGE', step: 60 }

let dir = ''
let now = 0
const dbs: Db[] = []
function open(extra: Partial<TsdbOptions> = {}): Db {
  const db = Db.open({ dir, now: () => now, maintenanceInterval: 0, walSync: 'write', ...extra })
  dbs.push(db)
  return db
}
async function write(db: Db, from: number, to: number, d = desc, flush = true): Promise<void> {
  const app = db.appender()
  for (let t = from; t <= to; t += M) app.append(0, d, t, t / M)
  await app.commit()
  if (flush) await db.flush()
}
function sorted(ts: Float64Array, n: number): boolean {
  for (let i = 1; i < n; i++) if (!(ts[i] > ts[i - 1])) return false
  return true
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-tsdb-reg-'))
  now = 100 * H
})
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close({ flush: false }).catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
})

describe('tsdb regressions', () => {
  it('a batch whose WAL write failed leaves nothing in the head: its retry is logged and kept', async () => {
    let db = open()
    await write(db, 99 * H, 99 * H + 9 * M, desc, false)
    await db.flush() // the next records go to a new segment
    // That segment cannot be created, as with a failing disk.
    const next = readdirSync(join(dir, 'wal')).length === 0 ? '00000002.wal' : ''
    assert.equal(next, '00000002.wal')
    mkdirSync(join(dir, 'wal', next))
    const retry = () => write(db, 99 * H + 20 * M, 99 * H + 29 * M, desc, false)
    await assert.rejects(retry(), { code: 'PG_TSDB_WAL_WRITE' })
    // Not acknowledged, and not in the head either: nothing a query or a flush could take for stored.
    assert.equal(db.query(desc, { start: 99 * H + 20 * M, end: 100 * H })?.n, 0)
    rmSync(join(dir, 'wal', next), { recursive: true })
    // The disk is back: the same points are sent again, acknowledged, and survive a crash.
    await new Promise((r) => setTimeout(r, 1100)) // the WAL tries the disk again after a second
    await retry()
    await db.close({ flush: false })
    db = open()
    assert.equal(db.query(desc, { start: 99 * H + 20 * M, end: 100 * H })?.n, 10)
    assert.equal(db.query(desc, { start: 99 * H, end: 100 * H })?.n, 20)
  })

  it('points far ahead of the clock are refused, and do not make every commit flush', async () => {
    const db = open()
    const app = db.appender()
    app.append(0, desc, now + 2 * 24 * H + M, 1) // past maxAhead (2 days)
    app.append(0, desc, now + 24 * H, 2) // inside it
    const r = await app.commit()
    assert.deepEqual(
      r.refused.map((x) => [x.index, x.code]),
      [[0, 'PG_TSDB_TOO_NEW']]
    )
    assert.equal(db.stats().tooNew, 1)
    // A point a day ahead beside ones at now, commit after commit: no flush for each.
    for (let i = 0; i < 20; i++) {
      app.append(0, { ...desc, endpoint: `e${i}` }, now + 24 * H - i * M, 1)
      app.append(0, desc, now - i * M, 1)
      await app.commit()
      await new Promise((r) => setImmediate(r))
    }
    assert.equal(db.stats().flushes, 0)
    assert.equal(readdirSync(join(dir, 'blocks')).length, 0)
  })

  it('a failed flush keeps the head and the WAL: nothing acknowledged is lost', async () => {
    let db = open()
    await write(db, 99 * H, 99 * H + 9 * M, desc, false)
    // The block's temporary file cannot be created, as with a full or failing disk.
    mkdirSync(join(dir, 'blocks', 'raw-00000001.blk.tmp'))
    await assert.rejects(db.flush(), { code: 'PG_TSDB_WAL_WRITE' })
    assert.equal(db.query(desc, { start: 99 * H, end: 100 * H })?.n, 10)
    rmSync(join(dir, 'blocks', 'raw-00000001.blk.tmp'), { recursive: true })
    await write(db, 99 * H + 30 * M, 99 * H + 30 * M)
    await db.close()
    db = open()
    assert.equal(db.query(desc, { start: 99 * H, end: 100 * H })?.n, 11)
  })

  it('replay seals head chunks where the live process did, so an inserted late point survives', async () => {
    let db = open()
    const app = db.appender()
    for (let i = 0; i < 240; i++) app.append(0, desc, 99 * H + i * 1000, i)
    await app.commit()
    // The open chunk is full (240 points) but not yet sealed: the late point grows it instead.
    app.append(0, desc, 99 * H + 100_500, -1)
    assert.equal((await app.commit()).outOfOrderInserted, 1)
    for (let i = 240; i < 500; i++) app.append(0, desc, 99 * H + i * 1000, i)
    await app.commit()
    await db.close({ flush: false })
    db = open()
    assert.equal(db.query(desc, { start: 99 * H, end: 100 * H })?.n, 501)
    assert.equal(db.stats().replayed, 501)
  })

  it('reads a series in time order after a partial compaction and a reopen, and compacts again', async () => {
    let db = open()
    await write(db, 80 * H, 82 * H)
    await write(db, 82 * H + M, 84 * H)
    await write(db, 99 * H, 100 * H)
    await db.close()
    db = open({ maxBlockSpan: 5 * H })
    assert.equal(await db.compact(), 2) // the first two merge; the third stays apart
    await db.close()
    db = open({ maxBlockSpan: 60 * H }) // one window, [60 h, 120 h)
    let q = db.query(desc, { start: 80 * H, end: 100 * H })
    assert.ok(q !== null && q.n === 302 && sorted(q.ts, q.n))
    assert.equal(await db.compact(), 2)
    q = db.query(desc, { start: 80 * H, end: 100 * H })
    assert.ok(q !== null && q.n === 302 && sorted(q.ts, q.n))
    assert.equal(db.query(desc, { start: 81 * H, end: 81 * H + 10 * M })?.n, 11)
  })

  it('keeps a raw block until its last point is inside a materialised bucket', async () => {
    now = 0
    const db = open({ rollupAfter: H, tiers: [100], retention: { raw: 2 * H, r100: 1000 * H } })
    const writeAt = async (a: number, b: number) => {
      for (let t = a; t <= b; t++) {
        now = t * M + 1
        const app = db.appender()
        app.append(0, desc, t * M, t)
        await app.commit()
      }
      await db.flush()
    }
    await writeAt(1, 479)
    await writeAt(480, 530)
    await writeAt(531, 700)
    now = 600 * M
    await db.rollup(true) // watermark 540 min, but r100 holds only buckets ending by 500 min
    now = 660 * M
    await db.applyRetention()
    now = 800 * M
    await db.rollup(true)
    const want = { AVERAGE: 550.5, MIN: 501, MAX: 600 }
    for (const [cf, v] of Object.entries(want)) {
      const r = db.query(desc, {
        start: 501 * M,
        end: 600 * M,
        step: 6000,
        consolFun: cf as 'AVERAGE',
      })
      assert.equal(r?.vs[0], v, cf)
    }
  })

  it('one series lagging hours behind does not turn every commit into a flush', async () => {
    now = 1000 * H
    const db = open()
    const behind: SeriesDesc = { ...desc, endpoint: 'b' }
    for (let i = 0; i < 60; i++) {
      now += M
      const app = db.appender()
      app.append(0, desc, now, 1)
      app.append(0, behind, now - 4 * H, 1)
      await app.commit()
      await new Promise((r) => setImmediate(r))
    }
    await db.flush()
    assert.ok(readdirSync(join(dir, 'blocks')).length <= 2)
    // Blocks that overlap in time across series still compact.
    await db.compact()
    assert.equal(readdirSync(join(dir, 'blocks')).length, 1)
    assert.equal(db.query(behind, { start: now - 6 * H, end: now })?.n, 60)
  })

  it('takes over a LOCK left with its own pid by an earlier process', async () => {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'LOCK'), String(process.pid))
    const db = open()
    await write(db, 99 * H, 99 * H)
    assert.throws(() => open(), { code: 'PG_TSDB_LOCKED' })
  })

  it('reports a tombstones.json of the wrong shape, naming it', async () => {
    for (const body of ['{}', 'null', '[null]', '[{"uid":1}]', 'not json']) {
      writeFileSync(join(dir, 'tombstones.json'), body)
      const db = open()
      assert.match(db.stats().repairs[0], /tombstones\.json: unreadable/, body)
      await db.close({ flush: false })
      dbs.pop()
    }
  })

  it('refuses to open, moving nothing aside, when a block cannot be read for a reason other than damage', async () => {
    let db = open()
    await write(db, 99 * H, 99 * H + M)
    await db.close()
    // A directory where a block file should be: readable as nothing, like EMFILE or EACCES would be.
    mkdirSync(join(dir, 'blocks', 'raw-00000009.blk'))
    assert.throws(() => open(), /cannot open block .*raw-00000009\.blk/)
    assert.ok(!readdirSync(join(dir, 'blocks')).some((f) => f.endsWith('.corrupt')))
    rmSync(join(dir, 'blocks', 'raw-00000009.blk'), { recursive: true })
    db = open()
    assert.equal(db.query(desc, { start: 0, end: 200 * H })?.n, 2)
  })

  it('numbers new blocks above every tombstone, so a re-created series is not hidden', async () => {
    let db = open()
    await write(db, 99 * H, 99 * H)
    await db.deleteSeries(['e/m'])
    await db.close()
    // The tombstone says seq 1; make it claim more, as if newer blocks had expired since.
    writeFileSync(
      join(dir, 'tombstones.json'),
      JSON.stringify([{ uid: 'e/m\x00GAUGE\x0060', seq: 7 }])
    )
    db = open()
    await write(db, 99 * H + 5 * M, 99 * H + 5 * M)
    await db.close()
    db = open()
    assert.equal(db.query(desc, { start: 0, end: 200 * H })?.n, 1)
  })

  it('after a failed flush, commits do not retry it in a loop, and replay still matches the live head', async () => {
    let db = open({ blockDuration: H })
    await write(db, 90 * H, 90 * H + 2 * M, desc, false)
    // Every block file the flushes could try is blocked, as on a full disk.
    const blocked = Array.from({ length: 40 }, (_, i) =>
      join(dir, 'blocks', `raw-${String(i + 1).padStart(8, '0')}.blk.tmp`)
    )
    for (const b of blocked) mkdirSync(b)
    await assert.rejects(db.flush())
    // Data spanning 3 h: every commit would call for a flush.
    const app = db.appender()
    for (let i = 0; i < 30; i++) {
      app.append(0, desc, 93 * H + i * M, i)
      await app.commit()
      await new Promise((r) => setImmediate(r))
    }
    assert.ok(readdirSync(join(dir, 'wal')).length <= 3, readdirSync(join(dir, 'wal')).join())
    // A late point goes into the open chunk, which the failed flush left open.
    app.append(0, desc, 93 * H + 10 * M + 30_000, -1)
    assert.equal((await app.commit()).outOfOrderInserted, 1)
    await db.close({ flush: false })
    for (const b of blocked) rmSync(b, { recursive: true })
    db = open({ blockDuration: H })
    assert.equal(db.query(desc, { start: 89 * H, end: 100 * H })?.n, 3 + 30 + 1)
  })

  it('maintenance still applies retention when the flush fails', async () => {
    now = 100 * H
    const db = open({ tiers: [], retention: { raw: 10 * H } })
    await write(db, 95 * H, 95 * H + M)
    now = 120 * H
    await write(db, 119 * H, 119 * H, desc, false)
    mkdirSync(join(dir, 'blocks', 'raw-00000002.blk.tmp'))
    now = 130 * H
    await assert.rejects(db.maintain(), { code: 'PG_TSDB_WAL_WRITE' })
    assert.equal(db.stats().blocks.raw, undefined, 'the expired block went all the same')
    assert.equal(db.query(desc, { start: 118 * H, end: 130 * H })?.n, 1)
  })

  it('a point from a clock far ahead does not hold off later flushes', async () => {
    now = 100 * H
    const db = open({ blockDuration: H })
    await write(db, 99 * H, 99 * H, { ...desc, endpoint: 'ahead' }, false)
    await write(db, 500 * H, 500 * H, { ...desc, endpoint: 'ahead' })
    // Ordinary data over the next 4 h flushes by itself (every 1.5 block durations).
    const app = db.appender()
    for (let t = 100 * H; t <= 104 * H; t += M) {
      now = t
      app.append(0, desc, t, 1)
      await app.commit()
      await new Promise((r) => setImmediate(r))
    }
    assert.ok(db.stats().flushes >= 3, `${db.stats().flushes} flushes`)
  })

  it('moves aside a block whose footer points before its data', async () => {
    let db = open()
    await write(db, 99 * H, 99 * H + M)
    await db.close()
    const file = join(dir, 'blocks', readdirSync(join(dir, 'blocks'))[0])
    const bytes = readFileSync(file)
    // tableOffset = -8 with the length adjusted to match: consistent, but before the data section.
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    const footer = bytes.length - 24
    view.setFloat64(footer, -8, true)
    view.setUint32(footer + 8, footer + 8, true)
    writeFileSync(file, bytes)
    db = open()
    assert.match(db.stats().repairs.join(), /footer points outside the file; moved aside/)
  })

  it('takes appends while a flush is encoding, and keeps each point once', async () => {
    let db = open()
    const series = Array.from({ length: 1000 }, (_, i) => ({ ...desc, endpoint: `s${i}` }))
    const app = db.appender()
    for (let k = 0; k < 3; k++) for (const d of series) app.append(0, d, 99 * H + k * M, k)
    await app.commit()
    // The flush yields every 256 series; these commits land in between.
    const flushing = db.flush()
    const late = (async () => {
      for (let k = 3; k < 8; k++) {
        const a = db.appender()
        for (const d of series) a.append(0, d, 99 * H + k * M, k)
        await a.commit()
        await new Promise((r) => setImmediate(r))
      }
    })()
    await Promise.all([flushing, late])
    const check = (label: string) => {
      for (const d of [series[0], series[500], series[999]]) {
        const q = db.query(d, { start: 0, end: 200 * H })
        assert.deepEqual(
          Array.from(q?.vs.subarray(0, q.n) ?? []),
          [0, 1, 2, 3, 4, 5, 6, 7],
          `${label} ${d.endpoint}`
        )
      }
    }
    check('live')
    await db.close({ flush: false })
    db = open()
    check('reopened')
  })

  it('stores a late point in a rolled-up bucket and recomputes the bucket, refusing it only when its raw data is gone', async () => {
    now = 0
    const opts = {
      tiers: [5, 20],
      rollupAfter: H,
      retention: { raw: 100 * H, r5: 1000 * H, r20: 1000 * H },
    }
    let db = open(opts)
    const other: SeriesDesc = { ...desc, endpoint: 'other' }
    await write(db, 0, 179 * M, other)
    now = 65 * M + H
    await db.rollup(true) // watermark 65 min: r5 holds buckets to 65 min, r20 only to 60 min
    const app = db.appender()
    // At 58.5 min both tiers hold the bucket of `other`: it is recomputed with the late point in it.
    app.append(0, other, 58 * M + 30_000, 1000)
    // A series silent until now sends points at 62 and 58 min.
    app.append(0, desc, 62 * M, 42)
    app.append(0, desc, 58 * M, 41)
    assert.deepEqual((await app.commit()).refused, [])
    const max = (d: SeriesDesc, step: number) => {
      const r = db.query(d, { start: 41 * M, end: 80 * M, step, consolFun: 'MAX' })
      return Array.from(r?.vs.subarray(0, r.n) ?? [])
    }
    // Before the repair the changed buckets are read from raw data; after it, from the tiers.
    for (const phase of ['before the repair', 'after the repair', 'after a reopen']) {
      assert.deepEqual(max(other, 1200), [1000, 80], `r20 of other, ${phase}`)
      assert.deepEqual(max(other, 300), [45, 50, 55, 1000, 65, 70, 75, 80], `r5, ${phase}`)
      assert.deepEqual(max(desc, 1200), [41, 42], `r20 of desc, ${phase}`)
      if (phase === 'before the repair') await db.flush()
      if (phase === 'after the repair') {
        await db.close()
        db = open(opts)
      }
    }
    // Once raw data from the start of a rolled-up bucket may have expired, the bucket cannot be
    // recomputed: a point in it is refused, one in no rolled-up bucket is stored.
    now = 100 * H + 41 * M
    const late = db.appender()
    late.append(0, other, 42 * M, 1) // r20 bucket (40, 60] starts before 100 h ago
    late.append(0, other, 100 * H + 30 * M, 1)
    const r = await late.commit()
    assert.deepEqual(
      r.refused.map((x) => [x.index, x.code]),
      [[0, 'PG_TSDB_TOO_OLD']]
    )
  })

  it('rejects a bad timestamp without creating the series', () => {
    const db = open()
    assert.throws(() => db.appender().append(0, desc, 1.5, 1), /timestamp/)
    assert.deepEqual(db.endpoints(), [])
  })
})
