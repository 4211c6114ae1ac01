// The Open-Falcon data model (common/model/metric.go): MetricValue, counter types, tags and series keys.
import { createHash } from 'node:crypto'

/** CounterType is Open-Falcon's `counterType`: GAUGE stores the value, COUNTER and DERIVE a per-second rate. */
export type CounterType = 'GAUGE' | 'COUNTER' | 'DERIVE'

/** COUNTER_TYPES lists the accepted counter types; the check is case-sensitive, as transfer's is. */
export const COUNTER_TYPES: readonly CounterType[] = ['GAUGE', 'COUNTER', 'DERIVE']

/**
 * MetricValue is one point as agents and scripts push it (JSON keys as Open-Falcon's), after validation:
 * `value` is a number, `timestamp` is unix seconds, `tags` the raw `k1=v1,k2=v2` string.
 */
export interface MetricValue {
  endpoint: string
  metric: string
  value: number
  step: number
  counterType: CounterType
  tags: string
  timestamp: number
}

/** Tags maps tag key to value; built by `parseTags`, rendered in key order by `formatTags`. */
export type Tags = Record<string, string>

/**
 * parseTags turns `k1=v1, k2=v2` into a map the way Open-Falcon's `DictedTagstring` does: every space is
 * removed, items are split on `,`, each at its first `=`; an item without `=` is dropped silently.
 */
export function parseTags(raw: string): Tags {
  // No prototype: a tag named __proto__ or constructor is data like any other. Built as a plain
  // object and then given none: Object.create(null) makes a hash-table object, ~180 bytes more for
  // the few tags of a series, which transfer keeps for every series.
  const tags: Tags = {}
  if (raw !== '') {
    const s = raw.includes(' ') ? raw.replaceAll(' ', '') : raw
    for (const item of s.split(',')) {
      const eq = item.indexOf('=')
      if (eq < 0) continue
      const key = item.slice(0, eq)
      const value = item.slice(eq + 1)
      // The one key an assignment would not make a property of (it sets the prototype).
      if (key === '__proto__') {
        Object.defineProperty(tags, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } else tags[key] = value
    }
  }
  return Object.setPrototypeOf(tags, null) as Tags
}

/** formatTags renders tags as `k1=v1,k2=v2` with keys in ascending order (falcon's `SortedTags`). */
export function formatTags(tags: Tags): string {
  const keys = Object.keys(tags)
  if (keys.length === 0) return ''
  keys.sort(compareStrings)
  // join makes one flat string: built with +, it would be a tree of pieces, several times the size,
  // kept for as long as the series is.
  const parts: string[] = new Array<string>(keys.length)
  for (let i = 0; i < keys.length; i++) parts[i] = keys[i] + '=' + tags[keys[i]]
  return parts.join(',')
}

/** normalizeTags returns the canonical sorted form of a raw tags string. */
export function normalizeTags(raw: string): string {
  return raw === '' ? '' : formatTags(parseTags(raw))
}

/** counterOf returns falcon's counter: `metric`, or `metric/k1=v1,k2=v2` with sorted tags. */
export function counterOf(metric: string, sortedTags: string): string {
  return sortedTags === '' ? metric : metric + '/' + sortedTags
}

/**
 * seriesKeyOf returns falcon's primary key `endpoint/metric[/sortedtags]` (common/utils `PK`), the string
 * that transfer, graph and api hash to find a series' graph node and that graph stores it under: the one
 * key function, so that a series is written and read on the same node. `sortedTags` must come from
 * `formatTags` (or `normalizeTags`); tags from anywhere else go through `seriesKeyOfCounter`.
 */
export function seriesKeyOf(endpoint: string, metric: string, sortedTags: string): string {
  // One flat string (see formatTags): the key is kept per series.
  return sortedTags === '' ? [endpoint, metric].join('/') : [endpoint, metric, sortedTags].join('/')
}

/**
 * seriesKeyOfCounter is `seriesKeyOf` for a falcon counter `metric[/k=v,...]` as a client sends it, in
 * any tag order: `m/b=2,a=1` and `m/a=1,b=2` name one series, so both give `endpoint/m/a=1,b=2`. A
 * counter whose tags are already sorted gives the string falcon's api hashes (`endpoint/counter`).
 */
export function seriesKeyOfCounter(endpoint: string, counter: string): string {
  const { metric, tags } = splitCounter(counter)
  return seriesKeyOf(endpoint, metric, tags)
}

/** splitCounter splits a falcon counter `metric/k=v,...` into metric and its sorted tags string. */
export function splitCounter(counter: string): { metric: string; tags: string } {
  // Tag values may contain '/' (mount=/data), so the split is at the first '/', when what follows is tags.
  const slash = counter.indexOf('/')
  if (slash < 0) return { metric: counter, tags: '' }
  const tail = counter.slice(slash + 1)
  if (!tail.includes('=')) return { metric: counter, tags: '' }
  return { metric: counter.slice(0, slash), tags: normalizeTags(tail) }
}

// Bytewise order for ASCII, which is what falcon's Go sort.Strings gives for the tag keys seen in practice.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * endpointId is an endpoint's id, the same on every graph node and across restarts: the first 48 bits
 * of md5(endpoint). falcon numbers endpoints in MySQL; the dashboard only passes the ids back.
 */
export function endpointId(endpoint: string): number {
  let id = ENDPOINT_IDS.get(endpoint)
  if (id === undefined) {
    id = parseInt(createHash('md5').update(endpoint).digest('hex').slice(0, 12), 16)
    ENDPOINT_IDS.set(endpoint, id)
  }
  return id
}

// Endpoint names are few next to series; their ids are worth keeping.
const ENDPOINT_IDS = new Map<string, number>()
