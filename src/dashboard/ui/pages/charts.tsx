// Find and chart, falcon-dashboard's home: search endpoints, tick some, search their counters, tick
// some, and chart them one chart per counter, per endpoint, or all in one. Everything chosen is in
// the URL, so a chart is shared by its link and the back button undoes a zoom.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { exactEndpointQuery } from '../../lib/links.js'
import { formatValue } from '../../lib/series.js'
import { parseRange, zoomedQuery } from '../../lib/timerange.js'
import { ApiError, get, withParams } from '../api.js'
import { RangePicker, useRefresh } from '../components/range-picker.js'
import { HistoryCharts, type View } from '../components/history-charts.js'
import { navigate, useT, withQuery, type Route } from '../state.js'
import { SaveToScreen } from './screens.js'

interface Endpoint {
  id: number
  endpoint: string
}
interface Counter {
  endpoint_id: number
  counter: string
  step: number
  type: string
}

export const ENDPOINT_PAGE = 50
const COUNTER_PAGE = 100

export function ChartsPage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const ticked = q.getAll('e')
  const counters = q.getAll('c')
  const view = (
    ['counter', 'endpoint', 'all'].includes(q.get('view') ?? '') ? q.get('view') : 'counter'
  ) as View

  const setTicked = (names: string[]) => {
    const u = new URLSearchParams(location.search)
    u.delete('e')
    for (const n of names) u.append('e', n)
    navigate(`${location.pathname}?${u.toString()}`, true)
  }
  const setCounters = (names: string[]) => {
    const u = new URLSearchParams(location.search)
    u.delete('c')
    for (const n of names) u.append('c', n)
    navigate(`${location.pathname}?${u.toString()}`, true)
  }

  return (
    <div class="charts-page">
      <section class="pickers" aria-label={t('charts.pickers')}>
        <EndpointPicker ticked={ticked} onTicked={setTicked} />
        <CounterPicker endpoints={ticked} ticked={counters} onTicked={setCounters} />
      </section>
      <section class="charts-area" aria-label={t('charts.area')}>
        <div class="toolbar">
          <RangePicker route={props.route} />
          <div role="group" aria-label={t('charts.view')} class="view-buttons">
            {(['counter', 'endpoint', 'all'] as View[]).map((v) => (
              <button
                key={v}
                type="button"
                aria-pressed={view === v}
                onClick={() => navigate(withQuery({ view: v }), true)}
              >
                {t(`charts.view.${v}` as 'charts.view.counter')}
              </button>
            ))}
          </div>
        </div>
        {ticked.length === 0 || counters.length === 0 ? (
          <p class="hint">{t('charts.hint')}</p>
        ) : (
          <ChartGrid route={props.route} endpoints={ticked} counters={counters} view={view} />
        )}
      </section>
    </div>
  )
}

