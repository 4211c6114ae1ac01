// df.*: space and inodes of each real mounted filesystem, and their sums (falcon-agent
// funcs/dfstat.go over toolkits/nux dfstat.go and dfstat_linux.go).
import { readFileSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'
import type { DfUsage } from '../http.js'
import { goErrnoText } from '../plugins.js'

/** MountEntry is one kept line of /proc/mounts: fstab's fs_spec, fs_file and fs_vfstype. */
export interface MountEntry {
  spec: string
  file: string
  fstype: string
}

// nux's lists: pseudo filesystems by source, by type, and by where they are mounted (a plain string
// prefix, so /library and /network are skipped too, as in falcon).
const SPEC_IGNORE = new Set(['none', 'nodev', 'proc', 'hugetlbfs', 'mqueue'])
const TYPE_IGNORE = new Set([
  'cgroup',
  'debugfs',
  'devpts',
  'devtmpfs',
  'iso9660',
  'rpc_pipefs',
  'rootfs',
  'overlay',
  'tmpfs',
  'squashfs',
])
const FILE_PREFIX_IGNORE = ['/sys', '/net', '/misc', '/proc', '/lib']

// /proc/mounts writes space, tab, newline and backslash in paths as \040 \011 \012 \134. nux keeps
// the escapes, so falcon's statfs of such a path fails and the mount goes unreported; we report it.
const unescapeMountPath = (s: string) =>
  s.includes('\\')
    ? s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
    : s

/**
 * parseMounts is nux's ListMountPoint over /proc/mounts' text: it drops the sources, types (and
 * any `fuse*` type) and mount-point prefixes above, and keeps a `/dev/...` device once, at the place
 * of its first line but with its shortest mount point (bind mounts of a disk are not counted twice).
 */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 3) continue
    const [spec, rawFile, fstype] = f
    const file = unescapeMountPath(rawFile)
    if (SPEC_IGNORE.has(spec) || TYPE_IGNORE.has(fstype) || fstype.startsWith('fuse')) continue
    if (FILE_PREFIX_IGNORE.some((p) => file.startsWith(p))) continue
    if (spec.startsWith('/dev')) {
      const seen = out.find((m) => m.spec === spec)
      if (seen !== undefined) {
        if (file.length < seen.file.length) seen.file = file
        continue
      }
    }
    out.push({ spec, file, fstype })
  }
  return out
}

/** FsStats is what statfs(2) says of a filesystem (Node's fs.StatFs has these fields). */
export interface FsStats {
  /** bsize: the block size; falcon multiplies by f_frsize, which Linux sets equal for local disks. */
  bsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
}

/**
 * StatFs returns the statfs of a path, or throws or rejects (ENOENT, EACCES, EIO). It may never
 * settle: statfs(2) on a mount whose NFS server is gone blocks.
 */
export type StatFs = (path: string) => FsStats | Promise<FsStats>

/** DeviceUsage is nux's DeviceUsage: bytes, inodes and their percents for one mount. */
export interface DeviceUsage {
  bytesTotal: number
  bytesUsed: number
  bytesFree: number
  bytesUsedPercent: number
  bytesFreePercent: number
  inodesTotal: number
  inodesUsed: number
  inodesFree: number
  inodesUsedPercent: number
  inodesFreePercent: number
}

// Go's math.MaxUint64 as a double (Node hands statfs numbers over as doubles): some filesystems
// report it as "unlimited free inodes".
const MAX_UINT64 = 2 ** 64

/**
 * deviceUsage is nux's BuildDeviceUsage: used = blocks − bfree, free = bavail (what a non-root user
 * may still write), used percent = used / (used + bavail), so reserved blocks count in neither.
 */
