// The peregrine command end to end, in child processes: import, query, stats, usage errors, start/stop.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processAlive } from '../src/core/index.js'
import { zombie } from '../src/core/testing.js'

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'peregrine.js')
let dir = ''

function run(args: string[], input?: string): { code: number | null; out: string; err: string } {
  // Bounded: a command that hangs fails its test with what it printed, not the whole file by timeout.
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dir, ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  })
  return {
    code: r.status,
    out: r.stdout,
    err: r.stderr + (r.signal === null ? '' : `\n(killed: ${r.signal})`),
  }
}

/** escapeRe quotes `text` for use inside a RegExp. */
function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** assertValid: `check -c` found the file valid; nothing runs on the test's data directory (status 1). */
function assertValid(r: { code: number | null; out: string; err: string }): void {
  assert.match(r.out, /: configuration ok\n/, r.err)
  assert.match(r.out, /graph +DOWN/)
  assert.equal(r.code, 1, r.err)
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-cli-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

// The components started beside graph, transfer and api, on ports of their own choosing: a test must
// not depend on falcon's default ports being free on the machine.
const OTHER_LISTENERS = [
  'hbs: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
  'judge: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
  'alarm: { http: "127.0.0.1:0" }',
  'agent: { http: { listen: "127.0.0.1:0" } }',
  'scrape: { http: "127.0.0.1:0" }',
  'nodata: { http: "127.0.0.1:0" }',
  'aggregator: { http: "127.0.0.1:0" }',
]

describe('peregrine CLI', () => {
  const now = Math.floor(Date.now() / 1000 / 60) * 60
  it('imports falcon MetricValue JSON, skipping bad items with a reason', () => {
    const items = [
      {
        endpoint: 'h1',
        metric: 'cpu.idle',
        value: 97.5,
        step: 60,
        counterType: 'GAUGE',
        tags: '',
        timestamp: now - 120,
      },
      {
        endpoint: 'h1',
        metric: 'cpu.idle',
        value: '96.25',
        step: 60,
        counterType: 'GAUGE',
        tags: '',
        timestamp: now - 60,
      },
      {
        endpoint: 'h1',
        metric: 'net.if.in.bytes',
        value: 1000,
        step: 60,
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: now - 120,
      },
      {
        endpoint: 'h1',
        metric: 'net.if.in.bytes',
        value: 7000,
        step: 60,
        counterType: 'COUNTER',
        tags: 'iface=eth0',
        timestamp: now - 60,
      },
      {
        endpoint: 'h1',
        metric: 'x',
        value: 1,
        step: 60,
        counterType: 'gauge',
        tags: '',
        timestamp: now,
      },
    ]
    const r = run(['tsdb', 'import'], JSON.stringify(items))
    assert.equal(r.code, 0, r.err)
    assert.deepEqual(JSON.parse(r.out), {
      total: 5,
      invalid: 1,
      appended: 4,
      duplicates: 0,
      outOfOrderInserted: 0,
      tooOld: 0,
      tooNew: 0,
      seriesLimited: 0,
    })
    assert.match(r.err, /item 4 skipped: counterType: "gauge" is not one of GAUGE, COUNTER, DERIVE/)
  })

  it('queries gauges as stored and counters as rates', () => {
    let r = run(['tsdb', 'query', 'h1/cpu.idle', '--start', '-1h'])
    assert.equal(r.code, 0, r.err)
    const gauge = JSON.parse(r.out) as {
      tier: string
      values: { timestamp: number; value: number }[]
    }
    assert.equal(gauge.tier, 'raw')
    assert.deepEqual(gauge.values, [
      { timestamp: now - 120, value: 97.5 },
      { timestamp: now - 60, value: 96.25 },
    ])
    r = run(['tsdb', 'query', 'h1/net.if.in.bytes/iface=eth0', '--start', '-1h'])
    assert.equal(r.code, 0, r.err)
    assert.deepEqual((JSON.parse(r.out) as { values: unknown[] }).values, [
      { timestamp: now - 60, value: 100 },
    ])
  })

  it('lists endpoints and counters', () => {
    const r = run(['tsdb', 'stats', '--series'])
    assert.equal(r.code, 0, r.err)
    const stats = JSON.parse(r.out) as { series: number; endpoints: Record<string, string[]> }
    assert.equal(stats.series, 2)
    assert.deepEqual(stats.endpoints, { h1: ['cpu.idle', 'net.if.in.bytes/iface=eth0'] })
  })

  it('answers bad usage with one sentence and exit status 2', () => {
    let r = run(['tsdb', 'query', 'no-slash'])
    assert.equal(r.code, 2)
    assert.equal(r.err, 'peregrine: key: expected endpoint/counter, got "no-slash"\n')
    r = run(['tsdb', 'query', 'h1/nothing'])
    assert.equal(r.code, 2)
    // The hint names the data directory it was given, or it would list the default ./data.
    assert.match(
      r.err,
      new RegExp(
        `no series h1/nothing; list them with: peregrine tsdb stats --series --data-dir ${escapeRe(dir)}\n$`
      )
    )
    r = run(['tsdb', 'import'], '{not json')
    assert.equal(r.code, 2)
    assert.match(r.err, /stdin is not JSON/)
    r = run(['tsdb', 'import'], '{"an":"object"}')
    assert.equal(r.code, 2)
    assert.match(r.err, /body: expected a JSON array of MetricValue/)
  })

  it('start runs in the foreground, refuses a second owner, and stops cleanly on SIGTERM', async (t) => {
    const config = join(dir, 'test.yaml')
    writeFileSync(
      config,
      [
        'graph: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
        'transfer: { rpc: "127.0.0.1:0", http: "127.0.0.1:0", socket: "" }',
        'api: { http: "127.0.0.1:0" }',
        ...OTHER_LISTENERS,
      ].join('\n')
    )
    const child = spawn(process.execPath, [BIN, '--data-dir', dir, 'start', '-c', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    // A failed assertion must not leave it running (and the test run waiting for it).
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let err = ''
    child.stderr.setEncoding('utf8')
    await new Promise<void>((ok, fail) => {
      child.stderr.on('data', (d: string) => {
        err += d
        if (err.includes('Peregrine running')) ok()
      })
      child.once('exit', (code) => fail(new Error(`peregrine exited ${code}: ${err}`)))
    })
    const second = run(['start', '-c', config])
    assert.equal(second.code, 2)
    assert.match(
      second.err,
      new RegExp(
        `already running on .* \\(pid ${child.pid}\\); stop it with: peregrine stop --data-dir ${escapeRe(dir)} -c ${escapeRe(config)}\n$`
      )
    )
    const check = run(['check'])
    assert.match(check.out, /graph +UP/)
    assert.match(check.out, /transfer +UP/)
    // nodata and aggregator say what they watch and run.
    assert.match(check.out, /nodata +UP .*\n +0 series watched from 0 rules \(0 skipped\)/)
    assert.match(check.out, /aggregator +UP .*\n +0 rules running; 0 results/)
    assert.equal(check.code, 0, 'every component of the running process is up')
    // Each component's /version answers the package's version, as falcon's answer theirs.
    const { version } = JSON.parse(
      readFileSync(join(dirname(BIN), '..', 'package.json'), 'utf8')
    ) as { version: string }
    for (const c of ['transfer', 'judge', 'alarm']) {
      const http = new RegExp(`\\b${c} +UP .*\\bhttp=(\\S+)`).exec(check.out)?.[1]
      assert.ok(http !== undefined, `${c}'s http address in ${check.out}`)
      const res = await fetch(`http://${http}/version`)
      assert.equal(await res.text(), version, c)
    }
    // One process runs them all: graph cannot be stopped alone, and nothing is stopped.
    const stopGraph = run(['stop', 'graph'])
    assert.equal(stopGraph.code, 2)
    assert.match(
      stopGraph.err,
      new RegExp(
        `^peregrine: graph cannot be stopped alone: pid ${child.pid} runs graph, .* in one process; stop them all with: peregrine stop --data-dir ${escapeRe(dir)}, or start graph in a process of its own\n$`
      )
    )
    assert.equal(child.exitCode, null)
    assert.equal(run(['check', 'graph']).code, 0)
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.match(err, /SIGTERM: stopping ingestion first/)
    assert.match(err, /transfer stopped[\s\S]*graph stopped[\s\S]*stopped cleanly/)
    const down = run(['check'])
    assert.match(down.out, /graph +DOWN/)
    assert.equal(down.code, 1, 'a component is down')
  })

  it('fails with one sentence naming the setting when a port is taken, leaving nothing running', async () => {
    const taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as AddressInfo).port
    const config = join(dir, 'taken.yaml')
    writeFileSync(
      config,
      [
        'graph: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
        `transfer: { rpc: "127.0.0.1:0", http: "127.0.0.1:${port}", socket: "" }`,
        'api: { http: "127.0.0.1:0" }',
        ...OTHER_LISTENERS,
      ].join('\n')
    )
    const r = run(['start', '-c', config])
    taken.close()
    assert.notEqual(r.code, 0)
    assert.match(
      r.err,
      new RegExp(`peregrine: transfer\\.http: 127\\.0\\.0\\.1:${port} is already in use`)
    )
    const down = run(['check']).out
    assert.match(down, /graph +DOWN/)
    // Nothing running: what start would run, so no gateway without a gateway section.
    assert.doesNotMatch(down, /gateway/)
    const withGateway = join(dir, 'with-gateway.json')
    writeFileSync(withGateway, JSON.stringify({ gateway: { clusters: { c: ['127.0.0.1:9'] } } }))
    assert.match(run(['check', '-c', withGateway]).out, /gateway +DOWN/)
  })

  it('runs in the background with -dc, and check -c and stop -c find it by the config', (t) => {
    const other = join(dir, 'bg')
    // A space in the name: the hints below must quote it for the shell.
    const config = join(dir, 'bg instance.yaml')
    writeFileSync(
      config,
      [
        `dataDir: ${other}`,
        'graph: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
        'transfer: { rpc: "127.0.0.1:0", http: "127.0.0.1:0", socket: "" }',
        'api: { http: "127.0.0.1:0" }',
        ...OTHER_LISTENERS,
      ].join('\n')
    )
    const started = spawnSync(process.execPath, [BIN, 'start', '-dc', config], { encoding: 'utf8' })
    assert.equal(started.status, 0, started.stderr)
    const pid = Number(/\[peregrine-graph\] (\d+)/.exec(started.stdout)?.[1])
    assert.ok(pid > 0)
    t.after(() => {
      if (processAlive(pid)) process.kill(pid, 'SIGKILL')
    })
    const check = spawnSync(process.execPath, [BIN, 'check', '-c', config], { encoding: 'utf8' })
    assert.match(check.stdout, new RegExp(`graph +UP +${pid}`))
    // Every command a hint suggests carries the -c that chose this instance: a bare `peregrine stop`
    // would look for one on ./data.
    const again = spawnSync(process.execPath, [BIN, 'start', '-dc', config], { encoding: 'utf8' })
    assert.equal(again.status, 2)
    assert.match(
      again.stderr,
      new RegExp(`; stop it with: peregrine stop -c '${escapeRe(config)}'\n$`)
    )
    const graphOnly = spawnSync(process.execPath, [BIN, 'stop', 'graph', '-c', config], {
      encoding: 'utf8',
    })
    assert.equal(graphOnly.status, 2)
    assert.match(
      graphOnly.stderr,
      new RegExp(`; stop them all with: peregrine stop -c '${escapeRe(config)}', or start graph `)
    )
    assert.equal(processAlive(pid), true)
    const stop = spawnSync(process.execPath, [BIN, 'stop', '-c', config], { encoding: 'utf8' })
    assert.match(stop.stdout, /\[peregrine\] down/)
    // Gone, or exited and waiting for init to reap it (a zombie, which stop rightly counts as gone).
    assert.equal(processAlive(pid), false)
  })

  it('does not signal a process that reused the pid of a stale state file', () => {
    const stale = join(dir, 'stale')
    mkdirSync(join(stale, 'run'), { recursive: true })
    // This test's own pid: alive, but not the process that wrote the state.
    writeFileSync(
      join(stale, 'run', 'peregrine.json'),
      JSON.stringify({
        pid: process.pid,
        startTicks: '1',
        components: ['graph'],
        addresses: {},
        startedAt: '',
      })
    )
    const r = spawnSync(process.execPath, [BIN, '--data-dir', stale, 'stop'], { encoding: 'utf8' })
    assert.equal(r.stdout, '[peregrine] not running\n')
  })

  it('takes an Open-Falcon cfg.json and names every bad setting', () => {
    const falcon = join(dir, 'cfg.json')
    writeFileSync(
      falcon,
      JSON.stringify({
        debug: true,
        minStep: 30,
        http: { enabled: true, listen: '0.0.0.0:6060' },
        rpc: { enabled: true, listen: '0.0.0.0:8433' },
        socket: { enabled: false, listen: '0.0.0.0:4444', timeout: 3600 },
        graph: {
          enabled: true,
          batch: 200,
          replicas: 500,
          cluster: { 'graph-00': '127.0.0.1:6070' },
        },
        judge: { enabled: true, cluster: { 'judge-00': '127.0.0.1:6080' } },
      })
    )
    const ok = run(['check', '-c', falcon])
    assertValid(ok)
    // judge.cluster is taken (judge enabled), so only debug is left.
    assert.match(ok.err, /Open-Falcon settings Peregrine does not use: debug\n/)
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'transfer: { rpc: "nowhere", minStep: -1 }\nmystery: 1\n')
    const r = run(['check', '-c', bad])
    assert.equal(r.code, 2)
    assert.match(r.err, /mystery: not a Peregrine setting/)
    assert.match(r.err, /transfer\.rpc: expected "host:port"/)
    assert.match(r.err, /transfer\.minStep: expected a positive integer/)
    assert.equal(run(['start', 'nosuch']).code, 2)
  })

  it('takes falcon hbs and api cfg.json, with their MySQL DSNs, and names what it does not use', () => {
    const hbs = join(dir, 'hbs-cfg.json')
    writeFileSync(
      hbs,
      JSON.stringify({
        debug: true,
        database: 'root:@tcp(127.0.0.1:3306)/falcon_portal?loc=Local&parseTime=true',
        hosts: '',
        maxConns: 20,
        maxIdle: 100,
        listen: ':6030',
        trustable: [''],
        http: { enabled: true, listen: '0.0.0.0:6031' },
      })
    )
    const ok = run(['check', '-c', hbs])
    assertValid(ok)
    assert.match(ok.err, /Open-Falcon settings Peregrine does not use: debug, maxConns, maxIdle/)
    const api = join(dir, 'api-cfg.json')
    writeFileSync(
      api,
      JSON.stringify({
        db: { falcon_portal: 'falcon:p@ss@tcp(db:3306)/falcon_portal?charset=utf8' },
        graphs: { cluster: { 'graph-00': '127.0.0.1:6070' }, numberOfReplicas: 500 },
        web_port: ':8080',
        signup_disable: true,
        salt: '',
        default_token: 'default-token-used-in-server-side',
        skip_auth: false,
      })
    )
    const apiOk = run(['check', '-c', api])
    assertValid(apiOk)
    assert.match(apiOk.err, /does not use: skip_auth/)
    writeFileSync(hbs, JSON.stringify({ database: 'nonsense', listen: ':6030' }))
    const bad = run(['check', '-c', hbs])
    assert.equal(bad.code, 2)
    // The store hbs, api and alarm share is named once.
    assert.match(
      bad.err,
      /^peregrine: configuration: store: expected sqlite:PATH or mysql:[^;]*\n$/
    )
  })
  it('takes falcon judge and alarm cfg.json, telling judge from transfer', () => {
    const judge = join(dir, 'judge-cfg.json')
    writeFileSync(
      judge,
      JSON.stringify({
        debug: true,
        remain: 11,
        http: { enabled: true, listen: '0.0.0.0:6081' },
        rpc: { enabled: true, listen: '0.0.0.0:6080' },
        hbs: { servers: ['127.0.0.1:6030'], timeout: 300, interval: 60 },
        alarm: {
          enabled: true,
          minInterval: 300,
          queuePattern: 'event:p%v',
          redis: { dsn: '127.0.0.1:6379', maxIdle: 5 },
        },
      })
    )
    const ok = run(['check', '-c', judge])
    assertValid(ok)
    assert.match(
      ok.err,
      /does not use: debug, hbs\.timeout \(the connect timeout; [^)]*\), alarm\.redis\.maxIdle\n/
    )
    const alarm = join(dir, 'alarm-cfg.json')
    writeFileSync(
      alarm,
      JSON.stringify({
        log_level: 'debug',
        http: { enabled: true, listen: '0.0.0.0:9912' },
        redis: { addr: 'pw@127.0.0.1:6379', highQueues: ['event:p0'], lowQueues: ['event:p3'] },
        api: { sms: 'http://127.0.0.1:10086/sms', mail: '', plus_api: 'http://127.0.0.1:8080' },
        worker: { im: 10, sms: 10, mail: 50 },
      })
    )
    const alarmOk = run(['check', '-c', alarm])
    assertValid(alarmOk)
    assert.match(alarmOk.err, /does not use: log_level, api\.plus_api \(alarm reads/)
    writeFileSync(
      alarm,
      JSON.stringify({ redis: { addr: 'pw@127.0.0.1:6379' }, worker: { im: -1 } })
    )
    const bad = run(['check', '-c', alarm])
    assert.equal(bad.code, 2)
    assert.match(bad.err, /alarm\.workers: expected a positive integer/)
  })
})

describe('peregrine CLI rough edges', () => {
  it('answers an unknown command or option with one sentence and status 2', () => {
    const f = (args: string[], want: string) => {
      const r = run(args)
      assert.deepEqual(
        [r.code, r.out, r.err],
        [2, '', `peregrine: ${want}; see peregrine --help\n`]
      )
    }
    f(['frob'], "unknown command 'frob'")
    f(['--bogus'], "unknown option '--bogus'")
    f(['check', '--bogus'], "unknown option '--bogus'")
    f(['stap'], "unknown command 'stap' (Did you mean stop?)")
    f(['tsdb', 'query'], "missing required argument 'key'")
  })

  it('prints its version', () => {
    const pkg = JSON.parse(readFileSync(join(dirname(BIN), '..', 'package.json'), 'utf8')) as {
      version: string
    }
    for (const flag of ['--version', '-V']) {
      assert.deepEqual(run([flag]), { code: 0, out: `${pkg.version}\n`, err: '' })
    }
  })

  it('ends quietly when the reader of its output goes away (check | head -1)', async () => {
    const child = spawn(process.execPath, [BIN, '--data-dir', dir, 'check'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // Gone before the first line is written: the write fails with EPIPE.
    child.stdout.destroy()
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const code = await new Promise<number | null>((ok) => child.once('close', ok))
    assert.equal(err, '')
    // Nothing runs here: check's own status, every component down.
    assert.equal(code, 1)
  })

  it('reads storage only where there is some: stats and query refuse a directory without it', () => {
    const typo = join(dir, 'typo')
    for (const args of [
      ['tsdb', 'stats'],
      ['tsdb', 'query', 'h1/cpu.idle'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', typo], {
        encoding: 'utf8',
      })
      assert.deepEqual(
        [r.status, r.stdout, r.stderr],
        [
          2,
          '',
          `peregrine: ${typo} holds no graph storage (no wal/ or blocks/ in ${join(typo, 'graph')}); give the data directory Peregrine runs on with --data-dir DIR\n`,
        ]
      )
    }
    // Nothing was made there; import alone may create storage.
    assert.equal(existsSync(typo), false)
    const imported = spawnSync(process.execPath, [BIN, '--data-dir', typo, 'tsdb', 'import'], {
      input: '[]',
      encoding: 'utf8',
    })
    assert.equal(imported.status, 0, imported.stderr)
    const stats = spawnSync(process.execPath, [BIN, '--data-dir', typo, 'tsdb', 'stats'], {
      encoding: 'utf8',
    })
    assert.equal(stats.status, 0, stats.stderr)
    assert.equal((JSON.parse(stats.stdout) as { series: number }).series, 0)
  })

  it('answers a command group given no command with one sentence, not its help', () => {
    for (const args of [['tsdb'], ['tsdb', '--data-dir', dir]]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
      assert.deepEqual(
        [r.status, r.stdout, r.stderr],
        [
          2,
          '',
          'peregrine: tsdb needs a command: import, query or stats; see peregrine tsdb --help\n',
        ]
      )
    }
    // Asked for, the help is still there.
    const help = spawnSync(process.execPath, [BIN, 'tsdb', '--help'], { encoding: 'utf8' })
    assert.equal(help.status, 0)
    assert.match(help.stdout, /^Usage: peregrine tsdb /)
  })

  it('takes an empty configuration file, or one of comments only, as every default', () => {
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['comments.yaml', '# nothing to change yet\n'],
      ['empty.json', ''],
    ]) {
      const file = join(dir, name)
      writeFileSync(file, text)
      assertValid(run(['check', '-c', file]))
    }
  })

  it('says in one sentence that a configuration file is missing', () => {
    const missing = join(dir, 'no-such.yaml')
    for (const args of [
      ['check', '-c', missing],
      ['start', '-c', missing],
    ]) {
      const r = run(args)
      assert.deepEqual(
        [r.code, r.err],
        [2, `peregrine: ${missing}: cannot read the configuration: no such file\n`]
      )
    }
  })

  it('refuses two components on one port, naming both keys, in check -c and start', () => {
    const config = join(dir, 'same-port.yaml')
    writeFileSync(
      config,
      [
        'graph: { rpc: "127.0.0.1:0", http: "0.0.0.0:17071" }',
        'transfer: { rpc: "127.0.0.1:0", http: "127.0.0.1:17071", socket: "" }',
        'api: { http: "127.0.0.1:0" }',
        ...OTHER_LISTENERS,
      ].join('\n')
    )
    const want =
      'peregrine: configuration: graph.http (0.0.0.0:17071) and transfer.http (127.0.0.1:17071) both listen on port 17071; give each a port of its own\n'
    const checked = run(['check', '-c', config])
    assert.deepEqual([checked.code, checked.err], [2, want])
    const started = run(['start', 'graph', 'transfer', 'api', '-c', config])
    assert.deepEqual([started.code, started.err], [2, want])
  })

  it('names a bad shared store once, not once per component that uses it', () => {
    const config = join(dir, 'bad-store.yaml')
    writeFileSync(config, 'store: nonsense\n')
    const r = run(['check', '-c', config])
    assert.equal(r.code, 2)
    assert.equal(
      r.err,
      'peregrine: configuration: store: expected sqlite:PATH or mysql://user:password@host:port/database (got "nonsense")\n'
    )
  })

  it('stops graph by name when graph runs in a process of its own', (t) => {
    const alone = join(dir, 'graph-alone')
    const config = join(dir, 'graph-alone.yaml')
    writeFileSync(
      config,
      [`dataDir: ${alone}`, 'graph: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }'].join('\n')
    )
    const started = spawnSync(process.execPath, [BIN, 'start', 'graph', '-dc', config], {
      encoding: 'utf8',
    })
    assert.equal(started.status, 0, started.stderr)
    const pid = Number(/\[peregrine-graph\] (\d+)/.exec(started.stdout)?.[1])
    t.after(() => {
      if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL')
    })
    const check = spawnSync(process.execPath, [BIN, 'check', '-c', config], { encoding: 'utf8' })
    assert.equal(check.status, 0, check.stdout)
    // Only what runs is listed: graph, up.
    assert.match(
      check.stdout,
      new RegExp(`: configuration ok\\n +graph +UP +${pid} +rpc=[^\\n]*\\n$`)
    )
    const stop = spawnSync(process.execPath, [BIN, 'stop', 'graph', '-c', config], {
      encoding: 'utf8',
    })
    assert.deepEqual([stop.status, stop.stdout], [0, '[peregrine] down (graph)\n'])
    assert.equal(processAlive(pid), false)
  })

  it('takes a state file naming a zombie process as not running', async () => {
    const zombieDir = join(dir, 'zombie')
    mkdirSync(join(zombieDir, 'run'), { recursive: true })
    const z = await zombie()
    try {
      // Its own start time, so the state file passes the reused-pid check and only its state tells.
      writeFileSync(
        join(zombieDir, 'run', 'peregrine.json'),
        JSON.stringify({
          pid: z.pid,
          startTicks: z.startTicks,
          components: ['graph'],
          addresses: {},
          startedAt: '',
        })
      )
      const stop = spawnSync(process.execPath, [BIN, '--data-dir', zombieDir, 'stop'], {
        encoding: 'utf8',
      })
      assert.deepEqual([stop.status, stop.stdout], [0, '[peregrine] not running\n'])
      const check = spawnSync(process.execPath, [BIN, '--data-dir', zombieDir, 'check', 'graph'], {
        encoding: 'utf8',
      })
      assert.equal(check.status, 1)
      assert.match(check.stdout, /graph +DOWN +-/)
    } finally {
      await z.reap()
    }
  })
})