function EndpointPicker(props: { ticked: string[]; onTicked: (names: string[]) => void }) {
  const t = useT()
  const [text, setText] = useState('')
  const [tags, setTags] = useState('')
  const [page, setPage] = useState(1)
  const [found, setFound] = useState<Endpoint[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const search = async (p: number) => {
    setBusy(true)
    try {
      const pageRows = await get<Endpoint[]>(
        withParams('/api/v1/graph/endpoint', {
          q: text.trim(),
          tags: tags.trim() || undefined,
          limit: ENDPOINT_PAGE,
          page: p,
        })
      )
      setFound(pageRows)
      setPage(p)
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    } finally {
      setBusy(false)
    }
  }

  const tickedSet = new Set(props.ticked)
  const toggle = (name: string) => {
    if (tickedSet.has(name)) props.onTicked(props.ticked.filter((n) => n !== name))
    else props.onTicked([...props.ticked, name])
  }
  const all = () => {
    const names = (found ?? []).map((e) => e.endpoint).filter((n) => !tickedSet.has(n))
    props.onTicked([...props.ticked, ...names])
  }

  return (
    <div class="picker">
      <h2>{t('charts.endpoints')}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void search(1)
        }}
      >
        <input
          aria-label={t('charts.endpointSearch')}
          placeholder={t('charts.endpointPlaceholder')}
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('charts.tagSearch')}
          placeholder={t('charts.tagPlaceholder')}
          value={tags}
          onInput={(e) => setTags((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          {t('common.search')}
        </button>
      </form>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {props.ticked.length > 0 && (
        <div class="chips" aria-label={t('charts.ticked')}>
          {props.ticked.map((n) => (
            <button
              key={n}
              type="button"
              class="chip"
              onClick={() => toggle(n)}
              title={t('common.remove')}
            >
              {n} ×
            </button>
          ))}
        </div>
      )}
      {found !== null && (
        <>
          <div class="list-head">
            <span>{t('charts.foundPage', { page, count: found.length })}</span>
            <button type="button" onClick={all} disabled={found.length === 0}>
              {t('charts.tickAll')}
            </button>
          </div>
          <ul class="checklist" data-testid="endpoint-list">
            {found.length === 0 && <li class="hint">{t('common.nothingFound')}</li>}
            {found.map((e) => (
              <li key={e.id}>
                <label>
                  <input
                    type="checkbox"
                    checked={tickedSet.has(e.endpoint)}
                    onChange={() => toggle(e.endpoint)}
                  />{' '}
                  {e.endpoint}
                </label>
              </li>
            ))}
          </ul>
          <Pager page={page} more={found.length === ENDPOINT_PAGE} onPage={(p) => void search(p)} />
        </>
      )}
    </div>
  )
}

export function Pager(props: { page: number; more: boolean; onPage: (page: number) => void }) {
  const t = useT()
  if (props.page === 1 && !props.more) return null
  return (
    <nav class="pager" aria-label={t('common.pages')}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        {t('common.previous')}
      </button>
      <span>{t('common.page', { page: props.page })}</span>
      <button type="button" disabled={!props.more} onClick={() => props.onPage(props.page + 1)}>
        {t('common.next')}
      </button>
    </nav>
  )
}

function CounterPicker(props: {
  endpoints: string[]
  ticked: string[]
  onTicked: (names: string[]) => void
}) {
  const t = useT()
  const [text, setText] = useState('')
  const [page, setPage] = useState(1)
  const [found, setFound] = useState<{ counter: string; step: number; type: string }[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const ids = useRef<Map<string, number>>(new Map())

  const search = async (p: number) => {
    try {
      // Endpoint ids for the ticked names (the URL holds names, which stay valid across restarts).
      const missing = props.endpoints.filter((n) => !ids.current.has(n))
      for (const name of missing) {
        // The exact name: graph reads a search term as a regular expression.
        const rows = await get<Endpoint[]>(
          withParams('/api/v1/graph/endpoint', { q: exactEndpointQuery(name), limit: 10 })
        )
        for (const r of rows) if (r.endpoint === name) ids.current.set(r.endpoint, r.id)
      }
      const eids = props.endpoints
        .map((n) => ids.current.get(n))
        .filter((id): id is number => id !== undefined)
      if (eids.length === 0) {
        setFound([])
        return
      }
      const rows = await get<Counter[]>(
        withParams('/api/v1/graph/endpoint_counter', {
          eid: eids.join(','),
          metricQuery: text.trim() || undefined,
          limit: COUNTER_PAGE,
          page: p,
        })
      )
      const byName = new Map<string, { counter: string; step: number; type: string }>()
      for (const r of rows) if (!byName.has(r.counter)) byName.set(r.counter, r)
      setFound([...byName.values()].sort((a, b) => (a.counter < b.counter ? -1 : 1)))
      setPage(p)
      setMore(rows.length === COUNTER_PAGE)
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const [more, setMore] = useState(false)

  useEffect(() => {
    if (props.endpoints.length > 0) void search(1)
    else setFound(null)
  }, [props.endpoints.join('\n')])

  const tickedSet = new Set(props.ticked)
  const toggle = (name: string) => {
    if (tickedSet.has(name)) props.onTicked(props.ticked.filter((n) => n !== name))
    else props.onTicked([...props.ticked, name])
  }

  return (
    <div class="picker">
      <h2>{t('charts.counters')}</h2>
      {props.endpoints.length === 0 ? (
        <p class="hint">{t('charts.tickEndpointsFirst')}</p>
      ) : (
        <>
          <form
            onSubmit={(e) => {
              e.preventDefault()
              void search(1)
            }}
          >
            <input
              aria-label={t('charts.counterSearch')}
              placeholder={t('charts.counterPlaceholder')}
              value={text}
              onInput={(e) => setText((e.target as HTMLInputElement).value)}
            />
            <button type="submit">{t('common.search')}</button>
          </form>
          {error !== null && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {found !== null && (
            <>
              <ul class="checklist" data-testid="counter-list">
                {found.length === 0 && <li class="hint">{t('common.nothingFound')}</li>}
                {found.map((c) => (
                  <li key={c.counter}>
                    <label>
                      <input
                        type="checkbox"
                        checked={tickedSet.has(c.counter)}
                        onChange={() => toggle(c.counter)}
                      />{' '}
                      {c.counter} <small>{`${c.type} ${c.step}s`}</small>
                    </label>
                  </li>
                ))}
              </ul>
              <Pager page={page} more={more} onPage={(p) => void search(p)} />
            </>
          )}
        </>
      )}
    </div>
  )
}

function ChartGrid(props: { route: Route; endpoints: string[]; counters: string[]; view: View }) {
  const t = useT()
  const q = props.route.query
  const [cursor, setCursor] = useState<{ endpoint: string; counter: string; value: number } | null>(
    null
  )
  const [tick, setTick] = useState(0)
  const now = useMemo(() => Math.floor(Date.now() / 1000), [props.route, tick])
  const range = parseRange({ range: q.get('range'), from: q.get('from'), to: q.get('to') }, now)
  const refresh = Number(q.get('refresh') ?? '0')
  useRefresh(
    refresh,
    useCallback(() => setTick((n) => n + 1), [])
  )
  const [saving, setSaving] = useState(false)
  if (!range.ok)
    return (
      <p class="error" role="alert">
        {t('range.invalid')}
      </p>
    )

  const alertOn = () => {
    if (cursor === null) return
    const slash = cursor.counter.indexOf('/')
    const metric = slash < 0 ? cursor.counter : cursor.counter.slice(0, slash)
    const tags = slash < 0 ? '' : cursor.counter.slice(slash + 1)
    navigate(
      withParams('/config/strategy/new', {
        endpoint: cursor.endpoint,
        metric,
        tags: tags || undefined,
        // Six significant digits: a threshold a person would write, not 40.076707823283186.
        value: String(Number(cursor.value.toPrecision(6))),
      })
    )
  }

  return (
    <>
      <div class="alert-on-this">
        <button
          type="button"
          disabled={cursor === null}
          onClick={alertOn}
          data-testid="alert-on-this"
        >
          {t('charts.alertOnThis')}
        </button>
        {cursor !== null && (
          <span>
            {cursor.endpoint} {cursor.counter} = {formatValue(cursor.value)}
          </span>
        )}
        <span class="spacer" />
        <button type="button" onClick={() => setSaving(!saving)} aria-expanded={saving}>
          {t('screens.saveToScreen')}
        </button>
      </div>
      {saving && (
        <SaveToScreen
          endpoints={props.endpoints}
          counters={props.counters}
          view={props.view}
          span={range.value.end - range.value.start}
          onDone={() => setSaving(false)}
        />
      )}
      <HistoryCharts
        endpoints={props.endpoints}
        counters={props.counters}
        view={props.view}
        start={range.value.start}
        end={range.value.end}
        cf={q.get('cf') ?? 'AVERAGE'}
        tick={tick}
        onZoom={(a, b) => navigate(withQuery({ ...zoomedQuery(a, b), range: undefined }))}
        onCursor={setCursor}
      />
    </>
  )
}
