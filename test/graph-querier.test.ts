// The Prometheus-series Querier over a graph cluster: two real graph nodes answer as one holding
// everything; over JSON-RPC sockets and in process (the all-in-one's withDial).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GraphCluster } from '../src/cluster/index.js'
import { GraphQuerier } from '../src/api/graph-querier.js'
import { resolveConfigs } from '../src/cli/config.js'
import { startAll, stopAll, withDial } from '../src/cli/run-all.js'
import {
  HashRing,
  JsonRpcClient,
  type RpcCaller,
  type Service,
  seriesKeyOf,
  silentLogger,
} from '../src/core/index.js'
import type { Matcher, Querier, SeriesSet } from '../src/tsdb/index.js'

const NOW = 1_700_000_040 // s, aligned to 60
const MS = NOW * 1000
const MIN = 60_000
let dir = ''
let nodes: Service[] = []
const deps = { log: silentLogger, now: () => (NOW + 3600) * 1000 }
const clients: RpcCaller[] = []
const clusters: GraphCluster[] = []

// A graph node started as `peregrine start graph` starts it, on 127.0.0.1 port 0.
async function startGraph(name: string): Promise<Service> {
  const configs = await resolveConfigs(
    {
      graph: {
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        dataDir: join(dir, name),
        walSync: 'write',
      },
    },
    ['graph'],
    join(dir, name)
  )
  const [graph] = await startAll(configs, deps)
  return graph
}

const item = (
  endpoint: string,
  metric: string,
  tags: Record<string, string>,
  ts: number,
  value: number,
  dstype = 'GAUGE'
) => ({
  endpoint,
  metric,
  tags,
  value,
  timestamp: ts,
  dstype,
  step: 60,
})

function plain(s: SeriesSet) {
  return {
    warnings: s.warnings,
    series: s.labels.map((ls, i) => ({
      labels: ls.map((l) => `${l.name}=${l.value}`).join(','),
      samples: Array.from(s.ts.subarray(s.offsets[i], s.offsets[i + 1]), (t, j) => [
        t,
        s.vs[s.offsets[i] + j],
      ]),
    })),
  }
}

function querier(
  cluster: Record<string, string>,
  dial?: ConstructorParameters<typeof GraphCluster>[3]
) {
  const c = new GraphCluster(cluster, 500, 5000, dial)
  clusters.push(c)
  return new GraphQuerier(c)
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-graph-querier-'))
  nodes = [await startGraph('a'), await startGraph('b'), await startGraph('one')]
  const [a, b, one] = nodes.map((n) => {
    const c = new JsonRpcClient(n.addresses.rpc)
    clients.push(c)
    return c
  })
  // Placed as transfer places them: by falcon's ring over the series key.
  const ring = new HashRing(['graph-00', 'graph-01'], 500)
  const byNode: Record<string, ReturnType<typeof item>[]> = { 'graph-00': [], 'graph-01': [] }
  const all: ReturnType<typeof item>[] = []
  for (let e = 0; e < 16; e++) {
    for (const [metric, dstype, tags] of [
      ['cpu.idle', 'GAUGE', {}],
      ['net.if.in.bytes', 'COUNTER', { iface: `eth${e % 2}` }],
      ['df.bytes.free.percent', 'GAUGE', { mount: '/' }],
    ] as const) {
      for (let i = 0; i < 10; i++) {
        const it = item(`host${e}`, metric, tags, NOW + i * 60, e * 1000 + i * (e + 1), dstype)
        const key = seriesKeyOf(
          `host${e}`,
          metric,
          Object.entries(tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')
        )
        byNode[ring.get(key)].push(it)
        all.push(it)
      }
    }
  }
  // A series moved by a ring change: its old points on one node, its newer ones on the other.
  byNode['graph-00'].push(
    item('moved', 'cpu.idle', {}, NOW, 1),
    item('moved', 'cpu.idle', {}, NOW + 60, 2)
  )
  byNode['graph-01'].push(
    item('moved', 'cpu.idle', {}, NOW + 60, 99),
    item('moved', 'cpu.idle', {}, NOW + 120, 3)
  )
  all.push(
    item('moved', 'cpu.idle', {}, NOW, 1),
    item('moved', 'cpu.idle', {}, NOW + 60, 2),
    item('moved', 'cpu.idle', {}, NOW + 120, 3)
  )
  assert.ok(
    byNode['graph-00'].length > 30 && byNode['graph-01'].length > 30,
    'both nodes hold series'
  )
  await a.call('Graph.Send', byNode['graph-00'])
  await b.call('Graph.Send', byNode['graph-01'])
  await one.call('Graph.Send', all)
})

after(async () => {
  for (const c of clusters) c.close()
  for (const c of clients) c.close()
  await stopAll(nodes, deps)
  rmSync(dir, { recursive: true, force: true })
})

