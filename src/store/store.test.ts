import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { type AddressInfo, createServer } from 'node:net'
import { isConnectionError, parseStoreUrl, redact, Store } from './store.js'
import { mysqlServerUrl, tcpProxy, testEngines } from './testing.js'
import { recordingLogger, waitUntil } from '../core/index.js'

const engines = await testEngines()
const hasMysql = engines.some((e) => e.engine === 'mysql')

describe('store URLs', () => {
  it('reads sqlite and mysql locations', () => {
    assert.deepEqual(parseStoreUrl('sqlite::memory:'), { engine: 'sqlite', file: ':memory:' })
    const s = parseStoreUrl('sqlite:./data/portal.db')
    assert.equal(s.engine, 'sqlite')
    assert.ok(s.engine === 'sqlite' && s.file.endsWith('/data/portal.db') && s.file.startsWith('/'))
    assert.deepEqual(parseStoreUrl('mysql://falcon:p%40ss@db.example:3307/falcon_portal'), {
      engine: 'mysql',
      host: 'db.example',
      port: 3307,
      user: 'falcon',
      password: 'p@ss',
      database: 'falcon_portal',
    })
    const d = parseStoreUrl('mysql://127.0.0.1/portal')
    assert.ok(d.engine === 'mysql' && d.port === 3306 && d.user === 'root')
  })

  it('names the problem and hides the password', () => {
    assert.throws(() => parseStoreUrl('postgres://x/y'), /store: expected sqlite:PATH or mysql:/)
    assert.throws(() => parseStoreUrl('sqlite:'), /store: expected a file after sqlite:/)
    assert.throws(
      () => parseStoreUrl('mysql://u:secret@h:3306/', 'api.store'),
      (err: Error) =>
        /^api\.store: expected one database name/.test(err.message) &&
        !err.message.includes('secret')
    )
    assert.equal(redact('mysql://u:secret@h/db'), 'mysql://u:***@h/db')
  })

  it("hides all of a password that holds '@'", () => {
    assert.equal(redact('mysql://u:se@cr@et@h:3306/db'), 'mysql://u:***@h:3306/db')
    assert.equal(redact('mysql://u:s3cret@h/db?x=a@b'), 'mysql://u:***@h/db?x=a@b')
  })

  it('names a stray % in the URL as a bad store URL', () => {
    assert.throws(
      () => parseStoreUrl('mysql://u:50%off@h/db', 'api.store'),
      (err: { code?: string; message: string }) =>
        err.code === 'PG_STORE_BAD_URL' &&
        /^api\.store: the password has a % not followed by two hex digits/.test(err.message) &&
        !err.message.includes('50%off')
    )
  })
})

