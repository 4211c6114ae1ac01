import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  JsonRpcClient,
  recordingLogger,
  type RpcCaller,
  type Service,
  waitUntil,
} from '../core/index.js'
import { parseGatewayConfig, start } from './index.js'

const root = mkdtempSync(join(tmpdir(), 'pg-gateway-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

const NOW = Math.floor(Date.now() / 1000)

/** Transfers standing for the clusters: each address records what Transfer.Update brings it. */
function fakeTransfers() {
  const byAddress = new Map<
    string,
    { up: boolean; items: Record<string, unknown>[]; calls: number; invalid: number }
  >()
  const at = (address: string) => {
    let t = byAddress.get(address)
    if (t === undefined) {
      t = { up: true, items: [], calls: 0, invalid: 0 }
      byAddress.set(address, t)
    }
    return t
  }
  const dial = (address: string): RpcCaller => ({
    call<T>(method: string, param: unknown): Promise<T> {
      const t = at(address)
      t.calls++
      if (!t.up) return Promise.reject(new Error(`connect ECONNREFUSED ${address}`))
      if (method === 'Transfer.Ping') return Promise.resolve({ code: 0 } as T)
      const items = param as Record<string, unknown>[]
      t.items.push(...items)
      return Promise.resolve({
        Message: 'ok',
        Total: items.length,
        Invalid: t.invalid,
        Latency: 0,
        ...(t.invalid > 0 ? { Errors: ['item 0: PG_TSDB_TOO_OLD: too old'] } : {}),
      } as T)
    },
    close: () => undefined,
  })
  return { at, dial }
}

async function gatewayWith(
  transfers: ReturnType<typeof fakeTransfers>,
  settings: Record<string, unknown> = {},
  dataDir = join(root, String(dirs++))
) {
  const log = recordingLogger()
  const g = await start(
    parseGatewayConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '127.0.0.1:0',
      clusters: { central: ['t1:8433'] },
      dataDir,
      ...settings,
    }),
    { log, now: () => Date.now(), dial: transfers.dial }
  )
  return { g, log, dataDir }
}

const points = (from: number, n: number, endpoint = 'host-a') =>
  Array.from({ length: n }, (_, i) => ({
    endpoint,
    metric: 'cpu.idle',
    value: from + i,
    step: 60,
    counterType: 'GAUGE',
    tags: '',
    timestamp: NOW - 100_000 + (from + i) * 60,
  }))

interface Answer {
  msg: string
  data: { Message: string; Total: number; Invalid: number; Latency: number; Errors: string[] }
}
interface Counters {
  invalid: number
  socketLinesTooLong: number
  pushesFailed: number
  clusters: Record<
    string,
    {
      up: boolean
      forwarded: number
      spilled: number
      bufferedDisk: number
      callFailures: number
      refused: number
    }
  >
}

const push = async (g: Service, body: unknown) => {
  const res = await fetch(`http://${g.addresses.http}/api/push`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Answer }
}

const counters = async (g: Service) =>
  ((await (await fetch(`http://${g.addresses.http}/counter/all`)).json()) as { data: Counters })
    .data

