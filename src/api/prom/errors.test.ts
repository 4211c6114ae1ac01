import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PeregrineError } from '../../core/index.js'
import { GraphUnavailable } from '../../cluster/index.js'
import { HttpError } from '../http-errors.js'
import { PromError, toPromError } from './errors.js'

describe('toPromError', () => {
  it("maps Peregrine's codes onto Prometheus's error types and statuses", () => {
    const f = (err: unknown, type: string, status: number, message?: string, query = false) => {
      const e = toPromError(err, query)
      assert.deepEqual([e.type, e.status], [type, status], String(err))
      if (message !== undefined) assert.equal(e.message, message)
    }
    const pg = (code: ConstructorParameters<typeof PeregrineError>[0], status: number) =>
      new PeregrineError(code, 'm', { status })
    f(pg('PG_PROMQL_BAD_QUERY', 400), 'bad_data', 400, 'invalid parameter "query": m', true)
    f(pg('PG_PROMQL_BAD_QUERY', 400), 'bad_data', 400, 'm')
    f(pg('PG_CORE_BAD_REGEX', 400), 'bad_data', 400)
    f(pg('PG_PROMQL_EXECUTION', 422), 'execution', 422)
    f(pg('PG_PROMQL_TOO_MANY_SAMPLES', 422), 'execution', 422)
    f(pg('PG_PROMQL_TIMEOUT', 503), 'timeout', 503)
    f(pg('PG_STORE_UNAVAILABLE', 503), 'unavailable', 503)
    f(pg('PG_API_LOGIN_LIMITED', 429), 'too_many_requests', 429)
    f(pg('PG_TSDB_BAD_QUERY', 400), 'bad_data', 400)
    f(new GraphUnavailable('graph-00: down'), 'unavailable', 503, 'graph-00: down')
    f(new HttpError(401, 'who?'), 'unauthorized', 401)
    f(new HttpError(403, 'no'), 'forbidden', 403)
    f(PromError.badParam('time', 'x'), 'bad_data', 400, 'invalid parameter "time": x')
    const bug = toPromError(new Error('BUG: oops'))
    assert.deepEqual([bug.type, bug.status, bug.internal], ['internal', 500, true])
    assert.equal(toPromError(pg('PG_TSDB_CORRUPT', 500)).type, 'internal')
  })
})
