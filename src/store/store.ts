// Opening the portal store on either engine, applying migrations, and riding out a MySQL outage: while
// the server cannot be reached every query fails at once with PG_STORE_UNAVAILABLE (HTTP 503), one log
// line says so, and a probe retries with backoff until it answers again.
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import {
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  Migrator,
  MysqlDialect,
  type QueryResult,
  SqliteDialect,
  type CompiledQuery,
  type TransactionSettings,
} from 'kysely'
import { createPool } from 'mysql2'
import { type Logger, PeregrineError } from '../core/index.js'
import { type Engine, migrationsFor } from './migrations.js'
import type { PortalDatabase } from './schema.js'

/** StoreLocation is a parsed store URL. */
export type StoreLocation =
  | { engine: 'sqlite'; file: string }
  | {
      engine: 'mysql'
      host: string
      port: number
      user: string
      password: string
      database: string
    }

/**
 * parseStoreUrl reads `sqlite:PATH` (relative to the working directory; `sqlite::memory:` for a
 * throwaway store) or `mysql://user:pass@host:3306/db`. Throws PG_STORE_BAD_URL naming the problem.
 */
export function parseStoreUrl(url: string, field = 'store'): StoreLocation {
  const bad = (why: string) =>
    new PeregrineError(
      'PG_STORE_BAD_URL',
      `${field}: ${why} (got ${JSON.stringify(redact(url))})`,
      {
        status: 400,
      }
    )
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length)
    if (file.startsWith('//')) file = file.slice(2)
    if (file === '') throw bad('expected a file after sqlite:, like sqlite:./data/portal.db')
    return { engine: 'sqlite', file: file === ':memory:' ? file : resolve(file) }
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw bad('not a URL like mysql://user:password@host:3306/database')
    }
    const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
    if (database === '' || database.includes('/')) {
      throw bad(
        'expected one database name after the host, like mysql://root@127.0.0.1:3306/falcon'
      )
    }
    const port = u.port === '' ? 3306 : Number(u.port)
    return {
      engine: 'mysql',
      host: u.hostname === '' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, ''),
      port,
      user: decodeURIComponent(u.username) || 'root',
      password: decodeURIComponent(u.password),
      database,
    }
  }
  throw bad('expected sqlite:PATH or mysql://user:password@host:port/database')
}

/** redact hides a URL's password for logs and messages. */
export function redact(url: string): string {
  return url.replace(/^(mysql|mariadb)(:\/\/[^:/@]*):[^@]*@/, '$1$2:***@')
}

// Errors that mean "the server is not there" rather than "this query is wrong".
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'SQLITE_BUSY',
])

/** isConnectionError tells a lost or refused connection from an error in the query itself. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const e = err as { code?: unknown; fatal?: unknown; message?: unknown }
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true
  if (e.fatal === true) return true
  return typeof e.message === 'string' && /connection.*closed state|Pool is closed/i.test(e.message)
}

/** StoreOptions tune retry timing (tests shorten them). */
export interface StoreOptions {
  /** first retry delay in ms after the server stops answering (doubles up to maxBackoff). */
  minBackoff: number
  maxBackoff: number
  /** connectTimeout for one MySQL connection attempt, ms. */
  connectTimeout: number
}

const DEFAULT_OPTIONS: StoreOptions = { minBackoff: 500, maxBackoff: 30_000, connectTimeout: 5000 }

/**
 * Store is the portal database. Use `db` (Kysely, typed by PortalDatabase) for queries: its driver turns
 * a lost connection into PG_STORE_UNAVAILABLE and, while the server is down, fails fast without trying.
 */
export class Store {
  readonly db: Kysely<PortalDatabase>
  readonly engine: Engine
  /** where names the store in logs, without its password. */
  readonly where: string
  /** ready resolves once the schema is migrated (at once for SQLite; after the first success on MySQL). */
  readonly ready: Promise<void>
  private down: { since: number; reason: string } | undefined
  private migrated = false
  private backoff: number
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private resolveReady!: () => void
  private readonly inner: Driver

  private constructor(
    location: StoreLocation,
    url: string,
    private readonly log: Logger,
    private readonly options: StoreOptions
  ) {
    this.engine = location.engine
    this.where = redact(url)
    this.backoff = options.minBackoff
    this.ready = new Promise((r) => (this.resolveReady = r))
    const dialect = makeDialect(location, options)
    this.inner = dialect.createDriver()
    const guarded = new GuardedDriver(this.inner, this)
    this.db = new Kysely<PortalDatabase>({
      dialect: {
        createAdapter: () => dialect.createAdapter(),
        createDriver: () => guarded,
        createIntrospector: (db) => dialect.createIntrospector(db),
        createQueryCompiler: () => dialect.createQueryCompiler(),
      },
    })
  }

  /**
   * open connects and migrates. A SQLite file that cannot be opened, a bad URL, a refused login or a
   * missing database throw (start fails with that sentence). A MySQL server that does not answer is not
   * fatal: the store comes up unavailable and keeps retrying in the background.
   */
  static async open(url: string, log: Logger, options: Partial<StoreOptions> = {}): Promise<Store> {
    const location = parseStoreUrl(url)
    if (location.engine === 'sqlite' && location.file !== ':memory:') {
      mkdirSync(dirname(location.file), { recursive: true })
    }
    const store = new Store(location, url, log, { ...DEFAULT_OPTIONS, ...options })
    try {
      await store.migrate()
    } catch (err) {
      if (!isUnavailable(err)) {
        await store.db.destroy().catch(() => undefined)
        throw err
      }
      // markDown has logged it and scheduled the retries.
    }
    return store
  }

