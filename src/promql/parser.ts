// PromQL text → our syntax tree: the grammar Prometheus ships (lezer-promql), then Prometheus's own checks.
import { parser as lezer } from '@prometheus-io/lezer-promql'
import type { SyntaxNode } from '@lezer/common'
import { PeregrineError, isPeregrineError, parseGoFloat } from '../core/index.js'
import { matcherTest } from '../tsdb/index.js'
import type { Labels, Matcher, MatchOp } from '../tsdb/index.js'
import {
  FUNCTIONS,
  typeOf,
  type AggregateExpr,
  type AggregateOp,
  type BinaryOp,
  type Call,
  type Expr,
  type MatrixSelector,
  type NumberLiteral,
  type PosRange,
  type StartOrEnd,
  type SubqueryExpr,
  type ValueType,
  type VectorMatching,
  type VectorSelector,
} from './ast.js'
import { goQuote, goUnquote, parseDurationOrUndefined } from './format.js'

/** ParseError is a syntax or type error at a position of the query, printed as Prometheus prints it. */
class ParseError extends Error {
  constructor(
    readonly pos: number,
    readonly detail: string
  ) {
    super(detail)
  }
}

/** parseErrorText renders `line:col: parse error: detail` as Prometheus's ParseErr.Error(). */
function parseErrorText(input: string, pos: number, detail: string): string {
  let line = 1
  let lastBreak = -1
  for (let i = 0; i < pos && i < input.length; i++) {
    if (input[i] === '\n') {
      lastBreak = i
      line++
    }
  }
  return `${line}:${pos - lastBreak}: parse error: ${detail}`
}

/** badQuery is the error a parse or type error becomes for callers (400 bad_data). */
export function badQuery(message: string): PeregrineError {
  return new PeregrineError('PG_PROMQL_BAD_QUERY', message, { status: 400 })
}

const AGG_OPS: ReadonlySet<string> = new Set([
  'sum',
  'avg',
  'count',
  'min',
  'max',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
  'limit_ratio',
])

const BIN_OPS: Readonly<Record<string, BinaryOp>> = {
  Add: '+',
  Sub: '-',
  Mul: '*',
  Div: '/',
  Mod: '%',
  Pow: '^',
  Atan2: 'atan2',
  Eql: '==',
  Neq: '!=',
  Gtr: '>',
  Lss: '<',
  Gte: '>=',
  Lte: '<=',
  And: 'and',
  Or: 'or',
  Unless: 'unless',
}

const COMPARISON: ReadonlySet<string> = new Set(['==', '!=', '>', '<', '>=', '<='])
const SET_OPS: ReadonlySet<string> = new Set(['and', 'or', 'unless'])

/** isComparison tells comparison operators (==, !=, >, <, >=, <=). */
export function isComparison(op: BinaryOp): boolean {
  return COMPARISON.has(op)
}

/** isSetOp tells the set operators (and, or, unless). */
export function isSetOp(op: BinaryOp): boolean {
  return SET_OPS.has(op)
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** ParseOptions: experimental functions (sort_by_label, mad_over_time, limitk…) are on by default. */
export interface ParseOptions {
  experimental?: boolean
}

/**
 * parseExpr parses a PromQL expression and type-checks it as Prometheus's parser.ParseExpr does.
 * Throws PG_PROMQL_BAD_QUERY with Prometheus's `1:5: parse error: …` text, or PG_CORE_BAD_REGEX.
 */
export function parseExpr(input: string, options: ParseOptions = {}): Expr {
  try {
    const p = new Builder(input, options.experimental ?? true)
    const e = p.build()
    checkAST(e, input)
    return e
  } catch (err) {
    if (err instanceof ParseError) throw badQuery(parseErrorText(input, err.pos, err.detail))
    throw err
  }
}

/**
 * parseSelector parses a series selector (`up{job="x"}`, `{"cpu.idle"}`) into matchers, as Prometheus's
 * ParseMetricSelector: the `match[]` of /api/v1/series. The selector must match something narrower
 * than everything. Throws PG_PROMQL_BAD_QUERY.
 */
export function parseSelector(selector: string): Matcher[] {
  let e: Expr
  try {
    const p = new Builder(selector, true)
    e = p.build()
  } catch (err) {
    if (err instanceof ParseError) throw badQuery(parseErrorText(selector, err.pos, err.detail))
    throw err
  }
  if (e.kind !== 'VectorSelector' || e.originalOffset !== 0 || e.timestamp !== null) {
    throw badQuery(
      parseErrorText(selector, 0, `expected a series selector, got ${describeKind(e)}`)
    )
  }
  try {
    checkAST(e, selector)
  } catch (err) {
    if (err instanceof ParseError) throw badQuery(parseErrorText(selector, err.pos, err.detail))
    throw err
  }
  return e.matchers
}

function describeKind(e: Expr): string {
  if (e.kind === 'NumberLiteral') return 'a number'
  if (e.kind === 'StringLiteral') return 'a string'
  return 'an expression'
}

/** Tok is one element of an operator expression in source order (see Builder.operators). */
type Tok =
  | { t: 'primary'; n: SyntaxNode }
  | { t: 'number'; n: SyntaxNode; from: number }
  | { t: 'prefix'; op: '-' | '+'; from: number }
  | { t: 'postfix'; n: SyntaxNode }
  | {
      t: 'binop'
      op: BinaryOp
      returnBool: boolean
      matching: VectorMatching
      from: number
    }

/** PRECEDENCE of binary operators, loosest first, as Prometheus's grammar (^ is right-associative). */
const PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '>': 3,
  '<': 3,
  '>=': 3,
  '<=': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  atan2: 5,
  '^': 6,
}

