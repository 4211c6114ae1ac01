// Opening the portal store on either engine, applying migrations, and riding out a MySQL outage: while
// the server cannot be reached every query fails at once with PG_STORE_UNAVAILABLE (HTTP 503), one log
// line says so, and a probe retries with backoff until it answers again.
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type SqliteDatabase from 'better-sqlite3'
import {
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  Migrator,
  MysqlDialect,
  type MysqlPool,
  type MysqlPoolConnection,
  type QueryResult,
  SqliteDialect,
  type CompiledQuery,
  type TransactionSettings,
} from 'kysely'
import type { createPool, Pool, PoolConnection } from 'mysql2'
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
    const decode = (part: string, what: string) => {
      try {
        return decodeURIComponent(part)
      } catch {
        throw bad(`the ${what} has a % not followed by two hex digits; write % as %25`)
      }
    }
    const database = decode(u.pathname.replace(/^\//, ''), 'database name')
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
      user: decode(u.username, 'user') || 'root',
      password: decode(u.password, 'password'),
      database,
    }
  }
  throw bad('expected sqlite:PATH or mysql://user:password@host:port/database')
}

/**
 * checkStoreUrl is parseStoreUrl for a config check that names every bad key at once: a value that
 * is not a store URL adds its sentence to `problems` instead of throwing.
 */
export function checkStoreUrl(problems: string[], field: string, value: unknown): void {
  if (typeof value !== 'string') {
    problems.push(`${field}: expected a string`)
    return
  }
  try {
    parseStoreUrl(value, field)
  } catch (err) {
    problems.push((err as Error).message)
  }
}