const CASES: Matcher[][] = [
  [{ name: '__name__', op: '=', value: 'cpu_idle' }],
  [
    { name: '__name__', op: '=', value: 'cpu.idle' },
    { name: 'endpoint', op: '=~', value: 'host1.|moved' },
  ],
  [
    { name: '__name__', op: '=~', value: 'net_if_.*' },
    { name: 'iface', op: '=', value: 'eth0' },
  ],
  [
    { name: '__name__', op: '=', value: 'df.bytes.free.percent' },
    { name: '__type__', op: '=', value: 'gauge' },
  ],
  [{ name: 'endpoint', op: '=~', value: '.+' }],
  [{ name: 'endpoint', op: '=', value: 'nowhere' }],
]
const RANGES = [
  { start: MS, end: MS + 9 * MIN },
  { start: MS + 2 * MIN, end: MS + 4 * MIN },
]

async function sameAnswers(q: Querier, ref: Querier, what: string): Promise<void> {
  for (const ms of CASES) {
    for (const range of RANGES) {
      const about = `${what} ${JSON.stringify(ms)} ${JSON.stringify(range)}`
      assert.deepEqual(plain(await q.select(ms, range)), plain(await ref.select(ms, range)), about)
      for (const name of ['__name__', 'endpoint', 'iface']) {
        assert.deepEqual(
          await q.labelValues(name, ms, range),
          await ref.labelValues(name, ms, range),
          about
        )
      }
      assert.deepEqual(await q.labelNames(ms, range), await ref.labelNames(ms, range), about)
    }
  }
  assert.deepEqual(await q.labelValues('endpoint', [], { limit: 3 }), ['host0', 'host1', 'host10'])
  assert.deepEqual(await q.metadata(undefined, undefined), await ref.metadata(undefined, undefined))
  assert.deepEqual(
    [...(await q.metadata('net_if_in_bytes', undefined))],
    [['net.if.in.bytes', { type: 'counter', help: '', unit: '' }]]
  )
}

describe('GraphQuerier over two graph nodes', () => {
  it('answers over JSON-RPC as one node holding everything does', async () => {
    const [a, b, one] = nodes
    const q = querier({ 'graph-00': a.addresses.rpc, 'graph-01': b.addresses.rpc })
    const ref = querier({ one: one.addresses.rpc })
    await sameAnswers(q, ref, 'json')
    // The moved series: merged by time, the first node's sample where both hold one.
    const moved = plain(await q.select([{ name: 'endpoint', op: '=', value: 'moved' }], RANGES[0]))
    assert.deepEqual(moved.series[0].samples, [
      [MS, 1],
      [MS + MIN, 2],
      [MS + 2 * MIN, 3],
    ])
    // A counter gives its raw values; NaN-free here, so JSON's base64 columns carry them as sent.
    const net = plain(
      await q.select(
        [
          { name: '__name__', op: '=', value: 'net.if.in.bytes' },
          { name: 'endpoint', op: '=', value: 'host3' },
        ],
        RANGES[0]
      )
    )
    assert.deepEqual(net.series[0].samples.slice(0, 3), [
      [MS, 3000],
      [MS + MIN, 3004],
      [MS + 2 * MIN, 3008],
    ])
    // The budget holds for the merged answer.
    const all: Matcher[] = [{ name: 'endpoint', op: '=~', value: '.+' }]
    const total = (await ref.select(all, RANGES[0])).ts.length
    assert.equal((await q.select(all, { ...RANGES[0], maxSamples: total })).ts.length, total)
    await assert.rejects(
      q.select(all, { ...RANGES[0], maxSamples: total - 1 }),
      (err: Error & { code?: string; status?: number }) =>
        err.code === 'PG_PROMQL_TOO_MANY_SAMPLES' && err.status === 422
    )
    // A node's refusal of the request comes back as the error it raised there.
    await assert.rejects(
      q.select([{ name: 'endpoint', op: '=~', value: '(?<=x)y' }], RANGES[0]),
      (err: Error & { code?: string; status?: number }) =>
        err.code === 'PG_CORE_BAD_REGEX' && err.status === 400 && /look-around/.test(err.message)
    )
  })

  it("answers in process, through the all-in-one's withDial, as over JSON-RPC", async () => {
    const [a, b, one] = nodes
    const { dial } = withDial(deps, nodes)
    assert.ok(dial !== undefined)
    // In process the columns stay typed arrays: no base64 on the way.
    const raw = await dial(a.addresses.rpc, { callTimeout: 1000 }).call<{ ts: unknown }>(
      'Graph.Select',
      {
        matchers: [{ name: 'endpoint', op: '=~', value: '.+' }],
        start: MS,
        end: MS + MIN,
      }
    )
    assert.ok(raw.ts instanceof Float64Array)
    const q = querier({ 'graph-00': a.addresses.rpc, 'graph-01': b.addresses.rpc }, dial)
    const ref = querier({ one: one.addresses.rpc })
    await sameAnswers(q, ref, 'in process')
  })
})
