import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { waitUntil } from '../testing.js'
import { JsonRpcClient, RawJson, RpcError, serveJsonRpc } from './falcon-jsonrpc.js'

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
