import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { waitUntil } from '../testing.js'
import { JsonRpcClient, paramText, RawJson, RpcError, serveJsonRpc } from './falcon-jsonrpc.js'

const errors: string[] = []
const SHARED = Buffer.from('[{"a":"x\\"y"},{"b":1}]')
const server = serveJsonRpc(
  new Map<string, (p: unknown) => unknown>([
    ['Transfer.Ping', () => ({ code: 0 })],
    [
      'Transfer.Update',
      (p) => ({ Message: 'ok', Total: (p as unknown[]).length, Invalid: 0, Latency: 0 }),
    ],
    ['Test.Slow', (p) => new Promise((r) => setTimeout(() => r(p), 30))],
    ['Test.Raw', () => new RawJson(['{"list":', SHARED, ',"n":', Buffer.from('2'), '}'])],
    ['Test.RawLater', () => Promise.resolve(new RawJson([SHARED]))],
    [
      'Test.Fail',
      () => {
        throw new RpcError('bad argument')
      },
    ],
  ]),
  { onError: (m) => errors.push(m), maxRequestBytes: 1 << 20 }
)
let port = 0

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
})
after(() => {
  server.closeAll()
  server.close()
})

// A raw client: writes bytes, collects every newline-ended line the server sends until it closes or `n` arrive.
async function exchange(
  payload: string | Buffer[],
  n: number
): Promise<{ lines: string[]; closed: boolean }> {
  const socket: Socket = connect(port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  const lines: string[] = []
  let buf = ''
  let closed = false
  const done = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
      if (lines.length >= n) resolve()
    })
    socket.on('close', () => {
      closed = true
      resolve()
    })
  })
  for (const part of typeof payload === 'string' ? [Buffer.from(payload)] : payload) {
    socket.write(part)
    await new Promise((r) => setImmediate(r))
  }
  // Nothing expected back: give the server a moment to choke on what it got, then hang up.
  if (n === 0) await new Promise((r) => setTimeout(r, 20))
  else await done
  socket.destroy()
  return { lines, closed }
}

