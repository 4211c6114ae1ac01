// Aggregations folded as storage hands series over (Querier.selectEach) answer what the same aggregation
// over the whole selection answers, to the bit, with the same warnings, budget errors and fallbacks.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bitsJson, seededRandom } from '../core/index.js'
import {
  MemoryQuerier,
  type Matcher,
  type Querier,
  type SelectHints,
  type SeriesVisitor,
} from '../tsdb/index.js'
import { Engine } from './engine.js'
import { parseHistogram } from './promqltest/runner.js'

const MIN = 60_000
const STALE = (() => {
  const f = new Float64Array(1)
  new Uint32Array(f.buffer).set([2, 0x7ff00000])
  return f[0]
})()

/** Series of two metrics over a few jobs and hosts: gaps, stale markers, NaN, ±Inf, large and tiny values. */
function data(seed: number): MemoryQuerier {
  const rand = seededRandom(seed)
  const q = new MemoryQuerier()
  for (const name of ['m', 'n']) {
    for (let s = 0; s < 12; s++) {
      const ts: number[] = []
      const vs: number[] = []
      let t = Math.floor(rand() * 3 * MIN)
      while (t < 60 * MIN) {
        const r = rand()
        ts.push(t)
        vs.push(
          r < 0.03
            ? STALE
            : r < 0.05
              ? Number.NaN
              : r < 0.06
                ? Infinity
                : r < 0.07
                  ? -Infinity
                  : r < 0.2
                    ? (rand() - 0.5) * 1e17
                    : (rand() - 0.3) * 100
        )
        // Now and then a gap longer than the lookback.
        t += rand() < 0.05 ? 7 * MIN : Math.floor(15_000 + rand() * 60_000)
      }
      q.add({ __name__: name, job: `j${s % 3}`, host: `h${s}`, env: s % 2 ? 'a' : 'b' }, ts, vs)
    }
  }
  return q
}

/** without hides selectEach: the engine reads every selection whole. */
function without(q: MemoryQuerier): Querier {
  return {
    select: (m, h) => q.select(m, h),
    labelNames: (m, h) => q.labelNames(m, h),
    labelValues: (n, m, h) => q.labelValues(n, m, h),
    metadata: (m, l) => q.metadata(m, l),
  }
}

/** counting wraps q, counting selectEach and select calls. */
function counting(q: MemoryQuerier): { q: Querier; each: number; select: number } {
  const c = { q: q as Querier, each: 0, select: 0 }
  c.q = {
    select: (m, h) => {
      c.select++
      return q.select(m, h)
    },
    selectEach: (m: readonly Matcher[], h: SelectHints, visit: SeriesVisitor) => {
      c.each++
      return q.selectEach(m, h, visit)
    },
    labelNames: (m, h) => q.labelNames(m, h),
    labelValues: (n, m, h) => q.labelValues(n, m, h),
    metadata: (m, l) => q.metadata(m, l),
  }
  return c
}

