// The benchmark dataset: a deterministic day of falcon-agent-like series (see bench/README.md).
import type { SeriesDesc } from '../src/tsdb/index.js'

export const STEP = 60
export const STEP_MS = STEP * 1000
export const SERIES_PER_HOST = 50

// Series kinds; each template row below says how one of a host's 50 series moves.
export const PERCENT = 0
export const BYTES = 1
export const COUNTER = 2
export const CONSTANT = 3

/**
 * Template describes one falcon-agent series of a host. For PERCENT, `a` is the mean and `b` the noise
 * per step; for BYTES, `a` the start, `b` the most 4 KiB pages it moves per step, `c` the capacity; for
 * COUNTER, `a` the mean increment per step and `b` the chance of a zero increment; for CONSTANT, `a` the
 * value. Means and sizes are scaled per host so hosts differ.
 */
interface Template {
  metric: string
  tags: string
  kind: number
  a: number
  b: number
  c: number
}

const GiB = 1024 ** 3
const t = (metric: string, tags: string, kind: number, a: number, b = 0, c = 0): Template => ({
  metric,
  tags,
  kind,
  a,
  b,
  c,
})

/**
 * HOST_TEMPLATES: the 50 series of one host, a mix modelled on falcon-agent's collectors:
 *   17 (34%) GAUGE percentages and loads: mean-reverting random walk, clamped to [0, 100], 2 decimals;
 *    5 (10%) GAUGE byte sizes: integer random walk in multiples of 4096;
 *   20 (40%) DERIVE counters: integers growing by random increments, some often by zero;
 *    8 (16%) GAUGE constants: totals and sizes that never change during the run.
 */
const HOST_TEMPLATES: readonly Template[] = [
  t('cpu.idle', '', PERCENT, 70, 3),
  t('cpu.user', '', PERCENT, 20, 2),
  t('cpu.system', '', PERCENT, 5, 1),
  t('cpu.iowait', '', PERCENT, 2, 0.5),
  t('cpu.steal', '', PERCENT, 0.3, 0.1),
  t('cpu.busy', '', PERCENT, 30, 3),
  t('mem.memused.percent', '', PERCENT, 60, 0.5),
  t('mem.memfree.percent', '', PERCENT, 40, 0.5),
  t('mem.swapused.percent', '', PERCENT, 1, 0.05),
  t('load.1min', '', PERCENT, 2, 0.3),
  t('load.5min', '', PERCENT, 2, 0.1),
  t('load.15min', '', PERCENT, 2, 0.05),
  t('df.bytes.used.percent', 'mount=/', PERCENT, 45, 0.02),
  t('df.bytes.used.percent', 'mount=/data', PERCENT, 70, 0.05),
  t('df.inodes.used.percent', 'mount=/', PERCENT, 10, 0.01),
  t('disk.io.util', 'device=sda', PERCENT, 15, 4),
  t('disk.io.util', 'device=sdb', PERCENT, 8, 3),

  t('mem.memused', '', BYTES, 8 * GiB, 256, 16 * GiB),
  t('mem.memfree', '', BYTES, 8 * GiB, 256, 16 * GiB),
  t('mem.swapused', '', BYTES, 64 * 1024 ** 2, 2, 4 * GiB),
  t('df.bytes.used', 'mount=/', BYTES, 45 * GiB, 16, 100 * GiB),
  t('df.bytes.used', 'mount=/data', BYTES, 700 * GiB, 512, 1024 * GiB),

  t('net.if.in.bytes', 'iface=eth0', COUNTER, 6e6, 0.01),
  t('net.if.in.bytes', 'iface=eth1', COUNTER, 6e5, 0.05),
  t('net.if.out.bytes', 'iface=eth0', COUNTER, 4e6, 0.01),
  t('net.if.out.bytes', 'iface=eth1', COUNTER, 3e5, 0.05),
  t('net.if.in.packets', 'iface=eth0', COUNTER, 5000, 0.01),
  t('net.if.in.packets', 'iface=eth1', COUNTER, 500, 0.05),
  t('net.if.out.packets', 'iface=eth0', COUNTER, 4000, 0.01),
  t('net.if.out.packets', 'iface=eth1', COUNTER, 400, 0.05),
  t('net.if.in.errors', 'iface=eth0', COUNTER, 1, 0.95),
  t('net.if.in.dropped', 'iface=eth0', COUNTER, 2, 0.9),
  t('disk.io.read_bytes', 'device=sda', COUNTER, 2e6, 0.2),
  t('disk.io.read_bytes', 'device=sdb', COUNTER, 5e5, 0.4),
  t('disk.io.write_bytes', 'device=sda', COUNTER, 5e6, 0.05),
  t('disk.io.write_bytes', 'device=sdb', COUNTER, 1e6, 0.2),
  t('disk.io.read_requests', 'device=sda', COUNTER, 200, 0.2),
  t('disk.io.read_requests', 'device=sdb', COUNTER, 50, 0.4),
  t('disk.io.write_requests', 'device=sda', COUNTER, 500, 0.05),
  t('disk.io.write_requests', 'device=sdb', COUNTER, 100, 0.2),
  t('cpu.switches', '', COUNTER, 3e5, 0),
  t('TcpExt.TCPLoss', '', COUNTER, 1, 0.9),

  t('df.bytes.total', 'mount=/', CONSTANT, 100 * GiB),
  t('df.bytes.total', 'mount=/data', CONSTANT, 1024 * GiB),
  t('df.inodes.total', 'mount=/', CONSTANT, 6553600),
  t('mem.memtotal', '', CONSTANT, 16 * GiB),
  t('mem.swaptotal', '', CONSTANT, 4 * GiB),
  t('kernel.maxfiles', '', CONSTANT, 1623421),
  t('cpu.cores', '', CONSTANT, 8),
  t('agent.alive', '', CONSTANT, 1),
]
if (HOST_TEMPLATES.length !== SERIES_PER_HOST) {
  throw new Error(`BUG: ${HOST_TEMPLATES.length} host templates, want ${SERIES_PER_HOST}`)
}

