import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  bucketQuantile,
  clampDrops,
  KahanSum,
  quantile,
  RANGE_FUNCTIONS,
  TIME_FUNCTIONS,
  VALUE_FUNCTIONS,
} from './functions.js'
import type { RangeWindow } from './functions.js'

// Expected values come from Prometheus 2.55.1's promqltest scripts (functions.test, aggregators.test,
// histograms.test, trig_functions.test) and quantile_test.go, or are worked out by hand from its Go.

/** Series is one loaded series: ms timestamps and values. */
interface Series {
  ts: Float64Array
  vs: Float64Array
}

function num(token: string): number {
  if (token === 'Inf' || token === '+Inf') return Infinity
  if (token === '-Inf') return -Infinity
  if (token === 'NaN') return NaN
  const v = Number(token)
  assert.ok(!Number.isNaN(v), `bad number ${token}`)
  return v
}

/** load expands promqltest's `load <interval>` notation (`0+10x4 0 NaN 8000-10x3`) from t=0. */
function load(intervalMs: number, text: string): Series {
  const values: number[] = []
  for (const token of text.trim().split(/\s+/)) {
    const x = token.lastIndexOf('x')
    if (x < 0) {
      values.push(num(token))
      continue
    }
    const left = token.slice(0, x)
    const times = Number(token.slice(x + 1))
    let op = -1
    for (let i = 1; i < left.length; i++) {
      if ((left[i] === '+' || left[i] === '-') && left[i - 1] !== 'e') op = i
    }
    const start = num(op < 0 ? left : left.slice(0, op))
    const step = op < 0 ? 0 : (left[op] === '-' ? -1 : 1) * num(left.slice(op + 1))
    for (let i = 0; i <= times; i++) values.push(start + i * step)
  }
  return {
    ts: Float64Array.from(values, (_, i) => i * intervalMs),
    vs: Float64Array.from(values),
  }
}

/** at is the window the engine fills at `evalMs` for `[rangeMs] offset offsetMs`: both ends closed. */
function at(s: Series, evalMs: number, rangeMs: number, offsetMs = 0, atMs?: number): RangeWindow {
  const end = (atMs ?? evalMs) - offsetMs
  const start = end - rangeMs
  let lo = 0
  while (lo < s.ts.length && s.ts[lo] < start) lo++
  let hi = lo
  while (hi < s.ts.length && s.ts[hi] <= end) hi++
  return { ts: s.ts, vs: s.vs, lo, hi, start, end, evalTime: evalMs }
}

/** win builds a window over exactly these samples, with a sample before and after it that must be ignored. */
function win(ts: number[], vs: number[], start: number, end: number): RangeWindow {
  return {
    ts: Float64Array.from([start - 1000, ...ts, end + 1000]),
    vs: Float64Array.from([-1e6, ...vs, 1e6]),
    lo: 1,
    hi: ts.length + 1,
    start,
    end,
  }
}

const M = 60_000
const S = 1000

function call(name: string, w: RangeWindow, args: number[] = []): number | undefined {
  const f = RANGE_FUNCTIONS[name]
  assert.ok(f, `no range function ${name}`)
  return f(w, args)
}

/** close asserts a relative difference within eps (exact for 0, NaN and ±Inf). */
function close(got: number | undefined, want: number, eps = 1e-12, what = ''): void {
  assert.ok(got !== undefined, `${what}: no value, want ${want}`)
  if (Number.isNaN(want) || !Number.isFinite(want) || want === 0) {
    assert.equal(got, want, what)
    return
  }
  assert.ok(Math.abs(got - want) <= eps * Math.abs(want), `${what}: got ${got}, want ${want}`)
}

describe('range functions: the tables', () => {
  it('hold exactly the contract functions, frozen and without a prototype', () => {
    assert.deepEqual(Object.keys(RANGE_FUNCTIONS).sort(), [
      'avg_over_time',
      'changes',
      'count_over_time',
      'delta',
      'deriv',
      'holt_winters',
      'idelta',
      'increase',
      'irate',
      'last_over_time',
      'mad_over_time',
      'max_over_time',
      'min_over_time',
      'predict_linear',
      'present_over_time',
      'quantile_over_time',
      'rate',
      'resets',
      'stddev_over_time',
      'stdvar_over_time',
      'sum_over_time',
    ])
    for (const table of [RANGE_FUNCTIONS, VALUE_FUNCTIONS, TIME_FUNCTIONS]) {
      assert.ok(Object.isFrozen(table))
      assert.equal(Object.getPrototypeOf(table), null)
      assert.ok(!('constructor' in table) && !('toString' in table))
    }
  })

  it('give no sample for an empty window', () => {
    const empty = win([], [], 0, 60 * S)
    for (const name of Object.keys(RANGE_FUNCTIONS)) {
      const args = name === 'holt_winters' ? [0.5, 0.5] : [0.5]
      assert.equal(call(name, empty, args), undefined, name)
    }
  })

  it('give what one sample allows', () => {
    const one = win([30 * S], [7], 0, 60 * S)
    for (const name of [
      'rate',
      'increase',
      'delta',
      'irate',
      'idelta',
      'deriv',
      'predict_linear',
    ]) {
      assert.equal(call(name, one, [60]), undefined, name)
    }
    assert.equal(call('holt_winters', one, [0.5, 0.5]), undefined)
    assert.equal(call('resets', one), 0)
    assert.equal(call('changes', one), 0)
    for (const name of ['avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time']) {
      assert.equal(call(name, one), 7, name)
    }
    assert.equal(call('last_over_time', one), 7)
    assert.equal(call('count_over_time', one), 1)
    assert.equal(call('present_over_time', one), 1)
    assert.equal(call('stddev_over_time', one), 0)
    assert.equal(call('stdvar_over_time', one), 0)
    assert.equal(call('quantile_over_time', one, [0.3]), 7)
    assert.equal(call('mad_over_time', one), 0)
  })
})

