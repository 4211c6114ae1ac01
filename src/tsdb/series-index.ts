// The series index: endpoints, counters per endpoint, postings by metric and tag, label matchers.
import { counterOf } from '../core/model.js'
import { storedTagsOf, unescapeTagValue } from '../core/prom-series.js'
import { compileRe2 } from '../core/re2.js'
import { escapeName } from '../core/prom-names.js'
import { type Label, type Labels, matcherTest } from './querier.js'
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
  /** Tag postings: tag name → value → series. */
  readonly #byTag = new Map<string, Map<string, Set<MemSeries>>>()
  /** Escaped aliases (`cpu_idle`) of metric and tag names that differ from them → the real names. */
  readonly #metricAlias = new Map<string, Set<string>>()
  readonly #tagAlias = new Map<string, Set<string>>()
  /** Shared Label objects by `name=value`, for the labels kept on series. */
  readonly #labelObjects = new Map<string, Label>()

  get size(): number {
    return this.byUid.size
  }

  add(s: MemSeries): void {
    this.byUid.set(s.uid, s)
    const variants = this.#byKey.get(s.key)
    if (variants === undefined) this.#byKey.set(s.key, [s])
    else variants.push(s)
    addPosting(this.#byEndpoint, s.endpoint, s)
    if (addPosting(this.#byMetric, s.metric, s)) addAlias(this.#metricAlias, s.metric)
    for (const [k, v] of storedTagsOf(s.tags)) {
      let values = this.#byTag.get(k)
      if (values === undefined) {
        this.#byTag.set(k, (values = new Map<string, Set<MemSeries>>()))
        addAlias(this.#tagAlias, k)
      }
      addPosting(values, v, s)
    }
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
    if (removePosting(this.#byEndpoint, s.endpoint, s)) this.#forgetLabel('endpoint', s.endpoint)
    if (removePosting(this.#byMetric, s.metric, s)) {
      removeAlias(this.#metricAlias, s.metric)
      this.#forgetLabel('__name__', s.metric)
    }
    for (const [k, v] of storedTagsOf(s.tags)) {
      const values = this.#byTag.get(k)
      if (values === undefined) continue
      if (removePosting(values, v, s)) this.#forgetLabel(k, v)
      if (values.size === 0) {
        this.#byTag.delete(k)
        removeAlias(this.#tagAlias, k)
      }
    }
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
    const tests = matchers.map(matcherTest)
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
            : this.#byTag.get(m.name)?.get(m.value)
      const size = set?.size ?? 0
      if (size < baseSize) {
        base = set ?? []
        baseSize = size
      }
    }
    const out: MemSeries[] = []
    for (const s of base ?? this.byUid.values()) {
      let ok = true
      for (let i = 0; i < matchers.length && ok; i++) {
        const name = matchers[i].name
        let value: string
        if (name === '__name__') value = s.metric
        else if (name === 'endpoint') value = s.endpoint
        else {
          value = tagValue(s.tags, name)
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
    return [...(this.#byTag.get(name)?.keys() ?? [])].sort()
  }

  /**
   * labels returns a series' Prometheus labels, sorted (contract.md), made on the first call and kept on
   * the series: an array of shared Label objects, one per distinct name and value (about 50 bytes a
   * series, where labels made per select cost every query about 360 bytes a series of garbage).
   */
  labels(s: MemSeries): Labels {
    return (s.promLabels ??= labelsOf(s, this.#labelOf))
  }

  // The one Label object of a name and value while a series has it (a name holds no `=`).
  readonly #labelOf = (name: string, value: string): Label => {
    const key = `${name}=${value}`
    let l = this.#labelObjects.get(key)
    if (l === undefined) this.#labelObjects.set(key, (l = Object.freeze({ name, value })))
    return l
  }

  // Forgets the shared Label of a name and value that no series has any longer.
  #forgetLabel(name: string, value: string): void {
    this.#labelObjects.delete(`${name}=${value}`)
  }

  /** metricPostings maps each metric name to its series (read only). */
  get metricPostings(): ReadonlyMap<string, ReadonlySet<MemSeries>> {
    return this.#byMetric
  }

  /** endpointPostings maps each endpoint to its series (read only). */
  get endpointPostings(): ReadonlyMap<string, ReadonlySet<MemSeries>> {
    return this.#byEndpoint
  }

  /** tagPostings maps each value of tag `name` to its series (read only), or undefined. */
  tagPostings(name: string): ReadonlyMap<string, ReadonlySet<MemSeries>> | undefined {
    return this.#byTag.get(name)
  }

  /** tagNames lists the tag names in use, unsorted. */
  tagNames(): IterableIterator<string> {
    return this.#byTag.keys()
  }

  /**
   * tagNamesFor returns the tag names a matcher's label name refers to: itself, when it is a tag, and
   * every tag whose escaped form it is (`iface_name` → `iface.name`). Reserved names refer to no tag.
   */
  tagNamesFor(name: string): string[] {
    const out: string[] = []
    if (RESERVED.has(name)) return out
    if (this.#byTag.has(name)) out.push(name)
    for (const real of this.#tagAlias.get(name) ?? []) out.push(real)
    return out
  }

  /** metricsFor returns the metrics named `name` or whose escaped form is `name`. */
  metricsFor(name: string): string[] {
    const out: string[] = []
    if (this.#byMetric.has(name)) out.push(name)
    for (const real of this.#metricAlias.get(name) ?? []) out.push(real)
    return out
  }

  #intersectTags(tags: readonly string[]): MemSeries[] {
    const sets = tags.map((t) => {
      const kv = t.replaceAll(' ', '')
      const eq = kv.indexOf('=')
      const set = eq < 0 ? undefined : this.#byTag.get(kv.slice(0, eq))?.get(kv.slice(eq + 1))
      return set ?? new Set<MemSeries>()
    })
    sets.sort((a, b) => a.size - b.size)
    const out: MemSeries[] = []
    for (const s of sets[0]) if (sets.every((set) => set.has(s))) out.push(s)
    return out
  }
}

// Adds s to the posting of key; true when the key is new.
function addPosting(map: Map<string, Set<MemSeries>>, key: string, s: MemSeries): boolean {
  const set = map.get(key)
  if (set === undefined) {
    map.set(key, new Set([s]))
    return true
  }
  set.add(s)
  return false
}

// Removes s from the posting of key; true when the key is gone.
function removePosting(map: Map<string, Set<MemSeries>>, key: string, s: MemSeries): boolean {
  const set = map.get(key)
  if (set === undefined) return false
  set.delete(s)
  if (set.size > 0) return false
  map.delete(key)
  return true
}

function addAlias(aliases: Map<string, Set<string>>, name: string): void {
  const alias = escapeName(name)
  if (alias === name) return
  const set = aliases.get(alias)
  if (set === undefined) aliases.set(alias, new Set([name]))
  else set.add(name)
}

function removeAlias(aliases: Map<string, Set<string>>, name: string): void {
  const alias = escapeName(name)
  const set = aliases.get(alias)
  if (set === undefined) return
  set.delete(name)
  if (set.size === 0) aliases.delete(alias)
}

/** textTest is a search term as falcon's api takes it: an RE2 regex, or a substring when it is not one. */
export function textTest(term: string): (s: string) => boolean {
  try {
    // RE2's syntax in linear time, as falcon's Go: a search term cannot stall the process.
    const re = compileRe2(term, false)
    return (s) => re.test(s)
  } catch {
    return (s) => s.includes(term)
  }
}

function negate(test: (s: string) => boolean): (s: string) => boolean {
  return (s) => !test(s)
}

/** RESERVED label names: a tag of one of these names is not shown as a label (the reserved one wins). */
const RESERVED = new Set(['__name__', 'endpoint', '__type__', '__step__'])

// A series' labels: __name__, endpoint, and its tags but those with a reserved name or an empty value.
function labelsOf(s: MemSeries, labelOf: (name: string, value: string) => Label): Labels {
  const out: Label[] = [labelOf('__name__', s.metric), labelOf('endpoint', s.endpoint)]
  for (const [name, value] of storedTagsOf(s.tags)) {
    if (value !== '' && !RESERVED.has(name)) out.push(labelOf(name, value))
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return out
}

/**
 * tagValue is the value of tag `name` in canonical tags `k1=v1,k2=v2` ('' when absent), read in place
 * (names hold no `=` or `,`, values no `,`) and unescaped (a Prometheus value, see `escapeTagValue`).
 */
export function tagValue(tags: string, name: string): string {
  let at = 0
  for (;;) {
    const i = tags.indexOf(name + '=', at)
    if (i < 0) return ''
    if (i === 0 || tags.charCodeAt(i - 1) === 0x2c) {
      const from = i + name.length + 1
      const end = tags.indexOf(',', from)
      return unescapeTagValue(end < 0 ? tags.slice(from) : tags.slice(from, end))
    }
    at = i + 1
  }
}
