import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AlarmEvent, Strategy } from '../core/index.js'
import { recordAlarmEvent, recordNotification, testEngines } from '../store/index.js'
import { openTestPortal, type CallOptions, type TestPortal } from './testing.js'

/** Failure is the api's error answer. */
interface Failure {
  error: string
}

/** Case is falcon's EventCases JSON. */
interface Case {
  id: string
  endpoint: string
  metric: string
  step: number
  current_step: number
  priority: number
  status: string
  timestamp: string
  process_status: string
  process_note: number
  [k: string]: unknown
}

interface Silence {
  id: number
  endpoint: string
  metric: string
  tags: string
  strategy_id: number
  expression_id: number
  starts_at: number
  ends_at: number
  note: string
  creator: string
  created: string
}

const T0 = 1_764_000_000 // 2025-11-24T16:00:00Z
const iso = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z')

const strategy = (id: number, metric: string, priority: number, tplId: number): Strategy => ({
  id,
  metric,
  tags: {},
  func: 'all(#3)',
  operator: '>',
  rightValue: 90,
  maxStep: 3,
  priority,
  note: `${metric} is high`,
  tpl: { id: tplId, name: `tpl-${tplId}`, parentId: 0, actionId: 1, creator: 'alice' },
})

/** problem is a PROBLEM event of strategy `s` on `endpoint` at `t`. */
const problem = (
  s: Strategy,
  endpoint: string,
  t: number,
  over: Partial<AlarmEvent> = {}
): AlarmEvent => ({
  id: `s_${s.id}_${endpoint}`,
  strategy: s,
  expression: null,
  status: 'PROBLEM',
  endpoint,
  leftValue: 95,
  currentStep: 1,
  eventTime: t,
  pushedTags: {},
  ...over,
})

const CPU = strategy(1, 'cpu.busy', 0, 10)
const DISK = strategy(2, 'df.bytes.free.percent', 2, 20)
const MEM = strategy(3, 'mem.memfree', 3, 20)

