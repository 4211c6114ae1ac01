// The engine answers the same over the tsdb's Querier as over a MemoryQuerier holding the same samples:
// the tsdb may hand it fewer samples (only those the steps pick), never a different answer.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type Matcher, MemoryQuerier, type SeriesDesc } from '../tsdb/index.js'
import { Engine } from './index.js'
import type { Value } from './types.js'

const MIN = 60_000
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % MIN)
const POINTS = 240
const STALE = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]

let dir = ''
let db: Db
const mem = new MemoryQuerier()

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-engine-tsdb-'))
  db = Db.open({ dir, walSync: 'write', maintenanceInterval: 0, now: () => T0 + POINTS * MIN })
  const app = db.appender()
  let seed = 7
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (let h = 0; h < 6; h++) {
    for (const [metric, dstype] of [
      ['cpu.idle', 'GAUGE'],
      ['net.if.in.bytes', 'DERIVE'],
    ] as const) {
      const d: SeriesDesc = {
        endpoint: `host${h}`,
        metric,
        tags: `dc=dc${h % 2}`,
        dstype,
        step: 60,
      }
      const ts: number[] = []
      const vs: number[] = []
      let v = 1000 * h
      for (let i = 0; i < POINTS; i++) {
        // Irregular gaps (a missing minute, a jittered second) and a stale marker now and then.
        if (rnd() < 0.1) continue
        const t = T0 + i * MIN + Math.floor(rnd() * 20) * 1000
        v = dstype === 'GAUGE' ? Math.round(rnd() * 10000) / 100 : v + Math.floor(rnd() * 500)
        const value = h === 2 && i % 50 === 49 ? STALE : v
        ts.push(t)
        vs.push(value)
        app.append(0, d, t, value)
      }
      mem.add({ __name__: metric, endpoint: d.endpoint, dc: `dc${h % 2}` }, ts, vs)
    }
  }
  await app.commit()
  await db.flush()
})

after(async () => {
  await db.close({ flush: false })
  rmSync(dir, { recursive: true, force: true })
})

function plain(v: Value): unknown {
  if (v.resultType === 'matrix') {
    return v.series.map((s) => ({ labels: s.labels, ts: [...s.ts], vs: [...s.vs].map(String) }))
  }
  if (v.resultType === 'vector') return v.samples.map((s) => ({ ...s, v: String(s.v) }))
  return v
}

describe('Engine over the tsdb Querier', () => {
  const engine = new Engine()
  const queries = [
    '{"cpu.idle"}',
    '{"cpu.idle"} offset 7m',
    'sum by (dc) ({"cpu.idle"})',
    'rate({"net.if.in.bytes"}[5m])',
    'max_over_time({"cpu.idle"}[3m])',
    '{"cpu.idle"} > 50',
    'timestamp({"cpu.idle", endpoint="host2"})',
    'avg_over_time({"cpu.idle"}[10m:1m])',
    '{"cpu.idle"} @ end()',
    'absent({"cpu.idle", endpoint="nohost"})',
    'count({"cpu.idle"} offset -2m)',
  ]
  for (const step of [60_000, 37_000, 300_000]) {
    for (const q of queries) {
      it(`answers ${q} at step ${step / 1000} s as over the same samples in memory`, async () => {
        const start = T0 + 10 * MIN + 5000
        const end = T0 + (POINTS - 10) * MIN
        const got = await engine.rangeQuery(db.querier(), q, start, end, step)
        const want = await engine.rangeQuery(mem, q, start, end, step)
        assert.deepEqual(plain(got.value), plain(want.value))
      })
    }
  }
  it('answers instant queries as over the same samples in memory', async () => {
    for (const q of queries) {
      for (const t of [T0 + 30 * MIN, T0 + 100 * MIN + 1234, T0 + 199 * MIN]) {
        const got = await engine.instantQuery(db.querier(), q, t)
        const want = await engine.instantQuery(mem, q, t)
        assert.deepEqual(plain(got.value), plain(want.value), `${q} at ${t}`)
      }
    }
  })
  it('reads fewer samples for an instant selector at a coarse step', async () => {
    const start = T0 + 10 * MIN
    const end = T0 + (POINTS - 10) * MIN
    const grid = await db.querier().select([{ name: '__name__', op: '=', value: 'cpu.idle' }], {
      start: start - 5 * MIN,
      end,
      grid: { first: start, step: 10 * MIN },
    })
    const full = await db
      .querier()
      .select([{ name: '__name__', op: '=', value: 'cpu.idle' }], { start: start - 5 * MIN, end })
    assert.ok(grid.ts.length * 5 < full.ts.length, `${grid.ts.length} vs ${full.ts.length}`)
  })
})

describe('a select whose regex takes long', () => {
  it('stops at its deadline between the values it tests, though no timer can fire meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-slow-regex-'))
    const db = Db.open({ dir, walSync: 'write', maintenanceInterval: 0, now: () => T_SLOW })
    try {
      const app = db.appender()
      // 2,000 endpoints: a regex is tested once per distinct value.
      for (let h = 0; h < 2000; h++) {
        const d = {
          endpoint: `h${h}-${'x'.repeat(40)}`,
          metric: 'm',
          tags: '',
          dstype: 'GAUGE',
          step: 60,
        }
        app.append(0, d as SeriesDesc, T_SLOW - 60_000, h)
      }
      await app.commit()
      // About a millisecond or more a value here (128 repetitions, no match): seconds in all.
      const slow: Matcher = { name: 'endpoint', op: '=~', value: '.*'.repeat(127) + 'y' }
      const q = db.querier()
      const hints = { start: T_SLOW - 3_600_000, end: T_SLOW }
      await assert.rejects(q.select([slow], { ...hints, deadline: Date.now() + 20 }), {
        code: 'PG_PROMQL_TIMEOUT',
      })
      await assert.rejects(
        q.labelValues('endpoint', [slow], { ...hints, deadline: Date.now() - 1 }),
        {
          code: 'PG_PROMQL_TIMEOUT',
        }
      )
      // Through the engine: stopped while selecting, not when evaluation starts after it.
      const engine = new Engine({ timeout: 50 })
      await assert.rejects(engine.instantQuery(q, `count({endpoint=~"${slow.value}"})`, T_SLOW), {
        code: 'PG_PROMQL_TIMEOUT',
        message: 'query timed out in query preparation',
      })
    } finally {
      await db.close({ flush: false })
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

const T_SLOW = 1_700_000_000_000
