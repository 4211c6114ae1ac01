// Merging points and buckets that overlap in time: late points, blocks of one window, rollup repairs.
import type { Columns } from './chunk/chunk.js'
import type { Buckets } from './rollup.js'

/** isIncreasing tells whether ts[0..n) is strictly increasing (the common case: nothing to merge). */
export function isIncreasing(ts: Float64Array, n: number): boolean {
  for (let i = 1; i < n; i++) if (!(ts[i] > ts[i - 1])) return false
  return true
}

/**
 * mergeFirstWins puts `cols` (sources written one after another, oldest writes first) in time order and
 * keeps, of several points with one timestamp, the one that comes first: the one written first, as
 * falcon's graph keeps the first value it got. Stable, in place (the columns' arrays may be replaced by
 * arrays of the same capacity). Cheap when `cols` is already in order.
 */
export function mergeFirstWins(cols: Columns): void {
  const n = cols.n
  if (isIncreasing(cols.ts, n)) return
  const order = sortedOrder(cols.ts, n)
  const ts = new Float64Array(cols.ts.length)
  const vs = new Float64Array(cols.vs.length)
  let out = 0
  for (let k = 0; k < n; k++) {
    const i = order[k]
    if (out > 0 && ts[out - 1] === cols.ts[i]) continue
    ts[out] = cols.ts[i]
    vs[out] = cols.vs[i]
    out++
  }
  cols.ts = ts
  cols.vs = vs
  cols.n = out
}

/**
 * mergeLastWins puts buckets (sources written one after another) in order of their end and keeps, of
 * several buckets with one end, the one that comes last: a rollup repair recomputes buckets that late
 * points changed, and the newer computation is the right one. Stable, in place.
 */
export function mergeLastWins(b: Buckets): void {
  const n = b.n
  if (isIncreasing(b.end, n)) return
  const order = sortedOrder(b.end, n)
  const cols = [b.end, b.count, b.sum, b.min, b.max, b.last]
  const next = cols.map((c) => new Float64Array(c.length))
  let out = 0
  for (let k = 0; k < n; k++) {
    const i = order[k]
    // A later source of the same end replaces what is there.
    const at = out > 0 && next[0][out - 1] === b.end[i] ? out - 1 : out++
    for (let c = 0; c < cols.length; c++) next[c][at] = cols[c][i]
  }
  ;[b.end, b.count, b.sum, b.min, b.max, b.last] = next
  b.n = out
}

// The indices of ts[0..n) in order of time, ties in index order (a stable sort).
function sortedOrder(ts: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  order.sort((a, b) => ts[a] - ts[b] || a - b)
  return order
}