/** Builder walks lezer's tree into our AST, raising Prometheus's grammar-time errors. */
class Builder {
  readonly input: string
  constructor(
    input: string,
    readonly experimental: boolean
  ) {
    this.input = trailingDots(input)
  }

  build(): Expr {
    if (this.input.trim() === '') throw new ParseError(0, 'no expression found in input')
    const tree = lezer.parse(this.input)
    const err = this.firstError(tree.topNode)
    if (err !== undefined) throw err
    const top = tree.topNode.firstChild
    if (top === null) throw new ParseError(0, 'no expression found in input')
    return this.expr(top)
  }

  text(n: SyntaxNode): string {
    return this.input.slice(n.from, n.to)
  }

  /** firstError finds lezer's first error node and words it as Prometheus's parser would. */
  firstError(top: SyntaxNode): ParseError | undefined {
    let at = -1
    const cursor = top.cursor()
    do {
      if (cursor.type.isError && (at < 0 || cursor.from < at)) at = cursor.from
    } while (cursor.next())
    if (at < 0) {
      // lezer accepts an unterminated string; Prometheus does not.
      const c2 = top.cursor()
      do {
        if (c2.name === 'StringLiteral') {
          const s = this.input.slice(c2.from, c2.to)
          if (s.length < 2 || s[s.length - 1] !== s[0])
            return new ParseError(c2.from, 'unterminated quoted string')
        }
      } while (c2.next())
      return undefined
    }
    // An identifier right before `(` is a call of a function the grammar does not know.
    const before = this.input.slice(0, at)
    const ident = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before)
    const rest = this.input.slice(at).replace(/^\s+/, '')
    if (ident !== null && rest.startsWith('(') && !KEYWORDS.has(ident[1].toLowerCase())) {
      return new ParseError(ident.index, `unknown function with name ${goQuote(ident[1])}`)
    }
    return this.unexpectedAt(at)
  }

  unexpectedAt(at: number): ParseError {
    let i = at
    while (i < this.input.length && /\s/.test(this.input[i])) i++
    const tok = describeToken(this.input, i)
    if (tok.kind === 'eof') return new ParseError(i, 'unexpected end of input')
    if (tok.kind === 'unterminated') return new ParseError(i, 'unterminated quoted string')
    return new ParseError(i, `unexpected ${tok.text}`)
  }

  children(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) out.push(c)
    return out
  }

  /**
   * expr converts a lezer node. Operators and postfix modifiers go through `operators`: lezer's grammar
   * (written for editors) attaches `[range]`, `offset`, `@` to the whole expression on their left and
   * reads `-2 ^ 2` as (-2)^2, where Prometheus's binds them to the operand before them and gives -(2^2).
   */
  expr(n: SyntaxNode): Expr {
    const pos: PosRange = { start: n.from, end: n.to }
    switch (n.name) {
      case 'NumberDurationLiteral':
      case 'UnaryExpr':
      case 'BinaryExpr':
      case 'MatrixSelector':
      case 'SubqueryExpr':
      case 'OffsetExpr':
      case 'StepInvariantExpr':
        return this.operators(n)
      case 'StringLiteral':
        return { kind: 'StringLiteral', val: this.string(n), pos }
      case 'ParenExpr': {
        const inner = this.children(n)[0]
        return { kind: 'ParenExpr', expr: this.expr(inner), pos }
      }
      case 'VectorSelector':
        return this.vectorSelector(n)
      case 'AggregateExpr':
        return this.aggregate(n)
      case 'FunctionCall':
        return this.call(n)
      default:
        throw new ParseError(n.from, `unexpected ${describeToken(this.input, n.from).text}`)
    }
  }

  /** flatten lists operands, prefix signs, binary operators and postfix modifiers in source order. */
  flatten(n: SyntaxNode, out: Tok[]): void {
    switch (n.name) {
      case 'BinaryExpr': {
        const parts = this.children(n)
        this.flatten(parts[0], out)
        let op: BinaryOp | undefined
        let opFrom = n.from
        let returnBool = false
        let matching: VectorMatching = {
          card: 'one-to-one',
          matchingLabels: [],
          on: false,
          include: [],
        }
        for (const c of parts.slice(1, -1)) {
          if (c.name in BIN_OPS) {
            op = BIN_OPS[c.name]
            opFrom = c.from
          } else if (c.name === 'BoolModifier') returnBool = true
          else if (c.name === 'MatchingModifierClause') matching = this.matching(c)
        }
        if (op === undefined) throw new ParseError(n.from, 'unexpected binary expression')
        out.push({ t: 'binop', op, returnBool, matching, from: opFrom })
        this.flatten(parts[parts.length - 1], out)
        return
      }
      case 'UnaryExpr': {
        const [opNode, inner] = this.children(n)
        out.push({ t: 'prefix', op: this.text(opNode) === '-' ? '-' : '+', from: n.from })
        this.flatten(inner, out)
        return
      }
      case 'MatrixSelector':
      case 'SubqueryExpr':
      case 'OffsetExpr':
      case 'StepInvariantExpr':
        this.flatten(this.children(n)[0], out)
        out.push({ t: 'postfix', n })
        return
      case 'NumberDurationLiteral': {
        const text = this.text(n)
        if (text[0] === '-' || text[0] === '+') {
          out.push({ t: 'prefix', op: text[0] === '-' ? '-' : '+', from: n.from })
          let from = n.from + 1
          while (/\s/.test(this.input[from])) from++
          out.push({ t: 'number', n, from })
        } else out.push({ t: 'number', n, from: n.from })
        return
      }
      default:
        out.push({ t: 'primary', n })
    }
  }

  /** operators rebuilds an operator expression with Prometheus's precedence and associativity. */
  operators(n: SyntaxNode): Expr {
    const toks: Tok[] = []
    this.flatten(n, toks)
    let i = 0
    const binary = (minPrec: number): Expr => {
      let lhs = unary()
      for (;;) {
        const t = toks[i]
        if (t === undefined || t.t !== 'binop') break
        const p = PRECEDENCE[t.op]
        if (p < minPrec) break
        i++
        const rhs = binary(t.op === '^' ? p : p + 1)
        lhs = {
          kind: 'BinaryExpr',
          op: t.op,
          lhs,
          rhs,
          returnBool: t.returnBool,
          matching: t.matching,
          pos: { start: lhs.pos.start, end: rhs.pos.end },
        }
      }
      return lhs
    }
    const unary = (): Expr => {
      const t = toks[i]
      if (t !== undefined && t.t === 'prefix') {
        i++
        // Unary minus binds as tightly as *, so only ^ reaches into its operand.
        const e = binary(PRECEDENCE['^'])
        const pos = { start: t.from, end: e.pos.end }
        if (e.kind === 'NumberLiteral') {
          return { kind: 'NumberLiteral', val: t.op === '-' ? -e.val : e.val, pos }
        }
        return { kind: 'UnaryExpr', op: t.op, expr: e, pos }
      }
      return primary()
    }
    const primary = (): Expr => {
      const t = toks[i++]
      let e: Expr
      if (t === undefined) throw new ParseError(this.input.length, 'unexpected end of input')
      if (t.t === 'number') {
        e = {
          kind: 'NumberLiteral',
          val: this.unsignedNumber(t.n, t.from),
          pos: { start: t.from, end: t.n.to },
        }
      } else if (t.t === 'primary') e = this.expr(t.n)
      else throw new ParseError(t.t === 'postfix' ? t.n.from : t.from, 'unexpected operator')
      while (i < toks.length) {
        const p = toks[i]
        if (p.t !== 'postfix') break
        i++
        e = this.applyPostfix(e, p.n)
      }
      return e
    }
    const e = binary(0)
    if (i !== toks.length) throw new Error('BUG: operator tokens left over')
    return e
  }

  applyPostfix(e: Expr, n: SyntaxNode): Expr {
    const parts = this.children(n)
    switch (n.name) {
      case 'MatrixSelector':
        return this.toMatrix(e, n, parts[1])
      case 'SubqueryExpr':
        return this.toSubquery(e, n, parts[1], parts[2])
      case 'OffsetExpr':
        return this.applyOffset(e, n, parts)
      default:
        return this.applyAt(e, n, parts)
    }
  }

  /** unsignedNumber reads a number literal whose sign (if any) was taken as a unary operator. */
  unsignedNumber(n: SyntaxNode, from: number): number {
    const body = this.input.slice(from, n.to)
    const v = numberValue(body)
    if (v !== undefined) return v
    const ms = parseDurationOrUndefined(body)
    if (ms === undefined) {
      throw new ParseError(from, `bad number or duration syntax: ${goQuote(body)}`)
    }
    if (ms === 0) throw new ParseError(from, 'duration must be greater than 0')
    return ms / 1000
  }

  /** number reads a NumberDurationLiteral as Prometheus's parser.number or a duration in seconds. */
  number(n: SyntaxNode): number {
    const text = this.text(n)
    let sign = 1
    let body = text
    if (body[0] === '-' || body[0] === '+') {
      if (body[0] === '-') sign = -1
      body = body.slice(1).trimStart()
    }
    const v = numberValue(body)
    if (v !== undefined) return sign * v
    const ms = parseDurationOrUndefined(body)
    if (ms === undefined) {
      throw new ParseError(n.from, `bad number or duration syntax: ${goQuote(body)}`)
    }
    if (ms === 0) throw new ParseError(n.from, 'duration must be greater than 0')
    return (sign * ms) / 1000
  }

  string(n: SyntaxNode): string {
    const text = this.text(n)
    const r = goUnquote(text)
    if ('error' in r) {
      if (text.length < 2 || text[text.length - 1] !== text[0])
        throw new ParseError(n.from, 'unterminated quoted string')
      throw new ParseError(n.from, `error unquoting string ${goQuote(text)}: ${r.error}`)
    }
    return r.value
  }

  /** durationMs reads a range, step or offset: seconds (number or duration) → ms, truncated as Go's. */
  durationMs(n: SyntaxNode): number {
    return Math.trunc(this.number(n) * 1000)
  }

  vectorSelector(n: SyntaxNode): VectorSelector {
    let name = ''
    const matchers: Matcher[] = []
    for (const c of this.children(n)) {
      if (c.name === 'Identifier') name = this.text(c)
      else if (c.name === 'LabelMatchers') {
        for (const m of this.children(c)) matchers.push(this.matcher(m))
      }
    }
    if (name !== '') matchers.push({ name: '__name__', op: '=', value: name })
    return {
      kind: 'VectorSelector',
      name,
      matchers,
      originalOffset: 0,
      offset: 0,
      timestamp: null,
      startOrEnd: null,
      pos: { start: n.from, end: n.to },
    }
  }

  matcher(n: SyntaxNode): Matcher {
    const parts = this.children(n)
    if (n.name === 'QuotedLabelName') {
      return { name: '__name__', op: '=', value: this.string(parts[0]) }
    }
    const [nameNode, opNode, valueNode] = parts
    const labelName =
      nameNode.name === 'QuotedLabelName'
        ? this.string(nameNode.firstChild as SyntaxNode)
        : this.text(nameNode)
    const op = this.text(opNode) as MatchOp
    const value = this.string(valueNode)
    const m: Matcher = { name: labelName, op, value }
    if (op === '=~' || op === '!~') {
      try {
        matcherTest(m)
      } catch (err) {
        if (isPeregrineError(err)) {
          throw new ParseError(nameNode.from, err.message)
        }
        throw err
      }
    }
    return m
  }

  toMatrix(e: Expr, n: SyntaxNode, rangeNode: SyntaxNode): MatrixSelector {
    const range = this.durationMs(rangeNode)
    const bracket = this.input.lastIndexOf('[', rangeNode.from)
    if (e.kind !== 'VectorSelector') {
      throw new ParseError(bracket, 'ranges only allowed for vector selectors')
    }
    if (e.originalOffset !== 0) {
      throw new ParseError(bracket, 'no offset modifiers allowed before range')
    }
    if (e.timestamp !== null || e.startOrEnd !== null) {
      throw new ParseError(bracket, 'no @ modifiers allowed before range')
    }
    return { kind: 'MatrixSelector', vs: e, range, pos: { start: e.pos.start, end: n.to } }
  }

  toSubquery(
    e: Expr,
    n: SyntaxNode,
    rangeNode: SyntaxNode,
    stepNode: SyntaxNode | undefined
  ): SubqueryExpr {
    return {
      kind: 'SubqueryExpr',
      expr: e,
      range: this.durationMs(rangeNode),
      step: stepNode === undefined ? 0 : this.durationMs(stepNode),
      originalOffset: 0,
      offset: 0,
      timestamp: null,
      startOrEnd: null,
      pos: { start: e.pos.start, end: n.to },
    }
  }

  applyOffset(e: Expr, n: SyntaxNode, parts: SyntaxNode[]): Expr {
    const off = this.durationMs(parts[parts.length - 1])
    const target = e.kind === 'MatrixSelector' ? e.vs : e
    if (target.kind !== 'VectorSelector' && target.kind !== 'SubqueryExpr') {
      throw new ParseError(
        e.pos.start,
        'offset modifier must be preceded by an instant vector selector or range vector selector or a subquery'
      )
    }
    if (target.originalOffset !== 0) {
      throw new ParseError(e.pos.start, 'offset may not be set multiple times')
    }
    target.originalOffset = off
    target.offset = off
    e.pos = { start: e.pos.start, end: n.to }
    return e
  }

  applyAt(e: Expr, n: SyntaxNode, parts: SyntaxNode[]): Expr {
    const last = parts[parts.length - 1]
    const target = e.kind === 'MatrixSelector' ? e.vs : e
    if (target.kind !== 'VectorSelector' && target.kind !== 'SubqueryExpr') {
      throw new ParseError(
        e.pos.start,
        '@ modifier must be preceded by an instant vector selector or range vector selector or a subquery'
      )
    }
    if (target.timestamp !== null || target.startOrEnd !== null) {
      throw new ParseError(e.pos.start, '@ <timestamp> may not be set multiple times')
    }
    if (last.name === 'AtModifierPreprocessors') {
      target.startOrEnd = this.text(last).toLowerCase() as StartOrEnd
    } else {
      const ts = this.number(last)
      if (!Number.isFinite(ts) || ts >= 9.223372036854776e18 || ts <= -9.223372036854776e18) {
        throw new ParseError(
          e.pos.start,
          `timestamp out of bounds for @ modifier: ${ts.toFixed(6).replace('Infinity', '+Inf')}`
        )
      }
      target.timestamp = Math.round(ts * 1000)
    }
    e.pos = { start: e.pos.start, end: n.to }
    return e
  }

  matching(n: SyntaxNode): VectorMatching {
    const m: VectorMatching = { card: 'one-to-one', matchingLabels: [], on: false, include: [] }
    let seenGroup = false
    for (const c of this.children(n)) {
      switch (c.name) {
        case 'On':
          m.on = true
          break
        case 'Ignoring':
          break
        case 'GroupLeft':
          m.card = 'many-to-one'
          seenGroup = true
          break
        case 'GroupRight':
          m.card = 'one-to-many'
          seenGroup = true
          break
        case 'GroupingLabels':
          if (seenGroup) m.include = this.labels(c)
          else m.matchingLabels = this.labels(c)
          break
      }
    }
    return m
  }

  labels(n: SyntaxNode): string[] {
    const out: string[] = []
    for (const c of this.children(n)) {
      if (c.name === 'LabelName') out.push(this.text(c))
      else if (c.name === 'QuotedLabelName') out.push(this.string(c.firstChild as SyntaxNode))
    }
    return out
  }

  args(body: SyntaxNode): Expr[] {
    return this.children(body).map((c) => this.expr(c))
  }

  aggregate(n: SyntaxNode): AggregateExpr {
    let op: AggregateOp = 'sum'
    let grouping: string[] = []
    let without = false
    let args: Expr[] = []
    let opNode = n
    for (const c of this.children(n)) {
      if (c.name === 'AggregateOp') {
        op = this.text(c).toLowerCase() as AggregateOp
        opNode = c
      } else if (c.name === 'AggregateModifier') {
        for (const d of this.children(c)) {
          if (d.name === 'Without') without = true
          else if (d.name === 'GroupingLabels') grouping = this.labels(d)
        }
      } else if (c.name === 'FunctionCallBody') args = this.args(c)
    }
    if (!AGG_OPS.has(op)) throw new ParseError(opNode.from, `unknown aggregation ${op}`)
    const pos = { start: n.from, end: n.to }
    if (args.length === 0) {
      throw new ParseError(pos.start, 'no arguments for aggregate expression provided')
    }
    const withParam =
      op === 'topk' ||
      op === 'bottomk' ||
      op === 'quantile' ||
      op === 'count_values' ||
      op === 'limitk' ||
      op === 'limit_ratio'
    if (!this.experimental && (op === 'limitk' || op === 'limit_ratio')) {
      throw new ParseError(
        pos.start,
        'limitk() and limit_ratio() are experimental and must be enabled with --enable-feature=promql-experimental-functions'
      )
    }
    const desired = withParam ? 2 : 1
    if (args.length !== desired) {
      throw new ParseError(
        pos.start,
        `wrong number of arguments for aggregate expression provided, expected ${desired}, got ${args.length}`
      )
    }
    return {
      kind: 'AggregateExpr',
      op,
      expr: args[desired - 1],
      param: withParam ? args[0] : null,
      grouping,
      without,
      pos,
    }
  }

  call(n: SyntaxNode): Call {
    const [ident, body] = this.children(n)
    const name = this.text(ident)
    const func = FUNCTIONS[name]
    if (func === undefined) {
      throw new ParseError(ident.from, `unknown function with name ${goQuote(name)}`)
    }
    if (func.experimental && !this.experimental) {
      throw new ParseError(ident.from, `function ${goQuote(name)} is not enabled`)
    }
    return { kind: 'Call', func, args: this.args(body), pos: { start: n.from, end: n.to } }
  }
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'unless',
  'atan2',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'start',
  'end',
  ...AGG_OPS,
])

