// Screens, falcon-dashboard's saved dashboards: a tree of screens, each a list of graphs (endpoints ×
// counters, one chart per counter, per endpoint, or all in one, optionally summed). A screen is shared
// by its link; the range picker overrides every graph's own timespan.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { parseRange, zoomedQuery } from '../../lib/timerange.js'
import { ApiError, del, get, post, put, withParams } from '../api.js'
import { Field } from '../components/form.js'
import { HistoryCharts, type View } from '../components/history-charts.js'
import { Link } from '../components/link.js'
import { RangePicker, useRefresh } from '../components/range-picker.js'
import { navigate, useT, withQuery, type Route } from '../state.js'

interface Screen {
  id: number
  pid: number
  name: string
}
export interface Graph {
  graph_id: number
  title: string
  endpoints: string[]
  counters: string[]
  screen_id: number
  graph_type: 'h' | 'k' | 'a'
  timespan: number
  method: string
  position: number
  falcon_tags: string
}

/** falcon's graph_type: h one chart per counter (its "endpoint view"), k per endpoint, a all in one. */
export const VIEW_OF_TYPE: Record<Graph['graph_type'], View> = {
  h: 'counter',
  k: 'endpoint',
  a: 'all',
}
const TYPE_OF_VIEW: Record<View, Graph['graph_type']> = { counter: 'h', endpoint: 'k', all: 'a' }

/** Graphs in the order a screen shows them: by position, then by id. */
export function ordered(graphs: Graph[]): Graph[] {
  return [...graphs].sort((a, b) => a.position - b.position || a.graph_id - b.graph_id)
}

