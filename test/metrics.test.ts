// Every component of a real all-in-one serves /metrics in the Prometheus text format, which
// promtool (Debian's prometheus, a real parser) reads without an error; what is counted there moves
// with what the process does; and the agent serves the host metrics it collects.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeSnappy, encodeWriteRequest, waitUntil } from '../src/core/index.js'
import { type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const hasPromtool = spawnSync('promtool', ['--version']).status === 0
if (!hasPromtool && process.env.PEREGRINE_TEST_PROMTOOL === 'required') {
  throw new Error(
    'PEREGRINE_TEST_PROMTOOL=required but promtool does not run: apt-get install -y prometheus'
  )
}

let dir = ''
let aio: PeregrineProcess

async function metrics(component: string): Promise<string> {
  const a = aio.addresses[component]
  const res = await fetch(`http://${a.http}/metrics`)
  assert.equal(res.status, 200, component)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return res.text()
}

/** value of the first sample of `series` (a name, or a name and labels as they print) in `text`. */
function value(text: string, series: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(series + ' ') || l.startsWith(series + '{'))
  assert.ok(line !== undefined, `${series} is not in the exposition`)
  return Number(line.slice(line.lastIndexOf(' ') + 1))
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-metrics-'))
  aio = await startPeregrine(dir, [], { agent: { transfer: { interval: 1 } } })
})
after(async () => {
  await aio.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('/metrics', () => {
  it('is served by every component and parses with promtool check metrics', async () => {
    const components = ['graph', 'transfer', 'judge', 'hbs', 'alarm', 'api', 'agent']
    for (const c of components) {
      const text = await metrics(c)
      assert.match(text, /^# HELP /m, c)
      assert.ok(value(text, 'process_resident_memory_bytes') > 0, c)
      if (!hasPromtool) continue
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
      // 0: clean; 3: lint warnings only (prom-client's nodejs_active_*_total gauges, falcon's names
      // on the agent); 1 would be a parse error.
      assert.ok(
        check.status === 0 || check.status === 3,
        `${c}: promtool exit ${check.status}: ${check.stdout}${check.stderr}`
      )
      assert.doesNotMatch(check.stdout + check.stderr, /^error|parse error|while linting/im, c)
    }
  })

  it('counts what the process does: pushes, remote-written samples, stored series', async () => {
    const before = await metrics('transfer')
    const push = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
      method: 'POST',
      body: JSON.stringify([
        {
          endpoint: 'h1',
          metric: 'm.one',
          value: 1,
          step: 60,
          counterType: 'GAUGE',
          tags: '',
          timestamp: Math.floor(Date.now() / 1000),
        },
      ]),
    })
    assert.equal(push.status, 200)
    const rw = await fetch(`http://${aio.addresses.transfer.http}/api/v1/write`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
      body: new Uint8Array(
        encodeSnappy(
          encodeWriteRequest([
            {
              labels: [
                ['__name__', 'up'],
                ['instance', 'h1:9100'],
              ],
              samples: [
                [Date.now() - 1000, 1],
                [Date.now(), 1],
              ],
            },
          ])
        )
      ),
    })
    assert.equal(rw.status, 204)
    const after = await metrics('transfer')
    const pushes = 'peregrine_transfer_pushes_total{path="http"}'
    assert.equal(value(after, pushes), value(before, pushes) + 1)
    const stored = 'peregrine_transfer_remote_write_samples_total{outcome="stored"}'
    assert.equal(value(after, stored), value(before, stored) + 2)
    // graph's stats are taken at most every 50 ms (one walk of the blocks a scrape): the next ones.
    await new Promise((ok) => setTimeout(ok, 60))
    const graph = await metrics('graph')
    assert.ok(value(graph, 'peregrine_tsdb_head_series') >= 2)
    assert.equal(value(graph, 'peregrine_tsdb_healthy'), 1)
    const api = await metrics('api')
    assert.match(api, /^peregrine_api_request_duration_seconds_bucket\{/m)
  })

  it('the agent serves the host metrics it collects, named as PromQL shows falcon names', async () => {
    let text = ''
    await waitUntil(async () => {
      text = await metrics('agent')
      return /^cpu_idle\{endpoint="/m.test(text)
    }, 'the agent’s first collection')
    assert.match(text, /^# TYPE cpu_idle gauge$/m)
    assert.match(text, /^load_1min\{endpoint="[^"]+"\} [\d.]+$/m)
    assert.match(text, /^df_bytes_free_percent\{endpoint="[^"]+",fstype="[^"]+",mount="\/"\} /m)
  })
})
