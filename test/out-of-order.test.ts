// No acknowledged point is lost, in whatever order it comes: 8 clients push shuffled batches to a real
// all-in-one, then every acknowledged point reads back exactly through /api/v1/graph/history, after a
// clean restart (the head flushed to blocks), more late points into those blocks, a kill -9 and a
// compaction of the blocks.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-ooo-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const STEP = 60
const HOSTS = 20
const METRICS = 10
const POINTS = 240 // four hours a series
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - (POINTS + 10) * STEP

interface Point {
  endpoint: string
  metric: string
  value: number
  step: number
  counterType: string
  tags: string
  timestamp: number
}

async function waitFor(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ok()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('timed out waiting for graph to compact')
}

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function shuffle<T>(items: T[], r: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

// The points of series (h, m) at minutes [from, to), value `value(h, m, i)`.
function points(from: number, to: number, value: (h: number, m: number, i: number) => number) {
  const out: Point[] = []
  for (let h = 0; h < HOSTS; h++) {
    for (let m = 0; m < METRICS; m++) {
      for (let i = from; i < to; i++) {
        out.push({
          endpoint: `host-${h}`,
          metric: `m.${m}`,
          value: value(h, m, i),
          step: STEP,
          counterType: 'GAUGE',
          tags: m % 2 === 0 ? `b=${m},a=${h}` : '',
          timestamp: T0 + i * STEP,
        })
      }
    }
  }
  return out
}

// 8 clients take shuffled batches of 1,000 from one queue and push them to /api/push; every push must
// be acknowledged with nothing invalid.
async function push(address: string, all: Point[]): Promise<void> {
  const batches: Point[][] = []
  for (let i = 0; i < all.length; i += 1000) batches.push(all.slice(i, i + 1000))
  const client = async () => {
    for (let b = batches.shift(); b !== undefined; b = batches.shift()) {
      const res = await fetch(`http://${address}/api/push`, {
        method: 'POST',
        body: JSON.stringify(b),
      })
      const body = (await res.json()) as { msg: string; data: { Total: number; Invalid: number } }
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.data.Invalid, 0, JSON.stringify(body))
      assert.equal(body.data.Total, b.length)
    }
  }
  await Promise.all(Array.from({ length: 8 }, client))
}

// Reads every series back, host by host, and compares with `want` (value by host, metric, minute;
// undefined: no point there).
async function check(
  aio: PeregrineProcess,
  want: (h: number, m: number, i: number) => number | undefined,
  phase: string
): Promise<void> {
  const api = aio.addresses.api.http
  const apitoken = await loginRoot(api)
  let seen = 0
  let expected = 0
  for (let h = 0; h < HOSTS; h++) {
    const res = await fetch(`http://${api}/api/v1/graph/history`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apitoken },
      body: JSON.stringify({
        hostnames: [`host-${h}`],
        counters: Array.from({ length: METRICS }, (_, m) =>
          m % 2 === 0 ? `m.${m}/a=${h},b=${m}` : `m.${m}`
        ),
        start_time: T0,
        end_time: T0 + (POINTS + 5) * STEP,
        consol_fun: 'AVERAGE',
        step: STEP,
      }),
    })
    assert.equal(res.status, 200)
    const history = (await res.json()) as {
      counter: string
      Values: { timestamp: number; value: number | null }[]
    }[]
    assert.equal(history.length, METRICS, `${phase}: host-${h}`)
    for (const series of history) {
      const m = Number(series.counter.slice(2).split('/')[0])
      for (const v of series.Values) {
        const i = (v.timestamp - T0) / STEP
        const w = i >= 0 && i < POINTS ? want(h, m, i) : undefined
        assert.equal(v.value, w ?? null, `${phase}: host-${h}/${series.counter} at minute ${i}`)
        if (w !== undefined) seen++
      }
    }
    for (let m = 0; m < METRICS; m++)
      for (let i = 0; i < POINTS; i++) if (want(h, m, i) !== undefined) expected++
  }
  assert.equal(seen, expected, `${phase}: every acknowledged point read back`)
}

describe('acknowledged points pushed out of order', () => {
  it('are all kept: shuffled batches, restarts, late points into flushed blocks, kill -9', async () => {
    const r = rng(7)
    const first = (h: number, m: number, i: number) => h * 1_000_000 + m * 1000 + i
    let aio = await startPeregrine(dir, ['graph', 'transfer', 'api'], {
      graph: { walSync: 'write' },
    })
    try {
      // The odd minutes of every series, in random order.
      const odd = points(0, POINTS, first).filter((p) => ((p.timestamp - T0) / STEP) % 2 === 1)
      await push(aio.addresses.transfer.http, shuffle(odd, r))
      const oddOnly = (h: number, m: number, i: number) =>
        i % 2 === 1 ? first(h, m, i) : undefined
      await check(aio, oddOnly, 'shuffled odd minutes')

      // A clean stop writes the head to blocks; after it, the even minutes arrive late, in random
      // order, together with retries of odd ones carrying other values (the first value stays).
      assert.equal(await aio.stop(), 0)
      aio = await startPeregrine(dir, ['graph', 'transfer', 'api'], { graph: { walSync: 'write' } })
      await check(aio, oddOnly, 'after a restart')
      const even = points(0, POINTS, first).filter((p) => ((p.timestamp - T0) / STEP) % 2 === 0)
      const retries = points(0, POINTS, () => -1).filter(
        (p) => ((p.timestamp - T0) / STEP) % 4 === 1
      )
      await push(aio.addresses.transfer.http, shuffle([...even, ...retries], r))
      await check(aio, first, 'late even minutes into flushed blocks')

      // Killed before any flush: the late points come back from the WAL.
      await aio.stop('SIGKILL')
      aio = await startPeregrine(dir, ['graph', 'transfer', 'api'], { graph: { walSync: 'write' } })
      await check(aio, first, 'after kill -9')
      assert.equal(await aio.stop(), 0)
      // The two flushes left two blocks of one day: compaction merges them, point by point.
      aio = await startPeregrine(dir, ['graph', 'transfer', 'api'], {
        graph: { walSync: 'write', maintenanceInterval: 200 },
      })
      await check(aio, first, 'after a last restart')
      await waitFor(async () => {
        const res = await fetch(`http://${aio.addresses.graph.http}/counter/all`)
        const c = (await res.json()) as { data: { tsdb: { compactions: number } } }
        return c.data.tsdb.compactions > 0
      })
      await check(aio, first, 'after a compaction')
    } finally {
      await aio.stop()
    }
  })
})
