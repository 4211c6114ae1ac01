// judge's history: the newest points of every series it has rules for, in fixed-size rings of typed
// arrays (falcon keeps a linked list of at most `remain` JudgeItems per series, keyed by md5(PK)).
import { createHash } from 'node:crypto'
import { formatTags, seriesKeyOf } from '../core/index.js'
import type { CompiledRule } from './rules.js'

/** RuleState is what falcon's LastEvents holds for one event id: the last event sent. */
export interface RuleState {
  status: 'PROBLEM' | 'OK'
  currentStep: number
  eventTime: number
}

/**
 * Series is one endpoint/metric/tags: a ring of its newest points (newest at `head`), the rules that
 * apply to it and, aligned with them, their last events and pending (`for`) starts.
 */
export class Series {
  readonly endpoint: string
  readonly metric: string
  readonly tags: Readonly<Record<string, string>>
  /** md5 of falcon's PK (`endpoint/metric[/k=v,…]`): the second half of the event id. */
  readonly pkHash: string
  #ts: Float64Array
  #vs: Float64Array
  #head = -1
  size = 0
  /** gauge: the newest point's judgeType starts with G or g (falcon reads the front item's type). */
  gauge = true
  /** rulesVersion: the rule index version `rules` was matched against. */
  rulesVersion = -1
  rules: readonly CompiledRule[] = []
  /** states[i]: the last event of rules[i] on this series (falcon's LastEvents), if any. */
  states: (RuleState | undefined)[] = []
  /** pendingSince[i]: eventTime of the first point of the current run of triggers of rules[i] with a `for`. */
  pendingSince: number[] = []
  /** parked: last events of rules that no longer apply, by rule key, kept for when they return. */
  parked: Map<string, RuleState> | undefined = undefined

  constructor(
    endpoint: string,
    metric: string,
    tags: Readonly<Record<string, string>>,
    cap: number
  ) {
    this.endpoint = endpoint
    this.metric = metric
    this.tags = sortedCopy(tags)
    this.pkHash = createHash('md5')
      .update(seriesKeyOf(endpoint, metric, formatTags(tags)))
      .digest('hex')
    this.#ts = new Float64Array(cap)
    this.#vs = new Float64Array(cap)
  }

  get capacity(): number {
    return this.#ts.length
  }

  /** newestTime: the newest point's timestamp, 0 when empty. */
  get newestTime(): number {
    return this.size === 0 ? 0 : this.#ts[this.#head]
  }

