// Alerting end to end in a real all-in-one process: rules written through /api/v1 reach judge through
// hbs, points pushed to transfer cross them, and alarm tells people over a real SMTP server and a real
// webhook receiver, and calls back a receiver on loopback that its configuration allows; then the
// same through a real Redis (a private redis-server, restarted mid-stream).
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { waitUntil } from '../src/core/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'
import { type Mail, startHttpSink, startSmtpSink } from './support/sinks.js'

type Sinks = {
  smtp: Awaited<ReturnType<typeof startSmtpSink>>
  http: Awaited<ReturnType<typeof startHttpSink>>
}

/** A portal client for one running process. */
function portal(aio: PeregrineProcess, token: string) {
  const api = aio.addresses.api.http
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://${api}/api/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', apitoken: token },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown> & unknown[]
  }
  const push = async (items: unknown[]) => {
    const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
      method: 'POST',
      body: JSON.stringify(items),
    })
    assert.equal(res.status, 200, await res.text())
  }
  /** rules: makes hbs and judge take the store's rules now rather than at their next refresh. */
  const rules = async () => {
    for (const url of [
      `http://${aio.addresses.hbs.http}/config/reload`,
      `http://${aio.addresses.judge.http}/config/reload`,
    ]) {
      const res = await fetch(url)
      assert.equal(res.status, 200, await res.text())
    }
  }
  return { call, push, rules }
}

/**
 * setUp writes a user, a team, a host group with a template, two strategies and an action that calls
 * `callback` back.
 */
async function setUp(p: ReturnType<typeof portal>, callback: string) {
  const alice = await p.call('POST', '/user/create', {
    name: 'alice',
    password: 'alice-password',
    email: 'alice@example.com',
  })
  await p.call('POST', '/team', { team_name: 'ops', users: [alice.id] })
  const grp = await p.call('POST', '/hostgroup', { name: 'web' })
  await p.call('POST', '/hostgroup/host', { hostgroup_id: grp.id, hosts: ['web-01'] })
  const tpl = await p.call('POST', '/template', { name: 'base' })
  await p.call('POST', '/strategy', {
    metric: 'cpu.idle',
    tags: '',
    max_step: 2,
    priority: 0,
    func: 'all(#2)',
    op: '<',
    right_value: '10',
    note: 'cpu busy',
    run_begin: '',
    run_end: '',
    tpl_id: tpl.id,
  })
  await p.call('POST', '/strategy', {
    metric: 'disk.busy',
    tags: '',
    max_step: 1,
    priority: 4,
    func: 'all(#1)',
    op: '>',
    right_value: '90',
    note: 'disk busy',
    run_begin: '',
    run_end: '',
    tpl_id: tpl.id,
  })
  await p.call('POST', '/template/action', {
    tpl_id: tpl.id,
    uic: 'ops',
    url: callback,
    callback: 1,
  })
  await p.call('POST', '/hostgroup/template', { grp_id: grp.id, tpl_id: tpl.id })
  await p.rules()
}

const point = (metric: string, timestamp: number, value: number, tags = '') => ({
  endpoint: 'web-01',
  metric,
  timestamp,
  value,
  step: 60,
  counterType: 'GAUGE',
  tags,
})

const subjects = (mails: Mail[]) => mails.map((m) => m.subject)

/**
 * startAlerting starts the sinks and an all-in-one in `dir` (with `top`-level settings) whose alarm
 * sends to them with short merge and retry intervals, and writes the rules of setUp. `stop` stops
 * the process and the sinks.
 */
async function startAlerting(dir: string, top: Record<string, unknown> = {}) {
  const sinks: Sinks = { smtp: await startSmtpSink(), http: await startHttpSink() }
  const aio = await startPeregrine(dir, [], {
    top,
    judge: { minInterval: 0 },
    alarm: {
      mergeInterval: 500,
      retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
      // The callback receiver is on loopback, which a user's callback URL reaches only when allowed.
      callbackAllow: ['127.0.0.1'],
      channels: {
        mail: { smtp: sinks.smtp.url, from: 'falcon@example.com' },
        webhooks: [{ name: 'hook', url: `${sinks.http.base}/hook` }],
      },
    },
  })
  const p = portal(aio, await loginRoot(aio.addresses.api.http))
  await setUp(p, `${sinks.http.base}/callback`)
  const stop = async () => {
    await aio.stop()
    await sinks.smtp.close()
    await sinks.http.close()
  }
  return { sinks, p, stop }
}

