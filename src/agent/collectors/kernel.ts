// kernel.*: the file-handle and pid limits from /proc/sys (falcon-agent funcs/kernel.go over
// toolkits/nux kernel.go).
import { gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'

const DIGITS = /^\d+$/

/** readUint is nux's file.ToUint64: the trimmed file as a decimal, or undefined. */
function readUint(proc: string, ...path: string[]): number | undefined {
  const text = readText(proc, ...path)?.trim()
  return text !== undefined && DIGITS.test(text) ? Number(text) : undefined
}

/**
 * kernelSamples is falcon's KernelMetrics: kernel.maxfiles (fs/file-max), kernel.maxproc
 * (kernel/pid_max), kernel.files.allocated (the first of fs/file-nr's three numbers) and
 * kernel.files.left (maxfiles − allocated). Like falcon it stops at the first file it cannot read,
 * keeping what it already has, so a container without /proc/sys gets nothing.
 */
export function kernelSamples(proc: string): Sample[] {
  const out: Sample[] = []
  const maxFiles = readUint(proc, 'sys', 'fs', 'file-max')
  if (maxFiles === undefined) return out
  out.push(gauge('kernel.maxfiles', maxFiles))
  const maxProc = readUint(proc, 'sys', 'kernel', 'pid_max')
  if (maxProc === undefined) return out
  out.push(gauge('kernel.maxproc', maxProc))
  const nr = readText(proc, 'sys', 'fs', 'file-nr')?.trim().split(/\s+/)
  if (nr === undefined || nr.length !== 3 || !DIGITS.test(nr[0])) return out
  const allocated = Number(nr[0])
  out.push(gauge('kernel.files.allocated', allocated))
  out.push(gauge('kernel.files.left', maxFiles - allocated))
  return out
}

/** kernelCollector returns the kernel.* GAUGEs falcon-agent sends. */
export function kernelCollector(): Collector {
  return { name: 'kernel', collect: (ctx: CollectContext) => kernelSamples(ctx.proc) }
}