describe('resets and changes', () => {
  const foo = load(5 * M, '1 2 3 0 1 0 0 1 2 0')
  const bar = load(5 * M, '1 2 3 4 5 1 2 3 4 5')
  const biz = load(5 * M, '0 0 0 0 0 1 1 1 1 1')
  const f = (name: string, range: number, want: [number, number, number]) => {
    const got = [foo, bar, biz].map((s) => call(name, at(s, 50 * M, range)))
    assert.deepEqual(got, want, `${name}[${range / M}m]`)
  }

  it('count drops over the window (functions.test)', () => {
    f('resets', 5 * M, [0, 0, 0])
    f('resets', 300 * S, [0, 0, 0])
    f('resets', 20 * M, [1, 0, 0])
    f('resets', 30 * M, [2, 1, 0])
    f('resets', 50 * M, [3, 1, 0])
  })

  it('count value changes (functions.test)', () => {
    f('changes', 5 * M, [0, 0, 0])
    f('changes', 20 * M, [3, 3, 0])
    f('changes', 30 * M, [4, 5, 1])
    f('changes', 50 * M, [8, 9, 1])
  })

  it('take NaN to NaN as no change, NaN to a number as one', () => {
    assert.equal(call('changes', at(load(5 * M, 'NaN NaN NaN'), 15 * M, 15 * M)), 0)
    assert.equal(call('changes', at(load(5 * M, '0 NaN 0'), 15 * M, 15 * M)), 2)
    // A comparison with NaN is false, so NaN neither is nor ends a reset.
    assert.equal(call('resets', win([0, S, 2 * S, 3 * S], [5, NaN, 1, 0], 0, 3 * S)), 1)
  })
})

describe('rate, increase, delta', () => {
  it('extrapolate to the range and to the counter zero point (functions.test)', () => {
    const foo = load(5 * M, '0+10x10')
    const bar = load(5 * M, '0+10x5 0+10x5')
    const dings = load(5 * M, '10+10x10')
    const bumms = load(5 * M, '1+10x10')
    const inc = (s: Series, range: number) => call('increase', at(s, 50 * M, range))
    close(inc(foo, 50 * M), 100)
    close(inc(bar, 50 * M), 90)
    close(inc(dings, 50 * M), 100)
    close(inc(bumms, 50 * M), 100)
    close(inc(foo, 100 * M), 100)
    close(inc(bar, 100 * M), 90)
    close(inc(dings, 100 * M), 105)
    close(inc(bumms, 100 * M), 101)
  })

  it('add a counter reset back (functions.test)', () => {
    close(call('increase', at(load(5 * M, '0 1 2 3 2 3 4'), 30 * M, 30 * M)), 7)
    close(call('rate', at(load(5 * M, '0+10x4 0+10x5'), 50 * M, 50 * M)), 0.03)
    assert.equal(call('rate', at(load(5 * M, '0+10x9 0 10'), 50 * M, 5 * M)), 0)
  })

  it('give per-second rates, with offset (functions.test)', () => {
    close(call('rate', at(load(5 * M, '0+80x10'), 50 * M, 50 * M)), 0.26666666666666666)
    close(call('rate', at(load(5 * M, '0+10x10'), 50 * M, 10 * M, 5 * M)), 0.03333333333333333)
    close(call('rate', at(load(5 * M, '0+20x10'), 50 * M, 10 * M, 5 * M)), 0.06666666666666667)
  })

  it('cut the left extrapolation at zero, up to half an interval (functions.test)', () => {
    const want10m = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6]
    for (let start = 0; start <= 5; start++) {
      const s = load(4 * M, `${start * 60}+240x10`)
      close(call('rate', at(s, 10 * M, 20 * M)), want10m[start], 1e-12, `start=${start}m @10m`)
      close(call('rate', at(s, 50 * M, 20 * M)), 0.6, 1e-12, `start=${start}m @50m`)
    }
  })

  it('extrapolate only half an interval when the series starts or ends inside the window', () => {
    // Samples every 10 s from 20 s to 40 s in [0, 60]: 20 s to each end ≥ 1.1·10 s, so 5 s each side.
    const w = win([20 * S, 30 * S, 40 * S], [1, 2, 3], 0, 60 * S)
    close(call('delta', w), 2 * (30 / 20))
    close(call('increase', w), 3)
    close(call('rate', w), 3 / 60)
    // Within 1.1 intervals: all the way to both ends, 40 s stretched to 60 s. But a counter at 0.5
    // rising 0.1/s was 0 five seconds before its first sample: its increase starts there.
    const near = win([10 * S, 30 * S, 50 * S], [0.5, 2.5, 4.5], 0, 60 * S)
    close(call('delta', near), (4 * 60) / 40)
    close(call('increase', near), (4 * (40 + 5 + 10)) / 40)
  })

  it('extrapolate fully below 1.1 average intervals from an end, by half an interval from there', () => {
    const delta = (first: number) =>
      call(
        'delta',
        win([first * S, (first + 10) * S, (first + 20) * S], [0, 1, 2], 0, (first + 20) * S)
      )
    close(delta(10.5), (2 * (20 + 10.5)) / 20)
    // 11 s is exactly 1.1 × 10 s: already half an interval (5 s), and so is 11.5 s.
    close(delta(11), 2.5)
    close(delta(11.5), 2.5)
  })

  it('handle delta on gauges going down (functions.test)', () => {
    close(call('delta', at(load(5 * M, '0 50 100 150 200'), 20 * M, 20 * M)), 200)
    close(call('delta', at(load(5 * M, '200 150 100 50 0'), 20 * M, 20 * M)), -200)
    // delta treats a drop as a drop, not a reset; rate adds it back.
    const w = win([0, 10 * S, 20 * S], [10, 5, 10], 0, 20 * S)
    assert.equal(call('delta', w), 0)
    close(call('increase', w), 10)
  })

  it('propagate NaN and Inf values', () => {
    assert.ok(Number.isNaN(call('rate', win([0, 10 * S], [1, NaN], 0, 10 * S))))
    assert.equal(call('delta', win([0, 10 * S], [1, Infinity], 0, 10 * S)), Infinity)
  })
})

