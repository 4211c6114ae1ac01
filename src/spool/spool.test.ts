import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { recordingLogger, silentLogger } from '../core/index.js'
import { DiskBudget, SEGMENT_BYTES, Spool, type SpoolOwner } from './spool.js'

const root = mkdtempSync(join(tmpdir(), 'pg-spool-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const fresh = () => join(root, String(n++))

/** A record of `count` items numbered from `from`, as the forwarder writes it (no brackets). */
const rec = (from: number, count: number) =>
  Buffer.from(Array.from({ length: count }, (_, i) => JSON.stringify({ i: from + i })).join(','))
const numbers = (records: readonly Buffer[] = []) =>
  (JSON.parse('[' + records.join(',') + ']') as { i: number }[]).map((x) => x.i)
const owner: SpoolOwner = {
  name: 'test',
  fullError: (used, max) => new Error(`full: ${used} of ${max}`),
  writeError: (dir, cause) => new Error(`${dir}: ${cause.message}`),
}

describe('Spool', () => {
  it('gives back what was appended, in order, in batches of whole records, then nothing', async () => {
    const s = Spool.open(fresh(), owner, new DiskBudget(1 << 20), silentLogger)
    await Promise.all([s.append(rec(0, 3), 3), s.append(rec(3, 3), 3), s.append(rec(6, 3), 3)])
    assert.equal(s.points, 9)
    const a = s.next(5)
    assert.ok(a !== null)
    // At least one record, and no record split: 3 then 3 would pass 5.
    assert.deepEqual(numbers(a.records), [0, 1, 2])
    s.ack(a)
    const b = s.next(100)
    assert.ok(b !== null)
    assert.deepEqual(numbers(b.records), [3, 4, 5, 6, 7, 8])
    s.ack(b)
    assert.equal(s.points, 0)
    assert.equal(s.next(100), null)
    await s.close()
  })

  it('hands out several batches at once, bounded by points and bytes, acknowledged in order', async () => {
    const dir = fresh()
    let s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    for (let i = 0; i < 6; i++) await s.append(rec(i * 2, 2), 2)
    const one = rec(0, 2).length
    const a = s.next(100, 2 * one)
    const b = s.next(100, 2 * one)
    assert.deepEqual(numbers(a?.records), [0, 1, 2, 3])
    assert.deepEqual(numbers(b?.records), [4, 5, 6, 7])
    assert.equal(a?.bytes, 2 * one)
    assert.ok(a !== null && b !== null)
    s.ack(a)
    // Reopened before b was acknowledged: b and what follows are read again, a is not.
    s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    assert.equal(s.points, 8)
    assert.deepEqual(numbers(s.next(100)?.records), [4, 5, 6, 7, 8, 9, 10, 11])
    await s.close()
  })

  it('goes on after a restart that found it emptied, and never removes what came after', async () => {
    const dir = fresh()
    let s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    await s.append(rec(0, 2), 2)
    const a = s.next(100)
    assert.ok(a !== null)
    // Everything sent: the segment goes, the cursor names the next one.
    s.ack(a)
    await s.close()
    s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    await s.append(rec(2, 2), 2)
    assert.deepEqual(numbers(s.next(100)?.records), [2, 3])
    // Not acknowledged downstream: a second restart keeps it and reads it again.
    await s.close()
    s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    assert.equal(s.points, 2)
    assert.deepEqual(numbers(s.next(100)?.records), [2, 3])
    await s.close()
  })

  it('reads the same batch again after rewind, and nothing acknowledged after a reopen', async () => {
    const dir = fresh()
    let s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    await s.append(rec(0, 2), 2)
    await s.append(rec(2, 2), 2)
    const a = s.next(2)
    assert.ok(a !== null)
    s.rewind()
    assert.deepEqual(numbers(s.next(2)?.records), [0, 1])
    s.ack(a)
    // Not closed: the process died with the files as they are.
    s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    assert.equal(s.points, 2)
    assert.deepEqual(numbers(s.next(100)?.records), [2, 3])
    await s.close()
  })

  it('cuts a torn last record (a write a crash interrupted) and keeps the records before it', async () => {
    const dir = fresh()
    let s = Spool.open(dir, owner, new DiskBudget(1 << 20), silentLogger)
    await s.append(rec(0, 2), 2)
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.spool')) as string)
    const whole = statSync(file).size
    // Half a header and body of a next record: what kill -9 during a write leaves.
    appendFileSync(file, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 2, 0, 0, 0, 0x7b]))
    const log = recordingLogger()
    s = Spool.open(dir, owner, new DiskBudget(1 << 20), log)
    assert.equal(statSync(file).size, whole)
    assert.equal(s.points, 2)
    assert.match(log.lines.join('\n'), /cut short/)
    await s.append(rec(2, 1), 1)
    assert.deepEqual(numbers(s.next(100)?.records), [0, 1, 2])
    await s.close()
  })

  it("refuses an append past the budget with its owner's error, keeping what it has", async () => {
    // Room for one record of five items (about 56 bytes) and not two.
    const budget = new DiskBudget(100)
    const s = Spool.open(fresh(), owner, budget, silentLogger)
    await s.append(rec(0, 5), 5)
    await assert.rejects(s.append(rec(5, 5), 5), /^Error: full: \d+ of 100$/)
    assert.equal(budget.refused, 1)
    assert.equal(s.points, 5)
    const b = s.next(100)
    assert.ok(b !== null)
    s.ack(b)
    // Room again once the cluster has taken what was there.
    await s.append(rec(5, 5), 5)
    assert.deepEqual(numbers(s.next(100)?.records), [5, 6, 7, 8, 9])
    await s.close()
  })

  it('removes segments the cluster has wholly taken, and gives their bytes back to the budget', async () => {
    const dir = fresh()
    const budget = new DiskBudget(4 * SEGMENT_BYTES)
    const s = Spool.open(dir, owner, budget, silentLogger)
    // Two segments' worth: a record of ~1 MiB at a time.
    const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1 << 20) }))
    for (let i = 0; i < 20; i++) await s.append(big, 1)
    assert.ok(readdirSync(dir).filter((f) => f.endsWith('.spool')).length >= 2)
    for (;;) {
      const b = s.next(3)
      if (b === null) break
      s.ack(b)
    }
    assert.equal(s.points, 0)
    // The next segment is made by the next append.
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.spool')),
      [],
      'no segment is left'
    )
    assert.equal(budget.used, 0)
    await s.close()
  })
})
