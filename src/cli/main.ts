// The `peregrine` command: start the platform, and work with a storage directory offline.
import { spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { Command, type CommanderError, InvalidArgumentError } from 'commander'
import { isPeregrineError, PeregrineError } from '../core/errors.js'
import { normalizeTags, seriesKeyOfCounter } from '../core/model.js'
import { validateBatch } from '../core/validate.js'
import { type Logger, newMetricsRegistry, processAlive, VERSION } from '../core/index.js'
import { CONSOL_FUNS, type ConsolFun, Db, dsTypeOf } from '../tsdb/index.js'
import {
  COMPONENTS,
  type Component,
  defaultComponents,
  readConfigFile,
  resolveConfigs,
} from './config.js'
import {
  apiUrl,
  authHeaders,
  buildQueryRequest,
  type QueryFlags,
  runQuery,
  UsageProblem,
} from './query.js'
import { startAll, stopAll } from './run-all.js'

const program = new Command()
/** exitOnFailure: the command failed where nothing is left to finish, so the process ends at once. */
let exitOnFailure = false
program
  .name('peregrine')
  .description('Peregrine: Open-Falcon compatible monitoring and operations for container clusters')
  .version(VERSION, '-V, --version', 'print the version')
  .option(
    '--data-dir <dir>',
    'where Peregrine keeps its data (default ./data, or dataDir in --config)'
  )
  // Mistakes in the command line are thrown to the catch at the bottom, which says them in one
  // sentence; every command defined below inherits both settings.
  .exitOverride()
  .configureOutput({ outputError: () => undefined })

// The reader of our output went away (`peregrine check | head -1`): nothing is left to say to it.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit()
  throw err
})

function dataDirFlag(): string | undefined {
  return program.opts<{ dataDir?: string }>().dataDir
}

function dataDir(): string {
  return resolve(dataDirFlag() ?? './data')
}

/**
 * selection returns the options that chose this instance, as they were given (` --data-dir DIR`,
 * ` -c FILE`), for a command the CLI suggests: without them it would act on the default ./data.
 */
function selection(config?: string): string {
  const dir = dataDirFlag()
  return (
    (dir === undefined ? '' : ` --data-dir ${shellQuote(dir)}`) +
    (config === undefined ? '' : ` -c ${shellQuote(config)}`)
  )
}

// A word the shell reads back as it is: plain paths bare, others in single quotes.
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

function tsdbDir(): string {
  return join(dataDir(), 'graph')
}

