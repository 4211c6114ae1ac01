// The metric pipeline in real processes: push to transfer, two graph nodes, read through /api/v1/graph.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HashRing, JsonRpcClient, normalizeTags, seriesKeyOf } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

// The falcon layout at scale, in real processes: two graph nodes, and transfer with api in a third.
const STEP = 60
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 120 * STEP
let dir = ''
const processes: PeregrineProcess[] = []
let api = ''
let apitoken = ''
let transfer: JsonRpcClient
/** graphCluster: the two graph nodes by name, as transfer and api are configured with them. */
let graphCluster: Record<string, string> = {}

async function post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://${api}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', apitoken },
  })
  return { status: res.status, json: await res.json() }
}
async function get(path: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://${api}${path}`, { headers: { apitoken } })
  return { status: res.status, json: await res.json() }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-pipeline-'))
  for (const name of ['g0', 'g1', 'front']) mkdirSync(join(dir, name))
  const g0 = await startPeregrine(join(dir, 'g0'), ['graph'], { graph: { walSync: 'write' } })
  const g1 = await startPeregrine(join(dir, 'g1'), ['graph'], { graph: { walSync: 'write' } })
  graphCluster = { 'graph-00': g0.addresses.graph.rpc, 'graph-01': g1.addresses.graph.rpc }
  const front = await startPeregrine(join(dir, 'front'), ['transfer', 'api'], {
    transfer: { graphCluster },
    api: { graphCluster },
  })
  processes.push(front, g0, g1)
  api = front.addresses.api.http
  apitoken = await loginRoot(api)
  transfer = new JsonRpcClient(front.addresses.transfer.rpc)
  // Two hours of one point a minute for 6 hosts: a gauge, and a counter growing 600 a minute (10/s).
  const items = []
  for (let i = 0; i < 120; i++) {
    for (let h = 0; h < 6; h++) {
      const ts = T0 + i * STEP
      items.push({
        endpoint: `web-${h}`,
        metric: 'cpu.idle',
        value: 50 + h + (i % 10) / 10,
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
        timestamp: ts,
      })
      items.push({
        endpoint: `web-${h}`,
        metric: 'net.if.in.bytes',
        value: 1e6 + 600 * i,
        step: STEP,
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: ts,
      })
    }
  }
  const r = await transfer.call<{ Total: number; Invalid: number }>('Transfer.Update', items)
  assert.equal(r.Total, 1440)
  assert.equal(r.Invalid, 0)
})
after(async () => {
  transfer.close()
  for (const p of processes) assert.equal(await p.stop(), 0)
  rmSync(dir, { recursive: true, force: true })
})

type History = {
  endpoint: string
  counter: string
  dstype: string
  step: number
  Values: { timestamp: number; value: number | null }[]
}[]

