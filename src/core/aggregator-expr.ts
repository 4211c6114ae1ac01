// Falcon's aggregator expressions (modules/aggregator/cron/run.go and computer.go): what a `cluster`
// rule's numerator and denominator may say, parsed once for the api (which refuses a bad one) and for
// the aggregator (which evaluates it per host).

/** AggregatorTerm is one `$(counter)` of a sum and its sign. */
export interface AggregatorTerm {
  sign: 1 | -1
  /** counter: falcon's `metric` or `metric/k=v,...`, as written between `$(` and `)`. */
  counter: string
}

/** CompareOp is a per-host test's operator (falcon's compareSum: `>`, `<`, `=`, `>=`, `<=`). */
export type CompareOp = '>' | '<' | '=' | '>=' | '<='

/**
 * AggregatorExpr is a parsed numerator or denominator: `$#` (the hosts that had every value), a
 * number, a per-host sum of counters, or a per-host test of such a sum (1 when true, else 0).
 */
export type AggregatorExpr =
  | { kind: 'hosts' }
  | { kind: 'number'; value: number }
  | { kind: 'sum'; terms: AggregatorTerm[]; compare?: { op: CompareOp; value: number } }

const FORMS = 'expected $#, an integer, $(counter)+$(counter)-..., $(counter)>=N or ($(a)+$(b))>N'

/** cleanAggregatorExpr removes what falcon's cleanParam removes: spaces, tabs, CR and LF. */
export function cleanAggregatorExpr(expr: string): string {
  return expr.replace(/[ \r\n\t]/g, '')
}

/**
 * parseAggregatorExpr reads a numerator or denominator as falcon's aggregator does (spaces, tabs and
 * line breaks removed first). Returns the expression, or a sentence saying what is wrong (full-width
 * parentheses, the ones an IME types, are named: falcon skips such a rule without a word).
 */
export function parseAggregatorExpr(expr: string): AggregatorExpr | string {
  const s = cleanAggregatorExpr(expr)
  if (s.includes('（') || s.includes('）')) return 'expected ( ), not full-width （ ）'
  if (s === '$#') return { kind: 'hosts' }
  if (/^\d+$/.test(s)) return { kind: 'number', value: Number(s) }
  let body = s
  let compare: { op: CompareOp; value: number } | undefined
  const cmp = /(>=|<=|>|<|=)(\d+(?:\.\d+)?)$/.exec(s)
  if (cmp !== null) {
    compare = { op: cmp[1] as CompareOp, value: Number(cmp[2]) }
    body = s.slice(0, cmp.index)
    // `($(a)+$(b))>80`: a sum in parentheses; `$(a)>80`: one counter without them.
    if (body.startsWith('(') && body.endsWith(')')) body = body.slice(1, -1)
    else if (!/^\$\([^()]+\)$/.test(body)) return FORMS
  }
  const terms: AggregatorTerm[] = []
  const term = /([+-]?)\$\(([^()]+)\)/y
  let at = 0
  while (at < body.length) {
    term.lastIndex = at
    const m = term.exec(body)
    // The first term has no sign; every other one needs its + or -.
    if (m === null || at > 0 !== (m[1] !== '')) return FORMS
    // A counter's tags are k=v pairs (`net.if.in.bytes/iface=eth0`): anything else names no series.
    const slash = m[2].indexOf('/')
    if (slash === 0) return FORMS
    if (
      slash > 0 &&
      !m[2]
        .slice(slash + 1)
        .split(',')
        .every((kv) => /^[^=]+=[^=]+$/.test(kv))
    )
      return `expected a counter's tags as k=v pairs, like $(net.if.in.bytes/iface=eth0), got $(${m[2]})`
    terms.push({ sign: m[1] === '-' ? -1 : 1, counter: m[2] })
    at = term.lastIndex
  }
  if (terms.length === 0) return FORMS
  return compare === undefined ? { kind: 'sum', terms } : { kind: 'sum', terms, compare }
}

/** aggregatorExprProblem: what is wrong with a numerator or denominator, or null. */
export function aggregatorExprProblem(expr: string): string | null {
  const e = parseAggregatorExpr(expr)
  return typeof e === 'string' ? e : null
}

/** compareHolds is falcon's compareSum for one host's sum. */
export function compareHolds(sum: number, op: CompareOp, value: number): boolean {
  switch (op) {
    case '>':
      return sum > value
    case '<':
      return sum < value
    case '=':
      return sum === value
    case '>=':
      return sum >= value
    case '<=':
      return sum <= value
  }
}