/** Each timestamp once: the values arrived exactly once. */
const values = (items: Record<string, unknown>[]) =>
  items.map((i) => i.value as number).sort((a, b) => a - b)
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe('gateway forwarding', () => {
  it('acknowledges a push once the cluster has it, and sends each point once, as validated', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t)
    try {
      const batch = [...points(0, 3), { ...points(3, 1)[0], timestamp: 0 }]
      const r = await push(g, batch)
      assert.equal(r.status, 200)
      assert.deepEqual(
        { ...r.body.data, Latency: 0 },
        {
          Message: 'ok',
          Total: 4,
          Invalid: 0,
          Latency: 0,
        }
      )
      // Acknowledged means the transfer has it: no waiting here.
      assert.deepEqual(values(t.at('t1:8433').items), range(4))
      // A point without a timestamp keeps the gateway's time of arrival, not the transfer's.
      const last = t.at('t1:8433').items.find((i) => i.value === 3)
      assert.ok(Math.abs((last?.timestamp as number) - Date.now() / 1000) < 3600)
      const c = await counters(g)
      assert.equal(c.clusters.central.forwarded, 4)
      assert.equal(c.clusters.central.spilled, 0)
    } finally {
      await g.stop()
    }
  })

  it('forwards a push as sent when any transfer reads from it what was validated, else as validated', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t)
    const rpc = new JsonRpcClient(g.addresses.rpc)
    try {
      const got = t.at('t1:8433').items
      const canonical = Object.keys(points(0, 1)[0]).join()
      // Keys in another order than the gateway writes them show whether the text went as sent.
      const reorder = (p: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(p).reverse()) as Record<string, unknown>
      const sent = points(0, 2).map(reorder)
      const asSent = (items: Record<string, unknown>[]) =>
        items.every((i) => Object.keys(i).join() === Object.keys(sent[0]).join())
      const asValidated = (items: Record<string, unknown>[]) =>
        items.every((i) => Object.keys(i).join() === canonical)
      await rpc.callJson('Transfer.Update', JSON.stringify(sent))
      assert.ok(asSent(got), JSON.stringify(got))
      assert.deepEqual(got.splice(0), sent)
      assert.equal((await push(g, sent)).status, 200)
      assert.ok(asSent(got))
      assert.deepEqual(got.splice(0), sent)
      const text = JSON.stringify(sent)
      const cases: [string, string][] = [
        // No timestamp: the gateway's (a transfer reading it later would stamp its own).
        ['no timestamp', JSON.stringify([{ ...sent[0], timestamp: undefined }, sent[1]])],
        // A case-folded key wins in Go and here; a transfer would read it, not "timestamp".
        ['a case-folded key', text.replace('}', ',"TimeStamp":0}')],
        // A field transfer ignores, and a key written with an escape.
        ['another field', text.replace('}', ',"note":"x"}')],
        ['an escape', text.replace('"metric"', '"m\\u0065tric"')],
        // Numbers Go refuses for an int64 field, which JSON.parse reads as whole.
        ['a step of 6e1', text.replace('"step":60', '"step":6e1')],
        ['a timestamp with a fraction', text.replace(/"timestamp":(\d+)/, '"timestamp":$1.0')],
        // Padding past 512 characters an item.
        ['padding', text.replace('"step":60', `"step":${' '.repeat(1200)}60`)],
      ]
      for (const [what, json] of cases) {
        const answer = await rpc.callJson<{ Total: number; Invalid: number }>(
          'Transfer.Update',
          json
        )
        assert.equal(answer.Invalid, 0, what)
        assert.equal(got.length, 2, what)
        assert.ok(asValidated(got), `${what}: ${JSON.stringify(got)}`)
        for (const i of got) assert.equal(typeof i.timestamp, 'number', what)
        // Where the gateway stamped the items, its time; else theirs.
        if (what !== 'no timestamp' && what !== 'a case-folded key')
          assert.deepEqual(
            got.map((i) => i.timestamp),
            sent.map((i) => i.timestamp),
            what
          )
        got.splice(0)
      }
      // A request with two params keys: the parsed (last) one goes, as validated, not a cut text.
      const [host, port] = g.addresses.rpc.split(':')
      const sock = connect(Number(port), host)
      const answer = new Promise<string>((resolve) => sock.once('data', (d) => resolve(String(d))))
      const [a, b] = sent
      sock.write(
        `{"method":"Transfer.Update","params":[[${JSON.stringify(a)}]],"params":[[${JSON.stringify(b)}]],"id":1}\n`
      )
      assert.match(await answer, /"Total":1,"Invalid":0/)
      sock.destroy()
      assert.ok(asValidated(got))
      assert.deepEqual(got.splice(0), [b])
    } finally {
      rpc.close()
      await g.stop()
    }
  })

  it('refuses in its answer a value graph would refuse, so nothing acknowledged is refused later', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t)
    try {
      const [a, b, c, d] = points(0, 4)
      const r = await push(g, [
        { ...a, value: 'Infinity' },
        { ...b, value: 1e301 },
        { ...c, value: 'NaN' },
        d,
      ])
      assert.equal(r.status, 200)
      assert.equal(r.body.data.Invalid, 2)
      assert.match(r.body.data.Errors.join('\n'), /item 0: .*above 1e300/)
      assert.match(r.body.data.Errors.join('\n'), /item 1: .*above 1e300/)
      const got = t.at('t1:8433').items
      assert.equal(got.length, 2)
      // On the wire as the string falcon's ParseFloat (and transfer) reads back as NaN.
      assert.equal(got[0].value, 'NaN')
      assert.equal(got[1].value, 3)
    } finally {
      await g.stop()
    }
  })

  it('acknowledges from disk while a cluster does not answer, and delivers every point once when it does', async () => {
    const t = fakeTransfers()
    t.at('t1:8433').up = false
    const { g } = await gatewayWith(t)
    try {
      for (let i = 0; i < 5; i++) assert.equal((await push(g, points(i * 10, 10))).status, 200)
      let c = await counters(g)
      assert.equal(c.clusters.central.up, false)
      assert.equal(c.clusters.central.spilled, 50)
      assert.equal(c.clusters.central.bufferedDisk, 50)
      t.at('t1:8433').up = true
      await waitUntil(async () => (await counters(g)).clusters.central.bufferedDisk === 0, 'drain')
      c = await counters(g)
      assert.equal(c.clusters.central.up, true)
      assert.equal(c.clusters.central.forwarded, 50)
      assert.deepEqual(values(t.at('t1:8433').items), range(50))
      // And pushes go straight through again.
      assert.equal((await push(g, points(50, 1))).status, 200)
      assert.deepEqual(values(t.at('t1:8433').items), range(51))
    } finally {
      await g.stop()
    }
  })

  it('sends every push to every cluster; one that is down gets its share later, once', async () => {
    const t = fakeTransfers()
    t.at('b1:8433').up = false
    const { g } = await gatewayWith(t, { clusters: { a: ['a1:8433'], b: 'b1:8433' } })
    try {
      for (let i = 0; i < 3; i++) assert.equal((await push(g, points(i * 4, 4))).status, 200)
      assert.deepEqual(values(t.at('a1:8433').items), range(12))
      assert.equal((await counters(g)).clusters.b.bufferedDisk, 12)
      t.at('b1:8433').up = true
      await waitUntil(async () => (await counters(g)).clusters.b.bufferedDisk === 0, 'drain b')
      assert.deepEqual(values(t.at('b1:8433').items), range(12))
      assert.deepEqual(values(t.at('a1:8433').items), range(12))
    } finally {
      await g.stop()
    }
  })

  it('balances a cluster over its transfers and fails over to another when one does not answer', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t, { clusters: { central: ['t1:1', 't2:1', 't3:1'] } })
    try {
      for (let i = 0; i < 6; i++) await push(g, points(i, 1))
      for (const a of ['t1:1', 't2:1', 't3:1']) assert.equal(t.at(a).items.length, 2, a)
      t.at('t2:1').up = false
      for (let i = 6; i < 12; i++) assert.equal((await push(g, points(i, 1))).status, 200)
      const all = [...t.at('t1:1').items, ...t.at('t2:1').items, ...t.at('t3:1').items]
      assert.deepEqual(values(all), range(12))
      const c = await counters(g)
      assert.equal(
        c.clusters.central.spilled,
        0,
        'no point waited for a cluster that has a transfer up'
      )
      assert.ok(c.clusters.central.callFailures >= 1)
    } finally {
      await g.stop()
    }
  })

  it('fails a push it cannot keep when the disk buffer is full, over HTTP and RPC, naming the setting', async () => {
    const t = fakeTransfers()
    t.at('t1:8433').up = false
    const { g } = await gatewayWith(t, { maxDiskBytes: 3000 })
    const rpc = new JsonRpcClient(g.addresses.rpc)
    try {
      assert.equal((await push(g, points(0, 5))).status, 200)
      const r = await push(g, points(5, 100))
      assert.equal(r.status, 503)
      assert.match(r.body.msg, /gateway\.maxDiskBytes/)
      await assert.rejects(rpc.call('Transfer.Update', points(5, 100)), /gateway\.maxDiskBytes/)
      const c = await counters(g)
      assert.equal(c.pushesFailed, 2)
      // What was acknowledged is still delivered.
      t.at('t1:8433').up = true
      await waitUntil(async () => (await counters(g)).clusters.central.bufferedDisk === 0, 'drain')
      assert.deepEqual(values(t.at('t1:8433').items), range(5))
    } finally {
      rpc.close()
      await g.stop()
    }
  })

  it('sends what its disk held after a restart, and nothing twice', async () => {
    const t = fakeTransfers()
    t.at('t1:8433').up = false
    const first = await gatewayWith(t)
    for (let i = 0; i < 4; i++) await push(first.g, points(i * 5, 5))
    await first.g.stop()
    assert.equal(t.at('t1:8433').items.length, 0)
    t.at('t1:8433').up = true
    const { g, log } = await gatewayWith(t, {}, first.dataDir)
    try {
      await waitUntil(() => t.at('t1:8433').items.length >= 20, 'the points from before')
      await waitUntil(async () => (await counters(g)).clusters.central.bufferedDisk === 0, 'drain')
      assert.deepEqual(values(t.at('t1:8433').items), range(20))
      assert.match(log.lines.join('\n'), /20 points in the disk buffer from before/)
    } finally {
      await g.stop()
    }
    // A third start finds nothing left to send.
    const third = await gatewayWith(t, {}, first.dataDir)
    await third.g.stop()
    assert.equal(t.at('t1:8433').items.length, 20)
  })

  it('counts and logs points the cluster refused after they were acknowledged', async () => {
    const t = fakeTransfers()
    t.at('t1:8433').invalid = 1
    const { g, log } = await gatewayWith(t)
    try {
      assert.equal((await push(g, points(0, 2))).status, 200)
      assert.equal((await counters(g)).clusters.central.refused, 1)
      assert.match(
        log.lines.join('\n'),
        /cluster central refused 1 of 2 points: item 0: PG_TSDB_TOO_OLD/
      )
    } finally {
      await g.stop()
    }
  })
})

