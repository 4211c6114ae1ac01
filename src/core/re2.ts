// Go's RE2 regular expressions (Prometheus's label matchers, PromQL's label_replace) in JavaScript's engine.
import { PeregrineError } from './errors.js'

/**
 * compileRe2 compiles a Go RE2 pattern into a JavaScript RegExp, anchored at both ends when `anchored`
 * (Prometheus anchors matchers). What differs is translated: leading flag groups `(?i)`, `(?s)`, `(?m)`;
 * named groups `(?P<name>…)`; `\z`, `\A`; `\Q…\E` literals. What RE2 has no equivalent for in JS
 * (`(?U)`, flag groups inside the pattern) and what JS has that RE2 refuses (look-around, back
 * references) is an error naming the pattern, as Prometheus answers such a regex with bad_data.
 */
export function compileRe2(pattern: string, anchored: boolean): RegExp {
  let flags = ''
  let body = pattern
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(body)
    if (m === null) break
    for (const f of m[1]) {
      if (f === 'U') throw badRegex(pattern, 'the ungreedy flag (?U) is not supported')
      if (!flags.includes(f)) flags += f
    }
    body = body.slice(m[0].length)
  }
  let out = ''
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c === '\\') {
      const n = body[i + 1]
      if (n === undefined) throw badRegex(pattern, 'trailing backslash')
      if (n === 'z') out += '$(?![\\s\\S])'
      else if (n === 'A') out += '^'
      else if (n === 'Q') {
        const end = body.indexOf('\\E', i + 2)
        const lit = body.slice(i + 2, end < 0 ? body.length : end)
        out += lit.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
        i = end < 0 ? body.length : end + 1
        continue
      } else if (n >= '1' && n <= '9') throw badRegex(pattern, 'back references are not supported')
      else out += c + n
      i++
      continue
    }
    if (c === '(' && body[i + 1] === '?') {
      const rest = body.slice(i + 2)
      if (rest.startsWith('P<')) {
        out += '(?<'
        i += 3
        continue
      }
      if (/^(=|!|<=|<!)/.test(rest))
        throw badRegex(pattern, 'look-around assertions are not supported')
      if (/^[imsU-]+[):]/.test(rest)) {
        if (rest.startsWith(':')) {
          out += '(?:'
          i += 2
          continue
        }
        throw badRegex(pattern, 'flag groups are supported only at the start of the pattern')
      }
    }
    out += c
  }
  // `m` in RE2 makes ^ and $ match at line ends; `s` lets . match \n: JavaScript's flags mean the same.
  try {
    return new RegExp(anchored ? `^(?:${out})$` : out, flags)
  } catch (err) {
    throw badRegex(pattern, (err as Error).message.replace(/^Invalid regular expression: /, ''))
  }
}

function badRegex(pattern: string, why: string): PeregrineError {
  return new PeregrineError(
    'PG_CORE_BAD_REGEX',
    `error parsing regexp ${JSON.stringify(pattern)}: ${why}`,
    {
      status: 400,
    }
  )
}
