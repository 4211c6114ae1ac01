import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gauge } from '../collector.js'
import type { Sample } from '../collector.js'
import { DfCollector, deviceUsage, hostRoot, parseMounts } from './df.js'
import type { FsStats } from './df.js'
import type { DfUsage } from '../http.js'
import { FIXTURES, fixtureContext } from './fixtures.js'

const FIX = FIXTURES
const ctxOf = (set: string, mountPoints: string[] = []) => fixtureContext(set, { mountPoints })
const mountsOf = (set: string) => readFileSync(join(FIX, set, 'proc', 'mounts'), 'utf8')

const fs = (
  bsize: number,
  blocks: number,
  bfree: number,
  bavail: number,
  files: number,
  ffree: number
): FsStats => ({ bsize, blocks, bfree, bavail, files, ffree })

/**
 * fakeStatfs answers from a table keyed by the path below `root` and records the paths it was
 * asked; a path not in the table fails as statfs(2) does for a vanished mount.
 */
function fakeStatfs(root: string, table: Record<string, FsStats>) {
  const asked: string[] = []
  const statfs = (path: string): FsStats => {
    asked.push(path)
    const st = table[path.slice(root.length) || '/']
    if (st === undefined) throw Object.assign(new Error('ENOENT: ' + path), { code: 'ENOENT' })
    return st
  }
  return { statfs, asked }
}

/** dfWant lists the ten samples of one mount, five when it has no inodes. */
const dfWant = (mount: string, fstype: string, v: number[]): Sample[] => {
  const tags = `mount=${mount},fstype=${fstype}`
  const names = ['bytes.total', 'bytes.used', 'bytes.free', 'bytes.used.percent']
  names.push('bytes.free.percent', 'inodes.total', 'inodes.used', 'inodes.free')
  names.push('inodes.used.percent', 'inodes.free.percent')
  return v.map((x, i) => gauge('df.' + names[i], x, tags))
}

/** dfPage is one mount as usages() gives it: blocks all/used/free/%, inodes all/used/free/%. */
const dfPage = (fsSpec: string, fsFile: string, fsVfstype: string, v: number[]): DfUsage => ({
  fsSpec,
  fsFile,
  fsVfstype,
  blocksAll: v[0],
  blocksUsed: v[1],
  blocksFree: v[2],
  blocksUsedPercent: v[3],
  inodesAll: v[4],
  inodesUsed: v[5],
  inodesFree: v[6],
  inodesUsedPercent: v[7],
})

const UBUNTU = {
  '/': fs(4096, 25800000, 12900000, 11610000, 6400000, 5600000),
  '/backup': fs(4096, 262144000, 131072000, 131072000, 524288000, 524000000),
  '/data': fs(4096, 524288000, 393216000, 393216000, 1048576000, 1048000000),
  '/run/docker/netns/1a2b': fs(4096, 0, 0, 0, 0, 0),
  '/mnt/nfs': fs(1048576, 1000000, 250000, 250000, 0, 0),
  '/flash': fs(4096, 100000, 100000, 95000, 25000, 2 ** 64),
  '/mnt/my disk': fs(4096, 1000, 500, 450, 256, 200),
}

