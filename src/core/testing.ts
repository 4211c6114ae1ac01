// Test support shared by every area's tests: a logger that keeps its lines, a bounded wait, a
// zombie process, and a small disk to fill.
import { execFileSync, spawn } from 'node:child_process'
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from './service.js'

/** recordingLogger keeps every line as `level message`, for tests that assert what was logged. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  }
}

/** waitUntil polls `cond` every 20 ms until it holds, or throws naming `what` after `ms`. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * zombie starts a process that exits at once under a parent that does not reap it, and resolves once
 * Linux shows it as a zombie (/proc/PID/stat state Z) with its pid and its start time (field 22, as
 * the CLI's state file keeps it). `reap()` has the parent reap it and exit; call it when done.
 */
export async function zombie(): Promise<{
  pid: number
  startTicks: string
  reap(): Promise<void>
}> {
  // sh starts `sleep 0` in the background and blocks in `read`, leaving it unreaped until `wait`.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; read x; wait'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  })
  const exited = new Promise((ok) => parent.once('exit', ok))
  const reap = async () => {
    parent.stdin.end('\n')
    await exited
  }
  try {
    const pid = Number(
      await new Promise<string>((ok) => parent.stdout.once('data', (d: Buffer) => ok(String(d))))
    )
    const fields = () => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // After the command name, which is in parentheses: state is field 3, start time field 22.
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    }
    await waitUntil(() => fields()[0] === 'Z', `pid ${pid} to become a zombie`)
    return { pid, startTicks: fields()[19], reap }
  } catch (err) {
    await reap()
    throw err
  }
}

/**
 * SMALL_DISK_SKIP is the reason a test needing `smallDisk` is skipped, or false when it can run:
 * mounting a file system takes root.
 */
export const SMALL_DISK_SKIP: string | false =
  process.getuid?.() === 0 ? false : 'mounting a small tmpfs to fill needs root'

/**
 * smallDisk mounts a tmpfs of `megabytes` on a new directory, so a test can fill a disk for real.
 * `fill()` writes filler files until a write fails with ENOSPC, `free()` removes them, `unmount()`
 * unmounts it and removes the directory. Needs root (see SMALL_DISK_SKIP).
 */
export function smallDisk(megabytes: number): {
  dir: string
  fill(): void
  free(): void
  unmount(): void
} {
  const dir = mkdtempSync(join(tmpdir(), 'pg-small-disk-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir])
  return {
    dir,
    fill() {
      const fd = openSync(join(dir, 'filler'), 'w')
      try {
        for (;;) writeSync(fd, Buffer.alloc(64 << 10, 1))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      } finally {
        closeSync(fd)
      }
      // The last partial page too, in small files, until none fits.
      try {
        for (let i = 0; ; i++) writeFileSync(join(dir, `filler-${i}`), Buffer.alloc(512, 1))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      }
    },
    free() {
      for (const f of readdirSync(dir)) if (f.startsWith('filler')) rmSync(join(dir, f))
    },
    unmount() {
      execFileSync('umount', [dir])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** seededRandom is a xorshift32 generator of numbers in [0, 1): a failing case replays from its seed. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

/**
 * bitsJson is JSON of a value with every number (and Float64Array element) written as its float64
 * bits: two answers compare equal only when every float is the same to the bit (NaN payloads, -0).
 */
export function bitsJson(value: unknown): string {
  const f = new Float64Array(1)
  const u = new Uint32Array(f.buffer)
  const num = (v: number): string => {
    f[0] = v
    return `${u[1].toString(16)}:${u[0].toString(16)}`
  }
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'number' ? num(v) : v instanceof Float64Array ? Array.from(v, num) : v
  )
}
