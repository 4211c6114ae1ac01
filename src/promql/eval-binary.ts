// Binary operators: scalar/scalar, vector/scalar, and vector/vector matching (on, ignoring, group_*), sets.
import type { FloatHistogram, HistogramError, Labels } from '../tsdb/index.js'
import { warnHistogram } from './eval-call.js'
import { errorWarning } from './eval-histogram.js'
import { typeOf, type BinaryExpr, type BinaryOp, type VectorMatching } from './ast.js'
import { OutBuilder, executionError, type Grid, type GridSeries } from './eval-types.js'
import type { Evaluator } from './evaluator.js'
import {
  METRIC_NAME,
  deleteLabels,
  dropMetricName,
  getLabel,
  keepLabels,
  labelsKey,
  labelsString,
  setLabel,
} from './labels.js'
import { isComparison, isSetOp } from './parser.js'

/** goPow is Go's math.Pow, whose special cases differ from Math.pow (1^NaN = 1, (-1)^±Inf = 1). */
export function goPow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1
  return Math.pow(x, y)
}

/** arith applies an arithmetic operator to two floats, as Prometheus's scalarBinop. */
export function arith(op: BinaryOp, l: number, r: number): number {
  switch (op) {
    case '+':
      return l + r
    case '-':
      return l - r
    case '*':
      return l * r
    case '/':
      return l / r
    case '%':
      return l % r
    case '^':
      return goPow(l, r)
    case 'atan2':
      return Math.atan2(l, r)
    case '==':
      return l === r ? 1 : 0
    case '!=':
      return l !== r ? 1 : 0
    case '>':
      return l > r ? 1 : 0
    case '<':
      return l < r ? 1 : 0
    case '>=':
      return l >= r ? 1 : 0
    case '<=':
      return l <= r ? 1 : 0
    case 'and':
    case 'or':
    case 'unless':
      throw new Error(`BUG: operator ${op} not allowed for scalar operations`)
  }
}

function compare(op: BinaryOp, l: number, r: number): boolean {
  switch (op) {
    case '==':
      return l === r
    case '!=':
      return l !== r
    case '>':
      return l > r
    case '<':
      return l < r
    case '>=':
      return l >= r
    case '<=':
      return l <= r
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '^':
    case 'atan2':
    case 'and':
    case 'or':
    case 'unless':
      return true
  }
}

function dropsName(op: BinaryOp): boolean {
  return (
    op === '+' ||
    op === '-' ||
    op === '*' ||
    op === '/' ||
    op === '^' ||
    op === '%' ||
    op === 'atan2'
  )
}

/** The result of elemBinop besides its float: the histogram, whether to keep it, and why it failed. */
let elemH: FloatHistogram | undefined
let elemKeep = true
let elemErr: HistogramError = ''

/**
 * elemBinop is Prometheus's vectorElemBinop for a pair where at least one side is a histogram: + and -
 * of two histograms, * and / of a histogram by a float; otherwise the floats (0 for a histogram).
 */
function elemBinop(
  op: BinaryOp,
  l: number,
  r: number,
  hl: FloatHistogram | undefined,
  hr: FloatHistogram | undefined
): number {
  elemH = undefined
  elemKeep = true
  elemErr = ''
  switch (op) {
    case '+':
    case '-':
      if (hl !== undefined && hr !== undefined) {
        const res = hl.copy()
        const err = op === '+' ? res.add(hr) : res.sub(hr)
        if (err !== '') {
          elemErr = err
          elemKeep = false
          return 0
        }
        elemH = res.compact()
        return 0
      }
      return op === '+' ? l + r : l - r
    case '*':
      if (hl !== undefined && hr === undefined) {
        elemH = hl.copy().mul(r)
        return 0
      }
      if (hl === undefined && hr !== undefined) {
        elemH = hr.copy().mul(l)
        return 0
      }
      return l * r
    case '/':
      if (hl !== undefined && hr === undefined) {
        elemH = hl.copy().div(r)
        return 0
      }
      return l / r
    case '==':
    case '!=':
    case '>':
    case '<':
    case '>=':
    case '<=':
      elemKeep = compare(op, l, r)
      return l
    case '%':
    case '^':
    case 'atan2':
    case 'and':
    case 'or':
    case 'unless':
      return arith(op, l, r)
  }
}