function log(level: 'info' | 'warn' | 'error', message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`)
}

const logger: Logger = {
  info: (m) => log('info', m),
  warn: (m) => log('warn', m),
  error: (m) => log('error', m),
}

function openDb(): Db {
  return Db.open({ dir: tsdbDir(), log, maintenanceInterval: 0 })
}

/**
 * openStoredDb opens graph storage that is already there, for the commands that only read it: opening
 * creates a database, so a mistyped --data-dir would show an empty one and leave it behind.
 */
function openStoredDb(): Db {
  const dir = tsdbDir()
  if (!existsSync(join(dir, 'wal')) && !existsSync(join(dir, 'blocks'))) {
    throw new UsageError(
      `${dataDir()} holds no graph storage (no wal/ or blocks/ in ${dir}); give the data directory Peregrine runs on with --data-dir DIR`
    )
  }
  return openDb()
}

/** RunState is what a running Peregrine writes to DATA/run/peregrine.json for stop and check. */
interface RunState {
  pid: number
  /** startTicks: the process's start time from /proc (field 22), so a reused pid is not mistaken for it. */
  startTicks?: string
  components: string[]
  addresses: Record<string, Record<string, string>>
  startedAt: string
}

function stateFile(dir: string): string {
  return join(dir, 'run', 'peregrine.json')
}

function readState(dir: string): RunState | null {
  try {
    const st = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as RunState
    if (!processAlive(st.pid)) return null
    // A state file left by kill -9 names a pid the system may have given to another program since.
    const ticks = startTicksOf(st.pid)
    if (st.startTicks !== undefined && ticks !== undefined && ticks !== st.startTicks) return null
    return st
  } catch {
    return null
  }
}

// The start time of a process in clock ticks since boot (Linux /proc); undefined where there is none.
function startTicksOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function wantedComponents(names: string[], raw: Record<string, unknown> = {}): Component[] {
  if (names.length === 0) return defaultComponents(raw)
  for (const n of names) {
    if (!(COMPONENTS as readonly string[]).includes(n)) {
      throw new UsageError(`unknown component "${n}"; the components are ${COMPONENTS.join(', ')}`)
    }
  }
  return COMPONENTS.filter((c) => names.includes(c))
}

async function loadConfigs(names: string[], file: string | undefined) {
  // Named components are checked before the file is read: a typo is the first thing said.
  wantedComponents(names)
  let raw: Record<string, unknown> = {}
  if (file !== undefined) {
    let read: ReturnType<typeof readConfigFile>
    try {
      read = readConfigFile(file)
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    raw = read.raw
    if (read.ignored.length > 0) {
      log(
        'info',
        `${file}: Open-Falcon settings Peregrine does not use: ${read.ignored.join(', ')}`
      )
    }
  }
  const components = wantedComponents(names, raw)
  try {
    const configs = await resolveConfigs(raw, components, dataDirFlag())
    // The scrape jobs too (a prometheus.yml of their own, maybe): a bad one stops `start` before
    // anything starts, and `check -c` says so.
    if (configs.scrape !== undefined) (await import('../scrape/index.js')).readJobs(configs.scrape)
    return { components, configs }
  } catch (err) {
    throw new UsageError(`configuration: ${(err as Error).message}`)
  }
}

program
  .command('start')
  .description(
    `run components (default all but gateway: ${defaultComponents({}).join(', ')}; gateway too when the configuration has a gateway section) in one process, in the foreground`
  )
  .argument('[components...]', COMPONENTS.join(' | '))
  .option('-c, --config <file>', 'YAML or JSON settings, or an Open-Falcon module cfg.json')
  .option('-d, --daemon', 'run in the background; pid, state and log under DATA/run/')
  .action(async (names: string[], o: { config?: string; daemon?: boolean }) => {
    const { components, configs } = await loadConfigs(names, o.config)
    const dir = resolve(configs.dataDir)
    const running = readState(dir)
    if (running !== null) {
      throw new UsageError(
        `Peregrine is already running on ${dir} (pid ${running.pid}); stop it with: peregrine stop${selection(o.config)}`
      )
    }
    // The background child is told by the environment, not by editing argv: `-dc FILE` stays as given.
    if (o.daemon === true && process.env.PEREGRINE_DAEMON_CHILD !== '1') {
      await daemonize(dir)
      return
    }
    const deps = { log: logger, now: () => Date.now(), metrics: newMetricsRegistry() }
    const file = o.config
    const services = await startAll(configs, deps, {
      reloadAgent:
        file === undefined
          ? undefined
          : async () => {
              const again = (await loadConfigs(names, file)).configs.agent
              if (again === undefined) throw new Error('the configuration no longer runs the agent')
              return again
            },
    }).catch((err: unknown) => {
      // startAll has stopped what it started; a socket or timer a component still holds must not
      // keep a process that failed to start running.
      exitOnFailure = true
      throw err
    })
    const state: RunState = {
      pid: process.pid,
      startTicks: startTicksOf(process.pid),
      components,
      addresses: Object.fromEntries(
        services.filter((s) => s.name !== 'store').map((s) => [s.name, s.addresses])
      ),
      startedAt: new Date().toISOString(),
    }
    mkdirSync(join(dir, 'run'), { recursive: true })
    writeFileSync(stateFile(dir), JSON.stringify(state, null, 1))
    writeFileSync(join(dir, 'run', 'peregrine.pid'), `${process.pid}\n`)
    log('info', `Peregrine running (pid ${process.pid}); Ctrl-C or SIGTERM stops it`)
    await new Promise<void>((done) => {
      const stop = (sig: NodeJS.Signals) => {
        log('info', `${sig}: stopping ingestion first, then flushing storage`)
        process.once(sig, () => {
          log(
            'error',
            `${sig} again: exiting at once; the write-ahead log keeps acknowledged points`
          )
          process.exit(1)
        })
        done()
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
    })
    await stopAll(services, deps)
    rmSync(stateFile(dir), { force: true })
    rmSync(join(dir, 'run', 'peregrine.pid'), { force: true })
    log('info', 'stopped cleanly')
  })

// Re-runs this command detached (PEREGRINE_DAEMON_CHILD=1 keeps it in the foreground there) and waits
// until it has written its state, or died, in which case the last lines of its log say why.
async function daemonize(dir: string): Promise<void> {
  mkdirSync(join(dir, 'run'), { recursive: true })
  const logFile = join(dir, 'run', 'peregrine.log')
  const fd = openSync(logFile, 'a')
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, PEREGRINE_DAEMON_CHILD: '1' },
  })
  child.unref()
  closeSync(fd)
  // An object, so the exit handler's write is visible to the loop below (and to the type checker).
  const status: { exited: number | null } = { exited: null }
  child.once('exit', (code) => (status.exited = code ?? 1))
  // No deadline while the child lives: replaying a large write-ahead log can take a while.
  for (let waited = 0; ; waited += 100) {
    const st = readState(dir)
    if (st !== null && st.pid === child.pid) {
      for (const [name, addrs] of Object.entries(st.addresses)) {
        process.stdout.write(`[peregrine-${name}] ${st.pid} ${Object.values(addrs).join(' ')}\n`)
      }
      process.stdout.write(`log: ${logFile}\n`)
      return
    }
    if (status.exited !== null) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join('\n')
      throw new Error(
        `Peregrine failed to start (exit ${status.exited}):\n${tail}\n(full log: ${logFile})`
      )
    }
    if (waited > 0 && waited % 10_000 === 0)
      process.stdout.write(`[peregrine] still starting after ${waited / 1000} s…\n`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

// The data directory of a running instance: --data-dir, else the config's dataDir, else ./data.
function dataDirOf(config: string | undefined): string {
  if (dataDirFlag() !== undefined || config === undefined) return dataDir()
  let raw: Record<string, unknown>
  try {
    raw = readConfigFile(config).raw
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return resolve(typeof raw.dataDir === 'string' ? raw.dataDir : './data')
}

program
  .command('stop')
  .description('stop a running Peregrine (its components share one process) and wait for it')
  .argument('[components...]', COMPONENTS.join(' | '))
  .option('-c, --config <file>', 'the configuration it was started with (for its dataDir)')
  .action(async (names: string[], o: { config?: string }) => {
    const wanted: string[] = names.length === 0 ? [] : wantedComponents(names)
    const dir = dataDirOf(o.config)
    const st = readState(dir)
    if (st === null) {
      process.stdout.write('[peregrine] not running\n')
      return
    }
    // The components of one process stop together: a signal cannot ask it to drop one of them.
    const absent = wanted.filter((c) => !st.components.includes(c))
    if (absent.length > 0) {
      throw new UsageError(
        `${absent.join(', ')} ${absent.length === 1 ? 'is' : 'are'} not running (pid ${st.pid} runs ${st.components.join(', ')})`
      )
    }
    const others = st.components.filter((c) => !wanted.includes(c))
    if (wanted.length > 0 && others.length > 0) {
      throw new UsageError(
        `${wanted.join(', ')} cannot be stopped alone: pid ${st.pid} runs ${st.components.join(', ')} in one process; stop them all with: peregrine stop${selection(o.config)}, or start ${wanted.join(', ')} in a process of its own`
      )
    }
    process.kill(st.pid, 'SIGTERM')
    for (let waited = 0; processAlive(st.pid); waited += 100) {
      if (waited > 0 && waited % 5000 === 0) {
        process.stdout.write(`[peregrine] ${st.pid} still flushing after ${waited / 1000} s…\n`)
      }
      if (waited >= 120_000)
        throw new Error(
          `pid ${st.pid} did not stop in 120 s; see ${join(dir, 'run', 'peregrine.log')}`
        )
      await new Promise((r) => setTimeout(r, 100))
    }
    process.stdout.write(`[peregrine] down (${st.components.join(', ')})\n`)
  })

program
  .command('check')
  .description(
    'print components UP or DOWN with pid and ports (the named ones, else those running, else those `start` would run); exit 1 if one is DOWN; with --config, validate it first'
  )
  .argument('[components...]', COMPONENTS.join(' | '))
  .option('-c, --config <file>', 'validate this configuration (exit 2 if it is wrong)')
  .action(async (names: string[], o: { config?: string }) => {
    const named = names.length === 0 ? undefined : wantedComponents(names)
    // Nothing named and nothing running: what `start` would run (with this configuration).
    let startable = defaultComponents({})
    // With remote storage no graph runs: one named is said to be so, not DOWN.
    let remoteStorage = false
    if (o.config !== undefined) {
      const loaded = await loadConfigs([], o.config)
      startable = loaded.components
      remoteStorage = loaded.configs.remoteStorage !== undefined
      process.stdout.write(`${o.config}: configuration ok\n`)
    }
    const st = readState(dataDirOf(o.config))
    const listed =
      named ?? (st === null ? startable : COMPONENTS.filter((c) => st.components.includes(c)))
    const lines: string[] = []
    // A running component may still be unwell (graph whose disk is full): its /health says so.
    const health = await Promise.all(
      listed.map((c) =>
        st !== null && st.components.includes(c)
          ? probeHealth(st.addresses[c]?.http)
          : Promise.resolve(null)
      )
    )
    for (let i = 0; i < listed.length; i++) {
      const c = listed[i]
      if (c === 'graph' && remoteStorage) {
        lines.push(
          `${c.padStart(20)} ${'-'.padStart(10)} ${'-'.padStart(15)}   not run: storage is remote\n`
        )
        continue
      }
      const up = st !== null && st.components.includes(c)
      const problem = health[i]
      // Set before writing: a reader that stops early (`| head -1`) ends the process with it.
      if (!up || problem !== null) process.exitCode = 1
      const ports = up
        ? Object.entries(st.addresses[c] ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : ''
      const pid = up ? String(st.pid) : '-'
      const state = !up ? 'DOWN' : problem === null ? 'UP' : 'DEGRADED'
      lines.push(`${c.padStart(20)} ${state.padStart(10)} ${pid.padStart(15)}   ${ports}\n`)
      if (problem !== null) lines.push(`${''.padStart(20)} ${problem}\n`)
      if (c === 'scrape' && up && problem === null)
        lines.push(...(await scrapeTargets(st.addresses.scrape?.http)))
      if ((c === 'nodata' || c === 'aggregator') && up && problem === null)
        lines.push(await ruleSummary(c, st.addresses[c]?.http))
      if (c === 'transfer' && up) lines.push(await remoteQueueSummary(st.addresses.transfer?.http))
    }
    process.stdout.write(lines.join(''))
  })

// With storage: remote, one line of transfer's forward queue (nothing otherwise).
async function remoteQueueSummary(address: string | undefined): Promise<string> {
  const host = (address ?? '').replace(/^0\.0\.0\.0:/, '127.0.0.1:')
  try {
    const res = await fetch(`http://${host}/metrics`, { signal: AbortSignal.timeout(3000) })
    const text = await res.text()
    const value = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
    const waiting = value('peregrine_remote_queue_samples')
    if (Number.isNaN(waiting)) return ''
    const lag = value('peregrine_remote_queue_lag_seconds')
    const failed = value('peregrine_remote_failed_requests_total')
    const dropped = value('peregrine_remote_dropped_samples_total')
    return `${''.padStart(20)} remote storage: ${waiting} samples waiting in the forward queue (the oldest for ${Math.round(lag)} s); ${failed} requests failed and sent again, ${dropped} samples refused by the store\n`
  } catch (err) {
    return `${''.padStart(20)} remote storage: transfer's /metrics did not answer (${(err as Error).message})\n`
  }
}

