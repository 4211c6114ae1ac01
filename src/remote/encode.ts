// Falcon series as remote write 1.0 TimeSeries, written straight into one growing buffer: the forward
// queue's hot path (a point a TimeSeries, its labels encoded once per series and copied after).
import { type PromSeriesItem, storedTagsOf } from '../core/index.js'

/** Labels Peregrine sets itself: a tag of the same name is not shown (as the tsdb's querier). */
const RESERVED = new Set(['__name__', 'endpoint', '__type__', '__step__'])

/**
 * labelPairs is a falcon series as Prometheus labels (docs/prometheus.md): `__name__` the metric as
 * stored (dots kept), `endpoint`, each tag with a value, and `__type__` (`counter` for falcon's
 * COUNTER and DERIVE, else `gauge`) and `__step__` (seconds), which tell a series' stored variants
 * apart. Sorted by name, bytewise, as remote write asks.
 */
export function labelPairs(
  endpoint: string,
  metric: string,
  tags: readonly (readonly [string, string])[],
  counter: boolean,
  step: number
): [string, string][] {
  const out: [string, string][] = [
    ['__name__', metric],
    ['__step__', String(step)],
    ['__type__', counter ? 'counter' : 'gauge'],
  ]
  if (endpoint !== '') out.push(['endpoint', endpoint])
  for (const [k, v] of tags) if (v !== '' && !RESERVED.has(k)) out.push([k, v])
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

const utf8 = new TextEncoder()

function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/** encodeLabels encodes labels as the `labels` fields (1) of a TimeSeries, ready to be copied in. */
export function encodeLabels(pairs: readonly (readonly [string, string])[]): Uint8Array {
  const enc = new TimeSeriesWriter(256)
  for (const [name, value] of pairs) {
    const n = utf8.encode(name)
    const v = utf8.encode(value)
    const inner = 1 + varintSize(n.length) + n.length + 1 + varintSize(v.length) + v.length
    enc.byte(0x0a)
    enc.varint(inner)
    enc.byte(0x0a)
    enc.varint(n.length)
    enc.bytes(n)
    enc.byte(0x12)
    enc.varint(v.length)
    enc.bytes(v)
  }
  return enc.take()
}

/**
 * TimeSeriesWriter writes WriteRequest `timeseries` fields (1) one after another: records of them
 * concatenate into one WriteRequest, as protobuf's repeated fields do.
 */
export class TimeSeriesWriter {
  #buf: Buffer
  #pos = 0

  constructor(size = 64 << 10) {
    this.#buf = Buffer.allocUnsafe(size)
  }

  get length(): number {
    return this.#pos
  }

  /** series writes one TimeSeries: the encoded `labels` and the samples `ts[i]` (ms), `vs[i]`. */
  series(
    labels: Uint8Array,
    ts: ArrayLike<number>,
    vs: ArrayLike<number>,
    from: number,
    to: number
  ): void {
    let body = labels.length
    for (let i = from; i < to; i++) body += 2 + sampleSize(ts[i])
    this.#room(1 + 5 + body)
    this.byte(0x0a)
    this.varint(body)
    this.bytes(labels)
    for (let i = from; i < to; i++) this.#sample(ts[i], vs[i])
  }

  /** one writes a TimeSeries of one sample. */
  one(labels: Uint8Array, t: number, v: number): void {
    const s = sampleSize(t)
    const body = labels.length + 2 + s
    this.#room(1 + 5 + body)
    this.byte(0x0a)
    this.varint(body)
    this.bytes(labels)
    this.#sample(t, v)
  }

  // Sample { double value = 1; int64 timestamp = 2; } as a TimeSeries' field 2.
  #sample(t: number, v: number): void {
    this.#buf[this.#pos++] = 0x12
    this.#buf[this.#pos++] = sampleSize(t)
    this.#buf[this.#pos++] = 0x09
    this.#buf.writeDoubleLE(v, this.#pos)
    this.#pos += 8
    this.#buf[this.#pos++] = 0x10
    this.varint(t)
  }

  byte(b: number): void {
    this.#room(1)
    this.#buf[this.#pos++] = b
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length)
    this.#buf.set(b, this.#pos)
    this.#pos += b.length
  }

  /** varint writes a non-negative integer up to 2^53 (timestamps in ms are). */
  varint(n: number): void {
    this.#room(10)
    while (n >= 0x80) {
      this.#buf[this.#pos++] = (n % 128) | 0x80
      n = Math.floor(n / 128)
    }
    this.#buf[this.#pos++] = n
  }

  /** take returns what was written (a copy) and starts again. */
  take(): Uint8Array {
    const out = Buffer.from(this.#buf.subarray(0, this.#pos))
    this.#pos = 0
    return out
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n))
    this.#buf.copy(next, 0, 0, this.#pos)
    this.#buf = next
  }
}

