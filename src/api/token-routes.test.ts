import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { testEngines } from '../store/index.js'
import { apiTokenHash } from './auth.js'
import { openTestPortal, type TestPortal } from './testing.js'

interface Token {
  id: number
  name: string
  scope: string
  expires_at: number
  token?: string
  error?: string
}

const basic = (name: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`,
})
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** routesOf lists `METHOD /path` of every route, read from the tree printRoutes draws. */
function routesOf(p: TestPortal): string[] {
  const out: string[] = []
  const stack: string[] = []
  for (const line of p.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (m === null) continue
    const depth = (m[1] ?? '').length / 4
    stack.length = depth
    const path = (stack[depth - 1] ?? '') + (m[2] ?? '')
    stack.push(path)
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path}`)
  }
  return out
}

for (const engine of await testEngines()) {
  describe(`API tokens and HTTP Basic (${engine.engine})`, () => {
    let p: TestPortal
    let alice = ''
    before(async () => {
      p = await openTestPortal(engine, { defaultToken: 'service-token-for-token-tests' })
      alice = await p.user('alice')
      await p.user('bob')
    })
    after(() => p.close())

    const create = (token: string, body: unknown) =>
      p.call<Token>('POST', '/api/v1/user/tokens', { token, body })

    it('creates a token whose secret is shown once and kept only as a hash', async () => {
      const r = await create(alice, { name: 'grafana' })
      assert.equal(r.status, 200)
      assert.equal(r.body.scope, 'read')
      assert.equal(r.body.expires_at, 0)
      assert.match(r.body.token ?? '', /^pgt_[A-Za-z0-9_-]{43}$/)
      const row = await p.store.db
        .selectFrom('api_token')
        .selectAll()
        .where('id', '=', r.body.id)
        .executeTakeFirstOrThrow()
      assert.equal(row.hash, apiTokenHash(r.body.token ?? ''))
      assert.ok(!JSON.stringify(row).includes(r.body.token ?? ''))
      const list = await p.call<Token[]>('GET', '/api/v1/user/tokens', { token: alice })
      assert.deepEqual(
        list.body.map((t) => Object.keys(t).sort()),
        [['created', 'expires_at', 'id', 'name', 'scope']]
      )
    })

    it('refuses a bad scope, name or lifetime naming the field', async () => {
      const f = async (body: unknown, want: RegExp) => {
        const r = await create(alice, body)
        assert.equal(r.status, 400)
        assert.match(r.body.error ?? '', want)
      }
      await f({ name: 'x', scope: 'admin' }, /^body\.scope: /)
      await f({ name: '' }, /^body\.name: /)
      await f({ name: 'x', expiresIn: -1 }, /^body\.expiresIn: /)
      await f({ name: 'x', extra: 1 }, /^body: .*extra/)
    })

    it('lets a read token GET and query, and refuses its writes with 403', async () => {
      const { token = '' } = (await create(alice, { name: 'read' })).body
      const me = await p.call('GET', '/api/v1/user/current', { headers: bearer(token) })
      assert.equal(me.status, 200)
      assert.equal(me.body.name, 'alice')
      const teams = await p.store.db.selectFrom('team').select('id').execute()
      const w = await p.call('POST', '/api/v1/team', {
        headers: bearer(token),
        body: { team_name: 'by-read-token', resume: '', users: [] },
      })
      assert.equal(w.status, 403)
      assert.match(w.body.error, /read-only credentials/)
      assert.deepEqual(await p.store.db.selectFrom('team').select('id').execute(), teams)
      // A read token cannot mint itself a full one.
      const mint = await p.call('POST', '/api/v1/user/tokens', {
        headers: bearer(token),
        body: { name: 'escalate', scope: 'full' },
      })
      assert.equal(mint.status, 403)
    })

    it('refuses every write route to a read token, and lets the read-only POSTs through', async () => {
      const { token = '' } = (await create(alice, { name: 'sweep' })).body
      // Routes that take no credentials at all, and POSTs that only read.
      const open = new Set(['POST /api/v1/user/login', 'POST /api/v1/user/create'])
      const reads = new Set(
        [
          'graph/history',
          'graph/lastpoint',
          'query',
          'query_range',
          'query_exemplars',
          'series',
          'labels',
          'format_query',
        ].map((p) => `POST /api/v1/${p}`)
      )
      const wrong: string[] = []
      let writes = 0
      for (const route of routesOf(p)) {
        const [method = '', path = ''] = route.split(' ')
        if (['GET', 'HEAD', 'OPTIONS'].includes(method) || !path.startsWith('/api/v1/')) continue
        if (open.has(route)) continue
        const url = path.replace(/:[a-z_]+/g, '1')
        const r = await p.call(method, url, { headers: bearer(token), body: {} })
        const isRead = reads.has(route)
        if (isRead ? r.status === 403 : r.status !== 403) wrong.push(`${route}: ${r.status}`)
        if (!isRead) writes++
      }
      assert.ok(writes > 50, `only ${writes} write routes found`)
      assert.deepEqual(wrong, [])
    })

    it('lets a full token write with its user own rights', async () => {
      const { token = '' } = (await create(alice, { name: 'full', scope: 'full' })).body
      const w = await p.call('POST', '/api/v1/team', {
        headers: bearer(token),
        body: { team_name: 'by-full-token', resume: '', users: [] },
      })
      assert.equal(w.status, 200)
      // Still alice, not an admin: an admin route refuses.
      const admin = await p.call('PUT', '/api/v1/admin/change_user_role', {
        headers: bearer(token),
        body: { user_id: 1, admin: 'yes' },
      })
      assert.equal(admin.status, 403)
    })

    it('deletes only its own tokens; a deleted or expired token is refused', async () => {
      const { id, token = '' } = (await create(alice, { name: 'short' })).body
      const other = await p.call('DELETE', `/api/v1/user/tokens/${id}`, {
        token: await p.user('bob'),
      })
      assert.equal(other.status, 404)
      assert.equal(
        (await p.call('GET', '/api/v1/user/current', { headers: bearer(token) })).status,
        200
      )
      const del = await p.call('DELETE', `/api/v1/user/tokens/${id}`, { token: alice })
      assert.equal(del.status, 200)
      const gone = await p.call('GET', '/api/v1/user/current', { headers: bearer(token) })
      assert.equal(gone.status, 401)
      assert.match(gone.body.error, /no such API token/)

      const later = (await create(alice, { name: 'expiring', expiresIn: 3600 })).body
      assert.ok(later.expires_at > Date.now() / 1000)
      await p.store.db
        .updateTable('api_token')
        .set({ expires_at: Math.floor(Date.now() / 1000) - 1 })
        .where('id', '=', later.id)
        .execute()
      const expired = await p.call('GET', '/api/v1/user/current', {
        headers: bearer(later.token ?? ''),
      })
      assert.equal(expired.status, 401)
      assert.match(expired.body.error, /expired/)
    })

    it("deletes a user's tokens with the user", async () => {
      const erin = await p.user('erin')
      const { token = '' } = (await create(erin, { name: 'doomed' })).body
      const id = (
        await p.store.db
          .selectFrom('user')
          .select('id')
          .where('name', '=', 'erin')
          .executeTakeFirstOrThrow()
      ).id
      const del = await p.call('DELETE', '/api/v1/admin/delete_user', {
        token: p.root,
        body: { user_id: id },
      })
      assert.equal(del.status, 200, JSON.stringify(del.body))
      const left = await p.store.db
        .selectFrom('api_token')
        .select('id')
        .where('uid', '=', id)
        .execute()
      assert.deepEqual(left, [])
      assert.equal(
        (await p.call('GET', '/api/v1/user/current', { headers: bearer(token) })).status,
        401
      )
    })

    it('refuses malformed and foreign credentials with 401 naming the header', async () => {
      const f = async (authorization: string, want: RegExp) => {
        const r = await p.call('GET', '/api/v1/user/current', { headers: { authorization } })
        assert.equal(r.status, 401, authorization)
        assert.match(r.body.error, want)
      }
      await f('Bearer nope', /not a Peregrine API token/)
      await f(`Bearer pgt_${'A'.repeat(43)}`, /no such API token/)
      await f('Digest abc', /expected Bearer .* or Basic/)
      await f('Basic !!!', /name:password/)
      const none = await p.call('GET', '/api/v1/user/current')
      assert.equal(none.status, 401)
      assert.match(none.body.error, /Apitoken .* Bearer .* Basic/)
    })

    it('takes HTTP Basic read-only, caches a verified password, and forgets it when it changes', async () => {
      await p.user('carol')
      const before = { ...p.ctx.basicCache }
      const r1 = await p.call('GET', '/api/v1/user/current', {
        headers: basic('carol', 'password-carol'),
      })
      assert.equal(r1.status, 200)
      assert.equal(r1.body.name, 'carol')
      const r2 = await p.call('GET', '/api/v1/user/current', {
        headers: basic('carol', 'password-carol'),
      })
      assert.equal(r2.status, 200)
      assert.equal(p.ctx.basicCache.misses - before.misses, 1)
      assert.equal(p.ctx.basicCache.hits - before.hits, 1)
      const wrong = await p.call('GET', '/api/v1/user/current', {
        headers: basic('carol', 'password-caro'),
      })
      assert.equal(wrong.status, 401)
      const write = await p.call('POST', '/api/v1/team', {
        headers: basic('carol', 'password-carol'),
        body: { team_name: 'by-basic', resume: '', users: [] },
      })
      assert.equal(write.status, 403)
      // The password changes (through a session): the cached verification no longer counts.
      const carol = await p.user('carol')
      const changed = await p.call('PUT', '/api/v1/user/cgpasswd', {
        token: carol,
        body: { old_password: 'password-carol', new_password: 'another-password' },
      })
      assert.equal(changed.status, 200, JSON.stringify(changed.body))
      const old = await p.call('GET', '/api/v1/user/current', {
        headers: basic('carol', 'password-carol'),
      })
      assert.equal(old.status, 401)
      const now = await p.call('GET', '/api/v1/user/current', {
        headers: basic('carol', 'another-password'),
      })
      assert.equal(now.status, 200)
    })

    it('counts wrong Basic passwords as failed logins (429 past api.loginAttempts)', async () => {
      const q = await openTestPortal(engine, { loginAttempts: 3 })
      try {
        await q.user('dave')
        const statuses = []
        for (let i = 0; i < 4; i++) {
          const r = await q.call('GET', '/api/v1/user/current', {
            headers: basic('dave', `guess-${i}`),
          })
          statuses.push(r.status)
        }
        assert.deepEqual(statuses, [401, 401, 401, 429])
      } finally {
        await q.close()
      }
    })
  })
}
