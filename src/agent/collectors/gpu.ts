// gpu.*: NVIDIA GPU metrics as falcon funcs/gpu.go sends them, read from `nvidia-smi --query-gpu`
// (falcon calls NVML through cgo; Node cannot load libnvidia-ml without a native addon).
import { execFile } from 'node:child_process'
import { type CollectContext, type Collector, type Sample, gauge } from '../collector.js'
import { parseDecimal } from './netstat.js'

/**
 * GPU_QUERY_FIELDS are the `--query-gpu` columns, in the order parseGpuRows reads them. The used
 * memory is total − free rather than `memory.used`: falcon reads NVML's v1 nvmlDeviceGetMemoryInfo,
 * whose `used` holds the driver's reserved memory (used + free = total), while nvidia-smi from driver
 * R510 on prints the v2 `used`, which leaves the reserved part out.
 */
export const GPU_QUERY_FIELDS = [
  'count',
  'uuid',
  'fan.speed',
  'temperature.gpu',
  'memory.total',
  'memory.free',
  'utilization.gpu',
  'utilization.memory',
  'power.draw',
] as const

/** GPU_RETRY_MS: after nvidia-smi is missing or fails, it is not run again for 10 minutes. */
export const GPU_RETRY_MS = 10 * 60_000

/** GpuRun runs `file args` and resolves to its stdout; it rejects when the program cannot run. */
export type GpuRun = (file: string, args: readonly string[], timeoutMs: number) => Promise<string>

/** GpuOptions say how nvidia-smi runs. */
export interface GpuOptions {
  /** binary: the nvidia-smi to run, looked up on PATH when bare. Default `nvidia-smi`. */
  binary: string
  /** timeoutMs: a run still going after this is killed and counts as a failure. Default 5000. */
  timeoutMs: number
  /** run: how the binary is run (tests pass their own). Default runNvidiaSmi. */
  run: GpuRun
}

/**
 * runNvidiaSmi runs `file args` without a shell and resolves to its stdout. It resolves even when
 * the program exits non-zero (nvidia-smi does when one GPU has fallen off the bus, and still prints
 * the others' rows); it rejects when the program cannot start, is killed at `timeoutMs` or prints
 * more than 1 MiB.
 */
export const runNvidiaSmi: GpuRun = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 1 << 20 },
      (err, stdout) => {
        if (err === null) return resolve(stdout)
        const exited = typeof err.code === 'number' && err.killed !== true && !err.signal
        if (exited) resolve(stdout)
        else reject(new Error(`${file}: ${err.message}`, { cause: err }))
      }
    )
  })

export const defaultGpuOptions: Readonly<GpuOptions> = {
  binary: 'nvidia-smi',
  timeoutMs: 5000,
  run: runNvidiaSmi,
}

/** GpuRow is one GPU as nvidia-smi printed it; undefined where it printed `[N/A]` or an error. */
export interface GpuRow {
  /** count: the number of GPUs NVML sees (nvmlDeviceGetCount). */
  count: number | undefined
  uuid: string
  fanSpeed: number | undefined
  temperature: number | undefined
  /** memoryTotal, memoryFree: MiB. */
  memoryTotal: number | undefined
  memoryFree: number | undefined
  gpuUtil: number | undefined
  memoryUtil: number | undefined
  /** powerWatts: whole watts (falcon's milliwatts / 1000, truncated). */
  powerWatts: number | undefined
}

// uint reads a non-negative integer field; `[N/A]`, `[Not Supported]`, `[Unknown Error]` and the
// like are undefined, as the NVML call that failed.
function uint(s: string): number | undefined {
  return parseDecimal(s, false)
}

// watts reads `182.37` as 182: falcon divides NVML's milliwatts by 1000 in integers.
function watts(s: string): number | undefined {
  const dot = s.indexOf('.')
  if (dot < 0) return uint(s)
  const whole = uint(s.slice(0, dot))
  return whole !== undefined && uint(s.slice(dot + 1)) !== undefined ? whole : undefined
}

/**
 * parseGpuRows reads `nvidia-smi --query-gpu=<GPU_QUERY_FIELDS> --format=csv,noheader,nounits`.
 * Lines that are not a row of exactly those columns (`No devices were found`, `Unable to determine
 * the device handle for GPU ...`) are skipped.
 */