/** redact hides a URL's password for logs and messages. */
export function redact(url: string): string {
  // The user info ends at the last '@' before the path, as the URL parser reads it: a password
  // may hold '@' itself.
  return url.replace(/^(mysql|mariadb)(:\/\/[^:/@]*):[^/?#]*@/, '$1$2:***@')
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

// Fatal to the connection, yet no outage: TLS or the login method cannot work with this server, so
// retrying will not help and start should fail saying so.
const SETUP_CODES = new Set([
  'HANDSHAKE_NO_SSL_SUPPORT',
  'HANDSHAKE_SSL_ERROR',
  'AUTH_SWITCH_PLUGIN_ERROR',
  'MYSQL_CLEAR_PASSWORD_NOT_ENABLED',
])

/** isConnectionError tells a lost or refused connection from an error in the query itself. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const e = err as { code?: unknown; fatal?: unknown; message?: unknown }
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true
  // mysql2 marks `fatal` every error that ends the connection, a refused login (ER_ACCESS_DENIED_ERROR)
  // among them: the server answered (ER_*) or the setup is wrong, so it is not "unreachable".
  if (typeof e.code === 'string' && (e.code.startsWith('ER_') || SETUP_CODES.has(e.code))) {
    return false
  }
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
  /**
   * queryTimeout: ms a MySQL query may go unanswered before its connection is dropped and the store
   * counts as unreachable (a server that stops answering without closing its connections). Migrations
   * are not limited.
   */
  queryTimeout: number
}

const DEFAULT_OPTIONS: StoreOptions = {
  minBackoff: 500,
  maxBackoff: 30_000,
  connectTimeout: 5000,
  queryTimeout: 30_000,
}

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
  /** migrating: a migration runs (its queries have no queryTimeout). */
  private migrating = false
  /** schemaProblem: why the last migration failed, while none has succeeded. */
  private schemaProblem: string | undefined
  private backoff: number
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private resolveReady!: () => void
  private readonly inner: Driver
  private innerInit: Promise<void> | undefined
  private innerDestroy: Promise<void> | undefined
  /** migrationDb runs the migrations: the one way to the store before its schema is applied. */
  private readonly migrationDb: Kysely<PortalDatabase>

  private constructor(
    location: StoreLocation,
    url: string,
    private readonly log: Logger,
    private readonly options: StoreOptions,
    engineModule: EngineModule
  ) {
    this.engine = location.engine
    this.where = redact(url)
    this.backoff = options.minBackoff
    this.ready = new Promise((r) => (this.resolveReady = r))
    const dialect = makeDialect(location, options, engineModule, () =>
      this.migrating ? 0 : this.options.queryTimeout
    )
    this.inner = dialect.createDriver()
    const kysely = (migration: boolean) =>
      new Kysely<PortalDatabase>({
        dialect: {
          createAdapter: () => dialect.createAdapter(),
          createDriver: () => new GuardedDriver(this.inner, this.gate(migration)),
          createIntrospector: (db) => dialect.createIntrospector(db),
          createQueryCompiler: () => dialect.createQueryCompiler(),
        },
      })
    this.db = kysely(false)
    this.migrationDb = kysely(true)
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
    const store = new Store(
      location,
      url,
      log,
      { ...DEFAULT_OPTIONS, ...options },
      await loadEngine(location.engine)
    )
    try {
      await store.migrate()
    } catch (err) {
      if (!isUnavailable(err)) {
        await store.close().catch(() => undefined)
        throw err
      }
      // markDown has logged it and scheduled the retries.
    }
    return store
  }

  /** available is false while the server cannot be reached or the schema is not yet applied. */
  get available(): boolean {
    return this.down === undefined && this.migrated && !this.closed
  }

  /** unavailable returns the error queries get now, or undefined when the store is up. */
  unavailable(): PeregrineError | undefined {
    return this.refusal(false)
  }

  // refusal is why a query is refused now; the migrations' own queries pass before the schema is there.
  private refusal(migration: boolean): PeregrineError | undefined {
    if (this.closed) return this.closedError()
    if (this.down !== undefined) {
      return storeError(
        `store ${this.where} cannot be reached (${this.down.reason}); retrying, try again shortly`
      )
    }
    if (!this.migrated && !migration) {
      return storeError(
        this.schemaProblem === undefined
          ? `store ${this.where} is applying its schema; try again shortly`
          : `store ${this.where} has no schema yet: ${this.schemaProblem}`
      )
    }
    return undefined
  }

  private closedError(): PeregrineError {
    return storeError(`store ${this.where} is closed (Peregrine is stopping)`)
  }

  // gate is what a GuardedDriver asks the store: whether to refuse, what a lost connection means, and
  // the engine driver's one init and one destroy, shared by `db` and `migrationDb`.
  private gate(migration: boolean): Gate {
    return {
      refusal: () => this.refusal(migration),
      markDown: (err) => this.markDown(err),
      init: () => {
        if (this.closed) return Promise.reject(this.closedError())
        this.innerInit ??= this.inner.init().catch((err: unknown) => {
          this.innerInit = undefined
          throw err
        })
        return this.innerInit
      },
      destroy: () => this.destroyInner(),
    }
  }

  private destroyInner(): Promise<void> {
    // Never initialised (SQLite's file was never opened, MySQL's pool never used): nothing to end.
    this.innerDestroy ??= (this.innerInit ?? Promise.reject(new Error('not initialised'))).then(
      () => this.inner.destroy(),
      () => undefined
    )
    return this.innerDestroy
  }

  /** markDown is called by the driver when a connection fails: log once, then probe with backoff. */
  markDown(err: unknown): PeregrineError {
    // A query cut short by close() fails with "Pool is closed": say that the store is closed.
    if (this.closed) return this.closedError()
    const reason = (err as Error).message || String((err as { code?: unknown }).code)
    if (this.down === undefined) {
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
    if (this.closed) return
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
      db: this.migrationDb,
      provider: { getMigrations: () => Promise.resolve(migrationsFor(this.engine)) },
    })
    this.migrating = true
    let outcome
    try {
      outcome = await migrator.migrateToLatest()
    } finally {
      this.migrating = false
    }
    const { error, results } = outcome
    if (error !== undefined) {
      if (isUnavailable(error)) throw error as Error
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(setup)'
      this.schemaProblem = `migration ${failed} failed: ${(error as Error).message}`
      throw new PeregrineError('PG_STORE_MIGRATION', `store ${this.where}: ${this.schemaProblem}`, {
        cause: error,
      })
    }
    for (const r of results ?? []) {
      if (r.status === 'Success') this.log.info(`store: applied migration ${r.migrationName}`)
    }
    this.migrated = true
    this.schemaProblem = undefined
    this.resolveReady()
  }

  /**
   * close ends the retries and the connections. Queries made after it fail with PG_STORE_UNAVAILABLE
   * saying that the store is closed.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    await this.destroyInner()
  }
}

function storeError(message: string): PeregrineError {
  return new PeregrineError('PG_STORE_UNAVAILABLE', message, { status: 503 })
}

function isUnavailable(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'PG_STORE_UNAVAILABLE'
}

// The engine's driver module, loaded when a store of that engine opens: a process that never opens
// one (an agent on a host) does not pay for better-sqlite3's addon or mysql2 (about 25 MB of RSS).
type EngineModule =
  | { engine: 'sqlite'; Database: typeof SqliteDatabase }
  | { engine: 'mysql'; createPool: typeof createPool }

async function loadEngine(engine: Engine): Promise<EngineModule> {
  if (engine === 'sqlite') {
    return { engine, Database: (await import('better-sqlite3')).default }
  }
  return { engine, createPool: (await import('mysql2')).createPool }
}

function makeDialect(
  location: StoreLocation,
  options: StoreOptions,
  engineModule: EngineModule,
  queryTimeout: () => number
): Dialect {
  if (location.engine === 'sqlite' && engineModule.engine === 'sqlite') {
    const Database = engineModule.Database
    return new SqliteDialect({
      database: () => {
        const db = new Database(location.file)
        // WAL lets hbs and api in other processes read while one writes; synchronous=FULL makes a
        // committed write survive a power cut, not only kill -9.
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = FULL')
        db.pragma('busy_timeout = 5000')
        return Promise.resolve(db)
      },
    })
  }
  if (location.engine !== 'mysql' || engineModule.engine !== 'mysql') {
    throw new Error(`store: the ${location.engine} driver was not loaded`)
  }
  const pool = engineModule.createPool({
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
  })
  return new MysqlDialect({
    pool: timedPool(pool, queryTimeout),
    onCreateConnection: async (conn) => {
      await conn.executeQuery({
        sql: "SET time_zone = '+00:00'",
        parameters: [],
        query: { kind: 'RawNode' },
      } as unknown as CompiledQuery)
    },
  })
}

// timedPool gives each query `timeout()` ms (0: no limit) to be answered. A server that stops answering
// without closing its connections (a frozen host, a cable pulled mid-query) would otherwise hold the
// request, and in time every pooled connection, until TCP gives up hours later. A query past its time
// fails as a lost connection, and its connection is destroyed, never reused.
function timedPool(pool: Pool, timeout: () => number): MysqlPool {
  // One wrapper per connection: Kysely runs onCreateConnection for a connection object it has not seen.
  const wrapped = new WeakMap<PoolConnection, MysqlPoolConnection>()
  const wrap = (raw: PoolConnection): MysqlPoolConnection => {
    const conn: MysqlPoolConnection = {
      query: ((
        sql: string,
        parameters: unknown[],
        callback?: (error: unknown, result: unknown) => void
      ) => {
        if (callback === undefined) return raw.query(sql, parameters)
        const ms = timeout()
        let settled = false
        const timer =
          ms > 0
            ? setTimeout(() => {
                settled = true
                raw.destroy()
                ;(raw as unknown as { stream?: { destroy(): void } }).stream?.destroy()
                const err = new Error(`the server did not answer a query in ${ms} ms`)
                callback(Object.assign(err, { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true }), [])
              }, ms)
            : undefined
        raw.query(sql, parameters, (error, result) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          callback(error, result)
        })
      }) as MysqlPoolConnection['query'],
      release: () => raw.release(),
    }
    return conn
  }
  return {
    getConnection(callback) {
      pool.getConnection((err, raw) => {
        if (err !== null) {
          callback(err, undefined as unknown as MysqlPoolConnection)
          return
        }
        let conn = wrapped.get(raw)
        if (conn === undefined) {
          conn = wrap(raw)
          wrapped.set(raw, conn)
        }
        callback(null, conn)
      })
    },
    end: (callback) => pool.end(callback),
  }
}

// Gate is what a GuardedDriver needs from its store.
interface Gate {
  refusal(): PeregrineError | undefined
  markDown(err: unknown): PeregrineError
  init(): Promise<void>
  destroy(): Promise<void>
}

// GuardedDriver wraps the engine's driver: while the store is down it refuses at once; a connection
// error marks the store down (which logs and starts the probe) and surfaces as PG_STORE_UNAVAILABLE.
class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly gate: Gate
  ) {}
  init(): Promise<void> {
    return this.gate.init()
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    const refused = this.gate.refusal()
    if (refused !== undefined) throw refused
    let conn: DatabaseConnection
    try {
      conn = await this.inner.acquireConnection()
    } catch (err) {
      throw isConnectionError(err) ? this.gate.markDown(err) : err
    }
    return new GuardedConnection(conn, this.gate)
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
    return this.gate.destroy()
  }
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw isConnectionError(err) ? this.gate.markDown(err) : err
    }
  }
}

class GuardedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly gate: Gate
  ) {}
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query)
    } catch (err) {
      throw isConnectionError(err) ? this.gate.markDown(err) : err
    }
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize)
  }
}

function unwrap(conn: DatabaseConnection): DatabaseConnection {
  return conn instanceof GuardedConnection ? conn.inner : conn
}
