import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { connect, type AddressInfo } from 'node:net'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostIsLocalOrAddress, type MetricValue } from '../core/index.js'
import {
  goFixed,
  isTrustable,
  readableSize,
  type AgentHttpContext,
  type CpuUsage,
  type DfUsage,
  type DiskIoDelta,
  type PluginControl,
} from './http.js'
import { injectableAgentHttp } from './http-testing.js'
import { PluginRunner, type Plugin } from './plugins.js'

const temps: string[] = []
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peregrine-agent-http-'))
  temps.push(d)
  return d
}

function procDir(files: Record<string, string>): string {
  const dir = tempDir()
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return dir
}

// A host as /proc shows it; every expected value below is worked out by hand from these numbers.
const PROC = procDir({
  loadavg: '0.52 1.25 2.00 3/412 12345\n',
  uptime: '1000000.55 2000.00\n',
  meminfo: [
    'MemTotal:       16000000 kB',
    'MemFree:         2000000 kB',
    'MemAvailable:    9000000 kB',
    'Buffers:          500000 kB',
    'Cached:          4000000 kB',
    'SwapCached:       100000 kB',
    'SwapTotal:       1000000 kB',
    'HugePages_Total:       0',
    '',
  ].join('\n'),
  cpuinfo: [
    'processor\t: 0',
    'model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz',
    'cpu MHz\t\t: 2199.998',
    '',
    'processor\t: 1',
    'cpu MHz\t\t: 2100.000',
    '',
  ].join('\n'),
  'sys/kernel/pid_max': '4194304\n',
  'sys/fs/file-max': '9223372036854775807\n',
  'sys/kernel/osrelease': '6.1.0-13-amd64\n',
})
const EMPTY_PROC = procDir({})

const NOW_MS = Date.UTC(2024, 0, 2, 3, 4, 5)

interface Harness {
  ctx: AgentHttpContext
  pushes: MetricValue[][]
  exits: number[]
  warnings: string[]
}

function harness(over: Partial<AgentHttpContext> = {}): Harness {
  const pushes: MetricValue[][] = []
  const exits: number[] = []
  const warnings: string[] = []
  const ctx: AgentHttpContext = {
    version: '5.1.2',
    workdir: '/opt/falcon/agent',
    proc: PROC,
    backdoor: false,
    pluginEnabled: false,
    pluginGit: 'https://example.com/plugin.git',
    plugins: undefined,
    hostname: () => 'host-1',
    trustable: () => ['10.0.0.9', ' 10.0.0.10'],
    push: (items) => {
      pushes.push(items)
      return Promise.resolve()
    },
    reloadConfig: () => Promise.resolve({ debug: false, hostname: 'host-1' }),
    exit: () => void exits.push(Date.now()),
    numCpu: () => 4,
    now: () => NOW_MS,
    log: { info: () => undefined, warn: (m) => void warnings.push(m), error: () => undefined },
    ...over,
  }
  return { ctx, pushes, exits, warnings }
}

async function call(
  ctx: AgentHttpContext,
  url: string,
  options: {
    method?: 'GET' | 'POST' | 'HEAD'
    payload?: string
    remoteAddress?: string
    type?: string
    headers?: Record<string, string>
  } = {}
) {
  const app = injectableAgentHttp(ctx)
  try {
    const r = await app.inject({
      method: options.method ?? 'GET',
      url,
      payload: options.payload,
      remoteAddress: options.remoteAddress,
      headers: { ...(options.type ? { 'content-type': options.type } : {}), ...options.headers },
    })
    return { status: r.statusCode, body: r.body, type: r.headers['content-type'] }
  } finally {
    await app.close()
  }
}

const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json; charset=UTF-8'

async function expectText(ctx: AgentHttpContext, url: string, want: string, opts = {}) {
  const r = await call(ctx, url, opts)
  assert.deepEqual(
    { status: r.status, type: r.type, body: r.body },
    { status: 200, type: TEXT, body: want },
    url
  )
}

async function expectJson(ctx: AgentHttpContext, url: string, want: string, opts = {}) {
  const r = await call(ctx, url, opts)
  assert.deepEqual(
    { status: r.status, type: r.type, body: r.body },
    { status: 200, type: JSON_TYPE, body: want },
    url
  )
}

const ok = (data: unknown) => JSON.stringify({ msg: 'success', data })

