// How a Prometheus series (a label set) is kept as a falcon series (endpoint, metric, tags), so that
// what Prometheus writes and what falcon agents push live side by side and read back both ways.
import { MAX_ENDPOINT_CHARS, MAX_METRIC_TAGS_BYTES } from './validate.js'

/**
 * PromSeries is a Prometheus series as Peregrine stores it: `metric` is `__name__`, `endpoint` the
 * host it is about (see `promSeriesOf`), `tags` the other labels in falcon's sorted `k=v,…` form with
 * values escaped by `escapeTagValue`, and `labels` those labels unescaped, for judge.
 */
export interface PromSeries {
  endpoint: string
  metric: string
  tags: string
  labels: Record<string, string>
}

// Classic Prometheus label names, and names with dots as falcon's tags have. A name may not start
// with `__`: Prometheus reserves those, and Peregrine's `__type__` and `__step__` select stored variants.
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_.]*$/
// Metric names as Prometheus's classic ones, plus the dots and dashes of falcon's metric names.
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:.-]*$/

/**
 * escapeTagValue makes a label value safe as a falcon tag value, which cannot hold `,` (it separates
 * tags) or a space (falcon removes them). A value holding either is stored as a space (which no falcon
 * tag value has) followed by the value with `%`, `,` and space percent-encoded; any other value as is.
 * `unescapeTagValue` reverses it.
 */
export function escapeTagValue(v: string): string {
  if (!v.includes(',') && !v.includes(' ')) return v
  return ' ' + v.replaceAll('%', '%25').replaceAll(',', '%2C').replaceAll(' ', '%20')
}

/** unescapeTagValue returns the label value a stored tag value stands for. */
export function unescapeTagValue(v: string): string {
  if (v.charCodeAt(0) !== 0x20) return v
  return v.slice(1).replaceAll('%20', ' ').replaceAll('%2C', ',').replaceAll('%25', '%')
}

/**
 * storedTagsOf splits stored canonical tags `k1=v1,k2=v2` into [name, value] pairs, values unescaped.
 * Unlike falcon's `parseTags` it keeps spaces: stored tags have none but in escaped values.
 */
export function storedTagsOf(tags: string): [string, string][] {
  const out: [string, string][] = []
  if (tags === '') return out
  let at = 0
  while (at <= tags.length) {
    let end = tags.indexOf(',', at)
    if (end < 0) end = tags.length
    const eq = tags.indexOf('=', at)
    if (eq >= 0 && eq < end)
      out.push([tags.slice(at, eq), unescapeTagValue(tags.slice(eq + 1, end))])
    at = end + 1
  }
  return out
}

// The host of a Prometheus `instance`: `host:port` → host, `[v6]:port` → v6, anything else as is.
function hostOf(instance: string): string {
  if (instance.startsWith('[')) {
    const close = instance.indexOf(']')
    if (close > 1) return instance.slice(1, close)
  }
  const colon = instance.lastIndexOf(':')
  if (colon > 0 && instance.indexOf(':') === colon && /^\d+$/.test(instance.slice(colon + 1)))
    return instance.slice(0, colon)
  return instance
}

// Falcon's rule for endpoints: no quotes, `>` or control characters, at most 255 characters.
function validEndpoint(s: string): boolean {
  if (s === '' || s.length > MAX_ENDPOINT_CHARS) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x27 || c === 0x3e) return false
  }
  return true
}

/** DEFAULT_PROM_ENDPOINT is the endpoint of a series with no `endpoint`, `instance` or `job` label. */
export const DEFAULT_PROM_ENDPOINT = 'prometheus'

/**
 * promSeriesOf maps a Prometheus label set (names at even indices, values at odd, in the order sent)
 * to the falcon series it is stored as, or returns why it cannot be: no `__name__`, a name or label
 * name Peregrine cannot keep, a label named twice, labels not sorted by name (remote write requires
 * sorted labels), or more than falcon's 510 bytes of metric and tags.
 *
 * The endpoint is the `endpoint` label if there is one (then not also a tag), else the host of
 * `instance` (`host1:9100` → `host1`), else `job`, else `prometheus`; every label but `__name__` and
 * `endpoint` is a tag, so `instance` and `job` stay as they were. Labels with an empty value are
 * absent, as in Prometheus.
 */
export function promSeriesOf(pairs: readonly string[]): PromSeries | string {
  let metric = ''
  let endpointLabel = ''
  let instance = ''
  let job = ''
  let tags = ''
  const labels: Record<string, string> = Object.create(null) as Record<string, string>
  let prev = ''
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]
    const value = pairs[i + 1]
    if (i > 0) {
      if (name === prev) return `label ${JSON.stringify(name)}: named twice`
      if (name < prev) {
        return `labels: not sorted by name (${JSON.stringify(name)} after ${JSON.stringify(prev)}); remote write requires sorted labels`
      }
    }
    prev = name
    if (name === '__name__') {
      metric = value
      continue
    }
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      return `label ${JSON.stringify(name.slice(0, 64))}: not a label name Peregrine keeps ([a-zA-Z_][a-zA-Z0-9_.]*, not starting with __)`
    }
    if (value === '') continue
    if (name === 'endpoint') {
      endpointLabel = value
      continue
    }
    if (name === 'instance') instance = value
    else if (name === 'job') job = value
    labels[name] = value
    tags += (tags === '' ? '' : ',') + name + '=' + escapeTagValue(value)
  }
  if (metric === '') return 'series without __name__'
  if (!METRIC_NAME.test(metric)) {
    return `__name__ ${JSON.stringify(metric.slice(0, 64))}: not a metric name Peregrine keeps ([a-zA-Z_:][a-zA-Z0-9_:.-]*)`
  }
  let endpoint: string
  if (endpointLabel !== '') {
    if (!validEndpoint(endpointLabel)) {
      return `label endpoint ${JSON.stringify(endpointLabel.slice(0, 64))}: not a falcon endpoint (1 to ${MAX_ENDPOINT_CHARS} characters, no quotes, ">" or control characters)`
    }
    endpoint = endpointLabel
  } else {
    const host = instance === '' ? '' : hostOf(instance)
    endpoint = validEndpoint(host) ? host : validEndpoint(job) ? job : DEFAULT_PROM_ENDPOINT
  }
  if ((metric.length + tags.length) * 3 > MAX_METRIC_TAGS_BYTES) {
    const bytes = Buffer.byteLength(metric) + Buffer.byteLength(tags)
    if (bytes > MAX_METRIC_TAGS_BYTES) {
      return `labels: ${bytes} bytes of name and labels as falcon tags, more than the ${MAX_METRIC_TAGS_BYTES} allowed`
    }
  }
  return { endpoint, metric, tags, labels }
}
