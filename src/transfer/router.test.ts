import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo, Server } from 'node:net'
import {
  type CounterType,
  type Deps,
  type GraphColumns,
  type PointColumns,
  type PushSeries,
  HashRing,
  type JudgeItem,
  type MetricValue,
  type RpcCaller,
  recordingLogger,
  serveJsonRpc,
  silentLogger,
  waitUntil,
} from '../core/index.js'
import { parseTransferConfig } from './config.js'
import { start } from './index.js'
import { MAX_PLACEMENTS, Router } from './router.js'

const mv = (endpoint: string, metric: string, extra: Partial<MetricValue> = {}): MetricValue => ({
  endpoint,
  metric,
  value: 1,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp: 1_700_000_017,
  ...extra,
})

type Mode = 'up' | 'down' | 'hang'

/** fakeCluster answers Graph.Send and Judge.Send in-process, per address: up, down (refused) or hung. */
function fakeCluster() {
  const received = new Map<string, unknown[][]>()
  const modes = new Map<string, Mode>()
  const dial = (address: string): RpcCaller => ({
    call<T>(method: string, param: unknown): Promise<T> {
      const mode = modes.get(address) ?? 'up'
      if (mode === 'down') return Promise.reject(new Error(`${address}: connect ECONNREFUSED`))
      if (mode === 'hang') return new Promise<T>(() => undefined)
      const calls = received.get(`${method} ${address}`) ?? []
      calls.push(param as unknown[])
      received.set(`${method} ${address}`, calls)
      return Promise.resolve({ code: 0 } as T)
    },
    close: () => undefined,
  })
  const items = <T>(method: string, address: string): T[] =>
    (received.get(`${method} ${address}`) ?? []).flat() as T[]
  return { dial, modes, items }
}

const depsOf = (dial: Deps['dial'], log = silentLogger): Deps => ({
  log,
  now: () => Date.now(),
  dial,
})

// Two judges, so the ring has a choice to make; the addresses only name the fake judges.
const judgeCluster = { 'judge-00': 'judge-a:6080', 'judge-01': 'judge-b:6080' }