const item = (metric: string, extra: Partial<Record<keyof MetricValue, unknown>> = {}) => ({
  endpoint: 'host-1',
  metric,
  value: 1.5,
  step: 60,
  counterType: 'GAUGE',
  tags: 'a=b',
  timestamp: 1_704_160_000,
  ...extra,
})

describe('goFixed and readableSize', () => {
  it('round exact ties to even, as Go’s %.1f, and otherwise as toFixed', () => {
    const f = (x: number, d: number, want: string) =>
      assert.equal(goFixed(x, d), want, `${x} %.${d}f`)
    f(0.25, 1, '0.2')
    f(0.75, 1, '0.8')
    f(-0.25, 1, '-0.2')
    f(2.5, 0, '2')
    f(3.5, 0, '4')
    f(0.125, 2, '0.12')
    f(0.375, 2, '0.38')
    f(0.35, 1, '0.3')
    f(1.005, 2, '1.00')
    f(12.3456, 2, '12.35')
    f(100, 1, '100.0')
    f(NaN, 1, 'NaN')
  })
  it('readableSize picks falcon’s unit', () => {
    const f = (raw: number, want: string) => assert.equal(readableSize(raw), want, String(raw))
    f(0, '0.0B')
    f(1023, '1023.0B')
    f(1024, '1.0K')
    f(2304, '2.2K')
    f(53687091200, '50.0G')
    f(1024 ** 5 * 3, '3.0P')
    f(1024 ** 6, 'TooLarge')
  })
})

describe('isTrustable', () => {
  it('trusts loopback and the listed IPs', () => {
    const list = ['10.0.0.9', ' 10.0.0.10']
    assert.equal(isTrustable('127.0.0.1', list), true)
    assert.equal(isTrustable('::1', list), true)
    assert.equal(isTrustable('::ffff:127.0.0.1', list), true)
    assert.equal(isTrustable('10.0.0.9', list), true)
    assert.equal(isTrustable('::ffff:10.0.0.10', list), true)
    assert.equal(isTrustable('127.0.0.2', list), false)
    assert.equal(isTrustable('10.0.0.1', list), false)
    assert.equal(isTrustable(undefined, list), false)
  })
})

describe('agentHttp /v1/push', () => {
  const post = (ctx: AgentHttpContext, payload?: string, type = 'application/json') =>
    call(ctx, '/v1/push', { method: 'POST', payload, type })

  it('pushes a valid batch and answers success, whatever the content type', async () => {
    const h = harness()
    const batch = [item('a'), item('b', { counterType: 'COUNTER', value: '2', tags: '' })]
    const r = await post(h.ctx, JSON.stringify(batch))
    assert.deepEqual(r, { status: 200, type: TEXT, body: 'success' })
    assert.deepEqual(h.pushes, [
      [item('a'), item('b', { counterType: 'COUNTER', value: 2, tags: '' })],
    ])
    // curl -d sends application/x-www-form-urlencoded.
    const form = await post(h.ctx, JSON.stringify([item('c')]), 'application/x-www-form-urlencoded')
    assert.equal(form.body, 'success')
    assert.equal(h.pushes[1][0].metric, 'c')
  })

  it('replaces a missing or bad timestamp with now, as transfer would', async () => {
    const h = harness()
    const r = await post(
      h.ctx,
      JSON.stringify([item('a', { timestamp: 0 }), item('b', { timestamp: undefined })])
    )
    assert.equal(r.body, 'success')
    assert.deepEqual(
      h.pushes[0].map((m) => m.timestamp),
      [NOW_MS / 1000, NOW_MS / 1000]
    )
  })

  it('answers falcon’s texts for a blank or undecodable body', async () => {
    const h = harness()
    assert.deepEqual(await post(h.ctx), { status: 400, type: TEXT, body: 'body is blank\n' })
    assert.deepEqual(await post(h.ctx, ''), { status: 400, type: TEXT, body: 'body is blank\n' })
    const bad = { status: 400, type: TEXT, body: 'connot decode body\n' }
    assert.deepEqual(await post(h.ctx, '[{'), bad)
    assert.deepEqual(await post(h.ctx, '{"metric":"a"}'), bad)
    assert.deepEqual(await post(h.ctx, '"x"'), bad)
    // Go decodes null and [] into an empty list: nothing to send, success.
    assert.equal((await post(h.ctx, 'null')).body, 'success')
    assert.equal((await post(h.ctx, '[]')).body, 'success')
    assert.deepEqual(h.pushes, [])
  })

  it('sends the valid items of a mixed batch and answers 400 naming the bad fields', async () => {
    const h = harness()
    const r = await post(
      h.ctx,
      JSON.stringify([item('a'), item('b', { step: 0 }), item('c', { metric: '' })])
    )
    assert.deepEqual(r, {
      status: 400,
      type: TEXT,
      body:
        '2 of 3 items refused, the other 1 sent: item 1: step: must be a positive integer, got 0; ' +
        'item 2: metric: must be a non-empty string, got ""\n',
    })
    assert.deepEqual(h.pushes, [[item('a')]])
    assert.equal(h.warnings.length, 1)
    assert.match(h.warnings[0], /^agent: \/v1\/push from 127\.0\.0\.1: 2 of 3 items refused/)

    const none = await post(h.ctx, JSON.stringify([item('x', { counterType: 'gauge' })]))
    assert.equal(none.status, 400)
    assert.equal(
      none.body,
      '1 of 1 items refused: item 0: counterType: "gauge" is not one of GAUGE, COUNTER, DERIVE (case-sensitive)\n'
    )
    assert.equal(h.pushes.length, 1)
  })

  it('answers 500 when the sender fails', async () => {
    const h = harness({ push: () => Promise.reject(new Error('queue full')) })
    assert.deepEqual(await post(h.ctx, JSON.stringify([item('a')])), {
      status: 500,
      type: TEXT,
      body: 'push failed: queue full\n',
    })
  })
})

