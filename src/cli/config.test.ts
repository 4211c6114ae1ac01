import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseStoreUrl } from '../store/index.js'
import {
  COMPONENTS,
  defaultComponents,
  goDsnToUrl,
  readConfigFile,
  resolveConfigs,
} from './config.js'

describe('goDsnToUrl', () => {
  it("maps falcon's DSNs, with Go's default address where one is left out", () => {
    const cases: [string, string][] = [
      [
        'root:@tcp(127.0.0.1:3306)/falcon_portal?charset=utf8&loc=Asia%2FShanghai',
        'mysql://root@127.0.0.1:3306/falcon_portal',
      ],
      ['falcon:p@ss/w@tcp(db:3307)/uic', 'mysql://falcon:p%40ss%2Fw@db:3307/uic'],
      ['root:@/falcon_portal?charset=utf8', 'mysql://root@127.0.0.1:3306/falcon_portal'],
      ['root:pw@tcp()/falcon_portal', 'mysql://root:pw@127.0.0.1:3306/falcon_portal'],
      ['root@tcp(:3307)/falcon_portal', 'mysql://root@127.0.0.1:3307/falcon_portal'],
      ['mysql://root@db/falcon_portal', 'mysql://root@db/falcon_portal'],
    ]
    for (const [dsn, url] of cases) {
      assert.equal(goDsnToUrl(dsn), url, dsn)
      assert.equal(parseStoreUrl(url).engine, 'mysql')
    }
    assert.equal(
      (parseStoreUrl(goDsnToUrl(cases[1][0])) as { password: string }).password,
      'p@ss/w'
    )
  })

  it('refuses a DSN it cannot use, naming the key, never showing the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      for (const database of [
        'root:s3cret@unix(/run/mysqld/mysqld.sock)/falcon_portal',
        'root:s3cret@tcp(db:3306)',
      ]) {
        const file = join(dir, 'cfg.json')
        writeFileSync(file, JSON.stringify({ listen: ':6030', database }))
        await assert.rejects(
          async () => resolveConfigs(readConfigFile(file).raw, ['hbs']),
          (err: Error) =>
            /^(database: only tcp|store: expected)/.test(err.message) &&
            !err.message.includes('s3cret'),
          database
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('readConfigFile', () => {
  it('takes a file with no settings in it as every default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      const defaults = await resolveConfigs({}, COMPONENTS, dir)
      const files = {
        'blank.yaml': '',
        'comments.yaml': '# every key is optional\n\n  # nothing set here\n',
        'start.yml': '---\n',
        'blank.json': ' \n',
      }
      for (const [name, text] of Object.entries(files)) {
        const file = join(dir, name)
        writeFileSync(file, text)
        const read = readConfigFile(file)
        assert.deepEqual(read, { raw: {}, ignored: [] }, name)
        assert.deepEqual(await resolveConfigs(read.raw, COMPONENTS, dir), defaults, name)
      }
      // Something that is not settings is still refused.
      for (const [name, text] of Object.entries({ 'list.yaml': '- a\n', 'null.json': 'null' })) {
        const file = join(dir, name)
        writeFileSync(file, text)
        assert.throws(() => readConfigFile(file), {
          message: `${file}: expected an object of settings`,
        })
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('falcon cfg.json', () => {
  it("makes the portal DSN of an api or hbs cfg.json every component's store", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      const portal = 'mysql://falcon:pw@db:3306/falcon_portal'
      const files = {
        'api.json': {
          web_port: ':8080',
          db: { falcon_portal: 'falcon:pw@tcp(db:3306)/falcon_portal?charset=utf8' },
        },
        'hbs.json': { listen: ':6030', database: 'falcon:pw@tcp(db:3306)/falcon_portal' },
      }
      for (const [name, cfg] of Object.entries(files)) {
        const file = join(dir, name)
        writeFileSync(file, JSON.stringify(cfg))
        const configs = await resolveConfigs(readConfigFile(file).raw, COMPONENTS, dir)
        assert.equal(configs.api?.store, portal, name)
        assert.equal(configs.hbs?.store, portal, name)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("maps a transfer cfg.json's judge section to judgeCluster, {} when judge is off", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      // modules/transfer/cfg.example.json at v0.3, its judge section varied per case.
      const transfer = (judge: Record<string, unknown> | undefined) => ({
        debug: true,
        minStep: 30,
        http: { enabled: true, listen: '0.0.0.0:6060' },
        rpc: { enabled: true, listen: '0.0.0.0:8433' },
        socket: { enabled: true, listen: '0.0.0.0:4444', timeout: 3600 },
        judge,
        graph: {
          enabled: true,
          batch: 200,
          callTimeout: 5000,
          replicas: 500,
          cluster: { 'graph-00': '127.0.0.1:6070' },
        },
        tsdb: { enabled: false, address: '127.0.0.1:8088' },
      })
      const judge = {
        enabled: true,
        batch: 200,
        connTimeout: 1000,
        callTimeout: 5000,
        maxConns: 32,
        maxIdle: 32,
        replicas: 500,
        cluster: { 'judge-00': '127.0.0.1:6080', 'judge-01': '10.0.0.2:6080' },
      }
      const f = async (
        cfg: Record<string, unknown>,
        judgeCluster: Record<string, string>,
        ignored: string[]
      ) => {
        const file = join(dir, 'cfg.json')
        writeFileSync(file, JSON.stringify(cfg))
        const read = readConfigFile(file)
        assert.deepEqual(read.ignored, ignored)
        const configs = await resolveConfigs(read.raw, ['transfer'], dir)
        assert.deepEqual(configs.transfer?.judgeCluster, judgeCluster)
        assert.equal(configs.transfer?.replicas, 500)
      }
      await f(transfer(judge), judge.cluster, ['debug', 'tsdb'])
      await f(transfer({ ...judge, enabled: false }), {}, ['debug', 'tsdb'])
      await f(transfer({ ...judge, enabled: undefined }), {}, ['debug', 'tsdb'])
      await f(transfer(undefined), {}, ['debug', 'tsdb'])
      // One replicas for both rings: a judge ring of another size is reported, only when judge is on.
      await f(transfer({ ...judge, replicas: 100 }), judge.cluster, [
        'debug',
        'tsdb',
        'judge.replicas (both rings use graph.replicas, 500)',
      ])
      await f(transfer({ ...judge, enabled: false, replicas: 100 }), {}, ['debug', 'tsdb'])

      const file = join(dir, 'cfg.json')
      writeFileSync(
        file,
        JSON.stringify(
          transfer({ ...judge, cluster: { 'judge-00': '10.0.0.1:6080,10.0.0.2:6080' } })
        )
      )
      await assert.rejects(
        async () => resolveConfigs(readConfigFile(file).raw, ['transfer'], dir),
        /transfer\.judgeCluster\.judge-00: one "host:port" per judge node/
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

// modules/judge/cfg.example.json at v0.3.
const FALCON_JUDGE = {
  debug: true,
  debugHost: 'nil',
  remain: 11,
  http: { enabled: true, listen: '0.0.0.0:6081' },
  rpc: { enabled: true, listen: '0.0.0.0:6080' },
  hbs: { servers: ['127.0.0.1:6030'], timeout: 300, interval: 60 },
  alarm: {
    enabled: true,
    minInterval: 300,
    queuePattern: 'event:p%v',
    redis: {
      dsn: '127.0.0.1:6379',
      maxIdle: 5,
      connTimeout: 5000,
      readTimeout: 5000,
      writeTimeout: 5000,
    },
  },
}

// modules/alarm/cfg.example.json at v0.3.
const FALCON_ALARM = {
  log_level: 'debug',
  http: { enabled: true, listen: '0.0.0.0:9912' },
  redis: {
    addr: '127.0.0.1:6379',
    maxIdle: 5,
    highQueues: ['event:p0', 'event:p1', 'event:p2'],
    lowQueues: ['event:p3', 'event:p4', 'event:p5', 'event:p6'],
    userIMQueue: '/queue/user/im',
    userSmsQueue: '/queue/user/sms',
    userMailQueue: '/queue/user/mail',
  },
  api: {
    im: 'http://127.0.0.1:10086/wechat',
    sms: 'http://127.0.0.1:10086/sms',
    mail: 'http://127.0.0.1:10086/mail',
    dashboard: 'http://127.0.0.1:8081',
    plus_api: 'http://127.0.0.1:8080',
    plus_api_token: 'default-token-used-in-server-side',
  },
  falcon_portal: {
    addr: 'root:@tcp(127.0.0.1:3306)/alarms?charset=utf8&loc=Local',
    idle: 10,
    max: 100,
  },
  worker: { im: 10, sms: 10, mail: 50 },
  housekeeper: { event_retention_days: 7, event_delete_batch: 100 },
}

describe('falcon judge and alarm cfg.json', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))
  const read = (cfg: Record<string, unknown>) => {
    const file = join(dir, 'cfg.json')
    writeFileSync(file, JSON.stringify(cfg))
    return readConfigFile(file)
  }

  it("maps judge's cfg.json onto judge and the top-level redis", async () => {
    const r = read(FALCON_JUDGE)
    assert.deepEqual(r.raw, {
      redis: 'redis://127.0.0.1:6379',
      judge: {
        rpc: '0.0.0.0:6080',
        http: '0.0.0.0:6081',
        hbs: ['127.0.0.1:6030'],
        hbsInterval: 60_000,
        remain: 11,
        minInterval: 300,
        queuePattern: 'event:p%v',
      },
    })
    assert.deepEqual(r.ignored, [
      'debug',
      'debugHost',
      "hbs.timeout (the connect timeout; judge.hbsTimeout is the call's)",
      'alarm.redis.maxIdle',
      'alarm.redis.connTimeout',
      'alarm.redis.readTimeout',
      'alarm.redis.writeTimeout',
    ])
    const configs = await resolveConfigs(r.raw, ['judge'], dir)
    assert.equal(configs.redis, 'redis://127.0.0.1:6379')
    assert.equal(configs.judge?.redis, 'redis://127.0.0.1:6379')
    assert.equal(configs.judge?.hbsInterval, 60_000)
    assert.equal(configs.judge?.hbsTimeout, 60_000)
    assert.equal(configs.judge?.spillDir, join(dir, 'judge'))
    assert.equal(configs.transfer, undefined)
  })

  it('tells a judge cfg.json from a transfer one, though both have rpc.listen', () => {
    // The least a judge needs: rpc and hbs; or remain; or alarm.queuePattern.
    const minimal = { rpc: { listen: ':6080' }, hbs: { servers: ['10.0.0.1:6030'] } }
    assert.deepEqual(read(minimal).raw, {
      judge: { rpc: '0.0.0.0:6080', hbs: ['10.0.0.1:6030'] },
    })
    assert.ok('judge' in read({ rpc: { listen: ':6080' }, remain: 20 }).raw)
    assert.ok('judge' in read({ alarm: { queuePattern: 'event:p%v' } }).raw)
    const transfer = read({ rpc: { listen: '0.0.0.0:8433' }, graph: { cluster: {} } })
    assert.ok('transfer' in transfer.raw && !('judge' in transfer.raw))
  })

  it("takes falcon's password@host:port, with '@' in the password, only with alarm.enabled", async () => {
    const judge = (alarm: Record<string, unknown>) =>
      read({ ...FALCON_JUDGE, alarm: { ...FALCON_JUDGE.alarm, ...alarm } })
    const r = judge({ redis: { dsn: 'p@ss/w@10.0.0.5:6380' } })
    assert.equal(r.raw.redis, 'redis://:p%40ss%2Fw@10.0.0.5:6380')
    const url = new URL(String(r.raw.redis))
    assert.equal(decodeURIComponent(url.password), 'p@ss/w')
    assert.equal(url.host, '10.0.0.5:6380')
    assert.equal((await resolveConfigs(r.raw, ['judge'], dir)).judge?.redis, r.raw.redis)
    assert.equal(judge({ redis: { dsn: ':6379' } }).raw.redis, 'redis://127.0.0.1:6379')
    // Falcon's judge needs alarm.enabled true to reach Redis (a missing key is Go's false).
    for (const enabled of [false, undefined]) {
      const off = judge({ enabled })
      assert.equal(off.raw.redis, undefined)
      assert.ok(
        off.ignored.includes(
          'alarm.redis.dsn (alarm.enabled is not true: events stay in this process)'
        )
      )
      assert.equal((await resolveConfigs(off.raw, ['judge'], dir)).judge?.redis, '')
    }
  })

  it('keeps the default listener, and says so, when falcon turns one off', async () => {
    const r = read({
      ...FALCON_JUDGE,
      http: { enabled: false, listen: '0.0.0.0:7081' },
      rpc: { enabled: false, listen: '0.0.0.0:7080' },
    })
    assert.deepEqual(r.ignored.slice(-2), [
      'rpc.enabled: false (cannot be turned off: judge.rpc keeps its default)',
      'http.enabled: false (cannot be turned off: judge.http keeps its default)',
    ])
    const configs = await resolveConfigs(r.raw, ['judge'], dir)
    assert.equal(configs.judge?.rpc, '127.0.0.1:6080')
    assert.equal(configs.judge?.http, '127.0.0.1:6081')
    const alarm = read({ ...FALCON_ALARM, http: { enabled: false, listen: '0.0.0.0:7912' } })
    assert.equal((alarm.raw.alarm as { http?: string }).http, undefined)
    assert.ok(
      alarm.ignored.includes(
        'http.enabled: false (cannot be turned off: alarm.http keeps its default)'
      )
    )
  })

  it("maps alarm's cfg.json onto alarm and the top-level redis and store", async () => {
    const r = read(FALCON_ALARM)
    assert.deepEqual(r.raw, {
      redis: 'redis://127.0.0.1:6379',
      store: 'mysql://root@127.0.0.1:3306/alarms',
      alarm: {
        http: '0.0.0.0:9912',
        highQueues: ['event:p0', 'event:p1', 'event:p2'],
        lowQueues: ['event:p3', 'event:p4', 'event:p5', 'event:p6'],
        dashboard: 'http://127.0.0.1:8081',
        channels: {
          mail: { gateway: 'http://127.0.0.1:10086/mail' },
          sms: { gateway: 'http://127.0.0.1:10086/sms' },
          im: { gateway: 'http://127.0.0.1:10086/wechat' },
        },
        // One pool for every channel: falcon's three together.
        workers: 70,
        retentionDays: 7,
        deleteBatch: 100,
      },
    })
    assert.deepEqual(r.ignored, [
      'log_level',
      'redis.maxIdle',
      'api.plus_api (alarm reads actions and teams from the store)',
      'api.plus_api_token',
      'falcon_portal.idle',
      'falcon_portal.max',
    ])
    const configs = await resolveConfigs(r.raw, ['alarm'], dir)
    assert.equal(configs.alarm?.store, 'mysql://root@127.0.0.1:3306/alarms')
    assert.equal(configs.alarm?.redis, 'redis://127.0.0.1:6379')
    assert.equal(configs.alarm?.workers, 70)
    assert.equal(configs.alarm?.spillDir, join(dir, 'alarm'))
    assert.equal(configs.alarm?.channels.sms?.gateway, 'http://127.0.0.1:10086/sms')
  })

  it("takes Peregrine's callbackAllow beside falcon's alarm keys", async () => {
    const r = read({ ...FALCON_ALARM, callbackAllow: ['127.0.0.1', 'hooks.lan'] })
    assert.deepEqual((r.raw.alarm as Record<string, unknown>).callbackAllow, [
      '127.0.0.1',
      'hooks.lan',
    ])
    assert.ok(!r.ignored.includes('callbackAllow'))
    const configs = await resolveConfigs(r.raw, ['alarm'], dir)
    assert.deepEqual(configs.alarm?.callbackAllow, ['127.0.0.1', 'hooks.lan'])
  })

  it("takes alarm's password@host:port, skips empty gateways, names renamed user queues", async () => {
    const r = read({
      ...FALCON_ALARM,
      redis: { ...FALCON_ALARM.redis, addr: 's3cr@t@redis:6379', userIMQueue: '/q/im' },
      api: { ...FALCON_ALARM.api, sms: '', im: '' },
      worker: { mail: 5 },
      housekeeper: undefined,
      // falcon's struct tag; Go's JSON matches keys whatever their case.
      Housekeeper: { event_retention_days: 30, event_delete_batch: 500, extra: 1 },
    })
    assert.equal(r.raw.redis, 'redis://:s3cr%40t@redis:6379')
    const alarm = r.raw.alarm as Record<string, unknown>
    assert.deepEqual(alarm.channels, { mail: { gateway: 'http://127.0.0.1:10086/mail' } })
    assert.equal(alarm.workers, 5)
    assert.equal(alarm.retentionDays, 30)
    assert.equal(alarm.deleteBatch, 500)
    assert.ok(r.ignored.includes("redis.userIMQueue (Peregrine uses falcon's /queue/user/im)"))
    assert.ok(!r.ignored.some((k) => k.startsWith('redis.userSmsQueue')))
    assert.ok(r.ignored.includes('Housekeeper.extra'))
    const configs = await resolveConfigs(r.raw, ['alarm'], dir)
    assert.equal(configs.alarm?.retentionDays, 30)
    // No gateway at all: no channels.
    const none = read({ ...FALCON_ALARM, api: { dashboard: '' } })
    assert.equal((none.raw.alarm as Record<string, unknown>).channels, undefined)
    await assert.rejects(
      async () =>
        resolveConfigs(read({ ...FALCON_ALARM, worker: { im: '10' } }).raw, ['alarm'], dir),
      /alarm\.workers: expected a positive integer/
    )
  })
})

describe('resolveConfigs: redis, judge, alarm', () => {
  it('fills defaults from the top level and the data directory', async () => {
    const raw = {
      store: 'sqlite:/srv/portal.db',
      redis: 'redis://:pw@10.0.0.9:6379/2',
      judge: { rpc: '127.0.0.1:7080' },
      alarm: { http: '127.0.0.1:7912' },
    }
    const all = await resolveConfigs(raw, COMPONENTS, '/srv/data')
    assert.equal(all.redis, 'redis://:pw@10.0.0.9:6379/2')
    assert.equal(all.judge?.redis, raw.redis)
    assert.equal(all.alarm?.redis, raw.redis)
    assert.equal(all.judge?.spillDir, join('/srv/data', 'judge'))
    assert.equal(all.alarm?.spillDir, join('/srv/data', 'alarm'))
    assert.equal(all.alarm?.store, 'sqlite:/srv/portal.db')
    // Started together: transfer sends to the local judge, judge reads the local hbs (run-all).
    assert.equal(all.localJudge, true)
    assert.deepEqual(all.transfer?.judgeCluster, { 'judge-00': '127.0.0.1:7080' })
    assert.equal(all.judgeLocalHbs, true)

    // A section of its own wins.
    const own = await resolveConfigs(
      {
        ...raw,
        transfer: { judgeCluster: { 'judge-00': '10.0.0.1:6080' } },
        judge: { hbs: ['10.0.0.2:6030'], redis: '', spillDir: '/var/judge' },
        alarm: { store: 'sqlite:/srv/alarm.db' },
      },
      COMPONENTS,
      '/srv/data'
    )
    assert.equal(own.localJudge, false)
    assert.deepEqual(own.transfer?.judgeCluster, { 'judge-00': '10.0.0.1:6080' })
    assert.equal(own.judgeLocalHbs, false)
    assert.equal(own.judge?.redis, '')
    assert.equal(own.judge?.spillDir, '/var/judge')
    assert.equal(own.alarm?.store, 'sqlite:/srv/alarm.db')

    // No judge here: transfer sends to none. Judge and alarm alone: the data dir and queue defaults.
    const apart = await resolveConfigs({}, ['transfer'])
    assert.deepEqual(apart.transfer?.judgeCluster, {})
    assert.equal(apart.localJudge, false)
    const alone = await resolveConfigs({}, ['judge', 'alarm'])
    assert.equal(alone.redis, '')
    assert.equal(alone.judgeLocalHbs, false)
    assert.equal(alone.judge?.spillDir, join('./data', 'judge'))
    assert.equal(alone.alarm?.store, `sqlite:${join('./data', 'portal.db')}`)
  })

  it('names a bad redis once, as `redis`, its password hidden', async () => {
    for (const redis of ['s3cret@127.0.0.1:6379', 'http://127.0.0.1:6379', 'redis://', 6379]) {
      await assert.rejects(
        async () => resolveConfigs({ redis }, ['judge', 'alarm']),
        (err: Error) =>
          err.message.startsWith('redis: expected "" (in-process queue) or a URL') &&
          !err.message.includes('judge.redis') &&
          !err.message.includes('alarm.redis') &&
          !err.message.includes('s3cret'),
        String(redis)
      )
    }
    // Bad, though no component that uses it runs.
    await assert.rejects(
      async () => resolveConfigs({ redis: 'nope' }, ['graph']),
      /redis: expected/
    )
  })
})

describe('safe defaults', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('listens on loopback where only this host calls, on every address where agents and people do', async () => {
    const c = await resolveConfigs({}, COMPONENTS, dir)
    const listeners = {
      'graph.rpc': c.graph?.rpc,
      'graph.http': c.graph?.http,
      'judge.rpc': c.judge?.rpc,
      'judge.http': c.judge?.http,
      'hbs.http': c.hbs?.http,
      'alarm.http': c.alarm?.http,
      'agent.http.listen': c.agent?.http.listen,
      'transfer.rpc': c.transfer?.rpc,
      'transfer.http': c.transfer?.http,
      'transfer.socket': c.transfer?.socket,
      'hbs.rpc': c.hbs?.rpc,
      'api.http': c.api?.http,
    }
    assert.deepEqual(listeners, {
      'graph.rpc': '127.0.0.1:6070',
      'graph.http': '127.0.0.1:6071',
      'judge.rpc': '127.0.0.1:6080',
      'judge.http': '127.0.0.1:6081',
      'hbs.http': '127.0.0.1:6031',
      'alarm.http': '127.0.0.1:9912',
      'agent.http.listen': '127.0.0.1:1988',
      'transfer.rpc': '0.0.0.0:8433',
      'transfer.http': '0.0.0.0:6060',
      'transfer.socket': '0.0.0.0:4444',
      'hbs.rpc': '0.0.0.0:6030',
      'api.http': '0.0.0.0:8080',
    })
  })

  it('lets a cluster operator open graph: graph.rpc, or a falcon graph cfg.json’s own address', async () => {
    const own = await resolveConfigs({ graph: { rpc: '0.0.0.0:6070' } }, ['graph'], dir)
    assert.equal(own.graph?.rpc, '0.0.0.0:6070')
    const file = join(dir, 'graph-cfg.json')
    // modules/graph/cfg.example.json at v0.3.
    writeFileSync(
      file,
      JSON.stringify({
        debug: false,
        http: { enabled: true, listen: '0.0.0.0:6071' },
        rpc: { enabled: true, listen: '0.0.0.0:6070' },
        rrd: { storage: join(dir, 'graph') },
        db: { dsn: 'root:@tcp(127.0.0.1:3306)/graph?loc=Local&parseTime=true', maxIdle: 4 },
        callTimeout: 5000,
        migrate: { enabled: false, concurrency: 2, replicas: 500, cluster: {} },
      })
    )
    const falcon = await resolveConfigs(readConfigFile(file).raw, ['graph'], dir)
    assert.equal(falcon.graph?.rpc, '0.0.0.0:6070')
    assert.equal(falcon.graph?.http, '0.0.0.0:6071')
  })

  it('keeps sign-up off unless the configuration turns it on; a falcon api cfg.json keeps its own', async () => {
    const api = async (raw: Record<string, unknown>) =>
      (await resolveConfigs(raw, ['api'], dir)).api?.signupDisable
    assert.equal(await api({}), true)
    assert.equal(await api({ api: { signupDisable: false } }), false)
    const file = join(dir, 'api-cfg.json')
    const falcon = async (extra: Record<string, unknown>) => {
      writeFileSync(file, JSON.stringify({ web_port: ':8080', ...extra }))
      return api(readConfigFile(file).raw)
    }
    assert.equal(await falcon({ signup_disable: false }), false)
    assert.equal(await falcon({ signup_disable: true }), true)
    // Left out: Peregrine's default, not Go's zero value.
    assert.equal(await falcon({}), true)
  })
})

describe('resolveConfigs: one port per listener', () => {
  const f = async (sections: Record<string, unknown>, want: RegExp | null) => {
    const run = resolveConfigs(sections, ['graph', 'transfer', 'api'])
    if (want === null) await run
    else await assert.rejects(run, want)
  }
  it('refuses two listeners on one port when their addresses overlap', async () => {
    await f(
      { graph: { http: '127.0.0.1:7000' }, api: { http: '127.0.0.1:7000' } },
      /^Error: graph\.http \(127\.0\.0\.1:7000\) and api\.http \(127\.0\.0\.1:7000\) both listen on port 7000; give each a port of its own$/
    )
    // Every address takes the port on each of them.
    await f(
      { graph: { http: '10.1.2.3:7000' }, transfer: { socket: ':7000' } },
      /graph\.http \(10\.1\.2\.3:7000\) and transfer\.socket \(:7000\)/
    )
    await f({ graph: { http: 'localhost:7000' }, api: { http: '127.0.0.1:7000' } }, /api\.http/)
    // falcon-dashboard's port beside api's own.
    await f(
      { api: { http: '127.0.0.1:8080', dashboardHttp: '0.0.0.0:8080' } },
      /api\.http \(127\.0\.0\.1:8080\) and api\.dashboardHttp \(0\.0\.0\.0:8080\)/
    )
  })

  it('takes one port on two different addresses, port 0 twice, and a listener turned off', async () => {
    await f({ graph: { http: '127.0.0.1:7000' }, api: { http: '10.1.2.3:7000' } }, null)
    await f({ graph: { http: '127.0.0.1:0' }, api: { http: '127.0.0.1:0' } }, null)
    await f({ transfer: { socket: '' } }, null)
  })
})

describe('falcon nodata and aggregator cfg.json', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))
  const read = (cfg: Record<string, unknown>) => {
    const file = join(dir, 'cfg.json')
    writeFileSync(file, JSON.stringify(cfg))
    return readConfigFile(file)
  }

  // modules/nodata/cfg.example.json and modules/aggregator/cfg.example.json at v0.3.
  const FALCON_NODATA = {
    debug: true,
    http: { enabled: true, listen: '0.0.0.0:6090' },
    plus_api: {
      connectTimeout: 500,
      requestTimeout: 2000,
      addr: 'http://127.0.0.1:8080',
      token: 'default-token-used-in-server-side',
    },
    config: {
      enabled: true,
      dsn: 'root:@tcp(127.0.0.1:3306)/falcon_portal?loc=Local&parseTime=true&wait_timeout=604800',
      maxIdle: 4,
    },
    collector: { enabled: true, batch: 200, concurrent: 10 },
    sender: {
      enabled: true,
      connectTimeout: 500,
      requestTimeout: 2000,
      transferAddr: '127.0.0.1:6060',
      batch: 500,
    },
  }
  const FALCON_AGGREGATOR = {
    debug: true,
    http: { enabled: true, listen: '0.0.0.0:6055' },
    database: {
      addr: 'root:@tcp(127.0.0.1:3306)/falcon_portal?loc=Local&parseTime=true',
      idle: 10,
      ids: [1, -1],
      interval: 55,
    },
    api: {
      connect_timeout: 500,
      request_timeout: 2000,
      plus_api: 'http://127.0.0.1:8080',
      plus_api_token: 'default-token-used-in-server-side',
      push_api: 'http://127.0.0.1:1988/v1/push',
    },
  }

  it("maps nodata's cfg.json onto nodata and the store, pushing to transfer's /api/push", async () => {
    const r = read(FALCON_NODATA)
    assert.deepEqual(r.raw, {
      store: 'mysql://root@127.0.0.1:3306/falcon_portal',
      nodata: {
        http: '0.0.0.0:6090',
        transfer: ['http://127.0.0.1:6060/api/push'],
        batch: 500,
      },
    })
    assert.deepEqual(r.ignored, [
      'debug',
      'plus_api (nodata reads last points from graph: nodata.graphCluster)',
      'collector (nodata reads each series when its timeout can have passed)',
      'sender.enabled',
      'sender.connectTimeout',
      'sender.requestTimeout',
      'config.enabled',
      'config.maxIdle',
    ])
    const configs = await resolveConfigs(r.raw, ['nodata'], dir)
    assert.equal(configs.nodata?.store, 'mysql://root@127.0.0.1:3306/falcon_portal')
    assert.deepEqual(configs.nodata?.transfer, ['http://127.0.0.1:6060/api/push'])
    assert.equal(configs.nodata?.timeoutFloor, 180)
  })

  it("maps aggregator's cfg.json onto aggregator and the store, pushing to its push_api", async () => {
    const r = read(FALCON_AGGREGATOR)
    assert.deepEqual(r.raw, {
      store: 'mysql://root@127.0.0.1:3306/falcon_portal',
      aggregator: {
        http: '0.0.0.0:6055',
        ids: [1, -1],
        transfer: ['http://127.0.0.1:1988/v1/push'],
      },
    })
    assert.deepEqual(r.ignored, [
      'debug',
      'database.idle',
      'database.interval (rules are reread when they change)',
      'api.connect_timeout',
      'api.request_timeout',
      'api.plus_api (aggregator reads groups from the store and points from graph)',
      'api.plus_api_token',
    ])
    const configs = await resolveConfigs(r.raw, ['aggregator'], dir)
    assert.deepEqual(configs.aggregator?.ids, [1, -1])
  })

  it('names a wrong type in a falcon cfg.json rather than using the default', async () => {
    const bad = async (cfg: Record<string, unknown>, components: string[], re: RegExp) =>
      assert.rejects(resolveConfigs(read(cfg).raw, components as never, dir), re)
    await bad(
      { ...FALCON_NODATA, http: { enabled: true, listen: 25090 } },
      ['nodata'],
      /nodata\.http: expected "host:port", got 25090/
    )
    await bad(
      { ...FALCON_NODATA, sender: { transferAddr: 5 } },
      ['nodata'],
      /nodata\.transfer: expected a list of transfer addresses/
    )
    await bad(
      { ...FALCON_AGGREGATOR, api: { push_api: 5 } },
      ['aggregator'],
      /aggregator\.transfer: expected a list/
    )
    await bad(
      { rpc: { enabled: true, listen: 25433 }, transfer: { cluster: { t1: '127.0.0.1:8433' } } },
      ['gateway'],
      /gateway\.rpc: expected "host:port", got 25433/
    )
    await bad({ transfer: { cluster: '127.0.0.1:8433' } }, ['gateway'], /gateway\.clusters/)
    await bad({ transfer: { cluster: {} } }, ['gateway'], /gateway\.clusters/)
  })

  it('names a section that is not a map of settings', async () => {
    await assert.rejects(
      resolveConfigs({ nodata: null, gateway: [] }, ['nodata', 'gateway'], dir),
      (err: Error) => {
        assert.match(err.message, /nodata: expected a section of settings \(a map\), got null/)
        assert.match(err.message, /gateway: expected a section of settings \(a map\), got \[\]/)
        return true
      }
    )
  })

  it('refuses unknown and bad nodata and aggregator settings, each named', async () => {
    await assert.rejects(
      resolveConfigs(
        {
          nodata: { graphCluser: {}, transfer: ['no port'], timeoutSteps: 0 },
          aggregator: { ids: [1], transfer: [] },
        },
        ['nodata', 'aggregator'],
        dir
      ),
      (err: Error) => {
        assert.match(err.message, /nodata\.graphCluser: not a setting of nodata/)
        assert.match(err.message, /nodata\.transfer: expected a list of transfer addresses/)
        assert.match(err.message, /nodata\.timeoutSteps: expected an integer from 1 to 100/)
        assert.match(err.message, /aggregator\.ids: expected \[min, max\]/)
        assert.match(err.message, /aggregator\.transfer: expected a list/)
        return true
      }
    )
  })

  it('reads the graph and pushes to the transfer started beside them, unless told otherwise', async () => {
    const all = await resolveConfigs({}, ['graph', 'transfer', 'nodata', 'aggregator'], dir)
    assert.deepEqual(all.nodataLocal, { graph: true, transfer: true })
    assert.deepEqual(all.nodata?.transfer, ['127.0.0.1:8433'])
    const own = await resolveConfigs(
      { nodata: { graphCluster: { g: '10.0.0.1:6070' }, transfer: ['10.0.0.2:8433'] } },
      ['graph', 'transfer', 'nodata'],
      dir
    )
    assert.deepEqual(own.nodataLocal, { graph: false, transfer: false })
    assert.deepEqual(own.nodata?.graphCluster, { g: '10.0.0.1:6070' })
  })

  it("reads a replicated cluster with transfer's replication, unless a section gives its own", async () => {
    const graphCluster = { g0: '10.0.0.1:6070', g1: '10.0.0.2:6070', g2: '10.0.0.3:6070' }
    const all = await resolveConfigs(
      {
        transfer: { graphCluster, replication: 2 },
        api: { graphCluster },
        nodata: { graphCluster, replication: 3, transfer: ['10.0.0.9:8433'] },
        aggregator: { graphCluster: { g0: '10.0.0.1:6070' }, transfer: ['10.0.0.9:8433'] },
      },
      ['transfer', 'api', 'nodata', 'aggregator'],
      dir
    )
    assert.equal(all.transfer?.replication, 2)
    assert.equal(all.api?.replication, 2)
    assert.equal(all.nodata?.replication, 3)
    // Another cluster: its own default.
    assert.equal(all.aggregator?.replication, 1)
    await assert.rejects(
      resolveConfigs({ transfer: { graphCluster, replication: 4 } }, ['transfer'], dir),
      /transfer\.replication: expected an integer from 1 to 3/
    )
  })
})

describe('gateway configuration', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it("maps falcon gateway's cfg.json and names the keys it does not use", async () => {
    const file = join(dir, 'gateway-cfg.json')
    // modules/gateway/cfg.example.json at v0.3, with a second transfer.
    writeFileSync(
      file,
      JSON.stringify({
        debug: true,
        http: { enabled: true, listen: '0.0.0.0:16060' },
        rpc: { enabled: true, listen: '0.0.0.0:18433' },
        socket: { enabled: true, listen: '0.0.0.0:14444', timeout: 3600 },
        transfer: {
          enabled: true,
          batch: 200,
          retry: 1,
          connTimeout: 1000,
          callTimeout: 5000,
          maxConns: 32,
          maxIdle: 32,
          cluster: { t1: '10.0.0.1:8433', t2: '10.0.0.2:8433' },
        },
      })
    )
    const read = readConfigFile(file)
    assert.deepEqual(read.ignored, [
      'debug',
      'socket.timeout (gateway.idleTimeout applies to every listener)',
      'transfer.retry (the gateway retries until the cluster answers, from disk)',
      'transfer.maxConns (gateway.callsInFlight bounds the calls to a cluster)',
      'transfer.maxIdle',
    ])
    // Started with no component named, a file with a gateway section runs the gateway too.
    assert.ok(defaultComponents(read.raw).includes('gateway'))
    assert.ok(!defaultComponents({}).includes('gateway'))
    const c = await resolveConfigs(read.raw, ['gateway'], dir)
    assert.equal(c.gateway?.rpc, '0.0.0.0:18433')
    assert.equal(c.gateway?.http, '0.0.0.0:16060')
    assert.equal(c.gateway?.socket, '0.0.0.0:14444')
    assert.deepEqual(c.gateway?.clusters, { transfer: ['10.0.0.1:8433', '10.0.0.2:8433'] })
    assert.equal(c.gateway?.batch, 200)
    assert.equal(c.gateway?.connectTimeout, 1000)
    assert.equal(c.gateway?.dataDir, join(dir, 'gateway'))
  })

  it('refuses a gateway listener on a port another component takes, and unknown keys by path', async () => {
    await assert.rejects(
      resolveConfigs({ gateway: { http: '0.0.0.0:6060' } }, ['transfer', 'gateway']),
      /transfer\.http \(0\.0\.0\.0:6060\) and gateway\.http \(0\.0\.0\.0:6060\) both listen on port 6060/
    )
    await assert.rejects(
      resolveConfigs({ gateway: { cluster: { a: 'h:1' } } }, ['gateway']),
      /gateway\.cluster: not a gateway setting/
    )
    // Together with the all-in-one at their defaults, falcon's packaged gateway ports are free.
    await resolveConfigs({ gateway: {} }, COMPONENTS, dir)
  })
})

describe('storage: remote', () => {
  const remote = {
    storage: 'remote',
    remoteStorage: { writeUrl: 'http://vm:8428/api/v1/write', readUrl: 'http://vm:8428' },
  }

  it('runs no graph, and points transfer, api, nodata and aggregator at the store', async () => {
    const names = defaultComponents(remote)
    assert.equal(names.includes('graph'), false)
    const configs = await resolveConfigs(remote, names, '/var/lib/pg')
    assert.equal(configs.remoteStorage?.queueDir, '/var/lib/pg/remote-queue')
    assert.equal(configs.remoteStorage?.writeUrl, 'http://vm:8428/api/v1/write')
    for (const c of [configs.transfer, configs.api, configs.nodata, configs.aggregator])
      assert.deepEqual(c?.graphCluster, { remote: 'remote-storage:1' })
  })

  it('names every contradiction and bad setting', async () => {
    await assert.rejects(
      resolveConfigs(
        {
          storage: 'remote',
          remoteStorage: { writeUrl: 'vm:8428', timeout: -1, bogus: 1 },
          transfer: { graphCluster: { g: '127.0.0.1:6070' } },
        },
        ['graph', 'transfer']
      ),
      (err: Error) => {
        for (const part of [
          /remoteStorage\.writeUrl: expected an http/,
          /remoteStorage\.readUrl: expected an http/,
          /remoteStorage\.timeout: expected an integer/,
          /remoteStorage\.bogus: not a setting/,
          /graph: storage is "remote"/,
          /transfer\.graphCluster: storage is "remote"/,
        ])
          assert.match(err.message, part)
        return true
      }
    )
    await assert.rejects(
      resolveConfigs({ storage: 'cloud' }, ['transfer']),
      /storage: expected "embedded"/
    )
    await assert.rejects(
      resolveConfigs({ remoteStorage: remote.remoteStorage }, ['transfer']),
      /remoteStorage: only read with storage: remote/
    )
  })
})
