// Gateway benchmark: points/s acknowledged through a gateway to a transfer, against the transfer's own
// rate measured in the same run, each in its own process (graph and transfer in one, the gateway in
// another), pushed over JSON-RPC by concurrent clients in this one.
//
// Usage: node dist/bench/gateway.js [--seconds N] [--rounds N] [--clients N] [--batch N] [--series N]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { JsonRpcClient } from '../src/core/index.js'
import { type PeregrineProcess, startPeregrine } from '../test/support/peregrine-process.js'
import { cpuSeconds } from './support/proc.js'

const STEP = 60

function log(message: string): void {
  process.stderr.write(`gateway bench: ${message}\n`)
}

function flags() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '4' },
      clients: { type: 'string', default: '8' },
      batch: { type: 'string', default: '1000' },
      series: { type: 'string', default: '10000' },
    },
  })
  const n = (name: string, v: string, max: number) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x <= 0 || x > max) {
      process.stderr.write(
        `gateway bench: --${name} must be an integer from 1 to ${max}, got ${v}\n`
      )
      process.exit(2)
    }
    return x
  }
  return {
    seconds: n('seconds', values.seconds, 600),
    rounds: n('rounds', values.rounds, 20),
    clients: n('clients', values.clients, 256),
    batch: n('batch', values.batch, 100_000),
    series: n('series', values.series, 1_000_000),
  }
}

/**
 * Batches: `series` series (100 metrics per host), cut in batches of `batch` points, each batch at
 * one timestamp; the points' JSON is built from parts made once, so the clients spend little of the
 * two cores the servers share. Every batch has new timestamps: nothing is a duplicate.
 */
class Load {
  readonly #heads: string[]
  readonly #batch: number
  #next = 0
  bytes = 0

  constructor(series: number, batch: number) {
    this.#batch = batch
    this.#heads = Array.from(
      { length: series },
      (_, s) =>
        `{"endpoint":"gw-bench-${Math.floor(s / 100)}","metric":"m.${s % 100}","step":${STEP},"counterType":"GAUGE","tags":"","value":`
    )
  }

  /** next returns the JSON of the next batch and its points. */
  next(t0: number): { json: string; points: number } {
    const k = this.#next++
    const per = Math.ceil(this.#heads.length / this.#batch)
    const from = (k % per) * this.#batch
    const ts = t0 + Math.floor(k / per) * STEP
    const parts: string[] = []
    for (let s = from; s < Math.min(from + this.#batch, this.#heads.length); s++)
      parts.push(`${this.#heads[s]}${(k * 7 + s) % 1000},"timestamp":${ts}}`)
    const json = `[${parts.join(',')}]`
    this.bytes += json.length
    return { json, points: parts.length }
  }
}

/** Pushes for `seconds` from `clients` connections to `address`; returns the points acknowledged. */
async function phase(
  address: string,
  load: Load,
  t0: number,
  clients: number,
  seconds: number
): Promise<{ points: number; ms: number }> {
  const conns = Array.from({ length: clients }, () => new JsonRpcClient(address))
  let points = 0
  const started = performance.now()
  const until = started + seconds * 1000
  try {
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < until) {
          const b = load.next(t0)
          const answer = await c.callJson<{ Invalid: number; Total: number }>(
            'Transfer.Update',
            b.json
          )
          if (answer.Invalid !== 0 || answer.Total !== b.points)
            throw new Error(`Transfer.Update to ${address}: ${JSON.stringify(answer)}`)
          points += b.points
        }
      })
    )
    return { points, ms: performance.now() - started }
  } finally {
    for (const c of conns) c.close()
  }
}

type Who = 'transfer' | 'gateway' | 'client'

/** cpuNow reads the CPU seconds used so far by the transfer, the gateway and this process. */
function cpuNow(pids: { transfer: number; gateway: number }): Record<Who, number> {
  const self = process.cpuUsage()
  return {
    transfer: cpuSeconds(pids.transfer),
    gateway: cpuSeconds(pids.gateway),
    client: (self.user + self.system) / 1e6,
  }
}

/** Cpu sums the CPU seconds each process used over the phases of one way. */
class Cpu {
  readonly used: Record<Who, number> = { transfer: 0, gateway: 0, client: 0 }

  add(before: Record<Who, number>, after: Record<Who, number>): void {
    for (const k of Object.keys(this.used) as Who[]) this.used[k] += after[k] - before[k]
  }