export function deviceUsage(st: FsStats): DeviceUsage {
  const used = st.blocks - st.bfree
  let bytesUsedPercent = 0
  let bytesFreePercent = 0
  // falcon divides 0 by 0 when blocks > 0 but used + bavail is 0; that NaN stops its JSON encoder
  if (st.blocks !== 0 && used + st.bavail !== 0) {
    bytesUsedPercent = (used * 100) / (used + st.bavail)
    bytesFreePercent = 100 - bytesUsedPercent
  }
  const unlimited = st.ffree >= MAX_UINT64
  const inodesFree = unlimited ? 0 : st.ffree
  const inodesUsed = unlimited ? 0 : st.files - st.ffree
  let inodesUsedPercent = 0
  let inodesFreePercent = 0
  if (st.files !== 0) {
    inodesUsedPercent = (inodesUsed * 100) / st.files
    inodesFreePercent = 100 - inodesUsedPercent
  }
  return {
    bytesTotal: st.bsize * st.blocks,
    bytesUsed: st.bsize * used,
    bytesFree: st.bsize * st.bavail,
    bytesUsedPercent,
    bytesFreePercent,
    inodesTotal: st.files,
    inodesUsed,
    inodesFree,
    inodesUsedPercent,
    inodesFreePercent,
  }
}

/** DfOptions: `statfs` replaces fs.promises.statfs (tests pass a table). */
export interface DfOptions {
  statfs?: StatFs
  /** statfsTimeoutMs: how long a cycle waits for statfs before leaving the slow mounts out (5000). */
  statfsTimeoutMs?: number
}

/**
 * hostRoot is where the host's filesystem is seen from this process: '' when ctx.proc is '/proc'
 * (the agent runs on the host), else the parent of ctx.proc, so a DaemonSet that mounts the node's
 * / at /host and reads /host/proc statfs()s /host/data for the node's /data.
 */
export function hostRoot(proc: string): string {
  const p = resolve(proc)
  return p === '/proc' ? '' : dirname(p)
}

/**
 * readMounts reads the mount table (see DfCollector), or says why it could not as Go's os.ReadFile
 * would (`open /proc/mounts: no such file or directory`).
 */
function readMounts(proc: string): { text: string } | { error: string } {
  if (hostRoot(proc) !== '') {
    const text = readText(proc, '1', 'mounts')
    if (text !== undefined) return { text }
  }
  const path = join(proc, 'mounts')
  try {
    return { text: readFileSync(path, 'utf8') }
  } catch (err) {
    return { error: `open ${path}: ${goErrnoText(err as NodeJS.ErrnoException)}` }
  }
}

/**
 * DfCollector is falcon's DeviceMetrics. For each mount parseMounts keeps (only those listed in
 * ctx.mountPoints when it is not empty), tagged `mount=<path>,fstype=<type>`: the five df.bytes.*
 * GAUGEs unless the filesystem has no blocks, then the five df.inodes.* unless it has no inodes.
 * Then df.statistics.total/used (bytes over all reported mounts) and .used.percent. A mount statfs
 * fails on is skipped.
 *
 * statfs runs off the event loop (libuv's pool), all mounts at once: a hung NFS mount must not stop
 * the agent. A mount whose statfs has not answered within statfsTimeoutMs is left out of the cycle,
 * and is not asked again until that call returns, so a dead server holds one pool thread, not one
 * per cycle. (falcon's df goroutine simply hangs, holding back only the df metrics.)
 *
 * The mount table is ctx.proc/mounts on the host; under another root it is ctx.proc/1/mounts when
 * readable, since /host/proc/mounts is /proc/self/mounts, the agent container's own mount namespace,
 * while pid 1's is the node's. Mount points are host paths, statfs()ed under hostRoot(ctx.proc).
 *
 * `usages` gives the last cycle's statfs results to the HTTP page /page/df.
 */
export class DfCollector implements Collector {
  readonly name = 'df'
  readonly #statfs: StatFs
  readonly #timeoutMs: number
  /** #pending: paths whose statfs has not settled yet. */
  readonly #pending = new Set<string>()
  /** #page: the last cycle's mounts for `usages`, or why the mount table could not be read. */
  #page: DfUsage[] | { error: string } | undefined = undefined

  constructor(options: DfOptions = {}) {
    this.#statfs = options.statfs ?? ((path) => statfs(path))
    this.#timeoutMs = options.statfsTimeoutMs ?? 5000
  }

