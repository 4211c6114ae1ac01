// Remote storage's forwarding: a transfer with `storage: remote` in a child process beside Debian's
// victoria-metrics (loopback), the bench dataset pushed over JSON-RPC by concurrent clients, the store
// stopped for a while in the middle and started again. It prints the rate transfer acknowledged at, the
// rate the store took the points at (push start to queue empty), CPU per million points, and how many
// acknowledged points the store lacks at the end (0 is the promise).
//
// Usage: node dist/bench/remote-forward.js [--series N] [--points N] [--clients N] [--batch N]
//        [--outage S] [--vm PATH]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { JsonRpcClient } from '../src/core/index.js'
import { startPeregrine } from '../test/support/peregrine-process.js'
import { VictoriaMetrics } from '../test/support/victoria-metrics.js'
import { STEP } from './dataset.js'
import { falconBatches } from './support/falcon-batches.js'
import { cpuSeconds, memoryMb } from './support/proc.js'

function log(message: string): void {
  process.stderr.write(`remote-forward bench: ${message}\n`)
}

function usage(problem: string): never {
  process.stderr.write(
    `remote-forward bench: ${problem}\nusage: node dist/bench/remote-forward.js [--series N] [--points N] [--clients N] [--batch N] [--outage S] [--vm PATH]\n`
  )
  process.exit(2)
}

function flags() {
  let values
  try {
    values = parseArgs({
      options: {
        series: { type: 'string', default: '2000' },
        points: { type: 'string', default: '1440' },
        clients: { type: 'string', default: '8' },
        batch: { type: 'string', default: '5000' },
        outage: { type: 'string', default: '5' },
        vm: { type: 'string', default: '/usr/bin/victoria-metrics' },
      },
    }).values
  } catch (err) {
    usage((err as Error).message)
  }
  const n = (name: string, v: string, min: number, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < min || x > max)
      usage(`--${name} must be an integer from ${min} to ${max}, got ${v}`)
    return x
  }
  if (!existsSync(values.vm))
    usage(`${values.vm} does not exist: install Debian's victoria-metrics or give --vm`)
  return {
    series: n('series', values.series, 1, 1_000_000),
    points: n('points', values.points, 1, 7 * 1440),
    clients: n('clients', values.clients, 1, 256),
    batch: n('batch', values.batch, 1, 100_000),
    outage: n('outage', values.outage, 0, 120),
    vm: values.vm,
  }
}

