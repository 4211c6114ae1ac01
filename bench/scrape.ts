// Scrape benchmark: the all-in-one (in a child process) scraping many exporters every 15 s, as a
// fleet's node_exporters: its CPU per scraped sample and its memory. The exporters are one HTTP server
// in this process answering each target's page (500 series, node_exporter-like names and labels,
// values moving every scrape); a target is told apart by a URL parameter set by relabelling.
//
// Usage: node dist/bench/scrape.js [--targets N] [--series N] [--interval S] [--seconds N]
//        [--components LIST] [--keep]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startPeregrine } from '../test/support/peregrine-process.js'
import { cpuSeconds, memoryMb } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`scrape bench: ${message}\n`)
}

function flags() {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: '1000' },
      series: { type: 'string', default: '500' },
      interval: { type: 'string', default: '15' },
      seconds: { type: 'string', default: '75' },
      components: { type: 'string', default: 'graph,transfer,scrape,api' },
      keep: { type: 'boolean', default: false },
    },
  })
  const n = (name: string, v: string, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x <= 0 || x > max) {
      log(`--${name} must be an integer from 1 to ${max}, got ${v}`)
      process.exit(2)
    }
    return x
  }
  return {
    targets: n('targets', values.targets, 20_000),
    series: n('series', values.series, 100_000),
    interval: n('interval', values.interval, 3600),
    seconds: n('seconds', values.seconds, 3600),
    components: values.components === 'all' ? [] : values.components.split(','),
    keep: values.keep,
  }
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return Math.round(memoryMb(pid, field))
}

// A page of `series` samples: node_exporter's shapes (cpu seconds by cpu and mode, filesystem bytes by
// device and mountpoint, network bytes by device, a few gauges), values moving with `tick`.
function page(target: number, series: number, tick: number): string {
  const lines: string[] = []
  const modes = ['idle', 'user', 'system', 'iowait', 'irq', 'softirq', 'steal', 'nice']
  let i = 0
  lines.push('# TYPE node_cpu_seconds_total counter')
  for (let cpu = 0; i < series * 0.4; cpu++) {
    for (const mode of modes) {
      lines.push(
        `node_cpu_seconds_total{cpu="${cpu}",mode="${mode}"} ${(target + cpu * 13 + tick * 15.07).toFixed(2)}`
      )
      i++
    }
  }
  lines.push('# TYPE node_filesystem_avail_bytes gauge')
  for (let d = 0; i < series * 0.7; d++, i++) {
    lines.push(
      `node_filesystem_avail_bytes{device="/dev/sd${d}",fstype="ext4",mountpoint="/data/${d}"} ${1e11 - tick * 4096 * (d + 1)}`
    )
  }
  lines.push('# TYPE node_network_receive_bytes_total counter')
  for (let d = 0; i < series - 1; d++, i++) {
    lines.push(
      `node_network_receive_bytes_total{device="eth${d}"} ${target * 1e6 + tick * 123456 * (d + 1)}`
    )
  }
  lines.push(`node_load1 ${((target % 7) + tick / 10).toFixed(2)}`)
  return lines.join('\n') + '\n'
}

async function main(): Promise<void> {
  const f = flags()
  let tick = 0
  const started = Date.now()
  const server = createServer((req, res) => {
    const id = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? 0)
    tick = Math.floor((Date.now() - started) / (f.interval * 1000))
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' })
    res.end(page(id, f.series, tick))
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`
  const dir = mkdtempSync(join(tmpdir(), 'pg-scrape-bench-'))
  log(
    `${f.targets} targets × ${f.series} series every ${f.interval} s for ${f.seconds} s, dir ${dir}`
  )
  // SCRAPE_SERVER_NODE_ARGS reaches the server's node only, e.g. "--cpu-prof --cpu-prof-dir=DIR".
  const nodeArgs = (process.env.SCRAPE_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const aio = await startPeregrine(
    dir,
    f.components,
    {
      // The fleet's series (1,000 × 500 by default) are more than `auto` allows on a default heap
      // (434,000, and half that new per hour): an operator of such a fleet sets the limits.
      graph: {
        maxSeries: Math.max(100_000, Math.ceil(f.targets * (f.series + 5) * 1.2)),
        maxNewSeriesPerHour: 0,
      },
      scrape: {
        selfScrape: false,
        scrapeConfigs: [
          {
            job_name: 'node',
            scrape_interval: `${f.interval}s`,
            scrape_timeout: `${Math.min(10, f.interval)}s`,
            static_configs: [
              {
                targets: Array.from({ length: f.targets }, (_, i) => `${address}#${i}`),
              },
            ],
            // Each target is `address#i`: the id becomes a URL parameter and the instance.
            relabel_configs: [
              { source_labels: ['__address__'], regex: '.*#(.*)', target_label: '__param_id' },
              {
                source_labels: ['__address__'],
                regex: '(.*)#(.*)',
                target_label: 'instance',
                replacement: 'host-$2:9100',
              },
              { source_labels: ['__address__'], regex: '(.*)#.*', target_label: '__address__' },
            ],
          },
        ],
      },
    },
    nodeArgs
  )
  const pid = aio.child.pid as number
  try {
    const counters = async () => {
      const c = (await (await fetch(`http://${aio.addresses.scrape.http}/counter/all`)).json()) as {
        data: { write: { samples: number; droppedSamples: number }; targets: number }
      }
      return c.data
    }
    // Head flushes in the measured span (each writes every series' chunks to blocks: a large share
    // of the CPU at fleet size, so the figure depends on whether one falls in the span).
    const flushes = async () => {
      const g = (await (await fetch(`http://${aio.addresses.graph.http}/counter/all`)).json()) as {
        data: { tsdb: { flushes: number; series: number } }
      }
      return g.data.tsdb
    }
    // One interval to spread the targets and warm up, then the measured span.
    await new Promise((ok) => setTimeout(ok, f.interval * 1000 + 2000))
    const before = await counters()
    const flushesBefore = (await flushes()).flushes
    const cpu0 = cpuSeconds(pid)
    const t0 = Date.now()
    for (let s = 0; s < f.seconds; s += 15) {
      await new Promise((ok) => setTimeout(ok, Math.min(15, f.seconds - s) * 1000))
      const c = await counters()
      log(
        `${Math.round((Date.now() - t0) / 1000)} s: ${c.write.samples - before.write.samples} samples written, RSS ${rssMb(pid, 'VmRSS')} MB`
      )
    }
    const after = await counters()
    const cpu = cpuSeconds(pid) - cpu0
    const tsdb = await flushes()
    const secs = (Date.now() - t0) / 1000
    const samples = after.write.samples - before.write.samples
    console.log(
      JSON.stringify({
        bench: 'scrape',
        targets: after.targets,
        series_per_target: f.series,
        interval_s: f.interval,
        samples_per_s: Math.round(samples / secs),
        server_cpu_s_per_m_samples: Math.round((cpu / (samples / 1e6)) * 100) / 100,
        server_cpu_cores: Math.round((cpu / secs) * 100) / 100,
        dropped_samples: after.write.droppedSamples - before.write.droppedSamples,
        head_flushes: tsdb.flushes - flushesBefore,
        series: tsdb.series,
        rss_mb: rssMb(pid, 'VmRSS'),
        rss_peak_mb: rssMb(pid, 'VmHWM'),
        components: f.components.join(',') || 'all',
        node: process.version,
      })
    )
  } finally {
    await aio.stop()
    server.close()
    if (!f.keep) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})