/**
 * trailingDots rewrites numbers written with a bare trailing dot (`2.`, `1./6.`), which Prometheus's
 * lexer takes and lezer's grammar does not, as the same number followed by a space (positions kept).
 */
function trailingDots(input: string): string {
  if (!/\d\./.test(input)) return input
  let out = ''
  for (let i = 0; i < input.length; i++) {
    const c = input[i]
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < input.length && input[j] !== c) j += input[j] === '\\' && c !== '`' ? 2 : 1
      out += input.slice(i, j + 1)
      i = j
      continue
    }
    if (c === '#') {
      let j = input.indexOf('\n', i)
      if (j < 0) j = input.length
      out += input.slice(i, j)
      i = j - 1
      continue
    }
    if (c >= '0' && c <= '9' && (i === 0 || !/[\w:.]/.test(input[i - 1]))) {
      let j = i
      while (j < input.length && input[j] >= '0' && input[j] <= '9') j++
      if (input[j] === '.' && !/[\d\w]/.test(input[j + 1] ?? '')) {
        out += input.slice(i, j) + ' '
        i = j
        continue
      }
      if (input[j] === '.' && /[eE]/.test(input[j + 1]) && /[-+\d]/.test(input[j + 2] ?? '')) {
        let k = j + 2
        if (input[k] === '-' || input[k] === '+') k++
        while (k < input.length && input[k] >= '0' && input[k] <= '9') k++
        out += input.slice(i, j) + input.slice(j + 1, k) + ' '
        i = k - 1
        continue
      }
      out += input.slice(i, j)
      i = j - 1
      continue
    }
    out += c
  }
  return out
}

