import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { counter, gauge } from '../collector.js'
import { CpuCollector, parseProcStat } from './cpu.js'
import { fixtureContext } from './fixtures.js'

const ctxOf = (set: string) => fixtureContext(set)

const cpuSamples = (v: number[], switches: number) => [
  gauge('cpu.idle', v[0]),
  gauge('cpu.busy', v[1]),
  gauge('cpu.user', v[2]),
  gauge('cpu.nice', v[3]),
  gauge('cpu.system', v[4]),
  gauge('cpu.iowait', v[5]),
  gauge('cpu.irq', v[6]),
  gauge('cpu.softirq', v[7]),
  gauge('cpu.steal', v[8]),
  gauge('cpu.guest', v[9]),
  counter('cpu.switches', switches),
]

describe('parseProcStat', () => {
  it('reads the 9-column cpu line of 2.6.32 and leaves guest out of the total', () => {
    const text = `cpu  1200000 3000 450000 9800000 25000 1500 8000 0 50000\nctxt 98765432\n`
    assert.deepEqual(parseProcStat(text), {
      user: 1200000,
      nice: 3000,
      system: 450000,
      idle: 9800000,
      iowait: 25000,
      irq: 1500,
      softirq: 8000,
      steal: 0,
      guest: 50000,
      total: 1200000 + 3000 + 450000 + 9800000 + 25000 + 1500 + 8000 + 0,
      ctxt: 98765432,
    })
  })

  it('counts guest_nice in the total, as nux does', () => {
    const t = parseProcStat('cpu  10 20 30 40 50 60 70 80 90 100\n')
    assert.equal(t?.guest, 90)
    assert.equal(t?.total, 10 + 20 + 30 + 40 + 50 + 60 + 70 + 80 + 100)
    assert.equal(t?.ctxt, 0)
  })

  it('ignores the per-cpu lines and an unparsable field', () => {
    const t = parseProcStat('cpu0 1 1 1 1\ncpu  5 x 7 8\ncpu1 2 2 2 2\nctxt 12\n')
    assert.deepEqual(
      [t?.user, t?.nice, t?.system, t?.idle, t?.total, t?.ctxt],
      [5, 0, 7, 8, 20, 12]
    )
  })

  it('returns undefined without a cpu line', () => {
    assert.equal(parseProcStat('intr 0\nctxt 5\n'), undefined)
    assert.equal(parseProcStat(''), undefined)
  })
})

