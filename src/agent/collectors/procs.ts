// proc.num: how many processes match each `name=`/`cmdline=` item hbs sent (falcon
// funcs/procs.go over nux AllProcs, tags parsed as cron/builtin.go does).
import { type Dirent, closeSync, openSync, readSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { type CollectContext, type Sample, gauge } from '../collector.js'

/**
 * ProcMatcher is one proc.num item: `tags` is the strategy's tag string, sent back verbatim;
 * `name` must equal the process name and `cmdline` must occur in the command line, each when set.
 * With neither (a tag such as `foo=bar`), every process matches, as in falcon.
 */
export interface ProcMatcher {
  tags: string
  name: string | undefined
  cmdline: Buffer | undefined
}

/**
 * parseProcTags splits a tag string on ',' and keeps the last `name=` and `cmdline=` parts, their
 * values trimmed, as falcon's cron/builtin.go does (a part with a space before `name=` is no
 * name).
 */
export function parseProcTags(tags: string): ProcMatcher {
  let name: string | undefined
  let cmdline: string | undefined
  for (const part of tags.split(',')) {
    if (part.startsWith('name=')) name = part.slice(5).trim()
    else if (part.startsWith('cmdline=')) cmdline = part.slice(8).trim()
  }
  return { tags, name, cmdline: cmdline === undefined ? undefined : Buffer.from(cmdline, 'utf8') }
}

// Shared read buffers: collection runs on one thread and every read here is synchronous.
const statusBuf = Buffer.allocUnsafe(4096)
let cmdlineBuf = Buffer.allocUnsafe(64 * 1024)
let strippedBuf = Buffer.allocUnsafe(64 * 1024)

/**
 * countProcs returns, for each matcher, how many processes under `proc` match it, or undefined
 * when `proc` cannot be listed. A process is what nux AllProcs sees: a numeric directory with a
 * status Name and a non-empty cmdline, so kernel threads and zombies never count (`name=kthreadd`
 * is 0). The Name is status's (escaped as the kernel prints it); the cmdline has its NUL bytes
 * removed, not replaced (`java\0-jar\0x.jar` is `java-jarx.jar`) and is matched by bytes. The
 * cmdline is read first, so status is read only for user processes, and only when a matcher has a
 * name. A process that exits while being read is skipped.
 */
export function countProcs(proc: string, matchers: readonly ProcMatcher[]): number[] | undefined {
  let entries: Dirent[]
  try {
    entries = readdirSync(proc, { withFileTypes: true })
  } catch {
    return undefined
  }
  const counts = new Array<number>(matchers.length).fill(0)
  const byName = matchers.some((m) => m.name !== undefined)
  const byCmdline = matchers.some((m) => m.cmdline !== undefined)
  for (const e of entries) {
    if (!e.isDirectory() || !isPid(e.name)) continue
    const n = readCmdline(join(proc, e.name, 'cmdline'))
    if (n <= 0) continue
    let name: string | undefined
    if (byName) {
      name = readName(join(proc, e.name, 'status'))
      if (name === undefined) continue
    }
    const cmdline = byCmdline ? withoutNuls(n) : cmdlineBuf
    for (let i = 0; i < matchers.length; i++) {
      const m = matchers[i]
      if (m.name !== undefined && name !== m.name) continue
      if (m.cmdline !== undefined && cmdline.indexOf(m.cmdline) < 0) continue
      counts[i]++
    }
  }
  return counts
}

function isPid(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return s.length > 0
}

// readCmdline reads the whole file into cmdlineBuf (grown as needed) and returns its length, or
// -1 when it cannot be read.
function readCmdline(path: string): number {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return -1
  }
  try {
    let n = 0
    for (;;) {
      if (n === cmdlineBuf.length) {
        const bigger = Buffer.allocUnsafe(cmdlineBuf.length * 2)
        cmdlineBuf.copy(bigger, 0, 0, n)
        cmdlineBuf = bigger
      }
      const got = readSync(fd, cmdlineBuf, n, cmdlineBuf.length - n, null)
      if (got === 0) return n
      n += got
    }
  } catch {
    return -1
  } finally {
    closeSync(fd)
  }
}

// Name is the first line of status; only the first 4 KiB are read (status is about 1.5 KiB).
function readName(path: string): string | undefined {
  let n: number
  try {
    const fd = openSync(path, 'r')
    try {
      n = readSync(fd, statusBuf, 0, statusBuf.length, 0)
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
  const text = statusBuf.toString('utf8', 0, n)
  let pos = 0
  while (pos < text.length) {
    let end = text.indexOf('\n', pos)
    if (end < 0) end = text.length
    const colon = text.indexOf(':', pos)
    if (colon >= 0 && colon < end && text.slice(pos, colon).trim() === 'Name') {
      return text.slice(colon + 1, end).trim()
    }
    pos = end + 1
  }
  return undefined
}

// withoutNuls copies the first n bytes of cmdlineBuf without their NULs and returns a view of
// the copy (valid until the next call).
function withoutNuls(n: number): Buffer {
  if (strippedBuf.length < n) strippedBuf = Buffer.allocUnsafe(cmdlineBuf.length)
  let k = 0
  for (let i = 0; i < n; i++) {
    const b = cmdlineBuf[i]
    if (b !== 0) strippedBuf[k++] = b
  }
  return strippedBuf.subarray(0, k)
}

/**
 * procSamples returns one proc.num GAUGE per distinct item of ctx.builtin.procs, tagged with the
 * item's tag string verbatim, in the order hbs sent them. /proc is read only when some item is
 * asked for; nothing is reported when it cannot be listed.
 */
export function procSamples(ctx: CollectContext): Sample[] {
  const items = ctx.builtin.procs
  if (items.length === 0) return []
  const matchers: ProcMatcher[] = []
  const seen = new Set<string>()
  for (const tags of items) {
    // falcon keys its items by tag string, so a repeated item is reported once.
    if (seen.has(tags)) continue
    seen.add(tags)
    matchers.push(parseProcTags(tags))
  }
  const counts = countProcs(ctx.proc, matchers)
  if (counts === undefined) return []
  return matchers.map((m, i) => gauge('proc.num', counts[i], m.tags))
}