describe('isConnectionError', () => {
  it('counts a lost connection, not an answer from the server that mysql2 marks fatal', () => {
    assert.equal(isConnectionError({ code: 'ECONNREFUSED' }), true)
    assert.equal(isConnectionError({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), true)
    assert.equal(isConnectionError({ code: 'ER_ACCESS_DENIED_ERROR', fatal: true }), false)
    assert.equal(isConnectionError({ code: 'ER_DBACCESS_DENIED_ERROR', fatal: true }), false)
    assert.equal(isConnectionError({ code: 'AUTH_SWITCH_PLUGIN_ERROR', fatal: true }), false)
    assert.equal(isConnectionError({ code: 'ER_SERVER_SHUTDOWN', fatal: true }), true)
  })

  it('fails to open, saying why, when the server asks for a login method mysql2 lacks', async () => {
    // A server that greets as MySQL does, then asks for MariaDB's ed25519 login.
    const server = createServer((socket) => {
      const send = (seq: number, ...parts: Buffer[]) => {
        const body = Buffer.concat(parts)
        const head = Buffer.alloc(4)
        head.writeUIntLE(body.length, 0, 3)
        head[3] = seq
        socket.write(Buffer.concat([head, body]))
      }
      // long password, connect with db, protocol 4.1, secure connection, plugin auth
      const caps = Buffer.alloc(4)
      caps.writeUInt32LE(0x1 | 0x8 | 0x200 | 0x8000 | 0x80000)
      send(
        0,
        Buffer.from([10]),
        Buffer.from('8.0.99-fake\0'),
        Buffer.from([1, 0, 0, 0]),
        Buffer.alloc(8, 0x61),
        Buffer.from([0]),
        caps.subarray(0, 2),
        Buffer.from([33, 2, 0]),
        caps.subarray(2, 4),
        Buffer.from([21]),
        Buffer.alloc(10),
        Buffer.alloc(12, 0x62),
        Buffer.from('\0mysql_native_password\0')
      )
      socket.once('data', () =>
        send(2, Buffer.from([0xfe]), Buffer.from('client_ed25519\0'), Buffer.alloc(32, 0x63))
      )
      socket.on('error', () => socket.destroy())
    })
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    const { port } = server.address() as AddressInfo
    try {
      const opened = Store.open(`mysql://u:p@127.0.0.1:${port}/db`, recordingLogger(), {
        connectTimeout: 1000,
      })
      await assert.rejects(opened, (err: Error) => /client_ed25519/.test(err.message))
    } finally {
      server.close()
    }
  })
})

for (const engine of engines) {
  describe(`store migrations (${engine.engine})`, () => {
    it('applies the schema once, and opening again (or twice at once) changes nothing', async () => {
      const { url, drop } = await engine.newUrl()
      const log = recordingLogger()
      try {
        const first = await Store.open(url, log)
        assert.equal(first.available, true)
        await first.db.insertInto('grp').values({ grp_name: 'g1', create_user: 'root' }).execute()
        await first.close()
        const [a, b] = await Promise.all([Store.open(url, log), Store.open(url, log)])
        const rows = await a.db.selectFrom('grp').select('grp_name').execute()
        assert.deepEqual(rows, [{ grp_name: 'g1' }])
        assert.equal(log.lines.filter((l) => l.includes('applied migration 0001_portal')).length, 1)
        await a.close()
        await b.close()
      } finally {
        await drop()
      }
    })

    it('creates every falcon table with its defaults', async () => {
      const t = await engine.open()
      try {
        const db = t.store.db
        await db.insertInto('tpl').values({ tpl_name: 'base' }).execute()
        await db.insertInto('strategy').values({ right_value: '90', metric: 'cpu.idle' }).execute()
        const s = await db.selectFrom('strategy').selectAll().executeTakeFirstOrThrow()
        assert.deepEqual(
          { func: s.func, max_step: s.max_step, op: s.op, tags: s.tags, tpl_id: s.tpl_id },
          { func: 'all(#1)', max_step: 1, op: '', tags: '', tpl_id: 0 }
        )
        const tpl = await db.selectFrom('tpl').selectAll().executeTakeFirstOrThrow()
        assert.match(tpl.create_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
        // UTC on both engines.
        const when = Date.parse(tpl.create_at.replace(' ', 'T') + 'Z')
        assert.ok(Math.abs(when - Date.now()) < 120_000, tpl.create_at)
        await assert.rejects(
          db.insertInto('tpl').values({ tpl_name: 'base' }).execute(),
          (err: { code?: string }) => /DUP_ENTRY|CONSTRAINT_UNIQUE/.test(err.code ?? '')
        )
        // Names are case-sensitive on both engines.
        await db.insertInto('tpl').values({ tpl_name: 'BASE' }).execute()
        await db
          .insertInto('mockcfg')
          .values({ name: 'n1', obj: 'h1', t_create: '2026-01-01 00:00:00' })
          .execute()
        const m = await db.selectFrom('mockcfg').selectAll().executeTakeFirstOrThrow()
        assert.deepEqual([m.dstype, m.step, m.mock], ['GAUGE', 60, 0])
      } finally {
        await t.drop()
      }
    })

    it('answers PG_STORE_UNAVAILABLE, saying it is closed, once closed', async () => {
      const t = await engine.open()
      try {
        await t.store.close()
        assert.equal(t.store.available, false)
        await assert.rejects(
          t.store.db.selectFrom('user').selectAll().execute(),
          (err: { code?: string; status?: number; message: string }) =>
            err.code === 'PG_STORE_UNAVAILABLE' &&
            err.status === 503 &&
            /^store \S+ is closed/.test(err.message)
        )
      } finally {
        await t.drop()
      }
    })
  })
}

describe('store: MySQL outage', { skip: !hasMysql && 'no MySQL server reachable' }, () => {
  const server = new URL(mysqlServerUrl())
  const serverPort = server.port === '' ? 3306 : Number(server.port)
  const options = { minBackoff: 20, maxBackoff: 200, connectTimeout: 1000 }

  it('answers PG_STORE_UNAVAILABLE while the server is gone, logs once, and recovers', async () => {
    const mysql = engines.find((e) => e.engine === 'mysql')!
    const { url, drop } = await mysql.newUrl()
    const proxy = await tcpProxy(server.hostname, serverPort)
    const via = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
    const log = recordingLogger()
    const store = await Store.open(via, log, options)
    try {
      await store.db.insertInto('host').values({ hostname: 'h1' }).execute()
      await proxy.cut()
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          store.db.selectFrom('host').selectAll().execute(),
          (err: { code?: string; status?: number; message: string }) =>
            err.code === 'PG_STORE_UNAVAILABLE' &&
            err.status === 503 &&
            /try again/.test(err.message)
        )
      }
      assert.equal(store.available, false)
      assert.equal(log.lines.filter((l) => l.includes('cannot be reached')).length, 1)
      assert.ok(!log.lines.join('\n').includes('secret'))
      await proxy.restore()
      await waitUntil(() => store.available, 'the store to come back')
      assert.ok(log.lines.some((l) => /reachable again after \d+ ms/.test(l)))
      // The pool may still hold a dead connection or two: a caller retrying gets through.
      await waitUntil(async () => {
        try {
          const rows = await store.db.selectFrom('host').select('hostname').execute()
          return rows.length === 1
        } catch {
          return false
        }
      }, 'a query to succeed')
    } finally {
      await store.close()
      await proxy.close()
      await drop()
    }
  })

  it('starts while the server is down and migrates once it answers', async () => {
    const mysql = engines.find((e) => e.engine === 'mysql')!
    const { url, drop } = await mysql.newUrl()
    const proxy = await tcpProxy(server.hostname, serverPort)
    await proxy.cut()
    const via = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
    const log = recordingLogger()
    const store = await Store.open(via, log, options)
    try {
      assert.equal(store.available, false)
      await assert.rejects(store.db.selectFrom('user').selectAll().execute(), {
        code: 'PG_STORE_UNAVAILABLE',
      })
      await proxy.restore()
      await store.ready
      assert.equal(store.available, true)
      assert.deepEqual(await store.db.selectFrom('user').selectAll().execute(), [])
    } finally {
      await store.close()
      await proxy.close()
      await drop()
    }
  })

  it('answers 503, never a missing table, while the schema is applied after an outage', async () => {
    const mysql = engines.find((e) => e.engine === 'mysql')!
    const { url, drop } = await mysql.newUrl()
    const proxy = await tcpProxy(server.hostname, serverPort)
    await proxy.cut()
    const via = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
    const store = await Store.open(via, recordingLogger(), options)
    const errors = new Set<string>()
    try {
      await proxy.restore()
      let migrated = false
      void store.ready.then(() => (migrated = true))
      while (!migrated) {
        await store.db
          .selectFrom('user')
          .selectAll()
          .execute()
          .catch((err: { code?: string }) => errors.add(String(err.code)))
        await new Promise((r) => setImmediate(r))
      }
      assert.deepEqual([...errors], ['PG_STORE_UNAVAILABLE'])
      assert.deepEqual(await store.db.selectFrom('user').selectAll().execute(), [])
    } finally {
      await store.close()
      await proxy.close()
      await drop()
    }
  })

  it('answers 503 within queryTimeout when the server stops answering, and recovers', async () => {
    const mysql = engines.find((e) => e.engine === 'mysql')!
    const { url, drop } = await mysql.newUrl()
    const proxy = await tcpProxy(server.hostname, serverPort)
    const via = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
    const log = recordingLogger()
    const store = await Store.open(via, log, { ...options, queryTimeout: 300 })
    try {
      await store.db.insertInto('host').values({ hostname: 'h1' }).execute()
      proxy.freeze()
      const started = Date.now()
      // More at once than the pool has connections.
      const answers = await Promise.allSettled(
        Array.from({ length: 12 }, () => store.db.selectFrom('host').selectAll().execute())
      )
      for (const a of answers) {
        assert.equal(a.status, 'rejected')
        assert.equal((a.reason as { code?: string }).code, 'PG_STORE_UNAVAILABLE')
      }
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
      assert.equal(store.available, false)
      await proxy.cut()
      await proxy.restore()
      await waitUntil(async () => {
        try {
          return (await store.db.selectFrom('host').selectAll().execute()).length === 1
        } catch {
          return false
        }
      }, 'a query to succeed')
    } finally {
      await store.close()
      await proxy.close()
      await drop()
    }
  })

  it("fails to open, with the server's reason, on a refused login", async () => {
    const u = new URL(mysqlServerUrl())
    u.username = 'no_such_user_pg'
    u.password = 'x'
    u.pathname = '/test'
    await assert.rejects(Store.open(u.toString(), recordingLogger(), options), (err: Error) =>
      /Access denied/.test(err.message)
    )
  })
})
