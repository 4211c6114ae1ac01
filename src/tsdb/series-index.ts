// The series index: endpoints, counters per endpoint, postings by metric and tag, label matchers.
import { counterOf, parseTags } from '../core/model.js'
import type { MemSeries } from './series.js'

/** MatchOp is a Prometheus label matcher operator. */
export type MatchOp = '=' | '!=' | '=~' | '!~'

/**
 * Matcher selects series by a label: `__name__` is the metric, `endpoint` the endpoint, any other name a
 * tag. A missing label matches as the empty string, as in Prometheus. Regexes are anchored.
 */
export interface Matcher {
  name: string
  op: MatchOp
  value: string
}

/** CounterInfo is one counter of an endpoint, as falcon's `endpoint_counter` rows. */
export interface CounterInfo {
  counter: string
  metric: string
  tags: string
  dstype: string
  step: number
}

/**
 * SeriesIndex maps names to series. Every series is listed under its endpoint, its metric and each `k=v`
 * tag; lookups intersect the smallest posting set with the other matchers.
 */
export class SeriesIndex {
  readonly byUid = new Map<string, MemSeries>()
  readonly #byKey = new Map<string, MemSeries[]>()
  readonly #byEndpoint = new Map<string, Set<MemSeries>>()
  readonly #byMetric = new Map<string, Set<MemSeries>>()
  readonly #byTag = new Map<string, Set<MemSeries>>()

  get size(): number {
    return this.byUid.size
  }

