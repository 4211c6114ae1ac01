// judge's state on disk: a restart, clean or after a crash (the log written, no close), neither repeats
// a PROBLEM nor forgets one; damaged files are read up to the damage; the files stay bounded.
import assert from 'node:assert/strict'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type HostStrategies, recordingLogger, type Strategy } from '../core/index.js'
import { JudgeEngine } from './judge.js'
import { LOG_PREFIX, readState, restoreInto, SNAPSHOT_FILE, StateFile } from './state.js'
import { md5, pk, point, strategy, T } from './testing.js'

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'pg-judge-state-'))
  dirs.push(d)
  return d
}

const h1 = (...strategies: Strategy[]): HostStrategies[] => [{ hostname: 'h1', strategies }]
/** busy: PROBLEM when the last 2 points are above 90, at most 3 steps, 300 s apart. */
const busy = strategy({ func: 'all(#2)' })

/**
 * judge starts an engine on `dir` as start() does: what the last run left restored, then the rules.
 * `events` lists what it emitted, as `STATUS step`.
 */
function judge(dir: string, rules = h1(busy), maxLogBytes?: number) {
  const log = recordingLogger()
  const read = readState(dir)
  let full = 0
  const file = new StateFile(dir, read.gen, log, () => full++, maxLogBytes)
  const events: string[] = []
  const engine = new JudgeEngine({
    remain: 11,
    minInterval: 300,
    queuePattern: 'event:p%v',
    log,
    journal: file,
    emit: (_list, _payload, e) => events.push(`${e.status} ${e.currentStep}`),
  })
  restoreInto(engine.series, read.series.values())
  engine.setRules(rules, [])
  return {
    engine,
    file,
    events,
    log,
    problems: read.problems,
    full: () => full,
    send: (t: number, v: number, now = T + t) => engine.send([point(T + t, v)], now),
    close: () => file.close(engine.series),
  }
}

const logs = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(LOG_PREFIX))