/** numberValue reads a PromQL number (Go ParseInt base 0, then ParseFloat), undefined if not one. */
function numberValue(s: string): number | undefined {
  const lower = s.toLowerCase()
  if (/^0x[0-9a-f_]+$/.test(lower)) return parseInt(lower.slice(2).replace(/_/g, ''), 16)
  if (/^0o?[0-7_]+$/.test(lower) && lower.length > 1) {
    const digits = lower.replace(/^0o?/, '').replace(/_/g, '')
    return digits === '' ? 0 : parseInt(digits, 8)
  }
  if (/^0b[01_]+$/.test(lower)) return parseInt(lower.slice(2).replace(/_/g, ''), 2)
  return parseGoFloat(s)
}

/** describeToken names the token at `i` the way Prometheus's lexer items print (`<op:+>`, `"("`). */
function describeToken(
  input: string,
  i: number
): { kind: 'eof' | 'unterminated' | 'token'; text: string } {
  if (i >= input.length) return { kind: 'eof', text: 'end of input' }
  const rest = input.slice(i)
  const ops = ['==', '!=', '>=', '<=', '=~', '!~', '+', '-', '*', '/', '%', '^', '>', '<', '=']
  for (const op of ops) {
    if (rest.startsWith(op)) {
      if (op === '=' || op === '=~' || op === '!~') return { kind: 'token', text: `"${op}"` }
      return { kind: 'token', text: `<op:${op}>` }
    }
  }
  const c = rest[0]
  if (c === '"' || c === "'" || c === '`') {
    const end = rest.indexOf(c, 1)
    if (end < 0) return { kind: 'unterminated', text: '' }
    return { kind: 'token', text: `string ${goQuote(rest.slice(0, end + 1))}` }
  }
  const num = /^(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+)/.exec(rest)
  if (num !== null) {
    const dur = /^[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdw]))*/.exec(rest)
    if (dur !== null && dur[0].length > num[0].length)
      return { kind: 'token', text: `duration ${goQuote(dur[0])}` }
    return { kind: 'token', text: `number ${goQuote(num[0])}` }
  }
  const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest)
  if (id !== null) {
    const w = id[0].toLowerCase()
    if (w === 'and' || w === 'or' || w === 'unless' || w === 'atan2')
      return { kind: 'token', text: `<op:${id[0]}>` }
    if (AGG_OPS.has(w)) return { kind: 'token', text: `<aggr:${id[0]}>` }
    if (KEYWORDS.has(w)) return { kind: 'token', text: `<${id[0]}>` }
    if (w === 'inf' || w === 'nan') return { kind: 'token', text: `number ${goQuote(id[0])}` }
    return { kind: 'token', text: `identifier ${goQuote(id[0])}` }
  }
  // A whole character, not half of a surrogate pair.
  return { kind: 'token', text: goQuote(String.fromCodePoint(rest.codePointAt(0) ?? 0)) }
}

