// A SeriesSet as JSON, as graph's Graph.Select sends it: labels as flat string pairs, the columns as
// base64 of their little-endian bytes (exact for NaN payloads and ±Inf), or as the arrays themselves
// when the call does not leave the process.
import { decodeFloat64s, decodeUint32s, encodeFloat64s, encodeUint32s } from '../core/index.js'
import type { Label, Labels, MetricMetadata, SeriesSet } from './querier.js'
import type { Matcher } from './series-index.js'

/**
 * WireSeriesSet is a SeriesSet on the wire: `labels[i]` is series i's labels as `[name, value, name,
 * value, …]`; `offsets` (labels.length + 1 of them), `ts` and `vs` are base64 of little-endian
 * Uint32/Float64 bytes, or the typed arrays themselves in process.
 */
export interface WireSeriesSet {
  labels: string[][]
  offsets: string | Uint32Array
  ts: string | Float64Array
  vs: string | Float64Array
  warnings: string[]
}

/** encodeSeriesSet turns a SeriesSet into its wire form; `inProcess` keeps the typed arrays as they are. */
export function encodeSeriesSet(set: SeriesSet, inProcess = false): WireSeriesSet {
  const labels = set.labels.map((ls) => {
    const flat: string[] = []
    for (const l of ls) flat.push(l.name, l.value)
    return flat
  })
  return inProcess
    ? { labels, offsets: set.offsets, ts: set.ts, vs: set.vs, warnings: [...set.warnings] }
    : {
        labels,
        offsets: encodeUint32s(set.offsets),
        ts: encodeFloat64s(set.ts),
        vs: encodeFloat64s(set.vs),
        warnings: [...set.warnings],
      }
}

/**
 * wireBytes is about how many bytes a wire set takes as JSON (the columns as base64), to bound an
 * answer before it is encoded.
 */
export function wireBytes(set: SeriesSet): number {
  let bytes = 64 + Math.ceil((set.offsets.length * 4) / 3) * 4
  bytes += Math.ceil((set.ts.length * 8) / 3) * 8
  for (const ls of set.labels) for (const l of ls) bytes += l.name.length + l.value.length + 6
  for (const w of set.warnings) bytes += w.length + 3
  return bytes
}

/**
 * decodeSeriesSet checks and reads a wire set (from JSON or in process). Throws a TypeError naming
 * the field when it is not one: columns of different lengths, offsets out of order or not ending at
 * the sample count, labels not string pairs.
 */
export function decodeSeriesSet(x: unknown): SeriesSet {
  const w = x as Partial<WireSeriesSet> | null
  if (w === null || typeof w !== 'object') throw new TypeError('series set: expected an object')
  if (!Array.isArray(w.labels)) throw new TypeError('labels: expected an array')
  const labels: Labels[] = w.labels.map((flat: unknown, i) => {
    if (!Array.isArray(flat) || flat.length % 2 !== 0) {
      throw new TypeError(`labels[${i}]: expected [name, value, …] strings`)
    }
    const ls: Label[] = []
    for (let j = 0; j < flat.length; j += 2) {
      const name: unknown = flat[j]
      const value: unknown = flat[j + 1]
      if (typeof name !== 'string' || typeof value !== 'string') {
        throw new TypeError(`labels[${i}]: expected [name, value, …] strings`)
      }
      ls.push({ name, value })
    }
    return ls
  })
  const offsets = w.offsets instanceof Uint32Array ? w.offsets : decodeUint32s(w.offsets, 'offsets')
  const ts = w.ts instanceof Float64Array ? w.ts : decodeFloat64s(w.ts, 'ts')
  const vs = w.vs instanceof Float64Array ? w.vs : decodeFloat64s(w.vs, 'vs')
  if (ts.length !== vs.length) throw new TypeError(`ts, vs: ${ts.length} and ${vs.length} samples`)
  if (offsets.length !== labels.length + 1 || offsets[0] !== 0) {
    throw new TypeError(`offsets: expected ${labels.length + 1} starting at 0`)
  }
  for (let i = 1; i < offsets.length; i++) {
    if (offsets[i] < offsets[i - 1]) throw new TypeError(`offsets[${i}]: out of order`)
  }
  if (offsets[offsets.length - 1] !== ts.length) {
    throw new TypeError(`offsets: end at ${offsets[offsets.length - 1]}, not at ${ts.length}`)
  }
  const warnings = Array.isArray(w.warnings)
    ? w.warnings.filter((s): s is string => typeof s === 'string')
    : []
  return { labels, offsets, ts, vs, warnings }
}

/**
 * SelectParam is Graph.Select's parameter: Prometheus label matchers, the range [start, end] in ms
 * (inclusive), and the caller's sample budget. The answer is a WireSeriesSet.
 */
export interface SelectParam {
  matchers: Matcher[]
  start: number
  end: number
  maxSamples?: number
  /** func: the hint of SelectHints (`series` answers labels only). */
  func?: string
  /** grid: the hint of SelectHints (instant selectors read at the query's steps only). */
  grid?: { first: number; step: number }
  /** timeout: ms the caller still waits (its deadline); past it the node stops with PG_PROMQL_TIMEOUT. */
  timeout?: number
}

/** LabelsParam is Graph.LabelNames' and Graph.LabelValues' parameter (`name` for the values). */
export interface LabelsParam {
  name?: string
  /** timeout: as SelectParam's. */
  timeout?: number
  matchers?: Matcher[]
  start?: number
  end?: number
  limit?: number
}

/** MetadataParam is Graph.Metadata's parameter; its answer lists MetadataRow. */
export interface MetadataParam {
  metric?: string
  limit?: number
}

/** MetadataRow is one metric of Graph.Metadata's answer. */
export type MetadataRow = { metric: string } & MetricMetadata
