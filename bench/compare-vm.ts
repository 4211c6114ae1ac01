// Peregrine beside VictoriaMetrics in one run: the same dataset pushed to each in turn (falcon's
// /api/push to Peregrine, VictoriaMetrics' native JSON import to Debian's victoria-metrics), then the
// same PromQL range queries against both; ingest rate, server CPU per million points, memory, bytes on
// disk and query latency for both, and their ratios.
//
// Usage: node dist/bench/compare-vm.js [--series N] [--points N] [--clients N] [--batch N] [--runs N]
//        [--extra-series N] [--skip-opentsdb] [--vm-values-per-line N] [--vm PATH] [--keep]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  loginRoot,
  startPeregrine,
  type PeregrineProcess,
} from '../test/support/peregrine-process.js'
import { Db } from '../src/tsdb/index.js'
import { Dataset, STEP } from './dataset.js'
import { type Answer, HttpLoad } from './support/http-load.js'
import { memoryMb, treeCpuSeconds } from './support/proc.js'

const T0 = performance.now()

function log(message: string): void {
  const at = ((performance.now() - T0) / 1000).toFixed(1)
  process.stderr.write(`compare-vm bench: ${at} s: ${message}\n`)
}

/** usage ends the run with status 2 and one sentence, as every bench does for a bad flag. */
function usage(sentence: string): never {
  process.stderr.write(
    `compare-vm bench: ${sentence}\n` +
      'usage: node dist/bench/compare-vm.js [--series N] [--points N] [--clients N] [--batch N] ' +
      '[--runs N] [--extra-series N] [--skip-opentsdb] [--vm-values-per-line N] [--vm PATH] ' +
      '[--keep]\n'
  )
  process.exit(2)
}

function flags() {
  let values
  try {
    values = parseArgs({
      options: {
        series: { type: 'string', default: '2000' },
        points: { type: 'string', default: '1440' },
        clients: { type: 'string', default: '8' },
        batch: { type: 'string', default: '1000' },
        runs: { type: 'string', default: '30' },
        'extra-series': { type: 'string', default: '50000' },
        'skip-opentsdb': { type: 'boolean', default: false },
        'vm-values-per-line': { type: 'string', default: '60' },
        vm: { type: 'string', default: '/usr/bin/victoria-metrics' },
        keep: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    usage((err as Error).message)
  }
  const n = (name: string, v: string, min: number, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < min || x > max) {
      usage(`--${name} must be an integer from ${min} to ${max}, got ${v}`)
    }
    return x
  }
  const f = {
    series: n('series', values.series, 50, 200_000),
    // The queries span the whole range at step 300: at least 10 minutes of points.
    points: n('points', values.points, 10, 7 * 1440),
    clients: n('clients', values.clients, 1, 256),
    batch: n('batch', values.batch, 1, 100_000),
    runs: n('runs', values.runs, 1, 10_000),
    extraSeries: n('extra-series', values['extra-series'], 0, 1_000_000),
    opentsdb: !values['skip-opentsdb'],
    valuesPerLine: n('vm-values-per-line', values['vm-values-per-line'], 0, 7 * 1440),
    vm: values.vm,
    keep: values.keep,
  }
  if (spawnSync(f.vm, ['-version'], { timeout: 10_000 }).status !== 0) {
    usage(
      `--vm ${f.vm} is not a victoria-metrics binary that runs: apt-get install victoria-metrics`
    )
  }
  return f
}
type Flags = ReturnType<typeof flags>

// Every wait is bounded: a server that stops answering ends the run instead of hanging it.
const REQUEST_TIMEOUT_MS = 120_000
const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 60_000
const DISK_SETTLE_TIMEOUT_MS = 60_000
// Points per series of the extra-series run: enough for an open chunk, few enough to stay cheap.
const EXTRA_POINTS = 10
// Answers agree when every value is within this relative difference (sums run in another order).
const REL_TOLERANCE = 1e-9

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms))
}

/** settled waits for `p` at most `ms`, leaving no timer behind (one would hold the process open). */
async function settled(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise((ok) => (timer = setTimeout(ok, ms)))])
  clearTimeout(timer)
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

function treeBytes(dir: string): { apparent: number; allocated: number } {
  let apparent = 0
  let allocated = 0
  for (const name of readdirSync(dir)) {
    let st
    try {
      st = statSync(join(dir, name))
    } catch {
      continue // removed by a merge since the listing
    }
    if (st.isDirectory()) {
      const sub = treeBytes(join(dir, name))
      apparent += sub.apparent
      allocated += sub.allocated
    } else {
      apparent += st.size
      allocated += st.blocks * 512
    }
  }
  return { apparent, allocated }
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}

