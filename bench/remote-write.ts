// Remote write benchmark: the tsdb bench dataset sent to the all-in-one (in a child process) as
// Prometheus remote write 1.0 requests, the way Prometheus's queue manager sends them: series sharded
// over concurrent shards, each shard sending its samples in time order, one TimeSeries per sample, in
// batches of `--batch` samples (500 was Prometheus 2.42's max_samples_per_send, 2,000 is today's). A
// request counts once it is answered 204: every graph WAL holding its samples has them.
//
// Usage: node dist/bench/remote-write.js [--series N] [--points N] [--shards N] [--batch N]
//        [--components LIST] [--vm] [--keep]
// With --vm, Debian's victoria-metrics is started beside Peregrine and sent the same requests, and
// the ratio printed. Progress goes to stderr; the last stdout line is one JSON object (bench/README.md).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { encodeSnappy, encodeWriteRequest, type WriteSeries } from '../src/core/index.js'
import { loginRoot, startPeregrine } from '../test/support/peregrine-process.js'
import { Dataset, STEP_MS } from './dataset.js'
import { cpuSeconds, memoryMb } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`remote-write bench: ${message}\n`)
}

function flags() {
  const { values } = parseArgs({
    options: {
      series: { type: 'string', default: '2000' },
      points: { type: 'string', default: '1440' },
      shards: { type: 'string', default: '8' },
      batch: { type: 'string', default: '2000' },
      components: { type: 'string', default: 'graph,transfer,api' },
      vm: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  })
  const n = (name: string, v: string, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x <= 0 || x > max) {
      log(`--${name} must be an integer from 1 to ${max}, got ${v}`)
      process.exit(2)
    }
    return x
  }
  const components = values.components === 'all' ? [] : values.components.split(',')
  if (components.length > 0 && !['graph', 'transfer', 'api'].every((c) => components.includes(c))) {
    log(`--components must include graph, transfer and api (or be all), got ${values.components}`)
    process.exit(2)
  }
  if (values.vm && spawnSync('victoria-metrics', ['--version']).status !== 0) {
    log('--vm needs Debian’s victoria-metrics: apt-get install -y victoria-metrics')
    process.exit(2)
  }
  return {
    series: n('series', values.series, 200_000),
    points: n('points', values.points, 7 * 1440),
    shards: n('shards', values.shards, 64),
    batch: n('batch', values.batch, 100_000),
    components,
    vm: values.vm,
    keep: values.keep,
  }
}

function peakRssMb(pid: number): number {
  return Math.round(memoryMb(pid, 'VmHWM'))
}

/** Request is one remote write body, snappy-compressed, and how many samples it holds. */
interface Request {
  body: Uint8Array<ArrayBuffer>
  samples: number
}

/**
 * requests builds every shard's requests up front (the load generator shares the two cores with the
 * server, so it only sends): series i belongs to shard i % shards; a shard sends its series' samples
 * minute by minute, `batch` at a time. Labels are the dataset's as Prometheus would name them.
 */
function requests(
  f: ReturnType<typeof flags>,
  firstT: number
): { shards: Request[][]; labels: WriteSeries['labels'][]; values: Float64Array[] } {
  const data = new Dataset(f.series, 0x5eed1234)
  const labels = data.descs.map((d) => {
    const ls: [string, string][] = [
      ['__name__', d.metric.replaceAll('.', '_')],
      ['instance', `${d.endpoint}:9100`],
      ['job', 'node'],
    ]
    for (const kv of d.tags === '' ? [] : d.tags.split(',')) {
      const eq = kv.indexOf('=')
      ls.push([kv.slice(0, eq), kv.slice(eq + 1)])
    }
    return ls.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  })
  const values: Float64Array[] = []
  for (let i = 0; i < f.points; i++) {
    const v = new Float64Array(f.series)
    data.next(v)
    values.push(v)
  }
  const shards: Request[][] = []
  for (let s = 0; s < f.shards; s++) {
    const out: Request[] = []
    let pending: WriteSeries[] = []
    for (let i = 0; i < f.points; i++) {
      for (let k = s; k < f.series; k += f.shards) {
        pending.push({ labels: labels[k], samples: [[firstT + i * STEP_MS, values[i][k]]] })
        if (pending.length === f.batch) {
          out.push({
            body: new Uint8Array(encodeSnappy(encodeWriteRequest(pending))),
            samples: pending.length,
          })
          pending = []
        }
      }
    }
    if (pending.length > 0)
      out.push({
        body: new Uint8Array(encodeSnappy(encodeWriteRequest(pending))),
        samples: pending.length,
      })
    shards.push(out)
  }
  return { shards, labels, values }
}

/** send posts every shard's requests, shards concurrently, and returns samples per second. */
async function send(
  name: string,
  url: string,
  shards: Request[][],
  total: number,
  onAck: (n: number) => void
): Promise<number> {
  let done = 0
  let next = 0.1
  const started = performance.now()
  await Promise.all(
    shards.map(async (requests) => {
      for (const r of requests) {
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(url, {
            method: 'POST',
            body: r.body,
            headers: {
              'Content-Type': 'application/x-protobuf',
              'Content-Encoding': 'snappy',
              'X-Prometheus-Remote-Write-Version': '0.1.0',
            },
          })
          const text = await res.text()
          if (res.status === 204 || res.status === 200) break
          // As Prometheus: 5xx and 429 are retried, anything else is a failure of the bench.
          if ((res.status >= 500 || res.status === 429) && attempt < 50) {
            await new Promise((ok) => setTimeout(ok, 100))
            continue
          }
          throw new Error(`${name}: ${res.status} ${text.slice(0, 300)}`)
        }
        onAck(r.samples)
        done += r.samples
        if (done >= next * total) {
          next += 0.1
          log(
            `${name}: ${(done / 1e6).toFixed(2)}M/${(total / 1e6).toFixed(2)}M samples, ${Math.round(done / ((performance.now() - started) / 1000))} samples/s`
          )
        }
      }
    })
  )
  return done / ((performance.now() - started) / 1000)
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}

