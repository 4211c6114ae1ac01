import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { processOpenFileLimit, recordingLogger } from '../core/index.js'
import { resolveConfigs } from './config.js'
import { listenerCaps, loopbackWithoutCallers, startAll, stopAll } from './run-all.js'

describe('a graph or judge on loopback without its callers', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-run-all-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const service = (name: string, rpc: string) => ({
    name,
    addresses: { rpc },
    stop: () => Promise.resolve(),
  })

  it('is told how to open it to other hosts, and why with care', async () => {
    const graphAlone = await resolveConfigs({}, ['graph'], dir)
    assert.equal(
      loopbackWithoutCallers(graphAlone, service('graph', '127.0.0.1:6070')),
      'graph: RPC listens on 127.0.0.1:6070, this host only, and transfer and api do not run in this process: for callers on other hosts set graph.rpc: "0.0.0.0:6070" (or the rpc.listen of a falcon graph cfg.json), on a network only they reach (Graph.Delete deletes series unauthenticated)'
    )
    const withTransfer = await resolveConfigs({}, ['graph', 'transfer'], dir)
    // A bound IPv6 address reads host:port without brackets.
    assert.match(
      loopbackWithoutCallers(withTransfer, service('graph', '::1:6070')) ?? '',
      /^graph: RPC listens on ::1:6070, this host only, and api does not run in this process/
    )
    const judgeAlone = await resolveConfigs({}, ['judge'], dir)
    assert.match(
      loopbackWithoutCallers(judgeAlone, service('judge', '127.0.0.1:6080')) ?? '',
      /^judge: RPC listens on 127\.0\.0\.1:6080, this host only, and transfer does not run in this process: for callers on other hosts set judge\.rpc: "0\.0\.0\.0:6080"/
    )
  })

  it('is not told anything when its callers run beside it or it listens on every address', async () => {
    const all = await resolveConfigs({}, ['graph', 'judge', 'transfer', 'api'], dir)
    assert.equal(loopbackWithoutCallers(all, service('graph', '127.0.0.1:6070')), undefined)
    assert.equal(loopbackWithoutCallers(all, service('judge', '127.0.0.1:6080')), undefined)
    const open = await resolveConfigs({}, ['graph'], dir)
    assert.equal(loopbackWithoutCallers(open, service('graph', '0.0.0.0:6070')), undefined)
    assert.equal(loopbackWithoutCallers(open, service('hbs', '127.0.0.1:6030')), undefined)
  })

  it('is said once in the log of `peregrine start graph`', async () => {
    const configs = await resolveConfigs(
      { graph: { rpc: '127.0.0.1:0', http: '127.0.0.1:0' } },
      ['graph'],
      dir
    )
    const log = recordingLogger()
    const deps = { log, now: Date.now }
    const services = await startAll(configs, deps)
    await stopAll(services, deps)
    const said = log.lines.filter((l) => l.startsWith('warn graph: RPC listens on 127.0.0.1:'))
    assert.equal(said.length, 1, log.lines.join('\n'))
  })
})

describe('the connection caps of a process', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-run-all-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))
  const service = (name: string, addresses: Record<string, string>) => ({
    name,
    addresses,
    stop: () => Promise.resolve(),
  })

  it('are each listener of each component started, with its section’s cap', async () => {
    const configs = await resolveConfigs(
      { transfer: { socket: '' }, agent: { http: { maxConnections: 7 } } },
      ['transfer', 'api', 'agent'],
      dir
    )
    const services = [
      service('transfer', { rpc: '0.0.0.0:8433', http: '0.0.0.0:6060' }),
      service('api', { http: '0.0.0.0:8080' }),
      service('agent', { http: '127.0.0.1:1988' }),
      service('store', {}),
    ]
    assert.deepEqual(listenerCaps(configs, services), [
      { listener: 'transfer.rpc', maxConnections: 10_000 },
      { listener: 'transfer.http', maxConnections: 10_000 },
      { listener: 'api.http', maxConnections: 1000 },
      { listener: 'agent.http', maxConnections: 7 },
    ])
  })

  it('over the open-file limit, are said once in the log at start', async (t) => {
    const limit = processOpenFileLimit()
    // Linux caps a process's open files at fs.nr_open, 1,048,576 unless raised.
    if (limit === undefined || limit >= 2_000_000)
      return t.skip(`no open-file limit below 2,000,000 here (${limit})`)
    const configs = await resolveConfigs(
      { graph: { rpc: '127.0.0.1:0', http: '127.0.0.1:0', maxConnections: 1_000_000 } },
      ['graph'],
      dir
    )
    const log = recordingLogger()
    const deps = { log, now: Date.now }
    await stopAll(await startAll(configs, deps), deps)
    const said = log.lines.filter((l) => l.startsWith('warn connections: '))
    assert.equal(said.length, 1, log.lines.join('\n'))
    assert.match(
      said[0],
      new RegExp(
        `^warn connections: the listeners of this process may hold 2,000,000 connections together \\(graph\\.rpc 1,000,000, graph\\.http 1,000,000\\), more than its open-file limit of ${limit.toLocaleString('en-US')} .*\\(ulimit -n, or LimitNOFILE= in its systemd unit\\), or lower maxConnections$`
      )
    )
    // At the defaults (2,000 on graph's two listeners) it says nothing.
    const quiet = recordingLogger()
    const small = await resolveConfigs(
      { graph: { rpc: '127.0.0.1:0', http: '127.0.0.1:0' } },
      ['graph'],
      dir
    )
    await stopAll(await startAll(small, { log: quiet, now: Date.now }), {
      log: quiet,
      now: Date.now,
    })
    assert.deepEqual(
      quiet.lines.filter((l) => l.includes('connections: ')),
      []
    )
  })
})
