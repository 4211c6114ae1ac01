// Open-Falcon's Graph RPC methods (modules/graph/api/graph.go) over the storage engine.
import {
  formatTags,
  inputIndex,
  normalizeTags,
  readPromSeriesItem,
  RpcError,
  seriesKeyOf,
  seriesKeyOfCounter,
  endpointId,
  graphItemProblem,
  graphSeriesParam,
  graphStringList,
  type GraphColumns,
  graphNamesProblem,
  graphValueProblem,
} from '../core/index.js'
import { type ConsolFun, CONSOL_FUNS, type Db, dsTypeOf, falconLastPoint } from '../tsdb/index.js'
import { fold, labelNames, labelValues, metadata, select } from './series-rpc.js'

/** GraphItem is what transfer sends to graph (common/model/graph.go). */
export interface GraphItem {
  endpoint: string
  metric: string
  tags: Record<string, string> | null
  value: number
  timestamp: number
  dstype: string
  step: number
  heartbeat?: number
  min?: string
  max?: string
}

/** RrdData is one point of a query answer; NaN is sent as null, as falcon's JsonFloat does. */
export interface RrdData {
  timestamp: number
  value: number | null
}

/** MAX_QUERY_POINTS bounds one Graph.Query answer (a year at step 60 s is 525,600). */
export const MAX_QUERY_POINTS = 1_000_000

/** GraphOptions bound what one call may make a node hold or send. */
export interface GraphOptions {
  /**
   * maxIndexRows: most rows one Graph.Endpoints or Graph.Counters call answers, and most names or
   * values one Graph.LabelNames, Graph.LabelValues or Graph.Metadata call answers.
   */
  maxIndexRows: number
  /**
   * inProcess: the methods are called in this process, not over JSON (Service.local): Graph.Select
   * answers its columns as typed arrays instead of base64.
   */
  inProcess?: boolean
  /** maxSelectSamples: most samples one Graph.Select answers (default MAX_SELECT_SAMPLES, series-rpc.ts). */
  maxSelectSamples?: number
  /** maxSelectBytes: most bytes of JSON one Graph.Select or Graph.Fold answers (default MAX_SELECT_BYTES). */
  maxSelectBytes?: number
  /** maxFoldCells: most groups × steps one Graph.Fold answers over the network (default MAX_FOLD_CELLS). */
  maxFoldCells?: number
}

export const defaultGraphOptions: GraphOptions = { maxIndexRows: 100_000 }

/** GraphCounters are graph's own counters, shown on /counter/all. */
export interface GraphCounters {
  sendCalls: number
  sendItems: number
  /** sendInvalid: items refused as malformed or out of rrdtool's range. */
  sendInvalid: number
  /** sendRefused: items the storage would not keep (too old, past a series limit). */
  sendRefused: number
  /** writeCalls, writeSamples: Graph.Write calls and the samples they held (Prometheus series). */
  writeCalls: number
  writeSamples: number
  /** writeRefused: samples of Graph.Write the storage would not keep, or of malformed items. */
  writeRefused: number
  queryCalls: number
  lastCalls: number
}

/** newGraphCounters returns graph's counters, all zero. */
export function newGraphCounters(): GraphCounters {
  return {
    sendCalls: 0,
    sendItems: 0,
    sendInvalid: 0,
    sendRefused: 0,
    writeCalls: 0,
    writeSamples: 0,
    writeRefused: 0,
    queryCalls: 0,
    lastCalls: 0,
  }
}

/**
 * SendRefusal is an item of a Graph.Send call that was not stored: its index in the call, a code and
 * why. Graph.Send's answer lists them (`refused`) only when there are any, so a plain answer stays
 * falcon's `{"code":0}`; transfer counts them as invalid in its answer to the pusher.
 */
export interface SendRefusal {
  index: number
  code: string
  message: string
}

/**
 * graphMethods returns the RPC methods of one graph node. `Graph.Send` resolves only after the points are
 * in the storage engine's write-ahead log, so an acknowledged batch survives kill -9.
 */
