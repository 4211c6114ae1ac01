// What every portal route handler is given, the auth levels routes declare, and helpers they share.
import type { FastifyRequest } from 'fastify'
import type { Logger } from '../core/index.js'
import type { Store } from '../store/index.js'
import type { AuthUser, BasicAuthCache, LoginLimiter } from './auth.js'
import { isAdmin } from './auth.js'
import type { ApiConfig } from './config.js'
import { badRequest, forbidden, HttpError, unauthorized } from './http-errors.js'

/**
 * Auth is what a route needs: `open` (no Apitoken; falcon's 🔓 routes), `user` (any valid Apitoken, the
 * default) or `admin` (role ≥ 1). Routes declare it as `{ config: { auth: 'admin' } }`.
 */
export type Auth = 'open' | 'user' | 'admin'

declare module 'fastify' {
  interface FastifyRequest {
    /** user: who the Apitoken stands for; set on every route whose auth is not `open`. */
    user?: AuthUser
  }
  interface FastifyContextConfig {
    auth?: Auth
    /**
     * readOnly: the route only reads, whatever its method (a query sent as a POST form), so a
     * read-only caller (a `read` API token, HTTP Basic) may call it. GET and HEAD always are.
     */
    readOnly?: boolean
  }
}

/** PortalContext is what the portal route groups share. */
export interface PortalContext {
  store: Store
  config: Readonly<ApiConfig>
  log: Logger
  /** now in ms (tests pass their own clock). */
  now: () => number
  limiter: LoginLimiter
  /** basicCache: name and password pairs verified lately (HTTP Basic). */
  basicCache: BasicAuthCache
}

/** userOf returns the request's user; a route reached without one is a wiring bug, answered 401. */
export function userOf(req: FastifyRequest): AuthUser {
  if (req.user === undefined) throw unauthorized('this route needs an Apitoken header')
  return req.user
}

/**
 * mayChange applies falcon's creator rule: admins change anything; others only what they created
 * (`creator` is the creating user's name, or id for teams).
 */
export function mayChange(user: AuthUser, creator: string | number): boolean {
  if (isAdmin(user)) return true
  return typeof creator === 'number' ? creator === user.id : creator === user.name
}

/** assertMayChange throws 403 unless mayChange. */
export function assertMayChange(user: AuthUser, creator: string | number, what: string): void {
  if (!mayChange(user, creator)) {
    throw forbidden(`${what}: only its creator or an admin may change it`)
  }
}

/** Page is a LIMIT/OFFSET. */
export interface Page {
  limit: number
  offset: number
}

/**
 * pageOf reads falcon's `page` (from 1) and `limit` query parameters. Without `page` the first
 * `defaultLimit` rows are returned; bad values are a 400 naming the parameter.
 */
export function pageOf(query: unknown, defaultLimit = 500, maxLimit = 10_000): Page {
  const q = (query ?? {}) as Record<string, unknown>
  const num = (name: string, fallback: number) => {
    const v = q[name]
    if (v === undefined || v === '') return fallback
    const n = typeof v === 'string' ? Number(v) : NaN
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw badRequest(`${name}: expected a positive integer, got ${JSON.stringify(v)}`)
    }
    return n
  }
  const limit = Math.min(num('limit', defaultLimit), maxLimit)
  const page = num('page', 1)
  const offset = (page - 1) * limit
  // Past 2^53 the offset is no longer exact, and neither engine takes it as an integer.
  if (!Number.isSafeInteger(offset)) {
    throw badRequest(`page: expected at most ${Math.floor(Number.MAX_SAFE_INTEGER / limit)}`)
  }
  return { limit, offset }
}

/** idParam reads a positive integer path or query parameter, or throws 400 naming it. */
export function idParam(params: unknown, name: string): number {
  const v = (params as Record<string, unknown> | undefined)?.[name]
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : typeof v === 'number' ? v : NaN
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw badRequest(`${name}: expected a positive integer id, got ${JSON.stringify(v ?? null)}`)
  }
  return n
}

/** isUniqueViolation tells a duplicate key on either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown }
  return e.code === 'ER_DUP_ENTRY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.errno === 1062
}

/** insertedId reads Kysely's insertId (a bigint on both engines) as a number. */
export function insertedId(result: { insertId?: bigint }): number {
  if (result.insertId === undefined) throw new HttpError(500, 'the store returned no id')
  return Number(result.insertId)
}

/** message is falcon's success-with-text shape. */
export const message = (text: string) => ({ message: text })

/** NAME_LEN bounds the names a `q` pattern is matched against (the longest name column is 255). */
const NAME_LEN = 256
/**
 * MAX_PATHS bounds the match attempts a `q` pattern may make on one name (see matchPaths): about
 * 2^26 backtracking steps, tens of milliseconds, which `.*x.*y` needs and `.*x.*y.*z` exceeds.
 */
const MAX_PATHS = 2 ** 26
/** MATCH_BUDGET_MS bounds the time one request spends matching `q` against names. */
const MATCH_BUDGET_MS = 1000

const UNSAFE_Q =
  'q: expected a simpler regular expression (at most two unbounded repeats like .* or [0-9]+, ' +
  'and no repeated group that itself repeats or branches)'

/**
 * searchRegExp compiles falcon's `q` filter (a regular expression; falcon's default `.+` matches all).
 * It returns null for no filter, or throws 400 for a bad or possibly exponential pattern: a group that
 * holds a quantifier or `|` may not itself be repeated, which rules out `(a+)+` and `(a|a)*`, and the
 * ways the pattern can try to match one name are bounded, which rules out `a*a*a*b` and `a?a?…a?aa…a`.
 */
