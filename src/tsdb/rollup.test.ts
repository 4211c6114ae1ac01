import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db } from './db.js'
import { type ConsolFun } from './rollup.js'
import type { SeriesDesc } from './series.js'

const MIN = 60_000
const DAY = 24 * 60 * MIN
const T0 = 1_700_006_400_000 - (1_700_006_400_000 % DAY)

function rng(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
}

// The reference: plain loops over plain arrays, written from falcon's definitions, nothing shared with db.ts.
function referenceRates(points: [number, number][], step: number): [number, number][] {
  const out: [number, number][] = []
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1]
    const [t1, v1] = points[i]
    if (t1 - t0 <= 2 * step * 1000 && v1 >= v0) out.push([t1, ((v1 - v0) / (t1 - t0)) * 1000])
  }
  return out
}

function referenceBuckets(
  points: [number, number][],
  res: number,
  cf: ConsolFun,
  start: number,
  end: number
) {
  const byEnd = new Map<number, number[]>()
  for (const [t, v] of points) {
    if (Number.isNaN(v)) continue
    const e = Math.ceil(t / res) * res
    if (!byEnd.has(e)) byEnd.set(e, [])
    byEnd.get(e)?.push(v)
  }
  const out: [number, number][] = []
  for (const [e, vs] of [...byEnd.entries()].sort((a, b) => a[0] - b[0])) {
    if (e < Math.ceil(start / res) * res || e > Math.ceil(end / res) * res) continue
    let v: number
    if (cf === 'AVERAGE') v = vs.reduce((a, b) => a + b, 0) / vs.length
    else if (cf === 'MAX') v = Math.max(...vs)
    else if (cf === 'MIN') v = Math.min(...vs)
    else v = vs[vs.length - 1]
    out.push([e, v])
  }
  return out
}

