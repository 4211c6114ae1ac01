import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { DEFAULT_METRICS } from './metric-list.js'
import { funcProblem, parseExpression, tagsProblem } from './template-routes.js'
import { openTestPortal, type TestPortal } from './testing.js'

const NO_ACTION = {
  id: 0,
  uic: '',
  url: '',
  callback: 0,
  before_callback_sms: 0,
  before_callback_mail: 0,
  after_callback_sms: 0,
  after_callback_mail: 0,
}

describe('judge rule syntax', () => {
  it('accepts exactly the judge functions and their argument rules', () => {
    const f = (fn: string, ok: boolean) => assert.equal(funcProblem(fn) === undefined, ok, fn)
    for (const name of ['all', 'max', 'min', 'sum', 'avg', 'diff', 'pdiff', 'stddev']) {
      f(`${name}(#3)`, true)
      f(`${name}(#3,4)`, false)
      f(`${name}(#0)`, false)
    }
    f('lookup(#2,3)', true)
    f('lookup(#3,3)', true)
    f('lookup(#4,3)', false)
    f('lookup(#3)', false)
    f('lookup(#0,3)', false)
    f('all(3)', false)
    f('all(#03)', false)
    f('all(#-1)', false)
    f('all(#3) ', false)
    f('ALL(#3)', false)
    f('kdiff(#2,3)', false)
    f('', false)
  })

  it('checks strategy tags as k=v, k!=v, k=~regex, k!~regex separated by commas', () => {
    const f = (tags: string, ok: boolean, metric?: string) =>
      assert.equal(tagsProblem(tags, metric) === undefined, ok, tags)
    f('', true)
    f('port=80', true)
    f('port=80,proto=tcp', true)
    f('k=', true)
    f('mount=~/data.*,fstype!=tmpfs,dev!~loop[0-9]+', true)
    f('port', false)
    f('a=b=c', false)
    f('=b', false)
    f('a=1,', false)
    f('a=1,a=2', false)
    f(' a=1', false)
    f('a=~(', false)
    f('a!=~x', false)
    // An agent reads a builtin metric's tags as what to collect: exact only.
    f('port=80', true, 'net.port.listen')
    f('port=~80|81', false, 'net.port.listen')
    f('name!=x', false, 'proc.num')
    f('port=~80|81', true, 'app.port')
    assert.match(tagsProblem('a=~(') ?? '', /^"a=~\(": error parsing regexp "\(": /)
  })

  it('parses expressions as hbs does', () => {
    assert.deepEqual(parseExpression('each(metric=qps endpoint=host1 project=x)'), {
      metric: 'qps',
      tags: { endpoint: 'host1', project: 'x' },
    })
    assert.deepEqual(parseExpression('each(  metric=qps\tendpoint=h  ) trailing'), {
      metric: 'qps',
      tags: { endpoint: 'h' },
    })
    const bad = (exp: string, re: RegExp) => assert.throws(() => parseExpression(exp), re, exp)
    bad('metric=qps endpoint=h', /no "\("/)
    bad('each(metric=qps endpoint=h', /no "\)"/)
    bad(')each(metric=qps endpoint=h)', /no "\)"/)
    bad('each(metric=qps)', /at least 2 k=v pairs/)
    bad('each(metric=qps endpoint)', /"endpoint" is not k=v/)
    bad('each(metric=a=b endpoint=h)', /"metric=a=b" is not k=v/)
    bad('each(endpoint=h project=x)', /no metric=NAME/)
    bad('each(metric=qps metric=x)', /metric is given twice/)
    bad('each(metric=qps endpoint=)', /non-empty key and value/)
  })
})

interface Tpl {
  id: number
  tpl_name: string
  parent_id: number
  action_id: number
  create_user: string
}
type Action = typeof NO_ACTION
interface TplReply {
  template: Tpl
  stratges: { id: number }[]
  action: Action
  parent_name: string
}
interface Expression {
  id: number
  action_id: number
  right_value: string
  create_user: string
  for: number
}
interface StrategyJson {
  id: number
  metric: string
  for: number
}
interface ExpressionReply {
  expression: Expression
  action: Action
}
/** Reply: the fields of falcon's error and message shapes, for routes read only for those. */
interface Reply {
  error: string
  message: string
  id: number
}