describe('aggregations folded from selectEach', () => {
  const engine = new Engine()
  const ops = ['sum', 'avg', 'count', 'group', 'min', 'max', 'stddev', 'stdvar']
  const groupings = ['', ' by (job)', ' without (host)', ' by (env, job)', ' without ()']

  it('answer what the aggregation over the whole selection answers, range and instant', async () => {
    for (const seed of [1, 2, 3]) {
      const q = data(seed)
      const plain = without(q)
      for (const op of ops) {
        for (const g of groupings) {
          for (const sel of ['m', '(n)', 'm offset 3m', '{__name__=~"m|n"}']) {
            const expr = `${op}${g}(${sel})`
            const c = counting(q)
            const got = await engine.rangeQuery(c.q, expr, 5 * MIN, 55 * MIN, 70_000)
            const want = await engine.rangeQuery(plain, expr, 5 * MIN, 55 * MIN, 70_000)
            assert.equal(bitsJson(got), bitsJson(want), `seed ${seed}: ${expr}`)
            assert.equal(c.each, 1, `${expr} was folded`)
            assert.equal(c.select, 0)
            const at = 31 * MIN + 7000
            assert.equal(
              bitsJson(await engine.instantQuery(c.q, expr, at)),
              bitsJson(await engine.instantQuery(plain, expr, at)),
              `seed ${seed}: ${expr} at ${at}`
            )
          }
        }
      }
    }
  })

  it('read the whole selection where a fold does not apply', async () => {
    const q = data(4)
    for (const expr of [
      'sum(m @ 600)',
      'sum(m @ 600 offset 1m)',
      'max_over_time(sum(m)[10m:1m])',
      'topk(2, m)',
      'quantile(0.5, m)',
      'sum(m * 2)',
      'sum(rate(m[5m]))',
    ]) {
      const c = counting(q)
      const got = await engine.rangeQuery(c.q, expr, 5 * MIN, 55 * MIN, MIN)
      const want = await engine.rangeQuery(without(q), expr, 5 * MIN, 55 * MIN, MIN)
      assert.equal(bitsJson(got), bitsJson(want), expr)
      assert.equal(c.each, 0, `${expr} is not folded`)
    }
  })

  it('fall back to the whole selection on native histograms', async () => {
    const q = data(5)
    const h = parseHistogram('schema:0 sum:5 count:4 buckets:[1 2 1]')
    q.add({ __name__: 'm', job: 'j0', host: 'hh', env: 'a' }, [10 * MIN, 11 * MIN], [0, 0], [h, h])
    for (const expr of ['sum(m)', 'avg by (job)(m)', 'count(m)', 'stddev(m)']) {
      const c = counting(q)
      const got = await engine.rangeQuery(c.q, expr, 5 * MIN, 55 * MIN, MIN)
      const want = await engine.rangeQuery(without(q), expr, 5 * MIN, 55 * MIN, MIN)
      assert.equal(bitsJson(got), bitsJson(want), expr)
      assert.deepEqual([c.each, c.select], [1, 1], `${expr}: tried folded, then read whole`)
    }
  })

  it('count the samples they read against the budget, as the whole selection does', async () => {
    const q = data(6)
    // 24 series × 51 steps, about 1,200 samples: a budget of 100 is passed by both paths.
    const small = new Engine({ maxSamples: 100 })
    for (const querier of [q, without(q)]) {
      await assert.rejects(small.rangeQuery(querier, 'sum(m)', 5 * MIN, 55 * MIN, MIN), {
        code: 'PG_PROMQL_TOO_MANY_SAMPLES',
      })
    }
    // Folding stops at the budget: storage is not asked for the series after it.
    let visited = 0
    const counted: Querier = {
      ...without(q),
      selectEach: (m, h, visit) =>
        q.selectEach(m, h, (...args) => {
          visited++
          visit(...args)
        }),
    }
    await assert.rejects(small.rangeQuery(counted, 'sum(m)', 5 * MIN, 55 * MIN, MIN), {
      code: 'PG_PROMQL_TOO_MANY_SAMPLES',
    })
    assert.ok(visited < 12, `stopped after ${visited} of 12 series`)
    const roomy = new Engine({ maxSamples: 2000 })
    const got = await roomy.rangeQuery(q, 'sum(m)', 5 * MIN, 55 * MIN, MIN)
    const want = await roomy.rangeQuery(without(q), 'sum(m)', 5 * MIN, 55 * MIN, MIN)
    assert.equal(got.totalSamples, want.totalSamples)
    assert.equal(got.peakSamples, want.peakSamples)
  })

  it('pass an error storage throws while reading to the caller', async () => {
    const q = data(7)
    const failing: Querier = {
      ...without(q),
      selectEach: () => Promise.reject(new Error('disk on fire')),
    }
    await assert.rejects(
      engine.rangeQuery(failing, 'sum(m)', 5 * MIN, 55 * MIN, MIN),
      /disk on fire/
    )
  })
})