describe('judge state', () => {
  it('after a clean stop: no second PROBLEM, the OK still comes, the points are back', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    assert.deepEqual(a.events, ['PROBLEM 1'])
    await a.close()

    const b = judge(dir)
    assert.deepEqual(b.problems, [])
    const s = b.engine.series.get('h1', 'cpu.busy', {}, 0, false)
    assert.deepEqual(
      [s?.size, s?.t(0), s?.v(0), s?.t(1), s?.v(1)],
      [2, T + 120, 96, T + 60, 95],
      'the points survive'
    )
    // Triggered again within minInterval: falcon's rules on the restored last event say nothing.
    b.send(180, 97)
    assert.deepEqual(b.events, [])
    // A restored series is judged on its restored points: one new point below 90 clears it.
    b.send(240, 10)
    assert.deepEqual(b.events, ['OK 1'])
    await b.close()
  })

  it('after a crash (log written, no close): no second PROBLEM, the OK still comes', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    assert.deepEqual(a.events, ['PROBLEM 1'])
    // No close: what a kill -9 leaves is what commit wrote. No snapshot was taken: no points.
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false)

    const b = judge(dir)
    assert.deepEqual(b.problems, [])
    b.send(180, 97)
    b.send(240, 98) // enough points again, triggered, and within minInterval of the last event
    assert.deepEqual(b.events, [])
    b.send(300, 10)
    assert.deepEqual(b.events, ['OK 1'])
    await b.close()
    await a.close()
  })

  it('keeps the step: after a restart the next PROBLEM is step 2, and maxStep still holds', async () => {
    const dir = tempDir()
    const a = judge(dir, h1(strategy({ func: 'all(#1)', maxStep: 2 })))
    a.send(60, 95)
    await a.close()
    const b = judge(dir, h1(strategy({ func: 'all(#1)', maxStep: 2 })))
    b.send(420, 95) // 360 s after the last event: a repeat is due
    b.send(840, 95) // maxStep reached
    assert.deepEqual(b.events, ['PROBLEM 2'])
    await b.close()
  })

  it('a snapshot plus the log written after it give the latest state', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96) // PROBLEM
    await a.file.snapshot(a.engine.series)
    a.send(180, 10) // OK: only in the new log
    assert.deepEqual(a.events, ['PROBLEM 1', 'OK 1'])
    // Crash. The OK must win over the snapshot's PROBLEM: a new trigger is a new PROBLEM.
    const b = judge(dir)
    b.send(240, 95)
    assert.deepEqual(b.events, ['PROBLEM 1'])
    await b.close()
    await a.close()
  })

  it('drops the points of a series whose PROBLEM came after the snapshot: no false OK', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 10)
    a.send(120, 10)
    await a.file.snapshot(a.engine.series) // holds the two low points
    a.send(180, 95)
    a.send(240, 96)
    assert.deepEqual(a.events, ['PROBLEM 1'])
    // Crash. The snapshot's points and a new high one would read (97, 10): "cleared", falsely.
    const b = judge(dir)
    assert.equal(b.engine.series.get('h1', 'cpu.busy', {}, 0, false)?.size, 0)
    b.send(300, 97)
    b.send(360, 98)
    assert.deepEqual(b.events, [])
    b.send(420, 10)
    assert.deepEqual(b.events, ['OK 1'])
    await b.close()
    await a.close()
  })

  it('a snapshot deletes the logs before it: the files stay bounded', async () => {
    const dir = tempDir()
    const a = judge(dir)
    for (let i = 1; i <= 20; i++) a.send(i * 60, i % 2 === 0 ? 95 : 10)
    assert.equal(logs(dir).length, 1)
    await a.file.snapshot(a.engine.series)
    await a.file.snapshot(a.engine.series)
    assert.equal(logs(dir).length, 1, 'one log: the one after the last snapshot')
    assert.equal(a.file.counters.snapshots, 2)
    assert.ok(a.file.counters.snapshotBytes > 0)
    await a.close()
    const files = readdirSync(dir).sort()
    assert.deepEqual(files, [...logs(dir), SNAPSHOT_FILE].sort())
    // A second close (a stop called twice) writes nothing more.
    await a.close()
    assert.deepEqual(readdirSync(dir).sort(), files)
  })

  it('asks for a snapshot once its log passes the size it was given', async () => {
    const dir = tempDir()
    const a = judge(dir, h1(strategy({ func: 'all(#1)', maxStep: 1 })), 200)
    for (let i = 1; i <= 10; i++) a.send(i * 60, i % 2 === 0 ? 95 : 10)
    assert.equal(a.full(), 1)
    assert.ok(a.file.counters.logBytes > 200)
    await a.close()
  })

  it('restores last events of rules not known yet, and hands them over when the rule comes', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    await a.close()
    // hbs is down at the restart: no rules. The state waits, parked.
    const b = judge(dir, [])
    b.send(180, 97)
    assert.deepEqual(b.events, [])
    await b.close()
    const c = judge(dir, [])
    c.engine.setRules(h1(busy), [])
    c.send(240, 10)
    assert.deepEqual(c.events, ['OK 1'])
    await c.close()
  })

  it('forgets a restored series silent for longer than the purge rule', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    await a.close()
    const b = judge(dir)
    assert.equal(b.engine.purge(T + 121), 1)
    await b.close()
    const c = judge(dir)
    assert.equal(c.engine.series.count, 0, 'the snapshot after the purge left it out')
    await c.close()
  })

  it('reads a log cut in the middle of a record up to the cut, and says so once', async () => {
    const dir = tempDir()
    const rules = () =>
      h1(strategy({ func: 'all(#1)' }), strategy({ id: 4, func: 'all(#1)', rightValue: 95 }))
    const a = judge(dir, rules())
    a.send(60, 93) // strategy 3's PROBLEM, written by one Judge.Send
    a.send(120, 97) // strategy 4's PROBLEM, written by the next
    assert.deepEqual(a.events, ['PROBLEM 1', 'PROBLEM 1'])
    const [name] = logs(dir)
    truncateSync(join(dir, name), readFileSync(join(dir, name)).length - 3)
    const b = judge(dir, rules())
    assert.equal(b.problems.length, 1)
    assert.match(b.problems[0], /judge-state-\d+\.wal: cut short at byte \d+$/)
    b.send(180, 10)
    // Strategy 3's PROBLEM was read and gets its OK; strategy 4's was lost with the cut.
    assert.deepEqual(b.events, ['OK 1'])
    await b.close()
    await a.close()
  })

  it('reads past nothing after a damaged byte, and a bad snapshot does not stop the logs', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    await a.close()
    // Flip a byte inside the snapshot's series record: its checksum no longer matches.
    const snap = join(dir, SNAPSHOT_FILE)
    const bytes = readFileSync(snap)
    bytes[30] ^= 0xff
    writeFileSync(snap, bytes)
    const b = judge(dir)
    assert.equal(b.problems.length, 1)
    assert.match(b.problems[0], /judge-state\.snap: checksum mismatch at byte 16$/)
    assert.equal(b.engine.series.count, 0)
    await b.close()
    // Garbage instead of a snapshot, and a log after it: the log is still read.
    writeFileSync(snap, 'not a snapshot at all')
    const c = judge(dir)
    c.send(180, 95)
    c.send(240, 96)
    assert.deepEqual(c.events, ['PROBLEM 1'])
    assert.match(c.problems[0], /not a judge state file/)
    // c crashes; its log holds the PROBLEM, and the bad snapshot is still there.
    const d = judge(dir)
    assert.equal(d.problems.length, 1)
    d.send(300, 95)
    d.send(360, 96)
    assert.deepEqual(d.events, [])
    d.send(420, 10)
    assert.deepEqual(d.events, ['OK 1'])
    await d.close()
    await c.close()
  })

  it('ignores a snapshot that was being written when the process stopped', async () => {
    const dir = tempDir()
    const a = judge(dir)
    a.send(60, 95)
    a.send(120, 96)
    writeFileSync(join(dir, `${SNAPSHOT_FILE}.tmp`), 'half a snapshot')
    const b = judge(dir)
    assert.deepEqual(b.problems, [])
    assert.equal(existsSync(join(dir, `${SNAPSHOT_FILE}.tmp`)), false)
    b.send(180, 10)
    b.send(240, 10)
    assert.deepEqual(b.events, ['OK 1'])
    await b.close()
    await a.close()
  })

  it('keeps the event id: md5 of the series and the rule, as falcon', async () => {
    const dir = tempDir()
    const ids: string[] = []
    const read = readState(dir)
    const file = new StateFile(dir, read.gen, recordingLogger(), () => undefined)
    const engine = new JudgeEngine({
      remain: 11,
      minInterval: 0,
      queuePattern: 'event:p%v',
      log: recordingLogger(),
      journal: file,
      emit: (_l, _p, e) => ids.push(e.id),
    })
    engine.setRules(h1(strategy({ func: 'all(#1)', metric: 'df' })), [])
    const tags = { mount: '/', fstype: 'ext4' }
    engine.send([point(T, 95, { metric: 'df', tags })], T)
    await file.close(engine.series)
    const again = readState(dir)
    const [s] = again.series.values()
    assert.deepEqual({ ...s.tags }, tags)
    assert.deepEqual([...s.states.keys()], ['s3'])
    assert.deepEqual(ids, [`s_3_${md5(pk('h1', 'df', tags))}`])
  })
})
