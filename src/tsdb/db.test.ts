import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import type { SeriesDesc } from './series.js'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % DAY)

const gauge = (endpoint: string, metric: string, tags = ''): SeriesDesc => ({
  endpoint,
  metric,
  tags,
  dstype: 'GAUGE',
  step: 60,
})
const derive = (endpoint: string, metric: string, tags = ''): SeriesDesc => ({
  ...gauge(endpoint, metric, tags),
  dstype: 'DERIVE',
})

let dir = ''
let clock = T0
const dbs: Db[] = []

function open(extra: Partial<TsdbOptions> = {}): Db {
  const db = Db.open({ dir, maintenanceInterval: 0, walSync: 'write', now: () => clock, ...extra })
  dbs.push(db)
  return db
}

async function write(db: Db, desc: SeriesDesc, points: [number, number][]): Promise<void> {
  const app = db.appender()
  let ref = 0
  for (const [t, v] of points) ref = app.append(ref, desc, t, v)
  await app.commit()
}

function values(
  db: Db,
  key: string,
  start: number,
  end: number,
  step?: number,
  cf?: 'AVERAGE' | 'MAX' | 'MIN' | 'LAST'
) {
  const r = db.query(key, { start, end, step, consolFun: cf })
  assert.ok(r !== null, `${key} exists`)
  return {
    step: r.step,
    tier: r.tier,
    points: Array.from(r.ts.subarray(0, r.n), (t, i) => [t, r.vs[i]]),
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-tsdb-'))
  clock = T0 + DAY
})

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close({ flush: false }).catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
})

