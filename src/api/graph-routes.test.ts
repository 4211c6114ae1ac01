import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { RpcCaller } from '../core/index.js'
import { testEngines } from '../store/index.js'
import { openTestPortal, type TestPortal } from './testing.js'

const T = 1_700_000_000

/**
 * A graph cluster in-process: series have a number of points each (the dense answer Graph.Query would
 * send), honouring `maxPoints` as graph does; `slow` answers index calls only after 5 s.
 */
function fakeGraph() {
  const g = {
    points: new Map<string, number>(),
    built: 0,
    slow: false,
    params: [] as Record<string, unknown>[],
    dial: (): RpcCaller => ({
      call<T>(method: string, param: unknown): Promise<T> {
        const p = param as Record<string, unknown>
        g.params.push({ method, ...p })
        if (method === 'Graph.Query') {
          const n = g.points.get(`${String(p.endpoint)}/${String(p.counter)}`)
          const base = { endpoint: p.endpoint, counter: p.counter, dstype: 'GAUGE', step: 60 }
          if (n === undefined) return Promise.resolve({ ...base, step: 0, Values: [] } as T)
          if (typeof p.maxPoints === 'number' && n > p.maxPoints)
            return Promise.resolve({ ...base, Values: [], points: n } as T)
          g.built += n
          const Values = Array.from({ length: n }, (_, i) => ({ timestamp: T + 60 * i, value: 1 }))
          return Promise.resolve({ ...base, Values } as T)
        }
        if (!g.slow) return Promise.resolve([] as T)
        return new Promise<T>((r) => setTimeout(() => r([] as T), 5000).unref())
      },
      close: () => undefined,
    }),
  }
  return g
}

const history = (hostnames: string[], counters: string[]) => ({
  hostnames,
  counters,
  start_time: T,
  end_time: T + 86_400,
  consol_fun: 'AVERAGE',
})

describe('graph routes within their budgets', () => {
  let portal: TestPortal
  const graph = fakeGraph()
  before(async () => {
    const [sqlite] = await testEngines()
    portal = await openTestPortal(
      sqlite,
      { maxHistoryPoints: 1000, maxIndexRows: 600, queryTimeout: 200 },
      graph.dial
    )
  })
  after(() => portal.close())

  it('refuses a /graph/history answer over api.maxHistoryPoints before graph builds it', async () => {
    // 100 series of 100 points each: 10,000 points asked of a budget of 1,000.
    const counters = Array.from({ length: 100 }, (_, i) => `c${i}`)
    for (const c of counters) graph.points.set(`h/${c}`, 100)
    graph.built = 0
    const r = await portal.call('POST', '/api/v1/graph/history', {
      token: portal.root,
      body: history(['h'], counters),
    })
    assert.equal(r.status, 400)
    assert.deepEqual(r.body, {
      error:
        '/graph/history: 10000 points asked, at most 1000 (api.maxHistoryPoints); ask fewer counters, a shorter range or a larger step',
    })
    assert.equal(graph.built, 0)
    const c = await portal.call('GET', '/counter/all')
    assert.equal(c.body.data.historyRefused, 1)
  })

  it('answers within the budget however the points fall between the series', async () => {
    // One series of 900 points beside 99 of one: over an equal share, under the whole budget.
    const counters = Array.from({ length: 100 }, (_, i) => `s${i}`)
    graph.points.set('h/s0', 900)
    for (const c of counters.slice(1)) graph.points.set(`h/${c}`, 1)
    graph.built = 0
    const r = await portal.call('POST', '/api/v1/graph/history', {
      token: portal.root,
      body: history(['h'], counters),
    })
    assert.equal(r.status, 200)
    const answers = r.body as { counter: string; Values: unknown[] }[]
    assert.equal(answers.length, 100)
    assert.equal(answers[0].Values.length, 900)
    assert.ok(answers.slice(1).every((a) => a.Values.length === 1))
    // Graph never built more points than the budget.
    assert.equal(graph.built, 999)
  })

  it('refuses a page of the index past api.maxIndexRows and asks nodes for page × limit rows', async () => {
    graph.params.length = 0
    const over = await portal.call('GET', '/api/v1/graph/endpoint', {
      token: portal.root,
      query: { q: 'h', limit: '500', page: '2' },
    })
    assert.equal(over.status, 400)
    assert.equal(
      over.body.error,
      '/graph/endpoint: page 2 × limit 500 = 1000 rows, at most 600 (api.maxIndexRows); ask a smaller limit or page, or narrow the query'
    )
    const counters = await portal.call('GET', '/api/v1/graph/endpoint_counter', {
      token: portal.root,
      query: { eid: '1,2', limit: '1000' },
    })
    assert.equal(counters.status, 400)
    assert.match(counters.body.error, /^\/graph\/endpoint_counter: page 1 × limit 1000 = 1000 rows/)
    const ok = await portal.call('GET', '/api/v1/graph/endpoint_counter', {
      token: portal.root,
      query: { eid: '1,2', limit: '200', page: '3' },
    })
    assert.equal(ok.status, 200)
    assert.deepEqual(graph.params, [
      { method: 'Graph.Counters', ids: [1, 2], terms: [], limit: 600 },
    ])
    const c = await portal.call('GET', '/counter/all')
    assert.equal(c.body.data.indexRefused, 2)
  })

  it('answers a graph read not done within api.queryTimeout with 400', async () => {
    graph.slow = true
    try {
      const r = await portal.call('GET', '/api/v1/graph/endpoint', {
        token: portal.root,
        query: { q: 'h' },
      })
      assert.equal(r.status, 400)
      assert.equal(
        r.body.error,
        '/graph/endpoint: not answered within 200 ms (api.queryTimeout); ask fewer series or a shorter range'
      )
      const c = await portal.call('GET', '/counter/all')
      assert.equal(c.body.data.queryTimeouts, 1)
    } finally {
      graph.slow = false
    }
  })
})