describe('irate and idelta', () => {
  it('use the last two samples (functions.test)', () => {
    const foo = load(5 * M, '0+10x10')
    const bar = load(5 * M, '0+10x5 0+10x5')
    close(call('irate', at(foo, 50 * M, 50 * M)), 0.03333333333333333)
    close(call('irate', at(bar, 50 * M, 50 * M)), 0.03333333333333333)
    close(call('irate', at(foo, 30 * M, 50 * M)), 0.03333333333333333)
    assert.equal(call('irate', at(bar, 30 * M, 50 * M)), 0)
    assert.equal(call('idelta', at(load(5 * M, '0 50 100 150'), 20 * M, 20 * M)), 50)
    assert.equal(call('idelta', at(load(5 * M, '0 50 100 50'), 20 * M, 20 * M)), -50)
  })

  it('take a drop as a reset for irate: the last value over the interval', () => {
    assert.equal(call('irate', win([0, 10 * S, 20 * S], [1, 50, 20], 0, 20 * S)), 2)
  })
})

describe('deriv and predict_linear', () => {
  const resetMiddle = load(5 * M, '0+10x4 0+10x5')

  it('fit by least squares (functions.test)', () => {
    close(call('deriv', at(load(5 * M, '0+80x10'), 50 * M, 50 * M)), 0.26666666666666666)
    close(call('deriv', at(resetMiddle, 50 * M, 100 * M)), 0.010606060606060607)
  })

  it('predict from the evaluation time, also under @ (functions.test)', () => {
    close(call('predict_linear', at(resetMiddle, 50 * M, 50 * M), [3600]), 76.81818181818181)
    const at3000 = (evalMs: number) => at(resetMiddle, evalMs, 50 * M, 0, 3000 * S)
    close(call('predict_linear', at3000(50 * M), [3600]), 76.81818181818181)
    close(call('predict_linear', at3000(10 * M), [3600]), 51.36363636363637)
    close(call('predict_linear', at3000(70 * M), [3600]), 89.54545454545455)
    // Without evalTime the window's end is the evaluation time.
    const w = at(resetMiddle, 50 * M, 50 * M)
    delete w.evalTime
    close(call('predict_linear', w, [3600]), 76.81818181818181)
  })

  it('give slope 0 on a constant series, NaN on a constant infinity', () => {
    assert.equal(call('deriv', win([0, S, 2 * S], [4, 4, 4], 0, 2 * S)), 0)
    assert.equal(call('predict_linear', win([0, S, 2 * S], [4, 4, 4], 0, 2 * S), [100]), 4)
    assert.ok(Number.isNaN(call('deriv', win([0, S], [Infinity, Infinity], 0, S))))
    // NaN !== NaN: a NaN series is not constant, and its regression is NaN.
    assert.ok(Number.isNaN(call('deriv', win([0, S], [NaN, NaN], 0, S))))
  })

  it('keep precision far from the epoch (samples relative to the first timestamp)', () => {
    const t0 = 1_700_000_000_000
    const ts = [t0, t0 + 15 * S, t0 + 30 * S, t0 + 45 * S]
    close(call('deriv', win(ts, [1, 2.5, 4, 5.5], t0, t0 + 45 * S)), 0.1)
  })
})

describe('holt_winters', () => {
  const f = (text: string, want: number) =>
    close(call('holt_winters', at(load(10 * S, text), 8000 * S, M), [0.01, 0.1]), want, 1e-9, text)

  it('smooths positive and negative trends (functions.test)', () => {
    f('0+10x1000 100+30x1000', 8000)
    f('0+20x1000 200+30x1000', 16000)
    f('0+30x1000 300+80x1000', 24000)
    f('0+40x2000', 32000)
    f('8000-10x1000', 0)
    f('0-20x1000', -16000)
    f('0+30x1000 300-80x1000', 24000)
    f('0-40x1000 0+40x1000', -32000)
  })

  it('follows the recurrence by hand', () => {
    // s1=1, b=2; i=1: x=.5·3, b kept, y=.5·(1+2) → 3; i=2: b=.5·(3-1)+.5·2=2, x=.5·4, y=.5·(3+2) → 4.5
    assert.equal(call('holt_winters', win([0, S, 2 * S], [1, 3, 4], 0, 2 * S), [0.5, 0.5]), 4.5)
  })

  it('fails the query on a factor outside (0, 1), as Prometheus', () => {
    const w = win([0, S], [1, 2], 0, S)
    assert.throws(() => call('holt_winters', w, [1, 0.5]), {
      code: 'PG_PROMQL_EXECUTION',
      status: 422,
      message: 'invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000',
    })
    assert.throws(() => call('holt_winters', w, [0.5, 0]), {
      code: 'PG_PROMQL_EXECUTION',
      message: 'invalid trend factor. Expected: 0 < tf < 1, got: 0.000000',
    })
    // Checked before the sample count, as Prometheus does.
    assert.throws(() => call('holt_winters', win([0], [1], 0, S), [-0.5, 0.5]), {
      message: 'invalid smoothing factor. Expected: 0 < sf < 1, got: -0.500000',
    })
    // A NaN factor fails neither comparison: the answer is NaN.
    assert.ok(Number.isNaN(call('holt_winters', w, [NaN, 0.5])))
  })
})