/** XorShift32 is Marsaglia's xorshift PRNG: deterministic for a seed, unlike Math.random. */
export class XorShift32 {
  #s: number

  constructor(seed: number) {
    this.#s = seed >>> 0 || 1
  }

  /** next returns a float in [0, 1). */
  next(): number {
    let x = this.#s
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#s = x >>> 0
    return this.#s / 4294967296
  }

  /** int returns an integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

/**
 * Dataset holds every series' descriptor, parameters and current value in columns. `next(out)` advances
 * all series one step, in series order, so a seed always yields the same points.
 */
export class Dataset {
  readonly n: number
  readonly descs: SeriesDesc[]
  readonly keys: string[]
  readonly kind: Uint8Array
  readonly a: Float64Array
  readonly b: Float64Array
  readonly c: Float64Array
  /** value: each series' newest written value (the raw counter for DERIVE). */
  readonly value: Float64Array
  /** prev: each series' value one step before `value`. */
  readonly prev: Float64Array
  readonly #rng: XorShift32

  constructor(n: number, seed: number) {
    this.n = n
    this.descs = []
    this.keys = []
    this.kind = new Uint8Array(n)
    this.a = new Float64Array(n)
    this.b = new Float64Array(n)
    this.c = new Float64Array(n)
    this.value = new Float64Array(n)
    this.prev = new Float64Array(n)
    this.#rng = new XorShift32(seed)
    const rng = this.#rng
    for (let s = 0; s < n; s++) {
      const tpl = HOST_TEMPLATES[s % SERIES_PER_HOST]
      const endpoint = `host-${String(Math.floor(s / SERIES_PER_HOST)).padStart(4, '0')}`
      const dstype = tpl.kind === COUNTER ? 'DERIVE' : 'GAUGE'
      this.descs.push({ endpoint, metric: tpl.metric, tags: tpl.tags, dstype, step: STEP })
      this.keys.push(`${endpoint}/${tpl.metric}${tpl.tags === '' ? '' : '/' + tpl.tags}`)
      this.kind[s] = tpl.kind
      // Hosts differ: busy and idle machines, small and large disks.
      const scale = 0.5 + rng.next()
      switch (tpl.kind) {
        case PERCENT:
          this.a[s] = Math.min(95, tpl.a * scale)
          this.b[s] = tpl.b
          this.value[s] = round2(this.a[s])
          break
        case BYTES:
          this.c[s] = tpl.c
          this.b[s] = tpl.b
          this.value[s] = Math.floor((tpl.a * scale) / 4096) * 4096
          if (this.value[s] > tpl.c) this.value[s] = tpl.c
          break
        case COUNTER:
          this.a[s] = Math.max(1, Math.round(tpl.a * scale))
          this.b[s] = tpl.b
          this.value[s] = rng.int(1e9)
          break
        case CONSTANT:
          this.value[s] = tpl.a
          break
        default:
          throw new Error(`BUG: template kind ${tpl.kind}`)
      }
      this.prev[s] = this.value[s]
    }
  }

  /** next advances every series one step and writes the new values to `out` (length ≥ n). */
  next(out: Float64Array): void {
    const rng = this.#rng
    const { kind, a, b, c, value, prev } = this
    for (let s = 0; s < this.n; s++) {
      let v = value[s]
      prev[s] = v
      switch (kind[s]) {
        case PERCENT:
          // Mean-reverting, so a day of noise stays near the host's level instead of drifting to a bound.
          v += (rng.next() - 0.5) * 2 * b[s] + 0.05 * (a[s] - v)
          v = round2(v < 0 ? 0 : v > 100 ? 100 : v)
          break
        case BYTES:
          v += Math.round((rng.next() - 0.5) * 2 * b[s]) * 4096
          v = v < 0 ? 0 : v > c[s] ? c[s] : v
          break
        case COUNTER:
          if (rng.next() >= b[s]) v += rng.int(2 * a[s] + 1)
          break
        default:
          break
      }
      value[s] = v
      out[s] = v
    }
  }
}

function round2(v: number): number {
  return Math.round(v * 100) / 100
}
