// Every TCP and HTTP port of the all-in-one, configured with small limits: a connection over the cap or
// over its address's share is closed as it arrives, a silent one once requestTimeout passes, an idle
// one once idleTimeout passes, and each component counts them on its /counter/all.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitUntil } from '../src/core/index.js'
import { type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const LIMITS = {
  maxConnections: 3,
  maxConnectionsPerAddress: 2,
  idleTimeout: 300,
  requestTimeout: 300,
}
// The listeners of each component, and what a complete request looks like on each kind of port.
const PORTS: [string, string, 'rpc' | 'http' | 'socket'][] = [
  ['graph', 'rpc', 'rpc'],
  ['graph', 'http', 'http'],
  ['hbs', 'rpc', 'rpc'],
  ['hbs', 'http', 'http'],
  ['judge', 'rpc', 'rpc'],
  ['judge', 'http', 'http'],
  ['transfer', 'rpc', 'rpc'],
  ['transfer', 'http', 'http'],
  ['transfer', 'socket', 'socket'],
  ['api', 'http', 'http'],
  ['alarm', 'http', 'http'],
  ['agent', 'http', 'http'],
]
const REQUEST = {
  rpc: '{"method":"X.Ping","params":[{}],"id":0}',
  http: 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n',
  socket: 'update h m 1700000000 1 GAUGE 60\n',
}

let dir = ''
let peregrine: PeregrineProcess

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-limits-'))
  peregrine = await startPeregrine(
    dir,
    ['graph', 'hbs', 'judge', 'transfer', 'api', 'alarm', 'agent'],
    {
      graph: { walSync: 'write', ...LIMITS },
      hbs: LIMITS,
      judge: LIMITS,
      transfer: { socket: '127.0.0.1:0', ...LIMITS },
      api: LIMITS,
      alarm: LIMITS,
      // Neither pushes nor heartbeats: no connection of its own takes a place on the ports.
      agent: {
        http: { listen: '127.0.0.1:0', ...LIMITS },
        heartbeat: { enabled: false },
        transfer: { enabled: false },
      },
    }
  )
})
after(async () => {
  await peregrine?.stop()
  rmSync(dir, { recursive: true, force: true })
})

// Clients from 127.0.0.2 and 127.0.0.3 are other addresses: the whole 127/8 is this host's.
async function open(address: string, localAddress = '127.0.0.1') {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.split(':').pop()]
  const c: Socket = connect({ port: Number(port), host, localAddress })
  const state = { text: '', closed: false }
  c.on('data', (d: Buffer) => (state.text += d.toString()))
  c.on('error', () => undefined)
  c.on('close', () => (state.closed = true))
  await new Promise((r) => c.once('connect', r))
  return { c, state }
}

describe('connection limits on every port', () => {
  it('refuse a connection over the cap or its address’s share, close silent and idle ones, and count them', async () => {
    await Promise.all(
      PORTS.map(async ([component, listener, kind]) => {
        const name = `${component}.${listener}`
        const address = peregrine.addresses[component][listener]
        const silent = await open(address)
        const idle = await open(address)
        // A third from the same address: its share is two.
        const overAddress = await open(address)
        const other = await open(address, '127.0.0.2')
        // A fourth connection, from yet another address: the listener's cap is three.
        const over = await open(address, '127.0.0.3')
        idle.c.write(REQUEST[kind])
        other.c.write(REQUEST[kind])
        if (kind !== 'socket') {
          await waitUntil(() => idle.state.text !== '', `${name} answer`)
          await waitUntil(() => other.state.text !== '', `${name} answer to another address`)
        }
        await waitUntil(() => overAddress.state.closed, `${name} to refuse a third from 127.0.0.1`)
        await waitUntil(() => over.state.closed, `${name} to refuse a fourth connection`)
        assert.equal(overAddress.state.text + over.state.text, '', name)
        await waitUntil(() => silent.state.closed, `${name} to close a silent connection`)
        await waitUntil(() => idle.state.closed, `${name} to close an idle connection`)
        if (kind === 'http') assert.match(silent.state.text, /^HTTP\/1\.1 408 /, name)
      })
    )
    for (const component of new Set(PORTS.map(([c]) => c))) {
      const res = await fetch(`http://${peregrine.addresses[component].http}/counter/all`)
      const { data } = (await res.json()) as {
        data: { listeners: Record<string, Record<string, number>> }
      }
      for (const [c, listener] of PORTS.filter(([c]) => c === component)) {
        const s = data.listeners[listener]
        assert.ok(
          s.refused >= 1 && s.refusedPerAddress >= 1 && s.requestTimeouts >= 1 && s.idleClosed >= 1,
          `${c}.${listener}: ${JSON.stringify(s)}`
        )
      }
    }
  })
})
