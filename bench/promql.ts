// Benchmark of the PromQL engine over the tsdb: a day of 10,000 series in blocks, five range queries timed.
//
// Usage: node dist/bench/promql.js [--runs N] [--dir DIR] [--keep] [--via db|graph]. Progress goes to
// stderr; the last stdout line is one JSON object (see bench/README.md). The data is written by a child
// process (`--load DIR`), so the process that queries has opened the database from its blocks, as after a
// restart. `--via graph` asks a graph node started on the data in this process, through the api's
// GraphQuerier and the all-in-one's in-process dial: the path a Grafana query takes in the all-in-one.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Engine } from '../src/promql/index.js'
import { GraphCluster } from '../src/cluster/index.js'
import { GraphQuerier } from '../src/api/graph-querier.js'
import { resolveConfigs } from '../src/cli/config.js'
import { startAll, stopAll, withDial } from '../src/cli/run-all.js'
import { silentLogger } from '../src/core/index.js'
import { Db, type Querier, type SeriesDesc } from '../src/tsdb/index.js'
import { runAll, tally } from '../src/promql/promqltest/conformance.js'
import { XorShift32 } from './dataset.js'

const HOSTS = 250
const METRICS_PER_KIND = 10
const KINDS = ['gauge', 'counter', 'constant', 'percent'] as const
const POINTS = 1440
const STEP_MS = 60_000
const USAGE = 'usage: node dist/bench/promql.js [--runs N] [--dir DIR] [--keep] [--via db|graph]'

function log(message: string): void {
  process.stderr.write(`promql bench: ${message}\n`)
}

/** metricOf names metric m (0..9) of a kind as a falcon agent would: dotted. */
const metricOf = (kind: string, m: number): string => `bench.${kind}.${m}`

/** NOW is the end of the day of data, on a minute, fixed per run. */
function nowOf(arg: string | undefined): number {
  return arg !== undefined ? Number(arg) : Math.floor(Date.now() / STEP_MS) * STEP_MS
}

