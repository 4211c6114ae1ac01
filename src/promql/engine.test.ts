import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryQuerier, type Matcher, type SelectHints, type SeriesSet } from '../tsdb/index.js'
import { Engine } from './engine.js'
import type { QueryResult } from './types.js'

const MIN = 60_000

/** recording wraps a MemoryQuerier and keeps the hints of every select. */
function recording(q: MemoryQuerier): { q: MemoryQuerier; hints: SelectHints[] } {
  const hints: SelectHints[] = []
  const select = q.select.bind(q)
  q.select = (m: readonly Matcher[], h: SelectHints): Promise<SeriesSet> => {
    hints.push(h)
    return select(m, h)
  }
  return { q, hints }
}

function data(): MemoryQuerier {
  const q = new MemoryQuerier()
  const ts = Array.from({ length: 11 }, (_, i) => i * MIN)
  q.add(
    { __name__: 'reqs_total', job: 'a' },
    ts,
    ts.map((_, i) => i * 10)
  )
  q.add(
    { __name__: 'reqs_total', job: 'b' },
    ts,
    ts.map((_, i) => i * 20)
  )
  q.add({ __name__: 'up', job: 'a' }, [0, 5 * MIN], [1, 1])
  return q
}

function vector(r: QueryResult): Record<string, number> {
  assert.equal(r.value.resultType, 'vector')
  const out: Record<string, number> = {}
  if (r.value.resultType === 'vector') {
    for (const s of r.value.samples) {
      out[s.labels.map((l) => `${l.name}=${l.value}`).join(',')] = s.v
    }
  }
  return out
}

describe('Engine', () => {
  const engine = new Engine()

  it('answers each result type', async () => {
    const q = data()
    assert.deepEqual(vector(await engine.instantQuery(q, 'reqs_total', 10 * MIN)), {
      '__name__=reqs_total,job=a': 100,
      '__name__=reqs_total,job=b': 200,
    })
    const s = await engine.instantQuery(q, '1 + 2 * 3', 0)
    assert.deepEqual(s.value, { resultType: 'scalar', t: 0, v: 7 })
    const str = await engine.instantQuery(q, '"hi"', 5)
    assert.deepEqual(str.value, { resultType: 'string', t: 5, s: 'hi' })
    const m = await engine.instantQuery(q, 'reqs_total{job="a"}[2m]', 10 * MIN)
    assert.equal(m.value.resultType, 'matrix')
    if (m.value.resultType === 'matrix') {
      assert.deepEqual(Array.from(m.value.series[0].ts), [8 * MIN, 9 * MIN, 10 * MIN])
    }
  })

  it('looks back 5 minutes for an instant sample and not further', async () => {
    const q = data()
    assert.deepEqual(vector(await engine.instantQuery(q, 'up', 10 * MIN)), {
      '__name__=up,job=a': 1,
    })
    assert.deepEqual(vector(await engine.instantQuery(q, 'up', 10 * MIN + 1)), {})
  })

  it('hides a series from its stale marker on', async () => {
    const q = new MemoryQuerier()
    const stale = new Float64Array(new Uint32Array([2, 0x7ff00000]).buffer)[0]
    q.add({ __name__: 'm' }, [0, MIN], [1, stale])
    assert.deepEqual(vector(await engine.instantQuery(q, 'm', 30_000)), { '__name__=m': 1 })
    assert.deepEqual(vector(await engine.instantQuery(q, 'm', MIN)), {})
  })

  it('computes rate with extrapolation and drops the metric name', async () => {
    const r = await engine.instantQuery(data(), 'sum by (job) (rate(reqs_total[5m]))', 10 * MIN)
    const v = vector(r)
    assert.deepEqual(Object.keys(v), ['job=a', 'job=b'])
    assert.ok(Math.abs(v['job=a'] - 10 / 60) < 1e-12 && Math.abs(v['job=b'] - 20 / 60) < 1e-12)
  })

  it('fetches each selector with the range Prometheus computes', async () => {
    const { q, hints } = recording(data())
    await engine.instantQuery(q, 'rate(reqs_total[5m] offset 1m) + up @ 120', 10 * MIN)
    assert.deepEqual(
      hints.map((h) => [h.start, h.end, h.range, h.func]),
      [
        [10 * MIN - 6 * MIN, 10 * MIN - MIN, 5 * MIN, 'rate'],
        [120_000 - 5 * MIN, 120_000, 0, undefined],
      ]
    )
    hints.length = 0
    await engine.rangeQuery(q, 'max_over_time(up[10m:1m])', 20 * MIN, 30 * MIN, MIN)
    assert.deepEqual([hints[0].start, hints[0].end, hints[0].step], [5 * MIN, 30 * MIN, MIN])
  })

  it('evaluates a range query step by step, sorted by labels', async () => {
    const r = await engine.rangeQuery(data(), 'reqs_total / 10', 8 * MIN, 10 * MIN, MIN)
    assert.equal(r.value.resultType, 'matrix')
    if (r.value.resultType !== 'matrix') return
    assert.deepEqual(
      r.value.series.map((s) => [s.labels, Array.from(s.ts), Array.from(s.vs)]),
      [
        [[{ name: 'job', value: 'a' }], [8 * MIN, 9 * MIN, 10 * MIN], [8, 9, 10]],
        [[{ name: 'job', value: 'b' }], [8 * MIN, 9 * MIN, 10 * MIN], [16, 18, 20]],
      ]
    )
  })

  it('refuses many-to-many matching and equal label sets', async () => {
    const q = data()
    await assert.rejects(engine.instantQuery(q, 'reqs_total + on() reqs_total', 10 * MIN), {
      code: 'PG_PROMQL_EXECUTION',
      message:
        'found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="reqs_total", job="b"}, {__name__="reqs_total", job="a"}];many-to-many matching not allowed: matching labels must be unique on one side',
    })
    await assert.rejects(
      engine.instantQuery(q, 'label_replace(reqs_total, "job", "x", "", "")', 0),
      {
        code: 'PG_PROMQL_EXECUTION',
        message: 'vector cannot contain metrics with the same labelset',
      }
    )
  })

  it('stops a query past its timeout or once its signal aborts', async () => {
    const late = new Engine({ timeout: -1 })
    await assert.rejects(late.instantQuery(data(), 'reqs_total', 0), {
      code: 'PG_PROMQL_TIMEOUT',
    })
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(engine.instantQuery(data(), 'sum(reqs_total)', 0, { signal: ac.signal }), {
      code: 'PG_PROMQL_TIMEOUT',
    })
  })

  it('hands answers back to a querier that takes them only when the result does not show them', async () => {
    const q = data()
    const released: SeriesSet[] = []
    const selected: SeriesSet[] = []
    const select = q.select.bind(q)
    q.select = async (m: readonly Matcher[], h: SelectHints): Promise<SeriesSet> => {
      const set = await select(m, h)
      selected.push(set)
      return set
    }
    Object.assign(q, { release: (set: SeriesSet) => released.push(set) })
    // sum over an expression, not a selector: a selector alone would be folded (selectEach), never held.
    await engine.rangeQuery(q, 'sum(reqs_total * 2) + up', 0, 10 * MIN, MIN)
    assert.equal(selected.length, 2)
    assert.deepEqual(released, selected, 'a range query gives back every answer it read')
    const before = released.length
    const raw = await engine.instantQuery(q, 'reqs_total[5m]', 10 * MIN)
    assert.equal(raw.value.resultType, 'matrix')
    assert.equal(released.length, before, 'a range vector shows the answer: it is kept')
    await engine.instantQuery(q, 'rate(reqs_total[5m])', 10 * MIN)
    assert.equal(released.length, before + 1, 'an instant vector is built anew: given back')
  })

  it('refuses a query holding more samples than maxSamples', async () => {
    const small = new Engine({ maxSamples: 5 })
    await assert.rejects(small.rangeQuery(data(), 'reqs_total', 0, 10 * MIN, MIN), {
      code: 'PG_PROMQL_TOO_MANY_SAMPLES',
    })
  })

  it('refuses range queries Prometheus refuses', async () => {
    const q = data()
    await assert.rejects(engine.rangeQuery(q, 'up', 0, 11_001_000, 1000), {
      code: 'PG_PROMQL_BAD_QUERY',
      message:
        'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)',
    })
    await assert.rejects(engine.rangeQuery(q, 'up[5m]', 0, MIN, 1000), {
      code: 'PG_PROMQL_BAD_QUERY',
      message:
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    })
    await assert.rejects(engine.rangeQuery(q, 'up', 0, MIN, 0), { code: 'PG_PROMQL_BAD_QUERY' })
    await assert.rejects(engine.rangeQuery(q, 'up', MIN, 0, 1000), { code: 'PG_PROMQL_BAD_QUERY' })
  })

  it('keeps topk and sort order in an instant vector', async () => {
    const q = data()
    const r = await engine.instantQuery(q, 'sort_desc(reqs_total)', 10 * MIN)
    assert.deepEqual(r.value.resultType === 'vector' && r.value.samples.map((s) => s.v), [200, 100])
    const t = await engine.instantQuery(q, 'bottomk(1, reqs_total)', 10 * MIN)
    assert.deepEqual(vector(t), { '__name__=reqs_total,job=a': 100 })
  })

  it('notes a rate over a metric not named like a counter', async () => {
    const r = await engine.instantQuery(data(), 'rate(up[10m])', 10 * MIN)
    assert.deepEqual(r.warnings, [])
    assert.deepEqual(r.infos, [
      'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up" (1:6)',
    ])
  })
})

