import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { openTestPortal, ROOT_PASSWORD, type TestPortal } from './testing.js'

const SERVICE_TOKEN = 'service-token-for-user-tests'
const USER_KEYS = ['cnname', 'email', 'id', 'im', 'name', 'phone', 'qq', 'role']

/** Obj holds the fields tests read from single-object replies. */
interface Obj {
  error: string
  message: string
  id: number
  name: string
  role: number
  sig: string
  admin: boolean
  creator_name: string
}

interface Named {
  name: string
}

for (const engine of await testEngines()) {
  describe(`user routes (${engine.engine})`, () => {
    let p: TestPortal
    before(async () => {
      p = await openTestPortal(engine, { loginAttempts: 1000, defaultToken: SERVICE_TOKEN })
    })
    after(() => p.close())
    // Replies are read as the shape under test.
    const call = <T = Obj>(...args: Parameters<TestPortal['call']>) => p.call<T>(...args)

    const idOf = async (name: string) =>
      (
        await p.store.db
          .selectFrom('user')
          .select('id')
          .where('name', '=', name)
          .executeTakeFirstOrThrow()
      ).id
    const row = (name: string) =>
      p.store.db.selectFrom('user').selectAll().where('name', '=', name).executeTakeFirstOrThrow()
    const login = async (name: string, password: string) => {
      const r = await call('POST', '/api/v1/user/login', { body: { name, password } })
      return {
        status: r.status,
        body: r.body,
        token: JSON.stringify({ name, sig: (r.body as { sig?: string }).sig }),
      }
    }
    const sessions = async (name: string) =>
      (
        await p.store.db
          .selectFrom('session')
          .select('sig')
          .where('uid', '=', await idOf(name))
          .execute()
      ).length
    const works = async (token: string) =>
      (await call('GET', '/api/v1/user/current', { token })).status === 200

    describe('profiles', () => {
      it('GET /user/current answers falcon User JSON without passwd', async () => {
        const r = await call('GET', '/api/v1/user/current', { token: p.root })
        assert.equal(r.status, 200)
        assert.deepEqual(Object.keys(r.body).sort(), USER_KEYS)
        assert.equal(r.body.name, 'root')
        assert.equal(r.body.role, 2)
        const u = await call('GET', '/api/v1/user/current', { token: await p.user('cur-u') })
        assert.equal(u.body.name, 'cur-u')
        assert.equal(u.body.role, 0)
        assert.equal((await call('GET', '/api/v1/user/current')).status, 401)
      })

      it('GET /user/u/:uid and /user/name/:user_name read anyone, 404 when missing', async () => {
        const token = await p.user('read-u')
        const id = await idOf('root')
        const byId = await call('GET', `/api/v1/user/u/${id}`, { token })
        assert.equal(byId.status, 200)
        assert.deepEqual(Object.keys(byId.body).sort(), USER_KEYS)
        assert.equal(byId.body.name, 'root')
        const byName = await call('GET', '/api/v1/user/name/root', { token })
        assert.deepEqual(byName, byId)
        const none = await call('GET', '/api/v1/user/u/999999', { token })
        assert.equal(none.status, 404)
        assert.match(none.body.error, /^uid: no user with id 999999/)
        assert.equal((await call('GET', '/api/v1/user/name/nobody', { token })).status, 404)
        const bad = await call('GET', '/api/v1/user/u/abc', { token })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^uid: /)
      })

      it('PUT /user/update changes the own profile; fields left out stay', async () => {
        const token = await p.user('upd-u')
        const r = await call('PUT', '/api/v1/user/update', {
          token,
          body: { cnname: 'Upd', email: 'u@x', phone: '123', im: 'im-1', qq: '42' },
        })
        assert.deepEqual(r, { status: 200, body: { message: 'user info updated' } })
        await call('PUT', '/api/v1/user/update', {
          token,
          body: { cnname: 'Upd2', email: 'u2@x' },
        })
        const u = await row('upd-u')
        assert.deepEqual(
          [u.cnname, u.email, u.phone, u.im, u.qq],
          ['Upd2', 'u2@x', '123', 'im-1', '42']
        )
      })

      it('PUT /user/update validates every field by name', async () => {
        const token = await p.user('upd-v')
        const f = async (body: unknown, want: RegExp) => {
          const r = await call('PUT', '/api/v1/user/update', { token, body })
          assert.equal(r.status, 400, JSON.stringify(body))
          assert.match(r.body.error, want)
        }
        await f({ cnname: 'x' }, /^body\.email: /)
        await f({ email: 'x' }, /^body\.cnname: /)
        await f({ cnname: '<b>', email: 'x' }, /^body\.cnname: must not contain/)
        await f(
          { cnname: 'x', email: 'x', phone: '1'.repeat(17) },
          /^body\.phone: expected at most 16/
        )
        await f({ cnname: 'x', email: 'x', im: 'i'.repeat(33) }, /^body\.im: /)
        await f({ cnname: 'x', email: 'x', qq: 7 }, /^body\.qq: expected a string/)
        assert.equal((await row('upd-v')).cnname, '')
      })

      it('PUT /user/u/:uid: oneself, an admin on a user, root on an admin; no one else', async () => {
        const user = await p.user('pu-user')
        const other = await p.user('pu-other')
        const admin = await p.user('pu-admin', 1)
        await p.user('pu-admin2', 1)
        const put = (token: string, name: string, cnname: string) =>
          idOf(name).then((id) =>
            call('PUT', `/api/v1/user/u/${id}`, { token, body: { cnname, email: 'e@x' } })
          )
        assert.equal((await put(user, 'pu-user', 'Me')).status, 200)
        assert.equal((await row('pu-user')).cnname, 'Me')
        const refused = await put(other, 'pu-user', 'Hacked')
        assert.equal(refused.status, 403)
        assert.match(refused.body.error, /only the user itself or an admin/)
        assert.equal((await put(admin, 'pu-user', 'ByAdmin')).status, 200)
        assert.equal((await row('pu-user')).cnname, 'ByAdmin')
        const peer = await put(admin, 'pu-admin2', 'X')
        assert.equal(peer.status, 403)
        assert.match(peer.body.error, /only root may change another admin or root/)
        assert.equal((await put(admin, 'root', 'X')).status, 403)
        assert.equal((await put(p.root, 'pu-admin2', 'ByRoot')).status, 200)
        assert.equal((await row('pu-admin2')).cnname, 'ByRoot')
        const missing = await call('PUT', '/api/v1/user/u/999999', {
          token: p.root,
          body: { cnname: 'x', email: 'x' },
        })
        assert.equal(missing.status, 404)
      })
    })

    describe('passwords', () => {
      it('PUT /user/cgpasswd checks the old one, stores a hash, ends the other sessions', async () => {
        const token = await p.user('pw-u')
        const second = await login('pw-u', 'password-pw-u')
        assert.equal(second.status, 200)
        const wrong = await call('PUT', '/api/v1/user/cgpasswd', {
          token,
          body: { old_password: 'nope', new_password: 'brand-new-1' },
        })
        assert.equal(wrong.status, 400)
        assert.match(wrong.body.error, /^old_password: /)
        const short = await call('PUT', '/api/v1/user/cgpasswd', {
          token,
          body: { old_password: 'password-pw-u', new_password: '123' },
        })
        assert.equal(short.status, 400)
        assert.match(short.body.error, /^body\.new_password: expected at least 6/)
        const missing = await call('PUT', '/api/v1/user/cgpasswd', {
          token,
          body: { new_password: 'brand-new-1' },
        })
        assert.match(missing.body.error, /^body\.old_password: /)
        assert.ok(await works(second.token))

        const ok = await call('PUT', '/api/v1/user/cgpasswd', {
          token,
          body: { old_password: 'password-pw-u', new_password: 'brand-new-1' },
        })
        assert.deepEqual(ok, { status: 200, body: { message: 'password updated!' } })
        assert.ok(await works(token), 'the session that changed it stays')
        assert.ok(!(await works(second.token)), 'another session ends')
        assert.equal((await login('pw-u', 'password-pw-u')).status, 400)
        assert.equal((await login('pw-u', 'brand-new-1')).status, 200)
        const stored = (await row('pw-u')).passwd
        assert.match(stored, /^scrypt\$/)
        assert.ok(!stored.includes('brand-new-1'))
      })

      it('PUT /admin/change_user_passwd: admin on a user ends its sessions; root only on admins', async () => {
        const user = await p.user('apw-u')
        const admin = await p.user('apw-admin', 1)
        await p.user('apw-admin2', 1)
        const change = async (token: string, name: string, password: string) =>
          call('PUT', '/api/v1/admin/change_user_passwd', {
            token,
            body: { user_id: await idOf(name), password },
          })
        const ok = await change(admin, 'apw-u', 'set-by-admin')
        assert.deepEqual(ok, { status: 200, body: { message: 'password updated!' } })
        assert.ok(!(await works(user)))
        assert.equal(await sessions('apw-u'), 0)
        assert.equal((await login('apw-u', 'set-by-admin')).status, 200)

        assert.equal((await change(admin, 'apw-admin2', 'xxxxxxxx')).status, 403)
        assert.equal((await change(admin, 'root', 'xxxxxxxx')).status, 403)
        assert.equal((await login('root', ROOT_PASSWORD)).status, 200)
        const other = await p.user('apw-other')
        const plain = await change(other, 'apw-u', 'xxxxxxxx')
        assert.equal(plain.status, 403)
        assert.equal(plain.body.error, 'only an admin may do this')
        assert.equal((await change(p.root, 'apw-admin2', 'set-by-root')).status, 200)
        assert.equal((await login('apw-admin2', 'set-by-root')).status, 200)

        const short = await change(admin, 'apw-u', 'x')
        assert.equal(short.status, 400)
        assert.match(short.body.error, /^body\.password: /)
        const none = await call('PUT', '/api/v1/admin/change_user_passwd', {
          token: admin,
          body: { user_id: 999999, password: 'xxxxxxxx' },
        })
        assert.equal(none.status, 404)
        const noId = await call('PUT', '/api/v1/admin/change_user_passwd', {
          token: admin,
          body: { password: 'xxxxxxxx' },
        })
        assert.equal(noId.status, 400)
        assert.match(noId.body.error, /^body\.user_id: expected a positive integer id/)
      })
    })

    describe('the user list and teams', () => {
      it('GET /user/users filters by q, pages, and never shows passwd', async () => {
        for (const n of ['ls-alpha', 'ls-beta', 'ls-gamma']) await p.user(n)
        const token = await p.user('ls-alpha')
        const all = await call<Named[]>('GET', '/api/v1/user/users', { token })
        assert.equal(all.status, 200)
        assert.ok(all.body.length >= 4)
        for (const u of all.body) assert.deepEqual(Object.keys(u).sort(), USER_KEYS)
        const some = await call<Named[]>('GET', '/api/v1/user/users', {
          token,
          query: { q: 'ls-' },
        })
        assert.deepEqual(
          some.body.map((u) => u.name),
          ['ls-alpha', 'ls-beta', 'ls-gamma']
        )
        const regexAll = await call<Named[]>('GET', '/api/v1/user/users', {
          token,
          query: { q: '.+' },
        })
        assert.equal(regexAll.body.length, all.body.length)
        const page2 = await call<Named[]>('GET', '/api/v1/user/users', {
          token,
          query: { q: 'ls-', page: '2', limit: '2' },
        })
        assert.deepEqual(
          page2.body.map((u) => u.name),
          ['ls-gamma']
        )
        // `%` is no wildcard: q is a regular expression, not a LIKE pattern.
        const literal = await call<Named[]>('GET', '/api/v1/user/users', {
          token,
          query: { q: 'ls%a' },
        })
        assert.deepEqual(literal.body, [])
        const bad = await call('GET', '/api/v1/user/users', { token, query: { page: '0' } })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^page: /)
      })

      it('GET /user/users: q is a case-insensitive regexp, paged after filtering', async () => {
        for (const n of ['qu-web-1', 'qu-db-2', 'QU-WEB-33', 'qu-web-x', 'qu-web-4'])
          await p.user(n)
        const token = await p.user('qu-web-1')
        const names = async (query: Record<string, string>) => {
          const r = await call<Named[]>('GET', '/api/v1/user/users', { token, query })
          assert.equal(r.status, 200, JSON.stringify(r.body))
          return r.body.map((u) => u.name)
        }
        assert.deepEqual(await names({ q: '^qu-web-[0-9]+$' }), [
          'qu-web-1',
          'QU-WEB-33',
          'qu-web-4',
        ])
        assert.deepEqual(await names({ q: 'QU-DB' }), ['qu-db-2'])
        assert.deepEqual(await names({ q: 'qu-web-(x|33)' }), ['QU-WEB-33', 'qu-web-x'])
        assert.deepEqual(await names({ q: '.+' }), await names({}))
        assert.deepEqual(await names({ q: '' }), await names({}))
        assert.deepEqual(await names({ q: '^qu-web-[0-9]+$', page: '2', limit: '2' }), ['qu-web-4'])
        assert.deepEqual(await names({ q: '^qu-', page: '2', limit: '2' }), [
          'QU-WEB-33',
          'qu-web-x',
        ])
        assert.deepEqual(await names({ q: '^qu-', page: '4', limit: '2' }), [])
        for (const q of ['[', '(a+)+$', '.*a.*b.*c']) {
          const bad = await call('GET', '/api/v1/user/users', { token, query: { q } })
          assert.equal(bad.status, 400, q)
          assert.match(bad.body.error, /^q: /)
        }
      })

      it('GET /user/u/:uid/in_teams and /user/u/:uid/teams', async () => {
        const token = await p.user('it-u')
        const uid = await idOf('it-u')
        const made = await call('POST', '/api/v1/team', {
          token: p.root,
          body: { team_name: 'it-team', resume: 'r', users: [uid] },
        })
        assert.equal(made.status, 200)
        await call('POST', '/api/v1/team', { token: p.root, body: { team_name: 'it-other' } })
        const q = (team_names: string) =>
          call('GET', `/api/v1/user/u/${uid}/in_teams`, { token, query: { team_names } })
        assert.deepEqual(await q('it-other,it-team'), { status: 200, body: { message: 'true' } })
        assert.deepEqual(await q('it-other'), { status: 200, body: { message: 'false' } })
        assert.deepEqual(await q('no-such-team'), { status: 200, body: { message: 'false' } })
        const none = await call('GET', `/api/v1/user/u/${uid}/in_teams`, { token })
        assert.equal(none.status, 400)
        assert.match(none.body.error, /^team_names: /)
        const ghost = await call('GET', '/api/v1/user/u/999999/in_teams', {
          token,
          query: { team_names: 'it-team' },
        })
        assert.equal(ghost.status, 404)

        const teams = await call('GET', `/api/v1/user/u/${uid}/teams`, { token })
        assert.equal(teams.status, 200)
        assert.deepEqual(teams.body, {
          teams: [{ id: made.body.id, name: 'it-team', resume: 'r', creator: await idOf('root') }],
        })
        assert.equal((await call('GET', '/api/v1/user/u/999999/teams', { token })).status, 404)
      })
    })

    describe('roles', () => {
      const setRole = async (token: string, name: string, body: Record<string, unknown>) =>
        call('PUT', '/api/v1/admin/change_user_role', {
          token,
          body: { user_id: await idOf(name), ...body },
        })

      it('PUT /admin/change_user_role with falcon admin yes/no', async () => {
        await p.user('role-u')
        const r = await setRole(p.root, 'role-u', { admin: 'yes' })
        assert.deepEqual(r, {
          status: 200,
          body: { message: 'user role update successful, affect row: 1' },
        })
        assert.equal((await row('role-u')).role, 1)
        assert.equal((await login('role-u', 'password-role-u')).body.admin, true)
        assert.equal((await setRole(p.root, 'role-u', { admin: 'no' })).status, 200)
        assert.equal((await row('role-u')).role, 0)
      })

      it('refuses a non-admin, root as a target, and an admin on another admin', async () => {
        const user = await p.user('role-plain')
        const admin = await p.user('role-admin', 1)
        await p.user('role-admin2', 1)
        await p.user('role-target')
        assert.equal((await setRole(user, 'role-target', { admin: 'yes' })).status, 403)
        assert.equal((await row('role-target')).role, 0)
        for (const token of [admin, p.root]) {
          const r = await setRole(token, 'root', { admin: 'no' })
          assert.equal(r.status, 403)
          assert.match(r.body.error, /nobody may change root's role/)
        }
        assert.equal((await row('root')).role, 2)
        const peer = await setRole(admin, 'role-admin2', { admin: 'no' })
        assert.equal(peer.status, 403)
        assert.equal((await row('role-admin2')).role, 1)
        assert.equal((await setRole(admin, 'role-target', { admin: 'yes' })).status, 200)
        assert.equal((await setRole(p.root, 'role-admin2', { admin: 'no' })).status, 200)
        assert.equal((await row('role-admin2')).role, 0)
      })

      it('validates admin/role and the user id', async () => {
        await p.user('role-v')
        const f = async (body: Record<string, unknown>, want: RegExp) => {
          const r = await setRole(p.root, 'role-v', body)
          assert.equal(r.status, 400, JSON.stringify(body))
          assert.match(r.body.error, want)
        }
        await f({}, /give either admin .* or role/)
        await f({ admin: 'yes', role: 1 }, /give either admin .* or role/)
        await f({ admin: 'maybe' }, /^body\.admin: expected "yes" or "no"/)
        await f({ role: 2 }, /^body\.role: expected -1 \(blocked\), 0 \(user\) or 1 \(admin\)/)
        const none = await call('PUT', '/api/v1/admin/change_user_role', {
          token: p.root,
          body: { user_id: 999999, admin: 'yes' },
        })
        assert.equal(none.status, 404)
        assert.match(none.body.error, /^user_id: no user with id 999999/)
      })

      it('role -1 blocks: sessions end, login and an existing session are refused', async () => {
        const token = await p.user('blk-u')
        assert.ok(await works(token))
        const r = await setRole(p.root, 'blk-u', { role: -1 })
        assert.equal(r.status, 200)
        assert.equal((await row('blk-u')).role, -1)
        assert.equal(await sessions('blk-u'), 0)
        assert.ok(!(await works(token)))
        const refused = await login('blk-u', 'password-blk-u')
        assert.equal(refused.status, 401)
        assert.match(refused.body.error, /blocked/)

        // A session that outlived the block (say, a role set in the database) is refused too.
        assert.equal((await setRole(p.root, 'blk-u', { role: 0 })).status, 200)
        const again = await login('blk-u', 'password-blk-u')
        assert.equal(again.status, 200)
        await p.store.db.updateTable('user').set({ role: -1 }).where('name', '=', 'blk-u').execute()
        const stale = await call('GET', '/api/v1/user/current', { token: again.token })
        assert.equal(stale.status, 401)
        assert.match(stale.body.error, /blocked/)
      })
    })

    describe('admin profile, delete and login', () => {
      it('PUT /admin/change_user_profile under the role rule', async () => {
        await p.user('ap-u')
        const admin = await p.user('ap-admin', 1)
        const user = await p.user('ap-plain')
        const change = async (token: string, name: string, body: Record<string, unknown>) =>
          call('PUT', '/api/v1/admin/change_user_profile', {
            token,
            body: { user_id: await idOf(name), ...body },
          })
        const ok = await change(admin, 'ap-u', { cnname: 'AP', email: 'ap@x', phone: '9' })
        assert.deepEqual(ok, { status: 200, body: { message: 'user profile updated' } })
        const u = await row('ap-u')
        assert.deepEqual([u.cnname, u.email, u.phone], ['AP', 'ap@x', '9'])
        assert.equal((await change(admin, 'root', { cnname: 'x', email: 'x' })).status, 403)
        assert.equal((await change(user, 'ap-u', { cnname: 'x', email: 'x' })).status, 403)
        assert.equal((await change(p.root, 'ap-admin', { cnname: 'R', email: 'r' })).status, 200)
        const bad = await change(admin, 'ap-u', { email: 'x' })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.cnname: /)
      })

      it('DELETE /admin/delete_user removes the user, its sessions and memberships', async () => {
        const admin = await p.user('del-admin', 1)
        await p.user('del-u')
        const uid = await idOf('del-u')
        const team = await call('POST', '/api/v1/team', {
          token: admin,
          body: { team_name: 'del-team', users: [uid] },
        })
        assert.equal(team.status, 200)
        const r = await call('DELETE', '/api/v1/admin/delete_user', {
          token: admin,
          body: { user_id: uid },
        })
        assert.deepEqual(r, {
          status: 200,
          body: { message: `user ${uid} has been deleted, affect row: 1` },
        })
        const left = await Promise.all([
          p.store.db.selectFrom('user').select('id').where('id', '=', uid).execute(),
          p.store.db.selectFrom('session').select('id').where('uid', '=', uid).execute(),
          p.store.db.selectFrom('rel_team_user').select('id').where('uid', '=', uid).execute(),
        ])
        assert.deepEqual(left, [[], [], []])
        const again = await call('DELETE', '/api/v1/admin/delete_user', {
          token: admin,
          body: { user_id: uid },
        })
        assert.equal(again.status, 404)
      })

      it('DELETE /admin/delete_user: a new user of the same name does not inherit what the old one created', async () => {
        const bob = await p.user('reused-bob')
        const g = await call('POST', '/api/v1/hostgroup', {
          token: bob,
          body: { name: 'bobs-grp' },
        })
        assert.equal(g.status, 200)
        const uid = await idOf('reused-bob')
        const del = await call('DELETE', '/api/v1/admin/delete_user', {
          token: p.root,
          body: { user_id: uid },
        })
        assert.equal(del.status, 200)
        const grp = await p.store.db
          .selectFrom('grp')
          .select('create_user')
          .where('grp_name', '=', 'bobs-grp')
          .executeTakeFirstOrThrow()
        assert.equal(grp.create_user, 'root')
        const signup = await call('POST', '/api/v1/user/create', {
          token: p.root,
          body: { name: 'reused-bob', password: 'another-bob' },
        })
        assert.equal(signup.status, 200)
        const newBob = JSON.stringify({ name: 'reused-bob', sig: signup.body.sig })
        const r = await call('DELETE', `/api/v1/hostgroup/${String(g.body.id)}`, { token: newBob })
        assert.equal(r.status, 403)
      })

      it('DELETE /admin/delete_user: what an admin deleting itself, or the defaultToken, deletes goes to root', async () => {
        const service = JSON.stringify({ name: 'no-such-user', sig: SERVICE_TOKEN })
        for (const [name, by] of [
          ['self-del-admin', 'itself'],
          ['svc-del-u', 'service'],
        ] as const) {
          const token = await p.user(name, by === 'itself' ? 1 : 0)
          const g = await call('POST', '/api/v1/hostgroup', {
            token,
            body: { name: `${name}-grp` },
          })
          assert.equal(g.status, 200)
          const team = await call('POST', '/api/v1/team', {
            token,
            body: { team_name: `${name}-team`, users: [] },
          })
          assert.equal(team.status, 200)
          const del = await call('DELETE', '/api/v1/admin/delete_user', {
            token: by === 'itself' ? token : service,
            body: { user_id: await idOf(name) },
          })
          assert.equal(del.status, 200, JSON.stringify(del.body))
          const grp = await p.store.db
            .selectFrom('grp')
            .select('create_user')
            .where('grp_name', '=', `${name}-grp`)
            .executeTakeFirstOrThrow()
          assert.equal(grp.create_user, 'root', by)
          const t = await p.store.db
            .selectFrom('team')
            .select('creator')
            .where('name', '=', `${name}-team`)
            .executeTakeFirstOrThrow()
          assert.equal(t.creator, await idOf('root'), by)
          const signup = await call('POST', '/api/v1/user/create', {
            token: p.root,
            body: { name, password: 'another-one' },
          })
          assert.equal(signup.status, 200)
          const again = JSON.stringify({ name, sig: signup.body.sig })
          const r = await call('DELETE', `/api/v1/hostgroup/${String(g.body.id)}`, { token: again })
          assert.equal(r.status, 403, by)
        }
      })

      it('DELETE /admin/delete_user: never root, admins only by root, user_id from the query', async () => {
        const admin = await p.user('del-admin2', 1)
        const user = await p.user('del-plain')
        await p.user('del-peer', 1)
        await p.user('del-q')
        const del = async (token: string, name: string) =>
          call('DELETE', '/api/v1/admin/delete_user', {
            token,
            body: { user_id: await idOf(name) },
          })
        for (const token of [admin, p.root]) {
          const r = await del(token, 'root')
          assert.equal(r.status, 403)
          assert.match(r.body.error, /nobody may delete root/)
        }
        assert.equal((await del(admin, 'del-peer')).status, 403)
        assert.equal((await del(user, 'del-q')).status, 403)
        assert.equal((await del(p.root, 'del-peer')).status, 200)
        const byQuery = await call('DELETE', '/api/v1/admin/delete_user', {
          token: admin,
          query: { user_id: String(await idOf('del-q')) },
        })
        assert.equal(byQuery.status, 200)
        const bad = await call('DELETE', '/api/v1/admin/delete_user', {
          token: admin,
          body: { user_id: 'x' },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.user_id: /)
      })

      it('POST /admin/login logs an admin in as a lower-role user', async () => {
        const admin = await p.user('al-admin', 1)
        await p.user('al-admin2', 1)
        await p.user('al-u')
        const r = await call('POST', '/api/v1/admin/login', {
          token: admin,
          body: { name: 'al-u' },
        })
        assert.equal(r.status, 200)
        assert.deepEqual(Object.keys(r.body).sort(), ['admin', 'name', 'sig'])
        assert.equal(r.body.name, 'al-u')
        assert.equal(r.body.admin, false)
        assert.match(r.body.sig, /^[0-9a-f]{32}$/)
        const as = await call('GET', '/api/v1/user/current', {
          token: JSON.stringify({ name: 'al-u', sig: r.body.sig }),
        })
        assert.equal(as.body.name, 'al-u')

        for (const name of ['al-admin2', 'root']) {
          const same = await call('POST', '/api/v1/admin/login', { token: admin, body: { name } })
          assert.equal(same.status, 403, name)
        }
        const byRoot = await call('POST', '/api/v1/admin/login', {
          token: p.root,
          body: { name: 'al-admin2' },
        })
        assert.equal(byRoot.status, 200)
        assert.equal(byRoot.body.admin, true)
        const plain = await call('POST', '/api/v1/admin/login', {
          token: await p.user('al-plain'),
          body: { name: 'al-u' },
        })
        assert.equal(plain.status, 403)
        const ghost = await call('POST', '/api/v1/admin/login', {
          token: admin,
          body: { name: 'nobody' },
        })
        assert.equal(ghost.status, 404)
        const empty = await call('POST', '/api/v1/admin/login', { token: admin, body: {} })
        assert.equal(empty.status, 400)
        assert.match(empty.body.error, /^body\.name: /)
        await p.store.db.updateTable('user').set({ role: -1 }).where('name', '=', 'al-u').execute()
        const blocked = await call('POST', '/api/v1/admin/login', {
          token: admin,
          body: { name: 'al-u' },
        })
        assert.equal(blocked.status, 403)
        assert.match(blocked.body.error, /blocked/)
      })
    })
  })
}

for (const engine of await testEngines()) {
  describe(`user routes: the old password under a login limit (${engine.engine})`, () => {
    it('PUT /user/cgpasswd counts guesses sent at once against loginAttempts', async () => {
      const p = await openTestPortal(engine, { loginAttempts: 3 })
      try {
        const token = await p.user('guessed')
        const tries = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            p.call('PUT', '/api/v1/user/cgpasswd', {
              token,
              body: { old_password: `guess-${i}`, new_password: 'brand-new-1' },
            })
          )
        )
        const statuses = tries.map((r) => r.status).sort()
        assert.deepEqual(statuses, [400, 400, 400, 429, 429, 429, 429, 429, 429, 429])
      } finally {
        await p.close()
      }
    })
  })
}