describe('parseMounts', () => {
  it('drops pseudo filesystems and keeps each /dev disk once at its shortest path (4.4)', () => {
    assert.deepEqual(parseMounts(mountsOf('sys-ubuntu1604')), [
      { spec: '/dev/nvme0n1p1', file: '/', fstype: 'ext4' },
      // first seen at /srv/backup/current, later also mounted at /backup
      { spec: '/dev/xvdc', file: '/backup', fstype: 'xfs' },
      { spec: '/dev/xvdb', file: '/data', fstype: 'xfs' },
      { spec: 'nsfs', file: '/run/docker/netns/1a2b', fstype: 'nsfs' },
      { spec: '10.0.0.5:/export', file: '/mnt/nfs', fstype: 'nfs4' },
      { spec: '/dev/fioa', file: '/flash', fstype: 'ext4' },
      // /dev/vdb on /library is dropped: falcon's "/lib" prefix test
      { spec: '/dev/vdaa', file: '/mnt/my disk', fstype: 'ext4' },
      { spec: '/dev/xvda1', file: '/mnt/gone', fstype: 'ext4' },
    ])
  })

  it('drops rootfs, usbfs under /proc, rpc_pipefs and iso9660 (2.6.32)', () => {
    assert.deepEqual(parseMounts(mountsOf('sys-centos6')), [
      { spec: '/dev/mapper/VolGroup-lv_root', file: '/', fstype: 'ext4' },
      { spec: '/dev/sda1', file: '/boot', fstype: 'ext4' },
      { spec: '/dev/mapper/VolGroup-lv_home', file: '/home', fstype: 'ext4' },
    ])
  })

  it('keeps the shortest of a container’s bind-mounted files, as nux', () => {
    assert.deepEqual(parseMounts(mountsOf('sys-container')), [
      { spec: '/dev/sda1', file: '/etc/hosts', fstype: 'ext4' },
    ])
    assert.deepEqual(parseMounts(mountsOf('sys-local')), [
      { spec: '/dev/vda', file: '/', fstype: 'ext4' },
    ])
    assert.deepEqual(parseMounts(mountsOf('sys-garbled')), [
      { spec: '/dev/sdd', file: '/srv', fstype: 'ext4' },
    ])
  })
})

describe('deviceUsage', () => {
  it('is nux’s arithmetic: used over used + available, inodes over files', () => {
    assert.deepEqual(deviceUsage(fs(4096, 1000, 500, 450, 256, 200)), {
      bytesTotal: 4096000,
      bytesUsed: 2048000,
      bytesFree: 1843200,
      bytesUsedPercent: 50000 / 950,
      bytesFreePercent: 100 - 50000 / 950,
      inodesTotal: 256,
      inodesUsed: 56,
      inodesFree: 200,
      inodesUsedPercent: 21.875,
      inodesFreePercent: 78.125,
    })
  })

  it('reads "unlimited" free inodes (MaxUint64) as 0 used and 0 free', () => {
    const u = deviceUsage(fs(4096, 100000, 100000, 95000, 25000, 2 ** 64))
    assert.deepEqual(
      [u.bytesUsedPercent, u.bytesFreePercent, u.inodesUsed, u.inodesFree],
      [0, 100, 0, 0]
    )
    assert.deepEqual([u.inodesUsedPercent, u.inodesFreePercent], [0, 100])
  })

  it('sends 0 percents where falcon would divide by 0', () => {
    const empty = deviceUsage(fs(4096, 0, 0, 0, 0, 0))
    assert.deepEqual(
      [empty.bytesTotal, empty.bytesUsedPercent, empty.bytesFreePercent, empty.inodesUsedPercent],
      [0, 0, 0, 0]
    )
    const allReserved = deviceUsage(fs(4096, 10, 10, 0, 1, 1))
    assert.deepEqual([allReserved.bytesUsedPercent, allReserved.bytesFreePercent], [0, 0])
  })
})

describe('hostRoot', () => {
  it('is empty for /proc and the parent of any other proc', () => {
    assert.equal(hostRoot('/proc'), '')
    assert.equal(hostRoot('/proc/'), '')
    assert.equal(hostRoot('/host/proc'), '/host')
    assert.equal(hostRoot('/rootfs/proc/'), '/rootfs')
  })
})

