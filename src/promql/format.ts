// Prometheus's text forms: durations ("1h30m"), float values ("0.1", "+Inf"), Go string quoting and unquoting.
import { PeregrineError } from '../core/index.js'

const UNIT_MS: Readonly<Record<string, number>> = {
  y: 365 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
}

const DURATION_RE =
  /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/

/** parseDurationOrUndefined is Prometheus's model.ParseDuration, in ms; undefined where it errs. */
export function parseDurationOrUndefined(s: string): number | undefined {
  if (s === '0') return 0
  if (s === '') return undefined
  const m = DURATION_RE.exec(s)
  if (m === null) return undefined
  const units = ['y', 'w', 'd', 'h', 'm', 's', 'ms']
  let ms = 0
  for (let i = 0; i < units.length; i++) {
    const g = m[i + 1]
    if (g !== undefined) ms += Number(g) * UNIT_MS[units[i]]
  }
  // int64 nanoseconds overflow, as Go's time.Duration.
  if (ms > 9223372036854) return undefined
  return ms
}

/**
 * parseDuration reads a Prometheus duration ("1h30m", "5m", "1d", "1w", "1y", "500ms", "0") into ms.
 * Throws PG_PROMQL_BAD_QUERY naming the text when it is not one.
 */
export function parseDuration(s: string): number {
  const ms = parseDurationOrUndefined(s)
  if (ms === undefined) {
    throw new PeregrineError(
      'PG_PROMQL_BAD_QUERY',
      s === '' ? 'empty duration string' : `not a valid duration string: ${JSON.stringify(s)}`,
      { status: 400 }
    )
  }
  return ms
}

/** formatDuration prints ms as Prometheus's model.Duration.String(): "1h30m", "5m", "0s", "1w", "90d". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = Math.trunc(ms)
  let out = ''
  const f = (unit: string, mult: number, exact: boolean): void => {
    if (exact && rest % mult !== 0) return
    const v = Math.floor(rest / mult)
    if (v > 0) {
      out += `${v}${unit}`
      rest -= v * mult
    }
  }
  f('y', UNIT_MS.y, true)
  f('w', UNIT_MS.w, true)
  f('d', UNIT_MS.d, false)
  f('h', UNIT_MS.h, false)
  f('m', UNIT_MS.m, false)
  f('s', UNIT_MS.s, false)
  f('ms', 1, false)
  return out
}

/**
 * formatFloat prints a value as Prometheus's API does (Go's strconv.FormatFloat(v, 'f', -1, 64)): the
 * shortest digits that read back the same, never in exponent form; "+Inf", "-Inf", "NaN".
 */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  if (v === 0) return Object.is(v, -0) ? '-0' : '0'
  const a = Math.abs(v)
  if (a >= 1e-6 && a < 1e21) return String(v)
  const [mant, expText] = v.toExponential().split('e')
  const neg = mant.startsWith('-')
  const digits = mant.replace('-', '').replace('.', '')
  const exp = Number(expText)
  let out: string
  if (exp >= 0) {
    out = digits.length - 1 <= exp ? digits + '0'.repeat(exp - (digits.length - 1)) : digits
  } else {
    out = '0.' + '0'.repeat(-exp - 1) + digits
  }
  return neg ? '-' + out : out
}

/** goQuote is Go's strconv.Quote (fmt's %q) of a string: double quotes, Go escapes. */
export function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0) as number
    switch (ch) {
      case '"':
        out += '\\"'
        continue
      case '\\':
        out += '\\\\'
        continue
      case '\x07':
        out += '\\a'
        continue
      case '\b':
        out += '\\b'
        continue
      case '\f':
        out += '\\f'
        continue
      case '\n':
        out += '\\n'
        continue
      case '\r':
        out += '\\r'
        continue
      case '\t':
        out += '\\t'
        continue
      case '\v':
        out += '\\v'
        continue
    }
    if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0')
    else if (c >= 0x80 && c < 0xa0) out += '\\u' + c.toString(16).padStart(4, '0')
    else if (c === 0xfffd && ch !== '\ufffd') out += '\\ufffd'
    else out += ch
  }
  return out + '"'
}

/**
 * goUnquote reads a PromQL string literal as Prometheus's strutil.Unquote: "…" and '…' with Go's escapes
 * (\a \b \f \n \r \t \v \\ \' \" \xHH \ooo \uHHHH \UHHHHHHHH), `…` raw. Returns an error text on failure.
 */
export function goUnquote(s: string): { value: string } | { error: string } {
  const n = s.length
  if (n < 2) return { error: 'invalid syntax' }
  const q = s[0]
  if (q !== s[n - 1]) return { error: 'invalid syntax' }
  const body = s.slice(1, n - 1)
  if (q === '`') {
    if (body.includes('`')) return { error: 'invalid syntax' }
    return { value: body.replace(/\r/g, '') }
  }
  if (q !== '"' && q !== "'") return { error: 'invalid syntax' }
  if (!body.includes('\\') && !body.includes(q) && !body.includes('\n')) return { value: body }
  let out = ''
  const bytes: number[] = []
  const flushBytes = (): void => {
    if (bytes.length > 0) {
      out += Buffer.from(bytes).toString('utf8')
      bytes.length = 0
    }
  }
  for (let i = 0; i < body.length;) {
    const c = body[i]
    if (c === q || c === '\n') return { error: 'invalid syntax' }
    if (c !== '\\') {
      flushBytes()
      out += c
      i++
      continue
    }
    const e = body[i + 1]
    if (e === undefined) return { error: 'invalid syntax' }
    i += 2
    const simple: Record<string, string> = {
      a: '\x07',
      b: '\b',
      f: '\f',
      n: '\n',
      r: '\r',
      t: '\t',
      v: '\v',
      '\\': '\\',
    }
    if (e in simple) {
      flushBytes()
      out += simple[e]
      continue
    }
    if (e === "'" || e === '"') {
      if (e !== q) return { error: 'invalid syntax' }
      flushBytes()
      out += e
      continue
    }
    if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8
      const hex = body.slice(i, i + len)
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) return { error: 'invalid syntax' }
      i += len
      const v = parseInt(hex, 16)
      if (e === 'x') {
        bytes.push(v)
        continue
      }
      if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return { error: 'invalid syntax' }
      flushBytes()
      out += String.fromCodePoint(v)
      continue
    }
    if (e >= '0' && e <= '7') {
      const oct = body.slice(i - 1, i + 2)
      if (!/^[0-7]{3}$/.test(oct)) return { error: 'invalid syntax' }
      const v = parseInt(oct, 8)
      if (v > 255) return { error: 'invalid syntax' }
      i += 2
      bytes.push(v)
      continue
    }
    return { error: 'invalid syntax' }
  }
  flushBytes()
  return { value: out }
}
