// Dashboard benchmark: the first page's JavaScript (gzipped), and the time from navigation to a
// drawn chart in Debian's chromium against a real all-in-one: 10 series × 24 h, and 50 series ×
// 30 days (drawn from the rollup tiers).
//
// Usage: npm run bench:dashboard [-- --runs N]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { launchChromium } from '../test/support/browser.js'
import { startPeregrine, TEST_ROOT_PASSWORD } from '../test/support/peregrine-process.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } })
const runs = Number(values.runs)
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  process.stderr.write('dashboard bench: --runs must be an integer from 1 to 100\n')
  process.exit(2)
}
const log = (m: string) => process.stderr.write(`dashboard bench: ${m}\n`)

// --- bundle size of the first page ------------------------------------------------------------
const BUILD = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard')
let html: string
try {
  html = readFileSync(join(BUILD, 'index.html'), 'utf8')
} catch {
  process.stderr.write(`dashboard bench: no build in ${BUILD}: run npm run build first\n`)
  process.exit(1)
}
// The scripts index.html loads and preloads; the PromQL editor is a chunk only Explore loads.
const firstScripts = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1])
const jsGzip = firstScripts.reduce((n, path) => n + statSync(join(BUILD, `${path}.gz`)).size, 0)
log(`first page loads ${firstScripts.join(', ')}: ${(jsGzip / 1024).toFixed(1)} kB gzipped`)

// --- data ----------------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'pg-bench-dashboard-'))
const aio = await startPeregrine(dir, [], { graph: { maintenanceInterval: 1000 } })
const NOW = Math.floor(Date.now() / 1000)
const STEP = 60
const HOSTS = 50
const DAYS = 30

async function push(items: unknown[]) {
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
    method: 'POST',
    body: JSON.stringify(items),
  })
  if (res.status !== 200) throw new Error(`push: ${res.status} ${await res.text()}`)
}

try {
  const start = NOW - DAYS * 86400
  const total = HOSTS * ((DAYS * 86400) / STEP)
  log(`pushing ${HOSTS} hosts × ${DAYS} days of cpu.idle at ${STEP} s: ${total} points`)
  let sent = 0
  const t0 = Date.now()
  for (let h = 0; h < HOSTS; h++) {
    const endpoint = `bench-${String(h).padStart(2, '0')}`
    let batch: unknown[] = []
    for (let ts = start - (start % STEP); ts <= NOW; ts += STEP) {
      batch.push({
        endpoint,
        metric: 'cpu.idle',
        timestamp: ts,
        value: 50 + 40 * Math.sin(ts / 7200 + h),
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
      })
      if (batch.length === 10_000) {
        await push(batch)
        sent += batch.length
        batch = []
      }
    }
    await push(batch)
    sent += batch.length
    if (h % 10 === 9)
      log(`${sent} points pushed (${Math.round(sent / ((Date.now() - t0) / 1000))}/s)`)
  }
  // Let graph's maintenance roll the old days up into its tiers, as a store at rest has them.
  log('waiting 20 s for graph maintenance (flush and rollups)')
  await new Promise((r) => setTimeout(r, 20_000))

  const browser = await launchChromium()
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  const base = `http://${aio.addresses.api.http}`
  await page.goto(`${base}/login`)
  await page.getByLabel('User name').fill('root')
  await page.getByLabel('Password').fill(TEST_ROOT_PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL((u) => !u.pathname.startsWith('/login'))

  /** ms from navigation start to a chart with `series` series drawn on its canvas. */
  const timeChart = async (url: string, series: number): Promise<number> => {
    await page.goto(url)
    await page.waitForFunction(
      (n) => {
        const fig = document.querySelector<HTMLElement>('[data-testid=chart]')
        return fig !== null && fig.dataset.series === String(n) && Number(fig.dataset.points) > 0
      },
      series,
      { timeout: 30_000, polling: 'raf' }
    )
    // The canvas is painted in the frame after the data is set.
    return page.evaluate(
      () => new Promise<number>((ok) => requestAnimationFrame(() => ok(performance.now())))
    )
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const hosts = (n: number) =>
    Array.from({ length: n }, (_, i) => `e=bench-${String(i).padStart(2, '0')}`).join('&')

  const day = `${base}/charts?${hosts(10)}&c=cpu.idle&view=all&range=1d`
  const month = `${base}/charts?${hosts(50)}&c=cpu.idle&view=all&range=30d`
  await timeChart(day, 10) // assets into the cache: "a loaded page"
  const first: number[] = []
  const long: number[] = []
  for (let i = 0; i < runs; i++) {
    first.push(await timeChart(day, 10))
    long.push(await timeChart(month, 50))
    log(
      `run ${i + 1}/${runs}: 10 × 24 h ${first[i].toFixed(0)} ms, 50 × 30 d ${long[i].toFixed(0)} ms`
    )
  }
  await browser.close()
  process.stdout.write(
    JSON.stringify({
      bench: 'dashboard',
      js_gzip_kb: Number((jsGzip / 1024).toFixed(1)),
      first_chart_ms: Math.round(median(first)),
      first_chart_max_ms: Math.round(Math.max(...first)),
      chart_30d_50_series_ms: Math.round(median(long)),
      chart_30d_50_series_max_ms: Math.round(Math.max(...long)),
      runs,
      points_pushed: sent,
    }) + '\n'
  )
} finally {
  await aio.stop()
  rmSync(dir, { recursive: true, force: true })
}
