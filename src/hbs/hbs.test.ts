import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { JsonRpcClient, silentLogger, recordingLogger, waitUntil } from '../core/index.js'
import { Store, type TestStore, testEngines } from '../store/index.js'
import { Agents, stamp, writeHost } from './agents.js'
import { defaultHbsConfig, type HbsConfig } from './config.js'
import { hbsHttp } from './http.js'
import { type HbsService, start } from './index.js'
import { SnapshotSource } from './snapshot.js'
import { NOON, type Portal, seedPortal } from './testing.js'

const engines = await testEngines()

const config = (over: Partial<HbsConfig> = {}): HbsConfig => ({
  ...defaultHbsConfig,
  rpc: '127.0.0.1:0',
  http: '127.0.0.1:0',
  refreshInterval: 3_600_000,
  trustable: ['10.0.0.1', '10.0.0.2'],
  ...over,
})

const hostRow = (store: Store, hostname: string) =>
  store.db
    .selectFrom('host')
    .select(['hostname', 'ip', 'agent_version', 'plugin_version', 'update_at'])
    .where('hostname', '=', hostname)
    .executeTakeFirst()

const report = (
  Hostname: string,
  IP = '10.1.1.1',
  AgentVersion = '5.1.2',
  PluginVersion = 'p1'
) => ({
  Hostname,
  IP,
  AgentVersion,
  PluginVersion,
})

