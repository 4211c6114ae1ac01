// nodata in a real all-in-one: an agent's series stops; exactly one mock point appears one timeout
// after its last point arrived; the strategy `agent.alive all(#1) == -1` mails a PROBLEM through a
// real SMTP server; the series resumes and the OK is mailed. A host in maintenance gets no mock.
// The timeout is shortened (timeoutFloor 0: 3 × step of 5 s) so the story takes seconds, not minutes.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { waitUntil } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'
import { startSmtpSink } from './support/sinks.js'

const STEP = 5
const TIMEOUT_MS = 3 * STEP * 1000

let dir = ''
let aio: PeregrineProcess
let token = ''
let smtp: Awaited<ReturnType<typeof startSmtpSink>>

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://${aio.addresses.api.http}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`)
  return JSON.parse(text) as Record<string, unknown>
}

/** push sends agent.alive = 1 for `hosts` now, as a falcon agent would, and resolves once acknowledged. */
async function push(hosts: string[]) {
  const now = Math.floor(Date.now() / 1000)
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      hosts.map((endpoint) => ({
        endpoint,
        metric: 'agent.alive',
        value: 1,
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
        timestamp: now,
      }))
    ),
  })
  assert.equal(res.status, 200, await res.text())
}

/** samples reads a host's raw agent.alive points of the last few minutes through the Prometheus API. */
async function samples(host: string): Promise<[number, number][]> {
  const q = encodeURIComponent(`agent_alive{endpoint="${host}"}[5m]`)
  const res = await fetch(`http://${aio.addresses.api.http}/api/v1/query?query=${q}`, {
    headers: { apitoken: token },
  })
  const body = (await res.json()) as {
    data: { result: { values: [number, string][] }[] }
  }
  assert.equal(res.status, 200, JSON.stringify(body))
  return (body.data.result[0]?.values ?? []).map(([t, v]) => [t, Number(v)])
}

async function status(host: string) {
  const res = await fetch(`http://${aio.addresses.nodata.http}/proc/status/${host}/agent.alive`)
  return ((await res.json()) as { data: Record<string, unknown> }).data
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-nodata-'))
  smtp = await startSmtpSink()
  aio = await startPeregrine(dir, [], {
    transfer: { minStep: STEP },
    judge: { minInterval: 0 },
    nodata: { timeoutFloor: 0, refreshInterval: 200 },
    alarm: {
      mergeInterval: 500,
      channels: { mail: { smtp: smtp.url, from: 'falcon@example.com' } },
    },
  })
  token = await loginRoot(aio.addresses.api.http)
  const alice = await call('POST', '/user/create', {
    name: 'alice',
    password: 'alice-password',
    email: 'alice@example.com',
  })
  await call('POST', '/team', { team_name: 'ops', users: [alice.id] })
  const grp = await call('POST', '/hostgroup', { name: 'web' })
  await call('POST', '/hostgroup/host', { hostgroup_id: grp.id, hosts: ['web-01', 'web-02'] })
  const tpl = await call('POST', '/template', { name: 'alive' })
  await call('POST', '/strategy', {
    metric: 'agent.alive',
    tags: '',
    max_step: 1,
    priority: 0,
    func: 'all(#1)',
    op: '==',
    right_value: '-1',
    note: 'agent dead',
    run_begin: '',
    run_end: '',
    tpl_id: tpl.id,
  })
  await call('POST', '/template/action', { tpl_id: tpl.id, uic: 'ops' })
  await call('POST', '/hostgroup/template', { grp_id: grp.id, tpl_id: tpl.id })
  for (const url of [
    `http://${aio.addresses.hbs.http}/config/reload`,
    `http://${aio.addresses.judge.http}/config/reload`,
  ])
    assert.equal((await fetch(url)).status, 200)
  // The group's hosts are watched; web-02 goes into maintenance for the next hour.
  await call('POST', '/nodata/', {
    name: 'agent-alive',
    obj: 'web',
    obj_type: 'group',
    metric: 'agent.alive',
    tags: '',
    dstype: 'GAUGE',
    step: STEP,
    mock: -1,
  })
  const now = Math.floor(Date.now() / 1000)
  await call('POST', '/host/maintain', {
    hosts: ['web-02'],
    maintain_begin: now - 60,
    maintain_end: now + 3600,
  })
})

