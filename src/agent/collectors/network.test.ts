import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CollectContext, NO_BUILTIN_ITEMS, type Sample, gauge } from '../collector.js'
import { networkCollectors } from './network.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES
const ctxAt = (proc: string, sys: string, ifacePrefix: string[] = [], now = 0): CollectContext => ({
  proc,
  sys,
  ifacePrefix,
  mountPoints: [],
  builtin: NO_BUILTIN_ITEMS,
  hostname: 'host',
  now,
})
const ctxOf = (set: string, ifacePrefix: string[] = []) =>
  ctxAt(join(FIX, set, 'proc'), join(FIX, set, 'sys'), ifacePrefix)

async function collectAll(ctx: CollectContext): Promise<Map<string, Sample[]>> {
  const out = new Map<string, Sample[]>()
  for (const c of networkCollectors()) out.set(c.name, await c.collect(ctx))
  return out
}
const count = (samples: Sample[] | undefined, prefix: string) =>
  (samples ?? []).filter((s) => s.metric.startsWith(prefix)).length
const value = (samples: Sample[] | undefined, metric: string, tags = '') =>
  samples?.find((s) => s.metric === metric && s.tags === tags)?.value

describe('networkCollectors', () => {
  it('are net.if, netstat, snmp and ss', () => {
    assert.deepEqual(
      networkCollectors().map((c) => c.name),
      ['net.if', 'netstat', 'snmp', 'ss']
    )
  })

  it('CentOS 7 with ifacePrefix em: every family, exact values', async () => {
    const got = await collectAll(ctxOf('net-centos7', ['em']))
    const netIf = got.get('net.if')
    assert.equal(netIf?.length, 2 * 26)
    assert.deepEqual([...new Set(netIf?.map((s) => s.tags))], ['iface=em2', 'iface=em1'])
    assert.equal(value(netIf, 'net.if.in.bytes', 'iface=em1'), 8123456789012)
    assert.equal(value(netIf, 'net.if.speed.bits', 'iface=em1'), 1_000_000_000)
    assert.equal(value(netIf, 'net.if.in.percent', 'iface=em1'), 6498765.4312096)
    assert.equal(count(got.get('netstat'), 'TcpExt.'), 22)
    assert.equal(value(got.get('netstat'), 'TcpExt.ListenOverflows'), 2019)
    assert.deepEqual(
      got.get('snmp')?.map((s) => [s.metric, s.value, s.counterType]),
      [
        ['snmp.Udp.InDatagrams', 4294967296123, 'COUNTER'],
        ['snmp.Udp.NoPorts', 4321, 'COUNTER'],
        ['snmp.Udp.InErrors', 17, 'COUNTER'],
        ['snmp.Udp.OutDatagrams', 4294967296456, 'COUNTER'],
        ['snmp.Udp.RcvbufErrors', 15, 'COUNTER'],
        ['snmp.Udp.SndbufErrors', 0, 'COUNTER'],
        ['snmp.Udp.InCsumErrors', 2, 'COUNTER'],
      ]
    )
    assert.deepEqual(got.get('ss'), [
      gauge('ss.estab', 95),
      gauge('ss.closed', 4002),
      gauge('ss.orphaned', 2),
      gauge('ss.synrecv', 0),
      gauge('ss.timewait', 4000),
      gauge('ss.slabinfo.timewait', 0),
    ])
  })

  it('a container: net.if and ss only, nothing thrown', async () => {
    const got = await collectAll(ctxOf('net-container'))
    assert.equal(got.get('net.if')?.length, 2 * 26)
    assert.deepEqual(got.get('netstat'), [])
    assert.deepEqual(got.get('snmp'), [])
    assert.equal(got.get('ss')?.length, 6)
  })

  it('an empty /proc and /sys: every collector returns []', async () => {
    const got = await collectAll(ctxAt(join(FIX, 'no-such-set', 'proc'), join(FIX, 'no-such-set')))
    assert.deepEqual([...got.values()], [[], [], [], []])
  })

  it('reads /proc/net/snmp once per cycle (one ctx.now) for snmp and ss', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-net-'))
    try {
      mkdirSync(join(dir, 'net'))
      const snmp = (estab: number, dgrams: number) =>
        `Tcp: CurrEstab\nTcp: ${estab}\nUdp: InDatagrams\nUdp: ${dgrams}\n`
      writeFileSync(join(dir, 'net', 'sockstat'), 'TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n')
      writeFileSync(join(dir, 'net', 'snmp'), snmp(5, 50))
      const [, , udp, ss] = networkCollectors()
      assert.equal(value(await udp.collect(ctxAt(dir, dir, [], 1)), 'snmp.Udp.InDatagrams'), 50)
      writeFileSync(join(dir, 'net', 'snmp'), snmp(6, 60))
      assert.equal(value(await ss.collect(ctxAt(dir, dir, [], 1)), 'ss.estab'), 5)
      assert.equal(value(await ss.collect(ctxAt(dir, dir, [], 2)), 'ss.estab'), 6)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('live on this machine: every family is there', async (t) => {
    const got = await collectAll(ctxAt('/proc', '/sys'))
    const netIf = got.get('net.if') ?? []
    assert.ok(netIf.length > 0 && netIf.length % 26 === 0)
    assert.ok(netIf.some((s) => s.metric === 'net.if.in.bytes' && s.tags === 'iface=lo'))
    for (const m of ['net.if.speed.bits', 'net.if.in.percent', 'net.if.total.bits']) {
      assert.ok(netIf.some((s) => s.metric === m))
    }
    assert.ok(count(got.get('netstat'), 'TcpExt.') >= 18)
    assert.ok(value(got.get('netstat'), 'TcpExt.ListenOverflows') !== undefined)
    assert.ok(value(got.get('snmp'), 'snmp.Udp.InDatagrams') !== undefined)
    assert.deepEqual(
      got.get('ss')?.map((s) => s.metric),
      ['ss.estab', 'ss.closed', 'ss.orphaned', 'ss.synrecv', 'ss.timewait', 'ss.slabinfo.timewait']
    )
    t.diagnostic(`${[...got.values()].reduce((n, s) => n + s.length, 0)} samples`)
  })

  it('live: ss.* equal what `ss -s` prints at the same moment', async (t) => {
    try {
      execFileSync('ss', ['-V'], { stdio: 'ignore' })
    } catch {
      return t.skip('ss (iproute2) is not installed')
    }
    const ssCollector = networkCollectors()[3]
    const ours = async (now: number) =>
      Object.fromEntries(
        (await ssCollector.collect(ctxAt('/proc', '/sys', [], now))).map((s) => [s.metric, s.value])
      )
    // Sockets come and go: compare only when our reading did not change around the ss run.
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = await ours(attempt * 2)
      const out = execFileSync('ss', ['-s'], { encoding: 'utf8' })
      const after = await ours(attempt * 2 + 1)
      if (JSON.stringify(before) !== JSON.stringify(after)) continue
      const m =
        /TCP:\s+\d+ \(estab (\d+), closed (-?\d+), orphaned (\d+), (?:synrecv \d+, )?timewait (\d+)/.exec(
          out
        )
      assert.ok(m !== null, out)
      assert.deepEqual(
        [before['ss.estab'], before['ss.closed'], before['ss.orphaned'], before['ss.timewait']],
        [Number(m[1]), Math.max(0, Number(m[2])), Number(m[3]), Number(m[4])]
      )
      return
    }
    assert.fail('the socket counts never held still around an ss run')
  })

  it('live: CPU time of one cycle of all four collectors', async (t) => {
    const collectors = networkCollectors()
    const cycles = 100
    for (let i = 0; i < 10; i++)
      for (const c of collectors) await c.collect(ctxAt('/proc', '/sys', [], -i))
    const start = process.cpuUsage()
    for (let i = 0; i < cycles; i++) {
      const ctx = ctxAt('/proc', '/sys', [], i)
      for (const c of collectors) await c.collect(ctx)
    }
    const used = process.cpuUsage(start)
    t.diagnostic(
      `networkCollectors: ${((used.user + used.system) / 1000 / cycles).toFixed(3)} ms CPU per cycle`
    )
  })
})
