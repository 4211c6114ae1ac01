// Series as charts draw them: columns aligned on one time axis (null where a series has no point,
// so a gap draws as a gap, never a zero), min/max decimation for series longer than the chart is
// wide, and the legend's last/min/max/avg.

export interface SeriesData {
  /** Unix seconds, ascending. */
  times: ArrayLike<number>
  /** null for a step with nothing stored. */
  values: ArrayLike<number | null>
}

/** uPlot's data: the time column, then one value column per series. */
export type AlignedData = [number[], ...(number | null)[][]]

/** All series on the union of their times; a series without a point at a time holds null there. */
export function alignSeries(series: readonly SeriesData[]): AlignedData {
  const all = new Set<number>()
  for (const s of series) for (let i = 0; i < s.times.length; i++) all.add(s.times[i])
  const times = [...all].sort((a, b) => a - b)
  const index = new Map<number, number>()
  times.forEach((t, i) => index.set(t, i))
  const columns = series.map((s) => {
    const col = new Array<number | null>(times.length).fill(null)
    for (let i = 0; i < s.times.length; i++) col[index.get(s.times[i])!] = s.values[i]
    return col
  })
  return [times, ...columns]
}

/**
 * At most 2 points per bucket of `buckets` equal time slices: each bucket keeps its minimum and its
 * maximum, in time order, so spikes survive. A bucket holding a gap (a null) keeps one null, so gaps
 * survive too. Series no longer than 2 × buckets are returned as they are.
 */
export function decimate(s: SeriesData, buckets: number): SeriesData {
  const n = s.times.length
  if (n <= buckets * 2 || buckets < 1) return s
  const t0 = s.times[0]
  const span = s.times[n - 1] - t0 || 1
  const times: number[] = []
  const values: (number | null)[] = []
  let i = 0
  while (i < n) {
    const b = Math.min(buckets - 1, Math.floor(((s.times[i] - t0) / span) * buckets))
    let minI = -1
    let maxI = -1
    let nullI = -1
    let j = i
    for (
      ;
      j < n && Math.min(buckets - 1, Math.floor(((s.times[j] - t0) / span) * buckets)) === b;
      j++
    ) {
      const v = s.values[j]
      if (v === null || Number.isNaN(v)) {
        if (nullI < 0) nullI = j
        continue
      }
      if (minI < 0 || v < (s.values[minI] as number)) minI = j
      if (maxI < 0 || v > (s.values[maxI] as number)) maxI = j
    }
    const keep = [minI, maxI, nullI].filter((k) => k >= 0).sort((a, b2) => a - b2)
    let last = -1
    for (const k of keep) {
      if (k === last) continue
      times.push(s.times[k])
      values.push(k === nullI ? null : s.values[k])
      last = k
    }
    i = j
  }
  return { times, values }
}

export interface SeriesStats {
  last: number | null
  min: number | null
  max: number | null
  avg: number | null
}

/** The legend's figures over the points stored (nulls skipped): null when there are none. */
export function seriesStats(values: ArrayLike<number | null>): SeriesStats {
  let last: number | null = null
  let min = Infinity
  let max = -Infinity
  let sum = 0
  let count = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v === null || Number.isNaN(v)) continue
    last = v
    if (v < min) min = v
    if (v > max) max = v
    sum += v
    count++
  }
  if (count === 0) return { last: null, min: null, max: null, avg: null }
  return { last, min, max, avg: sum / count }
}

/** A value for a legend or tooltip: up to 4 significant digits with k/M/G/T, as Grafana's short unit. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  const a = Math.abs(v)
  if (a !== 0 && (a < 0.001 || a >= 1e15)) return v.toExponential(2)
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]
  for (const [size, unit] of units) if (a >= size) return `${trim(v / size)}${unit}`
  return trim(v)
}

function trim(v: number): string {
  return String(Number(v.toPrecision(4)))
}

/**
 * The indices of points with no neighbour (a null or nothing on both sides): a line cannot show them,
 * so the chart draws each as a dot. A lone point is a value, not nothing.
 */
export function isolatedPoints(values: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = []
  const n = values.length
  const has = (i: number) => i >= 0 && i < n && values[i] !== null && values[i] !== undefined
  for (let i = 0; i < n; i++) if (has(i) && !has(i - 1) && !has(i + 1)) out.push(i)
  return out
}
