import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkTriggered,
  historyValues,
  judgeFunction,
  parseFunc,
  type FuncResult,
  type HistoryPoint,
  type JudgeFunc,
} from './functions.js'

/** Raw gauge/counter points, newest first, from newest value to oldest, 60 s apart. */
function pts(...values: number[]): HistoryPoint[] {
  return values.map((value, i) => ({ timestamp: 10_000 - 60 * i, value }))
}

interface Case {
  func: string
  values: number[]
  op: string
  right: number
  want: Pick<FuncResult, 'leftValue' | 'triggered' | 'isEnough'>
  judgeType?: string
}

function run(c: Case): FuncResult {
  const fn = parseFunc(c.func)
  assert.ok(!(fn instanceof Error), `parse ${c.func}`)
  return judgeFunction(fn)(pts(...c.values), c.judgeType ?? 'GAUGE', c.op, c.right)
}

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    for (const c of cases) {
      it(`${c.func} ${c.op} ${c.right} over [${c.values.join(',')}] ${c.judgeType ?? ''}`, () => {
        const got = run(c)
        assert.deepEqual(
          { leftValue: got.leftValue, triggered: got.triggered, isEnough: got.isEnough },
          c.want
        )
      })
    }
  })
}

const E = (leftValue: number, triggered: boolean) => ({ leftValue, triggered, isEnough: true })
const NE = { leftValue: 0, triggered: false, isEnough: false }

describe('checkTriggered', () => {
  const cases: [number, string, number, boolean][] = [
    [1, '==', 1, true],
    [1, '=', 1, true],
    [1.00005, '==', 1, true], // |d| < 0.0001
    [1.0002, '==', 1, false],
    [0.0001, '==', 0, false], // exactly the tolerance: neither equal…
    [0.0001, '!=', 0, false], // …nor unequal
    [1, '!=', 1, false],
    [1.00005, '!=', 1, false], // within tolerance → not unequal
    [1.0002, '!=', 1, true],
    [2, '!=', 1, true],
    [1, '<', 2, true],
    [2, '<', 2, false],
    [2, '<=', 2, true],
    [3, '<=', 2, false],
    [3, '>', 2, true],
    [2, '>', 2, false],
    [2, '>=', 2, true],
    [1, '>=', 2, false],
    [1, '=>', 0, false], // unknown operator never triggers
    [1, '', 0, false],
  ]
  for (const [l, op, r, want] of cases) {
    it(`${l} ${op} ${r} → ${want}`, () => assert.equal(checkTriggered(l, op, r), want))
  }
})

describe('parseFunc', () => {
  const ok: [string, JudgeFunc][] = [
    ['all(#3)', { name: 'all', limit: 3, num: 0 }],
    ['max(#1)', { name: 'max', limit: 1, num: 0 }],
    ['avg(#10)', { name: 'avg', limit: 10, num: 0 }],
    ['pdiff(#2)', { name: 'pdiff', limit: 2, num: 0 }],
    ['stddev(#10)', { name: 'stddev', limit: 10, num: 0 }],
    ['lookup(#2,3)', { name: 'lookup', num: 2, limit: 3 }],
    ['sum(#3,9)', { name: 'sum', limit: 3, num: 0 }], // extra args ignored, as falcon
    ['diff(#+4)', { name: 'diff', limit: 4, num: 0 }], // Atoi accepts a sign
  ]
  for (const [s, want] of ok) it(s, () => assert.deepEqual(parseFunc(s), want))
  const bad: [string, RegExp][] = [
    ['', /func can not be null/],
    ['foo(#3)', /not_supported_method: foo/],
    ['match(#3)', /not_supported_method: match/],
    ['kdiff(#3,3)', /not_supported_method: kdiff/],
    ['all(3)', /malformed/],
    ['all(#)', /invalid syntax/],
    ['all(#x)', /invalid syntax/],
    ['lookup(#2, 3)', /invalid syntax/],
    ['lookup(#2)', /two arguments/],
  ]
  for (const [s, re] of bad) {
    it(`rejects ${JSON.stringify(s)}`, () => {
      const got = parseFunc(s)
      assert.ok(got instanceof Error)
      assert.match(got.message, re)
    })
  }
})

