import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { testEngines } from '../store/index.js'
import { openTestPortal, type TestPortal } from './testing.js'

/** Failure is the api's error answer. */
interface Failure {
  error: string
}

interface Id {
  id: number
}
interface Screen {
  id: number
  pid: number
  name: string
}
interface Graph {
  graph_id: number
  title: string
  endpoints: string[]
  counters: string[]
  screen_id: number
  graph_type: string
  timespan: number
  method: string
  position: number
  falcon_tags: string
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex')

for (const engine of await testEngines()) {
  describe(`dashboard routes (${engine.engine})`, () => {
    let p: TestPortal
    let alice: string
    let bob: string
    before(async () => {
      p = await openTestPortal(engine)
      alice = await p.user('alice')
      bob = await p.user('bob')
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

    /** form posts `fields` as application/x-www-form-urlencoded, as the falcon dashboard does. */
    const form = async <T = Failure>(
      method: 'POST' | 'PUT',
      url: string,
      fields: Record<string, string>
    ) => {
      const res = await p.app.inject({
        method,
        url,
        headers: { apitoken: alice, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(fields).toString(),
      })
      return { status: res.statusCode, body: res.json<T>() }
    }
    const newScreen = async (name: string, pid = 0) => {
      const r = await call<Id>('POST', '/api/v1/dashboard/screen', {
        token: alice,
        body: { pid, name },
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body.id
    }
    const newGraph = async (screen_id: number, extra: Record<string, unknown> = {}) => {
      const r = await call<Id>('POST', '/api/v1/dashboard/graph', {
        token: alice,
        body: {
          screen_id,
          title: 'load',
          endpoints: ['h2', 'h1'],
          counters: ['load.1min'],
          ...extra,
        },
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body.id
    }

    describe('tmpgraph', () => {
      it('stores a set once: the same endpoints and counters in any order give the same id', async () => {
        const a = await call<Id>('POST', '/api/v1/dashboard/tmpgraph', {
          token: alice,
          body: { endpoints: ['web-2', 'web-1', 'Web-3'], counters: ['load.1min', 'cpu.idle'] },
        })
        assert.equal(a.status, 200, JSON.stringify(a.body))
        assert.deepEqual(Object.keys(a.body), ['id'])
        const b = await call<Id>('POST', '/api/v1/dashboard/tmpgraph', {
          token: bob,
          body: { endpoints: ['web-1', 'Web-3', 'web-2'], counters: ['cpu.idle', 'load.1min'] },
        })
        assert.deepEqual(b, { status: 200, body: { id: a.body.id } })
        const other = await call<Id>('POST', '/api/v1/dashboard/tmpgraph', {
          token: bob,
          body: { endpoints: ['web-1'], counters: ['cpu.idle', 'load.1min'] },
        })
        assert.equal(other.status, 200)
        assert.notEqual(other.body.id, a.body.id)
        const row = await p.store.db
          .selectFrom('tmp_graph')
          .selectAll()
          .where('id', '=', a.body.id)
          .executeTakeFirstOrThrow()
        // Go's sort.Strings orders bytes: upper case first.
        assert.equal(row.endpoints, 'Web-3|web-1|web-2')
        assert.equal(row.counters, 'cpu.idle|load.1min')
        assert.equal(row.ck, md5('Web-3|web-1|web-2:cpu.idle|load.1min'))
        const count = await p.store.db
          .selectFrom('tmp_graph')
          .select((e) => e.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
        assert.equal(Number(count.n), 2)
      })

      it('reads a tmpgraph back sorted, 404 when missing', async () => {
        const a = await call<Id>('POST', '/api/v1/dashboard/tmpgraph', {
          token: alice,
          body: { endpoints: ['b', 'a'], counters: ['net.if.in.bytes/iface=eth0'] },
        })
        const r = await call('GET', `/api/v1/dashboard/tmpgraph/${a.body.id}`, { token: bob })
        assert.deepEqual(r, {
          status: 200,
          body: { endpoints: ['a', 'b'], counters: ['net.if.in.bytes/iface=eth0'] },
        })
        const missing = await call('GET', '/api/v1/dashboard/tmpgraph/9999', { token: bob })
        assert.equal(missing.status, 404)
        const bad = await call('GET', '/api/v1/dashboard/tmpgraph/x', { token: bob })
        assert.equal(bad.status, 400)
        const anon = await call('GET', `/api/v1/dashboard/tmpgraph/${a.body.id}`)
        assert.equal(anon.status, 401)
      })

      it('names the bad field', async () => {
        const f = async (body: unknown, want: RegExp) => {
          const r = await call('POST', '/api/v1/dashboard/tmpgraph', { token: alice, body })
          assert.equal(r.status, 400, JSON.stringify(body))
          assert.match(r.body.error, want, JSON.stringify(body))
        }
        await f({ endpoints: [], counters: ['c'] }, /^body\.endpoints: expected at least one/)
        await f({ endpoints: ['a'] }, /^body\.counters: /)
        await f({ endpoints: 'a', counters: ['c'] }, /^body\.endpoints: /)
        await f({ endpoints: ['a|b'], counters: ['c'] }, /^body\.endpoints\.0: .*cannot contain/)
        await f({ endpoints: ['a', ''], counters: ['c'] }, /^body\.endpoints\.1: /)
        const many = Array.from({ length: 400 }, (_, i) => `${'h'.repeat(200)}-${i}`)
        await f({ endpoints: many, counters: ['c'] }, /^body\.endpoints: \d+ bytes joined/)
      })
    })

    describe('screens', () => {
      it('creates screens from form fields or JSON and answers {pid,id,name}', async () => {
        const top = await form<Screen>('POST', '/api/v1/dashboard/screen', { name: 'ops' })
        assert.equal(top.status, 200, JSON.stringify(top.body))
        assert.deepEqual(top.body, { pid: 0, id: top.body.id, name: 'ops' })
        const child = await form<Screen>('POST', '/api/v1/dashboard/screen', {
          pid: String(top.body.id),
          name: 'web',
        })
        assert.deepEqual(child, {
          status: 200,
          body: { pid: top.body.id, id: child.body.id, name: 'web' },
        })
        const json = await call<Screen>('POST', '/api/v1/dashboard/screen', {
          token: bob,
          body: { pid: top.body.id, name: 'db' },
        })
        assert.equal(json.status, 200)
        assert.equal(json.body.pid, top.body.id)
        const got = await call('GET', `/api/v1/dashboard/screen/${child.body.id}`, { token: bob })
        assert.deepEqual(got, {
          status: 200,
          body: { id: child.body.id, pid: top.body.id, name: 'web' },
        })
      })

      it('refuses a duplicate name under the same pid (409), allows it under another', async () => {
        const dup = await form('POST', '/api/v1/dashboard/screen', { pid: '0', name: 'ops' })
        assert.equal(dup.status, 409)
        assert.match(dup.body.error, /^name: a screen named ops already exists under pid 0/)
        const ops = await p.store.db
          .selectFrom('dashboard_screen')
          .select('id')
          .where('name', '=', 'ops')
          .executeTakeFirstOrThrow()
        const r = await form('POST', '/api/v1/dashboard/screen', {
          pid: String(ops.id),
          name: 'ops',
        })
        assert.equal(r.status, 200)
      })

      it('validates the fields and the parent', async () => {
        const f = async (fields: Record<string, string>, status: number, want: RegExp) => {
          const r = await form('POST', '/api/v1/dashboard/screen', fields)
          assert.equal(r.status, status, JSON.stringify(fields))
          assert.match(r.body.error, want, JSON.stringify(fields))
        }
        await f({ pid: '0' }, 400, /^body\.name: /)
        await f({ pid: '0', name: '   ' }, 400, /^body\.name: expected a screen name/)
        await f({ pid: '0', name: 'x'.repeat(129) }, 400, /^body\.name: /)
        await f({ pid: 'x', name: 'a' }, 400, /^body\.pid: /)
        await f({ pid: '-1', name: 'a' }, 400, /^body\.pid: /)
        await f({ pid: '9999', name: 'a' }, 404, /^pid: screen 9999 not found/)
        const missing = await call('GET', '/api/v1/dashboard/screen/9999', { token: bob })
        assert.equal(missing.status, 404)
      })

      it('lists screens by pid (0 for the top) and all of them with a limit', async () => {
        const all = await call<Screen[]>('GET', '/api/v1/dashboard/screens', { token: bob })
        assert.equal(all.status, 200)
        const names = all.body.map((s) => s.name)
        assert.deepEqual(names, ['ops', 'web', 'db', 'ops'])
        const two = await call<Screen[]>('GET', '/api/v1/dashboard/screens', {
          token: bob,
          query: { limit: '2' },
        })
        assert.deepEqual(
          two.body.map((s) => s.name),
          ['ops', 'web']
        )
        const tops = await call<Screen[]>('GET', '/api/v1/dashboard/screens/pid/0', { token: bob })
        assert.deepEqual(tops.body, [{ id: all.body[0].id, pid: 0, name: 'ops' }])
        const kids = await call<Screen[]>(
          'GET',
          `/api/v1/dashboard/screens/pid/${all.body[0].id}`,
          {
            token: bob,
          }
        )
        assert.deepEqual(
          kids.body.map((s) => s.name),
          ['web', 'db', 'ops']
        )
        const bad = await call('GET', '/api/v1/dashboard/screens/pid/x', { token: bob })
        assert.equal(bad.status, 400)
        const badLimit = await call('GET', '/api/v1/dashboard/screens', {
          token: bob,
          query: { limit: 'lots' },
        })
        assert.equal(badLimit.status, 400)
      })

      it('renames and moves a screen; refuses duplicates, loops and unknown parents', async () => {
        const top = await newScreen('moves')
        const a = await newScreen('a', top)
        const b = await newScreen('b', a)
        const renamed = await form('PUT', `/api/v1/dashboard/screen/${a}`, { name: 'a2' })
        assert.deepEqual(renamed, { status: 200, body: { message: 'ok' } })
        // Any logged-in user may change a screen: dashboard objects have no owner in falcon.
        const moved = await call('PUT', `/api/v1/dashboard/screen/${b}`, {
          token: bob,
          body: { pid: top },
        })
        assert.equal(moved.status, 200, JSON.stringify(moved.body))
        const got = await call<Screen>('GET', `/api/v1/dashboard/screen/${b}`, { token: bob })
        assert.deepEqual(got.body, { id: b, pid: top, name: 'b' })
        const again = await call<Screen>('GET', `/api/v1/dashboard/screen/${a}`, { token: bob })
        assert.deepEqual(again.body, { id: a, pid: top, name: 'a2' })

        const dup = await form('PUT', `/api/v1/dashboard/screen/${b}`, { name: 'a2' })
        assert.equal(dup.status, 409)
        const c = await newScreen('c', b)
        const loop = await form('PUT', `/api/v1/dashboard/screen/${b}`, { pid: String(c) })
        assert.equal(loop.status, 400)
        assert.match(loop.body.error, /^body\.pid: /)
        const self = await form('PUT', `/api/v1/dashboard/screen/${b}`, { pid: String(b) })
        assert.equal(self.status, 400)
        const unknown = await form('PUT', `/api/v1/dashboard/screen/${b}`, { pid: '9999' })
        assert.equal(unknown.status, 404)
        const empty = await form('PUT', `/api/v1/dashboard/screen/${b}`, { name: '', pid: '' })
        assert.equal(empty.status, 400)
        assert.match(empty.body.error, /^body: expected a name or a pid/)
        const badPid = await form('PUT', `/api/v1/dashboard/screen/${b}`, { pid: 'top' })
        assert.equal(badPid.status, 400)
        assert.match(badPid.body.error, /^body\.pid: expected a parent screen id/)
        const missing = await form('PUT', '/api/v1/dashboard/screen/9999', { name: 'z' })
        assert.equal(missing.status, 404)
        const toTop = await form('PUT', `/api/v1/dashboard/screen/${c}`, { pid: '0' })
        assert.equal(toTop.status, 200)
        const after = await call<Screen>('GET', `/api/v1/dashboard/screen/${c}`, { token: bob })
        assert.equal(after.body.pid, 0)
      })

      it('deletes a screen with its sub-screens and their graphs, in one go', async () => {
        const top = await newScreen('doomed')
        const child = await newScreen('child', top)
        const grandchild = await newScreen('grandchild', child)
        const keep = await newScreen('keep')
        await newGraph(child)
        await newGraph(grandchild)
        const kept = await newGraph(keep)
        // The falcon dashboard sends a JSON content type with no body on its DELETEs.
        const res = await p.app.inject({
          method: 'DELETE',
          url: `/api/v1/dashboard/screen/${top}`,
          headers: { apitoken: bob, 'content-type': 'application/json' },
        })
        assert.equal(res.statusCode, 200, res.body)
        assert.deepEqual(res.json(), { message: 'ok' })
        const screens = await p.store.db
          .selectFrom('dashboard_screen')
          .select('id')
          .where('id', 'in', [top, child, grandchild, keep])
          .execute()
        assert.deepEqual(
          screens.map((s) => s.id),
          [keep]
        )
        const graphs = await p.store.db
          .selectFrom('dashboard_graph')
          .select(['id', 'screen_id'])
          .where('screen_id', 'in', [top, child, grandchild, keep])
          .execute()
        assert.deepEqual(graphs, [{ id: kept, screen_id: keep }])
        const again = await call('DELETE', `/api/v1/dashboard/screen/${top}`, { token: bob })
        assert.equal(again.status, 404)
      })
    })

    describe('graphs', () => {
      let screen: number
      before(async () => {
        screen = await newScreen('graphs')
      })

      it('creates a graph with falcon defaults and reads it in falcon shape', async () => {
        const r = await call<Id>('POST', '/api/v1/dashboard/graph', {
          token: alice,
          body: {
            screen_id: screen,
            title: 'cpu',
            endpoints: ['web-2', 'web-1'],
            counters: ['cpu.idle', 'cpu.busy'],
          },
        })
        assert.equal(r.status, 200, JSON.stringify(r.body))
        assert.deepEqual(Object.keys(r.body), ['id'])
        const got = await call('GET', `/api/v1/dashboard/graph/${r.body.id}`, { token: bob })
        assert.deepEqual(got, {
          status: 200,
          body: {
            graph_id: r.body.id,
            title: 'cpu',
            endpoints: ['web-1', 'web-2'],
            counters: ['cpu.busy', 'cpu.idle'],
            screen_id: screen,
            graph_type: 'h',
            timespan: 3600,
            method: '',
            position: 0,
            falcon_tags: '',
          },
        })
      })

      it('keeps every field given, the method in upper case', async () => {
        const id = await newGraph(screen, {
          title: 'sum',
          endpoints: [],
          timespan: 86400,
          graph_type: 'a',
          method: 'sum',
          position: 7,
          falcon_tags: 'dc=bj',
        })
        const got = await call<Graph>('GET', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.equal(got.body.title, 'sum')
        assert.deepEqual(got.body.endpoints, [])
        assert.equal(got.body.timespan, 86400)
        assert.equal(got.body.graph_type, 'a')
        assert.equal(got.body.method, 'SUM')
        assert.equal(got.body.position, 7)
        assert.equal(got.body.falcon_tags, 'dc=bj')
      })

      it('names the bad field, and 404s an unknown screen', async () => {
        const f = async (patch: Record<string, unknown>, status: number, want: RegExp) => {
          const body: Record<string, unknown> = {
            screen_id: screen,
            title: 't',
            endpoints: ['e'],
            counters: ['c'],
            ...patch,
          }
          for (const [k, v] of Object.entries(patch)) if (v === undefined) delete body[k]
          const r = await call('POST', '/api/v1/dashboard/graph', { token: alice, body })
          assert.equal(r.status, status, JSON.stringify(patch))
          assert.match(r.body.error, want, JSON.stringify(patch))
        }
        await f({ screen_id: undefined }, 400, /^body\.screen_id: /)
        await f({ screen_id: 9999 }, 404, /^screen_id: screen 9999 not found/)
        await f({ title: '' }, 400, /^body\.title: /)
        await f({ title: 'x'.repeat(129) }, 400, /^body\.title: /)
        await f({ endpoints: undefined }, 400, /^body\.endpoints: /)
        await f({ counters: ['a|b'] }, 400, /^body\.counters\.0: /)
        await f({ graph_type: 'x' }, 400, /^body\.graph_type: expected one of h, k, a/)
        await f({ method: 'median' }, 400, /^body\.method: expected one of/)
        await f({ timespan: 0 }, 400, /^body\.timespan: /)
        await f({ timespan: -60 }, 400, /^body\.timespan: /)
        await f({ position: -1 }, 400, /^body\.position: /)
        await f({ falcon_tags: 'x'.repeat(513) }, 400, /^body\.falcon_tags: /)
      })

      it('updates only what is given, as falcon does, for any logged-in user', async () => {
        const other = await newScreen('other')
        const id = await newGraph(screen, { method: 'SUM', position: 3, falcon_tags: 't=1' })
        const r = await call('PUT', `/api/v1/dashboard/graph/${id}`, {
          token: bob,
          body: { title: 'renamed', endpoints: [], counters: ['b', 'a'], graph_type: 'k' },
        })
        assert.deepEqual(r, { status: 200, body: { id } })
        let got = await call<Graph>('GET', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.deepEqual(got.body, {
          graph_id: id,
          title: 'renamed',
          endpoints: ['h1', 'h2'],
          counters: ['a', 'b'],
          screen_id: screen,
          graph_type: 'k',
          timespan: 3600,
          method: 'SUM',
          position: 3,
          falcon_tags: 't=1',
        })
        const all = await call('PUT', `/api/v1/dashboard/graph/${id}`, {
          token: alice,
          body: {
            screen_id: other,
            title: '',
            endpoints: ['x'],
            timespan: 60,
            method: '',
            position: 9,
            falcon_tags: 't=2',
          },
        })
        assert.equal(all.status, 200)
        got = await call<Graph>('GET', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.equal(got.body.screen_id, other)
        assert.equal(got.body.title, 'renamed')
        assert.deepEqual(got.body.endpoints, ['x'])
        assert.equal(got.body.timespan, 60)
        assert.equal(got.body.method, '')
        assert.equal(got.body.position, 9)
        assert.equal(got.body.falcon_tags, 't=2')

        const f = async (body: unknown, status: number, want: RegExp) => {
          const res = await call('PUT', `/api/v1/dashboard/graph/${id}`, { token: alice, body })
          assert.equal(res.status, status, JSON.stringify(body))
          assert.match(res.body.error, want, JSON.stringify(body))
        }
        await f({ screen_id: 9999 }, 404, /^screen_id: screen 9999 not found/)
        await f({ graph_type: 'z' }, 400, /^body\.graph_type: expected one of h, k, a/)
        await f({ method: 'avg' }, 400, /^body\.method: /)
        await f({ timespan: -1 }, 400, /^body\.timespan: /)
        const blank = await call('PUT', `/api/v1/dashboard/graph/${id}`, {
          token: alice,
          body: { graph_type: '', screen_id: 0, timespan: 0, position: 0, falcon_tags: '' },
        })
        assert.equal(blank.status, 200)
        const kept = await call<Graph>('GET', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.deepEqual(kept.body, got.body)
        const missing = await call('PUT', '/api/v1/dashboard/graph/9999', {
          token: alice,
          body: { title: 'x' },
        })
        assert.equal(missing.status, 404)
      })

      it('lists the graphs of a screen with a limit, 404 for an unknown screen', async () => {
        const s = await newScreen('listed')
        const ids = [await newGraph(s), await newGraph(s), await newGraph(s)]
        const r = await call<Graph[]>('GET', `/api/v1/dashboard/graphs/screen/${s}`, { token: bob })
        assert.equal(r.status, 200)
        assert.deepEqual(
          r.body.map((g) => g.graph_id),
          ids
        )
        assert.deepEqual(r.body[0].endpoints, ['h1', 'h2'])
        const two = await call<Graph[]>('GET', `/api/v1/dashboard/graphs/screen/${s}`, {
          token: bob,
          query: { limit: '2' },
        })
        assert.equal(two.body.length, 2)
        const missing = await call('GET', '/api/v1/dashboard/graphs/screen/9999', { token: bob })
        assert.equal(missing.status, 404)
      })

      it('deletes a graph, answering its id; 404 after', async () => {
        const id = await newGraph(screen)
        const res = await p.app.inject({
          method: 'DELETE',
          url: `/api/v1/dashboard/graph/${id}`,
          headers: { apitoken: bob, 'content-type': 'application/json' },
        })
        assert.equal(res.statusCode, 200, res.body)
        assert.deepEqual(res.json(), { id })
        const got = await call('GET', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.equal(got.status, 404)
        const again = await call('DELETE', `/api/v1/dashboard/graph/${id}`, { token: bob })
        assert.equal(again.status, 404)
        const anon = await call('DELETE', `/api/v1/dashboard/graph/${id}`)
        assert.equal(anon.status, 401)
      })

      it('still refuses malformed JSON', async () => {
        const res = await p.app.inject({
          method: 'POST',
          url: '/api/v1/dashboard/graph',
          headers: { apitoken: bob, 'content-type': 'application/json' },
          payload: '{"screen_id":',
        })
        assert.equal(res.statusCode, 400)
        const empty = await p.app.inject({
          method: 'POST',
          url: '/api/v1/dashboard/graph',
          headers: { apitoken: bob, 'content-type': 'application/json' },
        })
        assert.equal(empty.statusCode, 400)
        assert.match(empty.json<{ error: string }>().error, /^body\.screen_id: /)
      })
    })
  })
}