describe('gateway input', () => {
  it('answers bad input on every port with a 4xx or an error naming the field, and keeps running', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t, { maxBodyBytes: 4096, maxLineBytes: 64 })
    const rpc = new JsonRpcClient(g.addresses.rpc)
    try {
      const f = async (body: string, status: number, msg: RegExp) => {
        const r = await push(g, body)
        assert.equal(r.status, status, body.slice(0, 40))
        assert.match(r.body.msg, msg)
      }
      await f('', 400, /blank body/)
      await f('{not json', 400, /decode error/)
      await f('{"endpoint":"a"}', 400, /body: expected a JSON array of MetricValue/)
      await f(JSON.stringify(points(0, 100)), 413, /body: larger than 4096 bytes/)
      const bad = await push(g, [{ ...points(0, 1)[0], counterType: 'gauge' }, points(1, 1)[0]])
      assert.equal(bad.status, 200)
      assert.equal(bad.body.data.Invalid, 1)
      assert.match(bad.body.data.Errors[0], /item 0: counterType: "gauge" is not one of GAUGE/)

      await assert.rejects(rpc.call('Transfer.Update', { endpoint: 'a' }), /expected an array/)
      const answer = await rpc.call<{ Invalid: number; Errors: string[] }>('Transfer.Update', [
        { ...points(2, 1)[0], step: 0 },
      ])
      assert.equal(answer.Invalid, 1)
      assert.match(answer.Errors[0], /step: must be a positive integer/)

      const rw = await fetch(`http://${g.addresses.http}/api/v1/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: Buffer.from([1, 2, 3]),
      })
      assert.equal(rw.status, 404)
      assert.match(await rw.text(), /remote write: not taken by the gateway.*labels/)

      // The line socket: a bad line is skipped (as falcon's), a good one forwarded, a long one
      // closes its connection.
      const [host, port] = g.addresses.socket.split(':')
      const sock = connect(Number(port), host)
      await new Promise((r) => sock.once('connect', r))
      sock.end(`update host-s m1 ${NOW} x GAUGE 60\nupdate host-s m1 ${NOW} 7 GAUGE 60\n`)
      await waitUntil(() => t.at('t1:8433').items.some((i) => i.endpoint === 'host-s'), 'line')
      const long = connect(Number(port), host)
      long.on('error', () => undefined)
      await new Promise((r) => long.once('connect', r))
      long.write('update ' + 'x'.repeat(100))
      await new Promise((r) => long.once('close', r))
      const c = await counters(g)
      assert.equal(c.socketLinesTooLong, 1)
      assert.equal(c.invalid, 3, 'the gauge, the step and the line whose value is x')
      assert.equal((await fetch(`http://${g.addresses.http}/health`)).status, 200)
    } finally {
      rpc.close()
      await g.stop()
    }
  })

  it('serves its counters in the Prometheus format', async () => {
    const t = fakeTransfers()
    const { g } = await gatewayWith(t)
    try {
      await push(g, points(0, 3))
      const text = await (await fetch(`http://${g.addresses.http}/metrics`)).text()
      assert.match(text, /peregrine_gateway_points_forwarded_total\{cluster="central"\} 3/)
      assert.match(text, /peregrine_gateway_buffered_points\{cluster="central",where="disk"\} 0/)
      assert.match(text, /peregrine_gateway_points_received_total 3/)
    } finally {
      await g.stop()
    }
  })
})