export function graphMethods(
  db: Db,
  counters: GraphCounters,
  options: GraphOptions = defaultGraphOptions
): Map<string, (p: unknown) => unknown> {
  const seriesByTags: SeriesByTags = new WeakMap()
  const refByToken: RefByToken = new WeakMap()
  const methods = new Map<string, (p: unknown) => unknown>([
    ['Graph.Ping', () => ({ code: 0 })],
    ['Graph.Send', (p) => send(db, counters, p, seriesByTags)],
    // Peregrine's own: Prometheus series (ms timestamps, any float64) from transfer's remote write.
    ['Graph.Write', (p) => write(db, counters, p, refByToken)],
    ['Graph.Query', (p) => query(db, counters, p)],
    ['Graph.Last', (p) => last(db, counters, p, false)],
    ['Graph.LastRaw', (p) => last(db, counters, p, true)],
    ['Graph.LastMany', (p) => lastMany(db, counters, p)],
    ['Graph.Info', (p) => info(db, p)],
    ['Graph.Delete', (p) => del(db, p)],
    // Peregrine's own: the index falcon keeps in MySQL's `graph` database, served by the node that
    // holds the series, for api's /graph/endpoint and /graph/endpoint_counter.
    ['Graph.Endpoints', (p) => endpoints(db, p, options.maxIndexRows)],
    ['Graph.Counters', (p) => endpointCounters(db, p, options.maxIndexRows)],
    // Peregrine's own: the tsdb Querier (Prometheus series) for api's PromQL engine, fanned out.
    ['Graph.Select', (p) => select(db, p, options)],
    ['Graph.Fold', (p) => fold(db, p, options)],
    ['Graph.LabelNames', (p) => labelNames(db, p, options.maxIndexRows)],
    ['Graph.LabelValues', (p) => labelValues(db, p, options.maxIndexRows)],
    ['Graph.Metadata', (p) => metadata(db, p, options.maxIndexRows)],
  ])
  // Peregrine's own, in this process only (transfer beside graph): Graph.Send's points as columns.
  if (options.inProcess === true) {
    methods.set('Graph.SendColumns', (p) => sendColumns(db, counters, p as readonly GraphColumns[]))
  }
  return methods
}

/**
 * rowLimit reads an index call's `limit`: at most `max` (graph.maxIndexRows), or refused naming it.
 * Without one, `max` rows are the most answered, and more matching is refused rather than cut short.
 */
function rowLimit(v: unknown, max: number, method: string): { limit: number; strict: boolean } {
  if (typeof v !== 'number' || !(v > 0)) return { limit: max, strict: true }
  if (v > max) {
    throw new RpcError(
      `${method}: limit ${v} is more than ${max} rows (graph.maxIndexRows); page with a smaller limit`
    )
  }
  return { limit: Math.floor(v), strict: false }
}

function tooManyRows(method: string, max: number): RpcError {
  return new RpcError(
    `${method}: more than ${max} rows match (graph.maxIndexRows); narrow the query or give a limit`
  )
}

/** endpoints answers the first `limit` endpoints by name that match, as api pages them. */
function endpoints(db: Db, param: unknown, maxRows: number): { id: number; endpoint: string }[] {
  const p = (param ?? {}) as { q?: unknown; tags?: unknown; limit?: unknown }
  const terms = graphStringList(p.q, 'Graph.Endpoints q')
  const tags = graphStringList(p.tags, 'Graph.Endpoints tags')
  const { limit, strict } = rowLimit(p.limit, maxRows, 'Graph.Endpoints')
  const out: { id: number; endpoint: string }[] = []
  for (const endpoint of db.endpoints(terms)) {
    // falcon: every tag term is a LIKE %term% on the endpoint's counters.
    if (tags.length > 0) {
      const counters = db.counters(endpoint).map((c) => c.counter)
      if (!tags.every((t) => counters.some((c) => c.includes(t)))) continue
    }
    if (out.length === limit) {
      if (strict) throw tooManyRows('Graph.Endpoints', maxRows)
      break
    }
    out.push({ id: endpointId(endpoint), endpoint })
  }
  return out
}

/**
 * endpointCounters answers the first `limit` counters of the endpoints `ids`, ordered by endpoint id
 * then counter, as api pages them: the first rows of every node, merged, hold the first rows of all.
 */
