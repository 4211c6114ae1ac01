// The read seam: what a query engine needs from storage, in the manner of Prometheus's storage.Querier.
import { compileRe2, literalAlternatives, PeregrineError } from '../core/index.js'
import type { FloatHistogram } from './histogram.js'
import type { Matcher } from './series-index.js'

/** Label is one name and value of a series. */
export interface Label {
  readonly name: string
  readonly value: string
}

/** Labels are a series' labels, sorted by name (bytewise, as Prometheus), names unique. */
export type Labels = readonly Label[]

/**
 * SelectHints tell storage what a selection is for, as Prometheus's storage.SelectHints. `start` and
 * `end` are inclusive, in ms: storage returns every sample with start ≤ t ≤ end and may return more.
 * `maxSamples`, when given, is a budget: storage throws `PG_PROMQL_TOO_MANY_SAMPLES` rather than
 * return more samples than that, every series together.
 */
export interface SelectHints {
  start: number
  end: number
  /** step of the query (ms), 0 or absent for an instant query. */
  step?: number
  /** range of the range selector (ms), 0 or absent for an instant vector selector. */
  range?: number
  /**
   * the function applied to the selection (`rate`, `sum_over_time`, …), when there is one. `series`
   * (as Prometheus's /api/v1/series asks) wants the labels of the series with a sample in range only:
   * storage may answer every series with no samples.
   */
  func?: string
  maxSamples?: number
  /**
   * grid, when given, says the selection is read only at the times `first + k × step` (ms) up to `end`:
   * an instant selector of a range or instant query, outside subqueries and `@`. Storage may then answer
   * only, per series, the last sample at or before each of those times (the one lookback would pick,
   * a stale marker included), which gives the engine the same answer from fewer samples.
   */
  grid?: { first: number; step: number }
  /** signal aborts a selection that takes too long (query timeout). */
  signal?: AbortSignal
  /**
   * deadline (ms since the epoch, this process's clock): past it storage may stop with
   * PG_PROMQL_TIMEOUT. Checked inside long synchronous work too (testing a regex against many values),
   * where no timer can fire to abort a signal.
   */
  deadline?: number
}

/**
 * SeriesSet is the answer to a select, columnar: series i has labels `labels[i]` and the samples
 * `ts[offsets[i]] … ts[offsets[i + 1] - 1]` (ms, strictly ascending) with values `vs[…]` (float64,
 * NaN and ±Inf as stored). Series are sorted by labels; no two have the same labels.
 */
export interface SeriesSet {
  readonly labels: readonly Labels[]
  readonly offsets: Uint32Array
  readonly ts: Float64Array
  readonly vs: Float64Array
  /**
   * hs, when present, holds native histogram samples aligned with `ts`: where `hs[j]` is set, sample j is
   * that histogram (and `vs[j]` is 0). Absent when every sample is a float, the common case.
   */
  readonly hs?: readonly (FloatHistogram | undefined)[]
  /** warnings for the user (a graph node that did not answer, data read from a rollup tier). */
  readonly warnings: readonly string[]
}

/**
 * SeriesVisitor takes one series of a streamed select (`Querier.selectEach`): its labels and samples
 * `ts[0] … ts[n - 1]` (ms, strictly ascending) with values `vs[…]`, and `hs` where a sample is a native
 * histogram (as `SeriesSet.hs`). The arrays are the querier's and valid only during the call.
 */
export type SeriesVisitor = (
  labels: Labels,
  ts: Float64Array,
  vs: Float64Array,
  n: number,
  hs: readonly (FloatHistogram | undefined)[] | undefined
) => void

/** LabelHints restrict a label query to series with samples in [start, end] (ms) and cap its answer. */
export interface LabelHints {
  start?: number
  end?: number
  /** limit: at most this many names or values, sorted (0 or absent: no limit). */
  limit?: number
  signal?: AbortSignal
  /** deadline: as SelectHints' (ms since the epoch). */
  deadline?: number
}

/** MetricMetadata is what `/api/v1/metadata` says of a metric. */
export interface MetricMetadata {
  type: 'counter' | 'gauge' | 'unknown'
  help: string
  unit: string
}

/**
 * Querier reads series by label matchers. The tsdb implements it in process, graph serves it over its
 * RPC, and api fans it out over a graph cluster; the PromQL engine sees only this.
 */
