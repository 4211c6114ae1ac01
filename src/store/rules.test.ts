import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { recordingLogger } from '../core/index.js'
import { RuleRefresher } from './rules.js'
import { testEngines, type TestStore } from './testing.js'

const [engine] = await testEngines()

describe('RuleRefresher', () => {
  let t: TestStore
  before(async () => {
    t = await engine.open()
  })
  after(async () => t.drop())

  it('rereads only when the rows changed or `full` passed, and names a skipped rule once', async () => {
    let now = 0
    let loads = 0
    const log = recordingLogger()
    const r = new RuleRefresher({
      name: 'nodata',
      db: t.store.db,
      table: 'mockcfg',
      interval: 60_000,
      full: 60_000,
      now: () => now,
      log,
      load: () => {
        loads++
        return Promise.resolve(['rule 1 (x): no host group "g"'])
      },
    })
    await r.start()
    await r.reload(false)
    assert.equal(loads, 1, 'nothing changed')
    await t.store.db
      .insertInto('mockcfg')
      .values({
        name: 'a',
        obj: 'h1',
        obj_type: 'host',
        metric: 'm',
        tags: '',
        dstype: 'GAUGE',
        step: 60,
        mock: -1,
        creator: 'root',
        t_create: '2026-01-01 00:00:00',
        t_modify: '2026-01-01 00:00:00',
      })
      .execute()
    await r.reload(false)
    assert.equal(loads, 2, 'a row was added')
    now = 60_000
    await r.reload(false)
    assert.equal(loads, 3, 'a minute passed')
    assert.equal(log.lines.filter((l) => l.includes('skipped rule 1')).length, 1)
    assert.equal(r.counters.reloads, 3)
    await r.stop()
  })

  it('keeps running when the store fails, says so once, and says when it answers again', async () => {
    let fail = true
    const log = recordingLogger()
    const r = new RuleRefresher({
      name: 'aggregator',
      db: t.store.db,
      table: 'cluster',
      interval: 10,
      full: 0,
      now: Date.now,
      log,
      load: () => (fail ? Promise.reject(new Error('store down')) : Promise.resolve([])),
    })
    await r.start()
    const until = Date.now() + 5000
    while (r.counters.reloadFailures < 3 && Date.now() < until)
      await new Promise((s) => setTimeout(s, 10))
    fail = false
    while (r.counters.reloads < 1 && Date.now() < until) await new Promise((s) => setTimeout(s, 10))
    await r.stop()
    assert.ok(r.counters.reloadFailures >= 3)
    // One line for the whole outage, however many rereads failed.
    assert.equal(log.lines.filter((l) => l.includes('cannot')).length, 1, log.lines.join('\n'))
    assert.match(log.lines.join('\n'), /cannot read the rules \(store down\)/)
    assert.match(log.lines.join('\n'), /aggregator: the store answers again/)
  })
})
