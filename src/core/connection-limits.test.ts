import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Server as HttpServer } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import Fastify from 'fastify'
import {
  addressKey,
  checkConnectionLimits,
  createLimitedHttpServer,
  descriptorWarning,
  limitedServerFactory,
  newListenerStats,
  openFileLimit,
} from './connection-limits.js'
import { waitUntil } from './testing.js'

const LIMITS = {
  maxConnections: 2,
  maxConnectionsPerAddress: 2,
  idleTimeout: 300,
  requestTimeout: 300,
}

// A raw client that keeps everything the server sends and tells when the server closed it.
async function client(server: HttpServer, localAddress?: string) {
  const { port } = server.address() as AddressInfo
  const c: Socket = connect({ port, host: '127.0.0.1', localAddress })
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
        { open: 0, refused: 1, refusedPerAddress: 0, idleClosed: 2, requestTimeouts: 1, paused: 0 }
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

describe('connections per address on HTTP servers', () => {
  const limits = { ...LIMITS, maxConnections: 3, idleTimeout: 60_000, requestTimeout: 60_000 }
  const get = async (server: HttpServer, localAddress: string) => {
    const c = await client(server, localAddress)
    c.c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitUntil(() => c.state.text.endsWith('ok') || c.state.closed, 'an answer or a close')
    return c
  }
  const f = async (server: HttpServer, stats: ReturnType<typeof newListenerStats>) => {
    // Two from one address take its share: a third from it is closed as it arrives, unanswered.
    const held = [await get(server, '127.0.0.1'), await get(server, '127.0.0.1')]
    const third = await get(server, '127.0.0.1')
    await third.closed
    assert.equal(third.state.text, '')
    assert.equal(stats.refusedPerAddress, 1)
    // Another address is answered meanwhile; past the listener's cap, the cap refuses.
    const other = await get(server, '127.0.0.2')
    assert.match(other.state.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/)
    await (
      await client(server, '127.0.0.3')
    ).closed
    assert.equal(stats.refused, 1)
    // A connection closed gives its address its place back.
    held[0].c.destroy()
    await waitUntil(() => stats.open === 2, 'the server to see it closed')
    const again = await get(server, '127.0.0.1')
    assert.match(again.state.text, /ok$/)
    assert.deepEqual([stats.open, stats.refusedPerAddress], [3, 1])
    for (const c of [held[1], other, again]) c.c.destroy()
    await waitUntil(() => stats.open === 0, 'every connection closed')
  }

  it('close a connection past its address’s share as it arrives, on a bare server', async () => {
    const stats = newListenerStats()
    const server = createLimitedHttpServer(limits, stats, (_req, res) => res.end('ok'))
    await listening(server)
    try {
      await f(server, stats)
    } finally {
      await close(server)
    }
  })

  it('and under Fastify', async () => {
    const stats = newListenerStats()
    const app = Fastify({ logger: false, serverFactory: limitedServerFactory(limits, stats) })
    app.get('/', () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      await f(app.server, stats)
    } finally {
      await app.close()
    }
  })

  it('count an address by its IPv4 form, an IPv6 one by its /64', () => {
    const k = (address: string | undefined, want: string | undefined) =>
      assert.equal(addressKey(address), want, address)
    k('10.1.2.3', '10.1.2.3')
    k('::ffff:10.1.2.3', '10.1.2.3')
    k('::1', '::1')
    k('2001:db8:a:b:1:2:3:4', '2001:db8:a:b::/64')
    k('2001:db8:a:b::99', '2001:db8:a:b::/64')
    k('2001:db8:a:c::1', '2001:db8:a:c::/64')
    k(undefined, undefined)
  })
})

describe('descriptorWarning', () => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             127431               127431               processes ',
    'Max open files            20000                524288               files     ',
    '',
  ].join('\n')

  it('reads the soft open-file limit', () => {
    assert.equal(openFileLimit(limits), 20_000)
    assert.equal(openFileLimit(limits.replace('20000 ', 'unlimited ')), undefined)
    assert.equal(openFileLimit(''), undefined)
  })

  it('says in one line when the caps of the listeners add up to more than the limit', () => {
    const caps = [
      { listener: 'transfer.rpc', maxConnections: 10_000 },
      { listener: 'hbs.rpc', maxConnections: 10_000 },
      { listener: 'api.http', maxConnections: 1000 },
    ]
    assert.equal(
      descriptorWarning(caps, 20_000),
      'connections: the listeners of this process may hold 21,000 connections together (transfer.rpc 10,000, hbs.rpc 10,000, api.http 1,000), more than its open-file limit of 20,000 (Max open files in /proc/self/limits): past it no port accepts a connection. Raise the limit above 21,000 plus the files the process keeps open (ulimit -n, or LimitNOFILE= in its systemd unit), or lower maxConnections'
    )
    assert.equal(descriptorWarning(caps, 21_000), undefined)
    assert.equal(descriptorWarning(caps, undefined), undefined)
  })
})

describe('checkConnectionLimits', () => {
  it('names every bad key by its path', () => {
    const problems: string[] = []
    checkConnectionLimits(problems, 'hbs', {
      maxConnections: 0,
      maxConnectionsPerAddress: 1.5,
      idleTimeout: 2 ** 31,
      requestTimeout: '60s',
    })
    assert.deepEqual(problems, [
      'hbs.maxConnections: expected an integer from 1 to 1000000 (connections), got 0',
      'hbs.maxConnectionsPerAddress: expected an integer from 1 to 1000000 (connections), got 1.5',
      'hbs.idleTimeout: expected an integer from 1 to 2147483647 (ms), got 2147483648',
      'hbs.requestTimeout: expected an integer from 1 to 2147483647 (ms), got "60s"',
    ])
    const none: string[] = []
    checkConnectionLimits(none, 'api', {
      maxConnections: 1,
      maxConnectionsPerAddress: 1,
      idleTimeout: 1,
      requestTimeout: 1,
    })
    assert.deepEqual(none, [])
  })
})
