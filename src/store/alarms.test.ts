import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AlarmEvent, Strategy } from '../core/index.js'
import {
  actionOf,
  activeSilences,
  deleteEventsBefore,
  recordAlarmEvent,
  recordNotification,
  silenceMatches,
  usersOfTeams,
} from './alarms.js'
import type { EventCase } from './schema.js'
import { testEngines, type TestStore } from './testing.js'

const T0 = 1_764_000_000 // 2025-11-24 16:00:00 UTC
const stamp = (s: number) => new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ')

const STRATEGY: Strategy = {
  id: 7,
  metric: 'cpu.idle',
  tags: { core: 'all' },
  func: 'all(#3)',
  operator: '<',
  rightValue: 10,
  maxStep: 3,
  priority: 2,
  note: 'idle is low',
  tpl: { id: 3, name: 'base', parentId: 0, actionId: 4, creator: 'alice' },
}

/** event is a strategy event of case `id` with `over` applied. */
const event = (id: string, over: Partial<AlarmEvent> = {}): AlarmEvent => ({
  id,
  strategy: STRATEGY,
  expression: null,
  status: 'PROBLEM',
  endpoint: 'host-a',
  leftValue: 4.2,
  currentStep: 1,
  eventTime: T0,
  pushedTags: { mount: '/', core: 'all' },
  ...over,
})