// One line of what a running nodata watches (series by status) or aggregator runs (rules, results).
async function ruleSummary(
  c: 'nodata' | 'aggregator',
  address: string | undefined
): Promise<string> {
  const host = (address ?? '').replace(/^0\.0\.0\.0:/, '127.0.0.1:')
  try {
    const res = await fetch(`http://${host}/proc/counters`, { signal: AbortSignal.timeout(3000) })
    const d = ((await res.json()) as { data: Record<string, number> }).data
    const text =
      c === 'nodata'
        ? `${d.watched} series watched from ${d.rules} rules (${d.skippedRules} skipped); ${d.mocks} mocks pushed, ${d.pending} waiting for transfer`
        : `${d.rules} rules running; ${d.results} results, ${d.skippedRuns} runs without one (/proc/rules says why), ${d.pending} waiting for transfer`
    return `${''.padStart(20)} ${text}\n`
  } catch (err) {
    return `${''.padStart(20)} ${c} not asked: ${(err as Error).message}\n`
  }
}

// The scrape targets a running scrape lists (job, URL, health, last error), one line each.
async function scrapeTargets(address: string | undefined): Promise<string[]> {
  if (address === undefined) return []
  const host = address.replace(/^0\.0\.0\.0:/, '127.0.0.1:')
  try {
    const res = await fetch(`http://${host}/api/v1/targets`, { signal: AbortSignal.timeout(3000) })
    const body = (await res.json()) as {
      data: {
        activeTargets: {
          scrapePool: string
          scrapeUrl: string
          health: string
          lastError: string
          samplesNotStored?: number
          lastStoreError?: string
        }[]
      }
    }
    return body.data.activeTargets.map((t) => {
      const notStored =
        (t.samplesNotStored ?? 0) > 0
          ? ` (${t.samplesNotStored} samples of the last scrape not stored: ${t.lastStoreError ?? ''})`
          : ''
      return `${''.padStart(20)} ${t.health.toUpperCase().padStart(10)}   ${t.scrapePool} ${t.scrapeUrl}${t.lastError === '' ? '' : `: ${t.lastError}`}${notStored}\n`
    })
  } catch (err) {
    return [`${''.padStart(20)} targets not listed: ${(err as Error).message}\n`]
  }
}

