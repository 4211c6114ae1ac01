// The Prometheus query API with real clients: falcon points pushed through transfer's /api/push, read
// back by Debian's promtool (instant and range queries), by the requests Grafana's Prometheus data
// source sends, and by `peregrine query`, against the all-in-one on ephemeral ports.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BIN,
  loginRoot,
  type PeregrineProcess,
  startPeregrine,
  TEST_ROOT_PASSWORD,
} from './support/peregrine-process.js'

const STEP = 60
// 30 minutes of points, the last one a minute ago: recent enough for every default lookback.
const LAST = Math.floor(Date.now() / 1000 / STEP) * STEP - STEP
const FIRST = LAST - 29 * STEP
const HOSTS = ['web-1', 'web-2']

// promtool is Debian's `prometheus` package. CI installs it and sets PEREGRINE_TEST_PROMTOOL=required
// (.ci/run); elsewhere a machine without it skips the promtool cases, saying so.
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
const hasPromtool = promtool.status === 0
if (!hasPromtool && process.env.PEREGRINE_TEST_PROMTOOL === 'required') {
  throw new Error(
    'PEREGRINE_TEST_PROMTOOL=required but promtool does not run: apt-get install -y prometheus'
  )
}
const noPromtool = hasPromtool
  ? false
  : 'promtool is not installed (apt-get install -y prometheus); CI requires it'

let dir = ''
let aio: PeregrineProcess
let api = ''
let token = ''

interface Answer {
  status: string
  data: unknown
  errorType?: string
  error?: string
  warnings?: string[]
}
type Vector = { metric: Record<string, string>; value: [number, string] }[]
type Matrix = { metric: Record<string, string>; values: [number, string][] }[]

