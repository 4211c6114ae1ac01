import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gauge } from '../collector.js'
import { loadCollector, parseLoadavg } from './load.js'
import { fixtureContext } from './fixtures.js'

const ctxOf = (set: string) => fixtureContext(set)
const loads = (a: number, b: number, c: number) => [
  gauge('load.1min', a),
  gauge('load.5min', b),
  gauge('load.15min', c),
]

describe('load', () => {
  it('reads /proc/loadavg of several kernels', () => {
    assert.deepEqual(loadCollector().collect(ctxOf('sys-centos6')), loads(0.15, 0.2, 0.18))
    assert.deepEqual(loadCollector().collect(ctxOf('sys-ubuntu1604')), loads(3.08, 2.91, 2.75))
    assert.deepEqual(loadCollector().collect(ctxOf('sys-centos8')), loads(0, 0.01, 0.05))
    assert.deepEqual(loadCollector().collect(ctxOf('sys-local')), loads(0.47, 0.74, 1.39))
  })

  it('refuses the lines nux refuses', () => {
    const f = (text: string, want: [number, number, number] | undefined) =>
      assert.deepEqual(parseLoadavg(text), want, text)
    f('0.10 0.20\n', undefined)
    f('1 2 3 4\n', undefined)
    f('1 2 x 1/2 9\n', undefined)
    f('1 2 3 a/2 9\n', undefined)
    f('1 2 3 1/2\n', [1, 2, 3])
    f('  12.50 7.25 3.00 10/900 77\n', [12.5, 7.25, 3])
  })

  it('sends nothing for a short or missing file', () => {
    assert.deepEqual(loadCollector().collect(ctxOf('sys-garbled')), [])
    assert.deepEqual(loadCollector().collect(ctxOf('sys-does-not-exist')), [])
  })

  it('reads this machine’s /proc/loadavg', () => {
    const got = loadCollector().collect({ ...ctxOf('x'), proc: '/proc', sys: '/sys' })
    assert.ok(Array.isArray(got))
    assert.deepEqual(
      got.map((s) => s.metric),
      ['load.1min', 'load.5min', 'load.15min']
    )
    for (const s of got) assert.ok(s.value >= 0)
  })
})
