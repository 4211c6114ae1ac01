// A graph node whose storage is the remote store: the Graph.* calls transfer, api, nodata and aggregator
// make of a graph node, answered in process, writes through the forward queue and reads through the
// store's query API. With it, `storage: remote` changes where series live and nothing else.
import {
  endpointId,
  escapeTagValue,
  formatTags,
  graphItemProblem,
  graphSeriesParam,
  graphStringList,
  PeregrineError,
  readPromSeriesItem,
  type RpcCaller,
  RpcError,
  seriesKeyOf,
  seriesKeyOfCounter,
  splitCounter,
} from '../core/index.js'
import {
  Buckets,
  CONSOL_FUNS,
  type ConsolFun,
  consolidate,
  falconLastPoint,
  type Matcher,
  textTest,
  toRates,
} from '../tsdb/index.js'
import { type GraphSendItem, SeriesLabelCache, TimeSeriesWriter } from './encode.js'
export { REMOTE_GRAPH_ADDRESS } from './config.js'
import type { ForwardQueue } from './queue.js'
import type { RemoteReader, StoredSeries } from './reader.js'

/** At most this many points one Graph.Query answers (graph's own bound). */
const MAX_QUERY_POINTS = 100_000
/** At most this many rows an endpoint or counter search answers (graph.maxIndexRows' default). */
const MAX_INDEX_ROWS = 100_000
/** Series looked up per query by Graph.LastMany (one selector of their endpoints per metric). */
const LAST_MANY_CHUNK = 500

interface RrdData {
  timestamp: number
  value: number | null
}

/**
 * RemoteGraphNode answers graph's calls from the remote store. `queue` is null for a reader (api,
 * nodata, aggregator), which then refuses Graph.Send and Graph.Write.
 */
export class RemoteGraphNode implements RpcCaller {
  readonly #queue: ForwardQueue | null
  readonly #reader: RemoteReader
  readonly #labels = new SeriesLabelCache()
  readonly #writer = new TimeSeriesWriter()
  readonly #now: () => number

  constructor(queue: ForwardQueue | null, reader: RemoteReader, now: () => number = Date.now) {
    this.#queue = queue
    this.#reader = reader
    this.#now = now
  }

  call<T = unknown>(method: string, param: unknown): Promise<T> {
    return this.#call(method, param) as Promise<T>
  }

  close(): void {}