  /**
   * push adds a point as falcon's PushFrontAndMaintain does: a timestamp not after the newest (or
   * ≤ 0) is refused (returns false: the point is not judged). The ring grows to `cap` when rules now
   * need more points than it holds.
   */
  push(timestamp: number, value: number, gauge: boolean, cap: number): boolean {
    if (timestamp <= 0 || (this.size > 0 && timestamp <= this.#ts[this.#head])) return false
    if (cap !== this.#ts.length) this.#resize(cap)
    const n = this.#ts.length
    this.#head = this.#head + 1 === n ? 0 : this.#head + 1
    this.#ts[this.#head] = timestamp
    this.#vs[this.#head] = value
    if (this.size < n) this.size++
    this.gauge = gauge
    return true
  }

  /**
   * load replaces the points with `ts`/`vs` (oldest first, as a snapshot holds them), keeping at most
   * the ring's capacity of the newest; the ring grows to the rules' needs on the next push.
   */
  load(ts: readonly number[], vs: readonly number[], gauge: boolean): void {
    const n = Math.min(ts.length, this.#ts.length)
    const from = ts.length - n
    for (let i = 0; i < n; i++) {
      this.#ts[i] = ts[from + i]
      this.#vs[i] = vs[from + i]
    }
    this.size = n
    this.#head = n - 1
    this.gauge = gauge
  }

  /**
   * lastSeen is the newest of its newest point's time and its last events' times (Unix seconds): a
   * series restored with last events but no points yet is not silent from the start.
   */
  get lastSeen(): number {
    let t = this.newestTime
    for (const st of this.states) if (st !== undefined && st.eventTime > t) t = st.eventTime
    if (this.parked !== undefined)
      for (const st of this.parked.values()) if (st.eventTime > t) t = st.eventTime
    return t
  }

  /** t(i), v(i): timestamp and value of the i-th newest point (0 = newest); i < size. */
  t(i: number): number {
    const k = this.#head - i
    return this.#ts[k < 0 ? k + this.#ts.length : k]
  }

  v(i: number): number {
    const k = this.#head - i
    return this.#vs[k < 0 ? k + this.#vs.length : k]
  }

  #resize(cap: number): void {
    const keep = Math.min(this.size, cap)
    const ts = new Float64Array(cap)
    const vs = new Float64Array(cap)
    // Oldest kept first, so the newest ends at keep-1.
    for (let i = 0; i < keep; i++) {
      ts[keep - 1 - i] = this.t(i)
      vs[keep - 1 - i] = this.v(i)
    }
    this.#ts = ts
    this.#vs = vs
    this.size = keep
    this.#head = keep === 0 ? -1 : keep - 1
  }
}

/**
 * sortedCopy copies tags in key order: they go out as an event's pushedTags, which falcon's encoding/json
 * writes with sorted keys, and the caller's object (an in-process transfer's) is not kept.
 */
function sortedCopy(tags: Readonly<Record<string, string>>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  for (const k of Object.keys(tags).sort()) out[k] = tags[k]
  return out
}

/**
 * SeriesStore finds a point's series by endpoint, metric and tags without building a key string per
 * point: nested maps, the innermost keyed by the sorted tags (`''` for none).
 */
export class SeriesStore {
  readonly #byEndpoint = new Map<string, Map<string, Map<string, Series>>>()
  #count = 0

  get count(): number {
    return this.#count
  }

  /** get returns the series, creating it (with `cap` slots) if `create`. */
  get(
    endpoint: string,
    metric: string,
    tags: Readonly<Record<string, string>> | null | undefined,
    cap: number,
    create: boolean
  ): Series | undefined {
    let byMetric = this.#byEndpoint.get(endpoint)
    if (byMetric === undefined) {
      if (!create) return undefined
      byMetric = new Map()
      this.#byEndpoint.set(endpoint, byMetric)
    }
    let byTags = byMetric.get(metric)
    if (byTags === undefined) {
      if (!create) return undefined
      byTags = new Map()
      byMetric.set(metric, byTags)
    }
    const key = tagsKeyOf(tags)
    let s = byTags.get(key)
    if (s === undefined && create) {
      s = new Series(endpoint, metric, tags === null || tags === undefined ? {} : tags, cap)
      byTags.set(key, s)
      this.#count++
    }
    return s
  }

  /** seriesOf lists the series of an endpoint and metric (judge's /history route). */
  seriesOf(endpoint: string, metric: string): Series[] {
    return [...(this.#byEndpoint.get(endpoint)?.get(metric)?.values() ?? [])]
  }

  /**
   * purge drops series whose newest point and last events are all older than `before` (falcon: points
   * 7 days old, every 5 h), with their last events: the next snapshot leaves them out.
   */
  purge(before: number): number {
    let dropped = 0
    for (const [endpoint, byMetric] of this.#byEndpoint) {
      for (const [metric, byTags] of byMetric) {
        for (const [key, s] of byTags) {
          if (s.lastSeen < before) {
            byTags.delete(key)
            dropped++
          }
        }
        if (byTags.size === 0) byMetric.delete(metric)
      }
      if (byMetric.size === 0) this.#byEndpoint.delete(endpoint)
    }
    this.#count -= dropped
    return dropped
  }

  *all(): IterableIterator<Series> {
    for (const byMetric of this.#byEndpoint.values())
      for (const byTags of byMetric.values()) yield* byTags.values()
  }
}

/** tagsKeyOf: falcon's sorted `k=v,k=v`; the common no-tag and one-tag cases without sorting. */
export function tagsKeyOf(tags: Readonly<Record<string, string>> | null | undefined): string {
  if (tags === null || tags === undefined) return ''
  let only: string | undefined
  let n = 0
  for (const k in tags) {
    if (++n > 1) return formatTags(tags)
    only = k
  }
  return only === undefined ? '' : `${only}=${tags[only]}`
}
