// The agent end to end in a real all-in-one process: its built-in metrics and a plugin bound through
// hbs travel agent → transfer → graph and read back through /api/v1/graph/history.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BIN,
  loginRoot,
  type PeregrineProcess,
  startPeregrine,
} from './support/peregrine-process.js'

let dir = ''
let aio: PeregrineProcess
let api = ''
let token = ''
const HOST = 'e2e-agent'

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://${api}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as unknown }
}

async function history(counter: string): Promise<{ timestamp: number; value: number | null }[]> {
  const now = Math.floor(Date.now() / 1000)
  const r = await call('POST', '/graph/history', {
    hostnames: [HOST],
    counters: [counter],
    start_time: now - 3600,
    end_time: now + 60,
    consol_fun: 'AVERAGE',
  })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  const series = r.body as { Values: { timestamp: number; value: number | null }[] }[]
  return series[0]?.Values.filter((v) => v.value !== null) ?? []
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-agent-'))
  const plugins = join(dir, 'plugins')
  mkdirSync(join(plugins, 'custom'), { recursive: true })
  // A plugin as falcon's convention has it: <cycle>_<name>, stdout a JSON array of MetricValue. Step
  // 30 (transfer's smallest): two of its points fall in two buckets within 30 s, where step 60 could
  // take a whole minute and race the test's wait.
  const script = join(plugins, 'custom', '1_hello.sh')
  writeFileSync(
    script,
    `#!/bin/sh\necho "[{\\"endpoint\\":\\"${HOST}\\",\\"metric\\":\\"hello.world\\",\\"value\\":42,\\"step\\":30,\\"counterType\\":\\"GAUGE\\",\\"tags\\":\\"src=plugin\\",\\"timestamp\\":$(date +%s)}]"\n`
  )
  chmodSync(script, 0o755)
  // A plugin that hangs: killed at its timeout without holding up the other one.
  const slow = join(plugins, 'custom', '1_slow.sh')
  writeFileSync(slow, '#!/bin/sh\nsleep 30\n')
  chmodSync(slow, 0o755)
  aio = await startPeregrine(dir, [], {
    agent: {
      hostname: HOST,
      heartbeat: { interval: 1 },
      transfer: { interval: 2 },
      plugin: { enabled: true, dir: plugins, logs: join(dir, 'plugin-logs') },
    },
  })
  api = aio.addresses.api.http
  token = await loginRoot(api)
})

after(async () => {
  await aio.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('agent → transfer → graph → api', () => {
  it('pushes cpu.idle and the other built-in metrics of this host', async () => {
    const points = await eventually('cpu.idle in graph', async () => {
      const v = await history('cpu.idle')
      return v.length > 0 ? v : undefined
    })
    assert.ok(points.every((p) => p.value !== null && p.value >= 0 && p.value <= 100))
    for (const counter of ['agent.alive', 'load.1min', 'mem.memfree.percent', 'kernel.maxfiles']) {
      await eventually(counter, async () =>
        (await history(counter)).length > 0 ? true : undefined
      )
    }
  })

  it('runs a plugin bound to its host group through hbs, and a hanging one does not stall it', async () => {
    const g = await call('POST', '/hostgroup', { name: 'agents' })
    assert.equal(g.status, 200, JSON.stringify(g.body))
    const id = (g.body as { id: number }).id
    assert.equal(
      (await call('POST', '/hostgroup/host', { hostgroup_id: id, hosts: [HOST] })).status,
      200
    )
    assert.equal(
      (await call('POST', '/plugin', { hostgroup_id: id, dir_path: 'custom' })).status,
      200
    )
    await fetch(`http://${aio.addresses.hbs.http}/config/reload`)
    const points = await eventually('hello.world in graph', async () => {
      const v = await history('hello.world/src=plugin')
      return v.length >= 2 ? v : undefined
    })
    assert.ok(points.every((p) => p.value === 42))
  })

  it('takes local pushes on /v1/push, as scripts send them to falcon-agent', async () => {
    const now = Math.floor(Date.now() / 1000)
    const res = await fetch(`http://${aio.addresses.agent.http}/v1/push`, {
      method: 'POST',
      body: JSON.stringify([
        {
          endpoint: HOST,
          metric: 'script.metric',
          value: 7,
          step: 60,
          counterType: 'GAUGE',
          tags: '',
          timestamp: now,
        },
      ]),
    })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'success')
    const points = await eventually('script.metric', async () => {
      const v = await history('script.metric')
      return v.length > 0 ? v : undefined
    })
    assert.equal(points[0].value, 7)
  })
})

describe('a standalone agent', () => {
  it('exits non-zero with one sentence when its HTTP port is taken, though hbs and transfer answer', () => {
    const config = join(dir, 'standalone-agent.json')
    writeFileSync(
      config,
      JSON.stringify({
        agent: {
          hostname: 'standalone',
          // The all-in-one's agent holds this port already.
          http: { enabled: true, listen: aio.addresses.agent.http },
          heartbeat: { enabled: true, addr: aio.addresses.hbs.rpc, interval: 60 },
          transfer: { enabled: true, addrs: [aio.addresses.transfer.rpc], interval: 60 },
        },
      })
    )
    // The bound is only for a broken agent, which would run on and hold the suite until its timeout.
    const r = spawnSync(
      process.execPath,
      [BIN, '--data-dir', join(dir, 'standalone'), 'start', 'agent', '-c', config],
      { encoding: 'utf8', timeout: 60_000 }
    )
    assert.equal(r.signal, null, `still running after 60 s: ${r.stderr}`)
    assert.equal(r.status, 1, r.stderr)
    assert.equal(
      r.stderr,
      `peregrine: agent.http.listen: ${aio.addresses.agent.http} is already in use; stop the program holding it or set another port\n`
    )
  })
})