describe('avg_over_time and sum_over_time', () => {
  const cases: [string, number][] = [
    ['1 2 3 4 5', 3],
    ['1 2 3 4 Inf', Infinity],
    ['1 2 3 4 -Inf', -Infinity],
    ['1 2 3 Inf -Inf', NaN],
    ['Inf 0 Inf', Infinity],
    ['Inf Inf Inf -Inf', NaN],
    ['1 2 3 -Inf -Inf', -Infinity],
    ['-Inf 0 -Inf', -Infinity],
    ['-Inf -Inf -Inf Inf', NaN],
    ['1 2 -Inf -Inf Inf', NaN],
    ['9.988465674311579e+307 9.988465674311579e+307', 9.988465674311579e307],
    [
      '-9.988465674311579e+307 -9.988465674311579e+307 -9.988465674311579e+307',
      -9.988465674311579e307,
    ],
    ['-9.988465674311579e+307 9.988465674311579e+307', 0],
  ]

  it('average with Inf and overflow as Prometheus (functions.test)', () => {
    for (const [text, want] of cases) {
      close(call('avg_over_time', at(load(10 * S, text), M, M)), want, 1e-12, text)
    }
  })

  it('sum with compensation, so huge intermediates lose nothing (functions.test)', () => {
    const s = load(10 * S, '1 1e100 1 -1e100')
    assert.equal(call('sum_over_time', at(s, M, M)), 2)
    assert.equal(call('avg_over_time', at(s, M, M)), 0.5)
    const big = load(10 * S, '9.988465674311579e+307 9.988465674311579e+307')
    assert.equal(call('sum_over_time', at(big, M, M)), Infinity)
    assert.equal(call('sum_over_time', at(load(10 * S, '1 2 3 4 5'), M, M)), 15)
    assert.ok(Number.isNaN(call('sum_over_time', at(load(10 * S, '1 Inf -Inf'), M, M))))
  })

  it('average incrementally once the sum overflows', () => {
    // 1e308 + 1e308 overflows: the mean switches to the incremental form and stays finite.
    close(call('avg_over_time', win([0, S, 2 * S], [1e308, 1e308, 4e307], 0, 2 * S)), 8e307)
  })

  it('counts each sample once, and only inside the window', () => {
    const s = load(10 * S, '1 2 3 4 5 6 7')
    // [10 s, 50 s] closed: the samples at 10, 20, 30, 40, 50 s.
    const w = at(s, 50 * S, 40 * S)
    assert.equal(call('count_over_time', w), 5)
    assert.equal(call('sum_over_time', w), 20)
    assert.equal(call('avg_over_time', w), 4)
    assert.equal(call('last_over_time', w), 6)
  })
})

describe('min, max and last over time', () => {
  const data: [string, number, number, number][] = [
    // values, min, max, last (functions.test)
    ['2 0 3', 0, 3, 3],
    ['2 0 NaN', 0, 2, NaN],
    ['2 NaN 1', 1, 2, 1],
    ['NaN 0 1', 0, 1, 1],
    ['NaN NaN NaN', NaN, NaN, NaN],
  ]

  it('ignore NaN unless every value is NaN (functions.test)', () => {
    for (const [text, min, max, last] of data) {
      const w = at(load(10 * S, text), M, M)
      assert.equal(call('min_over_time', w), min, `min ${text}`)
      assert.equal(call('max_over_time', w), max, `max ${text}`)
      assert.equal(call('last_over_time', w), last, `last ${text}`)
      assert.equal(call('present_over_time', w), 1)
      assert.equal(call('count_over_time', w), 3)
    }
  })
})

describe('stddev, stdvar, mad and quantile over time', () => {
  it('compute the population variance (functions.test)', () => {
    const s = load(10 * S, '0 8 8 2 3')
    close(call('stdvar_over_time', at(s, M, M)), 10.56)
    close(call('stddev_over_time', at(s, M, M)), 3.249615, 1e-6)
    const flat = load(10 * S, '1.5990505637277868 1.5990505637277868 1.5990505637277868')
    assert.equal(call('stdvar_over_time', at(flat, M, M)), 0)
    assert.equal(call('stddev_over_time', at(flat, M, M)), 0)
    assert.ok(Number.isNaN(call('stdvar_over_time', win([0, S], [1, NaN], 0, S))))
  })

  it('compute the median absolute deviation (functions.test)', () => {
    assert.equal(call('mad_over_time', at(load(10 * S, '4 6 2 1 999 1 2'), 70 * S, 70 * S)), 1)
  })

  it('interpolate quantiles (functions.test)', () => {
    const two = load(10 * S, '0 1')
    const three = load(10 * S, '0 1 2')
    const uneven = load(10 * S, '0 1 4')
    const want: [number, number, number, number][] = [
      [0, 0, 0, 0],
      [0.5, 0.5, 1, 1],
      [0.75, 0.75, 1.5, 2.5],
      [0.8, 0.8, 1.6, 2.8],
      [1, 1, 2, 4],
      [-1, -Infinity, -Infinity, -Infinity],
      [2, Infinity, Infinity, Infinity],
    ]
    for (const [q, ...values] of want) {
      ;[two, three, uneven].forEach((s, i) => {
        close(call('quantile_over_time', at(s, M, M), [q]), values[i], 1e-12, `q=${q} #${i}`)
      })
    }
    assert.ok(Number.isNaN(call('quantile_over_time', at(three, M, M), [NaN])))
  })

  it('leave the window samples as they were', () => {
    const w = win([0, S, 2 * S, 3 * S], [9, 1, 5, 3], 0, 3 * S)
    const before = Array.from(w.vs)
    assert.equal(call('quantile_over_time', w, [0.5]), 4)
    assert.equal(call('mad_over_time', w), 2)
    assert.deepEqual(Array.from(w.vs), before)
  })

  it('grow the scratch space for long windows', () => {
    const n = 5000
    const ts = Array.from({ length: n }, (_, i) => i * S)
    const vs = Array.from({ length: n }, (_, i) => (i * 7919) % n)
    assert.equal(call('quantile_over_time', win(ts, vs, 0, n * S), [0.5]), (n - 1) / 2)
    assert.equal(call('mad_over_time', win(ts, vs, 0, n * S)), 1250)
  })
})

