import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { countersOf, evaluate, parseRule, type Rule } from './evaluate.js'

const row = (numerator: string, denominator: string) => ({
  id: 1,
  grp_id: 2,
  numerator,
  denominator,
  endpoint: 'cluster',
  metric: 'm',
  tags: '',
  ds_type: 'GAUGE',
  step: 60,
  last_update: '2026-01-01 00:00:00',
})

const rule = (n: string, d: string): Rule => {
  const r = parseRule(row(n, d))
  if (typeof r === 'string') assert.fail(r)
  return r
}

/** why is parseRule's refusal, or '' when it parsed the row. */
const why = (r: Rule | string) => (typeof r === 'string' ? r : '')

const values: Record<string, Record<string, number>> = {
  a: { 'cpu.used': 10, 'cpu.idle': 90, 'df/mount=/,fstype=ext4': 50 },
  b: { 'cpu.used': 20, 'cpu.idle': 80 },
  c: { 'cpu.used': 30 },
}
const value = (h: string, c: string) => values[h]?.[c]

describe('aggregator evaluate', () => {
  it('averages over the hosts that have values: $# counts them, a silent one is left out', () => {
    assert.deepEqual(evaluate(rule('$(cpu.used)', '$#'), ['a', 'b', 'c', 'gone'], value), {
      value: 20,
      numerator: 60,
      denominator: 3,
      hosts: 4,
      valid: 3,
    })
  })

  it('leaves out a host missing any counter of either side', () => {
    const r = evaluate(rule('$(cpu.used)', '$(cpu.used)+$(cpu.idle)'), ['a', 'b', 'c'], value)
    assert.deepEqual(r, { value: 30 / 200, numerator: 30, denominator: 200, hosts: 3, valid: 2 })
  })

  it('counts a test as 1 or 0 per host, and takes a number as it is', () => {
    assert.equal(
      (evaluate(rule('$(cpu.used)>=20', '$#'), ['a', 'b', 'c'], value) as { value: number }).value,
      2 / 3
    )
    assert.equal(
      (evaluate(rule('$(cpu.used)', '100'), ['a', 'b'], value) as { value: number }).value,
      0.3
    )
  })

  it('reads tags in any order, as graph names the counter', () => {
    const r = rule('$(df/fstype=ext4, mount=/)', '$#')
    assert.deepEqual(countersOf(r), ['df/fstype=ext4,mount=/'])
    const v = (h: string, c: string) =>
      values[h]?.[c === 'df/fstype=ext4,mount=/' ? 'df/mount=/,fstype=ext4' : c]
    assert.equal((evaluate(r, ['a'], v) as { value: number }).value, 50)
  })

  it('gives no result, and says why, when no host counted or the denominator is 0', () => {
    assert.deepEqual(evaluate(rule('$(cpu.used)', '100'), ['gone'], value), {
      skipped: 'no host had a value for every counter',
      hosts: 1,
      valid: 0,
    })
    assert.match(
      (
        evaluate(rule('$(cpu.used)', '$(cpu.used)-$(cpu.used)'), ['a'], value) as {
          skipped: string
        }
      ).skipped,
      /denominator is 0/
    )
    assert.match(
      (evaluate(rule('$(cpu.used)', '$#'), [], value) as { skipped: string }).skipped,
      /no host/
    )
  })

  it('names what is wrong with a row it cannot run', () => {
    assert.match(why(parseRule(row('（$(a)）', '$#'))), /numerator .*full-width/)
    assert.match(
      why(parseRule(row('$#', '2'))),
      /neither numerator nor denominator reads a counter/
    )
    assert.match(why(parseRule({ ...row('$(a)', '$#'), step: 0 })), /step 0/)
  })
})