export interface Querier {
  select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet>
  /**
   * selectEach, when a querier has it, reads what `select` would answer (the same series in the same
   * order, the same errors) but hands the series to `visit` one at a time, in columns it reuses: a
   * caller that folds series as they come (an aggregation) never holds the whole answer. As nothing is
   * held, `maxSamples` need not be enforced (the caller counts what it keeps), and with a `grid` hint a
   * series may hold samples no grid time picks (select may thin them away). It resolves to the answer's
   * warnings; an error thrown by `visit` ends it and rejects with that error.
   */
  selectEach?(
    matchers: readonly Matcher[],
    hints: SelectHints,
    visit: SeriesVisitor
  ): Promise<readonly string[]>
  labelNames(matchers: readonly Matcher[], hints: LabelHints): Promise<string[]>
  labelValues(name: string, matchers: readonly Matcher[], hints: LabelHints): Promise<string[]>
  /** metadata of each metric name (all, or the one named), as Prometheus's metadata API. */
  metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>>
  /**
   * release, when a querier has it, hands back an answer of its `select` whose arrays the caller will
   * not read again (nor any view of them): the querier may reuse their memory for a later answer.
   */
  release?(set: SeriesSet): void
}

/** eachSeries hands each series of a columnar answer to `visit`, as `Querier.selectEach` does. */
export function eachSeries(set: SeriesSet, visit: SeriesVisitor): void {
  for (let i = 0; i < set.labels.length; i++) {
    const lo = set.offsets[i]
    const hi = set.offsets[i + 1]
    visit(
      set.labels[i],
      set.ts.subarray(lo, hi),
      set.vs.subarray(lo, hi),
      hi - lo,
      set.hs?.slice(lo, hi)
    )
  }
}

/** compareLabels orders label sets as Prometheus's labels.Compare does. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i].name !== b[i].name) return a[i].name < b[i].name ? -1 : 1
    if (a[i].value !== b[i].value) return a[i].value < b[i].value ? -1 : 1
  }
  return a.length - b.length
}

/**
 * matcherTest compiles a matcher into a test of a label's value (a missing label is ''): a regex of
 * literal alternatives as a set lookup, any other through compileRe2.
 */
export function matcherTest(m: Matcher): (value: string) => boolean {
  switch (m.op) {
    case '=':
      return (v) => v === m.value
    case '!=':
      return (v) => v !== m.value
    case '=~': {
      const set = literalAlternatives(m.value)
      if (set !== null) return (v) => set.has(v)
      const re = compileRe2(m.value, true)
      return (v) => re.test(v)
    }
    case '!~': {
      const set = literalAlternatives(m.value)
      if (set !== null) return (v) => !set.has(v)
      const re = compileRe2(m.value, true)
      return (v) => !re.test(v)
    }
  }
}

/**
 * MemoryQuerier is a Querier over series held in memory: the PromQL test scripts' `load` and unit tests
 * use it. Series with the same labels are one series.
 */
export class MemoryQuerier implements Querier {
  readonly #series = new Map<string, MemorySeries>()
  readonly #metadata = new Map<string, MetricMetadata>()

  /**
   * add appends samples to the series with these labels (sorted here); t in ms, ascending per call.
   * Where `hs[i]` is set, sample i is that native histogram rather than `vs[i]`.
   */
  add(
    labels: Record<string, string> | Labels,
    ts: readonly number[],
    vs: readonly number[],
    hs?: readonly (FloatHistogram | undefined)[]
  ): void {
    const list: Label[] = Array.isArray(labels)
      ? [...(labels as Labels)]
      : Object.entries(labels as Record<string, string>).map(([name, value]) => ({ name, value }))
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const key = JSON.stringify(list.map((l) => [l.name, l.value]))
    let s = this.#series.get(key)
    if (s === undefined) this.#series.set(key, (s = { labels: list, ts: [], vs: [], hs: null }))
    if (hs !== undefined && s.hs === null) s.hs = s.ts.map(() => undefined)
    for (let i = 0; i < ts.length; i++) {
      // Keep timestamps ascending and unique: a later add at the same time replaces the value.
      const h = hs?.[i]
      let at = s.ts.length
      while (at > 0 && s.ts[at - 1] > ts[i]) at--
      if (at > 0 && s.ts[at - 1] === ts[i]) {
        s.vs[at - 1] = h === undefined ? vs[i] : 0
        if (s.hs !== null) s.hs[at - 1] = h
      } else {
        s.ts.splice(at, 0, ts[i])
        s.vs.splice(at, 0, h === undefined ? vs[i] : 0)
        if (s.hs !== null) s.hs.splice(at, 0, h)
      }
    }
  }

  setMetadata(metric: string, m: MetricMetadata): void {
    this.#metadata.set(metric, m)
  }

  clear(): void {
    this.#series.clear()
    this.#metadata.clear()
  }

