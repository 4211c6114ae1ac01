// Benchmark of the tsdb engine: writes a day of falcon-agent-like series, then measures size and query time.
//
// Usage: node --expose-gc dist/bench/tsdb.js [--series N] [--points N] [--dir DIR] [--wal-sync fsync|write]
//        [--keep]. Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Db, type WalSync } from '../src/tsdb/index.js'
import { Dataset, SERIES_PER_HOST, STEP_MS, XorShift32 } from './dataset.js'

const WRITERS = 4
/** MAX_POINTS keeps every point inside the default raw retention (7 days at step 60 s). */
const MAX_POINTS = 7 * 1440
const QUERY_WARMUP = 20
const QUERY_ONE = 200
const QUERY_MANY_REPS = 50
const QUERY_MANY_SERIES = 100

const USAGE =
  'usage: node --expose-gc dist/bench/tsdb.js [--series N] [--points N] [--dir DIR] ' +
  '[--wal-sync fsync|write] [--keep]'

interface Flags {
  series: number
  points: number
  dir: string | null
  walSync: WalSync
  keep: boolean
}

function parseFlags(argv: string[]): Flags {
  const fail = (message: string): never => {
    process.stderr.write(`tsdb bench: ${message}\n${USAGE}\n`)
    process.exit(2)
  }
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        series: { type: 'string' },
        points: { type: 'string' },
        dir: { type: 'string' },
        'wal-sync': { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    return fail(`bad command line: ${(err as Error).message.replace(/\.?$/, '.')}`)
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = values[name]
    if (raw === undefined) return def
    const n = Number(raw)
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min || n > max) {
      return fail(
        `--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}.`
      )
    }
    return n
  }
  const walSync = values['wal-sync'] ?? 'fsync'
  if (walSync !== 'fsync' && walSync !== 'write') {
    return fail(`--wal-sync: expected fsync or write, got ${JSON.stringify(walSync)}.`)
  }
  const dir = values.dir
  if (dir === '') return fail('--dir: expected a directory path, got an empty string.')
  return {
    series: int('series', 10_000, 1, 10_000_000),
    // Points older than the raw retention (7 days) would be rejected as too old.
    points: int('points', 1440, 2, MAX_POINTS),
    dir: typeof dir === 'string' ? dir : null,
    walSync,
    keep: values.keep === true,
  }
}

// Returns the directory to write, creating it; an existing one must be empty so old data cannot skew sizes.
function prepareDir(dir: string | null): string {
  if (dir === null) return mkdtempSync(join(tmpdir(), 'peregrine-bench-tsdb-'))
  mkdirSync(dir, { recursive: true })
  if (readdirSync(dir).length > 0) {
    process.stderr.write(`tsdb bench: --dir ${dir} is not empty; give an empty or new directory.\n`)
    process.exit(2)
  }
  return dir
}

function treeBytes(dir: string): number {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += treeBytes(p)
    else if (e.isFile()) total += statSync(p).size
  }
  return total
}

// Nearest-rank percentile of ascending `sorted`.
function percentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