/** binopWarning turns the last failed histogram operation of a binary expression into its warning. */
function binopWarning(ev: Evaluator, e: BinaryExpr, err: HistogramError): void {
  if (err === '') return
  warnHistogram(ev, errorWarning(err), '', e.pos.start)
}

/** evalBinary evaluates a binary expression over every step. */
export function evalBinary(ev: Evaluator, e: BinaryExpr): Grid {
  const lt = typeOf(e.lhs)
  const rt = typeOf(e.rhs)
  if (lt === 'scalar' && rt === 'scalar') {
    const l = ev.evalGrid(e.lhs).series[0]
    const r = ev.evalGrid(e.rhs).series[0]
    return ev.scalarGrid((k) => arith(e.op, l.vals[k], r.vals[k]))
  }
  if (lt === 'vector' && rt === 'vector') {
    const l = ev.evalGrid(e.lhs)
    const r = ev.evalGrid(e.rhs)
    const m = e.matching as VectorMatching
    if (isSetOp(e.op)) return setOperation(ev, e.op, l, r, m)
    return vectorBinop(ev, e, l, r, m)
  }
  const l = ev.evalGrid(e.lhs)
  const r = ev.evalGrid(e.rhs)
  if (lt === 'vector') return vectorScalar(ev, e, l, r.series[0], false)
  return vectorScalar(ev, e, r, l.series[0], true)
}

function vectorScalar(
  ev: Evaluator,
  e: BinaryExpr,
  vec: Grid,
  scalar: GridSeries,
  swap: boolean
): Grid {
  const op = e.op
  const cmp = isComparison(op)
  const drop = dropsName(op) || e.returnBool
  const out = new OutBuilder(ev.numSteps)
  let lastErr: HistogramError = ''
  for (const s of vec.series) {
    ev.check()
    const labels = drop && !ev.ctx.delayedNameRemoval ? dropMetricName(s.labels) : s.labels
    const dropName = drop || s.dropName
    let slot: GridSeries | null = null
    const hs = s.hs
    for (let k = 0; k < ev.numSteps; k++) {
      if (s.present[k] === 0) continue
      const sv = scalar.vals[k]
      const h = hs === undefined ? undefined : hs[k]
      if (h !== undefined) {
        const hl = swap ? undefined : h
        const hr = swap ? h : undefined
        const lf = swap ? sv : 0
        const rf = swap ? 0 : sv
        let v = elemBinop(op, lf, rf, hl, hr)
        let hOut = elemH
        let keep = elemKeep
        if (elemErr !== '') lastErr = elemErr
        if (cmp && swap) {
          v = rf
          hOut = hr
        }
        if (e.returnBool) {
          v = keep ? 1 : 0
          keep = true
        }
        if (!keep) continue
        if (slot === null) slot = out.slot(labels, dropName)
        out.put(slot, k, v, hOut)
        continue
      }
      const lf = swap ? sv : s.vals[k]
      const rf = swap ? s.vals[k] : sv
      let v: number
      let keep = true
      if (cmp) {
        keep = compare(op, lf, rf)
        v = s.vals[k]
      } else {
        v = arith(op, lf, rf)
      }
      if (e.returnBool) {
        v = keep ? 1 : 0
        keep = true
      }
      if (!keep) continue
      if (slot === null) slot = out.slot(labels, dropName)
      out.put(slot, k, v)
    }
  }
  binopWarning(ev, e, lastErr)
  return out.grid()
}

