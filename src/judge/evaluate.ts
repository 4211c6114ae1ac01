// The hot path of judge: falcon's functions computed straight from a series' ring, without building
// the history arrays functions.ts builds. functions.ts stays the readable definition; evaluate.test.ts
// checks this file against it on random histories.
import { Fn, Op, type CompiledRule } from './rules.js'
import type { Series } from './series.js'

/** Evaluation is what one rule says about a series now; reused between calls (no allocation). */
export interface Evaluation {
  /** enough: the series holds the points the function needs (falcon's isEnough). */
  enough: boolean
  triggered: boolean
  leftValue: number
  /** oldestTime: timestamp of the oldest history value the function read (falcon's vs[len-1]). */
  oldestTime: number
}

/** cmp is falcon's checkIsTriggered on operator codes. */
function cmp(left: number, op: Op, right: number): boolean {
  switch (op) {
    case Op.Eq:
      return Math.abs(left - right) < 0.0001
    case Op.Ne:
      return Math.abs(left - right) > 0.0001
    case Op.Lt:
      return left < right
    case Op.Le:
      return left <= right
    case Op.Gt:
      return left > right
    case Op.Ge:
      return left >= right
    case Op.Never:
      return false
  }
}

/** x is the i-th newest history value: the raw value for a gauge, else the rate to the point before. */
function x(s: Series, i: number, gauge: boolean): number {
  if (gauge) return s.v(i)
  return (s.v(i) - s.v(i + 1)) / (s.t(i) - s.t(i + 1))
}

/** evaluate computes `rule` on `s` into `out` (falcon's Function.Compute). */
export function evaluate(rule: CompiledRule, s: Series, out: Evaluation): void {
  const n = rule.points
  const gauge = s.gauge
  if (n < 1 || s.size < (gauge ? n : n + 1)) {
    out.enough = false
    out.triggered = false
    out.leftValue = 0
    return
  }
  out.enough = true
  out.oldestTime = s.t(n - 1)
  const op = rule.op
  const right = rule.right
  const limit = rule.limit
  switch (rule.fn) {
    case Fn.All: {
      let triggered = true
      for (let i = 0; i < limit; i++) {
        triggered = cmp(x(s, i, gauge), op, right)
        if (!triggered) break
      }
      out.triggered = triggered
      out.leftValue = x(s, 0, gauge)
      return
    }
    case Fn.Max:
    case Fn.Min: {
      let m = x(s, 0, gauge)
      const isMax = rule.fn === Fn.Max
      for (let i = 1; i < limit; i++) {
        const v = x(s, i, gauge)
        if (isMax ? m < v : m > v) m = v
      }
      out.leftValue = m
      out.triggered = cmp(m, op, right)
      return
    }
    case Fn.Sum:
    case Fn.Avg: {
      let total = 0
      for (let i = 0; i < limit; i++) total += x(s, i, gauge)
      const left = rule.fn === Fn.Sum ? total : total / limit
      out.leftValue = left
      out.triggered = cmp(left, op, right)
      return
    }
    case Fn.Diff:
    case Fn.Pdiff: {
      const first = x(s, 0, gauge)
      const percent = rule.fn === Fn.Pdiff
      let left = 0
      let triggered = false
      for (let i = 1; i < limit + 1; i++) {
        const v = x(s, i, gauge)
        if (percent) {
          if (v === 0) continue
          left = ((first - v) / v) * 100.0
        } else left = first - v
        triggered = cmp(left, op, right)
        if (triggered) break
      }
      out.leftValue = left
      out.triggered = triggered
      return
    }
    case Fn.Lookup: {
      let triggered = false
      for (let count = 0, i = 0; i < limit; i++) {
        if (cmp(x(s, i, gauge), op, right) && ++count === rule.num) {
          triggered = true
          break
        }
      }
      out.leftValue = x(s, 0, gauge)
      out.triggered = triggered
      return
    }
    case Fn.Stddev: {
      let total = 0
      for (let i = 0; i < limit; i++) total += x(s, i, gauge)
      const mean = total / limit
      let squares = 0
      for (let i = 0; i < limit; i++) {
        const d = x(s, i, gauge) - mean
        squares += d * d
      }
      const std = Math.sqrt(squares / limit)
      const left = x(s, 0, gauge)
      out.leftValue = left
      out.triggered = left < mean - right * std || left > mean + right * std
      return
    }
  }
}
