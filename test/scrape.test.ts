// The scrape component over real sockets: targets served by local HTTP servers (and a real
// node_exporter when installed), written through a real transfer into a real graph and read back
// through the PromQL API. Relabelling, file_sd reload, honor_labels, a target that times out, one
// that answers garbage, one over sample_limit, stale markers when a target goes away, and
// /api/v1/targets as Prometheus lists them.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { createServer as netServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Service, silentLogger, waitUntil } from '../src/core/index.js'
import { parseGraphConfig, start as startGraph } from '../src/graph/index.js'
import { parseTransferConfig, start as startTransfer } from '../src/transfer/index.js'
import { parseScrapeConfig, start as startScrape } from '../src/scrape/index.js'
import { buildApi, parseApiConfig } from '../src/api/index.js'
import { Store } from '../src/store/index.js'

const deps = { log: silentLogger, now: () => Date.now() }
const TOKEN = 'scrape-test-token'
const hasExporter = spawnSync('prometheus-node-exporter', ['--version']).status === 0

let dir = ''
let graph: Service
let transfer: Service
let scrape: Service
let api: ReturnType<typeof buildApi>
let store: Store
let pages: Server
let pagesAddr = ''
let exporter: ChildProcess | null = null
let exporterAddr = ''
/** What /good answers: changed by the tests. */
let goodPage = ''

async function freePort(): Promise<number> {
  const s = netServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}

async function query(
  q: string
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await api.app.inject({
    method: 'GET',
    url: `/api/v1/query?query=${encodeURIComponent(q)}`,
    headers: { Apitoken: JSON.stringify({ name: 'test', sig: TOKEN }) },
  })
  assert.equal(res.statusCode, 200, res.body)
  return (JSON.parse(res.body) as { data: { result: never[] } }).data.result
}

interface ActiveTarget {
  labels: Record<string, string>
  discoveredLabels: Record<string, string>
  scrapePool: string
  scrapeUrl: string
  health: string
  lastError: string
  scrapeInterval: string
}

async function targets(): Promise<{ activeTargets: ActiveTarget[]; droppedTargets: unknown[] }> {
  const res = await fetch(`http://${scrape.addresses.http}/api/v1/targets`)
  return ((await res.json()) as { data: never }).data
}

const target = async (job: string) =>
  (await targets()).activeTargets.find((t) => t.scrapePool === job)

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-scrape-'))
  goodPage = [
    '# TYPE app_requests_total counter',
    'app_requests_total{path="/a",instance="inner"} 10',
    'app_requests_total{path="/b"} 20',
    '# TYPE app_temperature gauge',
    'app_temperature 21.5',
    'app_drop_me 1',
  ].join('\n')
  pages = createServer((req, res) => {
    if (req.url?.startsWith('/good')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' })
      res.end(goodPage)
    } else if (req.url === '/garbage') {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end('<html>this is not metrics</html>')
    } else if (req.url === '/slow') {
      setTimeout(() => {
        res.writeHead(200)
        res.end('late 1\n')
      }, 3000).unref()
    } else if (req.url === '/many') {
      res.writeHead(200)
      res.end(Array.from({ length: 50 }, (_, i) => `many{i="${i}"} ${i}`).join('\n'))
    } else if (req.url === '/auth') {
      const ok = req.headers.authorization === 'Bearer s3cret'
      res.writeHead(ok ? 200 : 401)
      res.end(ok ? 'authed 1\n' : 'no\n')
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((ok) => pages.listen(0, '127.0.0.1', ok))
  pagesAddr = `127.0.0.1:${(pages.address() as { port: number }).port}`
  if (hasExporter) {
    exporterAddr = `127.0.0.1:${await freePort()}`
    exporter = spawn('prometheus-node-exporter', [`--web.listen-address=${exporterAddr}`], {
      stdio: 'ignore',
    })
  }
  graph = await startGraph(
    parseGraphConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir: join(dir, 'graph'),
      walSync: 'write',
    }),
    deps
  )
  const cluster = { 'graph-00': graph.addresses.rpc }
  transfer = await startTransfer(
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '',
      graphCluster: cluster,
    }),
    deps
  )
  store = await Store.open('sqlite::memory:', silentLogger)
  api = buildApi(
    parseApiConfig({ http: '127.0.0.1:0', graphCluster: cluster, defaultToken: TOKEN }),
    deps,
    store
  )
  writeFileSync(
    join(dir, 'sd.json'),
    JSON.stringify([{ targets: [pagesAddr], labels: { team: 'a' } }])
  )
  const scrapeConfigs: unknown[] = [
    {
      job_name: 'app',
      scrape_interval: '1s',
      metrics_path: '/good',
      static_configs: [{ targets: [pagesAddr], labels: { env: 'test' } }],
      relabel_configs: [{ source_labels: ['env'], target_label: 'stage', replacement: 'stage-$1' }],
      metric_relabel_configs: [
        { source_labels: ['__name__'], regex: 'app_drop_me', action: 'drop' },
      ],
    },
    {
      job_name: 'honor',
      scrape_interval: '1s',
      metrics_path: '/good',
      honor_labels: true,
      static_configs: [{ targets: [pagesAddr] }],
    },
    {
      job_name: 'files',
      scrape_interval: '1s',
      metrics_path: '/good',
      file_sd_configs: [{ files: [join(dir, 'sd.json')], refresh_interval: '1s' }],
    },
    {
      job_name: 'garbage',
      scrape_interval: '1s',
      metrics_path: '/garbage',
      static_configs: [{ targets: [pagesAddr] }],
    },
    {
      job_name: 'slow',
      scrape_interval: '2s',
      scrape_timeout: '500ms',
      metrics_path: '/slow',
      static_configs: [{ targets: [pagesAddr] }],
    },
    {
      job_name: 'many',
      scrape_interval: '1s',
      metrics_path: '/many',
      sample_limit: 10,
      static_configs: [{ targets: [pagesAddr] }],
    },
    {
      job_name: 'auth',
      scrape_interval: '1s',
      metrics_path: '/auth',
      authorization: { credentials: 's3cret' },
      static_configs: [{ targets: [pagesAddr] }],
    },
    {
      job_name: 'dropped',
      static_configs: [{ targets: ['10.0.0.1:9100'] }],
      relabel_configs: [{ source_labels: ['__address__'], regex: '10\\..*', action: 'drop' }],
    },
  ]
  if (hasExporter) {
    scrapeConfigs.push({
      job_name: 'node',
      scrape_interval: '1s',
      static_configs: [{ targets: [exporterAddr] }],
    })
  }
  scrape = await startScrape(
    parseScrapeConfig({
      http: '127.0.0.1:0',
      scrapeConfigs,
      remoteWrite: `http://${transfer.addresses.http}/api/v1/write`,
      selfScrape: true,
    }),
    deps
  )
})