// What a component's HTTP /health says is wrong, or null when it answers ok (or has no /health).
async function probeHealth(address: string | undefined): Promise<string | null> {
  if (address === undefined) return null
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^(0\.0\.0\.0|\[?::\]?)$/, '127.0.0.1')
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.slice(colon + 1)}/health`
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
    const text = (await res.text()).trim()
    if (res.ok || res.status === 404) return null
    return `${url}: ${res.status} ${text.slice(0, 500)}`
  } catch (err) {
    return `${url}: not answering (${(err as Error).message})`
  }
}

program
  .command('query')
  .description(
    "run a PromQL query on a running Peregrine's api (its Prometheus API) and print a table or JSON"
  )
  .argument('<expr>', 'PromQL, e.g. \'sum by (endpoint) (rate({"net.if.in.bytes"}[5m]))\'')
  .option(
    '--time <t>',
    'instant query at this time: Unix seconds, RFC 3339, now, or -5m (default now)'
  )
  .option('--start <t>', 'range query from this time (same forms as --time)')
  .option('--end <t>', 'range query to this time (default now)')
  .option('--step <s>', 'range step: seconds or a duration like 1m (default: about 250 points)')
  .option('--json', "print the API's JSON answer as it is")
  .option(
    '--url <url>',
    "the api's URL (default: the running instance's, else http://127.0.0.1:8080)"
  )
  .option('--token <token>', 'an API token (pgt_…; default $PEREGRINE_TOKEN)')
  .option('--user <name:password>', 'HTTP Basic credentials instead of a token')
  .option('-c, --config <file>', 'the configuration the instance runs with (for its dataDir)')
  .action(async (expr: string, o: QueryFlags & { config?: string }) => {
    const token = o.token ?? (o.user === undefined ? process.env.PEREGRINE_TOKEN : undefined)
    let request: ReturnType<typeof buildQueryRequest>
    let headers: Record<string, string>
    try {
      request = buildQueryRequest(expr, o, Date.now())
      headers = authHeaders({ ...o, token: token === '' ? undefined : token })
    } catch (err) {
      if (err instanceof UsageProblem) throw new UsageError(err.message)
      throw err
    }
    let base = o.url
    if (base === undefined) {
      const address = readState(dataDirOf(o.config))?.addresses.api?.http
      base = address === undefined ? 'http://127.0.0.1:8080' : apiUrl(address)
    } else if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) {
      throw new UsageError(`--url: expected http://host:port, got ${JSON.stringify(base)}`)
    }
    const out = await runQuery(base, request, headers, o.json === true)
    process.stdout.write(out.stdout)
    process.stderr.write(out.stderr)
    process.exitCode = out.code
  })