// The bytes of a Sample message: tag and double, tag and the timestamp's varint.
function sampleSize(t: number): number {
  return 10 + varintSize(t)
}

/** GraphSendItem is what Graph.Send carries of a point (transfer's GraphItem). */
export interface GraphSendItem {
  endpoint: string
  metric: string
  tags: Record<string, string>
  value: number
  timestamp: number
  dstype: string
  step: number
}

/**
 * SeriesLabelCache remembers a series' encoded labels, keyed by the object transfer shares among a
 * series' points (a Graph.Send item's tags, a Graph.Write item's token), so a point costs a copy of
 * them rather than a sort and an encoding. Weak: forgotten with the series.
 */
export class SeriesLabelCache {
  readonly #byTags = new WeakMap<object, Map<number, CachedLabels>>()

  /** ofSendItem: the labels of a Graph.Send item's series (its counter type and step included). */
  ofSendItem(item: GraphSendItem): Uint8Array {
    const counter = item.dstype !== 'GAUGE'
    // One series of a tags object per (step, counter type): the same tags may go with another step.
    const variant = item.step * 2 + (counter ? 1 : 0)
    let byVariant = this.#byTags.get(item.tags)
    if (byVariant === undefined)
      this.#byTags.set(item.tags, (byVariant = new Map<number, CachedLabels>()))
    const cached = byVariant.get(variant)
    // Checked, not assumed: transfer shares a tags object among one endpoint and metric's points, but
    // labels given to the wrong series would be silent damage.
    if (cached !== undefined && cached.endpoint === item.endpoint && cached.metric === item.metric)
      return cached.labels
    const tags = Object.entries(item.tags)
    const labels = encodeLabels(labelPairs(item.endpoint, item.metric, tags, counter, item.step))
    byVariant.set(variant, { endpoint: item.endpoint, metric: item.metric, labels })
    return labels
  }

  /** ofWriteItem: the labels of a Graph.Write item's series (a Prometheus series, stored as a gauge). */
  ofWriteItem(item: PromSeriesItem): Uint8Array {
    // A token stands for one endpoint, metric, tags and step (core/codec/graph-write).
    const key = item.token
    if (key !== null) {
      const cached = this.#byTags.get(key)?.get(item.step * 2)
      if (
        cached !== undefined &&
        cached.endpoint === item.endpoint &&
        cached.metric === item.metric
      )
        return cached.labels
    }
    const labels = encodeLabels(
      labelPairs(item.endpoint, item.metric, storedTagsOf(item.tags), false, item.step)
    )
    if (key !== null) {
      let byVariant = this.#byTags.get(key)
      if (byVariant === undefined)
        this.#byTags.set(key, (byVariant = new Map<number, CachedLabels>()))
      byVariant.set(item.step * 2, { endpoint: item.endpoint, metric: item.metric, labels })
    }
    return labels
  }
}

interface CachedLabels {
  endpoint: string
  metric: string
  labels: Uint8Array
}
