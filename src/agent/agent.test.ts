import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../core/index.js'
import { defaultAgentConfig, parseAgentConfig, start, type AgentService } from './index.js'
import { parseBuiltinItems } from './heartbeat.js'
import { withDefaultTags } from './sender.js'

// The names falcon-agent sends on any Linux host with a block device and an eth/ens interface, as
// this machine has (see docs/agent.md); per-device and per-interface families are checked by prefix.
const EVERY_HOST = [
  'agent.alive',
  'cpu.idle',
  'cpu.busy',
  'cpu.user',
  'cpu.nice',
  'cpu.system',
  'cpu.iowait',
  'cpu.irq',
  'cpu.softirq',
  'cpu.steal',
  'cpu.guest',
  'cpu.switches',
  'mem.memtotal',
  'mem.memused',
  'mem.memfree',
  'mem.swaptotal',
  'mem.swapused',
  'mem.swapfree',
  'mem.memfree.percent',
  'mem.memused.percent',
  'mem.swapfree.percent',
  'mem.swapused.percent',
  'load.1min',
  'load.5min',
  'load.15min',
  'kernel.maxfiles',
  'kernel.maxproc',
  'kernel.files.allocated',
  'kernel.files.left',
  'df.bytes.total',
  'df.bytes.used',
  'df.bytes.free',
  'df.bytes.used.percent',
  'df.bytes.free.percent',
  'df.inodes.total',
  'df.inodes.used',
  'df.inodes.free',
  'df.inodes.used.percent',
  'df.inodes.free.percent',
  'df.statistics.total',
  'df.statistics.used',
  'df.statistics.used.percent',
  'ss.estab',
  'ss.closed',
  'ss.orphaned',
  'ss.timewait',
  'TcpExt.ListenOverflows',
  'TcpExt.TCPTimeouts',
  'snmp.Udp.InDatagrams',
  'snmp.Udp.NoPorts',
]

describe('agent on this host', () => {
  let agent: AgentService
  before(async () => {
    agent = await start(
      parseAgentConfig({
        hostname: 'live-test',
        heartbeat: { ...defaultAgentConfig.heartbeat, enabled: false },
        transfer: { ...defaultAgentConfig.transfer, enabled: false },
        http: { ...defaultAgentConfig.http, enabled: false },
        collector: { ifacePrefix: [], mountPoint: [] },
        ignore: {},
        default_tags: { idc: 'test' },
      }),
      { log: silentLogger, now: Date.now }
    )
    // cpu percentages need two 1-second samples.
    await new Promise((r) => setTimeout(r, 1100))
  })
  after(() => agent.stop())

  it('collects every metric name falcon-agent sends on a Linux host', async () => {
    const { names } = await agent.collectOnce()
    const missing = EVERY_HOST.filter((n) => !names.includes(n))
    assert.deepEqual(missing, [])
    for (const prefix of ['disk.io.', 'net.if.']) {
      assert.ok(
        names.some((n) => n.startsWith(prefix)),
        `${prefix}* (have ${names.join(' ')})`
      )
    }
  })

  it('stamps endpoint, step and timestamp, and appends default_tags', async () => {
    const metrics = await agent.loop.collect()
    const idle = metrics.find((m) => m.metric === 'cpu.idle')
    assert.ok(idle !== undefined)
    assert.equal(idle.endpoint, 'live-test')
    assert.equal(idle.step, 60)
    assert.equal(idle.counterType, 'GAUGE')
    assert.equal(idle.tags, 'idc=test')
    assert.ok(Math.abs(idle.timestamp - Date.now() / 1000) < 5)
    const df = metrics.find((m) => m.metric === 'df.bytes.total')
    assert.match(df?.tags ?? '', /^mount=[^,]+,fstype=[^,]+,idc=test$/)
  })
})

