// Native histograms as PromQL sees them: Prometheus 2.55's FloatHistogram (model/histogram), written for
// Peregrine. Buckets are kept decoded: each side is a list of (bucket index, count) in ascending index
// order, which is what a list of spans and buckets says once walked. A bucket present with a count of 0 is
// kept until `compact()`, as Prometheus keeps it in its spans.

/** CounterResetHint says what a histogram knows of a counter reset since the one before it. */
export const CounterResetHint = { Unknown: 0, Reset: 1, NotReset: 2, Gauge: 3 } as const
export type CounterResetHint = 0 | 1 | 2 | 3

/** CUSTOM_BUCKETS_SCHEMA is the schema of a histogram whose bucket bounds are listed (`custom_values`). */
export const CUSTOM_BUCKETS_SCHEMA = -53

/** Span is a run of consecutive buckets: `offset` from the end of the previous span (or from 0). */
export interface Span {
  offset: number
  length: number
}

/** Bucket is one bucket of a histogram with its bounds, as Prometheus's Bucket[float64]. */
export interface Bucket {
  lower: number
  upper: number
  lowerInclusive: boolean
  upperInclusive: boolean
  count: number
  index: number
}

/** HistogramError names why two histograms cannot be added (Prometheus's ErrHistograms…). */
export type HistogramError = '' | 'incompatible-schema' | 'incompatible-bounds'

/** FloatHistogramInit is a histogram written with spans, as Prometheus's struct and its text notation. */
export interface FloatHistogramInit {
  counterResetHint?: CounterResetHint
  schema?: number
  zeroThreshold?: number
  zeroCount?: number
  count?: number
  sum?: number
  positiveSpans?: readonly Span[]
  positiveBuckets?: readonly number[]
  negativeSpans?: readonly Span[]
  negativeBuckets?: readonly number[]
  customValues?: readonly number[]
}

const fracTables: number[][] = []
for (let schema = 0; schema <= 8; schema++) {
  const n = 1 << schema
  const t: number[] = []
  for (let j = 0; j < n; j++) t.push(j === 0 ? 0.5 : Math.pow(2, j / n) / 2)
  fracTables.push(t)
}

/** ldexp is frac·2^exp without overflowing on the way (Go's math.Ldexp for the values used here). */
function ldexp(frac: number, exp: number): number {
  if (exp > 1000) return frac * 2 ** 1000 * 2 ** (exp - 1000)
  if (exp < -1000) return frac * 2 ** (exp + 1000) * 2 ** -1000
  return frac * 2 ** exp
}

/** boundExponential is the upper bound of bucket `idx` in an exponential schema. */
export function boundExponential(idx: number, schema: number): number {
  if (schema < 0) {
    const exp = idx * 2 ** -schema
    if (exp === 1024) return Number.MAX_VALUE
    return ldexp(1, exp)
  }
  const n = 1 << schema
  const fracIdx = ((idx % n) + n) % n
  const frac = fracTables[schema][fracIdx]
  const exp = Math.floor(idx / n) + 1
  if (frac === 0.5 && exp === 1025) return Number.MAX_VALUE
  return ldexp(frac, exp)
}

function bound(idx: number, schema: number, custom: readonly number[] | null): number {
  if (schema === CUSTOM_BUCKETS_SCHEMA) {
    const c = custom ?? []
    if (idx === c.length) return Infinity
    if (idx === -1) return -Infinity
    return c[idx]
  }
  return boundExponential(idx, schema)
}

/** targetIdx maps a bucket index to a coarser schema. */
function targetIdx(idx: number, origin: number, target: number): number {
  return ((idx - 1) >> (origin - target)) + 1
}

function reduce(
  idx: readonly number[],
  cnt: readonly number[],
  origin: number,
  target: number
): [number[], number[]] {
  const oi: number[] = []
  const oc: number[] = []
  for (let i = 0; i < idx.length; i++) {
    const t = targetIdx(idx[i], origin, target)
    if (oi.length > 0 && oi[oi.length - 1] === t) oc[oc.length - 1] += cnt[i]
    else {
      oi.push(t)
      oc.push(cnt[i])
    }
  }
  return [oi, oc]
}