describe('historyValues', () => {
  it('GAUGE: newest limit raw values', () => {
    assert.deepEqual(historyValues(pts(5, 4, 3, 2), 3, 'GAUGE'), {
      values: [
        { timestamp: 10_000, value: 5 },
        { timestamp: 9940, value: 4 },
        { timestamp: 9880, value: 3 },
      ],
      isEnough: true,
    })
  })
  it('gauge (lower-case g) with too few points: what there is, not enough', () => {
    const got = historyValues(pts(5, 4), 3, 'gauge')
    assert.deepEqual(
      got.values.map((p) => p.value),
      [5, 4]
    )
    assert.equal(got.isEnough, false)
  })
  it('limit < 1 or no points: nothing, not enough', () => {
    assert.deepEqual(historyValues(pts(1, 2), 0, 'GAUGE'), { values: [], isEnough: false })
    assert.deepEqual(historyValues([], 1, 'GAUGE'), { values: [], isEnough: false })
    assert.deepEqual(historyValues([], 1, 'COUNTER'), { values: [], isEnough: false })
  })
  it('COUNTER: limit+1 points become per-second rates stamped with the newer ts', () => {
    // 600, 300, 0 at 60 s apart → 5/s, 5/s
    assert.deepEqual(historyValues(pts(600, 300, 0), 2, 'COUNTER'), {
      values: [
        { timestamp: 10_000, value: 5 },
        { timestamp: 9940, value: 5 },
      ],
      isEnough: true,
    })
  })
  it('COUNTER reset gives a negative rate (no clamp)', () => {
    // newest 30 after 630: (30 − 630)/60 = −10; then (630 − 0)/60 = 10.5
    const got = historyValues(pts(30, 630, 0), 2, 'COUNTER')
    assert.deepEqual(
      got.values.map((p) => p.value),
      [-10, 10.5]
    )
    assert.equal(got.isEnough, true)
  })
  it('DERIVE with uneven spacing divides by the real gap', () => {
    const points = [
      { timestamp: 200, value: 50 },
      { timestamp: 100, value: 10 },
    ]
    assert.deepEqual(historyValues(points, 1, 'DERIVE'), {
      values: [{ timestamp: 200, value: 0.4 }],
      isEnough: true,
    })
  })
  it('COUNTER with only limit points: limit−1 rates, not enough', () => {
    const got = historyValues(pts(600, 300, 0), 3, 'COUNTER')
    assert.equal(got.values.length, 2)
    assert.equal(got.isEnough, false)
    assert.deepEqual(historyValues(pts(600), 1, 'COUNTER'), { values: [], isEnough: false })
  })
})

table('all', [
  { func: 'all(#3)', values: [95, 91, 92, 10], op: '>', right: 90, want: E(95, true) },
  { func: 'all(#3)', values: [95, 91, 90], op: '>', right: 90, want: E(95, false) }, // boundary
  { func: 'all(#3)', values: [95, 91, 90], op: '>=', right: 90, want: E(95, true) },
  { func: 'all(#3)', values: [80, 91, 92], op: '>', right: 90, want: E(80, false) },
  { func: 'all(#3)', values: [95, 91], op: '>', right: 90, want: NE },
  { func: 'all(#2)', values: [1, 1], op: '==', right: 1, want: E(1, true) },
  { func: 'all(#2)', values: [1, 2], op: '!=', right: 1, want: E(1, false) },
  { func: 'all(#2)', values: [1, 2], op: '<', right: 3, want: E(1, true) },
  { func: 'all(#2)', values: [3, 2], op: '<=', right: 3, want: E(3, true) },
  // counter: rates 5 and −10 (reset): all < 6 holds
  {
    func: 'all(#2)',
    values: [600, 300, 900],
    op: '<',
    right: 6,
    judgeType: 'COUNTER',
    want: E(5, true),
  },
  { func: 'all(#2)', values: [600, 300], op: '<', right: 6, judgeType: 'COUNTER', want: NE },
])

