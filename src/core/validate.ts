// Validation of pushed points exactly as Open-Falcon v0.3 transfer does it (receiver/rpc/rpc_transfer.go).

import { Buffer } from 'node:buffer'
import { PeregrineError } from './errors.js'
import type { MetricValue } from './model.js'

/** MAX_METRIC_TAGS_BYTES is transfer's limit on UTF-8 bytes of `metric` plus the raw `tags` string. */
export const MAX_METRIC_TAGS_BYTES = 510

/**
 * MAX_ENDPOINT_CHARS bounds an endpoint. Falcon's transfer takes any length, but its graph index
 * (MySQL `endpoint varchar(255)`) holds 255 characters; here an endpoint is a label every regex
 * matcher is tested against, in time that grows with its length, so a longer one is refused.
 */
export const MAX_ENDPOINT_CHARS = 255

/** ValidateResult is what `validateMetricValue` returns: the checked point, or why it was refused. */
export type ValidateResult = { ok: true; value: MetricValue } | { ok: false; error: PeregrineError }

/** BatchError is one refused item of a batch, with its index in the input array. */
export interface BatchError {
  index: number
  error: PeregrineError
}

/** BatchResult is what `validateBatch` returns: accepted points, the count refused, the first errors. */
export interface BatchResult {
  valid: MetricValue[]
  invalid: number
  errors: BatchError[]
  /** invalidAt: the input index of every refused item, ascending (to map `valid` back to the input). */
  invalidAt: number[]
  /**
   * plain: every item held falcon's field names exactly and nothing else (no key matched by case
   * folding, no field transfer ignores): what a relay may forward as it came.
   */
  plain: boolean
}

/**
 * validateMetricValue checks one decoded JSON item with transfer's rules, in transfer's order, and
 * returns a fresh `MetricValue` (tags kept raw: callers normalise) or a `PG_CORE_INVALID_FIELD` error
 * with status 400 whose message names the field. A bad `timestamp` number (missing, not an integer,
 * `<= 0` or `> 2 * nowSeconds`) is replaced by `nowSeconds`, as falcon does, not refused. Never throws.
 */
export function validateMetricValue(raw: unknown, nowSeconds: number): ValidateResult {
  const r = check(raw, nowSeconds)
  return typeof r === 'string' ? { ok: false, error: invalidField(r) } : { ok: true, value: r }
}

/**
 * validateBatch validates every item of a pushed batch (`Transfer.Update` params, `/api/push` body).
 * Bad items are counted in `invalid` (falcon's `TransferResponse.Invalid`) and the first `maxErrors`
 * are kept with their index; a bad item never fails the batch. Throws `PG_CORE_INVALID_FIELD` (400)
 * only when `raw` is not an array.
 */
export function validateBatch(raw: unknown, nowSeconds: number, maxErrors = 10): BatchResult {
  if (!Array.isArray(raw)) {
    throw new PeregrineError(
      'PG_CORE_INVALID_FIELD',
      'body: expected a JSON array of MetricValue',
      {
        status: 400,
      }
    )
  }
  const items = raw as readonly unknown[]
  const valid: MetricValue[] = []
  const errors: BatchError[] = []
  const invalidAt: number[] = []
  const shape = { plain: true }
  for (let i = 0; i < items.length; i++) {
    const r = check(items[i], nowSeconds, shape)
    if (typeof r !== 'string') {
      valid.push(r)
      continue
    }
    invalidAt.push(i)
    // Errors capture a stack, so only the ones the caller will log are built.
    if (errors.length < maxErrors) errors.push({ index: i, error: invalidField(r) })
  }
  return { valid, invalid: invalidAt.length, errors, invalidAt, plain: shape.plain }
}

/**
 * inputIndex maps an index among the items a batch kept back to the item's index in the input, given
 * the input indices of the items dropped (`skipped`, ascending). Callers map indices in ascending order
 * with one mapper: it keeps its place in `skipped`.
 */
export function inputIndex(skipped: readonly number[]): (kept: number) => number {
  let s = 0
  return (kept) => {
    while (s < skipped.length && skipped[s] <= kept + s) s++
    return kept + s
  }
}

