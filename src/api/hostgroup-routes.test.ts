import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { testEngines } from '../store/index.js'
import { pluginDirProblem } from './hostgroup-routes.js'
import { openTestPortal, type TestPortal } from './testing.js'

describe('plugin dirs', () => {
  const f = (dir: string, ok: boolean) =>
    assert.equal(pluginDirProblem(dir) === null, ok, JSON.stringify(dir))
  it('accepts dirs and scripts with arguments, refuses traversal and junk', () => {
    f('sys/ntp', true)
    f('/sys/ntp/', true)
    f('sys/ntp/60_ntp.py', true)
    f('sys/ntp/60_ntp.py(a,b c)', true)
    f('a..b/x', true)
    f('', false)
    f('../etc', false)
    f('sys/../../etc', false)
    f('sys/ntp/..', false)
    f('sys ntp', false)
    f('sys\\ntp', false)
    f('sys/ntp\n', false)
    f('(a)', false)
    f('sys(a)(b)', false)
  })
})

for (const engine of await testEngines()) {
  describe(`hostgroup routes (${engine.engine})`, () => {
    let p: TestPortal
    let alice: string // a user who creates groups
    let bob: string // a user who created none of them
    let adm: string // an admin
    before(async () => {
      p = await openTestPortal(engine)
      alice = await p.user('alice')
      bob = await p.user('bob')
      adm = await p.user('adm', 1)
    })
    after(() => p.close())

    let seq = 0
    const newGroup = async (token = alice, name = `grp-${++seq}`) => {
      const r = await p.call('POST', '/api/v1/hostgroup', { token, body: { name } })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body as { id: number; grp_name: string; create_user: string }
    }
    const newTemplate = async (name: string) => {
      const r = await p.store.db
        .insertInto('tpl')
        .values({ tpl_name: name, create_user: 'root' })
        .executeTakeFirst()
      return Number(r.insertId)
    }
    const hostId = async (hostname: string) =>
      (
        await p.store.db
          .selectFrom('host')
          .select('id')
          .where('hostname', '=', hostname)
          .executeTakeFirstOrThrow()
      ).id
    const members = async (grpId: number) =>
      (
        await p.store.db
          .selectFrom('grp_host')
          .innerJoin('host', 'host.id', 'grp_host.host_id')
          .select('host.hostname')
          .where('grp_host.grp_id', '=', grpId)
          .orderBy('host.hostname')
          .execute()
      ).map((r) => r.hostname)
    const bind = async (grpId: number, hosts: string[], token = alice) => {
      const r = await p.call('POST', '/api/v1/hostgroup/host', {
        token,
        body: { hostgroup_id: grpId, hosts },
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
    }

    describe('host groups', () => {
      it('creates a group owned by the caller, from the API (come_from 1)', async () => {
        const r = await p.call('POST', '/api/v1/hostgroup', { token: alice, body: { name: 'web' } })
        assert.equal(r.status, 200)
        assert.deepEqual(Object.keys(r.body).sort(), ['create_user', 'grp_name', 'id'])
        assert.equal(r.body.grp_name, 'web')
        assert.equal(r.body.create_user, 'alice')
        const row = await p.store.db
          .selectFrom('grp')
          .selectAll()
          .where('id', '=', r.body.id)
          .executeTakeFirstOrThrow()
        assert.equal(row.come_from, 1)
        assert.equal(row.create_user, 'alice')
      })

      it('refuses a duplicate (409), a bad or missing name (400) and no Apitoken (401)', async () => {
        const dup = await p.call('POST', '/api/v1/hostgroup', { token: bob, body: { name: 'web' } })
        assert.equal(dup.status, 409)
        assert.match(dup.body.error, /^name: host group web already exists/)
        for (const name of ['', 'a<b', 'x"y', ' padded', 'a'.repeat(256), 7]) {
          const r = await p.call('POST', '/api/v1/hostgroup', { token: bob, body: { name } })
          assert.equal(r.status, 400, JSON.stringify(name))
          assert.match(r.body.error, /^body\.name: /)
        }
        const none = await p.call('POST', '/api/v1/hostgroup', { token: bob, body: {} })
        assert.match(none.body.error, /^body\.name: expected a host group name/)
        const anon = await p.call('POST', '/api/v1/hostgroup', { body: { name: 'anon' } })
        assert.equal(anon.status, 401)
      })

      it('lists groups with falcon q (a case-insensitive regexp), page and limit', async () => {
        await newGroup(alice, 'Search-A1')
        await newGroup(bob, 'search-b2')
        await newGroup(bob, 'other-c3')
        const all = await p.call('GET', '/api/v1/hostgroup', { token: bob })
        assert.equal(all.status, 200)
        assert.ok(all.body.length >= 4)
        assert.deepEqual(Object.keys(all.body[0]).sort(), ['create_user', 'grp_name', 'id'])
        const found = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { q: 'search' },
        })
        assert.deepEqual(
          found.body.map((g: { grp_name: string }) => g.grp_name),
          ['Search-A1', 'search-b2']
        )
        const anchored = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { q: '^search-[a-z][0-9]$' },
        })
        assert.equal(anchored.body.length, 2)
        const second = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { q: 'search', page: '2', limit: '1' },
        })
        assert.deepEqual(
          second.body.map((g: { grp_name: string }) => g.grp_name),
          ['search-b2']
        )
        const paged = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { page: '1', limit: '2' },
        })
        assert.equal(paged.body.length, 2)
        const matchAll = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { q: '.+' },
        })
        assert.deepEqual(matchAll.body, all.body)
        const upper = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { q: '^SEARCH-B[0-9]$' },
        })
        assert.deepEqual(
          upper.body.map((g: { grp_name: string }) => g.grp_name),
          ['search-b2']
        )
        for (const q of ['(a+)+', '[', 'a*a*a*b']) {
          const badQ = await p.call('GET', '/api/v1/hostgroup', { token: bob, query: { q } })
          assert.equal(badQ.status, 400, q)
          assert.match(badQ.body.error, /^q: /)
        }
        const badPage = await p.call('GET', '/api/v1/hostgroup', {
          token: bob,
          query: { page: '0' },
        })
        assert.equal(badPage.status, 400)
        assert.match(badPage.body.error, /^page: /)
      })

      it('renames a group for its creator or an admin, not for others', async () => {
        const g = await newGroup()
        const byBob = await p.call('PUT', '/api/v1/hostgroup', {
          token: bob,
          body: { id: g.id, grp_name: 'stolen' },
        })
        assert.equal(byBob.status, 403)
        assert.match(byBob.body.error, /only its creator or an admin may change it/)
        const byAlice = await p.call('PUT', '/api/v1/hostgroup', {
          token: alice,
          body: { id: g.id, grp_name: `${g.grp_name}-renamed` },
        })
        assert.deepEqual(byAlice, { status: 200, body: { message: 'hostgroup profile updated' } })
        const byAdmin = await p.call('PUT', '/api/v1/hostgroup', {
          token: adm,
          body: { id: g.id, grp_name: `${g.grp_name}-admin` },
        })
        assert.equal(byAdmin.status, 200)
        const got = await p.call('GET', `/api/v1/hostgroup/${g.id}`, { token: bob })
        assert.equal(got.body.hostgroup.grp_name, `${g.grp_name}-admin`)
        assert.equal(got.body.hostgroup.create_user, 'alice')
      })

      it('answers 404, 409 and 400 on rename', async () => {
        const g = await newGroup()
        const missing = await p.call('PUT', '/api/v1/hostgroup', {
          token: adm,
          body: { id: 999_999, grp_name: 'x' },
        })
        assert.equal(missing.status, 404)
        assert.match(missing.body.error, /^id: no host group 999999/)
        const dup = await p.call('PUT', '/api/v1/hostgroup', {
          token: alice,
          body: { id: g.id, grp_name: 'web' },
        })
        assert.equal(dup.status, 409)
        assert.match(dup.body.error, /^grp_name: /)
        const bad = await p.call('PUT', '/api/v1/hostgroup', {
          token: alice,
          body: { id: g.id, grp_name: 'a&b' },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.grp_name: /)
        const noId = await p.call('PUT', '/api/v1/hostgroup', {
          token: alice,
          body: { grp_name: 'x' },
        })
        assert.match(noId.body.error, /^body\.id: expected a positive integer id/)
      })

      it('shows a group with its hosts (falcon Host shape), q filtering host names', async () => {
        const g = await newGroup()
        await bind(g.id, ['show-b', 'show-a', 'other-1'])
        const r = await p.call('GET', `/api/v1/hostgroup/${g.id}`, { token: bob })
        assert.equal(r.status, 200)
        assert.deepEqual(r.body.hostgroup, g)
        assert.deepEqual(
          r.body.hosts.map((h: { hostname: string }) => h.hostname),
          ['other-1', 'show-a', 'show-b']
        )
        assert.deepEqual(Object.keys(r.body.hosts[0]).sort(), [
          'agent_version',
          'hostname',
          'id',
          'ip',
          'maintain_begin',
          'maintain_end',
          'plugin_version',
        ])
        const q = await p.call('GET', `/api/v1/hostgroup/${g.id}`, {
          token: bob,
          query: { q: '^show-' },
        })
        assert.equal(q.body.hosts.length, 2)
        // falcon matches host names with Go's regexp here, not MySQL's: case counts.
        const upper = await p.call('GET', `/api/v1/hostgroup/${g.id}`, {
          token: bob,
          query: { q: '^SHOW-' },
        })
        assert.deepEqual(upper.body.hosts, [])
        const badQ = await p.call('GET', `/api/v1/hostgroup/${g.id}`, {
          token: bob,
          query: { q: '[' },
        })
        assert.equal(badQ.status, 400)
        assert.match(badQ.body.error, /^q: /)
        const missing = await p.call('GET', '/api/v1/hostgroup/999999', { token: bob })
        assert.equal(missing.status, 404)
        const bad = await p.call('GET', '/api/v1/hostgroup/abc', { token: bob })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^host_group: /)
      })

      it('deletes a group with its members, templates, plugins and aggregators in one go', async () => {
        const g = await newGroup()
        await bind(g.id, ['del-1', 'del-2'])
        const tpl = await newTemplate(`tpl-del-${g.id}`)
        await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { grp_id: g.id, tpl_id: tpl },
        })
        await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g.id, dir_path: 'sys/ntp' },
        })
        await p.call('POST', '/api/v1/aggregator', {
          token: alice,
          body: {
            hostgroup_id: g.id,
            numerator: '$(cpu.idle)',
            denominator: '$#',
            endpoint: 'cluster',
            metric: 'cpu.idle.avg',
            tags: '',
            step: 60,
          },
        })
        const byBob = await p.call('DELETE', `/api/v1/hostgroup/${g.id}`, { token: bob })
        assert.equal(byBob.status, 403)
        const r = await p.call('DELETE', `/api/v1/hostgroup/${g.id}`, { token: alice })
        assert.deepEqual(r, {
          status: 200,
          body: { message: `hostgroup:${g.id} has been deleted` },
        })
        for (const table of ['grp_host', 'grp_tpl', 'plugin_dir', 'cluster'] as const) {
          const left = await p.store.db
            .selectFrom(table)
            .select('grp_id')
            .where('grp_id', '=', g.id)
            .execute()
          assert.equal(left.length, 0, table)
        }
        const grp = await p.store.db.selectFrom('grp').select('id').where('id', '=', g.id).execute()
        assert.equal(grp.length, 0)
        // Hosts and templates outlive the group.
        assert.ok((await hostId('del-1')) > 0)
        const again = await p.call('DELETE', `/api/v1/hostgroup/${g.id}`, { token: alice })
        assert.equal(again.status, 404)
      })

      it('lets an admin delete any group', async () => {
        const g = await newGroup(bob)
        const r = await p.call('DELETE', `/api/v1/hostgroup/${g.id}`, { token: adm })
        assert.equal(r.status, 200)
      })
    })

    describe('members', () => {
      it('replaces the members, creating missing hosts, and answers falcon message', async () => {
        const g = await newGroup()
        const first = await p.call('POST', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: g.id, hosts: ['rep-1', 'rep-2', 'rep-1'] },
        })
        assert.equal(first.status, 200)
        const [id1, id2] = [await hostId('rep-1'), await hostId('rep-2')]
        assert.equal(first.body.message, `[${id1} ${id2}] bind to hostgroup: ${g.id}`)
        assert.deepEqual(await members(g.id), ['rep-1', 'rep-2'])
        await bind(g.id, ['rep-2', 'rep-3'])
        assert.deepEqual(await members(g.id), ['rep-2', 'rep-3'])
        assert.equal(await hostId('rep-2'), id2)
        await bind(g.id, [])
        assert.deepEqual(await members(g.id), [])
      })

      it('refuses a non-creator (403), a missing group (404) and bad host names (400)', async () => {
        const g = await newGroup()
        const byBob = await p.call('POST', '/api/v1/hostgroup/host', {
          token: bob,
          body: { hostgroup_id: g.id, hosts: ['x'] },
        })
        assert.equal(byBob.status, 403)
        await bind(g.id, ['by-admin'], adm)
        const missing = await p.call('POST', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: 999_999, hosts: ['x'] },
        })
        assert.equal(missing.status, 404)
        assert.match(missing.body.error, /^hostgroup_id: /)
        for (const host of ['', 'a b', 'tab\there', 'a\u0000b', 'x'.repeat(256)]) {
          const r = await p.call('POST', '/api/v1/hostgroup/host', {
            token: alice,
            body: { hostgroup_id: g.id, hosts: ['ok', host] },
          })
          assert.equal(r.status, 400, JSON.stringify(host))
          assert.match(r.body.error, /^body\.hosts\.1: /)
        }
        const noHosts = await p.call('POST', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: g.id },
        })
        assert.match(noHosts.body.error, /^body\.hosts: /)
        assert.deepEqual(await members(g.id), ['by-admin'])
      })

      it('unbinds one host (PUT), for the creator only', async () => {
        const g = await newGroup()
        await bind(g.id, ['unb-1', 'unb-2'])
        const id1 = await hostId('unb-1')
        const byBob = await p.call('PUT', '/api/v1/hostgroup/host', {
          token: bob,
          body: { hostgroup_id: g.id, host_id: id1 },
        })
        assert.equal(byBob.status, 403)
        const r = await p.call('PUT', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: g.id, host_id: id1 },
        })
        assert.deepEqual(r, {
          status: 200,
          body: { message: `unbind host:${id1} of hostgroup: ${g.id}` },
        })
        assert.deepEqual(await members(g.id), ['unb-2'])
        const noHost = await p.call('PUT', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: g.id, host_id: 999_999 },
        })
        assert.equal(noHost.status, 404)
        assert.match(noHost.body.error, /^host_id: /)
        const bad = await p.call('PUT', '/api/v1/hostgroup/host', {
          token: alice,
          body: { hostgroup_id: g.id, host_id: 'x' },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.host_id: /)
      })

      it('adds and removes hosts with PATCH, reporting as falcon does', async () => {
        const g = await newGroup()
        await bind(g.id, ['pat-1'])
        const add = await p.call('PATCH', `/api/v1/hostgroup/${g.id}/host`, {
          token: alice,
          body: { action: 'add', hosts: ['pat-1', 'pat-2', 'pat-3'] },
        })
        assert.deepEqual(add, {
          status: 200,
          body: {
            message: `[pat-2 pat-3] bind to hostgroup: ${g.grp_name}, [pat-1] have been exist`,
          },
        })
        assert.deepEqual(await members(g.id), ['pat-1', 'pat-2', 'pat-3'])
        const remove = await p.call('PATCH', `/api/v1/hostgroup/${g.id}/host`, {
          token: alice,
          body: { action: 'remove', hosts: ['pat-1', 'pat-3', 'never-seen'] },
        })
        assert.deepEqual(remove, {
          status: 200,
          body: { message: `[pat-1 pat-3] unbind to hostgroup: ${g.grp_name}` },
        })
        assert.deepEqual(await members(g.id), ['pat-2'])
        const none = await p.call('PATCH', `/api/v1/hostgroup/${g.id}/host`, {
          token: alice,
          body: { action: 'add', hosts: [] },
        })
        assert.equal(none.body.message, `[] bind to hostgroup: ${g.grp_name}, [] have been exist`)
      })

      it('refuses a bad PATCH action (400), a non-creator (403) and a missing group (404)', async () => {
        const g = await newGroup()
        const bad = await p.call('PATCH', `/api/v1/hostgroup/${g.id}/host`, {
          token: alice,
          body: { action: 'replace', hosts: ['x'] },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.action: expected add or remove/)
        const byBob = await p.call('PATCH', `/api/v1/hostgroup/${g.id}/host`, {
          token: bob,
          body: { action: 'add', hosts: ['x'] },
        })
        assert.equal(byBob.status, 403)
        const missing = await p.call('PATCH', '/api/v1/hostgroup/999999/host', {
          token: alice,
          body: { action: 'add', hosts: ['x'] },
        })
        assert.equal(missing.status, 404)
        assert.deepEqual(await members(g.id), [])
      })
    })

    describe('templates', () => {
      it('binds a template once (idempotent), answering the binding', async () => {
        const g = await newGroup()
        const tpl = await newTemplate(`tpl-bind-${g.id}`)
        const r = await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        assert.deepEqual(r, {
          status: 200,
          body: { grp_id: g.id, tpl_id: tpl, bind_user: 'alice' },
        })
        const again = await p.call('POST', '/api/v1/hostgroup/template', {
          token: adm,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        assert.deepEqual(again.body, { grp_id: g.id, tpl_id: tpl, bind_user: 'alice' })
        const rows = await p.store.db
          .selectFrom('grp_tpl')
          .selectAll()
          .where('grp_id', '=', g.id)
          .execute()
        assert.equal(rows.length, 1)
      })

      it('refuses a non-creator (403), a missing template or group (404), bad ids (400)', async () => {
        const g = await newGroup()
        const tpl = await newTemplate(`tpl-refuse-${g.id}`)
        const byBob = await p.call('POST', '/api/v1/hostgroup/template', {
          token: bob,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        assert.equal(byBob.status, 403)
        const noTpl = await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: 999_999, grp_id: g.id },
        })
        assert.equal(noTpl.status, 404)
        assert.match(noTpl.body.error, /^tpl_id: /)
        const noGrp = await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: tpl, grp_id: 999_999 },
        })
        assert.equal(noGrp.status, 404)
        assert.match(noGrp.body.error, /^grp_id: /)
        const bad = await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: 0, grp_id: g.id },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.tpl_id: /)
      })

      it('unbinds for the creator, not for others; lists a group templates', async () => {
        const g = await newGroup()
        const t1 = await newTemplate(`tpl-list-a-${g.id}`)
        const t2 = await newTemplate(`tpl-list-b-${g.id}`)
        for (const tpl of [t1, t2]) {
          await p.call('POST', '/api/v1/hostgroup/template', {
            token: alice,
            body: { tpl_id: tpl, grp_id: g.id },
          })
        }
        const list = await p.call('GET', `/api/v1/hostgroup/${g.id}/template`, { token: bob })
        assert.equal(list.status, 200)
        assert.deepEqual(list.body.hostgroup, g)
        assert.deepEqual(
          list.body.templates.map((t: { id: number }) => t.id),
          [t1, t2]
        )
        assert.deepEqual(Object.keys(list.body.templates[0]).sort(), [
          'action_id',
          'create_user',
          'id',
          'parent_id',
          'tpl_name',
        ])
        const byBob = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: bob,
          body: { tpl_id: t1, grp_id: g.id },
        })
        assert.equal(byBob.status, 403)
        const r = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: t1, grp_id: g.id },
        })
        assert.deepEqual(r, {
          status: 200,
          body: { message: `template: ${t1} is unbind of HostGroup: ${g.id}` },
        })
        const after = await p.call('GET', `/api/v1/hostgroup/${g.id}/template`, { token: bob })
        assert.deepEqual(
          after.body.templates.map((t: { id: number }) => t.id),
          [t2]
        )
        const noTpl = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: 999_999, grp_id: g.id },
        })
        assert.equal(noTpl.status, 404)
        assert.match(noTpl.body.error, /^tpl_id: /)
        const bad = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: t2 },
        })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^body\.grp_id: /)
        const missing = await p.call('GET', '/api/v1/hostgroup/999999/template', { token: bob })
        assert.equal(missing.status, 404)
      })

      it('lets the user who bound a template unbind it', async () => {
        const g = await newGroup(bob)
        const tpl = await newTemplate(`tpl-binder-${g.id}`)
        // An admin binds in bob's group; the admin, not only bob, may undo it.
        await p.call('POST', '/api/v1/hostgroup/template', {
          token: adm,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        const byAlice = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        assert.equal(byAlice.status, 403)
        const byAdm = await p.call('PUT', '/api/v1/hostgroup/template', {
          token: adm,
          body: { tpl_id: tpl, grp_id: g.id },
        })
        assert.equal(byAdm.status, 200)
      })
    })

    describe('hosts', () => {
      it('lists the groups and the templates of a host', async () => {
        const g1 = await newGroup()
        const g2 = await newGroup(bob)
        await bind(g1.id, ['rel-1'])
        await bind(g2.id, ['rel-1'], bob)
        const t1 = await newTemplate(`tpl-rel-a-${g1.id}`)
        const t2 = await newTemplate(`tpl-rel-b-${g1.id}`)
        await p.call('POST', '/api/v1/hostgroup/template', {
          token: alice,
          body: { tpl_id: t1, grp_id: g1.id },
        })
        for (const tpl of [t1, t2]) {
          await p.call('POST', '/api/v1/hostgroup/template', {
            token: bob,
            body: { tpl_id: tpl, grp_id: g2.id },
          })
        }
        const id = await hostId('rel-1')
        const groups = await p.call('GET', `/api/v1/host/${id}/hostgroup`, { token: bob })
        assert.deepEqual(groups, { status: 200, body: [g1, g2] })
        const tpls = await p.call('GET', `/api/v1/host/${id}/template`, { token: bob })
        assert.equal(tpls.status, 200)
        assert.deepEqual(
          tpls.body.map((t: { id: number; tpl_name: string }) => [t.id, t.tpl_name]),
          [
            [t1, `tpl-rel-a-${g1.id}`],
            [t2, `tpl-rel-b-${g1.id}`],
          ]
        )
        const lonely = await p.store.db
          .insertInto('host')
          .values({ hostname: 'lonely' })
          .executeTakeFirst()
        const none = await p.call('GET', `/api/v1/host/${Number(lonely.insertId)}/template`, {
          token: bob,
        })
        assert.deepEqual(none, { status: 200, body: [] })
        for (const what of ['hostgroup', 'template']) {
          const missing = await p.call('GET', `/api/v1/host/999999/${what}`, { token: bob })
          assert.equal(missing.status, 404)
          assert.match(missing.body.error, /^host_id: no host 999999/)
        }
      })
    })

    describe('maintenance', () => {
      const maintain = async (host: string) =>
        p.store.db
          .selectFrom('host')
          .select(['maintain_begin', 'maintain_end'])
          .where('hostname', '=', host)
          .executeTakeFirstOrThrow()

      it('sets and clears maintenance by names or ids', async () => {
        const g = await newGroup()
        await bind(g.id, ['mnt-1', 'mnt-2', 'mnt-3'])
        const set = await p.call('POST', '/api/v1/host/maintain', {
          token: alice,
          body: {
            hosts: ['mnt-1', 'mnt-2', 'not-a-host'],
            maintain_begin: 1000,
            maintain_end: 2000,
          },
        })
        assert.deepEqual(set, { status: 200, body: { message: 'Through: hosts, Affect row: 2' } })
        assert.deepEqual(await maintain('mnt-1'), { maintain_begin: 1000, maintain_end: 2000 })
        assert.deepEqual(await maintain('mnt-3'), { maintain_begin: 0, maintain_end: 0 })
        const id3 = await hostId('mnt-3')
        const byId = await p.call('POST', '/api/v1/host/maintain', {
          token: alice,
          body: { ids: [id3], maintain_begin: 1500, maintain_end: 1600 },
        })
        assert.deepEqual(byId.body, { message: 'Through: ids, Affect row: 1' })
        assert.deepEqual(await maintain('mnt-3'), { maintain_begin: 1500, maintain_end: 1600 })
        const unset = await p.call('DELETE', '/api/v1/host/maintain', {
          token: alice,
          body: { hosts: ['mnt-1', 'mnt-2'] },
        })
        assert.deepEqual(unset, { status: 200, body: { message: 'Through: hosts, Affect row: 2' } })
        assert.deepEqual(await maintain('mnt-2'), { maintain_begin: 0, maintain_end: 0 })
        const unsetId = await p.call('DELETE', '/api/v1/host/maintain', {
          token: alice,
          body: { ids: [id3] },
        })
        assert.equal(unsetId.body.message, 'Through: ids, Affect row: 1')
        assert.deepEqual(await maintain('mnt-3'), { maintain_begin: 0, maintain_end: 0 })
      })

      it('refuses hosts outside the caller groups (403); admins may set any', async () => {
        const g = await newGroup()
        await bind(g.id, ['own-1'])
        const other = await newGroup(bob)
        await bind(other.id, ['theirs-1'], bob)
        const r = await p.call('POST', '/api/v1/host/maintain', {
          token: alice,
          body: { hosts: ['own-1', 'theirs-1'], maintain_begin: 1, maintain_end: 2 },
        })
        assert.equal(r.status, 403)
        assert.match(r.body.error, /^hosts: theirs-1: /)
        assert.deepEqual(await maintain('own-1'), { maintain_begin: 0, maintain_end: 0 })
        const del = await p.call('DELETE', '/api/v1/host/maintain', {
          token: alice,
          body: { ids: [await hostId('theirs-1')] },
        })
        assert.equal(del.status, 403)
        const admin = await p.call('POST', '/api/v1/host/maintain', {
          token: adm,
          body: { hosts: ['own-1', 'theirs-1'], maintain_begin: 1, maintain_end: 2 },
        })
        assert.equal(admin.body.message, 'Through: hosts, Affect row: 2')
      })

      it('validates times and targets, naming the field', async () => {
        const f = async (body: unknown, field: RegExp, method: 'POST' | 'DELETE' = 'POST') => {
          const r = await p.call(method, '/api/v1/host/maintain', { token: alice, body })
          assert.equal(r.status, 400, JSON.stringify(body))
          assert.match(r.body.error, field)
        }
        await f({ hosts: ['a'], maintain_begin: 2000, maintain_end: 1000 }, /^body\.maintain_end: /)
        await f({ hosts: ['a'], maintain_begin: 2000, maintain_end: 2000 }, /^body\.maintain_end: /)
        await f({ hosts: ['a'], maintain_end: 1000 }, /^body\.maintain_begin: /)
        await f({ hosts: ['a'], maintain_begin: 1.5, maintain_end: 9 }, /^body\.maintain_begin: /)
        await f({ hosts: ['a'], maintain_begin: 1, maintain_end: 2 ** 32 }, /^body\.maintain_end: /)
        await f({ maintain_begin: 1, maintain_end: 2 }, /^body\.hosts: hosts or ids is required/)
        await f({ hosts: ['a'], ids: [1], maintain_begin: 1, maintain_end: 2 }, /^body\.ids: /)
        await f({ ids: ['x'], maintain_begin: 1, maintain_end: 2 }, /^body\.ids\.0: /)
        await f({ hosts: ['a b'], maintain_begin: 1, maintain_end: 2 }, /^body\.hosts\.0: /)
        await f({}, /^body\.hosts: hosts or ids is required/, 'DELETE')
      })
    })

    describe('plugins', () => {
      it('adds, lists and deletes plugin dirs of a group', async () => {
        const g = await newGroup()
        const r = await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g.id, dir_path: 'sys/ntp' },
        })
        assert.equal(r.status, 200)
        assert.deepEqual(r.body, {
          id: r.body.id,
          grp_id: g.id,
          dir: 'sys/ntp',
          create_user: 'alice',
        })
        await p.call('POST', '/api/v1/plugin', {
          token: adm,
          body: { hostgroup_id: g.id, dir_path: 'net/port/60_port.py(80,443)' },
        })
        const list = await p.call('GET', `/api/v1/hostgroup/${g.id}/plugins`, { token: bob })
        assert.equal(list.status, 200)
        assert.deepEqual(
          list.body.map((x: { dir: string; create_user: string }) => [x.dir, x.create_user]),
          [
            ['sys/ntp', 'alice'],
            ['net/port/60_port.py(80,443)', 'adm'],
          ]
        )
        const byBob = await p.call('DELETE', `/api/v1/plugin/${r.body.id}`, { token: bob })
        assert.equal(byBob.status, 403)
        const del = await p.call('DELETE', `/api/v1/plugin/${r.body.id}`, { token: alice })
        assert.deepEqual(del, {
          status: 200,
          body: { message: `plugin:${r.body.id} has been deleted` },
        })
        const again = await p.call('DELETE', `/api/v1/plugin/${r.body.id}`, { token: alice })
        assert.equal(again.status, 404)
        const missing = await p.call('GET', '/api/v1/hostgroup/999999/plugins', { token: bob })
        assert.equal(missing.status, 404)
      })

      it('refuses a non-creator (403), a duplicate (409), a missing group (404), bad dirs (400)', async () => {
        const g = await newGroup()
        const byBob = await p.call('POST', '/api/v1/plugin', {
          token: bob,
          body: { hostgroup_id: g.id, dir_path: 'sys/ntp' },
        })
        assert.equal(byBob.status, 403)
        await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g.id, dir_path: 'sys/ntp' },
        })
        const dup = await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g.id, dir_path: 'sys/ntp' },
        })
        assert.equal(dup.status, 409)
        assert.match(dup.body.error, /^dir_path: /)
        const missing = await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: 999_999, dir_path: 'sys/ntp' },
        })
        assert.equal(missing.status, 404)
        for (const dir of ['', '../../etc', 'sys/../..', 'a b', 'x'.repeat(256), 5]) {
          const r = await p.call('POST', '/api/v1/plugin', {
            token: alice,
            body: { hostgroup_id: g.id, dir_path: dir },
          })
          assert.equal(r.status, 400, JSON.stringify(dir))
          assert.match(r.body.error, /^body\.dir_path: /)
        }
        const list = await p.call('GET', `/api/v1/hostgroup/${g.id}/plugins`, { token: alice })
        assert.equal(list.body.length, 1)
      })

      it('lets the creator of a plugin dir delete it even in another group', async () => {
        const g = await newGroup(bob)
        const r = await p.call('POST', '/api/v1/plugin', {
          token: adm,
          body: { hostgroup_id: g.id, dir_path: 'sys/disk' },
        })
        const byAlice = await p.call('DELETE', `/api/v1/plugin/${r.body.id}`, { token: alice })
        assert.equal(byAlice.status, 403)
        const byBob = await p.call('DELETE', `/api/v1/plugin/${r.body.id}`, { token: bob })
        assert.equal(byBob.status, 200)
      })
    })

    describe('aggregators', () => {
      const rule = (grpId: number, over: Record<string, unknown> = {}) => ({
        hostgroup_id: grpId,
        numerator: '$(cpu.busy)+$(cpu.nice)',
        denominator: '$#',
        endpoint: 'web-cluster',
        metric: 'cpu.busy.avg',
        tags: 'cluster=web',
        step: 60,
        ...over,
      })

      // The fields of PUT /aggregator: a rule without hostgroup_id.
      const ruleFields = (grpId: number): Record<string, unknown> => {
        const fields: Record<string, unknown> = rule(grpId)
        delete fields.hostgroup_id
        return fields
      }

      it('creates a rule (ds_type GAUGE, creator = caller) and reads it back', async () => {
        const g = await newGroup()
        const r = await p.call('POST', '/api/v1/aggregator', {
          token: alice,
          body: { ...rule(g.id), ds_type: 'COUNTER' },
        })
        assert.equal(r.status, 200)
        const want = {
          id: r.body.id,
          grp_id: g.id,
          numerator: '$(cpu.busy)+$(cpu.nice)',
          denominator: '$#',
          endpoint: 'web-cluster',
          metric: 'cpu.busy.avg',
          tags: 'cluster=web',
          ds_type: 'GAUGE',
          step: 60,
          creator: 'alice',
        }
        assert.deepEqual(r.body, want)
        const got = await p.call('GET', `/api/v1/aggregator/${r.body.id}`, { token: bob })
        assert.deepEqual(got, { status: 200, body: want })
        const missing = await p.call('GET', '/api/v1/aggregator/999999', { token: bob })
        assert.equal(missing.status, 404)
        assert.match(missing.body.error, /^id: no aggregator 999999/)
      })

      it('lists a group rules with its name, paged', async () => {
        const g = await newGroup()
        for (const metric of ['m.a', 'm.b', 'm.c']) {
          await p.call('POST', '/api/v1/aggregator', { token: alice, body: rule(g.id, { metric }) })
        }
        const all = await p.call('GET', `/api/v1/hostgroup/${g.id}/aggregators`, { token: bob })
        assert.equal(all.status, 200)
        assert.equal(all.body.hostgroup, g.grp_name)
        assert.deepEqual(
          all.body.aggregators.map((a: { metric: string }) => a.metric),
          ['m.a', 'm.b', 'm.c']
        )
        const page2 = await p.call('GET', `/api/v1/hostgroup/${g.id}/aggregators`, {
          token: bob,
          query: { page: '2', limit: '2' },
        })
        assert.deepEqual(
          page2.body.aggregators.map((a: { metric: string }) => a.metric),
          ['m.c']
        )
        const empty = await newGroup()
        const none = await p.call('GET', `/api/v1/hostgroup/${empty.id}/aggregators`, {
          token: bob,
        })
        assert.deepEqual(none.body, { hostgroup: empty.grp_name, aggregators: [] })
        const missing = await p.call('GET', '/api/v1/hostgroup/999999/aggregators', { token: bob })
        assert.equal(missing.status, 404)
      })

      it('validates every field, naming it', async () => {
        const g = await newGroup()
        const f = async (over: Record<string, unknown>, field: RegExp) => {
          const r = await p.call('POST', '/api/v1/aggregator', {
            token: alice,
            body: rule(g.id, over),
          })
          assert.equal(r.status, 400, JSON.stringify(over))
          assert.match(r.body.error, field)
        }
        await f({ numerator: '$(cpu.idle)*2' }, /^body\.numerator: expected \$#/)
        await f({ numerator: '（$(a)+$(b)）>1' }, /^body\.numerator: expected \( \)/)
        await f({ denominator: 'all' }, /^body\.denominator: /)
        await f({ denominator: '0' }, /^body\.denominator: a denominator of 0 never gives a value/)
        await f(
          { numerator: '$(cpu.idle/x)' },
          /^body\.numerator: expected a counter's tags as k=v/
        )
        await f({ denominator: undefined }, /^body\.denominator: /)
        await f({ numerator: '$#', denominator: '10' }, /^body\.numerator: .*must read a counter/)
        await f({ endpoint: '' }, /^body\.endpoint: /)
        await f({ endpoint: 'a b' }, /^body\.endpoint: /)
        await f({ metric: 'x'.repeat(256) }, /^body\.metric: /)
        await f({ tags: 'novalue' }, /^body\.tags: /)
        await f({ step: 0 }, /^body\.step: /)
        await f({ step: '60' }, /^body\.step: /)
        await f({ hostgroup_id: -1 }, /^body\.hostgroup_id: /)
        const noTags = await p.call('POST', '/api/v1/aggregator', {
          token: alice,
          body: rule(g.id, { tags: undefined, numerator: '$(cpu.idle)>=80' }),
        })
        assert.equal(noTags.status, 200)
        assert.equal(noTags.body.tags, '')
      })

      it('refuses a non-creator on create, update and delete (403); 404 for a missing group', async () => {
        const g = await newGroup()
        const byBob = await p.call('POST', '/api/v1/aggregator', { token: bob, body: rule(g.id) })
        assert.equal(byBob.status, 403)
        const missing = await p.call('POST', '/api/v1/aggregator', {
          token: alice,
          body: rule(999_999),
        })
        assert.equal(missing.status, 404)
        assert.match(missing.body.error, /^hostgroup_id: /)
        const r = await p.call('POST', '/api/v1/aggregator', { token: alice, body: rule(g.id) })
        const fields = ruleFields(g.id)
        const put = await p.call('PUT', '/api/v1/aggregator', {
          token: bob,
          body: { ...fields, id: r.body.id },
        })
        assert.equal(put.status, 403)
        const del = await p.call('DELETE', `/api/v1/aggregator/${r.body.id}`, { token: bob })
        assert.equal(del.status, 403)
        const still = await p.call('GET', `/api/v1/aggregator/${r.body.id}`, { token: bob })
        assert.equal(still.status, 200)
      })

      it('updates a rule and moves its last_update, then deletes it', async () => {
        const g = await newGroup()
        const r = await p.call('POST', '/api/v1/aggregator', { token: alice, body: rule(g.id) })
        const id = r.body.id as number
        await p.store.db
          .updateTable('cluster')
          .set({ last_update: '2001-01-01 00:00:00' })
          .where('id', '=', id)
          .execute()
        const put = await p.call('PUT', '/api/v1/aggregator', {
          token: alice,
          body: {
            id,
            numerator: '$(mem.used)',
            denominator: '$(mem.total)',
            endpoint: 'web-cluster',
            metric: 'mem.used.ratio',
            tags: '',
            step: 120,
          },
        })
        assert.equal(put.status, 200)
        assert.deepEqual(put.body, {
          id,
          grp_id: g.id,
          numerator: '$(mem.used)',
          denominator: '$(mem.total)',
          endpoint: 'web-cluster',
          metric: 'mem.used.ratio',
          tags: '',
          ds_type: 'GAUGE',
          step: 120,
          creator: 'alice',
        })
        const row = await p.store.db
          .selectFrom('cluster')
          .select(['last_update', 'step'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
        assert.equal(row.step, 120)
        assert.notEqual(row.last_update, '2001-01-01 00:00:00')
        const badPut = await p.call('PUT', '/api/v1/aggregator', {
          token: alice,
          body: { id, numerator: '$(x)', denominator: 'x', endpoint: 'e', metric: 'm', step: 60 },
        })
        assert.equal(badPut.status, 400)
        assert.match(badPut.body.error, /^body\.denominator: /)
        const noRule = await p.call('PUT', '/api/v1/aggregator', {
          token: alice,
          body: { ...put.body, id: 999_999 },
        })
        assert.equal(noRule.status, 404)
        const del = await p.call('DELETE', `/api/v1/aggregator/${id}`, { token: alice })
        assert.deepEqual(del, {
          status: 200,
          body: { message: `aggregator:${id} has been deleted` },
        })
        const gone = await p.call('DELETE', `/api/v1/aggregator/${id}`, { token: alice })
        assert.equal(gone.status, 404)
      })

      it('lets an admin change any rule and the rule creator change their own', async () => {
        const g = await newGroup(bob)
        const r = await p.call('POST', '/api/v1/aggregator', { token: adm, body: rule(g.id) })
        assert.equal(r.body.creator, 'adm')
        const fields = ruleFields(g.id)
        const byAdm = await p.call('PUT', '/api/v1/aggregator', {
          token: adm,
          body: { ...fields, id: r.body.id, step: 30 },
        })
        assert.equal(byAdm.status, 200)
        const byOwner = await p.call('PUT', '/api/v1/aggregator', {
          token: bob,
          body: { ...fields, id: r.body.id, step: 90 },
        })
        assert.equal(byOwner.body.step, 90)
        const byAlice = await p.call('DELETE', `/api/v1/aggregator/${r.body.id}`, { token: alice })
        assert.equal(byAlice.status, 403)
      })
    })

    describe('host list (Peregrine)', () => {
      it('lists hosts with their heartbeat, groups and plugin dirs, filtered and paged', async () => {
        const g1 = await newGroup(alice, 'hl-web')
        const g2 = await newGroup(alice, 'hl-db')
        await bind(g1.id, ['hl-01', 'hl-02'])
        await bind(g2.id, ['hl-02'])
        await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g1.id, dir_path: 'sys/ntp' },
        })
        await p.call('POST', '/api/v1/plugin', {
          token: alice,
          body: { hostgroup_id: g2.id, dir_path: 'db/mysql' },
        })
        const r = await p.call('GET', '/api/v1/host?q=^hl-', { token: bob })
        assert.equal(r.status, 200, JSON.stringify(r.body))
        assert.deepEqual(
          r.body.map((h: { hostname: string }) => h.hostname),
          ['hl-01', 'hl-02']
        )
        const two = r.body[1]
        assert.deepEqual(two.hostgroups, [
          { id: g1.id, grp_name: 'hl-web' },
          { id: g2.id, grp_name: 'hl-db' },
        ])
        assert.deepEqual(two.plugins, ['db/mysql', 'sys/ntp'])
        assert.match(two.update_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
        assert.deepEqual(Object.keys(two).sort(), [
          'agent_version',
          'hostgroups',
          'hostname',
          'id',
          'ip',
          'maintain_begin',
          'maintain_end',
          'plugin_version',
          'plugins',
          'update_at',
        ])
        const paged = await p.call('GET', '/api/v1/host?q=^hl-&page=2&limit=1', { token: bob })
        assert.deepEqual(
          paged.body.map((h: { hostname: string }) => h.hostname),
          ['hl-02']
        )
        const bad = await p.call('GET', '/api/v1/host?q=(', { token: bob })
        assert.equal(bad.status, 400)
        assert.match(bad.body.error, /^q: /)
        assert.equal((await p.call('GET', '/api/v1/host')).status, 401)
      })
    })
  })
}
