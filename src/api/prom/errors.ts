// The Prometheus API's errors: `{"status":"error","errorType":…,"error":…}` with Prometheus's HTTP
// statuses, and how Peregrine's error codes map onto them.
import { type ErrorCode, isPeregrineError } from '../../core/index.js'
import { GraphUnavailable } from '../../cluster/index.js'
import { HttpError } from '../http-errors.js'

/**
 * ErrorType is Prometheus's `errorType`, plus the three the api's auth answers with (`unauthorized`
 * 401, `forbidden` 403, `too_many_requests` 429), which Prometheus, having no auth, never sends.
 */
export type ErrorType =
  | 'bad_data'
  | 'execution'
  | 'timeout'
  | 'canceled'
  | 'internal'
  | 'unavailable'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'too_many_requests'

/** STATUS is the HTTP status of each error type, as Prometheus's respondError picks it. */
export const STATUS: Record<ErrorType, number> = {
  bad_data: 400,
  execution: 422,
  // nginx's "client closed request": no one reads it, but it is what Prometheus logs.
  canceled: 499,
  timeout: 503,
  internal: 500,
  unavailable: 503,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  too_many_requests: 429,
}

/**
 * TYPE_OF_CODE maps the codes a query may end with: parse and regex errors are bad_data, execution
 * errors and too many samples execution, a timeout timeout, a store that is down unavailable.
 */
const TYPE_OF_CODE: Partial<Record<ErrorCode, ErrorType>> = {
  PG_PROMQL_BAD_QUERY: 'bad_data',
  PG_CORE_BAD_REGEX: 'bad_data',
  PG_PROMQL_EXECUTION: 'execution',
  PG_PROMQL_TOO_MANY_SAMPLES: 'execution',
  PG_PROMQL_TIMEOUT: 'timeout',
  PG_API_LOGIN_LIMITED: 'too_many_requests',
  PG_STORE_UNAVAILABLE: 'unavailable',
  PG_REMOTE_UNAVAILABLE: 'unavailable',
  PG_REMOTE_BAD_ANSWER: 'execution',
}

/** PromError is an error answered in Prometheus's shape. */
export class PromError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string
  ) {
    super(message)
    this.name = 'PromError'
  }

  get status(): number {
    return STATUS[this.type]
  }

  static badData(message: string): PromError {
    return new PromError('bad_data', message)
  }

  /** badParam is Prometheus's invalidParamError: `invalid parameter "time": …`. */
  static badParam(param: string, message: string): PromError {
    return new PromError('bad_data', `invalid parameter ${JSON.stringify(param)}: ${message}`)
  }
}

/**
 * toPromError maps what a route or the engine threw onto Prometheus's error types. Parse and regex
 * errors are bad_data (`invalid parameter "query": …` when `queryParam`), execution errors and too
 * many samples are execution (422), a timeout is timeout (503), a graph node that does not answer is
 * unavailable (503). Anything else is internal (500) and `internal` is true: the caller logs it.
 */
export function toPromError(err: unknown, queryParam = false): PromError & { internal?: boolean } {
  if (err instanceof PromError) return err
  if (err instanceof GraphUnavailable) return new PromError('unavailable', err.message)
  if (err instanceof HttpError) {
    const type: ErrorType =
      err.status === 401
        ? 'unauthorized'
        : err.status === 403
          ? 'forbidden'
          : err.status === 404
            ? 'not_found'
            : err.status === 429
              ? 'too_many_requests'
              : err.status < 500
                ? 'bad_data'
                : 'internal'
    return new PromError(type, err.message)
  }
  if (isPeregrineError(err)) {
    const type = TYPE_OF_CODE[err.code]
    if (type === 'bad_data' && queryParam) return PromError.badParam('query', err.message)
    if (type !== undefined) return new PromError(type, err.message)
    if (err.status < 500) return PromError.badData(err.message)
  }
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown }
  // Fastify's own 4xx (a body it cannot parse or too large).
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return PromError.badData(String(e.message))
  const internal: PromError & { internal?: boolean } = new PromError(
    'internal',
    err instanceof Error ? err.message : String(err)
  )
  internal.internal = true
  return internal
}