describe('agentHttp server', () => {
  it('bounds how long a client may take to send its headers and body (slowloris)', () => {
    const { server } = injectableAgentHttp(harness().ctx)
    // 0 is Node's "no limit": a client trickling a header line a minute would hold its socket.
    assert.ok(server.headersTimeout > 0, `headersTimeout ${server.headersTimeout}`)
    assert.ok(server.requestTimeout > 0, `requestTimeout ${server.requestTimeout}`)
    assert.ok(server.headersTimeout <= server.requestTimeout)
  })

  it('close() cuts a request whose body stopped arriving after its grace', async () => {
    const app = injectableAgentHttp({ ...harness().ctx, closeGrace: 100 })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const sock = connect(port, '127.0.0.1')
    await new Promise<void>((ok) => sock.once('connect', ok))
    const cut = new Promise<void>((ok) => sock.once('close', () => ok()))
    sock.write('POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[')
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    const closed = app.close().then(() => 'closed')
    const limit = new Promise((r) => setTimeout(() => r('still open'), 3000).unref())
    const first = await Promise.race([closed, limit])
    sock.destroy()
    await closed
    await cut
    assert.equal(first, 'closed')
    assert.ok(Date.now() - started < 2000)
  })
})

describe('agentHttp admin routes', () => {
  it('health, version, workdir, ips, and a Go-style 404', async () => {
    const h = harness({ workdir: '/opt/a<b>&c' })
    await expectText(h.ctx, '/health', 'ok')
    await expectText(h.ctx, '/version', '5.1.2')
    // Go escapes <, > and & in JSON strings.
    await expectJson(h.ctx, '/workdir', '{"msg":"success","data":"/opt/a\\u003cb\\u003e\\u0026c"}')
    await expectJson(h.ctx, '/ips', ok(['10.0.0.9', ' 10.0.0.10']))
    // Like Go's ServeMux, any method.
    await expectText(h.ctx, '/health', 'ok', { method: 'POST' })
    assert.deepEqual(await call(h.ctx, '/nope'), {
      status: 404,
      type: TEXT,
      body: '404 page not found\n',
    })
  })

  it('/config/reload answers trusted callers only', async () => {
    const h = harness()
    const config = ok({ debug: false, hostname: 'host-1' })
    await expectJson(h.ctx, '/config/reload', config)
    await expectJson(h.ctx, '/config/reload', config, { remoteAddress: '::1' })
    await expectJson(h.ctx, '/config/reload', config, { remoteAddress: '10.0.0.9' })
    await expectJson(h.ctx, '/config/reload', config, { remoteAddress: '::ffff:10.0.0.10' })
    await expectText(h.ctx, '/config/reload', 'no privilege', { remoteAddress: '10.0.0.1' })
    const failing = harness({ reloadConfig: () => Promise.reject(new Error('cfg.json: bad JSON')) })
    const r = await call(failing.ctx, '/config/reload')
    assert.deepEqual(r, { status: 500, type: JSON_TYPE, body: '{"msg":"cfg.json: bad JSON"}' })
  })

  it('/exit answers trusted callers and exits one second later', async (t) => {
    const h = harness()
    await expectText(h.ctx, '/exit', 'no privilege', { remoteAddress: '192.168.1.1' })
    t.mock.timers.enable({ apis: ['setTimeout'] })
    await expectText(h.ctx, '/exit', 'exiting...', { remoteAddress: '10.0.0.9' })
    t.mock.timers.tick(999)
    assert.equal(h.exits.length, 0)
    t.mock.timers.tick(1)
    assert.equal(h.exits.length, 1)
  })

  it('/run needs the backdoor and a trusted caller, and answers stdout', async () => {
    await expectText(harness().ctx, '/run', '/run disabled', { method: 'POST', payload: 'echo hi' })
    const h = harness({ backdoor: true, runTimeout: 300 })
    const run = (payload: string | undefined, remoteAddress?: string) =>
      call(h.ctx, '/run', { method: 'POST', payload, remoteAddress, type: 'text/plain' })
    assert.equal((await run('echo hi', '10.0.0.1')).body, 'no privilege')
    assert.deepEqual(await run(undefined), { status: 400, type: TEXT, body: 'body is blank\n' })
    assert.deepEqual(await run('echo "hi $((1+2))"; echo err >&2'), {
      status: 200,
      type: TEXT,
      body: 'hi 3\n',
    })
    assert.equal((await run('echo out; exit 3')).body, 'exec fail: exit status 3')
    assert.equal((await run('sleep 30')).body, 'exec fail: signal: killed (timed out after 300 ms)')
  })
})