describe('CpuCollector', () => {
  it('sends nothing before two samples, as falcon', () => {
    const c = new CpuCollector()
    assert.deepEqual(c.collect(), [])
    c.sample(ctxOf('sys-centos6'))
    assert.deepEqual(c.collect(), [])
  })

  it('computes the percentages of a 2.6.32 /proc/stat delta of 400 ticks', () => {
    const c = new CpuCollector()
    c.sample(ctxOf('sys-centos6'))
    c.sample(ctxOf('sys-centos6-t1'))
    // deltas: user 100 (guest 20 inside), nice 4, system 40, idle 240, iowait 8, irq 0, softirq 4,
    // steal 4; total 400
    assert.deepEqual(c.collect(), cpuSamples([60, 40, 25, 1, 10, 2, 0, 1, 1, 5], 98766032))
  })

  it('counts guest_nice in the total of a 4.4 /proc/stat', () => {
    const c = new CpuCollector()
    c.sample(ctxOf('sys-ubuntu1604'))
    c.sample(ctxOf('sys-ubuntu1604-t1'))
    // deltas: user 150, nice 10, system 50, idle 160, iowait 10, irq 0, softirq 6, steal 8,
    // guest 40 (not summed), guest_nice 6 (summed); total 400
    assert.deepEqual(
      c.collect(),
      cpuSamples([40, 60, 37.5, 2.5, 12.5, 2.5, 0, 1.5, 2, 10], 2000004000)
    )
  })

  it('computes this machine’s captured readings with falcon’s delta × (100 / total)', () => {
    const c = new CpuCollector()
    c.sample(ctxOf('sys-local'))
    c.sample(ctxOf('sys-local-t1'))
    // t0 cpu 275658 0 34965 369504 1957 0 1992 70 0 0, t1 275659 0 34966 369705 1958 0 1992 70 0 0
    const q = 100 / 204
    const idle = 201 * q
    assert.ok(Math.abs(idle - 98.52941176470588) < 1e-12)
    assert.deepEqual(
      c.collect(),
      cpuSamples([idle, 100 - idle, 1 * q, 0, 1 * q, 1 * q, 0, 0, 0, 0], 9560929)
    )
  })

  it('keeps falcon’s answer for two equal readings: idle 0, busy 100', () => {
    const c = new CpuCollector()
    c.sample(ctxOf('sys-container'))
    c.sample(ctxOf('sys-container'))
    assert.deepEqual(c.collect(), cpuSamples([0, 100, 0, 0, 0, 0, 0, 0, 0, 0], 123456789))
  })

  it('counts a field that went backwards as 0 and keeps the last two readings', () => {
    const root = mkdtempSync(join(tmpdir(), 'sys-cpu-'))
    try {
      const at = (name: string, stat: string) => {
        mkdirSync(join(root, name))
        writeFileSync(join(root, name, 'stat'), stat)
        return { ...ctxOf('x'), proc: join(root, name) }
      }
      const a = at('a', 'cpu  100 0 100 1000 50 0 0 0 0 0\nctxt 1\n')
      const b = at('b', 'cpu  300 0 100 1000 40 0 0 0 0 0\nctxt 2\n')
      const d = at('d', 'cpu  400 0 200 1200 40 0 0 0 0 0\nctxt 3\n')
      const c = new CpuCollector()
      c.sample(a)
      c.sample(b)
      // user +200, iowait −10: total +190
      const q = 100 / 190
      assert.deepEqual(c.collect(), cpuSamples([0, 100, 200 * q, 0, 0, 0, 0, 0, 0, 0], 2))
      c.sample(d)
      // b → d: user 100, system 100, idle 200 of 400
      assert.deepEqual(c.collect(), cpuSamples([50, 50, 25, 0, 25, 0, 0, 0, 0, 0], 3))
    } finally {
      rmSync(root, { recursive: true })
    }
  })

  it('survives a missing or cpu-less /proc/stat and keeps its history', () => {
    const c = new CpuCollector()
    c.sample(ctxOf('sys-does-not-exist'))
    c.sample(ctxOf('sys-garbled'))
    assert.deepEqual(c.collect(), [])
    c.sample(ctxOf('sys-centos6'))
    c.sample(ctxOf('sys-garbled'))
    c.sample(ctxOf('sys-centos6-t1'))
    c.sample(ctxOf('sys-does-not-exist'))
    assert.deepEqual(c.collect(), cpuSamples([60, 40, 25, 1, 10, 2, 0, 1, 1, 5], 98766032))
  })

  it('gives the same percentages to the pages through usage(), undefined before two samples', () => {
    const c = new CpuCollector()
    assert.equal(c.usage(), undefined)
    c.sample(ctxOf('sys-centos6'))
    assert.equal(c.usage(), undefined, 'falcon’s CpuPrepared needs two readings')
    c.sample(ctxOf('sys-centos6-t1'))
    assert.deepEqual(c.usage(), {
      idle: 60,
      user: 25,
      nice: 1,
      system: 10,
      iowait: 2,
      irq: 0,
      softirq: 1,
      steal: 1,
      guest: 5,
    })
    const local = new CpuCollector()
    local.sample(ctxOf('sys-local'))
    local.sample(ctxOf('sys-local-t1'))
    const q = 100 / 204
    assert.deepEqual(local.usage(), {
      idle: 201 * q,
      user: q,
      nice: 0,
      system: q,
      iowait: q,
      irq: 0,
      softirq: 0,
      steal: 0,
      guest: 0,
    })
    const same = new CpuCollector()
    same.sample(ctxOf('sys-container'))
    same.sample(ctxOf('sys-container'))
    const zero = { idle: 0, user: 0, nice: 0, system: 0, iowait: 0, irq: 0, softirq: 0 }
    assert.deepEqual(same.usage(), { ...zero, steal: 0, guest: 0 })
  })

  it('reads this machine’s /proc/stat', () => {
    const live = { ...ctxOf('x'), proc: '/proc', sys: '/sys' }
    const c = new CpuCollector()
    c.sample(live)
    c.sample(live)
    const got = c.collect()
    assert.deepEqual(
      got.map((s) => s.metric),
      cpuSamples([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0).map((s) => s.metric)
    )
    for (const s of got) assert.ok(Number.isFinite(s.value) && s.value >= 0, s.metric)
  })
})
