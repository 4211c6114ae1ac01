import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { serveJsonRpc, silentLogger } from '../core/index.js'
import { Heartbeat } from './heartbeat.js'
import { type AgentMetric, TransferSender } from './sender.js'

// A transfer and an hbs speaking Go's jsonrpc over real TCP, recording what they are sent.
async function server(methods: Record<string, (p: unknown) => unknown>) {
  const calls: { method: string; param: unknown }[] = []
  const s = serveJsonRpc(
    new Map(
      Object.entries(methods).map(([m, fn]) => [
        m,
        (p: unknown) => {
          calls.push({ method: m, param: p })
          return fn(p)
        },
      ])
    )
  )
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const addr = `127.0.0.1:${(s.address() as AddressInfo).port}`
  return {
    addr,
    calls,
    close: () =>
      new Promise<void>((ok) => {
        s.closeAll()
        s.close(() => ok())
      }),
  }
}

const item = (i: number): AgentMetric => ({
  endpoint: 'h',
  metric: 'm',
  value: i,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp: 1_700_000_000 + i * 60,
})

const transferReply = (p: unknown) => ({
  Message: 'ok',
  Total: (p as unknown[]).length,
  Invalid: 0,
  Latency: 0,
})

describe('TransferSender', () => {
  const closers: (() => Promise<void>)[] = []
  after(async () => {
    for (const c of closers) await c()
  })

  it('fails over to an address that answers', async () => {
    const t = await server({ 'Transfer.Update': transferReply })
    closers.push(t.close)
    const sender = new TransferSender({
      addrs: ['127.0.0.1:1', t.addr],
      timeout: 1000,
      log: silentLogger,
    })
    for (let i = 0; i < 5; i++) assert.equal(await sender.send([item(i)]), true)
    assert.deepEqual(
      t.calls.map((c) => (c.param as AgentMetric[])[0].value),
      [0, 1, 2, 3, 4]
    )
    sender.close()
  })

  it('keeps what no transfer took and sends it with the next batch', async () => {
    const t = await server({ 'Transfer.Update': transferReply })
    const addr = t.addr
    await t.close()
    const sender = new TransferSender({ addrs: [addr], timeout: 500, log: silentLogger })
    assert.equal(await sender.send([item(1), item(2)]), false)
    assert.equal(sender.pendingCount, 2)
    const port = Number(addr.split(':')[1])
    const again = serveJsonRpc(new Map([['Transfer.Update', transferReply]]))
    const seen: number[] = []
    again.on('connection', (sock) => sock.on('data', (d: Buffer) => seen.push(d.length)))
    await new Promise<void>((ok) => again.listen(port, '127.0.0.1', ok))
    closers.push(
      () =>
        new Promise<void>((ok) => {
          again.closeAll()
          again.close(() => ok())
        })
    )
    assert.equal(await sender.send([item(3)]), true)
    assert.equal(sender.pendingCount, 0)
    assert.equal(sender.stats.sent, 3)
    sender.close()
  })

  it('takes a null reply as delivered rather than losing the batch', async () => {
    const sent: AgentMetric[][] = []
    const sender = new TransferSender({
      addrs: ['t:8433'],
      timeout: 200,
      log: silentLogger,
      dial: () => ({
        call: <T>(_method: string, param: unknown) => {
          sent.push(param as AgentMetric[])
          return Promise.resolve(null as T)
        },
        close: () => undefined,
      }),
    })
    assert.equal(await sender.send([item(1), item(2)]), true)
    assert.equal(sender.stats.sent, 2)
    assert.equal(sender.pendingCount, 0)
    assert.equal(sent.length, 1)
    sender.close()
  })

  it('hands what it holds, and what a send in flight cannot deliver, to its successor', async () => {
    let up = false
    const seen: number[] = []
    const dial = () => ({
      call: <T>(_method: string, param: unknown) => {
        if (!up) return Promise.reject(new Error('connection refused'))
        seen.push(...(param as AgentMetric[]).map((m) => m.value))
        return Promise.resolve(transferReply(param) as T)
      },
      close: () => undefined,
    })
    const options = { addrs: ['t:8433', 't2:8433'], timeout: 200, log: silentLogger, dial }
    const old = new TransferSender(options)
    assert.equal(await old.send([item(1)]), false)
    const inFlight = old.send([item(2)])
    const next = new TransferSender(options)
    old.close(next)
    assert.equal(await inFlight, false)
    assert.equal(old.pendingCount, 0)
    assert.equal(next.pendingCount, 2)
    up = true
    assert.equal(await next.send([item(3)]), true)
    assert.deepEqual(seen.sort(), [1, 2, 3])
    next.close()
  })

  it('drops the oldest past maxPending, counting them', async () => {
    const sender = new TransferSender({
      addrs: ['127.0.0.1:1'],
      timeout: 200,
      log: silentLogger,
      maxPending: 3,
    })
    await sender.send([item(1), item(2)])
    await sender.send([item(3), item(4)])
    assert.equal(sender.pendingCount, 3)
    assert.equal(sender.stats.dropped, 1)
    sender.close()
  })
})

describe('Heartbeat', () => {
  it('reports status, then takes builtin items once per checksum and the trustable IPs', async () => {
    let checksum = 'c1'
    // hbs stamps replies with its clock (Unix seconds); the agent ignores one not newer than the last.
    let clock = 1_700_000_000
    const hbs = await server({
      'Agent.ReportStatus': () => ({ code: 0 }),
      'Agent.BuiltinMetrics': (p) =>
        (p as { Checksum: string }).Checksum === checksum
          ? { Metrics: [], Checksum: checksum, Timestamp: ++clock }
          : {
              Metrics: [{ Metric: 'net.port.listen', Tags: 'port=22' }],
              Checksum: checksum,
              Timestamp: ++clock,
            },
      'Agent.TrustableIps': () => '10.0.0.1, 10.0.0.2',
      'Agent.MinePlugins': () => ({ Plugins: ['sys/ntp'], Timestamp: ++clock }),
    })
    const got: { ports: readonly number[] }[] = []
    let ips: string[] = []
    let plugins: string[] = []
    const hb = new Heartbeat({
      addr: hbs.addr,
      interval: 60,
      timeout: 1000,
      hostname: () => 'h1',
      ip: () => '10.0.0.9',
      pluginVersion: () => 'plugin not enabled',
      log: silentLogger,
      onBuiltinItems: (items) => got.push(items),
      onPlugins: (p) => (plugins = p),
      onTrustableIps: (list) => (ips = list),
    })
    await hb.syncNow()
    await hb.syncNow()
    checksum = 'c2'
    await hb.syncNow()
    hb.stop()
    await hbs.close()
    const report = hbs.calls.find((c) => c.method === 'Agent.ReportStatus')
    assert.deepEqual(report?.param, {
      Hostname: 'h1',
      IP: '10.0.0.9',
      AgentVersion: '5.1.2',
      PluginVersion: 'plugin not enabled',
    })
    // The first request carries falcon's initial checksum "nil"; an unchanged checksum is not applied.
    const builtin = hbs.calls.filter((c) => c.method === 'Agent.BuiltinMetrics')
    assert.equal((builtin[0].param as { Checksum: string }).Checksum, 'nil')
    assert.equal(got.length, 2)
    assert.deepEqual(got[0].ports, [22])
    assert.deepEqual(ips, ['10.0.0.1', '10.0.0.2'])
    assert.deepEqual(plugins, ['sys/ntp'])
  })
})