/** grafana sends a request the way Grafana's Prometheus data source does: Basic auth, forms. */
async function grafana(
  method: 'GET' | 'POST',
  path: string,
  params: Record<string, string | string[]>
): Promise<{ status: number; body: Answer }> {
  const form = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) form.append(k, x)
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`root:${TEST_ROOT_PASSWORD}`).toString('base64')}`,
    accept: 'application/json, text/plain, */*',
    'x-grafana-org-id': '1',
  }
  const url = `http://${api}${path}`
  const res =
    method === 'GET'
      ? await fetch(`${url}?${form.toString()}`, { headers })
      : await fetch(url, {
          method,
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        })
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  return { status: res.status, body: (await res.json()) as Answer }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-prom-'))
  aio = await startPeregrine(dir, ['graph', 'transfer', 'api'], {
    graph: { walSync: 'write' },
  })
  api = aio.addresses.api.http
  // A read-only API token for root, as a Grafana admin would make one.
  const apitoken = await loginRoot(api)
  const made = await fetch(`http://${api}/api/v1/user/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apitoken },
    body: JSON.stringify({ name: 'promtool', scope: 'read' }),
  })
  const body = (await made.json()) as { token?: string }
  assert.equal(made.status, 200, JSON.stringify(body))
  token = body.token ?? ''
  // A gauge and a counter growing 600 a minute (10/s) per host, pushed as falcon's HTTP push does.
  const items = []
  for (let t = FIRST; t <= LAST; t += STEP) {
    for (const [h, endpoint] of HOSTS.entries()) {
      items.push({
        endpoint,
        metric: 'cpu.idle',
        value: 50 + h,
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
        timestamp: t,
      })
      items.push({
        endpoint,
        metric: 'net.if.in.bytes',
        value: 1e6 + (600 * (t - FIRST)) / STEP,
        step: STEP,
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: t,
      })
    }
  }
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
    method: 'POST',
    body: JSON.stringify(items),
  })
  assert.equal(res.status, 200, await res.text())
  // transfer forwards to graph on its own schedule: wait until every point can be read.
  for (let i = 0; ; i++) {
    const r = await grafana('POST', '/api/v1/query', {
      query: 'count_over_time({endpoint=~"web-.*"}[1h])',
      time: String(LAST),
    })
    const v = r.body.data as { result?: Vector } | undefined
    if (v?.result?.length === 4 && v.result.every((s) => s.value[1] === '30')) break
    if (i === 400) assert.fail(`points never became readable: ${JSON.stringify(r.body)}`)
    await new Promise((ok) => setTimeout(ok, 50))
  }
})
after(async () => {
  assert.equal(await aio.stop(), 0)
  rmSync(dir, { recursive: true, force: true })
})

describe('promtool against Peregrine', { skip: noPromtool }, () => {
  const run = (args: string[]) => {
    const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, `promtool ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as unknown
  }

  it('query instant with Basic auth in the URL reads falcon series by their escaped names', () => {
    const v = run([
      'query',
      'instant',
      '-o',
      'json',
      '--time',
      String(LAST),
      `http://root:${TEST_ROOT_PASSWORD}@${api}`,
      'sum by (endpoint) (rate(net_if_in_bytes{iface="eth0"}[5m]))',
    ]) as Vector
    // An aggregation's order is the engine's: compared sorted.
    assert.deepEqual(
      v
        .map((s) => [s.metric, s.value])
        .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
      HOSTS.map((endpoint) => [{ endpoint }, [LAST, '10']])
    )
    const gauge = run([
      'query',
      'instant',
      '-o',
      'json',
      '--time',
      String(LAST),
      `http://root:${TEST_ROOT_PASSWORD}@${api}`,
      'cpu_idle{endpoint="web-2"}',
    ]) as Vector
    // Results show the name as stored.
    assert.deepEqual(gauge, [
      { metric: { __name__: 'cpu.idle', endpoint: 'web-2' }, value: [LAST, '51'] },
    ])
  })

  it('query range with a Bearer API token', () => {
    const m = run([
      'query',
      'range',
      '-o',
      'json',
      '--header',
      `Authorization: Bearer ${token}`,
      '--start',
      new Date((LAST - 10 * STEP) * 1000).toISOString(),
      '--end',
      String(LAST),
      '--step',
      '5m',
      `http://${api}`,
      'sum(rate({"net.if.in.bytes"}[5m]))',
    ]) as Matrix
    assert.equal(m.length, 1)
    assert.deepEqual(m[0].metric, {})
    assert.deepEqual(m[0].values, [
      [LAST - 10 * STEP, '20'],
      [LAST - 5 * STEP, '20'],
      [LAST, '20'],
    ])
  })

  it('is refused without credentials', () => {
    const r = spawnSync('promtool', ['query', 'instant', `http://${api}`, 'up'], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /401|nauthorized/)
  })
})