describe('tsdb Db', () => {
  it('reads back gauges from head, blocks and after reopen', async () => {
    let db = open()
    const pts: [number, number][] = Array.from({ length: 500 }, (_, i) => [
      T0 + i * MIN,
      50 + (i % 7) / 4,
    ])
    await write(db, gauge('h1', 'cpu.idle'), pts)
    assert.deepEqual(values(db, 'h1/cpu.idle', T0, T0 + DAY).points, pts)
    await db.flush()
    assert.deepEqual(values(db, 'h1/cpu.idle', T0, T0 + DAY).points, pts)
    assert.deepEqual(
      values(db, 'h1/cpu.idle', T0 + 10 * MIN, T0 + 12 * MIN).points,
      pts.slice(10, 13)
    )
    await db.close()
    db = open()
    assert.deepEqual(values(db, 'h1/cpu.idle', T0, T0 + DAY).points, pts)
    assert.equal(db.query('h1/nope', { start: T0, end: T0 + DAY }), null)
  })

  it('stores COUNTER/DERIVE raw and reads per-second rates, resets and gaps unknown as falcon', async () => {
    const db = open()
    // 60 s apart: +600 → 10/s; a reset (decrease) gives no rate; a 3-step gap exceeds the 2-step heartbeat.
    await write(db, derive('h1', 'net.if.in.bytes', 'iface=eth0'), [
      [T0, 1000],
      [T0 + MIN, 1600.9],
      [T0 + 2 * MIN, 2200],
      [T0 + 3 * MIN, 100],
      [T0 + 4 * MIN, 400],
      [T0 + 7 * MIN, 700],
      [T0 + 8 * MIN, 760],
    ])
    assert.deepEqual(values(db, 'h1/net.if.in.bytes/iface=eth0', T0, T0 + HOUR).points, [
      [T0 + MIN, 10],
      [T0 + 2 * MIN, 10],
      [T0 + 4 * MIN, 5],
      [T0 + 8 * MIN, 1],
    ])
    // A range starting mid-series still gets the rate of its first point.
    assert.deepEqual(
      values(db, 'h1/net.if.in.bytes/iface=eth0', T0 + 2 * MIN, T0 + 2 * MIN).points,
      [[T0 + 2 * MIN, 10]]
    )
    const last = db.last('h1/net.if.in.bytes/iface=eth0')
    assert.deepEqual(last?.v, [700, 760])
  })

  it('keeps the first of duplicates, stores late points anywhere inside retention, refuses older ones, counts all', async () => {
    const db = open()
    const d = gauge('h1', 'm')
    const app = db.appender()
    let ref = app.append(0, d, T0 + 10 * MIN, 1)
    ref = app.append(ref, d, T0 + 12 * MIN, 2)
    app.append(ref, d, T0 + 12 * MIN, 99) // duplicate: first wins
    app.append(ref, d, T0 + 11 * MIN, 3) // late but in the head: inserted
    app.append(ref, d, T0 - 2 * DAY * 4, 3) // past raw retention: too old
    let r = await app.commit()
    assert.deepEqual(r, {
      appended: 2,
      duplicates: 1,
      outOfOrderInserted: 1,
      tooOld: 1,
      tooNew: 0,
      seriesLimited: 0,
      refused: [{ index: 4, code: 'PG_TSDB_TOO_OLD', message: r.refused[0]?.message }],
    })
    await db.flush()
    app.append(ref, d, T0 + 5 * MIN, 4) // older than what is in a block: stored all the same
    app.append(ref, d, T0 + 12 * MIN, 5) // same time as a flushed point: the flushed one stays
    r = await app.commit()
    assert.equal(r.outOfOrderInserted, 1)
    assert.equal(r.duplicates, 1)
    assert.deepEqual(r.refused, [])
    const want = [
      [T0 + 5 * MIN, 4],
      [T0 + 10 * MIN, 1],
      [T0 + 11 * MIN, 3],
      [T0 + 12 * MIN, 2],
    ]
    assert.deepEqual(values(db, 'h1/m', T0, T0 + DAY).points, want)
    await db.flush()
    assert.deepEqual(values(db, 'h1/m', T0, T0 + DAY).points, want)
    const s = db.stats()
    assert.equal(s.duplicates, 2)
    assert.equal(s.outOfOrderInserted, 2)
    assert.equal(s.tooOld, 1)
  })

  it('replays the WAL when closed without a flush, and after a torn last record', async () => {
    // No flush of its own: both writes stay in the WAL.
    let db = open({ blockDuration: 10 * DAY })
    const pts: [number, number][] = Array.from({ length: 300 }, (_, i) => [T0 + i * MIN, i])
    await write(db, gauge('h1', 'm'), pts)
    await write(db, gauge('h2', 'm'), [[T0, 1]])
    await db.close({ flush: false })
    // Tear the last record in half, as a crash mid-write would.
    const walDir = join(dir, 'wal')
    const seg = join(walDir, readdirSync(walDir).sort().at(-1) ?? '')
    truncateSync(seg, statSync(seg).size - 5)
    db = open({ blockDuration: 10 * DAY })
    assert.deepEqual(values(db, 'h1/m', T0, T0 + DAY).points, pts)
    assert.equal(db.query('h2/m', { start: T0, end: T0 + DAY })?.n ?? 0, 0)
    assert.deepEqual(db.stats().repairs, [], 'a torn tail is normal after a crash, not a repair')
  })

  it('tells when a series last got a point and which, late ones included, and after a replay', async () => {
    let db = open()
    assert.equal(db.arrival('h1/m'), null)
    clock = T0 + DAY + 5_000
    await write(db, gauge('h1', 'm'), [[T0 + 10 * MIN, 1]])
    assert.deepEqual(db.arrival('h1/m'), {
      at: T0 + DAY + 5_000,
      t: T0 + 10 * MIN,
      v: 1,
      maxT: T0 + 10 * MIN,
      step: 60,
      dstype: 'GAUGE',
    })
    // A late point (older than the newest) is the last to arrive; the newest stays maxT.
    clock += 30_000
    await write(db, gauge('h1', 'm'), [[T0 + 2 * MIN, 7]])
    assert.deepEqual(
      { ...db.arrival('h1/m') },
      {
        at: T0 + DAY + 35_000,
        t: T0 + 2 * MIN,
        v: 7,
        maxT: T0 + 10 * MIN,
        step: 60,
        dstype: 'GAUGE',
      }
    )
    // A duplicate of a stored timestamp is still an arrival (its sender is alive).
    clock += 30_000
    await write(db, gauge('h1', 'm'), [[T0 + 10 * MIN, 9]])
    assert.equal(db.arrival('h1/m')?.at, T0 + DAY + 65_000)
    await db.close({ flush: false })
    // Replayed, the arrival times are gone: the last replayed point's own time stands in.
    db = open()
    assert.deepEqual(
      { ...db.arrival('h1/m') },
      { at: T0 + 10 * MIN, t: T0 + 10 * MIN, v: 9, maxT: T0 + 10 * MIN, step: 60, dstype: 'GAUGE' }
    )
    // Flushed to a block and reopened (nothing replayed): the newest point stands in, the value
    // stored at that timestamp (the first one written there).
    await db.close({ flush: true })
    db = open()
    assert.deepEqual(
      { ...db.arrival('h1/m') },
      { at: T0 + 10 * MIN, t: T0 + 10 * MIN, v: 1, maxT: T0 + 10 * MIN, step: 60, dstype: 'GAUGE' }
    )
  })

  it('reports a corrupt WAL record naming the file, keeps what precedes it, or fails when asked', async () => {
    let db = open()
    await write(db, gauge('h1', 'm'), [[T0, 1]])
    await write(db, gauge('h1', 'm'), [[T0 + MIN, 2]])
    await write(db, gauge('h1', 'm'), [[T0 + 2 * MIN, 3]])
    await db.close({ flush: false })
    const walDir = join(dir, 'wal')
    const seg = join(walDir, readdirSync(walDir).sort()[0])
    const bytes = readFileSync(seg)
    // Flip a byte inside the second samples record; the third stays intact behind it.
    const second = bytes.length - 40
    bytes[second] ^= 0xff
    writeFileSync(seg, bytes)
    assert.throws(
      () => open({ onCorruption: 'fail' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'PG_TSDB_CORRUPT')
        assert.match(err.message, /\.wal/)
        return true
      }
    )
    db = open()
    const got = values(db, 'h1/m', T0, T0 + DAY).points
    assert.deepEqual(got[0], [T0, 1])
    assert.ok(got.length < 3)
    assert.equal(db.stats().repairs.length, 1)
    assert.match(db.stats().repairs[0], /00000001\.wal: record checksum mismatch/)
  })

  it('moves a truncated block aside and names it; skips a chunk that fails its checksum', async () => {
    let db = open()
    await write(db, gauge('h1', 'a'), [
      [T0, 1],
      [T0 + MIN, 2],
    ])
    await write(db, gauge('h1', 'b'), [
      [T0, 5],
      [T0 + MIN, 6],
    ])
    await db.flush()
    await write(db, gauge('h1', 'a'), [[T0 + 2 * MIN, 3]])
    await db.flush()
    await db.close({ flush: false })
    const blocks = readdirSync(join(dir, 'blocks')).sort()
    assert.equal(blocks.length, 2)
    // Second block: cut in half.
    const second = join(dir, 'blocks', blocks[1])
    truncateSync(second, Math.floor(statSync(second).size / 2))
    // First block: flip a byte in the first chunk's data (just after the 8-byte magic).
    const first = join(dir, 'blocks', blocks[0])
    const bytes = readFileSync(first)
    bytes[10] ^= 0x55
    writeFileSync(first, bytes)
    db = open()
    const repairs = db.stats().repairs
    assert.equal(repairs.length, 2, repairs.join('\n'))
    assert.ok(repairs.some((r) => r.includes(blocks[1]) && /truncated/.test(r)))
    assert.ok(repairs.some((r) => r.includes(blocks[0]) && /checksum/.test(r)))
    assert.ok(readdirSync(join(dir, 'blocks')).includes(blocks[1] + '.corrupt'))
    // One of the two series of block 1 survives intact.
    const a = db.query('h1/a', { start: T0, end: T0 + DAY })?.n ?? 0
    const b = db.query('h1/b', { start: T0, end: T0 + DAY })?.n ?? 0
    assert.equal(a + b, 2)
  })

  it('compacts adjacent blocks into one, and a crash mid-compaction keeps the result only', async () => {
    let db = open()
    const pts: [number, number][] = []
    for (let b = 0; b < 4; b++) {
      const part: [number, number][] = Array.from({ length: 100 }, (_, i) => [
        T0 + (b * 100 + i) * MIN,
        b * 1000 + i,
      ])
      await write(db, gauge('h1', 'm'), part)
      await write(db, gauge('h1', `only${b}`), [[T0 + b * 100 * MIN, b]])
      await db.flush()
      pts.push(...part)
    }
    assert.equal(db.stats().blocks.raw, 4)
    const blocksBefore = readdirSync(join(dir, 'blocks')).sort()
    const before = blocksBefore.map((f) => readFileSync(join(dir, 'blocks', f)))
    assert.equal(await db.compact(), 4)
    assert.equal(db.stats().blocks.raw, 1)
    assert.deepEqual(values(db, 'h1/m', T0, T0 + DAY).points, pts)
    for (let b = 0; b < 4; b++)
      assert.equal(db.query(`h1/only${b}`, { start: T0, end: T0 + DAY })?.n, 1)
    await db.close({ flush: false })
    // Put the sources back, as if the process died before deleting them: the compacted block wins.
    blocksBefore.forEach((f, i) => writeFileSync(join(dir, 'blocks', f), before[i]))
    db = open()
    assert.equal(db.stats().blocks.raw, 1)
    assert.equal(readdirSync(join(dir, 'blocks')).length, 1)
    assert.deepEqual(values(db, 'h1/m', T0, T0 + DAY).points, pts)
  })

  it('does not compact past maxBlockSpan', async () => {
    const db = open({ maxBlockSpan: 3 * HOUR })
    for (let h = 0; h < 6; h++) {
      await write(db, gauge('h1', 'm'), [
        [T0 + h * HOUR, h],
        [T0 + h * HOUR + 50 * MIN, h],
      ])
      await db.flush()
    }
    await db.compact()
    assert.equal(db.stats().blocks.raw, 2)
    assert.equal(db.query('h1/m', { start: T0, end: T0 + DAY })?.n, 12)
  })

  it('deletes series durably, from head, blocks and WAL', async () => {
    let db = open()
    await write(db, gauge('h1', 'a'), [[T0, 1]])
    await db.flush()
    await write(db, gauge('h1', 'a'), [[T0 + MIN, 2]])
    await write(db, gauge('h1', 'b'), [[T0, 1]])
    assert.equal(await db.deleteSeries(['h1/a']), 1)
    assert.equal(db.query('h1/a', { start: T0, end: T0 + DAY }), null)
    await db.close({ flush: false })
    db = open()
    assert.equal(db.query('h1/a', { start: T0, end: T0 + DAY }), null)
    assert.equal(db.query('h1/b', { start: T0, end: T0 + DAY })?.n, 1)
    // Written again after the deletion: only the new point is there.
    await write(db, gauge('h1', 'a'), [[T0 + 5 * MIN, 7]])
    await db.close()
    db = open()
    assert.deepEqual(values(db, 'h1/a', T0, T0 + DAY).points, [[T0 + 5 * MIN, 7]])
  })

  it('indexes endpoints, counters and labels', async () => {
    const db = open()
    await write(db, gauge('web-01', 'cpu.idle'), [[T0, 1]])
    await write(db, gauge('web-02', 'df.bytes.free', 'fstype=ext4,mount=/data'), [[T0, 1]])
    await write(db, derive('db-01', 'net.if.in.bytes', 'iface=eth0'), [[T0, 1]])
    await write(db, derive('db-01', 'net.if.in.bytes', 'iface=lo'), [[T0, 1]])
    assert.deepEqual(db.endpoints(), ['db-01', 'web-01', 'web-02'])
    assert.deepEqual(db.endpoints(['^web']), ['web-01', 'web-02'])
    assert.deepEqual(db.endpoints(['web', '02']), ['web-02'])
    assert.deepEqual(db.endpoints(['[unclosed']), [])
    assert.deepEqual(db.endpoints([], ['iface=lo']), ['db-01'])
    assert.deepEqual(
      db.counters('db-01').map((c) => [c.counter, c.dstype, c.step]),
      [
        ['net.if.in.bytes/iface=eth0', 'DERIVE', 60],
        ['net.if.in.bytes/iface=lo', 'DERIVE', 60],
      ]
    )
    assert.deepEqual(
      db.counters('db-01', ['!lo']).map((c) => c.counter),
      ['net.if.in.bytes/iface=eth0']
    )
    assert.deepEqual(
      db
        .select([
          { name: '__name__', op: '=~', value: 'net\\..*' },
          { name: 'iface', op: '!=', value: 'lo' },
        ])
        .map((s) => s.key),
      ['db-01/net.if.in.bytes/iface=eth0']
    )
    assert.deepEqual(
      db.select([{ name: 'mount', op: '=', value: '/data' }]).map((s) => s.endpoint),
      ['web-02']
    )
    assert.deepEqual(db.labelValues('iface'), ['eth0', 'lo'])
  })

  it('refuses a second open of the same directory', () => {
    open()
    assert.throws(() => open(), { code: 'PG_TSDB_LOCKED' })
  })

  it('rejects bad options and queries with messages naming the field', () => {
    assert.throws(() => Db.open({ dir, walSync: 'sometimes' as 'fsync' }), /tsdb\.walSync/)
    assert.throws(() => Db.open({ dir, retention: { raw: 1000 } }), /tsdb\.retention\.raw/)
    const db = open()
    assert.throws(() => db.appender().append(0, { ...gauge('h', 'm'), step: 0 }, T0, 1), /step/)
    assert.throws(() => db.appender().append(0, gauge('h', 'm'), 1.5, 1), /timestamp/)
  })
})
