import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Engine } from '../engine.js'
import { almostEqual, runScript } from './runner.js'

const engine = new Engine({ delayedNameRemoval: true })

const script = (body: string): string => body.replace(/^ {4}/gm, '')

describe('promqltest runner', () => {
  it('passes a correct script and names the line of a wrong expectation', async () => {
    const results = await runScript(
      script(`
    load 1m
    	metric{a="x"} 0+10x5 _ stale 1
    	other 1x3

    eval instant at 2m metric
    	metric{a="x"} 20

    eval instant at 2m metric
    	metric{a="x"} 21

    eval range from 0 to 4m step 2m sum(metric)
    	{} 0 20 40

    eval_fail instant at 0m vector(1) + on() group_left(a) (metric or metric2)

    eval_ordered instant at 0m sort_desc(metric or other)
    	other 1
    	metric{a="x"} 0
    `),
      engine
    )
    const evals = results.filter((r) => r.kind === 'eval')
    assert.deepEqual(
      evals.map((r) => [r.line, r.ok]),
      [
        [6, true],
        [9, false],
        [12, true],
        [15, false],
        [17, true],
      ]
    )
    assert.match(evals[1].reason, /expected 21 for \{__name__="metric", a="x"\} but got 20/)
    assert.match(evals[3].reason, /expected error/)
  })

  it('hides a series after a stale marker and reads increments, repetitions and blanks', async () => {
    const results = await runScript(
      script(`
    load 1m
    	m -2-3x2 _x2 stale 7

    eval range from 0 to 6m step 1m m
    	m -2 -5 -8 -8 -8 _ 7
    `),
      engine
    )
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true],
      results.map((r) => r.reason).join('; ')
    )
  })

  it('compares floats with a relative epsilon and NaN equal to NaN', () => {
    assert.ok(almostEqual(1, 1 + 1e-9))
    assert.ok(!almostEqual(1, 1.001))
    assert.ok(almostEqual(NaN, NaN))
    assert.ok(!almostEqual(0, 1e-300))
  })

  it('marks statements needing native histograms', async () => {
    const results = await runScript(
      script(`
    load 1m
    	h {{schema:0 sum:1 count:1}}

    eval instant at 0m h
    `),
      engine
    )
    assert.deepEqual(
      results.map((r) => [r.kind, r.ok, r.nativeHistograms]),
      [
        ['load', true, true],
        ['eval', false, true],
      ]
    )
  })

  it('loads native histograms, repeated and incremented, and compares them bucket by bucket', async () => {
    const results = await runScript(
      script(`
    load 5m
    	h {{schema:0 sum:4 count:4 buckets:[1 2 1]}}+{{sum:2 count:1 buckets:[1] offset:1}}x2
    	r {{count:1 buckets:[1]}}x1

    eval instant at 10m h
    	h {{schema:0 sum:8 count:6 buckets:[1 4 1]}}

    eval instant at 10m h
    	h {{schema:0 sum:8 count:6 buckets:[1 5 1]}}

    eval instant at 10m h
    	h 6

    eval range from 0 to 10m step 5m r
    	r {{count:1 buckets:[1]}}x2

    eval range from 0 to 5m step 5m r
    	r {{count:1 buckets:[1]}} {{count:1 buckets:[0 1]}}
    `),
      engine
    )
    assert.deepEqual(
      results.map((r) => [r.line, r.ok]),
      [
        [2, true],
        [6, true],
        [9, false],
        [12, false],
        [15, true],
        [18, false],
      ],
      results.map((r) => r.reason).join('; ')
    )
    assert.match(
      results[2].reason,
      /expected \{\{count:6 sum:8 offset:0 buckets:\[0=1 1=5 2=1\]\}\}/
    )
  })

  it('turns classic histograms into custom-bucket histograms with load_with_nhcb', async () => {
    const results = await runScript(
      script(`
    load_with_nhcb 5m
    	x_bucket{le="1"} 0+1x2
    	x_bucket{le="+Inf"} 0+3x2
    	x_sum 0+5x2

    eval instant at 10m x
    	x {{schema:-53 sum:10 count:6 custom_values:[1] buckets:[2 4]}}

    eval instant at 10m x_bucket{le="1"}
    	x_bucket{le="1"} 2
    `),
      engine
    )
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true],
      results.map((r) => r.reason).join('; ')
    )
  })
})
