import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CollectContext, NO_BUILTIN_ITEMS, type Sample, gauge } from '../collector.js'
import { GPU_RETRY_MS, type GpuRun, gpuCollector, gpuSamples, parseGpuRows } from './gpu.js'

const ctxAt = (now: number): CollectContext => ({
  proc: '/proc',
  sys: '/sys',
  ifacePrefix: [],
  mountPoints: [],
  builtin: NO_BUILTIN_ITEMS,
  hostname: 'gpu-01',
  now,
})

const ARGS = [
  '--query-gpu=count,uuid,fan.speed,temperature.gpu,memory.total,memory.free,utilization.gpu,utilization.memory,power.draw',
  '--format=csv,noheader,nounits',
]

// nvidia-smi's stdout for ARGS, as its drivers print it (`[N/A]` for a field the GPU lacks,
// `[Not Supported]` for one the driver refuses on that board).
const NO_GPU = 'No devices were found\n'
// A Tesla T4: passively cooled, so no fan.
const ONE_GPU =
  '1, GPU-9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b, [N/A], 38, 15360, 15101, 0, 0, 27.73\n'
// Two boards, the second without a fan and without a power sensor.
const TWO_GPUS =
  '2, GPU-5c3a1b2e-7f4d-4e0a-9c1b-2d3e4f5a6b7c, 35, 61, 16160, 3952, 87, 43, 182.37\n' +
  '2, GPU-0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b, [N/A], 48, 16160, 16150, 20, 6, [N/A]\n'
// An old GeForce whose driver reports no utilization or power.
const NOT_SUPPORTED =
  '1, GPU-11112222-3333-4444-5555-666677778888, 30, 45, 2048, 1800, [Not Supported], [Not Supported], [Not Supported]\n'
// Two GPUs, one fallen off the bus: nvidia-smi prints the other's row and exits 15.
const ONE_LOST =
  '2, GPU-aaaabbbb-cccc-dddd-eeee-ffff00001111, 40, 55, 32768, 0, 100, 99, 250.00\n' +
  'Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error\n'
// Two GPUs, the second's temperature unreadable: falcon sends its fan speed and skips the rest.
const NO_TEMPERATURE =
  '2, GPU-5c3a1b2e-7f4d-4e0a-9c1b-2d3e4f5a6b7c, 35, 61, 16160, 3952, 87, 43, 182.37\n' +
  '2, GPU-0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b, 41, [Unknown Error], 16160, 16150, 20, 6, 90.10\n'

const U0 = 'uuid=GPU-5c3a1b2e-7f4d-4e0a-9c1b-2d3e4f5a6b7c'
const U1 = 'uuid=GPU-0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b'

const TWO_GPUS_WANT: Sample[] = [
  gauge('gpu.fan.speed', 35, U0),
  gauge('gpu.temperature', 61, U0),
  gauge('gpu.memory.total', 16160, U0),
  gauge('gpu.memory.used', 16160 - 3952, U0),
  gauge('gpu.memory.util', 43, U0),
  gauge('gpu.util', 87, U0),
  gauge('gpu.power.usage', 182, U0),
  gauge('gpu.temperature', 48, U1),
  gauge('gpu.memory.total', 16160, U1),
  gauge('gpu.memory.used', 10, U1),
  gauge('gpu.memory.util', 6, U1),
  gauge('gpu.util', 20, U1),
  gauge('gpu.power.usage', 0, U1),
  gauge('gpu.count', 2),
  gauge('gpu.util.avg', 53),
  gauge('gpu.memory.util.avg', 24),
]

