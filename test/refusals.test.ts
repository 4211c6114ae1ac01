// Points graph cannot keep are refused in the push answer, never acknowledged and then dropped; a graph
// whose disk fills says so on /health and takes writes again once space returns.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonRpcClient, smallDisk, SMALL_DISK_SKIP } from '../src/core/index.js'
import { BIN, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-refusals-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const now = () => Math.floor(Date.now() / 1000)
const point = (endpoint: string, timestamp: number, metric = 'cpu.idle') => ({
  endpoint,
  metric,
  value: 1,
  step: 60,
  counterType: 'GAUGE',
  tags: '',
  timestamp,
})

interface Answer {
  Message: string
  Total: number
  Invalid: number
  Errors?: string[]
}

// The /api/push answer: `data` on success, `msg` on failure.
interface PushReply {
  msg: string
  data: Answer
}

async function push(
  p: PeregrineProcess,
  items: unknown[]
): Promise<{ status: number; body: PushReply }> {
  const res = await fetch(`http://${p.addresses.transfer.http}/api/push`, {
    method: 'POST',
    body: JSON.stringify(items),
  })
  return { status: res.status, body: (await res.json()) as PushReply }
}

// /counter/all's data, loosely typed: the tests read a few keys.
type Counters = Record<string, number> & {
  refusedByCode: Record<string, number>
  tsdb: Record<string, number>
  health: { ok: boolean; problems: string[] }
}

async function counters(p: PeregrineProcess, component: 'transfer' | 'graph'): Promise<Counters> {
  const res = await fetch(`http://${p.addresses[component].http}/counter/all`)
  return ((await res.json()) as { data: Counters }).data
}

describe('refused points', () => {
  let aio: PeregrineProcess
  before(async () => {
    mkdirSync(join(dir, 'limits'))
    aio = await startPeregrine(join(dir, 'limits'), ['graph', 'transfer'], {
      graph: { walSync: 'write', maxSeries: 5, maxNewSeriesPerHour: 0 },
    })
  })
  after(async () => {
    assert.equal(await aio.stop(), 0)
  })

  it("are counted in Invalid and named in Errors, over HTTP and JSON-RPC; a plain answer stays falcon's", async () => {
    const t = now() - 60
    // A plain answer has exactly falcon's keys.
    let r = await push(aio, [point('h0', t)])
    assert.equal(r.status, 200)
    assert.deepEqual(Object.keys(r.body.data), ['Message', 'Total', 'Invalid', 'Latency'])
    // 8 days old: older than the raw retention (7 d).
    r = await push(aio, [
      point('h0', t - 8 * 86400),
      point('h0', t - 120),
      { metric: 'no.endpoint' },
    ])
    assert.equal(r.status, 200)
    const a = r.body.data
    assert.equal(a.Total, 3)
    assert.equal(a.Invalid, 2)
    assert.equal(a.Errors?.length, 2)
    assert.match(a.Errors?.[0] ?? '', /^item 0: PG_TSDB_TOO_OLD: h0\/cpu\.idle at \d+: older than/)
    assert.match(a.Errors?.[1] ?? '', /^item 2: endpoint/)
    const rpc = new JsonRpcClient(aio.addresses.transfer.rpc)
    try {
      const b = await rpc.call<Answer>('Transfer.Update', [point('h0', t - 9 * 86400)])
      assert.equal(b.Invalid, 1)
      assert.match(b.Errors?.[0] ?? '', /PG_TSDB_TOO_OLD/)
    } finally {
      rpc.close()
    }
    const c = await counters(aio, 'transfer')
    assert.equal(c.refused, 2)
    assert.deepEqual(c.refusedByCode, { PG_TSDB_TOO_OLD: 2 })
    assert.equal((await counters(aio, 'graph')).tsdb.tooOld, 2)
  })

  it('past graph.maxSeries: points of new series are refused, known series keep going', async () => {
    const t = now() - 30
    // h0 exists; 4 more fit; the rest are refused, each named (the first ten).
    const items = Array.from({ length: 12 }, (_, i) => point(`n${i}`, t))
    items.push(point('h0', t))
    const r = await push(aio, items)
    const a = r.body.data
    assert.equal(a.Total, 13)
    assert.equal(a.Invalid, 8)
    assert.equal(a.Errors?.length, 8)
    for (const e of a.Errors ?? [])
      assert.match(e, /PG_TSDB_SERIES_LIMIT: n\d+\/cpu\.idle .*graph\.maxSeries/)
    assert.equal((await counters(aio, 'graph')).tsdb.seriesLimited, 8)
    assert.equal((await counters(aio, 'transfer')).refusedByCode.PG_TSDB_SERIES_LIMIT, 8)
  })
})

describe('a graph whose disk fills', () => {
  it(
    'fails pushes with 503, says why on /health and /counter/all, and recovers by itself',
    { skip: SMALL_DISK_SKIP },
    async () => {
      const disk = smallDisk(4)
      const mnt = disk.dir
      mkdirSync(join(dir, 'full'))
      const aio = await startPeregrine(join(dir, 'full'), ['graph', 'transfer'], {
        graph: { walSync: 'fsync', dataDir: join(mnt, 'graph') },
      })
      try {
        const t = now() - 600
        assert.equal((await push(aio, [point('h', t)])).status, 200)
        const health = async () => {
          const res = await fetch(`http://${aio.addresses.graph.http}/health`)
          return { status: res.status, text: await res.text() }
        }
        assert.deepEqual(await health(), { status: 200, text: 'ok' })
        disk.fill()
        let refused: { status: number; body: PushReply } | undefined
        for (let i = 1; i < 2000 && refused === undefined; i++) {
          const r = await push(aio, [point(`h${i}`, t)])
          if (r.status !== 200) refused = r
        }
        assert.equal(refused?.status, 503)
        assert.match(refused?.body.msg ?? '', /ENOSPC.*pushing them again is safe/)
        const h = await health()
        assert.equal(h.status, 503)
        assert.match(
          h.text,
          /^degraded: the write-ahead log cannot be written since .*ENOSPC.*free space/
        )
        const c = await counters(aio, 'graph')
        assert.equal(c.health.ok, false)
        assert.match(c.health.problems[0], /ENOSPC/)
        // `peregrine check` says so too, and exits non-zero.
        const check = spawnSync(
          process.execPath,
          [BIN, 'check', '--data-dir', join(dir, 'full', 'data')],
          { encoding: 'utf8' }
        )
        assert.equal(check.status, 1, check.stdout + check.stderr)
        assert.match(
          check.stdout,
          /graph +DEGRADED .*\n.*503 degraded: the write-ahead log cannot be written/
        )
        assert.match(check.stdout, /transfer +UP/)
        // Space returns: pushes go through again and health clears, without a restart.
        disk.free()
        let ok = false
        for (let i = 0; i < 50 && !ok; i++) {
          await new Promise((r) => setTimeout(r, 100))
          ok = (await push(aio, [point(`again${i}`, t)])).status === 200
        }
        assert.ok(ok, 'pushes succeed again')
        assert.deepEqual(await health(), { status: 200, text: 'ok' })
        const again = spawnSync(
          process.execPath,
          [BIN, 'check', '--data-dir', join(dir, 'full', 'data')],
          { encoding: 'utf8' }
        )
        assert.equal(again.status, 0, again.stdout + again.stderr)
      } finally {
        assert.equal(await aio.stop(), 0)
        disk.unmount()
      }
    }
  )
})
