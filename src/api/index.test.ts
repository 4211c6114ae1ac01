import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../core/index.js'
import { mysqlServerUrl, Store, tcpProxy, testEngines } from '../store/index.js'
import { defaultApiConfig, start } from './index.js'

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