/** checkAST is Prometheus's type check of a parsed tree (parser.checkAST), throwing the first problem. */
function checkAST(e: Expr, input: string): ValueType {
  const expectType = (node: Expr, want: ValueType, context: string): void => {
    const t = checkAST(node, input)
    if (t !== want) {
      throw new ParseError(
        node.pos.start,
        `expected type ${documentedType(want)} in ${context}, got ${documentedType(t)}`
      )
    }
  }
  switch (e.kind) {
    case 'AggregateExpr':
      expectType(e.expr, 'vector', 'aggregation expression')
      if (e.param !== null) {
        expectType(e.param, e.op === 'count_values' ? 'string' : 'scalar', 'aggregation parameter')
      }
      break
    case 'BinaryExpr': {
      const lt = checkAST(e.lhs, input)
      const rt = checkAST(e.rhs, input)
      let opStart = e.lhs.pos.end
      while (opStart < input.length && /\s/.test(input[opStart])) opStart++
      if (e.returnBool && !isComparison(e.op)) {
        throw new ParseError(opStart, 'bool modifier can only be used on comparison operators')
      }
      if (isComparison(e.op) && !e.returnBool && lt === 'scalar' && rt === 'scalar') {
        throw new ParseError(opStart, 'comparisons between scalars must use BOOL modifier')
      }
      const m = e.matching
      if (m !== null) {
        if (isSetOp(e.op) && m.card === 'one-to-one') m.card = 'many-to-many'
        if (m.on) {
          for (const l of m.matchingLabels) {
            if (m.include.includes(l)) {
              throw new ParseError(
                opStart,
                `label ${goQuote(l)} must not occur in ON and GROUP clause at once`
              )
            }
          }
        }
      }
      if (lt !== 'scalar' && lt !== 'vector') {
        throw new ParseError(
          e.lhs.pos.start,
          'binary expression must contain only scalar and instant vector types'
        )
      }
      if (rt !== 'scalar' && rt !== 'vector') {
        throw new ParseError(
          e.rhs.pos.start,
          'binary expression must contain only scalar and instant vector types'
        )
      }
      if ((lt !== 'vector' || rt !== 'vector') && m !== null) {
        if (m.matchingLabels.length > 0) {
          throw new ParseError(e.pos.start, 'vector matching only allowed between instant vectors')
        }
        e.matching = null
      } else if (isSetOp(e.op) && m !== null) {
        if (m.card === 'one-to-many' || m.card === 'many-to-one') {
          throw new ParseError(e.pos.start, `no grouping allowed for "${e.op}" operation`)
        }
      }
      if ((lt === 'scalar' || rt === 'scalar') && isSetOp(e.op)) {
        throw new ParseError(
          e.pos.start,
          `set operator "${e.op}" not allowed in binary scalar expression`
        )
      }
      break
    }
    case 'Call': {
      const f = e.func
      const nargs = f.argTypes.length
      if (f.variadic === 0) {
        if (nargs !== e.args.length) {
          throw new ParseError(
            e.pos.start,
            `expected ${nargs} argument(s) in call to "${f.name}", got ${e.args.length}`
          )
        }
      } else {
        const na = nargs - 1
        if (na > e.args.length) {
          throw new ParseError(
            e.pos.start,
            `expected at least ${na} argument(s) in call to "${f.name}", got ${e.args.length}`
          )
        } else if (f.variadic > 0 && na + f.variadic < e.args.length) {
          throw new ParseError(
            e.pos.start,
            `expected at most ${na + f.variadic} argument(s) in call to "${f.name}", got ${e.args.length}`
          )
        }
      }
      for (let i = 0; i < e.args.length; i++) {
        let j = i
        if (i >= nargs) {
          if (f.variadic === 0) break
          j = nargs - 1
        }
        expectType(e.args[i], f.argTypes[j], `call to function "${f.name}"`)
      }
      break
    }
    case 'ParenExpr':
      checkAST(e.expr, input)
      break
    case 'UnaryExpr': {
      const t = checkAST(e.expr, input)
      if (t !== 'scalar' && t !== 'vector') {
        throw new ParseError(
          e.pos.start,
          `unary expression only allowed on expressions of type scalar or instant vector, got "${documentedType(t)}"`
        )
      }
      break
    }
    case 'SubqueryExpr': {
      const t = checkAST(e.expr, input)
      if (t !== 'vector') {
        throw new ParseError(
          e.pos.start,
          `subquery is only allowed on instant vector, got ${t} instead`
        )
      }
      break
    }
    case 'MatrixSelector':
      checkAST(e.vs, input)
      break
    case 'VectorSelector': {
      if (e.name !== '') {
        for (const m of e.matchers.slice(0, -1)) {
          if (m.name === '__name__') {
            throw new ParseError(
              e.pos.start,
              `metric name must not be set twice: ${goQuote(e.name)} or ${goQuote(m.value)}`
            )
          }
        }
        break
      }
      const notEmpty = e.matchers.some((m) => !matcherTest(m)(''))
      if (!notEmpty) {
        throw new ParseError(
          e.pos.start,
          'vector selector must contain at least one non-empty matcher'
        )
      }
      break
    }
    case 'NumberLiteral':
    case 'StringLiteral':
    case 'StepInvariantExpr':
      break
  }
  return typeOf(e)
}