/** Running is a server of this run: how to stop it (gracefully, then SIGKILL) whatever happens. */
interface Running {
  child: ChildProcess
  stop: () => Promise<void>
}
const running = new Set<Running>()
const tempDirs: string[] = []

function stopper(child: ChildProcess, signal: NodeJS.Signals): Running {
  const r: Running = {
    child,
    stop: async () => {
      running.delete(r)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((ok) => child.once('exit', ok))
      child.kill(signal)
      await settled(exited, STOP_TIMEOUT_MS)
      if (child.exitCode === null && child.signalCode === null) {
        log(`pid ${child.pid} did not stop within ${STOP_TIMEOUT_MS} ms: SIGKILL`)
        child.kill('SIGKILL')
        await settled(exited, 5_000)
      }
    },
  }
  running.add(r)
  return r
}

// The pids of processes whose command line holds `arg`: a Peregrine whose start timed out is found by
// its config file, which sits in this run's temporary directory.
function pidsWithArg(arg: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(arg)) {
        pids.push(Number(name))
      }
    } catch {
      // gone since the listing
    }
  }
  return pids
}

async function startPg(
  dir: string,
  settings: Record<string, Record<string, unknown>> = {}
): Promise<{ pg: PeregrineProcess; stop: () => Promise<void> }> {
  // COMPARE_VM_SERVER_NODE_ARGS reaches Peregrine's node only, e.g. "--cpu-prof --cpu-prof-dir=DIR".
  const nodeArgs = (process.env.COMPARE_VM_SERVER_NODE_ARGS ?? '')
    .split(' ')
    .filter((a) => a !== '')
  let pg: PeregrineProcess
  try {
    pg = await withTimeout(
      startPeregrine(dir, ['graph', 'transfer', 'api'], settings, nodeArgs),
      START_TIMEOUT_MS,
      'peregrine start'
    )
  } catch (err) {
    for (const pid of pidsWithArg(join(dir, 'peregrine.json'))) process.kill(pid, 'SIGKILL')
    throw err
  }
  return { pg, stop: stopper(pg.child, 'SIGTERM').stop }
}

interface Vm {
  pid: number
  address: string
  opentsdb: string
  data: string
  stop: () => Promise<void>
}

async function startVm(f: Flags, dir: string): Promise<Vm> {
  const address = `127.0.0.1:${await freePort()}`
  const opentsdb = `127.0.0.1:${await freePort()}`
  const data = join(dir, 'vm')
  mkdirSync(data)
  const out = openSync(join(dir, 'vm.log'), 'a')
  const child = spawn(
    f.vm,
    [
      `-httpListenAddr=${address}`,
      `-storageDataPath=${data}`,
      '-retentionPeriod=100y',
      // The dataset ends at the current minute: by default the last 30 s are not answered yet.
      '-search.latencyOffset=0s',
      // Repeated range queries would come from its result cache, not from its storage.
      '-search.disableCache',
      ...(f.opentsdb ? [`-opentsdbHTTPListenAddr=${opentsdb}`] : []),
    ],
    { stdio: ['ignore', out, out] }
  )
  closeSync(out)
  const { stop } = stopper(child, 'SIGINT')
  const started = Date.now()
  while (Date.now() - started < START_TIMEOUT_MS) {
    if (child.exitCode !== null) break
    try {
      const res = await fetch(`http://${address}/health`, { signal: AbortSignal.timeout(1_000) })
      if (res.ok) return { pid: child.pid as number, address, opentsdb, data, stop }
    } catch {
      // not up yet
    }
    await sleep(100)
  }
  const exited = child.exitCode
  await stop()
  const tail = readFileSync(join(dir, 'vm.log'), 'utf8').slice(-2000)
  throw new Error(
    exited === null
      ? `victoria-metrics did not answer /health within ${START_TIMEOUT_MS} ms:\n${tail}`
      : `victoria-metrics exited with status ${exited} before answering /health:\n${tail}`
  )
}

/** vmVersion is the Debian package's version of the binary (its own -version and metrics are empty). */
function vmVersion(path: string): string {
  const owner = spawnSync('dpkg-query', ['-S', path], { encoding: 'utf8', timeout: 10_000 })
  const pkg = /^([^:]+):/.exec(owner.stdout ?? '')?.[1]
  if (owner.status !== 0 || pkg === undefined) return 'unknown'
  const v = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], {
    encoding: 'utf8',
    timeout: 10_000,
  })
  return v.status === 0 ? `${pkg} ${v.stdout}` : 'unknown'
}

/**
 * vmAtRest waits until victoria-metrics runs no merge and its data directory's size has held still
 * for 2 s (at most DISK_SETTLE_TIMEOUT_MS), and returns that size.
 */
