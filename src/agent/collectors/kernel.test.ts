import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gauge } from '../collector.js'
import { kernelCollector, kernelSamples } from './kernel.js'
import { fixtureContext } from './fixtures.js'

const ctxOf = (set: string) => fixtureContext(set)

describe('kernel', () => {
  it('reads file-max, pid_max and file-nr (2.6.32)', () => {
    assert.deepEqual(kernelCollector().collect(ctxOf('sys-centos6')), [
      gauge('kernel.maxfiles', 788414),
      gauge('kernel.maxproc', 32768),
      gauge('kernel.files.allocated', 1536),
      gauge('kernel.files.left', 786878),
    ])
    assert.deepEqual(kernelCollector().collect(ctxOf('sys-local')), [
      gauge('kernel.maxfiles', 2466177),
      gauge('kernel.maxproc', 32768),
      gauge('kernel.files.allocated', 814),
      gauge('kernel.files.left', 2465363),
    ])
  })

  it('carries file-max = LONG_MAX as the double transfer stores anyway', () => {
    // 9223372036854775807 is read as 2^63; falcon's exact uint64 left, 9223372036854773695, becomes
    // the same double as ours (2^63 − 2048) once transfer reads it as a float64
    assert.deepEqual(kernelSamples(ctxOf('sys-centos8').proc), [
      gauge('kernel.maxfiles', 2 ** 63),
      gauge('kernel.maxproc', 4194304),
      gauge('kernel.files.allocated', 2112),
      gauge('kernel.files.left', 2 ** 63 - 2048),
    ])
  })

  it('stops at the first file it cannot use, keeping the earlier values, as falcon', () => {
    assert.deepEqual(kernelSamples(ctxOf('sys-container').proc), [])
    assert.deepEqual(kernelSamples(ctxOf('sys-garbled').proc), [], 'file-max "unlimited"')
    const root = mkdtempSync(join(tmpdir(), 'sys-kernel-'))
    try {
      mkdirSync(join(root, 'sys', 'fs'), { recursive: true })
      mkdirSync(join(root, 'sys', 'kernel'))
      writeFileSync(join(root, 'sys', 'fs', 'file-max'), '1000\n')
      assert.deepEqual(kernelSamples(root), [gauge('kernel.maxfiles', 1000)])
      writeFileSync(join(root, 'sys', 'kernel', 'pid_max'), '99\n')
      writeFileSync(join(root, 'sys', 'fs', 'file-nr'), '10 0\n')
      const two = [gauge('kernel.maxfiles', 1000), gauge('kernel.maxproc', 99)]
      assert.deepEqual(kernelSamples(root), two, 'file-nr needs exactly three fields')
      writeFileSync(join(root, 'sys', 'fs', 'file-nr'), '10\t0\t1000\n')
      assert.deepEqual(kernelSamples(root), [
        ...two,
        gauge('kernel.files.allocated', 10),
        gauge('kernel.files.left', 990),
      ])
    } finally {
      rmSync(root, { recursive: true })
    }
  })

  it('reads this machine’s /proc/sys', () => {
    const got = kernelSamples('/proc')
    assert.deepEqual(
      got.map((s) => s.metric),
      ['kernel.maxfiles', 'kernel.maxproc', 'kernel.files.allocated', 'kernel.files.left']
    )
    assert.equal(got[3].value, got[0].value - got[2].value)
  })
})
