// Quantiles: of a set of floats (`quantile`, quantile_over_time, mad_over_time) and of classic `le` buckets.

/**
 * quantile returns the q-quantile of `values[0..n-1]` as Prometheus's quantile() does: linear
 * interpolation between the two closest ranks (rank = q·(n-1)); NaN when n is 0 or q is NaN, -Inf when
 * q < 0, +Inf when q > 1. NaN values rank below every number (Prometheus sorts them first). It
 * reorders `values[0..n-1]` in place (a selection, not a full sort) and allocates nothing.
 */
export function quantile(q: number, values: Float64Array, n: number): number {
  if (n === 0 || Number.isNaN(q)) return NaN
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  // Prometheus's order puts NaN below everything: move them to the front, select among the rest.
  let nans = 0
  for (let i = 0; i < n; i++) {
    const v = values[i]
    if (Number.isNaN(v)) {
      values[i] = values[nans]
      values[nans++] = v
    }
  }
  const rank = q * (n - 1)
  const lowerIndex = Math.max(0, Math.floor(rank))
  const upperIndex = Math.min(n - 1, lowerIndex + 1)
  const weight = rank - Math.floor(rank)
  // A NaN at the lower rank makes the answer NaN whatever the weight (NaN·0 is NaN).
  if (lowerIndex < nans) return NaN
  const lower = selectKth(values, nans, n, lowerIndex)
  // After the selection everything right of lowerIndex is ≥ lower: the next rank is their minimum.
  let upper = lower
  if (upperIndex !== lowerIndex) {
    upper = values[upperIndex]
    for (let i = upperIndex + 1; i < n; i++) if (values[i] < upper) upper = values[i]
  }
  return lower * (1 - weight) + upper * weight
}

/**
 * selectKth puts the k-th smallest of `a[lo..hi-1]` (no NaN among them) at index k, smaller or equal
 * values left of it and greater or equal right of it, and returns it (Hoare's FIND with a median-of-three
 * pivot, insertion sort below 16 elements).
 */
function selectKth(a: Float64Array, lo: number, hi: number, k: number): number {
  let l = lo
  let r = hi - 1
  while (r - l >= 16) {
    const m = (l + r) >>> 1
    if (a[m] < a[l]) swap(a, m, l)
    if (a[r] < a[l]) swap(a, r, l)
    if (a[r] < a[m]) swap(a, r, m)
    const pivot = a[m]
    let i = l
    let j = r
    while (i <= j) {
      while (a[i] < pivot) i++
      while (a[j] > pivot) j--
      if (i <= j) {
        swap(a, i, j)
        i++
        j--
      }
    }
    if (k <= j) r = j
    else if (k >= i) l = i
    else return a[k]
  }
  for (let i = l + 1; i <= r; i++) {
    const v = a[i]
    let j = i - 1
    while (j >= l && a[j] > v) {
      a[j + 1] = a[j]
      j--
    }
    a[j + 1] = v
  }
  return a[k]
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]
  a[i] = a[j]
  a[j] = t
}

/**
 * smallDeltaTolerance: relative differences between neighbouring bucket counts below this are float
 * noise (sharded sums, rates) and are ignored, as Prometheus 2.55 does.
 */
const SMALL_DELTA_TOLERANCE = 1e-12
/** the smallest positive normal float64. */
const MIN_NORMAL = 2.2250738585072014e-308

let bucketBounds = new Float64Array(64)
let bucketCounts = new Float64Array(64)

/** BucketQuantile is bucketQuantile's answer: the value, and whether non-monotonic counts were fixed. */
export interface BucketQuantile {
  value: number
  /** forcedMonotonic: some bucket counted less than a lower one; the API shows an info annotation. */
  forcedMonotonic: boolean
}

/**
 * bucketQuantile returns the q-quantile of a classic histogram, given as `n` buckets (upper bound `le`,
 * cumulative count) in any order, as Prometheus 2.55's bucketQuantile: buckets are sorted by bound and
 * those with the same bound merged; the highest bound must be +Inf, else NaN; NaN with fewer than 2
 * buckets left or no observations; -Inf for q < 0, +Inf for q > 1, NaN for NaN q. Counts that differ by
 * a relative 1e-12 are taken as equal, and a count below the one before is raised to it
 * (`forcedMonotonic`). Within a bucket the value is interpolated linearly; the lowest bucket starts at 0
 * unless its bound is ≤ 0 (then that bound is the answer); a rank in the +Inf bucket gives the highest
 * finite bound. The inputs are not modified: the buckets are copied into reused module buffers.
 */