describe('quantile', () => {
  /** reference: Prometheus's definition over a full sort, NaN first. */
  function reference(q: number, values: number[]): number {
    if (values.length === 0 || Number.isNaN(q)) return NaN
    if (q < 0) return -Infinity
    if (q > 1) return Infinity
    const sorted = [...values].sort((a, b) =>
      Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b
    )
    const n = sorted.length
    const rank = q * (n - 1)
    const lower = Math.max(0, Math.floor(rank))
    const upper = Math.min(n - 1, lower + 1)
    const weight = rank - Math.floor(rank)
    return sorted[lower] * (1 - weight) + sorted[upper] * weight
  }

  it('interpolates between ranks (aggregators.test)', () => {
    close(quantile(0.8, Float64Array.of(0, 1), 2), 0.8)
    close(quantile(0.8, Float64Array.of(0, 1, 2), 3), 1.6)
    close(quantile(0.8, Float64Array.of(0, 1, 4), 3), 2.8)
    assert.ok(Number.isNaN(quantile(NaN, Float64Array.of(0, 1), 2)))
    assert.ok(Number.isNaN(quantile(0.5, new Float64Array(4), 0)))
    // Only the first n values count.
    assert.equal(quantile(1, Float64Array.of(3, 1, 100), 2), 3)
  })

  it('ranks NaN lowest, and lets Inf·0 be NaN as Go does', () => {
    assert.ok(Number.isNaN(quantile(0, Float64Array.of(1, NaN), 2)))
    assert.equal(quantile(1, Float64Array.of(NaN, 1), 2), 1)
    assert.equal(quantile(0.5, Float64Array.of(3, NaN, 1), 3), 1)
    // rank 0 has weight 0 for the next value, +Inf: 1·1 + Inf·0 = NaN in Prometheus too.
    assert.ok(Number.isNaN(quantile(0, Float64Array.of(Infinity, 1), 2)))
    assert.ok(Number.isNaN(quantile(1, Float64Array.of(Infinity, 1), 2)))
    assert.ok(Number.isNaN(quantile(1, Float64Array.of(Infinity, Infinity), 2)))
    assert.equal(quantile(0.5, Float64Array.of(Infinity, Infinity), 2), Infinity)
  })

  it('matches a full sort on many random inputs', () => {
    let seed = 42
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let round = 0; round < 2000; round++) {
      const n = 1 + Math.floor(rand() * 80)
      const values = Array.from({ length: n }, () => {
        const r = rand()
        if (r < 0.05) return NaN
        if (r < 0.08) return Infinity
        if (r < 0.11) return -Infinity
        return Math.floor(rand() * 20) - 10 // many duplicates
      })
      const q = [0, 0.01, 0.25, 0.5, 0.9, 0.99, 1, rand()][round % 8]
      const got = quantile(q, Float64Array.from(values), n)
      const want = reference(q, values)
      assert.ok(Object.is(got, want) || got === want, `q=${q} [${values.join()}]: ${got} ≠ ${want}`)
    }
  })
})