/** signatures interns each series' matching signature (on: only those labels; ignoring: all but those). */
function signatures(
  series: readonly GridSeries[],
  m: VectorMatching,
  intern: Map<string, number>
): Int32Array {
  const names = m.on ? m.matchingLabels : [...m.matchingLabels, METRIC_NAME]
  const out = new Int32Array(series.length)
  for (let i = 0; i < series.length; i++) {
    const ls = series[i].labels
    const key = labelsKey(m.on ? keepLabels(ls, names) : deleteLabels(ls, names))
    let id = intern.get(key)
    if (id === undefined) {
      id = intern.size
      intern.set(key, id)
    }
    out[i] = id
  }
  return out
}

function setOperation(ev: Evaluator, op: BinaryOp, l: Grid, r: Grid, m: VectorMatching): Grid {
  const intern = new Map<string, number>()
  const ls = signatures(l.series, m, intern)
  const rs = signatures(r.series, m, intern)
  const stamp = new Int32Array(intern.size).fill(-1)
  const leftStamp = new Int32Array(intern.size).fill(-1)
  const out = new OutBuilder(ev.numSteps)
  const lslots: (GridSeries | null)[] = l.series.map(() => null)
  const rslots: (GridSeries | null)[] = r.series.map(() => null)
  const put = (src: GridSeries, slots: (GridSeries | null)[], i: number, k: number): void => {
    let slot = slots[i]
    if (slot === null) slot = slots[i] = out.slot(src.labels, src.dropName)
    out.put(slot, k, src.vals[k], src.hs === undefined ? undefined : src.hs[k])
  }
  for (let k = 0; k < ev.numSteps; k++) {
    ev.check()
    let rightCount = 0
    for (let j = 0; j < r.series.length; j++) {
      if (r.series[j].present[k] === 1) {
        stamp[rs[j]] = k
        rightCount++
      }
    }
    if (op === 'and') {
      if (rightCount === 0) continue
      for (let i = 0; i < l.series.length; i++) {
        if (l.series[i].present[k] === 1 && stamp[ls[i]] === k) put(l.series[i], lslots, i, k)
      }
    } else if (op === 'unless') {
      for (let i = 0; i < l.series.length; i++) {
        if (l.series[i].present[k] === 1 && (rightCount === 0 || stamp[ls[i]] !== k))
          put(l.series[i], lslots, i, k)
      }
    } else {
      for (let i = 0; i < l.series.length; i++) {
        if (l.series[i].present[k] === 1) {
          leftStamp[ls[i]] = k
          put(l.series[i], lslots, i, k)
        }
      }
      for (let j = 0; j < r.series.length; j++) {
        if (r.series[j].present[k] === 1 && leftStamp[rs[j]] !== k) put(r.series[j], rslots, j, k)
      }
    }
  }
  return out.grid()
}

function matchLabels(ls: Labels, m: VectorMatching): Labels {
  return m.on
    ? keepLabels(ls, m.matchingLabels)
    : deleteLabels(ls, [...m.matchingLabels, METRIC_NAME])
}