describe('agent pieces', () => {
  it("reads hbs's builtin metrics as falcon-agent does", () => {
    assert.deepEqual(
      parseBuiltinItems([
        { Metric: 'net.port.listen', Tags: 'port=22' },
        { Metric: 'net.port.listen', Tags: 'port=x' },
        { Metric: 'du.bs', Tags: 'path=/data ' },
        { Metric: 'proc.num', Tags: 'name=nginx,cmdline=master' },
        { Metric: 'url.check.health', Tags: 'url=http://a/b,timeout=3' },
        { Metric: 'url.check.health', Tags: 'url=http://a/b' },
        { Metric: 'cpu.idle', Tags: '' },
      ]),
      {
        ports: [22],
        duPaths: ['/data'],
        procs: ['name=nginx,cmdline=master'],
        urls: ['url=http://a/b,timeout=3'],
      }
    )
  })

  it('appends default tags after the metric tags', () => {
    assert.equal(withDefaultTags('', 'a=1'), 'a=1')
    assert.equal(withDefaultTags('iface=eth0', 'a=1,b=2'), 'iface=eth0,a=1,b=2')
    assert.equal(withDefaultTags('iface=eth0', ''), 'iface=eth0')
  })

  it('names every bad setting of a cfg.json', () => {
    assert.throws(
      () =>
        parseAgentConfig({
          transfer: { addrs: ['nowhere'], interval: 0 },
          http: 'on',
          default_tags: { 'a b': 'x' },
          mystery: 1,
        }),
      (err: Error) =>
        /agent\.mystery: not an agent setting/.test(err.message) &&
        /agent\.http: expected an object/.test(err.message) &&
        /agent\.transfer\.interval: expected an integer from 1/.test(err.message) &&
        /agent\.transfer\.addrs\[0\]/.test(err.message) &&
        /agent\.default_tags\.a b/.test(err.message)
    )
  })
})

describe('agent /config/reload', () => {
  // RPC callers handed to the agent, by address: what they were sent and whether they were closed.
  function fakeDial(transferUp: () => boolean) {
    const callers: { address: string; closed: boolean }[] = []
    const received: { metric: string }[] = []
    const dial = (address: string) => {
      const c = { address, closed: false }
      callers.push(c)
      return {
        call<T>(method: string, param: unknown): Promise<T> {
          if (c.closed) return Promise.reject(new Error('closed'))
          if (method === 'Transfer.Update') {
            if (!transferUp()) return Promise.reject(new Error('connection refused'))
            received.push(...(param as { metric: string }[]))
            return Promise.resolve({ Message: 'ok', Total: 1, Invalid: 0, Latency: 0 } as T)
          }
          return Promise.resolve(null as T)
        },
        close: () => void (c.closed = true),
      }
    }
    return { dial, callers, received }
  }

  const config = parseAgentConfig({
    hostname: 'reload-test',
    ip: '10.0.0.9',
    heartbeat: { ...defaultAgentConfig.heartbeat, addr: '127.0.0.1:6030', interval: 3600 },
    transfer: { ...defaultAgentConfig.transfer, addrs: ['127.0.0.1:8433'], interval: 3600 },
    http: { ...defaultAgentConfig.http, listen: '127.0.0.1:0' },
    collector: { ifacePrefix: [], mountPoint: [] },
  })

  const url = (agent: AgentService, path: string) => `http://${agent.addresses.http}${path}`
  const push = (agent: AgentService, metric: string) =>
    fetch(url(agent, '/v1/push'), {
      method: 'POST',
      body: JSON.stringify([
        {
          endpoint: 'h',
          metric,
          value: 1,
          step: 60,
          counterType: 'GAUGE',
          tags: '',
          timestamp: Math.floor(Date.now() / 1000),
        },
      ]),
    })

  it('leaves one heartbeat and one loop after overlapping reloads', async () => {
    const fake = fakeDial(() => true)
    // Both reloads read the file at the same moment, then go on together.
    let release = () => {}
    const gate = new Promise<void>((r) => (release = r))
    let reads = 0
    const agent = await start(
      config,
      { log: silentLogger, now: Date.now, dial: fake.dial },
      {
        reload: async () => {
          if (++reads === 2) release()
          await gate
          return config
        },
      }
    )
    // Reloads run one at a time, so the first is let go without waiting for the second.
    setTimeout(() => release(), 200).unref()
    const replies = await Promise.all([
      fetch(url(agent, '/config/reload')),
      fetch(url(agent, '/config/reload')),
    ])
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200]
    )
    await agent.stop()
    const open = fake.callers.filter((c) => !c.closed).map((c) => c.address)
    assert.deepEqual(open, [])
  })

  it('keeps the metrics no transfer took across a reload', async () => {
    let up = false
    const fake = fakeDial(() => up)
    const agent = await start(
      config,
      { log: silentLogger, now: Date.now, dial: fake.dial },
      { reload: () => Promise.resolve(config) }
    )
    assert.equal((await push(agent, 'before.reload')).status, 200)
    assert.equal((await fetch(url(agent, '/config/reload'))).status, 200)
    up = true
    assert.equal((await push(agent, 'after.reload')).status, 200)
    await agent.stop()
    assert.deepEqual(
      fake.received.map((m) => m.metric),
      ['before.reload', 'after.reload']
    )
  })
})