function invalidField(message: string): PeregrineError {
  return new PeregrineError('PG_CORE_INVALID_FIELD', message, { status: 400 })
}

// check returns the validated point, or the refusal message; a string keeps the refusal path free of
// Error objects until a caller wants one.
function check(raw: unknown, now: number, shape?: { plain: boolean }): MetricValue | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return 'item: expected an object, got ' + describe(raw)
  }
  const item = goFields(raw as Record<string, unknown>)
  if (shape !== undefined && item !== raw) shape.plain = false

  const metric = item.metric
  // Old agents sent kernel.hostname with a string value; transfer hard-codes dropping it.
  if (metric === 'kernel.hostname') return 'metric: "kernel.hostname" is a legacy metric, dropped'
  if (typeof metric !== 'string' || metric === '') {
    return 'metric: must be a non-empty string, got ' + describe(metric)
  }
  const endpoint = item.endpoint
  if (typeof endpoint !== 'string' || endpoint === '') {
    return 'endpoint: must be a non-empty string, got ' + describe(endpoint)
  }
  if (endpoint.length > MAX_ENDPOINT_CHARS && [...endpoint].length > MAX_ENDPOINT_CHARS) {
    return `endpoint: at most ${MAX_ENDPOINT_CHARS} characters (falcon's graph index holds ${MAX_ENDPOINT_CHARS}), got ${[...endpoint].length}`
  }

  const counterType = item.counterType
  if (counterType !== 'GAUGE' && counterType !== 'COUNTER' && counterType !== 'DERIVE') {
    return `counterType: ${describe(counterType)} is not one of GAUGE, COUNTER, DERIVE (case-sensitive)`
  }

  // Go refuses value "" here but parses the string only after the step and size checks; the same items
  // are refused either way, only the message of an item with several faults differs.
  const rawValue = item.value
  let value: number
  if (typeof rawValue === 'number') {
    // JSON.parse turns 1e400 into Infinity where Go's decoder fails; only finite numbers are real input.
    if (!Number.isFinite(rawValue)) return `value: ${describe(rawValue)} is out of float64 range`
    value = rawValue
  } else if (typeof rawValue === 'string') {
    const v = parseGoFloat(rawValue)
    if (v === undefined) {
      return `value: ${describe(rawValue)} is not a number (Go strconv.ParseFloat syntax)`
    }
    value = v
  } else {
    return 'value: expected a number or a numeric string, got ' + describe(rawValue)
  }

  const step = item.step
  // Go decodes step into an int64: a string or a fraction fails its decode, a missing step is 0.
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step <= 0) {
    return 'step: must be a positive integer, got ' + describe(step)
  }

  const rawTags = item.tags
  let tags = ''
  if (typeof rawTags === 'string') tags = rawTags
  else if (rawTags !== undefined && rawTags !== null) {
    // JSON null leaves a Go string at "", so only other types are refused.
    return 'tags: expected a string k1=v1,k2=v2, got ' + describe(rawTags)
  }

  // A UTF-16 unit never takes more than 3 UTF-8 bytes, so short strings need no byte count.
  if ((metric.length + tags.length) * 3 > MAX_METRIC_TAGS_BYTES) {
    const bytes = Buffer.byteLength(metric) + Buffer.byteLength(tags)
    if (bytes > MAX_METRIC_TAGS_BYTES) {
      return `metric+tags: ${bytes} bytes of UTF-8, more than the ${MAX_METRIC_TAGS_BYTES} allowed`
    }
  }

  // Falcon silently replaces a missing (Go zero), non-positive or far-future timestamp by now.
  const ts = item.timestamp
  let timestamp = now
  if (typeof ts === 'number') {
    // Go's int64 decode fails on a fraction (the whole batch); refusing the item is the kinder equivalent.
    if (!Number.isInteger(ts))
      return 'timestamp: expected integer unix seconds, got ' + describe(ts)
    if (ts > 0 && ts <= 2 * now) timestamp = ts
  } else if (ts !== undefined && ts !== null) {
    // Go's int64 decode would fail the whole batch here; refusing the item is the kinder equivalent.
    return 'timestamp: expected unix seconds as a JSON number, got ' + describe(ts)
  }

  // An agent's item as it came, every field present and already what falcon would make of it, is the
  // point itself: one object fewer per point on the ingest path. Nothing downstream changes a point.
  if (item === raw && value === rawValue && tags === rawTags && timestamp === ts) {
    return item as unknown as MetricValue
  }
  return { endpoint, metric, value, step, counterType, tags, timestamp }
}

