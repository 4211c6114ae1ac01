// Storage faults: a disk that fills up and frees again (a real tmpfs of a few MiB, mounted for the
// test), and WAL headers that no writer makes.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { smallDisk, SMALL_DISK_SKIP } from '../core/index.js'
import { Db } from './db.js'
import type { SeriesDesc } from './series.js'

const M = 60_000
const desc: SeriesDesc = { endpoint: 'e', metric: 'm', tags: 'a=1', dstype: 'GAUGE', step: 60 }
const now = 1_800_000_000_000

describe('tsdb storage faults', () => {
  let disk: ReturnType<typeof smallDisk> | undefined
  before(() => {
    if (SMALL_DISK_SKIP === false) disk = smallDisk(4)
  })
  after(() => disk?.unmount())

  it(
    'a full disk fails commits and reports it, then recovers by itself once space returns',
    { skip: SMALL_DISK_SKIP },
    async () => {
      const mnt = (disk as ReturnType<typeof smallDisk>).dir
      const dir = join(mnt, 'db')
      mkdirSync(dir)
      let db = Db.open({ dir, now: () => now, maintenanceInterval: 0, walSync: 'fsync' })
      const app = db.appender()
      const acked: number[] = []
      const refused: number[] = []
      const push = async (t: number): Promise<boolean> => {
        app.append(0, desc, t, t / M)
        try {
          await app.commit()
          acked.push(t)
          return true
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'PG_TSDB_WAL_WRITE')
          refused.push(t)
          return false
        }
      }
      let t = now - 500 * M
      for (; t < now - 400 * M; t += M) assert.ok(await push(t))
      assert.deepEqual(db.health(), { ok: true, problems: [] })

      disk?.fill()
      // Writes fail while the disk is full, and health says why.
      // (A write that fits in the last page a file already has can still succeed.)
      let failed = false
      for (let i = 0; i < 2000 && !failed; i++, t += M) failed = !(await push(t))
      assert.ok(failed, 'a write failed on the full disk')
      assert.equal(await push((t += M)), false, 'and the next one too')
      const h = db.health()
      assert.equal(h.ok, false)
      assert.match(h.problems.join('; '), /write-ahead log cannot be written since .*ENOSPC/)

      // Space comes back: after the retry pause, writes succeed and health clears, no restart.
      disk?.free()
      let recovered = false
      for (let i = 0; i < 50 && !recovered; i++) {
        await new Promise((r) => setTimeout(r, 100))
        recovered = await push((t += M))
      }
      assert.ok(recovered, 'writes succeed again once space is back')
      assert.deepEqual(db.health(), { ok: true, problems: [] })
      for (let i = 0; i < 20; i++) assert.ok(await push((t += M)))
      // The sender sends again what was refused: acknowledged now, and kept like the rest.
      for (const x of refused.splice(0)) assert.ok(await push(x))

      // Every acknowledged point is there, now and after a restart without a flush.
      const read = (d: Db) => {
        const r = d.query(desc, { start: now - 600 * M, end: now })
        return Array.from(r?.ts.subarray(0, r.n) ?? [])
      }
      const has = (d: Db) => acked.every((x) => read(d).includes(x))
      assert.ok(has(db), 'acknowledged points readable')
      await db.close({ flush: false })
      db = Db.open({ dir, now: () => now, maintenanceInterval: 0, walSync: 'fsync' })
      assert.ok(has(db), 'acknowledged points replayed')
      assert.deepEqual(db.stats().repairs, [], 'no damage left behind')
      await db.close()
    }
  )

  it('an impossible record length at the start of a segment is corruption, not a torn write', async () => {
    for (const onCorruption of ['repair', 'fail'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'pg-tsdb-wal-'))
      try {
        let db = Db.open({ dir, now: () => now, maintenanceInterval: 0, walSync: 'write' })
        const app = db.appender()
        app.append(0, desc, now - M, 1)
        await app.commit()
        await db.close({ flush: false })
        // The last segment starts with a header claiming 4 GiB.
        const segs = readdirSync(join(dir, 'wal')).sort()
        const last = join(dir, 'wal', segs[segs.length - 1])
        writeFileSync(last, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3]))
        const reopen = () =>
          Db.open({ dir, now: () => now, maintenanceInterval: 0, walSync: 'write', onCorruption })
        if (onCorruption === 'fail') {
          assert.throws(reopen, { code: 'PG_TSDB_CORRUPT', message: /impossible record length/ })
          continue
        }
        db = reopen()
        assert.match(db.stats().repairs.join(), /impossible record length 4294967295 at byte 0/)
        await db.close()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  })
})
