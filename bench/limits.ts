// Limits benchmark: one client tries to make a default all-in-one hold millions of series, and the
// server's memory stays bounded: past graph's series limit, points of new series are refused in the
// push answer. The server runs with a small heap, as on a small machine.
//
// Usage: node dist/bench/limits.js [--series N] [--heap MB] [--batch N] [--via http|socket]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startPeregrine } from '../test/support/peregrine-process.js'
import { memoryMb } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`limits bench: ${message}\n`)
}

function flags() {
  const { values } = parseArgs({
    options: {
      series: { type: 'string', default: '5000000' },
      heap: { type: 'string', default: '512' },
      batch: { type: 'string', default: '5000' },
      via: { type: 'string', default: 'http' },
    },
  })
  const n = (name: string, v: string, min: number, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < min || x > max) {
      process.stderr.write(
        `limits bench: --${name} must be an integer from ${min} to ${max}, got ${v}\n`
      )
      process.exit(2)
    }
    return x
  }
  if (values.via !== 'http' && values.via !== 'socket') {
    process.stderr.write(`limits bench: --via must be http or socket, got ${values.via}\n`)
    process.exit(2)
  }
  return {
    series: n('series', values.series, 1, 100_000_000),
    heap: n('heap', values.heap, 128, 65536),
    batch: n('batch', values.batch, 1, 100_000),
    via: values.via,
  }
}

// Resident set of a process now, and its high-water mark, in MB.
function rssMb(pid: number): { now: number; peak: number } {
  return { now: Math.round(memoryMb(pid)), peak: Math.round(memoryMb(pid, 'VmHWM')) }
}

async function counters(address: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${address}/counter/all`)
  return ((await res.json()) as { data: Record<string, unknown> }).data
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'pg-bench-limits-'))
  // Every component, as `npm start` runs them, but with a small heap.
  const aio = await startPeregrine(dir, [], { transfer: { socket: '127.0.0.1:0' } }, [
    `--max-old-space-size=${f.heap}`,
  ])
  const pid = aio.child.pid as number
  const started = performance.now()
  let refused = 0
  let sent = 0
  let rssMax = 0
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssMb(pid).now)
  }, 250)
  try {
    const now = Math.floor(Date.now() / 1000) - 60
    // Every point is a new series: one endpoint, ever new metrics and tags.
    const line = (i: number) => `update attacker m.${i} ${now} 1 GAUGE 60\n`
    const item = (i: number) =>
      `{"endpoint":"attacker","metric":"m.${i}","value":1,"step":60,"counterType":"GAUGE","tags":"k=${i}","timestamp":${now}}`
    let nextReport = 0.1
    if (f.via === 'socket') {
      const socket = connect(Number(aio.addresses.transfer.socket.split(':').pop()), '127.0.0.1')
      await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail))
      for (; sent < f.series;) {
        let chunk = ''
        for (const end = Math.min(f.series, sent + f.batch); sent < end; sent++) chunk += line(sent)
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r))
        if (sent >= nextReport * f.series) {
          log(`sent ${sent} lines, server RSS ${rssMb(pid).now} MB`)
          nextReport += 0.1
        }
      }
      await new Promise<void>((ok) => socket.end(ok))
      // Nothing is answered on the socket: wait until transfer has read every line and routed it.
      for (;;) {
        const t = await counters(aio.addresses.transfer.http)
        const c = await counters(aio.addresses.graph.http)
        const tsdb = c.tsdb as { seriesLimited: number }
        if ((t.socketLines as number) >= f.series && (t.refused as number) === tsdb.seriesLimited)
          break
        await new Promise((r) => setTimeout(r, 200))
      }
    } else {
      for (; sent < f.series;) {
        const parts: string[] = []
        for (const end = Math.min(f.series, sent + f.batch); sent < end; sent++)
          parts.push(item(sent))
        const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
          method: 'POST',
          body: `[${parts.join(',')}]`,
        })
        const body = (await res.json()) as { data?: { Invalid: number }; msg?: string }
        if (res.status !== 200) throw new Error(`push answered ${res.status}: ${body.msg}`)
        refused += body.data?.Invalid ?? 0
        if (sent >= nextReport * f.series) {
          log(`sent ${sent} points, ${refused} refused, server RSS ${rssMb(pid).now} MB`)
          nextReport += 0.1
        }
      }
    }
    const seconds = (performance.now() - started) / 1000
    // The server is still alive and answering, and says what it holds and what it refused.
    const graph = await counters(aio.addresses.graph.http)
    const transfer = await counters(aio.addresses.transfer.http)
    const tsdb = graph.tsdb as { series: number; seriesLimited: number }
    const rss = rssMb(pid)
    rssMax = Math.max(rssMax, rss.now)
    const out = {
      bench: 'limits',
      via: f.via,
      series_tried: f.series,
      heap_limit_mb: f.heap,
      series_stored: tsdb.series,
      points_refused_series_limit: tsdb.seriesLimited,
      transfer_refused:
        (transfer.refusedByCode as Record<string, number>).PG_TSDB_SERIES_LIMIT ?? 0,
      server_rss_max_mb: rssMax,
      server_rss_peak_mb: rss.peak,
      server_rss_end_mb: rss.now,
      points_per_s: Math.round(f.series / seconds),
      seconds: Number(seconds.toFixed(1)),
      server_alive: aio.child.exitCode === null,
    }
    log(
      `the server holds ${out.series_stored} series and refused ${out.points_refused_series_limit} points; RSS peaked at ${out.server_rss_peak_mb} MB under a ${f.heap} MB heap`
    )
    process.stdout.write(JSON.stringify(out) + '\n')
  } finally {
    clearInterval(sampler)
    await aio.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`limits bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
