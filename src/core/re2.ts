// Go's RE2 regular expressions (Prometheus's label matchers, PromQL's label_replace) in JavaScript's engine.
import { setFlagsFromString } from 'node:v8'
import { PeregrineError } from './errors.js'

// The `l` flag (linear-time matching) exists behind this V8 flag in Node 20; setting it changes nothing
// for other regular expressions.
setFlagsFromString('--enable-experimental-regexp-engine')

/**
 * MAX_REPEATS bounds the repetition operators of a pattern. V8's linear engine takes, per character
 * tested, time in proportion to the pattern's repeated parts: on the development machine `.*` 64 times
 * took 4 ms to test against 100 characters, 500 times 30 ms, and `(a|b)*` 4,000 times 57 s. At 128 a
 * test of 1,000 characters stays within about 0.2 s, and a select checks its deadline between tests.
 */
export const MAX_REPEATS = 128

/**
 * literalAlternatives reads a pattern that is only literal strings joined by `|` (in one optional
 * pair of parentheses, metacharacters escaped with `\`), as Grafana writes a multi-value variable,
 * into the set of those strings; null for any other pattern. Anchored, such a regex matches exactly
 * the strings of the set: a lookup, however long the pattern (Prometheus's FastRegexMatcher does the
 * same).
 */
export function literalAlternatives(pattern: string): Set<string> | null {
  let body = pattern
  if (body.startsWith('(') && body.endsWith(')') && !body.startsWith('(?')) body = body.slice(1, -1)
  const out = new Set<string>()
  let cur = ''
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c === '\\') {
      const n = body[i + 1]
      // An escaped letter or digit is a class or an assertion (\d, \b, \1): not a literal.
      if (n === undefined || /[0-9A-Za-z]/.test(n)) return null
      cur += n
      i++
    } else if (c === '|') {
      out.add(cur)
      cur = ''
    } else if ('.+*?()[]{}^$'.includes(c)) return null
    else cur += c
  }
  out.add(cur)
  return out
}

/**
 * compileRe2 compiles a Go RE2 pattern into a JavaScript RegExp, anchored at both ends when `anchored`
 * (Prometheus anchors matchers). What differs is translated: leading flag groups `(?i)`, `(?s)`, `(?m)`; `(?i)` and `(?i:…)` inside the pattern;
 * named groups `(?P<name>…)`; `\z`, `\A`; `\Q…\E` literals. What RE2 has no equivalent for in JS
 * (`(?U)`, flags other than `i` inside the pattern) and what JS has that RE2 refuses (look-around, back
 * references) is an error naming the pattern, as Prometheus answers such a regex with bad_data; so is
 * a pattern of more than MAX_REPEATS repetition operators.
 */
