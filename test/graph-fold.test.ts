// Graph.Fold: an aggregation over a selector folded on the graph node answers what the engine answers
// reading the series, to the bit, over JSON and in process; its parameters are checked and its answer
// bounded. And the api's GraphQuerier pushes it down only where that is exact.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bitsJson, seededRandom, serveJsonRpc } from '../src/core/index.js'
import { GraphCluster } from '../src/cluster/index.js'
import { GraphQuerier } from '../src/api/graph-querier.js'
import { decodeFoldState, Engine, type FoldingQuerier, type FoldSpec } from '../src/promql/index.js'
import { Db, decodeSeriesSet, type Querier } from '../src/tsdb/index.js'
import { graphMethods, newGraphCounters, type GraphOptions } from '../src/graph/rpc.js'

const MIN = 60_000
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % MIN)

/** A database of 30 series over two hours, part flushed into blocks, part in the head. */
async function database(dir: string): Promise<Db> {
  const db = Db.open({
    dir,
    maintenanceInterval: 0,
    walSync: 'write',
    now: () => T0 + 3 * 3600_000,
  })
  const rand = seededRandom(3)
  for (const flush of [true, false]) {
    const app = db.appender()
    for (let s = 0; s < 30; s++) {
      const desc = {
        endpoint: `h${s % 10}`,
        metric: s < 20 ? 'cpu.idle' : 'net.in',
        tags: `dc=${s % 3},kind=k${s % 2}`,
        dstype: s < 20 ? 'GAUGE' : 'DERIVE',
        step: 60,
      } as const
      const base = flush ? T0 : T0 + 3600_000
      for (let i = 0; i < 60; i++) {
        if (rand() < 0.1) continue
        // Now and then a value near the float64 limit: sums overflow, avg switches to its mean.
        const huge = rand() < 0.08 ? 1.7e308 : 0
        const v = s < 20 ? huge || (rand() - 0.3) * 1e6 : i * 1000 + Math.floor(rand() * 500)
        app.append(0, desc, base + i * MIN + Math.floor(rand() * 20_000), v)
      }
    }
    await app.commit()
    if (flush) await db.flush()
  }
  return db
}

/** nodeQuerier is a FoldingQuerier over a node's methods, called as over JSON or in process. */
function nodeQuerier(db: Db, options: Partial<GraphOptions> = {}): FoldingQuerier {
  const methods = graphMethods(db, newGraphCounters(), { maxIndexRows: 1000, ...options })
  const call = async (method: string, p: unknown): Promise<unknown> => {
    const fn = methods.get(method) as (p: unknown) => unknown
    const answer = await fn(JSON.parse(JSON.stringify(p)))
    return options.inProcess === true ? answer : JSON.parse(JSON.stringify(answer))
  }
  const inner = db.querier()
  return {
    select: async (matchers, h) =>
      decodeSeriesSet(await call('Graph.Select', { matchers, start: h.start, end: h.end })),
    fold: async (matchers, h, spec) =>
      decodeFoldState(
        await call('Graph.Fold', {
          matchers,
          start: h.start,
          end: h.end,
          ...(h.grid !== undefined ? { grid: h.grid } : {}),
          spec,
        }),
        spec.n
      ),
    labelNames: (m, h) => inner.labelNames(m, h),
    labelValues: (n, m, h) => inner.labelValues(n, m, h),
    metadata: (m, l) => inner.metadata(m, l),
  }
}

/** readOnly reads every selection whole: neither folds nor hands series over. */
function readOnly(db: Db): Querier {
  const q = db.querier()
  return {
    select: (m, h) => q.select(m, h),
    labelNames: (m, h) => q.labelNames(m, h),
    labelValues: (n, m, h) => q.labelValues(n, m, h),
    metadata: (m, l) => q.metadata(m, l),
  }
}

const spec = (extra: Partial<FoldSpec> = {}): FoldSpec => ({
  op: 'sum',
  grouping: [],
  without: false,
  first: T0,
  interval: MIN,
  n: 120,
  lookback: 300_000,
  maxSamples: 1_000_000,
  ...extra,
})

