// End-to-end ingest benchmark: the all-in-one in a child process, the tsdb dataset pushed over HTTP and
// JSON-RPC by concurrent clients, acknowledged by transfer only once graph has it in its WAL.
//
// Usage: node dist/bench/ingest.js [--series N] [--points N] [--clients N] [--batch N]
//        [--components LIST] [--keep]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { JsonRpcClient } from '../src/core/index.js'
import { loginRoot, startPeregrine } from '../test/support/peregrine-process.js'
import { Dataset, STEP } from './dataset.js'
import { falconBatches } from './support/falcon-batches.js'
import { HttpLoad } from './support/http-load.js'
import { memoryMb, treeCpuSeconds } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`ingest bench: ${message}\n`)
}

function flags() {
  const { values } = parseArgs({
    options: {
      series: { type: 'string', default: '10000' },
      points: { type: 'string', default: '1440' },
      clients: { type: 'string', default: '8' },
      batch: { type: 'string', default: '1000' },
      components: { type: 'string', default: 'graph,transfer,api' },
      keep: { type: 'boolean', default: false },
    },
  })
  const n = (name: string, v: string, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x <= 0 || x > max) {
      process.stderr.write(
        `ingest bench: --${name} must be an integer from 1 to ${max}, got ${v}\n`
      )
      process.exit(2)
    }
    return x
  }
  return {
    series: n('series', values.series, 1_000_000),
    points: n('points', values.points, 7 * 1440),
    clients: n('clients', values.clients, 256),
    batch: n('batch', values.batch, 100_000),
    components: components(values.components),
    keep: values.keep,
  }
}

// The components the server runs: graph, transfer and api at least (what is pushed and read), or
// `all` for the whole all-in-one (judge, hbs, alarm and the agent beside them).
function components(list: string): string[] {
  if (list === 'all') return []
  const names = list.split(',').filter((c) => c !== '')
  for (const needed of ['graph', 'transfer', 'api']) {
    if (!names.includes(needed)) {
      process.stderr.write(
        `ingest bench: --components must include graph, transfer and api (or be all), got ${list}\n`
      )
      process.exit(2)
    }
  }
  return names
}

function treeBytes(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name))
    total += st.isDirectory() ? treeBytes(join(dir, name)) : st.size
  }
  return total
}

// Resident set of a process now, in MB.
function rssMb(pid: number): number {
  return memoryMb(pid)
}

// Peak resident set of a process, from the kernel's high-water mark.
function peakRssMb(pid: number): number {
  return Math.round(memoryMb(pid, 'VmHWM'))
}

