// Our syntax tree back to text: Prometheus's String() (printer.go) and its prettifier (prettier.go).
import { formatGoFloat } from '../core/index.js'
import type { Matcher } from '../tsdb/index.js'
import type { AggregateExpr, BinaryExpr, Expr, StartOrEnd, SubqueryExpr } from './ast.js'
import { formatDuration, goQuote } from './format.js'
import { isValidMetricName } from './parser.js'

function offsetText(ms: number): string {
  if (ms > 0) return ` offset ${formatDuration(ms)}`
  if (ms < 0) return ` offset -${formatDuration(-ms)}`
  return ''
}

function atText(timestamp: number | null, startOrEnd: StartOrEnd): string {
  if (timestamp !== null) return ` @ ${(timestamp / 1000).toFixed(3)}`
  if (startOrEnd === 'start') return ' @ start()'
  if (startOrEnd === 'end') return ' @ end()'
  return ''
}

function matcherText(m: Matcher): string {
  const name = isValidMetricName(m.name) && !m.name.includes(':') ? m.name : goQuote(m.name)
  return `${name}${m.op}${goQuote(m.value)}`
}

function joinLabels(ls: readonly string[]): string {
  return ls.map((l) => (isValidMetricName(l) ? l : `"${l}"`)).join(', ')
}

function aggOpText(e: AggregateExpr): string {
  let s: string = e.op
  if (e.without) s += ` without (${joinLabels(e.grouping)}) `
  else if (e.grouping.length > 0) s += ` by (${joinLabels(e.grouping)}) `
  return s
}

function matchingText(e: BinaryExpr): string {
  const vm = e.matching
  if (vm === null || (vm.matchingLabels.length === 0 && !vm.on)) return ''
  let s = ` ${vm.on ? 'on' : 'ignoring'} (${vm.matchingLabels.join(', ')})`
  if (vm.card === 'many-to-one' || vm.card === 'one-to-many') {
    s += ` group_${vm.card === 'many-to-one' ? 'left' : 'right'} (${vm.include.join(', ')})`
  }
  return s
}

function subquerySuffix(e: SubqueryExpr): string {
  const step = e.step !== 0 ? formatDuration(e.step) : ''
  return `[${formatDuration(e.range)}:${step}]${atText(e.timestamp, e.startOrEnd)}${offsetText(e.originalOffset)}`
}

/** exprString prints an expression as Prometheus's Expr.String(): one line, normalised. */
export function exprString(e: Expr): string {
  switch (e.kind) {
    case 'NumberLiteral':
      return formatGoFloat(e.val)
    case 'StringLiteral':
      return goQuote(e.val)
    case 'ParenExpr':
      return `(${exprString(e.expr)})`
    case 'UnaryExpr':
      return `${e.op}${exprString(e.expr)}`
    case 'StepInvariantExpr':
      return exprString(e.expr)
    case 'VectorSelector': {
      const labels: string[] = []
      for (const m of e.matchers) {
        if (m.name === '__name__' && m.op === '=' && m.value === e.name && m.value !== '') continue
        labels.push(matcherText(m))
      }
      const suffix = `${atText(e.timestamp, e.startOrEnd)}${offsetText(e.originalOffset)}`
      if (labels.length === 0) return `${e.name}${suffix}`
      labels.sort()
      return `${e.name}{${labels.join(',')}}${suffix}`
    }
    case 'MatrixSelector': {
      const vs = { ...e.vs, originalOffset: 0, timestamp: null, startOrEnd: null }
      return `${exprString(vs)}[${formatDuration(e.range)}]${atText(e.vs.timestamp, e.vs.startOrEnd)}${offsetText(e.vs.originalOffset)}`
    }
    case 'SubqueryExpr':
      return `${exprString(e.expr)}${subquerySuffix(e)}`
    case 'BinaryExpr':
      return `${exprString(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''}${matchingText(e)} ${exprString(e.rhs)}`
    case 'AggregateExpr': {
      let s = aggOpText(e) + '('
      if (e.param !== null) s += `${exprString(e.param)}, `
      return s + `${exprString(e.expr)})`
    }
    case 'Call':
      return `${e.func.name}(${e.args.map(exprString).join(', ')})`
  }
}

const MAX_LINE = 100

const indent = (n: number): string => '  '.repeat(n)

/** prettify prints an expression as Prometheus's parser.Prettify (format_query): split past 100 chars. */
export function prettify(e: Expr, level = 0): string {
  const flat = exprString(e)
  const split = flat.length > MAX_LINE
  switch (e.kind) {
    case 'AggregateExpr': {
      if (!split) return indent(level) + flat
      let s = indent(level) + aggOpText(e) + '(\n'
      if (e.param !== null) s += `${prettify(e.param, level + 1)},\n`
      return s + `${prettify(e.expr, level + 1)}\n${indent(level)})`
    }
    case 'BinaryExpr': {
      if (!split) return indent(level) + flat
      return `${prettify(e.lhs, level + 1)}\n${indent(level)}${e.op}${e.returnBool ? ' bool' : ''}${matchingText(e)}\n${prettify(e.rhs, level + 1)}`
    }
    case 'Call': {
      if (!split) return indent(level) + flat
      const args = e.args.map((a) => prettify(a, level + 1)).join(',\n')
      return `${indent(level)}${e.func.name}(\n${args}\n${indent(level)})`
    }
    case 'ParenExpr':
      if (!split) return indent(level) + flat
      return `${indent(level)}(\n${prettify(e.expr, level + 1)}\n${indent(level)})`
    case 'StepInvariantExpr':
      return prettify(e.expr, level)
    case 'SubqueryExpr':
      if (!split) return flat
      return `${prettify(e.expr, level)}${subquerySuffix(e)}`
    case 'UnaryExpr':
      return `${indent(level)}${e.op}${prettify(e.expr, level).trim()}`
    case 'MatrixSelector':
    case 'VectorSelector':
    case 'NumberLiteral':
    case 'StringLiteral':
      return indent(level) + flat
  }
}