describe('Router to judge', () => {
  it("sends JudgeItems with the original counter type, graph's aligned timestamp and the tags map", async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster: { 'graph-00': 'graph-a:6070' }, judgeCluster }),
      depsOf(fake.dial)
    )
    await router.route([
      mv('host1', 'cpu.idle', { value: 97.5 }),
      mv('host1', 'net.if.in.bytes', {
        counterType: 'COUNTER',
        step: 15,
        tags: 'iface=eth0',
        value: 1234,
      }),
      mv('docker-a', 'df.bytes.free', { counterType: 'DERIVE', tags: 'mount=/, fstype=ext4' }),
    ])
    await waitUntil(
      () =>
        fake.items('Judge.Send', 'judge-a:6080').length +
          fake.items('Judge.Send', 'judge-b:6080').length ===
        3,
      'the judge items'
    )
    const item = (
      endpoint: string,
      metric: string,
      value: number,
      timestamp: number,
      judgeType: CounterType,
      tags: Record<string, string>
    ): JudgeItem => ({ endpoint, metric, value, timestamp, judgeType, tags })
    // Falcon v0.3's own ring puts host1/cpu.idle and host1/net.if.in.bytes/iface=eth0 on judge-00 and
    // docker-a/df.bytes.free/fstype=ext4,mount=/ on judge-01 (golden values in core/hash-ring.test.ts).
    // 1_700_000_017 aligned: to 60 s → …980, to minStep 30 s (step 15 raised) → …010.
    assert.deepEqual(
      fake
        .items<JudgeItem>('Judge.Send', 'judge-a:6080')
        .map((j) => ({ ...j, tags: { ...j.tags } })),
      [
        item('host1', 'cpu.idle', 97.5, 1_699_999_980, 'GAUGE', {}),
        item('host1', 'net.if.in.bytes', 1234, 1_700_000_010, 'COUNTER', { iface: 'eth0' }),
      ]
    )
    assert.deepEqual(
      fake
        .items<JudgeItem>('Judge.Send', 'judge-b:6080')
        .map((j) => ({ ...j, tags: { ...j.tags } })),
      [
        item('docker-a', 'df.bytes.free', 1, 1_699_999_980, 'DERIVE', {
          fstype: 'ext4',
          mount: '/',
        }),
      ]
    )
    // Graph still gets its own conversion of the same points.
    const graph = fake.items<{ dstype: string; timestamp: number }>('Graph.Send', 'graph-a:6070')
    assert.deepEqual(
      graph.map((g) => [g.dstype, g.timestamp]),
      [
        ['GAUGE', 1_699_999_980],
        ['DERIVE', 1_700_000_010],
        ['DERIVE', 1_699_999_980],
      ]
    )
    assert.equal(router.judgeCounters.sent, 3)
    assert.equal(router.judgeCounters.buffered, 0)
    router.close()
  })

  it('sends nothing to judge with an empty judgeCluster', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster: { 'graph-00': 'graph-a:6070' } }),
      depsOf(fake.dial)
    )
    await router.route([mv('host1', 'cpu.idle')])
    assert.equal(fake.items('Graph.Send', 'graph-a:6070').length, 1)
    assert.deepEqual(router.judgeCounters, {
      sent: 0,
      sendCalls: 0,
      sendFailures: 0,
      retried: 0,
      buffered: 0,
      dropped: 0,
    })
    assert.deepEqual(router.bufferedByJudge(), {})
    router.close()
  })

  it('neither waits for a judge that never answers nor holds judge items behind graph', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({
        graphCluster: { 'graph-00': 'graph-a:6070' },
        judgeCluster: { 'judge-00': 'judge-a:6080' },
      }),
      depsOf(fake.dial)
    )
    fake.modes.set('judge-a:6080', 'hang')
    await router.route([mv('host1', 'cpu.idle')])
    fake.modes.set('judge-a:6080', 'up')
    fake.modes.set('graph-a:6070', 'hang')
    const pending = router.route([mv('host2', 'cpu.idle')])
    await waitUntil(
      () => fake.items('Judge.Send', 'judge-a:6080').length === 1,
      'the judge item of a push graph has not acknowledged'
    )
    assert.equal(fake.items('Graph.Send', 'graph-a:6070').length, 1)
    void pending.catch(() => undefined)
    router.close()
  })

  it('keeps at most judgeMaxBuffered items per judge while it is down, dropping the oldest', async () => {
    const fake = fakeCluster()
    const log = recordingLogger()
    const router = new Router(
      parseTransferConfig({
        graphCluster: { 'graph-00': 'graph-a:6070' },
        judgeCluster: { 'judge-00': 'judge-a:6080' },
        judgeMaxBuffered: 4,
      }),
      depsOf(fake.dial, log)
    )
    fake.modes.set('judge-a:6080', 'down')
    // Five pushes in one turn of the event loop: five batches of two queued before any call is made.
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        router.route([mv(`host${i}`, 'cpu.idle'), mv(`host${i}`, 'mem.used')])
      )
    )
    assert.equal(router.judgeCounters.dropped, 6)
    await waitUntil(() => router.judgeCounters.sendFailures >= 1, 'a failed Judge.Send')
    assert.equal(router.judgeCounters.buffered, 4)
    assert.deepEqual(router.bufferedByJudge(), { 'judge-a:6080': 4 })
    assert.ok(
      log.lines.some((l) => l.startsWith('warn transfer: judge judge-a:6080: ')),
      log.lines.join('\n')
    )
    // The graph side is untouched by the judge being down.
    assert.equal(router.counters.sent, 10)
    assert.equal(router.counters.dropped, 0)
    fake.modes.set('judge-a:6080', 'up')
    await waitUntil(() => router.judgeCounters.buffered === 0, 'the buffered judge items sent')
    assert.deepEqual(
      fake.items<JudgeItem>('Judge.Send', 'judge-a:6080').map((j) => `${j.endpoint}/${j.metric}`),
      ['host3/cpu.idle', 'host3/mem.used', 'host4/cpu.idle', 'host4/mem.used']
    )
    assert.equal(router.judgeCounters.sent, 4)
    assert.equal(router.judgeCounters.dropped, 6)
    router.close()
  })
})

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return (server.address() as AddressInfo).port
}

