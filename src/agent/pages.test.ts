// falcon-agent's host pages (/proc/cpu/usage, /page/cpu/usage, /page/df, /page/diskio) answered
// from the real system collectors, as src/agent/index.ts wires them into agentHttp.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NO_BUILTIN_ITEMS } from './collector.js'
import type { CollectContext, Collector } from './collector.js'
import type { FsStats } from './collectors/df.js'
import { parseDiskstats, shouldHandleDevice } from './collectors/diskio.js'
import { systemCollectorsWithPages, type SystemPages } from './collectors/system.js'
import { injectableAgentHttp } from './http-testing.js'
import { FIXTURES } from './collectors/fixtures.js'

const FIX = FIXTURES
const ctxAt = (proc: string, sys: string): CollectContext => ({
  proc,
  sys,
  ifacePrefix: [],
  mountPoints: [],
  builtin: NO_BUILTIN_ITEMS,
  hostname: 'host',
  now: 0,
})
const fixture = (set: string) => ctxAt(join(FIX, set, 'proc'), join(FIX, set, 'sys'))

/** get answers one GET through agentHttp over the pages, as the agent serves them. */
async function get(pages: SystemPages, proc: string, url: string) {
  const app = injectableAgentHttp({
    version: '5.1.2',
    workdir: '/opt/falcon/agent',
    proc,
    backdoor: false,
    pluginEnabled: false,
    pluginGit: '',
    plugins: undefined,
    hostname: () => 'host',
    trustable: () => [],
    push: () => Promise.resolve(),
    reloadConfig: () => Promise.resolve({}),
    exit: () => undefined,
    cpuUsage: () => pages.cpuUsage(),
    df: () => pages.df(),
    diskio: () => pages.diskio(),
  })
  try {
    const r = await app.inject({ method: 'GET', url })
    assert.equal(r.statusCode, 200, url)
    assert.equal(r.headers['content-type'], 'application/json; charset=UTF-8', url)
    return r.body
  } finally {
    await app.close()
  }
}

async function collectAll(collectors: Collector[], ctx: CollectContext): Promise<void> {
  for (const c of collectors) await c.collect(ctx)
}

