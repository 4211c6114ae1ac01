// Peregrine's Prometheus-series calls of a graph node: Graph.Select, Graph.Fold, Graph.LabelNames,
// Graph.LabelValues and Graph.Metadata over the tsdb Querier, each parameter checked, each answer bounded.
import { isPeregrineError, PeregrineError, RpcError } from '../core/index.js'
import {
  type Db,
  encodeSeriesSet,
  type Matcher,
  type MetadataRow,
  wireBytes,
  type WireSeriesSet,
} from '../tsdb/index.js'
import {
  encodeFoldState,
  FOLD_TOO_LARGE,
  type FoldSpec,
  FoldCellsExceeded,
  isAccOp,
  SelectorFold,
  wireFoldBytes,
  type WireFoldState,
} from '../promql/index.js'
import type { GraphOptions } from './rpc.js'

/**
 * MAX_SELECT_SAMPLES bounds one Graph.Select answer (about 43 MB of base64, within the 64 MiB a
 * JSON-RPC client reads): past it the call is refused, naming it.
 */
export const MAX_SELECT_SAMPLES = 2_000_000

/** MAX_SELECT_BYTES bounds one Graph.Select answer's JSON, labels included (60 MiB). */
export const MAX_SELECT_BYTES = 60 << 20

const MATCH_OPS: readonly string[] = ['=', '!=', '=~', '!~']

function objectParam(param: unknown, method: string): Record<string, unknown> {
  if (param === null || typeof param !== 'object' || Array.isArray(param)) {
    throw new RpcError(`${method}: expected an object`)
  }
  return param as Record<string, unknown>
}

function matchersParam(v: unknown, method: string, required: boolean): Matcher[] {
  if (v === undefined || v === null) {
    if (required) throw new RpcError(`${method} matchers: expected an array of {name, op, value}`)
    return []
  }
  if (!Array.isArray(v))
    throw new RpcError(`${method} matchers: expected an array of {name, op, value}`)
  return v.map((m: unknown, i) => {
    const x = m as { name?: unknown; op?: unknown; value?: unknown } | null
    if (
      x === null ||
      typeof x !== 'object' ||
      typeof x.name !== 'string' ||
      x.name === '' ||
      typeof x.value !== 'string' ||
      typeof x.op !== 'string' ||
      !MATCH_OPS.includes(x.op)
    ) {
      throw new RpcError(
        `${method} matchers[${i}]: expected {name, op, value} with a name, op one of =, !=, =~, !~ and a string value`
      )
    }
    return { name: x.name, op: x.op as Matcher['op'], value: x.value }
  })
}

function timeParam(v: unknown, field: string, method: string, fallback?: number): number {
  if ((v === undefined || v === null) && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new RpcError(`${method} ${field}: expected a time in ms`)
  }
  return v
}

function limitParam(v: unknown, method: string, max: number): { limit: number; strict: boolean } {
  if (v === undefined || v === null || v === 0) return { limit: max, strict: true }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new RpcError(`${method} limit: expected a whole number ≥ 0`)
  }
  if (v > max) {
    throw new RpcError(
      `${method} limit: ${v} is more than ${max} (graph.maxIndexRows); page with a smaller limit`
    )
  }
  return { limit: v, strict: false }
}

// Errors the querier throws for the caller (a bad regex, too many samples) travel as an RpcError
// whose message starts with the code, so the api can raise the same PeregrineError again.
async function asRpcError<T>(method: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isPeregrineError(err) && err.code !== 'PG_TSDB_CLOSED') {
      throw new RpcError(`${err.code}: ${err.message}`)
    }
    throw err
  }
}

/** selectParam checks what Graph.Select and Graph.Fold select: matchers, range, func, grid, maxSamples. */
function selectParam(param: unknown, method: string) {
  const p = objectParam(param, method)
  const matchers = matchersParam(p.matchers, method, true)
  const start = timeParam(p.start, 'start', method)
  const end = timeParam(p.end, 'end', method)
  let func: string | undefined
  if (p.func !== undefined && p.func !== null) {
    if (typeof p.func !== 'string' || p.func.length > 64) {
      throw new RpcError(
        `${method} func: expected a function name (a string of at most 64 characters)`
      )
    }
    func = p.func
  }
  let grid: { first: number; step: number } | undefined
  if (p.grid !== undefined && p.grid !== null) {
    const g = p.grid as { first?: unknown; step?: unknown }
    if (
      typeof g !== 'object' ||
      typeof g.first !== 'number' ||
      !Number.isFinite(g.first) ||
      typeof g.step !== 'number' ||
      !(g.step >= 1) ||
      !Number.isFinite(g.step)
    ) {
      throw new RpcError(`${method} grid: expected {first: ms, step: ms ≥ 1}`)
    }
    grid = { first: g.first, step: g.step }
  }
  let asked = Infinity
  if (p.maxSamples !== undefined && p.maxSamples !== null) {
    if (typeof p.maxSamples !== 'number' || !Number.isInteger(p.maxSamples) || p.maxSamples < 0) {
      throw new RpcError(`${method} maxSamples: expected a whole number ≥ 0`)
    }
    asked = p.maxSamples
  }
  return { matchers, start, end, func, grid, asked, p, ...deadlineParam(p.timeout, method) }
}