for (const engine of await testEngines()) {
  describe(`template, strategy and expression routes (${engine.engine})`, () => {
    let p: TestPortal
    let alice: string
    let bob: string
    let admin: string

    /** call is p.call with the reply body typed by the caller. */
    const call = async <T = Reply>(...args: Parameters<TestPortal['call']>) => {
      const r = await p.call(...args)
      return { status: r.status, body: r.body as T }
    }

    const newTpl = async (token: string, name: string, parent_id = 0) => {
      const r = await call<Tpl>('POST', '/api/v1/template', { token, body: { name, parent_id } })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body
    }
    const strategy = (tpl_id: number, over: Record<string, unknown> = {}) => ({
      metric: 'cpu.idle',
      tags: '',
      max_step: 3,
      priority: 1,
      func: 'all(#3)',
      op: '<',
      right_value: '10',
      note: 'cpu idle low',
      run_begin: '',
      run_end: '',
      tpl_id,
      ...over,
    })
    const expression = (over: Record<string, unknown> = {}) => ({
      expression: 'each(metric=qps endpoint=host1 project=x)',
      func: 'avg(#5)',
      op: '>=',
      right_value: '1000',
      max_step: 2,
      priority: 2,
      note: 'qps high',
      pause: 0,
      action: { uic: ['ops', 'dba'], url: '', callback: 0 },
      ...over,
    })
    const expressionId = async (note: string) =>
      (
        await p.store.db
          .selectFrom('expression')
          .select('id')
          .where('note', '=', note)
          .executeTakeFirstOrThrow()
      ).id

    before(async () => {
      p = await openTestPortal(engine)
      alice = await p.user('alice')
      bob = await p.user('bob')
      admin = await p.user('adm', 1)
      await p.store.db
        .insertInto('team')
        .values([{ name: 'ops' }, { name: 'dba' }])
        .execute()
    })
    after(() => p.close())

    it('creates, lists, reads and renames templates in falcon shapes', async () => {
      const base = await newTpl(alice, 'shape-base')
      assert.deepEqual(base, {
        id: base.id,
        tpl_name: 'shape-base',
        parent_id: 0,
        action_id: 0,
        create_user: 'alice',
      })
      const web = await newTpl(alice, 'shape-web', base.id)
      const list = await call('GET', '/api/v1/template', { token: bob, query: { q: 'shape-' } })
      assert.equal(list.status, 200)
      assert.deepEqual(list.body, {
        templates: [
          { template: base, parent_name: '' },
          { template: web, parent_name: 'shape-base' },
        ],
      })
      const page = await call('GET', '/api/v1/template', {
        token: bob,
        query: { q: 'shape-', page: '2', limit: '1' },
      })
      assert.deepEqual(page.body, { templates: [{ template: web, parent_name: 'shape-base' }] })
      // q is a regular expression, not a LIKE pattern: `_` is no wildcard for the `-` here.
      const literal = await call('GET', '/api/v1/template', {
        token: bob,
        query: { q: 'shape_' },
      })
      assert.deepEqual(literal.body, { templates: [] })

      const one = await call<TplReply>('GET', `/api/v1/template/${web.id}`, { token: bob })
      assert.deepEqual(one, {
        status: 200,
        body: { template: web, stratges: [], action: NO_ACTION, parent_name: 'shape-base' },
      })
      const simple = await call('GET', '/api/v1/template_simple', {
        token: bob,
        query: { q: 'shape-' },
      })
      assert.deepEqual(simple.body, [base, web])

      const put = await call('PUT', '/api/v1/template', {
        token: alice,
        body: { tpl_id: web.id, name: 'shape-web2', parent_id: 0 },
      })
      assert.deepEqual(put, { status: 200, body: { message: 'template updated' } })
      const again = await call<TplReply>('GET', `/api/v1/template/${web.id}`, { token: alice })
      assert.equal(again.body.template.tpl_name, 'shape-web2')
      assert.equal(again.body.template.parent_id, 0)
      assert.equal(again.body.parent_name, '')
    })

    it('filters both template lists by q, a case-insensitive regexp, paged after filtering', async () => {
      const made = new Map<string, Tpl>()
      for (const name of ['tq-web-1', 'tq-db-2', 'TQ-WEB-33', 'tq-web-x', 'tq-web-4']) {
        made.set(name, await newTpl(name === 'tq-db-2' ? bob : alice, name))
      }
      const list = async (query: Record<string, string>) => {
        const r = await call<{ templates: { template: Tpl; parent_name: string }[] }>(
          'GET',
          '/api/v1/template',
          { token: bob, query }
        )
        assert.equal(r.status, 200, JSON.stringify(r.body))
        return r.body.templates.map((t) => t.template.tpl_name)
      }
      const simple = async (query: Record<string, string>) => {
        const r = await call<Tpl[]>('GET', '/api/v1/template_simple', { token: bob, query })
        assert.equal(r.status, 200, JSON.stringify(r.body))
        return r.body.map((t) => t.tpl_name)
      }
      const web = '^tq-web-[0-9]+$'
      for (const names of [list, simple]) {
        assert.deepEqual(await names({ q: web }), ['tq-web-1', 'TQ-WEB-33', 'tq-web-4'])
        assert.deepEqual(await names({ q: 'TQ-DB' }), ['tq-db-2'])
        assert.deepEqual(await names({ q: '.+' }), await names({}))
        assert.deepEqual(await names({ q: '' }), await names({}))
      }
      assert.deepEqual(await list({ q: web, page: '2', limit: '2' }), ['tq-web-4'])
      assert.deepEqual(await list({ q: '^tq-', page: '2', limit: '2' }), ['TQ-WEB-33', 'tq-web-x'])
      // template_simple answers every match (falcon gives it no page).
      assert.deepEqual(await simple({ q: web, page: '2', limit: '1' }), [
        'tq-web-1',
        'TQ-WEB-33',
        'tq-web-4',
      ])
      const one = await call<Tpl[]>('GET', '/api/v1/template_simple', {
        token: bob,
        query: { q: '^tq-db-2$' },
      })
      assert.deepEqual(one.body, [made.get('tq-db-2')])
      for (const url of ['/api/v1/template', '/api/v1/template_simple']) {
        for (const q of ['[', '((ab)*)+', '.*a.*b.*c']) {
          const bad = await call('GET', url, { token: bob, query: { q } })
          assert.equal(bad.status, 400, `${url} ${q}`)
          assert.match(bad.body.error, /^q: /)
        }
      }
    })

    it('accepts a form-encoded template as falcon binds forms', async () => {
      const res = await p.app.inject({
        method: 'POST',
        url: '/api/v1/template',
        headers: { apitoken: alice, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'name=form-tpl&parent_id=0',
      })
      assert.equal(res.statusCode, 200, res.body)
      assert.equal((JSON.parse(res.body) as Tpl).tpl_name, 'form-tpl')
    })

    it('refuses duplicate names with 409', async () => {
      await newTpl(alice, 'dup-a')
      const b = await newTpl(alice, 'dup-b')
      const dup = await call('POST', '/api/v1/template', {
        token: alice,
        body: { name: 'dup-a' },
      })
      assert.equal(dup.status, 409)
      assert.match(dup.body.error, /^body\.name: template dup-a already exists/)
      const rename = await call('PUT', '/api/v1/template', {
        token: alice,
        body: { tpl_id: b.id, name: 'dup-a', parent_id: 0 },
      })
      assert.equal(rename.status, 409)
    })

    it('validates template fields, naming each', async () => {
      const post = async (body: unknown, field: string, status = 400) => {
        const r = await call('POST', '/api/v1/template', { token: alice, body })
        assert.equal(r.status, status, JSON.stringify(body))
        assert.match(r.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(r.body))
      }
      await post({}, 'name')
      await post({ name: '   ' }, 'name')
      await post({ name: 'x'.repeat(256) }, 'name')
      await post({ name: 'v1', parent_id: -1 }, 'parent_id')
      await post({ name: 'v1', parent_id: 'x' }, 'parent_id')
      await post({ name: 'v1', parent_id: 999_999 }, 'parent_id')
      await post({ name: 'v1', action_id: 1.5 }, 'action_id')
      await post({ name: 'v1', action_id: 999_999 }, 'action_id')
      const put = async (body: unknown, field: string, status = 400) => {
        const r = await call('PUT', '/api/v1/template', { token: alice, body })
        assert.equal(r.status, status, JSON.stringify(body))
        assert.match(r.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(r.body))
      }
      await put({ name: 'v', parent_id: 0 }, 'tpl_id')
      await put({ tpl_id: 1, parent_id: 0 }, 'name')
      await put({ tpl_id: 1, name: 'v' }, 'parent_id')
      await put({ tpl_id: 999_999, name: 'v', parent_id: 0 }, 'tpl_id', 404)
      const bad = await call('GET', '/api/v1/template/abc', { token: alice })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error, /^tpl_id: /)
      const missing = await call('GET', '/api/v1/template/999999', { token: alice })
      assert.equal(missing.status, 404)
    })

    it('refuses a parent that makes a cycle or a chain hbs would drop', async () => {
      const a = await newTpl(alice, 'cyc-a')
      const b = await newTpl(alice, 'cyc-b', a.id)
      const c = await newTpl(alice, 'cyc-c', b.id)
      const put = (tpl: { id: number; tpl_name: string }, parent_id: number) =>
        call('PUT', '/api/v1/template', {
          token: alice,
          body: { tpl_id: tpl.id, name: tpl.tpl_name, parent_id },
        })
      const self = await put(a, a.id)
      assert.equal(self.status, 400)
      assert.match(self.body.error, /^body\.parent_id: a template cannot be its own parent/)
      const cycle = await put(a, c.id)
      assert.equal(cycle.status, 400)
      assert.match(cycle.body.error, /^body\.parent_id: .*cycle/)
      const parentRow = await p.store.db
        .selectFrom('tpl')
        .select('parent_id')
        .where('id', '=', a.id)
        .executeTakeFirstOrThrow()
      assert.equal(parentRow.parent_id, 0)
      // Moving c under a is fine: no cycle.
      assert.equal((await put(c, a.id)).status, 200)

      // A chain of 9 is the longest hbs keeps.
      const chain = [await newTpl(alice, 'chain-1')]
      for (let i = 2; i <= 9; i++) chain.push(await newTpl(alice, `chain-${i}`, chain.at(-1)!.id))
      const tenth = await call('POST', '/api/v1/template', {
        token: alice,
        body: { name: 'chain-10', parent_id: chain[8].id },
      })
      assert.equal(tenth.status, 400)
      assert.match(
        tenth.body.error,
        /^body\.parent_id: the inheritance chain would be 10 templates/
      )
      // Descendants count too: x and its child y under chain-8 make 10; under chain-7, 9.
      const x = await newTpl(alice, 'chain-x')
      await newTpl(alice, 'chain-y', x.id)
      assert.equal((await put(x, chain[7].id)).status, 400)
      assert.equal((await put(x, chain[6].id)).status, 200)
    })

    it('lets only the creator or an admin change or delete a template', async () => {
      const t = await newTpl(alice, 'perm-tpl')
      const put = await call('PUT', '/api/v1/template', {
        token: bob,
        body: { tpl_id: t.id, name: 'stolen', parent_id: 0 },
      })
      assert.equal(put.status, 403)
      assert.match(put.body.error, /only its creator or an admin/)
      const del = await call('DELETE', `/api/v1/template/${t.id}`, { token: bob })
      assert.equal(del.status, 403)
      const act = await call('POST', '/api/v1/template/action', {
        token: bob,
        body: { tpl_id: t.id, uic: 'ops' },
      })
      assert.equal(act.status, 403)
      const byAdmin = await call('PUT', '/api/v1/template', {
        token: admin,
        body: { tpl_id: t.id, name: 'perm-tpl-renamed', parent_id: 0 },
      })
      assert.equal(byAdmin.status, 200)
      const row = await p.store.db
        .selectFrom('tpl')
        .select(['tpl_name', 'create_user'])
        .where('id', '=', t.id)
        .executeTakeFirstOrThrow()
      assert.deepEqual(row, { tpl_name: 'perm-tpl-renamed', create_user: 'alice' })
    })

    it('lists the host groups a template is bound to', async () => {
      const t = await newTpl(alice, 'hg-tpl')
      const db = p.store.db
      await db
        .insertInto('grp')
        .values([
          { grp_name: 'hg-1', create_user: 'alice' },
          { grp_name: 'hg-2', create_user: 'bob' },
          { grp_name: 'hg-3', create_user: 'bob' },
        ])
        .execute()
      const grps = await db
        .selectFrom('grp')
        .select(['id', 'grp_name', 'create_user'])
        .where('grp_name', 'like', 'hg-%')
        .orderBy('id')
        .execute()
      await db
        .insertInto('grp_tpl')
        .values([
          { grp_id: grps[0].id, tpl_id: t.id },
          { grp_id: grps[1].id, tpl_id: t.id },
        ])
        .execute()
      const r = await call('GET', `/api/v1/template/${t.id}/hostgroup`, { token: bob })
      assert.deepEqual(r, {
        status: 200,
        body: { template: { ...t, action_id: 0 }, hostgroups: [grps[0], grps[1]] },
      })
      const none = await call('GET', '/api/v1/template/999999/hostgroup', { token: bob })
      assert.equal(none.status, 404)
    })

    it('creates, replaces and updates a template action, checking teams and flags', async () => {
      const t = await newTpl(alice, 'act-tpl')
      const body = {
        tpl_id: t.id,
        uic: 'ops, dba',
        url: 'http://cb.example/alarm',
        callback: 1,
        before_callback_sms: 1,
        after_callback_sms: 0,
        before_callback_mail: 0,
        after_callback_mail: 1,
      }
      const r = await call('POST', '/api/v1/template/action', { token: alice, body })
      assert.deepEqual(r, {
        status: 200,
        body: { message: `action is created and bind to template: ${t.id}` },
      })
      const got = await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: bob })
      const action = got.body.action
      assert.equal(got.body.template.action_id, action.id)
      assert.deepEqual(action, {
        id: action.id,
        uic: 'ops,dba',
        url: 'http://cb.example/alarm',
        callback: 1,
        before_callback_sms: 1,
        before_callback_mail: 0,
        after_callback_sms: 0,
        after_callback_mail: 1,
      })
      const byId = await call<Action>('GET', `/api/v1/action/${action.id}`, { token: bob })
      assert.deepEqual(byId, { status: 200, body: action })

      // A second POST replaces the action; the first row goes.
      const second = await call('POST', '/api/v1/template/action', {
        token: alice,
        body: { tpl_id: t.id, uic: 'ops' },
      })
      assert.equal(second.status, 200)
      const old = await call<Action>('GET', `/api/v1/action/${action.id}`, { token: bob })
      assert.equal(old.status, 404)
      const now = (await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: bob })).body
        .action
      assert.equal(now.uic, 'ops')

      const put = await call('PUT', '/api/v1/template/action', {
        token: alice,
        body: { id: now.id, uic: 'dba', url: 'https://x.example/cb', callback: 1 },
      })
      assert.deepEqual(put, {
        status: 200,
        body: { message: 'action is updated, row affected: 1' },
      })
      const after = await call<Action>('GET', `/api/v1/action/${now.id}`, { token: bob })
      assert.equal(after.body.uic, 'dba')
      assert.equal(after.body.callback, 1)
      const steal = await call('PUT', '/api/v1/template/action', {
        token: bob,
        body: { id: now.id, uic: 'ops' },
      })
      assert.equal(steal.status, 403)
      const byAdmin = await call('PUT', '/api/v1/template/action', {
        token: admin,
        body: { id: now.id, uic: 'ops' },
      })
      assert.equal(byAdmin.status, 200)

      const bad = async (method: 'POST' | 'PUT', b: unknown, field: string, status = 400) => {
        const res = await call(method, '/api/v1/template/action', { token: alice, body: b })
        assert.equal(res.status, status, JSON.stringify(b))
        assert.match(res.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(res.body))
        return res.body.error
      }
      assert.match(
        await bad('POST', { tpl_id: t.id, uic: 'ops,ghost,spook' }, 'uic'),
        /no team named ghost, spook/
      )
      await bad('POST', { tpl_id: t.id, uic: 'ops,,dba' }, 'uic')
      await bad('POST', { tpl_id: t.id, uic: 'ops', callback: 1 }, 'url')
      await bad('POST', { tpl_id: t.id, uic: 'ops', url: 'ftp://x' }, 'url')
      await bad('POST', { tpl_id: t.id, uic: 'ops', callback: 2 }, 'callback')
      await bad(
        'POST',
        { tpl_id: t.id, uic: 'ops', before_callback_sms: 'x' },
        'before_callback_sms'
      )
      await bad(
        'POST',
        { tpl_id: t.id, uic: 'ops', after_callback_mail: -1 },
        'after_callback_mail'
      )
      await bad('POST', { uic: 'ops' }, 'tpl_id')
      await bad('POST', { tpl_id: 999_999, uic: 'ops' }, 'tpl_id', 404)
      await bad('PUT', { uic: 'ops' }, 'id')
      await bad('PUT', { id: 999_999, uic: 'ops' }, 'id', 404)
      await bad('PUT', { id: now.id, uic: 'ghost' }, 'uic')
      // Refused writes changed nothing.
      assert.equal(
        (await call<Action>('GET', `/api/v1/action/${now.id}`, { token: bob })).body.uic,
        'ops'
      )
    })

    it('answers GET /action/:id only with a token, 404 for a missing id', async () => {
      assert.equal((await call('GET', '/api/v1/action/1')).status, 401)
      assert.equal((await call('GET', '/api/v1/template_simple')).status, 401)
      const missing = await call('GET', '/api/v1/action/999999', { token: bob })
      assert.equal(missing.status, 404)
      const bad = await call('GET', '/api/v1/action/x', { token: bob })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error, /^act_id: /)
    })

    it('deletes a template, its action, strategies and bindings; frees its children', async () => {
      const t = await newTpl(alice, 'del-tpl')
      const child = await newTpl(alice, 'del-child', t.id)
      const other = await newTpl(alice, 'del-other')
      await call('POST', '/api/v1/template/action', { token: alice, body: { tpl_id: t.id } })
      const s = await call('POST', '/api/v1/strategy', { token: alice, body: strategy(t.id) })
      assert.equal(s.status, 200)
      const keep = await call('POST', '/api/v1/strategy', {
        token: alice,
        body: strategy(other.id),
      })
      const db = p.store.db
      await db.insertInto('grp_tpl').values({ grp_id: 77, tpl_id: t.id }).execute()
      await db.insertInto('grp_tpl').values({ grp_id: 77, tpl_id: other.id }).execute()
      const actionId = (await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: alice }))
        .body.template.action_id
      assert.ok(actionId > 0)

      const del = await call('DELETE', `/api/v1/template/${t.id}`, { token: alice })
      assert.deepEqual(del, { status: 200, body: { message: `template ${t.id} has been deleted` } })
      assert.equal(
        (await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: alice })).status,
        404
      )
      const gone = await db.selectFrom('action').select('id').where('id', '=', actionId).execute()
      assert.deepEqual(gone, [])
      const strategies = await db.selectFrom('strategy').select(['id', 'tpl_id']).execute()
      assert.ok(strategies.every((r) => r.tpl_id !== t.id))
      assert.ok(strategies.some((r) => r.id === keep.body.id))
      const binds = await db
        .selectFrom('grp_tpl')
        .select('tpl_id')
        .where('grp_id', '=', 77)
        .execute()
      assert.deepEqual(binds, [{ tpl_id: other.id }])
      const freed = await call<TplReply>('GET', `/api/v1/template/${child.id}`, { token: alice })
      assert.equal(freed.body.template.parent_id, 0)
      assert.equal(freed.body.parent_name, '')
      const twice = await call('DELETE', `/api/v1/template/${t.id}`, { token: alice })
      assert.equal(twice.status, 404)
    })

    it('keeps an action that another template still uses', async () => {
      const a = await newTpl(alice, 'share-a')
      await call('POST', '/api/v1/template/action', {
        token: alice,
        body: { tpl_id: a.id, uic: 'ops' },
      })
      const actionId = (await call<TplReply>('GET', `/api/v1/template/${a.id}`, { token: alice }))
        .body.template.action_id
      // bob may not borrow alice's action for his own template.
      const borrow = await call('POST', '/api/v1/template', {
        token: bob,
        body: { name: 'share-bob', action_id: actionId },
      })
      assert.equal(borrow.status, 403)
      const b = await call<Tpl>('POST', '/api/v1/template', {
        token: alice,
        body: { name: 'share-b', action_id: actionId },
      })
      assert.equal(b.status, 200)
      assert.equal(b.body.action_id, actionId)
      assert.equal((await call('DELETE', `/api/v1/template/${a.id}`, { token: alice })).status, 200)
      const still = await call<Action>('GET', `/api/v1/action/${actionId}`, { token: alice })
      assert.equal(still.status, 200)
    })

    it('creates, lists, reads, updates and deletes strategies', async () => {
      const t = await newTpl(alice, 'str-tpl')
      const created = await call('POST', '/api/v1/strategy', {
        token: alice,
        body: strategy(t.id, { tags: 'mount=/,fstype=ext4', run_begin: '22:00', run_end: '06:00' }),
      })
      assert.equal(created.status, 200)
      const sid = created.body.id
      const want = {
        id: sid,
        metric: 'cpu.idle',
        tags: 'mount=/,fstype=ext4',
        max_step: 3,
        priority: 1,
        func: 'all(#3)',
        op: '<',
        right_value: '10',
        note: 'cpu idle low',
        run_begin: '22:00',
        run_end: '06:00',
        tpl_id: t.id,
        for: 0,
      }
      assert.deepEqual(created.body, want)
      assert.equal(Object.keys(created.body).at(-1), 'for', "Peregrine's for comes last")
      const list = await call('GET', '/api/v1/strategy', {
        token: bob,
        query: { tid: String(t.id) },
      })
      assert.deepEqual(list, { status: 200, body: [want] })
      assert.deepEqual(await call('GET', `/api/v1/strategy/${sid}`, { token: bob }), {
        status: 200,
        body: want,
      })
      const inTpl = await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: bob })
      assert.deepEqual(inTpl.body.stratges, [want])

      const put = await call('PUT', '/api/v1/strategy', {
        token: alice,
        body: {
          ...strategy(999_999, { func: 'lookup(#2,3)', op: '>=', right_value: 95.5 }),
          id: sid,
        },
      })
      assert.deepEqual(put, { status: 200, body: { message: `stragtegy:${sid} has been updated` } })
      const updated = (await call('GET', `/api/v1/strategy/${sid}`, { token: bob })).body
      // tpl_id does not move with PUT, as in falcon.
      assert.deepEqual(updated, {
        ...want,
        tags: '',
        func: 'lookup(#2,3)',
        op: '>=',
        right_value: '95.5',
        run_begin: '',
        run_end: '',
      })

      const del = await call('DELETE', `/api/v1/strategy/${sid}`, { token: alice })
      assert.deepEqual(del, { status: 200, body: { message: `strategy:${sid} has been deleted` } })
      assert.equal((await call('GET', `/api/v1/strategy/${sid}`, { token: bob })).status, 404)
      assert.equal((await call('DELETE', `/api/v1/strategy/${sid}`, { token: alice })).status, 404)

      const noTid = await call('GET', '/api/v1/strategy', { token: bob })
      assert.equal(noTid.status, 400)
      assert.match(noTid.body.error, /^tid: /)
      const badTid = await call('GET', '/api/v1/strategy', { token: bob, query: { tid: 'x' } })
      assert.equal(badTid.status, 400)
      const noTpl = await call('GET', '/api/v1/strategy', {
        token: bob,
        query: { tid: '999999' },
      })
      assert.equal(noTpl.status, 404)
    })

    it('validates every strategy field, naming it', async () => {
      const t = await newTpl(alice, 'val-tpl')
      const bad = async (over: Record<string, unknown>, field: string, re?: RegExp) => {
        const r = await call('POST', '/api/v1/strategy', {
          token: alice,
          body: strategy(t.id, over),
        })
        assert.equal(r.status, 400, JSON.stringify(over))
        assert.match(r.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(r.body))
        if (re !== undefined) assert.match(r.body.error, re)
      }
      await bad({ metric: undefined }, 'metric', /required/)
      await bad({ metric: '' }, 'metric')
      await bad({ metric: 'm'.repeat(129) }, 'metric')
      await bad({ metric: ' cpu.idle' }, 'metric')
      await bad({ tags: 'port' }, 'tags', /not a tag matcher/)
      await bad({ tags: 'a=b=c' }, 'tags')
      await bad({ tags: '=b' }, 'tags', /empty key/)
      await bad({ tags: 'a=1,a=2' }, 'tags')
      await bad({ tags: `k=${'v'.repeat(255)}` }, 'tags')
      await bad({ tags: 'mount=~(' }, 'tags', /error parsing regexp "\(": /)
      await bad({ tags: 'mount!~(?=x)' }, 'tags', /look-around assertions are not supported/)
      await bad({ tags: 'mount!=~x' }, 'tags', /write mount!~regex/)
      await bad({ tags: 'mount=~a{1,2}' }, 'tags', /cannot hold a comma/)
      await bad({ metric: 'net.port.listen', tags: 'port=~80|81' }, 'tags', /exact k=v/)
      await bad({ func: undefined }, 'func', /required/)
      await bad({ func: 'foo(#3)' }, 'func', /unknown function foo/)
      await bad({ func: 'all(3)' }, 'func')
      await bad({ func: 'all(#0)' }, 'func')
      await bad({ func: 'max(#2,3)' }, 'func', /one argument/)
      await bad({ func: 'lookup(#3)' }, 'func', /two arguments/)
      await bad({ func: 'lookup(#4,3)' }, 'func', /must not exceed/)
      await bad({ op: '=' }, 'op', /expected one of == != < <= > >=/)
      await bad({ op: '=>' }, 'op')
      await bad({ op: undefined }, 'op')
      await bad({ right_value: 'abc' }, 'right_value', /decimal number/)
      await bad({ right_value: '' }, 'right_value', /required/)
      await bad({ right_value: '1e400' }, 'right_value')
      await bad({ right_value: 'NaN' }, 'right_value')
      await bad({ right_value: '0x10' }, 'right_value')
      await bad({ right_value: '1'.repeat(65) }, 'right_value')
      await bad({ max_step: 0 }, 'max_step')
      await bad({ max_step: 1.5 }, 'max_step')
      await bad({ max_step: 'x' }, 'max_step')
      await bad({ priority: 7 }, 'priority', /0\.\.6/)
      await bad({ priority: -1 }, 'priority')
      await bad({ priority: undefined }, 'priority', /required/)
      await bad({ note: 'n'.repeat(129) }, 'note')
      await bad({ run_begin: '24:00', run_end: '06:00' }, 'run_begin')
      await bad({ run_begin: '9:00', run_end: '10:00' }, 'run_begin')
      await bad({ run_begin: '09:00', run_end: '10:60' }, 'run_end')
      await bad({ run_begin: '09:00' }, 'run_end', /both/)
      await bad({ run_end: '09:00' }, 'run_begin', /both/)
      await bad({ tpl_id: 0 }, 'tpl_id')
      await bad({ tpl_id: 999_999 }, 'tpl_id', /no template/)
      const none = await call('GET', '/api/v1/strategy', {
        token: alice,
        query: { tid: String(t.id) },
      })
      assert.deepEqual(none.body, [])

      for (const ok of [
        { func: 'stddev(#10)', right_value: '-1.5' },
        { func: 'pdiff(#2)', right_value: '1e3', op: '!=' },
        { func: 'diff(#1)', right_value: '+.5', op: '==', tags: 'k=' },
        { tags: 'mount=~/data[0-9]*,fstype!=tmpfs,dev!~loop.*' },
        { right_value: 0 },
        { priority: 0, max_step: '2' },
      ]) {
        const r = await call('POST', '/api/v1/strategy', {
          token: alice,
          body: strategy(t.id, ok),
        })
        assert.equal(r.status, 200, `${JSON.stringify(ok)} ${JSON.stringify(r.body)}`)
      }
      const put = await call('PUT', '/api/v1/strategy', {
        token: alice,
        body: { ...strategy(t.id, { func: 'avg(#x)' }), id: 1 },
      })
      assert.equal(put.status, 400)
      assert.match(put.body.error, /^body\.func: /)
      const putTags = await call('PUT', '/api/v1/strategy', {
        token: alice,
        body: { ...strategy(t.id, { tags: 'mount!~[' }), id: 1 },
      })
      assert.equal(putTags.status, 400)
      assert.match(putTags.body.error, /^body\.tags: "mount!~\[": error parsing regexp/)
      const putNoId = await call('PUT', '/api/v1/strategy', {
        token: alice,
        body: strategy(t.id),
      })
      assert.match(putNoId.body.error, /^body\.id: /)
      const putMissing = await call('PUT', '/api/v1/strategy', {
        token: alice,
        body: { ...strategy(t.id), id: 999_999 },
      })
      assert.equal(putMissing.status, 404)
    })

    it("lets only the template's creator or an admin change its strategies", async () => {
      const t = await newTpl(alice, 'sperm-tpl')
      const own = await call('POST', '/api/v1/strategy', { token: alice, body: strategy(t.id) })
      const sid = own.body.id
      const add = await call('POST', '/api/v1/strategy', { token: bob, body: strategy(t.id) })
      assert.equal(add.status, 403)
      const put = await call('PUT', '/api/v1/strategy', {
        token: bob,
        body: { ...strategy(t.id, { metric: 'stolen' }), id: sid },
      })
      assert.equal(put.status, 403)
      assert.match(put.body.error, /only its creator or an admin/)
      const del = await call('DELETE', `/api/v1/strategy/${sid}`, { token: bob })
      assert.equal(del.status, 403)
      assert.equal(
        (await call<{ metric: string }>('GET', `/api/v1/strategy/${sid}`, { token: bob })).body
          .metric,
        'cpu.idle'
      )
      const byAdmin = await call('PUT', '/api/v1/strategy', {
        token: admin,
        body: { ...strategy(t.id, { metric: 'mem.memfree' }), id: sid },
      })
      assert.equal(byAdmin.status, 200)
      const added = await call('POST', '/api/v1/strategy', { token: admin, body: strategy(t.id) })
      assert.equal(added.status, 200)
      assert.equal((await call('DELETE', `/api/v1/strategy/${sid}`, { token: admin })).status, 200)
    })

    it('answers the default metric list', async () => {
      const r = await call('GET', '/api/v1/metric/default_list', { token: bob })
      assert.equal(r.status, 200)
      assert.deepEqual(r.body, DEFAULT_METRICS)
      assert.equal(r.body.length, 76)
      assert.equal(r.body[0], 'cpu.busy')
      assert.ok(r.body.includes('net.port.listen'))
      assert.ok(!r.body.includes(''))
      assert.equal((await call('GET', '/api/v1/metric/default_list')).status, 401)
    })

    it('creates, lists, reads, updates and deletes expressions with their action', async () => {
      const r = await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'exp-crud' }),
      })
      assert.deepEqual(r, { status: 200, body: { message: 'expression created' } })
      const eid = await expressionId('exp-crud')
      const one = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })
      assert.equal(one.status, 200)
      const actionId = one.body.expression.action_id
      assert.ok(actionId > 0)
      const want = {
        id: eid,
        expression: 'each(metric=qps endpoint=host1 project=x)',
        func: 'avg(#5)',
        op: '>=',
        right_value: '1000',
        max_step: 2,
        priority: 2,
        note: 'exp-crud',
        action_id: actionId,
        create_user: 'alice',
        pause: 0,
        for: 0,
      }
      assert.deepEqual(one.body, {
        expression: want,
        action: { ...NO_ACTION, id: actionId, uic: 'ops,dba' },
      })
      const list = await call<Expression[]>('GET', '/api/v1/expression', { token: bob })
      assert.ok(list.body.some((e) => e.id === eid))
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'exp-2' }),
      })
      const page = await call<Expression[]>('GET', '/api/v1/expression', {
        token: bob,
        query: { page: '1', limit: '1' },
      })
      assert.equal(page.body.length, 1)

      const put = await call('PUT', '/api/v1/expression', {
        token: alice,
        body: expression({
          id: eid,
          note: 'exp-crud',
          expression: 'each(metric=qps endpoint=host2)',
          priority: 0,
          pause: 1,
          action: { uic: ['dba'], url: 'http://cb.example/', callback: 1, after_callback_mail: 1 },
        }),
      })
      assert.deepEqual(put, {
        status: 200,
        body: { message: `expression:${eid} has been updated` },
      })
      const again = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })
      assert.deepEqual(again.body, {
        expression: {
          ...want,
          expression: 'each(metric=qps endpoint=host2)',
          priority: 0,
          pause: 1,
        },
        action: {
          ...NO_ACTION,
          id: actionId,
          uic: 'dba',
          url: 'http://cb.example/',
          callback: 1,
          after_callback_mail: 1,
        },
      })

      const del = await call('DELETE', `/api/v1/expression/${eid}`, { token: alice })
      assert.deepEqual(del, {
        status: 200,
        body: { message: `expression:${eid} has been deleted` },
      })
      assert.equal(
        (await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })).status,
        404
      )
      assert.equal(
        (await call<Action>('GET', `/api/v1/action/${actionId}`, { token: bob })).status,
        404
      )
      assert.equal(
        (await call('DELETE', `/api/v1/expression/${eid}`, { token: alice })).status,
        404
      )
    })

    it('gives an expression without an action row a new one on update', async () => {
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'exp-lost' }),
      })
      const eid = await expressionId('exp-lost')
      await p.store.db
        .updateTable('expression')
        .set({ action_id: 0 })
        .where('id', '=', eid)
        .execute()
      const empty = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, {
        token: alice,
      })
      assert.deepEqual(empty.body.action, NO_ACTION)
      const put = await call('PUT', '/api/v1/expression', {
        token: alice,
        body: expression({ id: eid, note: 'exp-lost' }),
      })
      assert.equal(put.status, 200)
      const fixed = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, {
        token: alice,
      })
      assert.ok(fixed.body.expression.action_id > 0)
      assert.equal(fixed.body.action.id, fixed.body.expression.action_id)
      assert.equal(fixed.body.action.uic, 'ops,dba')
    })

    it('validates expressions as hbs parses them, and their action', async () => {
      const bad = async (over: Record<string, unknown>, field: string, re?: RegExp) => {
        const r = await call('POST', '/api/v1/expression', {
          token: alice,
          body: expression(over),
        })
        assert.equal(r.status, 400, JSON.stringify(over))
        assert.match(r.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(r.body))
        if (re !== undefined) assert.match(r.body.error, re)
      }
      await bad({ expression: undefined }, 'expression', /required/)
      await bad({ expression: 'each(metric=qps)' }, 'expression', /at least 2 k=v pairs/)
      await bad({ expression: 'metric=qps endpoint=h' }, 'expression', /no "\("/)
      await bad({ expression: 'each(metric=qps endpoint=h' }, 'expression', /no "\)"/)
      await bad({ expression: 'each(metric=qps endpoint)' }, 'expression', /not k=v/)
      await bad({ expression: 'each(endpoint=h project=x)' }, 'expression', /no metric=NAME/)
      await bad({ expression: `each(metric=qps endpoint=${'h'.repeat(1024)})` }, 'expression')
      await bad({ func: 'avg(5)' }, 'func')
      await bad({ func: 'median(#5)' }, 'func', /unknown function median/)
      await bad({ op: '<>' }, 'op')
      await bad({ right_value: 'high' }, 'right_value')
      await bad({ right_value: '1'.repeat(17) }, 'right_value', /at most 16/)
      await bad({ max_step: 0 }, 'max_step')
      await bad({ priority: 7 }, 'priority')
      await bad({ note: 'n'.repeat(1025) }, 'note')
      await bad({ pause: 2 }, 'pause')
      await bad({ action: undefined }, 'action', /required/)
      await bad({ action: { url: '' } }, 'action.uic', /required/)
      await bad({ action: { uic: 'ops' } }, 'action.uic', /list of team names/)
      await bad({ action: { uic: ['ops', 'ghost'] } }, 'action.uic', /no team named ghost/)
      await bad({ action: { uic: ['a,b'] } }, 'action.uic.0', /no commas/)
      await bad({ action: { uic: ['ops'], callback: 1 } }, 'action.url', /required when callback/)
      await bad({ action: { uic: ['ops'], callback: 3 } }, 'action.callback')
      await bad({ action: { uic: ['ops'], url: 'x'.repeat(256) } }, 'action.url')
      const rows = await p.store.db
        .selectFrom('expression')
        .select('id')
        .where('note', '=', 'qps high')
        .execute()
      assert.deepEqual(rows, [])

      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'exp-val' }),
      })
      const eid = await expressionId('exp-val')
      const put = async (body: Record<string, unknown>, field: string, status = 400) => {
        const r = await call('PUT', '/api/v1/expression', { token: alice, body })
        assert.equal(r.status, status, JSON.stringify(body))
        assert.match(r.body.error, new RegExp(`^body\\.${field}: `), JSON.stringify(r.body))
      }
      await put(expression(), 'id')
      await put(expression({ id: 999_999 }), 'id', 404)
      await put(expression({ id: eid, expression: 'each(metric=qps)' }), 'expression')
      await put(expression({ id: eid, action: { uic: ['ghost'] } }), 'action.uic')
    })

    it("takes Peregrine's for on strategies: 0 by default, kept by an update without it", async () => {
      const t = await newTpl(alice, 'for-tpl')
      const plain = await call<StrategyJson>('POST', '/api/v1/strategy', {
        token: alice,
        body: strategy(t.id),
      })
      assert.equal(plain.status, 200, JSON.stringify(plain.body))
      assert.equal(plain.body.for, 0)
      const held = await call<StrategyJson>('POST', '/api/v1/strategy', {
        token: alice,
        body: strategy(t.id, { metric: 'mem.free', for: 120 }),
      })
      assert.equal(held.status, 200, JSON.stringify(held.body))
      const sid = held.body.id
      assert.equal(held.body.for, 120)
      const get = async () =>
        (await call<StrategyJson>('GET', `/api/v1/strategy/${sid}`, { token: bob })).body
      assert.deepEqual(await get(), held.body)
      const list = await call<StrategyJson[]>('GET', '/api/v1/strategy', {
        token: bob,
        query: { tid: String(t.id) },
      })
      assert.deepEqual(
        list.body.map((s) => [s.metric, s.for]),
        [
          ['cpu.idle', 0],
          ['mem.free', 120],
        ]
      )
      const inTpl = await call<TplReply>('GET', `/api/v1/template/${t.id}`, { token: bob })
      assert.deepEqual(inTpl.body.stratges, list.body)
      const row = await p.store.db
        .selectFrom('strategy')
        .select('for_duration')
        .where('id', '=', sid)
        .executeTakeFirstOrThrow()
      assert.equal(row.for_duration, 120)

      const put = async (over: Record<string, unknown>) => {
        const r = await call('PUT', '/api/v1/strategy', {
          token: alice,
          body: { ...strategy(t.id, { metric: 'mem.free' }), id: sid, ...over },
        })
        assert.equal(r.status, 200, JSON.stringify(r.body))
      }
      // falcon's dashboard sends no for: the stored one stays.
      await put({ note: 'edited by falcon' })
      assert.deepEqual(await get(), { ...held.body, note: 'edited by falcon' })
      await put({ for: '600' })
      assert.equal((await get()).for, 600)
      await put({ for: 0 })
      assert.equal((await get()).for, 0)
      await put({ for: 604_800 })
      assert.equal((await get()).for, 604_800)
    })

    it('validates for as 0..604800 whole seconds, naming body.for', async () => {
      const t = await newTpl(alice, 'for-val-tpl')
      const ok = await call<StrategyJson>('POST', '/api/v1/strategy', {
        token: alice,
        body: strategy(t.id),
      })
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'for-val' }),
      })
      const eid = await expressionId('for-val')
      const bad = async (method: 'POST' | 'PUT', path: string, body: Record<string, unknown>) => {
        const r = await call(method, path, { token: alice, body })
        assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`)
        assert.match(
          r.body.error,
          /^body\.for: expected an integer number of seconds 0\.\.604800$/,
          JSON.stringify(r.body)
        )
      }
      for (const f of [-1, 604_801, 1.5, 'x', '', null, true, '2m']) {
        await bad('POST', '/api/v1/strategy', strategy(t.id, { for: f }))
        await bad('PUT', '/api/v1/strategy', { ...strategy(t.id), id: ok.body.id, for: f })
        await bad('POST', '/api/v1/expression', expression({ note: 'for-bad', for: f }))
        await bad('PUT', '/api/v1/expression', expression({ id: eid, note: 'for-val', for: f }))
      }
      const strategies = await call<StrategyJson[]>('GET', '/api/v1/strategy', {
        token: alice,
        query: { tid: String(t.id) },
      })
      assert.deepEqual(
        strategies.body.map((s) => s.for),
        [0]
      )
      const rows = await p.store.db
        .selectFrom('expression')
        .select(['note', 'for_duration'])
        .where('note', 'in', ['for-val', 'for-bad'])
        .execute()
      assert.deepEqual(rows, [{ note: 'for-val', for_duration: 0 }])
    })

    it("takes Peregrine's for on expressions: 0 by default, kept by an update without it", async () => {
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'for-exp', for: 300 }),
      })
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'for-exp-0' }),
      })
      const eid = await expressionId('for-exp')
      const get = async (id = eid) =>
        (await call<ExpressionReply>('GET', `/api/v1/expression/${id}`, { token: bob })).body
          .expression
      const one = await get()
      assert.equal(one.for, 300)
      assert.equal(Object.keys(one).at(-1), 'for', "Peregrine's for comes last")
      assert.equal((await get(await expressionId('for-exp-0'))).for, 0)
      const list = await call<Expression[]>('GET', '/api/v1/expression', { token: bob })
      assert.deepEqual(
        list.body.find((e) => e.id === eid),
        one
      )
      const put = async (over: Record<string, unknown>) => {
        const r = await call('PUT', '/api/v1/expression', {
          token: alice,
          body: expression({ id: eid, note: 'for-exp', ...over }),
        })
        assert.equal(r.status, 200, JSON.stringify(r.body))
      }
      await put({ right_value: '2000' })
      assert.deepEqual(await get(), { ...one, right_value: '2000' })
      await put({ for: 60 })
      assert.equal((await get()).for, 60)
      await put({ for: 0 })
      assert.equal((await get()).for, 0)
    })

    it('lets only the expression creator or an admin change or delete it', async () => {
      await call('POST', '/api/v1/expression', {
        token: alice,
        body: expression({ note: 'exp-perm' }),
      })
      const eid = await expressionId('exp-perm')
      const put = await call('PUT', '/api/v1/expression', {
        token: bob,
        body: expression({ id: eid, note: 'exp-perm', right_value: '1' }),
      })
      assert.equal(put.status, 403)
      assert.match(put.body.error, /only its creator or an admin/)
      const del = await call('DELETE', `/api/v1/expression/${eid}`, { token: bob })
      assert.equal(del.status, 403)
      const actionId = (
        await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })
      ).body.expression.action_id
      const act = await call('PUT', '/api/v1/template/action', {
        token: bob,
        body: { id: actionId, uic: 'ops' },
      })
      assert.equal(act.status, 403)
      const still = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })
      assert.equal(still.body.expression.right_value, '1000')
      const byAdmin = await call('PUT', '/api/v1/expression', {
        token: admin,
        body: expression({ id: eid, note: 'exp-perm', right_value: '1' }),
      })
      assert.equal(byAdmin.status, 200)
      const kept = await call<ExpressionReply>('GET', `/api/v1/expression/${eid}`, { token: bob })
      assert.equal(kept.body.expression.create_user, 'alice')
      assert.equal(
        (await call('DELETE', `/api/v1/expression/${eid}`, { token: admin })).status,
        200
      )
    })
  })
}