function endpointCounters(db: Db, param: unknown, maxRows: number) {
  const p = (param ?? {}) as { ids?: unknown; terms?: unknown; limit?: unknown }
  if (!Array.isArray(p.ids) || !p.ids.every((x) => typeof x === 'number')) {
    throw new RpcError('Graph.Counters ids: expected an array of endpoint ids')
  }
  const ids = new Set(p.ids)
  const terms = graphStringList(p.terms, 'Graph.Counters terms')
  const { limit, strict } = rowLimit(p.limit, maxRows, 'Graph.Counters')
  const wanted: { id: number; endpoint: string }[] = []
  for (const endpoint of db.endpoints()) {
    const id = endpointId(endpoint)
    if (ids.has(id)) wanted.push({ id, endpoint })
  }
  wanted.sort((a, b) => a.id - b.id)
  const out: { endpoint_id: number; counter: string; step: number; type: string }[] = []
  for (const { id, endpoint } of wanted) {
    // One more than fits tells a strict call that more match.
    for (const c of db.counters(endpoint, terms, limit - out.length + 1)) {
      if (out.length === limit) {
        if (strict) throw tooManyRows('Graph.Counters', maxRows)
        return out
      }
      out.push({ endpoint_id: id, counter: c.counter, step: c.step, type: c.dstype })
    }
  }
  return out
}

async function send(
  db: Db,
  counters: GraphCounters,
  param: unknown,
  seriesByTags: SeriesByTags
): Promise<{ code: number; refused?: SendRefusal[] }> {
  if (!Array.isArray(param)) throw new RpcError('Graph.Send: expected an array of GraphItem')
  counters.sendCalls++
  const app = db.appender()
  // Items refused here never reach the appender: their indices map its positions back to the call's.
  const skipped: number[] = []
  const refused: SendRefusal[] = []
  const items = param as unknown[]
  for (let i = 0; i < items.length; i++) {
    counters.sendItems++
    const problem = graphItemProblem(items[i])
    if (problem !== null) {
      counters.sendInvalid++
      skipped.push(i)
      refused.push({ index: i, code: 'PG_GRAPH_BAD_ITEM', message: problem })
      continue
    }
    // graphItemProblem checked every field.
    const item = items[i] as GraphItem & { dstype: 'GAUGE' | 'DERIVE' | 'COUNTER' }
    const dstype = dsTypeOf(item.dstype)
    const step = item.step
    const tagsObj = item.tags ?? EMPTY_TAGS
    // A transfer in this process shares one tags object per series: its series ref is remembered on it,
    // checked against the point's own fields, so the series key is not rebuilt per point.
    const known = seriesByTags.get(tagsObj)
    if (
      known !== undefined &&
      known.endpoint === item.endpoint &&
      known.metric === item.metric &&
      known.dstype === dstype &&
      known.step === step &&
      db.hasRef(known.ref)
    ) {
      app.append(known.ref, null, item.timestamp * 1000, item.value)
      continue
    }
    const desc = {
      endpoint: item.endpoint,
      metric: item.metric,
      tags: formatTags(tagsObj),
      dstype,
      step,
    }
    const ref = app.append(0, desc, item.timestamp * 1000, item.value)
    if (tagsObj !== EMPTY_TAGS && ref !== 0) {
      seriesByTags.set(tagsObj, {
        endpoint: item.endpoint,
        metric: item.metric,
        dstype,
        step,
        ref,
      })
    }
  }
  return sendAnswer(await app.commit(), counters, skipped, refused)
}

/**
 * sendAnswer is Graph.Send's answer once the appender committed: falcon's `{"code":0}`, or with the
 * refusals, those made before the appender (`refused`, at the call's `skipped` indices) and the
 * appender's (its positions mapped back to the call's), by index.
 */
function sendAnswer(
  result: { refused: readonly SendRefusal[] },
  counters: GraphCounters,
  skipped: readonly number[],
  refused: SendRefusal[]
): { code: number; refused?: SendRefusal[] } {
  if (result.refused.length === 0 && refused.length === 0) return { code: 0 }
  const toItem = inputIndex(skipped)
  for (const r of result.refused) refused.push({ ...r, index: toItem(r.index) })
  refused.sort((a, b) => a.index - b.index)
  counters.sendRefused += result.refused.length
  return { code: 0, refused }
}