describe("Grafana's Prometheus data source requests", () => {
  const range = { start: String(LAST - 15 * STEP), end: String(LAST) }

  it('buildinfo says which Prometheus API this is', async () => {
    const r = await grafana('GET', '/api/v1/status/buildinfo', {})
    assert.equal(r.status, 200)
    assert.equal((r.body.data as { version: string }).version, '2.55.1')
  })

  it('labels, metric names and label values for the query editor', async () => {
    const names = await grafana('GET', '/api/v1/labels', range)
    assert.equal(names.status, 200, JSON.stringify(names.body))
    assert.deepEqual(names.body.data, ['__name__', 'endpoint', 'iface'])
    const metrics = await grafana('GET', '/api/v1/label/__name__/values', range)
    assert.deepEqual(metrics.body.data, ['cpu.idle', 'net.if.in.bytes'])
    const hosts = await grafana('GET', '/api/v1/label/endpoint/values', {
      ...range,
      'match[]': '{__name__="cpu.idle"}',
    })
    assert.deepEqual(hosts.body.data, HOSTS)
  })

  it('series with match[] (the metrics browser)', async () => {
    const r = await grafana('GET', '/api/v1/series', {
      ...range,
      'match[]': ['{__name__="net.if.in.bytes"}', 'cpu_idle{endpoint="web-1"}'],
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body.data, [
      { __name__: 'cpu.idle', endpoint: 'web-1' },
      ...HOSTS.map((endpoint) => ({ __name__: 'net.if.in.bytes', endpoint, iface: 'eth0' })),
    ])
  })

  it('metadata says which metrics are counters', async () => {
    const r = await grafana('GET', '/api/v1/metadata', {})
    const m = r.body.data as Record<string, { type: string }[]>
    assert.equal(m['net.if.in.bytes'][0].type, 'counter')
    assert.equal(m['cpu.idle'][0].type, 'gauge')
  })

  it('query_range over a POST form, step in seconds, as a panel asks', async () => {
    const r = await grafana('POST', '/api/v1/query_range', {
      query: 'avg({"cpu.idle"})',
      ...range,
      step: '300',
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    const m = (r.body.data as { resultType: string; result: Matrix }).result
    assert.deepEqual(m, [
      {
        metric: {},
        values: [0, 1, 2, 3].map((i): [number, string] => [LAST - 15 * STEP + i * 300, '50.5']),
      },
    ])
  })

  it('query with time (a stat panel), and a syntax error as bad_data naming its position', async () => {
    const r = await grafana('POST', '/api/v1/query', {
      query: 'count({"net.if.in.bytes"})',
      time: String(LAST),
    })
    assert.deepEqual(r.body.data, {
      resultType: 'vector',
      result: [{ metric: {}, value: [LAST, '2'] }],
    })
    const bad = await grafana('POST', '/api/v1/query', {
      query: 'sum(rate(x[5m])',
      time: String(LAST),
    })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errorType, 'bad_data')
    assert.match(bad.body.error ?? '', /^invalid parameter "query": 1:\d+: parse error: /)
  })
})

describe('peregrine query', () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, 'query', ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 60_000,
    })

  it('prints a table, the JSON, or a range block per series, with a token', () => {
    const url = `http://${api}`
    let r = cli(['sort(sum by (endpoint) ({"cpu.idle"}))', '--time', String(LAST), '--url', url], {
      PEREGRINE_TOKEN: token,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(
      r.stdout,
      'SERIES              VALUE\n{endpoint="web-1"}  50\n{endpoint="web-2"}  51\n'
    )
    r = cli([
      'count({"cpu.idle"})',
      '--time',
      String(LAST),
      '--url',
      url,
      '--token',
      token,
      '--json',
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as Answer).data, {
      resultType: 'vector',
      result: [{ metric: {}, value: [LAST, '2'] }],
    })
    r = cli([
      'cpu_idle{endpoint="web-1"}',
      '--start',
      String(LAST - 60),
      '--end',
      String(LAST),
      '--step',
      '1m',
      '--url',
      url,
      '--user',
      `root:${TEST_ROOT_PASSWORD}`,
    ])
    assert.equal(r.status, 0, r.stderr)
    const iso = (s: number) => new Date(s * 1000).toISOString()
    assert.equal(
      r.stdout,
      `{"cpu.idle", endpoint="web-1"}\n  ${iso(LAST - 60)}  50\n  ${iso(LAST)}  50\n`
    )
  })

  it('exits 2 with one sentence on a bad query or bad flags, 1 without credentials', () => {
    const url = `http://${api}`
    let r = cli(['sum(', '--url', url, '--token', token])
    assert.equal(r.status, 2)
    assert.match(
      r.stderr,
      /^peregrine: bad_data: invalid parameter "query": 1:\d+: parse error: .*\n$/
    )
    r = cli(['up', '--time', 'now', '--start', '-1h', '--url', url])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /^peregrine: --time asks for an instant query/)
    r = cli(['up', '--url', url], { PEREGRINE_TOKEN: '' })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /^peregrine: unauthorized: .*--token/)
  })
})
