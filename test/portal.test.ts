// The portal end to end in a real all-in-one process: configuration written through /api/v1 reaches
// agents and judges through hbs (Go jsonrpc over TCP), and an agent's heartbeat registers its host,
// which the API then lists.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonRpcClient } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

let dir = ''
let aio: PeregrineProcess
let api = ''
let token = ''
let hbs: JsonRpcClient

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://${api}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function reload() {
  const res = await fetch(`http://${aio.addresses.hbs.http}/config/reload`)
  assert.equal(res.status, 200, await res.text())
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-portal-'))
  aio = await startPeregrine(dir, [])
  api = aio.addresses.api.http
  token = await loginRoot(api)
  hbs = new JsonRpcClient(aio.addresses.hbs.rpc)
})

after(async () => {
  hbs.close()
  await aio.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('portal: api → store → hbs', () => {
  it('registers an agent on its heartbeat, and the API lists the host', async () => {
    const r = await hbs.call('Agent.ReportStatus', {
      Hostname: 'web-01',
      IP: '10.0.0.1',
      AgentVersion: '5.1.2',
      PluginVersion: 'plugin not enabled',
    })
    assert.deepEqual(r, { code: 0 })
    const g = await call('POST', '/hostgroup', { name: 'web' })
    assert.equal(g.status, 200)
    const bind = await call('POST', '/hostgroup/host', {
      hostgroup_id: g.body.id,
      hosts: ['web-01'],
    })
    assert.equal(bind.status, 200, JSON.stringify(bind.body))
    const got = await call('GET', `/hostgroup/${String(g.body.id)}`)
    const hosts = got.body.hosts as { hostname: string; ip: string; agent_version: string }[]
    assert.deepEqual(
      hosts.map((h) => [h.hostname, h.ip, h.agent_version]),
      [['web-01', '10.0.0.1', '5.1.2']]
    )
  })

  it('serves strategies inherited through templates, builtin metrics and plugins to the host', async () => {
    const groups = (await call('GET', '/hostgroup?q=^web$')).body as unknown as { id: number }[]
    const grp = groups[0].id
    const parent = await call('POST', '/template', { name: 'base', parent_id: 0 })
    assert.equal(parent.status, 200, JSON.stringify(parent.body))
    const parentId = (await call('GET', '/template?q=^base$')).body.templates as {
      template: { id: number }
    }[]
    const base = parentId[0].template.id
    await call('POST', '/template', { name: 'web-tpl', parent_id: base })
    const child = (
      (await call('GET', '/template?q=^web-tpl$')).body.templates as {
        template: { id: number }
      }[]
    )[0].template.id
    const strategy = (tpl: number, metric: string, tags: string, right: string) =>
      call('POST', '/strategy', {
        tpl_id: tpl,
        metric,
        tags,
        func: 'all(#3)',
        op: '<',
        right_value: right,
        max_step: 3,
        priority: 1,
        note: metric,
        run_begin: '',
        run_end: '',
      })
    for (const r of [
      await strategy(base, 'cpu.idle', '', '10'),
      await strategy(base, 'df.bytes.free.percent', 'mount=/', '5'),
      await strategy(child, 'cpu.idle', '', '20'),
      await strategy(child, 'net.port.listen', 'port=80', '1'),
    ]) {
      assert.equal(r.status, 200, JSON.stringify(r.body))
    }
    const b = await call('POST', '/hostgroup/template', { tpl_id: child, grp_id: grp })
    assert.equal(b.status, 200, JSON.stringify(b.body))
    const p = await call('POST', '/plugin', { hostgroup_id: grp, dir_path: 'sys/ntp' })
    assert.equal(p.status, 200, JSON.stringify(p.body))
    await reload()

    const all = await hbs.call<{
      hostStrategies: { hostname: string; strategies: Record<string, unknown>[] }[]
    }>('Hbs.GetStrategies', {})
    const mine = all.hostStrategies.find((h) => h.hostname === 'web-01')
    assert.ok(mine !== undefined, JSON.stringify(all))
    const seen = mine.strategies.map((s) => [s.metric, s.rightValue, (s.tpl as { id: number }).id])
    assert.deepEqual(
      seen.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ['cpu.idle', 20, child],
        ['df.bytes.free.percent', 5, child],
        ['net.port.listen', 1, child],
      ]
    )
    const builtin = await hbs.call<{ Metrics: { Metric: string; Tags: string }[] }>(
      'Agent.BuiltinMetrics',
      { Hostname: 'web-01', Checksum: 'nil' }
    )
    assert.deepEqual(builtin.Metrics, [{ Metric: 'net.port.listen', Tags: 'port=80' }])
    const plugins = await hbs.call<{ Plugins: string[] }>('Agent.MinePlugins', {
      Hostname: 'web-01',
      Checksum: '',
    })
    assert.deepEqual(plugins.Plugins, ['sys/ntp'])
  })

  it('stops serving strategies to a host in maintenance', async () => {
    const now = Math.floor(Date.now() / 1000)
    const m = await call('POST', '/host/maintain', {
      hosts: ['web-01'],
      maintain_begin: now - 60,
      maintain_end: now + 3600,
    })
    assert.equal(m.status, 200, JSON.stringify(m.body))
    await reload()
    const all = await hbs.call<{ hostStrategies: { hostname: string }[] }>('Hbs.GetStrategies', {})
    assert.equal(
      all.hostStrategies.find((h) => h.hostname === 'web-01'),
      undefined,
      JSON.stringify(all)
    )
  })
})