/**
 * sendColumns is Graph.Send for a transfer in this process: the same points as columns, one GraphSeries
 * object per series, and the same answer (graph's own checks included: a name a GraphItem cannot have,
 * a value out of range); a refusal's index counts the points of every GraphColumns of the call in
 * order. A series' ref is remembered on its GraphSeries (`stored`, `ref`).
 */
async function sendColumns(
  db: Db,
  counters: GraphCounters,
  parts: readonly GraphColumns[]
): Promise<{ code: number; refused?: SendRefusal[] }> {
  counters.sendCalls++
  const app = db.appender()
  // Points refused here never reach the appender: their indices map its positions back to the call's.
  const skipped: number[] = []
  const refused: SendRefusal[] = []
  let at = 0
  for (const part of parts) {
    const { series, ts, vs } = part
    const n = series.length
    counters.sendItems += n
    for (let i = 0; i < n; i++, at++) {
      const s = series[i]
      const v = vs[i]
      if (s.stored === db && db.hasRef(s.ref)) {
        if (v > 1e300 || v < -1e300 || (v !== 0 && v < 1e-300 && v > -1e-300)) {
          refuse(at, graphValueProblem(v) as string)
          continue
        }
        app.append(s.ref, null, ts[i] * 1000, v)
        continue
      }
      const problem = graphNamesProblem(s.endpoint, s.metric) ?? graphValueProblem(v)
      if (problem !== null) {
        refuse(at, problem)
        continue
      }
      const desc = {
        endpoint: s.endpoint,
        metric: s.metric,
        tags: formatTags(s.tags),
        dstype: dsTypeOf(s.dstype),
        step: s.step,
      }
      const ref = app.append(0, desc, ts[i] * 1000, v)
      if (ref !== 0) {
        s.stored = db
        s.ref = ref
      }
    }
  }
  function refuse(index: number, message: string): void {
    counters.sendInvalid++
    skipped.push(index)
    refused.push({ index, code: 'PG_GRAPH_BAD_ITEM', message })
  }
  return sendAnswer(await app.commit(), counters, skipped, refused)
}

/**
 * write stores Graph.Write's items (PromSeriesItem: one series' samples each, see core/codec/graph-write)
 * as GAUGE series and resolves once they are in the WAL. A malformed item, or samples the storage
 * refuses, are listed in `refused` by item index, one entry an item naming how many of its samples.
 */
/**
 * RefByToken remembers, per PromSeriesItem token (in process only), the series ref and step it led to
 * in one database; entries go with their tokens.
 */
type RefByToken = WeakMap<object, { ref: number; step: number }>