describe('Router to graph', () => {
  it('remembers at most MAX_PLACEMENTS series placements, however the series are spread', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster: { 'graph-00': 'graph-a:6070' } }),
      depsOf(fake.dial)
    )
    // One endpoint, ever new metrics: the cache once grew by metric without bound.
    for (let i = 0; i < MAX_PLACEMENTS + 5000; i += 5000) {
      await router.route(Array.from({ length: 5000 }, (_, k) => mv('one-host', `m.${i + k}`)))
      assert.ok(router.cachedPlacements <= MAX_PLACEMENTS, `${router.cachedPlacements} cached`)
    }
    router.close()
  })

  it("maps graph's refusals back to each push, across pushes sent in one call", async () => {
    const dial = (): RpcCaller => ({
      call<T>(_method: string, param: unknown): Promise<T> {
        // This graph refuses every item whose metric starts with `old`.
        const refused = (param as { metric: string }[])
          .map((item, index) => ({ index, code: 'PG_TSDB_TOO_OLD', message: 'too old' }))
          .filter((r) => (param as { metric: string }[])[r.index].metric.startsWith('old'))
        return Promise.resolve({ code: 0, refused } as T)
      },
      close: () => undefined,
    })
    const router = new Router(
      parseTransferConfig({ graphCluster: { 'graph-00': 'a:1', 'graph-01': 'b:1' } }),
      depsOf(dial)
    )
    // Concurrent pushes gathered into shared calls per address; each gets its own indices back.
    const pushes = [0, 1, 2].map((p) =>
      Array.from({ length: 30 }, (_, i) => mv(`h${i}`, i % 7 === p ? `old.${p}` : `new.${p}`))
    )
    const answers = await Promise.all(pushes.map((v) => router.route(v)))
    for (let p = 0; p < 3; p++) {
      const want = pushes[p].flatMap((m, i) => (m.metric.startsWith('old') ? [i] : []))
      assert.deepEqual(
        answers[p].map((r) => r.index),
        want,
        `push ${p}`
      )
    }
    router.close()
  })
})

