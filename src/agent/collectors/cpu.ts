// cpu.*: the shares of the /proc/stat ticks spent in each state between the last two 1-second
// samples, and cpu.switches (falcon-agent funcs/cpustat.go over toolkits/nux cpustat.go).
import { counter, gauge, readText } from '../collector.js'
import type { CollectContext, Collector, Sample } from '../collector.js'
import type { CpuUsage } from '../http.js'

/** CpuTimes is the aggregate `cpu` line of /proc/stat (USER_HZ ticks) and the `ctxt` count. */
export interface CpuTimes {
  user: number
  nice: number
  system: number
  idle: number
  iowait: number
  irq: number
  softirq: number
  steal: number
  guest: number
  /**
   * total is what nux sums: every field of the line except guest (which the kernel already counts
   * in user). guest_nice is summed although the kernel counts it in nice too: falcon does so, and
   * its percentages are ours.
   */
  total: number
  ctxt: number
}

// Go's strconv.ParseUint(s, 10, 64) for the digit strings /proc holds; anything else is NaN.
const DIGITS = /^\d+$/
const parseUint = (s: string): number => (DIGITS.test(s) ? Number(s) : NaN)

/**
 * parseProcStat reads the `cpu` and `ctxt` lines of /proc/stat's text. It returns undefined when
 * there is no `cpu` line; a missing `ctxt` reads as 0, and an unparsable field counts as absent, as
 * in nux. Only those two lines are split: the `intr` line holds thousands of numbers.
 */
export function parseProcStat(text: string): CpuTimes | undefined {
  let cpu: CpuTimes | undefined
  let ctxt = 0
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    if (text.startsWith('cpu ', start) || text.startsWith('cpu\t', start)) {
      cpu = parseCpuLine(text.slice(start, end))
    } else if (text.startsWith('ctxt', start)) {
      const f = text.slice(start, end).trim().split(/\s+/)
      if (f[0] === 'ctxt' && f.length >= 2) {
        const v = parseUint(f[1])
        ctxt = Number.isNaN(v) ? 0 : v
      }
    }
    start = end + 1
  }
  if (cpu !== undefined) cpu.ctxt = ctxt
  return cpu
}

function parseCpuLine(line: string): CpuTimes {
  const f = line.trim().split(/\s+/)
  const t: CpuTimes = {
    user: 0,
    nice: 0,
    system: 0,
    idle: 0,
    iowait: 0,
    irq: 0,
    softirq: 0,
    steal: 0,
    guest: 0,
    total: 0,
    ctxt: 0,
  }
  for (let i = 1; i < f.length; i++) {
    const v = parseUint(f[i])
    if (Number.isNaN(v)) continue
    if (i !== 9) t.total += v
    switch (i) {
      case 1:
        t.user = v
        break
      case 2:
        t.nice = v
        break
      case 3:
        t.system = v
        break
      case 4:
        t.idle = v
        break
      case 5:
        t.iowait = v
        break
      case 6:
        t.irq = v
        break
      case 7:
        t.softirq = v
        break
      case 8:
        t.steal = v
        break
      case 9:
        t.guest = v
        break
    }
  }
  return t
}

type CpuState =
  'user' | 'nice' | 'system' | 'idle' | 'iowait' | 'irq' | 'softirq' | 'steal' | 'guest'

/**
 * CpuCollector keeps the last two /proc/stat readings taken by `sample` (call it every second).
 * `collect` returns nothing until two readings exist, as falcon-agent's CpuMetrics does; then the
 * ten cpu.* GAUGEs (percent of the ticks between the two readings) and cpu.switches, the ctxt
 * COUNTER of the newer reading. `usage` gives the same percentages to the HTTP pages.
 */
export class CpuCollector implements Collector {
  readonly name = 'cpu'
  #last: CpuTimes | undefined = undefined
  #prev: CpuTimes | undefined = undefined

  /** sample reads /proc/stat; an unreadable file or one without a `cpu` line keeps the history. */
  sample(ctx: CollectContext): void {
    const text = readText(ctx.proc, 'stat')
    const t = text === undefined ? undefined : parseProcStat(text)
    if (t === undefined) return
    this.#prev = this.#last
    this.#last = t
  }

  /**
   * usage is the percent of the ticks between the last two readings spent in each state (falcon's
   * funcs.CpuIdle, CpuUser, …), or undefined until two readings exist (falcon's CpuPrepared).
   * Two readings with no tick between them give all 0, as in falcon.
   */
  usage(): CpuUsage | undefined {
    const last = this.#last
    const prev = this.#prev
    if (last === undefined || prev === undefined) return undefined
    const dt = last.total - prev.total
    // falcon multiplies by 100/dt (not delta*100/dt); the order decides the last bit of the value.
    // A field that went backwards (an idle/iowait accounting glitch, a CPU going offline) counts as
    // 0 where falcon's uint64 subtraction would wrap to ~1.8e19 percent.
    const pct = (k: CpuState): number => {
      if (dt <= 0) return 0
      const d = last[k] - prev[k]
      return (d > 0 ? d : 0) * (100 / dt)
    }
    return {
      idle: pct('idle'),
      user: pct('user'),
      nice: pct('nice'),
      system: pct('system'),
      iowait: pct('iowait'),
      irq: pct('irq'),
      softirq: pct('softirq'),
      steal: pct('steal'),
      guest: pct('guest'),
    }
  }

  collect(): Sample[] {
    const u = this.usage()
    if (u === undefined || this.#last === undefined) return []
    return [
      gauge('cpu.idle', u.idle),
      gauge('cpu.busy', 100 - u.idle),
      gauge('cpu.user', u.user),
      gauge('cpu.nice', u.nice),
      gauge('cpu.system', u.system),
      gauge('cpu.iowait', u.iowait),
      gauge('cpu.irq', u.irq),
      gauge('cpu.softirq', u.softirq),
      gauge('cpu.steal', u.steal),
      gauge('cpu.guest', u.guest),
      counter('cpu.switches', this.#last.ctxt),
    ]
  }
}