describe('falcon jsonrpc server', () => {
  it('answers exactly as Go net/rpc/jsonrpc does', async () => {
    const { lines } = await exchange(
      '{"method":"Transfer.Ping","params":[{}],"id":0}\n' +
        '{"method":"Transfer.Update","params":[[{"endpoint":"h"},{"endpoint":"i"}]],"id":1}\n',
      2
    )
    assert.deepEqual(lines, [
      '{"id":0,"result":{"code":0},"error":null}',
      '{"id":1,"result":{"Message":"ok","Total":2,"Invalid":0,"Latency":0},"error":null}',
    ])
  })

  it('writes a RawJson result as its parts, unchanged, in the same envelope', async () => {
    const { lines } = await exchange(
      '{"method":"Test.Raw","params":[{}],"id":3}{"method":"Test.RawLater","params":[{}],"id":4}',
      2
    )
    assert.deepEqual(lines, [
      '{"id":3,"result":{"list":[{"a":"x\\"y"},{"b":1}],"n":2},"error":null}',
      '{"id":4,"result":[{"a":"x\\"y"},{"b":1}],"error":null}',
    ])
    // The shared buffer is written, not consumed: a second call gets the same bytes.
    const again = await exchange('{"method":"Test.Raw","params":[{}],"id":5}', 1)
    assert.equal(
      again.lines[0],
      '{"id":5,"result":{"list":[{"a":"x\\"y"},{"b":1}],"n":2},"error":null}'
    )
  })

  it('gives Go error strings for unknown methods and missing params', async () => {
    const { lines } = await exchange(
      '{"method":"Transfer.Nope","params":[{}],"id":1}' +
        '{"method":"Nope.Ping","params":[{}],"id":2}' +
        '{"method":"Transfer.Ping","id":3}' +
        '{"method":"NoDot","params":[],"id":4}' +
        '{"method":"Test.Fail","params":[1],"id":5}',
      5
    )
    assert.deepEqual(lines, [
      `{"id":1,"result":null,"error":"rpc: can't find method Transfer.Nope"}`,
      `{"id":2,"result":null,"error":"rpc: can't find service Nope.Ping"}`,
      '{"id":3,"result":null,"error":"jsonrpc: request body missing params"}',
      '{"id":4,"result":null,"error":"rpc: service/method request ill-formed: NoDot"}',
      '{"id":5,"result":null,"error":"bad argument"}',
    ])
  })

  it('serves pipelined calls as they finish, and frames split byte by byte', async () => {
    const req =
      '{"method":"Test.Slow","params":["slow"],"id":7}{"method":"Transfer.Ping","params":[null],"id":8}'
    const bytes = Array.from(Buffer.from(req), (b) => Buffer.of(b))
    const { lines } = await exchange(bytes, 2)
    assert.deepEqual(lines, [
      '{"id":8,"result":{"code":0},"error":null}',
      '{"id":7,"result":"slow","error":null}',
    ])
  })

  it('answers garbage with an error and closes that connection, while others go on', async () => {
    const bad = exchange('\x00\x01garbage', 2) // waits for the close
    const good = exchange('{"method":"Transfer.Ping","params":[{}],"id":1}', 1)
    const [b, g] = await Promise.all([bad, good])
    assert.deepEqual(b.lines, [
      '{"id":null,"result":null,"error":"invalid character \\"\\\\u0000\\" at byte 0 looking for beginning of value"}',
    ])
    assert.ok(b.closed)
    assert.deepEqual(g.lines, ['{"id":1,"result":{"code":0},"error":null}'])
    const oversize = await exchange(
      '{"method":"Transfer.Update","params":["' + 'x'.repeat(2 << 20),
      1
    )
    assert.match(oversize.lines[0], /more than 1048576 bytes; send smaller batches/)
    // Half a frame, then the client hangs up: nothing to answer, the server carries on.
    await exchange('{"method":"Transfer.Ping","par', 0)
    assert.deepEqual((await exchange('{"method":"Transfer.Ping","params":[{}],"id":2}', 1)).lines, [
      '{"id":2,"result":{"code":0},"error":null}',
    ])
  })

  it('answers a request followed by garbage with no newline, then refuses the garbage', async () => {
    for (const end of ['', '\n']) {
      const { lines, closed } = await exchange(
        '{"method":"Transfer.Ping","params":[{}],"id":1}xyz' + end,
        3 // waits for the close
      )
      assert.ok(closed)
      assert.deepEqual(lines, [
        '{"id":1,"result":{"code":0},"error":null}',
        '{"id":null,"result":null,"error":"invalid character \\"x\\" at byte 47 looking for beginning of value"}',
      ])
    }
  })

  it('quotes a frame that is not JSON briefly and printably', async () => {
    // Framed as an object, then refused by the parser, whose message quotes the frame: a C1 control, a
    // C0 one, bytes that are not UTF-8 and a bidi override.
    const frame = Buffer.concat([
      Buffer.from('{"params":[\x85\x1f'),
      Buffer.from([0x8b, 0xff]),
      Buffer.from('\u202e]}'),
    ])
    const { lines, closed } = await exchange([frame], 2) // waits for the close
    assert.ok(closed)
    const error = (JSON.parse(lines[0]) as { error: string }).error
    assert.match(error, /^invalid JSON request: Unexpected token .*\\x85\\x1f\\ufffd\\ufffd\\u202e/)
    assert.doesNotMatch(error, /[\p{C}\p{Zl}\p{Zp}\ufffd]/u)
  })
})