function vectorBinop(ev: Evaluator, e: BinaryExpr, l: Grid, r: Grid, m: VectorMatching): Grid {
  const op = e.op
  const cmp = isComparison(op)
  const intern = new Map<string, number>()
  const oneToMany = m.card === 'one-to-many'
  // The "many" side is walked; the "one" side is looked up by signature.
  const many = oneToMany ? r : l
  const one = oneToMany ? l : r
  const manySig = signatures(many.series, m, intern)
  const oneSig = signatures(one.series, m, intern)
  const stamp = new Int32Array(intern.size).fill(-1)
  const oneAt = new Int32Array(intern.size)
  const matchedStamp = new Int32Array(intern.size).fill(-1)
  const pairs = new Map<number, { labels: Labels; slot: GridSeries | null }>()
  const out = new OutBuilder(ev.numSteps)
  const nOne = one.series.length
  let inserted: Set<string> | null = null
  let lastErr: HistogramError = ''
  for (let k = 0; k < ev.numSteps; k++) {
    ev.check()
    let manyAny = false
    for (let i = 0; i < many.series.length; i++) {
      if (many.series[i].present[k] === 1) {
        manyAny = true
        break
      }
    }
    if (!manyAny) continue
    let any = false
    for (let j = 0; j < nOne; j++) {
      if (one.series[j].present[k] === 0) continue
      const sig = oneSig[j]
      if (stamp[sig] === k) {
        const a = one.series[j].labels
        const b = one.series[oneAt[sig]].labels
        throw executionError(
          `found duplicate series for the match group ${labelsString(matchLabels(a, m))} on the ${oneToMany ? 'left' : 'right'} hand-side of the operation: [${labelsString(a)}, ${labelsString(b)}];many-to-many matching not allowed: matching labels must be unique on one side`
        )
      }
      stamp[sig] = k
      oneAt[sig] = j
      any = true
    }
    if (!any) continue
    if (m.card === 'many-to-one' || m.card === 'one-to-many') inserted = new Set()
    for (let i = 0; i < many.series.length; i++) {
      const ms = many.series[i]
      if (ms.present[k] === 0) continue
      const sig = manySig[i]
      if (stamp[sig] !== k) continue
      const j = oneAt[sig]
      const os = one.series[j]
      const fl = oneToMany ? os.vals[k] : ms.vals[k]
      const fr = oneToMany ? ms.vals[k] : os.vals[k]
      let v: number
      let keep = true
      let hOut: FloatHistogram | undefined
      const hm = ms.hs === undefined ? undefined : ms.hs[k]
      const ho = os.hs === undefined ? undefined : os.hs[k]
      if (hm !== undefined || ho !== undefined) {
        v = elemBinop(op, fl, fr, oneToMany ? ho : hm, oneToMany ? hm : ho)
        keep = elemKeep
        hOut = elemH
        if (elemErr !== '') lastErr = elemErr
      } else if (cmp) {
        keep = compare(op, fl, fr)
        v = fl
      } else v = arith(op, fl, fr)
      if (e.returnBool) v = keep ? 1 : 0
      else if (!keep) continue
      const pk = i * nOne + j
      let pair = pairs.get(pk)
      if (pair === undefined) {
        pair = { labels: resultLabels(ev, ms.labels, os.labels, op, m, e.returnBool), slot: null }
        pairs.set(pk, pair)
      }
      if (m.card === 'one-to-one') {
        if (matchedStamp[sig] === k) {
          throw executionError(
            'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)'
          )
        }
        matchedStamp[sig] = k
      } else {
        const key = `${sig}\x00${labelsKey(pair.labels)}`
        if ((inserted as Set<string>).has(key)) {
          throw executionError(
            'multiple matches for labels: grouping labels must ensure unique matches'
          )
        }
        ;(inserted as Set<string>).add(key)
      }
      if (pair.slot === null) pair.slot = out.slot(pair.labels, e.returnBool)
      out.put(pair.slot, k, v, e.returnBool ? undefined : hOut)
    }
  }
  binopWarning(ev, e, lastErr)
  return out.grid()
}

/** resultLabels is Prometheus's resultMetric: the "many" side's labels, trimmed and extended. */
function resultLabels(
  ev: Evaluator,
  lhs: Labels,
  rhs: Labels,
  op: BinaryOp,
  m: VectorMatching,
  returnBool: boolean
): Labels {
  let ls = lhs
  if (dropsName(op)) ls = dropMetricName(ls)
  if (m.card === 'one-to-one') {
    ls = m.on ? keepLabels(ls, m.matchingLabels) : deleteLabels(ls, m.matchingLabels)
  }
  for (const name of m.include) ls = setLabel(ls, name, getLabel(rhs, name))
  if (!ev.ctx.delayedNameRemoval && returnBool) ls = dropMetricName(ls)
  return ls
}