  add(s: MemSeries): void {
    this.byUid.set(s.uid, s)
    const variants = this.#byKey.get(s.key)
    if (variants === undefined) this.#byKey.set(s.key, [s])
    else variants.push(s)
    addPosting(this.#byEndpoint, s.endpoint, s)
    addPosting(this.#byMetric, s.metric, s)
    for (const [k, v] of Object.entries(parseTags(s.tags))) addPosting(this.#byTag, k + '=' + v, s)
  }

  remove(s: MemSeries): void {
    if (this.byUid.get(s.uid) !== s) return
    this.byUid.delete(s.uid)
    const variants = this.#byKey.get(s.key)
    if (variants !== undefined) {
      const rest = variants.filter((x) => x !== s)
      if (rest.length === 0) this.#byKey.delete(s.key)
      else this.#byKey.set(s.key, rest)
    }
    removePosting(this.#byEndpoint, s.endpoint, s)
    removePosting(this.#byMetric, s.metric, s)
    for (const [k, v] of Object.entries(parseTags(s.tags)))
      removePosting(this.#byTag, k + '=' + v, s)
  }

  /**
   * byKey returns the series of falcon key `endpoint/counter`. When dstype or step changed, several exist
   * (falcon keeps one RRD file each); the one written last is returned, as falcon's index points to it.
   */
  byKey(key: string): MemSeries | undefined {
    const variants = this.#byKey.get(key)
    if (variants === undefined) return undefined
    let best = variants[0]
    for (const v of variants) if (v.maxT > best.maxT) best = v
    return best
  }

  /** variants returns every series stored under a falcon key. */
  variants(key: string): readonly MemSeries[] {
    return this.#byKey.get(key) ?? []
  }

  /**
   * endpoints returns endpoint names, sorted, that match every term: each term is a regex (falcon's api uses
   * MySQL REGEXP) unless it is not a valid one, then a substring. `tags` (`k=v`) restricts to endpoints
   * that have a series with all of them.
   */
  endpoints(
    terms: readonly string[] = [],
    tags: readonly string[] = [],
    limit = Infinity
  ): string[] {
    const tests = terms.filter((t) => t !== '').map(textTest)
    let names: Iterable<string> = this.#byEndpoint.keys()
    if (tags.length > 0) {
      const withTags = new Set<string>()
      for (const s of this.#intersectTags(tags)) withTags.add(s.endpoint)
      names = withTags
    }
    const out: string[] = []
    for (const name of names) if (tests.every((t) => t(name))) out.push(name)
    out.sort()
    return out.length > limit ? out.slice(0, limit) : out
  }

  /**
   * counters returns the counters of an endpoint whose `metric/tags` string passes every term (regex or
   * substring as in `endpoints`; a term starting with `!` excludes, as falcon's metricQuery does).
   */
  counters(endpoint: string, terms: readonly string[] = [], limit = Infinity): CounterInfo[] {
    const set = this.#byEndpoint.get(endpoint)
    if (set === undefined) return []
    const tests = terms
      .filter((t) => t !== '' && t !== '!')
      .map((t) => (t.startsWith('!') ? negate(textTest(t.slice(1))) : textTest(t)))
    const seen = new Map<string, CounterInfo>()
    for (const s of set) {
      const counter = counterOf(s.metric, s.tags)
      if (!tests.every((t) => t(counter))) continue
      if (seen.has(counter) && this.byKey(s.key) !== s) continue
      seen.set(counter, { counter, metric: s.metric, tags: s.tags, dstype: s.dstype, step: s.step })
    }
    const out = [...seen.values()].sort((a, b) =>
      a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : 0
    )
    return out.length > limit ? out.slice(0, limit) : out
  }

  /** select returns the series matching all matchers (at least one must not match the empty string). */
  select(matchers: readonly Matcher[]): MemSeries[] {
    const tests = matchers.map(compileMatcher)
    // Start from the smallest exact posting set; fall back to every series.
    let base: Iterable<MemSeries> | undefined
    let baseSize = Infinity
    for (const m of matchers) {
      if (m.op !== '=' || m.value === '') continue
      const set =
        m.name === '__name__'
          ? this.#byMetric.get(m.value)
          : m.name === 'endpoint'
            ? this.#byEndpoint.get(m.value)
            : this.#byTag.get(m.name + '=' + m.value)
      const size = set?.size ?? 0
      if (size < baseSize) {
        base = set ?? []
        baseSize = size
      }
    }
    const out: MemSeries[] = []
    for (const s of base ?? this.byUid.values()) {
      let tags: Record<string, string> | undefined
      let ok = true
      for (let i = 0; i < matchers.length && ok; i++) {
        const name = matchers[i].name
        let value: string
        if (name === '__name__') value = s.metric
        else if (name === 'endpoint') value = s.endpoint
        else {
          tags ??= parseTags(s.tags)
          value = tags[name] ?? ''
        }
        ok = tests[i](value)
      }
      if (ok) out.push(s)
    }
    return out
  }

  /** labelValues returns the sorted values a label takes (`__name__`, `endpoint` or a tag key). */
  labelValues(name: string): string[] {
    if (name === '__name__') return [...this.#byMetric.keys()].sort()
    if (name === 'endpoint') return [...this.#byEndpoint.keys()].sort()
    const out = new Set<string>()
    const prefix = name + '='
    for (const key of this.#byTag.keys())
      if (key.startsWith(prefix)) out.add(key.slice(prefix.length))
    return [...out].sort()
  }

  #intersectTags(tags: readonly string[]): MemSeries[] {
    const sets = tags.map((t) => this.#byTag.get(t.replaceAll(' ', '')) ?? new Set<MemSeries>())
    sets.sort((a, b) => a.size - b.size)
    const out: MemSeries[] = []
    for (const s of sets[0]) if (sets.every((set) => set.has(s))) out.push(s)
    return out
  }
}

function addPosting(map: Map<string, Set<MemSeries>>, key: string, s: MemSeries): void {
  const set = map.get(key)
  if (set === undefined) map.set(key, new Set([s]))
  else set.add(s)
}

function removePosting(map: Map<string, Set<MemSeries>>, key: string, s: MemSeries): void {
  const set = map.get(key)
  if (set === undefined) return
  set.delete(s)
  if (set.size === 0) map.delete(key)
}

function textTest(term: string): (s: string) => boolean {
  try {
    const re = new RegExp(term)
    return (s) => re.test(s)
  } catch {
    return (s) => s.includes(term)
  }
}

function negate(test: (s: string) => boolean): (s: string) => boolean {
  return (s) => !test(s)
}

function compileMatcher(m: Matcher): (v: string) => boolean {
  switch (m.op) {
    case '=':
      return (v) => v === m.value
    case '!=':
      return (v) => v !== m.value
    case '=~': {
      const re = new RegExp('^(?:' + m.value + ')$')
      return (v) => re.test(v)
    }
    case '!~': {
      const re = new RegExp('^(?:' + m.value + ')$')
      return (v) => !re.test(v)
    }
  }
}
