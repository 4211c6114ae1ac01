// Benchmark of nodata: --rules mockcfg rules (one host each), watched by a `peregrine start nodata`
// process reading a `peregrine start graph transfer` process, as a cluster runs them. Measures how
// late each series' mock is past its timeout (from its last real point's arrival in graph to its
// mock's arrival there), and nodata's CPU per minute while every series reports and while every one
// is silent (one mock per step each).
//
// Usage: node dist/bench/nodata.js [--rules N] [--step S] [--steady SECONDS] [--sample N] [--keep]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { GraphCluster } from '../src/cluster/index.js'
import { silentLogger } from '../src/core/index.js'
import { Store } from '../src/store/index.js'
import { cpuSeconds, memoryMb } from './support/proc.js'

const USAGE =
  'usage: node dist/bench/nodata.js [--rules N] [--step S] [--steady SECONDS] [--sample N] [--keep]'
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'peregrine.js')
const PUSH_BATCH = 5000

function log(message: string): void {
  process.stderr.write(`nodata bench: ${message}\n`)
}

function flags() {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      options: {
        rules: { type: 'string' },
        step: { type: 'string' },
        steady: { type: 'string' },
        sample: { type: 'string' },
        keep: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    process.exit(2)
  }
  const int = (name: string, def: number, min: number, max: number) => {
    const raw = values[name]
    const n = raw === undefined ? def : Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) {
      process.stderr.write(`--${name}: expected an integer from ${min} to ${max}\n${USAGE}\n`)
      process.exit(2)
    }
    return n
  }
  return {
    rules: int('rules', 100_000, 1, 1_000_000),
    step: int('step', 10, 1, 600),
    steady: int('steady', 60, 10, 3600),
    sample: int('sample', 2000, 1, 1_000_000),
    keep: values.keep === true,
  }
}

