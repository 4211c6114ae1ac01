import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { serveJsonRpc } from '../core/index.js'
import type { Matcher, SeriesSet } from '../tsdb/index.js'
import { GraphCluster, GraphUnavailable } from '../cluster/index.js'
import { GraphQuerier, mergeSeriesSets } from './graph-querier.js'

// A SeriesSet from plain series: [labels as 'k=v,k=v', [[t, v], …]].
function set(series: [string, [number, number][]][], warnings: string[] = []): SeriesSet {
  const labels = series.map(([ls]) =>
    ls === ''
      ? []
      : ls.split(',').map((kv) => ({ name: kv.split('=')[0], value: kv.split('=')[1] }))
  )
  const ts: number[] = []
  const vs: number[] = []
  const offsets = [0]
  for (const [, samples] of series) {
    for (const [t, v] of samples) {
      ts.push(t)
      vs.push(v)
    }
    offsets.push(ts.length)
  }
  return {
    labels,
    offsets: Uint32Array.from(offsets),
    ts: Float64Array.from(ts),
    vs: Float64Array.from(vs),
    warnings,
  }
}

function plain(s: SeriesSet): [string, [number, number][]][] {
  return s.labels.map((ls, i) => [
    ls.map((l) => `${l.name}=${l.value}`).join(','),
    Array.from(s.ts.subarray(s.offsets[i], s.offsets[i + 1]), (t, j): [number, number] => [
      t,
      s.vs[s.offsets[i] + j],
    ]),
  ])
}

describe('mergeSeriesSets', () => {
  const f = (sets: SeriesSet[], want: [string, [number, number][]][], what: string) => {
    const got = mergeSeriesSets(sets)
    assert.deepEqual(plain(got), want, what)
    assert.equal(got.ts.length, got.offsets[got.offsets.length - 1], what)
  }
  it('sorts series by labels and merges the same labels by time, the first set winning', () => {
    f([], [], 'nothing')
    f([set([]), set([])], [], 'two empty')
    f([set([['a=1', [[1, 1]]]]), set([])], [['a=1', [[1, 1]]]], 'one')
    f(
      [
        set([
          ['a=1', [[1, 1]]],
          ['a=3', [[1, 3]]],
        ]),
        set([
          ['a=2', [[1, 2]]],
          ['a=4', [[1, 4]]],
        ]),
      ],
      [
        ['a=1', [[1, 1]]],
        ['a=2', [[1, 2]]],
        ['a=3', [[1, 3]]],
        ['a=4', [[1, 4]]],
      ],
      'interleaved'
    )
    f(
      [
        set([
          [
            'a=1',
            [
              [1, 10],
              [3, 30],
              [4, 40],
            ],
          ],
        ]),
        set([
          [
            'a=1',
            [
              [2, 2],
              [3, 3],
              [5, 5],
            ],
          ],
        ]),
        set([['a=1', [[0, 0]]]]),
      ],
      [
        [
          'a=1',
          [
            [0, 0],
            [1, 10],
            [2, 2],
            [3, 30],
            [4, 40],
            [5, 5],
          ],
        ],
      ],
      'one series on three nodes'
    )
    f(
      [set([['a=1,b=2', [[1, 1]]]]), set([['a=1', [[1, 2]]]])],
      [
        ['a=1', [[1, 2]]],
        ['a=1,b=2', [[1, 1]]],
      ],
      'a label set before its extensions'
    )
  })

  it('unites warnings', () => {
    const got = mergeSeriesSets([set([], ['w1']), set([['a=1', [[1, 1]]]], ['w1', 'w2'])])
    assert.deepEqual(got.warnings, ['w1', 'w2'])
  })
})

describe('GraphQuerier over nodes that refuse or do not answer', () => {
  it('raises a refusal without a code as an execution error, and a node not answering as GraphUnavailable', async () => {
    // An older node (falcon's graph, an older Peregrine) has no Graph.Select: a real server without it.
    const old = serveJsonRpc(new Map([['Graph.Ping', () => ({ code: 0 })]]))
    // A node that takes the connection and never answers.
    const held: Socket[] = []
    const silent = createServer((socket) => held.push(socket))
    // A port nothing listens on any more.
    const gone = createServer()
    const listen = (srv: Server) =>
      new Promise<string>((resolve) =>
        srv.listen(0, '127.0.0.1', () =>
          resolve(`127.0.0.1:${(srv.address() as AddressInfo).port}`)
        )
      )
    const oldAddr = await listen(old)
    const silentAddr = await listen(silent)
    const goneAddr = await listen(gone)
    await new Promise((r) => gone.close(r))
    const clusters: GraphCluster[] = []
    const querier = (address: string) => {
      const c = new GraphCluster({ a: address }, 500, 5000)
      clusters.push(c)
      return new GraphQuerier(c)
    }
    const m: Matcher[] = [{ name: 'endpoint', op: '=', value: 'h' }]
    try {
      await assert.rejects(
        querier(oldAddr).select(m, { start: 0, end: 1 }),
        (err: Error & { code?: string; status?: number }) =>
          err.code === 'PG_PROMQL_EXECUTION' &&
          err.status === 422 &&
          /can't find method Graph\.Select/.test(err.message)
      )
      for (const call of [
        (q: GraphQuerier) => q.select(m, { start: 0, end: 1 }),
        (q: GraphQuerier) => q.labelNames([], {}),
        (q: GraphQuerier) => q.labelValues('endpoint', [], {}),
        (q: GraphQuerier) => q.metadata(undefined, undefined),
      ]) {
        await assert.rejects(
          call(querier(goneAddr)),
          (err: Error) => err instanceof GraphUnavailable
        )
      }
      // The caller gives up (its query timed out): the answer does not wait for the node.
      const ac = new AbortController()
      const waiting = querier(silentAddr).select(m, { start: 0, end: 1, signal: ac.signal })
      ac.abort(new Error('query timed out'))
      await assert.rejects(waiting, { message: 'query timed out' })
    } finally {
      for (const c of clusters) c.close()
      old.closeAll()
      await new Promise((r) => old.close(r))
      for (const socket of held) socket.destroy()
      await new Promise((r) => silent.close(r))
    }
  })
})