for (const engine of await testEngines()) {
  describe(`alarm store (${engine.engine})`, () => {
    let t: TestStore
    before(async () => {
      t = await engine.open()
    })
    after(() => t.drop())

    const caseOf = (id: string) =>
      t.store.db.selectFrom('event_cases').selectAll().where('id', '=', id).executeTakeFirst()
    const eventsOf = (id: string) =>
      t.store.db
        .selectFrom('events')
        .select(['event_caseId', 'step', 'cond', 'status', 'timestamp'])
        .where('event_caseId', '=', id)
        .orderBy('id')
        .execute()

    it('creates a new case as falcon does, and appends its event', async () => {
      const got = await recordAlarmEvent(t.store.db, event('s_7_new'), '4.2 < 10')
      assert.deepEqual(got, {
        id: 's_7_new',
        endpoint: 'host-a',
        metric: 'cpu.idle/core=all,mount=/',
        func: 'all(#3)',
        cond: '4.2 < 10',
        note: 'idle is low',
        max_step: 3,
        current_step: 1,
        priority: 2,
        status: 'PROBLEM',
        timestamp: stamp(T0),
        update_at: stamp(T0),
        closed_at: null,
        closed_note: '',
        user_modified: 0,
        tpl_creator: 'alice',
        expression_id: 0,
        strategy_id: 7,
        template_id: 3,
        process_note: 0,
        process_status: 'unresolved',
      })
      assert.deepEqual(await caseOf('s_7_new'), got)
      assert.deepEqual(await eventsOf('s_7_new'), [
        { event_caseId: 's_7_new', step: 1, cond: '4.2 < 10', status: 0, timestamp: stamp(T0) },
      ])
    })

    it('records an expression event with no template and no tags', async () => {
      const got = await recordAlarmEvent(
        t.store.db,
        event('e_9_x', {
          strategy: null,
          expression: {
            id: 9,
            metric: 'qps',
            tags: {},
            func: 'max(#2)',
            operator: '>',
            rightValue: 100,
            maxStep: 1,
            priority: 0,
            note: 'n'.repeat(600),
            actionId: 5,
          },
          pushedTags: {},
        }),
        '1e+06 > 100'
      )
      assert.equal(got.metric, 'qps')
      assert.equal(got.expression_id, 9)
      assert.equal(got.strategy_id, 0)
      assert.equal(got.template_id, 0)
      assert.equal(got.tpl_creator, '')
      // the expression note is longer than falcon's column: cut to fit, on both engines
      assert.equal(got.note, 'n'.repeat(500))
    })

    it('follows falcon’s update rules step by step', async () => {
      const id = 's_7_steps'
      // f records `over`, after setting the case's process status to `process` when given, and checks
      // the fields in `want` and the number of events.
      const f = async (
        over: Partial<AlarmEvent>,
        cond: string,
        want: Partial<EventCase>,
        events: number,
        process?: { status: string; note: number }
      ) => {
        if (process !== undefined) {
          await t.store.db
            .updateTable('event_cases')
            .set({ process_status: process.status, process_note: process.note })
            .where('id', '=', id)
            .execute()
        }
        const got = await recordAlarmEvent(t.store.db, event(id, over), cond)
        const picked = Object.fromEntries(
          Object.keys(want).map((k) => [k, got[k as keyof EventCase]])
        )
        assert.deepEqual(picked, want, JSON.stringify(over))
        assert.equal((await eventsOf(id)).length, events)
      }
      // a new case
      await f({ eventTime: T0 }, '4.2 < 10', { timestamp: stamp(T0), current_step: 1 }, 1)
      // step 2: update_at moves, the start stays
      await f(
        { eventTime: T0 + 60, currentStep: 2, leftValue: 3 },
        '3 < 10',
        {
          timestamp: stamp(T0),
          update_at: stamp(T0 + 60),
          current_step: 2,
          cond: '3 < 10',
          status: 'PROBLEM',
        },
        2
      )
      // step 3 while someone works on it: `in progress` is kept
      await f(
        { eventTime: T0 + 120, currentStep: 3 },
        '3 < 10',
        {
          timestamp: stamp(T0),
          update_at: stamp(T0 + 120),
          current_step: 3,
          process_status: 'in progress',
          process_note: 11,
        },
        3,
        { status: 'in progress', note: 11 }
      )
      // OK: judge sends it with currentStep 1, so the start moves too
      await f(
        { eventTime: T0 + 180, currentStep: 1, status: 'OK', leftValue: 50 },
        '50 < 10',
        {
          status: 'OK',
          timestamp: stamp(T0 + 180),
          update_at: stamp(T0 + 180),
          current_step: 1,
          process_status: 'in progress',
        },
        4
      )
      // resolved, then a new PROBLEM: reopened
      await f(
        { eventTime: T0 + 240, currentStep: 1 },
        '4 < 10',
        {
          status: 'PROBLEM',
          timestamp: stamp(T0 + 240),
          process_status: 'unresolved',
          process_note: 0,
        },
        5,
        { status: 'resolved', note: 12 }
      )
      // ignored, then step 2: reopened, the start stays
      await f(
        { eventTime: T0 + 300, currentStep: 2 },
        '4 < 10',
        { timestamp: stamp(T0 + 240), process_status: 'unresolved', process_note: 0 },
        6,
        { status: 'ignored', note: 13 }
      )
      // the rule changed under the case: its fields follow, endpoint and metric stay
      await f(
        {
          eventTime: T0 + 360,
          currentStep: 3,
          strategy: { ...STRATEGY, maxStep: 5, priority: 0, note: 'new note', func: 'max(#2)' },
          endpoint: 'ignored-on-update',
        },
        '4 < 10',
        {
          max_step: 5,
          priority: 0,
          note: 'new note',
          func: 'max(#2)',
          endpoint: 'host-a',
          timestamp: stamp(T0 + 240),
        },
        7
      )
      assert.deepEqual(
        (await eventsOf(id)).map((e) => [e.step, e.status, e.timestamp]),
        [
          [1, 0, stamp(T0)],
          [2, 0, stamp(T0 + 60)],
          [3, 0, stamp(T0 + 120)],
          [1, 1, stamp(T0 + 180)],
          [1, 0, stamp(T0 + 240)],
          [2, 0, stamp(T0 + 300)],
          [3, 0, stamp(T0 + 360)],
        ]
      )
    })

    it('records one case when several processes record the same new case at once', async () => {
      const id = 's_7_race'
      const n = 6
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          recordAlarmEvent(
            t.store.db,
            event(id, { eventTime: T0 + i, currentStep: 1 + (i % 3) }),
            `${i} < 10`
          )
        )
      )
      assert.equal(results.length, n)
      const rows = await t.store.db
        .selectFrom('event_cases')
        .select('id')
        .where('id', '=', id)
        .execute()
      assert.equal(rows.length, 1)
      assert.equal((await eventsOf(id)).length, n)
      for (const r of results) assert.equal(r.id, id)
    })

    it('refuses an id longer than event_cases.id holds', async () => {
      await assert.rejects(
        recordAlarmEvent(t.store.db, event('s_'.padEnd(51, 'x')), '1 < 2'),
        /^Error: event\.id: 51 characters/
      )
    })

    it('deletes old events in batches, never cases', async () => {
      const id = 's_7_old'
      for (let i = 0; i < 5; i++) {
        await recordAlarmEvent(t.store.db, event(id, { eventTime: T0 - 1000 + i }), '1 < 10')
      }
      await recordAlarmEvent(t.store.db, event(id, { eventTime: T0 + 1000 }), '1 < 10')
      const before = (await t.store.db.selectFrom('events').select('id').execute()).length
      assert.equal(await deleteEventsBefore(t.store.db, T0 - 997, 2), 2)
      assert.equal(await deleteEventsBefore(t.store.db, T0 - 997, 2), 1)
      assert.equal(await deleteEventsBefore(t.store.db, T0 - 997, 2), 0)
      const after = await t.store.db.selectFrom('events').select('id').execute()
      assert.equal(after.length, before - 3)
      assert.deepEqual(
        (await eventsOf(id)).map((e) => e.timestamp),
        [stamp(T0 - 997), stamp(T0 - 996), stamp(T0 + 1000)]
      )
      assert.notEqual(await caseOf(id), undefined)
    })

    it('lists the silences in force', async () => {
      const now = T0
      const add = (starts_at: number, ends_at: number, note: string) =>
        t.store.db
          .insertInto('alarm_silence')
          .values({ endpoint: 'host-a', starts_at, ends_at, note, creator: 'alice' })
          .execute()
      await add(now - 100, now + 100, 'active')
      await add(now - 100, now, 'ended now')
      await add(now, now + 1, 'starts now')
      await add(now + 1, now + 100, 'future')
      await add(now - 100, 4_102_444_800, 'until 2100')
      const got = await activeSilences(t.store.db, now * 1000 + 500)
      assert.deepEqual(
        got.map((s) => s.note),
        ['active', 'starts now', 'until 2100']
      )
      assert.equal(got[2].ends_at, 4_102_444_800)
    })

    it('records notifications, cutting long text to its column', async () => {
      const id = await recordNotification(t.store.db, {
        event_id: 's_7_new',
        channel: 'mail',
        tos: 'a@example.com,b@example.com',
        subject: 's'.repeat(300),
        status: 'failed',
        attempts: 3,
        error: 'e'.repeat(600),
      })
      const merged = await recordNotification(t.store.db, {
        channel: 'sms',
        tos: '123',
        status: 'sent',
      })
      assert.ok(merged > id)
      const rows = await t.store.db
        .selectFrom('alarm_notification')
        .selectAll()
        .orderBy('id')
        .execute()
      assert.equal(rows[0].subject, 's'.repeat(255))
      assert.equal(rows[0].error, 'e'.repeat(500))
      assert.equal(rows[0].attempts, 3)
      assert.match(rows[0].created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
      assert.deepEqual(
        { ...rows[1], created_at: '' },
        {
          id: merged,
          event_id: '',
          channel: 'sms',
          tos: '123',
          subject: '',
          status: 'sent',
          attempts: 0,
          error: '',
          created_at: '',
        }
      )
    })

    it('reads an action, and the members of teams once each', async () => {
      const db = t.store.db
      const action = await db
        .insertInto('action')
        .values({ uic: 'ops,dba', url: 'http://cb', callback: 1 })
        .executeTakeFirst()
      const actionId = Number(action.insertId)
      assert.equal((await actionOf(db, actionId))?.uic, 'ops,dba')
      assert.equal(await actionOf(db, 0), undefined)
      assert.equal(await actionOf(db, actionId + 100), undefined)

      const user = async (name: string, email: string) =>
        Number(
          (
            await db
              .insertInto('user')
              .values({ name, cnname: name.toUpperCase(), email, phone: '1', im: 'im-' + name })
              .executeTakeFirst()
          ).insertId
        )
      const team = async (name: string, uids: number[]) => {
        const tid = Number(
          (await db.insertInto('team').values({ name }).executeTakeFirst()).insertId
        )
        for (const uid of uids) await db.insertInto('rel_team_user').values({ tid, uid }).execute()
      }
      const ann = await user('ann', 'ann@example.com')
      const bob = await user('bob', 'bob@example.com')
      const cat = await user('cat', 'cat@example.com')
      await team('ops', [bob, ann])
      await team('dba', [ann, cat])
      await team('empty', [])
      assert.deepEqual(await usersOfTeams(db, [' ops', 'dba ', '', 'nope', 'empty', 'ops']), [
        { name: 'ann', cnname: 'ANN', email: 'ann@example.com', phone: '1', im: 'im-ann' },
        { name: 'bob', cnname: 'BOB', email: 'bob@example.com', phone: '1', im: 'im-bob' },
        { name: 'cat', cnname: 'CAT', email: 'cat@example.com', phone: '1', im: 'im-cat' },
      ])
      assert.deepEqual(await usersOfTeams(db, []), [])
      assert.deepEqual(await usersOfTeams(db, ['nope']), [])
    })
  })
}

