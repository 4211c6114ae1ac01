// evaluate.ts (the hot path) must say exactly what functions.ts (the port of falcon's func.go) says:
// both are run on the same random histories for every function, operator and judge type.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { evaluate, type Evaluation } from './evaluate.js'
import { historyValues, judgeFunction, parseFunc, type HistoryPoint } from './functions.js'
import { RuleIndex } from './rules.js'
import { Series } from './series.js'
import { silentLogger, type Strategy } from '../core/index.js'

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FUNCS = [
  'all(#1)',
  'all(#3)',
  'max(#4)',
  'min(#4)',
  'sum(#5)',
  'avg(#5)',
  'diff(#0)',
  'diff(#3)',
  'pdiff(#3)',
  'lookup(#2,4)',
  'lookup(#0,3)',
  'stddev(#5)',
  'all(#0)',
]
const OPS = ['==', '=', '!=', '<', '<=', '>', '>=', '<>']

function strategy(func: string, operator: string, rightValue: number): Strategy {
  return {
    id: 1,
    metric: 'm',
    tags: {},
    func,
    operator,
    rightValue,
    maxStep: 3,
    priority: 0,
    note: '',
    tpl: { id: 1, name: 't', parentId: 0, actionId: 0, creator: '' },
  }
}

test('evaluate agrees with functions.ts on 20,000 random histories', () => {
  const rand = rng(42)
  const out: Evaluation = { enough: false, triggered: false, leftValue: 0, oldestTime: 0 }
  let compared = 0
  let triggered = 0
  for (let round = 0; round < 20_000; round++) {
    const func = FUNCS[round % FUNCS.length]
    const op = OPS[Math.floor(rand() * OPS.length)]
    const gauge = rand() < 0.5
    // Small integer values (zeros included, for pdiff) and thresholds, so every branch is taken.
    const n = Math.floor(rand() * 9)
    const right = Math.floor(rand() * 7) - 2
    const index = new RuleIndex(
      1,
      [{ hostname: 'h', strategies: [strategy(func, op, right)] }],
      [],
      3,
      silentLogger
    )
    const rule = index.strategies.get('h')?.get('m')?.[0]
    assert.ok(rule)
    const cap = 2 + Math.floor(rand() * 10)
    const s = new Series('h', 'm', {}, cap)
    let ts = 1000
    for (let i = 0; i < n; i++) {
      ts += 1 + Math.floor(rand() * 3)
      s.push(ts, Math.floor(rand() * 5) - 1, gauge, cap)
    }
    const points: HistoryPoint[] = []
    for (let i = 0; i < s.size; i++) points.push({ timestamp: s.t(i), value: s.v(i) })
    const fn = parseFunc(func)
    assert.ok(!(fn instanceof Error))
    const want = judgeFunction(fn)(points, gauge ? 'GAUGE' : 'COUNTER', op, right)
    evaluate(rule, s, out)
    const label = `${func} ${op} ${right} ${gauge ? 'GAUGE' : 'COUNTER'} ${JSON.stringify(points)}`
    assert.equal(out.enough, want.isEnough, label)
    if (!want.isEnough) continue
    compared++
    if (want.triggered) triggered++
    assert.equal(out.triggered, want.triggered, label)
    assert.ok(
      Object.is(out.leftValue, want.leftValue),
      `${label}: ${out.leftValue} ≠ ${want.leftValue}`
    )
    assert.equal(out.oldestTime, want.history[want.history.length - 1].timestamp, label)
  }
  // The random cases must exercise both outcomes, or the comparison proves little.
  assert.ok(compared > 5000, `only ${compared} cases had enough points`)
  assert.ok(
    triggered > 1000 && triggered < compared - 1000,
    `${triggered} of ${compared} triggered`
  )
})

test('a series ring keeps the newest points in order and grows without losing them', () => {
  const s = new Series('h', 'm', {}, 3)
  for (let t = 1; t <= 5; t++) assert.equal(s.push(t * 10, t, true, 3), true)
  assert.deepEqual([s.t(0), s.t(1), s.t(2)], [50, 40, 30])
  assert.equal(s.size, 3)
  assert.equal(s.push(50, 9, true, 3), false, 'same timestamp refused')
  assert.equal(s.push(0, 9, true, 3), false, 'timestamp 0 refused')
  assert.equal(s.push(60, 6, true, 5), true)
  assert.equal(s.capacity, 5)
  assert.deepEqual(
    Array.from({ length: s.size }, (_, i) => [s.t(i), s.v(i)]),
    [
      [60, 6],
      [50, 5],
      [40, 4],
      [30, 3],
    ]
  )
  s.push(70, 7, true, 2)
  assert.deepEqual([s.size, s.t(0), s.t(1)], [2, 70, 60])
  // historyValues over the same points agrees with the ring's reading.
  assert.deepEqual(historyValues([{ timestamp: 70, value: 7 }], 1, 'GAUGE').values, [
    { timestamp: 70, value: 7 },
  ])
})