export function searchRegExp(q: unknown, flags = ''): RegExp | null {
  if (q === undefined || q === '' || q === '.+' || q === '.*') return null
  if (typeof q !== 'string') throw badRequest('q: give it once, as a string')
  if (q.length > 256) throw badRequest('q: expected at most 256 characters')
  if (matchPaths(q) > MAX_PATHS) throw badRequest(UNSAFE_Q)
  try {
    return new RegExp(q, flags)
  } catch (err) {
    throw badRequest(`q: ${(err as Error).message}`)
  }
}

// matchPaths estimates how many ways a backtracking matcher may try pattern `p` against one name
// of NAME_LEN characters: the product over a sequence, the sum over alternatives, a repeat's count
// of lengths (times its group's own ways to the power of the count: exponential when that group
// repeats or branches), and NAME_LEN start positions. Escapes and classes count as one character;
// syntax errors are left to RegExp.
function matchPaths(p: string): number {
  // done: the ways of the finished alternatives; prev: of the current one before its last atom;
  // last: of that last atom, which a following quantifier repeats (null: nothing to repeat).
  const stack = [{ done: 0, prev: 1, last: null as number | null }]
  const atom = (ways: number) => {
    const f = stack[stack.length - 1]
    f.prev *= f.last ?? 1
    f.last = ways
  }
  for (let i = 0; i < p.length; i++) {
    const f = stack[stack.length - 1]
    const ch = p[i]
    const rep = repeatAt(p, i)
    if (rep !== null) {
      i += rep.length - 1
      if (p[i + 1] === '?') i++ // lazy
      if (f.last !== null) {
        const top = Math.max(Math.min(rep.max, NAME_LEN), rep.min)
        f.last = (top - rep.min + 1) * f.last ** top
      }
    } else if (ch === '\\') {
      i++
      atom(1)
    } else if (ch === '[') {
      for (i++; i < p.length && p[i] !== ']'; i++) if (p[i] === '\\') i++
      atom(1)
    } else if (ch === '(') {
      stack.push({ done: 0, prev: 1, last: null })
      if (p[i + 1] === '?') i++
    } else if (ch === ')') {
      if (stack.length === 1) return 1 // unbalanced: RegExp reports it
      const g = stack.pop()!
      atom(g.done + g.prev * (g.last ?? 1))
    } else if (ch === '|') {
      f.done += f.prev * (f.last ?? 1)
      f.prev = 1
      f.last = null
    } else {
      atom(1)
    }
  }
  const root = stack[0]
  return (root.done + root.prev * (root.last ?? 1)) * NAME_LEN
}

// repeatAt reads the quantifier at p[i] (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`; another `{` is a
// literal), with NAME_LEN standing for unbounded; null if there is none.
function repeatAt(p: string, i: number): { min: number; max: number; length: number } | null {
  const ch = p[i]
  if (ch === '*') return { min: 0, max: NAME_LEN, length: 1 }
  if (ch === '+') return { min: 1, max: NAME_LEN, length: 1 }
  if (ch === '?') return { min: 0, max: 1, length: 1 }
  const m = ch === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i)) : null
  if (m === null) return null
  const min = Number(m[1])
  const max = m[2] === undefined ? min : m[3] === '' ? NAME_LEN : Number(m[3])
  return { min, max, length: m[0].length }
}

/**
 * filterByName keeps the rows whose `key` matches `re` (null keeps all), in order. Matching stops
 * with 400 once it has taken `budgetMs`: a request must not hold the event loop for long.
 */
export function filterByName<K extends string, Row extends Record<K, string>>(
  rows: readonly Row[],
  re: RegExp | null,
  key: K,
  budgetMs = MATCH_BUDGET_MS
): Row[] {
  if (re === null) return [...rows]
  const start = performance.now()
  return rows.filter((row) => {
    if (performance.now() - start >= budgetMs) {
      throw badRequest(`q: matching took over ${budgetMs} ms; use a simpler pattern`)
    }
    return re.test(row[key])
  })
}

/** Search is a list request's `q` (compiled; null matches all) and page. */
export interface Search {
  re: RegExp | null
  page: Page
}

/**
 * searchOf reads a list request's falcon `q`, matched case-insensitively as MySQL's default
 * collation compares, and its `page` and `limit` (see pageOf).
 */
export function searchOf(query: unknown, defaultLimit?: number): Search {
  const q = (query ?? {}) as Record<string, unknown>
  return { re: searchRegExp(q.q, 'i'), page: pageOf(q, defaultLimit) }
}

/** Pageable is the part of an ordered Kysely select that searchPage runs. */
export interface Pageable<Row> {
  limit(limit: number): Pageable<Row>
  offset(offset: number): Pageable<Row>
  execute(): Promise<Row[]>
}

/**
 * searchPage runs `query` (ordered) for one page of the rows whose `key` matches `search.re`.
 * Without a pattern the store pages; with one, neither engine has a portable REGEXP, so every
 * row the query selects is matched here and the page cut out of the matches.
 */
export async function searchPage<K extends string, Row extends Record<K, string>>(
  query: Pageable<Row>,
  key: K,
  search: Search
): Promise<Row[]> {
  const { re, page } = search
  if (re === null) return query.limit(page.limit).offset(page.offset).execute()
  const rows = filterByName(await query.execute(), re, key)
  return rows.slice(page.offset, page.offset + page.limit)
}
