import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { defaultHbsConfig, parseHbsConfig } from './config.js'

describe('hbs config', () => {
  it('fills the defaults and freezes the result', () => {
    const c = parseHbsConfig({})
    assert.deepEqual(c, defaultHbsConfig)
    assert.deepEqual(c, {
      rpc: '0.0.0.0:6030',
      http: '127.0.0.1:6031',
      store: 'sqlite:./data/portal.db',
      refreshInterval: 5000,
      hosts: '',
      trustable: [],
      maxHosts: 100_000,
      maxNewHostsPerHour: 10_000,
      maxConnections: 10_000,
      maxConnectionsPerAddress: 1000,
      idleTimeout: 600_000,
      requestTimeout: 60_000,
    })
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.trustable))
    const d = parseHbsConfig({ hosts: 'update', trustable: ['10.0.0.1', ''], refreshInterval: 100 })
    assert.deepEqual([d.hosts, d.trustable, d.refreshInterval], ['update', ['10.0.0.1', ''], 100])
  })

  it('names every bad field at once', () => {
    assert.throws(
      () =>
        parseHbsConfig({
          rpc: '6030',
          http: 'x:99999',
          store: 'postgres://x/y',
          refreshInterval: 50,
          hosts: 'sync',
          trustable: '10.0.0.1',
        }),
      (err: Error) => {
        for (const field of ['rpc', 'http', 'store', 'refreshInterval', 'hosts', 'trustable']) {
          assert.match(err.message, new RegExp(`hbs\\.${field}: `), field)
        }
        assert.match(
          err.message,
          /hbs\.refreshInterval: expected an integer number of milliseconds/
        )
        return true
      }
    )
    assert.throws(() => parseHbsConfig({ refreshInterval: '5000' }), /hbs\.refreshInterval/)
    assert.throws(() => parseHbsConfig({ trustable: [1] }), /hbs\.trustable: expected an array/)
    assert.throws(
      () => parseHbsConfig({ maxHosts: -1, maxNewHostsPerHour: '10' }),
      new Error(
        'hbs.maxHosts: expected an integer ≥ 0 (0: no limit), got -1; hbs.maxNewHostsPerHour: expected an integer ≥ 0 (0: no limit), got "10"'
      )
    )
    assert.equal(parseHbsConfig({ maxHosts: 0 }).maxHosts, 0)
  })
})
