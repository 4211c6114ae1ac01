// Users' passwords and sessions, and the `Apitoken` header (falcon's helper/session.go), made safe:
// passwords are scrypt hashes (a falcon md5(salt+password) is still accepted once, then re-hashed),
// sessions expire, failed logins are rate-limited, blocked users (role -1) are refused.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { addressKey, type Logger, PeregrineError } from '../core/index.js'
import type { Store } from '../store/index.js'
import { unauthorized } from './http-errors.js'

/** Roles as falcon numbers them. */
export const ROLE = { blocked: -1, user: 0, admin: 1, root: 2 } as const

/** AuthUser is who a request acts as. `service` marks the defaultToken (Peregrine's own components). */
export interface AuthUser {
  id: number
  name: string
  role: number
  service: boolean
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
    return { id: 0, name, role: ROLE.admin, service: true }
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
  return { id: row.id, name: row.name, role: row.role, service: false }
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
