import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkReadPush, defaultReadPush } from './read-push.js'

describe('checkReadPush', () => {
  it('takes the defaults', () => {
    const problems: string[] = []
    checkReadPush(problems, 'nodata', { ...defaultReadPush, maxPending: 10 })
    assert.deepEqual(problems, [])
  })

  it('names every bad setting under its section', () => {
    const problems: string[] = []
    checkReadPush(problems, 'aggregator', {
      store: 'oracle://x',
      graphCluster: {},
      replicas: 0,
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
