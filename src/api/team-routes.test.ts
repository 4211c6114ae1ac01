import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { openTestPortal, type TestPortal, type TestResponse } from './testing.js'

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

/** TeamItem is one element of GET /team's reply. */
interface TeamItem {
  team: { id: number; name: string; resume: string; creator: number }
  creator_name: string
  users: { name: string }[]
}

for (const engine of await testEngines()) {
  describe(`team routes (${engine.engine})`, () => {
    let p: TestPortal
    before(async () => {
      p = await openTestPortal(engine)
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
    const create = async (token: string, body: Record<string, unknown>) => {
      const r = await call('POST', '/api/v1/team', { token, body })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body.id
    }
    const memberNames = async (tid: number) =>
      (
        await p.store.db
          .selectFrom('rel_team_user')
          .innerJoin('user', 'user.id', 'rel_team_user.uid')
          .select('user.name')
          .where('rel_team_user.tid', '=', tid)
          .orderBy('user.name')
          .execute()
      ).map((r) => r.name)
    const teamRow = (id: number) =>
      p.store.db.selectFrom('team').selectAll().where('id', '=', id).executeTakeFirst()

    describe('POST /team', () => {
      it('creates a team with members; the caller is its creator', async () => {
        const token = await p.user('cr-owner')
        await p.user('cr-m1')
        await p.user('cr-m2')
        const users = [await idOf('cr-m1'), await idOf('cr-m2')]
        const r = await call('POST', '/api/v1/team', {
          token,
          body: { team_name: 'cr-team', resume: 'on call', users: [...users, users[0]] },
        })
        assert.equal(r.status, 200)
        assert.equal(r.body.message, 'team created! Affect row: 1, Affect refer: 2')
        assert.equal(typeof r.body.id, 'number')
        const row = await teamRow(r.body.id)
        assert.equal(row?.name, 'cr-team')
        assert.equal(row?.resume, 'on call')
        assert.equal(row?.creator, await idOf('cr-owner'))
        assert.deepEqual(await memberNames(r.body.id), ['cr-m1', 'cr-m2'])
      })

      it('refuses a duplicate name (409), unknown users and bad fields (400)', async () => {
        const token = await p.user('cr-v')
        await create(token, { team_name: 'cr-dup' })
        const dup = await call('POST', '/api/v1/team', { token, body: { team_name: 'cr-dup' } })
        assert.equal(dup.status, 409)
        assert.match(dup.body.error, /^team_name: team cr-dup already exists/)
        const ghosts = await call('POST', '/api/v1/team', {
          token,
          body: { team_name: 'cr-ghosts', users: [await idOf('cr-v'), 999998, 999999] },
        })
        assert.equal(ghosts.status, 400)
        assert.equal(ghosts.body.error, 'users: no user with id 999998, 999999')
        assert.equal(
          await p.store.db
            .selectFrom('team')
            .select('id')
            .where('name', '=', 'cr-ghosts')
            .executeTakeFirst(),
          undefined
        )
        const f = async (body: unknown, want: RegExp) => {
          const r = await call('POST', '/api/v1/team', { token, body })
          assert.equal(r.status, 400, JSON.stringify(body))
          assert.match(r.body.error, want)
        }
        await f({}, /^body\.team_name: /)
        await f({ team_name: 'a,b' }, /^body\.team_name: expected 1-64 letters/)
        await f({ team_name: 'x'.repeat(65) }, /^body\.team_name: /)
        await f({ team_name: 'ok', resume: 'r'.repeat(256) }, /^body\.resume: expected at most 255/)
        await f({ team_name: 'ok', users: 'alice' }, /^body\.users: expected an array of user ids/)
        await f(
          { team_name: 'ok', users: [1.5] },
          /^body\.users\.0: expected a positive integer id/
        )
      })
    })

    describe('reading', () => {
      it('GET /team/t/:team_id and /team/name/:team_name answer the flattened team', async () => {
        const token = await p.user('rd-owner')
        await call('PUT', '/api/v1/user/update', {
          token: await p.user('rd-m'),
          body: { cnname: 'M', email: 'm@x', phone: '555', im: 'm-im', qq: '1' },
        })
        const mid = await idOf('rd-m')
        const id = await create(token, { team_name: 'rd-team', resume: 'r', users: [mid] })
        const want = {
          id,
          name: 'rd-team',
          resume: 'r',
          creator: await idOf('rd-owner'),
          creator_name: 'rd-owner',
          users: [
            {
              id: mid,
              name: 'rd-m',
              cnname: 'M',
              email: 'm@x',
              phone: '555',
              im: 'm-im',
              qq: '1',
              role: 0,
            },
          ],
        }
        const reader = await p.user('rd-other')
        const byId = await call('GET', `/api/v1/team/t/${id}`, { token: reader })
        assert.deepEqual(byId, { status: 200, body: want })
        const byName = await call('GET', '/api/v1/team/name/rd-team', { token: reader })
        assert.deepEqual(byName, { status: 200, body: want })
        const missing = await call('GET', '/api/v1/team/t/999999', { token })
        assert.equal(missing.status, 404)
        assert.match(missing.body.error, /^team_id: no team with id 999999/)
        assert.equal((await call('GET', '/api/v1/team/name/none', { token })).status, 404)
        const bad = await call('GET', '/api/v1/team/t/x', { token })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^team_id: /)
      })

      it('GET /team: admins see every team, others what they created or belong to', async () => {
        const alice = await p.user('ls-alice')
        const bob = await p.user('ls-bob')
        const aid = await idOf('ls-alice')
        const bid = await idOf('ls-bob')
        const a = await create(alice, { team_name: 'ls-a', users: [bid] })
        const b = await create(bob, { team_name: 'ls-b' })
        const c = await create(p.root, { team_name: 'ls-c', users: [aid] })
        const d = await create(p.root, { team_name: 'ls-d' })
        const names = (r: TestResponse<TeamItem[]>) => r.body.map((t) => t.team.name)

        const forAlice = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: alice,
          query: { q: 'ls-' },
        })
        assert.equal(forAlice.status, 200)
        assert.deepEqual(names(forAlice), ['ls-a', 'ls-c'])
        const first = forAlice.body[0]
        assert.deepEqual(Object.keys(first).sort(), ['creator_name', 'team', 'users'])
        assert.deepEqual(first.team, { id: a, name: 'ls-a', resume: '', creator: aid })
        assert.equal(first.creator_name, 'ls-alice')
        assert.deepEqual(
          first.users.map((u) => u.name),
          ['ls-bob']
        )
        for (const u of first.users) assert.deepEqual(Object.keys(u).sort(), USER_KEYS)
        const forBob = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: bob,
          query: { q: 'ls-' },
        })
        assert.deepEqual(names(forBob), ['ls-a', 'ls-b'])

        const forRoot = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: p.root,
          query: { q: 'ls-' },
        })
        assert.deepEqual(names(forRoot), ['ls-a', 'ls-b', 'ls-c', 'ls-d'])
        assert.deepEqual(
          forRoot.body.map((t) => t.team.id),
          [a, b, c, d]
        )
        const page2 = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: p.root,
          query: { q: 'ls-', page: '2', limit: '3' },
        })
        assert.deepEqual(names(page2), ['ls-d'])
        const one = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: p.root,
          query: { q: 'ls-c' },
        })
        assert.deepEqual(names(one), ['ls-c'])
        assert.equal(one.body[0].creator_name, 'root')
        const bad = await call('GET', '/api/v1/team', { token: p.root, query: { limit: '-1' } })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^limit: /)
      })
      it('GET /team: q is a case-insensitive regexp, paged after filtering and visibility', async () => {
        const carol = await p.user('tq-carol')
        const cid = await idOf('tq-carol')
        await create(p.root, { team_name: 'tq-web-1' })
        await create(carol, { team_name: 'tq-db-2' })
        await create(p.root, { team_name: 'TQ-WEB-33', users: [cid] })
        await create(carol, { team_name: 'tq-web-x' })
        await create(carol, { team_name: 'tq-web-4' })
        const names = async (token: string, query: Record<string, string>) => {
          const r = await call<TeamItem[]>('GET', '/api/v1/team', { token, query })
          assert.equal(r.status, 200, JSON.stringify(r.body))
          return r.body.map((t) => t.team.name)
        }
        const web = '^tq-web-[0-9]+$'
        assert.deepEqual(await names(p.root, { q: web }), ['tq-web-1', 'TQ-WEB-33', 'tq-web-4'])
        // carol sees the teams she created or belongs to: not tq-web-1.
        assert.deepEqual(await names(carol, { q: web }), ['TQ-WEB-33', 'tq-web-4'])
        assert.deepEqual(await names(carol, { q: 'TQ-DB' }), ['tq-db-2'])
        assert.deepEqual(await names(p.root, { q: '.+' }), await names(p.root, {}))
        assert.deepEqual(await names(carol, { q: '.+' }), [
          'tq-db-2',
          'TQ-WEB-33',
          'tq-web-x',
          'tq-web-4',
        ])
        assert.deepEqual(await names(p.root, { q: web, page: '2', limit: '2' }), ['tq-web-4'])
        assert.deepEqual(await names(carol, { q: '^tq-', page: '2', limit: '3' }), ['tq-web-4'])
        const paged = await call<TeamItem[]>('GET', '/api/v1/team', {
          token: carol,
          query: { q: 'web-3', page: '1', limit: '1' },
        })
        assert.deepEqual(paged.body[0].creator_name, 'root')
        assert.deepEqual(
          paged.body[0].users.map((u) => u.name),
          ['tq-carol']
        )
        for (const q of ['[', '(a|aa)*', 'a*a*a*b']) {
          const bad = await call('GET', '/api/v1/team', { token: carol, query: { q } })
          assert.equal(bad.status, 400, q)
          assert.match(bad.body.error, /^q: /)
        }
      })
    })

    describe('PUT /team', () => {
      it('the creator renames, edits the resume and replaces the members', async () => {
        const owner = await p.user('up-owner')
        for (const n of ['up-1', 'up-2', 'up-3']) await p.user(n)
        const [u1, u2, u3] = [await idOf('up-1'), await idOf('up-2'), await idOf('up-3')]
        const id = await create(owner, { team_name: 'up-team', resume: 'old', users: [u1, u2] })
        const r = await call('PUT', '/api/v1/team', {
          token: owner,
          body: { team_id: id, name: 'up-team2', resume: 'new', users: [u2, u3] },
        })
        assert.deepEqual(r, { status: 200, body: { message: 'team updated!' } })
        const row = await teamRow(id)
        assert.deepEqual([row?.name, row?.resume], ['up-team2', 'new'])
        assert.deepEqual(await memberNames(id), ['up-2', 'up-3'])

        // Left out (or falcon's empty name): unchanged. users: [] empties the team.
        await call('PUT', '/api/v1/team', { token: owner, body: { team_id: id, name: '' } })
        assert.equal((await teamRow(id))?.name, 'up-team2')
        assert.deepEqual(await memberNames(id), ['up-2', 'up-3'])
        await call('PUT', '/api/v1/team', { token: owner, body: { team_id: id, users: [] } })
        assert.deepEqual(await memberNames(id), [])
        assert.equal((await teamRow(id))?.resume, 'new')
      })

      it('a rename carries over to the actions that name the team', async () => {
        const owner = await p.user('ac-owner')
        const id = await create(owner, { team_name: 'ac-ops' })
        await p.store.db
          .insertInto('action')
          .values([{ uic: 'ac-ops,ac-dev' }, { uic: 'ac-opsx' }, { uic: 'ac-dev,ac-ops' }])
          .execute()
        const r = await call('PUT', '/api/v1/team', {
          token: owner,
          body: { team_id: id, name: 'ac-sre' },
        })
        assert.equal(r.status, 200)
        const uics = (await p.store.db.selectFrom('action').select('uic').orderBy('id').execute())
          .map((a) => a.uic)
          .filter((u) => u.startsWith('ac-'))
        assert.deepEqual(uics, ['ac-sre,ac-dev', 'ac-opsx', 'ac-dev,ac-sre'])
      })

      it('refuses a member or stranger (403), lets an admin; 404, 409 and 400', async () => {
        const owner = await p.user('pr-owner')
        const member = await p.user('pr-member')
        const admin = await p.user('pr-admin', 1)
        const id = await create(owner, { team_name: 'pr-team', users: [await idOf('pr-member')] })
        await create(owner, { team_name: 'pr-taken' })
        const put = (token: string, body: Record<string, unknown>) =>
          call('PUT', '/api/v1/team', { token, body: { team_id: id, ...body } })
        for (const token of [member, await p.user('pr-stranger')]) {
          const r = await put(token, { resume: 'hijacked' })
          assert.equal(r.status, 403)
          assert.match(r.body.error, /^team pr-team: only its creator or an admin may change it/)
        }
        assert.equal((await teamRow(id))?.resume, '')
        assert.equal((await put(admin, { resume: 'by admin' })).status, 200)
        assert.equal((await teamRow(id))?.resume, 'by admin')

        const taken = await put(owner, { name: 'pr-taken' })
        assert.equal(taken.status, 409)
        assert.match(taken.body.error, /^name: team pr-taken already exists/)
        const ghosts = await put(owner, { users: [999999] })
        assert.equal(ghosts.status, 400)
        assert.equal(ghosts.body.error, 'users: no user with id 999999')
        assert.deepEqual(await memberNames(id), ['pr-member'])
        const missing = await call('PUT', '/api/v1/team', {
          token: owner,
          body: { team_id: 999999 },
        })
        assert.equal(missing.status, 404)
        const noId = await call('PUT', '/api/v1/team', { token: owner, body: { resume: 'x' } })
        assert.equal(noId.status, 400)
        assert.match(noId.body.error, /^body\.team_id: expected a positive integer id/)
        const badName = await put(owner, { name: 'has space' })
        assert.equal(badName.status, 400)
        assert.match(badName.body.error, /^body\.name: /)
      })
    })

    describe('POST /team/user', () => {
      it('adds members by name to the ones already there', async () => {
        const owner = await p.user('ad-owner')
        for (const n of ['ad-1', 'ad-2', 'ad-3']) await p.user(n)
        const id = await create(owner, { team_name: 'ad-team', users: [await idOf('ad-1')] })
        const r = await call('POST', '/api/v1/team/user', {
          token: owner,
          body: { team_id: id, users: ['ad-1', 'ad-2', 'ad-3', 'ad-2'] },
        })
        assert.deepEqual(r, { status: 200, body: { message: 'add successful' } })
        assert.deepEqual(await memberNames(id), ['ad-1', 'ad-2', 'ad-3'])
        const rows = await p.store.db
          .selectFrom('rel_team_user')
          .select('uid')
          .where('tid', '=', id)
          .execute()
        assert.equal(rows.length, 3)
      })

      it('refuses unknown names, an empty list and a non-creator', async () => {
        const owner = await p.user('ad2-owner')
        await p.user('ad2-u')
        const id = await create(owner, { team_name: 'ad2-team' })
        const ghosts = await call('POST', '/api/v1/team/user', {
          token: owner,
          body: { team_id: id, users: ['ad2-u', 'ghost-1', 'ghost-2'] },
        })
        assert.equal(ghosts.status, 400)
        assert.equal(ghosts.body.error, 'users: no user named ghost-1, ghost-2')
        assert.deepEqual(await memberNames(id), [])
        const empty = await call('POST', '/api/v1/team/user', {
          token: owner,
          body: { team_id: id, users: [] },
        })
        assert.equal(empty.status, 400)
        assert.match(empty.body.error, /^body\.users: expected at least one user name/)
        const other = await call('POST', '/api/v1/team/user', {
          token: await p.user('ad2-u'),
          body: { team_id: id, users: ['ad2-u'] },
        })
        assert.equal(other.status, 403)
        assert.deepEqual(await memberNames(id), [])
        const missing = await call('POST', '/api/v1/team/user', {
          token: owner,
          body: { team_id: 999999, users: ['ad2-u'] },
        })
        assert.equal(missing.status, 404)
      })
    })

    describe('DELETE /team/:team_id', () => {
      it('the creator deletes the team, its memberships and its name in actions', async () => {
        const owner = await p.user('dl-owner')
        await p.user('dl-m')
        const id = await create(owner, { team_name: 'dl-team', users: [await idOf('dl-m')] })
        await p.store.db.insertInto('action').values({ uic: 'dl-other,dl-team' }).execute()
        const stranger = await call('DELETE', `/api/v1/team/${id}`, {
          token: await p.user('dl-m'),
        })
        assert.equal(stranger.status, 403)
        assert.ok(await teamRow(id))
        const r = await call('DELETE', `/api/v1/team/${id}`, { token: owner })
        assert.deepEqual(r, {
          status: 200,
          body: { message: `team ${id} is deleted. Affect row: 1 / refer delete: 1` },
        })
        assert.equal(await teamRow(id), undefined)
        assert.deepEqual(await memberNames(id), [])
        const uics = await p.store.db
          .selectFrom('action')
          .select('uic')
          .where('uic', 'like', 'dl-%')
          .execute()
        assert.deepEqual(uics, [{ uic: 'dl-other' }])
        const again = await call('DELETE', `/api/v1/team/${id}`, { token: owner })
        assert.equal(again.status, 404)
        const bad = await call('DELETE', '/api/v1/team/0', { token: owner })
        assert.equal(bad.status, 400)
      })

      it("an admin deletes anyone's team", async () => {
        const id = await create(await p.user('dl2-owner'), { team_name: 'dl2-team' })
        const r = await call('DELETE', `/api/v1/team/${id}`, {
          token: await p.user('dl2-admin', 1),
        })
        assert.equal(r.status, 200)
        assert.equal(await teamRow(id), undefined)
      })
    })
  })
}