export function parseGpuRows(stdout: string): GpuRow[] {
  const rows: GpuRow[] = []
  for (const line of stdout.split('\n')) {
    const f = line.split(',')
    if (f.length !== GPU_QUERY_FIELDS.length) continue
    for (let i = 0; i < f.length; i++) f[i] = f[i].trim()
    const uuid = f[1]
    rows.push({
      count: uint(f[0]),
      // a failed nvmlDeviceGetUUID leaves falcon's uuid empty: the tag is `uuid=`
      uuid: uuid.startsWith('[') ? '' : uuid,
      fanSpeed: uint(f[2]),
      temperature: uint(f[3]),
      memoryTotal: uint(f[4]),
      memoryFree: uint(f[5]),
      gpuUtil: uint(f[6]),
      memoryUtil: uint(f[7]),
      powerWatts: watts(f[8]),
    })
  }
  return rows
}

/**
 * gpuSamples turns the rows into falcon's metrics, in its order and with its rules: no GPU, no
 * metric; a GPU without a fan has no gpu.fan.speed; a GPU whose temperature, memory or utilization
 * cannot be read sends only its fan speed and is left out of the averages (still counted in
 * gpu.count, the divisor); an unreadable power draw is sent as 0. The averages are integer divisions.
 */
export function gpuSamples(rows: readonly GpuRow[]): Sample[] {
  if (rows.length === 0) return []
  const count = rows[0].count ?? rows.length
  if (count === 0) return []
  const out: Sample[] = []
  let allUtil = 0
  let allMemoryUtil = 0
  for (const r of rows) {
    const tag = `uuid=${r.uuid}`
    if (r.fanSpeed !== undefined) out.push(gauge('gpu.fan.speed', r.fanSpeed, tag))
    if (r.temperature === undefined) continue
    if (r.memoryTotal === undefined || r.memoryFree === undefined) continue
    if (r.gpuUtil === undefined || r.memoryUtil === undefined) continue
    allUtil += r.gpuUtil
    allMemoryUtil += r.memoryUtil
    out.push(
      gauge('gpu.temperature', r.temperature, tag),
      gauge('gpu.memory.total', r.memoryTotal, tag),
      gauge('gpu.memory.used', Math.max(0, r.memoryTotal - r.memoryFree), tag),
      gauge('gpu.memory.util', r.memoryUtil, tag),
      gauge('gpu.util', r.gpuUtil, tag),
      gauge('gpu.power.usage', r.powerWatts ?? 0, tag)
    )
  }
  out.push(
    gauge('gpu.count', count),
    gauge('gpu.util.avg', Math.floor(allUtil / count)),
    gauge('gpu.memory.util.avg', Math.floor(allMemoryUtil / count))
  )
  return out
}

/**
 * gpuCollector is the `gpu` collector: one nvidia-smi run per cycle (a run still going is shared,
 * never doubled). When nvidia-smi is missing, fails, times out or prints no GPU, the cycle sends
 * nothing and logs nothing, as falcon does without libnvidia-ml, and nvidia-smi is not run again
 * until GPU_RETRY_MS (by ctx.now) have passed.
 */
export function gpuCollector(options: Partial<GpuOptions> = {}): Collector {
  const { binary, timeoutMs, run } = { ...defaultGpuOptions, ...options }
  const args = [`--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits']
  let failedAt: number | undefined
  let running: Promise<Sample[]> | undefined

  const once = async (now: number): Promise<Sample[]> => {
    let stdout: string
    try {
      stdout = await run(binary, args, timeoutMs)
    } catch {
      failedAt = now
      return []
    }
    const samples = gpuSamples(parseGpuRows(stdout))
    failedAt = samples.length === 0 ? now : undefined
    return samples
  }

  return {
    name: 'gpu',
    collect(ctx: CollectContext): Promise<Sample[]> {
      if (running !== undefined) return running
      if (failedAt !== undefined && ctx.now - failedAt < GPU_RETRY_MS) return Promise.resolve([])
      running = once(ctx.now).finally(() => (running = undefined))
      return running
    },
  }
}
