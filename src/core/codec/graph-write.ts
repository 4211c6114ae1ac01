// Graph.Write's item: one Prometheus series' samples, from transfer to the graph node that holds it.
// Unlike Graph.Send's GraphItem (falcon's: seconds, one point an item, values JSON can hold), it carries
// millisecond timestamps and float64 values bit for bit (NaN payloads such as Prometheus's stale
// marker, ±Inf), as columns: typed arrays in process, base64 of their bytes over the network.
import { decodeFloat64s, encodeFloat64s } from './columns.js'

/**
 * PromSeriesItem is one series of a Graph.Write call: its samples are `t[from..to)` and `v[from..to)`,
 * ranges of a request's columns rather than views of them (a view is an allocation, and Prometheus
 * sends most series one sample a request).
 */
export class PromSeriesItem {
  constructor(
    readonly endpoint: string,
    readonly metric: string,
    /** tags: stored canonical tags, values escaped (`promSeriesOf`). */
    readonly tags: string,
    readonly step: number,
    /** created: ms of the series' created timestamp to store a 0 at, or 0 for none. */
    readonly created: number,
    readonly t: Float64Array,
    readonly v: Float64Array,
    readonly from = 0,
    readonly to = t.length,
    /**
     * token: in process, an object that stands for this series for as long as the sender remembers
     * it (the same object for the same endpoint, metric, tags and step), so that graph finds the
     * series by it instead of by its key. Never sent over the network.
     */
    readonly token: object | null = null
  ) {}

  /** size is how many samples the item holds. */
  get size(): number {
    return this.to - this.from
  }

  /** toJSON is the item over the network (JSON-RPC): the columns as base64. */
  toJSON(): Record<string, unknown> {
    return {
      endpoint: this.endpoint,
      metric: this.metric,
      tags: this.tags,
      step: this.step,
      created: this.created,
      t: encodeFloat64s(this.t.subarray(this.from, this.to)),
      v: encodeFloat64s(this.v.subarray(this.from, this.to)),
    }
  }
}

/**
 * readPromSeriesItem takes a Graph.Write item as it arrived (in process: a PromSeriesItem; over the
 * network: its JSON) and returns it, or a sentence saying what is wrong with it.
 */
export function readPromSeriesItem(x: unknown): PromSeriesItem | string {
  if (x instanceof PromSeriesItem) return x
  if (typeof x !== 'object' || x === null) return 'not an object'
  const o = x as Record<string, unknown>
  if (typeof o.endpoint !== 'string' || o.endpoint === '') return 'endpoint: expected a string'
  if (typeof o.metric !== 'string' || o.metric === '') return 'metric: expected a string'
  if (typeof o.tags !== 'string') return 'tags: expected a string'
  if (!Number.isInteger(o.step) || (o.step as number) <= 0) return 'step: expected seconds > 0'
  const created = o.created ?? 0
  if (typeof created !== 'number' || !Number.isSafeInteger(created))
    return 'created: expected ms or 0'
  let t: Float64Array
  let v: Float64Array
  try {
    t = o.t instanceof Float64Array ? o.t : decodeFloat64s(o.t, 't')
    v = o.v instanceof Float64Array ? o.v : decodeFloat64s(o.v, 'v')
  } catch (err) {
    return (err as Error).message
  }
  if (t.length !== v.length) return `t and v: ${t.length} timestamps for ${v.length} values`
  return new PromSeriesItem(o.endpoint, o.metric, o.tags, o.step as number, created, t, v)
}

/** GRAPH_BAD_ITEM and GRAPH_OUT_OF_RANGE say why graph refuses a Graph.Send item (PG_GRAPH_BAD_ITEM). */
export const GRAPH_BAD_ITEM =
  'not a GraphItem: endpoint and metric must be non-empty strings without quotes, ">" or control characters, value a number, timestamp and step positive integers, dstype GAUGE, DERIVE or COUNTER'
export const GRAPH_OUT_OF_RANGE =
  'value out of what graph stores: |value| above 1e300 or below 1e-300'

// Falcon's IsValidString for endpoints and counters: no quotes, newlines, '>' or control characters.
function validString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x27 || c === 0x3e) return false
  }
  return true
}

/**
 * graphItemProblem says why a Graph.Send item would not be stored (GRAPH_BAD_ITEM or
 * GRAPH_OUT_OF_RANGE), or null: graph's rule, and remote storage's, so both keep the same points.
 */
export function graphItemProblem(x: unknown): string | null {
  const item = x as {
    endpoint?: unknown
    metric?: unknown
    value?: unknown
    timestamp?: unknown
    step?: unknown
    dstype?: unknown
  } | null
  if (
    item === null ||
    typeof item !== 'object' ||
    typeof item.endpoint !== 'string' ||
    typeof item.metric !== 'string' ||
    item.endpoint === '' ||
    item.metric === '' ||
    !validString(item.endpoint) ||
    !validString(item.metric) ||
    typeof item.value !== 'number' ||
    !Number.isInteger(item.timestamp) ||
    !Number.isInteger(item.step) ||
    (item.step as number) <= 0 ||
    (item.dstype !== 'GAUGE' && item.dstype !== 'DERIVE' && item.dstype !== 'COUNTER')
  )
    return GRAPH_BAD_ITEM
  return graphValueProblem(item.value)
}

/**
 * graphNamesProblem is graphItemProblem for a series' endpoint and metric alone: GRAPH_BAD_ITEM or
 * null (Graph.SendColumns checks them once a series, its values point by point).
 */
export function graphNamesProblem(endpoint: string, metric: string): string | null {
  return endpoint === '' || metric === '' || !validString(endpoint) || !validString(metric)
    ? GRAPH_BAD_ITEM
    : null
}

/** graphValueProblem is graphItemProblem for a value alone: GRAPH_OUT_OF_RANGE or null. */
export function graphValueProblem(value: number): string | null {
  // rrdtool cannot hold these; falcon's graph skips them too.
  const abs = Math.abs(value)
  return abs > 1e300 || (abs > 0 && abs < 1e-300) ? GRAPH_OUT_OF_RANGE : null
}
