import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { aggregatorExprProblem, compareHolds, parseAggregatorExpr } from './aggregator-expr.js'

describe('aggregator expressions', () => {
  const f = (expr: string, ok: boolean) =>
    assert.equal(aggregatorExprProblem(expr) === null, ok, JSON.stringify(expr))
  it('accepts the forms falcon aggregator computes and refuses others', () => {
    f('$#', true)
    f('100', true)
    f('$(cpu.idle)', true)
    f('$(cpu.busy)+$(cpu.idle)-$(cpu.nice)', true)
    f(' $(cpu.busy) +\n$(cpu.idle)\t', true)
    f('$(net.if.in.bytes/iface=eth0)', true)
    f('$(cpu.idle)>=80', true)
    f('$(cpu.idle)<0.5', true)
    f('($(cpu.busy)+$(cpu.idle))>80', true)
    f('', false)
    f('$', false)
    f('1.5', false)
    f('$(cpu.idle)*2', false)
    f('$(cpu.idle)+', false)
    f('$()', false)
    f('$(cpu.idle)>=', false)
    f('（$(a)+$(b)）>1', false)
    f('cpu.idle', false)
    f('$(a/x)', false)
    f('$(/x=1)', false)
    f('$(df.bytes.free.percent/mount=/data,fstype=ext4)', true)
  })
  it('names full-width parentheses', () => {
    assert.match(aggregatorExprProblem('$（a）') ?? '', /full-width/)
  })
})

describe('parseAggregatorExpr', () => {
  it('reads sums, tests, $# and numbers into what the aggregator evaluates', () => {
    assert.deepEqual(parseAggregatorExpr('$#'), { kind: 'hosts' })
    assert.deepEqual(parseAggregatorExpr(' 200 '), { kind: 'number', value: 200 })
    assert.deepEqual(parseAggregatorExpr('$(cpu.busy) + $(cpu.idle)-$(a/b=c)'), {
      kind: 'sum',
      terms: [
        { sign: 1, counter: 'cpu.busy' },
        { sign: 1, counter: 'cpu.idle' },
        { sign: -1, counter: 'a/b=c' },
      ],
    })
    assert.deepEqual(parseAggregatorExpr('($(a)-$(b))>=2.5'), {
      kind: 'sum',
      terms: [
        { sign: 1, counter: 'a' },
        { sign: -1, counter: 'b' },
      ],
      compare: { op: '>=', value: 2.5 },
    })
    assert.deepEqual(parseAggregatorExpr('$(a)=1'), {
      kind: 'sum',
      terms: [{ sign: 1, counter: 'a' }],
      compare: { op: '=', value: 1 },
    })
    // A sum compared needs its parentheses, as falcon writes it.
    assert.equal(typeof parseAggregatorExpr('$(a)+$(b)>1'), 'string')
  })
  it('compares as falcon compareSum', () => {
    assert.equal(compareHolds(80, '>=', 80), true)
    assert.equal(compareHolds(80, '>', 80), false)
    assert.equal(compareHolds(1, '=', 1), true)
    assert.equal(compareHolds(0.4, '<', 0.5), true)
    assert.equal(compareHolds(0.5, '<=', 0.5), true)
  })
})
