// transfer's parse workers (transfer.parseWorkers) beside a graph in the same process, as the all-in-one
// runs them: a push parsed and validated by a worker and handed to graph as columns must be answered
// and stored exactly as one parsed on the main thread.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withDial } from '../src/cli/run-all.js'
import { type Deps, JsonRpcClient, type Service, silentLogger } from '../src/core/index.js'
import { parseGraphConfig, start as startGraph } from '../src/graph/index.js'
import { parseTransferConfig, start as startTransfer } from '../src/transfer/index.js'

const NOW = Math.floor(Date.now() / 1000)
const T0 = NOW - (NOW % 60) - 3600
let dir = ''
let graph: Service
let graphRpc: JsonRpcClient
// inline parses every push on the main thread; pooled hands every push to its worker.
let inline: Service
let pooled: Service

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-ingest-workers-'))
  const base: Deps = { log: silentLogger, now: () => Date.now() }
  graph = await startGraph(
    parseGraphConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir: join(dir, 'graph'),
      walSync: 'write',
    }),
    base
  )
  graphRpc = new JsonRpcClient(graph.addresses.rpc)
  const deps = withDial(base, [graph])
  const transferConfig = (extra: Record<string, unknown>) =>
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '',
      graphCluster: { 'graph-00': graph.addresses.rpc },
      ...extra,
    })
  inline = await startTransfer(transferConfig({ parseWorkers: 0 }), deps)
  pooled = await startTransfer(transferConfig({ parseWorkers: 1, parseWorkerMinBytes: 1 }), deps)
})

after(async () => {
  graphRpc.close()
  await inline.stop()
  await pooled.stop()
  await graph.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function push(t: Service, body: string): Promise<{ status: number; answer: unknown }> {
  const res = await fetch(`http://${t.addresses.http}/api/push`, { method: 'POST', body })
  return { status: res.status, answer: await res.json() }
}

// The push `prefix` names its endpoints with, so the two transfers write different series.
function items(prefix: string): unknown[] {
  const out: unknown[] = Array.from({ length: 600 }, (_, i) => ({
    endpoint: `${prefix}-host-${i % 20}`,
    metric: `w.m${i % 3}`,
    value: i % 9 === 0 ? String(i / 2) : i / 4,
    step: 60,
    counterType: i % 4 === 0 ? 'COUNTER' : 'GAUGE',
    tags: i % 5 === 0 ? '' : `k=${i % 5}, z=北京`,
    timestamp: T0 + 60 * Math.floor(i / 60),
  }))
  // Invalid items, a case-folded one (valid), and points graph refuses (a year ahead: too new).
  out.splice(
    7,
    0,
    { endpoint: `${prefix}-bad`, metric: 'x', value: 1, step: 60, counterType: 'gauge' },
    'a string',
    { Endpoint: `${prefix}-folded`, METRIC: 'w.f', value: 2, step: 60, counterType: 'GAUGE' },
    {
      endpoint: `${prefix}-future`,
      metric: 'w.y',
      value: 3,
      step: 60,
      counterType: 'GAUGE',
      timestamp: NOW + 365 * 86400,
    }
  )
  // Names and values graph refuses though transfer's validation takes them (graph's own checks).
  out.push(
    { endpoint: `${prefix}-q"uote`, metric: 'w.q', value: 1, step: 60, counterType: 'GAUGE' },
    { endpoint: `${prefix}-gt`, metric: 'w>q', value: 1, step: 60, counterType: 'GAUGE' },
    { endpoint: `${prefix}-big`, metric: 'w.b', value: 1e301, step: 60, counterType: 'GAUGE' },
    { endpoint: `${prefix}-tiny`, metric: 'w.t', value: -1e-301, step: 60, counterType: 'GAUGE' },
    { endpoint: `${prefix}-host-1`, metric: 'w.m1', value: '2e300', step: 60, counterType: 'GAUGE' }
  )
  out.push({
    endpoint: `${prefix}-future`,
    metric: 'w.y',
    value: 4,
    step: 60,
    counterType: 'GAUGE',
    timestamp: NOW + 366 * 86400,
  })
  return out
}

describe('transfer with parse workers', () => {
  it('answers a push as the main thread does: totals, invalid items and refused points by index', async () => {
    const a = await push(inline, JSON.stringify(items('in')))
    const b = await push(pooled, JSON.stringify(items('po')))
    // The answers differ only in the endpoints' prefixes and the latency.
    const strip = (x: unknown) =>
      JSON.stringify(x)
        .replaceAll(/\b(in|po)-/g, '')
        .replaceAll(/"Latency":\d+/g, '"Latency":0')
    assert.equal(a.status, 200)
    assert.equal(b.status, 200)
    assert.deepEqual(strip(b.answer), strip(a.answer))
    const data = (b.answer as { data: { Total: number; Invalid: number; Errors: string[] } }).data
    assert.equal(data.Total, 610)
    assert.equal(data.Invalid, 9)
    assert.match(data.Errors.join('\n'), /item 7: counterType/)
    assert.match(data.Errors.join('\n'), /item 8: item: expected an object/)
    assert.match(data.Errors.join('\n'), /item 10: PG_TSDB_TOO_NEW: po-future\/w.y/)
    assert.match(data.Errors.join('\n'), /item 609: PG_TSDB_TOO_NEW: po-future\/w.y/)
    for (const i of [604, 605, 606, 607, 608])
      assert.match(data.Errors.join('\n'), new RegExp(`item ${i}: PG_GRAPH_BAD_ITEM`))
  })

  it('stores what it acknowledged, the same series and values as the main thread', async () => {
    for (const [prefix, host, counter] of [
      ['in', 'host-3', 'w.m0/k=3,z=北京'],
      ['po', 'host-3', 'w.m0/k=3,z=北京'],
      ['po', 'host-0', 'w.m0'],
      ['po', 'folded', 'w.f'],
    ]) {
      const r = await graphRpc.call<{
        step: number
        Values: { timestamp: number; value: number | null }[]
      }>('Graph.Query', {
        start: T0 - 60,
        end: NOW,
        endpoint: `${prefix}-${host}`,
        counter,
        cf: 'AVERAGE',
      })
      assert.ok(r.step > 0, `${prefix}-${host} ${counter} stored`)
      assert.ok(
        r.Values.some((v) => v.value !== null),
        `${prefix}-${host} ${counter} has values`
      )
    }
    const q = (prefix: string) =>
      graphRpc.call<{ Values: { timestamp: number; value: number | null }[] }>('Graph.Query', {
        start: T0 - 60,
        end: NOW,
        endpoint: `${prefix}-host-3`,
        counter: 'w.m0/k=3,z=北京',
        cf: 'AVERAGE',
      })
    assert.deepEqual((await q('po')).Values, (await q('in')).Values)
  })

  it('answers 400 to a body that is not JSON or not an array, as the main thread does', async () => {
    for (const body of ['[{"endpoint": ', '{"endpoint":"a"}', '\u001f\u008b binary']) {
      const a = await push(inline, body)
      const b = await push(pooled, body)
      assert.deepEqual(b, a, body)
      assert.equal(b.status, 400)
    }
  })
})
