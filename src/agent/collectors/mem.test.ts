import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gauge } from '../collector.js'
import { memCollector, memSamples, parseMeminfo } from './mem.js'
import { fixtureContext } from './fixtures.js'

const ctxOf = (set: string) => fixtureContext(set)

/** memWant lists falcon's ten samples in its order from the byte values. */
const memWant = (total: number, free: number, swapTotal: number, swapFree: number) => {
  const used = total - free
  const swapUsed = swapTotal - swapFree
  return [
    gauge('mem.memtotal', total),
    gauge('mem.memused', used),
    gauge('mem.memfree', free),
    gauge('mem.swaptotal', swapTotal),
    gauge('mem.swapused', swapUsed),
    gauge('mem.swapfree', swapFree),
    gauge('mem.memfree.percent', total ? (free * 100) / total : 0),
    gauge('mem.memused.percent', total ? (used * 100) / total : 0),
    gauge('mem.swapfree.percent', swapTotal ? (swapFree * 100) / swapTotal : 0),
    gauge('mem.swapused.percent', swapTotal ? (swapUsed * 100) / swapTotal : 0),
  ]
}

describe('mem', () => {
  it('uses MemFree + Buffers + Cached on 2.6.32 (no MemAvailable)', () => {
    // 8 GiB total; free 1048576 + 262144 + 786432 kB = 2 GiB; swap 4 GiB, 3 GiB free
    assert.deepEqual(memCollector().collect(ctxOf('sys-centos6')), [
      gauge('mem.memtotal', 8589934592),
      gauge('mem.memused', 6442450944),
      gauge('mem.memfree', 2147483648),
      gauge('mem.swaptotal', 4294967296),
      gauge('mem.swapused', 1073741824),
      gauge('mem.swapfree', 3221225472),
      gauge('mem.memfree.percent', 25),
      gauge('mem.memused.percent', 75),
      gauge('mem.swapfree.percent', 75),
      gauge('mem.swapused.percent', 25),
    ])
  })

  it('uses MemAvailable when the kernel has it (4.4)', () => {
    const got = memCollector().collect(ctxOf('sys-ubuntu1604'))
    // MemTotal 16331444 kB, MemAvailable 9876544 kB, swap 2097148 kB all free
    assert.deepEqual(got, memWant(16723398656, 10113581056, 2147479552, 2147479552))
    assert.equal(got[1].value, 6609817600)
    assert.ok(Math.abs(got[6].value - 60.47565) < 1e-4)
    assert.equal(got[8].value, 100)
    assert.equal(got[9].value, 0)
  })

  it('sends 0 swap percents without swap (4.18)', () => {
    const got = memCollector().collect(ctxOf('sys-centos8'))
    // MemTotal 3880516 kB, MemAvailable 2910364 kB
    assert.deepEqual(got, memWant(3973648384, 2980212736, 0, 0))
    assert.deepEqual(
      got.slice(3).map((s) => s.value),
      [0, 0, 0, (2980212736 * 100) / 3973648384, (993435648 * 100) / 3973648384, 0, 0]
    )
  })

  it('reads this machine’s captured /proc/meminfo', () => {
    // MemTotal 24684092 kB, MemAvailable 23896312 kB, no swap
    assert.deepEqual(
      memCollector().collect(ctxOf('sys-local')),
      memWant(24684092 * 1024, 23896312 * 1024, 0, 0)
    )
  })

  it('falls back to MemFree + Buffers + Cached when MemAvailable is 0', () => {
    const m = parseMeminfo(
      'MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 0 kB\nBuffers: 50 kB\nCached: 250 kB\n'
    )
    assert.deepEqual(memSamples(m), memWant(1024000, 409600, 0, 0))
    assert.equal(memSamples(m)[6].value, 40)
  })

  it('takes only three-field lines with a number, as nux', () => {
    assert.deepEqual(parseMeminfo('MemTotal: 100\nMemFree:  x kB\nSwapTotal: 2048 kB extra\n'), {
      memTotal: 0,
      memFree: 0,
      memAvailable: 0,
      buffers: 0,
      cached: 0,
      swapTotal: 0,
      swapFree: 0,
    })
    assert.deepEqual(
      memCollector().collect(ctxOf('sys-garbled')),
      memWant(0, 0, 0, 0),
      'a readable file sends its zeros, as falcon'
    )
  })

  it('sends nothing without /proc/meminfo', () => {
    assert.deepEqual(memCollector().collect(ctxOf('sys-does-not-exist')), [])
  })

  it('reads this machine’s /proc/meminfo', () => {
    const got = memCollector().collect({ ...ctxOf('x'), proc: '/proc', sys: '/sys' })
    assert.ok(Array.isArray(got))
    const names = (got as { metric: string; value: number }[]).map((s) => s.metric)
    assert.deepEqual(
      names,
      memWant(1, 1, 1, 1).map((s) => s.metric)
    )
    const total = (got as { value: number }[])[0].value
    assert.ok(total > 0 && total % 1024 === 0)
  })
})