/** startProcess runs `peregrine start ...components` on `config` and resolves with its bound addresses. */
async function startProcess(
  dir: string,
  components: string[],
  config: Record<string, unknown>
): Promise<{ child: ChildProcess; addresses: Record<string, Record<string, string>> }> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'peregrine.json')
  writeFileSync(file, JSON.stringify({ dataDir: join(dir, 'data'), ...config }))
  const child = spawn(process.execPath, [BIN, 'start', ...components, '-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr?.setEncoding('utf8')
  await new Promise<void>((ok, fail) => {
    child.stderr?.on('data', (d: string) => {
      err += d
      if (err.includes('Peregrine running')) ok()
      if (err.length > 100_000) err = err.slice(-50_000)
    })
    child.once('exit', (code) =>
      fail(new Error(`peregrine ${components.join(' ')} exited ${code}: ${err}`))
    )
  })
  const state = JSON.parse(readFileSync(join(dir, 'data', 'run', 'peregrine.json'), 'utf8')) as {
    addresses: Record<string, Record<string, string>>
  }
  return { child, addresses: state.addresses }
}

function rssMb(pid: number): number {
  return Math.round(memoryMb(pid))
}

const host = (i: number) => `host-${String(i).padStart(6, '0')}`

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function main(): Promise<void> {
  const o = flags()
  const timeout = 3 * o.step
  const root = mkdtempSync(join(tmpdir(), 'pg-bench-nodata-'))
  const children: ChildProcess[] = []
  try {
    // The rules, written straight into the portal store nodata reads.
    const storeUrl = `sqlite:${join(root, 'portal.db')}`
    const store = await Store.open(storeUrl, silentLogger)
    const stamp = new Date().toISOString().slice(0, 19).replace('T', ' ')
    for (let from = 0; from < o.rules; from += 1000) {
      const rows = []
      for (let i = from; i < Math.min(o.rules, from + 1000); i++)
        rows.push({
          name: `alive-${i}`,
          obj: host(i),
          obj_type: 'host',
          metric: 'agent.alive',
          tags: '',
          dstype: 'GAUGE',
          step: o.step,
          mock: -1,
          creator: 'bench',
          t_create: stamp,
          t_modify: stamp,
        })
      await store.db.insertInto('mockcfg').values(rows).execute()
    }
    await store.close()
    log(`${o.rules} rules written; step ${o.step} s, timeout ${timeout} s`)

    const back = await startProcess(join(root, 'graph'), ['graph', 'transfer'], {
      graph: { rpc: '127.0.0.1:0', http: '127.0.0.1:0' },
      transfer: {
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        socket: '',
        minStep: Math.min(30, o.step),
      },
    })
    children.push(back.child)
    const graphRpc = back.addresses.graph.rpc
    const transferHttp = back.addresses.transfer.http
    const push = async (value: number) => {
      const now = Math.floor(Date.now() / 1000)
      for (let from = 0; from < o.rules; from += PUSH_BATCH) {
        const items = []
        for (let i = from; i < Math.min(o.rules, from + PUSH_BATCH); i++)
          items.push({
            endpoint: host(i),
            metric: 'agent.alive',
            value,
            step: o.step,
            counterType: 'GAUGE',
            tags: '',
            timestamp: now,
          })
        const res = await fetch(`http://${transferHttp}/api/push`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(items),
        })
        if (res.status !== 200) throw new Error(`push: ${res.status} ${await res.text()}`)
      }
    }
    // Every series reports once before nodata starts, so none starts silent.
    await push(1)

    const nodata = await startProcess(join(root, 'nodata'), ['nodata'], {
      store: storeUrl,
      nodata: {
        http: '127.0.0.1:0',
        graphCluster: { 'graph-00': graphRpc },
        transfer: [back.addresses.transfer.rpc],
        timeoutFloor: 0,
        maxSeries: Math.max(o.rules, 1),
      },
    })
    children.push(nodata.child)
    const pid = nodata.child.pid ?? 0
    const status = async () => {
      const res = await fetch(`http://${nodata.addresses.nodata.http}/proc/counters`)
      return ((await res.json()) as { data: Record<string, number> }).data
    }
    while ((await status()).watched < o.rules) await new Promise((r) => setTimeout(r, 200))
    log(`nodata watches ${o.rules} series (RSS ${rssMb(pid)} MB)`)

    // Steady: every series reports once a step; nodata looks at each once per timeout.
    log(`steady: every series reports every ${o.step} s for ${o.steady} s`)
    const steadyFrom = Date.now()
    const cpu0 = cpuSeconds(pid)
    while (Date.now() - steadyFrom < o.steady * 1000) {
      const round = Date.now()
      await push(1)
      const wait = o.step * 1000 - (Date.now() - round)
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
    const steadyMinutes = (Date.now() - steadyFrom) / 60_000
    const steadyCpu = (cpuSeconds(pid) - cpu0) / steadyMinutes
    const steadyStatus = await status()
    const rssSteady = rssMb(pid)
    log(
      `steady: ${steadyCpu.toFixed(2)} CPU-s per minute, ${steadyStatus.mocks} mocks (expected 0)`
    )

    // Silent: the last points' arrivals, then every series' first mock.
    const graphs = new GraphCluster({ 'graph-00': graphRpc }, 500, 60_000)
    const items = Array.from({ length: o.rules }, (_, i) => ({
      endpoint: host(i),
      counter: 'agent.alive',
    }))
    const lastReal = await graphs.lastMany(items)
    const silentFrom = Date.now()
    const cpu1 = cpuSeconds(pid)
    log(`silent: waiting for the first mocks (read for a sample of ${o.sample} series)`)
    // Each series' first mock is caught by reading arrivals about every second (a step is longer, so
    // the first is read before a second one replaces it); the arrival is graph's own clock.
    // No mock can arrive before the earliest last point (at most a step before silence) plus the
    // timeout: reading starts then, and reads only the series not caught yet, so the bench's own
    // reads weigh on graph as little as they can.
    const firstMock = new Array<number | undefined>(o.rules)
    // A sample of series is read, spread over all of them, so the bench's reads do not slow graph.
    const every = Math.max(1, Math.floor(o.rules / o.sample))
    let waiting = items.map((_, i) => i).filter((i) => i % every === 0)
    const sampled = waiting.length
    const deadline = silentFrom + (timeout + 3 * o.step + 60) * 1000
    await new Promise((r) => setTimeout(r, Math.max(0, (timeout - o.step - 1) * 1000)))
    let lastProgress = Date.now()
    while (waiting.length > 0) {
      if (Date.now() > deadline)
        throw new Error(`only ${sampled - waiting.length} of ${sampled} sampled series were mocked`)
      const round = Date.now()
      const now = await graphs.lastMany(waiting.map((i) => items[i]))
      const still: number[] = []
      waiting.forEach((i, k) => {
        const p = now.points[k]
        if (p != null && p.arrivedValue === -1) firstMock[i] = p.arrivedAt
        else still.push(i)
      })
      waiting = still
      if (Date.now() - lastProgress >= 5000) {
        const c = await status()
        log(
          `${sampled - waiting.length} of ${sampled} sampled first mocks arrived; nodata: ${c.judged} judged, ${c.mocks} mocks decided, ${c.pushed} pushed, ${c.pending} waiting`
        )
        lastProgress = Date.now()
      }
      const wait = 1000 - (Date.now() - round)
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
    // One more step of mocking every series, to measure what silence costs.
    await new Promise((r) => setTimeout(r, o.step * 1000))
    const silentMinutes = (Date.now() - silentFrom) / 60_000
    const silentCpu = (cpuSeconds(pid) - cpu1) / silentMinutes
    const rssSilent = rssMb(pid)
    graphs.close()
    const lateness: number[] = []
    let notMock = 0
    for (let i = 0; i < o.rules; i += every) {
      const real = lastReal.points[i]
      const mock = firstMock[i]
      if (real == null || mock === undefined) {
        notMock++
        continue
      }
      lateness.push((mock - real.arrivedAt - timeout * 1000) / 1000)
    }
    lateness.sort((a, b) => a - b)
    const final = await status()
    const result = {
      rules: o.rules,
      step_s: o.step,
      timeout_s: timeout,
      lateness_p50_s: Number(quantile(lateness, 0.5).toFixed(3)),
      lateness_p99_s: Number(quantile(lateness, 0.99).toFixed(3)),
      lateness_max_s: Number((lateness.at(-1) ?? NaN).toFixed(3)),
      sampled_series: lateness.length + notMock,
      series_without_mock: notMock,
      cpu_s_per_min_reporting: Number(steadyCpu.toFixed(2)),
      cpu_s_per_min_silent: Number(silentCpu.toFixed(2)),
      mocks_pushed: final.pushed,
      rss_mb_reporting: rssSteady,
      rss_mb_silent: rssSilent,
    }
    log(
      `lateness past the timeout p50 ${result.lateness_p50_s} s, p99 ${result.lateness_p99_s} s; CPU ${result.cpu_s_per_min_reporting} / ${result.cpu_s_per_min_silent} s per minute (reporting / silent)`
    )
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r))
      )
    )
    if (!o.keep) rmSync(root, { recursive: true, force: true })
    else log(`kept ${root}`)
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`nodata bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
