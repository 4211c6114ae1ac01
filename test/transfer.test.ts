// transfer over real sockets in front of two graph nodes: push paths, sharding, bad input, a node down.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { HashRing, JsonRpcClient, type Service, silentLogger } from '../src/core/index.js'
import { parseGraphConfig, start as startGraph } from '../src/graph/index.js'
import { parseTransferConfig, start as startTransfer } from '../src/transfer/index.js'
import { buildApi, parseApiConfig } from '../src/api/index.js'
import { Store } from '../src/store/index.js'

const NOW = Math.floor(Date.now() / 1000)
const deps = { log: silentLogger, now: () => Date.now() }
let dir = ''
const graphs: Service[] = []
let transfer: Service
let rpc: JsonRpcClient
const graphRpc: JsonRpcClient[] = []

async function startGraphNode(i: number, rpcAddr = '127.0.0.1:0'): Promise<Service> {
  const config = parseGraphConfig({
    rpc: rpcAddr,
    http: '127.0.0.1:0',
    dataDir: join(dir, `graph-${i}`),
    walSync: 'write',
  })
  return startGraph(config, deps)
}

const mv = (
  endpoint: string,
  metric: string,
  value: unknown,
  extra: Record<string, unknown> = {}
) => ({
  endpoint,
  metric,
  value,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp: NOW,
  ...extra,
})

function graphs0(): string {
  return graphs[0].addresses.rpc
}

