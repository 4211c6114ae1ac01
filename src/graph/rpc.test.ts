import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, decodeSeriesSet, type WireSeriesSet } from '../tsdb/index.js'
import { type GraphOptions, graphMethods, newGraphCounters } from './rpc.js'

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

describe('the Prometheus series calls (Graph.Select, LabelNames, LabelValues, Metadata)', () => {
  const MS = T * 1000
  async function node(options: Partial<GraphOptions> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-select-'))
    const db = Db.open({ dir, maintenanceInterval: 0, walSync: 'write', now: () => MS + 600_000 })
    const methods = graphMethods(db, newGraphCounters(), { maxIndexRows: 5, ...options })
    // As serveJsonRpc calls them and a JSON client reads them: through JSON both ways.
    const call = async (method: string, p: unknown): Promise<unknown> => {
      const answer = await (methods.get(method) as (p: unknown) => unknown)(
        JSON.parse(JSON.stringify(p))
      )
      return options.inProcess === true ? answer : JSON.parse(JSON.stringify(answer))
    }
    const app = db.appender()
    // Values through a Float64Array: a JS array literal may quiet a signalling NaN.
    const odd = new Float64Array(
      new BigUint64Array([0x7ff0000000000002n, 0xfff0000000000000n, 0x7ff0000000000000n]).buffer
    )
    let ref = 0
    for (let i = 0; i < odd.length; i++) {
      ref = app.append(
        ref,
        { endpoint: 'h1', metric: 'cpu.idle', tags: '', dstype: 'GAUGE', step: 60 },
        MS + i * 60_000,
        odd[i]
      )
    }
    for (let e = 0; e < 3; e++) {
      for (const [metric, dstype] of [
        ['net.in', 'DERIVE'],
        ['mem.used', 'GAUGE'],
      ] as const) {
        app.append(
          0,
          { endpoint: `h${e}`, metric, tags: `iface.name=eth${e}`, dstype, step: 60 },
          MS,
          e
        )
      }
    }
    await app.commit()
    return {
      call,
      async close() {
        await db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const sel = (matchers: unknown, extra: object = {}) => ({
    matchers,
    start: MS,
    end: MS + 600_000,
    ...extra,
  })

  it('sends samples as base64 of little-endian float64s, exactly: NaN payloads, ±Inf', async () => {
    const g = await node()
    try {
      const w = (await g.call(
        'Graph.Select',
        sel([{ name: '__name__', op: '=', value: 'cpu_idle' }])
      )) as WireSeriesSet
      assert.deepEqual(w.labels, [['__name__', 'cpu.idle', 'endpoint', 'h1']])
      assert.equal(typeof w.ts, 'string')
      assert.deepEqual(
        [
          ...Buffer.from(w.vs as string, 'base64')
            .toString('hex')
            .match(/.{16}/g)!,
        ],
        ['020000000000f07f', '000000000000f0ff', '000000000000f07f']
      )
      const set = decodeSeriesSet(w)
      assert.deepEqual(Array.from(set.offsets), [0, 3])
      assert.deepEqual(Array.from(set.ts), [MS, MS + 60_000, MS + 120_000])
      assert.deepEqual(set.warnings, [])
      // The same answer in process: the arrays themselves.
      const local = await node({ inProcess: true })
      try {
        const a = (await local.call(
          'Graph.Select',
          sel([{ name: '__name__', op: '=', value: 'cpu.idle' }])
        )) as WireSeriesSet
        assert.ok(a.ts instanceof Float64Array && a.vs instanceof Float64Array)
        assert.ok(a.offsets instanceof Uint32Array)
        const bytes = (x: Float64Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength)
        assert.deepEqual(bytes(decodeSeriesSet(a).vs), bytes(set.vs))
      } finally {
        await local.close()
      }
    } finally {
      await g.close()
    }
  })

  it('refuses a malformed call naming the field', async () => {
    const g = await node()
    try {
      const bad = async (method: string, p: unknown, message: RegExp) =>
        assert.rejects(g.call(method, p), (err: Error) => {
          assert.equal(err.name, 'RpcError')
          assert.match(err.message, message)
          return true
        })
      await bad('Graph.Select', null, /^Graph\.Select: expected an object$/)
      await bad('Graph.Select', { start: 0, end: 1 }, /^Graph\.Select matchers: expected an array/)
      await bad(
        'Graph.Select',
        sel([{ name: 'a', op: '==', value: 'x' }]),
        /matchers\[0\]: .*op one of/
      )
      await bad('Graph.Select', sel([{ name: '', op: '=', value: 'x' }]), /matchers\[0\]/)
      await bad('Graph.Select', sel([{ name: 'a', op: '=', value: 1 }]), /matchers\[0\]/)
      await bad(
        'Graph.Select',
        { ...sel([]), start: 'now' },
        /^Graph\.Select start: expected a time in ms$/
      )
      await bad(
        'Graph.Select',
        { ...sel([]), end: null },
        /^Graph\.Select end: expected a time in ms$/
      )
      await bad('Graph.Select', sel([], { maxSamples: -1 }), /^Graph\.Select maxSamples: /)
      await bad(
        'Graph.Select',
        sel([{ name: 'a', op: '=~', value: '(?<=x)' }]),
        /^PG_CORE_BAD_REGEX: /
      )
      await bad('Graph.LabelValues', {}, /^Graph\.LabelValues name: expected a label name$/)
      await bad('Graph.LabelNames', { limit: 1.5 }, /^Graph\.LabelNames limit: /)
      await bad('Graph.LabelNames', { start: 'x' }, /^Graph\.LabelNames start: /)
      await bad('Graph.Metadata', { metric: 3 }, /^Graph\.Metadata metric: /)
      await bad('Graph.Metadata', [], /^Graph\.Metadata: expected an object$/)
    } finally {
      await g.close()
    }
  })

  it("keeps to the caller's budget and to its own answer limits", async () => {
    const g = await node({ maxSelectSamples: 4 })
    try {
      const all = sel([{ name: 'endpoint', op: '=~', value: 'h.*' }])
      await assert.rejects(
        g.call('Graph.Select', { ...all, maxSamples: 3 }),
        /: PG_PROMQL_TOO_MANY_SAMPLES: .*\(more than 3, query\.max-samples\)/
      )
      await assert.rejects(
        g.call('Graph.Select', all),
        /: PG_PROMQL_TOO_MANY_SAMPLES: more than 4 samples from one graph node \(its answer limit\)/
      )
      const ok = decodeSeriesSet(
        await g.call('Graph.Select', sel([{ name: '__name__', op: '=', value: 'mem.used' }]))
      )
      assert.equal(ok.ts.length, 3)
    } finally {
      await g.close()
    }
    // In process (the all-in-one) nothing is copied: only the caller's budget holds.
    const local = await node({ maxSelectSamples: 4, inProcess: true })
    try {
      const all = sel([{ name: 'endpoint', op: '=~', value: 'h.*' }])
      const set = decodeSeriesSet(await local.call('Graph.Select', all))
      assert.ok(set.ts.length > 4)
    } finally {
      await local.close()
    }
    const small = await node({ maxSelectBytes: 200 })
    try {
      await assert.rejects(
        small.call('Graph.Select', sel([{ name: 'endpoint', op: '=~', value: 'h.*' }])),
        /: PG_PROMQL_TOO_MANY_SAMPLES: Graph\.Select: the answer would take \d+ bytes, more than 200/
      )
    } finally {
      await small.close()
    }
  })

  it('answers label names, values and metadata, within graph.maxIndexRows', async () => {
    const g = await node()
    try {
      assert.deepEqual(await g.call('Graph.LabelNames', {}), ['__name__', 'endpoint', 'iface.name'])
      assert.deepEqual(
        await g.call('Graph.LabelNames', {
          matchers: [{ name: '__name__', op: '=', value: 'cpu_idle' }],
        }),
        ['__name__', 'endpoint']
      )
      assert.deepEqual(await g.call('Graph.LabelValues', { name: 'iface_name', limit: 2 }), [
        'eth0',
        'eth1',
      ])
      assert.deepEqual(
        await g.call('Graph.LabelValues', { name: 'endpoint', start: MS + 60_000 }),
        ['h1']
      )
      assert.deepEqual(await g.call('Graph.Metadata', { metric: 'net_in' }), [
        { metric: 'net.in', type: 'counter', help: '', unit: '' },
      ])
      assert.deepEqual(await g.call('Graph.Metadata', { limit: 1 }), [
        { metric: 'cpu.idle', type: 'gauge', help: '', unit: '' },
      ])
    } finally {
      await g.close()
    }
    const tiny = await node({ maxIndexRows: 2 })
    try {
      await assert.rejects(
        tiny.call('Graph.LabelValues', { name: 'endpoint' }),
        /: Graph\.LabelValues: more than 2 rows match \(graph\.maxIndexRows\)/
      )
      await assert.rejects(
        tiny.call('Graph.LabelValues', { name: 'endpoint', limit: 3 }),
        /limit: 3 is more than 2 \(graph\.maxIndexRows\)/
      )
      assert.deepEqual(await tiny.call('Graph.LabelValues', { name: 'endpoint', limit: 2 }), [
        'h0',
        'h1',
      ])
    } finally {
      await tiny.close()
    }
  })
})
