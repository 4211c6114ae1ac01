// The Prometheus HTTP API's parameters, read as Prometheus 2.55's web/api/v1/api.go reads them: form
// values (POST body first, then the URL), times as Unix seconds or RFC 3339, durations as seconds or
// Prometheus durations, limits, and `match[]` selectors.
import { parseDuration as parsePromDuration, parseSelector } from '../../promql/index.js'
import { type Matcher, matcherTest } from '../../tsdb/index.js'
import { PromError } from './errors.js'

/**
 * Form is a request's parameters: every value of each name, the POST form's before the URL's, as Go's
 * `r.Form` holds them (`r.FormValue` is the first).
 */
export class Form {
  readonly #values = new Map<string, string[]>()

  constructor(...sources: unknown[]) {
    for (const source of sources) {
      if (typeof source !== 'object' || source === null) continue
      for (const [name, v] of Object.entries(source as Record<string, unknown>)) {
        const list = Array.isArray(v) ? v : [v]
        for (const item of list) {
          if (typeof item !== 'string') continue
          const have = this.#values.get(name)
          if (have === undefined) this.#values.set(name, [item])
          else have.push(item)
        }
      }
    }
  }

  /** value returns the first value of `name`, or '' when there is none (Go's FormValue). */
  value(name: string): string {
    return this.#values.get(name)?.[0] ?? ''
  }

  /** all returns every value of `name`. */
  all(name: string): readonly string[] {
    return this.#values.get(name) ?? []
  }
}

/**
 * MIN_TIME and MAX_TIME are the ends of an open time range, in ms: Prometheus's are ±292 million
 * years, past what a JavaScript number holds exactly, so here they are the safe integers' ends.
 */
export const MIN_TIME = Number.MIN_SAFE_INTEGER
export const MAX_TIME = Number.MAX_SAFE_INTEGER
/** Prometheus's MinTime and MaxTime as its clients send them (RFC 3339 with 9-digit years). */
const MIN_TIME_FORMATTED = '-292273086-05-16T16:47:06Z'
const MAX_TIME_FORMATTED = '292277025-08-18T07:12:54.999999999Z'

// Go's strconv.ParseFloat syntax for the times and durations clients send: decimal with an optional
// exponent; Inf and NaN parse but are refused after.
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/

/** parseGoFloat reads a number as Go's ParseFloat does the forms clients send, or undefined. */
function parseGoFloat(s: string): number | undefined {
  if (DECIMAL_RE.test(s)) return Number(s)
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity
  if (/^nan$/i.test(s)) return NaN
  return undefined
}

/**
 * parseTime reads a time as Prometheus does: Unix seconds with up to ms decimals (rounded to the ms),
 * RFC 3339 (`2024-05-01T10:00:00.5Z`, `+02:00`), or Prometheus's min/max time strings. It returns ms,
 * or throws a bad_data naming `param`.
 */
export function parseTime(s: string, param: string): number {
  const bad = () =>
    PromError.badParam(
      param,
      `Invalid time value for '${param}': cannot parse ${JSON.stringify(s)} to a valid timestamp`
    )
  const f = parseGoFloat(s)
  if (f !== undefined) {
    if (!Number.isFinite(f)) throw bad()
    // As Go's math.Modf and math.Round: the fraction keeps the sign, halves round away from zero.
    const whole = Math.trunc(f)
    const frac = (f - whole) * 1000
    const ms = whole * 1000 + Math.sign(frac) * Math.round(Math.abs(frac))
    if (ms < MIN_TIME || ms > MAX_TIME) throw bad()
    return ms
  }
  if (s === MIN_TIME_FORMATTED) return MIN_TIME
  if (s === MAX_TIME_FORMATTED) return MAX_TIME
  const m = RFC3339_RE.exec(s)
  if (m === null) throw bad()
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number)
  const base = Date.UTC(year, month - 1, day, hour, minute, second)
  const check = new Date(base)
  // Go refuses a day past its month's end (Feb 30) or an hour past 23; Date.UTC would roll over.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    check.getUTCHours() !== hour ||
    check.getUTCMinutes() !== minute ||
    check.getUTCSeconds() !== second
  )
    throw bad()
  // Sub-ms digits are dropped, as timestamp.FromTime does.
  const frac = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0').slice(0, 3))
  const offset = m[8] === undefined ? 0 : (Number(m[9]) * 60 + Number(m[10])) * 60_000
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) throw bad()
  return base + frac - (m[8] === '-' ? -offset : offset)
}

/** parseTimeParam reads the time parameter `name`, or `fallback` (ms) when it is absent or empty. */
export function parseTimeParam(form: Form, name: string, fallback: number): number {
  const v = form.value(name)
  return v === '' ? fallback : parseTime(v, name)
}

/**
 * parseDurationParam reads a duration as Prometheus's API does (`step`, `timeout`): float seconds
 * (`15`, `0.5`) or a Prometheus duration (`1m30s`). It returns ms (fractions kept), or throws a
 * bad_data naming `param`.
 */
export function parseDurationParam(s: string, param: string): number {
  const f = parseGoFloat(s)
  if (f !== undefined) {
    if (!Number.isFinite(f) || Math.abs(f) * 1e9 > 2 ** 63)
      throw PromError.badParam(
        param,
        `cannot parse ${JSON.stringify(s)} to a valid duration. It overflows int64`
      )
    return f * 1000
  }
  try {
    return parsePromDuration(s)
  } catch {
    throw PromError.badParam(param, `cannot parse ${JSON.stringify(s)} to a valid duration`)
  }
}

/** parseLimit reads `limit` (0 or absent: no limit), or throws a bad_data naming it. */
export function parseLimit(form: Form): number {
  const s = form.value('limit')
  if (s === '') return 0
  if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw PromError.badParam('limit', `strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`)
  }
  const n = Number(s)
  if (n < 0) throw PromError.badParam('limit', 'limit must be non-negative')
  return n
}

/**
 * parseMatchers reads `match[]` selectors (`up{job="x"}`, `{"cpu.idle"}`). Each must hold a matcher
 * that does not match the empty string, as Prometheus requires; else a bad_data, said as
 * `invalid parameter "match[]": …` when `named` (as /series says it) and bare otherwise.
 */
export function parseMatchers(selectors: readonly string[], named = false): Matcher[][] {
  const fail = (message: string) =>
    named ? PromError.badParam('match[]', message) : PromError.badData(message)
  const sets = selectors.map((s) => {
    try {
      return parseSelector(s)
    } catch (err) {
      throw fail((err as Error).message)
    }
  })
  for (const set of sets) {
    if (!set.some((m) => !matcherTest(m)(''))) {
      throw fail('match[] must contain at least one non-empty matcher')
    }
  }
  return sets
}
