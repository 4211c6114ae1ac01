import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db } from '../tsdb/index.js'
import { graphMethods } from './rpc.js'

const T = 1_700_000_040

describe('Graph.Send in-process', () => {
  it('keeps series apart when two nodes get the same item objects (replication a,b)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-graph-rpc-'))
    const open = (name: string) =>
      Db.open({
        dir: join(dir, name),
        maintenanceInterval: 0,
        walSync: 'write',
        now: () => (T + 60) * 1000,
      })
    const a = open('a')
    const b = open('b')
    const counters = () => ({
      sendCalls: 0,
      sendItems: 0,
      sendInvalid: 0,
      sendRefused: 0,
      queryCalls: 0,
      lastCalls: 0,
    })
    const sendA = graphMethods(a, counters()).get('Graph.Send') as (p: unknown) => Promise<unknown>
    const sendB = graphMethods(b, counters()).get('Graph.Send') as (p: unknown) => Promise<unknown>
    const item = (metric: string, tags: Record<string, string>, value: number, ts = T) => ({
      endpoint: 'h',
      metric,
      tags,
      value,
      timestamp: ts,
      dstype: 'GAUGE',
      step: 60,
    })
    // b's first series takes the ref that `x` gets in a.
    await sendB([item('other', { k: 'o' }, 99)])
    const tags = { k: 'v' } // one object, as transfer shares it for a series
    for (let i = 0; i < 3; i++) {
      const items = [item('x', tags, i, T + i * 60)]
      await sendA(items)
      await sendB(items)
    }
    const values = (db: Db, key: string) => {
      const q = db.query(key, { start: T * 1000, end: (T + 600) * 1000 })
      return Array.from(q?.vs.subarray(0, q.n) ?? [])
    }
    assert.deepEqual(values(a, 'h/x/k=v'), [0, 1, 2])
    assert.deepEqual(values(b, 'h/x/k=v'), [0, 1, 2])
    assert.deepEqual(values(b, 'h/other/k=o'), [99])
    // The same tags object with another metric is another series.
    await sendA([item('y', tags, 7)])
    assert.deepEqual(values(a, 'h/y/k=v'), [7])
    await a.close()
    await b.close()
    rmSync(dir, { recursive: true, force: true })
  })
})