/** bucketsMatch compares custom bounds exactly (Prometheus's FloatBucketsMatch). */
export function bucketsMatch(a: readonly number[] | null, b: readonly number[] | null): boolean {
  const x = a ?? []
  const y = b ?? []
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

function decode(spans: readonly Span[] | undefined, buckets: readonly number[] | undefined) {
  const idx: number[] = []
  const cnt: number[] = []
  if (spans === undefined || buckets === undefined) return { idx, cnt }
  let at = 0
  let b = 0
  for (let s = 0; s < spans.length; s++) {
    at += spans[s].offset
    for (let j = 0; j < spans[s].length; j++) {
      if (b >= buckets.length) break
      idx.push(at)
      cnt.push(buckets[b++])
      at++
    }
  }
  return { idx, cnt }
}

function encode(idx: readonly number[]): Span[] {
  const spans: Span[] = []
  let next = 0
  for (let i = 0; i < idx.length; i++) {
    const last = spans[spans.length - 1]
    if (last !== undefined && idx[i] === next) last.length++
    else spans.push({ offset: idx[i] - next, length: 1 })
    next = idx[i] + 1
  }
  return spans
}

/**
 * FloatHistogram is a native histogram with float counts. Operations that say "in place" change the
 * receiver and return it, as Prometheus's methods do; `copy()` first where the input must stay.
 */
export class FloatHistogram {
  counterResetHint: CounterResetHint = CounterResetHint.Unknown
  schema = 0
  zeroThreshold = 0
  zeroCount = 0
  count = 0
  sum = 0
  /** positive buckets: indices ascending and their counts. */
  pIdx: number[] = []
  pCnt: number[] = []
  /** negative buckets (by absolute value): indices ascending and their counts. */
  nIdx: number[] = []
  nCnt: number[] = []
  /** the upper bounds of a custom-bucket histogram (schema -53), +Inf implied last. */
  customValues: number[] | null = null

  static from(init: FloatHistogramInit): FloatHistogram {
    const h = new FloatHistogram()
    h.counterResetHint = init.counterResetHint ?? CounterResetHint.Unknown
    h.schema = init.schema ?? 0
    h.zeroThreshold = init.zeroThreshold ?? 0
    h.zeroCount = init.zeroCount ?? 0
    h.count = init.count ?? 0
    h.sum = init.sum ?? 0
    const p = decode(init.positiveSpans, init.positiveBuckets)
    const n = decode(init.negativeSpans, init.negativeBuckets)
    h.pIdx = p.idx
    h.pCnt = p.cnt
    h.nIdx = n.idx
    h.nCnt = n.cnt
    h.customValues = init.customValues === undefined ? null : [...init.customValues]
    return h
  }

  usesCustomBuckets(): boolean {
    return this.schema === CUSTOM_BUCKETS_SCHEMA
  }

  copy(): FloatHistogram {
    const h = new FloatHistogram()
    h.counterResetHint = this.counterResetHint
    h.schema = this.schema
    h.zeroThreshold = this.zeroThreshold
    h.zeroCount = this.zeroCount
    h.count = this.count
    h.sum = this.sum
    h.pIdx = this.pIdx.slice()
    h.pCnt = this.pCnt.slice()
    h.nIdx = this.nIdx.slice()
    h.nCnt = this.nCnt.slice()
    h.customValues = this.customValues
    return h
  }

  /** positiveSpans/negativeSpans are the spans of the buckets held (adjacent buckets in one span). */
  positiveSpans(): Span[] {
    return encode(this.pIdx)
  }

  negativeSpans(): Span[] {
    return encode(this.nIdx)
  }

  /** mul scales every count and the sum by `f`, in place. */
  mul(f: number): this {
    this.zeroCount *= f
    this.count *= f
    this.sum *= f
    for (let i = 0; i < this.pCnt.length; i++) this.pCnt[i] *= f
    for (let i = 0; i < this.nCnt.length; i++) this.nCnt[i] *= f
    return this
  }

  /** div divides every count and the sum by `f`, in place. */
  div(f: number): this {
    this.zeroCount /= f
    this.count /= f
    this.sum /= f
    for (let i = 0; i < this.pCnt.length; i++) this.pCnt[i] /= f
    for (let i = 0; i < this.nCnt.length; i++) this.nCnt[i] /= f
    return this
  }

  /** add adds `other` in place (schemas and zero buckets reconciled); answers why it could not. */
  add(other: FloatHistogram): HistogramError {
    return this.#combine(other, false)
  }

  /** sub subtracts `other` in place. */
  sub(other: FloatHistogram): HistogramError {
    return this.#combine(other, true)
  }

  #combine(other: FloatHistogram, negate: boolean): HistogramError {
    if (this.usesCustomBuckets() !== other.usesCustomBuckets()) return 'incompatible-schema'
    if (this.usesCustomBuckets() && !bucketsMatch(this.customValues, other.customValues)) {
      return 'incompatible-bounds'
    }
    if (!negate) {
      const a = this.counterResetHint
      const b = other.counterResetHint
      if (a === b || a === CounterResetHint.Gauge) {
        // unchanged
      } else if (b === CounterResetHint.Gauge) this.counterResetHint = CounterResetHint.Gauge
      else this.counterResetHint = CounterResetHint.Unknown
    }
    const sign = negate ? -1 : 1
    if (!this.usesCustomBuckets()) {
      const otherZero = this.#reconcileZeroBuckets(other)
      this.zeroCount += sign * otherZero
    }
    this.count += sign * other.count
    this.sum += sign * other.sum
    if (this.usesCustomBuckets()) {
      ;[this.pIdx, this.pCnt] = addBuckets(
        this.schema,
        this.zeroThreshold,
        sign,
        this.pIdx,
        this.pCnt,
        other.pIdx,
        other.pCnt
      )
      return ''
    }
    let oP: [number[], number[]] = [other.pIdx, other.pCnt]
    let oN: [number[], number[]] = [other.nIdx, other.nCnt]
    if (other.schema < this.schema) {
      ;[this.pIdx, this.pCnt] = reduce(this.pIdx, this.pCnt, this.schema, other.schema)
      ;[this.nIdx, this.nCnt] = reduce(this.nIdx, this.nCnt, this.schema, other.schema)
      this.schema = other.schema
    } else if (other.schema > this.schema) {
      oP = reduce(other.pIdx, other.pCnt, other.schema, this.schema)
      oN = reduce(other.nIdx, other.nCnt, other.schema, this.schema)
    }
    const t = this.zeroThreshold
    ;[this.pIdx, this.pCnt] = addBuckets(this.schema, t, sign, this.pIdx, this.pCnt, oP[0], oP[1])
    ;[this.nIdx, this.nCnt] = addBuckets(this.schema, t, sign, this.nIdx, this.nCnt, oN[0], oN[1])
    return ''
  }

  /** copyToSchema is a copy at a coarser (or the same) exponential schema. */
  copyToSchema(target: number): FloatHistogram {
    const c = this.copy()
    if (target === this.schema) return c
    if (this.usesCustomBuckets() || target > this.schema) {
      throw new Error(`BUG: cannot copy from schema ${this.schema} to ${target}`)
    }
    c.counterResetHint = CounterResetHint.Unknown
    ;[c.pIdx, c.pCnt] = reduce(this.pIdx, this.pCnt, this.schema, target)
    ;[c.nIdx, c.nCnt] = reduce(this.nIdx, this.nCnt, this.schema, target)
    c.schema = target
    return c
  }

  /** compact drops buckets whose count is 0, in place (Prometheus's Compact(0)). */
  compact(): this {
    const drop = (idx: number[], cnt: number[]): [number[], number[]] => {
      if (!cnt.includes(0)) return [idx, cnt]
      const oi: number[] = []
      const oc: number[] = []
      for (let i = 0; i < idx.length; i++) {
        if (cnt[i] === 0) continue
        oi.push(idx[i])
        oc.push(cnt[i])
      }
      return [oi, oc]
    }
    ;[this.pIdx, this.pCnt] = drop(this.pIdx, this.pCnt)
    ;[this.nIdx, this.nCnt] = drop(this.nIdx, this.nCnt)
    return this
  }

  /** zeroCountForLargerThreshold: the zero count with a wider zero bucket, and the threshold it needs. */
  #zeroCountForLargerThreshold(larger: number): [number, number] {
    if (larger === this.zeroThreshold) return [this.zeroCount, larger]
    for (;;) {
      let count = this.zeroCount
      for (let i = 0; i < this.pIdx.length; i++) {
        const lower = bound(this.pIdx[i] - 1, this.schema, this.customValues)
        const upper = bound(this.pIdx[i], this.schema, this.customValues)
        if (lower >= larger) break
        count += this.pCnt[i]
        if (upper > larger) {
          if (this.pCnt[i] !== 0) larger = upper
          break
        }
      }
      let redo = false
      for (let i = 0; i < this.nIdx.length; i++) {
        const upper = -bound(this.nIdx[i] - 1, this.schema, this.customValues)
        const lower = -bound(this.nIdx[i], this.schema, this.customValues)
        if (upper <= -larger) break
        count += this.nCnt[i]
        if (lower < -larger) {
          if (this.nCnt[i] !== 0) {
            larger = -lower
            redo = true
          }
          break
        }
      }
      if (!redo) return [count, larger]
    }
  }

  #trimBucketsInZeroBucket(): void {
    for (let i = 0; i < this.pIdx.length; i++) {
      if (bound(this.pIdx[i] - 1, this.schema, this.customValues) >= this.zeroThreshold) break
      this.pCnt[i] = 0
    }
    for (let i = 0; i < this.nIdx.length; i++) {
      if (-bound(this.nIdx[i] - 1, this.schema, this.customValues) <= -this.zeroThreshold) break
      this.nCnt[i] = 0
    }
    this.compact()
  }

  #reconcileZeroBuckets(other: FloatHistogram): number {
    let otherZeroCount = other.zeroCount
    let otherThreshold = other.zeroThreshold
    while (otherThreshold !== this.zeroThreshold) {
      if (this.zeroThreshold > otherThreshold) {
        ;[otherZeroCount, otherThreshold] = other.#zeroCountForLargerThreshold(this.zeroThreshold)
      }
      if (otherThreshold > this.zeroThreshold) {
        ;[this.zeroCount, this.zeroThreshold] = this.#zeroCountForLargerThreshold(otherThreshold)
        this.#trimBucketsInZeroBucket()
      }
    }
    return otherZeroCount
  }

  /** detectReset tells whether this histogram shows a counter reset since `prev` (DetectReset). */
  detectReset(prev: FloatHistogram): boolean {
    if (this.counterResetHint === CounterResetHint.Reset) return true
    if (this.counterResetHint === CounterResetHint.NotReset) return false
    if (this.count < prev.count) return true
    if (
      this.usesCustomBuckets() !== prev.usesCustomBuckets() ||
      (this.usesCustomBuckets() && !bucketsMatch(this.customValues, prev.customValues))
    ) {
      return true
    }
    if (this.schema > prev.schema) return true
    if (this.zeroThreshold < prev.zeroThreshold) return true
    const [prevZero, newThreshold] = prev.#zeroCountForLargerThreshold(this.zeroThreshold)
    if (newThreshold !== this.zeroThreshold) return true
    if (this.zeroCount < prevZero) return true
    const side = (positive: boolean): boolean => {
      const cur = this.#mergedFrom(positive, this.zeroThreshold, this.schema)
      const old = prev.#mergedFrom(positive, this.zeroThreshold, this.schema)
      let j = 0
      for (let i = 0; i < old.idx.length; i++) {
        while (j < cur.idx.length && cur.idx[j] < old.idx[i]) j++
        if (j < cur.idx.length && cur.idx[j] === old.idx[i]) {
          if (cur.cnt[j] < old.cnt[i]) return true
        } else if (old.cnt[i] !== 0) return true
      }
      return false
    }
    return side(true) || side(false)
  }

  /** #mergedFrom is one side at a coarser schema, buckets with an upper bound ≤ `start` skipped. */
  #mergedFrom(positive: boolean, start: number, target: number): { idx: number[]; cnt: number[] } {
    const idx0 = positive ? this.pIdx : this.nIdx
    const cnt0 = positive ? this.pCnt : this.nCnt
    const [idx, cnt] =
      target === this.schema ? [idx0, cnt0] : reduce(idx0, cnt0, this.schema, target)
    if (target === CUSTOM_BUCKETS_SCHEMA || start === 0) return { idx, cnt }
    let lo = 0
    while (lo < idx.length && boundExponential(idx[lo], target) <= start) lo++
    return lo === 0 ? { idx, cnt } : { idx: idx.slice(lo), cnt: cnt.slice(lo) }
  }

  #bucket(positive: boolean, i: number): Bucket {
    const idx = positive ? this.pIdx[i] : this.nIdx[i]
    const count = positive ? this.pCnt[i] : this.nCnt[i]
    const cv = this.customValues
    let lower: number
    let upper: number
    if (positive) {
      upper = bound(idx, this.schema, cv)
      lower = bound(idx - 1, this.schema, cv)
    } else {
      lower = -bound(idx, this.schema, cv)
      upper = -bound(idx - 1, this.schema, cv)
    }
    const custom = this.usesCustomBuckets()
    return {
      lower,
      upper,
      lowerInclusive: custom ? idx === 0 : lower < 0,
      upperInclusive: custom ? true : upper > 0,
      count,
      index: idx,
    }
  }

  /** zeroBucket is the zero bucket [-threshold, threshold]. */
  zeroBucket(): Bucket {
    return {
      lower: -this.zeroThreshold,
      upper: this.zeroThreshold,
      lowerInclusive: true,
      upperInclusive: true,
      count: this.zeroCount,
      index: 0,
    }
  }

  /** allBuckets lists every bucket from the lowest to the highest (negative, zero, positive). */
  allBuckets(): Bucket[] {
    const out: Bucket[] = []
    const zt = this.zeroThreshold
    const clip = (b: Bucket): Bucket => {
      if (b.upper < 0 && b.upper > -zt) b.upper = -zt
      else if (b.lower > 0 && b.lower < zt) b.lower = zt
      return b
    }
    for (let i = this.nIdx.length - 1; i >= 0; i--) out.push(clip(this.#bucket(false, i)))
    if (this.zeroCount > 0) out.push(this.zeroBucket())
    for (let i = 0; i < this.pIdx.length; i++) out.push(clip(this.#bucket(true, i)))
    return out
  }

  /** positiveBuckets lists the positive buckets without clipping at the zero bucket. */
  positiveBuckets(): Bucket[] {
    const out: Bucket[] = []
    for (let i = 0; i < this.pIdx.length; i++) out.push(this.#bucket(true, i))
    return out
  }

  /** equalsApprox is the test runner's comparison: compacted, counts within a relative epsilon. */
  equalsApprox(o: FloatHistogram, eq: (a: number, b: number) => boolean): boolean {
    const a = this.copy().compact()
    const b = o.copy().compact()
    if (a.schema !== b.schema || !eq(a.count, b.count) || !eq(a.sum, b.sum)) return false
    if (a.usesCustomBuckets() && !bucketsMatch(a.customValues, b.customValues)) return false
    if (a.zeroThreshold !== b.zeroThreshold || !eq(a.zeroCount, b.zeroCount)) return false
    const side = (i1: number[], c1: number[], i2: number[], c2: number[]): boolean => {
      if (i1.length !== i2.length) return false
      for (let i = 0; i < i1.length; i++) {
        if (i1[i] !== i2[i] || !eq(c1[i], c2[i])) return false
      }
      return true
    }
    return side(a.nIdx, a.nCnt, b.nIdx, b.nCnt) && side(a.pIdx, a.pCnt, b.pIdx, b.pCnt)
  }

  /** toString prints the histogram in the test scripts' notation. */
  toString(): string {
    const parts: string[] = []
    if (this.schema !== 0) parts.push(`schema:${this.schema}`)
    if (this.count !== 0) parts.push(`count:${this.count}`)
    if (this.sum !== 0) parts.push(`sum:${this.sum}`)
    if (this.zeroCount !== 0) parts.push(`z_bucket:${this.zeroCount}`)
    if (this.zeroThreshold !== 0) parts.push(`z_bucket_w:${this.zeroThreshold}`)
    if (this.customValues !== null && this.customValues.length > 0) {
      parts.push(`custom_values:[${this.customValues.join(' ')}]`)
    }
    const side = (idx: number[], cnt: number[], prefix: string): void => {
      if (idx.length === 0) return
      parts.push(`${prefix}offset:${idx[0]}`)
      parts.push(`${prefix}buckets:[${idx.map((x, i) => `${x}=${cnt[i]}`).join(' ')}]`)
    }
    side(this.pIdx, this.pCnt, '')
    side(this.nIdx, this.nCnt, 'n_')
    const hints = ['', 'reset', 'not_reset', 'gauge']
    if (this.counterResetHint !== CounterResetHint.Unknown) {
      parts.push(`counter_reset_hint:${hints[this.counterResetHint]}`)
    }
    return `{{${parts.join(' ')}}}`
  }
}

/** addBuckets adds (sign 1) or subtracts (-1) B's buckets into A's; B's inside the zero bucket are ignored. */
function addBuckets(
  schema: number,
  threshold: number,
  sign: number,
  aIdx: number[],
  aCnt: number[],
  bIdx: readonly number[],
  bCnt: readonly number[]
): [number[], number[]] {
  let start = 0
  if (schema !== CUSTOM_BUCKETS_SCHEMA) {
    while (start < bIdx.length && boundExponential(bIdx[start], schema) <= threshold) start++
  }
  if (start >= bIdx.length) return [aIdx, aCnt]
  const oi: number[] = []
  const oc: number[] = []
  let i = 0
  let j = start
  while (i < aIdx.length || j < bIdx.length) {
    if (j >= bIdx.length || (i < aIdx.length && aIdx[i] < bIdx[j])) {
      oi.push(aIdx[i])
      oc.push(aCnt[i])
      i++
    } else if (i >= aIdx.length || bIdx[j] < aIdx[i]) {
      oi.push(bIdx[j])
      oc.push(sign * bCnt[j])
      j++
    } else {
      oi.push(aIdx[i])
      oc.push(aCnt[i] + sign * bCnt[j])
      i++
      j++
    }
  }
  return [oi, oc]
}
