import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rulesFingerprint, testEngines, type TestStore } from '../store/index.js'
import { loadRules } from './rules.js'

for (const engine of await testEngines()) {
  describe(`nodata rules (${engine.engine})`, () => {
    let t: TestStore
    before(async () => {
      t = await engine.open()
      const db = t.store.db
      const stamp = '2026-01-01 00:00:00'
      const h = {
        ip: '',
        agent_version: '',
        plugin_version: '',
        update_at: stamp,
        maintain_begin: 0,
        maintain_end: 0,
      }
      await db
        .insertInto('host')
        .values([
          { ...h, hostname: 'h1' },
          { ...h, hostname: 'h2', maintain_begin: 100, maintain_end: 200 },
          { ...h, hostname: 'h3' },
        ])
        .execute()
      await db
        .insertInto('grp')
        .values([{ grp_name: 'web', create_user: 'root', create_at: stamp }])
        .execute()
      const hosts = await db.selectFrom('host').select(['id', 'hostname']).execute()
      const grp = await db.selectFrom('grp').select('id').executeTakeFirstOrThrow()
      await db
        .insertInto('grp_host')
        .values(
          hosts.filter((h) => h.hostname !== 'h3').map((h) => ({ grp_id: grp.id, host_id: h.id }))
        )
        .execute()
      const rule = (
        name: string,
        obj: string,
        obj_type: string,
        over: Record<string, unknown> = {}
      ) => ({
        name,
        obj,
        obj_type,
        metric: 'agent.alive',
        tags: '',
        dstype: 'GAUGE',
        step: 60,
        mock: -1,
        creator: 'root',
        t_create: stamp,
        t_modify: stamp,
        ...over,
      })
      await db
        .insertInto('mockcfg')
        .values([
          rule('by-group', 'web\nno-such-group', 'group', { mock: -2 }),
          rule('by-host', ' h1 \n\nh3', 'host', { mock: -3 }),
          rule('tagged', 'h1', 'other', { tags: 'port=80, app=web' }),
          rule('counter', 'h1', 'host', { dstype: 'COUNTER' }),
        ])
        .execute()
    })
    after(async () => t.drop())

    it('expands groups, lets a host rule beat a group rule, sorts tags and names what it skips', async () => {
      const rs = await loadRules(t.store.db, 1000)
      assert.deepEqual([...rs.watches.values()].map((w) => [w.key, w.ruleName, w.mock]).sort(), [
        ['h1/agent.alive', 'by-host', -3],
        ['h1/agent.alive/app=web,port=80', 'tagged', -1],
        ['h2/agent.alive', 'by-group', -2],
        ['h3/agent.alive', 'by-host', -3],
      ])
      assert.equal(
        rs.watches.get('h1/agent.alive/app=web,port=80')?.counter,
        'agent.alive/app=web,port=80'
      )
      assert.equal(rs.skipped.length, 2)
      assert.match(rs.skipped.join('\n'), /rule \d+ \(by-group\): no host group "no-such-group"/)
      assert.match(rs.skipped.join('\n'), /\(counter\): needs dstype GAUGE/)
      // Maintenance is kept for the judge to check at its time, not applied at read time.
      assert.deepEqual(rs.maintenance.get('h2'), {
        id: rs.maintenance.get('h2')?.id,
        hostname: 'h2',
        maintainBegin: 100,
        maintainEnd: 200,
      })
      assert.deepEqual(
        rs.groups
          .get('web')
          ?.map((h) => h.hostname)
          .sort(),
        ['h1', 'h2']
      )
    })

    it('stops at maxSeries, naming the rule left out', async () => {
      const rs = await loadRules(t.store.db, 2)
      assert.equal(rs.watches.size, 2)
      assert.match(rs.skipped.join('\n'), /nodata.maxSeries \(2\)/)
    })

    it('fingerprints what it reads: a change to a rule, a member or a window changes it', async () => {
      const db = t.store.db
      const fp = () => rulesFingerprint(db, 'mockcfg')
      const a = await fp()
      assert.equal(await fp(), a)
      await db.updateTable('mockcfg').set({ mock: -9 }).where('name', '=', 'tagged').execute()
      const b = await fp()
      assert.notEqual(b, a)
      await db.updateTable('host').set({ maintain_end: 300 }).where('hostname', '=', 'h2').execute()
      const c = await fp()
      assert.notEqual(c, b)
      const h3 = await db
        .selectFrom('host')
        .select('id')
        .where('hostname', '=', 'h3')
        .executeTakeFirstOrThrow()
      const grp = await db.selectFrom('grp').select('id').executeTakeFirstOrThrow()
      await db.insertInto('grp_host').values({ grp_id: grp.id, host_id: h3.id }).execute()
      assert.notEqual(await fp(), c)
    })
  })
}
