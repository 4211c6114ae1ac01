import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HashRing, type RpcCaller, RpcError, seriesKeyOfCounter } from '../core/index.js'
import { GraphCluster, GraphUnavailable, mergeReplicaAnswers } from './graph-cluster.js'

const cluster = { 'graph-00': 'g0:6070', 'graph-01': 'g1:6070', 'graph-02': 'g2:6070' }
const nodeAt = (address: string) => address.replace(/^g(\d):6070$/, 'graph-0$1')

type Answer = (method: string, param: unknown) => unknown

/** fakeNodes answers each call with `answer(node)`; a node in `down` refuses connections. */
function fakeNodes(answer: (node: string) => Answer) {
  const down = new Set<string>()
  const calls: string[] = []
  const dial = (address: string): RpcCaller => ({
    call<T>(method: string, param: unknown): Promise<T> {
      const node = nodeAt(address)
      calls.push(`${node} ${method}`)
      if (down.has(node)) return Promise.reject(new Error('connect ECONNREFUSED'))
      try {
        return Promise.resolve(answer(node)(method, param) as T)
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)))
      }
    },
    close: () => undefined,
  })
  return { dial, down, calls }
}

const ring = new HashRing(Object.keys(cluster))
// A series whose replicas (2) are graph-00 then graph-01, and one held by graph-02 first.
const find = (want: string[]) => {
  for (let i = 0; ; i++) {
    const counter = `cpu.idle/n=${i}`
    if (ring.getN(seriesKeyOfCounter('h', counter), 2).join() === want.join()) return counter
  }
}