for (const engine of engines) {
  describe(`hbs over JSON-RPC (${engine.engine})`, () => {
    let t: TestStore
    let p: Portal
    let hbs: HbsService
    let rpc: JsonRpcClient
    let clock = NOON
    const sec = () => Math.floor(clock / 1000)

    before(async () => {
      t = await engine.open()
      p = await seedPortal(t.store.db, NOON)
      hbs = await start(config(), { log: silentLogger, now: () => clock }, { store: t.store })
      rpc = new JsonRpcClient(hbs.addresses.rpc)
    })
    after(async () => {
      rpc.close()
      await hbs.stop()
      await t.drop()
    })

    it('registers a new agent host on its first report, then writes only changes', async () => {
      assert.deepEqual(await rpc.call('Agent.ReportStatus', report('new-host')), { code: 0 })
      assert.deepEqual(await hostRow(t.store, 'new-host'), {
        hostname: 'new-host',
        ip: '10.1.1.1',
        agent_version: '5.1.2',
        plugin_version: 'p1',
        update_at: stamp(NOON),
      })
      // The same report again is not written: a change made meanwhile in the store stays.
      await t.store.db
        .updateTable('host')
        .set({ ip: 'edited' })
        .where('hostname', '=', 'new-host')
        .execute()
      assert.deepEqual(await rpc.call('Agent.ReportStatus', report('new-host')), { code: 0 })
      assert.equal((await hostRow(t.store, 'new-host'))?.ip, 'edited')
      clock = NOON + 60_000
      await rpc.call('Agent.ReportStatus', report('new-host', '10.1.1.2', '5.1.3', 'p2'))
      assert.deepEqual(await hostRow(t.store, 'new-host'), {
        hostname: 'new-host',
        ip: '10.1.1.2',
        agent_version: '5.1.3',
        plugin_version: 'p2',
        update_at: stamp(NOON + 60_000),
      })
      clock = NOON
      // An existing host (made by the API) is updated, not duplicated.
      await rpc.call('Agent.ReportStatus', report('prod', '10.9.9.9'))
      const rows = await t.store.db
        .selectFrom('host')
        .select(['id', 'ip'])
        .where('hostname', '=', 'prod')
        .execute()
      assert.deepEqual(rows, [{ id: p.host.prod, ip: '10.9.9.9' }])
    })

    it('answers code 1 to a report without Hostname, and Go errors to bad arguments', async () => {
      assert.deepEqual(await rpc.call('Agent.ReportStatus', report('')), { code: 1 })
      assert.deepEqual(await rpc.call('Agent.ReportStatus', null), { code: 1 })
      await assert.rejects(rpc.call('Agent.ReportStatus', { Hostname: 5 }), {
        name: 'RpcError',
        message:
          'json: cannot unmarshal number into Go struct field AgentReportRequest.Hostname of type string',
      })
      await assert.rejects(rpc.call('Agent.MinePlugins', 'prod'), {
        message: 'json: cannot unmarshal string into Go value of type model.AgentHeartbeatRequest',
      })
      // Keys match Go fields case-insensitively, as encoding/json does.
      assert.deepEqual(await rpc.call('Agent.MinePlugins', { hostname: 'prod' }), {
        Plugins: ['a/60_x.py(arg1,arg2)', 'b', 'sys/ntp'],
        Timestamp: sec(),
      })
    })

    it('registers a host whose IP or versions are longer than their columns, cut to fit', async () => {
      const version = '6.0.0-rc1@0a1b2c3d' // 18 characters; agent_version is varchar(16)
      const plugins = `Error:${'x'.repeat(200)}`
      assert.deepEqual(
        await rpc.call('Agent.ReportStatus', report('long-fields', '10.1.1.1', version, plugins)),
        { code: 0 }
      )
      assert.deepEqual(await hostRow(t.store, 'long-fields'), {
        hostname: 'long-fields',
        ip: '10.1.1.1',
        agent_version: version.slice(0, 16),
        plugin_version: plugins.slice(0, 128),
        update_at: stamp(NOON),
      })
      // Cut in characters, as the column counts them, never inside a surrogate pair.
      await rpc.call('Agent.ReportStatus', report('long-emoji', '10.1.1.1', '😀'.repeat(20)))
      assert.equal((await hostRow(t.store, 'long-emoji'))?.agent_version, '😀'.repeat(16))
    })

    it('refuses a Hostname longer than the host column, naming the rule, and keeps nothing', async () => {
      const longest = 'h'.repeat(255)
      assert.deepEqual(await rpc.call('Agent.ReportStatus', report(longest)), { code: 0 })
      assert.equal((await hostRow(t.store, longest))?.hostname, longest)
      const tooLong = 'h'.repeat(256)
      const refused = {
        name: 'RpcError',
        message:
          /\(PG_HBS_BAD_HOSTNAME\): expected at most 255 characters, as the api's host names$/,
      }
      await assert.rejects(rpc.call('Agent.ReportStatus', report(tooLong)), refused)
      await assert.rejects(rpc.call('Agent.ReportStatus', report('😀'.repeat(256))), refused)
      assert.equal(await hostRow(t.store, tooLong), undefined)
      const agents = (await (await fetch(`http://${hbs.addresses.http}/agents`)).json()) as {
        data: string[]
      }
      assert.ok(agents.data.includes(longest) && !agents.data.includes(tooLong))
      // 255 emoji are 510 UTF-16 units but 255 characters: accepted.
      assert.deepEqual(await rpc.call('Agent.ReportStatus', report('😀'.repeat(255))), {
        code: 0,
      })
    })

    it('keeps one row when two writers insert the same new host at once', async () => {
      await Promise.all([
        writeHost(t.store.db, report('raced', '1.1.1.1'), false, NOON),
        writeHost(t.store.db, report('raced', '2.2.2.2'), false, NOON),
        writeHost(t.store.db, report('raced', '3.3.3.3'), false, NOON),
      ])
      const rows = await t.store.db
        .selectFrom('host')
        .select('ip')
        .where('hostname', '=', 'raced')
        .execute()
      assert.equal(rows.length, 1)
    })

    it('answers MinePlugins as falcon: sorted dirs and a Timestamp, null for no Hostname', async () => {
      assert.deepEqual(await rpc.call('Agent.MinePlugins', { Hostname: 'prod', Checksum: '' }), {
        Plugins: ['a/60_x.py(arg1,arg2)', 'b', 'sys/ntp'],
        Timestamp: sec(),
      })
      assert.deepEqual(await rpc.call('Agent.MinePlugins', { Hostname: 'unknown' }), {
        Plugins: [],
        Timestamp: sec(),
      })
      assert.deepEqual(await rpc.call('Agent.MinePlugins', { Hostname: '' }), {
        Plugins: null,
        Timestamp: 0,
      })
    })

    it('answers BuiltinMetrics with a checksum, and no list when the agent has it', async () => {
      type Reply = { Metrics: unknown; Checksum: string; Timestamp: number }
      const first = await rpc.call<Reply>('Agent.BuiltinMetrics', {
        Hostname: 'prod',
        Checksum: 'nil',
      })
      assert.deepEqual(first.Metrics, [
        { Metric: 'net.port.listen', Tags: 'port=22' },
        { Metric: 'proc.num', Tags: 'name=nginx' },
      ])
      assert.match(first.Checksum, /^[0-9a-f]{32}$/)
      assert.equal(first.Timestamp, sec())
      assert.deepEqual(
        await rpc.call('Agent.BuiltinMetrics', { Hostname: 'prod', Checksum: first.Checksum }),
        { Metrics: [], Checksum: first.Checksum, Timestamp: sec() }
      )
      assert.deepEqual(
        await rpc.call('Agent.BuiltinItems', { Hostname: 'prod', Checksum: 'nil' }),
        first
      )
      assert.deepEqual(
        await rpc.call('Agent.BuiltinMetrics', { Hostname: 'bare', Checksum: 'nil' }),
        {
          Metrics: [],
          Checksum: '',
          Timestamp: sec(),
        }
      )
      assert.deepEqual(await rpc.call('Agent.BuiltinMetrics', { Hostname: '', Checksum: 'nil' }), {
        Metrics: null,
        Checksum: '',
        Timestamp: 0,
      })
    })

    it('answers TrustableIps with the IPs joined by commas', async () => {
      assert.equal(await rpc.call('Agent.TrustableIps', {}), '10.0.0.1,10.0.0.2')
    })

    it('answers GetStrategies and GetExpressions in falcon shapes', async () => {
      type Reply = { hostStrategies: { hostname: string; strategies: Record<string, unknown>[] }[] }
      const r = await rpc.call<Reply>('Hbs.GetStrategies', {})
      assert.deepEqual(
        r.hostStrategies.map((h) => [h.hostname, h.strategies.length]),
        [
          ['prod', 6],
          ['both', 7],
          ['after', 6],
        ]
      )
      const keys = Object.keys(r.hostStrategies[0].strategies[0])
      assert.deepEqual(keys, [
        'id',
        'metric',
        'tags',
        'func',
        'operator',
        'rightValue',
        'maxStep',
        'priority',
        'note',
        'tpl',
      ])
      assert.deepEqual(Object.keys(r.hostStrategies[0].strategies[0].tpl as object), [
        'id',
        'name',
        'parentId',
        'actionId',
        'creator',
      ])
      assert.deepEqual(await rpc.call('Hbs.GetStrategies', null), r)
      const e = await rpc.call<{ expressions: Record<string, unknown>[] }>('Hbs.GetExpressions', {})
      assert.equal(e.expressions.length, 2)
      assert.deepEqual(e.expressions[0], {
        id: e.expressions[0].id,
        metric: 'qps',
        tags: { endpoint: 'h1', project: 'x' },
        func: 'all(#1)',
        operator: '>',
        rightValue: 100,
        maxStep: 2,
        priority: 3,
        note: 'each(metric=qps endpoint=h1 project=x)',
        actionId: 9,
      })
    })

    it('answers in-process callers with the same data', async () => {
      const local = hbs.local
      assert.ok(local !== undefined)
      assert.deepEqual(
        JSON.parse(JSON.stringify(await local.call('Hbs.GetStrategies', {}))),
        await rpc.call('Hbs.GetStrategies', {})
      )
      assert.deepEqual(await local.call('Agent.TrustableIps', {}), '10.0.0.1,10.0.0.2')
    })

    it('gives Go net/rpc errors for unknown methods and services', async () => {
      await assert.rejects(rpc.call('Agent.Nope', {}), {
        message: "rpc: can't find method Agent.Nope",
      })
      await assert.rejects(rpc.call('Judge.Send', {}), {
        message: "rpc: can't find service Judge.Send",
      })
    })

    it('sees store changes on refresh', async () => {
      await t.store.db.deleteFrom('grp_host').where('host_id', '=', p.host.both).execute()
      assert.equal(await hbs.refresh(), true)
      const r = await rpc.call<{ hostStrategies: { hostname: string }[] }>('Hbs.GetStrategies', {})
      assert.deepEqual(
        r.hostStrategies.map((h) => h.hostname),
        ['prod', 'after']
      )
    })
  })

  describe(`hbs and the host names agents report (${engine.engine})`, () => {
    it('refuses a new host whose name the api would refuse, naming the rule, and keeps nothing', async () => {
      const t = await engine.open()
      try {
        await seedPortal(t.store.db, NOON)
        const hbs = await start(
          config(),
          { log: silentLogger, now: () => NOON },
          { store: t.store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        try {
          for (const bad of ['a\u0000b', '<script>alert(1)</script> ', 'two words', 'tab\there']) {
            await assert.rejects(rpc.call('Agent.ReportStatus', report(bad)), {
              name: 'RpcError',
              message: `host name ${JSON.stringify(bad)} refused (PG_HBS_BAD_HOSTNAME): expected no whitespace or control characters, as the api's host names`,
            })
            assert.equal(await hostRow(t.store, bad), undefined)
          }
          // The name is cut in the error, as a log line carries it.
          await assert.rejects(rpc.call('Agent.ReportStatus', report(`${'x'.repeat(100)} y`)), {
            message: `host name "${'x'.repeat(64)}"… refused (PG_HBS_BAD_HOSTNAME): expected no whitespace or control characters, as the api's host names`,
          })
          const counters = (await (
            await fetch(`http://${hbs.addresses.http}/counter/all`)
          ).json()) as {
            data: { agents: number; hostsRefused: Record<string, number> }
          }
          assert.deepEqual(counters.data.hostsRefused, {
            badHostname: 5,
            maxHosts: 0,
            maxNewHostsPerHour: 0,
          })
          assert.equal(counters.data.agents, 0)
          // A name the api takes is taken.
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('web-01.example.com')), {
            code: 0,
          })
        } finally {
          rpc.close()
          await hbs.stop()
        }
      } finally {
        await t.drop()
      }
    })
  })

  describe(`hbs limits on new hosts (${engine.engine})`, () => {
    const counters = async (hbs: HbsService) =>
      (
        (await (await fetch(`http://${hbs.addresses.http}/counter/all`)).json()) as {
          data: { hostsRefused: Record<string, number> }
        }
      ).data.hostsRefused

    it('stops registering at hbs.maxHosts while the hosts it knows keep reporting', async () => {
      const t = await engine.open()
      try {
        // Six hosts in the table, room for two more.
        await seedPortal(t.store.db, NOON)
        const hbs = await start(
          config({ maxHosts: 8 }),
          { log: silentLogger, now: () => NOON },
          { store: t.store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        try {
          // Reports sent together count against the limit at once.
          const answers = await Promise.allSettled(
            ['n1', 'n2', 'n3', 'n4'].map((h) => rpc.call('Agent.ReportStatus', report(h)))
          )
          assert.deepEqual(
            answers.map((a) => a.status),
            ['fulfilled', 'fulfilled', 'rejected', 'rejected']
          )
          assert.equal(
            ((answers[2] as PromiseRejectedResult).reason as Error).message,
            'host "n3" not registered (PG_HBS_HOST_LIMIT): hbs knows 8 hosts, its limit (hbs.maxHosts: 8); hosts it knows keep reporting. Delete hosts no longer used, or raise hbs.maxHosts'
          )
          assert.equal(await hostRow(t.store, 'n3'), undefined)
          // Known hosts go on: those of the table, and those registered before the limit.
          for (const h of ['prod', 'bare', 'n1']) {
            assert.deepEqual(await rpc.call('Agent.ReportStatus', report(h, '10.5.5.5')), {
              code: 0,
            })
            assert.equal((await hostRow(t.store, h))?.ip, '10.5.5.5')
          }
          // After a reread of the table (n1 and n2 are in it now) the count is the same.
          assert.equal(await hbs.refresh(), true)
          await assert.rejects(rpc.call('Agent.ReportStatus', report('n5')), /hbs knows 8 hosts/)
          // Hosts deleted from the table make room again.
          await t.store.db.deleteFrom('host').where('hostname', 'in', ['n1', 'bare']).execute()
          assert.equal(await hbs.refresh(), true)
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('n5')), { code: 0 })
          assert.equal((await hostRow(t.store, 'n5'))?.hostname, 'n5')
          assert.deepEqual(await counters(hbs), {
            badHostname: 0,
            maxHosts: 3,
            maxNewHostsPerHour: 0,
          })
        } finally {
          rpc.close()
          await hbs.stop()
        }
      } finally {
        await t.drop()
      }
    })

    it('takes at most hbs.maxNewHostsPerHour new hosts an hour, saying when the next may come', async () => {
      const t = await engine.open()
      try {
        await seedPortal(t.store.db, NOON)
        let clock = NOON
        const hbs = await start(
          config({ maxNewHostsPerHour: 2 }),
          { log: silentLogger, now: () => clock },
          { store: t.store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        try {
          for (const h of ['r1', 'r2'])
            assert.deepEqual(await rpc.call('Agent.ReportStatus', report(h)), { code: 0 })
          await assert.rejects(rpc.call('Agent.ReportStatus', report('r3')), {
            message:
              'host "r3" not registered (PG_HBS_HOST_LIMIT): more new hosts than hbs.maxNewHostsPerHour (2) within the hour; the next may register in 1800 s (its agent reports again by itself), or raise hbs.maxNewHostsPerHour',
          })
          assert.equal(await hostRow(t.store, 'r3'), undefined)
          // Known hosts are not new.
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('r1', '10.6.6.6')), {
            code: 0,
          })
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('prod')), { code: 0 })
          // Half an hour later, one more.
          clock = NOON + 1_800_000
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('r3')), { code: 0 })
          await assert.rejects(rpc.call('Agent.ReportStatus', report('r4')), /in 1800 s/)
          assert.deepEqual(await counters(hbs), {
            badHostname: 0,
            maxHosts: 0,
            maxNewHostsPerHour: 2,
          })
        } finally {
          rpc.close()
          await hbs.stop()
        }
      } finally {
        await t.drop()
      }
    })

    it('bounds the hosts it keeps in memory with hosts: "update" too', async () => {
      const t = await engine.open()
      try {
        await seedPortal(t.store.db, NOON)
        const hbs = await start(
          config({ hosts: 'update', maxHosts: 7 }),
          { log: silentLogger, now: () => NOON },
          { store: t.store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        try {
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('u1')), { code: 0 })
          assert.equal(await hbs.refresh(), true)
          await assert.rejects(rpc.call('Agent.ReportStatus', report('u2')), /hbs knows 7 hosts/)
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('prod')), { code: 0 })
          const agents = (await (await fetch(`http://${hbs.addresses.http}/agents`)).json()) as {
            data: string[]
          }
          assert.deepEqual(agents.data, ['prod', 'u1'])
        } finally {
          rpc.close()
          await hbs.stop()
        }
      } finally {
        await t.drop()
      }
    })
  })

  describe(`hbs with hosts: "update" (${engine.engine})`, () => {
    it('updates known hosts and never inserts', async () => {
      const t = await engine.open()
      try {
        await seedPortal(t.store.db, NOON)
        const hbs = await start(
          config({ hosts: 'update' }),
          { log: silentLogger, now: () => NOON },
          { store: t.store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        assert.deepEqual(await rpc.call('Agent.ReportStatus', report('stranger')), { code: 0 })
        assert.deepEqual(await rpc.call('Agent.ReportStatus', report('prod', '10.7.7.7')), {
          code: 0,
        })
        assert.equal(await hostRow(t.store, 'stranger'), undefined)
        assert.equal((await hostRow(t.store, 'prod'))?.ip, '10.7.7.7')
        rpc.close()
        await hbs.stop()
      } finally {
        await t.drop()
      }
    })
  })

  describe(`hbs when the store goes away (${engine.engine})`, () => {
    it('keeps answering from its snapshot when its store is closed under it', async () => {
      const t = await engine.open()
      await seedPortal(t.store.db, NOON)
      const log = recordingLogger()
      const hbs = await start(config(), { log, now: () => NOON }, { store: t.store })
      const rpc = new JsonRpcClient(hbs.addresses.rpc)
      try {
        const before = await rpc.call('Hbs.GetStrategies', {})
        await t.store.close()
        assert.equal(await hbs.refresh(), false)
        assert.deepEqual(await rpc.call('Hbs.GetStrategies', {}), before)
        assert.deepEqual(await rpc.call('Agent.ReportStatus', report('late-host')), { code: 0 })
        assert.deepEqual(
          (await rpc.call<{ Plugins: string[] }>('Agent.MinePlugins', { Hostname: 'prod' }))
            .Plugins,
          ['a/60_x.py(arg1,arg2)', 'b', 'sys/ntp']
        )
        assert.equal(
          log.lines.filter((l) => l.startsWith('error hbs: cannot read the store')).length,
          1
        )
      } finally {
        rpc.close()
        await hbs.stop()
        await t.drop()
      }
    })

    it(
      'keeps agent reports through a MySQL outage and writes them when it is back',
      { skip: engine.engine === 'mysql' ? false : 'SQLite has no server to lose' },
      async () => {
        const fresh = await engine.newUrl()
        const url = fresh.url
        const u = new URL(url)
        const proxy = await tcpProxy(u.hostname, Number(u.port || 3306))
        const proxied = new URL(url)
        proxied.hostname = '127.0.0.1'
        proxied.port = String(proxy.port)
        const log = recordingLogger()
        const direct = await Store.open(url, silentLogger)
        const store = await Store.open(proxied.toString(), log, {
          minBackoff: 20,
          maxBackoff: 100,
          connectTimeout: 1000,
        })
        await seedPortal(store.db, NOON)
        const hbs = await start(
          config({ refreshInterval: 100 }),
          { log, now: () => NOON },
          { store }
        )
        const rpc = new JsonRpcClient(hbs.addresses.rpc)
        try {
          const before = await rpc.call('Hbs.GetStrategies', {})
          await proxy.cut()
          assert.equal(await hbs.refresh(), false)
          assert.deepEqual(
            await rpc.call('Agent.ReportStatus', report('outage-host', '10.3.3.3')),
            { code: 0 }
          )
          assert.deepEqual(await rpc.call('Agent.ReportStatus', report('prod', '10.4.4.4')), {
            code: 0,
          })
          assert.deepEqual(await rpc.call('Hbs.GetStrategies', {}), before)
          assert.equal(await hostRow(direct, 'outage-host'), undefined)
          await proxy.restore()
          await waitUntil(
            async () => (await hostRow(direct, 'outage-host')) !== undefined,
            'the kept report',
            20_000
          )
          await waitUntil(
            async () => (await hostRow(direct, 'prod'))?.ip === '10.4.4.4',
            'the kept update',
            20_000
          )
          assert.equal((await hostRow(direct, 'outage-host'))?.ip, '10.3.3.3')
          await waitUntil(
            () => log.lines.some((l) => l.startsWith('info hbs: the store is readable again')),
            'recovery',
            20_000
          )
          const hbsLines = log.lines.filter((l) => / hbs: /.test(l))
          assert.equal(
            hbsLines.filter((l) => l.startsWith('error hbs: cannot read the store')).length,
            1
          )
          assert.equal(
            hbsLines.filter((l) => l.startsWith('error hbs: host rows cannot be written')).length,
            1
          )
          assert.equal(
            hbsLines.filter((l) => l.startsWith('info hbs: the store is readable again')).length,
            1
          )
        } finally {
          rpc.close()
          await hbs.stop()
          await store.close()
          await direct.close()
          await proxy.close()
          await fresh.drop()
        }
      }
    )
  })

  describe(`hbs HTTP (${engine.engine})`, () => {
    let t: TestStore
    let p: Portal
    let app: ReturnType<typeof hbsHttp>
    before(async () => {
      t = await engine.open()
      p = await seedPortal(t.store.db, NOON)
      const source = new SnapshotSource(t.store.db, { log: silentLogger, now: () => NOON })
      await source.refresh()
      const agents = new Agents({
        db: t.store.db,
        updateOnly: false,
        now: () => NOON,
        log: silentLogger,
      })
      await agents.report(report('b-agent'))
      await agents.report(report('a-agent'))
      app = hbsHttp({ source, agents })
      await app.ready()
    })
    after(async () => {
      await app.close()
      await t.drop()
    })
    const get = async (url: string, remoteAddress?: string, headers?: Record<string, string>) => {
      const res = await app.inject({
        method: 'GET',
        url,
        ...(remoteAddress ? { remoteAddress } : {}),
        ...(headers ? { headers } : {}),
      })
      return {
        status: res.statusCode,
        text: res.body,
        json: <T = Record<string, unknown>>() => JSON.parse(res.body) as { msg: string; data: T },
      }
    }

    it('serves health, version and falcon data views', async () => {
      assert.equal((await get('/health')).text, 'ok')
      assert.equal((await get('/version')).text, 'peregrine')
      assert.deepEqual((await get('/agents')).json(), {
        msg: 'success',
        data: ['a-agent', 'b-agent'],
      })
      const hosts = (await get('/hosts')).json().data
      assert.deepEqual(hosts[String(p.host.prod)], { Id: p.host.prod, Name: 'prod' })
      assert.equal(hosts[String(p.host.maint)], undefined)
      const strategies = (await get('/strategies')).json<Record<string, { tpl: { id: number } }>>()
        .data
      assert.equal(strategies[String(p.s.cpuWeb)].tpl.id, p.tpl.web)
      assert.equal(strategies[String(p.s.nightProd)], undefined, 'not in its run window at noon')
      const templates = (await get('/templates')).json().data
      assert.deepEqual(templates[String(p.tpl.web)], {
        id: p.tpl.web,
        name: 'web',
        parentId: p.tpl.base,
        actionId: 2,
        creator: 'root',
      })
      assert.equal((await get('/expressions')).json<unknown[]>().data.length, 2)
      assert.deepEqual((await get('/plugins/prod')).json().data, [
        'a/60_x.py(arg1,arg2)',
        'b',
        'sys/ntp',
      ])
      assert.deepEqual((await get('/plugins/')).json().data, [])
      assert.equal((await get('/counter/all')).json().data.agents, 2)
    })

    it('refreshes on /config/reload from this machine only', async () => {
      await t.store.db.insertInto('tpl').values({ tpl_name: 'added' }).execute()
      assert.equal((await get('/config/reload', '10.1.2.3')).text, 'no privilege')
      const r = await get('/config/reload')
      assert.equal(r.status, 200)
      assert.equal(r.json().data.templates, 7)
    })

    it('refuses /config/reload relayed by a proxy on this machine', async () => {
      const relayed: Record<string, string>[] = [
        { 'x-forwarded-for': '203.0.113.7' },
        { forwarded: 'for=203.0.113.7' },
        { 'x-real-ip': '203.0.113.7' },
      ]
      for (const headers of relayed) {
        assert.equal((await get('/config/reload', '127.0.0.1', headers)).text, 'no privilege')
      }
      assert.equal((await get('/config/reload', '::ffff:127.0.0.1')).status, 200)
      assert.equal((await get('/config/reload', '::1')).status, 200)
    })
  })
}

// A TCP relay to cut and restore, standing in for a network outage between hbs and MySQL.
async function tcpProxy(host: string, port: number) {
  const sockets = new Set<Socket>()
  const make = () =>
    createServer((client) => {
      const upstream = connect(port, host)
      sockets.add(client).add(upstream)
      client.pipe(upstream).pipe(client)
      const drop = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
    })
  let server = make()
  const listen = (p: number) =>
    new Promise<number>((ok, fail) => {
      server.once('error', fail)
      server.listen(p, '127.0.0.1', () => ok((server.address() as AddressInfo).port))
    })
  const bound = await listen(0)
  const cut = () =>
    new Promise<void>((ok) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      server.close(() => ok())
    })
  return {
    port: bound,
    cut,
    close: cut,
    async restore() {
      server = make()
      await listen(bound)
    },
  }
}
