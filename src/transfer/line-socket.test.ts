import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { type RpcCaller, type Service, silentLogger, waitUntil } from '../core/index.js'
import { parseTransferConfig } from './config.js'
import { start } from './index.js'

const NOW = Math.floor(Date.now() / 1000)

/** A graph that records Graph.Send items; while `hold` is set, calls wait until `release()`. */
function fakeGraph() {
  const items: unknown[] = []
  const held: (() => void)[] = []
  const g = {
    items,
    hold: false,
    calls: 0,
    release() {
      g.hold = false
      for (const r of held.splice(0)) r()
    },
    dial: (): RpcCaller => ({
      call<T>(_method: string, param: unknown): Promise<T> {
        g.calls++
        const done = () => {
          items.push(...(param as unknown[]))
          return { code: 0 } as T
        }
        if (!g.hold) return Promise.resolve(done())
        return new Promise<T>((r) => held.push(() => r(done())))
      },
      close: () => undefined,
    }),
  }
  return g
}

async function transferWith(graph: ReturnType<typeof fakeGraph>, settings = {}) {
  const t = await start(
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '127.0.0.1:0',
      graphCluster: { 'graph-00': 'graph:6070' },
      batch: 10,
      ...settings,
    }),
    { log: silentLogger, now: () => Date.now(), dial: graph.dial }
  )
  const [host, port] = t.addresses.socket.split(':')
  const open = async () => {
    const s: Socket = connect(Number(port), host)
    await new Promise((r) => s.once('connect', r))
    s.on('error', () => undefined)
    return s
  }
  return { t, open }
}

type Counters = {
  received: number
  socketLines: number
  socketLinesTooLong: number
  listeners: { socket: { open: number; paused: number } }
}
async function counters(t: Service): Promise<Counters> {
  const res = await fetch(`http://${t.addresses.http}/counter/all`)
  return ((await res.json()) as { data: Counters }).data
}

const lines = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `update h m${from + i} ${NOW} ${i} GAUGE 60\n`).join('')

describe('transfer line socket', () => {
  it('routes points in batches as the lines arrive, not when the connection closes', async () => {
    const graph = fakeGraph()
    const { t, open } = await transferWith(graph)
    try {
      const s = await open()
      s.write(lines(0, 25))
      // Two full batches are in graph while the connection stays open; the rest comes with quit.
      await waitUntil(() => graph.items.length === 20, 'two batches routed')
      assert.equal(s.closed, false)
      s.write('quit\n')
      await new Promise((r) => s.once('close', r))
      await waitUntil(() => graph.items.length === 25, 'the last points routed')
      assert.equal((await counters(t)).socketLines, 26)
    } finally {
      await t.stop()
    }
  })

  it('does not read a connection while its batch is being routed', async () => {
    const graph = fakeGraph()
    graph.hold = true
    const { t, open } = await transferWith(graph)
    try {
      const s = await open()
      s.write(lines(0, 100))
      await waitUntil(
        async () => (await counters(t)).listeners.socket.paused === 1,
        'the connection to be paused'
      )
      // One batch taken and sent; the other 90 lines wait unread.
      assert.equal((await counters(t)).received, 10)
      assert.equal(graph.calls, 1)
      graph.release()
      s.end()
      await waitUntil(() => graph.items.length === 100, 'every point routed')
      assert.equal((await counters(t)).listeners.socket.paused, 0)
    } finally {
      await t.stop()
    }
  })

  it('closes a connection whose line passes maxLineBytes, routing the lines before it', async () => {
    const graph = fakeGraph()
    const { t, open } = await transferWith(graph, { maxLineBytes: 100 })
    try {
      const s = await open()
      s.write(lines(0, 3) + 'update ' + 'x'.repeat(1 << 20))
      await waitUntil(() => s.closed, 'the connection to be closed')
      await waitUntil(() => graph.items.length === 3, 'the lines before it routed')
      const c = await counters(t)
      assert.equal(c.socketLinesTooLong, 1)
      assert.equal(c.socketLines, 3)
    } finally {
      await t.stop()
    }
  })

  it('routes what an open connection holds when transfer stops', async () => {
    const graph = fakeGraph()
    const { t, open } = await transferWith(graph)
    const s = await open()
    s.write(lines(0, 5))
    await waitUntil(async () => (await counters(t)).socketLines === 5, 'the lines read')
    await t.stop()
    assert.equal(graph.items.length, 5)
    s.destroy()
  })
})