const FIELDS = ['endpoint', 'metric', 'value', 'step', 'counterType', 'tags', 'timestamp']
const FIELD_BY_FOLDED = new Map(FIELDS.map((f) => [f.toLowerCase(), f]))
const EXACT_FIELDS = new Set(FIELDS)

// goFields returns the item with falcon's field names as Go's encoding/json matches them: an exact key,
// else any key equal under case folding (`Metric`, `COUNTERTYPE`, `ſtep`), the last such key winning.
// Agents send the exact names, so the common case returns the item itself without copying.
function goFields(item: Record<string, unknown>): Record<string, unknown> {
  let exact = true
  for (const key in item) {
    if (!EXACT_FIELDS.has(key)) {
      exact = false
      break
    }
  }
  if (exact) return item
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(item)) {
    // toLowerCase folds K (Kelvin) to k but leaves the long s alone; Go's EqualFold takes both.
    const field = FIELD_BY_FOLDED.get(key.toLowerCase().replaceAll('ſ', 's'))
    if (field !== undefined) out[field] = item[key]
  }
  return out
}

const QUOTE_MAX = 40

// describe renders a bad value briefly for a message: strings quoted and cut, containers by kind.
function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (typeof v === 'string') {
    return JSON.stringify(v.length > QUOTE_MAX ? v.slice(0, QUOTE_MAX) + '…' : v)
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : 'a ' + typeof v
}

const SPECIAL_RE = /^(?:[+-]?inf(?:inity)?|nan)$/i

const C_PLUS = 0x2b
const C_MINUS = 0x2d
const C_DOT = 0x2e
const C_0 = 0x30
const C_9 = 0x39
const C_UNDERSCORE = 0x5f
const C_LOWER_A = 0x61
const C_LOWER_E = 0x65
const C_LOWER_F = 0x66
const C_LOWER_P = 0x70
const C_LOWER_X = 0x78

// Go stops adding exponent digits once the exponent reaches this, so "1e400000" is just "very big".
const GO_EXP_CAP = 10000

/**
 * parseGoFloat parses `s` as Go's `strconv.ParseFloat(s, 64)` does and returns `undefined` wherever Go
 * returns an error: syntax errors (empty, spaces, trailing garbage) and ErrRange (a finite literal that
 * rounds to ±Inf, like `1e400`). Accepts decimal and hex (`0x1p-2`) forms, a leading sign, `_` between
 * digits where Go allows it, and case-insensitive `NaN`, `Inf`, `Infinity` (signed, except NaN).
 * Results are correctly rounded, as Go's are; values that underflow become ±0 without an error.
 */
