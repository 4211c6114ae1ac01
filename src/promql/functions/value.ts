// Element-wise functions of an instant vector's values (abs, round, clamp, trigonometry) and the date functions.
import { lookupTable } from './lookup-table.js'

/**
 * ValueFunction maps one sample's value to the output value. `args` are the function's scalar arguments
 * after the vector: round's to_nearest (absent means 1), clamp's min and max, clamp_min's min, clamp_max's max.
 */
export type ValueFunction = (v: number, args: readonly number[]) => number

// Go computes log2 and log10 through Frexp, which is exact on powers of two and differs from
// Math.log10 in the last bit (Prometheus answers log10(1000) = 2.9999999999999996).
const frexpF64 = new Float64Array(1)
const frexpU32 = new Uint32Array(frexpF64.buffer)
const LOG10_2 = 0.3010299956639812 // ln 2 / ln 10 computed exactly, then rounded (as Go's constant)

function log2(x: number): number {
  // 0, ±Inf and NaN: Frexp gives (x, 0), so this is Log(x)/ln 2 as Go computes it.
  if (x === 0 || !Number.isFinite(x)) return Math.log(x) * Math.LOG2E
  frexpF64[0] = x
  let biased = (frexpU32[1] >>> 20) & 0x7ff
  let exp = 0
  if (biased === 0) {
    // Subnormal: normalise first, as Go's Frexp does.
    frexpF64[0] = x * 2 ** 52
    biased = (frexpU32[1] >>> 20) & 0x7ff
    exp = -52
  }
  exp += biased - 1022
  frexpU32[1] = (frexpU32[1] & 0x800fffff) | (1022 << 20)
  const frac = frexpF64[0]
  if (frac === 0.5) return exp - 1
  return Math.log(frac) * Math.LOG2E + exp
}

function log10(x: number): number {
  return log2(x) * LOG10_2
}

/**
 * clampDrops tells whether `clamp(v, min, max)` yields no samples at all: when max < min Prometheus
 * returns an empty vector. The engine checks it once per step before calling clamp. (A NaN bound does
 * not drop: every value becomes NaN.)
 */
export function clampDrops(min: number, max: number): boolean {
  return max < min
}

/**
 * VALUE_FUNCTIONS maps each element-wise PromQL function to its float math, as Go's math package
 * computes it (transcendental functions may differ from Go's in the last bit). `clamp` returns NaN when
 * max < min, but the engine must drop the samples instead: see clampDrops. No prototype on the table.
 */
export const VALUE_FUNCTIONS: Readonly<Record<string, ValueFunction>> = lookupTable<ValueFunction>({
  abs: (v) => Math.abs(v),
  ceil: (v) => Math.ceil(v),
  floor: (v) => Math.floor(v),
  exp: (v) => Math.exp(v),
  ln: (v) => Math.log(v),
  log2,
  log10,
  sqrt: (v) => Math.sqrt(v),
  round: (v, args) => {
    // Multiplying by the inverse is Prometheus's choice (fewer float artefacts); ties round up.
    const toNearestInverse = 1 / (args.length > 0 ? args[0] : 1)
    return Math.floor(v * toNearestInverse + 0.5) / toNearestInverse
  },
  sgn: (v) => (v < 0 ? -1 : v > 0 ? 1 : v),
  clamp: (v, args) => (args[1] < args[0] ? NaN : Math.max(args[0], Math.min(args[1], v))),
  clamp_min: (v, args) => Math.max(args[0], v),
  clamp_max: (v, args) => Math.min(args[0], v),
  acos: (v) => Math.acos(v),
  acosh: (v) => Math.acosh(v),
  asin: (v) => Math.asin(v),
  asinh: (v) => Math.asinh(v),
  atan: (v) => Math.atan(v),
  atanh: (v) => Math.atanh(v),
  cos: (v) => Math.cos(v),
  cosh: (v) => Math.cosh(v),
  sin: (v) => Math.sin(v),
  sinh: (v) => Math.sinh(v),
  tan: (v) => Math.tan(v),
  tanh: (v) => Math.tanh(v),
  deg: (v) => (v * 180) / Math.PI,
  rad: (v) => (v * Math.PI) / 180,
})

// The civil date of the last timestamp converted, read right after civil() (no object allocated).
let year = 0
let month = 0
let day = 0
let hour = 0
let minute = 0
let weekday = 0
let yearDay = 0

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
}

/**
 * civil converts Unix seconds, truncated towards zero as Go's int64(), to the UTC proleptic Gregorian
 * date, by days counted from 0000-03-01 in 400-year eras (so leap days fall at the end of a year).
 * It returns false for NaN, ±Inf and values outside int64, where Go's conversion is undefined.
 */
function civil(seconds: number): boolean {
  if (!(seconds >= -(2 ** 63) && seconds < 2 ** 63)) return false
  const sec = Math.trunc(seconds)
  // + 0 turns the -0 of a negative multiple of a day (or of trunc(-0.5)) into 0.
  const secOfDay = sec % 86400 < 0 ? (sec % 86400) + 86400 : (sec % 86400) + 0
  // sec - secOfDay may round beyond 2^53 s; the day count itself stays exact.
  const days = Math.round((sec - secOfDay) / 86400)
  hour = Math.floor(secOfDay / 3600)
  minute = Math.floor((secOfDay % 3600) / 60)
  weekday = (((days + 4) % 7) + 7) % 7 // 1970-01-01 was a Thursday
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const dayOfEra = z - era * 146097
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36524) -
      Math.floor(dayOfEra / 146096)) /
      365
  )
  const dayOfMarchYear =
    dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfMarchYear + 2) / 153)
  day = dayOfMarchYear - Math.floor((153 * mp + 2) / 5) + 1
  month = mp < 10 ? mp + 3 : mp - 9
  year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  // March 1 is day 60 of a common year, 61 of a leap year; January 1 comes 306 days after March 1.
  yearDay = month >= 3 ? dayOfMarchYear + 60 + (isLeap(year) ? 1 : 0) : dayOfMarchYear - 305
  return true
}

/**
 * TIME_FUNCTIONS maps each date function to its value for a Unix time in seconds (UTC), truncated to
 * whole seconds as Prometheus does. Called without an argument, the engine passes the evaluation time.
 * NaN, ±Inf and times beyond ±2^63 s give NaN (Prometheus's answer there depends on the CPU).
 */
export const TIME_FUNCTIONS: Readonly<Record<string, (seconds: number) => number>> = lookupTable<
  (seconds: number) => number
>({
  day_of_month: (s) => (civil(s) ? day : NaN),
  day_of_week: (s) => (civil(s) ? weekday : NaN),
  day_of_year: (s) => (civil(s) ? yearDay : NaN),
  days_in_month: (s) =>
    civil(s) ? DAYS_IN_MONTH[month - 1] + (month === 2 && isLeap(year) ? 1 : 0) : NaN,
  hour: (s) => (civil(s) ? hour : NaN),
  minute: (s) => (civil(s) ? minute : NaN),
  month: (s) => (civil(s) ? month : NaN),
  year: (s) => (civil(s) ? year : NaN),
})
