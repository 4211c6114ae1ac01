/**
 * The pure function layer of judge, a line-by-line port of falcon-plus v0.3
 * modules/judge/store/func.go (the functions, ParseFuncFromString, checkIsTriggered) and
 * store/linkedlist.go (SafeLinkedList.HistoryData). No state, no I/O.
 *
 * v0.3 has exactly: all, max, min, sum, avg, diff, pdiff, lookup, stddev. There is no `match`
 * function in falcon (v0.3 or later); kdiff/kpdiff were added after v0.3 (2021) and are not here.
 * stddev is falcon v0.3's own 3-sigma function (PR #601), not an invention of ours: see `stddev`.
 */

/** One point of a series as judge keeps it (falcon's JudgeItem / HistoryData: ts and value). */
export interface HistoryPoint {
  readonly timestamp: number
  readonly value: number
}

/** Falcon's operators; `=` is accepted as a synonym of `==` (checkIsTriggered). */
export type JudgeOperator = '==' | '=' | '!=' | '<' | '<=' | '>' | '>='

export type JudgeFuncName =
  'all' | 'max' | 'min' | 'sum' | 'avg' | 'diff' | 'pdiff' | 'lookup' | 'stddev'

/**
 * A parsed `name(#a[,b])`. `limit` is the N of `name(#N)`; for `lookup(#num,limit)` falcon takes
 * `num` from the first argument and `limit` from the second (lookup(#2,3): 2 of the newest 3).
 */
export interface JudgeFunc {
  readonly name: JudgeFuncName
  readonly limit: number
  /** Only for lookup: how many of the `limit` newest values must trigger. */
  readonly num: number
}

/** What falcon's Compute returns: the history used (vs), leftValue, isTriggered, isEnough. */
export interface FuncResult {
  readonly leftValue: number
  readonly triggered: boolean
  readonly isEnough: boolean
  /** The values the function looked at, newest first (falcon's `vs`; event generation reads its oldest ts). */
  readonly history: readonly HistoryPoint[]
}

export interface HistoryValues {
  readonly values: HistoryPoint[]
  readonly isEnough: boolean
}

/**
 * Falcon's SafeLinkedList.HistoryData(limit). `points` are the raw points, newest first.
 * judgeType starting with G/g (GAUGE): the newest `limit` raw values; fewer points → as many as
 * there are and isEnough=false. Anything else (COUNTER, DERIVE): needs limit+1 points, value_i =
 * (v_i − v_{i+1}) / (t_i − t_{i+1}) with ts_i = t_i, negatives kept (a counter reset gives a negative
 * rate); fewer points → the size−1 rates there are and isEnough=false. limit < 1 or no points →
 * nothing, isEnough=false.
 */
export function historyValues(
  points: readonly HistoryPoint[],
  limit: number,
  judgeType: string
): HistoryValues {
  if (limit < 1 || points.length === 0) return { values: [], isEnough: false }
  const size = points.length
  let isEnough = true
  const values: HistoryPoint[] = []
  const t = judgeType.charAt(0)
  if (t === 'G' || t === 'g') {
    if (size < limit) {
      limit = size
      isEnough = false
    }
    for (let i = 0; i < limit; i++) {
      const p = points[i]
      values.push({ timestamp: p.timestamp, value: p.value })
    }
  } else {
    if (size < limit + 1) {
      isEnough = false
      limit = size - 1
    }
    for (let i = 0; i < limit; i++) {
      const cur = points[i]
      const next = points[i + 1]
      values.push({
        timestamp: cur.timestamp,
        value: (cur.value - next.value) / (cur.timestamp - next.timestamp),
      })
    }
  }
  return { values, isEnough }
}

/**
 * Falcon's checkIsTriggered: `==`/`=` and `!=` compare with a 0.0001 tolerance (|l−r| < 0.0001,
 * |l−r| > 0.0001: a difference of exactly 0.0001 is neither equal nor unequal); the four orderings
 * are exact float compares; any other operator never triggers.
 */