describe('alerting in process: points → judge → alarm → mail and webhook', () => {
  let dir = ''
  let sinks: Sinks
  let p: ReturnType<typeof portal>
  let stop: () => Promise<void>
  // Minute-aligned timestamps in the past, so transfer's alignment keeps them as they are.
  const base = Math.floor(Date.now() / 1000 / 60) * 60 - 3600

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-alarm-'))
    ;({ sinks, p, stop } = await startAlerting(dir))
  })

  after(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('mails and posts a PROBLEM, repeats it up to max step, then sends OK', async () => {
    await p.push([point('cpu.idle', base, 5), point('cpu.idle', base + 60, 4.5)])
    await waitUntil(() => sinks.smtp.mails.length === 1, 'the PROBLEM mail')
    const [mail] = sinks.smtp.mails
    assert.deepEqual(mail.to, ['alice@example.com'])
    assert.match(
      mail.subject,
      /^\[P0\]\[PROBLEM\]\[web-01\]\[\]\[cpu busy all\(#2\) cpu\.idle {2}4\.5<10\]\[O1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]$/
    )
    assert.match(
      mail.text,
      /^PROBLEM\r\nP0\r\nEndpoint:web-01\r\nMetric:cpu\.idle\r\nTags:\r\nall\(#2\): 4\.5<10\r\nNote:cpu busy\r\nMax:2, Current:1\r\n/
    )
    const at = (path: string) => sinks.http.requests.filter((r) => r.url.startsWith(path))
    await waitUntil(() => at('/hook').length === 1, 'the webhook')
    const hook = at('/hook')[0]
    assert.equal(hook.method, 'POST')
    assert.equal(hook.url, '/hook')
    const body = JSON.parse(hook.body) as Record<string, unknown>
    assert.equal(body.status, 'PROBLEM')
    assert.equal(body.endpoint, 'web-01')
    assert.equal(body.leftValue, 4.5)

    // falcon's callback, to a receiver on 127.0.0.1 that alarm.callbackAllow allows.
    await waitUntil(() => at('/callback').length === 1, 'the callback')
    const cb = new URL(at('/callback')[0].url, sinks.http.base).searchParams
    assert.deepEqual(
      [cb.get('endpoint'), cb.get('metric'), cb.get('status')],
      ['web-01', 'cpu.idle', 'PROBLEM']
    )

    // The next point's history overlaps the one that fired: no repeat. The one after: step 2. Then
    // max step (2) is reached and nothing more is sent however long the problem lasts.
    await p.push([point('cpu.idle', base + 120, 3)])
    await p.push([point('cpu.idle', base + 180, 2)])
    await waitUntil(() => sinks.smtp.mails.length === 2, 'the second PROBLEM mail')
    assert.match(sinks.smtp.mails[1].subject, /\[O2 /)
    for (let i = 4; i < 8; i++) await p.push([point('cpu.idle', base + i * 60, 1)])
    // Recovery: one OK.
    await p.push([point('cpu.idle', base + 480, 80)])
    await waitUntil(() => sinks.smtp.mails.length === 3, 'the OK mail')
    assert.match(
      sinks.smtp.mails[2].subject,
      /^\[P0\]\[OK\]\[web-01\]\[\]\[cpu busy all\(#2\) cpu\.idle {2}80<10\]\[O1 /
    )
    assert.equal(
      subjects(sinks.smtp.mails).filter((s) => s.includes('[PROBLEM]')).length,
      2,
      'max step stops repeats'
    )

    // The history as the API shows it: the case, its three events, and the deliveries.
    const cases = (await p.call(
      'GET',
      `/alarm/eventcases?endpoints=web-01&startTime=${base - 60}&endTime=${base + 3600}`
    )) as unknown as {
      id: string
      status: string
      current_step: number
      metric: string
    }[]
    const cpu = cases.find((c) => c.metric === 'cpu.idle')
    assert.ok(cpu, JSON.stringify(cases))
    assert.equal(cpu.status, 'OK')
    const events = (await p.call('GET', `/alarm/events?event_id=${cpu.id}`)) as unknown as {
      status: number
      step: number
    }[]
    assert.deepEqual(events.map((e) => [e.status, e.step]).sort(), [
      [0, 1],
      [0, 2],
      [1, 1],
    ])
    const sent = (await p.call('GET', `/alarm/notifications?event_id=${cpu.id}`)) as unknown as {
      channel: string
      status: string
    }[]
    assert.equal(sent.filter((n) => n.channel === 'mail' && n.status === 'sent').length, 3)
    assert.equal(sent.filter((n) => n.channel === 'callback' && n.status === 'sent').length, 3)
  })

  it('merges low-priority messages per user and minute', async () => {
    const before = sinks.smtp.mails.length
    await p.push([
      point('disk.busy', base, 95, 'mount=/a'),
      point('disk.busy', base, 97, 'mount=/b'),
      point('disk.busy', base, 99, 'mount=/c'),
    ])
    await waitUntil(() => sinks.smtp.mails.length > before, 'the merged mail')
    // Give a second merge the chance to send anything left over, then check there was one mail.
    await new Promise((r) => setTimeout(r, 800))
    const merged = sinks.smtp.mails.slice(before)
    assert.deepEqual(subjects(merged), ['[P4][PROBLEM] 3 disk.busy'])
    assert.equal(merged[0].text.split('\r\n').filter((l) => l.startsWith('PROBLEM')).length, 3)
  })
})

/** startRedis runs a private redis-server with an fsynced append-only file, so a restart keeps lists. */
async function startRedis(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: 'ignore' }
  )
  await waitUntil(
    () =>
      new Promise<boolean>((ok) => {
        const s = createServer()
        s.once('error', () => ok(true))
        s.listen(port, '127.0.0.1', () => s.close(() => ok(false)))
      }),
    'redis-server to listen'
  )
  return child
}

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => ok(port))
    })
  })
}

