// Alarms: the problems open now by priority, updated live; a case's events, notes and the messages
// it caused, with the chart of the series that fired, its threshold drawn and the event marked;
// silences.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { thresholdOf } from '../../lib/links.js'
import { chooseStep } from '../../lib/timerange.js'
import { ApiError, get, post, withParams } from '../api.js'
import { DeleteButton } from '../components/delete-button.js'
import { Timeseries, type ChartSeries } from '../components/timeseries.js'
import { Link } from '../components/link.js'
import { formatTime, useT, type Route } from '../state.js'

export interface AlarmCase {
  id: string
  endpoint: string
  metric: string
  func: string
  cond: string
  note: string
  step: number
  current_step: number
  priority: number
  status: string
  timestamp: string
  update_at: string
  strategy_id: number
  expression_id: number
  template_id: number
  process_status: string
}

interface AlarmEvent {
  id: number
  step: number
  cond: string
  status: number
  timestamp: string
}
interface Note {
  id: number
  note: string
  case_id: string
  status: string
  timestamp: string
  user: string
}
interface Notification {
  id: number
  channel: string
  tos: string
  subject: string
  status: string
  attempts: number
  error: string
  created_at: string
}
interface Silence {
  id: number
  endpoint: string
  metric: string
  tags: string
  strategy_id: number
  expression_id: number
  starts_at: number
  ends_at: number
  note: string
  creator: string
}

const POLL_MS = 5000
const unix = (rfc3339: string) => Math.floor(Date.parse(rfc3339) / 1000)
const when = (rfc3339: string) => formatTime(Date.parse(rfc3339))

/** Calls `load` now and every POLL_MS while the page is visible. */
function usePoll(load: () => Promise<void>): void {
  useEffect(() => {
    void load()
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load()
    }, POLL_MS)
    return () => clearInterval(timer)
  }, [load])
}