describe('DfCollector', () => {
  it('reports each kept mount, skipping empty and failing ones, then the totals (4.4)', async () => {
    const root = join(FIX, 'sys-ubuntu1604')
    const { statfs, asked } = fakeStatfs(root, UBUNTU)
    const got = await new DfCollector({ statfs }).collect(ctxOf('sys-ubuntu1604'))
    assert.deepEqual(
      asked,
      ['/', '/backup', '/data', '/run/docker/netns/1a2b', '/mnt/nfs', '/flash', '/mnt/my disk']
        .concat('/mnt/gone')
        .map((p) => join(root, p))
    )
    const total = 105676800000 + 1073741824000 + 2147483648000 + 1048576000000 + 409600000 + 4096000
    const used = 52838400000 + 536870912000 + 536870912000 + 786432000000 + 0 + 2048000
    assert.deepEqual(got, [
      ...dfWant('/', 'ext4', [
        105676800000,
        52838400000,
        47554560000,
        1290000000 / 24510000,
        100 - 1290000000 / 24510000,
        6400000,
        800000,
        5600000,
        12.5,
        87.5,
      ]),
      ...dfWant(
        '/backup',
        'xfs',
        [
          1073741824000, 536870912000, 536870912000, 50, 50, 524288000, 288000, 524000000,
          0.054931640625, 99.945068359375,
        ]
      ),
      ...dfWant(
        '/data',
        'xfs',
        [
          2147483648000, 536870912000, 1610612736000, 25, 75, 1048576000, 576000, 1048000000,
          0.054931640625, 99.945068359375,
        ]
      ),
      // no inodes: bytes only
      ...dfWant('/mnt/nfs', 'nfs4', [1048576000000, 786432000000, 262144000000, 75, 25]),
      ...dfWant('/flash', 'ext4', [409600000, 0, 389120000, 0, 100, 25000, 0, 0, 0, 100]),
      ...dfWant('/mnt/my disk', 'ext4', [
        4096000,
        2048000,
        1843200,
        50000 / 950,
        100 - 50000 / 950,
        256,
        56,
        200,
        21.875,
        78.125,
      ]),
      gauge('df.statistics.total', total),
      gauge('df.statistics.used', used),
      gauge('df.statistics.used.percent', (used * 100) / total),
    ])
    assert.equal(total, 4375891968000)
    assert.ok(Math.abs((used * 100) / total - 43.71713) < 1e-4)
  })

  it('restricts to collector.mountPoint, matched against the kept path', async () => {
    const root = join(FIX, 'sys-ubuntu1604')
    const { statfs, asked } = fakeStatfs(root, UBUNTU)
    const ctx = ctxOf('sys-ubuntu1604', ['/mnt/nfs', '/var/lib/docker/volumes', '/data'])
    const got = await new DfCollector({ statfs }).collect(ctx)
    assert.deepEqual(asked, [join(root, '/data'), join(root, '/mnt/nfs')])
    assert.deepEqual(
      [...new Set(got.map((s) => s.tags))],
      ['mount=/data,fstype=xfs', 'mount=/mnt/nfs,fstype=nfs4', '']
    )
    assert.deepEqual(got.at(-3), gauge('df.statistics.total', 2147483648000 + 1048576000000))
  })

  it('computes a 2.6.32 host’s mounts', async () => {
    const root = join(FIX, 'sys-centos6')
    const { statfs } = fakeStatfs(root, {
      '/': fs(4096, 12800000, 6400000, 5760000, 3276800, 3000000),
      '/boot': fs(1024, 495844, 400000, 374244, 128016, 127970),
      '/home': fs(4096, 25600000, 25600000, 24320000, 6400000, 6399989),
    })
    const got = await new DfCollector({ statfs }).collect(ctxOf('sys-centos6'))
    const rootPct = 640000000 / 12160000
    const bootPct = 9584400 / 470088
    assert.deepEqual(got, [
      ...dfWant(
        '/',
        'ext4',
        [52428800000, 26214400000, 23592960000, rootPct, 100 - rootPct].concat([
          3276800, 276800, 3000000, 8.447265625, 91.552734375,
        ])
      ),
      ...dfWant(
        '/boot',
        'ext4',
        [507744256, 98144256, 383225856, bootPct, 100 - bootPct].concat([
          128016,
          46,
          127970,
          4600 / 128016,
          100 - 4600 / 128016,
        ])
      ),
      ...dfWant(
        '/home',
        'ext4',
        [104857600000, 0, 99614720000, 0, 100].concat([
          6400000,
          11,
          6399989,
          1100 / 6400000,
          100 - 1100 / 6400000,
        ])
      ),
      gauge('df.statistics.total', 52428800000 + 507744256 + 104857600000),
      gauge('df.statistics.used', 26214400000 + 98144256),
      gauge(
        'df.statistics.used.percent',
        ((26214400000 + 98144256) * 100) / (52428800000 + 507744256 + 104857600000)
      ),
    ])
  })

  it('statfs()es host paths under the root of a non-/proc proc, preferring pid 1’s mounts', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sys-df-'))
    try {
      mkdirSync(join(root, 'proc', '1'), { recursive: true })
      writeFileSync(
        join(root, 'proc', 'mounts'),
        'overlay / overlay rw 0 0\n/dev/sdz /agent ext4 rw 0 0\n'
      )
      writeFileSync(
        join(root, 'proc', '1', 'mounts'),
        '/dev/sda / ext4 rw 0 0\n/dev/sdb /data xfs rw 0 0\n'
      )
      const { statfs, asked } = fakeStatfs(root, {
        '/': fs(4096, 100, 50, 50, 10, 5),
        '/data': fs(4096, 200, 100, 100, 0, 0),
      })
      const ctx = { ...ctxOf('x'), proc: join(root, 'proc') }
      const got = await new DfCollector({ statfs }).collect(ctx)
      assert.deepEqual(asked, [join(root, '/'), join(root, '/data')])
      assert.deepEqual(
        [...new Set(got.map((s) => s.tags))],
        ['mount=/,fstype=ext4', 'mount=/data,fstype=xfs', '']
      )
      rmSync(join(root, 'proc', '1'), { recursive: true })
      const { statfs: statfs2, asked: asked2 } = fakeStatfs(root, {})
      assert.deepEqual(await new DfCollector({ statfs: statfs2 }).collect(ctx), [])
      assert.deepEqual(asked2, [join(root, '/agent')], 'falls back to proc/mounts')
    } finally {
      rmSync(root, { recursive: true })
    }
  })

  it('leaves out a mount whose statfs hangs, and does not ask it again until it answers', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const root = join(FIX, 'sys-ubuntu1604')
    let answer: ((st: FsStats) => void) | undefined
    const asked: string[] = []
    const statfs = (path: string): FsStats | Promise<FsStats> => {
      const rel = path.slice(root.length) || '/'
      asked.push(rel)
      if (rel === '/mnt/nfs' && answer === undefined) {
        return new Promise<FsStats>((resolve) => (answer = resolve))
      }
      if (rel === '/data') return Promise.reject(new Error('EIO'))
      const st = UBUNTU[rel as keyof typeof UBUNTU]
      if (st === undefined) throw new Error('ENOENT')
      return st
    }
    const c = new DfCollector({ statfs, statfsTimeoutMs: 3000 })
    const ctx = ctxOf('sys-ubuntu1604', ['/', '/data', '/mnt/nfs'])
    const first = c.collect(ctx)
    t.mock.timers.tick(3000)
    const mounts = (s: Sample[]) => [...new Set(s.map((x) => x.tags))]
    assert.deepEqual(mounts(await first), ['mount=/,fstype=ext4', ''])
    assert.deepEqual(
      c.usages().map((u) => u.fsFile),
      ['/'],
      'the page leaves out the hung and the failed mount'
    )
    const second = c.collect(ctx)
    t.mock.timers.tick(3000)
    assert.deepEqual(mounts(await second), ['mount=/,fstype=ext4', ''])
    assert.deepEqual(asked, ['/', '/data', '/mnt/nfs', '/', '/data'])
    answer?.(UBUNTU['/mnt/nfs'])
    await new Promise((resolve) => setImmediate(resolve))
    const third = c.collect(ctx)
    t.mock.timers.tick(3000)
    assert.deepEqual(mounts(await third), ['mount=/,fstype=ext4', 'mount=/mnt/nfs,fstype=nfs4', ''])
    assert.deepEqual(asked.slice(5), ['/', '/data', '/mnt/nfs'])
  })

  it('sends nothing without /proc/mounts or without a mount that has blocks', async () => {
    const { statfs, asked } = fakeStatfs('', {})
    assert.deepEqual(await new DfCollector({ statfs }).collect(ctxOf('sys-does-not-exist')), [])
    assert.deepEqual(asked, [])
    const root = join(FIX, 'sys-container')
    const zero = fakeStatfs(root, { '/etc/hosts': fs(4096, 0, 0, 0, 0, 0) })
    assert.deepEqual(
      await new DfCollector({ statfs: zero.statfs }).collect(ctxOf('sys-container')),
      []
    )
    assert.deepEqual(zero.asked, [join(root, '/etc/hosts')])
  })

  it('gives the pages the last cycle’s mounts, those without blocks included (4.4)', async () => {
    const root = join(FIX, 'sys-ubuntu1604')
    const c = new DfCollector({ statfs: fakeStatfs(root, UBUNTU).statfs })
    assert.throws(() => c.usages(), { message: 'not prepared' })
    await c.collect(ctxOf('sys-ubuntu1604'))
    const rootPct = 1290000000 / 24510000
    const tiny = 50000 / 950
    assert.deepEqual(c.usages(), [
      dfPage(
        '/dev/nvme0n1p1',
        '/',
        'ext4',
        [105676800000, 52838400000, 47554560000, rootPct].concat([6400000, 800000, 5600000, 12.5])
      ),
      dfPage(
        '/dev/xvdc',
        '/backup',
        'xfs',
        [1073741824000, 536870912000, 536870912000, 50].concat([
          524288000, 288000, 524000000, 0.054931640625,
        ])
      ),
      dfPage(
        '/dev/xvdb',
        '/data',
        'xfs',
        [2147483648000, 536870912000, 1610612736000, 25].concat([
          1048576000, 576000, 1048000000, 0.054931640625,
        ])
      ),
      // no blocks: no metrics, but falcon's page lists it
      dfPage('nsfs', '/run/docker/netns/1a2b', 'nsfs', [0, 0, 0, 0, 0, 0, 0, 0]),
      dfPage(
        '10.0.0.5:/export',
        '/mnt/nfs',
        'nfs4',
        [1048576000000, 786432000000, 262144000000].concat([75, 0, 0, 0, 0])
      ),
      dfPage('/dev/fioa', '/flash', 'ext4', [409600000, 0, 389120000, 0, 25000, 0, 0, 0]),
      dfPage(
        '/dev/vdaa',
        '/mnt/my disk',
        'ext4',
        [4096000, 2048000, 1843200, tiny, 256, 56, 200].concat([21.875])
      ),
      // /mnt/gone: statfs failed, left out as falcon's page does
    ])

    await c.collect(ctxOf('sys-ubuntu1604', ['/data', '/mnt/nfs']))
    assert.deepEqual(
      c.usages().map((u) => u.fsFile),
      ['/data', '/mnt/nfs'],
      'collector.mountPoint restricts the page too'
    )
  })

  it('throws falcon’s error when the last cycle could not read the mount table', async () => {
    const c = new DfCollector({ statfs: fakeStatfs('', {}).statfs })
    await c.collect(ctxOf('sys-does-not-exist'))
    const path = join(FIX, 'sys-does-not-exist', 'proc', 'mounts')
    assert.throws(() => c.usages(), { message: `open ${path}: no such file or directory` })
    const root = join(FIX, 'sys-container')
    const zero = fakeStatfs(root, { '/etc/hosts': fs(4096, 0, 0, 0, 0, 0) })
    const d = new DfCollector({ statfs: zero.statfs })
    await d.collect(ctxOf('sys-container'))
    assert.deepEqual(d.usages(), [
      dfPage('/dev/sda1', '/etc/hosts', 'ext4', [0, 0, 0, 0, 0, 0, 0, 0]),
    ])
  })

  it('reads this machine’s mounts with the real statfs', async () => {
    const live = { ...ctxOf('x'), proc: '/proc', sys: '/sys' }
    const got = await new DfCollector().collect(live)
    const mounts = parseMounts(readFileSync('/proc/mounts', 'utf8'))
    const root = mounts.find((m) => m.file === '/')
    assert.ok(root !== undefined, 'this machine mounts a real filesystem on /')
    const st = statfsSync('/')
    const tags = `mount=/,fstype=${root.fstype}`
    assert.deepEqual(
      got.filter((s) => s.tags === tags).map((s) => s.metric),
      dfWant('/', root.fstype, new Array<number>(10).fill(0)).map((s) => s.metric)
    )
    assert.equal(got.find((s) => s.tags === tags)?.value, st.bsize * st.blocks)
    assert.deepEqual(
      got.slice(-3).map((s) => s.metric),
      ['df.statistics.total', 'df.statistics.used', 'df.statistics.used.percent']
    )
  })
})
