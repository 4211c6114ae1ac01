// Falcon strategies on Prometheus series, in a real all-in-one: a strategy on `node_load1` with the
// tag `instance=host1:9100`, bound to a host group holding host1, fires on what Prometheus remote-writes
// for that instance (its endpoint is the instance's host) and not on another instance of the host.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeSnappy, encodeWriteRequest, waitUntil } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

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
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`)
  return JSON.parse(text) as Record<string, unknown> & unknown[]
}

async function remoteWrite(instance: string, values: [number, number][]) {
  const body = encodeSnappy(
    encodeWriteRequest([
      {
        labels: [
          ['__name__', 'node_load1'],
          ['instance', instance],
          ['job', 'node'],
        ],
        samples: values,
      },
    ])
  )
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/v1/write`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
    body: new Uint8Array(body),
  })
  assert.equal(res.status, 204, await res.text())
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-prom-judge-'))
  aio = await startPeregrine(dir, [], { judge: { minInterval: 0 } })
  token = await loginRoot(aio.addresses.api.http)
  const grp = await call('POST', '/hostgroup', { name: 'nodes' })
  await call('POST', '/hostgroup/host', { hostgroup_id: grp.id, hosts: ['host1'] })
  const tpl = await call('POST', '/template', { name: 'node-exporter' })
  await call('POST', '/strategy', {
    metric: 'node_load1',
    tags: 'instance=host1:9100',
    max_step: 3,
    priority: 2,
    func: 'all(#2)',
    op: '>',
    right_value: '4',
    note: 'load high',
    run_begin: '',
    run_end: '',
    tpl_id: tpl.id,
  })
  await call('POST', '/hostgroup/template', { grp_id: grp.id, tpl_id: tpl.id })
  for (const url of [
    `http://${aio.addresses.hbs.http}/config/reload`,
    `http://${aio.addresses.judge.http}/config/reload`,
  ]) {
    const res = await fetch(url)
    assert.equal(res.status, 200, await res.text())
  }
})

after(async () => {
  await aio.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('falcon strategies on Prometheus series', () => {
  it('fire on a remote-written series of the bound host, tag for tag', async () => {
    const t = Date.now() - 120_000
    // Another exporter on the same host: the strategy's tag leaves it out.
    await remoteWrite('host1:9200', [
      [t, 9],
      [t + 15_000, 9],
    ])
    await remoteWrite('host1:9100', [
      [t, 5.5],
      [t + 15_000, 6.25],
    ])
    let cases: Record<string, unknown>[] = []
    await waitUntil(async () => {
      cases = (await call('GET', '/alarm/eventcases?endpoints=host1')) as Record<string, unknown>[]
      return cases.length > 0
    }, 'an event case of host1')
    assert.equal(cases.length, 1, JSON.stringify(cases))
    assert.equal(cases[0].endpoint, 'host1')
    // Falcon's event case names the counter: the metric and the series' tags.
    assert.equal(cases[0].metric, 'node_load1/instance=host1:9100,job=node')
    assert.equal(cases[0].status, 'PROBLEM')
  })
})