describe('transfer with a judge that is down', () => {
  it('acknowledges pushes at once, retries the judge items and delivers them when judge is up', async () => {
    const graphGot: unknown[] = []
    const judgeGot: JudgeItem[] = []
    const graph = serveJsonRpc(
      new Map([
        [
          'Graph.Send',
          (p: unknown) => {
            graphGot.push(...(p as unknown[]))
            return { code: 0 }
          },
        ],
      ])
    )
    const newJudge = () =>
      serveJsonRpc(
        new Map([
          [
            'Judge.Send',
            (p: unknown) => {
              judgeGot.push(...(p as JudgeItem[]))
              return { code: 0 }
            },
          ],
        ])
      )
    // A port that was free a moment ago: nothing listens there until the judge is started on it.
    const probe = newJudge()
    const judgePort = await listen(probe)
    await new Promise((r) => probe.close(r))
    const graphPort = await listen(graph)
    const transfer = await start(
      parseTransferConfig({
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        socket: '',
        graphCluster: { 'graph-00': `127.0.0.1:${graphPort}` },
        judgeCluster: { 'judge-00': `127.0.0.1:${judgePort}` },
      }),
      { log: silentLogger, now: () => Date.now() }
    )
    const judge = newJudge()
    try {
      const now = Math.floor(Date.now() / 1000)
      const push = async (i: number) => {
        const res = await fetch(`http://${transfer.addresses.http}/api/push`, {
          method: 'POST',
          body: JSON.stringify([
            mv(`web-${i}`, 'cpu.idle', { timestamp: now }),
            mv(`web-${i}`, 'net.if.out.bytes', { timestamp: now, counterType: 'COUNTER' }),
          ]),
        })
        assert.equal(res.status, 200)
        assert.equal(((await res.json()) as { data: { Message: string } }).data.Message, 'ok')
      }
      await push(0)
      await push(1)
      const counters = async () =>
        (
          (await (await fetch(`http://${transfer.addresses.http}/counter/all`)).json()) as {
            data: Record<string, unknown>
          }
        ).data
      await waitUntil(
        async () => ((await counters()).judgeSendFailures as number) >= 1,
        'a failed Judge.Send'
      )
      let c = await counters()
      assert.equal(c.sent, 4)
      assert.equal(c.judgeSent, 0)
      // judgeBuffered counts a retry in flight too; bufferedByJudge only what waits, hence no exact 4.
      assert.equal(c.judgeBuffered, 4)
      assert.deepEqual(Object.keys(c.bufferedByJudge as object), [`127.0.0.1:${judgePort}`])
      assert.equal(judgeGot.length, 0)

      await listen(judge, judgePort)
      await waitUntil(() => judgeGot.length === 4, 'the judge items, once judge is up')
      c = await counters()
      assert.equal(c.judgeSent, 4)
      assert.equal(c.judgeBuffered, 0)
      assert.equal(c.judgeDropped, 0)
      assert.ok((c.judgeRetried as number) >= 2)
      assert.deepEqual(
        judgeGot.map((j) => [j.endpoint, j.metric, j.judgeType, j.timestamp]).sort(),
        [
          ['web-0', 'cpu.idle', 'GAUGE', now - (now % 60)],
          ['web-0', 'net.if.out.bytes', 'COUNTER', now - (now % 60)],
          ['web-1', 'cpu.idle', 'GAUGE', now - (now % 60)],
          ['web-1', 'net.if.out.bytes', 'COUNTER', now - (now % 60)],
        ]
      )
      assert.equal(graphGot.length, 4)
    } finally {
      await transfer.stop()
      for (const s of [graph, judge]) {
        s.closeAll()
        s.close()
      }
    }
  })
})

describe('judgeCluster config', () => {
  it('takes {} and one host:port per node, and refuses the rest naming the key', () => {
    assert.deepEqual(parseTransferConfig({}).judgeCluster, {})
    assert.equal(parseTransferConfig({}).judgeMaxBuffered, 100_000)
    assert.deepEqual(
      parseTransferConfig({ judgeCluster: { 'judge-00': '10.0.0.1:6080' } }).judgeCluster,
      { 'judge-00': '10.0.0.1:6080' }
    )
    const f = (raw: Record<string, unknown>, want: RegExp) =>
      assert.throws(() => parseTransferConfig(raw), want)
    f(
      { judgeCluster: { 'judge-00': '10.0.0.1:6080,10.0.0.2:6080' } },
      /transfer\.judgeCluster\.judge-00: one "host:port" per judge node/
    )
    f(
      { judgeCluster: { 'judge-00': '' } },
      /transfer\.judgeCluster\.judge-00: expected "host:port"/
    )
    f({ judgeCluster: { 'judge-00': 'nohost' } }, /transfer\.judgeCluster\.judge-00: expected/)
    f({ judgeCluster: ['10.0.0.1:6080'] }, /transfer\.judgeCluster: expected/)
    f({ judgeMaxBuffered: 0 }, /transfer\.judgeMaxBuffered: expected a positive integer/)
  })
})

