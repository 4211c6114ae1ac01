// The `peregrine` command: start the platform, and work with a storage directory offline.
import { readFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { isPeregrineError, PeregrineError } from '../core/errors.js'
import { counterOf, normalizeTags, splitCounter } from '../core/model.js'
import { validateBatch } from '../core/validate.js'
import { CONSOL_FUNS, type ConsolFun, Db, dsTypeOf } from '../tsdb/index.js'

const program = new Command()
program
  .name('peregrine')
  .description('Peregrine: Open-Falcon compatible monitoring and operations for container clusters')
  .option('--data-dir <dir>', 'where Peregrine keeps its data', './data')
  .showHelpAfterError()

function tsdbDir(): string {
  return join(resolve(program.opts<{ dataDir: string }>().dataDir), 'tsdb')
}

function log(level: 'info' | 'warn', message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`)
}

function openDb(): Db {
  return Db.open({ dir: tsdbDir(), log, maintenanceInterval: 0 })
}

program
  .command('start')
  .description(
    'run Peregrine in the foreground until Ctrl-C or SIGTERM (today: the storage engine with its ' +
      'background flush, rollup and retention; the network components come with the pipeline issue)'
  )
  .action(async () => {
    const started = performance.now()
    const db = Db.open({ dir: tsdbDir(), log })
    const s = db.stats()
    log(
      'info',
      `tsdb open at ${tsdbDir()} in ${Math.round(performance.now() - started)} ms: ${s.series} series, ` +
        `${s.headPoints} points replayed from the WAL, ${JSON.stringify(s.blocks)} blocks`
    )
    for (const r of s.repairs) log('warn', `repaired: ${r}`)
    await new Promise<void>((done) => {
      // The engine's own timers do not hold the process open; the foreground service does.
      const alive = setInterval(() => undefined, 1 << 30)
      const stop = (sig: string) => {
        log('info', `${sig}: flushing and closing`)
        clearInterval(alive)
        done()
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
    })
    await db.close()
    log('info', 'stopped cleanly')
  })

const tsdb = program
  .command('tsdb')
  .description('work with the storage directory while Peregrine is stopped')

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
      const r = await app.commit()
      process.stdout.write(JSON.stringify({ total: valid.length + invalid, invalid, ...r }) + '\n')
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
    const { metric, tags } = splitCounter(key.slice(slash + 1))
    const canonical = key.slice(0, slash) + '/' + counterOf(metric, tags)
    const db = openDb()
    try {
      const r = db.query(canonical, {
        start: start * 1000,
        end: end * 1000,
        step: o.step,
        consolFun: o.cf,
      })
      if (r === null)
        throw new UsageError(
          `no series ${canonical}; list them with: peregrine tsdb stats --series`
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
    const db = openDb()
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

function parseCf(v: string): ConsolFun {
  if (!(CONSOL_FUNS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`expected one of ${CONSOL_FUNS.join(', ')}`)
  }
  return v as ConsolFun
}

program.parseAsync(process.argv).catch((err: unknown) => {
  // One sentence and a non-zero exit: what went wrong and, where we know, what to do.
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`peregrine: ${message}\n`)
  process.exitCode = isPeregrineError(err) ? 2 : 1
})
