// A strategy's tag matchers: falcon's exact `k=v` and Peregrine's `k=~re`, `k!=v`, `k!~re` (Prometheus'
// label matchers, RE2, fully anchored), in the two shapes they travel in: the `strategy.tags` text
// (varchar 255) and falcon's tags map on the hbs → judge wire.
//
// The map keeps falcon's shape (string → string) by writing the operator into the entry:
//
//   text       map entry        falcon's judge reads it as
//   k=v        "k":  "v"        tag k equal to v (the same)
//   k=~re      "k":  "~re"      tag k equal to "~re": never matches a real series
//   k!=v       "k!": "v"        tag "k!" equal to v: never matches
//   k!~re      "k!": "~re"      (falcon's hbs drops the piece: it has no `=`)
//
// so a key ending in `!` negates and a value starting with `~` is a pattern.
import { compileRe2 } from './re2.js'

/** TagOp is a matcher's operator, as Prometheus writes them. */
export type TagOp = '=' | '!=' | '=~' | '!~'

/** TagMatcher is one matcher of a strategy: the tag's name, the operator and the value or pattern. */
export interface TagMatcher {
  readonly name: string
  readonly op: TagOp
  readonly value: string
}

/**
 * TagTest is a TagMatcher ready to test tags: `re` is the anchored pattern of `=~`/`!~`, else null.
 * Its RegExp has no `g` or `y` flag, so one may be shared by every test.
 */
export interface TagTest {
  readonly name: string
  readonly negate: boolean
  readonly value: string
  readonly re: RegExp | null
}

/**
 * TAG_SYNTAX names the accepted forms, for messages that say what to write instead.
 */
export const TAG_SYNTAX = 'k=v, k!=v, k=~regex or k!~regex, separated by commas'

/**
 * splitTagPiece reads one comma-separated piece of a strategy's tags text into the key and value of
 * falcon's tags map, as falcon's hbs does (at the first `=`), except that `k!~re` (which has no `=`
 * before its pattern) becomes `k!` → `~re`. Returns undefined for a piece falcon ignores (no `=`).
 */
export function splitTagPiece(piece: string): [string, string] | undefined {
  const eq = piece.indexOf('=')
  const notRe = piece.indexOf('!~')
  if (notRe >= 0 && (eq < 0 || notRe < eq))
    return [piece.slice(0, notRe + 1), piece.slice(notRe + 1)]
  if (eq < 0) return undefined
  return [piece.slice(0, eq), piece.slice(eq + 1)]
}

/** tagMatcherOf decodes one entry of a strategy's tags map (see the table at the top of this file). */
export function tagMatcherOf(key: string, value: string): TagMatcher {
  // A key that is only `!` is a (strange) tag name, not a negation of the empty name.
  const negate = key.length > 1 && key.endsWith('!')
  const pattern = value.startsWith('~')
  return {
    name: negate ? key.slice(0, -1) : key,
    op: negate ? (pattern ? '!~' : '!=') : pattern ? '=~' : '=',
    value: pattern ? value.slice(1) : value,
  }
}

/** tagEntryOf is tagMatcherOf's inverse: the map entry that carries `m`. */
export function tagEntryOf(m: TagMatcher): [string, string] {
  const negate = m.op === '!=' || m.op === '!~'
  const pattern = m.op === '=~' || m.op === '!~'
  return [negate ? `${m.name}!` : m.name, pattern ? `~${m.value}` : m.value]
}

/**
 * parseTagMatchers reads a strategy's tags text as the api accepts it: '' or pieces separated by `,`,
 * each `k=v`, `k!=v`, `k=~re` or `k!~re` with a non-empty key, no spaces around key or value, a value
 * of `=`/`!=` without `=` (falcon's "exactly one =") and not starting with `~` (that is a pattern),
 * a pattern RE2 compiles, and at most one positive (`=`, `=~`) and one negative (`!=`, `!~`) matcher
 * per key (each is one key of falcon's map). Throws an Error saying what is wrong with which piece.
 */
export function parseTagMatchers(text: string): TagMatcher[] {
  if (text === '') return []
  const out: TagMatcher[] = []
  const seen = new Set<string>()
  for (const piece of text.split(',')) {
    const at = firstOf(piece, '=', '!')
    if (at < 0) {
      throw new Error(
        `"${piece}" is not a tag matcher: write ${TAG_SYNTAX} (a regex cannot hold a comma)`
      )
    }
    const name = piece.slice(0, at)
    let op: TagOp
    if (piece[at] === '=') op = piece[at + 1] === '~' ? '=~' : '='
    else if (piece[at + 1] === '=') op = '!='
    else if (piece[at + 1] === '~') op = '!~'
    else throw new Error(`"${piece}": "!" in a key; write ${TAG_SYNTAX}`)
    const value = piece.slice(at + op.length)
    if (name === '') throw new Error(`"${piece}" has an empty key`)
    if (name.trim() !== name || value.trim() !== value)
      throw new Error(`"${piece}" has spaces around its key or value`)
    if (op === '=' || op === '!=') {
      if (value.includes('=')) throw new Error(`"${piece}" has more than one "=" (write k${op}v)`)
      if (value.startsWith('~')) {
        throw new Error(
          `"${piece}": a value starting with ~ reads as a regex; write ${name}!~regex for a regex that must not match, or escape it as ${name}${op === '=' ? '=~' : '!~'}\\~…`
        )
      }
    } else {
      try {
        compileRe2(value, true)
      } catch (err) {
        throw new Error(`"${piece}": ${(err as Error).message}`, { cause: err })
      }
    }
    const key = op === '=' || op === '=~' ? name : `${name}!`
    if (seen.has(key)) {
      throw new Error(
        op === '=' || op === '=~'
          ? `tag ${name} is given twice (one = or =~ per key)`
          : `tag ${name} is negated twice (one != or !~ per key)`
      )
    }
    seen.add(key)
    out.push({ name, op, value })
  }
  return out
}

/** firstOf is the index of the first of two characters in `s`, -1 when neither is there. */
function firstOf(s: string, a: string, b: string): number {
  const i = s.indexOf(a)
  const j = s.indexOf(b)
  return i < 0 ? j : j < 0 ? i : Math.min(i, j)
}

/** compileTagMatcher makes `m` testable; a bad pattern throws PG_CORE_BAD_REGEX naming it. */
export function compileTagMatcher(m: TagMatcher): TagTest {
  const pattern = m.op === '=~' || m.op === '!~'
  return {
    name: m.name,
    negate: m.op === '!=' || m.op === '!~',
    value: m.value,
    re: pattern ? compileRe2(m.value, true) : null,
  }
}

/**
 * tagTestMatches says whether `tags` satisfy one matcher. `=` is falcon's: the tag must be there with
 * that value. A pattern sees a missing tag as the empty value, as Prometheus does. `!=` and `!~`
 * match exactly the tags `=` and `=~` do not (a missing tag included).
 */
export function tagTestMatches(t: TagTest, tags: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(tags, t.name)
  const hit = t.re === null ? has && tags[t.name] === t.value : t.re.test(has ? tags[t.name] : '')
  return hit !== t.negate
}
