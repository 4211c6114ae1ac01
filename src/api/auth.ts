// Users' passwords and sessions, and the `Apitoken` header (falcon's helper/session.go), made safe:
// passwords are scrypt hashes (a falcon md5(salt+password) is still accepted once, then re-hashed),
// sessions expire, failed logins are rate-limited, blocked users (role -1) are refused. Besides it,
// what Grafana and Prometheus clients send: `Authorization: Basic` (name and password, read-only) and
// `Authorization: Bearer` with a per-user API token (read-only or the user's full rights).
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { addressKey, type Logger, PeregrineError } from '../core/index.js'
import type { Store } from '../store/index.js'
import { unauthorized } from './http-errors.js'

/** Roles as falcon numbers them. */
export const ROLE = { blocked: -1, user: 0, admin: 1, root: 2 } as const

/**
 * AuthUser is who a request acts as. `service` marks the defaultToken (Peregrine's own components).
 * `readOnly` marks a `read` API token or HTTP Basic: such a caller may query and GET, never write.
 */
export interface AuthUser {
  id: number
  name: string
  role: number
  service: boolean
  readOnly: boolean
}

export const isAdmin = (u: AuthUser): boolean => u.role >= ROLE.admin

// scrypt cost: N=2^14, r=8, p=1 (about 20-50 ms and 16 MiB per hash), the interactive-login setting.
const N = 16384
const R = 8
const P = 1
const KEYLEN = 32

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, KEYLEN, { N: n, r, p, maxmem: 64 << 20 }, (err, key) =>
      err === null ? resolve(key) : reject(err)
    )
  })
}

/** hashPassword returns `scrypt$N$r$p$salt$hash` (base64 parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(password, salt, N, R, P)
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`
}

/**
 * verifyPassword checks `password` against a stored hash. `legacy` is true when the stored value was
 * falcon's md5(salt + password), which the caller then replaces by a scrypt hash.
 */
export async function verifyPassword(
  password: string,
  stored: string,
  falconSalt: string
): Promise<{ ok: boolean; legacy: boolean }> {
  if (stored.startsWith('scrypt$')) {
    const [, n, r, p, salt, hash] = stored.split('$')
    const want = Buffer.from(hash ?? '', 'base64')
    const got = await scryptAsync(
      password,
      Buffer.from(salt ?? '', 'base64'),
      Number(n),
      Number(r),
      Number(p)
    )
    return { ok: want.length === got.length && timingSafeEqual(want, got), legacy: false }
  }
  if (/^[0-9a-f]{32}$/i.test(stored)) {
    const got = Buffer.from(
      createHash('md5')
        .update(falconSalt + password)
        .digest('hex')
    )
    return { ok: timingSafeEqual(got, Buffer.from(stored.toLowerCase())), legacy: true }
  }
  return { ok: false, legacy: false }
}

let decoy: Promise<string> | undefined

/**
 * decoyHash is a scrypt hash of no one's password: a login for a name that does not exist is checked
 * against it, so that it takes as long as a wrong password and the answer's timing does not tell
 * which names exist.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'))
  return decoy
}

/** newSig returns a session signature: 32 hex characters, as falcon's (a UUID without dashes). */
export const newSig = (): string => randomBytes(16).toString('hex')

/** generatePassword returns a random password for root's first start. */
export const generatePassword = (): string => randomBytes(12).toString('base64url')

/** LIMITER_KEYS bounds the keys a LoginLimiter remembers; the least recently failed go first. */
const LIMITER_KEYS = 100_000

/** LoginLimits: `api.loginAttempts`, `api.loginNameAttempts`, and `api.loginWindow` in ms. */
export interface LoginLimits {
  /** attempts: failed logins one client address may make in a window, whatever the names. */
  attempts: number
  /** nameAttempts: failed logins for one name, from every address together, that make it guarded. */
  nameAttempts: number
  windowMs: number
}

