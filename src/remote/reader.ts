// Reads of a remote store through its Prometheus query API: the tsdb's Querier for the PromQL engine,
// and falcon's reads (history, last points, endpoint and counter search) for graph's calls.
//
// Raw samples come from an instant query of a range selector (`{…}[Nms]` at `time`), which Prometheus,
// VictoriaMetrics, Mimir and Thanos all answer with every stored sample in (time - N, time]. Matchers
// whose meaning depends on Peregrine's name aliases (`cpu_idle` selecting `cpu.idle`) are sent broadened
// or not at all, and every matcher is applied again here with the tsdb's rules (docs/prometheus.md).
import { escapeName, PeregrineError } from '../core/index.js'
import {
  compareLabels,
  type Label,
  type LabelHints,
  type Labels,
  type Matcher,
  type MetricMetadata,
  matcherTest,
  type Querier,
  type SelectHints,
  type SeriesSet,
  tooManySamples,
} from '../tsdb/index.js'
import type { RemoteStorageConfig } from './config.js'

/** StoredSeries is one series as the store holds it: visible labels, counter type, step, samples. */
export interface StoredSeries {
  labels: Labels
  counter: boolean
  step: number
  ts: Float64Array
  vs: Float64Array
}

const HIDDEN = new Set(['__type__', '__step__'])

/** STALE holds Prometheus's stale marker, a NaN with payload 2, copied by bits (never as a number). */
const STALE = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)

function badAnswer(what: string): PeregrineError {
  return new PeregrineError(
    'PG_REMOTE_BAD_ANSWER',
    `remote storage: the query API answered ${what}; check remoteStorage.readUrl`,
    { status: 502 }
  )
}

/**
 * PromApi calls a store's Prometheus HTTP API: POST forms (long selectors fit), answers bounded by
 * `maxResponseBytes`, `queryTimeout` per call. A store that cannot be reached, answers 5xx or times
 * out is PG_REMOTE_UNAVAILABLE (503); one that refuses the request or answers what is not the API's
 * JSON is PG_REMOTE_BAD_ANSWER (502), its own error quoted.
 */
export class PromApi {
  readonly #cfg: Readonly<RemoteStorageConfig>
  readonly #base: string

  constructor(cfg: Readonly<RemoteStorageConfig>) {
    this.#cfg = cfg
    this.#base = cfg.readUrl.replace(/\/+$/, '')
  }

  /** get: a GET with `form` as the query string (label values, which Prometheus serves by GET only). */
  get<T>(path: string, form: [string, string][], signal?: AbortSignal): Promise<T> {
    return this.call<T>(path, form, signal, 'GET')
  }

  async call<T>(
    path: string,
    form: [string, string][],
    signal?: AbortSignal,
    method: 'GET' | 'POST' = 'POST'
  ): Promise<T> {
    const query = new URLSearchParams(form).toString()
    const url = this.#base + path
    const timeout = AbortSignal.timeout(this.#cfg.queryTimeout)
    const both = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    let res: Response
    try {
      res = await fetch(method === 'GET' && query !== '' ? `${url}?${query}` : url, {
        method,
        headers: {
          ...this.#cfg.headers,
          ...(method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          'User-Agent': 'peregrine',
        },
        body: method === 'POST' ? query : undefined,
        signal: both,
        redirect: 'error',
      })
    } catch (err) {
      signal?.throwIfAborted()
      throw unavailable(
        url,
        timeout.aborted
          ? `no answer in ${this.#cfg.queryTimeout} ms (remoteStorage.queryTimeout)`
          : causeOf(err)
      )
    }
    let text: string
    try {
      text = await boundedBody(res, this.#cfg.maxResponseBytes)
    } catch (err) {
      signal?.throwIfAborted()
      throw unavailable(url, (err as Error).message)
    }
    const body = parseJson(text)
    if (res.status >= 500 || res.status === 429) {
      throw unavailable(url, `answered ${res.status}: ${errorText(body, text)}`)
    }
    if (!res.ok || body === null || body.status !== 'success') {
      throw new PeregrineError(
        'PG_REMOTE_BAD_ANSWER',
        `remote storage: ${url} answered ${res.status}: ${errorText(body, text)}`,
        { status: 502 }
      )
    }
    return body.data as T
  }
}

interface ApiBody {
  status?: unknown
  data?: unknown
  error?: unknown
}

// The API's JSON object, or null (said with the status by the caller).
function parseJson(text: string): ApiBody | null {
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === 'object' && v !== null ? v : null
  } catch {
    return null
  }
}

function unavailable(url: string, why: string): PeregrineError {
  return new PeregrineError(
    'PG_REMOTE_UNAVAILABLE',
    `remote storage: ${url} ${why}; try again once the store answers`,
    { status: 503 }
  )
}

function errorText(body: { error?: unknown } | null, text: string): string {
  const e = typeof body?.error === 'string' ? body.error : text
  const one = e.replace(/\s+/g, ' ').trim()
  return one.length > 512 ? one.slice(0, 512) + '…' : one === '' ? '(no text)' : one
}

function causeOf(err: unknown): string {
  const c = (err as { cause?: Error & { code?: string } }).cause
  return `cannot be reached (${c?.code ?? c?.message ?? (err as Error).message})`
}

async function boundedBody(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader()
  if (reader === undefined) return ''
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > max) {
      await reader.cancel()
      throw new Error(
        `answered more than ${max} bytes (remoteStorage.maxResponseBytes); ask a shorter range or fewer series`
      )
    }
    parts.push(value)
  }
  return Buffer.concat(parts).toString('utf8')
}