describe('Graph.Fold', () => {
  it('answers what the engine answers reading the series, over JSON and in process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-fold-'))
    const db = await database(dir)
    const engine = new Engine()
    try {
      const whole = readOnly(db)
      for (const q of [nodeQuerier(db), nodeQuerier(db, { inProcess: true })]) {
        for (const op of ['sum', 'avg', 'count', 'group', 'min', 'max', 'stddev', 'stdvar']) {
          for (const g of ['', ' by (dc)', ' without (endpoint)', ' by (kind, __name__)']) {
            for (const sel of ['{__name__="cpu.idle"}', '{kind=~"k.*"}', 'net_in offset 7m']) {
              const expr = `${op}${g}(${sel})`
              const start = T0 + 5 * MIN
              const end = T0 + 115 * MIN
              assert.equal(
                bitsJson(await engine.rangeQuery(q, expr, start, end, 70_000)),
                bitsJson(await engine.rangeQuery(whole, expr, start, end, 70_000)),
                expr
              )
              assert.equal(
                bitsJson(await engine.instantQuery(q, expr, T0 + 61 * MIN)),
                bitsJson(await engine.instantQuery(whole, expr, T0 + 61 * MIN)),
                `${expr}, instant`
              )
            }
          }
        }
      }
    } finally {
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a bad spec naming the field, and bounds its answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-fold-bad-'))
    const db = await database(dir)
    const methods = graphMethods(db, newGraphCounters(), { maxIndexRows: 1000, maxFoldCells: 240 })
    const fold = methods.get('Graph.Fold') as (p: unknown) => Promise<unknown>
    const all = [{ name: 'kind', op: '=~', value: '.+' }]
    const call = (s: unknown, extra: object = {}) =>
      fold({ matchers: all, start: T0, end: T0 + 7200_000, spec: s, ...extra })
    try {
      for (const [field, value] of [
        ['op', 'quantile'],
        ['op', 7],
        ['grouping', 'dc'],
        ['grouping', ['']],
        ['without', 'no'],
        ['first', Number.NaN],
        ['interval', 0],
        ['n', 0],
        ['n', 11_002],
        ['n', 1.5],
        ['lookback', -1],
        ['maxSamples', -1],
      ] as const) {
        await assert.rejects(
          call({ ...spec(), [field]: value }),
          (err: Error) => err.name === 'RpcError' && err.message.includes(`spec.${field}`),
          `${field} = ${String(value)}`
        )
      }
      // The grid the params give is not the one read: the spec's steps are.
      const plain = await call(spec())
      assert.deepEqual(await call(spec(), { grid: { first: T0 + 7000, step: 3600_000 } }), plain)
      await assert.rejects(call(null), /Graph\.Fold spec/)
      await assert.rejects(call(spec(), { timeout: -1 }), /Graph\.Fold timeout: expected ms ≥ 0/)
      await assert.rejects(call(spec(), { timeout: 'soon' }), /Graph\.Fold timeout/)
      await assert.rejects(call(spec(), { matchers: 'x' }), /Graph\.Fold matchers/)
      // 240 cells: two groups of 120 steps, not three.
      await fold({
        matchers: all,
        start: T0,
        end: T0 + 7200_000,
        spec: spec({ grouping: ['kind'] }),
      })
      await assert.rejects(call(spec({ grouping: ['dc'] })), {
        message: /^PG_PROMQL_TOO_MANY_SAMPLES: more than 240 groups × steps from one graph node/,
      })
      await assert.rejects(call(spec({ maxSamples: 50 })), {
        message: /^PG_PROMQL_TOO_MANY_SAMPLES: query processing would load too many samples/,
      })
    } finally {
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("GraphQuerier's fold", () => {
  it('pushes down to a single node, and reads the selection over several or from an older node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-fold-api-'))
    const db = await database(dir)
    const servers = [
      serveJsonRpc(graphMethods(db, newGraphCounters(), { maxIndexRows: 1000 })),
      // A node whose answer limit a fold of 120 steps passes (two groups of 120 steps).
      serveJsonRpc(graphMethods(db, newGraphCounters(), { maxIndexRows: 1000, maxFoldCells: 200 })),
      // An older node: every call but Graph.Fold.
      serveJsonRpc(
        new Map(
          [...graphMethods(db, newGraphCounters(), { maxIndexRows: 1000 })].filter(
            ([name]) => name !== 'Graph.Fold'
          )
        )
      ),
    ]
    const addrs = await Promise.all(
      servers.map(
        (srv) =>
          new Promise<string>((resolve) =>
            srv.listen(0, '127.0.0.1', () =>
              resolve(`127.0.0.1:${(srv.address() as AddressInfo).port}`)
            )
          )
      )
    )
    const clusters = [
      new GraphCluster({ a: addrs[0] }, 500, 5000),
      new GraphCluster({ a: addrs[2] }, 500, 5000),
      new GraphCluster({ a: addrs[0], b: addrs[2] }, 500, 5000),
      new GraphCluster({ a: addrs[1] }, 500, 5000),
    ]
    const [one, older, two, limited] = clusters.map((c) => new GraphQuerier(c))
    const m = [{ name: '__name__', op: '=' as const, value: 'cpu.idle' }]
    const hints = { start: T0 - 300_000, end: T0 + 7140_000, grid: { first: T0, step: MIN } }
    try {
      const state = await one.fold(m, hints, spec())
      assert.ok(state !== null && state.groups.length === 1 && state.points > 0)
      assert.equal(await older.fold(m, hints, spec()), null, 'a node without Graph.Fold')
      assert.equal(await two.fold(m, hints, spec()), null, 'several nodes')
      const byKind = spec({ grouping: ['kind'] })
      assert.equal(await limited.fold(m, hints, byKind), null, 'past the answer limit: select')
      assert.ok((await limited.fold(m, hints, spec())) !== null, 'within it: folded')
      const engine = new Engine()
      const want = bitsJson(
        await engine.rangeQuery(readOnly(db), 'sum by (kind) (cpu_idle)', T0, T0 + 7140_000, MIN)
      )
      for (const q of [one, older, two, limited]) {
        assert.equal(
          bitsJson(await engine.rangeQuery(q, 'sum by (kind) (cpu_idle)', T0, T0 + 7140_000, MIN)),
          want
        )
      }
    } finally {
      for (const c of clusters) c.close()
      for (const srv of servers) {
        srv.closeAll()
        await new Promise((r) => srv.close(r))
      }
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
