// A graph node over real sockets: falcon's Graph RPC methods and HTTP health.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonRpcClient, type Service, silentLogger } from '../src/core/index.js'
import { parseGraphConfig, start } from '../src/graph/index.js'

const NOW = 1_700_000_040 // aligned to 60
let dir = ''
let graph: Service
let rpc: JsonRpcClient

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-graph-'))
  const config = parseGraphConfig({
    rpc: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    walSync: 'write',
  })
  graph = await start(config, { log: silentLogger, now: () => (NOW + 600) * 1000 })
  rpc = new JsonRpcClient(graph.addresses.rpc)
})
after(async () => {
  rpc.close()
  await graph.stop()
  rmSync(dir, { recursive: true, force: true })
})

const item = (
  metric: string,
  ts: number,
  value: number,
  dstype = 'GAUGE',
  tags: Record<string, string> = {}
) => ({
  endpoint: 'host1',
  metric,
  tags,
  value,
  timestamp: ts,
  dstype,
  step: 60,
  heartbeat: 120,
  min: 'U',
  max: 'U',
})

describe('graph', () => {
  it('stores items from Graph.Send and answers Graph.Query densely, null in gaps', async () => {
    const r = await rpc.call('Graph.Send', [
      item('cpu.idle', NOW, 97.5),
      item('cpu.idle', NOW + 60, 96.25),
      item('cpu.idle', NOW + 180, 95),
      item('net.if.in.bytes', NOW, 1000, 'DERIVE', { iface: 'eth0' }),
      item('net.if.in.bytes', NOW + 60, 7000, 'DERIVE', { iface: 'eth0' }),
      item('net.if.in.bytes', NOW + 120, 7600, 'DERIVE', { iface: 'eth0' }),
      { ...item('bad', NOW, 1), endpoint: 'with"quote' },
      { ...item('bad', NOW, 1), dstype: 'gauge' },
      item('huge', NOW, 1e301),
      null,
    ])
    // Falcon's graph skips these silently; ours names them, so transfer can refuse them to the pusher.
    const refused = (r as { refused: { index: number; code: string; message: string }[] }).refused
    assert.deepEqual(
      refused.map((x) => [x.index, x.code]),
      [6, 7, 8, 9].map((i) => [i, 'PG_GRAPH_BAD_ITEM'])
    )
    assert.match(refused[2].message, /above 1e300/)
    assert.deepEqual(await rpc.call('Graph.Send', [item('plain', NOW, 1)]), { code: 0 })
    const q = await rpc.call('Graph.Query', {
      start: NOW,
      end: NOW + 180,
      consolFuc: 'AVERAGE',
      endpoint: 'host1',
      counter: 'cpu.idle',
    })
    assert.deepEqual(q, {
      endpoint: 'host1',
      counter: 'cpu.idle',
      dstype: 'GAUGE',
      step: 60,
      Values: [
        { timestamp: NOW, value: 97.5 },
        { timestamp: NOW + 60, value: 96.25 },
        { timestamp: NOW + 120, value: null },
        { timestamp: NOW + 180, value: 95 },
        { timestamp: NOW + 240, value: null },
      ],
    })
    const rate = await rpc.call<{ dstype: string; Values: unknown[] }>('Graph.Query', {
      start: NOW,
      end: NOW + 120,
      consolFuc: 'AVERAGE',
      endpoint: 'host1',
      counter: 'net.if.in.bytes/iface=eth0',
    })
    assert.equal(rate.dstype, 'DERIVE')
    assert.deepEqual(rate.Values, [
      { timestamp: NOW, value: null },
      { timestamp: NOW + 60, value: 100 },
      { timestamp: NOW + 120, value: 10 },
      { timestamp: NOW + 180, value: null },
    ])
    const counters = (await (await fetch(`http://${graph.addresses.http}/counter/all`)).json()) as {
      data: { sendItems: number; sendInvalid: number }
    }
    assert.equal(counters.data.sendItems, 11)
    assert.equal(counters.data.sendInvalid, 4)
  })

  it('answers an unknown series as falcon does', async () => {
    const q = await rpc.call('Graph.Query', {
      start: NOW,
      end: NOW + 60,
      endpoint: 'nope',
      counter: 'x',
    })
    assert.deepEqual(q, { endpoint: 'nope', counter: 'x', dstype: '', step: 0, Values: [] })
    assert.deepEqual(await rpc.call('Graph.Last', { endpoint: 'nope', counter: 'x' }), {
      endpoint: 'nope',
      counter: 'x',
      value: { timestamp: 0, value: 0 },
    })
  })

  it('answers Graph.Last: the newest gauge, the newest rate of a counter, LastRaw the raw value', async () => {
    assert.deepEqual(await rpc.call('Graph.Last', { endpoint: 'host1', counter: 'cpu.idle' }), {
      endpoint: 'host1',
      counter: 'cpu.idle',
      value: { timestamp: NOW + 180, value: 95 },
    })
    const c = { endpoint: 'host1', counter: 'net.if.in.bytes/iface=eth0' }
    assert.deepEqual(await rpc.call('Graph.Last', c), {
      ...c,
      value: { timestamp: NOW + 120, value: 10 },
    })
    assert.deepEqual(await rpc.call('Graph.LastRaw', c), {
      ...c,
      value: { timestamp: NOW + 120, value: 7600 },
    })
    assert.deepEqual(await rpc.call('Graph.Info', c), {
      ...c,
      consolFun: 'DERIVE',
      step: 60,
      filename: '',
      addr: '',
    })
  })

  it('deletes with Graph.Delete and serves /health', async () => {
    await rpc.call('Graph.Delete', [
      { endpoint: 'host1', metric: 'cpu.idle', step: 60, dstype: 'GAUGE', tags: '' },
    ])
    const q = await rpc.call<{ step: number }>('Graph.Query', {
      start: NOW,
      end: NOW + 60,
      endpoint: 'host1',
      counter: 'cpu.idle',
    })
    assert.equal(q.step, 0)
    const health = await fetch(`http://${graph.addresses.http}/health`)
    assert.equal(await health.text(), 'ok')
  })

  it('rejects a malformed call with an error and keeps serving', async () => {
    await assert.rejects(
      rpc.call('Graph.Send', { not: 'an array' }),
      /expected an array of GraphItem/
    )
    await assert.rejects(rpc.call('Graph.Query', 'x'), /expected \{endpoint, counter\}/)
    assert.deepEqual(await rpc.call('Graph.Ping', {}), { code: 0 })
  })
})