describe('GraphCluster', () => {
  it('with replication 1 asks only the node the ring picks, and fails when it does not answer', async () => {
    const counter = find(['graph-00', 'graph-01'])
    const fake = fakeNodes((node) => () => ({ node }))
    const c = new GraphCluster(cluster, 500, 1000, fake.dial)
    assert.deepEqual(await c.callSeries('h', counter, 'Graph.Info', {}), { node: 'graph-00' })
    assert.deepEqual(fake.calls, ['graph-00 Graph.Info'])
    fake.down.add('graph-00')
    await assert.rejects(c.callSeries('h', counter, 'Graph.Info', {}), GraphUnavailable)
    await assert.rejects(c.callAll('Graph.Endpoints', {}), GraphUnavailable)
    c.close()
  })

  it('with replication 2 fills the points one replica lacks from the other', async () => {
    const counter = find(['graph-00', 'graph-01'])
    const values = (vs: (number | null)[]) => vs.map((value, i) => ({ timestamp: 60 * i, value }))
    const fake = fakeNodes((node) => () => ({
      endpoint: 'h',
      counter,
      dstype: 'GAUGE',
      step: 60,
      // graph-00 came back from a crash and missed two points; graph-01 missed none.
      Values: node === 'graph-00' ? values([1, null, null, 4]) : values([1, 2, 3, null]),
    }))
    const c = new GraphCluster(cluster, 500, 1000, fake.dial, 2)
    const got = await c.callSeries<{ Values: unknown }>('h', counter, 'Graph.Query', {})
    assert.deepEqual(got.Values, values([1, 2, 3, 4]))
    assert.deepEqual(fake.calls.sort(), ['graph-00 Graph.Query', 'graph-01 Graph.Query'])
    fake.down.add('graph-00')
    const one = await c.callSeries<{ Values: unknown }>('h', counter, 'Graph.Query', {})
    assert.deepEqual(one.Values, values([1, 2, 3, null]))
    fake.down.add('graph-01')
    await assert.rejects(
      c.callSeries('h', counter, 'Graph.Query', {}),
      (err: Error) =>
        err instanceof GraphUnavailable &&
        /graph node graph-00.*graph node graph-01/.test(err.message)
    )
    c.close()
  })

  it("with replication 2 passes a node's refusal of the request on as a 400", async () => {
    const counter = find(['graph-01', 'graph-02'])
    const fake = fakeNodes(() => () => {
      throw new RpcError('Graph.Query: start and end must be unix seconds')
    })
    const c = new GraphCluster(cluster, 500, 1000, fake.dial, 2)
    await assert.rejects(c.callSeries('h', counter, 'Graph.Query', {}), {
      statusCode: 400,
      message: 'Graph.Query: start and end must be unix seconds',
    })
    c.close()
  })

  it('with replication 2 answers a fan-out from the nodes up while one is down, not two', async () => {
    const fake = fakeNodes((node) => () => [node])
    const c = new GraphCluster(cluster, 500, 1000, fake.dial, 2)
    assert.deepEqual((await c.callAll<string[]>('Graph.Endpoints', {})).flat().sort(), [
      'graph-00',
      'graph-01',
      'graph-02',
    ])
    fake.down.add('graph-01')
    assert.deepEqual((await c.callAll<string[]>('Graph.Endpoints', {})).flat().sort(), [
      'graph-00',
      'graph-02',
    ])
    fake.down.add('graph-02')
    await assert.rejects(c.callAll('Graph.Endpoints', {}), /2 graph nodes do not answer/)
    c.close()
  })

  it('with replication 2 reads last points from every replica: the newest, the first arrival', async () => {
    const a = find(['graph-00', 'graph-01'])
    const b = find(['graph-02', 'graph-00'])
    const items = [
      { endpoint: 'h', counter: a },
      { endpoint: 'h', counter: b },
    ]
    const point = (timestamp: number, arrivedAt: number) => ({
      timestamp,
      value: 1,
      arrivedAt,
      arrivedTimestamp: timestamp,
      arrivedValue: 1,
    })
    const fake = fakeNodes((node) => (_m, p) => ({
      now: 10_000,
      points: (p as { items: { counter: string }[] }).items.map(({ counter }) => {
        if (node === 'graph-01') return counter === a ? point(120, 9_000) : null
        if (node === 'graph-00') return counter === a ? point(60, 5_000) : point(60, 8_000)
        return point(60, 2_000)
      }),
    }))
    const c = new GraphCluster(cluster, 500, 1000, fake.dial, 2)
    const got = await c.lastMany(items)
    assert.deepEqual(got, {
      points: [
        { ...point(120, 9_000), age: 1_000 },
        // Both have the point at 60: it arrived first on graph-02 (the other had it replayed).
        { ...point(60, 2_000), age: 8_000 },
      ],
      failures: [],
    })
    fake.down.add('graph-00')
    const one = await c.lastMany(items)
    assert.deepEqual(one.failures, [])
    assert.equal(one.points[0]?.timestamp, 120)
    fake.down.add('graph-01')
    const none = await c.lastMany(items)
    assert.equal(none.points[0], undefined)
    assert.equal(none.points[1]?.timestamp, 60)
    assert.equal(none.failures.length, 2)
    c.close()
  })

  it('says null, not "did not answer", for a series its nodes have no point of, at any replication', async () => {
    const fake = fakeNodes(() => (_m, p) => ({
      now: 10_000,
      points: (p as { items: unknown[] }).items.map(() => null),
    }))
    for (const r of [1, 2]) {
      const c = new GraphCluster(cluster, 500, 1000, fake.dial, r)
      assert.deepEqual(await c.lastMany([{ endpoint: 'h', counter: 'cpu.idle' }]), {
        points: [null],
        failures: [],
      })
      c.close()
    }
  })

  it('refuses a replication it cannot place', () => {
    assert.throws(() => new GraphCluster(cluster, 500, 1000, undefined, 4), /BUG: replication 4/)
  })
})

describe('mergeReplicaAnswers', () => {
  it('takes the newest last point, a value before none', () => {
    const last = (timestamp: number, value: number | null) => ({ value: { timestamp, value } })
    const f = (answers: unknown[], want: unknown) =>
      assert.deepEqual(mergeReplicaAnswers('Graph.Last', answers), want)
    f([last(60, 1), last(120, 2)], last(120, 2))
    f([last(120, 2), last(60, 1)], last(120, 2))
    f([last(120, null), last(60, 1)], last(60, 1))
    f([last(0, 0), last(60, 1)], last(60, 1))
  })

  it('answers how many points a series has when a replica says it has more than asked', () => {
    const got = mergeReplicaAnswers('Graph.Query', [
      { step: 60, Values: [{ timestamp: 0, value: 1 }] },
      { step: 60, Values: [], points: 5000 },
    ])
    assert.deepEqual(got, { step: 60, Values: [], points: 5000 })
  })

  it('skips a replica that does not know the series', () => {
    const known = { step: 60, dstype: 'GAUGE', Values: [{ timestamp: 0, value: 1 }] }
    const f = (answers: unknown[]) =>
      assert.deepEqual(mergeReplicaAnswers('Graph.Query', answers), known)
    f([{ step: 0, dstype: '', Values: [] }, known])
    f([known, { step: 0, dstype: '', Values: [] }])
  })
})
