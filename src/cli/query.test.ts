import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  apiUrl,
  authHeaders,
  buildQueryRequest,
  formatTable,
  labelText,
  resolveTime,
  UsageProblem,
} from './query.js'

const NOW = 1_700_000_000_000

const problem = (fn: () => unknown, want: RegExp) =>
  assert.throws(fn, (err: Error) => err instanceof UsageProblem && want.test(err.message))

describe('peregrine query', () => {
  it('resolves now and relative times, and passes absolute ones through', () => {
    assert.equal(resolveTime('now', '--time', NOW), '1700000000')
    assert.equal(resolveTime('-5m', '--time', NOW), '1699999700')
    assert.equal(resolveTime('-1.5h', '--start', NOW), '1699994600')
    assert.equal(resolveTime('1699999999.5', '--time', NOW), '1699999999.5')
    assert.equal(resolveTime('2024-05-01T10:00:00Z', '--end', NOW), '2024-05-01T10:00:00Z')
    problem(() => resolveTime('yesterday', '--start', NOW), /^--start: expected Unix seconds/)
  })

  it('builds an instant query, or a range one with a default end and step', () => {
    assert.deepEqual(buildQueryRequest('up', {}, NOW), {
      path: '/api/v1/query',
      params: { query: 'up', time: '1700000000' },
    })
    assert.deepEqual(buildQueryRequest('up', { start: '-1h' }, NOW), {
      path: '/api/v1/query_range',
      params: { query: 'up', start: '1699996400', end: '1700000000', step: '14' },
    })
    assert.deepEqual(
      buildQueryRequest('up', { start: '0', end: '60', step: '1m' }, NOW).params.step,
      '1m'
    )
  })

  it('refuses mixed, missing or malformed flags in one sentence', () => {
    problem(() => buildQueryRequest('up', { time: 'now', start: '-1h' }, NOW), /one or the other/)
    problem(() => buildQueryRequest('up', { end: 'now' }, NOW), /needs --start/)
    problem(
      () => buildQueryRequest('up', { start: '100', end: '50' }, NOW),
      /--end: before --start/
    )
    problem(() => buildQueryRequest('up', { start: '-1h', step: 'fast' }, NOW), /^--step: /)
    problem(() => buildQueryRequest(' ', {}, NOW), /^EXPR: /)
    problem(() => authHeaders({ token: 'a', user: 'b:c' }), /give one of them/)
    problem(() => authHeaders({ user: 'root' }), /name:password/)
  })

  it('sends a token as Bearer and a user as Basic', () => {
    assert.deepEqual(authHeaders({ token: 'pgt_x' }), { authorization: 'Bearer pgt_x' })
    assert.deepEqual(authHeaders({ user: 'root:pw' }), { authorization: 'Basic cm9vdDpwdw==' })
    assert.deepEqual(authHeaders({}), {})
  })

  it('writes labels as PromQL, quoting a dotted name', () => {
    assert.equal(labelText({ __name__: 'up', job: 'a' }), 'up{job="a"}')
    assert.equal(labelText({ __name__: 'up' }), 'up')
    assert.equal(labelText({ __name__: 'cpu.idle', endpoint: 'h1' }), '{"cpu.idle", endpoint="h1"}')
    assert.equal(labelText({ endpoint: 'h1' }), '{endpoint="h1"}')
  })

  it('prints a vector as a table and a matrix as one block per series', () => {
    assert.equal(
      formatTable({
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            { metric: { __name__: 'cpu.idle', endpoint: 'h1' }, value: [1, '50'] },
            { metric: { endpoint: 'h22' }, value: [1, '+Inf'] },
          ],
        },
        warnings: ['careful'],
      }),
      'SERIES                       VALUE\n' +
        '{"cpu.idle", endpoint="h1"}  50\n' +
        '{endpoint="h22"}             +Inf\n' +
        'warning: careful\n'
    )
    assert.equal(
      formatTable({
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: { a: '1' },
              values: [
                [60, '1'],
                [120.5, '2'],
              ],
            },
            { metric: { a: '2' }, values: [[60, '3']] },
          ],
        },
      }),
      '{a="1"}\n  1970-01-01T00:01:00.000Z  1\n  1970-01-01T00:02:00.500Z  2\n\n' +
        '{a="2"}\n  1970-01-01T00:01:00.000Z  3\n'
    )
    assert.equal(
      formatTable({ status: 'success', data: { resultType: 'scalar', result: [1, '2.5'] } }),
      '2.5\n'
    )
    assert.equal(
      formatTable({ status: 'success', data: { resultType: 'vector', result: [] } }),
      '(no series)\n'
    )
  })

  it('turns a listen address into the URL to reach it', () => {
    assert.equal(apiUrl('0.0.0.0:8080'), 'http://127.0.0.1:8080')
    assert.equal(apiUrl('127.0.0.1:41234'), 'http://127.0.0.1:41234')
    assert.equal(apiUrl('[::]:8080'), 'http://[::1]:8080')
    assert.equal(apiUrl('[::1]:8080'), 'http://[::1]:8080')
  })
})
