import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkFunc, checkStrategy, checkTags, strategyBody, type StrategyForm } from './strategy.js'

const good: StrategyForm = {
  metric: 'cpu.idle',
  tags: '',
  func: 'all(#3)',
  op: '<',
  right_value: '10',
  max_step: '3',
  priority: '1',
  note: '',
  run_begin: '',
  run_end: '',
  for: '0',
}

describe('the strategy form', () => {
  it('takes judge functions', () => {
    for (const f of [
      'all(#1)',
      'max(#5)',
      'min(#3)',
      'sum(#2)',
      'avg(#10)',
      'diff(#2)',
      'pdiff(#2)',
      'stddev(#7)',
      'lookup(#2,5)',
      'lookup(#3,3)',
    ]) {
      assert.equal(checkFunc(f), undefined, f)
    }
  })

  it('names what is wrong with a function', () => {
    assert.equal(checkFunc('')?.key, 'required')
    assert.deepEqual(checkFunc('median(#3)'), { key: 'funcUnknown', params: { name: 'median' } })
    assert.equal(checkFunc('all(3)')?.key, 'funcCount')
    assert.equal(checkFunc('all(#0)')?.key, 'funcCount')
    assert.equal(checkFunc('all(#03)')?.key, 'funcCount')
    assert.equal(checkFunc('all #3')?.key, 'funcShape')
    assert.equal(checkFunc('lookup(#3)')?.key, 'funcLookup')
    assert.equal(checkFunc('lookup(#5,2)')?.key, 'funcLookupOrder')
    assert.equal(checkFunc('lookup(#1,12345678)')?.key, 'tooLong')
  })

  it('passes a good form and names each bad field', () => {
    assert.deepEqual(checkStrategy(good), {})
    const errors = checkStrategy({
      ...good,
      metric: ' cpu',
      tags: 'a=1,a=2',
      op: '=>',
      right_value: '1O',
      max_step: '0',
      priority: '7',
      run_begin: '22:00',
      run_end: '',
      for: '-1',
    })
    assert.deepEqual(Object.keys(errors).sort(), [
      'for',
      'max_step',
      'metric',
      'op',
      'priority',
      'right_value',
      'run_end',
      'tags',
    ])
    assert.equal(errors.tags?.key, 'tagTwice')
    assert.equal(checkStrategy({ ...good, tags: 'a' }).tags?.key, 'tags')
    assert.equal(checkStrategy({ ...good, tags: 'a!b=c' }).tags?.key, 'tags')
    assert.equal(checkStrategy({ ...good, tags: 'a=~x{1,2}' }).tags?.key, 'tags')
    assert.equal(checkStrategy({ ...good, tags: 'a=b=c' }).tags?.key, 'tags')
    assert.equal(checkStrategy({ ...good, metric: '' }).metric?.key, 'required')
    assert.equal(checkStrategy({ ...good, right_value: 'Infinity' }).right_value?.key, 'number')
    assert.deepEqual(
      checkStrategy({ ...good, right_value: '-1.5e3', run_begin: '22:00', run_end: '06:00' }),
      {}
    )
  })

  it("takes the api's tag matchers and names what is wrong with one", () => {
    const f = (tags: string, want: string | undefined, metric = 'df.bytes.free.percent') =>
      assert.equal(checkTags(tags, metric)?.key, want, tags)
    f('mount=/', undefined)
    f('mount=~/data[0-9]*,fstype!=tmpfs,dev!~loop.*', undefined)
    f('mount=~(?i)/DATA.*', undefined)
    f('mount=~(?P<d>/data)|(?i:/BOOT)|\\\\1', undefined)
    f('q=~a=b,q!~a=bx', undefined)
    f('mount=~(', 'tagRegex')
    f('mount!~(?=x)', 'tagRegex')
    f('mount=~(a)\\1', 'tagRegex')
    f('mount!=~x', 'tagTilde')
    f('mount=~a,mount=b', 'tagTwice')
    f('mount!~a,mount!=b', 'tagTwice')
    f('port=~80|81', 'tagBuiltin', 'net.port.listen')
    f('port=80', undefined, 'net.port.listen')
    assert.deepEqual(checkStrategy({ ...good, tags: 'dev!~(' }).tags, {
      key: 'tagRegex',
      params: { key: 'dev' },
    })
  })

  it('builds the body api takes', () => {
    assert.deepEqual(strategyBody({ ...good, func: ' all(#3) ', for: '' }, 7), {
      tpl_id: 7,
      metric: 'cpu.idle',
      tags: '',
      func: 'all(#3)',
      op: '<',
      right_value: '10',
      max_step: 3,
      priority: 1,
      note: '',
      run_begin: '',
      run_end: '',
      for: 0,
    })
  })
})