/** A matcher as PromQL text: the name bare (every store reads that; older ones read no quoted name). */
function matcherText(m: Matcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`
}

// Label names every PromQL dialect reads bare; others are matched here only.
const BARE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const REGEX_SPECIAL = /[\\^$.|?*+()[\]{}]/g

/**
 * pushdown is what of `matchers` the store can be asked for: every matcher whose answer does not depend
 * on aliases, a `__name__` equality holding `_` broadened to a regex (each `_` any one character, a
 * leading one optional), and `{__name__=~".+"}` when nothing narrower is left. Sent matchers select a
 * superset; `LocalMatch` then decides.
 */
export function pushdown(matchers: readonly Matcher[]): string {
  const out: string[] = []
  let narrows = false
  for (const m of matchers) {
    const fixedName =
      m.name === '__name__' ||
      m.name === 'endpoint' ||
      m.name === '__type__' ||
      m.name === '__step__'
    // A tag name holding `_` may stand for a dotted tag (`iface_name` for `iface.name`); a dotted
    // name cannot be written bare.
    if (!fixedName && (m.name.includes('_') || !BARE_NAME.test(m.name))) continue
    if (m.name === '__name__' && m.value.includes('_')) {
      if (m.op !== '=') continue
      const re = m.value.replace(REGEX_SPECIAL, '\\$&').replace(/^_/, '.?').replaceAll('_', '.')
      out.push(matcherText({ name: '__name__', op: '=~', value: re }))
      narrows = true
      continue
    }
    // A regex on names may pass an alias only (`cpu_.*`): kept here unless it is literal alternatives.
    if (
      m.name === '__name__' &&
      (m.op === '=~' || m.op === '!~') &&
      /[\\^$.|?*+()[\]{}]/.test(m.value) &&
      !/^[A-Za-z0-9:.|-]+$/.test(m.value)
    )
      continue
    out.push(matcherText(m))
    if (!matcherTest(m)('')) narrows = true
  }
  if (!narrows) out.push('__name__=~".+"')
  return `{${out.join(',')}}`
}

/**
 * LocalMatch applies matchers to a stored series with the tsdb's rules: `__name__` passes when the
 * stored name or its escaped form passes (negations when neither does), a tag matcher applies to the
 * tags of that name and those whose escaped name it is, `__type__` and `__step__` to the hidden labels.
 */
export class LocalMatch {
  readonly #tests: { name: string; neg: boolean; test: (v: string) => boolean }[]

  constructor(matchers: readonly Matcher[]) {
    this.#tests = matchers.map((m) => {
      const neg = m.op === '!=' || m.op === '!~'
      const test = matcherTest({
        name: m.name,
        op: m.op === '=' || m.op === '!=' ? '=' : '=~',
        value: m.value,
      })
      return { name: m.name, neg, test }
    })
  }

  passes(all: Record<string, string>): boolean {
    for (const { name, neg, test } of this.#tests) {
      let any: boolean
      if (name === '__name__') {
        const v = all.__name__ ?? ''
        any = test(v) || (escapeName(v) !== v && test(escapeName(v)))
      } else if (name === 'endpoint' || name === '__type__' || name === '__step__') {
        any = test(all[name] ?? '')
      } else {
        any = false
        let found = false
        for (const [k, v] of Object.entries(all)) {
          if (k === '__name__' || k === 'endpoint' || HIDDEN.has(k) || v === '') continue
          if (k !== name && escapeName(k) !== name) continue
          found = true
          if (test(v)) {
            any = true
            break
          }
        }
        if (!found) any = test('')
      }
      if (any === neg) return false
    }
    return true
  }
}

function visibleLabels(all: Record<string, string>): Labels {
  const out: Label[] = []
  for (const [name, value] of Object.entries(all)) {
    if (HIDDEN.has(name) || value === '') continue
    out.push({ name, value })
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** promValue reads a sample value as the API writes it ("1.5", "NaN", "+Inf", "-Inf"). */
function promValue(v: unknown): number {
  if (v === '+Inf') return Infinity
  if (v === '-Inf') return -Infinity
  return Number(v)
}

interface MatrixRow {
  metric: Record<string, string>
  values?: [number, string][]
}

/** ms as the API's float seconds, exact to the millisecond. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3)
}

/**
 * RemoteReader reads series from the store: `raw` (the samples of every series a selector matches in
 * a range) underlies the Querier and falcon's reads.
 */
export class RemoteReader implements Querier {
  readonly api: PromApi
  readonly #cfg: Readonly<RemoteStorageConfig>

  constructor(cfg: Readonly<RemoteStorageConfig>) {
    this.#cfg = cfg
    this.api = new PromApi(cfg)
  }

  get lastLookback(): number {
    return this.#cfg.lastLookback
  }

  /**
   * raw returns the stored series matching `matchers` (LocalMatch's rules) with their samples in
   * [start, end] (ms), one per stored variant (counter type and step), in the store's order.
   */
  async raw(
    matchers: readonly Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal
  ): Promise<StoredSeries[]> {
    const local = new LocalMatch(matchers)
    const range = Math.max(1, Math.floor(end) - Math.ceil(start) + 1)
    const data = await this.api.call<{ resultType?: string; result?: MatrixRow[] }>(
      '/api/v1/query',
      [
        ['query', `${pushdown(matchers)}[${range}ms]`],
        ['time', seconds(Math.floor(end))],
        // VictoriaMetrics hides the newest 30 s of instant queries unless told not to; others ignore it.
        ['latency_offset', '0s'],
      ],
      signal
    )
    if (data?.resultType !== 'matrix' || !Array.isArray(data.result)) {
      throw new PeregrineError(
        'PG_REMOTE_BAD_ANSWER',
        `remote storage: a range selector was answered with ${JSON.stringify(data?.resultType)}, not a matrix`,
        { status: 502 }
      )
    }
    const out: StoredSeries[] = []
    for (const row of data.result as unknown[]) {
      const r = row as MatrixRow | null
      if (
        typeof r !== 'object' ||
        r === null ||
        typeof r.metric !== 'object' ||
        r.metric === null ||
        !Array.isArray(r.values ?? [])
      )
        throw badAnswer('a matrix row that is not {metric: {…}, values: [[t, "v"], …]}')
      const all = r.metric
      if (!local.passes(all)) continue
      const values = r.values ?? []
      const ts = new Float64Array(values.length)
      const vs = new Float64Array(values.length)
      let n = 0
      for (const pair of values as unknown[]) {
        if (!Array.isArray(pair) || pair.length < 2)
          throw badAnswer('a sample that is not [t, "v"]')
        const ms = Math.round(Number(pair[0]) * 1000)
        if (!(ms >= start && ms <= end)) continue
        // One sample a timestamp, the last, whatever the store keeps (a request sent twice).
        const at = n > 0 && ts[n - 1] === ms ? n - 1 : n++
        ts[at] = ms
        const v = promValue(pair[1])
        // Stores keep no NaN of their own but Prometheus's stale marker: it goes back as one, bits
        // and all, so the series ends there as it does in the tsdb.
        if (Number.isNaN(v)) vs.set(STALE, at)
        else vs[at] = v
      }
      const step = Number(all.__step__)
      out.push({
        labels: visibleLabels(all),
        counter: all.__type__ === 'counter',
        step: Number.isInteger(step) && step > 0 ? step : 60,
        ts: ts.subarray(0, n),
        vs: vs.subarray(0, n),
      })
    }
    return out
  }

  /**
   * select: the series in range, variants with the same visible labels merged by time (the later
   * variant's sample winning a timestamp both hold, as the tsdb's), sorted by labels.
   */
  async select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    hints.signal?.throwIfAborted()
    // Prometheus's /api/v1/series with no range asks from the beginning of time to its end: the
    // store's times (after 1970, before a day from now) are what there is to ask.
    const start = Math.max(hints.start, 1000)
    const end = Math.min(hints.end, Date.now() + 86_400_000)
    if (hints.func === 'series') {
      // Labels only, as the hint allows: the store's series index, not its samples.
      const found = await this.seriesLabels(matchers, start, end, hints.signal)
      const labels = [
        ...new Map(
          found.map((all) => {
            const l = visibleLabels(all)
            return [JSON.stringify(l), l] as const
          })
        ).values(),
      ].sort(compareLabels)
      return {
        labels,
        offsets: new Uint32Array(labels.length + 1),
        ts: new Float64Array(0),
        vs: new Float64Array(0),
        warnings: [],
      }
    }
    const stored = await this.raw(matchers, start, end, hints.signal)
    stored.sort((a, b) => compareLabels(a.labels, b.labels) || lastT(a) - lastT(b))
    const groups: StoredSeries[][] = []
    for (const s of stored) {
      const g = groups.at(-1)
      if (g !== undefined && compareLabels(g[0].labels, s.labels) === 0) g.push(s)
      else groups.push([s])
    }
    const merged = groups.map(mergeVariants).filter((m) => m.ts.length > 0)
    let total = 0
    for (const m of merged) total += m.ts.length
    if (hints.maxSamples !== undefined && total > hints.maxSamples)
      throw tooManySamples(hints.maxSamples)
    const offsets = new Uint32Array(merged.length + 1)
    const ts = new Float64Array(total)
    const vs = new Float64Array(total)
    let w = 0
    for (let i = 0; i < merged.length; i++) {
      ts.set(merged[i].ts, w)
      vs.set(merged[i].vs, w)
      w += merged[i].ts.length
      offsets[i + 1] = w
    }
    return { labels: merged.map((m) => m.labels), offsets, ts, vs, warnings: [] }
  }

  async labelNames(matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    const names = new Set<string>()
    for (const labels of await this.#series(matchers, hints))
      for (const l of labels) names.add(l.name)
    return limited([...names].sort(), hints.limit)
  }

  async labelValues(
    name: string,
    matchers: readonly Matcher[],
    hints: LabelHints
  ): Promise<string[]> {
    const values = new Set<string>()
    for (const labels of await this.#series(matchers, hints)) {
      for (const l of labels) if (l.name === name && l.value !== '') values.add(l.value)
    }
    return limited([...values].sort(), hints.limit)
  }

  /** metadata: the store's own, when it keeps any (VictoriaMetrics 1.79 does not); types as Peregrine's. */
  async metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>> {
    const form: [string, string][] = []
    if (metric !== undefined) form.push(['metric', metric])
    if (limit !== undefined && limit > 0) form.push(['limit', String(limit)])
    let data: Record<string, { type?: string; help?: string; unit?: string }[]>
    try {
      data = await this.api.call('/api/v1/metadata', form)
    } catch (err) {
      if ((err as PeregrineError).code === 'PG_REMOTE_BAD_ANSWER') return new Map()
      throw err
    }
    const out = new Map<string, MetricMetadata>()
    for (const name of Object.keys(data ?? {}).sort()) {
      const m = data[name]?.[0]
      if (m === undefined) continue
      const type = m.type === 'counter' || m.type === 'gauge' ? m.type : 'unknown'
      out.set(name, { type, help: m.help ?? '', unit: m.unit ?? '' })
    }
    return out
  }

  /**
   * seriesLabels: every stored series matching, as all its labels (hidden ones included), from
   * `/api/v1/series` over [start, end] (s), at most `limit` of them when given.
   */
  async seriesLabels(
    matchers: readonly Matcher[],
    start: number | undefined,
    end: number | undefined,
    signal?: AbortSignal
  ): Promise<Record<string, string>[]> {
    const local = new LocalMatch(matchers)
    const form: [string, string][] = [['match[]', pushdown(matchers)]]
    // From the epoch when no start is given: some stores (VictoriaMetrics, which also reads 0 as none) answer the last day only.
    form.push(['start', seconds(start ?? 1000)])
    if (end !== undefined) form.push(['end', seconds(end)])
    const data = await this.api.call<Record<string, string>[]>('/api/v1/series', form, signal)
    if (!Array.isArray(data)) {
      throw new PeregrineError(
        'PG_REMOTE_BAD_ANSWER',
        'remote storage: /api/v1/series answered no list',
        {
          status: 502,
        }
      )
    }
    return data.filter((all) => local.passes(all))
  }

  async #series(matchers: readonly Matcher[], hints: LabelHints): Promise<Labels[]> {
    const all = await this.seriesLabels(matchers, hints.start, hints.end, hints.signal)
    return all.map(visibleLabels)
  }
}

function lastT(s: StoredSeries): number {
  return s.ts.length === 0 ? -Infinity : s.ts[s.ts.length - 1]
}

// Variants of one series merged by time: the later variant (by its last sample) wins a timestamp.
function mergeVariants(group: StoredSeries[]): {
  labels: Labels
  ts: Float64Array
  vs: Float64Array
} {
  if (group.length === 1) return group[0]
  const byT = new Map<number, number>()
  for (const s of group) for (let i = 0; i < s.ts.length; i++) byT.set(s.ts[i], s.vs[i])
  const times = [...byT.keys()].sort((a, b) => a - b)
  return {
    labels: group[0].labels,
    ts: Float64Array.from(times),
    vs: Float64Array.from(times, (t) => byT.get(t) as number),
  }
}

function limited(list: string[], limit: number | undefined): string[] {
  return limit !== undefined && limit > 0 && list.length > limit ? list.slice(0, limit) : list
}