export function bucketQuantile(
  q: number,
  upperBounds: Float64Array,
  counts: Float64Array,
  n: number
): BucketQuantile {
  if (Number.isNaN(q)) return { value: NaN, forcedMonotonic: false }
  if (q < 0) return { value: -Infinity, forcedMonotonic: false }
  if (q > 1) return { value: Infinity, forcedMonotonic: false }
  if (n === 0) return { value: NaN, forcedMonotonic: false }
  if (bucketBounds.length < n) {
    const size = Math.max(n, bucketBounds.length * 2)
    bucketBounds = new Float64Array(size)
    bucketCounts = new Float64Array(size)
  }
  const ub = bucketBounds
  const cnt = bucketCounts
  for (let i = 0; i < n; i++) {
    ub[i] = upperBounds[i]
    cnt[i] = counts[i]
  }
  sortBuckets(ub, cnt, n)
  if (ub[n - 1] !== Infinity) return { value: NaN, forcedMonotonic: false }

  // Merge buckets with the same bound ("0.2", "2e-1" and "2.0e-1" are one bucket).
  let m = 0
  for (let i = 1; i < n; i++) {
    if (ub[i] === ub[m]) {
      cnt[m] += cnt[i]
    } else {
      m++
      ub[m] = ub[i]
      cnt[m] = cnt[i]
    }
  }
  m++

  let forcedMonotonic = false
  let prev = cnt[0]
  for (let i = 1; i < m; i++) {
    const curr = cnt[i]
    if (curr === prev) continue
    if (almostEqual(prev, curr, SMALL_DELTA_TOLERANCE)) {
      // Float noise from summing or rating buckets, in either direction: ignored, prev kept.
      cnt[i] = prev
      continue
    }
    if (curr < prev) {
      // The envelope: a bucket never counts less than a lower one.
      cnt[i] = prev
      forcedMonotonic = true
      continue
    }
    prev = curr
  }

  if (m < 2) return { value: NaN, forcedMonotonic: false }
  const observations = cnt[m - 1]
  if (observations === 0) return { value: NaN, forcedMonotonic: false }
  let rank = q * observations
  // The first bucket whose count reaches the rank, by the same binary search as Go's sort.Search
  // (the +Inf bucket excluded), so that NaN counts land where Prometheus's do.
  let i = 0
  let j = m - 1
  while (i < j) {
    const h = (i + j) >>> 1
    if (!(cnt[h] >= rank)) i = h + 1
    else j = h
  }
  const b = i
  if (b === m - 1) return { value: ub[m - 2], forcedMonotonic }
  if (b === 0 && ub[0] <= 0) return { value: ub[0], forcedMonotonic }
  let bucketStart = 0
  const bucketEnd = ub[b]
  let count = cnt[b]
  if (b > 0) {
    bucketStart = ub[b - 1]
    count -= cnt[b - 1]
    rank -= cnt[b - 1]
  }
  return { value: bucketStart + (bucketEnd - bucketStart) * (rank / count), forcedMonotonic }
}

/** almostEqual is Prometheus's almost.Equal without the stale-marker case (no stale NaN gets here). */
function almostEqual(a: number, b: number, epsilon: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true
  if (a === b) return true
  const absSum = Math.abs(a) + Math.abs(b)
  const diff = Math.abs(a - b)
  if (a === 0 || b === 0 || absSum < MIN_NORMAL) return diff < epsilon * MIN_NORMAL
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon
}

/** sortBuckets sorts the pairs by bound: insertion sort (buckets come nearly sorted), heapsort past 32. */
function sortBuckets(ub: Float64Array, cnt: Float64Array, n: number): void {
  if (n <= 32) {
    for (let i = 1; i < n; i++) {
      const u = ub[i]
      const c = cnt[i]
      let j = i - 1
      while (j >= 0 && ub[j] > u) {
        ub[j + 1] = ub[j]
        cnt[j + 1] = cnt[j]
        j--
      }
      ub[j + 1] = u
      cnt[j + 1] = c
    }
    return
  }
  for (let i = (n >>> 1) - 1; i >= 0; i--) siftDown(ub, cnt, i, n)
  for (let end = n - 1; end > 0; end--) {
    swapPair(ub, cnt, 0, end)
    siftDown(ub, cnt, 0, end)
  }
}

function siftDown(ub: Float64Array, cnt: Float64Array, root: number, n: number): void {
  for (;;) {
    let child = 2 * root + 1
    if (child >= n) return
    if (child + 1 < n && ub[child] < ub[child + 1]) child++
    if (!(ub[root] < ub[child])) return
    swapPair(ub, cnt, root, child)
    root = child
  }
}

function swapPair(ub: Float64Array, cnt: Float64Array, i: number, j: number): void {
  const u = ub[i]
  ub[i] = ub[j]
  ub[j] = u
  const c = cnt[i]
  cnt[i] = cnt[j]
  cnt[j] = c
}