describe('bucketQuantile', () => {
  const bq = (q: number, buckets: [number, number][]) =>
    bucketQuantile(
      q,
      Float64Array.from(buckets, (b) => b[0]),
      Float64Array.from(buckets, (b) => b[1]),
      buckets.length
    )
  // testhistogram at 50m (histograms.test): positive and negative lowest bounds.
  const positive: [number, number][] = [
    [0.1, 50],
    [0.2, 70],
    [1, 110],
    [Infinity, 120],
  ]
  const negative: [number, number][] = [
    [-0.2, 10],
    [-0.1, 20],
    [0.3, 20],
    [Infinity, 30],
  ]

  it('interpolates in the bucket, from 0 or a bound ≤ 0 (histograms.test)', () => {
    const want: [number, number, number][] = [
      [0, 0, -0.2],
      [1, 1, 0.3],
      [0.2, 0.048, -0.2],
      [0.5, 0.15, -0.15],
      [0.8, 0.72, 0.3],
      [-0.1, -Infinity, -Infinity],
      [1.01, Infinity, Infinity],
      [NaN, NaN, NaN],
    ]
    for (const [q, p, n] of want) {
      close(bq(q, positive).value, p, 1e-12, `positive q=${q}`)
      close(bq(q, negative).value, n, 1e-12, `negative q=${q}`)
    }
  })

  it('answers testhistogram3 and testhistogram2 (histograms.test)', () => {
    const pos3: [number, number][] = [
      [0, 0],
      [0.1, 50],
      [0.2, 70],
      [1, 110],
      [Infinity, 110],
    ]
    const neg3: [number, number][] = [
      [-0.25, 0],
      [-0.2, 10],
      [-0.1, 20],
      [0.3, 20],
      [Infinity, 20],
    ]
    const want: [number, number, number][] = [
      [0, 0, -0.25],
      [0.25, 0.055, -0.225],
      [0.5, 0.125, -0.2],
      [0.75, 0.45, -0.15],
      [1, 1, -0.1],
    ]
    for (const [q, p, n] of want) {
      close(bq(q, pos3).value, p, 1e-12, `pos3 q=${q}`)
      close(bq(q, neg3).value, n, 1e-12, `neg3 q=${q}`)
    }
    const h2: [number, number][] = [
      [0, 0],
      [2, 1],
      [4, 2],
      [6, 3],
      [Infinity, 3],
    ]
    close(bq(1 / 6, h2).value, 1)
    close(bq(0.5, h2).value, 3)
    close(bq(5 / 6, h2).value, 5)
  })

  it('forces monotonic counts and says so (histograms.test)', () => {
    const nonmonotonic: [number, number][] = [
      [0.1, 20],
      [1, 10],
      [10, 50],
      [100, 40],
      [1000, 90],
      [Infinity, 80],
    ]
    for (const [q, want] of [
      [0.01, 0.0045],
      [0.5, 8.5],
      [0.99, 979.75],
    ]) {
      const got = bq(q, nonmonotonic)
      close(got.value, want, 1e-12, `q=${q}`)
      assert.equal(got.forcedMonotonic, true)
    }
    assert.equal(bq(0.5, positive).forcedMonotonic, false)
  })

  it('ignores relative deltas below 1e-12 without calling it forced (quantile_test.go)', () => {
    const noisy: [number, number][] = [
      [10, 10],
      [15, 15],
      [20, 15.00000000001],
      [30, 15],
      [Infinity, 15],
    ]
    const want: [number, number][] = [
      [1, 15],
      [0.99, 14.85],
      [0.9, 13.5],
      [0.5, 7.5],
    ]
    for (const [q, v] of want) {
      const got = bq(q, noisy)
      close(got.value, v, 1e-12, `q=${q}`)
      assert.equal(got.forcedMonotonic, false)
    }
    const real: [number, number][] = [
      [1, 6454661.3014166225],
      [5, 8339611.2001912957],
      [10, 14118319.2444762159],
      [25, 14130031.5272856504],
      [50, 46001270.3030008227],
      [64, 46008473.8585563824],
      [80, 46008473.8585563898],
      [100, 46008473.8585563824],
      [250, 46008473.8585563824],
      [1000, 46008473.8585563898],
      [Infinity, 46008473.8585563824],
    ]
    const realWant: [number, number][] = [
      [1, 64],
      [0.99, 49.64475715376406],
      [0.9, 46.39671690938454],
      [0.5, 31.96098248992002],
    ]
    for (const [q, v] of realWant) {
      const got = bq(q, real)
      close(got.value, v, 1e-12, `real q=${q}`)
      assert.equal(got.forcedMonotonic, false)
    }
    const real2: [number, number][] = [
      [0.005, 9.6],
      [0.01, 9.688888889],
      [0.025, 9.755555556],
      [0.05, 9.844444444],
      [0.1, 9.888888889],
      [0.25, 9.888888889],
      [0.5, 9.888888889],
      [1, 9.888888889],
      [2.5, 9.888888889],
      [5, 9.888888889],
      [10, 9.888888889001],
      [25, 9.888888889],
      [50, 9.888888888999],
      [100, 9.888888889],
      [Infinity, 9.888888889],
    ]
    const real2Want: [number, number][] = [
      [1, 0.1],
      [0.99, 0.03468750000281261],
      [0.9, 0.00463541666671875],
      [0.5, 0.0025752314815104174],
    ]
    for (const [q, v] of real2Want) close(bq(q, real2).value, v, 1e-12, `real2 q=${q}`)
  })

  it('merges buckets with the same bound (histograms.test, mixed_bucket)', () => {
    // rate(mixed_bucket[5m]): le 0.1, 0.2, 2e-1, 2.0e-1 each 1/300, +Inf 4/300.
    const r = 1 / 300
    const mixed: [number, number][] = [
      [0.1, r],
      [0.2, r],
      [0.2, r],
      [0.2, r],
      [Infinity, 4 * r],
    ]
    close(bq(0.5, mixed).value, 0.15)
    close(bq(0.75, mixed).value, 0.2)
    close(bq(1, mixed).value, 0.2)
    // +inf and +Inf of ins2 merge into one bucket: fewer than two, NaN.
    assert.ok(
      Number.isNaN(
        bq(0.5, [
          [Infinity, 0],
          [Infinity, 0],
        ]).value
      )
    )
  })

  it('gives NaN without +Inf, with one bucket or without observations', () => {
    assert.ok(
      Number.isNaN(
        bq(0.5, [
          [1, 1],
          [2, 2],
        ]).value
      )
    )
    assert.ok(Number.isNaN(bq(0.5, [[Infinity, 5]]).value))
    assert.ok(
      Number.isNaN(
        bq(0.2, [
          [0.1, 0],
          [0.2, 0],
          [Infinity, 0],
        ]).value
      )
    )
    assert.ok(Number.isNaN(bucketQuantile(0.5, new Float64Array(0), new Float64Array(0), 0).value))
  })

  it('returns the highest finite bound for a rank in the +Inf bucket', () => {
    assert.equal(
      bq(0.99, [
        [1, 1],
        [2, 2],
        [Infinity, 10],
      ]).value,
      2
    )
  })

  it('sorts unsorted buckets, small and large, without touching the input', () => {
    const sorted: [number, number][] = []
    for (let i = 0; i < 100; i++) sorted.push([(i + 1) * 0.01, i * 3 + (i % 7)])
    sorted.push([Infinity, 400])
    for (const n of [5, 20, 101]) {
      const part = n === 101 ? sorted : [...sorted.slice(0, n - 1), sorted[100]]
      const shuffled = [...part].reverse()
      shuffled.splice(1, 0, ...shuffled.splice(n >> 1, 2))
      const ub = Float64Array.from(shuffled, (b) => b[0])
      const cnt = Float64Array.from(shuffled, (b) => b[1])
      for (const q of [0.1, 0.5, 0.93]) {
        assert.deepEqual(bucketQuantile(q, ub, cnt, n), bq(q, part), `n=${n} q=${q}`)
      }
      assert.deepEqual(
        Array.from(ub),
        shuffled.map((b) => b[0])
      )
      assert.deepEqual(
        Array.from(cnt),
        shuffled.map((b) => b[1])
      )
    }
  })
})