export function AlarmsPage(props: { route: Route }) {
  const t = useT()
  const [cases, setCases] = useState<AlarmCase[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const showAll = props.route.query.get('all') === '1'
  const load = useCallback(async () => {
    try {
      const rows = await get<AlarmCase[]>(
        withParams('/api/v1/alarm/eventcases', {
          startTime: 1,
          status: showAll ? undefined : 'PROBLEM',
        })
      )
      setCases(rows)
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [showAll])
  usePoll(load)

  const byPriority = new Map<number, AlarmCase[]>()
  for (const c of cases ?? []) {
    const list = byPriority.get(c.priority) ?? []
    list.push(c)
    byPriority.set(c.priority, list)
  }
  const priorities = [...byPriority.keys()].sort((a, b) => a - b)
  return (
    <div class="alarms-page">
      <h1>{showAll ? t('alarms.allCases') : t('alarms.current')}</h1>
      <p>
        <Link href={showAll ? '/alarms' : '/alarms?all=1'}>
          {showAll ? t('alarms.showCurrent') : t('alarms.showAll')}
        </Link>
        {' · '}
        <Link href="/alarms/silences">{t('alarms.silences')}</Link>
      </p>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {cases !== null && cases.length === 0 && <p class="hint">{t('alarms.none')}</p>}
      <div aria-live="polite" data-testid="problems">
        {priorities.map((p) => (
          <section key={p}>
            <h2>{t('alarms.priority', { priority: p })}</h2>
            <table class="cases">
              <thead>
                <tr>
                  <th>{t('alarms.endpoint')}</th>
                  <th>{t('alarms.metric')}</th>
                  <th>{t('alarms.cond')}</th>
                  <th>{t('alarms.step')}</th>
                  <th>{t('alarms.status')}</th>
                  <th>{t('alarms.process')}</th>
                  <th>{t('alarms.since')}</th>
                </tr>
              </thead>
              <tbody>
                {byPriority.get(p)!.map((c) => (
                  <tr key={c.id} class={`status-${c.status.toLowerCase()}`}>
                    <td>
                      <Link href={withParams('/alarms/case', { id: c.id })}>{c.endpoint}</Link>
                    </td>
                    <td>{c.metric}</td>
                    <td>
                      {c.func} {c.cond}
                    </td>
                    <td>
                      {c.current_step}/{c.step}
                    </td>
                    <td>{c.status}</td>
                    <td>
                      {t(
                        `alarms.ps.${c.process_status.replace(' ', '_')}` as 'alarms.ps.unresolved'
                      )}
                    </td>
                    <td>{when(c.timestamp)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
      </div>
    </div>
  )
}

export function CasePage(props: { route: Route }) {
  const t = useT()
  const id = props.route.query.get('id') ?? ''
  const [c, setCase] = useState<AlarmCase | null | undefined>(undefined)
  const [events, setEvents] = useState<AlarmEvent[]>([])
  const [notes, setNotes] = useState<Note[]>([])
  const [sent, setSent] = useState<Notification[]>([])
  const [series, setSeries] = useState<ChartSeries[] | null>(null)
  const [error, setError] = useState<string | null>(null)

  const load = useCallback(async () => {
    try {
      const [cases, ev, no, nf] = await Promise.all([
        get<AlarmCase[]>(withParams('/api/v1/alarm/eventcases', { event_id: id })),
        get<AlarmEvent[]>(withParams('/api/v1/alarm/events', { event_id: id, limit: 50 })),
        get<Note[]>(withParams('/api/v1/alarm/event_note', { event_id: id, limit: 50 })),
        get<Notification[]>(
          withParams('/api/v1/alarm/notifications', { event_id: id, limit: 100 })
        ),
      ])
      // A poll that misses the case keeps what was shown rather than blanking the page.
      setCase((shown) => cases[0] ?? shown ?? null)
      setEvents(ev)
      setNotes(no)
      setSent(nf)
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [id])
  usePoll(load)

  const began = c ? unix(c.timestamp) : 0
  const start = began - 3600
  // The range moves when the case does (a new event), not at every poll: the chart is not rebuilt.
  const end = useMemo(
    () =>
      c
        ? Math.max(Math.min(Math.floor(Date.now() / 1000), unix(c.update_at) + 1800), began + 600)
        : 0,
    [c?.id, c?.update_at]
  )
  useEffect(() => {
    if (!c) return
    post<
      {
        endpoint: string
        counter: string
        Values: { timestamp: number; value: number | null }[] | null
      }[]
    >('/api/v1/graph/history', {
      hostnames: [c.endpoint],
      counters: [c.metric],
      start_time: start,
      end_time: end,
      consol_fun: 'AVERAGE',
      step: chooseStep({ start, end }, 800, 60),
    })
      .then((h) =>
        setSeries(
          h.map((s) => ({
            label: `${s.endpoint}\u2002${s.counter}`,
            times: (s.Values ?? []).map((v) => v.timestamp),
            values: (s.Values ?? []).map((v) => v.value),
          }))
        )
      )
      .catch((err: unknown) => {
        if (err instanceof ApiError) setError(err.message)
      })
  }, [c?.id, c?.update_at])

  if (c === undefined) return <p>{t('common.loading')}</p>
  if (c === null) return <p class="error">{t('alarms.noCase', { id })}</p>
  return (
    <div class="case-page">
      <h1>
        {c.endpoint} · {c.metric}
      </h1>
      <p>
        <strong class={`status-${c.status.toLowerCase()}`}>{c.status}</strong> {c.func} {c.cond} ·{' '}
        {t('alarms.priority', { priority: c.priority })} · {c.note}
      </p>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {series !== null && (
        <Timeseries
          testId="case-chart"
          title={t('alarms.seriesThatFired')}
          series={series}
          start={start}
          end={end}
          threshold={thresholdOf(c.cond)}
          marker={began}
        />
      )}
      <NoteForm id={c.id} onAdded={load} />
      <h2>{t('alarms.notes')}</h2>
      <table>
        <tbody>
          {notes.map((n) => (
            <tr key={n.id}>
              <td>{when(n.timestamp)}</td>
              <td>{n.user}</td>
              <td>{t(`alarms.ps.${n.status.replace(' ', '_')}` as 'alarms.ps.unresolved')}</td>
              <td>{n.note}</td>
              <td>{n.case_id}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t('alarms.events')}</h2>
      <table>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{when(e.timestamp)}</td>
              <td>{e.status === 0 ? 'PROBLEM' : 'OK'}</td>
              <td>{e.cond}</td>
              <td>{t('alarms.stepN', { step: e.step })}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t('alarms.deliveries')}</h2>
      {sent.length === 0 ? (
        <p class="hint">{t('alarms.noDeliveries')}</p>
      ) : (
        <table data-testid="deliveries">
          <thead>
            <tr>
              <th>{t('alarms.when')}</th>
              <th>{t('alarms.channel')}</th>
              <th>{t('alarms.recipients')}</th>
              <th>{t('alarms.outcome')}</th>
            </tr>
          </thead>
          <tbody>
            {sent.map((n) => (
              <tr key={n.id}>
                <td>{when(n.created_at)}</td>
                <td>{n.channel}</td>
                <td>{n.tos}</td>
                <td>
                  {n.status}
                  {n.error !== '' && ` (${n.error})`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

const NOTE_STATUSES = ['in progress', 'comment', 'resolved', 'ignored', 'unresolved'] as const

function NoteForm(props: { id: string; onAdded: () => Promise<void> }) {
  const t = useT()
  const [note, setNote] = useState('')
  const [status, setStatus] = useState<string>('in progress')
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    try {
      await post('/api/v1/alarm/event_note', { event_id: props.id, note, status })
      setNote('')
      setError(null)
      await props.onAdded()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <form class="inline-form" onSubmit={(e) => void submit(e)}>
      <label>
        {t('alarms.note')}{' '}
        <input
          value={note}
          maxLength={300}
          required
          onInput={(e) => setNote((e.target as HTMLInputElement).value)}
        />
      </label>
      <select
        value={status}
        aria-label={t('alarms.process')}
        onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}
      >
        {NOTE_STATUSES.map((s) => (
          <option key={s} value={s}>
            {t(`alarms.ps.${s.replace(' ', '_')}` as 'alarms.ps.unresolved')}
          </option>
        ))}
      </select>
      <button type="submit">{t('alarms.addNote')}</button>
      {error !== null && (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
    </form>
  )
}

export function SilencesPage() {
  const t = useT()
  const [rows, setRows] = useState<Silence[]>([])
  const [error, setError] = useState<string | null>(null)
  const [form, setForm] = useState({ endpoint: '', metric: '', tags: '', hours: '2', note: '' })
  const load = useCallback(async () => {
    try {
      setRows(await get<Silence[]>('/api/v1/alarm/silences'))
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [])
  useEffect(() => void load(), [load])
  const submit = async (e: Event) => {
    e.preventDefault()
    const hours = Number(form.hours)
    if (!(hours > 0)) return setError(t('alarms.silenceHours'))
    try {
      await post('/api/v1/alarm/silences', {
        endpoint: form.endpoint,
        metric: form.metric,
        tags: form.tags,
        ends_at: Math.floor(Date.now() / 1000 + hours * 3600),
        note: form.note,
      })
      setError(null)
      await load()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  })
  return (
    <div>
      <h1>{t('alarms.silences')}</h1>
      <form class="grid-form" onSubmit={(e) => void submit(e)}>
        <label>
          {t('alarms.endpoint')} <input {...field('endpoint')} />
        </label>
        <label>
          {t('alarms.metric')} <input {...field('metric')} />
        </label>
        <label>
          {t('strategy.tags')} <input {...field('tags')} placeholder="k=v,k2=v2" />
        </label>
        <label>
          {t('alarms.hours')} <input {...field('hours')} inputMode="decimal" />
        </label>
        <label>
          {t('alarms.note')} <input {...field('note')} required />
        </label>
        <button type="submit">{t('alarms.silence')}</button>
        {error !== null && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
      <table>
        <thead>
          <tr>
            <th>{t('alarms.endpoint')}</th>
            <th>{t('alarms.metric')}</th>
            <th>{t('strategy.tags')}</th>
            <th>{t('alarms.until')}</th>
            <th>{t('alarms.note')}</th>
            <th>{t('alarms.creator')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id}>
              <td>{s.endpoint}</td>
              <td>{s.metric}</td>
              <td>{s.tags}</td>
              <td>{formatTime(s.ends_at * 1000)}</td>
              <td>{s.note}</td>
              <td>{s.creator}</td>
              <td>
                <DeleteButton
                  path={`/api/v1/alarm/silences/${s.id}`}
                  onDone={load}
                  onError={setError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