function millions(n: number, digits: number): string {
  return n >= 1e6
    ? `${(n / 1e6).toFixed(digits)}M`
    : n >= 1e3
      ? `${(n / 1e3).toFixed(digits)}k`
      : `${Math.round(n)}`
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000

function log(message: string): void {
  process.stderr.write(`tsdb bench: ${message}\n`)
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2))
  const NOW = Math.floor(Date.now() / STEP_MS) * STEP_MS
  const firstT = NOW - (flags.points - 1) * STEP_MS
  const total = flags.series * flags.points

  let rssPeak = 0
  const sampleRss = (): void => {
    const rss = process.memoryUsage.rss()
    if (rss > rssPeak) rssPeak = rss
  }
  const rssTimer = setInterval(sampleRss, 100)
  rssTimer.unref()

  const data = new Dataset(flags.series, 0x5eed1234)
  const dir = prepareDir(flags.dir)
  log(
    `${flags.series} series (${Math.ceil(flags.series / SERIES_PER_HOST)} host(s)) × ${flags.points} ` +
      `points = ${millions(total, 1)} points, wal-sync ${flags.walSync}, dir ${dir}`
  )
  const db = Db.open({ dir, walSync: flags.walSync, maintenanceInterval: 0, now: () => NOW })
  let closed = false
  try {
    // Each writer owns a contiguous quarter of the series, as a transfer connection owns its endpoints.
    const writers = []
    for (let w = 0; w < WRITERS; w++) {
      const lo = Math.floor((w * flags.series) / WRITERS)
      const hi = Math.floor(((w + 1) * flags.series) / WRITERS)
      if (hi > lo) writers.push({ app: db.appender(), lo, hi })
    }
    const refs = new Float64Array(flags.series)
    const vals = new Float64Array(flags.series)
    const counts = { appended: 0, duplicates: 0, outOfOrder: 0, tooOld: 0 }
    let genMs = 0
    let nextReport = 1
    const started = performance.now()
    for (let i = 0; i < flags.points; i++) {
      const ts = firstT + i * STEP_MS
      const g = performance.now()
      data.next(vals)
      genMs += performance.now() - g
      const commits = []
      for (const { app, lo, hi } of writers) {
        for (let s = lo; s < hi; s++) {
          const ref = refs[s]
          refs[s] = app.append(ref, ref === 0 ? data.descs[s] : null, ts, vals[s])
        }
        commits.push(app.commit())
      }
      // The writers' commits wait on the WAL together, so they share group commits.
      for (const r of await Promise.all(commits)) {
        counts.appended += r.appended
        counts.duplicates += r.duplicates
        counts.outOfOrder += r.outOfOrderInserted
        counts.tooOld += r.tooOld
      }
      if ((i + 1) * 10 >= nextReport * flags.points) {
        while ((i + 1) * 10 >= nextReport * flags.points) nextReport++
        const done = (i + 1) * flags.series
        const rate = done / ((performance.now() - started) / 1000)
        log(
          `wrote ${millions(done, 1)}/${millions(total, 1)} points, ${millions(rate, 2)} points/s`
        )
        sampleRss()
      }
    }
    const writeSeconds = (performance.now() - started) / 1000
    sampleRss()
    const appendRate = total / writeSeconds
    log(
      `write phase ${writeSeconds.toFixed(2)} s (of which ${(genMs / 1000).toFixed(2)} s generating ` +
        `values), ${Math.round(appendRate)} points/s`
    )
    if (counts.appended !== total || counts.duplicates + counts.outOfOrder + counts.tooOld > 0) {
      log(
        `WARNING: wrote ${total} points but commits report ${counts.appended} appended, ` +
          `${counts.duplicates} duplicates, ${counts.outOfOrder} out of order, ${counts.tooOld} too old`
      )
    }

    const f = performance.now()
    await db.flush()
    sampleRss()
    const flushedBytes = treeBytes(dir)
    log(`flush ${((performance.now() - f) / 1000).toFixed(2)} s; ${flushedBytes} bytes on disk`)
    // The background maintenance compacts the flushed 2-3 h blocks into day blocks; run it now, as a
    // data directory at rest looks after one maintenance interval.
    const c = performance.now()
    const merged = await db.compact()
    sampleRss()
    const diskBytes = treeBytes(dir)
    const st = db.stats()
    log(`compaction merged ${merged} blocks in ${((performance.now() - c) / 1000).toFixed(2)} s`)
    // Chunk bytes per kind of series (series tables and file framing excluded), to compare kind by kind
    // with the VictoriaMetrics and Prometheus figures in docs/architecture.md.
    const kindNames = ['percent_2dp', 'bytes_gauge', 'counter', 'constant']
    const kindOf = new Map(data.keys.map((k, s) => [k, data.kind[s]]))
    const byKind = kindNames.map(() => ({ points: 0, bytes: 0 }))
    for (const a of db.analyze()) {
      const k = kindOf.get(a.key)
      if (k === undefined) continue
      byKind[k].points += a.points
      byKind[k].bytes += a.bytes
    }
    const bytesByKind = Object.fromEntries(
      kindNames.map((name, k) => [name, round3(byKind[k].bytes / Math.max(1, byKind[k].points))])
    )
    log(`chunk bytes per sample by kind: ${JSON.stringify(bytesByKind)}`)
    log(
      `${diskBytes} bytes on disk ` +
        `(stats: wal ${st.diskBytes.wal}, blocks ${st.diskBytes.blocks}, ` +
        `${Object.entries(st.blocks)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')} block(s), ${st.flushes} flush(es), ${st.walGroupCommits} group commits)`
    )

    // Queries: each result is checked against what was written, then only its size feeds the sink.
    globalThis.gc?.()
    const qrng = new XorShift32(0xc0ffee)
    const opts = { start: firstT, end: NOW }
    let sink = 0
    let mismatches = 0
    const query = (s: number): void => {
      const key = data.keys[s]
      const r = db.query(key, opts)
      if (r === null || r.n === 0) {
        throw new Error(
          `query ${key} [${firstT}, ${NOW}] returned ${r === null ? 'null' : '0 points'}`
        )
      }
      sink += r.n
      const derive = data.descs[s].dstype === 'DERIVE'
      // A rate needs the point before it, so a counter has one point fewer than was written.
      const wantN = derive ? flags.points - 1 : flags.points
      const d = data.value[s] - data.prev[s]
      const wantLast = derive ? (d * 1000) / STEP_MS : data.value[s]
      const problem =
        r.n !== wantN
          ? `n ${r.n}, want ${wantN}`
          : r.ts[r.n - 1] !== NOW
            ? `last t ${r.ts[r.n - 1]}, want ${NOW}`
            : r.vs[r.n - 1] !== wantLast
              ? `last value ${r.vs[r.n - 1]}, want ${wantLast}`
              : ''
      if (problem !== '' && mismatches++ < 5) log(`WARNING: query ${key} (${r.tier}): ${problem}`)
    }
    for (let i = 0; i < QUERY_WARMUP; i++) query(qrng.int(flags.series))
    const one: number[] = []
    for (let i = 0; i < QUERY_ONE; i++) {
      const s = qrng.int(flags.series)
      const q = performance.now()
      query(s)
      one.push(performance.now() - q)
    }
    sampleRss()
    const many: number[] = []
    for (let rep = 0; rep < QUERY_MANY_REPS; rep++) {
      const picks = Array.from({ length: QUERY_MANY_SERIES }, () => qrng.int(flags.series))
      const q = performance.now()
      for (const s of picks) query(s)
      many.push(performance.now() - q)
      sampleRss()
    }
    one.sort((x, y) => x - y)
    many.sort((x, y) => x - y)
    const queries = QUERY_WARMUP + QUERY_ONE + QUERY_MANY_REPS * QUERY_MANY_SERIES
    log(
      `${queries} queries returned ${sink} points` +
        (mismatches > 0 ? `; ${mismatches} differed from what was written` : ', all as written')
    )

    closed = true
    await db.close()
    sampleRss()
    clearInterval(rssTimer)
    console.log(
      JSON.stringify({
        bench: 'tsdb',
        series: flags.series,
        points: total,
        append_points_per_s: Math.round(appendRate),
        bytes_per_sample: round3(flushedBytes / total),
        bytes_per_sample_after_compaction: round3(diskBytes / total),
        chunk_bytes_per_sample_by_kind: bytesByKind,
        query_1series_24h_p50_ms: round3(percentile(one, 0.5)),
        query_1series_24h_p99_ms: round3(percentile(one, 0.99)),
        query_100series_24h_p50_ms: round3(percentile(many, 0.5)),
        rss_peak_mb: Math.round(rssPeak / 1024 ** 2),
        wal_sync: flags.walSync,
        node: process.version,
      })
    )
  } finally {
    if (!closed) await db.close({ flush: false }).catch(() => undefined)
    if (flags.keep) log(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `tsdb bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
  )
  process.exit(1)
})