describe('value functions', () => {
  const v = (name: string, x: number, args: number[] = []) => {
    const f = VALUE_FUNCTIONS[name]
    assert.ok(f, `no value function ${name}`)
    return f(x, args)
  }

  it('hold exactly the contract functions', () => {
    assert.deepEqual(
      Object.keys(VALUE_FUNCTIONS).sort(),
      [
        'abs',
        'acos',
        'acosh',
        'asin',
        'asinh',
        'atan',
        'atanh',
        'ceil',
        'clamp',
        'clamp_max',
        'clamp_min',
        'cos',
        'cosh',
        'deg',
        'exp',
        'floor',
        'ln',
        'log10',
        'log2',
        'rad',
        'round',
        'sgn',
        'sin',
        'sinh',
        'sqrt',
        'tan',
        'tanh',
      ].sort()
    )
  })

  it('compute exp, ln, sqrt, log2 and log10 (functions.test)', () => {
    close(v('exp', 10), 22026.465794806718)
    close(v('exp', 20), 485165195.4097903)
    close(v('exp', -10), 4.5399929762484854e-5)
    assert.equal(v('exp', 0), 1)
    close(v('ln', 10), 2.302585092994046)
    close(v('ln', 20), 2.995732273553991)
    assert.equal(v('ln', 0), -Infinity)
    assert.ok(Number.isNaN(v('ln', -10)))
    close(v('sqrt', 10), 3.1622776601683795)
    close(v('sqrt', 20), 4.47213595499958)
    close(v('log2', 10), 3.3219280948873626, 1e-15)
    close(v('log2', 20), 4.321928094887363, 1e-15)
    assert.equal(v('log2', 0), -Infinity)
    assert.ok(Number.isNaN(v('log2', -10)))
    assert.equal(v('log10', 10), 1)
    close(v('log10', 20), 1.301029995663981, 1e-15)
    assert.equal(v('log10', 0), -Infinity)
    assert.ok(Number.isNaN(v('log10', -10)))
  })

  it('compute log2 and log10 through frexp as Go does', () => {
    // Exact on powers of two, subnormals included.
    assert.equal(v('log2', 1024), 10)
    assert.equal(v('log2', 0.125), -3)
    assert.equal(v('log2', 5e-324), -1074)
    assert.equal(v('log2', Infinity), Infinity)
    assert.ok(Number.isNaN(v('log2', NaN)))
    assert.ok(Number.isNaN(v('log2', -Infinity)))
    assert.equal(v('log10', 1000), 3)
    // Go: Log(0.75)·(1/Ln2) + 2 = 1.5849625007211563; Math.log2(3) rounds the other way.
    assert.equal(v('log2', 3), 1.5849625007211563)
    assert.equal(v('log10', 3), 1.5849625007211563 * 0.3010299956639812)
  })

  it('compute the trigonometric functions (trig_functions.test)', () => {
    const want: [string, number, number][] = [
      ['sin', 10, -0.5440211108893699],
      ['sin', 20, 0.9129452507276277],
      ['cos', 10, -0.8390715290764524],
      ['cos', 20, 0.40808206181339196],
      ['tan', 10, 0.6483608274590867],
      ['tan', 20, 2.2371609442247427],
      ['asin', 10 - 10.1, -0.10016742116155944],
      ['acos', 10 - 10.1, 1.670963747956456],
      ['atan', 10, 1.4711276743037345],
      ['atan', 20, 1.5208379310729538],
      ['sinh', 10, 11013.232874703393], // the script's 11013.232920103324 is cosh(10), within its 1e-6
      ['sinh', 20, 2.4258259770489514e8],
      ['cosh', 10, 11013.232920103324],
      ['cosh', 20, 2.4258259770489514e8],
      ['tanh', 10, 0.9999999958776927],
      ['tanh', 20, 1],
      ['asinh', 10, 2.99822295029797],
      ['asinh', 20, 3.6895038689889055],
      ['acosh', 10, 2.993222846126381],
      ['acosh', 20, 3.6882538673612966],
      ['atanh', 10 - 10.1, -0.10033534773107522],
      ['rad', 10, 0.17453292519943295],
      ['rad', 20, 0.3490658503988659],
      ['rad', -10, -0.17453292519943295],
      ['deg', 10, 572.9577951308232],
      ['deg', 20, 1145.9155902616465],
      ['deg', -10, -572.9577951308232],
    ]
    // Go's and V8's libm may differ in the last bit or two.
    for (const [name, x, y] of want) close(v(name, x), y, 1e-15, `${name}(${x})`)
    for (const name of ['asin', 'acos', 'atanh']) assert.ok(Number.isNaN(v(name, 20 - 10.1)), name)
    for (const name of ['sin', 'cos', 'tan', 'asinh', 'deg', 'rad', 'sinh']) {
      assert.ok(Number.isNaN(v(name, NaN)), name)
    }
    assert.equal(v('rad', 0), 0)
    assert.equal(v('deg', 0), 0)
  })

  it('round half up, to a given nearest (aggregators.test)', () => {
    // http_requests at 50m: 100 and 200.
    const f = (x: number, to: number[], want: number) =>
      assert.equal(v('round', x, to), want, `round(${x}, ${to.join()})`)
    f(0.004 * 100, [], 0)
    f(0.004 * 200, [], 1)
    f(-1 * (0.004 * 100), [], 0)
    f(-1 * (0.004 * 200), [], -1)
    f(0.005 * 100, [], 1)
    f(0.005 * 200, [], 1)
    f(-1 * (0.005 * 100), [], 0)
    f(-1 * (0.005 * 200), [], -1)
    f(1 + 0.005 * 100, [], 2)
    f(-1 * (1 + 0.005 * 100), [], -1)
    f(-1 * (1 + 0.005 * 200), [], -2)
    f(0.0005 * 100, [0.1], 0.1)
    f(2.1 + 0.0005 * 100, [0.1], 2.2)
    f(5.2 + 0.0005 * 200, [0.1], 5.3)
    f(-1 * (5.2 + 0.0005 * 100), [0.1], -5.2)
    f(-1 * (5.2 + 0.0005 * 200), [0.1], -5.3)
    f(0.025 * 100, [5], 5)
    f(0.045 * 100, [5], 5)
    f(0.045 * 200, [5], 10)
    assert.ok(Number.isNaN(v('round', NaN)))
    assert.equal(v('round', Infinity), Infinity)
  })

  it('take the sign, keeping NaN and zero (functions.test)', () => {
    assert.equal(v('sgn', -Infinity), -1)
    assert.equal(v('sgn', Infinity), 1)
    assert.ok(Number.isNaN(v('sgn', NaN)))
    assert.equal(v('sgn', -50), -1)
    assert.equal(v('sgn', 0), 0)
    assert.ok(Object.is(v('sgn', -0), -0))
    assert.equal(v('sgn', 100), 1)
  })

  it('clamp, NaN bounds included, and drop when max < min (functions.test)', () => {
    const xs = [-50, 0, 100]
    assert.deepEqual(
      xs.map((x) => v('clamp_max', x, [75])),
      [-50, 0, 75]
    )
    assert.deepEqual(
      xs.map((x) => v('clamp_min', x, [-25])),
      [-25, 0, 100]
    )
    assert.deepEqual(
      xs.map((x) => v('clamp', x, [-25, 75])),
      [-25, 0, 75]
    )
    assert.deepEqual(
      xs.map((x) => v('clamp_max', v('clamp_min', x, [-20]), [70])),
      [-20, 0, 70]
    )
    for (const x of xs) {
      assert.ok(Number.isNaN(v('clamp', x, [0, NaN])))
      assert.ok(Number.isNaN(v('clamp', x, [NaN, 0])))
      assert.ok(Number.isNaN(v('clamp', x, [5, -5])))
    }
    assert.equal(clampDrops(5, -5), true)
    assert.equal(clampDrops(-25, 75), false)
    assert.equal(clampDrops(3, 3), false)
    assert.equal(clampDrops(0, NaN), false)
    assert.equal(clampDrops(NaN, 0), false)
  })

  it('compute abs, ceil and floor (aggregators.test)', () => {
    assert.equal(v('abs', -100), 100)
    assert.equal(v('floor', 0.4), 0)
    assert.equal(v('ceil', 0.4), 1)
    assert.equal(v('floor', -0.4), -1)
    assert.equal(v('ceil', Infinity), Infinity)
  })
})

