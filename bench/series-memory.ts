// Memory per active series of the all-in-one: N series, each with P points a minute apart, pushed over
// HTTP to a fresh server; its resident set before and after, per series.
//
// Usage: node dist/bench/series-memory.js [--series N] [--points N] [--components LIST] [--snapshot]
//        [--parse-workers auto|N]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startPeregrine } from '../test/support/peregrine-process.js'
import { memoryMb } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`series-memory bench: ${message}\n`)
}

function fail(message: string): never {
  log(message)
  process.exit(2)
}

const { values } = parseArgs({
  options: {
    series: { type: 'string', default: '200000' },
    points: { type: 'string', default: '60' },
    components: { type: 'string', default: 'graph,transfer,api' },
    snapshot: { type: 'boolean', default: false },
    'parse-workers': { type: 'string', default: 'auto' },
  },
})
const series = Number(values.series)
const points = Number(values.points)
if (!Number.isInteger(series) || series < 1000 || series > 2_000_000)
  fail(`--series must be an integer from 1000 to 2000000, got ${values.series}`)
if (!Number.isInteger(points) || points < 1 || points > 240)
  fail(`--points must be an integer from 1 to 240 (one open chunk), got ${values.points}`)
const parseWorkers = values['parse-workers'] === 'auto' ? 'auto' : Number(values['parse-workers'])
if (
  parseWorkers !== 'auto' &&
  !(Number.isInteger(parseWorkers) && parseWorkers >= 0 && parseWorkers <= 64)
)
  fail(`--parse-workers must be auto or an integer from 0 to 64, got ${values['parse-workers']}`)
const components = values.components.split(',').filter((c) => c !== '')
if (!components.includes('graph') || !components.includes('transfer'))
  fail(`--components must include graph and transfer, got ${values.components}`)

const BATCH = 1000
const SERIES_PER_HOST = 50
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

const dir = mkdtempSync(join(tmpdir(), 'pg-series-memory-'))
const pg = await startPeregrine(
  dir,
  components,
  {
    graph: { maxSeries: series * 2, maxNewSeriesPerHour: 0 },
    transfer: { parseWorkers },
  },
  values.snapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : []
)
const pid = pg.child.pid as number
let snapshot: string | null = null
let heapUsedMb: number | null
try {
  const url = `http://${pg.addresses.transfer.http}/api/push`
  await sleep(2_000) // what it allocates at start is done by then
  const before = memoryMb(pid)
  // Points end at the current minute, so none is refused as too old or too new.
  const firstT = Math.floor(Date.now() / 60_000) * 60 - (points - 1) * 60
  const started = Date.now()
  let sent = 0
  for (let p = 0; p < points; p++) {
    for (let from = 0; from < series; from += BATCH) {
      const items: string[] = []
      for (let s = from; s < Math.min(series, from + BATCH); s++) {
        // Percentages with two decimals, as an agent's cpu and disk metrics are.
        const value = Math.round(((s * 7919 + p * 104729) % 10_000) + Math.sin(s + p) * 100) / 100
        items.push(
          `{"endpoint":"host-${Math.floor(s / SERIES_PER_HOST)}.example.com","metric":"bench.metric${s % SERIES_PER_HOST}",` +
            `"value":${value},"step":60,"counterType":"GAUGE","tags":"core=${s % 8},dc=bj","timestamp":${firstT + p * 60}}`
        )
      }
      const res = await fetch(url, { method: 'POST', body: `[${items.join(',')}]` })
      const body = (await res.json()) as { data?: { Invalid: number } }
      if (!res.ok || body.data?.Invalid !== 0)
        throw new Error(`push refused: ${res.status} ${JSON.stringify(body)}`)
      sent += items.length
    }
    log(
      `${((Date.now() - started) / 1000).toFixed(1)} s: ${p + 1}/${points} minutes, ${sent} points`
    )
  }
  await sleep(2_000) // its buffers of recent points written out
  const after = memoryMb(pid)
  // The main thread's V8 heap (the rest of the resident set: worker threads, buffers, code).
  const exposition = await (await fetch(`http://${pg.addresses.transfer.http}/metrics`)).text()
  const heapMatch = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(exposition)
  heapUsedMb = heapMatch === null ? null : Math.round(Number(heapMatch[1]) / 1e6)
  if (values.snapshot) {
    pg.child.kill('SIGUSR2')
    for (let i = 0; i < 300 && snapshot === null; i++) {
      await sleep(1_000)
      const found = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'))
      // Written once the server has finished it: its size stops changing only then, so wait a little.
      if (found !== undefined) {
        await sleep(5_000)
        snapshot = join(dir, found)
      }
    }
  }
  const kb = ((after - before) * 1024) / series
  log(
    `${series} series × ${points} points: RSS ${Math.round(before)} → ${Math.round(after)} MB, ${kb.toFixed(2)} KB a series`
  )
  console.log(
    JSON.stringify({
      bench: 'series_memory',
      kb_per_series: Math.round(kb * 100) / 100,
      rss_before_mb: Math.round(before),
      rss_after_mb: Math.round(after),
      main_heap_used_mb: heapUsedMb,
      series,
      points,
      components: components.join(','),
      parse_workers: parseWorkers,
      snapshot,
      node: process.version,
    })
  )
} finally {
  await pg.stop()
  if (snapshot === null) rmSync(dir, { recursive: true, force: true })
}