const tsdb = program
  .command('tsdb')
  .description('work with the storage directory while Peregrine is stopped')

// A command that only groups others (`peregrine tsdb`), given none of them, is a usage mistake like
// any other: one sentence, not its help. (A bare `peregrine` still prints the help.)
program.hook('preSubcommand', (_, sub) => {
  if (sub.commands.length > 0 && program.args.length === 1) {
    const names = sub.commands.map((c) => c.name())
    throw new UsageError(
      `${sub.name()} needs a command: ${names.slice(0, -1).join(', ')} or ${names.at(-1)}; see peregrine ${sub.name()} --help`
    )
  }
})

tsdb
  .command('import')
  .description('read a JSON array of Open-Falcon MetricValue from a file or stdin and store it')
  .argument('[file]', 'JSON file (default: stdin)')
  .action(async (file?: string) => {
    const text = readFileSync(file ?? 0, 'utf8')
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw new UsageError(`${file ?? 'stdin'} is not JSON: ${(err as Error).message}`)
    }
    const { valid, invalid, errors } = validateBatch(body, Math.floor(Date.now() / 1000))
    for (const e of errors) log('warn', `item ${e.index} skipped: ${e.error.message}`)
    const db = openDb()
    try {
      const app = db.appender()
      for (const m of valid) {
        const desc = {
          endpoint: m.endpoint,
          metric: m.metric,
          tags: normalizeTags(m.tags),
          dstype: dsTypeOf(m.counterType),
          step: m.step,
        }
        app.append(0, desc, m.timestamp * 1000, m.value)
      }
      const { refused, ...counts } = await app.commit()
      for (const r of refused.slice(0, 10)) {
        const m = valid[r.index]
        log('warn', `${m.endpoint}/${m.metric} at ${m.timestamp} refused: ${r.message}`)
      }
      process.stdout.write(
        JSON.stringify({ total: valid.length + invalid, invalid, ...counts }) + '\n'
      )
    } finally {
      await db.close()
    }
  })