/** documentedType names a type as Prometheus's messages do ("range vector", "instant vector"). */
export function documentedType(t: ValueType): string {
  if (t === 'vector') return 'instant vector'
  if (t === 'matrix') return 'range vector'
  return t
}

/** isValidLabelName tells a legacy label name ([a-zA-Z_][a-zA-Z0-9_]*). */
export function isValidLabelName(s: string): boolean {
  return LABEL_NAME_RE.test(s)
}

/** isValidMetricName tells a legacy metric name ([a-zA-Z_:][a-zA-Z0-9_:]*). */
export function isValidMetricName(s: string): boolean {
  return METRIC_NAME_RE.test(s)
}

export type { NumberLiteral }

/**
 * parseSeriesLabels reads the label part of a test script's series line (`metric{a="b"}`, `{}`,
 * `{__name__="x"}`) into a sorted label set; throws PG_PROMQL_BAD_QUERY when it is not one.
 */
export function parseSeriesLabels(text: string): Labels {
  let e: Expr
  try {
    e = new Builder(text, true).build()
  } catch (err) {
    if (err instanceof ParseError) throw badQuery(parseErrorText(text, err.pos, err.detail))
    throw err
  }
  if (e.kind !== 'VectorSelector' || e.matchers.some((m) => m.op !== '=')) {
    throw badQuery(`not a series description: ${text}`)
  }
  const byName = new Map<string, string>()
  for (const m of e.matchers) byName.set(m.name, m.value)
  return [...byName]
    .filter(([, v]) => v !== '')
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
