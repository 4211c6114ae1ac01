// A real Prometheus (Debian's 2.42) scrapes a real node_exporter every second and remote-writes to a
// real `peregrine start` (the all-in-one). The samples Prometheus holds and the ones Peregrine answers
// through its query API are equal, series by series; Prometheus counts no failed or dropped sample;
// and when Peregrine is killed (-9) for 20 s mid-stream, Prometheus's retries fill the gap.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

// Debian's `prometheus` and `prometheus-node-exporter`. CI installs both and sets
// PEREGRINE_TEST_PROMETHEUS=required (.ci/run); elsewhere a machine without them skips, saying so.
const has = (bin: string) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0
const present = has('prometheus') && has('prometheus-node-exporter')
if (!present && process.env.PEREGRINE_TEST_PROMETHEUS === 'required') {
  throw new Error(
    'PEREGRINE_TEST_PROMETHEUS=required but prometheus or prometheus-node-exporter does not run: apt-get install -y prometheus prometheus-node-exporter'
  )
}
const skip = present
  ? false
  : 'prometheus and prometheus-node-exporter are not installed (apt-get install -y prometheus prometheus-node-exporter); CI requires them'

let dir = ''
let aio: PeregrineProcess
let token = ''
const children: ChildProcess[] = []
let promAddr = ''
let transferHttp = ''
let exporter = ''
/** The all-in-one's settings: its transfer port (Prometheus writes to it) and its own scrape of the exporter. */
const settings = () => ({
  transfer: { http: transferHttp },
  scrape: {
    scrapeConfigs: [
      {
        job_name: 'node-peregrine',
        scrape_interval: '1s',
        static_configs: [{ targets: [exporter] }],
      },
    ],
  },
})

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}

function run(bin: string, args: string[]): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => {
    err = (err + d).slice(-4000)
  })
  child.once('exit', (code) => {
    if (code !== null && code !== 0) process.stderr.write(`${bin} exited ${code}: ${err}\n`)
  })
  children.push(child)
  return child
}

async function waitFor<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>
): Promise<T> {
  const until = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms (${String(last)})`)
    await new Promise((ok) => setTimeout(ok, 250))
  }
}

interface Series {
  metric: Record<string, string>
  values: [number, string][]
}

async function promQuery(
  address: string,
  q: string,
  time: number,
  auth?: string
): Promise<Series[]> {
  const res = await fetch(
    `http://${address}/api/v1/query?query=${encodeURIComponent(q)}&time=${time}`,
    { headers: auth === undefined ? {} : { Apitoken: auth } }
  )
  const body = (await res.json()) as { status: string; data: { result: Series[] }; error?: string }
  if (body.status !== 'success') throw new Error(`${q}: ${body.error}`)
  return body.data.result
}

/** promSelf reads one of Prometheus's own metrics from its /metrics (summed over its label sets). */
async function promSelf(name: string): Promise<number> {
  const text = await (await fetch(`http://${promAddr}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return sum
}

const key = (m: Record<string, string>) =>
  JSON.stringify(
    Object.entries(m)
      .filter(([k]) => k !== 'endpoint' && k !== 'job')
      .sort()
  )

before(async () => {
  if (skip !== false) return
  dir = mkdtempSync(join(tmpdir(), 'pg-prom-rw-'))
  transferHttp = `127.0.0.1:${await freePort()}`
  exporter = `127.0.0.1:${await freePort()}`
  run('prometheus-node-exporter', [`--web.listen-address=${exporter}`])
  aio = await startPeregrine(dir, [], settings())
  token = await loginRoot(aio.addresses.api.http)
  promAddr = `127.0.0.1:${await freePort()}`
  const config = join(dir, 'prometheus.yml')
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: node',
      '    static_configs:',
      `      - targets: ['${exporter}']`,
      'remote_write:',
      `  - url: http://${transferHttp}/api/v1/write`,
      '    queue_config:',
      '      batch_send_deadline: 500ms',
      '      min_backoff: 100ms',
      '      max_backoff: 1s',
      '',
    ].join('\n')
  )
  run('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'prometheus')}`,
    `--web.listen-address=${promAddr}`,
  ])
  await waitFor('Prometheus up and scraping', 30_000, async () =>
    (await promQuery(promAddr, 'up{job="node"} == 1', Date.now() / 1000)).length > 0
      ? true
      : undefined
  )
})