describe('agentHttp routes that write, stop, reload or run something', () => {
  const GUARDED = ['/v1/push', '/exit', '/config/reload', '/run', '/plugin/update', '/plugin/reset']
  const busy = () => {
    const calls: string[] = []
    const h = harness({
      backdoor: true,
      pluginEnabled: true,
      plugins: {
        list: () => ({}),
        gitUpdate: () => (calls.push('update'), Promise.resolve('success')),
        gitReset: () => (calls.push('reset'), Promise.resolve('success')),
      },
      reloadConfig: () => (calls.push('reload'), Promise.resolve({})),
      exit: () => void calls.push('exit'),
    })
    return { h, calls }
  }

  it('refuse a Host that is neither localhost nor an IP address (DNS rebinding), with 403', async () => {
    const { h, calls } = busy()
    for (const path of GUARDED) {
      const r = await call(h.ctx, path, {
        method: 'POST',
        payload: 'touch /tmp/pwned',
        headers: { host: 'rebind.evil.example:1988' },
      })
      assert.equal(r.status, 403, path)
      assert.equal(
        r.body,
        `forbidden (PG_AGENT_FORBIDDEN): ${path} needs a Host that is localhost or an IP address, not "rebind.evil.example:1988" (a web page under another name may point it at this agent: DNS rebinding)\n`
      )
    }
    assert.deepEqual(calls, [])
    assert.deepEqual(h.pushes, [])
  })

  it('refuse a page of another origin, the same host on another port included, with 403', async () => {
    const { h, calls } = busy()
    const pages: Record<string, string>[] = [
      { host: '127.0.0.1:1988', origin: 'http://127.0.0.1:8080' },
      { host: '127.0.0.1:1988', origin: 'https://evil.example' },
      { host: '127.0.0.1:1988', origin: 'null' },
      { host: 'localhost:1988', 'sec-fetch-site': 'same-site' },
      { host: 'localhost:1988', 'sec-fetch-site': 'cross-site' },
    ]
    for (const path of GUARDED)
      for (const headers of pages) {
        const r = await call(h.ctx, path, { method: 'POST', payload: 'true', headers })
        assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}`)
        assert.match(
          r.body,
          new RegExp(
            `^forbidden \\(PG_AGENT_FORBIDDEN\\): ${path} may not be called by a web page of another origin \\((Origin|Sec-Fetch-Site)`
          )
        )
      }
    assert.deepEqual(calls, [])
    assert.deepEqual(h.pushes, [])
  })

  it('refuse HEAD, which a url.check.health probe sends, with 405', async () => {
    const { h, calls } = busy()
    for (const path of GUARDED) {
      const r = await call(h.ctx, path, { method: 'HEAD' })
      assert.equal(r.status, 405, path)
    }
    assert.deepEqual(calls, [])
  })

  it('refuse a push a web page sends through its visitor’s browser, for any endpoint', async () => {
    const { h } = busy()
    const victim = JSON.stringify([item('cpu.idle', { endpoint: 'victimhost', value: 0 })])
    // What a page's fetch(…, {method: 'POST', mode: 'no-cors', body}) sends: no preflight.
    const page = {
      method: 'POST' as const,
      payload: victim,
      type: 'text/plain',
      headers: {
        host: 'evil.example:1988',
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
    }
    const r = await call(h.ctx, '/v1/push', page)
    assert.equal(r.status, 403)
    assert.match(r.body, /^forbidden \(PG_AGENT_FORBIDDEN\): \/v1\/push needs a Host/)
    // The same page at the agent's own address (no rebinding needed) is refused by its Origin.
    const sameHost = await call(h.ctx, '/v1/push', {
      ...page,
      headers: { ...page.headers, host: '127.0.0.1:1988' },
    })
    assert.equal(sameHost.status, 403)
    assert.match(sameHost.body, /\/v1\/push may not be called by a web page of another origin/)
    assert.equal(h.pushes.length, 0)
    // A script's push (curl, no browser headers) is taken, any endpoint included, as falcon's.
    const script = await call(h.ctx, '/v1/push', {
      method: 'POST',
      payload: victim,
      headers: { host: '127.0.0.1:1988' },
    })
    assert.deepEqual([script.status, script.body], [200, 'success'])
    assert.deepEqual(
      h.pushes.map((items) => items.map((m) => m.endpoint)),
      [['victimhost']]
    )
  })

  it('answer curl, falcon’s tools, the agent’s own page and a trusted address as before', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const { h, calls } = busy()
    const callers: { headers: Record<string, string>; remoteAddress?: string }[] = [
      { headers: { host: '127.0.0.1:1988' } },
      { headers: { host: 'localhost:1988' } },
      { headers: { host: '[::1]:1988' }, remoteAddress: '::1' },
      { headers: { host: 'agent.localhost' } },
      // A trusted address calls the agent by its IP.
      { headers: { host: '10.0.0.5:1988' }, remoteAddress: '10.0.0.9' },
      { headers: { host: '127.0.0.1:1988', origin: 'http://127.0.0.1:1988' } },
      { headers: { host: '127.0.0.1:1988', 'sec-fetch-site': 'same-origin' } },
      { headers: { host: '127.0.0.1:1988', 'sec-fetch-site': 'none' } },
    ]
    for (const c of callers) {
      const r = await call(h.ctx, '/plugin/update', c)
      assert.deepEqual([r.status, r.body], [200, 'success'], JSON.stringify(c))
      const push = await call(h.ctx, '/v1/push', {
        ...c,
        method: 'POST',
        payload: JSON.stringify([item('a')]),
      })
      assert.deepEqual([push.status, push.body], [200, 'success'], JSON.stringify(c))
      const ex = await call(h.ctx, '/exit', c)
      assert.deepEqual([ex.status, ex.body], [200, 'exiting...'], JSON.stringify(c))
    }
    t.mock.timers.tick(1000)
    assert.equal(calls.filter((c) => c === 'exit').length, callers.length)
    assert.equal(h.pushes.length, callers.length)
  })

  it('hostIsLocalOrAddress', () => {
    const f = (host: string, want: boolean) => assert.equal(hostIsLocalOrAddress(host), want, host)
    f('localhost', true)
    f('LOCALHOST:1988', true)
    f('localhost.:1988', true)
    f('a.localhost:80', true)
    f('127.0.0.1', true)
    f('10.1.2.3:1988', true)
    f('[::1]:1988', true)
    f('[::ffff:127.0.0.1]', true)
    f('localhost.evil.example', false)
    f('evil.example:1988', false)
    f('127.0.0.1.nip.io:1988', false)
    f('', false)
  })
})

describe('agentHttp plugin routes', () => {
  it('answer plugin not enabled while plugins are off', async () => {
    const h = harness()
    await expectText(h.ctx, '/plugin/update', 'plugin not enabled')
    await expectText(h.ctx, '/plugin/reset', 'plugin not enabled')
    await expectJson(h.ctx, '/plugins', ok({}))
  })

  it('update and reset the checkout through the runner, with falcon’s texts', async () => {
    const calls: string[] = []
    const plugins: PluginControl = {
      list: () => ({}),
      gitUpdate: (url) => {
        calls.push(`update ${url}`)
        return Promise.resolve(
          calls.length === 1 ? 'success' : 'git pull in dir:./plugin fail. error: exit status 1'
        )
      },
      gitReset: () => {
        calls.push('reset')
        return Promise.resolve('success')
      },
    }
    const h = harness({ pluginEnabled: true, plugins })
    await expectText(h.ctx, '/plugin/update', 'success')
    await expectText(h.ctx, '/plugin/update', 'git pull in dir:./plugin fail. error: exit status 1')
    await expectText(h.ctx, '/plugin/reset', 'success')
    assert.deepEqual(calls, [
      'update https://example.com/plugin.git',
      'update https://example.com/plugin.git',
      'reset',
    ])
  })

  it('/plugins lists a real runner’s plugins in falcon’s shape', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'sys'))
    writeFileSync(join(dir, 'sys/60_a.sh'), '#!/bin/sh\n')
    chmodSync(join(dir, 'sys/60_a.sh'), 0o755)
    utimesSync(join(dir, 'sys/60_a.sh'), 1_700_000_000, 1_700_000_000)
    const silent = { info: () => undefined, warn: () => undefined, error: () => undefined }
    const runner = new PluginRunner({ dir, logs: dir, push: () => undefined, log: silent })
    runner.update(['sys', 'sys/60_a.sh(x, y)'])
    try {
      const want: Record<string, Plugin> = {
        'sys/60_a.sh(x, y)': {
          FilePath: 'sys/60_a.sh',
          MTime: 1_700_000_000,
          Cycle: 60,
          Args: 'x, y',
        },
      }
      await expectJson(harness({ plugins: runner }).ctx, '/plugins', ok(want))
    } finally {
      await runner.stop()
    }
  })
})

describe('agentHttp host facts', () => {
  const h = harness()

  it('cpu num and MHz', async () => {
    await expectJson(h.ctx, '/proc/cpu/num', ok(4))
    await expectJson(
      harness({ numCpu: undefined }).ctx,
      '/proc/cpu/num',
      ok(availableParallelism())
    )
    await expectJson(h.ctx, '/proc/cpu/mhz', ok('2199.998'))
    const arm = procDir({ cpuinfo: 'processor\t: 0\nBogoMIPS\t: 50.00\n' })
    await expectJson(
      harness({ proc: arm }).ctx,
      '/proc/cpu/mhz',
      JSON.stringify({ msg: `no MHz in ${arm}/cpuinfo` })
    )
    const odd = procDir({ cpuinfo: 'cpu MHz : 12:30\n' })
    await expectJson(
      harness({ proc: odd }).ctx,
      '/proc/cpu/mhz',
      JSON.stringify({ msg: `${odd}/cpuinfo content format error` })
    )
  })

  it('cpu usage from the collector, or not prepared', async () => {
    const usage: CpuUsage = {
      idle: 87.25,
      user: 10.125,
      nice: 0,
      system: 2.5,
      iowait: 0.125,
      irq: 0,
      softirq: 0,
      steal: 0,
      guest: 0,
    }
    const c = harness({ cpuUsage: () => usage }).ctx
    await expectJson(
      c,
      '/proc/cpu/usage',
      '{"msg":"success","data":{"busy":12.75,"guest":0,"idle":87.25,"iowait":0.125,"irq":0,' +
        '"nice":0,"softirq":0,"steal":0,"system":2.5,"user":10.125}}'
    )
    // idle 87.25 and busy 12.75 are exact ties: Go rounds them to even.
    await expectJson(
      c,
      '/page/cpu/usage',
      ok([['87.2%', '12.8%', '10.1%', '0.0%', '2.5%', '0.1%', '0.0%', '0.0%', '0.0%', '0.0%']])
    )
    const notYet = '{"msg":"not prepared"}'
    await expectJson(h.ctx, '/proc/cpu/usage', notYet)
    await expectJson(h.ctx, '/page/cpu/usage', notYet)
    await expectJson(harness({ cpuUsage: () => undefined }).ctx, '/page/cpu/usage', notYet)
  })

  it('kernel facts, with uint64 digits kept exact', async () => {
    await expectJson(h.ctx, '/proc/kernel/hostname', ok('host-1'))
    await expectJson(h.ctx, '/proc/kernel/maxproc', '{"msg":"success","data":4194304}')
    await expectJson(h.ctx, '/proc/kernel/maxfiles', '{"msg":"success","data":9223372036854775807}')
    await expectJson(h.ctx, '/proc/kernel/version', ok('6.1.0-13-amd64'))
    const bad = procDir({
      'sys/fs/file-max': 'lots\n',
      'sys/kernel/pid_max': '18446744073709551616',
    })
    await expectJson(
      harness({ proc: bad }).ctx,
      '/proc/kernel/maxfiles',
      JSON.stringify({ msg: 'strconv.ParseUint: parsing "lots": invalid syntax' })
    )
    await expectJson(
      harness({ proc: bad }).ctx,
      '/proc/kernel/maxproc',
      JSON.stringify({
        msg: 'strconv.ParseUint: parsing "18446744073709551616": value out of range',
      })
    )
  })

  it('memory: free is MemFree+Buffers+Cached', async () => {
    // total 16000000 kB; free 2000000+500000+4000000 = 6500000 kB; used 9500000 kB.
    await expectJson(
      h.ctx,
      '/proc/memory',
      '{"msg":"success","data":{"free":6656000000,"total":16384000000,"used":9728000000}}'
    )
    // MiB, rounded down: 15625, 9277.34…, 6347.65…
    await expectJson(h.ctx, '/page/memory', ok([15625, 9277, 6347]))
  })

  it('uptime, loadavg and date', async () => {
    // 1000000.55 s = 11 days 13 hours 46 minutes (and 40 s).
    await expectJson(h.ctx, '/proc/system/uptime', ok({ days: 11, hours: 13, mins: 46 }))
    await expectJson(h.ctx, '/page/system/uptime', ok('11 days 13 hours 46 minutes'))
    await expectJson(
      h.ctx,
      '/proc/system/loadavg',
      ok({ Avg1min: 0.52, Avg5min: 1.25, Avg15min: 2, RunningProcesses: 3, TotalProcesses: 412 })
    )
    // Percent of 4 CPUs, truncated: 0.52*100/4 = 13.000000000000002 → 13, 31.25 → 31, 50.
    await expectJson(
      h.ctx,
      '/page/system/loadavg',
      ok([
        [0.52, 13],
        [1.25, 31],
        [2, 50],
      ])
    )
    const saved = process.env.TZ
    try {
      process.env.TZ = 'UTC'
      await expectJson(h.ctx, '/system/date', ok('2024-01-02 03:04:05'))
      process.env.TZ = 'Asia/Shanghai'
      await expectJson(h.ctx, '/system/date', ok('2024-01-02 11:04:05'))
    } finally {
      if (saved === undefined) delete process.env.TZ
      else process.env.TZ = saved
    }
  })

  it('answer falcon’s {"msg": error} when a file is missing or malformed', async () => {
    const c = harness({ proc: EMPTY_PROC }).ctx
    const missing = (f: string) =>
      JSON.stringify({ msg: `open ${EMPTY_PROC}/${f}: no such file or directory` })
    await expectJson(c, '/proc/system/loadavg', missing('loadavg'))
    await expectJson(c, '/page/system/loadavg', missing('loadavg'))
    await expectJson(c, '/proc/system/uptime', missing('uptime'))
    await expectJson(c, '/page/system/uptime', missing('uptime'))
    await expectJson(c, '/proc/memory', missing('meminfo'))
    await expectJson(c, '/page/memory', missing('meminfo'))
    await expectJson(c, '/proc/cpu/mhz', missing('cpuinfo'))
    await expectJson(c, '/proc/kernel/maxproc', missing('sys/kernel/pid_max'))
    await expectJson(c, '/proc/kernel/maxfiles', missing('sys/fs/file-max'))
    await expectJson(c, '/proc/kernel/version', missing('sys/kernel/osrelease'))
    const odd = procDir({ loadavg: '0.1 x 0.3 1/2 5\n', uptime: '12345\n' })
    const o = harness({ proc: odd }).ctx
    await expectJson(
      o,
      '/proc/system/loadavg',
      JSON.stringify({ msg: 'strconv.ParseFloat: parsing "x": invalid syntax' })
    )
    await expectJson(
      o,
      '/proc/system/uptime',
      JSON.stringify({ msg: `${odd}/uptime format not supported` })
    )
  })

  it('df and diskio tables from the collectors, or falcon’s empty shapes', async () => {
    const df: DfUsage[] = [
      {
        fsSpec: '/dev/sda1',
        fsFile: '/',
        fsVfstype: 'ext4',
        blocksAll: 53687091200,
        blocksUsed: 22011707392,
        blocksFree: 31675383808,
        blocksUsedPercent: 41,
        inodesAll: 3276800,
        inodesUsed: 250000,
        inodesFree: 3026800,
        inodesUsedPercent: 7.25,
      },
    ]
    await expectJson(
      harness({ df: () => df }).ctx,
      '/page/df',
      ok([
        [
          '/dev/sda1',
          '50.0G',
          '20.5G',
          '29.5G',
          '41.0%',
          '/',
          '3.1M',
          '244.1K',
          '2.9M',
          '7.2%',
          'ext4',
        ],
      ])
    )
    await expectJson(h.ctx, '/page/df', ok([]))
    const failing = harness({
      df: () => {
        throw new Error('open /proc/mounts: no such file or directory')
      },
    })
    await expectJson(
      failing.ctx,
      '/page/df',
      '{"msg":"open /proc/mounts: no such file or directory"}'
    )

    const zero: DiskIoDelta = {
      device: 'vdb',
      readRequests: 0,
      readMerged: 0,
      readSectors: 0,
      msecRead: 0,
      writeRequests: 0,
      writeMerged: 0,
      writeSectors: 0,
      msecWrite: 0,
      msecTotal: 0,
      msecWeightedTotal: 0,
    }
    const sda: DiskIoDelta = {
      device: 'sda',
      readRequests: 100,
      readMerged: 5,
      readSectors: 2000,
      msecRead: 150,
      writeRequests: 300,
      writeMerged: 7,
      writeSectors: 6001,
      msecWrite: 450,
      msecTotal: 625,
      msecWeightedTotal: 1234,
    }
    // 400 ios: avgrq-sz 8001/400 = 20.0025, await 600/400, svctm 625/400 = 1.5625, util 62.5 %.
    await expectJson(
      harness({ diskio: () => [sda, zero] }).ctx,
      '/page/diskio',
      ok([
        [
          'sda',
          '5',
          '7',
          '100',
          '300',
          '1000.00',
          '3000.50',
          '20.00',
          '1.23',
          '1.50',
          '1.56',
          '62.50%',
        ],
        ['vdb', '0', '0', '0', '0', '0.00', '0.00', '0.00', '0.00', '0.00', '0.00', '0.00%'],
      ])
    )
    await expectJson(h.ctx, '/page/diskio', ok(null))
    await expectJson(harness({ diskio: () => [] }).ctx, '/page/diskio', ok(null))
  })

  it('reads this machine’s /proc', async () => {
    const live = harness({ proc: '/proc' }).ctx
    for (const url of [
      '/proc/memory',
      '/page/memory',
      '/proc/system/uptime',
      '/page/system/uptime',
      '/proc/system/loadavg',
      '/page/system/loadavg',
      '/proc/kernel/maxproc',
      '/proc/kernel/maxfiles',
      '/proc/kernel/version',
    ]) {
      const r = await call(live, url)
      assert.equal(r.status, 200, url)
      assert.equal(JSON.parse(r.body).msg, 'success', `${url}: ${r.body}`)
    }
  })
})

describe('agentHttp web page', () => {
  it('serves its own page at / that reads the /page and /proc routes it serves', async () => {
    const { ctx } = harness()
    const r = await call(ctx, '/')
    assert.equal(r.status, 200)
    assert.equal(r.type, 'text/html; charset=utf-8')
    assert.match(r.body, /<title>Peregrine agent<\/title>/)
    // Every route the page reads exists (answers something other than 404).
    const paths = [...r.body.matchAll(/'((?:page|proc|system)\/[a-z/]+)'/g)].map((m) => m[1])
    assert.ok(paths.length >= 10, paths.join(' '))
    for (const path of paths) {
      const res = await call(ctx, `/${path}`)
      assert.notEqual(res.status, 404, path)
    }
  })
})