export function checkTriggered(left: number, op: string, right: number): boolean {
  switch (op) {
    case '=':
    case '==':
      return Math.abs(left - right) < 0.0001
    case '!=':
      return Math.abs(left - right) > 0.0001
    case '<':
      return left < right
    case '<=':
      return left <= right
    case '>':
      return left > right
    case '>=':
      return left >= right
    default:
      return false
  }
}

/** A judge function over the raw points of one series (newest first) and its judgeType. */
export type JudgeCompute = (
  points: readonly HistoryPoint[],
  judgeType: string,
  op: string,
  right: number
) => FuncResult

const notEnough = (history: readonly HistoryPoint[]): FuncResult => ({
  leftValue: 0,
  triggered: false,
  isEnough: false,
  history,
})

const val = (vs: readonly HistoryPoint[], i: number): number => vs[i].value

/** all(#N): every one of the N values `op right`; leftValue = the newest value. */
export function all(limit: number): JudgeCompute {
  return (points, judgeType, op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit, judgeType)
    if (!isEnough) return notEnough(vs)
    let triggered = true
    for (let i = 0; i < limit; i++) {
      triggered = checkTriggered(val(vs, i), op, right)
      if (!triggered) break
    }
    return { leftValue: val(vs, 0), triggered, isEnough, history: vs }
  }
}

/** max(#N): leftValue = the largest of the N values. */
export function max(limit: number): JudgeCompute {
  return aggregate(limit, (vs) => {
    let m = val(vs, 0)
    for (let i = 1; i < limit; i++) if (m < val(vs, i)) m = val(vs, i)
    return m
  })
}

/** min(#N): leftValue = the smallest of the N values. */
export function min(limit: number): JudgeCompute {
  return aggregate(limit, (vs) => {
    let m = val(vs, 0)
    for (let i = 1; i < limit; i++) if (m > val(vs, i)) m = val(vs, i)
    return m
  })
}

/** sum(#N): leftValue = the sum of the N values. */
export function sum(limit: number): JudgeCompute {
  return aggregate(limit, (vs) => total(vs, limit))
}

/** avg(#N): leftValue = the sum of the N values ÷ N. */
export function avg(limit: number): JudgeCompute {
  return aggregate(limit, (vs) => total(vs, limit) / limit)
}

function total(vs: readonly HistoryPoint[], limit: number): number {
  let s = 0
  for (let i = 0; i < limit; i++) s += val(vs, i)
  return s
}

function aggregate(limit: number, fold: (vs: readonly HistoryPoint[]) => number): JudgeCompute {
  return (points, judgeType, op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit, judgeType)
    if (!isEnough) return notEnough(vs)
    const leftValue = fold(vs)
    return { leftValue, triggered: checkTriggered(leftValue, op, right), isEnough, history: vs }
  }
}

/**
 * diff(#N): uses N+1 values; for i = 1..N, leftValue = v0 − v_i; triggered at the first i whose
 * difference triggers (leftValue is that difference), else leftValue is the last one computed
 * (v0 − v_N). diff(#0) is "enough" with one value and never triggers, leftValue 0.
 */
export function diff(limit: number): JudgeCompute {
  return (points, judgeType, op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit + 1, judgeType)
    if (!isEnough || vs.length === 0) return notEnough(vs)
    const first = val(vs, 0)
    let leftValue = 0
    let triggered = false
    for (let i = 1; i < limit + 1; i++) {
      leftValue = first - val(vs, i)
      triggered = checkTriggered(leftValue, op, right)
      if (triggered) break
    }
    return { leftValue, triggered, isEnough, history: vs }
  }
}

/**
 * pdiff(#N): as diff with leftValue = (v0 − v_i) / v_i × 100; a v_i of exactly 0 is skipped (not
 * compared, leftValue untouched), so if every v_i is 0 nothing triggers and leftValue stays 0.
 */
export function pdiff(limit: number): JudgeCompute {
  return (points, judgeType, op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit + 1, judgeType)
    if (!isEnough || vs.length === 0) return notEnough(vs)
    const first = val(vs, 0)
    let leftValue = 0
    let triggered = false
    for (let i = 1; i < limit + 1; i++) {
      const v = val(vs, i)
      if (v === 0) continue
      leftValue = ((first - v) / v) * 100.0
      triggered = checkTriggered(leftValue, op, right)
      if (triggered) break
    }
    return { leftValue, triggered, isEnough, history: vs }
  }
}