  async #call(method: string, param: unknown): Promise<unknown> {
    switch (method) {
      case 'Graph.Ping':
        return { code: 0 }
      case 'Graph.Send':
        return this.#send(param)
      case 'Graph.Write':
        return this.#write(param)
      case 'Graph.Query':
        return this.#query(param)
      case 'Graph.Last':
        return this.#last(param, false)
      case 'Graph.LastRaw':
        return this.#last(param, true)
      case 'Graph.LastMany':
        return this.#lastMany(param)
      case 'Graph.Info':
        return this.#info(param)
      case 'Graph.Endpoints':
        return this.#endpoints(param)
      case 'Graph.Counters':
        return this.#counters(param)
      default:
        // Graph.Select and the like: api reads the store's Querier directly; Graph.Delete: the store's
        // own admin API deletes series.
        throw new RpcError(`rpc: can't find method ${method} (storage: remote)`)
    }
  }

  // Points as remote write TimeSeries, acknowledged once in the forward queue's WAL.
  // Graph's rule decides what is kept (graphItemProblem): the same points as the embedded tsdb.
  async #send(
    param: unknown
  ): Promise<{ code: number; refused?: { index: number; code: string; message: string }[] }> {
    if (this.#queue === null)
      throw new RpcError('Graph.Send: this node only reads (storage: remote)')
    if (!Array.isArray(param)) throw new RpcError('Graph.Send: expected an array of GraphItem')
    const w = this.#writer
    const refused: { index: number; code: string; message: string }[] = []
    const items = param as GraphSendItem[]
    for (let i = 0; i < items.length; i++) {
      const problem = graphItemProblem(items[i])
      if (problem !== null) {
        refused.push({ index: i, code: 'PG_GRAPH_BAD_ITEM', message: problem })
        continue
      }
      const item = items[i]
      w.one(this.#labels.ofSendItem(item), item.timestamp * 1000, item.value)
    }
    const kept = items.length - refused.length
    const record = w.take()
    if (kept > 0) await this.#queue.append(record, kept)
    return refused.length === 0 ? { code: 0 } : { code: 0, refused }
  }

  async #write(param: unknown): Promise<{ code: number }> {
    if (this.#queue === null)
      throw new RpcError('Graph.Write: this node only reads (storage: remote)')
    if (!Array.isArray(param)) throw new RpcError('Graph.Write: expected an array of series')
    const w = this.#writer
    let samples = 0
    for (let i = 0; i < param.length; i++) {
      const item = readPromSeriesItem(param[i])
      if (typeof item === 'string') throw new RpcError(`Graph.Write: items[${i}]: ${item}`)
      const labels = this.#labels.ofWriteItem(item)
      // The created timestamp's 0, as the tsdb stores it (remoteWriteCreatedZero).
      if (item.created > 0 && item.to > item.from && item.created < item.t[item.from]) {
        w.one(labels, item.created, 0)
        samples++
      }
      w.series(labels, item.t, item.v, item.from, item.to)
      samples += item.to - item.from
    }
    await this.#queue.append(w.take(), samples)
    return { code: 0 }
  }

  /**
   * The stored variants of one falcon series (endpoint and counter exactly: no other tag) with their
   * samples in [start, end] (ms), newest variant (by its last sample) last.
   */
  async #variants(endpoint: string, counter: string, start: number, end: number) {
    const { metric, tags } = splitCounter(counter)
    const matchers: Matcher[] = [
      { name: '__name__', op: '=', value: metric },
      { name: 'endpoint', op: '=', value: endpoint },
    ]
    const pairs =
      tags === '' ? [] : tags.split(',').map((kv) => kv.split('=', 2) as [string, string])
    for (const [k, v] of pairs) matchers.push({ name: k, op: '=', value: v })
    const want = seriesKeyOfCounter(endpoint, counter)
    const found = (await this.#reader.raw(matchers, start, end)).filter(
      (s) => keyOf(s) === want && s.ts.length > 0
    )
    return found.sort((a, b) => a.ts[a.ts.length - 1] - b.ts[b.ts.length - 1])
  }

  async #query(param: unknown) {
    const { endpoint, counter } = graphSeriesParam(param, 'Graph.Query')
    const p = param as Record<string, unknown>
    const start = Number(p.start)
    const end = Number(p.end)
    if (!Number.isFinite(start) || !Number.isFinite(end)) {
      throw new RpcError('Graph.Query: start and end must be unix seconds')
    }
    const empty = { endpoint, counter, dstype: '', step: 0, Values: [] as RrdData[] }
    // A counter's rate needs the point before the range: up to 2 steps of 5 min back is read.
    const variants = await this.#variants(
      endpoint,
      counter,
      (start - 600) * 1000,
      (end + 600) * 1000
    )
    const s = variants.at(-1)
    if (s === undefined) return empty
    const step = s.step
    const cfRaw = p.consolFuc ?? p.consolFun ?? 'AVERAGE'
    const cf = (CONSOL_FUNS as readonly unknown[]).includes(cfRaw)
      ? (cfRaw as ConsolFun)
      : 'AVERAGE'
    // falcon aligns the range to the series step and ends one step after `end`.
    const startTs = start - (start % step)
    const endTs = end - (end % step) + step
    const resp = {
      endpoint,
      counter,
      dstype: s.counter ? 'DERIVE' : 'GAUGE',
      step,
      Values: [] as RrdData[],
      points: undefined as number | undefined,
    }
    if (endTs - startTs - step < 1) return { ...resp, points: undefined }
    let ts = Float64Array.from(s.ts)
    let vs = Float64Array.from(s.vs)
    let n = ts.length
    if (s.counter) n = toRates(ts, vs, n, step)
    const wantStep = typeof p.step === 'number' && p.step > step ? p.step : step
    const res = Math.ceil(wantStep / step) * step
    if (res > step) {
      const b = consolidate(ts, vs, n, res * 1000, new Buckets())
      ts = b.end.slice(0, b.n)
      vs = Float64Array.from({ length: b.n }, (_, i) =>
        cf === 'MAX'
          ? b.max[i]
          : cf === 'MIN'
            ? b.min[i]
            : cf === 'LAST'
              ? b.last[i]
              : b.sum[i] / b.count[i]
      )
      n = b.n
    }
    resp.step = res
    const first = Math.ceil(startTs / res) * res
    const slots = Math.floor((endTs - first) / res) + 1
    if (typeof p.maxPoints === 'number' && slots > p.maxPoints) {
      return { ...resp, points: slots }
    }
    if (slots > MAX_QUERY_POINTS) {
      throw new RpcError(
        `Graph.Query: ${slots} points of ${res} s asked for one series, at most ${MAX_QUERY_POINTS}; ask a shorter range or a larger step`
      )
    }
    const slot = (ms: number) => Math.floor(ms / 1000 / res) * res
    let j = 0
    for (let t = first; t <= endTs; t += res) {
      while (j < n && slot(ts[j]) < t) j++
      let v: number | null = null
      if (j < n && slot(ts[j]) === t) {
        v = Number.isFinite(vs[j]) ? vs[j] : null
        while (j < n && slot(ts[j]) === t) j++
      }
      resp.Values.push({ timestamp: t, value: v })
    }
    return { ...resp, points: undefined }
  }

  async #last(param: unknown, raw: boolean) {
    const { endpoint, counter } = graphSeriesParam(param, raw ? 'Graph.LastRaw' : 'Graph.Last')
    const now = this.#now()
    const s = (
      await this.#variants(endpoint, counter, now - this.#reader.lastLookback * 1000, now)
    ).at(-1)
    return { endpoint, counter, value: lastValue(s, raw) ?? { timestamp: 0, value: 0 } }
  }

  // Last points of many series: one selector per metric and chunk of endpoints, each answer matched
  // back to the items by series key.
  async #lastMany(param: unknown) {
    const items = (param as { items?: unknown } | null)?.items
    if (!Array.isArray(items) || items.length > 10_000) {
      throw new RpcError(
        'Graph.LastMany: expected {items: [{endpoint, counter}]} with at most 10000 items'
      )
    }
    const now = this.#now()
    const from = now - this.#reader.lastLookback * 1000
    const byMetric = new Map<string, Set<string>>()
    const keys = items.map((item, i) => {
      const { endpoint, counter } = graphSeriesParam(item, `Graph.LastMany: items[${i}]`)
      const { metric } = splitCounter(counter)
      let set = byMetric.get(metric)
      if (set === undefined) byMetric.set(metric, (set = new Set()))
      set.add(endpoint)
      return seriesKeyOfCounter(endpoint, counter)
    })
    const newest = new Map<string, StoredSeries>()
    const lookups: (() => Promise<void>)[] = []
    for (const [metric, endpoints] of byMetric) {
      const list = [...endpoints]
      for (let k = 0; k < list.length; k += LAST_MANY_CHUNK) {
        const part = list.slice(k, k + LAST_MANY_CHUNK)
        lookups.push(async () => {
          const found = await this.#reader.raw(
            [
              { name: '__name__', op: '=', value: metric },
              { name: 'endpoint', op: '=~', value: part.map(escapeRegex).join('|') },
            ],
            from,
            now
          )
          for (const s of found) {
            if (s.ts.length === 0) continue
            const key = keyOf(s)
            const had = newest.get(key)
            if (had === undefined || had.ts[had.ts.length - 1] < s.ts[s.ts.length - 1])
              newest.set(key, s)
          }
        })
      }
    }
    // A few at a time: one answer per metric, not one call per series.
    for (let k = 0; k < lookups.length; k += 4)
      await Promise.all(lookups.slice(k, k + 4).map((f) => f()))
    const points = keys.map((key) => {
      const s = newest.get(key)
      if (s === undefined) return null
      const n = s.ts.length
      const value = lastValue(s, false) ?? { timestamp: 0, value: 0 }
      // The store keeps no arrival times: a point's own time stands for when it arrived.
      return {
        timestamp: value.timestamp,
        value: value.value,
        arrivedAt: s.ts[n - 1],
        arrivedTimestamp: s.ts[n - 1] / 1000,
        arrivedValue: Number.isFinite(s.vs[n - 1]) ? s.vs[n - 1] : null,
      }
    })
    return { points, now }
  }

  async #info(param: unknown) {
    const { endpoint, counter } = graphSeriesParam(param, 'Graph.Info')
    const now = this.#now()
    const s = (
      await this.#variants(endpoint, counter, now - this.#reader.lastLookback * 1000, now)
    ).at(-1)
    return {
      endpoint,
      counter,
      consolFun: s === undefined ? '' : s.counter ? 'DERIVE' : 'GAUGE',
      step: s?.step ?? 0,
      filename: '',
      addr: '',
    }
  }

  async #endpoints(param: unknown) {
    const p = (param ?? {}) as { q?: unknown; tags?: unknown; limit?: unknown }
    const terms = graphStringList(p.q, 'Graph.Endpoints q').filter((t) => t !== '')
    const tags = graphStringList(p.tags, 'Graph.Endpoints tags')
    const limit = rowLimit(p.limit)
    const tests = terms.map(textTest)
    const names = await this.#endpointNames()
    const out: { id: number; endpoint: string }[] = []
    for (const endpoint of names.sort()) {
      if (out.length === limit) break
      if (!tests.every((t) => t(endpoint))) continue
      if (tags.length > 0) {
        // falcon: every tag term is a LIKE %term% on the endpoint's counters.
        const counters = (await this.#countersOf(endpoint)).map((c) => c.counter)
        if (!tags.every((t) => counters.some((c) => c.includes(t)))) continue
      }
      out.push({ id: endpointId(endpoint), endpoint })
    }
    return out
  }

  // Every endpoint the store has a series of.
  async #endpointNames(): Promise<string[]> {
    const names = await this.#reader.api.get<unknown>('/api/v1/label/endpoint/values', [
      ['start', '1'],
    ])
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      throw new PeregrineError(
        'PG_REMOTE_BAD_ANSWER',
        'remote storage: /api/v1/label/endpoint/values answered no list of names; check remoteStorage.readUrl',
        { status: 502 }
      )
    return names
  }

  async #countersOf(endpoint: string) {
    const all = await this.#reader.seriesLabels(
      [{ name: 'endpoint', op: '=', value: endpoint }],
      undefined,
      undefined
    )
    const seen = new Map<string, { counter: string; step: number; type: string }>()
    for (const labels of all) {
      const { metric, tags } = falconOf(labels)
      const counter = tags === '' ? metric : `${metric}/${tags}`
      const step = Number(labels.__step__)
      seen.set(counter, {
        counter,
        step: Number.isInteger(step) ? step : 60,
        type: labels.__type__ === 'counter' ? 'DERIVE' : 'GAUGE',
      })
    }
    return [...seen.values()].sort((a, b) =>
      a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : 0
    )
  }

  async #counters(param: unknown) {
    const p = (param ?? {}) as { ids?: unknown; terms?: unknown; limit?: unknown }
    if (!Array.isArray(p.ids) || !p.ids.every((x) => typeof x === 'number')) {
      throw new RpcError('Graph.Counters ids: expected an array of endpoint ids')
    }
    const ids = new Set(p.ids)
    const terms = graphStringList(p.terms, 'Graph.Counters terms').filter(
      (t) => t !== '' && t !== '!'
    )
    const tests = terms.map((t) => {
      if (!t.startsWith('!')) return textTest(t)
      const inner = textTest(t.slice(1))
      return (s: string) => !inner(s)
    })
    const limit = rowLimit(p.limit)
    const names = await this.#endpointNames()
    const wanted = names
      .map((endpoint) => ({ id: endpointId(endpoint), endpoint }))
      .filter((e) => ids.has(e.id))
      .sort((a, b) => a.id - b.id)
    const out: { endpoint_id: number; counter: string; step: number; type: string }[] = []
    for (const { id, endpoint } of wanted) {
      for (const c of await this.#countersOf(endpoint)) {
        if (!tests.every((t) => t(c.counter))) continue
        if (out.length === limit) return out
        out.push({ endpoint_id: id, ...c })
      }
    }
    return out
  }
}

// A stored series' falcon metric and tags (values escaped as the tsdb stores them).
function falconOf(all: Record<string, string>): { metric: string; tags: string } {
  const tags: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(all)) {
    if (k === '__name__' || k === 'endpoint' || k === '__type__' || k === '__step__') continue
    tags[k] = escapeTagValue(v)
  }
  return { metric: all.__name__ ?? '', tags: formatTags(tags) }
}

// The falcon key of a stored series, as transfer and graph key it.
function keyOf(s: StoredSeries): string {
  const all: Record<string, string> = {}
  for (const l of s.labels) all[l.name] = l.value
  const { metric, tags } = falconOf(all)
  return seriesKeyOf(all.endpoint ?? '', metric, tags)
}

// Graph.Last's value of a series' newest points (falcon's rule, the tsdb's helper), or null.
function lastValue(
  s: StoredSeries | undefined,
  raw: boolean
): { timestamp: number; value: number | null } | null {
  return s === undefined ? null : falconLastPoint(s.ts, s.vs, s.counter, s.step, raw)
}

function rowLimit(v: unknown): number {
  return typeof v === 'number' && v > 0 ? Math.min(Math.floor(v), MAX_INDEX_ROWS) : MAX_INDEX_ROWS
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')
}