for (const engine of await testEngines()) {
  describe(`alarm routes (${engine.engine})`, () => {
    let p: TestPortal
    let alice: string
    let bob: string
    let admin: string
    before(async () => {
      p = await openTestPortal(engine)
      alice = await p.user('alice')
      bob = await p.user('bob')
      admin = await p.user('ada', 1)
      const db = p.store.db
      // web-1's cpu case: three events, the latest at T0+120 (step 3)
      await recordAlarmEvent(db, problem(CPU, 'web-1', T0), '95 > 90')
      await recordAlarmEvent(db, problem(CPU, 'web-1', T0 + 60, { currentStep: 2 }), '96 > 90')
      await recordAlarmEvent(db, problem(CPU, 'web-1', T0 + 120, { currentStep: 3 }), '97 > 90')
      // web-2's cpu case, recovered
      await recordAlarmEvent(db, problem(CPU, 'web-2', T0 + 10), '95 > 90')
      await recordAlarmEvent(db, problem(CPU, 'web-2', T0 + 70, { status: 'OK' }), '50 > 90')
      // db-1's disk case with tags
      await recordAlarmEvent(
        db,
        problem(DISK, 'db-1', T0 + 20, { pushedTags: { mount: '/data' } }),
        '3 > 90'
      )
      // db-1's memory case, an hour earlier
      await recordAlarmEvent(db, problem(MEM, 'db-1', T0 - 3600), '99 > 90')
    })
    after(() => p.close())

    /** call is `p.call` with the answer typed as `T` (a Failure unless said otherwise). */
    const call = async <T = Failure>(
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      options?: CallOptions
    ) => {
      const r = await p.call(method, url, options)
      return { status: r.status, body: r.body as T }
    }
    /** ids lists the case ids `query` finds with GET and, given as a JSON body, with POST. */
    const caseIds = async (query: Record<string, string>, body?: unknown) => {
      const got = await call<Case[]>('GET', '/api/v1/alarm/eventcases', { token: alice, query })
      assert.equal(got.status, 200, JSON.stringify(got.body))
      const posted = await call<Case[]>('POST', '/api/v1/alarm/eventcases', {
        token: alice,
        body: body ?? query,
      })
      assert.equal(posted.status, 200, JSON.stringify(posted.body))
      assert.deepEqual(posted.body, got.body)
      return got.body.map((c) => c.id)
    }
    const failure = async (
      method: 'GET' | 'POST',
      url: string,
      options: CallOptions,
      status: number,
      want: RegExp
    ) => {
      const r = await call(method, url, { token: alice, ...options })
      assert.equal(r.status, status, JSON.stringify(r.body))
      assert.match(r.body.error, want)
    }

    it('answers a case in falcon’s shape, its start and latest event in RFC 3339', async () => {
      const r = await call<Case[]>('GET', '/api/v1/alarm/eventcases', {
        token: alice,
        query: { event_id: 's_1_web-1' },
      })
      assert.equal(r.status, 200)
      assert.deepEqual(r.body, [
        {
          id: 's_1_web-1',
          endpoint: 'web-1',
          metric: 'cpu.busy',
          func: 'all(#3)',
          cond: '97 > 90',
          note: 'cpu.busy is high',
          step: 3,
          current_step: 3,
          priority: 0,
          status: 'PROBLEM',
          timestamp: iso(T0),
          update_at: iso(T0 + 120),
          closed_at: null,
          closed_note: '',
          user_modified: 0,
          tpl_creator: 'alice',
          expression_id: 0,
          strategy_id: 1,
          template_id: 10,
          process_note: 0,
          process_status: 'unresolved',
        },
      ])
    })

    it('filters cases as falcon does, newest first', async () => {
      const start = String(T0 - 60)
      const all = ['s_1_web-1', 's_1_web-2', 's_2_db-1']
      // web-2's case restarted at T0+70 with its OK (currentStep 1)
      assert.deepEqual(await caseIds({ startTime: start }), ['s_1_web-2', 's_2_db-1', 's_1_web-1'])
      assert.deepEqual(await caseIds({ startTime: String(T0 - 7200), endTime: String(T0) }), [
        's_1_web-1',
        's_3_db-1',
      ])
      assert.deepEqual((await caseIds({ startTime: start, priority: '0' })).sort(), [
        's_1_web-1',
        's_1_web-2',
      ])
      assert.deepEqual(await caseIds({ startTime: start, status: 'OK' }), ['s_1_web-2'])
      assert.deepEqual((await caseIds({ startTime: start, status: 'OK,PROBLEM' })).sort(), all)
      assert.deepEqual(await caseIds({ startTime: start, metrics: 'MOUNT=/da' }), ['s_2_db-1'])
      assert.deepEqual(await caseIds({ startTime: start, metrics: '^cpu\\.' }), [
        's_1_web-2',
        's_1_web-1',
      ])
      assert.deepEqual(await caseIds({ startTime: start, metrics: '.+' }), [
        's_1_web-2',
        's_2_db-1',
        's_1_web-1',
      ])
      assert.deepEqual(await caseIds({ strategy_id: '1' }), ['s_1_web-2', 's_1_web-1'])
      // an empty field, as a form sends it, is one not given
      const blank = { startTime: '', priority: '', status: '', limit: '', page: '', metrics: '' }
      assert.deepEqual(await caseIds({ strategy_id: '1', ...blank }), ['s_1_web-2', 's_1_web-1'])
      assert.deepEqual(await caseIds({ template_id: '20' }), ['s_2_db-1', 's_3_db-1'])
      assert.deepEqual(await caseIds({ endpoints: 'db-1' }, { endpoints: ['db-1'] }), [
        's_2_db-1',
        's_3_db-1',
      ])
      const two = await call<Case[]>(
        'GET',
        '/api/v1/alarm/eventcases?endpoints=db-1&endpoints=web-2',
        {
          token: alice,
        }
      )
      assert.deepEqual(
        two.body.map((c) => c.id),
        ['s_1_web-2', 's_2_db-1', 's_3_db-1']
      )
      assert.deepEqual(await caseIds({ event_id: 'nope' }), [])
    })

    it('pages cases as falcon does: 2000 without paging, pages of at most 50', async () => {
      const db = p.store.db
      for (let i = 0; i < 55; i++) {
        await recordAlarmEvent(db, problem(MEM, `many-${i}`, T0 - 86_400 + i), '99 > 90')
      }
      const q = { template_id: '20' }
      const page = async (extra: Record<string, string>) =>
        caseIds({ ...q, ...extra }, { ...q, ...extra })
      assert.equal((await page({})).length, 57)
      const first = await page({ limit: '100' })
      assert.equal(first.length, 50)
      assert.deepEqual(first.slice(0, 3), ['s_2_db-1', 's_3_db-1', 's_3_many-54'])
      assert.deepEqual(await page({ limit: '50', page: '2' }), [
        's_3_many-6',
        's_3_many-5',
        's_3_many-4',
        's_3_many-3',
        's_3_many-2',
        's_3_many-1',
        's_3_many-0',
      ])
      assert.deepEqual(await page({ limit: '2', page: '2' }), ['s_3_many-54', 's_3_many-53'])
      assert.deepEqual(await caseIds({ ...q, metrics: 'mem', limit: '2', page: '3' }), [
        's_3_many-51',
        's_3_many-50',
      ])
    })

    it('names the field of each bad case query', async () => {
      const url = '/api/v1/alarm/eventcases'
      const f = (query: Record<string, string>, want: RegExp) =>
        failure('GET', url, { query }, 400, want)
      await f({}, /^query: give at least one of startTime, endTime, event_id, endpoints/)
      await f({ endpoints: '' }, /^query: give at least one of/)
      await f({ priority: '1' }, /^query: give at least one of/)
      await f({ startTime: 'yesterday' }, /^query\.startTime: expected Unix seconds/)
      await f({ startTime: '-5' }, /^query\.startTime: /)
      await f({ startTime: '20', endTime: '10' }, /^query\.endTime: expected a time at or after/)
      await f({ strategy_id: '1', page: '2' }, /^query\.limit: required with page/)
      await f({ strategy_id: '1', limit: '0' }, /^query\.limit: expected a positive integer/)
      await f({ strategy_id: '1', limit: '5', page: '0' }, /^query\.page: expected a positive/)
      await f({ strategy_id: '1', status: 'CRITICAL' }, /^query\.status: "CRITICAL" is not one/)
      await f({ strategy_id: '1', process_status: 'done' }, /^query\.process_status: "done"/)
      await f({ strategy_id: '1', metrics: '(a+)+$' }, /^query\.metrics: expected a simpler/)
      await f({ strategy_id: '1', metrics: '(' }, /^query\.metrics: /)
      await failure('POST', url, { body: { startTime: '1x' } }, 400, /^body\.startTime: /)
      await failure('POST', url, { body: { endpoints: 5 } }, 400, /^body\.endpoints: /)
      await failure('POST', url, { body: [1] }, 400, /^body: expected a JSON object/)
      const anon = await call('GET', url, { query: { strategy_id: '1' } })
      assert.equal(anon.status, 401)
    })

    it('lists a case’s events newest first, filtered and paged', async () => {
      type Row = { id: number; event_caseId: string; step: number; cond: string; status: number }
      const events = async (query: Record<string, string>) => {
        const r = await call<(Row & { timestamp: string })[]>('GET', '/api/v1/alarm/events', {
          token: bob,
          query,
        })
        assert.equal(r.status, 200, JSON.stringify(r.body))
        const posted = await call('POST', '/api/v1/alarm/events', { token: bob, body: query })
        assert.deepEqual(posted.body, r.body)
        return r.body
      }
      const all = await events({ event_id: 's_1_web-1' })
      assert.deepEqual(
        all.map(({ id: _id, ...e }) => e),
        [
          {
            event_caseId: 's_1_web-1',
            step: 3,
            cond: '97 > 90',
            status: 0,
            timestamp: iso(T0 + 120),
          },
          {
            event_caseId: 's_1_web-1',
            step: 2,
            cond: '96 > 90',
            status: 0,
            timestamp: iso(T0 + 60),
          },
          { event_caseId: 's_1_web-1', step: 1, cond: '95 > 90', status: 0, timestamp: iso(T0) },
        ]
      )
      assert.equal(typeof all[0].id, 'number')
      const steps = async (q: Record<string, string>) =>
        (await events({ event_id: 's_1_web-1', ...q })).map((e) => e.step)
      assert.deepEqual(await steps({ startTime: String(T0 + 60) }), [3, 2])
      assert.deepEqual(await steps({ endTime: String(T0 + 60) }), [2, 1])
      assert.deepEqual(await steps({ limit: '2', page: '2' }), [1])
      assert.deepEqual(await steps({ limit: '0', page: '-1' }), [3, 2, 1])
      const ok = await events({ event_id: 's_1_web-2', status: '1' })
      assert.deepEqual(
        ok.map((e) => [e.status, e.cond]),
        [[1, '50 > 90']]
      )
      assert.deepEqual(await events({ event_id: 'nope' }), [])
      const url = '/api/v1/alarm/events'
      await failure('GET', url, { query: {} }, 400, /^query\.event_id: /)
      await failure('GET', url, { query: { event_id: '' } }, 400, /^query\.event_id: required/)
      await failure('GET', url, { query: { event_id: 'x', status: '2' } }, 400, /^query\.status: /)
      await failure('POST', url, { body: { event_id: 5 } }, 400, /^body\.event_id: /)
    })

    it('adds notes: all but comments set the case’s process status, and lists them', async () => {
      const id = 's_2_db-1'
      const note = (token: string, body: Record<string, unknown>) =>
        call<{ id: string; message: string }>('POST', '/api/v1/alarm/event_note', { token, body })
      const stored = async () => {
        const r = await call<Case[]>('GET', '/api/v1/alarm/eventcases', {
          token: alice,
          query: { event_id: id },
        })
        return r.body[0]
      }
      const claim = await note(bob, { event_id: id, note: 'on it', status: 'in progress' })
      assert.deepEqual(claim, {
        status: 200,
        body: { id, message: `add note to ${id} successfuled` },
      })
      const afterClaim = await stored()
      assert.equal(afterClaim.process_status, 'in progress')
      assert.ok(afterClaim.process_note > 0)
      const comment = await note(alice, {
        event_id: id,
        note: 'disk of db-1 again',
        status: 'comment',
        case_id: 'JIRA-42',
      })
      assert.equal(comment.status, 200)
      assert.equal((await stored()).process_note, afterClaim.process_note)
      assert.equal((await stored()).process_status, 'in progress')
      const resolved = await note(bob, { event_id: id, note: 'cleaned', status: 'resolved' })
      assert.equal(resolved.status, 200)
      const afterResolve = await stored()
      assert.equal(afterResolve.process_status, 'resolved')
      assert.ok(afterResolve.process_note > afterClaim.process_note)

      type Note = { id: number; event_caseId: string; note: string; case_id: string }
      const list = await call<(Note & { status: string; timestamp: string; user: string })[]>(
        'GET',
        '/api/v1/alarm/event_note',
        { token: alice, query: { event_id: id } }
      )
      assert.equal(list.status, 200)
      assert.deepEqual(
        list.body.map((n) => [n.note, n.status, n.user, n.case_id, n.event_caseId]),
        [
          ['cleaned', 'resolved', 'bob', '', id],
          ['disk of db-1 again', 'comment', 'alice', 'JIRA-42', id],
          ['on it', 'in progress', 'bob', '', id],
        ]
      )
      assert.equal(list.body[0].id, afterResolve.process_note)
      assert.match(list.body[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      const comments = await call<Note[]>('GET', '/api/v1/alarm/event_note', {
        token: alice,
        query: { event_id: id, status: 'comment' },
      })
      assert.deepEqual(
        comments.body.map((n) => n.note),
        ['disk of db-1 again']
      )
      const now = Math.floor(Date.now() / 1000)
      const byTime = await call<Note[]>('GET', '/api/v1/alarm/event_note', {
        token: alice,
        query: { startTime: String(now - 600), limit: '2' },
      })
      assert.equal(byTime.body.length, 2)

      // a new PROBLEM reopens the resolved case
      await recordAlarmEvent(
        p.store.db,
        problem(DISK, 'db-1', T0 + 500, { currentStep: 2, pushedTags: { mount: '/data' } }),
        '2 > 90'
      )
      const reopened = await stored()
      assert.equal(reopened.process_status, 'unresolved')
      assert.equal(reopened.process_note, 0)
    })

    it('refuses bad notes naming the field, and notes on unknown cases', async () => {
      const url = '/api/v1/alarm/event_note'
      const f = (body: Record<string, unknown>, status: number, want: RegExp) =>
        failure('POST', url, { body }, status, want)
      const ok = { event_id: 's_1_web-1', note: 'x', status: 'comment' }
      await f({ ...ok, status: 'done' }, 400, /^body\.status: expected one of in progress, /)
      await f({ ...ok, note: '' }, 400, /^body\.note: required/)
      await f({ ...ok, note: 'n'.repeat(301) }, 400, /^body\.note: expected at most 300/)
      await f({ ...ok, case_id: 'c'.repeat(21) }, 400, /^body\.case_id: /)
      await f({ ...ok, event_id: undefined }, 400, /^body\.event_id: /)
      await f({ ...ok, event_id: 's_9_nope' }, 404, /^body\.event_id: no alarm case s_9_nope/)
      const notes = await p.store.db
        .selectFrom('event_note')
        .select('id')
        .where('event_caseId', '=', 's_9_nope')
        .execute()
      assert.deepEqual(notes, [])
      await failure('GET', url, { query: {} }, 400, /^query: give at least one of startTime/)
      await failure('GET', url, { query: { event_id: 'x', status: 'x' } }, 400, /^query\.status/)
    })

    it('creates silences, lists the active and future ones, and all with all=1', async () => {
      const now = Math.floor(Date.now() / 1000)
      const r = await call<Silence>('POST', '/api/v1/alarm/silences', {
        token: alice,
        body: {
          endpoint: ' db-1 ',
          tags: 'mount=/data, dc = x',
          ends_at: now + 3600,
          note: 'disk swap',
        },
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const { id, starts_at, created, ...rest } = r.body
      assert.ok(Math.abs(starts_at - now) <= 2)
      assert.match(created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      assert.equal(typeof id, 'number')
      assert.deepEqual(rest, {
        endpoint: 'db-1',
        metric: '',
        tags: 'dc=x,mount=/data',
        strategy_id: 0,
        expression_id: 0,
        ends_at: now + 3600,
        note: 'disk swap',
        creator: 'alice',
      })
      const future = await call<Silence>('POST', '/api/v1/alarm/silences', {
        token: bob,
        body: { strategy_id: 1, starts_at: now + 7200, ends_at: now + 9000, note: 'upgrade' },
      })
      assert.equal(future.status, 200, JSON.stringify(future.body))
      await p.store.db
        .insertInto('alarm_silence')
        .values({
          metric: 'x',
          starts_at: now - 200,
          ends_at: now - 100,
          note: 'past',
          creator: 'bob',
        })
        .execute()
      const list = await call<Silence[]>('GET', '/api/v1/alarm/silences', { token: bob })
      assert.deepEqual(
        list.body.map((s) => s.note),
        ['disk swap', 'upgrade']
      )
      const all = await call<Silence[]>('GET', '/api/v1/alarm/silences', {
        token: bob,
        query: { all: '1' },
      })
      assert.deepEqual(
        all.body.map((s) => s.note),
        ['disk swap', 'upgrade', 'past']
      )
    })

    it('refuses a silence without a matcher, a reason or a future end', async () => {
      const now = Math.floor(Date.now() / 1000)
      const url = '/api/v1/alarm/silences'
      const f = (body: Record<string, unknown>, want: RegExp) =>
        failure('POST', url, { body }, 400, want)
      const ok = { endpoint: 'web-1', ends_at: now + 60, note: 'why' }
      await f({ ...ok, endpoint: undefined }, /^body: give at least one of endpoint, metric, tags/)
      await f({ ...ok, endpoint: '  ' }, /^body: give at least one of/)
      await f({ ...ok, ends_at: undefined }, /^body\.ends_at: /)
      await f({ ...ok, ends_at: now - 10 }, /^body\.ends_at: expected a time in the future/)
      await f({ ...ok, starts_at: now + 100 }, /^body\.ends_at: expected a time after starts_at/)
      await f({ ...ok, note: ' ' }, /^body\.note: required: say why/)
      await f({ ...ok, tags: 'mount' }, /^body\.tags: expected k=v pairs/)
      await f({ ...ok, strategy_id: -1 }, /^body\.strategy_id: /)
      await f({ ...ok, ends_at: 'soon' }, /^body\.ends_at: /)
      await failure('GET', url, { query: { all: 'yes' } }, 400, /^query\.all: /)
    })

    it('lets only the creator or an admin delete a silence', async () => {
      const now = Math.floor(Date.now() / 1000)
      const make = async () => {
        const r = await call<Silence>('POST', '/api/v1/alarm/silences', {
          token: alice,
          body: { metric: 'cpu.busy', ends_at: now + 60, note: 'tmp' },
        })
        return r.body.id
      }
      const a = await make()
      const refused = await call('DELETE', `/api/v1/alarm/silences/${a}`, { token: bob })
      assert.equal(refused.status, 403)
      assert.match(refused.body.error, /only its creator or an admin/)
      const mine = await call('DELETE', `/api/v1/alarm/silences/${a}`, { token: alice })
      assert.deepEqual(mine, { status: 200, body: { message: `silence:${a} is deleted` } })
      const b = await make()
      assert.equal(
        (await call('DELETE', `/api/v1/alarm/silences/${b}`, { token: admin })).status,
        200
      )
      assert.equal(
        (await call('DELETE', `/api/v1/alarm/silences/${b}`, { token: admin })).status,
        404
      )
      const bad = await call('DELETE', '/api/v1/alarm/silences/x', { token: admin })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error, /^id: /)
    })

    it('lists the notification record, filtered and paged', async () => {
      const db = p.store.db
      const at = (s: number) => new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ')
      await recordNotification(db, {
        event_id: 's_1_web-1',
        channel: 'mail',
        tos: 'ops@example.com',
        subject: '[P0][PROBLEM] web-1',
        status: 'sent',
        attempts: 1,
        created_at: at(T0),
      })
      await recordNotification(db, {
        event_id: 's_1_web-1',
        channel: 'sms',
        tos: '13800000000',
        status: 'failed',
        attempts: 3,
        error: 'gateway: 502',
        created_at: at(T0 + 1),
      })
      await recordNotification(db, {
        channel: 'im',
        tos: 'ops',
        status: 'silenced',
        created_at: at(T0 + 2),
      })
      type Row = {
        id: number
        event_id: string
        channel: string
        status: string
        created_at: string
      }
      const list = async (query: Record<string, string>) => {
        const r = await call<Row[]>('GET', '/api/v1/alarm/notifications', { token: bob, query })
        assert.equal(r.status, 200, JSON.stringify(r.body))
        return r.body
      }
      const all = await list({})
      assert.deepEqual(
        all.map((n) => n.channel),
        ['im', 'sms', 'mail']
      )
      assert.equal(typeof all[1].id, 'number')
      assert.deepEqual(
        { ...all[1], id: 0 },
        {
          id: 0,
          event_id: 's_1_web-1',
          channel: 'sms',
          tos: '13800000000',
          subject: '',
          status: 'failed',
          attempts: 3,
          error: 'gateway: 502',
          created_at: iso(T0 + 1),
        }
      )
      const channels = async (q: Record<string, string>) => (await list(q)).map((n) => n.channel)
      assert.deepEqual(await channels({ event_id: 's_1_web-1' }), ['sms', 'mail'])
      assert.deepEqual(await channels({ status: 'silenced' }), ['im'])
      assert.deepEqual(await channels({ channel: 'mail' }), ['mail'])
      assert.deepEqual(await channels({ startTime: String(T0 + 1), endTime: String(T0 + 1) }), [
        'sms',
      ])
      assert.deepEqual(await channels({ limit: '1', page: '2' }), ['sms'])
      const url = '/api/v1/alarm/notifications'
      await failure('GET', url, { query: { status: 'ok' } }, 400, /^query\.status: expected one of/)
      await failure('GET', url, { query: { channel: 'fax' } }, 400, /^query\.channel: /)
      await failure('GET', url, { query: { limit: '0' } }, 400, /^limit: /)
    })
  })
}