// Fisher-Yates with a fixed seed: the same shuffled order every run.
function shuffled<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0
  for (let i = items.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const j = Math.floor((s / 2 ** 32) * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

async function phase(
  name: string,
  clients: number,
  gen: Iterator<{ text: string; n: number }>,
  push: (client: number, body: string) => Promise<void>,
  total: number
): Promise<number> {
  let done = 0
  let next = 0.1
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let it = gen.next(); !it.done; it = gen.next()) {
        await push(c, it.value.text)
        done += it.value.n
        if (done >= next * total) {
          next += 0.1
          log(
            `${name}: ${(done / 1e6).toFixed(1)}M/${(total / 1e6).toFixed(1)}M points, ${Math.round(done / ((performance.now() - started) / 1000))} points/s`
          )
        }
      }
    })
  )
  return done / ((performance.now() - started) / 1000)
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'pg-ingest-'))
  const total = f.series * f.points
  const firstT = Math.floor(Date.now() / 1000 / STEP) * STEP - (f.points - 1) * STEP
  log(
    `${f.series} series × ${f.points} points = ${(total / 1e6).toFixed(1)}M points per phase, ${f.clients} clients, batches of ${f.batch}, components ${f.components.join(',') || 'all'}, dir ${dir}`
  )
  // INGEST_SERVER_NODE_ARGS reaches the server's node only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.INGEST_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const server = await startPeregrine(dir, f.components, {}, nodeArgs)
  const { child, addresses } = server
  try {
    // The graph routes take falcon's Apitoken, as a dashboard sends it after logging in.
    const apitoken = await loginRoot(addresses.api.http)
    const url = `http://${addresses.transfer.http}/api/push`
    const pid = child.pid as number
    const rssBase = rssMb(pid)
    // Every point a push acknowledges (Invalid 0, or the refused ones left out) is counted here.
    let acked = 0
    const load = new HttpLoad(f.clients)
    const target = new URL(url)
    const pushHttp = async (_c: number, body: string) => {
      const res = await load.post(target, body, { 'content-type': 'application/json' })
      if (res.status !== 200) throw new Error(`push answered ${res.status}: ${res.text}`)
      const answer = JSON.parse(res.text) as { data: { Total: number; Invalid: number } }
      acked += answer.data.Total - answer.data.Invalid
    }
    // The server's CPU over each push phase alone: the process and anything it runs.
    let cpuBefore = treeCpuSeconds(pid)
    const httpRate = await phase(
      'http',
      f.clients,
      falconBatches(f.series, f.points, f.batch, 'h-', firstT),
      pushHttp,
      total
    )
    const httpCpu = treeCpuSeconds(pid) - cpuBefore
    const rpcClients = Array.from(
      { length: f.clients },
      () => new JsonRpcClient(addresses.transfer.rpc, { callTimeout: 60_000 })
    )
    cpuBefore = treeCpuSeconds(pid)
    const rpcRate = await phase(
      'rpc',
      f.clients,
      falconBatches(f.series, f.points, f.batch, 'r-', firstT),
      async (c, body) => {
        const r = await rpcClients[c].callJson<{ Total: number; Invalid: number }>(
          'Transfer.Update',
          body
        )
        acked += r.Total - r.Invalid
      },
      total
    )
    const rpcCpu = treeCpuSeconds(pid) - cpuBefore
    for (const c of rpcClients) c.close()

    // Shuffled: 2,000 series × 240 points (at most), their batches in random order, as a retrying
    // client or several senders deliver them; each must be kept and read back exactly.
    const shuffledSeries = Math.min(f.series, 2000)
    const shuffledPoints = Math.min(f.points, 240)
    const shuffledTotal = shuffledSeries * shuffledPoints
    const shuffledFirstT = firstT + (f.points - shuffledPoints) * STEP
    const shuffledBatches = shuffled(
      [...falconBatches(shuffledSeries, shuffledPoints, f.batch, 's-', shuffledFirstT)],
      0x5eed
    )
    await phase('shuffled', f.clients, shuffledBatches.values(), pushHttp, shuffledTotal)
    load.close()
    const rssLoaded = rssMb(pid)
    const seriesStored = 2 * f.series + shuffledSeries
    // What graph holds against what was acknowledged: every point here is new (no duplicates).
    const graphCounters = (await (
      await fetch(`http://${addresses.graph.http}/counter/all`)
    ).json()) as { data: { tsdb: { appended: number; outOfOrderInserted: number } } }
    const stored = graphCounters.data.tsdb.appended + graphCounters.data.tsdb.outOfOrderInserted
    const ackedLost = acked - stored
    // And the shuffled points read back one by one through the api.
    const sdata = new Dataset(shuffledSeries, 0x5eed1234)
    const want: Float64Array[] = Array.from({ length: shuffledPoints }, () => {
      const v = new Float64Array(shuffledSeries)
      sdata.next(v)
      return v
    })
    let readBack = 0
    for (let s = 0; s < shuffledSeries; s++) {
      const d = sdata.descs[s]
      const res = await fetch(`http://${addresses.api.http}/api/v1/graph/history`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apitoken },
        body: JSON.stringify({
          hostnames: ['s-' + d.endpoint],
          counters: [sdata.keys[s].slice(d.endpoint.length + 1)],
          start_time: shuffledFirstT,
          end_time: shuffledFirstT + (shuffledPoints - 1) * STEP,
          consol_fun: 'AVERAGE',
          step: STEP,
        }),
      })
      const h = (await res.json()) as { Values: { timestamp: number; value: number | null }[] }[]
      for (const v of h[0]?.Values ?? []) {
        const i = (v.timestamp - shuffledFirstT) / STEP
        // Counters read back as rates: count them as present when a rate is there.
        if (i >= 0 && i < shuffledPoints && v.value !== null) {
          if (d.dstype === 'DERIVE' || v.value === want[i][s]) readBack++
        }
      }
    }
    // A counter's first point has no rate: shuffledSeries' counters read back one point fewer.
    const counters = sdata.descs.filter((d) => d.dstype === 'DERIVE').length
    const shuffledMissing = shuffledTotal - counters - readBack
    log(
      `acknowledged ${acked} points, graph stored ${stored}; shuffled: ${readBack + counters} of ${shuffledTotal} read back`
    )

    // History of one series over the whole range, as the dashboard asks for it.
    const data = new Dataset(f.series, 0x5eed1234)
    const times: number[] = []
    for (let q = 0; q < 220; q++) {
      const s = (q * 7919) % f.series
      const started = performance.now()
      const res = await fetch(`http://${addresses.api.http}/api/v1/graph/history`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apitoken },
        body: JSON.stringify({
          hostnames: ['h-' + data.descs[s].endpoint],
          counters: [data.keys[s].slice(data.descs[s].endpoint.length + 1)],
          start_time: firstT,
          end_time: firstT + (f.points - 1) * STEP,
          consol_fun: 'AVERAGE',
          step: STEP,
        }),
      })
      const h = (await res.json()) as { Values: unknown[] }[]
      if (q >= 20) times.push(performance.now() - started)
      if (res.status !== 200 || h.length !== 1 || h[0].Values.length < f.points - 1)
        throw new Error(`history of ${data.keys[s]}: ${JSON.stringify(h).slice(0, 200)}`)
    }
    times.sort((a, b) => a - b)
    const rss = peakRssMb(pid)
    const rssQueried = rssMb(pid)
    log(
      `server: ${(httpCpu / (total / 1e6)).toFixed(2)} CPU-s per million points over HTTP, ${(rpcCpu / (total / 1e6)).toFixed(2)} over RPC; RSS ${Math.round(rssBase)} MB before, ${Math.round(rssLoaded)} after the pushes, ${Math.round(rssQueried)} after the queries`
    )

    // A clean stop flushes the head; what is on disk then is what the points cost.
    const exited = new Promise((ok) => child.once('exit', ok))
    child.kill('SIGTERM')
    await exited
    const bytes = treeBytes(join(dir, 'data', 'graph'))
    console.log(
      JSON.stringify({
        bench: 'ingest',
        http_points_per_s: Math.round(httpRate),
        rpc_points_per_s: Math.round(rpcRate),
        bytes_per_sample: Math.round((bytes / (2 * total)) * 1000) / 1000,
        history_1series_24h_p50_ms: Math.round(times[Math.floor(times.length / 2)] * 1000) / 1000,
        acked_points_lost: ackedLost,
        shuffled_points_missing: shuffledMissing,
        rss_mb_per_1k_series:
          Math.round(((rssLoaded - rssBase) / (seriesStored / 1000)) * 100) / 100,
        rss_peak_mb: rss,
        server_cpu_s_per_m_points_http: Math.round((httpCpu / (total / 1e6)) * 100) / 100,
        server_cpu_s_per_m_points_rpc: Math.round((rpcCpu / (total / 1e6)) * 100) / 100,
        rss_base_mb: Math.round(rssBase),
        rss_after_ingest_mb: Math.round(rssLoaded),
        rss_after_queries_mb: Math.round(rssQueried),
        rss_mb_per_1k_series_after_queries:
          Math.round(((rssQueried - rssBase) / (seriesStored / 1000)) * 100) / 100,
        series: f.series,
        points_per_phase: total,
        clients: f.clients,
        batch: f.batch,
        components: f.components.join(',') || 'all',
        node: process.version,
      })
    )
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    if (!f.keep) rmSync(dir, { recursive: true, force: true })
    else log(`kept ${dir}`)
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