/** select is Graph.Select: a SelectParam in, a WireSeriesSet out. */
export async function select(
  db: Db,
  param: unknown,
  options: GraphOptions
): Promise<WireSeriesSet> {
  const method = 'Graph.Select'
  const inProcess = options.inProcess === true
  // The node's answer limit bounds what travels over the network; in process the answer is not
  // copied, and the caller's budget (api.query.maxSamples) is the one that holds.
  const maxSamples = inProcess ? Infinity : (options.maxSelectSamples ?? MAX_SELECT_SAMPLES)
  const maxBytes = options.maxSelectBytes ?? MAX_SELECT_BYTES
  const { matchers, start, end, func, grid, asked, deadline } = selectParam(param, method)
  const set = await asRpcError(method, async () => {
    try {
      return await db.querier().select(matchers, {
        start,
        end,
        func,
        grid,
        maxSamples: Math.min(asked, maxSamples),
        deadline,
      })
    } catch (err) {
      // The node's own bound, not the caller's: say so.
      if (
        isPeregrineError(err) &&
        err.code === 'PG_PROMQL_TOO_MANY_SAMPLES' &&
        asked > maxSamples
      ) {
        throw new PeregrineError(
          'PG_PROMQL_TOO_MANY_SAMPLES',
          `more than ${maxSamples} samples from one graph node (its answer limit); select fewer series or a shorter range`,
          { status: 422 }
        )
      }
      throw err
    }
  })
  if (!inProcess) {
    const bytes = wireBytes(set)
    if (bytes > maxBytes) {
      throw new RpcError(
        `PG_PROMQL_TOO_MANY_SAMPLES: ${method}: the answer would take ${bytes} bytes, more than ${maxBytes} (one graph node's answer limit); select fewer series or a shorter range`
      )
    }
  }
  return encodeSeriesSet(set, inProcess)
}

/**
 * MAX_FOLD_CELLS bounds one Graph.Fold answer over the network: groups × steps of state (about 55 MB
 * of base64); past it the call is refused, naming it. In process only the caller's budget holds.
 */
export const MAX_FOLD_CELLS = 1_000_000

/** MAX_FOLD_STEPS: the most steps a fold reads at (the engine's 11,000 points a series, and one). */
const MAX_FOLD_STEPS = 11_001

/**
 * fold is Graph.Fold: a SelectParam and a FoldSpec in, the node's series folded into their groups'
 * state (sum … stdvar, see promql's SelectorFold) out, so an aggregation over a selector reads no
 * series over the network.
 */
export async function fold(db: Db, param: unknown, options: GraphOptions): Promise<WireFoldState> {
  const method = 'Graph.Fold'
  const inProcess = options.inProcess === true
  const { matchers, start, end, func, asked, p, deadline } = selectParam(param, method)
  const spec = foldSpecParam(p.spec, method, asked)
  // Read at the spec's steps, whatever grid the params say: the cache is thinned for the grid read.
  const grid = { first: spec.first, step: spec.interval }
  const maxCells = inProcess ? Infinity : (options.maxFoldCells ?? MAX_FOLD_CELLS)
  const f = new SelectorFold(spec, undefined, maxCells)
  f.warnings = await asRpcError(method, async () => {
    try {
      return await db.querier().selectEach(matchers, { start, end, func, grid, deadline }, f.visit)
    } catch (err) {
      if (err instanceof FoldCellsExceeded) {
        throw new PeregrineError(
          'PG_PROMQL_TOO_MANY_SAMPLES',
          `more than ${maxCells} groups × steps from one graph node (its answer limit): ${FOLD_TOO_LARGE}`,
          { status: 422 }
        )
      }
      throw err
    }
  })
  const state = f.state()
  if (!inProcess) {
    const bytes = wireFoldBytes(state)
    if (bytes > (options.maxSelectBytes ?? MAX_SELECT_BYTES)) {
      throw new RpcError(
        `PG_PROMQL_TOO_MANY_SAMPLES: ${method}: the answer would take ${bytes} bytes, more than ${options.maxSelectBytes ?? MAX_SELECT_BYTES} (one graph node's answer limit): ${FOLD_TOO_LARGE}`
      )
    }
  }
  return encodeFoldState(state, inProcess)
}