/**
 * lookup(#num,limit): triggered when at least `num` of the newest `limit` values `op right`
 * (falcon counts and stops at the num-th; num ≤ 0 never triggers). leftValue = the newest value.
 */
export function lookup(num: number, limit: number): JudgeCompute {
  return (points, judgeType, op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit, judgeType)
    if (!isEnough) return notEnough(vs)
    let triggered = false
    for (let n = 0, i = 0; i < limit; i++) {
      if (checkTriggered(val(vs, i), op, right)) {
        n++
        if (n === num) {
          triggered = true
          break
        }
      }
    }
    return { leftValue: val(vs, 0), triggered, isEnough, history: vs }
  }
}

/**
 * stddev(#N) = k: falcon v0.3's 3-sigma function, kept exactly rather than redefined. μ and σ are
 * the mean and the *population* standard deviation (÷N) of the newest N values, the newest value
 * included; triggered when the newest value is outside [μ − k·σ, μ + k·σ] (strictly). The operator is
 * ignored (falcon never reads it here). leftValue = the newest value.
 */
export function stddev(limit: number): JudgeCompute {
  return (points, judgeType, _op, right) => {
    const { values: vs, isEnough } = historyValues(points, limit, judgeType)
    if (!isEnough || vs.length === 0) return notEnough(vs)
    const leftValue = val(vs, 0)
    const data = vs.map((p) => p.value)
    const mean = meanOf(data)
    const std = Math.sqrt(meanOf(data.map((v) => (v - mean) * (v - mean))))
    const upper = mean + right * std
    const lower = mean - right * std
    return { leftValue, triggered: leftValue < lower || leftValue > upper, isEnough, history: vs }
  }
}

function meanOf(values: readonly number[]): number {
  let s = 0
  for (const v of values) s += v
  return s / values.length
}

/** Go's strconv.Atoi: optional sign then decimal digits, nothing else (no spaces). */
function atoi(s: string): number | Error {
  if (!/^[+-]?[0-9]+$/.test(s)) return new Error(`strconv.Atoi: parsing "${s}": invalid syntax`)
  return Number.parseInt(s, 10)
}

/**
 * Falcon's ParseFuncFromString: name = the text before the character that precedes the first `#`
 * (i.e. before `(#`), args = the comma-separated ints between that `#` and the last character.
 * Extra arguments are ignored, as in falcon; a missing one (lookup(#2)) is an error where falcon
 * would panic. Unknown names → `not_supported_method: <name>`.
 */
export function parseFunc(func: string): JudgeFunc | Error {
  if (func === '') return new Error('func can not be null!')
  const idx = func.indexOf('#')
  if (idx < 1) return new Error(`malformed func ${JSON.stringify(func)}: expected name(#args)`)
  const args: number[] = []
  for (const a of func.slice(idx + 1, -1).split(',')) {
    const n = atoi(a)
    if (n instanceof Error) return n
    args.push(n)
  }
  const name = func.slice(0, idx - 1)
  const first = args[0]
  switch (name) {
    case 'all':
    case 'max':
    case 'min':
    case 'sum':
    case 'avg':
    case 'diff':
    case 'pdiff':
    case 'stddev':
      return { name, limit: first, num: 0 }
    case 'lookup': {
      const second = args[1]
      if (second === undefined) return new Error(`lookup needs two arguments: ${func}`)
      return { name, num: first, limit: second }
    }
    default:
      return new Error(`not_supported_method: ${name}`)
  }
}

/** The compute function of a parsed JudgeFunc. */
export function judgeFunction(fn: JudgeFunc): JudgeCompute {
  switch (fn.name) {
    case 'all':
      return all(fn.limit)
    case 'max':
      return max(fn.limit)
    case 'min':
      return min(fn.limit)
    case 'sum':
      return sum(fn.limit)
    case 'avg':
      return avg(fn.limit)
    case 'diff':
      return diff(fn.limit)
    case 'pdiff':
      return pdiff(fn.limit)
    case 'lookup':
      return lookup(fn.num, fn.limit)
    case 'stddev':
      return stddev(fn.limit)
  }
}