describe('Router with replication', () => {
  const graphCluster = { 'graph-00': 'g0:6070', 'graph-01': 'g1:6070', 'graph-02': 'g2:6070' }
  const address = (node: string) => graphCluster[node as keyof typeof graphCluster]
  const series = Array.from({ length: 300 }, (_, i) => mv(`host-${i}`, 'cpu.idle', { value: i }))
  const keyOf = (m: MetricValue) => `${m.endpoint}/${m.metric}`
  const holders = (fake: ReturnType<typeof fakeCluster>, endpoint: string) =>
    Object.keys(graphCluster).filter((n) =>
      fake
        .items<{ endpoint: string }>('Graph.Send', address(n))
        .some((x) => x.endpoint === endpoint)
    )

  it('with the default of 1 sends each series to the one node the ring picks, as falcon', async () => {
    const fake = fakeCluster()
    const cfg = parseTransferConfig({ graphCluster })
    assert.equal(cfg.replication, 1)
    const router = new Router(cfg, depsOf(fake.dial))
    await router.route(series)
    const ring = new HashRing(Object.keys(graphCluster))
    for (const m of series) {
      assert.deepEqual(holders(fake, m.endpoint), [ring.get(keyOf(m))], m.endpoint)
      assert.deepEqual(router.setOf(keyOf(m)).nodes, [ring.get(keyOf(m))])
      assert.equal(router.setOf(keyOf(m)).name, ring.get(keyOf(m)))
    }
    router.close()
  })

  it('with 2 sends each series to 2 distinct nodes: the owner and the next one on the ring', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster, replication: 2 }),
      depsOf(fake.dial)
    )
    await router.route(series)
    const ring = new HashRing(Object.keys(graphCluster))
    const perNode: Record<string, number> = {}
    for (const m of series) {
      const want = ring.getN(keyOf(m), 2)
      assert.equal(want[0], ring.get(keyOf(m)))
      assert.deepEqual(holders(fake, m.endpoint), [...want].sort(), m.endpoint)
      assert.equal(router.nodeOf(keyOf(m)), want[0])
      for (const n of want) perNode[n] = (perNode[n] ?? 0) + 1
    }
    // Every node holds about two thirds of the series.
    for (const n of Object.keys(graphCluster)) assert.ok(perNode[n] > 150, `${n}: ${perNode[n]}`)
    router.close()
  })

  it('acknowledges while one replica is down and delivers its buffered points when it is back', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster, replication: 2 }),
      depsOf(fake.dial)
    )
    fake.modes.set('g1:6070', 'down')
    // The first push finds graph-01 up and waits for its answer, a failure: the other replica has it.
    await router.route(series.slice(0, 100))
    // Now graph-01 is known down: pushes are not held back by it.
    await router.route(series.slice(100))
    const missing = series.filter((m) => holders(fake, m.endpoint).length < 2)
    assert.ok(missing.length > 150, `${missing.length} series wait for graph-01`)
    assert.ok(router.buffered()['g1:6070'] >= missing.length)
    for (const m of series) assert.ok(holders(fake, m.endpoint).length >= 1, m.endpoint)
    fake.modes.set('g1:6070', 'up')
    await waitUntil(
      () => series.every((m) => holders(fake, m.endpoint).length === 2),
      'graph-01 to get its buffered points'
    )
    assert.equal(router.buffered()['g1:6070'], 0)
    assert.equal(router.counters.dropped, 0)
    router.close()
  })

  it('past maxBuffered drops the oldest points of the replica that is down, and says which', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster, replication: 2, maxBuffered: 50 }),
      depsOf(fake.dial)
    )
    fake.modes.set('g1:6070', 'down')
    // Acknowledged all the same: the other replica of each series has every point.
    for (let i = 0; i < series.length; i += 10) await router.route(series.slice(i, i + 10))
    const dropped = router.droppedByGraph()
    assert.ok(dropped['g1:6070'] > 0, JSON.stringify(dropped))
    assert.equal(dropped['g0:6070'], 0)
    assert.ok(router.buffered()['g1:6070'] <= 50)
    for (const m of series) assert.ok(holders(fake, m.endpoint).length >= 1, m.endpoint)
    router.close()
  })

  it('refuses a push when no replica of a series stores it, naming the nodes', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster, replication: 2 }),
      depsOf(fake.dial)
    )
    fake.modes.set('g0:6070', 'down')
    fake.modes.set('g1:6070', 'down')
    const both = series.find((m) => {
      const set = router.setOf(keyOf(m)).nodes
      return set.includes('graph-00') && set.includes('graph-01')
    }) as MetricValue
    await assert.rejects(
      router.route([both]),
      /graph node graph-0[01] \(g[01]:6070\): .*ECONNREFUSED.*; graph node graph-0[01]/
    )
    router.close()
  })

  it('with writeQuorum 2 waits for both replicas, even one that is down', async () => {
    const fake = fakeCluster()
    const router = new Router(
      parseTransferConfig({ graphCluster, replication: 2, writeQuorum: 2 }),
      depsOf(fake.dial)
    )
    fake.modes.set('g2:6070', 'down')
    const on2 = series.filter((m) => router.setOf(keyOf(m)).nodes.includes('graph-02'))
    const off2 = series.filter((m) => !router.setOf(keyOf(m)).nodes.includes('graph-02'))
    await assert.rejects(router.route(on2), /graph node graph-02 \(g2:6070\)/)
    await router.route(off2)
    router.close()
  })

  it('checks replication and writeQuorum, naming the key', () => {
    const f = (raw: Record<string, unknown>, want: RegExp) =>
      assert.throws(() => parseTransferConfig({ graphCluster, ...raw }), want)
    f({ replication: 0 }, /transfer\.replication: expected an integer from 1 to 3 \(the number/)
    f({ replication: 4 }, /transfer\.replication: expected an integer from 1 to 3/)
    f({ replication: 1.5 }, /transfer\.replication: expected an integer from 1 to 3/)
    f({ replication: '2' }, /transfer\.replication: expected an integer from 1 to 3/)
    f({ replication: 2, writeQuorum: 3 }, /transfer\.writeQuorum: expected an integer from 1 to 2/)
    f({ writeQuorum: 0 }, /transfer\.writeQuorum: expected an integer from 1 to 1/)
    assert.throws(
      () => parseTransferConfig({ replication: 2 }),
      /transfer\.replication: expected an integer from 1 to 1/
    )
    assert.equal(parseTransferConfig({ graphCluster, replication: 3 }).replication, 3)
  })
})