describe('gpuSamples over nvidia-smi output', () => {
  it('sends nothing without a GPU', () => {
    assert.deepEqual(parseGpuRows(NO_GPU), [])
    assert.deepEqual(gpuSamples(parseGpuRows(NO_GPU)), [])
    assert.deepEqual(gpuSamples(parseGpuRows('')), [])
    assert.deepEqual(gpuSamples(parseGpuRows('0, [N/A], [N/A], [N/A], 0, 0, 0, 0, [N/A]\n')), [])
  })

  it('sends one GPU without gpu.fan.speed when it has no fan', () => {
    const u = 'uuid=GPU-9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b'
    assert.deepEqual(gpuSamples(parseGpuRows(ONE_GPU)), [
      gauge('gpu.temperature', 38, u),
      gauge('gpu.memory.total', 15360, u),
      gauge('gpu.memory.used', 259, u),
      gauge('gpu.memory.util', 0, u),
      gauge('gpu.util', 0, u),
      gauge('gpu.power.usage', 27, u),
      gauge('gpu.count', 1),
      gauge('gpu.util.avg', 0),
      gauge('gpu.memory.util.avg', 0),
    ])
  })

  it('sends two GPUs: MiB, whole watts (0 when unreadable), integer averages', () => {
    assert.deepEqual(gpuSamples(parseGpuRows(TWO_GPUS)), TWO_GPUS_WANT)
  })

  it('sends only the fan of a GPU whose utilization is not supported, counted in the averages', () => {
    const u = 'uuid=GPU-11112222-3333-4444-5555-666677778888'
    assert.deepEqual(gpuSamples(parseGpuRows(NOT_SUPPORTED)), [
      gauge('gpu.fan.speed', 30, u),
      gauge('gpu.count', 1),
      gauge('gpu.util.avg', 0),
      gauge('gpu.memory.util.avg', 0),
    ])
  })

  it('skips all but the fan of a GPU whose temperature is unreadable, dividing by the count', () => {
    assert.deepEqual(gpuSamples(parseGpuRows(NO_TEMPERATURE)), [
      ...TWO_GPUS_WANT.slice(0, 7),
      gauge('gpu.fan.speed', 41, U1),
      gauge('gpu.count', 2),
      gauge('gpu.util.avg', 43),
      gauge('gpu.memory.util.avg', 21),
    ])
  })

  it('divides by the GPU count when one GPU is lost', () => {
    const u = 'uuid=GPU-aaaabbbb-cccc-dddd-eeee-ffff00001111'
    assert.deepEqual(gpuSamples(parseGpuRows(ONE_LOST)), [
      gauge('gpu.fan.speed', 40, u),
      gauge('gpu.temperature', 55, u),
      gauge('gpu.memory.total', 32768, u),
      gauge('gpu.memory.used', 32768, u),
      gauge('gpu.memory.util', 99, u),
      gauge('gpu.util', 100, u),
      gauge('gpu.power.usage', 250, u),
      gauge('gpu.count', 2),
      gauge('gpu.util.avg', 50),
      gauge('gpu.memory.util.avg', 49),
    ])
  })

  it('tags an unreadable uuid `uuid=` and refuses malformed numbers', () => {
    const rows = parseGpuRows('1, [Unknown Error], 12.5, 50, 100, 40, 7, 3, 1.2.3\n')
    assert.deepEqual(rows, [
      {
        count: 1,
        uuid: '',
        fanSpeed: undefined,
        temperature: 50,
        memoryTotal: 100,
        memoryFree: 40,
        gpuUtil: 7,
        memoryUtil: 3,
        powerWatts: undefined,
      },
    ])
    assert.deepEqual(gpuSamples(rows).slice(0, 2), [
      gauge('gpu.temperature', 50, 'uuid='),
      gauge('gpu.memory.total', 100, 'uuid='),
    ])
    // a row of the wrong width (another driver's columns) is no row
    assert.deepEqual(parseGpuRows('1, GPU-x, 30, 45, 2048, 1800, 1, 2\n'), [])
  })
})