describe('Engine deadlines in CPU-bound work', () => {
  it('stops a query whose windows are huge at its own timeout, not the engine default', async () => {
    const engine = new Engine()
    await assert.rejects(
      engine.rangeQuery(
        new MemoryQuerier(),
        'quantile_over_time(0.5, vector(1)[1h:1ms])',
        0,
        3_600_000,
        2000,
        { timeout: 200 }
      ),
      { code: 'PG_PROMQL_TIMEOUT' }
    )
  })
})

describe('Engine bounds on labels a query makes', () => {
  it('refuses label values and count_values names past their bounds', async () => {
    const engine = new Engine()
    const long = 'v'.repeat(20_000)
    await assert.rejects(
      engine.instantQuery(new MemoryQuerier(), `count_values("${long}", vector(1))`, 0),
      { code: 'PG_PROMQL_EXECUTION', message: /count_values: the label name has 20000 characters/ }
    )
    await assert.rejects(
      engine.instantQuery(
        new MemoryQuerier(),
        `label_replace(vector(1), "x", "${long}", "", "")`,
        0
      ),
      {
        code: 'PG_PROMQL_EXECUTION',
        message: /label_replace\(\) would make a label value of 20000/,
      }
    )
    const ok = await engine.instantQuery(
      new MemoryQuerier(),
      'label_replace(vector(1), "x", "short", "", "")',
      0
    )
    assert.equal(ok.value.resultType, 'vector')
  })
})

describe('Engine subqueries past the budget', () => {
  it('refuses a subquery with more steps than query.max-samples, naming its step', async () => {
    await assert.rejects(
      new Engine().instantQuery(new MemoryQuerier(), 'max_over_time(vector(1)[100000d:1ms])', 0),
      {
        code: 'PG_PROMQL_TOO_MANY_SAMPLES',
        message: /a subquery of step 1 ms .* use a larger subquery step/,
      }
    )
  })
})