after(async () => {
  await aio?.stop()
  await smtp?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('nodata in an all-in-one', () => {
  it('mocks a silent series once one timeout after its last point, alarms, and recovers', async () => {
    // Both agents report for a while, then stop.
    for (let i = 0; i < 3; i++) {
      await push(['web-01', 'web-02'])
      await new Promise((r) => setTimeout(r, 1000))
    }
    await push(['web-01', 'web-02'])
    const lastPush = Date.now()
    await waitUntil(
      async () => (await status('web-01')).Status === 'OK',
      'web-01 judged OK',
      10_000
    )

    await waitUntil(
      async () => (await samples('web-01')).some(([, v]) => v === -1),
      'the mock point',
      TIMEOUT_MS + 15_000
    )
    const seenAt = Date.now()
    // Not before the timeout: the decision came one timeout after the last point arrived.
    assert.ok(
      seenAt - lastPush >= TIMEOUT_MS,
      `mock seen ${seenAt - lastPush} ms after the last push`
    )
    const s = await status('web-01')
    assert.equal(s.Status, 'NODATA')
    assert.equal(s.Cnt, 1)
    assert.match(String(s.Reason), /no point arrived for/)
    const mocks = (await samples('web-01')).filter(([, v]) => v === -1)
    assert.equal(mocks.length, 1, JSON.stringify(mocks))
    // falcon's timestamp: two steps before the step it was decided in.
    const judged = Number(s.JudgedAt)
    assert.equal(mocks[0][0], judged - (judged % STEP) - 2 * STEP)

    await waitUntil(
      () => smtp.mails.some((m) => m.subject.includes('[PROBLEM]') && m.subject.includes('web-01')),
      'the PROBLEM mail',
      15_000
    )
    // The host in maintenance: no mock, and nodata says why.
    const m = await status('web-02')
    assert.equal(m.Status, 'MAINTENANCE')
    assert.match(String(m.Reason), /maintenance/)
    assert.deepEqual(
      (await samples('web-02')).filter(([, v]) => v === -1),
      []
    )

    // web-01 comes back: the judge sees 1, the OK is mailed, nodata turns OK and mocks no more.
    for (let i = 0; i < 3; i++) {
      await push(['web-01'])
      await new Promise((r) => setTimeout(r, 1000))
    }
    await waitUntil(
      () => smtp.mails.some((m) => m.subject.includes('[OK]') && m.subject.includes('web-01')),
      'the OK mail',
      15_000
    )
    await waitUntil(async () => (await status('web-01')).Status === 'OK', 'web-01 OK again', 15_000)
    assert.equal(
      smtp.mails.filter((m) => m.subject.includes('[PROBLEM]')).length,
      1,
      smtp.mails.map((m) => m.subject).join('\n')
    )
  })

  it('answers falcon status routes and refuses bad queries with a reason', async () => {
    const base = `http://${aio.addresses.nodata.http}`
    const list = (await (await fetch(`${base}/proc/status?status=nodata&limit=10`)).json()) as {
      data: unknown[]
    }
    assert.ok(Array.isArray(list.data))
    const bad = await fetch(`${base}/proc/status?limit=0`)
    assert.equal(bad.status, 400)
    assert.match(await bad.text(), /limit/)
    const badStatus = await fetch(`${base}/proc/status?status=dead`)
    assert.equal(badStatus.status, 400)
    assert.match(await badStatus.text(), /status: expected one of/)
    const unknown = (await (await fetch(`${base}/proc/status/nope/x`)).json()) as { data: unknown }
    assert.deepEqual(unknown.data, { Key: '', Status: '', Cnt: 0, Ts: 0 })
    const cfg = (await (await fetch(`${base}/proc/config/web-01/agent.alive`)).json()) as {
      data: Record<string, unknown>
    }
    assert.equal(cfg.data.Name, 'agent-alive')
    assert.equal(cfg.data.ObjType, 'group')
    const group = (await (await fetch(`${base}/proc/group/web`)).json()) as { data: object }
    assert.deepEqual(Object.keys(group.data).sort(), ['web-01', 'web-02'])
    assert.equal(await (await fetch(`${base}/health`)).text(), 'ok\n')
    // The routes that act answer this host only: not a relayed request, not a web page.
    const relayed = await fetch(`${base}/debug/sender/send`, {
      headers: { 'x-forwarded-for': '10.0.0.1' },
    })
    assert.equal(relayed.status, 403)
    assert.match(await relayed.text(), /relayed/)
    const page = await fetch(`${base}/config/reload`, {
      headers: { origin: 'http://evil.example' },
    })
    assert.equal(page.status, 403)
    assert.equal((await fetch(`${base}/config/reload`)).status, 200)
    const counters = (await (await fetch(`${base}/counter/all`)).json()) as {
      data: { listeners: { http: { refused: number } }; watched: number }
    }
    assert.equal(counters.data.watched, 2)
    assert.equal(counters.data.listeners.http.refused, 0)
  })
})