describe('Router.routeColumns', () => {
  // Points as a parse worker hands them over: a series table and three columns.
  function columnsOf(values: readonly MetricValue[]): PointColumns {
    const series: PushSeries[] = []
    const idOf = new Map<string, number>()
    const ids = new Uint32Array(values.length)
    values.forEach((m, i) => {
      const key = JSON.stringify([m.endpoint, m.metric, m.tags, m.counterType, m.step])
      let id = idOf.get(key)
      if (id === undefined) {
        id = series.length
        idOf.set(key, id)
        series.push({ ...m, route: undefined })
      }
      ids[i] = id
    })
    return {
      series,
      ids,
      ts: Float64Array.from(values, (m) => m.timestamp),
      vs: Float64Array.from(values, (m) => m.value),
    }
  }

  /** A cluster whose `local` addresses are graphs in this process (Graph.SendColumns), refusing `refuse` metrics. */
  function mixedCluster(local: Set<string>, refuse = new Set<string>()) {
    const calls: { method: string; address: string; param: unknown }[] = []
    const dial = (address: string): RpcCaller => ({
      call<T>(method: string, param: unknown): Promise<T> {
        calls.push({ method, address, param })
        const refused: { index: number; code: string; message: string }[] = []
        const metrics =
          method === 'Graph.SendColumns'
            ? (param as GraphColumns[]).flatMap((c) => c.series.map((s) => s.metric))
            : method === 'Graph.Send'
              ? (param as { metric: string }[]).map((g) => g.metric)
              : []
        metrics.forEach((metric, index) => {
          if (refuse.has(metric))
            refused.push({ index, code: 'PG_TSDB_TOO_NEW', message: 'refused' })
        })
        return Promise.resolve((refused.length > 0 ? { code: 0, refused } : { code: 0 }) as T)
      },
      close: () => undefined,
      ...(local.has(address) ? { columns: true as const } : {}),
    })
    // Every graph point received, as the GraphItem fields Graph.Send carries, by address.
    const points = (address: string) =>
      calls
        .filter((c) => c.address === address)
        .flatMap((c) =>
          c.method === 'Graph.SendColumns'
            ? (c.param as GraphColumns[]).flatMap((g) =>
                g.series.map((s, i) => ({
                  endpoint: s.endpoint,
                  metric: s.metric,
                  tags: { ...s.tags },
                  value: g.vs[i],
                  timestamp: g.ts[i],
                  dstype: s.dstype,
                  step: s.step,
                }))
              )
            : c.method === 'Graph.Send'
              ? (
                  c.param as {
                    endpoint: string
                    metric: string
                    tags: Record<string, string>
                    value: number
                    timestamp: number
                    dstype: string
                    step: number
                  }[]
                ).map((g) => ({
                  endpoint: g.endpoint,
                  metric: g.metric,
                  tags: { ...g.tags },
                  value: g.value,
                  timestamp: g.timestamp,
                  dstype: g.dstype,
                  step: g.step,
                }))
              : []
        )
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    return { dial, calls, points }
  }

  const graphCluster = { 'graph-00': 'ga:6070', 'graph-01': 'gb:6070' }
  const values = Array.from({ length: 300 }, (_, i) =>
    mv(`host-${i % 40}`, `m.${i % 3}`, {
      value: i / 8,
      counterType: i % 4 === 0 ? 'COUNTER' : 'GAUGE',
      step: i % 5 === 0 ? 10 : 60,
      tags: i % 6 === 0 ? '' : `b=${i % 6}, a=x`,
      timestamp: 1_700_000_000 + 17 * i,
    })
  )

  it('sends graph and judge what route sends, as columns to graphs in this process', async () => {
    const viaRoute = mixedCluster(new Set())
    const byRoute = new Router(
      parseTransferConfig({ graphCluster, judgeCluster }),
      depsOf(viaRoute.dial)
    )
    assert.deepEqual(await byRoute.route(values), [])
    // ga is in this process, gb over the wire: both paths in one push.
    const viaColumns = mixedCluster(new Set(['ga:6070']))
    const byColumns = new Router(
      parseTransferConfig({ graphCluster, judgeCluster }),
      depsOf(viaColumns.dial)
    )
    assert.deepEqual(await byColumns.routeColumns(columnsOf(values)), [])
    await waitUntil(
      () =>
        viaColumns.calls.filter((c) => c.method === 'Judge.Send').length ===
        viaRoute.calls.filter((c) => c.method === 'Judge.Send').length,
      'judge calls'
    )
    for (const address of ['ga:6070', 'gb:6070']) {
      const want = viaRoute.points(address)
      assert.ok(want.length > 50, `${address}: ${want.length} points`)
      assert.deepEqual(viaColumns.points(address), want, address)
    }
    assert.ok(viaColumns.calls.some((c) => c.method === 'Graph.SendColumns'))
    assert.ok(
      !viaColumns.calls.some((c) => c.method === 'Graph.SendColumns' && c.address !== 'ga:6070')
    )
    const judged = (calls: typeof viaRoute.calls) =>
      calls
        .filter((c) => c.method === 'Judge.Send')
        .flatMap((c) =>
          (c.param as JudgeItem[]).map((j) => ({ ...j, tags: { ...j.tags }, at: c.address }))
        )
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    assert.deepEqual(judged(viaColumns.calls), judged(viaRoute.calls))
    byRoute.close()
    byColumns.close()
  })

  it('names the points a graph refused by their index in the push, on either path', async () => {
    const cluster = mixedCluster(new Set(['ga:6070']), new Set(['m.1']))
    const router = new Router(
      parseTransferConfig({ graphCluster, batch: 40 }),
      depsOf(cluster.dial)
    )
    const refused = await router.routeColumns(columnsOf(values))
    assert.deepEqual(
      refused.map((r) => r.index),
      values.flatMap((m, i) => (m.metric === 'm.1' ? [i] : []))
    )
    assert.ok(refused.every((r) => r.code === 'PG_TSDB_TOO_NEW'))
    router.close()
  })
})
