// Points as columns, for the ingest path where one object per point costs more than the work on it:
// a push parsed off the main thread arrives as a series table and three columns, and goes to a graph in
// the same process the same way.
import type { CounterType, MetricValue, Tags } from './model.js'

/**
 * PushSeries is a series of pushed points as validated: every field of a MetricValue but the point's
 * own (tags raw, as pushed). `route` is the router's (transfer's): where the series goes, worked out
 * once; nothing else reads or writes it.
 */
export interface PushSeries {
  readonly endpoint: string
  readonly metric: string
  readonly tags: string
  readonly counterType: CounterType
  readonly step: number
  route: unknown
}

/**
 * PointColumns are validated points: point `i` is of series `series[ids[i]]`, at `ts[i]` (unix
 * seconds), value `vs[i]`. The series table is shared by many batches and only grows (or is replaced).
 */
export interface PointColumns {
  readonly series: readonly PushSeries[]
  readonly ids: Uint32Array
  readonly ts: Float64Array
  readonly vs: Float64Array
}

/** pointAt makes point `i` of `c` a MetricValue (for a message or a path that takes objects). */
export function pointAt(c: PointColumns, i: number): MetricValue {
  const s = c.series[c.ids[i]]
  return {
    endpoint: s.endpoint,
    metric: s.metric,
    value: c.vs[i],
    step: s.step,
    counterType: s.counterType,
    tags: s.tags,
    timestamp: c.ts[i],
  }
}

/**
 * GraphSeries is a series as transfer sends it to graph: falcon's GraphItem without the point's own
 * fields (step raised to transfer's minStep, COUNTER stored as DERIVE). One object per series, shared
 * by all its points; receivers must not change it.
 */
export interface GraphSeries {
  readonly endpoint: string
  readonly metric: string
  readonly tags: Tags
  readonly dstype: 'GAUGE' | 'DERIVE'
  readonly step: number
  /**
   * stored and ref are the receiving graph's: the storage that holds the series and its ref there,
   * remembered on the series so that no map is kept per series to find it (null: not yet known).
   */
  stored: object | null
  ref: number
}

/**
 * GraphColumns are points for a graph in the same process (`Graph.SendColumns`): point `i` is of
 * `series[i]`, at `ts[i]` (unix seconds, aligned to the series' step), value `vs[i]`.
 */
export interface GraphColumns {
  readonly series: GraphSeries[]
  readonly ts: number[]
  readonly vs: number[]
}
