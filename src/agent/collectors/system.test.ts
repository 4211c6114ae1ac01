import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { gauge } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'
import type { FsStats } from './df.js'
import { systemCollectors, systemCollectorsWithPages } from './system.js'
import { FIXTURES, fixtureContext } from './fixtures.js'

const FIX = FIXTURES
const ctxOf = (set: string) => fixtureContext(set)

async function cycle(collectors: Collector[], ctx: CollectContext): Promise<Sample[]> {
  const out: Sample[] = []
  for (const c of collectors) out.push(...(await c.collect(ctx)))
  return out
}

const CPU = ['idle', 'busy', 'user', 'nice', 'system', 'iowait', 'irq', 'softirq', 'steal', 'guest']
const MEM = ['memtotal', 'memused', 'memfree', 'swaptotal', 'swapused', 'swapfree']
const MEM_PCT = ['memfree', 'memused', 'swapfree', 'swapused'].map((m) => m + '.percent')
const KERNEL = ['maxfiles', 'maxproc', 'files.allocated', 'files.left']
const IO = ['read_requests', 'read_merged', 'read_sectors', 'msec_read', 'write_requests']
IO.push('write_merged', 'write_sectors', 'msec_write', 'ios_in_progress', 'msec_total')
IO.push('msec_weighted_total')
const RATES = ['read_bytes', 'write_bytes', 'avgrq_sz', 'avgqu-sz', 'await', 'svctm', 'util']
const DF = ['bytes.total', 'bytes.used', 'bytes.free', 'bytes.used.percent', 'bytes.free.percent']
DF.push('inodes.total', 'inodes.used', 'inodes.free', 'inodes.used.percent', 'inodes.free.percent')

describe('systemCollectors', () => {
  it('returns fresh collectors in falcon’s order', () => {
    const a = systemCollectors()
    const b = systemCollectors()
    assert.deepEqual(
      a.map((c) => c.name),
      ['agent', 'cpu', 'kernel', 'loadavg', 'mem', 'diskio', 'df']
    )
    a[1].sample?.(ctxOf('sys-centos6'))
    a[1].sample?.(ctxOf('sys-centos6-t1'))
    assert.equal((a[1].collect(ctxOf('sys-centos6')) as Sample[]).length, 11)
    assert.deepEqual(b[1].collect(ctxOf('sys-centos6')), [], 'b has its own, empty history')
    assert.notEqual(a[5], b[5])
  })

  it('collects every family of a 2.6.32 host, in order', async () => {
    const root = join(FIX, 'sys-centos6')
    const statfs = (path: string): FsStats => {
      if (path !== join(root, '/boot')) throw new Error('ENOENT')
      return { bsize: 1024, blocks: 1000, bfree: 250, bavail: 200, files: 100, ffree: 90 }
    }
    const times = [0, 1000]
    const collectors = systemCollectors({ statfs, clock: () => times.shift() ?? 2000 })
    for (const set of ['sys-centos6', 'sys-centos6-t1']) {
      for (const c of collectors) c.sample?.(ctxOf(set))
    }
    const got = await cycle(collectors, ctxOf('sys-centos6'))
    const boot = 'mount=/boot,fstype=ext4'
    assert.deepEqual(
      got.map((s) => [s.metric, s.counterType, s.tags].join(' ')),
      [
        'agent.alive GAUGE ',
        ...CPU.map((m) => `cpu.${m} GAUGE `),
        'cpu.switches COUNTER ',
        ...KERNEL.map((m) => `kernel.${m} GAUGE `),
        ...['1min', '5min', '15min'].map((m) => `load.${m} GAUGE `),
        ...[...MEM, ...MEM_PCT].map((m) => `mem.${m} GAUGE `),
        ...['sda', 'sda5'].flatMap((d) => IO.map((m) => `disk.io.${m} COUNTER device=${d}`)),
        ...['sda', 'sda5'].flatMap((d) => RATES.map((m) => `disk.io.${m} GAUGE device=${d}`)),
        ...DF.map((m) => `df.${m} GAUGE ${boot}`),
        ...['total', 'used', 'used.percent'].map((m) => `df.statistics.${m} GAUGE `),
      ]
    )
    assert.deepEqual(got[0], gauge('agent.alive', 1))
    assert.deepEqual(got.at(-1), gauge('df.statistics.used.percent', 75))
  })

  it('with pages: the pages read the very collectors it returns', async () => {
    const root = join(FIX, 'sys-centos6')
    const statfs = (path: string): FsStats => {
      if (path !== join(root, '/boot')) throw new Error('ENOENT')
      return { bsize: 1024, blocks: 1000, bfree: 250, bavail: 200, files: 100, ffree: 90 }
    }
    const times = [0, 1000]
    const { collectors, pages } = systemCollectorsWithPages({
      statfs,
      clock: () => times.shift() ?? 2000,
    })
    assert.deepEqual(
      collectors.map((c) => c.name),
      ['agent', 'cpu', 'kernel', 'loadavg', 'mem', 'diskio', 'df']
    )
    assert.equal(pages.cpuUsage(), undefined)
    assert.deepEqual(pages.diskio(), [])
    assert.throws(() => pages.df(), { message: 'not prepared' })
    for (const set of ['sys-centos6', 'sys-centos6-t1']) {
      for (const c of collectors) c.sample?.(ctxOf(set))
    }
    await cycle(collectors, ctxOf('sys-centos6'))
    assert.equal(pages.cpuUsage()?.idle, 60)
    assert.deepEqual(
      pages.diskio().map((d) => [d.device, d.readRequests, d.writeRequests, d.msecTotal]),
      [
        ['sda', 40, 60, 250],
        ['sda5', 0, 0, 0],
      ]
    )
    assert.deepEqual(pages.df(), [
      {
        fsSpec: '/dev/sda1',
        fsFile: '/boot',
        fsVfstype: 'ext4',
        blocksAll: 1024000,
        blocksUsed: 768000,
        blocksFree: 204800,
        blocksUsedPercent: 75000 / 950, // used over used + available
        inodesAll: 100,
        inodesUsed: 10,
        inodesFree: 90,
        inodesUsedPercent: 10,
      },
    ])
    const other = systemCollectorsWithPages()
    assert.equal(other.pages.cpuUsage(), undefined, 'each call has its own collectors')
  })

  it('sends only agent.alive when /proc is empty', async () => {
    const collectors = systemCollectors()
    const ctx = ctxOf('sys-does-not-exist')
    for (const c of collectors) c.sample?.(ctx)
    for (const c of collectors) c.sample?.(ctx)
    assert.deepEqual(await cycle(collectors, ctx), [gauge('agent.alive', 1)])
  })

  it('collects this machine’s families', async () => {
    const live = { ...ctxOf('x'), proc: '/proc', sys: '/sys' }
    const collectors = systemCollectors()
    for (const c of collectors) c.sample?.(live)
    for (const c of collectors) c.sample?.(live)
    const got = await cycle(collectors, live)
    const names = new Set(got.map((s) => s.metric))
    const want = [
      'agent.alive',
      ...CPU.map((m) => 'cpu.' + m),
      'cpu.switches',
      ...KERNEL.map((m) => 'kernel.' + m),
      'load.1min',
      'load.5min',
      'load.15min',
      ...[...MEM, ...MEM_PCT].map((m) => 'mem.' + m),
      'df.statistics.total',
      'df.statistics.used.percent',
    ]
    for (const name of want) assert.ok(names.has(name), name)
    for (const s of got) assert.ok(Number.isFinite(s.value), `${s.metric} ${s.tags}`)
  })
})