export function parseGoFloat(s: string): number | undefined {
  const n = s.length
  if (n === 0) return undefined

  let i = 0
  let neg = false
  let c = s.charCodeAt(0)
  if (c === C_PLUS || c === C_MINUS) {
    neg = c === C_MINUS
    i = 1
  }
  c = i < n ? s.charCodeAt(i) | 0x20 : 0
  if (c === 0x69 || c === 0x6e) {
    // 'i' or 'n': only the special words can start this way.
    if (!SPECIAL_RE.test(s)) return undefined
    if (c === 0x6e) return NaN
    return neg ? -Infinity : Infinity
  }

  // A port of Go's readFloat: scan, remember where the mantissa ends and what the exponent is.
  let hex = false
  if (i + 2 < n && s.charCodeAt(i) === C_0 && (s.charCodeAt(i + 1) | 0x20) === C_LOWER_X) {
    hex = true
    i += 2
  }
  const mantStart = i
  let underscores = false
  let sawDot = false
  let sawDigits = false
  let fracDigits = 0
  for (; i < n; i++) {
    c = s.charCodeAt(i)
    if (c === C_UNDERSCORE) {
      underscores = true
    } else if (c === C_DOT) {
      if (sawDot) break
      sawDot = true
    } else if (
      (c >= C_0 && c <= C_9) ||
      (hex && (c | 0x20) >= C_LOWER_A && (c | 0x20) <= C_LOWER_F)
    ) {
      sawDigits = true
      if (sawDot) fracDigits++
    } else {
      break
    }
  }
  if (!sawDigits) return undefined
  const mantEnd = i

  let exp = 0
  let expCapped = false
  if (i < n && (s.charCodeAt(i) | 0x20) === (hex ? C_LOWER_P : C_LOWER_E)) {
    i++
    let esign = 1
    c = i < n ? s.charCodeAt(i) : 0
    if (c === C_PLUS || c === C_MINUS) {
      if (c === C_MINUS) esign = -1
      i++
    }
    c = i < n ? s.charCodeAt(i) : 0
    if (c < C_0 || c > C_9) return undefined
    for (; i < n; i++) {
      c = s.charCodeAt(i)
      if (c === C_UNDERSCORE) {
        underscores = true
        continue
      }
      if (c < C_0 || c > C_9) break
      if (exp < GO_EXP_CAP) exp = exp * 10 + (c - C_0)
      else expCapped = true
    }
    exp *= esign
  } else if (hex) {
    return undefined
  }
  if (i !== n) return undefined
  if (underscores && !underscoreOK(s)) return undefined

  let f: number
  if (hex) {
    f = hexToFloat(s, mantStart, mantEnd, fracDigits, exp)
  } else if (!underscores && !expCapped) {
    // JS number syntax is a superset of what the scan above let through, and V8 rounds correctly.
    f = Number(s)
  } else {
    let mant = s.slice(0, mantEnd)
    if (underscores) mant = mant.replaceAll('_', '')
    f = Number(mant + 'e' + exp)
  }
  if (f === Infinity || f === -Infinity) return undefined
  return hex && neg ? -f : f
}

// underscoreOK is Go's rule: an underscore only between digits, or between the 0x prefix and a digit.
function underscoreOK(s: string): boolean {
  // saw: 0 start, 1 digit or base prefix, 2 underscore, 3 anything else.
  let saw = 0
  let i = 0
  const n = s.length
  if (n >= 1 && (s.charCodeAt(0) === C_PLUS || s.charCodeAt(0) === C_MINUS)) i = 1
  let hex = false
  if (n - i >= 2 && s.charCodeAt(i) === C_0) {
    const p = s.charCodeAt(i + 1) | 0x20
    if (p === 0x62 || p === 0x6f || p === C_LOWER_X) {
      hex = p === C_LOWER_X
      i += 2
      saw = 1
    }
  }
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if ((c >= C_0 && c <= C_9) || (hex && (c | 0x20) >= C_LOWER_A && (c | 0x20) <= C_LOWER_F)) {
      saw = 1
      continue
    }
    if (c === C_UNDERSCORE) {
      if (saw !== 1) return false
      saw = 2
      continue
    }
    if (saw === 2) return false
    saw = 3
  }
  return saw !== 2
}

// hexToFloat converts the magnitude of an already-validated hex float: the digits in s[start, end),
// times 2^exp. Rare on the wire, so it takes the exact BigInt route and rounds half to even once, at
// the precision the result has (normal or subnormal), as Go's atofHex does.
function hexToFloat(
  s: string,
  start: number,
  end: number,
  fracDigits: number,
  exp: number
): number {
  let digits = ''
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c !== C_DOT && c !== C_UNDERSCORE) digits += s[i]
  }
  let m = BigInt('0x' + digits)
  if (m === 0n) return 0
  let e = exp - 4 * fracDigits
  const top = m.toString(2).length - 1 + e
  if (top > 1023) return Infinity
  // Below half the smallest subnormal, or exactly half of it (ties to even): zero.
  if (top < -1075) return 0
  const lsb = Math.max(top - 52, -1074)
  const shift = lsb - e
  if (shift > 0) {
    const sh = BigInt(shift)
    const rem = m & ((1n << sh) - 1n)
    const half = 1n << (sh - 1n)
    m >>= sh
    if (rem > half || (rem === half && (m & 1n) === 1n)) m++
    e = lsb
  }
  // m now has at most 54 bits and e >= -1074, so the product is exact or overflows to Infinity.
  return Number(m) * 2 ** e
}