describe('falcon jsonrpc client', () => {
  it('calls, pipelines, reports server errors and reconnects after the server closes it', async () => {
    const client = new JsonRpcClient(`127.0.0.1:${port}`, { callTimeout: 2000 })
    const [a, b] = await Promise.all([
      client.call('Test.Slow', 1),
      client.call('Transfer.Ping', {}),
    ])
    assert.deepEqual([a, b], [1, { code: 0 }])
    await assert.rejects(client.call('Test.Fail', 1), { name: 'RpcError', message: 'bad argument' })
    server.closeAll()
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(await client.call('Transfer.Ping', {}), { code: 0 })
    assert.deepEqual(await client.call('Test.Raw', {}), { list: [{ a: 'x"y' }, { b: 1 }], n: 2 })
    client.close()
  })

  it('refuses a response larger than maxResponseBytes, failing the call', async () => {
    // The limit holds what is buffered of an unfinished response, so the reply must span reads.
    const client = new JsonRpcClient(`127.0.0.1:${port}`, { maxResponseBytes: 1024 })
    await assert.rejects(client.call('Test.Slow', 'x'.repeat(512 << 10)), /closed/)
    client.close()
  })

  it('close during a dial ends the dial: the call fails and no connection is left open', async () => {
    let calls = 0
    const own = serveJsonRpc(new Map([['X.Y', () => ++calls]]))
    await new Promise<void>((ok) => own.listen(0, '127.0.0.1', ok))
    const client = new JsonRpcClient(`127.0.0.1:${(own.address() as AddressInfo).port}`)
    const connections = () =>
      new Promise<number>((ok, fail) => own.getConnections((err, n) => (err ? fail(err) : ok(n))))
    try {
      // Dialing now; closed before the connection is made (an agent stopping as it starts).
      const call = client.call('X.Y', {})
      client.close()
      await assert.rejects(call, /closed/)
      // Had the dial gone on, it would have connected and stayed open, holding the process.
      await waitUntil(async () => (await connections()) === 0, 'the dialled connection to close')
      assert.equal(calls, 0)
    } finally {
      own.closeAll()
      await new Promise<void>((ok) => own.close(() => ok()))
    }
  })

  it('fails a call to a port nobody listens on with the address in the message', async () => {
    const client = new JsonRpcClient('127.0.0.1:1', { connectTimeout: 500 })
    await assert.rejects(client.call('X.Y', 1), /127\.0\.0\.1:1/)
  })

  it('dials again at once after a refused connection, when the server is back', async () => {
    // Find a free port, then leave it closed for the first call.
    const probe = serveJsonRpc(new Map([['X.Y', () => 'up']]))
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((ok) => probe.close(() => ok()))
    const client = new JsonRpcClient(`127.0.0.1:${port}`, { connectTimeout: 500, callTimeout: 500 })
    await assert.rejects(client.call('X.Y', 1), /ECONNREFUSED/)
    const back = serveJsonRpc(new Map([['X.Y', () => 'up']]))
    await new Promise<void>((ok) => back.listen(port, '127.0.0.1', ok))
    try {
      // The very next call, in the same tick as the refusal's cleanup, reaches the server.
      assert.equal(await client.call('X.Y', 1), 'up')
    } finally {
      client.close()
      back.closeAll()
      await new Promise<void>((ok) => back.close(() => ok()))
    }
  })
})

