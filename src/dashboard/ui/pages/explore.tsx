// Explore: a PromQL query, drawn as a graph over a range or listed as a table at an instant, as in
// Prometheus's own query page. The query, tab and range are in the URL.
import { useEffect, useRef, useState } from 'preact/hooks'
import { parseRange, promStep, zoomedQuery } from '../../lib/timerange.js'
import { ApiError, get, withParams } from '../api.js'
import { RangePicker } from '../components/range-picker.js'
import { Timeseries, type ChartSeries } from '../components/timeseries.js'
import type { EditorHandle } from '../components/promql-editor-impl.js'
import { navigate, session, useT, withQuery, type Route } from '../state.js'

type Labels = Record<string, string>
type PromData =
  | { resultType: 'matrix'; result: { metric: Labels; values: [number, string][] }[] }
  | { resultType: 'vector'; result: { metric: Labels; value: [number, string] }[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] }

export function seriesName(metric: Labels): string {
  const name = metric.__name__ ?? ''
  const rest = Object.entries(metric)
    .filter(([k]) => k !== '__name__')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
  return rest.length === 0 ? name || '{}' : `${name}{${rest.join(', ')}}`
}

function promValue(s: string): number | null {
  const v = Number(s)
  return Number.isFinite(v) ? v : s === 'NaN' ? null : v
}

export function ExplorePage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const expr = q.get('q') ?? ''
  const tab = q.get('tab') === 'table' ? 'table' : 'graph'
  const [text, setText] = useState(expr)
  const textRef = useRef(text)
  textRef.current = text
  const editorBox = useRef<HTMLDivElement>(null)
  const [editorFailed, setEditorFailed] = useState(false)
  const [result, setResult] = useState<PromData | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const chartBox = useRef<HTMLDivElement>(null)
  const now = Math.floor(Date.now() / 1000)
  const range = parseRange({ range: q.get('range'), from: q.get('from'), to: q.get('to') }, now)

  const run = () => navigate(withQuery({ q: textRef.current.trim() }))

  useEffect(() => {
    let handle: EditorHandle | undefined
    let gone = false
    import('../components/promql-editor-impl.js')
      .then(({ createEditor }) => {
        if (gone || editorBox.current === null) return
        handle = createEditor(editorBox.current, {
          doc: textRef.current,
          placeholder: t('explore.placeholder'),
          label: t('explore.expression'),
          headers: (): Record<string, string> => {
            const s = session.get()
            return s === null ? {} : { Apitoken: JSON.stringify({ name: s.name, sig: s.sig }) }
          },
          onChange: setText,
          onRun: run,
        })
      })
      .catch(() => setEditorFailed(true))
    return () => {
      gone = true
      handle?.destroy()
    }
  }, [])

  useEffect(() => {
    if (expr === '' || !range.ok) {
      setResult(null)
      return
    }
    const controller = new AbortController()
    setBusy(true)
    const path =
      tab === 'graph'
        ? withParams('/api/v1/query_range', {
            query: expr,
            start: range.value.start,
            end: range.value.end,
            step: promStep(range.value, chartBox.current?.clientWidth ?? 1000),
          })
        : withParams('/api/v1/query', { query: expr, time: q.get('to') ?? undefined })
    get<{ status: string; data: PromData }>(path, { signal: controller.signal })
      .then((r) => {
        setResult(r.data)
        setError(null)
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError) {
          setError(err.message)
          setResult(null)
        }
      })
      .finally(() => setBusy(false))
    return () => controller.abort()
  }, [expr, tab, q.get('range'), q.get('from'), q.get('to')])

  let series: ChartSeries[] = []
  if (result !== null && result.resultType === 'matrix') {
    series = result.result.map((s) => ({
      label: seriesName(s.metric),
      times: s.values.map((v) => v[0]),
      values: s.values.map((v) => promValue(v[1])),
    }))
  }

  return (
    <div class="explore-page">
      <form
        class="explore-form"
        onSubmit={(e) => {
          e.preventDefault()
          run()
        }}
      >
        {editorFailed ? (
          <textarea
            aria-label={t('explore.expression')}
            value={text}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
        ) : (
          <div class="promql-editor" ref={editorBox} data-testid="promql-editor" />
        )}
        <button type="submit" disabled={busy}>
          {t('explore.execute')}
        </button>
      </form>
      <div class="toolbar">
        <div role="tablist" class="view-buttons">
          {(['graph', 'table'] as const).map((v) => (
            <button
              key={v}
              type="button"
              role="tab"
              aria-selected={tab === v}
              onClick={() => navigate(withQuery({ tab: v }), true)}
            >
              {t(`explore.${v}`)}
            </button>
          ))}
        </div>
        {tab === 'graph' && <RangePicker route={props.route} cf={false} />}
      </div>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div ref={chartBox}>
        {result !== null && tab === 'graph' && range.ok && (
          <Timeseries
            testId="explore-chart"
            series={series}
            start={range.value.start}
            end={range.value.end}
            height={320}
            onZoom={(a, b) => navigate(withQuery({ ...zoomedQuery(a, b), range: undefined }))}
          />
        )}
        {result !== null && tab === 'table' && <ResultTable data={result} />}
      </div>
    </div>
  )
}

function ResultTable(props: { data: PromData }) {
  const t = useT()
  const d = props.data
  let rows: [string, string][]
  if (d.resultType === 'vector') rows = d.result.map((s) => [seriesName(s.metric), s.value[1]])
  else if (d.resultType === 'matrix')
    rows = d.result.map((s) => [
      seriesName(s.metric),
      s.values.map((v) => `${v[1]} @${v[0]}`).join('\n'),
    ])
  else rows = [[d.resultType, d.result[1]]]
  return (
    <table class="result-table" data-testid="result-table">
      <thead>
        <tr>
          <th>{t('explore.series')}</th>
          <th>{t('explore.value')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 && (
          <tr>
            <td colSpan={2}>{t('explore.empty')}</td>
          </tr>
        )}
        {rows.map(([name, value], i) => (
          <tr key={i}>
            <td>{name}</td>
            <td class="num">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