describe('silenceMatches', () => {
  const none = { endpoint: '', metric: '', tags: '', strategy_id: 0, expression_id: 0 }
  const e = event('s_7_x')
  const f = (silence: Partial<typeof none>, want: boolean, ev: AlarmEvent = e) =>
    assert.equal(silenceMatches({ ...none, ...silence }, ev), want, JSON.stringify(silence))

  it('matches on every field that is set, exactly', () => {
    f({}, true)
    f({ endpoint: 'host-a' }, true)
    f({ endpoint: 'host-b' }, false)
    f({ endpoint: 'host' }, false)
    f({ metric: 'cpu.idle' }, true)
    f({ metric: 'cpu.idle/core=all' }, false)
    f({ metric: 'cpu' }, false)
    f({ strategy_id: 7 }, true)
    f({ strategy_id: 8 }, false)
    f({ expression_id: 9 }, false)
    f({ endpoint: 'host-a', metric: 'cpu.idle', strategy_id: 7 }, true)
    f({ endpoint: 'host-a', metric: 'cpu.idle', strategy_id: 8 }, false)
  })

  it('finds each silenced tag among the pushed tags or the rule tags', () => {
    f({ tags: 'mount=/' }, true)
    f({ tags: 'core=all' }, true)
    f({ tags: 'core=all,mount=/' }, true)
    f({ tags: ' mount = / , core=all' }, true)
    f({ tags: 'mount=/home' }, false)
    f({ tags: 'mount=/,dc=x' }, false)
    f({ tags: 'constructor=x' }, false)
    f({ tags: 'rack=r1' }, true, event('s_7_y', { pushedTags: { rack: 'r1' } }))
  })

  it('matches expression events by expression id and the expression metric', () => {
    const x = event('e_9_x', {
      strategy: null,
      expression: {
        id: 9,
        metric: 'qps',
        tags: { svc: 'web' },
        func: 'all(#1)',
        operator: '>',
        rightValue: 1,
        maxStep: 1,
        priority: 1,
        note: '',
        actionId: 1,
      },
      pushedTags: {},
    })
    f({ expression_id: 9 }, true, x)
    f({ expression_id: 9, strategy_id: 7 }, false, x)
    f({ metric: 'qps', tags: 'svc=web' }, true, x)
    f({ tags: 'svc=db' }, false, x)
  })
})
