// How falcon's Go code prints numbers and times, where Peregrine must print them the same.

/** formatGoFloat is Go's `%v` of a float64 (strconv 'g', shortest): `4.2`, `100`, `1e+06`, `1.5e-05`. */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  if (v === 0) return Object.is(v, -0) ? '-0' : '0'
  const [mantissa, exp] = v.toExponential().split('e')
  const e = Number(exp)
  // strconv's shortest 'g': exponent form below 1e-4 and from 1e6 up (unlike JSON's 1e21).
  if (e < -4 || e >= 6) {
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`
  }
  return String(v)
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n))

/**
 * formatLocalTime is Go's `Format("2006-01-02 15:04:05")` of a time given in ms, in the process's time
 * zone (falcon's UnixTsFormat, Event.FormattedTime, the agent's /page dates).
 */
export function formatLocalTime(ms: number): string {
  const d = new Date(ms)
  return (
    `${String(d.getFullYear()).padStart(4, '0')}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  )
}