  perMillion(points: number, who: Who[]): Record<string, number> {
    return Object.fromEntries(
      who.map((k) => [k, Math.round((this.used[k] / (points / 1e6)) * 100) / 100])
    )
  }

  cores(ms: number): number {
    const all = this.used.transfer + this.used.gateway + this.used.client
    return Math.round((all / (ms / 1000)) * 100) / 100
  }
}

async function counters(http: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${http}/counter/all`)
  return ((await res.json()) as { data: Record<string, unknown> }).data
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'pg-bench-gateway-'))
  for (const d of ['central', 'gateway']) mkdirSync(join(dir, d))
  let central: PeregrineProcess | null = null
  let gateway: PeregrineProcess | null = null
  try {
    central = await startPeregrine(join(dir, 'central'), ['graph', 'transfer'])
    const transfer = central.addresses.transfer.rpc
    gateway = await startPeregrine(join(dir, 'gateway'), ['gateway'], {
      gateway: {
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        socket: '',
        clusters: { central: [transfer] },
      },
    })
    const via = gateway.addresses.gateway.rpc
    log(`transfer ${transfer}, gateway ${via}; ${f.rounds} rounds of ${f.seconds} s each way`)
    // Every phase its own hour of timestamps, a day back: within graph's raw retention, no overlap.
    let hour = 0
    const t0 = () => Math.floor(Date.now() / 1000 / 3600) * 3600 - 86_400 + 3600 * hour++
    const load = new Load(f.series, f.batch)
    // Warm-up of both paths (connections, JIT, the series created in graph).
    await phase(transfer, load, t0(), f.clients, 2)
    await phase(via, load, t0(), f.clients, 2)
    // Short phases in turn, so that load from elsewhere on the machine weighs on both alike.
    const direct = { points: 0, ms: 0, cpu: new Cpu() }
    const through = { points: 0, ms: 0, cpu: new Cpu() }
    const pids = {
      transfer: central.child.pid as number,
      gateway: gateway.child.pid as number,
    }
    const ratios: number[] = []
    let bytes = 0
    for (let r = 0; r < f.rounds; r++) {
      let cpu0 = cpuNow(pids)
      const d = await phase(transfer, load, t0(), f.clients, f.seconds)
      direct.cpu.add(cpu0, cpuNow(pids))
      const b0 = load.bytes
      cpu0 = cpuNow(pids)
      const g = await phase(via, load, t0(), f.clients, f.seconds)
      through.cpu.add(cpu0, cpuNow(pids))
      bytes += load.bytes - b0
      direct.points += d.points
      direct.ms += d.ms
      through.points += g.points
      through.ms += g.ms
      ratios.push(Math.round((g.points / g.ms / (d.points / d.ms)) * 1000) / 1000)
      log(
        `round ${r + 1}: transfer ${Math.round(d.points / (d.ms / 1000))} points/s, through the gateway ${Math.round(g.points / (g.ms / 1000))} points/s`
      )
    }
    const c = (await counters(gateway.addresses.gateway.http)) as {
      clusters: Record<string, { spilled: number; forwarded: number }>
    }
    const directRate = direct.points / (direct.ms / 1000)
    const gatewayRate = through.points / (through.ms / 1000)
    console.log(
      JSON.stringify({
        name: 'gateway',
        value: Math.round(gatewayRate),
        unit: 'points/s',
        gateway_points_per_s: Math.round(gatewayRate),
        transfer_points_per_s: Math.round(directRate),
        ratio: Math.round((gatewayRate / directRate) * 1000) / 1000,
        ratio_by_round: ratios,
        gateway_bytes_per_s: Math.round(bytes / (through.ms / 1000)),
        // CPU seconds per million points acknowledged, by process, in each way.
        cpu_s_per_million_direct: direct.cpu.perMillion(direct.points, ['transfer', 'client']),
        cpu_s_per_million_through: through.cpu.perMillion(through.points, [
          'gateway',
          'transfer',
          'client',
        ]),
        // Cores busy on average, all processes together, in each way (the machine's share used).
        cores_busy_direct: direct.cpu.cores(direct.ms),
        cores_busy_through: through.cpu.cores(through.ms),
        n: through.points,
        spilled: c.clusters.central.spilled,
        clients: f.clients,
        batch: f.batch,
        series: f.series,
        seconds: f.seconds,
        rounds: f.rounds,
        node: process.version,
      })
    )
  } finally {
    await gateway?.stop()
    await central?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