// The write phase, run in a child process: every series' day of points, then flush and close.
async function load(dir: string, now: number): Promise<void> {
  const firstT = now - (POINTS - 1) * STEP_MS
  const db = Db.open({ dir, walSync: 'write', maintenanceInterval: 0, now: () => now })
  const descs: SeriesDesc[] = []
  const value: number[] = []
  const rng = new XorShift32(0x9e3779b9)
  for (const kind of KINDS) {
    for (let m = 0; m < METRICS_PER_KIND; m++) {
      for (let h = 0; h < HOSTS; h++) {
        descs.push({
          endpoint: `host-${String(h).padStart(3, '0')}`,
          metric: metricOf(kind, m),
          tags: `kind=${kind}`,
          dstype: kind === 'counter' ? 'DERIVE' : 'GAUGE',
          step: 60,
        })
        value.push(
          kind === 'counter'
            ? rng.int(1e9)
            : kind === 'constant'
              ? 1 + rng.int(64) * 1024
              : rng.next() * 100
        )
      }
    }
  }
  const app = db.appender()
  const refs = new Float64Array(descs.length)
  for (let i = 0; i < POINTS; i++) {
    const t = firstT + i * STEP_MS
    for (let s = 0; s < descs.length; s++) {
      const kind = descs[s].tags.slice(5)
      let v = value[s]
      if (kind === 'gauge') v += (rng.next() - 0.5) * 10
      else if (kind === 'counter') v += rng.int(5000)
      else if (kind === 'percent')
        v = Math.round(Math.min(100, Math.max(0, v + (rng.next() - 0.5) * 4)) * 100) / 100
      value[s] = v
      refs[s] = app.append(refs[s], refs[s] === 0 ? descs[s] : null, t, v)
    }
    await app.commit()
    if ((i + 1) % 288 === 0)
      log(`wrote ${Math.round(((i + 1) * 100) / POINTS)}% (${(i + 1) * descs.length} points)`)
  }
  await db.flush()
  await db.close()
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function main(): Promise<void> {
  let values
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        runs: { type: 'string' },
        dir: { type: 'string' },
        keep: { type: 'boolean' },
        load: { type: 'string' },
        now: { type: 'string' },
        via: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`promql bench: ${(err as Error).message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (values.load !== undefined) return load(values.load, nowOf(values.now))
  const runs = values.runs === undefined ? 30 : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1 || runs > 10_000) {
    process.stderr.write(
      `promql bench: --runs must be an integer from 1 to 10000, got ${values.runs}\n${USAGE}\n`
    )
    process.exit(2)
  }
  const via = values.via ?? 'db'
  if (via !== 'db' && via !== 'graph') {
    process.stderr.write(`promql bench: --via must be db or graph, got ${via}\n${USAGE}\n`)
    process.exit(2)
  }
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'pg-bench-promql-'))
  const now = nowOf(undefined)
  const firstT = now - (POINTS - 1) * STEP_MS
  log(
    `writing ${HOSTS * METRICS_PER_KIND * KINDS.length} series × ${POINTS} points into ${dir} (child process)`
  )
  const started = performance.now()
  const child = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--load', dir, '--now', String(now)],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    }
  )
  if (child.status !== 0) throw new Error(`the load phase failed (exit ${child.status}); see above`)
  log(`loaded in ${((performance.now() - started) / 1000).toFixed(1)} s; reopening from blocks`)

  const reader = await openReader(via, dir, now)
  try {
    const querier = reader.querier
    const engine = new Engine()
    const day = { start: firstT, end: now }
    const queries = [
      {
        name: 'one_series',
        expr: '{"bench.gauge.3", endpoint="host-042"}',
        step: 60_000,
        series: 1,
        points: POINTS,
      },
      { name: 'sum_250', expr: 'sum({"bench.gauge.3"})', step: 300_000, series: 1, points: 288 },
      {
        name: 'sum_rate_250',
        expr: 'sum(rate({"bench.counter.3"}[5m]))',
        step: 60_000,
        series: 1,
        points: POINTS - 1,
      },
      {
        name: 'sum_by_kind_10000',
        expr: 'sum by (kind) ({kind=~".+"})',
        step: 300_000,
        series: 4,
        points: 288,
      },
    ]
    const figures: Record<string, number> = {}
    for (const q of queries) {
      const times: number[] = []
      let first = 0
      for (let r = 0; r < runs + 3; r++) {
        const t0 = performance.now()
        const res = await engine.rangeQuery(querier, q.expr, day.start, day.end, q.step)
        const ms = performance.now() - t0
        if (r === 0) first = ms
        if (r < 3) {
          // Warm-up runs also check the answer's shape: a query that answers wrong is not timed.
          if (res.value.resultType !== 'matrix')
            throw new Error(`${q.name}: resultType ${res.value.resultType}`)
          const n = res.value.series.length
          const pts = n === 0 ? 0 : res.value.series[0].ts.length
          if (n !== q.series || Math.abs(pts - q.points) > 2)
            throw new Error(
              `${q.name}: ${n} series of ${pts} points, expected ${q.series} of about ${q.points}`
            )
          continue
        }
        times.push(ms)
      }
      times.sort((a, b) => a - b)
      figures[`${q.name}_p50_ms`] = Number(percentile(times, 0.5).toFixed(2))
      figures[`${q.name}_p99_ms`] = Number(percentile(times, 0.99).toFixed(2))
      // The first run reads every chunk (no step-grid cache yet for its step): the figure a query
      // at a new step, or the first after a restart, costs.
      figures[`${q.name}_first_ms`] = Number(first.toFixed(2))
      log(
        `${q.name}: p50 ${figures[`${q.name}_p50_ms`]} ms, p99 ${figures[`${q.name}_p99_ms`]} ms (${runs} runs), first run ${figures[`${q.name}_first_ms`]} ms — ${q.expr}`
      )
    }
    const rssMb = Math.round(process.memoryUsage.rss() / 2 ** 20)
    const mem = process.memoryUsage()
    const mb = (b: number): number => Math.round(b / 2 ** 20)
    log(
      `memory after the queries: RSS ${rssMb} MiB, JS heap ${mb(mem.heapUsed)} of ${mb(mem.heapTotal)} MiB, array buffers ${mb(mem.arrayBuffers)} MiB`
    )
    const caches = reader.db?.stats().caches
    if (caches !== undefined) {
      log(
        `caches after the queries: block pages ${Math.round(caches.block.bytes / 2 ** 20)} MiB, step-grid ${Math.round(caches.grid.bytes / 2 ** 20)} MiB (${caches.grid.hits} series read from it, ${caches.grid.misses} from chunks)`
      )
    }
    const conformance = await conformanceRate()
    process.stdout.write(
      JSON.stringify({
        bench: 'promql',
        via,
        series: HOSTS * METRICS_PER_KIND * KINDS.length,
        points_per_series: POINTS,
        runs,
        ...figures,
        rss_mb_after_queries: rssMb,
        ...conformance,
      }) + '\n'
    )
  } finally {
    await reader.close()
    if (values.keep !== true && values.dir === undefined)
      rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * openReader opens the data for querying: the database itself (`db`), or a graph node started on it in
 * this process and asked through the api's GraphQuerier over the all-in-one's in-process dial (`graph`).
 */
async function openReader(
  via: 'db' | 'graph',
  dir: string,
  now: number
): Promise<{ querier: Querier; db?: Db; close: () => Promise<void> }> {
  if (via === 'db') {
    const db = Db.open({ dir, walSync: 'write', maintenanceInterval: 0, now: () => now })
    return { querier: db.querier(), db, close: () => db.close({ flush: false }) }
  }
  const deps = { log: silentLogger, now: () => now }
  // Maintenance (flush, compaction) once an hour: not during the bench.
  const configs = await resolveConfigs(
    {
      graph: {
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        dataDir: dir,
        walSync: 'write',
        maintenanceInterval: 3_600_000,
      },
    },
    ['graph'],
    dir
  )
  const services = await startAll(configs, deps)
  const { dial } = withDial(deps, services)
  const cluster = new GraphCluster({ 'graph-00': services[0].addresses.rpc }, 500, 60_000, dial)
  return {
    querier: new GraphQuerier(cluster),
    close: async () => {
      cluster.close()
      await stopAll(services, deps)
    },
  }
}

/** conformanceRate runs Prometheus's test scripts (src/promql/promqltest) and gives the share passing. */
async function conformanceRate(): Promise<Record<string, number>> {
  const t = tally(await runAll())
  return {
    conformance_evals: t.evals,
    conformance_passed: t.passed,
    conformance_pass_rate: Number((t.passed / t.evals).toFixed(4)),
  }
}

await main()
