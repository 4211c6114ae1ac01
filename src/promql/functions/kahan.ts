// Kahan–Neumaier compensated summation, as PromQL 2.55 sums floats (sum_over_time, avg, stddev, deriv).

/**
 * `compensation` is the running compensation left by the last `kahanSumInc` call. Reading it right
 * after the call gives the second result without allocating a pair; it is overwritten by the next call.
 */
export let compensation = 0

/**
 * kahanSumInc adds `inc` to `sum` whose running compensation is `c`, and returns the new sum; the new
 * compensation is left in `compensation`. The Neumaier variant: the larger of the two operands keeps its
 * low bits. Once the sum is ±Inf the compensation is reset to 0 so `sum + c` stays ±Inf, not NaN.
 */
export function kahanSumInc(inc: number, sum: number, c: number): number {
  const t = sum + inc
  if (t === Infinity || t === -Infinity) {
    c = 0
  } else if (Math.abs(sum) >= Math.abs(inc)) {
    c += sum - t + inc
  } else {
    c += inc - t + sum
  }
  compensation = c
  return t
}

/**
 * KahanSum is a reusable compensated sum, for callers (the engine's `sum`, `avg` aggregations) that keep
 * one per group. `reset()` starts over; `value` is `sum + c`, or the plain sum once it is ±Inf.
 */
export class KahanSum {
  sum = 0
  c = 0

  /** reset() starts a new sum. */
  reset(): void {
    this.sum = 0
    this.c = 0
  }

  /** add(v) adds one value. */
  add(v: number): void {
    this.sum = kahanSumInc(v, this.sum, this.c)
    this.c = compensation
  }

  /** value is the compensated sum so far. */
  get value(): number {
    const s = this.sum
    return s === Infinity || s === -Infinity ? s : s + this.c
  }
}
