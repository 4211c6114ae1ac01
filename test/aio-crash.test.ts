// kill -9 of the all-in-one after acknowledged pushes: after a restart every acknowledged point is there.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonRpcClient } from '../src/core/index.js'
import { loginRoot, startPeregrine } from './support/peregrine-process.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-aio-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const STEP = 60
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 200 * STEP

describe('all-in-one crash recovery', () => {
  it('keeps every point acknowledged over RPC and HTTP across kill -9', async () => {
    let aio = await startPeregrine(dir, [])
    let addresses = aio.addresses
    const rpc = new JsonRpcClient(addresses.transfer.rpc)
    let acked = 0
    for (let i = 0; i < 100; i++) {
      const batch = Array.from({ length: 20 }, (_, h) => ({
        endpoint: `host-${h}`,
        metric: i % 2 === 0 ? 'cpu.idle' : 'mem.used',
        value: i * 1000 + h,
        step: STEP,
        counterType: 'GAUGE',
        tags: '',
        timestamp: T0 + Math.floor(i / 2) * STEP,
      }))
      if (i % 2 === 0) await rpc.call('Transfer.Update', batch)
      else {
        const res = await fetch(`http://${addresses.transfer.http}/api/push`, {
          method: 'POST',
          body: JSON.stringify(batch),
        })
        assert.equal(res.status, 200)
      }
      acked++
    }
    rpc.close()
    await aio.stop('SIGKILL')
    aio = await startPeregrine(dir, [])
    addresses = aio.addresses
    try {
      const res = await fetch(`http://${addresses.api.http}/api/v1/graph/history`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          apitoken: await loginRoot(addresses.api.http),
        },
        body: JSON.stringify({
          hostnames: Array.from({ length: 20 }, (_, h) => `host-${h}`),
          counters: ['cpu.idle', 'mem.used'],
          start_time: T0,
          end_time: T0 + 49 * STEP,
          consol_fun: 'AVERAGE',
          step: STEP,
        }),
      })
      const history = (await res.json()) as {
        endpoint: string
        counter: string
        Values: { timestamp: number; value: number | null }[]
      }[]
      assert.equal(history.length, 40)
      let points = 0
      for (const h of history) {
        const host = Number(h.endpoint.slice(5))
        for (const v of h.Values) {
          const i = ((v.timestamp - T0) / STEP) * 2 + (h.counter === 'cpu.idle' ? 0 : 1)
          assert.equal(v.value, i * 1000 + host, `${h.endpoint}/${h.counter} at ${v.timestamp}`)
          points++
        }
      }
      assert.equal(points, acked * 20)
    } finally {
      assert.equal(await aio.stop(), 0)
    }
  })
})
