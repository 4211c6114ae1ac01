// Time ranges as the dashboard's URL and range picker write them: a relative range ("1h", "30d"), or
// a custom one whose ends are Unix seconds or calendar times ("2026-12-01 10:00", local time).

export const RELATIVE_RANGES = ['1h', '3h', '6h', '12h', '1d', '3d', '7d', '30d'] as const

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }

/** The longest range a chart asks for: five years, the longest tier's retention. */
export const MAX_RANGE_SECONDS = 5 * 365 * 86400

export interface TimeRange {
  start: number
  end: number
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

/** Seconds in a duration such as "90s", "15m", "1h", "30d", "2w"; undefined when it is not one. */
export function durationSeconds(text: string): number | undefined {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim())
  if (m === null) return undefined
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]]
  return seconds > 0 ? seconds : undefined
}

/**
 * One end of a custom range: Unix seconds (10 digits or fewer), Unix milliseconds (13 digits), or a
 * calendar time "YYYY-MM-DD", "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM[:SS]" in the browser's time zone
 * (or with a Z / ±HH:MM suffix). "now" and "now-1h" are read against `now` (seconds).
 */
export function parseTime(text: string, now: number): Parsed<number> {
  const s = text.trim()
  if (s === '') return { ok: false, error: 'empty' }
  if (s === 'now') return { ok: true, value: now }
  const rel = /^now-(.+)$/.exec(s)
  if (rel !== null) {
    const d = durationSeconds(rel[1])
    return d === undefined ? { ok: false, error: 'duration' } : { ok: true, value: now - d }
  }
  if (/^\d{1,10}$/.test(s)) return { ok: true, value: Number(s) }
  if (/^\d{13}$/.test(s)) return { ok: true, value: Math.floor(Number(s) / 1000) }
  const cal =
    /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:\d{2})?$/.exec(s)
  if (cal === null) return { ok: false, error: 'format' }
  const [, y, mo, d, h = '00', mi = '00', sec = '00', zone] = cal
  const month = Number(mo)
  const day = Number(d)
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(sec) > 59
  ) {
    return { ok: false, error: 'format' }
  }
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${sec}${zone ?? ''}`
  const ms = Date.parse(iso)
  if (!Number.isFinite(ms)) return { ok: false, error: 'format' }
  // Date.parse accepts 2026-02-31 as March 3rd: a day past the month's end is refused instead.
  if (zone === undefined && new Date(ms).getDate() !== day) return { ok: false, error: 'format' }
  return { ok: true, value: Math.floor(ms / 1000) }
}

/**
 * The range a URL asks for: `range` ("1h") ending now, or `from`/`to` (either form of parseTime).
 * `to` defaults to now. The range is at least one minute and at most MAX_RANGE_SECONDS.
 */
export function parseRange(
  q: { range?: string | null; from?: string | null; to?: string | null },
  now: number
): Parsed<TimeRange> {
  if (q.from !== undefined && q.from !== null && q.from !== '') {
    const from = parseTime(q.from, now)
    if (!from.ok) return { ok: false, error: `from:${from.error}` }
    const to =
      q.to === undefined || q.to === null || q.to === ''
        ? { ok: true as const, value: now }
        : parseTime(q.to, now)
    if (!to.ok) return { ok: false, error: `to:${to.error}` }
    if (to.value - from.value < 60) return { ok: false, error: 'order' }
    if (to.value - from.value > MAX_RANGE_SECONDS) return { ok: false, error: 'long' }
    return { ok: true, value: { start: from.value, end: to.value } }
  }
  const d = durationSeconds(q.range ?? '1h')
  if (d === undefined) return { ok: false, error: 'range:format' }
  if (d < 60) return { ok: false, error: 'order' }
  if (d > MAX_RANGE_SECONDS) return { ok: false, error: 'long' }
  return { ok: true, value: { start: now - d, end: now } }
}

/** Falcon's rollup tiers, as multiples of a series' step (graph's RRAs: 5, 20, 180 and 720 steps). */
const TIER_FACTORS = [1, 5, 20, 180, 720]

/**
 * The step to ask graph for so a chart `width` pixels wide gets at most about one point per pixel:
 * the finest tier (of a `baseStep` series) that fits, so long ranges read the rollups, not raw
 * points. Past the coarsest tier, a multiple of it.
 */
export function chooseStep(range: TimeRange, width: number, baseStep = 60): number {
  const span = Math.max(1, range.end - range.start)
  const maxPoints = Math.max(10, Math.floor(width))
  for (const f of TIER_FACTORS) {
    const step = baseStep * f
    if (span / step <= maxPoints) return step
  }
  const coarsest = baseStep * TIER_FACTORS[TIER_FACTORS.length - 1]
  return coarsest * Math.ceil(span / coarsest / maxPoints)
}

/** The step a PromQL range query uses for a chart `width` pixels wide: at least 1 s, ~1 point per 2 px. */
export function promStep(range: TimeRange, width: number): number {
  const span = Math.max(1, range.end - range.start)
  const raw = span / Math.max(10, Math.floor(width / 2))
  // Round to a step a person reads: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h, …
  const nice = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
  ]
  for (const n of nice) if (n >= raw) return n
  return 86400 * Math.ceil(raw / 86400)
}

/** A range zoomed to [a, b] (seconds, from a drag on a chart), as URL fields. */
export function zoomedQuery(a: number, b: number): { from: string; to: string } {
  const lo = Math.floor(Math.min(a, b))
  const hi = Math.ceil(Math.max(a, b))
  return { from: String(lo), to: String(Math.max(hi, lo + 60)) }
}

const pad = (n: number) => String(n).padStart(2, '0')

/** Unix seconds as a calendar time in the browser's zone, the form parseTime reads back. */
export function formatCalendar(seconds: number): string {
  const d = new Date(seconds * 1000)
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${d.getSeconds() === 0 ? time : `${time}:${pad(d.getSeconds())}`}`
}

/**
 * A time axis tick's label in 24-hour time for both languages: the time of day when ticks are less
 * than a day apart (with the date where the day changes, or on the first tick), the date otherwise.
 */
export function tickLabels(
  ticks: readonly number[],
  incrSeconds: number,
  lang: 'en' | 'zh'
): string[] {
  const date = (d: Date) =>
    lang === 'zh' ? `${d.getMonth() + 1}月${d.getDate()}日` : `${d.getMonth() + 1}/${d.getDate()}`
  let lastDay = ''
  return ticks.map((t) => {
    const d = new Date(t * 1000)
    const day = `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`
    if (incrSeconds >= 86400) return date(d)
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`
    const label = day !== lastDay ? `${time}\n${date(d)}` : time
    lastDay = day
    return label
  })
}
