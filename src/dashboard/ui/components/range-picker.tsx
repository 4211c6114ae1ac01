// The time range, consolidation and refresh controls. Everything is kept in the URL (range or
// from/to, cf, refresh) so a chart can be shared and the back button undoes a zoom.
import { useEffect, useState } from 'preact/hooks'
import { formatCalendar, parseTime, RELATIVE_RANGES } from '../../lib/timerange.js'
import { navigate, useT, withQuery, type Route } from '../state.js'

/** A range end from the URL as a person reads it: Unix seconds shown as a calendar time. */
function readable(value: string | null): string {
  if (value === null) return ''
  return /^\d{1,10}$/.test(value) ? formatCalendar(Number(value)) : value
}

export const CONSOL_FUNS = ['AVERAGE', 'MAX', 'MIN', 'LAST'] as const
export const REFRESH_SECONDS = [0, 10, 30, 60, 300] as const

export function RangePicker(props: { route: Route; cf?: boolean }) {
  const t = useT()
  const q = props.route.query
  const custom = (q.get('from') ?? '') !== ''
  const [from, setFrom] = useState(readable(q.get('from')))
  const [to, setTo] = useState(readable(q.get('to')))
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    setFrom(readable(q.get('from')))
    setTo(readable(q.get('to')))
  }, [q.get('from'), q.get('to')])

  const apply = (e: Event) => {
    e.preventDefault()
    const now = Math.floor(Date.now() / 1000)
    const a = parseTime(from, now)
    if (!a.ok) return setError(t('range.badFrom'))
    const b = to.trim() === '' ? { ok: true as const, value: now } : parseTime(to, now)
    if (!b.ok) return setError(t('range.badTo'))
    if (b.value - a.value < 60) return setError(t('range.order'))
    setError(null)
    navigate(withQuery({ from: String(a.value), to: String(b.value), range: undefined }))
  }

  return (
    <div class="range-picker" role="group" aria-label={t('range.label')}>
      <label>
        {t('range.last')}{' '}
        <select
          value={custom ? '' : (q.get('range') ?? '1h')}
          onChange={(e) =>
            navigate(
              withQuery({
                range: (e.target as HTMLSelectElement).value,
                from: undefined,
                to: undefined,
              })
            )
          }
        >
          {custom && <option value="">{t('range.custom')}</option>}
          {RELATIVE_RANGES.map((r) => (
            <option key={r} value={r}>
              {t(`range.r${r}` as 'range.r1h')}
            </option>
          ))}
        </select>
      </label>
      <form class="range-custom" onSubmit={apply}>
        <input
          aria-label={t('range.from')}
          placeholder={t('range.fromPlaceholder')}
          value={from}
          onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
          size={19}
        />
        <input
          aria-label={t('range.to')}
          placeholder={t('range.toPlaceholder')}
          value={to}
          onInput={(e) => setTo((e.target as HTMLInputElement).value)}
          size={19}
        />
        <button type="submit">{t('range.apply')}</button>
        {error !== null && (
          <span class="field-error" role="alert">
            {error}
          </span>
        )}
      </form>
      {props.cf !== false && (
        <label>
          {t('range.cf')}{' '}
          <select
            value={q.get('cf') ?? 'AVERAGE'}
            onChange={(e) =>
              navigate(withQuery({ cf: (e.target as HTMLSelectElement).value }), true)
            }
          >
            {CONSOL_FUNS.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        {t('range.refresh')}{' '}
        <select
          value={q.get('refresh') ?? '0'}
          onChange={(e) =>
            navigate(withQuery({ refresh: (e.target as HTMLSelectElement).value }), true)
          }
        >
          {REFRESH_SECONDS.map((s) => (
            <option key={s} value={String(s)}>
              {s === 0 ? t('range.refreshOff') : t('range.refreshEvery', { seconds: s })}
            </option>
          ))}
        </select>
      </label>
    </div>
  )
}

/** Calls `tick` every `seconds` (0: never) while the page is visible. */
export function useRefresh(seconds: number, tick: () => void): void {
  useEffect(() => {
    if (seconds <= 0) return
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') tick()
    }, seconds * 1000)
    return () => clearInterval(timer)
  }, [seconds, tick])
}
