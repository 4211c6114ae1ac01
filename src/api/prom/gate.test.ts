import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PromError } from './errors.js'
import { QueryGate } from './gate.js'

describe('QueryGate', () => {
  it('runs max at once, queues maxWaiting in order, refuses the next with unavailable', async () => {
    const gate = new QueryGate(2, 1)
    const never = new AbortController().signal
    const a = await gate.acquire(never)
    const b = await gate.acquire(never)
    assert.equal(gate.running, 2)
    let cGot = false
    const c = gate.acquire(never).then((release) => {
      cGot = true
      return release
    })
    assert.equal(gate.waiting, 1)
    await assert.rejects(
      gate.acquire(never),
      (err: PromError) => err.type === 'unavailable' && /maxConcurrency/.test(err.message)
    )
    assert.equal(gate.refused, 1)
    assert.equal(cGot, false)
    a()
    a() // a second call changes nothing
    const releaseC = await c
    assert.equal(gate.running, 2)
    assert.equal(gate.waiting, 0)
    b()
    releaseC()
    assert.equal(gate.running, 0)
  })

  it('takes a waiting query out of line when its signal aborts, with a timeout', async () => {
    const gate = new QueryGate(1, 5)
    const held = await gate.acquire(new AbortController().signal)
    const ac = new AbortController()
    const waiting = gate.acquire(ac.signal)
    assert.equal(gate.waiting, 1)
    ac.abort()
    await assert.rejects(waiting, (err: PromError) => err.type === 'timeout' && err.status === 503)
    assert.equal(gate.waiting, 0)
    held()
    assert.equal(gate.running, 0)
    assert.equal(gate.timedOut, 1)
  })
})
