// Prometheus remote write on transfer's HTTP port: `POST /api/v1/write`, remote write 1.0 and 2.0.
//
// A request is decoded, each series mapped to the falcon series it is stored as (core/prom-series),
// and its samples sent to the graph node the ring picks, as falcon points are; the answer waits until
// every graph address holding them has them in its WAL. Status codes follow the remote write spec,
// because they decide what the sender does with the batch: 2xx kept; 400 dropped by the sender (a
// malformed request, a series or sample Peregrine will not keep: the rest of the request is stored
// and the answer names what was not); 415 an encoding or message type not spoken; 429 and 5xx kept
// and retried by the sender (a graph node down or not keeping up), with Retry-After.
import {
  decodeSnappy,
  decodeWriteRequest,
  decodeWriteRequestV2,
  type Deps,
  MAX_LABELS,
  type JudgeItem,
  PromSeriesItem,
  type PromSeries,
  promSeriesOf,
  type RemoteWriteBatch,
  RemoteWriteError,
  seriesKeyOf,
  type AppendResult,
  type SeriesRef,
} from '../core/index.js'
import type { TransferConfig } from './config.js'
import { MAX_PLACEMENTS, type ReplicaSet, type Router } from './router.js'

/** MAX_AHEAD_MS: samples further ahead of transfer's clock are refused, as Prometheus's receiver does. */
export const MAX_AHEAD_MS = 10 * 60_000

/** MAX_REASONS bounds the reasons one 400 answer lists. */
const MAX_REASONS = 10

/** RemoteWriteCounters count what the receiver did; shown on /counter/all under `remoteWrite`. */
export interface RemoteWriteCounters {
  requests: number
  requestsV2: number
  /** appends: in-process appends (scrape beside transfer), which are not requests. */
  appends: number
  series: number
  samples: number
  /** samplesStored: samples every graph address holding them has in its WAL. */
  samplesStored: number
  /** invalidSeries: series refused (no __name__, bad or duplicate label names, unsorted labels, …). */
  invalidSeries: number
  /** invalidSamples: samples refused here (out of range timestamps, their series invalid). */
  invalidSamples: number
  /** refusedSamples: samples a graph node would not keep (too old, past a series limit). */
  refusedSamples: number
  histogramsDropped: number
  exemplarsIgnored: number
  metadataIgnored: number
  /** answers by status class: 400, 415, 429, 5xx. */
  badRequests: number
  unsupported: number
  tooManyRequests: number
  unavailable: number
}

export function newRemoteWriteCounters(): RemoteWriteCounters {
  return {
    requests: 0,
    requestsV2: 0,
    appends: 0,
    series: 0,
    samples: 0,
    samplesStored: 0,
    invalidSeries: 0,
    invalidSamples: 0,
    refusedSamples: 0,
    histogramsDropped: 0,
    exemplarsIgnored: 0,
    metadataIgnored: 0,
    badRequests: 0,
    unsupported: 0,
    tooManyRequests: 0,
    unavailable: 0,
  }
}

/** RemoteWriteAnswer is what the HTTP route sends: a status, headers and a plain-text body. */
export interface RemoteWriteAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

// Where one series goes, worked out once and remembered by its label bytes.
interface Placement {
  series: PromSeries
  /** set: the graph nodes that hold it (one unless transfer.replication is above 1). */
  set: ReplicaSet
  judge: ReturnType<Router['judgeOf']>
  /** gen, at: the request that last placed a sample of this series, and its item there. */
  gen: number
  at: number
  /** bytes: the label bytes it is remembered by (remote write 1.0), to check a hash's find. */
  bytes: Uint8Array | null
}

const V2_TYPE = 'io.prometheus.write.v2.request'
const V1_TYPE = 'prometheus.writerequest'

/**
 * messageVersion reads the message type from a Content-Type header: 1 for remote write 1.0
 * (`application/x-protobuf`, or with `proto=prometheus.WriteRequest`), 2 for 2.0
 * (`proto=io.prometheus.write.v2.Request`), or a sentence saying why neither.
 */
