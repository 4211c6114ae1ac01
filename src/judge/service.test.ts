// The judge service over real sockets on 127.0.0.1: Judge.Send over Go's jsonrpc, falcon's HTTP routes,
// rules pulled from a fake hbs (up, down, changed), events in the queue it is given (in memory, Redis).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import {
  type HostStrategies,
  JsonRpcClient,
  recordingLogger,
  RpcError,
  serveJsonRpc,
  waitUntil,
} from '../core/index.js'
import { dropKeys, memoryQueue, type Queue, redisQueue, testRedis } from '../queue/index.js'
import { type JudgeService, parseJudgeConfig, start } from './index.js'
import { expression, md5, point, strategy, T } from './testing.js'

// /history writes local time (Go's time.Unix(ts, 0).Format): pin the zone so the lines are known.
process.env.TZ = 'UTC'

const busy = strategy({ func: 'all(#2)', priority: 1 })
const qps = expression()

/** fakeHbs answers Hbs.GetStrategies and Hbs.GetExpressions with what `rules` holds at the time. */
async function fakeHbs(port = 0) {
  const rules = {
    hosts: [{ hostname: 'h1', strategies: [busy] }] as HostStrategies[],
    expressions: [qps],
    calls: 0,
  }
  const server = serveJsonRpc(
    new Map<string, (p: unknown) => unknown>([
      [
        'Hbs.GetStrategies',
        () => {
          rules.calls++
          return { hostStrategies: rules.hosts }
        },
      ],
      ['Hbs.GetExpressions', () => ({ expressions: rules.expressions })],
    ])
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  return {
    rules,
    port: bound,
    address: `127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAll()
      }),
  }
}

interface Harness {
  svc: JudgeService
  queue: Queue
  log: ReturnType<typeof recordingLogger>
  clock: { ms: number }
  get(path: string): Promise<{ status: number; type: string; body: string }>
  stop(): Promise<void>
}

const stateDirs: string[] = []
after(() => {
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true })
})

/** stateDir is a new directory for a judge's state, removed after the tests. */
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peregrine-judge-state-'))
  stateDirs.push(d)
  return d
}

/**
 * judge starts a judge on 127.0.0.1:0 reading rules from `hbs`, with a memory queue unless given, and
 * its state in a new directory unless `raw.spillDir` names one.
 */
async function judge(
  hbs: string,
  raw: Record<string, unknown> = {},
  queue: Queue = memoryQueue()
): Promise<Harness> {
  const log = recordingLogger()
  const clock = { ms: (T + 1000) * 1000 }
  const config = parseJudgeConfig({
    rpc: '127.0.0.1:0',
    http: '127.0.0.1:0',
    hbs: [hbs],
    hbsInterval: 60_000,
    hbsTimeout: 2_000,
    spillDir: stateDir(),
    ...raw,
  })
  const svc = await start(config, { log, now: () => clock.ms }, { queue })
  return {
    svc,
    queue,
    log,
    clock,
    async get(path) {
      const res = await fetch(`http://${svc.addresses.http}${path}`)
      return {
        status: res.status,
        type: res.headers.get('content-type') ?? '',
        body: await res.text(),
      }
    },
    async stop() {
      await svc.stop()
      await queue.close()
    },
  }
}

/** theEvent is falcon's event JSON for strategy `busy` on h1 (no tags). */
const busyEvent = (status: string, leftValue: number, eventTime: number) =>
  `{"id":"s_3_${md5('h1/cpu.busy')}","strategy":${JSON.stringify(busy)},"expression":null,` +
  `"status":"${status}","endpoint":"h1","leftValue":${leftValue},"currentStep":1,` +
  `"eventTime":${eventTime},"pushedTags":{}}`

const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length