describe('pipeline: transfer → graph → api', () => {
  it('reads back every host through /api/v1/graph/history with falcon shapes', async () => {
    const { status, json } = await post('/api/v1/graph/history', {
      hostnames: ['web-0', 'web-5', 'nobody'],
      counters: ['cpu.idle'],
      start_time: T0,
      end_time: T0 + 9 * STEP,
      consol_fun: 'AVERAGE',
      step: STEP,
    })
    assert.equal(status, 200)
    const h = json as History
    assert.deepEqual(
      h.map((x) => x.endpoint),
      ['web-0', 'web-5'],
      'a host with no series is left out, as falcon does'
    )
    assert.deepEqual(h[0], {
      endpoint: 'web-0',
      counter: 'cpu.idle',
      dstype: 'GAUGE',
      step: 60,
      Values: Array.from({ length: 10 }, (_, i) => ({
        timestamp: T0 + i * STEP,
        value: 50 + i / 10,
      })),
    })
  })

  it('returns counters as per-second rates', async () => {
    const { json } = await post('/api/v1/graph/history', {
      hostnames: ['web-3'],
      counters: ['net.if.in.bytes/iface=eth0'],
      start_time: T0 + STEP,
      end_time: T0 + 3 * STEP,
      consol_fun: 'AVERAGE',
    })
    const h = json as History
    assert.equal(h[0].dstype, 'DERIVE')
    assert.deepEqual(h[0].Values, [
      { timestamp: T0 + STEP, value: 10 },
      { timestamp: T0 + 2 * STEP, value: 10 },
      { timestamp: T0 + 3 * STEP, value: 10 },
    ])
  })

  it('honours consol_fun and step: MAX over 5-step buckets', async () => {
    const { json } = await post('/api/v1/graph/history', {
      hostnames: ['web-1'],
      counters: ['cpu.idle'],
      start_time: T0 + 1,
      end_time: T0 + 20 * STEP,
      consol_fun: 'MAX',
      step: 300,
    })
    const h = json as History
    assert.equal(h[0].step, 300)
    // Buckets (e-300, e]: values 51 + (i % 10)/10 for the minutes inside each.
    const want = (end: number) => {
      let max = -Infinity
      for (let i = 0; i < 120; i++) {
        const t = T0 + i * STEP
        if (t > end - 300 && t <= end) max = Math.max(max, 51 + (i % 10) / 10)
      }
      return max
    }
    assert.ok(h[0].Values.length >= 4)
    for (const v of h[0].Values)
      assert.equal(v.value, want(v.timestamp), `bucket ending ${v.timestamp - T0}`)
  })

  it('finds endpoints and their counters, as the dashboard asks', async () => {
    const eps = (await get('/api/v1/graph/endpoint?q=web-[12]')).json as {
      id: number
      endpoint: string
    }[]
    assert.deepEqual(
      eps.map((e) => e.endpoint),
      ['web-1', 'web-2']
    )
    const withTag = (await get('/api/v1/graph/endpoint?q=web&tags=iface=eth0&limit=2&page=2'))
      .json as { endpoint: string }[]
    assert.deepEqual(
      withTag.map((e) => e.endpoint),
      ['web-2', 'web-3']
    )
    const counters = (await get(`/api/v1/graph/endpoint_counter?eid=${eps[0].id}&metricQuery=net`))
      .json
    assert.deepEqual(counters, [
      { endpoint_id: eps[0].id, counter: 'net.if.in.bytes/iface=eth0', step: 60, type: 'DERIVE' },
    ])
    const notNet = (await get(`/api/v1/graph/endpoint_counter?eid=${eps[0].id}&metricQuery=!net`))
      .json as { counter: string }[]
    assert.deepEqual(
      notNet.map((c) => c.counter),
      ['cpu.idle']
    )
  })

  it('answers /graph/lastpoint', async () => {
    const { json } = await post('/api/v1/graph/lastpoint', [
      { endpoint: 'web-4', counter: 'cpu.idle' },
      { endpoint: 'web-4', counter: 'net.if.in.bytes/iface=eth0' },
    ])
    assert.deepEqual(json, [
      {
        endpoint: 'web-4',
        counter: 'cpu.idle',
        value: { timestamp: T0 + 119 * STEP, value: 54.9 },
      },
      {
        endpoint: 'web-4',
        counter: 'net.if.in.bytes/iface=eth0',
        value: { timestamp: T0 + 119 * STEP, value: 10 },
      },
    ])
  })

  it('answers bad requests with 400 naming the field', async () => {
    const f = async (body: unknown, error: RegExp) => {
      const r = await post('/api/v1/graph/history', body)
      assert.equal(r.status, 400)
      assert.match((r.json as { error: string }).error, error)
    }
    const ok = {
      hostnames: ['a'],
      counters: ['b'],
      start_time: 1,
      end_time: 2,
      consol_fun: 'AVERAGE',
    }
    await f([], /body: expected a JSON object/)
    await f({ ...ok, hostnames: undefined }, /hostnames: required/)
    await f({ ...ok, counters: [''] }, /counters: required/)
    await f({ ...ok, start_time: 'yesterday' }, /start_time: required, unix seconds/)
    await f({ ...ok, end_time: 0 }, /end_time: must not be before start_time/)
    await f({ ...ok, consol_fun: 'avg' }, /consol_fun: required, one of AVERAGE, MAX, MIN, LAST/)
    await f({ ...ok, step: -5 }, /step: a positive number/)
    const res = await fetch(`http://${api}/api/v1/graph/history`, {
      method: 'POST',
      body: '{nope',
      headers: { 'content-type': 'application/json', apitoken },
    })
    assert.equal(res.status, 400)
    assert.match(((await res.json()) as { error: string }).error, /^body: /)
    assert.equal((await get('/api/v1/graph/endpoint_counter?eid=abc')).status, 400)
    // Inputs that would otherwise take the process down or tie it up.
    await f({ ...ok, start_time: 0, end_time: 1e13 }, /end_time: required, unix seconds from 0 to/)
    const many = Array.from({ length: 101 }, (_, i) => `h${i}`)
    await f(
      { ...ok, hostnames: many, counters: many },
      /hostnames × counters: 10201 series asked, at most 10000/
    )
    // A recent start is answered at raw resolution: an end decades ahead would be millions of points.
    const huge = await post('/api/v1/graph/history', {
      ...ok,
      hostnames: ['web-0'],
      counters: ['cpu.idle'],
      start_time: T0,
      end_time: 2 * Math.floor(Date.now() / 1000) - 100,
      step: 60,
    })
    assert.equal(huge.status, 400)
    assert.match(
      (huge.json as { error: string }).error,
      /^\/graph\/history: \d+ points asked, at most 1000000 \(api\.maxHistoryPoints\); ask fewer counters, a shorter range or a larger step$/
    )
    const twice = await get('/api/v1/graph/endpoint?q=a&q=b')
    assert.equal(twice.status, 400)
    assert.match((twice.json as { error: string }).error, /q: give it once/)
  })
})

