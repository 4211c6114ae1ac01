// What the benches read of a process from Linux's /proc: CPU time and resident memory.
import { readFileSync } from 'node:fs'

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