export function messageVersion(contentType: string | undefined): 1 | 2 | string {
  // Prometheus 2.x and other 1.0 senders all send a protobuf content type; none is taken as 1.0.
  if (contentType === undefined || contentType === '') return 1
  const [essence, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase())
  if (essence !== 'application/x-protobuf') {
    return `Content-Type ${JSON.stringify(contentType)}: expected application/x-protobuf (remote write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)`
  }
  for (const p of params) {
    const eq = p.indexOf('=')
    if (eq < 0 || p.slice(0, eq).trim() !== 'proto') continue
    const proto = p.slice(eq + 1).trim()
    if (proto === V2_TYPE) return 2
    if (proto === V1_TYPE) return 1
    return `Content-Type proto=${proto}: not a remote write message this receiver speaks (prometheus.WriteRequest, io.prometheus.write.v2.Request)`
  }
  return 1
}

/**
 * RemoteWriteReceiver handles `POST /api/v1/write` bodies. One per transfer; it remembers where the
 * series it has seen go (at most MAX_PLACEMENTS, then it starts again).
 */
export class RemoteWriteReceiver {
  readonly counters = newRemoteWriteCounters()
  readonly #router: Router
  readonly #cfg: Readonly<TransferConfig>
  readonly #deps: Deps
  readonly #placements = [
    new Map<string, Placement | string>(),
    new Map<string, Placement | string>(),
  ]
  readonly #byHash = new Map<number, Placement>()
  #placementCount = 0
  #gen = 0
  #loggedAt = -Infinity

  constructor(router: Router, cfg: Readonly<TransferConfig>, deps: Deps) {
    this.#router = router
    this.#cfg = cfg
    this.#deps = deps
  }

  /** cachedPlacements is how many series' placements are remembered. */
  get cachedPlacements(): number {
    return this.#placementCount
  }

  /** receive answers one request: its raw (snappy) body and headers. Never throws. */
  async receive(
    body: Buffer,
    contentType: string | undefined,
    contentEncoding: string | undefined,
    /** step: seconds to store new series with (Peregrine's scrape sends its interval), else remoteWriteStep. */
    step?: number
  ): Promise<RemoteWriteAnswer> {
    const c = this.counters
    c.requests++
    const version = messageVersion(contentType)
    if (typeof version === 'string') return this.#unsupported(version)
    if (version === 2) c.requestsV2++
    const encoding = (contentEncoding ?? '').trim().toLowerCase()
    if (encoding !== '' && encoding !== 'snappy') {
      return this.#unsupported(
        `Content-Encoding ${JSON.stringify(contentEncoding)}: remote write bodies are snappy-compressed (Content-Encoding: snappy)`
      )
    }
    let batch: RemoteWriteBatch
    try {
      const raw = decodeSnappy(body, this.#cfg.maxBodyBytes)
      batch = version === 2 ? decodeWriteRequestV2(raw) : decodeWriteRequest(raw)
    } catch (err) {
      if (!(err instanceof RemoteWriteError)) throw err
      return this.#bad([err.message], version)
    }
    return this.#store(batch, version, step ?? this.#cfg.remoteWriteStep)
  }

  async #store(batch: RemoteWriteBatch, version: 1 | 2, step: number): Promise<RemoteWriteAnswer> {
    const c = this.counters
    const reasons: string[] = []
    let reasonCount = 0
    const reason = (s: string) => {
      reasonCount++
      if (reasons.length < MAX_REASONS) reasons.push(s)
    }
    c.series += batch.series
    c.samples += batch.t.length
    c.exemplarsIgnored += batch.exemplars
    c.metadataIgnored += batch.metadata.length
    if (batch.histograms > 0) {
      c.histogramsDropped += batch.histograms
      reason(
        `${batch.histograms} native histogram sample(s) not stored: Peregrine stores float samples only (send classic histograms)`
      )
    }
    const now = this.#deps.now()
    const maxT = now + MAX_AHEAD_MS
    const sets: ReplicaSet[] = []
    const placed: Placement[] = []
    const created: number[] = []
    const gen = ++this.#gen
    const createdZero = this.#cfg.remoteWriteCreatedZero
    const cache = this.#placements[version - 1]
    const { t, v, sampleStart } = batch
    // Pass 1: each TimeSeries' item (-1: none), and how many samples each item keeps. A series that
    // comes more than once (Prometheus sends a TimeSeries per sample) gets one item for all of them.
    const itemOf = new Int32Array(batch.series)
    const counts: number[] = []
    // regather: the request's columns cannot serve as they are (a series came twice, or a sample was refused).
    let regather = false
    for (let i = 0; i < batch.series; i++) {
      const from = sampleStart[i]
      const to = sampleStart[i + 1]
      itemOf[i] = -1
      const p = this.#place(cache, batch, i)
      if (typeof p === 'string') {
        c.invalidSeries++
        c.invalidSamples += to - from
        reason(`timeseries[${i}]: ${p}`)
        regather = true
        continue
      }
      // Timestamps: integer ms from 1970 to 10 minutes ahead (Prometheus refuses beyond: out of bounds).
      let bad = 0
      let first = NaN
      for (let k = from; k < to; k++) {
        const x = t[k]
        if (!(x >= 0 && x <= maxT && Number.isSafeInteger(x))) {
          if (bad++ === 0) first = x
        }
      }
      if (bad > 0) {
        c.invalidSamples += bad
        reason(
          `timeseries[${i}] ${p.series.metric}: ${bad} sample(s) with a timestamp out of range (e.g. ${first} ms; expected 0 to 10 minutes past now, ${now})`
        )
        regather = true
      }
      const kept = to - from - bad
      if (kept === 0) {
        if (to > from) regather = true
        continue
      }
      if (p.gen === gen) {
        itemOf[i] = p.at
        counts[p.at] += kept
        regather = true
        continue
      }
      p.gen = gen
      p.at = placed.length
      itemOf[i] = p.at
      counts.push(kept)
      placed.push(p)
      sets.push(p.set)
      created.push(createdZero ? batch.created[i] : 0)
    }
    // Pass 2: the items' columns: the request's own when they serve as they are; else one pair of
    // columns for the whole request, each item's samples together in the order sent (copied element by
    // element: a Float64Array copy keeps NaN payloads such as the stale marker).
    const items: PromSeriesItem[] = new Array<PromSeriesItem>(placed.length)
    let ct = t
    let cv = v
    const starts = new Uint32Array(placed.length + 1)
    if (!regather) {
      for (let i = 0; i < batch.series; i++) {
        const at = itemOf[i]
        if (at >= 0) starts[at] = sampleStart[i]
      }
    } else {
      for (let at = 0; at < placed.length; at++) starts[at + 1] = starts[at] + counts[at]
      ct = new Float64Array(starts[placed.length])
      cv = new Float64Array(starts[placed.length])
      const pos = starts.slice(0, placed.length)
      for (let i = 0; i < batch.series; i++) {
        const at = itemOf[i]
        if (at < 0) continue
        let j = pos[at]
        for (let k = sampleStart[i]; k < sampleStart[i + 1]; k++) {
          const x = t[k]
          if (!(x >= 0 && x <= maxT && Number.isSafeInteger(x))) continue
          ct[j] = x
          cv[j++] = v[k]
        }
        pos[at] = j
      }
    }
    for (let at = 0; at < placed.length; at++) {
      const s = placed[at].series
      const from = starts[at]
      items[at] = new PromSeriesItem(
        s.endpoint,
        s.metric,
        s.tags,
        step,
        created[at],
        ct,
        cv,
        from,
        from + counts[at],
        s
      )
    }
    const done = await this.#commit(items, sets, placed, reason)
    if (done.outcome === 'retry') return done.answer
    const stored = done.stored
    const headers: Record<string, string> = {}
    if (version === 2) {
      headers['X-Prometheus-Remote-Write-Samples-Written'] = String(stored)
      headers['X-Prometheus-Remote-Write-Histograms-Written'] = '0'
      headers['X-Prometheus-Remote-Write-Exemplars-Written'] = '0'
    }
    if (reasonCount > 0) {
      const more = reasonCount - reasons.length
      return this.#bad(
        more > 0 ? [...reasons, `and ${more} more`] : reasons,
        version,
        headers,
        stored
      )
    }
    return { status: 204, headers, body: '' }
  }

  // Sends the items to their graph nodes (and their finite samples to judge) and waits for the WAL;
  // what a node refused is counted and given to `reason`. Nothing is sent while a node is down or
  // not keeping up: then the answer to give (503 or 429) instead.
  async #commit(
    items: PromSeriesItem[],
    sets: ReplicaSet[],
    placed: Placement[],
    reason: (s: string) => void
  ): Promise<
    | { outcome: 'stored'; stored: number; refused: number }
    | { outcome: 'retry'; answer: RemoteWriteAnswer }
  > {
    const c = this.counters
    const judged = new Map<NonNullable<Placement['judge']>, JudgeItem[]>()
    for (let i = 0; i < items.length; i++) {
      const judge = placed[i].judge
      if (judge === null) continue
      let list = judged.get(judge)
      if (list === undefined) judged.set(judge, (list = []))
      const { t, v, from, to } = items[i]
      const s = placed[i].series
      for (let k = from; k < to; k++) {
        const value = v[k]
        // Judge compares numbers; NaN, stale markers and ±Inf trigger nothing in falcon's functions.
        if (!Number.isFinite(value)) continue
        list.push({
          endpoint: s.endpoint,
          metric: s.metric,
          value,
          timestamp: Math.floor(t[k] / 1000),
          judgeType: 'GAUGE',
          tags: s.labels,
        })
      }
    }
    // Nothing is taken while a node is down or not keeping up: the sender keeps the batch and retries.
    const touched = new Set(sets)
    for (const set of touched) {
      const state = this.#router.writeState(set)
      const node = set.name
      if (state === 'down')
        return {
          outcome: 'retry',
          answer: this.#unavailable(
            set.nodes.length === 1
              ? `graph node ${node} is down`
              : `graph nodes ${node} are down (fewer than transfer.writeQuorum answer)`
          ),
        }
      if (state === 'busy') {
        c.tooManyRequests++
        return {
          outcome: 'retry',
          answer: {
            status: 429,
            headers: { 'Retry-After': '2', 'Content-Type': 'text/plain; charset=utf-8' },
            body:
              set.nodes.length === 1
                ? `graph node ${node} is not keeping up (its send buffer is over half full); retry later\n`
                : `graph nodes ${node}: one that is up is not keeping up (its send buffer is over half full); retry later\n`,
          },
        }
      }
    }
    let stored = 0
    let refusedSamples = 0
    if (items.length > 0) {
      let refused
      try {
        refused = await this.#router.write(
          items,
          sets,
          [...judged].map(([judge, list]) => ({ judge, items: list }))
        )
      } catch (err) {
        return { outcome: 'retry', answer: this.#unavailable((err as Error).message) }
      }
      const refusedAt = new Set<number>()
      for (const r of refused) {
        refusedAt.add(r.index)
        const it = items[r.index]
        const n = /^(\d+) sample/.exec(r.message)
        const count = n === null ? it.size : Number(n[1])
        c.refusedSamples += count
        refusedSamples += count
        reason(
          `${it.metric}{${it.tags.slice(0, 200)}} (endpoint ${it.endpoint}): ${r.code}: ${r.message}`
        )
      }
      for (let i = 0; i < items.length; i++) if (!refusedAt.has(i)) stored += items[i].size
      c.samplesStored += stored
    }
    return { outcome: 'stored', stored, refused: refusedSamples }
  }

  /**
   * ref places a series for the in-process appender (scrape beside transfer): the caller keeps the
   * ref, so it is not remembered here.
   */
  ref(labels: readonly (readonly [string, string])[]): SeriesRef | string {
    const pairs: string[] = []
    for (const [n, v] of labels) pairs.push(n, v)
    const p = this.#placement(labels.length, pairs)
    return typeof p === 'string' ? p : (p as unknown as SeriesRef)
  }

  /**
   * append is remote write without the wire, for the in-process appender: sample k of series
   * `refs[k]` (refs from `ref`). A series twice in one append keeps its first sample.
   */
  async append(
    refs: readonly SeriesRef[],
    t: Float64Array,
    v: Float64Array,
    step: number
  ): Promise<AppendResult> {
    const c = this.counters
    c.appends++
    c.series += refs.length
    c.samples += refs.length
    const now = this.#deps.now()
    const maxT = now + MAX_AHEAD_MS
    const reasons: string[] = []
    let refused = 0
    const reason = (s: string) => {
      if (reasons.length < MAX_REASONS) reasons.push(s)
    }
    const items: PromSeriesItem[] = []
    const sets: ReplicaSet[] = []
    const placed: Placement[] = []
    const gen = ++this.#gen
    for (let k = 0; k < refs.length; k++) {
      const p = refs[k] as unknown as Placement
      const x = t[k]
      if (!(x >= 0 && x <= maxT && Number.isSafeInteger(x))) {
        c.invalidSamples++
        refused++
        reason(
          `${p.series.metric}: a timestamp out of range (${x} ms; expected 0 to 10 minutes past now, ${now})`
        )
        continue
      }
      if (p.gen === gen) {
        c.invalidSamples++
        refused++
        reason(`${p.series.metric}{${p.series.tags.slice(0, 200)}}: a second sample in one scrape`)
        continue
      }
      p.gen = gen
      const s = p.series
      items.push(new PromSeriesItem(s.endpoint, s.metric, s.tags, step, 0, t, v, k, k + 1, s))
      sets.push(p.set)
      placed.push(p)
    }
    const done = await this.#commit(items, sets, placed, reason)
    if (done.outcome === 'retry') return { outcome: 'retry', reason: done.answer.body.trim() }
    return { outcome: 'stored', stored: done.stored, refused: refused + done.refused, reasons }
  }

  // Where a series (`count` labels, as pairs) goes, or why it cannot be stored.
  #placement(count: number, pairs: string[]): Placement | string {
    if (count > MAX_LABELS) return `${count} labels, more than the ${MAX_LABELS} a series may have`
    const series = promSeriesOf(pairs)
    if (typeof series === 'string') return series
    const skey = seriesKeyOf(series.endpoint, series.metric, series.tags)
    return {
      series,
      set: this.#router.setOf(skey),
      judge: this.#router.judgeOf(skey),
      gen: 0,
      at: 0,
      bytes: null,
    }
  }

  // The placement of series i, from the cache or worked out (and remembered). Series whose label
  // bytes the request gives (remote write 1.0 as Prometheus sends it) are found by a hash of those
  // bytes and checked against them, with no string made; the others by their key.
  #place(
    cache: Map<string, Placement | string>,
    batch: RemoteWriteBatch,
    i: number
  ): Placement | string {
    const hash = batch.labelHash(i)
    let key = ''
    if (hash >= 0) {
      const p = this.#byHash.get(hash)
      if (p !== undefined && batch.sameLabels(i, p.bytes as Uint8Array)) return p
    } else {
      key = batch.key(i)
      const p = key === '' ? undefined : cache.get(key)
      if (p !== undefined) return p
    }
    // Refused series are not remembered: what a client sends cannot fill the cache with them.
    const count = batch.labelCount(i)
    const p = this.#placement(count, count > MAX_LABELS ? [] : batch.labelsOf(i))
    if (typeof p === 'string' || (hash < 0 && key === '')) return p
    if (++this.#placementCount > MAX_PLACEMENTS) {
      for (const m of this.#placements) m.clear()
      this.#byHash.clear()
      this.#placementCount = 1
    }
    if (hash >= 0) {
      // A hash taken by other labels (rare) keeps its series; this one is placed each time.
      if (this.#byHash.has(hash)) return p
      p.bytes = (batch.labelBytes(i) as Uint8Array).slice()
      this.#byHash.set(hash, p)
    } else cache.set(key, p)
    return p
  }

  #bad(
    reasons: string[],
    version: 1 | 2,
    headers: Record<string, string> = {},
    stored = 0
  ): RemoteWriteAnswer {
    this.counters.badRequests++
    const at = this.#deps.now()
    if (at - this.#loggedAt >= 10_000) {
      this.#deps.log.warn(`transfer: remote write ${version}.0 refused in part: ${reasons[0]}`)
      this.#loggedAt = at
    }
    const head =
      stored > 0
        ? `${stored} samples stored; the rest refused (the sender should drop them, not retry):`
        : 'refused (the sender should drop this request, not retry):'
    return {
      status: 400,
      headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' },
      body: `${head}\n${reasons.join('\n')}\n`,
    }
  }

  #unsupported(why: string): RemoteWriteAnswer {
    this.counters.unsupported++
    return {
      status: 415,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: why + '\n',
    }
  }

  #unavailable(why: string): RemoteWriteAnswer {
    this.counters.unavailable++
    return {
      status: 503,
      headers: { 'Retry-After': '5', 'Content-Type': 'text/plain; charset=utf-8' },
      body: `${why}; this request is not acknowledged: retry it (samples already stored are kept once)\n`,
    }
  }
}
