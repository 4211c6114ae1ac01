// Charts of falcon series (endpoints × counters from graph's history): one chart per counter, per
// endpoint, or one for all, each series "endpoint counter", optionally summed per chart (a screen
// graph's SUM). Used by Find and chart and by screens.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { alignSeries } from '../../lib/series.js'
import { chooseStep } from '../../lib/timerange.js'
import { ApiError, post } from '../api.js'
import { useT } from '../state.js'
import { Timeseries, type ChartSeries, type CursorValue } from './timeseries.js'

export type View = 'counter' | 'endpoint' | 'all'

interface History {
  endpoint: string
  counter: string
  dstype: string
  step: number
  Values: { timestamp: number; value: number | null }[] | null
}

export interface PointUnderCursor {
  endpoint: string
  counter: string
  value: number
}

export function HistoryCharts(props: {
  endpoints: string[]
  counters: string[]
  view: View
  start: number
  end: number
  cf: string
  sum?: boolean
  /** Changes to load again (auto refresh). */
  tick?: number
  onZoom?: (start: number, end: number) => void
  onCursor?: (p: PointUnderCursor | null) => void
}) {
  const t = useT()
  const [history, setHistory] = useState<History[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const grid = useRef<HTMLDivElement>(null)

  useEffect(() => {
    let gone = false
    const width = grid.current?.clientWidth ?? 800
    const chartWidth = props.view === 'all' ? width : Math.max(300, width / 2)
    // Graph picks the rollup tier from the step: a 30-day chart reads 20- or 180-step buckets.
    const step = chooseStep({ start: props.start, end: props.end }, chartWidth, 60)
    post<History[]>('/api/v1/graph/history', {
      hostnames: props.endpoints,
      counters: props.counters,
      start_time: props.start,
      end_time: props.end,
      consol_fun: props.cf,
      step,
    })
      .then((h) => {
        if (gone) return
        setHistory(h)
        setError(null)
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && !gone) setError(err.message)
      })
    return () => {
      gone = true
    }
  }, [
    props.endpoints.join('\n'),
    props.counters.join('\n'),
    props.view,
    props.start,
    props.end,
    props.cf,
    props.tick,
  ])

  const allTitle = t('charts.allInOne')
  const charts = useMemo(
    () => specs(history ?? [], props.view, allTitle, props.sum === true),
    [history, props.view, props.sum, allTitle]
  )
  return (
    <div ref={grid} class={`chart-grid view-${props.view}`} data-step={history?.[0]?.step}>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {history !== null && charts.length === 0 && <p class="hint">{t('charts.noSeries')}</p>}
      {charts.map((c) => (
        <Timeseries
          key={c.key}
          testId="chart"
          title={c.title}
          series={c.series}
          start={props.start}
          end={props.end}
          onZoom={props.onZoom}
          onCursor={(v: CursorValue | null) => {
            if (v === null || v.value === null || props.onCursor === undefined) return
            const [endpoint, counter] = v.label.split('\u2002')
            if (counter !== undefined) props.onCursor({ endpoint, counter, value: v.value })
          }}
        />
      ))}
    </div>
  )
}

interface ChartSpec {
  key: string
  title: string
  series: ChartSeries[]
}

/** One chart per counter, per endpoint, or one for all; a series is labelled "endpoint counter". */
export function specs(history: History[], view: View, allTitle: string, sum: boolean): ChartSpec[] {
  const groups = new Map<string, ChartSeries[]>()
  for (const h of history) {
    const key = view === 'counter' ? h.counter : view === 'endpoint' ? h.endpoint : allTitle
    const values = h.Values ?? []
    const s: ChartSeries = {
      // An en space joins the two: neither falcon endpoints nor counters hold one.
      label: `${h.endpoint}\u2002${h.counter}`,
      times: values.map((v) => v.timestamp),
      values: values.map((v) => (v.value === null || v.value === undefined ? null : v.value)),
    }
    const list = groups.get(key)
    if (list === undefined) groups.set(key, [s])
    else list.push(s)
  }
  return [...groups].map(([key, series]) => ({
    key,
    title: key,
    series: sum ? [sumSeries(`sum(${key})`, series)] : series,
  }))
}

/** The series added up at each time; a time where none has a point stays a gap. */
function sumSeries(label: string, series: ChartSeries[]): ChartSeries {
  const [times, ...columns] = alignSeries(series)
  const values = times.map((_, i) => {
    let total: number | null = null
    for (const c of columns) if (c[i] !== null) total = (total ?? 0) + c[i]
    return total
  })
  return { label, times, values }
}