/**
 * LoginLimiter counts failed logins in a sliding window, per client address (an IPv6 client: its /64),
 * per name from each address, and per name from every address, so that no one can lock a user out
 * from everywhere:
 *
 *   address        `attempts` failures (any names) and the address waits out the window: 429
 *   name+address   what a guarded name looks at; a right password clears it
 *   name           `nameAttempts` failures from all addresses together guard the name: while guarded,
 *                  an address that failed for it in the window waits (429), any other may still try
 *
 * One guesser is held to `attempts` a window; many are held to one guess per address a window once the
 * name is guarded, while its user, from an address of their own, still logs in. A success never clears
 * the address's count: a guesser with an account of its own could otherwise reset it at will.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>()
  /** refused: logins answered 429, because of the address's failures or the name's. */
  readonly refused = { address: 0, name: 0 }
  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number,
    /** onNameGuarded hears of a name when its failures from every address reach `nameAttempts`. */
    private readonly onNameGuarded: (name: string) => void = () => undefined
  ) {}

  /** size is how many keys are remembered. */
  get size(): number {
    return this.failures.size
  }

  /** checkAddress throws 429 when `address` has had `attempts` failed logins in the window. */
  checkAddress(address: string | undefined): void {
    const t = this.now()
    const list = this.recent(addressOf(address), t)
    if (list.length < this.limits.attempts) return
    this.refused.address++
    throw limited(
      `too many failed logins from your address: ${this.limits.attempts} within ${this.windowS()} s (api.loginAttempts, api.loginWindow); try again in ${this.wait(list[0], t)} s`
    )
  }

  /**
   * attempt checks that `name` may be tried from `address` and counts a failure for the address and
   * for the name from it before the password is checked, so that attempts made at the same time count
   * against each other. It returns `settle`, to call with the verdict: a right password takes those
   * failures back, a wrong one counts a failure for the name too.
   */
  attempt(name: string, address: string | undefined): (right: boolean) => void {
    this.checkAddress(address)
    const t = this.now()
    const a = addressOf(address)
    const p = pairOf(name, address)
    const n = `name:${name}`
    if (this.recent(n, t).length >= this.limits.nameAttempts) {
      const mine = this.recent(p, t)
      if (mine.length > 0) {
        this.refused.name++
        throw limited(
          `too many failed logins for ${name} from many addresses: ${this.limits.nameAttempts} within ${this.windowS()} s (api.loginNameAttempts, api.loginWindow); each address may now try it once a window, and yours has: try again in ${this.wait(mine[mine.length - 1], t)} s`
        )
      }
    }
    this.record(a, t, this.limits.attempts)
    this.record(p, t, this.limits.attempts)
    return (right) => {
      if (!right) {
        const was = this.recent(n, t).length
        this.record(n, t, this.limits.nameAttempts)
        if (was < this.limits.nameAttempts && was + 1 >= this.limits.nameAttempts)
          this.onNameGuarded(name)
        return
      }
      for (const k of [a, p]) {
        const list = this.failures.get(k)
        const at = list?.lastIndexOf(t) ?? -1
        if (list === undefined || at < 0) continue
        list.splice(at, 1)
        if (list.length === 0) this.failures.delete(k)
      }
    }
  }

  /** succeed forgets the failed logins for `name` from `address`: its user's own mistakes. */
  succeed(name: string, address: string | undefined): void {
    this.failures.delete(pairOf(name, address))
  }

  private windowS(): number {
    return Math.round(this.limits.windowMs / 1000)
  }

  private wait(failedAt: number, t: number): number {
    return Math.max(1, Math.ceil((failedAt + this.limits.windowMs - t) / 1000))
  }

  // record adds a failure at `t`, keeping the latest `max` (enough to tell a key is at its limit), and
  // makes `k` the most recent key.
  private record(k: string, t: number, max: number): void {
    const list = this.recent(k, t)
    list.push(t)
    if (list.length > max) list.splice(0, list.length - max)
    this.failures.delete(k)
    this.failures.set(k, list)
    // Bound memory under a spray of names and addresses: past the limit, forget the stalest tenth.
    if (this.failures.size <= LIMITER_KEYS) return
    for (const key of this.failures.keys()) {
      if (this.failures.size <= LIMITER_KEYS * 0.9) break
      this.failures.delete(key)
    }
  }

  private recent(k: string, t: number): number[] {
    const list = this.failures.get(k)
    if (list === undefined) return []
    while (list.length > 0 && list[0] <= t - this.limits.windowMs) list.shift()
    if (list.length === 0) this.failures.delete(k)
    return list
  }
}

