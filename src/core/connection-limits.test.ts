import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Server as HttpServer } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import Fastify from 'fastify'
import {
  checkConnectionLimits,
  createLimitedHttpServer,
  limitedServerFactory,
  newListenerStats,
} from './connection-limits.js'
import { waitUntil } from './testing.js'

const LIMITS = { maxConnections: 2, idleTimeout: 300, requestTimeout: 300 }

// A raw client that keeps everything the server sends and tells when the server closed it.
async function client(server: HttpServer) {
  const { port } = server.address() as AddressInfo
  const c: Socket = connect(port, '127.0.0.1')
  await new Promise((r) => c.once('connect', r))
  const state = { text: '', closed: false }
  c.on('data', (d: Buffer) => (state.text += d.toString()))
  c.on('error', () => undefined)
  const closed = new Promise<void>((r) =>
    c.once('close', () => {
      state.closed = true
      r()
    })
  )
  return { c, state, closed }
}

async function listening(server: HttpServer): Promise<void> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
}

async function close(server: HttpServer): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((r) => server.close(() => r()))
}

describe('limited HTTP servers', () => {
  it('cap connections and close silent, idle and stuck ones, counting each', async () => {
    const stats = newListenerStats()
    const big = Buffer.alloc(32 << 20, 0x61)
    const server = createLimitedHttpServer(LIMITS, stats, (req, res) => {
      res.end(req.url === '/big' ? big : 'ok')
    })
    await listening(server)
    try {
      // A request answered, then nothing: closed once keep-alive has been idle long enough.
      const kept = await client(server)
      kept.c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await waitUntil(() => kept.state.text.endsWith('ok'), 'the answer')
      // Connected and silent: answered 408 as Node does, then closed.
      const silent = await client(server)
      await waitUntil(() => stats.open === 2, 'two connections open')
      // Over the cap: closed as it arrives.
      const third = await client(server)
      await third.closed
      assert.equal(stats.refused, 1)
      await Promise.all([kept.closed, silent.closed])
      assert.match(silent.state.text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
      // A client that stops reading a large reply: nothing moves, so it is closed.
      const stuck = await client(server)
      stuck.c.pause()
      stuck.c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n')
      await waitUntil(() => stats.idleClosed === 2, 'the stuck connection to be closed')
      stuck.c.destroy()
      await waitUntil(() => stats.open === 0, 'no connection left open')
      assert.deepEqual(
        { ...stats },
        { open: 0, refused: 1, idleClosed: 2, requestTimeouts: 1, paused: 0 }
      )
    } finally {
      await close(server)
    }
  })

  it('answer a malformed request as Node does', async () => {
    const server = createLimitedHttpServer(LIMITS, newListenerStats(), (_req, res) => res.end())
    await listening(server)
    try {
      const bad = await client(server)
      bad.c.write('NOT HTTP AT ALL\r\n\r\n')
      await bad.closed
      assert.equal(bad.state.text, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    } finally {
      await close(server)
    }
  })

  it('serve Fastify as its serverFactory, Fastify answering what times out', async () => {
    const stats = newListenerStats()
    const app = Fastify({ logger: false, serverFactory: limitedServerFactory(LIMITS, stats) })
    app.get('/', () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const res = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`)
      assert.equal(await res.text(), 'ok')
      const slow = await client(app.server)
      slow.c.write('GET / HTTP/1.1\r\nHost')
      await slow.closed
      assert.match(slow.state.text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
      assert.equal(stats.requestTimeouts, 1)
    } finally {
      await app.close()
    }
  })
})

describe('checkConnectionLimits', () => {
  it('names every bad key by its path', () => {
    const problems: string[] = []
    checkConnectionLimits(problems, 'hbs', {
      maxConnections: 0,
      idleTimeout: 2 ** 31,
      requestTimeout: '60s',
    })
    assert.deepEqual(problems, [
      'hbs.maxConnections: expected an integer from 1 to 1000000 (connections), got 0',
      'hbs.idleTimeout: expected an integer from 1 to 2147483647 (ms), got 2147483648',
      'hbs.requestTimeout: expected an integer from 1 to 2147483647 (ms), got "60s"',
    ])
    const none: string[] = []
    checkConnectionLimits(none, 'api', { maxConnections: 1, idleTimeout: 1, requestTimeout: 1 })
    assert.deepEqual(none, [])
  })
})