after(async () => {
  await scrape.stop()
  exporter?.kill('SIGKILL')
  await api.app.close()
  await store.close()
  await transfer.stop()
  await graph.stop()
  await new Promise<void>((ok) => pages.close(() => ok()))
  rmSync(dir, { recursive: true, force: true })
})

describe('scrape', () => {
  it('scrapes a target, adds job and instance, relabels, drops by metric relabelling, writes up and scrape_*', async () => {
    await waitUntil(
      async () => (await query('app_temperature{job="app"}')).length === 1,
      'app scraped'
    )
    const [t] = await query('app_temperature{job="app"}')
    assert.deepEqual(t.metric, {
      __name__: 'app_temperature',
      endpoint: '127.0.0.1',
      env: 'test',
      instance: pagesAddr,
      job: 'app',
      stage: 'stage-test',
    })
    assert.equal(t.value[1], '21.5')
    // The page's own `instance` label conflicts with the target's: kept as exported_instance.
    const inner = await query('app_requests_total{job="app", path="/a"}')
    assert.equal(inner[0].metric.exported_instance, 'inner')
    assert.equal(inner[0].metric.instance, pagesAddr)
    assert.deepEqual(await query('app_drop_me{job="app"}'), [])
    for (const [name, want] of [
      ['up', '1'],
      ['scrape_samples_scraped', '4'],
      ['scrape_samples_post_metric_relabeling', '3'],
    ] as const) {
      const r = await query(`${name}{job="app"}`)
      assert.equal(r[0]?.value[1], want, name)
    }
    assert.ok(Number((await query('scrape_duration_seconds{job="app"}'))[0].value[1]) > 0)
    assert.equal((await target('app'))?.health, 'up')
  })

  it('honor_labels keeps the page’s labels', async () => {
    await waitUntil(
      async () => (await query('app_requests_total{path="/a", instance="inner"}')).length === 1,
      'honor scraped'
    )
    const [r] = await query('app_requests_total{path="/a", instance="inner"}')
    assert.equal(r.metric.job, 'honor')
  })

  it('reads file_sd targets and their labels, and notices the file changing', async () => {
    await waitUntil(
      async () => (await query('app_temperature{job="files"}')).length === 1,
      'files scraped'
    )
    const [r] = await query('app_temperature{job="files"}')
    assert.equal(r.metric.team, 'a')
    writeFileSync(
      join(dir, 'sd.json'),
      JSON.stringify([{ targets: [pagesAddr], labels: { team: 'b' } }])
    )
    await waitUntil(
      async () => (await query('app_temperature{job="files", team="b"}')).length === 1,
      'the file reloaded'
    )
    // The old target went away: its series were marked stale, so an instant query no longer sees them.
    await waitUntil(
      async () => (await query('app_temperature{job="files", team="a"}')).length === 0,
      'stale markers'
    )
  })

  it('marks a target that answers garbage, times out, or goes over sample_limit as down, with the reason', async () => {
    await waitUntil(async () => (await target('garbage'))?.health === 'down', 'garbage scraped')
    assert.match((await target('garbage'))?.lastError ?? '', /parse error: line 1/)
    await waitUntil(async () => (await target('slow'))?.health === 'down', 'slow scraped', 15_000)
    assert.match((await target('slow'))?.lastError ?? '', /deadline exceeded/)
    await waitUntil(async () => (await target('many'))?.health === 'down', 'many scraped')
    assert.match(
      (await target('many'))?.lastError ?? '',
      /sample limit exceeded \(more than 10 samples, sample_limit 10\)/
    )
    assert.deepEqual(await query('many'), [])
    for (const job of ['garbage', 'many']) {
      const up = await query(`up{job="${job}"}`)
      assert.equal(up[0]?.value[1], '0', job)
    }
  })

  it('sends the authorization of its job', async () => {
    await waitUntil(async () => (await query('authed')).length === 1, 'auth scraped')
  })

  it('lists targets as Prometheus does, dropped ones included, and scrapes itself', async () => {
    const t = await targets()
    const app = t.activeTargets.find((x) => x.scrapePool === 'app')
    assert.equal(app?.scrapeUrl, `http://${pagesAddr}/good`)
    assert.equal(app?.scrapeInterval, '1s')
    assert.equal(app?.discoveredLabels.__address__, pagesAddr)
    assert.equal(t.droppedTargets.length, 1)
    await waitUntil(
      async () => (await query('up{job="peregrine"}')).length === 1,
      'self scraped',
      20_000
    )
  })

  it(
    'scrapes a real node_exporter',
    { skip: hasExporter ? false : 'prometheus-node-exporter is not installed' },
    async () => {
      await waitUntil(
        async () => (await query('node_load1{job="node"}')).length === 1,
        'node scraped'
      )
      // Label values with spaces and commas come back as they were.
      const uname = await query('node_uname_info{job="node"}')
      assert.equal(uname.length, 1)
      assert.match(uname[0].metric.version, / /)
    }
  )
})