describe('falcon jsonrpc server limits', () => {
  // A server of its own with small limits, the server side of each connection, and a way to stop it.
  async function limited(
    methods: [string, (p: unknown) => unknown][],
    options: Parameters<typeof serveJsonRpc>[1]
  ) {
    const s = serveJsonRpc(new Map(methods), options)
    const sockets: Socket[] = []
    s.on('connection', (c: Socket) => sockets.push(c))
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    const p = (s.address() as AddressInfo).port
    const open = async (localAddress?: string) => {
      const c = connect({ port: p, host: '127.0.0.1', localAddress })
      await new Promise((r) => c.once('connect', r))
      c.on('error', () => undefined)
      return c
    }
    const stop = async () => {
      s.closeAll()
      await new Promise<void>((r) => s.close(() => r()))
    }
    return { server: s, sockets, open, stop }
  }
  const calls = (method: string, n: number) =>
    Array.from({ length: n }, (_, id) => `{"method":"${method}","params":[{}],"id":${id}}`).join('')
  const limits = {
    maxConnections: 100,
    maxConnectionsPerAddress: 100,
    idleTimeout: 60_000,
    requestTimeout: 60_000,
  }

  it('stops reading a peer that sends and never reads, once its unsent replies pass the bound', async () => {
    const reply = 'x'.repeat(64 << 10)
    let started = 0
    const maxUnsentBytes = 256 << 10
    const t = await limited(
      [
        [
          'Test.Big',
          () => {
            started++
            return reply
          },
        ],
      ],
      { limits, maxUnsentBytes }
    )
    try {
      const c = await t.open()
      c.pause() // never reads: the replies back up into the server
      c.write(calls('Test.Big', 2000))
      await waitUntil(() => t.server.stats.paused === 1, 'the server to stop reading')
      const queued = t.sockets[0].writableLength
      // 2000 replies are 128 MiB: the server stopped long before, holding one reply past the bound.
      assert.ok(started < 2000, `${started} calls started`)
      assert.ok(queued <= maxUnsentBytes + reply.length + 100, `${queued} bytes queued`)
      c.destroy()
    } finally {
      await t.stop()
    }
  })

  it('runs at most maxInFlight calls of one connection, and the rest once those are answered', async () => {
    const held: (() => void)[] = []
    let release = false
    const t = await limited(
      [
        [
          'Test.Hold',
          () => (release ? { code: 0 } : new Promise((r) => held.push(() => r({ code: 0 })))),
        ],
      ],
      { limits, maxInFlight: 4 }
    )
    try {
      const c = await t.open()
      let lines = 0
      c.on('data', (d: Buffer) => {
        for (const b of d) if (b === 0x0a) lines++
      })
      c.write(calls('Test.Hold', 100))
      await waitUntil(() => t.server.stats.paused === 1 && held.length === 4, 'four calls held')
      assert.equal(held.length, 4)
      release = true
      for (const r of held) r()
      await waitUntil(() => lines === 100, 'every call answered')
      assert.equal(t.server.stats.paused, 0)
      c.destroy()
    } finally {
      await t.stop()
    }
  })

  it('closes a connection whose peer never reads once nothing has moved for idleTimeout', async () => {
    const reply = 'x'.repeat(64 << 10)
    const t = await limited([['Test.Big', () => reply]], {
      limits: { ...limits, idleTimeout: 300 },
      maxUnsentBytes: 64 << 10,
    })
    try {
      const c = await t.open()
      c.pause()
      c.write(calls('Test.Big', 2000))
      await waitUntil(() => t.server.stats.idleClosed === 1, 'the stuck connection to be closed')
      await waitUntil(() => t.server.stats.open === 0, 'no connection left open')
      assert.equal(t.server.stats.paused, 0)
      c.destroy()
    } finally {
      await t.stop()
    }
  })

  it('caps connections, and closes silent, idle and unfinished ones, counting each', async () => {
    const t = await limited([['Transfer.Ping', () => ({ code: 0 })]], {
      limits: { ...limits, maxConnections: 2, idleTimeout: 300, requestTimeout: 300 },
    })
    try {
      const closed = (c: Socket) => new Promise<void>((r) => c.once('close', () => r()))
      // One request, then silence: answered, then closed as idle.
      const idle = await t.open()
      const answered = new Promise<string>((r) => idle.once('data', (d: Buffer) => r(d.toString())))
      idle.write(calls('Transfer.Ping', 1))
      assert.equal(await answered, '{"id":0,"result":{"code":0},"error":null}\n')
      // Half a request: closed when it is not whole in time.
      const half = await t.open()
      half.write('{"method":"Transfer.Ping","par')
      await waitUntil(() => t.server.stats.open === 2, 'two connections open')
      // A third connection is over the cap: closed as it arrives.
      const third = await t.open()
      await closed(third)
      assert.equal(t.server.stats.refused, 1)
      await Promise.all([closed(idle), closed(half)])
      // Connected and silent: closed when no request starts in time.
      const silent = await t.open()
      await closed(silent)
      await waitUntil(() => t.server.stats.open === 0, 'the server to see it closed')
      assert.deepEqual(
        { ...t.server.stats },
        { open: 0, refused: 1, refusedPerAddress: 0, idleClosed: 1, requestTimeouts: 2, paused: 0 }
      )
    } finally {
      await t.stop()
    }
  })

  it('caps the connections of one address, and serves other addresses meanwhile', async () => {
    const t = await limited([['Transfer.Ping', () => ({ code: 0 })]], {
      limits: { ...limits, maxConnections: 3, maxConnectionsPerAddress: 2 },
    })
    const closed = (c: Socket) => new Promise<void>((r) => c.once('close', () => r()))
    const ping = (c: Socket) => {
      const answered = new Promise<string>((r) => c.once('data', (d: Buffer) => r(d.toString())))
      c.write(calls('Transfer.Ping', 1))
      return answered
    }
    try {
      const held = [await t.open('127.0.0.1'), await t.open('127.0.0.1')]
      await waitUntil(() => t.server.stats.open === 2, 'two connections open')
      // A third from the same address: closed as it arrives, before any request.
      await closed(await t.open('127.0.0.1'))
      assert.equal(t.server.stats.refusedPerAddress, 1)
      // Another address (the whole 127/8 is this host's) is served while the first holds its share.
      const other = await t.open('127.0.0.2')
      assert.equal(await ping(other), '{"id":0,"result":{"code":0},"error":null}\n')
      // The listener's own cap still holds past the addresses' shares.
      await closed(await t.open('127.0.0.3'))
      assert.equal(t.server.stats.refused, 1)
      // A connection that closes gives its address its place back.
      held[0].destroy()
      await waitUntil(() => t.server.stats.open === 2, 'the server to see it closed')
      const again = await t.open('127.0.0.1')
      assert.equal(await ping(again), '{"id":0,"result":{"code":0},"error":null}\n')
      assert.equal(t.server.stats.refusedPerAddress, 1)
      for (const c of [held[1], other, again]) c.destroy()
    } finally {
      await t.stop()
    }
  })
})