export function ScreensPage() {
  const t = useT()
  const [screens, setScreens] = useState<Screen[] | null>(null)
  const [name, setName] = useState('')
  const [pid, setPid] = useState('0')
  const [error, setError] = useState<string | null>(null)
  const load = useCallback(async () => {
    try {
      setScreens(await get<Screen[]>('/api/v1/dashboard/screens?limit=10000'))
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [])
  useEffect(() => void load(), [load])
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const s = await post<Screen>('/api/v1/dashboard/screen', {
        name: name.trim(),
        pid: Number(pid),
      })
      navigate(`/screens/${s.id}`)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const children = (id: number) => (screens ?? []).filter((s) => s.pid === id)
  const tree = (id: number) => (
    <ul class="tree">
      {children(id).map((s) => (
        <li key={s.id}>
          <Link href={`/screens/${s.id}`}>{s.name}</Link>
          {children(s.id).length > 0 && tree(s.id)}
        </li>
      ))}
    </ul>
  )
  return (
    <div>
      <h1>{t('screens.title')}</h1>
      <form class="inline-form" onSubmit={(e) => void create(e)}>
        <Field label={t('screens.newScreen')} error={error ?? undefined}>
          <input
            name="screen_name"
            required
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label={t('screens.under')}>
          <select value={pid} onChange={(e) => setPid((e.target as HTMLSelectElement).value)}>
            <option value="0">{t('screens.top')}</option>
            {(screens ?? []).map((s) => (
              <option key={s.id} value={String(s.id)}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">{t('common.create')}</button>
      </form>
      {screens !== null && screens.length === 0 && <p class="hint">{t('screens.none')}</p>}
      <div data-testid="screens">{tree(0)}</div>
    </div>
  )
}

export function ScreenPage(props: { route: Route; id: number }) {
  const t = useT()
  const q = props.route.query
  const [screen, setScreen] = useState<Screen | null>(null)
  const [graphs, setGraphs] = useState<Graph[]>([])
  const [error, setError] = useState<string | null>(null)
  const [editing, setEditing] = useState<Graph | 'new' | null>(null)
  const [copied, setCopied] = useState(false)
  const [tick, setTick] = useState(0)
  useRefresh(
    Number(q.get('refresh') ?? '0'),
    useCallback(() => setTick((n) => n + 1), [])
  )
  const load = useCallback(async () => {
    try {
      const [s, g] = await Promise.all([
        get<Screen>(`/api/v1/dashboard/screen/${props.id}`),
        get<Graph[]>(`/api/v1/dashboard/graphs/screen/${props.id}?limit=500`),
      ])
      setScreen(s)
      setGraphs(ordered(g))
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [props.id])
  useEffect(() => void load(), [load])
  const now = useMemo(() => Math.floor(Date.now() / 1000), [props.route, tick])
  const custom = q.get('range') !== null || q.get('from') !== null
  const range = parseRange({ range: q.get('range'), from: q.get('from'), to: q.get('to') }, now)

  const move = async (i: number, by: -1 | 1) => {
    const list = [...graphs]
    const j = i + by
    if (j < 0 || j >= list.length) return
    ;[list[i], list[j]] = [list[j], list[i]]
    try {
      // Positions are rewritten 1..n so that equal positions (falcon's default 0) order too.
      await Promise.all(
        list
          .map((g, k) => ({ g, position: k + 1 }))
          .filter(({ g, position }) => g.position !== position)
          .map(({ g, position }) => put(`/api/v1/dashboard/graph/${g.graph_id}`, { position }))
      )
      await load()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const remove = async (g: Graph) => {
    if (!confirm(t('screens.confirmDeleteGraph', { title: g.title }))) return
    try {
      await del(`/api/v1/dashboard/graph/${g.graph_id}`)
      await load()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const removeScreen = async () => {
    if (screen === null || !confirm(t('screens.confirmDelete', { name: screen.name }))) return
    try {
      await del(`/api/v1/dashboard/screen/${props.id}`)
      navigate('/screens')
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const share = async () => {
    try {
      await navigator.clipboard.writeText(location.href)
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }

  if (screen === null)
    return error === null ? <p>{t('common.loading')}</p> : <p class="error">{error}</p>
  return (
    <div>
      <p>
        <Link href="/screens">{t('screens.title')}</Link>
        {screen.pid !== 0 && (
          <>
            {' · '}
            <Link href={`/screens/${screen.pid}`}>{t('screens.parent')}</Link>
          </>
        )}
      </p>
      <h1>{screen.name}</h1>
      <div class="toolbar">
        <RangePicker route={props.route} />
        <div class="view-buttons">
          <button type="button" onClick={() => void share()}>
            {copied ? t('screens.linkCopied') : t('screens.copyLink')}
          </button>
          <button type="button" onClick={() => setEditing('new')}>
            {t('screens.addGraph')}
          </button>
          <button type="button" class="danger" onClick={() => void removeScreen()}>
            {t('screens.delete')}
          </button>
        </div>
      </div>
      {!custom && <p class="hint">{t('screens.timespanHint')}</p>}
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editing !== null && (
        <GraphForm
          screenId={props.id}
          graph={editing === 'new' ? undefined : editing}
          onDone={() => {
            setEditing(null)
            void load()
          }}
        />
      )}
      {graphs.length === 0 && <p class="hint">{t('screens.noGraphs')}</p>}
      {graphs.map((g, i) => {
        const end = range.ok ? range.value.end : now
        const start = custom && range.ok ? range.value.start : end - g.timespan
        return (
          <section key={g.graph_id} class="screen-graph" data-testid="screen-graph">
            <div class="toolbar">
              <h2>{g.title}</h2>
              <div class="view-buttons">
                <button
                  type="button"
                  aria-label={t('screens.moveUp')}
                  disabled={i === 0}
                  onClick={() => void move(i, -1)}
                >
                  ↑
                </button>
                <button
                  type="button"
                  aria-label={t('screens.moveDown')}
                  disabled={i === graphs.length - 1}
                  onClick={() => void move(i, 1)}
                >
                  ↓
                </button>
                <button type="button" onClick={() => setEditing(g)}>
                  {t('common.edit')}
                </button>
                <button type="button" onClick={() => void remove(g)}>
                  {t('common.delete')}
                </button>
              </div>
            </div>
            {g.endpoints.length > 0 && g.counters.length > 0 && (
              <HistoryCharts
                endpoints={g.endpoints}
                counters={g.counters}
                view={VIEW_OF_TYPE[g.graph_type]}
                start={start}
                end={end}
                cf={
                  ['AVERAGE', 'MAX', 'MIN', 'LAST'].includes(g.method)
                    ? g.method
                    : (q.get('cf') ?? 'AVERAGE')
                }
                sum={g.method === 'SUM'}
                tick={tick}
                onZoom={(a, b) => navigate(withQuery({ ...zoomedQuery(a, b), range: undefined }))}
              />
            )}
          </section>
        )
      })}
    </div>
  )
}

const METHODS = ['', 'SUM', 'AVERAGE', 'MAX', 'MIN', 'LAST'] as const

function lines(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

function GraphForm(props: { screenId: number; graph?: Graph; onDone: () => void }) {
  const t = useT()
  const g = props.graph
  const [title, setTitle] = useState(g?.title ?? '')
  const [endpoints, setEndpoints] = useState((g?.endpoints ?? []).join('\n'))
  const [counters, setCounters] = useState((g?.counters ?? []).join('\n'))
  const [type, setType] = useState<Graph['graph_type']>(g?.graph_type ?? 'h')
  const [timespan, setTimespan] = useState(String(g?.timespan ?? 3600))
  const [method, setMethod] = useState(g?.method ?? '')
  const [error, setError] = useState<string | null>(null)
  const save = async (e: Event) => {
    e.preventDefault()
    const body = {
      screen_id: props.screenId,
      title: title.trim(),
      endpoints: lines(endpoints),
      counters: lines(counters),
      graph_type: type,
      timespan: Number(timespan),
      method,
    }
    try {
      if (g === undefined) await post('/api/v1/dashboard/graph', body)
      else await put(`/api/v1/dashboard/graph/${g.graph_id}`, body)
      props.onDone()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const fieldError = (name: string) => (error !== null && error.includes(name) ? error : undefined)
  return (
    <form class="grid-form" onSubmit={(e) => void save(e)} data-testid="graph-form">
      <h3>{g === undefined ? t('screens.addGraph') : t('screens.editGraph')}</h3>
      {error !== null &&
        fieldError('title') === undefined &&
        fieldError('endpoints') === undefined &&
        fieldError('counters') === undefined &&
        fieldError('timespan') === undefined && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      <Field label={t('screens.graphTitle')} error={fieldError('title')}>
        <input
          required
          value={title}
          onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
        />
      </Field>
      <Field
        label={t('charts.endpoints')}
        hint={t('screens.onePerLine')}
        error={fieldError('endpoints')}
      >
        <textarea
          rows={3}
          value={endpoints}
          onInput={(e) => setEndpoints((e.target as HTMLTextAreaElement).value)}
        />
      </Field>
      <Field
        label={t('charts.counters')}
        hint={t('screens.onePerLine')}
        error={fieldError('counters')}
      >
        <textarea
          rows={3}
          value={counters}
          onInput={(e) => setCounters((e.target as HTMLTextAreaElement).value)}
        />
      </Field>
      <Field label={t('charts.view')}>
        <select
          value={type}
          onChange={(e) => setType((e.target as HTMLSelectElement).value as Graph['graph_type'])}
        >
          <option value="h">{t('charts.view.counter')}</option>
          <option value="k">{t('charts.view.endpoint')}</option>
          <option value="a">{t('charts.view.all')}</option>
        </select>
      </Field>
      <Field label={t('screens.timespan')} error={fieldError('timespan')}>
        <input
          inputMode="numeric"
          value={timespan}
          onInput={(e) => setTimespan((e.target as HTMLInputElement).value)}
        />
      </Field>
      <Field label={t('screens.method')}>
        <select value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
          {METHODS.map((m) => (
            <option key={m} value={m}>
              {m === '' ? t('screens.eachSeries') : m}
            </option>
          ))}
        </select>
      </Field>
      <div class="form-buttons">
        <button type="submit">{t('common.save')}</button>
        <button type="button" onClick={props.onDone}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  )
}

/** From Find and chart: the chosen endpoints and counters as a graph of a screen. */
export function SaveToScreen(props: {
  endpoints: string[]
  counters: string[]
  view: View
  span: number
  onDone: () => void
}) {
  const t = useT()
  const [screens, setScreens] = useState<Screen[]>([])
  const [screen, setScreen] = useState('')
  const [title, setTitle] = useState(props.counters.join(', ').slice(0, 128))
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    get<Screen[]>('/api/v1/dashboard/screens?limit=10000')
      .then(setScreens)
      .catch((err: unknown) => err instanceof ApiError && setError(err.message))
  }, [])
  const save = async (e: Event) => {
    e.preventDefault()
    if (screen === '') return setError(t('screens.chooseScreen'))
    try {
      await post('/api/v1/dashboard/graph', {
        screen_id: Number(screen),
        title: title.trim(),
        endpoints: props.endpoints,
        counters: props.counters,
        graph_type: TYPE_OF_VIEW[props.view],
        timespan: props.span,
      })
      navigate(withParams(`/screens/${screen}`, {}))
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <form class="inline-form" onSubmit={(e) => void save(e)}>
      <Field label={t('screens.screen')}>
        <select
          name="screen"
          value={screen}
          onChange={(e) => setScreen((e.target as HTMLSelectElement).value)}
        >
          <option value="">{t('screens.chooseScreen')}</option>
          {screens.map((s) => (
            <option key={s.id} value={String(s.id)}>
              {s.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('screens.graphTitle')} error={error ?? undefined}>
        <input
          required
          value={title}
          onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
        />
      </Field>
      <button type="submit">{t('common.save')}</button>
      <button type="button" onClick={props.onDone}>
        {t('common.cancel')}
      </button>
    </form>
  )
}