tsdb
  .command('query')
  .description('print the points of a series (falcon key endpoint/metric[/k=v,...])')
  .argument('<key>', 'endpoint/counter, e.g. host1/cpu.idle or host1/net.if.in.bytes/iface=eth0')
  .option('--start <time>', 'unix seconds, or -1h/-30m/-7d from now (default -1h)', parseTime)
  .option('--end <time>', 'unix seconds, now, or relative as --start (default now)', parseTime)
  .option('--step <seconds>', 'wanted resolution; picks a rollup tier', parsePositive)
  .option('--cf <consolFun>', `one of ${CONSOL_FUNS.join(', ')}`, parseCf, 'AVERAGE')
  .action((key: string, o: { start?: number; end?: number; step?: number; cf: ConsolFun }) => {
    const end = o.end ?? Math.floor(Date.now() / 1000)
    const start = o.start ?? end - 3600
    const slash = key.indexOf('/')
    if (slash <= 0) throw new UsageError(`key: expected endpoint/counter, got "${key}"`)
    const canonical = seriesKeyOfCounter(key.slice(0, slash), key.slice(slash + 1))
    const db = openStoredDb()
    try {
      const r = db.query(canonical, {
        start: start * 1000,
        end: end * 1000,
        step: o.step,
        consolFun: o.cf,
      })
      if (r === null)
        throw new UsageError(
          `no series ${canonical}; list them with: peregrine tsdb stats --series${selection()}`
        )
      const values = []
      for (let i = 0; i < r.n; i++)
        values.push({ timestamp: r.ts[i] / 1000, value: Number.isFinite(r.vs[i]) ? r.vs[i] : null })
      process.stdout.write(
        JSON.stringify(
          { key: canonical, dstype: r.dstype, step: r.step, tier: r.tier, values },
          null,
          1
        ) + '\n'
      )
    } finally {
      void db.close({ flush: false })
    }
  })

