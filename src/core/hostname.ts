// What a host name may be, one rule for every way a host enters the portal: the api's host routes and
// an agent's first Agent.ReportStatus to hbs.

/** HOSTNAME_MAX_CHARS: the width of falcon's `host.hostname` (varchar 255). */
export const HOSTNAME_MAX_CHARS = 255

// unitsAt is how many UTF-16 units the character at `i` takes (2 for a surrogate pair).
function unitsAt(s: string, i: number): number {
  return (s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1
}

/**
 * tooLong tells whether `s` has more than `max` characters as a varchar column counts them (code
 * points, not UTF-16 units).
 */
export function tooLong(s: string, max: number): boolean {
  if (s.length <= max) return false
  if (s.length > 2 * max) return true
  let n = 0
  for (let i = 0; i < s.length; i += unitsAt(s, i)) n++
  return n > max
}

/**
 * fitChars cuts `s` to its first `max` characters as a varchar counts them, never inside a surrogate
 * pair.
 */
export function fitChars(s: string, max: number): string {
  if (s.length <= max) return s
  let i = 0
  for (let n = 0; n < max && i < s.length; n++) i += unitsAt(s, i)
  return s.slice(0, i)
}

// Whitespace would split the name where falcon's pages and the judge's keys (`hostname/metric`) read
// it; control characters never belong in a name, and a page would show them as garbage.
const BAD_CHARACTER = /[\s\p{Cc}]/u

/**
 * hostnameProblem says what is wrong with `name` as a host name, or undefined when nothing is: it
 * must have 1 to 255 characters (as the column counts them), no whitespace and no control characters.
 * The texts complete "<field>: " (the api's `body.hosts.0: expected …`).
 */
export function hostnameProblem(name: string): string | undefined {
  if (name === '') return 'expected a host name'
  if (tooLong(name, HOSTNAME_MAX_CHARS)) return `expected at most ${HOSTNAME_MAX_CHARS} characters`
  if (BAD_CHARACTER.test(name)) return 'expected no whitespace or control characters'
  return undefined
}