async function write(
  db: Db,
  counters: GraphCounters,
  param: unknown,
  refByToken: RefByToken
): Promise<{ code: number; refused?: SendRefusal[] }> {
  if (!Array.isArray(param)) throw new RpcError('Graph.Write: expected an array of series items')
  counters.writeCalls++
  const app = db.appender()
  const refused: SendRefusal[] = []
  // The item of each append, by position: commit refusals name positions.
  const itemAt: number[] = []
  for (let i = 0; i < param.length; i++) {
    const item = readPromSeriesItem(param[i])
    if (typeof item === 'string') {
      refused.push({ index: i, code: 'PG_GRAPH_BAD_ITEM', message: `Graph.Write item: ${item}` })
      continue
    }
    const { t, v, from, to, token } = item
    counters.writeSamples += to - from
    let known = 0
    if (token !== null) {
      const k = refByToken.get(token)
      if (k !== undefined && k.step === item.step && db.hasRef(k.ref)) known = k.ref
    }
    let ref = known
    // Built only for a series not found by its token.
    const desc =
      known !== 0
        ? null
        : {
            endpoint: item.endpoint,
            metric: item.metric,
            tags: item.tags,
            dstype: 'GAUGE' as const,
            step: item.step,
          }
    // Prometheus's created-timestamp zero: the counter was 0 when it started, so rate() and increase()
    // count its first samples after a restart. A sample already at that time wins (first kept).
    if (item.created > 0 && to > from && item.created < t[from]) {
      ref = app.append(ref, ref === 0 ? desc : null, item.created, 0)
      itemAt.push(i)
    }
    for (let k = from; k < to; k++) {
      if (!Number.isSafeInteger(t[k])) {
        refused.push({
          index: i,
          code: 'PG_GRAPH_BAD_ITEM',
          message: `Graph.Write item: timestamp ${t[k]} is not integer milliseconds`,
        })
        break
      }
      ref = app.append(ref, ref === 0 ? desc : null, t[k], v[k])
      itemAt.push(i)
    }
    if (token !== null && ref !== 0 && ref !== known)
      refByToken.set(token, { ref, step: item.step })
  }
  const result = await app.commit()
  if (result.refused.length === 0 && refused.length === 0) return { code: 0 }
  // One refusal an item: the first reason, and how many of its samples.
  const byItem = new Map<number, { code: string; message: string; n: number }>()
  for (const r of result.refused) {
    const i = itemAt[r.index]
    const x = byItem.get(i)
    if (x === undefined) byItem.set(i, { code: r.code, message: r.message, n: 1 })
    else x.n++
  }
  counters.writeRefused += result.refused.length
  for (const [index, x] of byItem) {
    refused.push({ index, code: x.code, message: `${x.n} sample(s): ${x.message}` })
  }
  refused.sort((a, b) => a.index - b.index)
  return { code: 0, refused }
}

/**
 * SeriesByTags remembers, per tags object, the series ref it last led to in one database. Objects that
 * arrived as JSON are new each time and simply miss; entries go with their objects. One per graph node:
 * a ref means nothing in another node's database.
 */
type SeriesByTags = WeakMap<
  object,
  { endpoint: string; metric: string; dstype: string; step: number; ref: number }
>
const EMPTY_TAGS: Record<string, string> = Object.freeze({})

function seriesParam(
  param: unknown,
  method: string
): { endpoint: string; counter: string; key: string } {
  const { endpoint, counter } = graphSeriesParam(param, method)
  return { endpoint, counter, key: seriesKeyOfCounter(endpoint, counter) }
}

function query(db: Db, counters: GraphCounters, param: unknown) {
  counters.queryCalls++
  const { endpoint, counter, key } = seriesParam(param, 'Graph.Query')
  const p = param as {
    start?: unknown
    end?: unknown
    consolFuc?: unknown
    consolFun?: unknown
    step?: unknown
    maxPoints?: unknown
  }
  const info = db.seriesInfo(key)
  if (info === null) return { endpoint, counter, dstype: '', step: 0, Values: [] as RrdData[] }
  const step = info.step
  const start = Number(p.start)
  const end = Number(p.end)
  if (!Number.isFinite(start) || !Number.isFinite(end)) {
    throw new RpcError('Graph.Query: start and end must be unix seconds')
  }
  // falcon's json tag is "consolFuc" (sic); accept the spelled-out name too.
  const cfRaw = p.consolFuc ?? p.consolFun ?? 'AVERAGE'
  const cf = (CONSOL_FUNS as readonly unknown[]).includes(cfRaw) ? (cfRaw as ConsolFun) : 'AVERAGE'
  // falcon aligns the range to the series step and ends one step after `end`.
  const startTs = start - (start % step)
  const endTs = end - (end % step) + step
  const resp: {
    endpoint: string
    counter: string
    dstype: string
    step: number
    Values: RrdData[]
    points?: number
  } = { endpoint, counter, dstype: info.dstype, step, Values: [] }
  if (endTs - startTs - step < 1) return resp
  const wantStep = typeof p.step === 'number' && p.step > 0 ? p.step : undefined
  const r = db.query(key, {
    start: startTs * 1000,
    end: endTs * 1000,
    step: wantStep,
    consolFun: cf,
  })
  if (r === null) return resp
  // Dense output at the result's resolution with null where nothing was stored, as rrdtool fetch gives.
  const res = r.step
  resp.step = res
  const slots = Math.floor((endTs - Math.ceil(startTs / res) * res) / res) + 1
  // Peregrine's own: the caller's share of its budget (api's maxHistoryPoints). Past it, the answer
  // says how many points it would hold instead of holding them.
  if (typeof p.maxPoints === 'number' && slots > p.maxPoints) {
    resp.points = slots
    return resp
  }
  if (slots > MAX_QUERY_POINTS) {
    throw new RpcError(
      `Graph.Query: ${slots} points of ${res} s asked for one series, at most ${MAX_QUERY_POINTS}; ask a shorter range or a larger step`
    )
  }
  const slot = (ms: number) => Math.floor(ms / 1000 / res) * res
  const values: RrdData[] = []
  let j = 0
  for (let t = Math.ceil(startTs / res) * res; t <= endTs; t += res) {
    while (j < r.n && slot(r.ts[j]) < t) j++
    let v: number | null = null
    if (j < r.n && slot(r.ts[j]) === t) {
      // Several unaligned points in one slot: the first wins, as in falcon's graph.
      v = finiteOrNull(r.vs[j])
      while (j < r.n && slot(r.ts[j]) === t) j++
    }
    values.push({ timestamp: t, value: v })
  }
  resp.Values = values
  return resp
}