function assertClose(got: [number, number][], want: [number, number][], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} buckets, want ${want.length}`)
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i][0], want[i][0], `${what}: bucket ${i} time`)
    const diff = Math.abs(got[i][1] - want[i][1])
    assert.ok(
      diff <= 1e-9 * Math.max(1, Math.abs(want[i][1])),
      `${what}: bucket ${i} ${got[i][1]} vs ${want[i][1]}`
    )
  }
}

let dir = ''
let clock = T0 + 10 * DAY
const options = {
  maintenanceInterval: 0,
  walSync: 'write' as const,
  now: () => clock,
  rollupAfter: DAY,
  retention: { raw: 3 * DAY, r5: 30 * DAY, r20: 90 * DAY, r180: 400 * DAY, r720: 1000 * DAY },
  // Nine days are written at once with the clock at day 2 (then time moves on).
  maxAhead: 10 * DAY,
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-rollup-'))
  // Points are written while they are recent (older ones are dropped as too old), then time moves on.
  clock = T0 + 2 * DAY
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('rollup tiers', () => {
  it('match a reference computation, on the fly, materialised, and after raw data expired', async () => {
    const r = rng(42)
    const gauge: SeriesDesc = { endpoint: 'h', metric: 'g', tags: '', dstype: 'GAUGE', step: 60 }
    const counter: SeriesDesc = { endpoint: 'h', metric: 'c', tags: '', dstype: 'DERIVE', step: 60 }
    const gPoints: [number, number][] = []
    const cPoints: [number, number][] = []
    let c = 1e9
    for (let t = T0; t < T0 + 9 * DAY; t += MIN) {
      if (r() < 0.03) continue // gaps
      gPoints.push([t, r() < 0.01 ? NaN : Math.round(r() * 10000) / 100])
      c = r() < 0.002 ? 0 : c + Math.floor(r() * 100000) // occasional reset
      cPoints.push([t, c])
    }
    const db = Db.open({ dir, ...options })
    const app = db.appender()
    let g = 0
    let k = 0
    for (let i = 0; i < gPoints.length; i++) {
      g = app.append(g, gauge, gPoints[i][0], gPoints[i][1])
      k = app.append(k, counter, cPoints[i][0], cPoints[i][1])
      // Two blocks: the first ends before the raw retention, the second after.
      if (i + 1 === gPoints.length || gPoints[i + 1][0] - T0 === 6 * DAY) {
        await app.commit()
        await db.flush()
      }
    }
    clock = T0 + 10 * DAY

    const cases: { key: string; points: [number, number][] }[] = [
      { key: 'h/g', points: gPoints },
      { key: 'h/c', points: referenceRates(cPoints, 60) },
    ]
    const ranges = [
      [T0 + 7 * DAY + 13 * MIN, T0 + 9 * DAY], // recent: raw still there
      [T0 + 12 * MIN, T0 + 9 * DAY], // whole history
      [T0 + 2 * DAY + 7 * MIN, T0 + 5 * DAY - 3 * MIN],
    ]
    const check = (phase: string) => {
      for (const { key, points } of cases) {
        for (const [start, end] of ranges) {
          for (const [step, tier] of [
            [300, 5],
            [1200, 20],
          ]) {
            for (const cf of ['AVERAGE', 'MAX', 'MIN', 'LAST'] as const) {
              const res = db.query(key, { start, end, step, consolFun: cf })
              assert.ok(res !== null)
              assert.equal(res.tier, `r${tier}`)
              assert.equal(res.step, step)
              const got = Array.from(res.ts.subarray(0, res.n), (t, i): [number, number] => [
                t,
                res.vs[i],
              ])
              const want = referenceBuckets(points, step * 1000, cf, start, end)
              assertClose(
                got,
                want,
                `${phase} ${key} ${cf} step ${step} [${start - T0}, ${end - T0}]`
              )
            }
          }
        }
      }
    }
    check('on the fly')
    await db.rollup(true)
    assert.ok(readdirSync(join(dir, 'blocks')).some((f) => f.startsWith('r5-')))
    check('materialised')
    // A raw block per day (the flush cuts by window): the days past raw retention expire.
    const rawBefore = db.stats().blocks.raw
    await db.applyRetention()
    assert.equal(rawBefore - db.stats().blocks.raw, 7, 'the raw blocks of days 0 to 6 expired')
    check('raw expired')
    // Without a step, a range reaching past raw retention gets the finest tier that covers it.
    assert.equal(db.query('h/g', { start: T0 + DAY, end: T0 + 2 * DAY })?.tier, 'r5')
    await db.close()
    // The watermark and tiers survive a reopen.
    const again = Db.open({ dir, ...options })
    const res = again.query('h/g', { start: T0 + DAY, end: T0 + 2 * DAY, consolFun: 'MAX' })
    assertClose(
      Array.from(res?.ts.subarray(0, res.n) ?? [], (t, i): [number, number] => [
        t,
        res?.vs[i] ?? NaN,
      ]),
      referenceBuckets(gPoints, 300_000, 'MAX', T0 + DAY, T0 + 2 * DAY),
      'reopened'
    )
    await again.close()
  })

  it('compacts tier blocks from successive rollup runs without changing any answer', async () => {
    const db = Db.open({ dir, ...options, tiers: [5, 20] })
    const g: SeriesDesc = { endpoint: 'h', metric: 'g', tags: '', dstype: 'GAUGE', step: 60 }
    const r = rng(9)
    const app = db.appender()
    let ref = 0
    for (let t = T0; t < T0 + 2 * DAY; t += MIN)
      ref = app.append(ref, g, t, Math.round(r() * 1e4) / 100)
    await app.commit()
    await db.flush()
    // Rollups every 2 hours of wall time: one block per tier per run.
    for (let h = 1; h <= 10; h++) {
      clock = T0 + DAY + h * 2 * 3_600_000
      await db.rollup()
    }
    const answer = () =>
      ['AVERAGE', 'MAX', 'MIN', 'LAST'].flatMap((cf) =>
        [300, 1200].map((step) => {
          const q = db.query('h/g', {
            start: T0,
            end: T0 + 2 * DAY,
            step,
            consolFun: cf as ConsolFun,
          })
          return Array.from(q?.vs.subarray(0, q.n) ?? [])
        })
      )
    const before = answer()
    assert.equal(before[0].length, 577, 'two days of 5-minute buckets, and the one ending at T0')
    assert.equal(db.stats().blocks.r5, 10)
    assert.ok((await db.compact()) >= 20)
    assert.equal(db.stats().blocks.r5, 1)
    assert.equal(db.stats().blocks.r20, 1)
    assert.deepEqual(answer(), before)
    await db.close()
    const again = Db.open({ dir, ...options, tiers: [5, 20] })
    const q = again.query('h/g', { start: T0, end: T0 + 2 * DAY, step: 300, consolFun: 'AVERAGE' })
    assert.deepEqual(Array.from(q?.vs.subarray(0, q.n) ?? []), before[0])
    await again.close()
  })

  it('keeps a raw block past its retention until the tiers cover it', async () => {
    const db = Db.open({
      dir,
      ...options,
      rollupAfter: 2 * DAY,
      retention: { ...options.retention, raw: 2.5 * DAY },
    })
    const app = db.appender()
    app.append(0, { endpoint: 'h', metric: 'g', tags: '', dstype: 'GAUGE', step: 60 }, clock, 1)
    await app.commit()
    await db.flush()
    clock += 2.6 * DAY
    await db.applyRetention()
    assert.equal(db.stats().blocks.raw, 1, 'not rolled up yet: kept')
    await db.rollup(true)
    await db.applyRetention()
    assert.equal(db.stats().blocks.raw, undefined)
    assert.equal(db.query('h/g', { start: clock - 3 * DAY, end: clock, step: 300 })?.n, 1)
    await db.close()
  })
})