describe('judge service', () => {
  it('judges Judge.Send over TCP and queues PROBLEM, then OK, to event:p<priority>', async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address)
    const client = new JsonRpcClient(j.svc.addresses.rpc)
    try {
      assert.deepEqual(await client.call('Judge.Ping', {}), { code: 0 })
      assert.deepEqual(await client.call('Judge.Send', [point(T + 60, 95), point(T + 120, 96)]), {
        code: 0,
      })
      assert.deepEqual(await j.queue.pop(['event:p0', 'event:p1'], 2000), {
        list: 'event:p1',
        payload: busyEvent('PROBLEM', 96, T + 120),
      })
      await client.call('Judge.Send', [point(T + 180, 97)]) // within minInterval: nothing
      await client.call('Judge.Send', [point(T + 240, 10)])
      assert.deepEqual(await j.queue.pop(['event:p0', 'event:p1'], 2000), {
        list: 'event:p1',
        payload: busyEvent('OK', 10, T + 240),
      })
      // An expression, through the same call.
      await client.call('Judge.Send', [
        point(T + 60, 150, { metric: 'qps', tags: { project: 'x' } }),
      ])
      const e = await j.queue.pop(['event:p0', 'event:p1'], 2000)
      assert.equal(e?.list, 'event:p0')
      assert.equal(JSON.parse(e.payload).id, `e_9_${md5('h1/qps/project=x')}`)
      assert.equal(await j.queue.length('event:p1'), 0)
      assert.equal(j.svc.engine.counters.events, 3)
    } finally {
      client.close()
      await j.stop()
      await hbs.close()
    }
  })

  it("answers falcon's HTTP routes", async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address, { remain: 3 })
    try {
      // remain 3: falcon's /history shows HistoryData(remain-1), the newest 2 values.
      j.svc.engine.send(
        [
          point(T, 7),
          point(T + 60, 0.5),
          point(T + 120, 1234567),
          point(T + 180, 0.00001),
          point(T + 60, 100, { metric: 'qps', tags: { project: 'x', idc: 'bj' } }),
          point(T + 120, 130, { metric: 'qps', tags: { project: 'x', idc: 'bj' } }),
          point(T + 180, 250, {
            metric: 'qps',
            tags: { project: 'x', idc: 'bj' },
            judgeType: 'COUNTER',
          }),
          point(T, 1, { metric: 'mem.used' }), // no rule names it: not kept
        ],
        T + 200
      )
      const health = await j.get('/health')
      assert.deepEqual([health.status, health.body], [200, 'ok'])
      assert.match(health.type, /^text\/plain/)
      assert.equal((await j.get('/count')).body, 'total: 2\n')

      const strategies = await j.get('/strategy/h1/cpu.busy')
      assert.match(strategies.type, /^application\/json/)
      assert.deepEqual(JSON.parse(strategies.body), { msg: 'success', data: [busy] })
      assert.deepEqual(JSON.parse((await j.get('/strategy/h9/cpu.busy')).body), {
        msg: 'success',
        data: null,
      })
      assert.deepEqual(JSON.parse((await j.get('/expression/qps/project=x')).body), {
        msg: 'success',
        data: [qps],
      })
      assert.deepEqual(JSON.parse((await j.get('/expression/qps/project=y')).body), {
        msg: 'success',
        data: null,
      })

      // `<ts> <time> <Go %v of the value>`, newest first.
      const history = await j.get('/history/h1/cpu.busy')
      assert.match(history.type, /^text\/plain/)
      assert.equal(
        history.body,
        `${T + 180} 2019-05-30 07:09:40 1e-05\n${T + 120} 2019-05-30 07:08:40 1.234567e+06\n`
      )
      // A counter's are rates; the tags in any order.
      assert.equal(
        (await j.get('/history/h1/qps/project=x,idc=bj')).body,
        `${T + 180} 2019-05-30 07:09:40 2\n${T + 120} 2019-05-30 07:08:40 0.5\n`
      )
      assert.equal((await j.get('/history/h1/qps')).body, 'not found\n')
      assert.equal((await j.get('/history/h1/mem.used')).body, 'not found\n')

      const counters = JSON.parse((await j.get('/counter/all')).body)
      assert.equal(counters.msg, 'success')
      assert.deepEqual(
        {
          received: counters.data.received,
          filtered: counters.data.filtered,
          series: counters.data.series,
          strategies: counters.data.strategies,
          expressions: counters.data.expressions,
          rulesFetched: counters.data.rulesFetched,
        },
        { received: 8, filtered: 1, series: 2, strategies: 1, expressions: 1, rulesFetched: 1 }
      )

      const calls = hbs.rules.calls
      assert.deepEqual(JSON.parse((await j.get('/config/reload')).body), {
        msg: 'success',
        data: 'rules fetched from hbs',
      })
      assert.equal(hbs.rules.calls, calls + 1)
      await hbs.close()
      const down = await j.get('/config/reload')
      assert.equal(down.status, 503)
      assert.match(JSON.parse(down.body).msg, /no hbs answered/)
    } finally {
      await j.stop()
      await hbs.close()
    }
  })

  it('starts with no rules while hbs is down, warns once, and takes them at a later sync', async () => {
    // A port nothing listens on, that the fake hbs can take later.
    const probe = await fakeHbs()
    const port = probe.port
    await probe.close()
    const j = await judge(`127.0.0.1:${port}`, { hbsInterval: 50 })
    let hbs: Awaited<ReturnType<typeof fakeHbs>> | undefined
    try {
      assert.equal(j.svc.engine.rules.strategyCount, 0)
      await assert.rejects(j.svc.syncRules(), /no hbs answered/)
      await waitUntil(
        async () => JSON.parse((await j.get('/counter/all')).body).data.rulesFetchFailures >= 4,
        'a few failed syncs'
      )
      const warnings = j.log.lines.filter((l) => l.startsWith('warn'))
      assert.equal(warnings.length, 1, warnings.join('\n'))
      assert.match(warnings[0], /^warn judge: cannot fetch rules from hbs \(127\.0\.0\.1:\d+: /)
      j.svc.engine.send([point(T + 60, 95), point(T + 120, 95)], T + 120)
      assert.equal(j.svc.engine.counters.filtered, 2) // no rules yet: nothing kept

      hbs = await fakeHbs(port)
      await waitUntil(() => j.svc.engine.rules.strategyCount === 1, 'the rules from hbs')
      assert.ok(j.log.lines.includes(`info judge: rules fetched from hbs 127.0.0.1:${port} again`))
      j.svc.engine.send([point(T + 180, 95), point(T + 240, 95)], T + 240)
      assert.equal(
        (await j.queue.pop(['event:p1'], 2000))?.payload,
        busyEvent('PROBLEM', 95, T + 240)
      )
    } finally {
      await j.stop()
      await hbs?.close()
    }
  })

  it("applies hbs's changed rules at the next sync", async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address)
    try {
      const send = (t: number, v: number) => j.svc.engine.send([point(T + t, v)], T + t)
      send(60, 95)
      send(120, 95)
      assert.equal(
        (await j.queue.pop(['event:p1'], 1000))?.payload,
        busyEvent('PROBLEM', 95, T + 120)
      )
      // The threshold is raised past the values, and a second strategy appears.
      const raised = { ...busy, rightValue: 99 }
      const low = { ...busy, id: 4, func: 'all(#1)', operator: '<', rightValue: 50, priority: 3 }
      hbs.rules.hosts = [{ hostname: 'h1', strategies: [raised, low] }]
      hbs.rules.expressions = []
      await j.svc.syncRules()
      assert.deepEqual(JSON.parse((await j.get('/strategy/h1/cpu.busy')).body).data, [raised, low])
      assert.equal(j.svc.engine.rules.expressionCount, 0)
      send(180, 95)
      // s_3 kept its PROBLEM across the reload, so it is OK now, carrying the new definition.
      const ok = await j.queue.pop(['event:p1'], 1000)
      assert.deepEqual(JSON.parse(ok?.payload ?? 'null'), {
        id: `s_3_${md5('h1/cpu.busy')}`,
        strategy: raised,
        expression: null,
        status: 'OK',
        endpoint: 'h1',
        leftValue: 95,
        currentStep: 1,
        eventTime: T + 180,
        pushedTags: {},
      })
      send(240, 10)
      const problem = await j.queue.pop(['event:p3'], 1000)
      assert.equal(JSON.parse(problem?.payload ?? 'null')?.id, `s_4_${md5('h1/cpu.busy')}`)
    } finally {
      await j.stop()
      await hbs.close()
    }
  })

  it('fetches the rules again every hbsInterval', async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address, { hbsInterval: 30 })
    try {
      assert.equal(j.svc.engine.rules.strategyCount, 1)
      hbs.rules.hosts = []
      await waitUntil(() => j.svc.engine.rules.strategyCount === 0, 'the strategy to be dropped')
      hbs.rules.hosts = [{ hostname: 'h2', strategies: [busy, { ...busy, id: 4 }] }]
      await waitUntil(() => j.svc.engine.rules.strategyCount === 2, 'the new strategies')
      assert.deepEqual(JSON.parse((await j.get('/strategy/h2/cpu.busy')).body).data, [
        busy,
        { ...busy, id: 4 },
      ])
    } finally {
      await j.stop()
      await hbs.close()
    }
  })

  it('answers local calls in process', async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address)
    const local = j.svc.local
    assert.ok(local)
    try {
      assert.deepEqual(await local.call('Judge.Send', [point(T + 60, 95), point(T + 120, 95)]), {
        code: 0,
      })
      assert.equal(
        (await j.queue.pop(['event:p1'], 1000))?.payload,
        busyEvent('PROBLEM', 95, T + 120)
      )
      assert.deepEqual(await local.call('Judge.Ping', null), { code: 0 })
      await assert.rejects(local.call('Judge.Send', { items: [] }), (err: Error) => {
        assert.ok(err instanceof RpcError)
        assert.equal(err.message, 'Judge.Send: expected an array of JudgeItem')
        return true
      })
      await assert.rejects(local.call('Judge.Nope', []), /rpc: can't find method Judge.Nope/)
    } finally {
      await j.stop()
      await hbs.close()
    }
    await assert.rejects(local.call('Judge.Send', []), /judge is stopped/)
  })

  it('answers a bad Judge.Send with an RPC error and keeps serving', async () => {
    const hbs = await fakeHbs()
    const j = await judge(hbs.address)
    const client = new JsonRpcClient(j.svc.addresses.rpc)
    try {
      for (const param of [{ endpoint: 'h1' }, 'items', 42, null]) {
        await assert.rejects(
          client.call('Judge.Send', param),
          (err: Error) =>
            err instanceof RpcError && err.message === 'Judge.Send: expected an array of JudgeItem'
        )
      }
      // Malformed items are refused one by one, logged, and the call succeeds.
      assert.deepEqual(
        await client.call('Judge.Send', [
          { endpoint: 'h1' },
          point(T + 60, 95),
          point(T + 120, 95),
        ]),
        { code: 0 }
      )
      assert.deepEqual(
        j.log.lines.filter((l) => l.includes('refused')),
        ['warn judge: Judge.Send refused item 0: metric: expected a non-empty string']
      )
      assert.equal(j.svc.engine.counters.invalid, 1)
      assert.equal(
        (await j.queue.pop(['event:p1'], 1000))?.payload,
        busyEvent('PROBLEM', 95, T + 120)
      )
      assert.deepEqual(await client.call('Judge.Ping', {}), { code: 0 })
    } finally {
      client.close()
      await j.stop()
      await hbs.close()
    }
  })

  it('restarted in the middle of a PROBLEM: no second PROBLEM, its points kept, the OK comes', async () => {
    const hbs = await fakeHbs()
    const dir = stateDir()
    const first = await judge(hbs.address, { spillDir: dir })
    const client = new JsonRpcClient(first.svc.addresses.rpc)
    try {
      await client.call('Judge.Send', [point(T + 60, 95), point(T + 120, 96)])
      assert.equal(
        (await first.queue.pop(['event:p1'], 2000))?.payload,
        busyEvent('PROBLEM', 96, T + 120)
      )
    } finally {
      client.close()
      await first.stop()
    }
    const second = await judge(hbs.address, { spillDir: dir })
    try {
      assert.deepEqual(second.log.lines, [
        `info judge: restored 1 series and 1 last events from ${dir}`,
      ])
      assert.equal(
        (await second.get('/history/h1/cpu.busy')).body.split('\n')[0].split(' ')[0],
        String(T + 120)
      )
      const client2 = new JsonRpcClient(second.svc.addresses.rpc)
      try {
        // Triggered again, within minInterval of the PROBLEM it restored: nothing; then the OK.
        await client2.call('Judge.Send', [point(T + 180, 97)])
        await client2.call('Judge.Send', [point(T + 240, 10)])
        assert.equal(
          (await second.queue.pop(['event:p1'], 2000))?.payload,
          busyEvent('OK', 10, T + 240)
        )
        const counters = async () =>
          (
            JSON.parse((await second.get('/counter/all')).body) as {
              data: { events: number; state: { snapshots: number } }
            }
          ).data
        assert.equal((await counters()).events, 1)
        // What was restored is written as one snapshot at once, so restarts pile up no logs.
        await waitUntil(
          async () => (await counters()).state.snapshots >= 1,
          'the snapshot of the restored state'
        )
      } finally {
        client2.close()
      }
    } finally {
      await second.stop()
      await hbs.close()
    }
  })

  it('keeps no state with snapshotInterval 0', async () => {
    const hbs = await fakeHbs()
    const dir = stateDir()
    const j = await judge(hbs.address, { spillDir: dir, snapshotInterval: 0 })
    try {
      await j.svc.local?.call('Judge.Send', [point(T + 60, 95), point(T + 120, 96)])
      assert.ok((await j.queue.pop(['event:p1'], 2000)) !== undefined)
    } finally {
      await j.stop()
      await hbs.close()
    }
    assert.deepEqual(readdirSync(dir), [])
  })

  it('stop() closes its listeners, connections, hbs clients, timers and own queue', async () => {
    const before = tcpHandles()
    const hbs = await fakeHbs()
    const log = recordingLogger()
    const svc = await start(
      parseJudgeConfig({
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        hbs: [hbs.address],
        hbsInterval: 20,
        spillDir: stateDir(),
      }),
      { log, now: () => (T + 1000) * 1000 }
    )
    const client = new JsonRpcClient(svc.addresses.rpc)
    try {
      assert.deepEqual(await client.call('Judge.Send', [point(T + 60, 95), point(T + 120, 95)]), {
        code: 0,
      })
      assert.equal(
        (await svc.queue.pop(['event:p1'], 1000))?.payload,
        busyEvent('PROBLEM', 95, T + 120)
      )
      assert.equal((await fetch(`http://${svc.addresses.http}/health`)).status, 200)
      const fetched = hbs.rules.calls
      await waitUntil(() => hbs.rules.calls > fetched + 2, 'rules fetched on the timer')
      await svc.stop()
      // Its own queue (memory: no Redis configured) is closed with it.
      await assert.rejects(svc.queue.push('event:p1', 'x'), /after close/)
      // The open client connection was ended by the judge, and nothing listens any more.
      await assert.rejects(client.call('Judge.Ping', {}), /ECONNREFUSED|closed/)
      await new Promise<void>((resolve, reject) => {
        const s = connect(Number(svc.addresses.http.split(':')[1]), '127.0.0.1')
        s.on('connect', () => reject(new Error('HTTP still listening')))
        s.on('error', () => resolve())
      })
      const calls = hbs.rules.calls
      client.close()
      // The judge's connection to hbs is closed too: only the fake hbs's listener is left.
      await waitUntil(() => tcpHandles() <= before + 1, "the judge's sockets to be closed")
      await hbs.close()
      await waitUntil(() => tcpHandles() <= before, 'every socket to be closed')
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(hbs.rules.calls, calls, 'no sync after stop')
      assert.deepEqual(log.lines, [])
    } finally {
      // On a failure: nothing left to keep the test process alive.
      client.close()
      await svc.stop()
      await hbs.close()
    }
  })
})

