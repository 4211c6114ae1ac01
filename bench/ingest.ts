// End-to-end ingest benchmark: the all-in-one in a child process, the tsdb dataset pushed over HTTP and
// JSON-RPC by concurrent clients, acknowledged by transfer only once graph has it in its WAL.
//
// Usage: node dist/bench/ingest.js [--series N] [--points N] [--clients N] [--batch N]
//        [--components LIST] [--keep]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { JsonRpcClient } from '../src/core/index.js'
import { loginRoot, startPeregrine } from '../test/support/peregrine-process.js'
import { Dataset, STEP } from './dataset.js'

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

// Peak resident set of a process, from the kernel's high-water mark.
function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Math.round(Number(m[1]) / 1024)
  } catch {
    return 0
  }
}

/**
 * batches yields the dataset in time order as pushes of `batch` MetricValues, already as JSON text (the
 * load generator shares the machine with the server, so it stays cheap): every series' point for a
 * minute, then the next minute. `prefix` renames the hosts so the two phases write different series.
 */
function* batches(series: number, points: number, batch: number, prefix: string, firstT: number) {
  const data = new Dataset(series, 0x5eed1234)
  const vals = new Float64Array(series)
  // The constant part of each series' JSON, built once.
  const heads = data.descs.map(
    (d) =>
      `{"endpoint":${JSON.stringify(prefix + d.endpoint)},"metric":${JSON.stringify(d.metric)},` +
      `"step":${STEP},"counterType":"${d.dstype === 'DERIVE' ? 'COUNTER' : 'GAUGE'}",` +
      `"tags":${JSON.stringify(d.tags)},"value":`
  )
  let text = '['
  let n = 0
  for (let i = 0; i < points; i++) {
    data.next(vals)
    const ts = firstT + i * STEP
    for (let s = 0; s < series; s++) {
      text += (n === 0 ? '' : ',') + heads[s] + vals[s] + ',"timestamp":' + ts + '}'
      if (++n === batch) {
        yield { text: text + ']', n }
        text = '['
        n = 0
      }
    }
  }
  if (n > 0) yield { text: text + ']', n }
}

async function phase(
  name: string,
  clients: number,
  gen: Generator<{ text: string; n: number }>,
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
    const httpRate = await phase(
      'http',
      f.clients,
      batches(f.series, f.points, f.batch, 'h-', firstT),
      async (_c, body) => {
        const res = await fetch(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        })
        if (res.status !== 200) throw new Error(`push answered ${res.status}: ${await res.text()}`)
        await res.arrayBuffer()
      },
      total
    )
    const rpcClients = Array.from(
      { length: f.clients },
      () => new JsonRpcClient(addresses.transfer.rpc, { callTimeout: 60_000 })
    )
    const rpcRate = await phase(
      'rpc',
      f.clients,
      batches(f.series, f.points, f.batch, 'r-', firstT),
      async (c, body) => {
        const r = await rpcClients[c].callJson<{ Invalid: number }>('Transfer.Update', body)
        if (r.Invalid !== 0) throw new Error(`${r.Invalid} points refused`)
      },
      total
    )
    for (const c of rpcClients) c.close()

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
    const rss = peakRssMb(child.pid as number)

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
        rss_peak_mb: rss,
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
