import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { LoginLimiter } from './auth.js'
import { openTestPortal, ROOT_PASSWORD, type TestPortal } from './testing.js'

for (const engine of await testEngines()) {
  describe(`session routes (${engine.engine})`, () => {
    let p: TestPortal
    before(async () => {
      p = await openTestPortal(engine, { loginAttempts: 3 })
    })
    after(() => p.close())

    it('logs root in with the first-start password and answers falcon shapes', async () => {
      const r = await p.call('POST', '/api/v1/user/login', {
        body: { name: 'root', password: ROOT_PASSWORD },
      })
      assert.equal(r.status, 200)
      assert.match(r.body.sig, /^[0-9a-f]{32}$/)
      assert.equal(r.body.name, 'root')
      assert.equal(r.body.admin, true)
      const token = JSON.stringify({ name: 'root', sig: r.body.sig })
      const ok = await p.call('GET', '/api/v1/user/auth_session', { token })
      assert.deepEqual(ok, { status: 200, body: { message: 'session is valid!' } })
    })

    it('accepts a form-encoded login as the falcon dashboard sends it', async () => {
      const res = await p.app.inject({
        method: 'POST',
        url: '/api/v1/user/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `name=root&password=${ROOT_PASSWORD}`,
      })
      assert.equal(res.statusCode, 200)
    })

    it('stores passwords as scrypt hashes, never in clear', async () => {
      const row = await p.store.db
        .selectFrom('user')
        .select('passwd')
        .where('name', '=', 'root')
        .executeTakeFirstOrThrow()
      assert.match(row.passwd, /^scrypt\$16384\$8\$1\$/)
      assert.ok(!row.passwd.includes(ROOT_PASSWORD))
    })

    it('refuses a wrong password with 400 as falcon does, then rate-limits the name', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await p.call('POST', '/api/v1/user/login', {
          body: { name: 'root', password: 'nope' },
        })
        assert.equal(r.status, 400)
        assert.equal(r.body.error, 'wrong name or password')
      }
      const limited = await p.call('POST', '/api/v1/user/login', {
        body: { name: 'root', password: ROOT_PASSWORD },
      })
      assert.equal(limited.status, 429)
      assert.match(limited.body.error, /too many failed logins; try again in \d+ s/)
      p.ctx.limiter.succeed('name:root')
      p.ctx.limiter.succeed('ip:127.0.0.1')
    })

    it('counts logins sent at once: no more than loginAttempts of them are tried', async () => {
      const tries = await Promise.all(
        Array.from({ length: 10 }, () =>
          p.call('POST', '/api/v1/user/login', { body: { name: 'root', password: 'nope' } })
        )
      )
      const statuses = tries.map((r) => r.status).sort()
      assert.deepEqual(statuses, [400, 400, 400, 429, 429, 429, 429, 429, 429, 429])
      p.ctx.limiter.succeed('name:root')
      p.ctx.limiter.succeed('ip:127.0.0.1')
    })

    it('limits a name however it is spelt to the store (MySQL ignores trailing spaces)', async () => {
      // From a new address each time, as a spread-out guesser would.
      const login = (i: number, name: string, password: string) =>
        p.app.inject({
          method: 'POST',
          url: '/api/v1/user/login',
          payload: { name, password },
          remoteAddress: `10.9.0.${i}`,
        })
      for (let i = 0; i < 3; i++) {
        const r = await login(i, 'root' + ' '.repeat(i + 1), 'nope')
        assert.equal(r.statusCode, 400)
      }
      const guessed = await login(3, 'root    ', ROOT_PASSWORD)
      assert.notEqual(guessed.statusCode, 200, guessed.body)
      p.ctx.limiter.succeed('name:root')
    })

    it('takes as long for a name that does not exist as for a wrong password', async () => {
      const time = async (i: number, name: string) => {
        const started = performance.now()
        const r = await p.app.inject({
          method: 'POST',
          url: '/api/v1/user/login',
          payload: { name, password: 'nope' },
          remoteAddress: `10.8.0.${i}`,
        })
        // The same answer for both, so the answer tells no more than the time does.
        assert.deepEqual([r.statusCode, r.json()], [400, { error: 'wrong name or password' }])
        return performance.now() - started
      }
      await time(0, 'nobody-0') // the first one also makes the decoy hash
      const unknown: number[] = []
      const wrong: number[] = []
      for (let i = 1; i <= 2; i++) {
        unknown.push(await time(i, `nobody-${i}`))
        wrong.push(await time(i + 10, 'root'))
      }
      p.ctx.limiter.succeed('name:root')
      // scrypt takes tens of ms; a lookup that finds no row takes one or two.
      assert.ok(
        Math.min(...unknown) > Math.min(...wrong) / 3,
        `${unknown.join()} vs ${wrong.join()}`
      )
    })

    it('refuses a name longer than a user name can be', async () => {
      const r = await p.call('POST', '/api/v1/user/login', {
        body: { name: 'x'.repeat(1 << 20), password: 'nope' },
      })
      assert.equal(r.status, 400)
      assert.match(r.body.error, /^body\.name: expected at most 64 characters/)
    })

    it('names the missing field', async () => {
      const r = await p.call('POST', '/api/v1/user/login', { body: { name: 'root' } })
      assert.equal(r.status, 400)
      assert.match(r.body.error, /^body\.password: /)
    })

    it('refuses sign-up by default: 401 without an Apitoken, 403 for a plain user', async () => {
      const body = { name: 'mallory', password: 'secret-1' }
      const anonymous = await p.call('POST', '/api/v1/user/create', { body })
      assert.equal(anonymous.status, 401)
      const plain = await p.call('POST', '/api/v1/user/create', {
        body,
        token: await p.user('plain-signup'),
      })
      assert.deepEqual(plain, {
        status: 403,
        body: { error: 'sign-up is disabled: only an admin creates users' },
      })
      const none = await p.store.db
        .selectFrom('user')
        .select('id')
        .where('name', '=', 'mallory')
        .executeTakeFirst()
      assert.equal(none, undefined)
      // An admin creates users, and is their creator.
      const byRoot = await p.call('POST', '/api/v1/user/create', { body, token: p.root })
      assert.equal(byRoot.status, 200)
      const row = await p.store.db
        .selectFrom('user')
        .select(['role', 'creator'])
        .where('name', '=', 'mallory')
        .executeTakeFirstOrThrow()
      assert.equal(row.role, 0)
      assert.notEqual(row.creator, 0)
    })

    it('with signupDisable: false, signs up a user (role 0) who can log in, and refuses a duplicate or root', async () => {
      const open = await openTestPortal(engine, { signupDisable: false })
      try {
        const r = await open.call('POST', '/api/v1/user/create', {
          body: { name: 'alice', password: 'secret-1', cnname: 'Alice', email: 'a@x' },
        })
        assert.equal(r.status, 200)
        assert.equal(r.body.name, 'alice')
        const row = await open.store.db
          .selectFrom('user')
          .selectAll()
          .where('name', '=', 'alice')
          .executeTakeFirstOrThrow()
        assert.equal(row.role, 0)
        assert.equal(row.cnname, 'Alice')
        const login = await open.call('POST', '/api/v1/user/login', {
          body: { name: 'alice', password: 'secret-1' },
        })
        assert.equal(login.status, 200)
        const dup = await open.call('POST', '/api/v1/user/create', {
          body: { name: 'alice', password: 'secret-1' },
        })
        assert.equal(dup.status, 409)
        const root = await open.call('POST', '/api/v1/user/create', {
          body: { name: 'root', password: 'secret-1' },
        })
        assert.equal(root.status, 400)
      } finally {
        await open.close()
      }
    })

    it('logs out: the sig stops working', async () => {
      const token = await p.user('bob')
      assert.equal((await p.call('GET', '/api/v1/user/auth_session', { token })).status, 200)
      assert.equal((await p.call('GET', '/api/v1/user/logout', { token })).status, 200)
      const after = await p.call('GET', '/api/v1/user/auth_session', { token })
      assert.equal(after.status, 401)
    })

    it('answers 401 for a missing, malformed or forged Apitoken', async () => {
      for (const token of [undefined, 'not json', '{"name":"root"}', '{"name":"root","sig":"x"}']) {
        const r = await p.call('GET', '/api/v1/graph/endpoint', { token, query: { q: 'a' } })
        assert.equal(r.status, 401, String(token))
        assert.equal(typeof r.body.error, 'string')
      }
    })

    it('accepts a falcon md5(salt+password) once and re-hashes it', async () => {
      const { createHash } = await import('node:crypto')
      await p.store.db
        .insertInto('user')
        .values({ name: 'legacy', passwd: createHash('md5').update('old-pass').digest('hex') })
        .execute()
      const r = await p.call('POST', '/api/v1/user/login', {
        body: { name: 'legacy', password: 'old-pass' },
      })
      assert.equal(r.status, 200)
      const row = await p.store.db
        .selectFrom('user')
        .select('passwd')
        .where('name', '=', 'legacy')
        .executeTakeFirstOrThrow()
      assert.match(row.passwd, /^scrypt\$/)
    })
  })
}

describe('LoginLimiter', () => {
  it('keeps at most 100k keys under a spray of names and addresses', () => {
    const limiter = new LoginLimiter(5, 60_000, Date.now)
    for (let i = 0; i < 150_000; i++) limiter.fail([`name:n${i}`, `ip:10.${i}`])
    assert.ok(limiter.size <= 100_000, String(limiter.size))
  })
})
