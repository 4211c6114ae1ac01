import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { defaultGatewayConfig, parseGatewayConfig } from './config.js'

describe('parseGatewayConfig', () => {
  it("takes falcon's packaged ports and one central cluster by default", () => {
    const c = parseGatewayConfig({})
    assert.equal(c.rpc, '0.0.0.0:18433')
    assert.equal(c.http, '0.0.0.0:16060')
    assert.equal(c.socket, '0.0.0.0:14444')
    assert.deepEqual(c.clusters, defaultGatewayConfig.clusters)
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.clusters))
  })

  it('takes a cluster as a list or as "a,b", without repeats', () => {
    const c = parseGatewayConfig({
      clusters: {
        bj: ['10.0.0.1:8433', '10.0.0.2:8433', '10.0.0.1:8433'],
        sh: '10.1.0.1:8433, 10.1.0.2:8433',
      },
    })
    assert.deepEqual(c.clusters, {
      bj: ['10.0.0.1:8433', '10.0.0.2:8433'],
      sh: ['10.1.0.1:8433', '10.1.0.2:8433'],
    })
  })

  it('names every bad or unknown key by its path at once', () => {
    const f = (raw: Record<string, unknown>, ...want: RegExp[]) => {
      assert.throws(
        () => parseGatewayConfig(raw),
        (err: Error) => {
          for (const w of want) assert.match(err.message, w)
          return true
        }
      )
    }
    f({ clsuters: {} }, /gateway\.clsuters: not a gateway setting \(expected one of rpc, http/)
    f({ clusters: {} }, /gateway\.clusters: expected \{"central"/)
    f({ clusters: { a: 'nohost' } }, /gateway\.clusters\.a: expected "host:port"/)
    f({ clusters: { a: [8433] } }, /gateway\.clusters\.a: expected \["host:port", …\]/)
    f({ clusters: { '../x': ['h:1'] } }, /gateway\.clusters\.\.\.\/x: a cluster name is 1 to 64/)
    f({ clusters: { a: ['h:1'], b: ['h:1'] } }, /gateway\.clusters\.b: h:1 is in cluster a too/)
    f(
      { batch: 0, spillAfter: -1, maxDiskBytes: '1G', rpc: 'x', idleTimeout: 0 },
      /gateway\.batch: expected a positive integer, got 0/,
      /gateway\.spillAfter: expected an integer from 1/,
      /gateway\.maxDiskBytes: expected a positive integer, got "1G"/,
      /gateway\.rpc: expected "host:port"/,
      /gateway\.idleTimeout/
    )
    f(
      { maxBodyBytes: 100, maxInflightBytes: 50 },
      /gateway\.maxInflightBytes: 50 is less than maxBodyBytes/
    )
  })

  it("refuses a cluster that is the gateway's own rpc, which would forward each point to itself", () => {
    assert.throws(
      () => parseGatewayConfig({ rpc: '127.0.0.1:22733', clusters: { self: ['127.0.0.1:22733'] } }),
      /gateway\.clusters\.self: 127\.0\.0\.1:22733 is this gateway's own rpc/
    )
    assert.throws(
      () => parseGatewayConfig({ rpc: '0.0.0.0:18433', clusters: { c: ['localhost:18433'] } }),
      /own rpc/
    )
    // Another host's transfer on the same port number is another process.
    parseGatewayConfig({ rpc: '0.0.0.0:18433', clusters: { c: ['10.0.0.5:18433'] } })
  })
})
