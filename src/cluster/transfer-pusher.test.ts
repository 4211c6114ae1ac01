import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type MetricValue, recordingLogger, type RpcCaller } from '../core/index.js'
import { TransferPusher } from './transfer-pusher.js'

const point = (i: number): MetricValue => ({
  endpoint: 'h1',
  metric: 'm',
  value: i,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp: 1_800_000_000 + i * 60,
})

/** A transfer that fails its first `failures` calls, then takes everything. */
function transfer(failures: number) {
  const got: MetricValue[][] = []
  let calls = 0
  const caller: RpcCaller = {
    call<T>(method: string, param: unknown): Promise<T> {
      assert.equal(method, 'Transfer.Update')
      calls++
      if (calls <= failures) return Promise.reject(new Error('connection refused'))
      got.push(param as MetricValue[])
      return Promise.resolve({ Message: 'ok', Total: (param as unknown[]).length, Invalid: 0 } as T)
    },
    close: () => undefined,
  }
  return { caller, got, calls: () => calls }
}

const options = { batch: 2, inFlight: 1, callTimeout: 1000, maxPending: 100, name: 'test' }

describe('TransferPusher', () => {
  it('keeps a batch a transfer did not take and retries it, in order, none twice', async () => {
    const t = transfer(2)
    const log = recordingLogger()
    const p = new TransferPusher(
      { ...options, addresses: ['a:1'] },
      { log, now: Date.now, dial: () => t.caller }
    )
    p.push([point(1), point(2), point(3)])
    assert.equal(await p.flush(), false, 'the first try fails')
    assert.equal(p.pending, 3)
    assert.match(p.lastError, /a:1: connection refused/)
    // The backoff retries on its own.
    const until = Date.now() + 5000
    while (p.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    assert.equal(p.pending, 0)
    assert.deepEqual(
      t.got.flat().map((m) => m.value),
      [1, 2, 3]
    )
    assert.equal(p.counters.pushed, 3)
    assert.equal(p.counters.failedCalls, 2)
    assert.match(log.lines.join('\n'), /pushing to a:1: connection refused; will retry/)
    p.close()
  })

  it('fails over to the next address', async () => {
    const down = transfer(Infinity)
    const up = transfer(0)
    const p = new TransferPusher(
      { ...options, addresses: ['down:1', 'up:1'] },
      {
        log: recordingLogger(),
        now: Date.now,
        dial: (a) => (a === 'up:1' ? up.caller : down.caller),
      }
    )
    p.push([point(1)])
    assert.equal(await p.flush(), true)
    assert.deepEqual(
      up.got.flat().map((m) => m.value),
      [1]
    )
    p.close()
  })

  it('counts what a transfer refuses without retrying it, and drops the oldest past maxPending', async () => {
    const caller: RpcCaller = {
      call: <T>() => Promise.resolve({ Message: 'ok', Total: 2, Invalid: 1 } as T),
      close: () => undefined,
    }
    const log = recordingLogger()
    const p = new TransferPusher(
      { ...options, addresses: ['a:1'], maxPending: 3 },
      { log, now: Date.now, dial: () => caller }
    )
    p.push([point(1), point(2), point(3), point(4), point(5)])
    assert.equal(p.counters.dropped, 2)
    assert.match(log.lines.join('\n'), /dropped the 2 oldest points/)
    await p.flush()
    assert.equal(p.counters.refused, 2)
    assert.equal(p.counters.pushed, 1)
    p.close()
  })

  it('posts JSON to an http URL (transfer /api/push, agent /v1/push) and retries a 5xx', async () => {
    const bodies: unknown[] = []
    let n = 0
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (d: Buffer) => (body += d.toString()))
      req.on('end', () => {
        if (++n === 1) {
          res.writeHead(503).end('busy')
          return
        }
        bodies.push({ path: req.url, items: JSON.parse(body) as unknown })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ msg: 'success', data: { Message: 'ok', Total: 1, Invalid: 0 } }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const p = new TransferPusher(
      { ...options, addresses: [`http://127.0.0.1:${port}`] },
      { log: recordingLogger(), now: Date.now }
    )
    p.push([point(1)])
    assert.equal(await p.flush(), false)
    assert.match(p.lastError, /HTTP 503 busy/)
    assert.equal(await p.flush(), true)
    assert.deepEqual(bodies, [{ path: '/api/push', items: [point(1)] }])
    p.close()
    server.close()
  })

  it('keeps several calls in flight, each batch delivered once', async () => {
    let open = 0
    let most = 0
    const got: number[] = []
    const caller: RpcCaller = {
      async call<T>(_m: string, param: unknown): Promise<T> {
        open++
        most = Math.max(most, open)
        await new Promise((r) => setTimeout(r, 20))
        open--
        for (const p of param as MetricValue[]) got.push(p.value)
        return { Message: 'ok', Total: 2, Invalid: 0 } as T
      },
      close: () => undefined,
    }
    const p = new TransferPusher(
      { ...options, inFlight: 4, addresses: ['a:1'] },
      { log: recordingLogger(), now: Date.now, dial: () => caller }
    )
    p.push(Array.from({ length: 40 }, (_, i) => point(i)))
    assert.equal(await p.flush(), true)
    assert.equal(most, 4)
    assert.deepEqual(
      got.sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i)
    )
    p.close()
  })
})
