// The error catalogue: every error a caller may branch on has a stable `code` (see docs/errors.md).

/** ErrorCode lists every code Peregrine raises; callers branch on `err.code`, never on `instanceof`. */
export type ErrorCode =
  | 'PG_CORE_INVALID_FIELD'
  | 'PG_CORE_ADDR_REFUSED'
  | 'PG_CORE_BAD_REGEX'
  | 'PG_TSDB_CORRUPT'
  | 'PG_TSDB_CLOSED'
  | 'PG_TSDB_LOCKED'
  | 'PG_TSDB_BAD_OPTION'
  | 'PG_TSDB_BAD_QUERY'
  | 'PG_TSDB_WAL_WRITE'
  | 'PG_TSDB_TOO_OLD'
  | 'PG_TSDB_TOO_NEW'
  | 'PG_TSDB_SERIES_LIMIT'
  | 'PG_PROMQL_BAD_QUERY'
  | 'PG_PROMQL_EXECUTION'
  | 'PG_PROMQL_TIMEOUT'
  | 'PG_PROMQL_TOO_MANY_SAMPLES'
  | 'PG_GRAPH_BAD_ITEM'
  | 'PG_GRAPH_REFUSED'
  | 'PG_GATEWAY_DISK_FULL'
  | 'PG_GATEWAY_DISK_WRITE'
  | 'PG_REMOTE_QUEUE_FULL'
  | 'PG_REMOTE_QUEUE_WRITE'
  | 'PG_REMOTE_UNAVAILABLE'
  | 'PG_REMOTE_BAD_ANSWER'
  | 'PG_CLI_USAGE'
  | 'PG_AGENT_FORBIDDEN'
  | 'PG_HBS_BAD_HOSTNAME'
  | 'PG_HBS_HOST_LIMIT'
  | 'PG_API_TOO_MANY_POINTS'
  | 'PG_API_TOO_MANY_ROWS'
  | 'PG_API_QUERY_TIMEOUT'
  | 'PG_API_LOGIN_LIMITED'
  | 'PG_STORE_UNAVAILABLE'
  | 'PG_STORE_BAD_URL'
  | 'PG_STORE_MIGRATION'

/** PeregrineError carries a stable `code`, an HTTP-like `status` and a message that names the field. */
export class PeregrineError extends Error {
  readonly code: ErrorCode
  readonly status: number
  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PeregrineError'
    this.code = code
    this.status = options?.status ?? 500
  }
}

/** isPeregrineError tells whether `err` carries a Peregrine code, across module copies. */
export function isPeregrineError(err: unknown): err is PeregrineError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('PG_')
  )
}