table('max', [
  { func: 'max(#3)', values: [1, 7, 3, 100], op: '>', right: 5, want: E(7, true) },
  { func: 'max(#3)', values: [1, 5, 3], op: '>', right: 5, want: E(5, false) },
  { func: 'max(#3)', values: [1, 5, 3], op: '>=', right: 5, want: E(5, true) },
  { func: 'max(#3)', values: [-1, -5, -3], op: '<', right: 0, want: E(-1, true) },
  { func: 'max(#4)', values: [1, 5, 3], op: '>', right: 0, want: NE },
])

table('min', [
  { func: 'min(#3)', values: [4, 2, 3, -100], op: '<', right: 3, want: E(2, true) },
  { func: 'min(#3)', values: [4, 3, 3], op: '<', right: 3, want: E(3, false) },
  { func: 'min(#3)', values: [4, 3, 3], op: '<=', right: 3, want: E(3, true) },
  { func: 'min(#3)', values: [4, 3.00005, 5], op: '==', right: 3, want: E(3.00005, true) },
  { func: 'min(#2)', values: [4], op: '<', right: 9, want: NE },
])

table('sum', [
  { func: 'sum(#3)', values: [1, 2, 3, 1000], op: '>', right: 5, want: E(6, true) },
  { func: 'sum(#3)', values: [1, 2, 3], op: '==', right: 6, want: E(6, true) },
  { func: 'sum(#3)', values: [1, 2, 3], op: '!=', right: 6, want: E(6, false) },
  { func: 'sum(#3)', values: [1, 2, 3], op: '<', right: 6, want: E(6, false) },
  { func: 'sum(#3)', values: [1, 2], op: '>', right: 0, want: NE },
  // counter 900, 600, 0 → rates 5, 10 → 15
  {
    func: 'sum(#2)',
    values: [900, 600, 0],
    op: '>=',
    right: 15,
    judgeType: 'COUNTER',
    want: E(15, true),
  },
])

table('avg', [
  { func: 'avg(#4)', values: [1, 2, 3, 6, 99], op: '>', right: 2, want: E(3, true) },
  { func: 'avg(#4)', values: [1, 2, 3, 6], op: '<=', right: 3, want: E(3, true) },
  { func: 'avg(#4)', values: [1, 2, 3, 6], op: '<', right: 3, want: E(3, false) },
  { func: 'avg(#2)', values: [1, 2], op: '==', right: 1.5, want: E(1.5, true) },
  { func: 'avg(#3)', values: [1, 2], op: '>', right: 0, want: NE },
])

table('diff', [
  // N+1 = 4 values: 10−9=1, 10−2=8 triggers and stops there
  { func: 'diff(#3)', values: [10, 9, 2, 0], op: '>', right: 5, want: E(8, true) },
  // none triggers: leftValue is the last computed, 10−8=2
  { func: 'diff(#3)', values: [10, 9, 9, 8], op: '>', right: 5, want: E(2, false) },
  { func: 'diff(#1)', values: [10, 15], op: '<', right: -4, want: E(-5, true) },
  { func: 'diff(#1)', values: [10, 15], op: '==', right: -5, want: E(-5, true) },
  { func: 'diff(#2)', values: [10, 5, 0], op: '>=', right: 5, want: E(5, true) },
  // N values are not enough: diff needs N+1
  { func: 'diff(#3)', values: [10, 9, 2], op: '>', right: 5, want: NE },
  // diff(#0): one value is enough, nothing compared
  { func: 'diff(#0)', values: [10], op: '>', right: -1, want: E(0, false) },
])

