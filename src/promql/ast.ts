// The PromQL syntax tree the parser builds and the evaluator walks (Prometheus's promql/parser/ast.go shapes).
import type { Matcher } from '../tsdb/index.js'

/** ValueType is what an expression yields, named as Prometheus's DocumentedType prints it. */
export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string'

/** PosRange is a node's place in the query text: [start, end) in UTF-16 code units. */
export interface PosRange {
  start: number
  end: number
}

/** FunctionDef describes a function: argument types, how many more it takes (-1: any), what it returns. */
export interface FunctionDef {
  name: string
  argTypes: readonly ValueType[]
  /** 0: exactly argTypes; n > 0: up to n more of the last type; -1: any more of the last type. */
  variadic: number
  returnType: ValueType
  experimental: boolean
}

export interface NumberLiteral {
  kind: 'NumberLiteral'
  val: number
  pos: PosRange
}

export interface StringLiteral {
  kind: 'StringLiteral'
  val: string
  pos: PosRange
}

/** AtTime is an `@` modifier: a fixed time (ms), or start()/end() before preprocessing resolves it. */
export type StartOrEnd = 'start' | 'end' | null

export interface VectorSelector {
  kind: 'VectorSelector'
  /** name is the metric name written before the braces ('' when none). */
  name: string
  /** matchers include `__name__="name"` last when a name is written, as Prometheus does. */
  matchers: Matcher[]
  /** originalOffset is the `offset` written (ms); offset is what evaluation uses (offset adjusted for `@`). */
  originalOffset: number
  offset: number
  timestamp: number | null
  startOrEnd: StartOrEnd
  pos: PosRange
}

export interface MatrixSelector {
  kind: 'MatrixSelector'
  vs: VectorSelector
  range: number
  pos: PosRange
}

export interface SubqueryExpr {
  kind: 'SubqueryExpr'
  expr: Expr
  range: number
  /** step in ms, 0 when not written (the engine's default subquery step applies). */
  step: number
  originalOffset: number
  offset: number
  timestamp: number | null
  startOrEnd: StartOrEnd
  pos: PosRange
}

export interface ParenExpr {
  kind: 'ParenExpr'
  expr: Expr
  pos: PosRange
}