async function until(cond: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function metric(transferHttp: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${transferHttp}/metrics`)).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m === null ? NaN : Number(m[1])
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'pg-remote-forward-'))
  const total = f.series * f.points
  const firstT = Math.floor(Date.now() / 1000 / STEP) * STEP - (f.points + 60) * STEP
  // At least once: a request sent again after a restart must not count twice.
  const vm = new VictoriaMetrics(join(dir, 'vm'), ['-dedup.minScrapeInterval=1ms'], f.vm)
  log(
    `${f.series} series × ${f.points} points = ${(total / 1e6).toFixed(2)}M points, ${f.clients} clients, batches of ${f.batch}, store down ${f.outage} s from 30% of the push; dir ${dir}`
  )
  await vm.start()
  // REMOTE_FORWARD_SERVER_NODE_ARGS reaches the server's node only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.REMOTE_FORWARD_SERVER_NODE_ARGS ?? '')
    .split(' ')
    .filter((a) => a !== '')
  const server = await startPeregrine(
    dir,
    ['transfer'],
    {
      top: {
        storage: 'remote',
        remoteStorage: { writeUrl: `${vm.url}/api/v1/write`, readUrl: vm.url, maxBackoff: 1000 },
      },
    },
    nodeArgs
  )
  const pid = server.child.pid as number
  const transferHttp = server.addresses.transfer.http
  try {
    const clients = Array.from(
      { length: f.clients },
      () => new JsonRpcClient(server.addresses.transfer.rpc, { callTimeout: 120_000 })
    )
    const gen = falconBatches(f.series, f.points, f.batch, '', firstT)
    let acked = 0
    let outage: Promise<void> | undefined
    // When the store came back: what the queue held then and what was acknowledged since is what it
    // sent from disk afterwards, at the forwarder's own pace.
    let back: { at: number; queued: number; acked: number } | undefined
    let next = 0.1
    const cpu0 = cpuSeconds(pid)
    const vmCpu0 = cpuSeconds(vm.pid as number)
    const started = performance.now()
    await Promise.all(
      clients.map(async (c) => {
        for (let it = gen.next(); !it.done; it = gen.next()) {
          const r = await c.callJson<{ Total: number; Invalid: number }>(
            'Transfer.Update',
            it.value.text
          )
          acked += r.Total - r.Invalid
          if (outage === undefined && f.outage > 0 && acked >= 0.3 * total) {
            log(`stopping the store for ${f.outage} s at ${(acked / 1e6).toFixed(2)}M points`)
            outage = vm
              .stop()
              .then(() => new Promise((r) => setTimeout(r, f.outage * 1000)))
              .then(() => vm.start())
              .then(async () => {
                const queued = await metric(transferHttp, 'peregrine_remote_queue_samples')
                back = { at: performance.now(), queued, acked }
                log(`the store is back; ${queued} samples in the queue`)
              })
          }
          if (acked >= next * total) {
            next += 0.1
            log(
              `${(acked / 1e6).toFixed(2)}M/${(total / 1e6).toFixed(2)}M points acknowledged, queue ${await metric(transferHttp, 'peregrine_remote_queue_samples')} samples`
            )
          }
        }
      })
    )
    const pushSeconds = (performance.now() - started) / 1000
    for (const c of clients) c.close()
    await outage
    await until(
      async () => (await metric(transferHttp, 'peregrine_remote_queue_samples')) === 0,
      'the forward queue to drain',
      600_000
    )
    const ended = performance.now()
    const forwardSeconds = (ended - started) / 1000
    const drained = back === undefined ? 0 : back.queued + (acked - back.acked)
    const drainRate = back === undefined ? null : Math.round(drained / ((ended - back.at) / 1000))
    const transferCpu = cpuSeconds(pid) - cpu0
    // The store restarted: its CPU counts from its second start.
    const vmCpu = cpuSeconds(vm.pid as number) - (f.outage > 0 ? 0 : vmCpu0)
    const rssMb = Math.round(memoryMb(pid))
    // Every acknowledged point in the store: counted by the store itself.
    await fetch(`${vm.url}/internal/force_flush`)
    const days = Math.ceil(((f.points + 120) * STEP) / 86_400) + 1
    let stored = 0
    await until(
      async () => {
        const q = new URLSearchParams({
          query: `sum(count_over_time({__name__=~".+"}[${days}d]))`,
          time: String(Date.now() / 1000),
          latency_offset: '0s',
        })
        const body = (await (await fetch(`${vm.url}/api/v1/query?${q.toString()}`)).json()) as {
          data: { result: { value: [number, string] }[] }
        }
        stored = Number(body.data.result[0]?.value[1] ?? 0)
        return stored >= acked
      },
      `${acked} points in the store`,
      60_000
    ).catch((err: Error) => log(`WARNING: ${err.message} (${stored} there)`))
    const failed = await metric(transferHttp, 'peregrine_remote_failed_requests_total')
    const figures = {
      bench: 'remote-forward',
      series: f.series,
      points: total,
      clients: f.clients,
      batch: f.batch,
      outage_s: f.outage,
      acked_points_per_s: Math.round(acked / pushSeconds),
      forwarded_points_per_s: Math.round(total / forwardSeconds),
      drained_after_outage: drained,
      drain_points_per_s: drainRate,
      transfer_cpu_s_per_million: Number(((transferCpu / total) * 1e6).toFixed(3)),
      store_cpu_s_per_million: Number(((vmCpu / total) * 1e6).toFixed(3)),
      transfer_rss_mb: rssMb,
      failed_requests_retried: failed,
      acked,
      in_store: stored,
      acked_missing_in_store: Math.max(0, acked - stored),
    }
    log(
      `acknowledged ${figures.acked_points_per_s} points/s, forwarded ${figures.forwarded_points_per_s} points/s, ${figures.acked_missing_in_store} acknowledged points missing in the store`
    )
    process.stdout.write(JSON.stringify(figures) + '\n')
  } finally {
    await server.stop()
    await vm.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`remote-forward bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