  /** available is false while the server cannot be reached or the schema is not yet applied. */
  get available(): boolean {
    return this.down === undefined && this.migrated
  }

  /** unavailable returns the error queries get now, or undefined when the store is up. */
  unavailable(): PeregrineError | undefined {
    if (this.closed) return storeError(`${this.where} is closed`)
    if (this.down !== undefined) {
      return storeError(
        `store ${this.where} cannot be reached (${this.down.reason}); retrying, try again shortly`
      )
    }
    return undefined
  }

  /** markDown is called by the driver when a connection fails: log once, then probe with backoff. */
  markDown(err: unknown): PeregrineError {
    const reason = (err as Error).message || String((err as { code?: unknown }).code)
    if (this.down === undefined && !this.closed) {
      this.down = { since: Date.now(), reason }
      this.log.error(
        `store: ${this.where} cannot be reached (${reason}); answering 503 and retrying with backoff`
      )
      this.schedule()
    }
    return storeError(`store ${this.where} cannot be reached (${reason}); try again shortly`)
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.probe()
    }, this.backoff)
    this.timer.unref()
    this.backoff = Math.min(this.backoff * 2, this.options.maxBackoff)
  }

  private async probe(): Promise<void> {
    if (this.closed) return
    try {
      const conn = await this.inner.acquireConnection()
      await this.inner.releaseConnection(conn)
    } catch (err) {
      if (this.down !== undefined) this.down.reason = (err as Error).message
      this.schedule()
      return
    }
    const since = this.down?.since ?? Date.now()
    this.down = undefined
    this.backoff = this.options.minBackoff
    this.log.info(`store: ${this.where} reachable again after ${Date.now() - since} ms`)
    if (!this.migrated) {
      try {
        await this.migrate()
      } catch (err) {
        if (!isUnavailable(err)) {
          this.log.error(`store: migrating ${this.where} failed: ${(err as Error).message}`)
        }
      }
    }
  }

  private async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: () => Promise.resolve(migrationsFor(this.engine)) },
    })
    const { error, results } = await migrator.migrateToLatest()
    if (error !== undefined) {
      if (isUnavailable(error)) throw error as Error
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(setup)'
      throw new PeregrineError(
        'PG_STORE_MIGRATION',
        `store ${this.where}: migration ${failed} failed: ${(error as Error).message}`,
        { cause: error }
      )
    }
    for (const r of results ?? []) {
      if (r.status === 'Success') this.log.info(`store: applied migration ${r.migrationName}`)
    }
    this.migrated = true
    this.resolveReady()
  }

  /** close ends the retries and the connections. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    await this.db.destroy()
  }
}

function storeError(message: string): PeregrineError {
  return new PeregrineError('PG_STORE_UNAVAILABLE', message, { status: 503 })
}

function isUnavailable(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'PG_STORE_UNAVAILABLE'
}

function makeDialect(location: StoreLocation, options: StoreOptions): Dialect {
  if (location.engine === 'sqlite') {
    return new SqliteDialect({
      database: () => {
        const db = new SqliteDatabase(location.file)
        // WAL lets hbs and api in other processes read while one writes; synchronous=FULL makes a
        // committed write survive a power cut, not only kill -9.
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = FULL')
        db.pragma('busy_timeout = 5000')
        return Promise.resolve(db)
      },
    })
  }
  return new MysqlDialect({
    pool: createPool({
      host: location.host,
      port: location.port,
      user: location.user,
      password: location.password,
      database: location.database,
      charset: 'utf8mb4_bin',
      // Timestamps read as text and kept in UTC, as SQLite's CURRENT_TIMESTAMP is.
      dateStrings: true,
      timezone: 'Z',
      decimalNumbers: true,
      connectTimeout: options.connectTimeout,
      connectionLimit: 8,
      maxIdle: 8,
      idleTimeout: 60_000,
      enableKeepAlive: true,
    }),
    onCreateConnection: async (conn) => {
      await conn.executeQuery({
        sql: "SET time_zone = '+00:00'",
        parameters: [],
        query: { kind: 'RawNode' },
      } as unknown as CompiledQuery)
    },
  })
}

// GuardedDriver wraps the engine's driver: while the store is down it refuses at once; a connection
// error marks the store down (which logs and starts the probe) and surfaces as PG_STORE_UNAVAILABLE.
class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly store: Store
  ) {}
  init(): Promise<void> {
    return this.inner.init()
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    const refused = this.store.unavailable()
    if (refused !== undefined) throw refused
    let conn: DatabaseConnection
    try {
      conn = await this.inner.acquireConnection()
    } catch (err) {
      throw isConnectionError(err) ? this.store.markDown(err) : err
    }
    return new GuardedConnection(conn, this.store)
  }
  beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.guard(() => this.inner.beginTransaction(unwrap(conn), settings))
  }
  commitTransaction(conn: DatabaseConnection): Promise<void> {
    return this.guard(() => this.inner.commitTransaction(unwrap(conn)))
  }
  rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    return this.guard(() => this.inner.rollbackTransaction(unwrap(conn)))
  }
  releaseConnection(conn: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(conn))
  }
  destroy(): Promise<void> {
    return this.inner.destroy()
  }
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw isConnectionError(err) ? this.store.markDown(err) : err
    }
  }
}

class GuardedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly store: Store
  ) {}
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query)
    } catch (err) {
      throw isConnectionError(err) ? this.store.markDown(err) : err
    }
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize)
  }
}

function unwrap(conn: DatabaseConnection): DatabaseConnection {
  return conn instanceof GuardedConnection ? conn.inner : conn
}