describe('host pages over the system collectors', () => {
  it('answers falcon’s bodies for a 2.6.32 host’s fixtures', async () => {
    const root = join(FIX, 'sys-centos6')
    const table: Record<string, FsStats> = {
      '/': {
        bsize: 4096,
        blocks: 12800000,
        bfree: 6400000,
        bavail: 5760000,
        files: 3276800,
        ffree: 3000000,
      },
      '/boot': {
        bsize: 1024,
        blocks: 495844,
        bfree: 400000,
        bavail: 374244,
        files: 128016,
        ffree: 127970,
      },
      '/home': {
        bsize: 4096,
        blocks: 25600000,
        bfree: 25600000,
        bavail: 24320000,
        files: 6400000,
        ffree: 6399989,
      },
    }
    const statfs = (path: string): FsStats => {
      const st = table[path.slice(root.length) || '/']
      if (st === undefined) throw new Error('ENOENT')
      return st
    }
    const times = [0, 1000]
    const { collectors, pages } = systemCollectorsWithPages({
      statfs,
      clock: () => times.shift() ?? 2000,
    })
    const proc = join(root, 'proc')
    const notYet = '{"msg":"not prepared"}'
    assert.equal(await get(pages, proc, '/proc/cpu/usage'), notYet)
    assert.equal(await get(pages, proc, '/page/df'), notYet)
    assert.equal(await get(pages, proc, '/page/diskio'), '{"msg":"success","data":null}')

    for (const set of ['sys-centos6', 'sys-centos6-t1']) {
      for (const c of collectors) c.sample?.(fixture(set))
    }
    await collectAll(collectors, fixture('sys-centos6'))

    // ticks between the readings: 400; user 100, nice 4, system 40, idle 240, iowait 8, softirq 4,
    // steal 4, guest 20
    assert.equal(
      await get(pages, proc, '/proc/cpu/usage'),
      '{"msg":"success","data":{"busy":40,"guest":5,"idle":60,"iowait":2,"irq":0,"nice":1,' +
        '"softirq":1,"steal":1,"system":10,"user":25}}'
    )
    assert.equal(
      await get(pages, proc, '/page/cpu/usage'),
      '{"msg":"success","data":[["60.0%","40.0%","25.0%","1.0%","10.0%","2.0%","0.0%","1.0%",' +
        '"1.0%","5.0%"]]}'
    )
    // sda over one second: merged 5/7, rio 40, wio 60, rsec 320 (160 kB), wsec 1280 (640 kB),
    // avgrq-sz 1600/100, avgqu-sz 500/1000, await 200/100, svctm 250/100, util 250 ms = 25 %
    assert.deepEqual(JSON.parse(await get(pages, proc, '/page/diskio')), {
      msg: 'success',
      data: [
        [
          'sda',
          '5',
          '7',
          '40',
          '60',
          '160.00',
          '640.00',
          '16.00',
          '0.50',
          '2.00',
          '2.50',
          '25.00%',
        ],
        ['sda5', '0', '0', '0', '0', '0.00', '0.00', '0.00', '0.00', '0.00', '0.00', '0.00%'],
      ],
    })
    // /: 52428800000 B = 48.83 GiB, used 24.41 GiB, free 21.97 GiB, 6400000/(6400000+5760000);
    // inodes 3276800 = 3.125 Mi, used 276800 = 270.3 Ki, free 2.86 Mi, 8.45 %.
    // /boot: 484.2 MiB, used 93.6 MiB, free 365.5 MiB, 95844/470088; inodes 125.0 Ki, 46, 125.0 Ki.
    // /home: 97.66 GiB, nothing used, free 92.77 GiB; inodes 6.1 Mi, 11, 6.1 Mi.
    assert.deepEqual(JSON.parse(await get(pages, proc, '/page/df')), {
      msg: 'success',
      data: [
        ['/dev/mapper/VolGroup-lv_root', '48.8G', '24.4G', '22.0G', '52.6%', '/'].concat([
          '3.1M',
          '270.3K',
          '2.9M',
          '8.4%',
          'ext4',
        ]),
        ['/dev/sda1', '484.2M', '93.6M', '365.5M', '20.4%', '/boot'].concat([
          '125.0K',
          '46.0B',
          '125.0K',
          '0.0%',
          'ext4',
        ]),
        ['/dev/mapper/VolGroup-lv_home', '97.7G', '0.0B', '92.8G', '0.0%', '/home'].concat([
          '6.1M',
          '11.0B',
          '6.1M',
          '0.0%',
          'ext4',
        ]),
      ],
    })
  })

  it('answers non-empty falcon shapes from this machine’s /proc', async () => {
    const live = ctxAt('/proc', '/sys')
    const { collectors, pages } = systemCollectorsWithPages()
    for (const c of collectors) c.sample?.(live)
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const c of collectors) c.sample?.(live)
    await collectAll(collectors, live)

    const cpu = JSON.parse(await get(pages, '/proc', '/proc/cpu/usage')) as {
      msg: string
      data: Record<string, number>
    }
    assert.equal(cpu.msg, 'success')
    const keys = ['busy', 'guest', 'idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system']
    assert.deepEqual(Object.keys(cpu.data), [...keys, 'user'])
    for (const [k, v] of Object.entries(cpu.data)) {
      assert.ok(Number.isFinite(v) && v >= 0 && v <= 100, `${k} ${v}`)
    }
    assert.equal(cpu.data.busy, 100 - cpu.data.idle)
    const cpuPage = JSON.parse(await get(pages, '/proc', '/page/cpu/usage')) as {
      data: string[][]
    }
    assert.equal(cpuPage.data.length, 1)
    assert.equal(cpuPage.data[0].length, 10)
    for (const cell of cpuPage.data[0]) assert.match(cell, /^\d+\.\d%$/)

    const size = /^\d+\.\d[BKMGTP]$/
    const pct = /^\d+\.\d%$/
    const df = JSON.parse(await get(pages, '/proc', '/page/df')) as {
      msg: string
      data: (string | number)[][]
    }
    assert.equal(df.msg, 'success')
    assert.ok(df.data.length > 0, 'this machine has a real filesystem')
    for (const row of df.data) {
      assert.equal(row.length, 11, JSON.stringify(row))
      const [spec, all, used, free, usedPct, file, iAll, iUsed, iFree, iPct, type] = row
      for (const s of [spec, file, type]) assert.ok(typeof s === 'string' && s !== '')
      for (const s of [all, used, free, iAll, iUsed, iFree]) assert.match(String(s), size)
      for (const s of [usedPct, iPct]) assert.match(String(s), pct)
    }
    assert.ok(
      df.data.some((row) => row[5] === '/'),
      'the root filesystem is listed'
    )

    const devices = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'))
      .map((d) => d.device)
      .filter(shouldHandleDevice)
    assert.ok(devices.length > 0, 'this machine has a disk falcon reports')
    const io = JSON.parse(await get(pages, '/proc', '/page/diskio')) as {
      msg: string
      data: string[][]
    }
    assert.equal(io.msg, 'success')
    assert.deepEqual(
      io.data.map((row) => row[0]),
      devices
    )
    for (const row of io.data) {
      assert.equal(row.length, 12, JSON.stringify(row))
      for (const n of row.slice(1, 5)) assert.match(n, /^\d+$/)
      for (const n of row.slice(5, 11)) assert.match(n, /^\d+\.\d\d$/)
      assert.match(row[11], /^\d+\.\d\d%$/)
    }
  })
})