tsdb
  .command('stats')
  .description('print series count, blocks, disk usage and counters (opening also repairs damage)')
  .option('--series', 'also list every endpoint with its counters')
  .action(async (o: { series?: boolean }) => {
    const db = openStoredDb()
    try {
      const out: Record<string, unknown> = { ...db.stats() }
      if (o.series === true) {
        out.endpoints = Object.fromEntries(
          db.endpoints().map((e) => [e, db.counters(e).map((c) => c.counter)])
        )
      }
      process.stdout.write(JSON.stringify(out, null, 1) + '\n')
    } finally {
      await db.close({ flush: false })
    }
  })

// A usage mistake: one sentence and exit status 2.
class UsageError extends PeregrineError {
  constructor(message: string) {
    super('PG_CLI_USAGE', message, { status: 400 })
  }
}

function parseTime(v: string): number {
  const now = Math.floor(Date.now() / 1000)
  const rel = /^-(\d+)([smhd])$/.exec(v)
  if (rel !== null) return now - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's']
  if (v === '0' || v === 'now') return now
  if (/^\d+$/.test(v)) return Number(v)
  throw new InvalidArgumentError('expected unix seconds, now, or -<n>s|m|h|d')
}

function parsePositive(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer')
  return n
}

// commander's own errors (exitOverride) carry a `commander.*` code; told apart by it, not by class.
function isCommanderError(err: unknown): err is CommanderError {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('commander.')
}

function parseCf(v: string): ConsolFun {
  if (!(CONSOL_FUNS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`expected one of ${CONSOL_FUNS.join(', ')}`)
  }
  return v as ConsolFun
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isCommanderError(err)) {
    // --help, `help` and --version have printed what was asked; a bare `peregrine` has printed the
    // help as its usage error.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return
    if (err.code === 'commander.help') {
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    // An unknown command or option, a missing or bad argument: one sentence, as other usage errors.
    const what = err.message
      .replace(/^error: /, '')
      .replace(/\s*\n\s*/g, ' ')
      .replace(/\.$/, '')
    process.stderr.write(`peregrine: ${what}; see peregrine --help\n`)
    process.exitCode = 2
    return
  }
  // One sentence and a non-zero exit: what went wrong and, where we know, what to do.
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`peregrine: ${message}\n`)
  process.exitCode = isPeregrineError(err) ? 2 : 1
  if (exitOnFailure) process.exit()
})