// A FoldSpec checked field by field; its budget is the smaller of its own and the select's.
function foldSpecParam(v: unknown, method: string, asked: number): FoldSpec {
  const bad = (field: string, what: string): RpcError =>
    new RpcError(`${method} spec.${field}: expected ${what}`)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('', 'an object')
  const x = v as Record<string, unknown>
  if (typeof x.op !== 'string' || !isAccOp(x.op)) {
    throw bad('op', 'one of sum, avg, count, group, min, max, stddev, stdvar')
  }
  if (
    !Array.isArray(x.grouping) ||
    x.grouping.length > 256 ||
    x.grouping.some((g) => typeof g !== 'string' || g === '' || g.length > 1024)
  ) {
    throw bad('grouping', 'at most 256 label names')
  }
  if (typeof x.without !== 'boolean') throw bad('without', 'true or false')
  const num = (field: string, ok: (n: number) => boolean, what: string): number => {
    const n = x[field]
    if (typeof n !== 'number' || !Number.isFinite(n) || !ok(n)) throw bad(field, what)
    return n
  }
  const first = num('first', () => true, 'a time in ms')
  const interval = num('interval', (n) => n >= 1, 'ms ≥ 1')
  const n = num(
    'n',
    (k) => Number.isInteger(k) && k >= 1 && k <= MAX_FOLD_STEPS,
    `a whole number of steps from 1 to ${MAX_FOLD_STEPS}`
  )
  const lookback = num('lookback', (k) => k >= 0, 'ms ≥ 0')
  const own =
    x.maxSamples === undefined
      ? Infinity
      : num('maxSamples', (k) => Number.isInteger(k) && k >= 0, 'a whole number ≥ 0')
  return {
    op: x.op,
    grouping: [...(x.grouping as string[])].sort(),
    without: x.without,
    first,
    interval,
    n,
    lookback,
    maxSamples: Math.min(own, asked),
  }
}

function labelsParam(param: unknown, method: string, maxRows: number) {
  const p = objectParam(param ?? {}, method)
  return {
    matchers: matchersParam(p.matchers, method, false),
    start: timeParam(p.start, 'start', method, -Infinity),
    end: timeParam(p.end, 'end', method, Infinity),
    ...limitParam(p.limit, method, maxRows),
    ...deadlineParam(p.timeout, method),
    p,
  }
}

/**
 * deadlineParam reads `timeout`, the ms the caller still waits, as a deadline on this node's clock:
 * the work stops with PG_PROMQL_TIMEOUT past it (the caller has given up) instead of running on.
 */
function deadlineParam(v: unknown, method: string): { deadline?: number } {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RpcError(`${method} timeout: expected ms ≥ 0`)
  }
  return { deadline: Date.now() + v }
}

/** labelNames is Graph.LabelNames: a LabelsParam in, sorted names out. */
export async function labelNames(db: Db, param: unknown, maxRows: number): Promise<string[]> {
  const method = 'Graph.LabelNames'
  const { matchers, start, end, limit, strict, deadline } = labelsParam(param, method, maxRows)
  const names = await asRpcError(method, () =>
    db.querier().labelNames(matchers, { start, end, limit: limit + 1, deadline })
  )
  return capped(names, limit, strict, method, maxRows)
}

/** labelValues is Graph.LabelValues: a LabelsParam with `name` in, sorted values out. */
export async function labelValues(db: Db, param: unknown, maxRows: number): Promise<string[]> {
  const method = 'Graph.LabelValues'
  const { matchers, start, end, limit, strict, p, deadline } = labelsParam(param, method, maxRows)
  if (typeof p.name !== 'string' || p.name === '') {
    throw new RpcError(`${method} name: expected a label name`)
  }
  const name = p.name
  const values = await asRpcError(method, () =>
    db.querier().labelValues(name, matchers, { start, end, limit: limit + 1, deadline })
  )
  return capped(values, limit, strict, method, maxRows)
}

/** metadata is Graph.Metadata: a MetadataParam in, MetadataRow[] out. */
export async function metadata(db: Db, param: unknown, maxRows: number): Promise<MetadataRow[]> {
  const method = 'Graph.Metadata'
  const p = objectParam(param ?? {}, method)
  if (p.metric !== undefined && p.metric !== null && typeof p.metric !== 'string') {
    throw new RpcError(`${method} metric: expected a metric name`)
  }
  const metric = typeof p.metric === 'string' && p.metric !== '' ? p.metric : undefined
  const { limit, strict } = limitParam(p.limit, method, maxRows)
  const found = await asRpcError(method, () => db.querier().metadata(metric, limit + 1))
  const out = [...found].map(([name, m]) => ({ metric: name, ...m }))
  return capped(out, limit, strict, method, maxRows)
}

// At most `limit` rows: a call without a limit that matches more is refused rather than cut short.
function capped<T>(
  rows: T[],
  limit: number,
  strict: boolean,
  method: string,
  maxRows: number
): T[] {
  if (rows.length <= limit) return rows
  if (strict) {
    throw new RpcError(
      `${method}: more than ${maxRows} rows match (graph.maxIndexRows); narrow the matchers or give a limit`
    )
  }
  return rows.slice(0, limit)
}