after(async () => {
  for (const c of children) c.kill('SIGKILL')
  await aio?.stop('SIGKILL')
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

describe(
  'a real Prometheus remote-writing to Peregrine, and Peregrine scraping what it scrapes',
  { skip },
  () => {
    it('ends with the same samples in both, through a 20 s outage of Peregrine (kill -9)', async () => {
      const start = Math.floor(Date.now() / 1000)
      await new Promise((ok) => setTimeout(ok, 6000))
      await aio.stop('SIGKILL')
      await new Promise((ok) => setTimeout(ok, 20_000))
      aio = await startPeregrine(dir, [], settings())
      token = await loginRoot(aio.addresses.api.http)
      await new Promise((ok) => setTimeout(ok, 5000))
      const end = Math.floor(Date.now() / 1000) - 2
      // Prometheus has sent everything up to `end` once its highest sent timestamp passes it.
      await waitFor('Prometheus caught up', 60_000, async () =>
        (await promSelf('prometheus_remote_storage_queue_highest_sent_timestamp_seconds')) > end + 1
          ? true
          : undefined
      )
      const range = `${end - start}s`
      const theirs = (await promQuery(promAddr, `{job="node"}[${range}]`, end)).map((s) => ({
        ...s,
        metric: { ...s.metric, job: 'node' },
      }))
      const ours = await promQuery(aio.addresses.api.http, `{job="node"}[${range}]`, end, token)
      assert.ok(ours.every((s) => s.metric.job === 'node'))
      assert.ok(theirs.length > 100, `Prometheus holds ${theirs.length} series`)
      const byKey = new Map(ours.map((s) => [key(s.metric), s]))
      let samples = 0
      const missing: string[] = []
      const differ: string[] = []
      for (const s of theirs) {
        const o = byKey.get(key(s.metric))
        if (o === undefined) {
          missing.push(key(s.metric))
          continue
        }
        samples += s.values.length
        if (JSON.stringify(o.values) !== JSON.stringify(s.values)) {
          differ.push(
            `${key(s.metric)}: Prometheus ${s.values.length} samples, Peregrine ${o.values.length}`
          )
        }
      }
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} series missing`)
      assert.deepEqual(differ.slice(0, 5), [], `${differ.length} series differ`)
      assert.equal(ours.length, theirs.length)
      // The outage is inside the range: samples from all of it reached Peregrine by Prometheus's retries.
      assert.ok(samples > theirs.length * 20, `${samples} samples compared`)
      assert.equal(await promSelf('prometheus_remote_storage_samples_failed_total'), 0)
      assert.equal(await promSelf('prometheus_remote_storage_samples_dropped_total'), 0)
      assert.ok((await promSelf('prometheus_remote_storage_samples_retried_total')) >= 0)
      // The endpoint of node_exporter's series is its host, as falcon's view shows them.
      const load = ours.find((s) => s.metric.__name__ === 'node_load1')
      assert.equal(load?.metric.endpoint, '127.0.0.1')
    })

    it('scrapes the same node_exporter as Prometheus: the same series, the same values within a scrape interval', async () => {
      const t = Math.floor(Date.now() / 1000) - 3
      const ours = await promQuery(aio.addresses.api.http, '{job="node-peregrine"}', t, token)
      const theirs = await promQuery(promAddr, '{job="node"}', t)
      const setOf = (list: Series[]) => new Set(list.map((s) => key(s.metric)))
      const a = setOf(ours)
      const b = setOf(theirs)
      const onlyOurs = [...a].filter((k) => !b.has(k))
      const onlyTheirs = [...b].filter((k) => !a.has(k))
      assert.deepEqual(onlyOurs.slice(0, 5), [], `${onlyOurs.length} series only Peregrine has`)
      assert.deepEqual(
        onlyTheirs.slice(0, 5),
        [],
        `${onlyTheirs.length} series only Prometheus has`
      )
      assert.ok(a.size > 100, `${a.size} series`)
      // Each value of ours lies within what Prometheus scraped in the interval around it (both scrape
      // every second, at their own offsets); values that do not move are equal.
      const window = await promQuery(promAddr, '{job="node"}[4s]', t + 2)
      const range = new Map(window.map((s) => [key(s.metric), s.values.map(([, v]) => Number(v))]))
      const far: string[] = []
      for (const s of ours) {
        const k = key(s.metric)
        const name = s.metric.__name__
        if (name.startsWith('scrape_') || name === 'node_scrape_collector_duration_seconds')
          continue
        const v = Number((s as unknown as { value: [number, string] }).value[1])
        const vs = range.get(k)
        if (vs === undefined || vs.length === 0) continue
        const lo = Math.min(...vs)
        const hi = Math.max(...vs)
        const slack =
          name.endsWith('_total') || name.startsWith('node_') ? Math.abs(hi - lo) + 1e-9 : 0
        if (!(v >= lo - slack && v <= hi + slack) && !(Number.isNaN(v) && vs.some(Number.isNaN)))
          far.push(`${k}: ${v} not in [${lo}, ${hi}]`)
      }
      assert.ok(
        far.length <= a.size / 50,
        `${far.length} values far from Prometheus's: ${far.slice(0, 5).join('; ')}`
      )
      for (const name of ['node_uname_info', 'node_memory_MemTotal_bytes', 'node_os_info']) {
        const o = ours.filter((s) => s.metric.__name__ === name)
        const p = theirs.filter((s) => s.metric.__name__ === name)
        assert.equal(o.length, p.length, name)
        for (const s of o) {
          const twin = p.find((x) => key(x.metric) === key(s.metric))
          assert.deepEqual(
            (s as unknown as { value: [number, string] }).value[1],
            (twin as unknown as { value: [number, string] }).value[1],
            name
          )
        }
      }
    })
  }
)