describe('time functions', () => {
  const t = (name: string, seconds: number) => {
    const f = TIME_FUNCTIONS[name]
    assert.ok(f, `no time function ${name}`)
    return f(seconds)
  }

  it('read the UTC date (functions.test)', () => {
    assert.equal(t('year', 0), 1970)
    assert.equal(t('month', 0), 1)
    assert.equal(t('day_of_month', 0), 1)
    assert.equal(t('day_of_year', 0), 1)
    assert.equal(t('day_of_week', 0), 4)
    assert.equal(t('hour', 0), 0)
    assert.equal(t('minute', 0), 0)
    assert.equal(t('year', 1136239445), 2006)
    assert.equal(t('month', 1136239445), 1)
    assert.equal(t('day_of_month', 1136239445), 2)
    assert.equal(t('day_of_year', 1136239445), 2)
    assert.equal(t('day_of_week', 1136239445), 1)
    assert.equal(t('hour', 1136239445), 22)
    assert.equal(t('minute', 1136239445), 4)
    assert.equal(t('year', 1230767999), 2008)
    assert.equal(t('year', 1230768000), 2009)
    assert.equal(t('month', 1456790399) + t('day_of_month', 1456790399) / 100, 2.29)
    assert.equal(t('month', 1456790400) + t('day_of_month', 1456790400) / 100, 3.01)
    assert.equal(t('day_of_year', 1483191420), 366)
    assert.equal(t('day_of_year', 1672493820), 365)
    assert.equal(t('days_in_month', 1454284800), 29)
    assert.equal(t('days_in_month', 1485907200), 28)
  })

  it('truncate towards zero as Go int64() does', () => {
    assert.equal(t('year', -0.5), 1970)
    assert.ok(Object.is(t('hour', -0.5), 0))
    assert.equal(t('hour', 3599.9), 0)
    assert.equal(t('minute', 3599.9), 59)
    assert.equal(t('year', -1), 1969)
    assert.equal(t('day_of_year', -1), 365)
    assert.equal(t('day_of_week', -1), 3)
  })

  it('agree with the JavaScript UTC calendar over ±10,000 years', () => {
    let seed = 7
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const span = 10_000 * 366 * 86400
    const checks = [0, -86400, 951782400, 951868800, -2203891200, -62135596800, 253402300799]
    for (let i = 0; i < 5000; i++) checks.push(Math.floor((rand() * 2 - 1) * span))
    for (const s of checks) {
      const d = new Date(s * 1000)
      const y = d.getUTCFullYear()
      // setUTCFullYear, unlike Date.UTC, takes years 0–99 as they are.
      const jan1 = new Date(0).setUTCFullYear(y, 0, 1)
      const today = new Date(0).setUTCFullYear(y, d.getUTCMonth(), d.getUTCDate())
      const yday = Math.round((today - jan1) / 86_400_000) + 1
      const last = new Date(0)
      last.setUTCFullYear(y, d.getUTCMonth() + 1, 0)
      const want = {
        year: y,
        month: d.getUTCMonth() + 1,
        day_of_month: d.getUTCDate(),
        day_of_week: d.getUTCDay(),
        hour: d.getUTCHours(),
        minute: d.getUTCMinutes(),
        day_of_year: yday,
        days_in_month: last.getUTCDate(),
      }
      for (const [name, value] of Object.entries(want))
        assert.equal(t(name, s), value, `${name}(${s})`)
    }
  })

  it('give NaN where Go’s int64 conversion is undefined', () => {
    for (const name of Object.keys(TIME_FUNCTIONS)) {
      assert.ok(Number.isNaN(t(name, NaN)), name)
      assert.ok(Number.isNaN(t(name, Infinity)), name)
      assert.ok(Number.isNaN(t(name, -1e19)), name)
    }
    // Far but inside int64: still a date.
    assert.equal(t('year', 1e15), 31690708)
  })
})

describe('KahanSum', () => {
  it('keeps the small terms and the infinities (functions_internal_test.go)', () => {
    const k = new KahanSum()
    for (const x of [1, 1e100, 1, -1e100]) k.add(x)
    assert.equal(k.value, 2)
    const f = (a: number, b: number) => {
      k.reset()
      k.add(a)
      k.add(b)
      return k.value
    }
    for (const [a, b, want] of [
      [Infinity, 2, Infinity],
      [-Infinity, 2, -Infinity],
      [Infinity, -Infinity, NaN],
      [NaN, 2, NaN],
      [NaN, Infinity, NaN],
      [NaN, -Infinity, NaN],
    ]) {
      assert.ok(Object.is(f(a, b), want), `${a} + ${b}`)
      assert.ok(Object.is(f(b, a), want), `${b} + ${a}`)
    }
  })
})
