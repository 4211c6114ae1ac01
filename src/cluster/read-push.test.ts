import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkReadPush, defaultReadPush } from './read-push.js'

describe('checkReadPush', () => {
  it('takes the defaults', () => {
    const problems: string[] = []
    checkReadPush(problems, 'nodata', { ...defaultReadPush, maxPending: 10 })
    assert.deepEqual(problems, [])
  })

  it('takes a replication from 1 to the number of graph nodes', () => {
    const f = (replication: unknown, want: string[]) => {
      const problems: string[] = []
      const graphCluster = { 'graph-00': '10.0.0.1:6070', 'graph-01': '10.0.0.2:6070' }
      checkReadPush(problems, 'nodata', {
        ...defaultReadPush,
        graphCluster,
        replication: replication as number,
        maxPending: 10,
      })
      assert.deepEqual(problems, want)
    }
    f(1, [])
    f(2, [])
    const bad = (v: string) =>
      `nodata.replication: expected an integer from 1 to 2 (the number of nodes in nodata.graphCluster: each series is kept on that many distinct nodes), got ${v}`
    f(3, [bad('3')])
    f(0, [bad('0')])
    f('2', [bad('"2"')])
  })

  it('names every bad setting under its section', () => {
    const problems: string[] = []
    checkReadPush(problems, 'aggregator', {
      store: 'oracle://x',
      graphCluster: {},
      replicas: 0,
      replication: 0,
      callTimeout: 1.5,
      transfer: ['not an address'],
      refreshInterval: 10,
      maxPending: 0,
    })
    for (const key of [
      'store',
      'graphCluster',
      'transfer',
      'replicas',
      'replication',
      'callTimeout',
      'refreshInterval',
      'maxPending',
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(`aggregator.${key}`)),
        `${key} in ${problems.join(' | ')}`
      )
    }
  })
})