const limited = (message: string) =>
  new PeregrineError('PG_API_LOGIN_LIMITED', message, { status: 429 })
const addressOf = (address: string | undefined) => `ip:${addressKey(address) ?? '?'}`
const pairOf = (name: string, address: string | undefined) =>
  `pair:${addressKey(address) ?? '?'} ${name}`

/** parseApitoken reads the `Apitoken: {"name":..,"sig":..}` header, or throws 401 saying what is wrong. */
export function parseApitoken(header: unknown): { name: string; sig: string } {
  if (typeof header !== 'string' || header === '') {
    throw unauthorized(
      'Apitoken header missing: log in with POST /api/v1/user/login and send {"name","sig"}'
    )
  }
  let token: unknown
  try {
    token = JSON.parse(header)
  } catch {
    throw unauthorized('Apitoken: expected JSON like {"name":"root","sig":"..."}')
  }
  const t = token as { name?: unknown; sig?: unknown }
  if (typeof token !== 'object' || token === null)
    throw unauthorized('Apitoken: expected a JSON object')
  if (typeof t.name !== 'string' || t.name === '') throw unauthorized('Apitoken.name is empty')
  if (typeof t.sig !== 'string' || t.sig === '') throw unauthorized('Apitoken.sig is empty')
  return { name: t.name, sig: t.sig }
}

/**
 * authenticate returns the user an `Apitoken` header stands for: the defaultToken's service identity,
 * or a user whose session with that sig exists and has not expired. Anything else throws 401.
 */
export async function authenticate(
  store: Store,
  header: unknown,
  defaultToken: string,
  nowSeconds: number
): Promise<AuthUser> {
  const { name, sig } = parseApitoken(header)
  if (defaultToken !== '' && safeEqual(sig, defaultToken)) {
    return { id: 0, name, role: ROLE.admin, service: true, readOnly: false }
  }
  const row = await store.db
    .selectFrom('session')
    .innerJoin('user', 'user.id', 'session.uid')
    .select(['user.id', 'user.name', 'user.role', 'session.expired'])
    .where('session.sig', '=', sig)
    .where('user.name', '=', name)
    .executeTakeFirst()
  if (row === undefined) throw unauthorized('Apitoken: no such session; log in again')
  if (row.expired < nowSeconds) throw unauthorized('Apitoken: the session expired; log in again')
  if (row.role === ROLE.blocked) throw unauthorized(`user ${name} is blocked`)
  return { id: row.id, name: row.name, role: row.role, service: false, readOnly: false }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * ensureRoot creates the `root` user (role 2) on a store that has none, with `PEREGRINE_ROOT_PASSWORD`
 * or a generated password, which is logged once: it is the only time it can be seen.
 */
export async function ensureRoot(store: Store, log: Logger, env = process.env): Promise<void> {
  const existing = await store.db
    .selectFrom('user')
    .select('id')
    .where('name', '=', 'root')
    .executeTakeFirst()
  if (existing !== undefined) return
  const given = env.PEREGRINE_ROOT_PASSWORD
  const password = given !== undefined && given !== '' ? given : generatePassword()
  try {
    await store.db
      .insertInto('user')
      .values({
        name: 'root',
        passwd: await hashPassword(password),
        role: ROLE.root,
        cnname: 'root',
      })
      .execute()
  } catch (err) {
    // Another process (hbs and api started apart) created it first.
    const again = await store.db
      .selectFrom('user')
      .select('id')
      .where('name', '=', 'root')
      .executeTakeFirst()
    if (again !== undefined) return
    throw err
  }
  if (given !== undefined && given !== '') {
    log.info('api: created user root with the password from PEREGRINE_ROOT_PASSWORD')
  } else {
    log.warn(
      `api: created user root with password ${password} (shown once; change it with PUT /api/v1/user/cgpasswd)`
    )
  }
}

/** API_TOKEN_PREFIX starts every API token (`pgt_…`), so that a leaked one is easy to recognise. */
export const API_TOKEN_PREFIX = 'pgt_'
// 32 random bytes in base64url.
const API_TOKEN_RE = /^pgt_[A-Za-z0-9_-]{43}$/

/** newApiToken returns a new API token secret: `pgt_` and 256 random bits. */
export const newApiToken = (): string => API_TOKEN_PREFIX + randomBytes(32).toString('base64url')

/**
 * apiTokenHash is what the store keeps of a token: its hex SHA-256. A token is 256 random bits, so a
 * fast hash is enough (nothing to guess), and a lookup by it is one indexed read.
 */
export const apiTokenHash = (token: string): string =>
  createHash('sha256').update(token).digest('hex')

/**
 * authenticateBearer returns the user an `Authorization: Bearer <token>` stands for: the token's
 * user, read-only when its scope is `read`. An unknown, expired or malformed token, or a blocked
 * user, throws 401.
 */
export async function authenticateBearer(
  store: Store,
  token: string,
  nowSeconds: number
): Promise<AuthUser> {
  if (!API_TOKEN_RE.test(token)) {
    throw unauthorized(
      'Authorization: Bearer: not a Peregrine API token (pgt_…); create one with POST /api/v1/user/tokens'
    )
  }
  const row = await store.db
    .selectFrom('api_token')
    .innerJoin('user', 'user.id', 'api_token.uid')
    .select(['user.id', 'user.name', 'user.role', 'api_token.scope', 'api_token.expires_at'])
    .where('api_token.hash', '=', apiTokenHash(token))
    .executeTakeFirst()
  if (row === undefined) throw unauthorized('Authorization: Bearer: no such API token (deleted?)')
  if (row.expires_at > 0 && row.expires_at <= nowSeconds)
    throw unauthorized('Authorization: Bearer: the API token expired; create another')
  if (row.role === ROLE.blocked) throw unauthorized(`user ${row.name} is blocked`)
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    service: false,
    readOnly: row.scope !== 'full',
  }
}

