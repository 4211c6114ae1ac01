import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { openTestPortal, type TestPortal } from './testing.js'

/** Failure is the api's error answer. */
interface Failure {
  error: string
}

/** Rule is a nodata rule as the api answers it. */
interface Rule {
  id: number
  name: string
  obj: string
  obj_type: string
  metric: string
  tags: string
  dstype: string
  step: number
  mock: number
  creator: string
  t_create?: string
}

const STAMP_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

const rule = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  obj: 'host-a\nhost-b',
  obj_type: 'host',
  metric: 'agent.alive',
  tags: '',
  dstype: 'GAUGE',
  step: 60,
  mock: -1,
  ...extra,
})

for (const engine of await testEngines()) {
  describe(`nodata routes (${engine.engine})`, () => {
    let p: TestPortal
    let alice: string
    let bob: string
    let admin: string
    before(async () => {
      p = await openTestPortal(engine)
      alice = await p.user('alice')
      bob = await p.user('bob')
      admin = await p.user('ada', 1)
    })
    after(() => p.close())

    /** call is `p.call` with the answer typed as `T` (a Failure unless said otherwise). */
    const call = async <T = Failure>(
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      options?: Parameters<TestPortal['call']>[2]
    ) => {
      const r = await p.call(method, url, options)
      return { status: r.status, body: r.body as T }
    }

    const stored = (id: number) =>
      p.store.db.selectFrom('mockcfg').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

    it('creates a rule in falcon shape, with the caller as creator and both stamps set', async () => {
      const r = await call<Rule>('POST', '/api/v1/nodata/', {
        token: alice,
        body: rule('alive.hosts', { obj: '  host-a \n\nhost-b\nhost-a\n', tags: 'k=v, a=b' }),
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(typeof r.body.id, 'number')
      assert.deepEqual(r.body, {
        id: r.body.id,
        name: 'alive.hosts',
        obj: 'host-a\nhost-b',
        obj_type: 'host',
        metric: 'agent.alive',
        tags: 'k=v, a=b',
        dstype: 'GAUGE',
        step: 60,
        mock: -1,
        creator: 'alice',
      })
      const row = await stored(r.body.id)
      assert.match(row.t_create, STAMP_RE)
      assert.equal(row.t_modify, row.t_create)
      const got = await call('GET', `/api/v1/nodata/${r.body.id}`, { token: bob })
      assert.deepEqual(got, { status: 200, body: r.body })
    })

    it('accepts the slash-less POST, defaults dstype and tags, keeps a fractional mock', async () => {
      const body: Record<string, unknown> = rule('alive.other', { obj_type: 'other', mock: 0.5 })
      delete body.dstype
      delete body.tags
      body.obj = 'switch-1\nhttps://example.com'
      const r = await call<Rule>('POST', '/api/v1/nodata', { token: alice, body })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.dstype, 'GAUGE')
      assert.equal(r.body.tags, '')
      assert.equal(r.body.mock, 0.5)
    })

    it('refuses a duplicate name with 409', async () => {
      const r = await call('POST', '/api/v1/nodata/', { token: bob, body: rule('alive.hosts') })
      assert.equal(r.status, 409)
      assert.match(r.body.error, /^name: /)
    })

    it('names the field of each bad request', async () => {
      const f = async (patch: Record<string, unknown>, want: RegExp) => {
        const body: Record<string, unknown> = { ...rule('bad'), ...patch }
        for (const [k, v] of Object.entries(patch)) if (v === undefined) delete body[k]
        const r = await call('POST', '/api/v1/nodata/', { token: alice, body })
        assert.equal(r.status, 400, JSON.stringify(patch))
        assert.match(r.body.error, want, JSON.stringify(patch))
      }
      await f({ name: '  ' }, /^body\.name: /)
      await f({ name: undefined }, /^body\.name: /)
      await f({ obj_type: 'endpoint' }, /^body\.obj_type: expected one of host, group, other/)
      await f({ obj: '\n \n' }, /^body\.obj: expected at least one host name/)
      await f({ obj: 'host a' }, /^body\.obj: "host a" is not a valid host name/)
      await f({ obj: 'h1, h2' }, /^body\.obj: "h1, h2" is not a valid host name .*one per line/)
      await f({ obj: 'h'.repeat(256) }, /^body\.obj: "h+" is not a valid host name/)
      await f(
        { obj_type: 'other', obj: 'a\tb' },
        /^body\.obj: "a\\tb" is not a valid endpoint name/
      )
      await f({ obj: undefined }, /^body\.obj: /)
      await f({ metric: '' }, /^body\.metric: /)
      await f({ tags: 'k=v,oops' }, /^body\.tags: expected k=v pairs/)
      await f({ tags: '=v' }, /^body\.tags: /)
      await f({ tags: 'x'.repeat(500) + '=v' }, /^body\.tags: metric and tags take \d+ bytes/)
      await f({ dstype: 'COUNTER' }, /^body\.dstype: nodata mocks GAUGE series only/)
      await f({ step: 0 }, /^body\.step: /)
      await f({ step: 1.5 }, /^body\.step: /)
      await f({ step: '60' }, /^body\.step: /)
      await f({ mock: 'x' }, /^body\.mock: expected a finite number/)
      await f({ mock: undefined }, /^body\.mock: /)
      await f({ mock: 1e308 }, /^body\.mock: expected a value graph stores/)
      await f({ mock: -1e-310 }, /^body\.mock: expected a value graph stores/)
      // JSON.parse reads 1e400 as Infinity, which no column can hold.
      const huge = await p.app.inject({
        method: 'POST',
        url: '/api/v1/nodata/',
        headers: { apitoken: alice, 'content-type': 'application/json' },
        payload: JSON.stringify(rule('bad')).replace('"mock":-1', '"mock":1e400'),
      })
      assert.equal(huge.statusCode, 400)
      assert.match(huge.json<{ error: string }>().error, /^body\.mock: /)
    })

    it('takes host group names that exist, and refuses unknown ones', async () => {
      await p.store.db.insertInto('grp').values({ grp_name: 'web' }).execute()
      await p.store.db.insertInto('grp').values({ grp_name: 'db servers' }).execute()
      const ok = await call<Rule>('POST', '/api/v1/nodata/', {
        token: alice,
        body: rule('alive.groups', { obj_type: 'group', obj: 'web\ndb servers\n' }),
      })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.obj, 'web\ndb servers')
      const bad = await call('POST', '/api/v1/nodata/', {
        token: alice,
        body: rule('alive.groups2', { obj_type: 'group', obj: 'web\nnope\nnada' }),
      })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error, 'body.obj: no host group named "nope", "nada"')
    })

    it('lists rules in pages', async () => {
      const all = await call<Rule[]>('GET', '/api/v1/nodata', { token: bob })
      assert.equal(all.status, 200)
      assert.deepEqual(
        all.body.map((r) => r.name),
        ['alive.hosts', 'alive.other', 'alive.groups']
      )
      assert.equal(all.body[0].t_create, undefined)
      const second = await call<Rule[]>('GET', '/api/v1/nodata', {
        token: bob,
        query: { page: '2', limit: '2' },
      })
      assert.deepEqual(
        second.body.map((r) => r.name),
        ['alive.groups']
      )
      const bad = await call('GET', '/api/v1/nodata', { token: bob, query: { page: '0' } })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error, /^page: /)
    })

    it('answers 404 for a missing rule, 400 for a bad id, 401 without a token', async () => {
      const missing = await call('GET', '/api/v1/nodata/9999', { token: bob })
      assert.equal(missing.status, 404)
      const bad = await call('GET', '/api/v1/nodata/abc', { token: bob })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error, /^nid: /)
      const anon = await call('GET', '/api/v1/nodata')
      assert.equal(anon.status, 401)
      const gone = await call('PUT', '/api/v1/nodata/', {
        token: admin,
        body: { ...rule('x'), id: 9999 },
      })
      assert.equal(gone.status, 404)
      const del = await call('DELETE', '/api/v1/nodata/9999', { token: admin })
      assert.equal(del.status, 404)
    })

    it('lets only the creator or an admin update, and moves t_modify', async () => {
      const list = await call<Rule[]>('GET', '/api/v1/nodata', { token: alice })
      const id = list.body[0].id
      await p.store.db
        .updateTable('mockcfg')
        .set({ t_create: '2020-01-01 00:00:00', t_modify: '2020-01-01 00:00:00' })
        .where('id', '=', id)
        .execute()
      const change = { ...rule('alive.hosts'), id, obj: 'host-c', mock: -2, step: 30 }
      const refused = await call('PUT', '/api/v1/nodata/', { token: bob, body: change })
      assert.equal(refused.status, 403)
      assert.match(refused.body.error, /only its creator or an admin/)
      assert.equal((await stored(id)).obj, 'host-a\nhost-b')

      const mine = await call<Rule>('PUT', '/api/v1/nodata/', { token: alice, body: change })
      assert.equal(mine.status, 200, JSON.stringify(mine.body))
      assert.equal(mine.body.obj, 'host-c')
      assert.equal(mine.body.mock, -2)
      assert.equal(mine.body.step, 30)
      assert.equal(mine.body.creator, 'alice')
      const row = await stored(id)
      assert.equal(row.t_create, '2020-01-01 00:00:00')
      assert.notEqual(row.t_modify, '2020-01-01 00:00:00')
      assert.match(row.t_modify, STAMP_RE)

      const renamed = await call<Rule>('PUT', '/api/v1/nodata', {
        token: admin,
        body: { ...change, name: 'alive.renamed' },
      })
      assert.equal(renamed.status, 200)
      assert.equal(renamed.body.name, 'alive.renamed')
      assert.equal(renamed.body.creator, 'alice')
      const dup = await call('PUT', '/api/v1/nodata/', {
        token: admin,
        body: { ...change, name: 'alive.other' },
      })
      assert.equal(dup.status, 409)
      const invalid = await call('PUT', '/api/v1/nodata/', {
        token: alice,
        body: { ...change, obj_type: 'hosts' },
      })
      assert.equal(invalid.status, 400)
      assert.match(invalid.body.error, /^body\.obj_type: /)
      const noId = await call('PUT', '/api/v1/nodata/', { token: alice, body: rule('x') })
      assert.equal(noId.status, 400)
      assert.match(noId.body.error, /^body\.id: /)
    })

    it('lets only the creator or an admin delete', async () => {
      const list = await call<Rule[]>('GET', '/api/v1/nodata', { token: alice })
      const [first, second] = list.body
      const refused = await call('DELETE', `/api/v1/nodata/${first.id}`, { token: bob })
      assert.equal(refused.status, 403)
      const mine = await call('DELETE', `/api/v1/nodata/${first.id}`, { token: alice })
      assert.deepEqual(mine, { status: 200, body: { message: `mockcfg:${first.id} is deleted` } })
      const byAdmin = await call('DELETE', `/api/v1/nodata/${second.id}`, { token: admin })
      assert.equal(byAdmin.status, 200)
      const left = await call<Rule[]>('GET', '/api/v1/nodata', { token: alice })
      assert.deepEqual(
        left.body.map((r) => r.name),
        ['alive.groups']
      )
    })
  })
}