table('pdiff', [
  // (10−8)/8*100 = 25, then (10−5)/5*100 = 100 triggers
  { func: 'pdiff(#2)', values: [10, 8, 5], op: '>', right: 50, want: E(100, true) },
  { func: 'pdiff(#2)', values: [10, 8, 5], op: '>', right: 100, want: E(100, false) },
  // zero previous value is skipped: only (10−4)/4*100 = 150 is computed
  { func: 'pdiff(#2)', values: [10, 0, 4], op: '>', right: 200, want: E(150, false) },
  { func: 'pdiff(#2)', values: [10, 0, 4], op: '>=', right: 150, want: E(150, true) },
  // every previous value zero: nothing compared, leftValue stays 0
  { func: 'pdiff(#2)', values: [10, 0, 0], op: '<', right: 1, want: E(0, false) },
  // drop: (5−10)/10*100 = −50
  { func: 'pdiff(#1)', values: [5, 10], op: '<=', right: -50, want: E(-50, true) },
  { func: 'pdiff(#2)', values: [10, 8], op: '>', right: 0, want: NE },
])

table('lookup', [
  // lookup(#2,3): at least 2 of the newest 3
  { func: 'lookup(#2,3)', values: [95, 10, 91, 99], op: '>', right: 90, want: E(95, true) },
  { func: 'lookup(#2,3)', values: [95, 10, 20, 99], op: '>', right: 90, want: E(95, false) },
  { func: 'lookup(#2,3)', values: [10, 95, 91], op: '>', right: 90, want: E(10, true) },
  { func: 'lookup(#3,3)', values: [95, 90, 91], op: '>', right: 90, want: E(95, false) },
  { func: 'lookup(#3,3)', values: [95, 90, 91], op: '>=', right: 90, want: E(95, true) },
  { func: 'lookup(#1,3)', values: [0, 0, 0], op: '!=', right: 0, want: E(0, false) },
  { func: 'lookup(#0,3)', values: [95, 95, 95], op: '>', right: 90, want: E(95, false) },
  { func: 'lookup(#2,3)', values: [95, 95], op: '>', right: 90, want: NE },
])

table('stddev', [
  // [10, 2, 4, 4, 4, 5, 5, 7, 9]: μ = 50/9 ≈ 5.5556, σ² = 332/9 − μ² ≈ 6.0247 → σ ≈ 2.4545
  // 10 − μ ≈ 4.4444 > 1.8σ ≈ 4.4181 → outside with k=1.8; < 2σ ≈ 4.9091 → inside with k=2
  {
    func: 'stddev(#9)',
    values: [10, 2, 4, 4, 4, 5, 5, 7, 9],
    op: '=',
    right: 1.8,
    want: E(10, true),
  },
  {
    func: 'stddev(#9)',
    values: [10, 2, 4, 4, 4, 5, 5, 7, 9],
    op: '=',
    right: 2,
    want: E(10, false),
  },
  // operator ignored: same result with any operator
  {
    func: 'stddev(#9)',
    values: [10, 2, 4, 4, 4, 5, 5, 7, 9],
    op: '<',
    right: 1.8,
    want: E(10, true),
  },
  // [2, 4, 4, 4, 5, 5, 7, 9]: μ = 5, σ = 2 exactly; newest 9 = μ + 2σ is on the bound → not outside
  { func: 'stddev(#8)', values: [9, 4, 4, 4, 5, 5, 7, 2], op: '>', right: 2, want: E(9, false) },
  { func: 'stddev(#8)', values: [9, 4, 4, 4, 5, 5, 7, 2], op: '>', right: 1.9, want: E(9, true) },
  // flat series: σ = 0, newest = μ → not outside
  { func: 'stddev(#3)', values: [5, 5, 5], op: '>', right: 3, want: E(5, false) },
  { func: 'stddev(#3)', values: [5, 5], op: '>', right: 3, want: NE },
])
