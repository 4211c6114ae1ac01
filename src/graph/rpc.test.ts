import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db } from '../tsdb/index.js'
import { graphMethods, newGraphCounters } from './rpc.js'

const T = 1_700_000_040

describe('Graph.Send in-process', () => {
  it('keeps series apart when two nodes get the same item objects (replication a,b)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-rpc-'))
    const open = (name: string) =>
      Db.open({
        dir: join(dir, name),
        maintenanceInterval: 0,
        walSync: 'write',
        now: () => (T + 60) * 1000,
      })
    const a = open('a')
    const b = open('b')
    const sendA = graphMethods(a, newGraphCounters()).get('Graph.Send') as (
      p: unknown
    ) => Promise<unknown>
    const sendB = graphMethods(b, newGraphCounters()).get('Graph.Send') as (
      p: unknown
    ) => Promise<unknown>
    const item = (metric: string, tags: Record<string, string>, value: number, ts = T) => ({
      endpoint: 'h',
      metric,
      tags,
      value,
      timestamp: ts,
      dstype: 'GAUGE',
      step: 60,
    })
    // b's first series takes the ref that `x` gets in a.
    await sendB([item('other', { k: 'o' }, 99)])
    const tags = { k: 'v' } // one object, as transfer shares it for a series
    for (let i = 0; i < 3; i++) {
      const items = [item('x', tags, i, T + i * 60)]
      await sendA(items)
      await sendB(items)
    }
    const values = (db: Db, key: string) => {
      const q = db.query(key, { start: T * 1000, end: (T + 600) * 1000 })
      return Array.from(q?.vs.subarray(0, q.n) ?? [])
    }
    assert.deepEqual(values(a, 'h/x/k=v'), [0, 1, 2])
    assert.deepEqual(values(b, 'h/x/k=v'), [0, 1, 2])
    assert.deepEqual(values(b, 'h/other/k=o'), [99])
    // The same tags object with another metric is another series.
    await sendA([item('y', tags, 7)])
    assert.deepEqual(values(a, 'h/y/k=v'), [7])
    await a.close()
    await b.close()
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('graph answers within its bounds', () => {
  // A node holding 8 endpoints of 3 counters each, its index calls capped at 5 rows.
  async function node() {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-bounds-'))
    const db = Db.open({
      dir,
      maintenanceInterval: 0,
      walSync: 'write',
      now: () => (T + 60) * 1000,
    })
    const counters = newGraphCounters()
    const methods = graphMethods(db, counters, { maxIndexRows: 5 })
    // As serveJsonRpc calls them: a throw is the call's error.
    const call = (method: string, p: unknown) =>
      Promise.resolve().then(() => (methods.get(method) as (p: unknown) => unknown)(p))
    const items = []
    for (let e = 0; e < 8; e++) {
      for (const metric of ['c', 'a', 'b']) {
        items.push({
          endpoint: `h${e}`,
          metric,
          tags: {},
          value: 1,
          timestamp: T,
          dstype: 'GAUGE',
          step: 60,
        })
      }
    }
    await call('Graph.Send', items)
    return {
      call,
      async close() {
        await db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }

  it('refuses an index call over graph.maxIndexRows, and answers the first rows of one within', async () => {
    const g = await node()
    try {
      await assert.rejects(g.call('Graph.Endpoints', {}), {
        name: 'RpcError',
        message:
          'Graph.Endpoints: more than 5 rows match (graph.maxIndexRows); narrow the query or give a limit',
      })
      await assert.rejects(g.call('Graph.Endpoints', { limit: 6 }), {
        message:
          'Graph.Endpoints: limit 6 is more than 5 rows (graph.maxIndexRows); page with a smaller limit',
      })
      const eps = (await g.call('Graph.Endpoints', { limit: 3 })) as {
        id: number
        endpoint: string
      }[]
      assert.deepEqual(
        eps.map((e) => e.endpoint),
        ['h0', 'h1', 'h2']
      )
      const all = (await g.call('Graph.Endpoints', { q: ['h[0-4]'] })) as unknown[]
      assert.equal(all.length, 5)
      // Counters come by endpoint id, then by name: the order api pages them in.
      const ids = eps.map((e) => e.id)
      await assert.rejects(g.call('Graph.Counters', { ids }), /more than 5 rows match/)
      const rows = (await g.call('Graph.Counters', { ids, limit: 4 })) as {
        endpoint_id: number
        counter: string
      }[]
      const first = Math.min(...ids)
      const second = Math.min(...ids.filter((id) => id !== first))
      assert.deepEqual(
        rows.map((r) => [r.endpoint_id, r.counter]),
        [
          [first, 'a'],
          [first, 'b'],
          [first, 'c'],
          [second, 'a'],
        ]
      )
    } finally {
      await g.close()
    }
  })

  it('answers how many points a query has instead of the points, past its maxPoints', async () => {
    const g = await node()
    try {
      const q = { endpoint: 'h0', counter: 'a', start: T - 3600, end: T }
      const full = (await g.call('Graph.Query', q)) as { Values: unknown[]; points?: number }
      assert.equal(full.Values.length, 62)
      assert.equal(full.points, undefined)
      const over = await g.call('Graph.Query', { ...q, maxPoints: 61 })
      assert.deepEqual(over, {
        endpoint: 'h0',
        counter: 'a',
        dstype: 'GAUGE',
        step: 60,
        Values: [],
        points: 62,
      })
      const within = (await g.call('Graph.Query', { ...q, maxPoints: 62 })) as { Values: unknown[] }
      assert.equal(within.Values.length, 62)
    } finally {
      await g.close()
    }
  })
})