const { url: REDIS_URL, skip: skipRedis } = await testRedis()

describe('judge service with Redis', { skip: skipRedis }, () => {
  const prefix = `peregrine-test-${randomUUID()}:`
  const dirs: string[] = []
  after(async () => {
    await dropKeys(REDIS_URL, prefix)
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("LPUSHes falcon's event JSON to event:p<priority>", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-judge-'))
    dirs.push(dir)
    const queue = redisQueue({
      url: REDIS_URL,
      spillDir: dir,
      log: recordingLogger(),
      keyPrefix: prefix,
    })
    const raw = new Redis(REDIS_URL, { keyPrefix: prefix }).on('error', () => undefined)
    const hbs = await fakeHbs()
    const j = await judge(hbs.address, {}, queue)
    const client = new JsonRpcClient(j.svc.addresses.rpc)
    try {
      await client.call('Judge.Send', [point(T + 60, 95), point(T + 120, 96)])
      await waitUntil(async () => (await raw.llen('event:p1')) === 1, 'the event in Redis')
      assert.equal(await raw.rpop('event:p1'), busyEvent('PROBLEM', 96, T + 120))
      await client.call('Judge.Send', [point(T + 180, 10)])
      await waitUntil(async () => (await raw.llen('event:p1')) === 1, 'the OK in Redis')
      assert.equal(await raw.rpop('event:p1'), busyEvent('OK', 10, T + 180))
      assert.equal(queue.stats().backlog, 0)
    } finally {
      client.close()
      await j.stop()
      raw.disconnect()
      await hbs.close()
    }
  })
})