describe('gpuCollector', () => {
  it('runs nvidia-smi with the query columns and the timeout', async () => {
    const calls: [string, readonly string[], number][] = []
    const run: GpuRun = (file, args, timeoutMs) => {
      calls.push([file, args, timeoutMs])
      return Promise.resolve(TWO_GPUS)
    }
    const c = gpuCollector({ run })
    assert.equal(c.name, 'gpu')
    assert.deepEqual(await c.collect(ctxAt(0)), TWO_GPUS_WANT)
    assert.deepEqual(calls, [['nvidia-smi', ARGS, 5000]])
    await gpuCollector({ run, binary: '/opt/nv/nvidia-smi', timeoutMs: 700 }).collect(ctxAt(0))
    assert.deepEqual(calls[1], ['/opt/nv/nvidia-smi', ARGS, 700])
  })

  it('after a failure, sends nothing and runs nvidia-smi again only after 10 minutes', async () => {
    let calls = 0
    let answer: () => Promise<string> = () => Promise.reject(new Error('spawn nvidia-smi ENOENT'))
    const c = gpuCollector({
      run: () => {
        calls++
        return answer()
      },
    })
    assert.deepEqual(await c.collect(ctxAt(1000)), [])
    assert.equal(calls, 1)
    assert.deepEqual(await c.collect(ctxAt(61_000)), [])
    assert.deepEqual(await c.collect(ctxAt(1000 + GPU_RETRY_MS - 1)), [])
    assert.equal(calls, 1)
    answer = () => Promise.resolve(ONE_GPU)
    assert.equal((await c.collect(ctxAt(1000 + GPU_RETRY_MS))).length, 9)
    assert.equal(calls, 2)
    assert.equal((await c.collect(ctxAt(61_000 + GPU_RETRY_MS))).length, 9)
    assert.equal(calls, 3)
    // no GPU in the output counts as a failure too
    answer = () => Promise.resolve(NO_GPU)
    assert.deepEqual(await c.collect(ctxAt(121_000 + GPU_RETRY_MS)), [])
    assert.deepEqual(await c.collect(ctxAt(181_000 + GPU_RETRY_MS)), [])
    assert.equal(calls, 4)
  })

  it('shares a run still going instead of starting a second', async () => {
    let calls = 0
    let release: (s: string) => void = () => undefined
    const c = gpuCollector({
      run: () => {
        calls++
        return new Promise((resolve) => (release = resolve))
      },
    })
    const a = c.collect(ctxAt(0))
    const b = c.collect(ctxAt(0))
    release(TWO_GPUS)
    assert.deepEqual(await a, TWO_GPUS_WANT)
    assert.deepEqual(await b, TWO_GPUS_WANT)
    assert.equal(calls, 1)
    // once it has finished, the next cycle runs nvidia-smi again
    const next = c.collect(ctxAt(0))
    release(ONE_GPU)
    assert.equal((await next).length, 9)
    assert.equal(calls, 2)
  })

  it('through a real process: a missing binary, exit codes, a timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-gpu-'))
    const script = (name: string, body: string) => {
      const path = join(dir, name)
      writeFileSync(path, `#!/bin/sh\n${body}\n`)
      chmodSync(path, 0o755)
      return path
    }
    const collect = (binary: string, timeoutMs = 5000) =>
      gpuCollector({ binary, timeoutMs }).collect(ctxAt(0))
    try {
      assert.deepEqual(await collect(join(dir, 'no-such-nvidia-smi')), [])
      const ok = script('ok', `[ "$1 $2" = "${ARGS.join(' ')}" ] || exit 2\nprintf '${TWO_GPUS}'`)
      assert.deepEqual(await collect(ok), TWO_GPUS_WANT)
      const lost = script('lost', `printf '${ONE_LOST}'\nexit 15`)
      assert.equal((await collect(lost)).length, 10)
      const mismatch = script(
        'mismatch',
        'echo "Failed to initialize NVML: Driver/library version mismatch"\nexit 18'
      )
      assert.deepEqual(await collect(mismatch), [])
      const slow = script('slow', `printf '${ONE_GPU}'\nexec sleep 5`)
      const started = Date.now()
      assert.deepEqual(await collect(slow, 200), [])
      assert.ok(Date.now() - started < 4000, 'the slow nvidia-smi was killed at its timeout')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('runs on this machine: nothing without nvidia-smi, else the gpu.* names', async () => {
    const names = new Set((await gpuCollector().collect(ctxAt(Date.now()))).map((s) => s.metric))
    const known = new Set(TWO_GPUS_WANT.map((s) => s.metric))
    for (const n of names) assert.ok(known.has(n), n)
    if (names.size > 0) for (const n of ['gpu.count', 'gpu.util.avg']) assert.ok(names.has(n), n)
  })
})
