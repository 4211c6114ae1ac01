// The Prometheus API's JSON, byte for byte as Prometheus 2.55 writes it (web/api/v1/json_codec.go and
// util/jsonutil): sample times as seconds with exactly the ms digits (`1435781451.781`, `1.500`),
// values as strings (`"1"`, `"1e-07"`, `"+Inf"`), labels as an object in label order. Built as one
// string: a matrix of thousands of points is written without an object per point.
import { formatFloat, histogramJson, type QueryResult, type Value } from '../../promql/index.js'
import type { FloatHistogram, Labels } from '../../tsdb/index.js'

/**
 * sampleTime writes a sample time (ms) as Prometheus's MarshalTimestamp: whole seconds, then `.` and
 * three ms digits when the ms are not 0 (`1.5 s` is `1.500`).
 */
export function sampleTime(t: number): string {
  const neg = t < 0
  const a = neg ? -t : t
  const s = Math.floor(a / 1000)
  const ms = a - s * 1000
  const head = neg ? `-${s}` : String(s)
  if (ms === 0) return head
  return `${head}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`
}

/**
 * sampleValue writes a sample value as Prometheus's MarshalFloat (a JSON string): Go's shortest
 * `'f'` digits, `'e'` below 1e-6 or from 1e21 (with a two-digit exponent, `1e-07`), `+Inf`, `-Inf`,
 * `NaN`, and `-0` for negative zero.
 */
export function sampleValue(v: number): string {
  if (v === Infinity) return '"+Inf"'
  if (v === -Infinity) return '"-Inf"'
  if (Number.isNaN(v)) return '"NaN"'
  if (v === 0) return Object.is(v, -0) ? '"-0"' : '"0"'
  // JavaScript switches to exponent form at the same bounds as Go's MarshalFloat, with the same
  // shortest digits; only its exponent may be one digit where Go writes two.
  const s = String(v)
  const e = s.indexOf('e')
  if (e < 0) return `"${s}"`
  const exp = s.slice(e + 2)
  return `"${s.slice(0, e + 2)}${exp.length < 2 ? `0${exp}` : exp}"`
}

// formatFloat's text back to its number (exact: it is the shortest text that reads back).
const numberOf = (text: string): number =>
  text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text)

/**
 * histogramValue writes a native histogram as Prometheus's MarshalHistogram: `{"count","sum",
 * "buckets":[[rule, lower, upper, count], …]}`, every number as sampleValue writes it.
 */
export function histogramValue(h: FloatHistogram): string {
  const j = histogramJson(h)
  let out = `{"count":${sampleValue(numberOf(j.count))},"sum":${sampleValue(numberOf(j.sum))}`
  if (j.buckets !== undefined && j.buckets.length > 0) {
    const parts = j.buckets.map(
      ([rule, lo, hi, n]) =>
        `[${rule},${sampleValue(numberOf(lo))},${sampleValue(numberOf(hi))},${sampleValue(numberOf(n))}]`
    )
    out += `,"buckets":[${parts.join(',')}]`
  }
  return out + '}'
}

/** labelsJson writes labels as a JSON object, in their order. */
export function labelsJson(labels: Labels): string {
  let out = '{'
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) out += ','
    out += JSON.stringify(labels[i].name) + ':' + JSON.stringify(labels[i].value)
  }
  return out + '}'
}

/**
 * valueJson writes a query's value as `{"resultType":…,"result":…}`. A scalar or string is written as
 * Prometheus's promql.Scalar and String marshal themselves: the time as a JSON number of seconds and
 * a scalar's value with formatFloat (`'f'` digits, never an exponent).
 */
export function valueJson(value: Value): string {
  switch (value.resultType) {
    case 'scalar':
      return `{"resultType":"scalar","result":[${JSON.stringify(value.t / 1000)},${JSON.stringify(formatFloat(value.v))}]}`
    case 'string':
      return `{"resultType":"string","result":[${JSON.stringify(value.t / 1000)},${JSON.stringify(value.s)}]}`
    case 'vector': {
      const parts: string[] = []
      for (const s of value.samples) {
        parts.push(
          s.h === undefined
            ? `{"metric":${labelsJson(s.labels)},"value":[${sampleTime(s.t)},${sampleValue(s.v)}]}`
            : `{"metric":${labelsJson(s.labels)},"histogram":[${sampleTime(s.t)},${histogramValue(s.h)}]}`
        )
      }
      return `{"resultType":"vector","result":[${parts.join(',')}]}`
    }
    case 'matrix': {
      const parts: string[] = []
      for (const s of value.series) {
        let out = `{"metric":${labelsJson(s.labels)}`
        const n = Math.min(s.ts.length, s.vs.length)
        const hs = s.hs
        // Float points under "values", histogram points under "histograms", as Prometheus splits them.
        let floats = ''
        let histograms = ''
        for (let i = 0; i < n; i++) {
          const h = hs?.[i]
          if (h === undefined) {
            floats += `${floats === '' ? '' : ','}[${sampleTime(s.ts[i])},${sampleValue(s.vs[i])}]`
          } else {
            histograms += `${histograms === '' ? '' : ','}[${sampleTime(s.ts[i])},${histogramValue(h)}]`
          }
        }
        if (floats !== '') out += `,"values":[${floats}]`
        if (histograms !== '') out += `,"histograms":[${histograms}]`
        parts.push(out + '}')
      }
      return `{"resultType":"matrix","result":[${parts.join(',')}]}`
    }
  }
}

/** QueryStats are the timings (seconds) a query's `stats` answer shows. */
export interface QueryTimings {
  /** queued: seconds the query waited for a slot (`api.query.maxConcurrency`). */
  queued: number
  /** evaluated: seconds the engine took. */
  evaluated: number
}

/**
 * successJson writes a whole success answer: `{"status":"success","data":…}` and the warnings when
 * there are any. `data` is JSON already written.
 */
export function successJson(data: string, warnings: readonly string[] = []): string {
  const w = warnings.length > 0 ? `,"warnings":${JSON.stringify(warnings)}` : ''
  return `{"status":"success","data":${data}${w}}`
}

/**
 * queryDataJson writes a query's data: the value, and with `stats` Prometheus's stats object
 * (timings in seconds, the samples the query loaded and held at its peak).
 */
export function queryDataJson(r: QueryResult, stats: boolean, t: QueryTimings): string {
  const v = valueJson(r.value)
  if (!stats) return v
  const s = {
    timings: {
      evalTotalTime: t.evaluated,
      resultSortTime: 0,
      queryPreparationTime: 0,
      innerEvalTime: t.evaluated,
      execQueueTime: t.queued,
      execTotalTime: t.queued + t.evaluated,
    },
    samples: { totalQueryableSamples: r.totalSamples, peakSamples: r.peakSamples },
  }
  return `${v.slice(0, -1)},"stats":${JSON.stringify(s)}}`
}