function last(db: Db, counters: GraphCounters, param: unknown, raw: boolean) {
  counters.lastCalls++
  const { endpoint, counter, key } = seriesParam(param, raw ? 'Graph.LastRaw' : 'Graph.Last')
  const l = db.last(key)
  const value = l === null ? null : falconLastPoint(l.t, l.v, l.dstype !== 'GAUGE', l.step, raw)
  return { endpoint, counter, value: value ?? { timestamp: 0, value: 0 } }
}

/** MAX_LAST_MANY bounds the series of one Graph.LastMany call (callers split bigger batches). */
export const MAX_LAST_MANY = 10_000

/**
 * lastMany is Graph.Last for many series at once, each answer also saying when the series' last point
 * arrived (this node's clock, ms) and which point that was: nodata judges a sender by when its points
 * reach us, not by the timestamps its clock wrote. `points[i]` answers `items[i]`; null when this
 * node does not hold the series or has had no point of it since it opened.
 */
function lastMany(db: Db, counters: GraphCounters, param: unknown) {
  const items = (param as { items?: unknown } | null)?.items
  if (!Array.isArray(items) || items.length > MAX_LAST_MANY) {
    throw new RpcError(
      `Graph.LastMany: expected {items: [{endpoint, counter}]} with at most ${MAX_LAST_MANY} items`
    )
  }
  // Each item counts as a Graph.Last call (last() counts it).
  const points = items.map((item, i) => {
    const { endpoint, counter, key } = seriesParam(item, `Graph.LastMany: items[${i}]`)
    const a = db.arrival(key)
    if (a === null) return null
    const { value } = last(db, counters, { endpoint, counter }, false)
    return {
      timestamp: value.timestamp,
      value: value.value,
      arrivedAt: a.at,
      arrivedTimestamp: a.t / 1000,
      arrivedValue: finiteOrNull(a.v),
    }
  })
  // The node's clock beside its arrival times: a reader on another machine measures ages with it.
  return { points, now: db.now() }
}

function info(db: Db, param: unknown) {
  const { endpoint, counter, key } = seriesParam(param, 'Graph.Info')
  const c = db.seriesInfo(key)
  return {
    endpoint,
    counter,
    consolFun: c?.dstype ?? '',
    step: c?.step ?? 0,
    // No file per series here: the series lives in the storage engine's blocks.
    filename: '',
    addr: '',
  }
}

async function del(db: Db, param: unknown) {
  if (!Array.isArray(param))
    throw new RpcError('Graph.Delete: expected an array of {endpoint, metric, tags}')
  const keys: string[] = []
  for (const raw of param as { endpoint?: unknown; metric?: unknown; tags?: unknown }[]) {
    if (typeof raw?.endpoint !== 'string' || typeof raw.metric !== 'string') continue
    const tags = typeof raw.tags === 'string' ? raw.tags : ''
    keys.push(seriesKeyOf(raw.endpoint, raw.metric, normalizeTags(tags)))
  }
  await db.deleteSeries(keys)
  return {}
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null
}