describe('paramText', () => {
  const req = (text: string) => ({ text, value: JSON.parse(text) as Record<string, unknown> })
  const M = 'Transfer.Update'

  it("gives the argument's text of a request laid out as Go's client writes it", () => {
    const arg = '[{"endpoint":"h","metric":"m","value":1,"tags":"a=b"},{"value":"NaN"}]'
    assert.equal(paramText(req(`{"method":"${M}","params":[${arg}],"id":7}\n`), M), arg)
    assert.equal(paramText(req(`{"method":"${M}","params":[${arg}],"id":0}`), M), arg)
  })

  it('gives null wherever the text might not be the argument parsed', () => {
    const cases = [
      // A second params key: the parsed one is the last, the text's first would be cut wrong.
      `{"method":"${M}","params":[[{"a":1}]],"params":[[{"b":2}]],"id":1}`,
      // The same with an escaped key.
      `{"method":"${M}","params":[[{"a":1}]],"p\\u0061rams":[[{"b":2}]],"id":1}`,
      // Another key between params and id.
      `{"method":"${M}","params":[[{"a":1}]],"x":[1],"id":1}`,
      // A ] inside the argument (in a string or an array).
      `{"method":"${M}","params":[[{"tags":"a=]"}]],"id":1}`,
      // Spaces, another key order, a string id, another method.
      `{"method": "${M}","params":[[{"a":1}]],"id":1}`,
      `{"params":[[{"a":1}]],"method":"${M}","id":1}`,
      `{"method":"${M}","params":[[{"a":1}]],"id":"1"}`,
      `{"method":"Transfer.Ping","params":[[{"a":1}]],"id":1}`,
    ]
    for (const text of cases) assert.equal(paramText(req(text), M), null, text)
  })
})
