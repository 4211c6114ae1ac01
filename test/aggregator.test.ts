// aggregator in a real all-in-one: a group of 3 hosts pushing cpu.used, the rule $(cpu.used)/$#
// read back as cluster/cpu.used.avg with the right value at each step; a host that goes silent is
// left out (the average of the two others), never counted as zero. Steps of 5 s keep it short.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { waitUntil } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const STEP = 5
const VALUES: Record<string, number> = { 'node-1': 10, 'node-2': 20, 'node-3': 30 }

let dir = ''
let aio: PeregrineProcess
let token = ''

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://${aio.addresses.api.http}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown> }
}

async function ok(method: string, path: string, body?: unknown) {
  const r = await call(method, path, body)
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

async function push(hosts: string[]) {
  const now = Math.floor(Date.now() / 1000)
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      hosts.map((endpoint) => ({
        endpoint,
        metric: 'cpu.used',
        value: VALUES[endpoint],
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
        timestamp: now,
      }))
    ),
  })
  assert.equal(res.status, 200, await res.text())
}

/** series reads the aggregated points (timestamp, value) of the last few minutes. */
async function series(metric: string): Promise<[number, number][]> {
  const q = encodeURIComponent(`{__name__="${metric}",endpoint="cluster"}[5m]`)
  const res = await fetch(`http://${aio.addresses.api.http}/api/v1/query?query=${q}`, {
    headers: { apitoken: token },
  })
  const body = (await res.json()) as { data: { result: { values: [number, string][] }[] } }
  assert.equal(res.status, 200, JSON.stringify(body))
  return (body.data.result[0]?.values ?? []).map(([t, v]) => [t, Number(v)])
}

/** pushFor pushes for `hosts` every second for `ms`. */
async function pushFor(hosts: string[], ms: number) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    await push(hosts)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-aggregator-'))
  aio = await startPeregrine(dir, [], {
    transfer: { minStep: STEP },
    aggregator: { refreshInterval: 200 },
  })
  token = await loginRoot(aio.addresses.api.http)
})

after(async () => {
  await aio?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('aggregator in an all-in-one', () => {
  it('refuses malformed rules at the api, naming the field', async () => {
    const grp = await ok('POST', '/hostgroup', { name: 'scratch' })
    const bad = await call('POST', '/aggregator', {
      hostgroup_id: grp.id,
      numerator: '（$(cpu.used)）',
      denominator: '$#',
      endpoint: 'cluster',
      metric: 'x',
      tags: '',
      step: STEP,
    })
    assert.equal(bad.status, 400)
    assert.match(JSON.stringify(bad.body), /numerator.*full-width/)
  })

  it('pushes the group average each step and leaves a silent host out', async () => {
    const grp = await ok('POST', '/hostgroup', { name: 'nodes' })
    await ok('POST', '/hostgroup/host', { hostgroup_id: grp.id, hosts: Object.keys(VALUES) })
    await ok('POST', '/aggregator', {
      hostgroup_id: grp.id,
      numerator: '$(cpu.used)',
      denominator: '$#',
      endpoint: 'cluster',
      metric: 'cpu.used.avg',
      tags: '',
      step: STEP,
    })
    await ok('POST', '/aggregator', {
      hostgroup_id: grp.id,
      numerator: '$(cpu.used) >= 20',
      denominator: '$#',
      endpoint: 'cluster',
      metric: 'cpu.used.ge20',
      tags: '',
      step: STEP,
    })
    await pushFor(Object.keys(VALUES), 3 * STEP * 1000)
    await waitUntil(async () => (await series('cpu.used.avg')).length >= 2, 'two averages', 10_000)
    const all3 = await series('cpu.used.avg')
    assert.deepEqual(new Set(all3.map(([, v]) => v)), new Set([20]), JSON.stringify(all3))
    // One step apart, on multiples of the step.
    for (const [t] of all3) assert.equal(t % STEP, 0)
    assert.deepEqual(new Set((await series('cpu.used.ge20')).map(([, v]) => v)), new Set([2 / 3]))

    // node-3 goes silent: once its last point is older than two steps it is left out.
    const silentFrom = Math.floor(Date.now() / 1000)
    await pushFor(['node-1', 'node-2'], 4 * STEP * 1000)
    const after = await series('cpu.used.avg')
    const later = after.filter(([t]) => t > silentFrom + 2 * STEP)
    assert.ok(later.length >= 1, JSON.stringify(after))
    assert.deepEqual(new Set(later.map(([, v]) => v)), new Set([15]), JSON.stringify(after))
    // Never counted as zero: (10 + 20 + 0) / 3 = 10 or / 2 with a zero never appears.
    assert.ok(
      after.every(([, v]) => v === 20 || v === 15),
      JSON.stringify(after)
    )
    const ge20 = (await series('cpu.used.ge20')).filter(([t]) => t > silentFrom + 2 * STEP)
    assert.deepEqual(new Set(ge20.map(([, v]) => v)), new Set([0.5]))

    const rules = (await (
      await fetch(`http://${aio.addresses.aggregator.http}/proc/rules`)
    ).json()) as { data: { running: { metric: string; last: { outcome: { valid: number } } }[] } }
    const avg = rules.data.running.find((r) => r.metric === 'cpu.used.avg')
    assert.equal(avg?.last.outcome.valid, 2)
  })
})
