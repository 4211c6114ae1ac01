// What the benches read of a process from Linux's /proc: CPU time and resident memory.
import { readdirSync, readFileSync } from 'node:fs'

/** CLK_TCK: the kernel's clock ticks per second in /proc/<pid>/stat (100 on Linux everywhere). */
const CLK_TCK = 100

/** cpuSeconds is a process's CPU time so far, user plus system, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces and parentheses: the fields start after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

/**
 * treeCpuSeconds is the CPU time so far, user plus system, in seconds, of a process and every
 * descendant it has: the living ones (found through their parent pid in /proc) and those already
 * waited for (each process's cutime and cstime). Call it on the same pid before and after a phase and
 * take the difference; a descendant that ends between the two calls without being waited for is lost.
 */
export function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // gone since the listing
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // ppid is field 4 of stat(5), utime..cstime fields 14-17: indices 1 and 11-14 after the name.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    stats.set(Number(name), { ppid: Number(fields[1]), ticks })
  }
  if (!stats.has(pid)) throw new Error(`process ${pid} is gone`)
  let total = 0
  const tree = new Set([pid])
  // Parents have smaller pids only until pids wrap, so repeat until no process joins the tree.
  for (let grown = true; grown;) {
    grown = false
    for (const [p, s] of stats) {
      if (!tree.has(p) && tree.has(s.ppid)) {
        tree.add(p)
        grown = true
      }
    }
  }
  for (const p of tree) total += (stats.get(p) as { ticks: number }).ticks
  return total / CLK_TCK
}

/**
 * memoryMb is a process's resident set now (VmRSS) or its high-water mark (VmHWM), in MiB (not
 * rounded); 0 once the process is gone.
 */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return 0
  }
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)
  return m === null ? 0 : Number(m[1]) / 1024
}