/** BASIC_CACHE_TTL_MS: how long a verified name and password are taken without scrypt again. */
export const BASIC_CACHE_TTL_MS = 60_000
/** BASIC_CACHE_ENTRIES bounds the cache; past it, the oldest entries go first. */
const BASIC_CACHE_ENTRIES = 10_000

/**
 * BasicAuthCache remembers name and password pairs that verified, for `BASIC_CACHE_TTL_MS`, so that a
 * Grafana sending Basic auth on every request does not cost a scrypt (about 30 ms of CPU) each time.
 * Keys are a keyed hash of name and password (the key random per process): the cache holds no
 * password. Each entry keeps the stored password hash it was checked against: a password changed
 * since no longer matches it, so the cache never outlives a password.
 */
export class BasicAuthCache {
  readonly #key = randomBytes(32)
  readonly #entries = new Map<string, { passwd: string; until: number }>()
  /** hits: requests answered from the cache; misses: those that ran scrypt. */
  hits = 0
  misses = 0

  constructor(private readonly now: () => number) {}

  /** keyOf returns the cache key of a name and password. */
  keyOf(name: string, password: string): string {
    return createHash('sha256')
      .update(this.#key)
      .update(name)
      .update('\0')
      .update(password)
      .digest('base64')
  }

  /** has tells whether `key` verified against `passwd` (the stored hash as it is now) recently. */
  has(key: string, passwd: string): boolean {
    const e = this.#entries.get(key)
    if (e === undefined) return false
    if (e.until <= this.now() || e.passwd !== passwd) {
      this.#entries.delete(key)
      return false
    }
    return true
  }

  set(key: string, passwd: string): void {
    this.#entries.delete(key)
    this.#entries.set(key, { passwd, until: this.now() + BASIC_CACHE_TTL_MS })
    if (this.#entries.size <= BASIC_CACHE_ENTRIES) return
    for (const k of this.#entries.keys()) {
      this.#entries.delete(k)
      if (this.#entries.size <= BASIC_CACHE_ENTRIES * 0.9) break
    }
  }
}

/** BasicAuthContext is what authenticateBasic needs from the api. */
export interface BasicAuthContext {
  store: Store
  salt: string
  limiter: LoginLimiter
  cache: BasicAuthCache
}

/**
 * authenticateBasic returns the user of an `Authorization: Basic` credential (base64 `name:password`),
 * read-only: Basic auth is for reading clients (Grafana, promtool), and a browser may send it on its
 * own, so it never writes. A wrong name or password counts as a failed login (`LoginLimiter`, 429
 * past the limits) and throws 401, taking as long for a name that does not exist.
 */
export async function authenticateBasic(
  ctx: BasicAuthContext,
  credentials: string,
  address: string | undefined
): Promise<AuthUser> {
  const text = Buffer.from(credentials, 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon <= 0) throw unauthorized('Authorization: Basic: expected base64 of name:password')
  const name = text.slice(0, colon)
  const password = text.slice(colon + 1)
  if (name.length > 64) throw unauthorized('Authorization: Basic: wrong name or password')
  const user = await ctx.store.db
    .selectFrom('user')
    .select(['id', 'name', 'passwd', 'role'])
    .where('name', '=', name)
    .executeTakeFirst()
  const key = ctx.cache.keyOf(name, password)
  if (user !== undefined && ctx.cache.has(key, user.passwd)) {
    ctx.cache.hits++
  } else {
    ctx.cache.misses++
    ctx.limiter.checkAddress(address)
    const settle = ctx.limiter.attempt(user?.name ?? name, address)
    const verdict = await verifyPassword(password, user?.passwd ?? (await decoyHash()), ctx.salt)
    settle(user !== undefined && verdict.ok)
    if (user === undefined || !verdict.ok)
      throw unauthorized('Authorization: Basic: wrong name or password')
    ctx.limiter.succeed(user.name, address)
    // A falcon md5 password is re-hashed on its first use, as a login does.
    if (verdict.legacy) {
      user.passwd = await hashPassword(password)
      await ctx.store.db
        .updateTable('user')
        .set({ passwd: user.passwd })
        .where('id', '=', user.id)
        .execute()
    }
    ctx.cache.set(key, user.passwd)
  }
  if (user.role === ROLE.blocked) throw unauthorized(`user ${user.name} is blocked`)
  return { id: user.id, name: user.name, role: user.role, service: false, readOnly: true }
}

/** RequestAuthContext is what authenticateRequest needs: the store, the defaultToken, Basic's. */
export interface RequestAuthContext extends BasicAuthContext {
  defaultToken: string
  nowSeconds: () => number
}

/**
 * authenticateRequest returns who a request is from: falcon's `Apitoken` header when there is one,
 * else `Authorization: Bearer` (an API token) or `Authorization: Basic` (name and password). No
 * credentials, or wrong ones, throw 401 (429 past the login limits).
 */
export async function authenticateRequest(
  ctx: RequestAuthContext,
  headers: { apitoken?: unknown; authorization?: unknown },
  address: string | undefined
): Promise<AuthUser> {
  const { authorization } = headers
  if (headers.apitoken !== undefined || typeof authorization !== 'string' || authorization === '') {
    if (headers.apitoken === undefined) {
      throw unauthorized(
        'no credentials: send an Apitoken header (log in with POST /api/v1/user/login), Authorization: Bearer with an API token, or Authorization: Basic'
      )
    }
    return authenticate(ctx.store, headers.apitoken, ctx.defaultToken, ctx.nowSeconds())
  }
  const space = authorization.indexOf(' ')
  const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase()
  const value = space < 0 ? '' : authorization.slice(space + 1).trim()
  if (scheme === 'bearer') return authenticateBearer(ctx.store, value, ctx.nowSeconds())
  if (scheme === 'basic') return authenticateBasic(ctx, value, address)
  throw unauthorized('Authorization: expected Bearer <API token> or Basic <base64 name:password>')
}