export function compileRe2(pattern: string, anchored: boolean): RegExp {
  let flags = ''
  let leadingCi = false
  let body = pattern
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(body)
    if (m === null) break
    for (const f of m[1]) {
      if (f === 'U') throw badRegex(pattern, 'the ungreedy flag (?U) is not supported')
      // V8's linear engine has no `i` flag: case folding is written into the pattern (below).
      if (f === 'i') leadingCi = true
      else if (!flags.includes(f)) flags += f
    }
    body = body.slice(m[0].length)
  }
  let out = ''
  // Case-insensitive scopes inside the pattern ((?i) to the end of its group, (?i:…)) have no JS
  // equivalent in Node 20: letters there become [xX] and classes gain the other case.
  let ci = leadingCi
  let repeats = 0
  const scopes: boolean[] = []
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c === '\\') {
      const n = body[i + 1]
      if (n === undefined) throw badRegex(pattern, 'trailing backslash')
      if (n === 'z') {
        // Without `m`, JavaScript's $ is the end of the text only; with it, \z has no linear form.
        if (flags.includes('m')) throw badRegex(pattern, '\\z with the m flag is not supported')
        out += '$'
      } else if (n === 'A') out += '^'
      else if (n === 'Q') {
        const end = body.indexOf('\\E', i + 2)
        const lit = body.slice(i + 2, end < 0 ? body.length : end)
        const quoted = lit.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
        out += ci ? quoted.replace(/[a-zA-Z]/g, bothCases) : quoted
        i = end < 0 ? body.length : end + 1
        continue
      } else if (n >= '1' && n <= '9') throw badRegex(pattern, 'back references are not supported')
      else if ((n === 'p' || n === 'P') && body[i + 2] === '{') {
        const end = body.indexOf('}', i + 3)
        const stop = end < 0 ? body.length : end + 1
        out += body.slice(i, stop)
        i = stop - 1
        continue
      } else out += c + n
      i++
      continue
    }
    if (c === '[') {
      const end = classEnd(body, i)
      const cls = body.slice(i, end + 1)
      out += ci ? foldClass(cls) : cls
      i = end
      continue
    }
    if (c === '(') {
      if (body[i + 1] === '?') {
        const rest = body.slice(i + 2)
        if (rest.startsWith('P<')) {
          scopes.push(ci)
          out += '(?<'
          i += 3
          continue
        }
        if (/^(=|!|<=|<!)/.test(rest))
          throw badRegex(pattern, 'look-around assertions are not supported')
        const fm = /^([imsU]*)(?:-([imsU]*))?([):])/.exec(rest)
        if (fm !== null && fm[0] !== ':') {
          const on = fm[1]
          const off = fm[2] ?? ''
          if (/[msU]/.test(on + off)) {
            throw badRegex(
              pattern,
              'flags other than i are supported only at the start of the pattern'
            )
          }
          const next: boolean = off.includes('i') ? false : on.includes('i') ? true : ci
          i += 1 + fm[0].length
          if (fm[3] === ':') {
            scopes.push(ci)
            out += '(?:'
          }
          ci = next
          continue
        }
      }
      scopes.push(ci)
      out += c
      continue
    }
    if (c === ')') {
      ci = scopes.pop() ?? leadingCi
      out += c
      continue
    }
    if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d/.test(body.slice(i, i + 2)))) {
      if (++repeats > MAX_REPEATS) {
        throw badRegex(
          pattern,
          `more than ${MAX_REPEATS} repetition operators (*, +, ?, {n,m}): matching takes time in proportion to them`
        )
      }
    }
    out += ci && /[a-zA-Z]/.test(c) ? bothCases(c) : c
  }
  // `m` in RE2 makes ^ and $ match at line ends; `s` lets . match \n: JavaScript's flags mean the same.
  // `l`: V8's linear-time engine, RE2's guarantee: no pattern can make a match take exponential time
  // (a matcher is tested against values any client can push). It refuses what RE2 refuses as well.
  try {
    return new RegExp(anchored ? `^(?:${out})$` : out, flags + 'l')
  } catch (err) {
    throw badRegex(pattern, (err as Error).message.replace(/^Invalid regular expression: /, ''))
  }
}

/** bothCases is a letter as a class of its two cases: `a` → `[aA]`. */
function bothCases(c: string): string {
  return `[${c.toLowerCase()}${c.toUpperCase()}]`
}

/** classEnd is the index of the `]` closing the character class opened at `i`. */
function classEnd(body: string, i: number): number {
  let j = i + 1
  if (body[j] === '^') j++
  if (body[j] === ']') j++
  while (j < body.length && body[j] !== ']') {
    if (body[j] === '\\') j += 2
    else if (body.startsWith('[:', j)) {
      const e = body.indexOf(':]', j + 2)
      j = e < 0 ? j + 1 : e + 2
    } else j++
  }
  return j
}

/** foldClass adds the other case of every letter and letter range in a character class. */
function foldClass(cls: string): string {
  if (!cls.endsWith(']')) return cls
  const inner = cls.slice(1, -1)
  let extra = ''
  for (let j = inner[0] === '^' ? 1 : 0; j < inner.length; j++) {
    const c = inner[j]
    if (c === '\\') {
      j++
      continue
    }
    if (inner[j + 1] === '-' && j + 2 < inner.length && inner[j + 2] !== '\\') {
      const lo = c.charCodeAt(0)
      const hi = inner.charCodeAt(j + 2)
      for (const [a, z, shift] of [
        [97, 122, -32],
        [65, 90, 32],
      ]) {
        const from = Math.max(lo, a)
        const to = Math.min(hi, z)
        if (from <= to)
          extra += `${String.fromCharCode(from + shift)}-${String.fromCharCode(to + shift)}`
      }
      j += 2
      continue
    }
    if (/[a-zA-Z]/.test(c)) extra += c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()
  }
  return `[${inner}${extra}]`
}

function badRegex(pattern: string, why: string): PeregrineError {
  // A long pattern is named by its start and length: an error is not sent back the size of a request.
  const named =
    pattern.length <= 256
      ? JSON.stringify(pattern)
      : `${JSON.stringify(pattern.slice(0, 256))}… (${pattern.length} characters)`
  const reason = why.length <= 512 ? why : `${why.slice(0, 512)}…`
  return new PeregrineError('PG_CORE_BAD_REGEX', `error parsing regexp ${named}: ${reason}`, {
    status: 400,
  })
}
