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

    // Each test logs in from addresses of its own: an address's failures are never forgotten early.
    const login = (address: string, name: string, password: string) =>
      p.app.inject({
        method: 'POST',
        url: '/api/v1/user/login',
        payload: { name, password },
        remoteAddress: address,
      })

    it('refuses a wrong password with 400 as falcon does, then rate-limits the address', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await login('10.1.0.1', 'root', 'nope')
        assert.equal(r.statusCode, 400)
        assert.deepEqual(r.json(), { error: 'wrong name or password' })
      }
      // The address waits, whatever name it tries next.
      for (const name of ['root', 'someone-else']) {
        const limited = await login('10.1.0.1', name, ROOT_PASSWORD)
        assert.equal(limited.statusCode, 429)
        assert.match(
          limited.json<{ error: string }>().error,
          /^too many failed logins from your address: 3 within 60 s \(api\.loginAttempts, api\.loginWindow\); try again in \d+ s$/
        )
      }
    })

    it('counts logins sent at once: no more than loginAttempts of them are tried', async () => {
      const tries = await Promise.all(
        Array.from({ length: 10 }, () => login('10.2.0.1', 'root', 'nope'))
      )
      const statuses = tries.map((r) => r.statusCode).sort()
      assert.deepEqual(statuses, [400, 400, 400, 429, 429, 429, 429, 429, 429, 429])
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

for (const engine of await testEngines()) {
  describe(`login limits, one guesser or many (${engine.engine})`, () => {
    let p: TestPortal
    before(async () => {
      p = await openTestPortal(engine, { loginAttempts: 3, loginNameAttempts: 4 })
    })
    after(() => p.close())
    const login = (address: string, name: string, password: string) =>
      p.app.inject({
        method: 'POST',
        url: '/api/v1/user/login',
        payload: { name, password },
        remoteAddress: address,
      })
    const status = async (address: string, name: string, password: string) =>
      (await login(address, name, password)).statusCode

    it('one guesser cannot lock a user out: root logs in from anywhere else', async () => {
      // The guesser's address is limited after its 3 tries ...
      const tries: number[] = []
      for (let i = 0; i < 5; i++) tries.push(await status('10.5.0.1', 'root', `guess-${i}`))
      assert.deepEqual(tries, [400, 400, 400, 429, 429])
      // ... root, from its own address, is not.
      assert.equal(await status('10.5.0.2', 'root', ROOT_PASSWORD), 200)
      // An IPv6 guesser is one address for its whole /64.
      for (let i = 0; i < 3; i++)
        assert.equal(await status(`2001:db8:5:1::${i + 1}`, 'nobody', 'nope'), 400)
      assert.equal(await status('2001:db8:5:1::99', 'root', ROOT_PASSWORD), 429)
      assert.equal(await status('2001:db8:5:2::1', 'nobody', 'nope'), 400)
    })

    it('many guessers: past loginNameAttempts each address tries the name once a window, and its user still logs in', async () => {
      await p.user('alice')
      // 10.6.0.1-4 fail once each: alice is guarded.
      for (let i = 1; i <= 4; i++) assert.equal(await status(`10.6.0.${i}`, 'alice', 'nope'), 400)
      const again = await login('10.6.0.1', 'alice', 'password-alice')
      assert.equal(again.statusCode, 429)
      assert.match(
        again.json<{ error: string }>().error,
        /^too many failed logins for alice from many addresses: 4 within 60 s \(api\.loginNameAttempts, api\.loginWindow\); each address may now try it once a window, and yours has: try again in \d+ s$/
      )
      // A new guesser gets one try, then waits.
      assert.equal(await status('10.6.0.5', 'alice', 'nope'), 400)
      assert.equal(await status('10.6.0.5', 'alice', 'nope'), 429)
      // Other names from those addresses are not guarded.
      assert.equal(await status('10.6.0.5', 'nobody', 'nope'), 400)
      // alice's own login, from an address that has not failed for her, succeeds.
      assert.equal(await status('10.6.0.9', 'alice', 'password-alice'), 200)
      // The name as the store finds it counts: MySQL finds `alice ` (trailing spaces) as `alice`.
      const spelt = await status('10.6.0.2', 'alice  ', 'nope')
      assert.equal(spelt, engine.engine === 'mysql' ? 429 : 400)
      const counters = await p.call<{ data: { loginRefused: Record<string, number> } }>(
        'GET',
        '/counter/all'
      )
      assert.deepEqual(counters.body.data.loginRefused, {
        address: 3,
        name: engine.engine === 'mysql' ? 3 : 2,
      })
    })
  })
}

describe('LoginLimiter', () => {
  const limits = { attempts: 2, nameAttempts: 3, windowMs: 60_000 }

  it('keeps at most 100k keys under a spray of names and addresses', () => {
    const limiter = new LoginLimiter({ ...limits, attempts: 5 }, Date.now)
    for (let i = 0; i < 150_000; i++)
      limiter.attempt(`n${i}`, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)(false)
    assert.ok(limiter.size <= 100_000, String(limiter.size))
  })

  it('forgets failures once the window has passed, and a guarded name cools', () => {
    let now = 1_000_000
    const guarded: string[] = []
    const limiter = new LoginLimiter(
      limits,
      () => now,
      (name) => guarded.push(name)
    )
    const refusal = (f: () => unknown) => {
      try {
        f()
        return undefined
      } catch (err) {
        return (err as Error).message
      }
    }
    limiter.attempt('root', '10.0.0.1')(false)
    limiter.attempt('root', '10.0.0.1')(false)
    assert.match(refusal(() => limiter.checkAddress('10.0.0.1')) ?? '', /try again in 60 s$/)
    now += 30_000
    assert.match(refusal(() => limiter.checkAddress('10.0.0.1')) ?? '', /try again in 30 s$/)
    limiter.attempt('root', '10.0.0.2')(false)
    assert.deepEqual(guarded, ['root'])
    assert.match(
      refusal(() => limiter.attempt('root', '10.0.0.2')) ?? '',
      /yours has: try again in 60 s$/
    )
    now += 30_000
    // The first two failures are a window old: 10.0.0.1 may try again, and root is no longer guarded.
    assert.equal(
      refusal(() => limiter.checkAddress('10.0.0.1')),
      undefined
    )
    assert.equal(
      refusal(() => limiter.attempt('root', '10.0.0.2')),
      undefined
    )
    // A right password takes its failure back.
    limiter.attempt('root', '10.0.0.3')(true)
    limiter.attempt('root', '10.0.0.3')(true)
    limiter.attempt('root', '10.0.0.3')(true)
    assert.deepEqual(limiter.refused, { address: 2, name: 1 })
  })
})