async function vmAtRest(vm: Vm): Promise<{ apparent: number; allocated: number }> {
  let bytes = treeBytes(vm.data)
  let still = 0
  const started = Date.now()
  while (still < 2 && Date.now() - started < DISK_SETTLE_TIMEOUT_MS) {
    await sleep(1_000)
    const text = await (
      await fetch(`http://${vm.address}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text()
    let merges = 0
    for (const m of text.matchAll(/^vm_active_merges\{[^}]*\} (\d+)$/gm)) merges += Number(m[1])
    const now = treeBytes(vm.data)
    still = merges === 0 && now.apparent === bytes.apparent ? still + 1 : 0
    bytes = now
  }
  if (still < 2) {
    log(
      `WARNING victoria-metrics still merged after ${DISK_SETTLE_TIMEOUT_MS} ms: size taken as is`
    )
  }
  return bytes
}

/**
 * vmCountedBack counts the points of the hosts named `prefix…` victoria-metrics answers for until
 * they are the dataset's, for at most DISK_SETTLE_TIMEOUT_MS, and warns if they never are.
 */
async function vmCountedBack(vm: Vm, way: string, prefix: string, f: Flags, lastT: number) {
  const total = f.series * f.points
  const q = `sum(count_over_time({endpoint=~"${prefix}.*"}[${f.points}m]))`
  const url = `http://${vm.address}/api/v1/query?query=${encodeURIComponent(q)}&time=${lastT}`
  const started = Date.now()
  let stored: number
  for (;;) {
    const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    const body = (await res.json()) as { data: { result: { value: [number, string] }[] } }
    stored = Number(body.data.result[0]?.value[1] ?? 0)
    if (stored === total || Date.now() - started > DISK_SETTLE_TIMEOUT_MS) break
    await sleep(200)
  }
  if (stored !== total) log(`WARNING victoria-metrics ${way}: ${stored} of ${total} points stored`)
  else if (Date.now() - started > 100) {
    log(
      `victoria-metrics ${way}: every point searchable ${Date.now() - started} ms after the flush`
    )
  }
}

/** Labels of each series of the dataset, as both servers show them to PromQL. */
function seriesLabels(data: Dataset, prefix: string): Record<string, string>[] {
  return data.descs.map((d) => {
    const labels: Record<string, string> = {
      __name__: d.metric,
      endpoint: prefix + d.endpoint,
    }
    for (const kv of d.tags === '' ? [] : d.tags.split(',')) {
      const eq = kv.indexOf('=')
      labels[kv.slice(0, eq)] = kv.slice(eq + 1)
    }
    return labels
  })
}

/** Body is one request, encoded once before the timed phase, and the points it holds. */
interface Body {
  bytes: Uint8Array<ArrayBuffer>
  n: number
}

const UTF8 = new TextEncoder()

type Format = 'falcon' | 'vm-import' | 'opentsdb'

/**
 * bodies encodes the dataset in time order (every series' point of a minute, then the next minute),
 * `batch` points a request, one JSON object a point in each format: falcon's MetricValue array for
 * /api/push, JSON lines for VictoriaMetrics' /api/v1/import, OpenTSDB's /api/put array. With
 * `perLine` > 1 (the import only) a line holds that many minutes of one series, in windows of as many
 * minutes, and a request at least `batch` points. `prefix` goes before every host name. Built before
 * the timed phase, so the clients only send (they share the two cores).
 */
function bodies(
  format: Format,
  data: Dataset,
  values: Float64Array[],
  firstT: number,
  batch: number,
  prefix = '',
  perLine = 1
): Body[] {
  if (perLine > 1 && format !== 'vm-import') throw new Error(`BUG: ${format} has one point a line`)
  const labels = seriesLabels(data, prefix)
  const heads = data.descs.map((d, s) => {
    switch (format) {
      case 'falcon':
        return (
          `{"endpoint":${JSON.stringify(prefix + d.endpoint)},"metric":${JSON.stringify(d.metric)},` +
          `"step":${STEP},"counterType":"${d.dstype === 'DERIVE' ? 'COUNTER' : 'GAUGE'}",` +
          `"tags":${JSON.stringify(d.tags)},"value":`
        )
      case 'vm-import':
        return `{"metric":${JSON.stringify(labels[s])},"values":[`
      case 'opentsdb': {
        const { __name__: metric, ...tags } = labels[s]
        return `{"metric":${JSON.stringify(metric)},"tags":${JSON.stringify(tags)},"value":`
      }
    }
  })
  // One item: series s from minute i0 to i1 (excluded); one minute but for the import's columns.
  const item = (s: number, i0: number, i1: number): string => {
    const t = firstT + i0 * STEP
    switch (format) {
      case 'falcon':
      case 'opentsdb':
        return `${heads[s]}${values[i0][s]},"timestamp":${t}}`
      case 'vm-import': {
        let vs = String(values[i0][s])
        let ts = String(t * 1000)
        for (let i = i0 + 1; i < i1; i++) {
          vs += ',' + values[i][s]
          ts += ',' + (firstT + i * STEP) * 1000
        }
        return `${heads[s]}${vs}],"timestamps":[${ts}]}`
      }
    }
  }
  const [open, sep, close] = format === 'vm-import' ? ['', '\n', '\n'] : ['[', ',', ']']
  const out: Body[] = []
  let parts: string[] = []
  let n = 0
  for (let i0 = 0; i0 < values.length; i0 += perLine) {
    const i1 = Math.min(values.length, i0 + perLine)
    for (let s = 0; s < data.n; s++) {
      parts.push(item(s, i0, i1))
      n += i1 - i0
      if (n >= batch) {
        out.push({ bytes: UTF8.encode(open + parts.join(sep) + close), n })
        parts = []
        n = 0
      }
    }
  }
  if (n > 0) out.push({ bytes: UTF8.encode(open + parts.join(sep) + close), n })
  return out
}

/** datasetValues is every minute's values of every series, generated once for all the phases. */
function datasetValues(series: number, points: number): { data: Dataset; values: Float64Array[] } {
  const data = new Dataset(series, 0x5eed1234)
  const values: Float64Array[] = []
  for (let i = 0; i < points; i++) {
    const v = new Float64Array(series)
    data.next(v)
    values.push(v)
  }
  return { data, values }
}

/**
 * push sends the bodies, `clients` at a time each taking the next, and returns points per second
 * acknowledged and the server tree's CPU seconds over the phase. `ack` reads an answer and returns the
 * points it acknowledges (or throws).
 */
async function push(
  name: string,
  url: string,
  contentType: string,
  all: Body[],
  clients: number,
  pid: number,
  ack: (res: Answer, body: Body) => number
): Promise<{ rate: number; cpu: number; acked: number }> {
  const total = all.reduce((a, b) => a + b.n, 0)
  const load = new HttpLoad(clients, REQUEST_TIMEOUT_MS)
  const target = new URL(url)
  let next = 0
  let done = 0
  let acked = 0
  let report = 0.1
  const cpuBefore = treeCpuSeconds(pid)
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < all.length) {
        const body = all[next++]
        const res = await load.post(target, body.bytes, { 'content-type': contentType })
        acked += ack(res, body)
        done += body.n
        if (done >= report * total) {
          report += 0.1
          log(
            `${name}: ${(done / 1e6).toFixed(2)}M/${(total / 1e6).toFixed(2)}M points, ${Math.round(done / ((performance.now() - started) / 1000))} points/s`
          )
        }
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  load.close()
  return { rate: acked / seconds, cpu: treeCpuSeconds(pid) - cpuBefore, acked }
}

function falconAck(res: Answer, body: Body): number {
  if (res.status !== 200) throw new Error(`/api/push answered ${res.status}: ${res.text}`)
  const answer = JSON.parse(res.text) as { data: { Total: number; Invalid: number } }
  if (answer.data.Total !== body.n) {
    throw new Error(`/api/push counted ${answer.data.Total} of ${body.n} points`)
  }
  return answer.data.Total - answer.data.Invalid
}

function vmAck(res: Answer, body: Body): number {
  const text = res.text
  if (res.status !== 204 && res.status !== 200) {
    throw new Error(`victoria-metrics answered ${res.status}: ${text.slice(0, 300)}`)
  }
  return body.n
}

/** Query is one PromQL range query both servers answer the same way, over the whole dataset. */
interface Query {
  name: string
  query: string
  step: number
}

const QUERIES: Query[] = [
  // One series of one host over the whole range at its own resolution.
  { name: 'one_series', query: '{__name__="cpu.idle",endpoint="host-0000"}', step: 60 },
  // Every series summed per host: every sample of the dataset is read.
  { name: 'sum_by_host', query: 'sum by (endpoint) ({endpoint=~"host-.*"})', step: 300 },
  // One counter of every host and interface as a per-second rate, summed. irate, not rate:
  // VictoriaMetrics' rate does not extrapolate to the window's ends as Prometheus' does, so their
  // rates differ by design. One metric: rate drops the name, and two metrics with the same tags would
  // then be the same series, which Prometheus 2 (and Peregrine) refuse.
  {
    name: 'sum_irate',
    query: 'sum(irate({__name__="net.if.in.bytes"}[5m]))',
    step: 60,
  },
]

type Matrix = { metric: Record<string, string>; values: [number, string][] }[]

interface QueryFigures {
  p50: number
  p99: number
  answer: Matrix
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

/** runQueries sends each query 3 times to warm up, then `runs` times, one at a time. */
async function runQueries(
  name: string,
  base: string,
  headers: Record<string, string>,
  f: Flags,
  firstT: number,
  lastT: number
): Promise<Record<string, QueryFigures>> {
  const out: Record<string, QueryFigures> = {}
  for (const q of QUERIES) {
    // Both ends on the step's grid: VictoriaMetrics moves a range's start onto it.
    const start = Math.ceil(firstT / q.step) * q.step
    const end = Math.floor(lastT / q.step) * q.step
    const url =
      `${base}/api/v1/query_range?query=${encodeURIComponent(q.query)}` +
      `&start=${start}&end=${end}&step=${q.step}`
    const times: number[] = []
    let answer: Matrix = []
    for (let r = 0; r < 3 + f.runs; r++) {
      const started = performance.now()
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      const text = await res.text()
      const elapsed = performance.now() - started
      if (res.status !== 200) {
        throw new Error(`${name} ${q.name}: ${res.status} ${text.slice(0, 300)}`)
      }
      if (r >= 3) times.push(elapsed)
      if (r === 2 + f.runs) {
        answer = (JSON.parse(text) as { data: { result: Matrix } }).data.result
        if (answer.length === 0) throw new Error(`${name} ${q.name}: no series in the answer`)
      }
    }
    times.sort((a, b) => a - b)
    out[q.name] = { p50: percentile(times, 0.5), p99: percentile(times, 0.99), answer }
    log(
      `${name} ${q.name}: p50 ${percentile(times, 0.5).toFixed(2)} ms, p99 ${percentile(times, 0.99).toFixed(2)} ms, ${answer.length} series`
    )
  }
  return out
}

/** disagreement says how two answers differ beyond REL_TOLERANCE, or returns null if they agree. */
function disagreement(a: Matrix, b: Matrix): string | null {
  const key = (m: Record<string, string>) =>
    JSON.stringify(Object.entries(m).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
  const bs = new Map(b.map((s) => [key(s.metric), s.values]))
  if (a.length !== b.length) return `${a.length} series against ${b.length}`
  let worst = 0
  for (const s of a) {
    const other = bs.get(key(s.metric))
    if (other === undefined) return `series ${key(s.metric)} only in Peregrine's answer`
    if (other.length !== s.values.length) {
      return `${key(s.metric)}: ${s.values.length} points against ${other.length}`
    }
    for (let i = 0; i < s.values.length; i++) {
      const [t, v] = s.values[i]
      const [u, w] = other[i]
      if (t !== u) return `${key(s.metric)}: point ${i} at ${t} against ${u}`
      const x = Number(v)
      const y = Number(w)
      if (x === y) continue
      const rel = Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y))
      if (!(rel <= REL_TOLERANCE)) return `${key(s.metric)} at ${t}: ${v} against ${w}`
      worst = Math.max(worst, rel)
    }
  }
  if (worst > 0) log(`answers agree within a relative ${worst.toExponential(1)}`)
  return null
}

/** Figures is what one server measured. */
interface Figures {
  points_per_s: number
  cpu_s_per_m_points: number
  rss_base_mb: number
  rss_after_ingest_mb: number
  rss_after_queries_mb: number
  rss_peak_mb: number
  bytes_per_sample: number
  disk_bytes_per_sample: number
  /** Peregrine only: after the clean stop, before compaction (bench:ingest's figure). */
  bytes_per_sample_flushed: number | null
  queries: Record<string, QueryFigures>
  kb_per_extra_series: number | null
  opentsdb_points_per_s?: number
  opentsdb_cpu_s_per_m_points?: number
  columnar_points_per_s?: number
  columnar_cpu_s_per_m_points?: number
}

function mb(pid: number): number {
  return memoryMb(pid)
}

/**
 * extraSeries starts a fresh server with `start`, pushes `f.extraSeries` new series of EXTRA_POINTS
 * points each and returns its RSS growth per series in KB (null when --extra-series is 0).
 */
async function extraSeries(
  name: string,
  f: Flags,
  lastT: number,
  start: () => Promise<{ pid: number; url: string; stop: () => Promise<void> }>,
  format: Format,
  contentType: string,
  ack: (res: Answer, body: Body) => number
): Promise<number | null> {
  if (f.extraSeries === 0) return null
  const { data, values } = datasetValues(f.extraSeries, EXTRA_POINTS)
  const all = bodies(format, data, values, lastT - (EXTRA_POINTS - 1) * STEP, f.batch)
  const server = await start()
  try {
    await sleep(2_000) // what it allocates at start is done by then
    const before = mb(server.pid)
    await push(`${name} extra`, server.url, contentType, all, f.clients, server.pid, ack)
    await sleep(2_000) // its buffers of recent points written out
    const after = mb(server.pid)
    const kb = ((after - before) * 1024) / f.extraSeries
    log(
      `${name}: ${f.extraSeries} series × ${EXTRA_POINTS} points on a fresh start, RSS ${Math.round(before)} → ${Math.round(after)} MB, ${kb.toFixed(2)} KB a series`
    )
    return kb
  } finally {
    await server.stop()
  }
}

async function runPeregrine(
  f: Flags,
  root: string,
  main: { data: Dataset; values: Float64Array[] },
  firstT: number,
  lastT: number
): Promise<Figures> {
  const total = f.series * f.points
  const all = bodies('falcon', main.data, main.values, firstT, f.batch)
  log(`peregrine: ${all.length} pushes encoded; starting graph, transfer and api`)
  const dir = join(root, 'peregrine')
  mkdirSync(dir)
  const { pg, stop } = await startPg(dir)
  const pid = pg.child.pid as number
  let fig: Figures
  try {
    const token = await loginRoot(pg.addresses.api.http)
    const rssBase = mb(pid)
    const url = `http://${pg.addresses.transfer.http}/api/push`
    const pushed = await push('peregrine', url, 'application/json', all, f.clients, pid, falconAck)
    const rssIngest = mb(pid)
    const c = (await (
      await fetch(`http://${pg.addresses.graph.http}/counter/all`, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
    ).json()) as { data: { tsdb: { appended: number; outOfOrderInserted: number } } }
    const stored = c.data.tsdb.appended + c.data.tsdb.outOfOrderInserted
    if (stored !== total || pushed.acked !== total) {
      log(`WARNING peregrine acknowledged ${pushed.acked} and stored ${stored} of ${total} points`)
    }
    const queries = await runQueries(
      'peregrine',
      `http://${pg.addresses.api.http}`,
      { Apitoken: token },
      f,
      firstT,
      lastT
    )
    const rssQueries = mb(pid)
    const peak = memoryMb(pid, 'VmHWM')
    // A clean stop writes the head out as blocks: what is on disk then is what the points cost.
    await stop()
    const flushed = treeBytes(join(dir, 'data', 'graph'))
    // Then what its background maintenance does within a minute: the flushed blocks compacted.
    const db = Db.open({ dir: join(dir, 'data', 'graph'), maintenanceInterval: 0 })
    await db.compact()
    await db.close()
    const bytes = treeBytes(join(dir, 'data', 'graph'))
    fig = {
      points_per_s: pushed.rate,
      cpu_s_per_m_points: pushed.cpu / (total / 1e6),
      rss_base_mb: rssBase,
      rss_after_ingest_mb: rssIngest,
      rss_after_queries_mb: rssQueries,
      rss_peak_mb: peak,
      bytes_per_sample: bytes.apparent / total,
      disk_bytes_per_sample: bytes.allocated / total,
      bytes_per_sample_flushed: flushed.apparent / total,
      queries,
      kb_per_extra_series: null,
    }
  } finally {
    await stop()
  }
  log(
    `peregrine: ${Math.round(fig.points_per_s)} points/s, ${fig.cpu_s_per_m_points.toFixed(2)} CPU-s per million, RSS ${Math.round(fig.rss_after_ingest_mb)} MB after ingest, ${Math.round(fig.rss_after_queries_mb)} after queries, ${fig.bytes_per_sample.toFixed(3)} bytes per sample at rest`
  )
  fig.kb_per_extra_series = await extraSeries(
    'peregrine',
    f,
    lastT,
    async () => {
      const extraDir = join(root, 'peregrine-extra')
      mkdirSync(extraDir)
      const { pg: x, stop: xstop } = await startPg(extraDir, {
        // More series than `auto` allows at once on a default heap may be asked for.
        graph: { maxSeries: Math.ceil(f.extraSeries * 1.2) + 10_000, maxNewSeriesPerHour: 0 },
      })
      return {
        pid: x.child.pid as number,
        url: `http://${x.addresses.transfer.http}/api/push`,
        stop: xstop,
      }
    },
    'falcon',
    'application/json',
    falconAck
  )
  return fig
}

async function runVm(
  f: Flags,
  root: string,
  main: { data: Dataset; values: Float64Array[] },
  firstT: number,
  lastT: number
): Promise<Figures> {
  const total = f.series * f.points
  const all = bodies('vm-import', main.data, main.values, firstT, f.batch)
  log(`victoria-metrics: ${all.length} imports encoded; starting ${f.vm}`)
  const dir = join(root, 'vm-main')
  mkdirSync(dir)
  const vm = await startVm(f, dir)
  let fig: Figures
  try {
    const rssBase = mb(vm.pid)
    const url = `http://${vm.address}/api/v1/import`
    const pushed = await push(
      'victoria-metrics',
      url,
      'application/json',
      all,
      f.clients,
      vm.pid,
      vmAck
    )
    const rssIngest = mb(vm.pid)
    // What it buffers in memory becomes searchable (and goes to disk) at once.
    const flush = async () => {
      const res = await fetch(`http://${vm.address}/internal/force_flush`, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      await res.text()
      if (!res.ok) throw new Error(`/internal/force_flush answered ${res.status}`)
    }
    await flush()
    // A flush's parts become searchable a moment after it answers: queries wait for every point.
    await vmCountedBack(vm, 'import', 'host-', f, lastT)
    const queries = await runQueries(
      'victoria-metrics',
      `http://${vm.address}`,
      {},
      f,
      firstT,
      lastT
    )
    const rssQueries = mb(vm.pid)
    const peak = memoryMb(vm.pid, 'VmHWM')
    // Flushed, then every partition merged: after a flush alone its data path held no data part
    // here (only its index), so only a merge puts all of it on disk while it runs.
    await flush()
    const get = await fetch(`http://${vm.address}/internal/force_merge`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    await get.text()
    if (!get.ok) throw new Error(`/internal/force_merge answered ${get.status}`)
    const bytes = await vmAtRest(vm)
    fig = {
      points_per_s: pushed.rate,
      cpu_s_per_m_points: pushed.cpu / (total / 1e6),
      rss_base_mb: rssBase,
      rss_after_ingest_mb: rssIngest,
      rss_after_queries_mb: rssQueries,
      rss_peak_mb: peak,
      bytes_per_sample: bytes.apparent / total,
      disk_bytes_per_sample: bytes.allocated / total,
      bytes_per_sample_flushed: null,
      queries,
      kb_per_extra_series: null,
    }
    log(
      `victoria-metrics: ${Math.round(fig.points_per_s)} points/s, ${fig.cpu_s_per_m_points.toFixed(2)} CPU-s per million, RSS ${Math.round(fig.rss_after_ingest_mb)} MB after ingest, ${Math.round(fig.rss_after_queries_mb)} after queries, ${fig.bytes_per_sample.toFixed(3)} bytes per sample at rest`
    )
    if (f.opentsdb) {
      // Its falcon-like path: OpenTSDB's /api/put, a JSON array of one object a point with the
      // tags beside metric, value and timestamp. Measured after everything else, hosts renamed.
      const put = bodies('opentsdb', main.data, main.values, firstT, f.batch, 'o-')
      const o = await push(
        'victoria-metrics opentsdb',
        `http://${vm.opentsdb}/api/put`,
        'application/json',
        put,
        f.clients,
        vm.pid,
        vmAck
      )
      fig.opentsdb_points_per_s = o.rate
      fig.opentsdb_cpu_s_per_m_points = o.cpu / (total / 1e6)
      log(
        `victoria-metrics opentsdb: ${Math.round(o.rate)} points/s, ${fig.opentsdb_cpu_s_per_m_points.toFixed(2)} CPU-s per million`
      )
    }
    if (f.valuesPerLine > 0) {
      // Its import as its own tools write it (vmctl, /api/v1/export): many values of a series a
      // line. Measured last, hosts renamed.
      const lines = bodies(
        'vm-import',
        main.data,
        main.values,
        firstT,
        f.batch,
        'c-',
        f.valuesPerLine
      )
      const c = await push(
        'victoria-metrics columnar import',
        `http://${vm.address}/api/v1/import`,
        'application/json',
        lines,
        f.clients,
        vm.pid,
        vmAck
      )
      fig.columnar_points_per_s = c.rate
      fig.columnar_cpu_s_per_m_points = c.cpu / (total / 1e6)
      log(
        `victoria-metrics columnar import (${f.valuesPerLine} values a line): ${Math.round(c.rate)} points/s, ${fig.columnar_cpu_s_per_m_points.toFixed(2)} CPU-s per million`
      )
    }
    // The other ways in kept every point they acknowledged too.
    await flush()
    if (f.opentsdb) await vmCountedBack(vm, 'opentsdb', 'o-host-', f, lastT)
    if (f.valuesPerLine > 0) await vmCountedBack(vm, 'columnar import', 'c-host-', f, lastT)
  } finally {
    await vm.stop()
  }
  fig.kb_per_extra_series = await extraSeries(
    'victoria-metrics',
    f,
    lastT,
    async () => {
      const extraDir = join(root, 'vm-extra')
      mkdirSync(extraDir)
      const x = await startVm({ ...f, opentsdb: false }, extraDir)
      return { pid: x.pid, url: `http://${x.address}/api/v1/import`, stop: x.stop }
    },
    'vm-import',
    'application/json',
    vmAck
  )
  return fig
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits

async function main(): Promise<void> {
  const f = flags()
  const root = mkdtempSync(join(tmpdir(), 'pg-compare-vm-'))
  tempDirs.push(root)
  const total = f.series * f.points
  const firstT = Math.floor(Date.now() / 1000 / STEP) * STEP - (f.points - 1) * STEP
  const lastT = firstT + (f.points - 1) * STEP
  const load = loadavg()
  log(
    `${f.series} series × ${f.points} points = ${(total / 1e6).toFixed(2)}M points, ${f.clients} clients, batches of ${f.batch}, load average ${load.map((l) => l.toFixed(2)).join(' ')}, dir ${root}`
  )
  const main = datasetValues(f.series, f.points)
  const pg = await runPeregrine(f, root, main, firstT, lastT)
  const vm = await runVm(f, root, main, firstT, lastT)

  let warnings = 0
  for (const q of QUERIES) {
    const why = disagreement(pg.queries[q.name].answer, vm.queries[q.name].answer)
    if (why !== null) {
      warnings++
      log(`WARNING ${q.name} (${q.query}): the answers differ: ${why}`)
    }
  }
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a == null || b == null || b === 0 ? null : round(a / b, 2)
  const out: Record<string, unknown> = { bench: 'compare_vm' }
  const add = (field: string, p: number | null, v: number | null, digits: number) => {
    out[`pg_${field}`] = p === null ? null : round(p, digits)
    out[`vm_${field}`] = v === null ? null : round(v, digits)
    out[`ratio_${field}`] = ratio(p, v)
  }
  add('points_per_s', pg.points_per_s, vm.points_per_s, 0)
  add('cpu_s_per_m_points', pg.cpu_s_per_m_points, vm.cpu_s_per_m_points, 2)
  add('rss_after_ingest_mb', pg.rss_after_ingest_mb, vm.rss_after_ingest_mb, 0)
  add('rss_after_queries_mb', pg.rss_after_queries_mb, vm.rss_after_queries_mb, 0)
  add('rss_peak_mb', pg.rss_peak_mb, vm.rss_peak_mb, 0)
  add(
    'rss_kb_per_series',
    ((pg.rss_after_ingest_mb - pg.rss_base_mb) * 1024) / f.series,
    ((vm.rss_after_ingest_mb - vm.rss_base_mb) * 1024) / f.series,
    2
  )
  add('kb_per_extra_series', pg.kb_per_extra_series, vm.kb_per_extra_series, 2)
  add('bytes_per_sample', pg.bytes_per_sample, vm.bytes_per_sample, 3)
  add('disk_bytes_per_sample', pg.disk_bytes_per_sample, vm.disk_bytes_per_sample, 3)
  out.pg_bytes_per_sample_flushed = round(pg.bytes_per_sample_flushed ?? 0, 3)
  for (const q of QUERIES) {
    add(`${q.name}_p50_ms`, pg.queries[q.name].p50, vm.queries[q.name].p50, 2)
    add(`${q.name}_p99_ms`, pg.queries[q.name].p99, vm.queries[q.name].p99, 2)
  }
  if (vm.opentsdb_points_per_s !== undefined) {
    out.vm_opentsdb_points_per_s = round(vm.opentsdb_points_per_s, 0)
    out.vm_opentsdb_cpu_s_per_m_points = round(vm.opentsdb_cpu_s_per_m_points ?? 0, 2)
    out.ratio_points_per_s_to_opentsdb = ratio(pg.points_per_s, vm.opentsdb_points_per_s)
  }
  if (vm.columnar_points_per_s !== undefined) {
    out.vm_columnar_points_per_s = round(vm.columnar_points_per_s, 0)
    out.vm_columnar_cpu_s_per_m_points = round(vm.columnar_cpu_s_per_m_points ?? 0, 2)
    out.ratio_points_per_s_to_columnar = ratio(pg.points_per_s, vm.columnar_points_per_s)
    out.ratio_cpu_s_per_m_points_to_columnar = ratio(
      pg.cpu_s_per_m_points,
      vm.columnar_cpu_s_per_m_points
    )
    out.vm_values_per_line = f.valuesPerLine
  }
  Object.assign(out, {
    answers_differ: warnings,
    series: f.series,
    points: total,
    extra_series: f.extraSeries,
    clients: f.clients,
    batch: f.batch,
    runs: f.runs,
    loadavg_1m: [round(load[0], 2), round(loadavg()[0], 2)],
    vm_version: vmVersion(f.vm),
    node: process.version,
  })
  console.log(JSON.stringify(out))
}

/** cleanup stops every server still running and removes the temporary directories. */
async function cleanup(keep: boolean): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()))
  for (const dir of tempDirs) {
    if (keep) log(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

const keep = process.argv.includes('--keep')
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the servers`)
    void cleanup(keep).finally(() => process.exit(130))
  })
}
main()
  .then(() => cleanup(keep))
  .catch(async (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`)
    await cleanup(keep)
    process.exit(1)
  })