  /**
   * usages is what falcon's /page/df shows (nux.BuildDeviceUsage of each mount): the mounts of the
   * last cycle whose statfs answered in time, in /proc/mounts order, those without blocks included.
   * Unlike falcon, which runs statfs on every mount for each request, the page shows the last
   * cycle's numbers (up to transfer.interval old) of the mounts the cycle asked: the
   * collector.mountPoint setting restricts it too, and a hung NFS mount does not hang it. It throws
   * when the last cycle could not read the mount table (`open …: …`, falcon's answer) and, before
   * the first cycle, `not prepared`.
   */
  usages(): readonly DfUsage[] {
    const page = this.#page
    if (page === undefined) throw new Error('not prepared')
    if ('error' in page) throw new Error(page.error)
    return page
  }

  async collect(ctx: CollectContext): Promise<Sample[]> {
    const root = hostRoot(ctx.proc)
    const read = readMounts(ctx.proc)
    if ('error' in read) {
      this.#page = read
      return []
    }
    const mounts = parseMounts(read.text)
    const wanted = ctx.mountPoints.length > 0 ? new Set(ctx.mountPoints) : undefined
    const stats: (FsStats | undefined)[] = []
    const calls: Promise<void>[] = []
    for (const m of mounts) {
      if (wanted !== undefined && !wanted.has(m.file)) continue
      const i = stats.push(undefined) - 1
      const path = root === '' ? m.file : join(root, m.file)
      if (this.#pending.has(path)) continue
      calls.push(this.#stat(path).then((st) => void (stats[i] = st)))
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(calls),
      new Promise<void>((done) => {
        timer = setTimeout(done, this.#timeoutMs)
        timer.unref()
      }),
    ])
    clearTimeout(timer)

    const out: Sample[] = []
    const page: DfUsage[] = []
    let diskTotal = 0
    let diskUsed = 0
    let i = 0
    for (const m of mounts) {
      if (wanted !== undefined && !wanted.has(m.file)) continue
      const st = stats[i++]
      if (st === undefined) continue
      const u = deviceUsage(st)
      page.push({
        fsSpec: m.spec,
        fsFile: m.file,
        fsVfstype: m.fstype,
        blocksAll: u.bytesTotal,
        blocksUsed: u.bytesUsed,
        blocksFree: u.bytesFree,
        blocksUsedPercent: u.bytesUsedPercent,
        inodesAll: u.inodesTotal,
        inodesUsed: u.inodesUsed,
        inodesFree: u.inodesFree,
        inodesUsedPercent: u.inodesUsedPercent,
      })
      if (u.bytesTotal === 0) continue
      diskTotal += u.bytesTotal
      diskUsed += u.bytesUsed
      const tags = `mount=${m.file},fstype=${m.fstype}`
      out.push(
        gauge('df.bytes.total', u.bytesTotal, tags),
        gauge('df.bytes.used', u.bytesUsed, tags),
        gauge('df.bytes.free', u.bytesFree, tags),
        gauge('df.bytes.used.percent', u.bytesUsedPercent, tags),
        gauge('df.bytes.free.percent', u.bytesFreePercent, tags)
      )
      if (u.inodesTotal === 0) continue
      out.push(
        gauge('df.inodes.total', u.inodesTotal, tags),
        gauge('df.inodes.used', u.inodesUsed, tags),
        gauge('df.inodes.free', u.inodesFree, tags),
        gauge('df.inodes.used.percent', u.inodesUsedPercent, tags),
        gauge('df.inodes.free.percent', u.inodesFreePercent, tags)
      )
    }
    if (out.length > 0 && diskTotal > 0) {
      out.push(
        gauge('df.statistics.total', diskTotal),
        gauge('df.statistics.used', diskUsed),
        gauge('df.statistics.used.percent', (diskUsed * 100) / diskTotal)
      )
    }
    this.#page = page
    return out
  }

  /** #stat settles with the path's statfs, or undefined when it failed. */
  async #stat(path: string): Promise<FsStats | undefined> {
    this.#pending.add(path)
    try {
      return await this.#statfs(path)
    } catch {
      return undefined
    } finally {
      this.#pending.delete(path)
    }
  }
}
