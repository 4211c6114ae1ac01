import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../core/index.js'
import { mysqlServerUrl, Store, tcpProxy, testEngines } from '../store/index.js'
import { defaultApiConfig, parseApiConfig, start } from './index.js'
import { openTestPortal } from './testing.js'

const engines = await testEngines()
const mysql = engines.find((e) => e.engine === 'mysql')

describe(
  'api start: user root',
  { skip: mysql === undefined && 'no MySQL server reachable' },
  () => {
    it('creates root once MySQL answers again, though it went away just as api started', async () => {
      const server = new URL(mysqlServerUrl())
      const serverPort = server.port === '' ? 3306 : Number(server.port)
      const { url, drop } = await mysql!.newUrl()
      const proxy = await tcpProxy(server.hostname, serverPort)
      const via = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
      const options = { minBackoff: 20, maxBackoff: 200, connectTimeout: 1000 }
      const store = await Store.open(via, silentLogger, options)
      const roots = () => store.db.selectFrom('user').select('name').where('name', '=', 'root')
      try {
        // Migrated, and gone before root is written.
        await proxy.cut()
        const api = await start(
          { ...defaultApiConfig, http: '127.0.0.1:0', store: via },
          { log: silentLogger, now: Date.now },
          { store }
        )
        try {
          await proxy.restore()
          const deadline = Date.now() + 8000
          for (;;) {
            const found = await roots()
              .execute()
              .catch(() => [])
            if (found.length === 1) break
            assert.ok(Date.now() < deadline, 'root was never created')
            await new Promise((r) => setTimeout(r, 50))
          }
        } finally {
          await api.stop()
        }
      } finally {
        await store.close()
        await proxy.close()
        await drop()
      }
    })
  }
)

describe('api CORS', () => {
  const EVIL = 'https://evil.example'
  const corsOf = async (corsOrigins: string[], origin: string) => {
    const p = await openTestPortal(engines[0], { corsOrigins })
    try {
      const simple = await p.app.inject({ method: 'GET', url: '/health', headers: { origin } })
      const preflight = await p.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/user/login',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'apitoken, content-type',
        },
      })
      return [simple, preflight].map((r) => ({
        status: r.statusCode,
        origin: r.headers['access-control-allow-origin'],
        credentials: r.headers['access-control-allow-credentials'],
      }))
    } finally {
      await p.close()
    }
  }

  it('answers no CORS by default: no page of another origin reads the api', async () => {
    const [simple, preflight] = await corsOf([], EVIL)
    assert.deepEqual(simple, { status: 200, origin: undefined, credentials: undefined })
    assert.equal(preflight.origin, undefined)
    assert.equal(preflight.credentials, undefined)
    assert.equal(preflight.status, 404)
  })

  it('answers the configured origins only, never with credentials', async () => {
    const dash = 'https://dash.example.com'
    const [simple, preflight] = await corsOf([dash], dash)
    assert.deepEqual(simple, { status: 200, origin: dash, credentials: undefined })
    assert.deepEqual(preflight, { status: 204, origin: dash, credentials: undefined })
    const [other, otherPreflight] = await corsOf([dash], EVIL)
    assert.equal(other.origin, undefined)
    assert.equal(otherPreflight.origin, undefined)
    const [any] = await corsOf(['*'], EVIL)
    assert.deepEqual(any, { status: 200, origin: '*', credentials: undefined })
  })
})

describe('api request errors', () => {
  it('names the body limit in its 413', async () => {
    const p = await openTestPortal(engines[0])
    try {
      const r = await p.app.inject({
        method: 'POST',
        url: '/api/v1/user/login',
        headers: { 'content-type': 'application/json' },
        payload: `{"name":"${'x'.repeat(8 << 20)}"}`,
      })
      assert.equal(r.statusCode, 413)
      assert.deepEqual(r.json(), {
        error:
          'body: larger than 8 MiB (8388608 bytes), the most the api reads; send less in one request',
      })
    } finally {
      await p.close()
    }
  })
})

describe('api.dashboardHttp (falcon-dashboard :8081)', () => {
  it('answers the same routes on a second address, and stops both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-api-8081-'))
    const api = await start(
      {
        ...defaultApiConfig,
        http: '127.0.0.1:0',
        dashboardHttp: '127.0.0.1:0',
        store: `sqlite:${join(dir, 'portal.db')}`,
      },
      { log: silentLogger, now: Date.now }
    )
    try {
      assert.ok(api.addresses.dashboardHttp !== undefined)
      assert.notEqual(api.addresses.dashboardHttp, api.addresses.http)
      for (const address of [api.addresses.http, api.addresses.dashboardHttp]) {
        const health = await fetch(`http://${address}/health`)
        assert.equal(await health.text(), 'ok')
        const none = await fetch(`http://${address}/api/v1/user/current`)
        assert.equal(none.status, 401)
      }
      const counters = (await (await fetch(`http://${api.addresses.http}/counter/all`)).json()) as {
        data: { listeners: Record<string, unknown> }
      }
      assert.deepEqual(Object.keys(counters.data.listeners).sort(), ['dashboardHttp', 'http'])
    } finally {
      await api.stop()
      rmSync(dir, { recursive: true, force: true })
    }
    await assert.rejects(fetch(`http://${api.addresses.dashboardHttp}/health`))
  })

  it('refuses an address that is not host:port, naming the field', () => {
    assert.throws(() => parseApiConfig({ dashboardHttp: 'nope' }), /api\.dashboardHttp/)
  })
})