describe('alerting through Redis, with Redis restarted mid-stream', () => {
  let dir = ''
  let sinks: Sinks
  let p: ReturnType<typeof portal>
  let stop: () => Promise<void>
  let redis: ChildProcess
  let port = 0
  const base = Math.floor(Date.now() / 1000 / 60) * 60 - 3600

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-alarm-redis-'))
    port = await freePort()
    redis = await startRedis(dir, port)
    ;({ sinks, p, stop } = await startAlerting(dir, { redis: `redis://127.0.0.1:${port}` }))
  })

  after(async () => {
    await stop()
    redis.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('loses no event while Redis is down', async () => {
    await p.push([point('cpu.idle', base, 5), point('cpu.idle', base + 60, 5)])
    await waitUntil(() => sinks.smtp.mails.length === 1, 'the PROBLEM mail through Redis')
    const exited = new Promise((ok) => redis.once('exit', ok))
    redis.kill('SIGTERM')
    await exited
    // While Redis is down: judge fires step 2, then OK; both wait in judge's queue.
    await p.push([point('cpu.idle', base + 120, 5)])
    await p.push([point('cpu.idle', base + 180, 5)])
    await p.push([point('cpu.idle', base + 240, 50)])
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(sinks.smtp.mails.length, 1, 'nothing can be delivered while Redis is down')
    redis = await startRedis(dir, port)
    await waitUntil(
      () => sinks.smtp.mails.length === 3,
      'the held events, once Redis is back',
      30_000
    )
    // Alarm's send workers (falcon's too) send at once, so the two may arrive in either order.
    const held = sinks.smtp.mails.slice(1).map((m) => m.subject)
    assert.equal(held.filter((s) => /^\[P0\]\[PROBLEM\].*\[O2 /.test(s)).length, 1, held.join('\n'))
    assert.equal(held.filter((s) => /^\[P0\]\[OK\]/.test(s)).length, 1, held.join('\n'))
  })
})