describe('scrape reload', () => {
  it('takes a new prometheus.yml from this host only, re-reads file_sd of jobs it added, and refuses addresses that are not host:port', async () => {
    const yml = join(dir, 'prometheus.yml')
    const sd = join(dir, 'late.json')
    writeFileSync(sd, '[]')
    const job = (name: string, more: string) =>
      `  - job_name: ${name}\n    scrape_interval: 1s\n    metrics_path: /good\n${more}`
    writeFileSync(
      yml,
      `scrape_configs:\n${job('first', `    static_configs:\n      - targets: ['${pagesAddr}']\n`)}`
    )
    const s = await startScrape(
      parseScrapeConfig({
        http: '127.0.0.1:0',
        configFile: yml,
        remoteWrite: `http://${transfer.addresses.http}/api/v1/write`,
        selfScrape: false,
      }),
      deps
    )
    try {
      const url = `http://${s.addresses.http}`
      const list = async () =>
        (
          (await (await fetch(`${url}/api/v1/targets`)).json()) as {
            data: {
              activeTargets: { scrapePool: string }[]
              droppedTargetCounts: Record<string, number>
            }
          }
        ).data
      writeFileSync(
        yml,
        `scrape_configs:\n${job('first', `    static_configs:\n      - targets: ['${pagesAddr}']\n`)}` +
          job(
            'late',
            `    file_sd_configs:\n      - files: ['${sd}']\n        refresh_interval: 1s\n`
          ) +
          job(
            'bad',
            `    static_configs:\n      - targets: ['${pagesAddr}/metrics', 'http://${pagesAddr}']\n`
          )
      )
      // A web page may not make it reload: another Origin, or a name that could be rebound here.
      // (node:http, since fetch will not send a Host of its own.)
      const reload = (headers: Record<string, string>) =>
        new Promise<number>((ok, fail) => {
          const r = httpRequest(`${url}/-/reload`, { method: 'POST', headers }, (res) => {
            res.resume()
            ok(res.statusCode ?? 0)
          })
          r.on('error', fail)
          r.end()
        })
      for (const headers of [{ Origin: 'http://evil.example' }, { Host: 'evil.example' }] as Record<
        string,
        string
      >[])
        assert.equal(await reload(headers), 403, JSON.stringify(headers))
      assert.deepEqual(
        (await list()).activeTargets.map((t) => t.scrapePool),
        ['first']
      )
      const res = await fetch(`${url}/-/reload`, { method: 'POST' })
      assert.equal(res.status, 200, await res.text())
      const after = await list()
      assert.deepEqual(
        after.activeTargets.map((t) => t.scrapePool),
        ['first']
      )
      assert.equal(after.droppedTargetCounts.bad, 2)
      // The job the reload added reads its file again when it changes.
      writeFileSync(sd, JSON.stringify([{ targets: [pagesAddr] }]))
      await waitUntil(
        async () => (await list()).activeTargets.some((t) => t.scrapePool === 'late'),
        'file_sd target of a job added by reload'
      )
    } finally {
      await s.stop()
    }
  })
})