async function queryAnyGraph(endpoint: string, counter: string) {
  for (const g of graphRpc) {
    const r = await g.call<{ step: number; Values: { timestamp: number; value: number | null }[] }>(
      'Graph.Query',
      {
        start: NOW - 600,
        end: NOW,
        endpoint,
        counter,
      }
    )
    if (r.step !== 0)
      return { node: graphRpc.indexOf(g), values: r.Values.filter((v) => v.value !== null) }
  }
  return null
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-transfer-'))
  graphs.push(await startGraphNode(0), await startGraphNode(1))
  for (const g of graphs) graphRpc.push(new JsonRpcClient(g.addresses.rpc))
  transfer = await startTransfer(
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '127.0.0.1:0',
      graphCluster: { 'graph-00': graphs[0].addresses.rpc, 'graph-01': graphs[1].addresses.rpc },
      maxBodyBytes: 4 << 20,
      callTimeout: 2000,
      batch: 5000,
    }),
    deps
  )
  rpc = new JsonRpcClient(transfer.addresses.rpc)
})
after(async () => {
  rpc.close()
  for (const g of graphRpc) g.close()
  await transfer.stop()
  for (const g of graphs) await g.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('transfer', () => {
  it('answers Transfer.Update as falcon does and stores valid points on the node the ring picks', async () => {
    const items = Array.from({ length: 40 }, (_, i) => mv(`host-${i}`, 'cpu.idle', 90 + i / 4))
    items.push(mv('host-0', 'bad', 1, { counterType: 'gauge' }), mv('', 'x', 1))
    const r = await rpc.call<{ Message: string; Total: number; Invalid: number }>(
      'Transfer.Update',
      items
    )
    assert.deepEqual(
      { ...r, Latency: 0 },
      {
        Message: 'ok',
        Total: 42,
        Invalid: 2,
        Latency: 0,
        Errors: [
          'item 40: counterType: "gauge" is not one of GAUGE, COUNTER, DERIVE (case-sensitive)',
          'item 41: endpoint: must be a non-empty string, got ""',
        ],
      }
    )
    const ring = new HashRing(['graph-00', 'graph-01'])
    const perNode = [0, 0]
    for (let i = 0; i < 40; i++) {
      const got = await queryAnyGraph(`host-${i}`, 'cpu.idle')
      assert.ok(got !== null, `host-${i} stored`)
      assert.equal(`graph-0${got.node}`, ring.get(`host-${i}/cpu.idle`))
      assert.deepEqual(got.values, [{ timestamp: NOW - (NOW % 60), value: 90 + i / 4 }])
      perNode[got.node]++
    }
    assert.ok(perNode[0] > 5 && perNode[1] > 5, `spread ${perNode.join('/')}`)
  })

  it('stores a COUNTER as a rate, aligned to the step', async () => {
    const t0 = NOW - (NOW % 60) - 120
    await rpc.call('Transfer.Update', [
      mv('h', 'net.if.in.bytes', 600, {
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: t0 + 7,
      }),
      mv('h', 'net.if.in.bytes', 1200, {
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: t0 + 67,
      }),
    ])
    const got = await queryAnyGraph('h', 'net.if.in.bytes/iface=eth0')
    assert.deepEqual(got?.values, [{ timestamp: t0 + 60, value: 10 }])
  })

  it('takes HTTP /api/push with falcon response shapes and clear errors', async () => {
    const base = `http://${transfer.addresses.http}/api/push`
    let res = await fetch(base, {
      method: 'POST',
      body: JSON.stringify([mv('web', 'mem.used', '12.5')]),
    })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { msg: string; data: { Total: number; Invalid: number } }
    assert.equal(body.msg, 'success')
    assert.equal(body.data.Total, 1)
    assert.deepEqual((await queryAnyGraph('web', 'mem.used'))?.values.length, 1)
    const f = async (init: RequestInit, status: number, msg: RegExp) => {
      res = await fetch(base, { method: 'POST', ...init })
      assert.equal(res.status, status)
      assert.match(((await res.json()) as { msg: string }).msg, msg)
    }
    await f({ body: '' }, 400, /blank body/)
    await f({ body: '{not json' }, 400, /decode error: the body is not JSON/)
    // falcon's /api/push takes plain JSON: a gzip body is refused, quoted briefly and printably.
    res = await fetch(base, {
      method: 'POST',
      body: gzipSync(Buffer.from(JSON.stringify([mv('web', 'mem.used', '1')]).repeat(20))),
    })
    assert.equal(res.status, 400)
    const { msg } = (await res.json()) as { msg: string }
    assert.match(msg, /^decode error: the body is not JSON \(Unexpected token .*\\x1f\\ufffd/)
    assert.doesNotMatch(msg, /[\p{C}\p{Zl}\p{Zp}\ufffd]/u)
    assert.ok(msg.length <= 250, msg)
    await f({ body: '{"an":"object"}' }, 400, /expected a JSON array of MetricValue/)
    await f({ body: 'x'.repeat(5 << 20) }, 413, /body: larger than 4194304 bytes/)
    const counters = (await (
      await fetch(`http://${transfer.addresses.http}/counter/all`)
    ).json()) as {
      data: { received: number; sent: number; dropped: number }
    }
    assert.ok(counters.data.sent >= 40)
    assert.equal(counters.data.dropped, 0)
  })

  it('takes falcon line socket updates, stored when the connection closes', async () => {
    const [host, port] = [
      transfer.addresses.socket.split(':')[0],
      Number(transfer.addresses.socket.split(':')[1]),
    ]
    const s = connect(port, host)
    await new Promise((r) => s.once('connect', r))
    s.end(`update sock.host disk.used ${NOW} 42.5 GAUGE 60\nquit\n`)
    await new Promise((r) => s.once('close', r))
    for (let i = 0; i < 50 && (await queryAnyGraph('sock.host', 'disk.used')) === null; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.deepEqual((await queryAnyGraph('sock.host', 'disk.used'))?.values, [
      { timestamp: NOW - (NOW % 60), value: 42.5 },
    ])
  })

  it('answers garbage on the RPC port with an error, while serving others', async () => {
    const s = connect(Number(transfer.addresses.rpc.split(':')[1]), '127.0.0.1')
    const reply = await new Promise<string>((resolve) => {
      let data = ''
      s.on('data', (d) => (data += d.toString()))
      s.on('close', () => resolve(data))
      s.write('\xff\xfe garbage')
    })
    assert.match(reply, /"error":"invalid character/)
    assert.deepEqual(await rpc.call('Transfer.Ping', {}), { code: 0 })
  })

  it('serves many connections at once, each pushing over RPC', async () => {
    const clients = Array.from({ length: 50 }, () => new JsonRpcClient(transfer.addresses.rpc))
    const results = await Promise.all(
      clients.map((c, i) =>
        c.call<{ Total: number; Invalid: number }>(
          'Transfer.Update',
          Array.from({ length: 20 }, (_, k) => mv(`conn-${i}`, `m${k}`, i * 100 + k))
        )
      )
    )
    for (const c of clients) c.close()
    assert.ok(results.every((r) => r.Total === 20 && r.Invalid === 0))
    for (const i of [0, 17, 49]) {
      assert.deepEqual((await queryAnyGraph(`conn-${i}`, 'm3'))?.values, [
        { timestamp: NOW - (NOW % 60), value: i * 100 + 3 },
      ])
    }
  })

  it('sends a push larger than `batch` in several Graph.Send calls', async () => {
    const before = (await (
      await fetch(`http://${transfer.addresses.http}/counter/all`)
    ).json()) as { data: { sendCalls: number } }
    const items = Array.from({ length: 12_000 }, (_, i) =>
      mv('big-push', `m${i % 3000}`, i, { timestamp: NOW - 180 + 60 * Math.floor(i / 3000) })
    )
    const r = await rpc.call<{ Total: number; Invalid: number }>('Transfer.Update', items)
    assert.equal(r.Invalid, 0)
    const after = (await (await fetch(`http://${transfer.addresses.http}/counter/all`)).json()) as {
      data: { sendCalls: number }
    }
    assert.ok(
      after.data.sendCalls - before.data.sendCalls >= 3,
      `${after.data.sendCalls - before.data.sendCalls} calls`
    )
  })

  it('stores every point of pushes large enough to be parsed in pieces, over HTTP and RPC', async () => {
    // ~400 KB each: parsed in ~64 KB pieces cut between items (core parseJsonBytes). Tags hold
    // `},{`, quotes and multi-byte text, so some cuts are tried inside strings and refused.
    const push = (prefix: string) =>
      Array.from({ length: 3000 }, (_, i) =>
        mv(`${prefix}-${i % 30}`, `piece.m${Math.floor(i / 30)}`, i / 8, {
          tags: i % 7 === 0 ? `note=a},{"b":"c"},{,城市=北京` : `k=${i % 5}`,
        })
      )
    const items = push('pieces-http')
    const body = JSON.stringify(items)
    assert.ok(body.length > 300_000)
    const res = await fetch(`http://${transfer.addresses.http}/api/push`, { method: 'POST', body })
    const answer = (await res.json()) as { data: { Total: number; Invalid: number } }
    assert.deepEqual([res.status, answer.data.Total, answer.data.Invalid], [200, 3000, 0])
    const viaRpc = push('pieces-rpc')
    const r = await rpc.call<{ Total: number; Invalid: number }>('Transfer.Update', viaRpc)
    assert.deepEqual([r.Total, r.Invalid], [3000, 0])
    for (const list of [items, viaRpc]) {
      for (const i of [0, 7, 1234, 2999]) {
        const m = list[i]
        const counter = `${m.metric}/${m.tags.split(',').sort().join(',')}`
        const got = await queryAnyGraph(m.endpoint, counter)
        assert.ok(got !== null, `${m.endpoint}/${counter} stored`)
        assert.deepEqual(got.values, [{ timestamp: NOW - (NOW % 60), value: i / 8 }])
      }
    }
  })

  it('answers a 50 MB push with 413 under the default limit, and keeps serving', async () => {
    const t = await startTransfer(
      parseTransferConfig({
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        socket: '',
        graphCluster: { 'graph-00': graphs[0].addresses.rpc },
      }),
      deps
    )
    try {
      const res = await fetch(`http://${t.addresses.http}/api/push`, {
        method: 'POST',
        body: Buffer.alloc(50 << 20, 0x20),
      })
      assert.equal(res.status, 413)
      assert.match(
        ((await res.json()) as { msg: string }).msg,
        /body: larger than 33554432 bytes; push smaller batches/
      )
      const ok = await fetch(`http://${t.addresses.http}/api/push`, {
        method: 'POST',
        body: JSON.stringify([mv('after413', 'm', 1)]),
      })
      assert.equal(ok.status, 200)
    } finally {
      await t.stop()
    }
  })

  it('api reads a replicated node from its second address when the first does not answer', async () => {
    // Port 1: nobody listens there; the real node is the second address.
    // The graph routes need an Apitoken: the service token stands in for a logged-in user here.
    const token = 'transfer-test-service-token'
    const apitoken = JSON.stringify({ name: 'test', sig: token })
    const store = await Store.open('sqlite::memory:', silentLogger)
    const { app, graphs } = buildApi(
      parseApiConfig({
        http: '127.0.0.1:0',
        graphCluster: { only: `127.0.0.1:1,${graphs0()}` },
        callTimeout: 2000,
        defaultToken: token,
      }),
      deps,
      store
    )
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/graph/history',
        headers: { apitoken },
        payload: {
          hostnames: ['host-0'],
          counters: ['cpu.idle'],
          start_time: NOW - 600,
          end_time: NOW,
          consol_fun: 'AVERAGE',
        },
      })
      // host-0's series may live on either test node; a 200 means the call went past the dead address.
      assert.equal(res.statusCode, 200, res.body)
      const down = buildApi(
        parseApiConfig({
          http: '127.0.0.1:0',
          graphCluster: { only: '127.0.0.1:1' },
          callTimeout: 2000,
          defaultToken: token,
        }),
        deps,
        store
      )
      const bad = await down.app.inject({
        method: 'GET',
        url: '/api/v1/graph/endpoint?q=x',
        headers: { apitoken },
      })
      assert.equal(bad.statusCode, 502)
      assert.match(bad.body, /graph node only \(127\.0\.0\.1:1: /)
      down.graphs.close()
    } finally {
      graphs.close()
      await store.close()
    }
  })

  it('buffers points for a graph node that is down, reports it, and delivers them when it is back', async () => {
    const down = graphs[1]
    const addr = down.addresses.rpc
    graphRpc[1].close()
    await down.stop()
    const ring = new HashRing(['graph-00', 'graph-01'])
    let i = 0
    while (ring.get(`late-${i}/m`) !== 'graph-01') i++
    await assert.rejects(
      rpc.call('Transfer.Update', [mv(`late-${i}`, 'm', 7)]),
      /graph node graph-01 .*buffered and retried/
    )
    // Same address, same data directory: the node comes back.
    graphs[1] = await startGraphNode(1, addr)
    graphRpc[1] = new JsonRpcClient(graphs[1].addresses.rpc)
    let got = null
    for (let tries = 0; tries < 100 && got === null; tries++) {
      await new Promise((r) => setTimeout(r, 50))
      got = await queryAnyGraph(`late-${i}`, 'm')
    }
    assert.deepEqual(got?.values, [{ timestamp: NOW - (NOW % 60), value: 7 }])
  })
})