describe('series placement: one key function in transfer, graph and api', () => {
  // Three tags each, written and asked for in different orders: the node is chosen by the sorted key.
  const SERIES = 24
  const tagsOf = (i: number): [string, string][] => [
    ['dc', `dc${i % 3}`],
    ['iface', `eth${i}`],
    ['zone', `z${i % 2}`],
  ]
  const render = (pairs: [string, string][]) => pairs.map(([k, v]) => `${k}=${v}`).join(',')
  // Orders the tags arrive in (one per point) and the order a client asks with: none sorted but one.
  const orders = [
    (t: [string, string][]) => [t[2], t[0], t[1]],
    (t: [string, string][]) => [t[1], t[2], t[0]],
    (t: [string, string][]) => t,
  ]
  const askOrder = (t: [string, string][]) => [t[2], t[1], t[0]]
  const endpoint = (i: number) => `multi-${i}`

  it('writes every multi-tag series to one node and reads it back through api from that node', async () => {
    const items = []
    for (let i = 0; i < SERIES; i++) {
      for (let p = 0; p < orders.length; p++) {
        items.push({
          endpoint: endpoint(i),
          metric: 'app.latency',
          value: i * 10 + p,
          step: STEP,
          counterType: 'GAUGE',
          tags: render(orders[p](tagsOf(i))),
          timestamp: T0 + p * STEP,
        })
      }
    }
    const r = await transfer.call<{ Total: number; Invalid: number }>('Transfer.Update', items)
    assert.deepEqual([r.Total, r.Invalid], [SERIES * orders.length, 0])

    // The test can fail only if asking with the client's tag order would pick another node.
    const ring = new HashRing(Object.keys(graphCluster))
    const sortedKey = (i: number) =>
      seriesKeyOf(endpoint(i), 'app.latency', normalizeTags(render(tagsOf(i))))
    const moved = Array.from({ length: SERIES }, (_, i) => i).filter(
      (i) =>
        ring.get(`${endpoint(i)}/app.latency/${render(askOrder(tagsOf(i)))}`) !==
        ring.get(sortedKey(i))
    )
    assert.ok(moved.length > 0, 'some unsorted keys hash to the other node')

    const nodes = Object.fromEntries(
      Object.entries(graphCluster).map(([name, address]) => [name, new JsonRpcClient(address)])
    )
    try {
      for (let i = 0; i < SERIES; i++) {
        const counter = `app.latency/${render(askOrder(tagsOf(i)))}`
        // Exactly one node holds the series, with every point: the one the ring names.
        const holders: string[] = []
        for (const [name, client] of Object.entries(nodes)) {
          const q = await client.call<History[number]>('Graph.Query', {
            endpoint: endpoint(i),
            counter,
            start: T0,
            end: T0 + 2 * STEP,
            consolFuc: 'AVERAGE',
          })
          if (q.step !== 0) holders.push(name)
        }
        assert.deepEqual(holders, [ring.get(sortedKey(i))], endpoint(i))

        const { status, json } = await post('/api/v1/graph/history', {
          hostnames: [endpoint(i)],
          counters: [counter],
          start_time: T0,
          end_time: T0 + 2 * STEP,
          consol_fun: 'AVERAGE',
          step: STEP,
        })
        assert.equal(status, 200)
        const h = json as History
        assert.equal(h.length, 1, `history of ${endpoint(i)}/${counter}`)
        assert.deepEqual(
          h[0].Values.map((v) => v.value),
          [i * 10, i * 10 + 1, i * 10 + 2],
          `${endpoint(i)}/${counter}`
        )

        const last = await post('/api/v1/graph/lastpoint', [{ endpoint: endpoint(i), counter }])
        assert.deepEqual(
          (last.json as { value: { value: number } }[])[0].value.value,
          i * 10 + 2,
          `lastpoint of ${endpoint(i)}/${counter}`
        )
      }
    } finally {
      for (const c of Object.values(nodes)) c.close()
    }
  })
})
