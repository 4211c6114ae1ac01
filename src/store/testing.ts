// Test support: the engines a store test runs against. SQLite always; MariaDB/MySQL when reachable, and
// required when PEREGRINE_TEST_MYSQL is set (CI sets it, so a missing server fails loudly there).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { type Logger, silentLogger } from '../core/index.js'
import type { Engine } from './migrations.js'
import { Store, type StoreOptions } from './store.js'

/** TestStore is a fresh, empty, migrated store and how to throw it away. */
export interface TestStore {
  store: Store
  url: string
  drop(): Promise<void>
}

export interface TestEngine {
  engine: Engine
  /** open makes a new empty store (a temp SQLite file, or a new MySQL database). */
  open(options?: Partial<StoreOptions> & { log?: Logger }): Promise<TestStore>
  /** newUrl makes an empty location without opening it (for tests that start a process on it). */
  newUrl(): Promise<{ url: string; drop: () => Promise<void> }>
}

const DEFAULT_MYSQL = 'mysql://root@127.0.0.1:3306'
let counter = 0

/** testEngines lists the engines to test on this machine. */
export async function testEngines(): Promise<TestEngine[]> {
  const engines: TestEngine[] = [sqliteEngine()]
  const required = process.env.PEREGRINE_TEST_MYSQL
  const server = required ?? DEFAULT_MYSQL
  try {
    const conn = await (
      await import('mysql2/promise')
    ).createConnection({ uri: server, connectTimeout: 2000 })
    await conn.end()
    engines.push(mysqlEngine(server))
  } catch (err) {
    if (required !== undefined) {
      throw new Error(
        `PEREGRINE_TEST_MYSQL=${required} is set but the server cannot be reached: ${(err as Error).message}. Start MariaDB (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or unset it.`,
        { cause: err }
      )
    }
  }
  return engines
}

function sqliteEngine(): TestEngine {
  const newUrl = () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-store-'))
    return Promise.resolve({
      url: `sqlite:${join(dir, 'portal.db')}`,
      drop: () => {
        rmSync(dir, { recursive: true, force: true })
        return Promise.resolve()
      },
    })
  }
  return {
    engine: 'sqlite',
    newUrl,
    async open(options = {}) {
      const { url, drop } = await newUrl()
      const store = await Store.open(url, options.log ?? silentLogger, options)
      return {
        store,
        url,
        async drop() {
          await store.close()
          await drop()
        },
      }
    },
  }
}

function mysqlEngine(server: string): TestEngine {
  const newUrl = async () => {
    const name = `pg_test_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`
    const conn = await (await import('mysql2/promise')).createConnection({ uri: server })
    await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
    await conn.end()
    return {
      url: `${server.replace(/\/$/, '')}/${name}`,
      drop: async () => {
        const c = await (await import('mysql2/promise')).createConnection({ uri: server })
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``)
        await c.end()
      },
    }
  }
  return {
    engine: 'mysql',
    newUrl,
    async open(options = {}) {
      const { url, drop } = await newUrl()
      const store = await Store.open(url, options.log ?? silentLogger, options)
      return {
        store,
        url,
        async drop() {
          await store.close()
          await drop()
        },
      }
    },
  }
}

/**
 * TcpProxy forwards a local port to a server; `cut()` drops every connection and stops listening (the
 * server "goes away"), `restore()` listens again on the same port. `freeze()` keeps every connection
 * open but passes nothing more either way, and accepts new ones without answering (the server hangs,
 * or a cable is pulled): only `cut()` ends that. Tests use it to take MySQL away.
 */
export interface TcpProxy {
  port: number
  cut(): Promise<void>
  restore(): Promise<void>
  freeze(): void
  close(): Promise<void>
}

export async function tcpProxy(host: string, port: number, listenPort = 0): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  const pairs = new Set<[Socket, Socket]>()
  let frozen = false
  const make = () =>
    createServer((client) => {
      sockets.add(client)
      client.on('error', () => client.destroy()).on('close', () => sockets.delete(client))
      if (frozen) return
      const upstream = connect(port, host)
      const pair: [Socket, Socket] = [client, upstream]
      sockets.add(upstream)
      pairs.add(pair)
      client.pipe(upstream).pipe(client)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
        pairs.delete(pair)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
    })
  let server = make()
  const listen = (p: number) =>
    new Promise<number>((ok, fail) => {
      server.once('error', fail)
      server.listen(p, '127.0.0.1', () => ok((server.address() as AddressInfo).port))
    })
  const bound = await listen(listenPort)
  const stop = () =>
    new Promise<void>((ok) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      pairs.clear()
      server.close(() => ok())
    })
  return {
    port: bound,
    cut: stop,
    async restore() {
      frozen = false
      server = make()
      await listen(bound)
    },
    freeze() {
      frozen = true
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    close: stop,
  }
}

/** mysqlServerUrl is the MySQL server tests use (PEREGRINE_TEST_MYSQL or the local default). */
export const mysqlServerUrl = (): string => process.env.PEREGRINE_TEST_MYSQL ?? DEFAULT_MYSQL