export interface UnaryExpr {
  kind: 'UnaryExpr'
  op: '-' | '+'
  expr: Expr
  pos: PosRange
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^' | 'atan2'
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<='
export type SetOp = 'and' | 'or' | 'unless'
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp

export type Cardinality = 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many'

/** VectorMatching is how two vectors' samples pair up: on/ignoring labels, group_left/right extras. */
export interface VectorMatching {
  card: Cardinality
  matchingLabels: string[]
  on: boolean
  include: string[]
}

export interface BinaryExpr {
  kind: 'BinaryExpr'
  op: BinaryOp
  lhs: Expr
  rhs: Expr
  returnBool: boolean
  /** null between a scalar and anything, as Prometheus drops it there. */
  matching: VectorMatching | null
  pos: PosRange
}

export type AggregateOp =
  | 'sum'
  | 'avg'
  | 'count'
  | 'min'
  | 'max'
  | 'group'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'quantile'
  | 'count_values'
  | 'limitk'
  | 'limit_ratio'

export interface AggregateExpr {
  kind: 'AggregateExpr'
  op: AggregateOp
  expr: Expr
  param: Expr | null
  grouping: string[]
  without: boolean
  pos: PosRange
}

export interface Call {
  kind: 'Call'
  func: FunctionDef
  args: Expr[]
  pos: PosRange
}

/** StepInvariantExpr wraps a subtree whose value is the same at every step (evaluated once). */
export interface StepInvariantExpr {
  kind: 'StepInvariantExpr'
  expr: Expr
  pos: PosRange
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | ParenExpr
  | UnaryExpr
  | BinaryExpr
  | AggregateExpr
  | Call
  | StepInvariantExpr

/** typeOf is the value type of an expression (Prometheus's Expr.Type()). */
export function typeOf(e: Expr): ValueType {
  switch (e.kind) {
    case 'NumberLiteral':
      return 'scalar'
    case 'StringLiteral':
      return 'string'
    case 'VectorSelector':
      return 'vector'
    case 'MatrixSelector':
    case 'SubqueryExpr':
      return 'matrix'
    case 'ParenExpr':
    case 'UnaryExpr':
    case 'StepInvariantExpr':
      return typeOf(e.expr)
    case 'BinaryExpr':
      return typeOf(e.lhs) === 'scalar' && typeOf(e.rhs) === 'scalar' ? 'scalar' : 'vector'
    case 'AggregateExpr':
      return 'vector'
    case 'Call':
      return e.func.returnType
  }
}

/** children lists an expression's direct sub-expressions in source order (Prometheus's parser.Children). */
export function children(e: Expr): Expr[] {
  switch (e.kind) {
    case 'NumberLiteral':
    case 'StringLiteral':
    case 'VectorSelector':
      return []
    case 'MatrixSelector':
      return [e.vs]
    case 'SubqueryExpr':
    case 'ParenExpr':
    case 'UnaryExpr':
    case 'StepInvariantExpr':
      return [e.expr]
    case 'BinaryExpr':
      return [e.lhs, e.rhs]
    case 'AggregateExpr':
      return e.param === null ? [e.expr] : [e.param, e.expr]
    case 'Call':
      return e.args
  }
}

/** inspect visits every node depth-first with the path of its ancestors (Prometheus's parser.Inspect). */
export function inspect(e: Expr, visit: (node: Expr, path: readonly Expr[]) => void): void {
  const path: Expr[] = []
  const walk = (n: Expr): void => {
    visit(n, path)
    path.push(n)
    for (const c of children(n)) walk(c)
    path.pop()
  }
  walk(e)
}

/** FUNCTIONS are PromQL 2.55's functions by name, with their signatures (promql/parser/functions.go). */
export const FUNCTIONS: Readonly<Record<string, FunctionDef>> = (() => {
  const out: Record<string, FunctionDef> = {}
  const def = (
    name: string,
    argTypes: ValueType[],
    returnType: ValueType,
    variadic = 0,
    experimental = false
  ): void => {
    out[name] = { name, argTypes, variadic, returnType, experimental }
  }
  const V: ValueType = 'vector'
  const M: ValueType = 'matrix'
  const S: ValueType = 'scalar'
  const STR: ValueType = 'string'
  for (const f of [
    'abs',
    'absent',
    'acos',
    'acosh',
    'asin',
    'asinh',
    'atan',
    'atanh',
    'ceil',
    'cos',
    'cosh',
    'deg',
    'exp',
    'floor',
    'histogram_avg',
    'histogram_count',
    'histogram_sum',
    'histogram_stddev',
    'histogram_stdvar',
    'ln',
    'log10',
    'log2',
    'rad',
    'sgn',
    'sin',
    'sinh',
    'sort',
    'sort_desc',
    'sqrt',
    'tan',
    'tanh',
    'timestamp',
  ])
    def(f, [V], V)
  for (const f of [
    'absent_over_time',
    'avg_over_time',
    'changes',
    'count_over_time',
    'delta',
    'deriv',
    'idelta',
    'increase',
    'irate',
    'last_over_time',
    'max_over_time',
    'min_over_time',
    'present_over_time',
    'rate',
    'resets',
    'stddev_over_time',
    'stdvar_over_time',
    'sum_over_time',
  ])
    def(f, [M], V)
  def('mad_over_time', [M], V, 0, true)
  for (const f of [
    'days_in_month',
    'day_of_month',
    'day_of_week',
    'day_of_year',
    'hour',
    'minute',
    'month',
    'year',
  ])
    def(f, [V], V, 1)
  def('clamp', [V, S, S], V)
  def('clamp_max', [V, S], V)
  def('clamp_min', [V, S], V)
  def('histogram_fraction', [S, S, V], V)
  def('histogram_quantile', [S, V], V)
  def('holt_winters', [M, S, S], V)
  def('info', [V, V], V, 1, true)
  def('label_replace', [V, STR, STR, STR, STR], V)
  def('label_join', [V, STR, STR, STR], V, -1)
  def('pi', [], S)
  def('predict_linear', [M, S], V)
  def('quantile_over_time', [S, M], V)
  def('round', [V, S], V, 1)
  def('scalar', [V], S)
  def('sort_by_label', [V, STR], V, -1, true)
  def('sort_by_label_desc', [V, STR], V, -1, true)
  def('time', [], S)
  def('vector', [S], V)
  return out
})()

/** AT_MODIFIER_UNSAFE_FUNCTIONS vary with the evaluation time even when their arguments do not. */
export const AT_MODIFIER_UNSAFE_FUNCTIONS: ReadonlySet<string> = new Set([
  'days_in_month',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'hour',
  'minute',
  'month',
  'year',
  'predict_linear',
  'time',
  'timestamp',
])
