// kill -9 of the all-in-one after acknowledged pushes: after a restart every acknowledged point is there.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonRpcClient } from '../src/core/index.js'

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'peregrine.js')
const dir = mkdtempSync(join(tmpdir(), 'pg-aio-'))
const config = join(dir, 'peregrine.yaml')
writeFileSync(
  config,
  [
    `dataDir: ${join(dir, 'data')}`,
    'graph: { rpc: "127.0.0.1:0", http: "127.0.0.1:0" }',
    'transfer: { rpc: "127.0.0.1:0", http: "127.0.0.1:0", socket: "" }',
    'api: { http: "127.0.0.1:0" }',
  ].join('\n')
)
after(() => rmSync(dir, { recursive: true, force: true }))

async function startAio(): Promise<{
  child: ChildProcess
  addresses: Record<string, Record<string, string>>
}> {
  const child = spawn(process.execPath, [BIN, 'start', '-c', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr?.setEncoding('utf8')
  await new Promise<void>((ok, fail) => {
    child.stderr?.on('data', (d: string) => {
      err += d
      if (err.includes('Peregrine running')) ok()
    })
    child.once('exit', (code) => fail(new Error(`exited ${code}: ${err}`)))
  })
  const state = JSON.parse(readFileSync(join(dir, 'data', 'run', 'peregrine.json'), 'utf8')) as {
    addresses: Record<string, Record<string, string>>
  }
  return { child, addresses: state.addresses }
}

const STEP = 60
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 200 * STEP

describe('all-in-one crash recovery', () => {
  it('keeps every point acknowledged over RPC and HTTP across kill -9', async () => {
    let { child, addresses } = await startAio()
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
    const died = new Promise((ok) => child.once('exit', ok))
    child.kill('SIGKILL')
    await died
    ;({ child, addresses } = await startAio())
    try {
      const res = await fetch(`http://${addresses.api.http}/api/v1/graph/history`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
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
      const exited = new Promise((ok) => child.once('exit', ok))
      child.kill('SIGTERM')
      await exited
    }
  })
})