async function startVm(dir: string): Promise<{ child: ChildProcess; address: string }> {
  const address = `127.0.0.1:${await freePort()}`
  const child = spawn(
    'victoria-metrics',
    [`-httpListenAddr=${address}`, `-storageDataPath=${join(dir, 'vm')}`, '-retentionPeriod=100y'],
    { stdio: 'ignore' }
  )
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://${address}/health`)).ok) return { child, address }
    } catch {
      // not up yet
    }
    await new Promise((ok) => setTimeout(ok, 100))
  }
  child.kill('SIGKILL')
  throw new Error('victoria-metrics did not answer /health within 10 s')
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'pg-remote-write-'))
  const total = f.series * f.points
  const firstT = Math.floor(Date.now() / STEP_MS) * STEP_MS - (f.points - 1) * STEP_MS
  log(
    `${f.series} series × ${f.points} samples = ${(total / 1e6).toFixed(2)}M samples, ${f.shards} shards, batches of ${f.batch}; building requests`
  )
  const built = requests(f, firstT)
  const bytes = built.shards.flat().reduce((a, r) => a + r.body.length, 0)
  log(`${built.shards.flat().length} requests, ${(bytes / 1e6).toFixed(1)} MB compressed`)
  // REMOTE_WRITE_SERVER_NODE_ARGS reaches the server's node only, e.g. "--cpu-prof --cpu-prof-dir=DIR".
  const nodeArgs = (process.env.REMOTE_WRITE_SERVER_NODE_ARGS ?? '')
    .split(' ')
    .filter((a) => a !== '')
  const server = await startPeregrine(dir, f.components, {}, nodeArgs)
  const { child, addresses } = server
  let vm: { child: ChildProcess; address: string } | null = null
  try {
    const pid = child.pid as number
    const graphStored = async () => {
      const c = (await (await fetch(`http://${addresses.graph.http}/counter/all`)).json()) as {
        data: { tsdb: { appended: number; outOfOrderInserted: number } }
      }
      return c.data.tsdb.appended + c.data.tsdb.outOfOrderInserted
    }
    const storedBefore = await graphStored()
    const cpuBefore = cpuSeconds(pid)
    let acked = 0
    const rate = await send(
      'peregrine',
      `http://${addresses.transfer.http}/api/v1/write`,
      built.shards,
      total,
      (n) => (acked += n)
    )
    const cpu = cpuSeconds(pid) - cpuBefore
    const ackedLost = acked - ((await graphStored()) - storedBefore)
    // A few series read back in full through PromQL: each sample as it was sent.
    const token = await loginRoot(addresses.api.http)
    let mismatched = 0
    for (let q = 0; q < 20; q++) {
      const k = (q * 7919) % f.series
      const sel = '{' + built.labels[k].map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(',') + '}'
      const end = (firstT + (f.points - 1) * STEP_MS) / 1000
      const res = await fetch(
        `http://${addresses.api.http}/api/v1/query?query=${encodeURIComponent(`${sel}[${f.points}m]`)}&time=${end}`,
        { headers: { Apitoken: token } }
      )
      const body = (await res.json()) as { data: { result: { values: [number, string][] }[] } }
      const got = body.data.result[0]?.values ?? []
      for (let i = 0; i < f.points; i++) {
        const want = built.values[i][k]
        if (got[i] === undefined || Number(got[i][1]) !== want) mismatched++
      }
    }
    const rss = peakRssMb(pid)
    log(
      `peregrine: ${Math.round(rate)} samples/s, ${(cpu / (total / 1e6)).toFixed(2)} CPU-s per million, acknowledged ${acked}, lost ${ackedLost}, ${mismatched} of 20 series' samples differ`
    )
    const result: Record<string, unknown> = {
      bench: 'remote_write',
      samples_per_s: Math.round(rate),
      server_cpu_s_per_m_samples: Math.round((cpu / (total / 1e6)) * 100) / 100,
      acked_lost: ackedLost,
      read_back_mismatched: mismatched,
      rss_peak_mb: rss,
    }
    if (f.vm) {
      vm = await startVm(dir)
      const vmPid = vm.child.pid as number
      const vmCpuBefore = cpuSeconds(vmPid)
      const vmRate = await send(
        'victoria-metrics',
        `http://${vm.address}/api/v1/write`,
        built.shards,
        total,
        () => {}
      )
      const vmCpu = cpuSeconds(vmPid) - vmCpuBefore
      result.vm_samples_per_s = Math.round(vmRate)
      result.vm_cpu_s_per_m_samples = Math.round((vmCpu / (total / 1e6)) * 100) / 100
      result.vm_rss_peak_mb = peakRssMb(vmPid)
      result.ratio_to_vm = Math.round((rate / vmRate) * 100) / 100
    }
    Object.assign(result, {
      series: f.series,
      samples: total,
      shards: f.shards,
      batch: f.batch,
      components: f.components.join(',') || 'all',
      node: process.version,
    })
    console.log(JSON.stringify(result))
  } finally {
    vm?.child.kill('SIGKILL')
    if (child.exitCode === null) {
      // SIGTERM first: a profile (--cpu-prof) is written on a clean exit.
      const exited = new Promise((ok) => child.once('exit', ok))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10_000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    if (!f.keep) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})