  select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    const picked = this.#matching(matchers)
    picked.sort((a, b) => compareLabels(a.labels, b.labels))
    // Two passes into typed arrays: values never pass through a JS array, where V8 may rewrite a NaN's
    // payload (the stale marker's).
    const ranges: { s: MemorySeries; lo: number; hi: number }[] = []
    let total = 0
    for (const s of picked) {
      let lo = 0
      while (lo < s.ts.length && s.ts[lo] < hints.start) lo++
      let hi = lo
      while (hi < s.ts.length && s.ts[hi] <= hints.end) hi++
      if (hi === lo) continue
      ranges.push({ s, lo, hi })
      total += hi - lo
    }
    if (hints.maxSamples !== undefined && total > hints.maxSamples) {
      return Promise.reject(tooManySamples(hints.maxSamples))
    }
    const labels: Labels[] = []
    const offsets = new Uint32Array(ranges.length + 1)
    const ts = new Float64Array(total)
    const vs = new Float64Array(total)
    let hs: (FloatHistogram | undefined)[] | null = null
    let w = 0
    for (let r = 0; r < ranges.length; r++) {
      const { s, lo, hi } = ranges[r]
      labels.push(s.labels)
      for (let i = lo; i < hi; i++, w++) {
        ts[w] = s.ts[i]
        vs[w] = s.vs[i]
        const h = s.hs === null ? undefined : s.hs[i]
        if (h !== undefined) {
          hs ??= new Array<FloatHistogram | undefined>(total).fill(undefined)
          hs[w] = h
        }
      }
      offsets[r + 1] = w
    }
    return Promise.resolve({
      labels,
      offsets,
      ts,
      vs,
      ...(hs !== null ? { hs } : {}),
      warnings: [],
    })
  }

  /** selectEach hands select's answer over series by series (Querier.selectEach). */
  async selectEach(
    matchers: readonly Matcher[],
    hints: SelectHints,
    visit: SeriesVisitor
  ): Promise<readonly string[]> {
    const set = await this.select(matchers, hints)
    eachSeries(set, visit)
    return set.warnings
  }

  labelNames(matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    const names = new Set<string>()
    for (const s of this.#inRange(matchers, hints)) for (const l of s.labels) names.add(l.name)
    return Promise.resolve(limited([...names].sort(), hints.limit))
  }

  labelValues(name: string, matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    const values = new Set<string>()
    for (const s of this.#inRange(matchers, hints)) {
      const l = s.labels.find((x) => x.name === name)
      if (l !== undefined && l.value !== '') values.add(l.value)
    }
    return Promise.resolve(limited([...values].sort(), hints.limit))
  }

  metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>> {
    const out = new Map<string, MetricMetadata>()
    for (const [name, m] of [...this.#metadata].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (metric !== undefined && name !== metric) continue
      if (limit !== undefined && limit > 0 && out.size >= limit) break
      out.set(name, m)
    }
    return Promise.resolve(out)
  }

  #matching(matchers: readonly Matcher[]): MemorySeries[] {
    const tests = matchers.map((m) => ({ name: m.name, test: matcherTest(m) }))
    const out = []
    for (const s of this.#series.values()) {
      let ok = true
      for (const { name, test } of tests) {
        const l = s.labels.find((x) => x.name === name)
        if (!test(l?.value ?? '')) {
          ok = false
          break
        }
      }
      if (ok) out.push(s)
    }
    return out
  }

  #inRange(matchers: readonly Matcher[], hints: LabelHints): MemorySeries[] {
    const start = hints.start ?? -Infinity
    const end = hints.end ?? Infinity
    return this.#matching(matchers).filter((s) => s.ts.some((t) => t >= start && t <= end))
  }
}

interface MemorySeries {
  labels: Labels
  ts: number[]
  vs: number[]
  /** histogram samples aligned with ts, null while the series has none. */
  hs: (FloatHistogram | undefined)[] | null
}

function limited(list: string[], limit: number | undefined): string[] {
  return limit !== undefined && limit > 0 && list.length > limit ? list.slice(0, limit) : list
}

/** stopCheck is a select's check of its hints' signal and deadline, to call between pieces of work. */
export function stopCheck(hints: { signal?: AbortSignal; deadline?: number }): () => void {
  const { signal, deadline } = hints
  return () => {
    signal?.throwIfAborted()
    if (deadline !== undefined && Date.now() > deadline) {
      throw new PeregrineError('PG_PROMQL_TIMEOUT', 'query timed out in query preparation', {
        status: 503,
      })
    }
  }
}

/** tooManySamples is the error a select throws past `hints.maxSamples`. */
export function tooManySamples(max: number): PeregrineError {
  return new PeregrineError(
    'PG_PROMQL_TOO_MANY_SAMPLES',
    `query processing would load too many samples into memory in query execution (more than ${max}, query.max-samples)`,
    { status: 422 }
  )
}
