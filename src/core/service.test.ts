// Tests for the service helpers: processAlive and its view of exited processes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { processAlive } from './service.js'
import { zombie } from './testing.js'

describe('processAlive', () => {
  it('is true for a running process and false for one that has gone', async () => {
    assert.equal(processAlive(process.pid), true)
    const child = spawn(process.execPath, ['-e', ''])
    const pid = child.pid as number
    await new Promise((ok) => child.once('exit', ok))
    assert.equal(processAlive(pid), false)
  })

  it('is false for a zombie, which has exited but whose parent has not reaped it', async (t) => {
    if (!existsSync('/proc/self/stat')) return t.skip('no /proc on this system')
    const z = await zombie()
    try {
      assert.equal(processAlive(z.pid), false)
    } finally {
      await z.reap()
    }
  })
})
