// A time series chart (uPlot on a canvas) with the legend falcon users expect: last, min, max and
// avg per series, a click on a series hides or shows it. A drag zooms (the page puts the range in
// the URL); a threshold and an event time may be drawn over the data.
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import {
  alignSeries,
  decimate,
  formatValue,
  isolatedPoints,
  seriesStats,
  type SeriesData,
} from '../../lib/series.js'
import { tickLabels } from '../../lib/timerange.js'
import { language, useStore, useT } from '../state.js'

export interface ChartSeries extends SeriesData {
  label: string
}

export interface CursorValue {
  label: string
  time: number
  value: number | null
}

export interface TimeseriesProps {
  title?: string
  series: ChartSeries[]
  /** The range asked for, in seconds: the x axis spans it even where no data is. */
  start: number
  end: number
  height?: number
  threshold?: number
  /** An event's time (seconds), drawn as a vertical line. */
  marker?: number
  onZoom?: (start: number, end: number) => void
  /** The series and value under the cursor, for "alert on this". */
  onCursor?: (value: CursorValue | null) => void
  testId?: string
}

const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
  '#3182bd',
]

export function colorOf(i: number): string {
  return PALETTE[i % PALETTE.length]
}

export function Timeseries(props: TimeseriesProps) {
  const t = useT()
  const lang = useStore(language)
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const [hidden, setHidden] = useState<Set<number>>(new Set())
  const [width, setWidth] = useState(0)
  const propsRef = useRef(props)
  propsRef.current = props

  // Series longer than the chart is wide are thinned to min/max per pixel column: the shape and
  // the spikes stay, the canvas draws a few thousand points instead of hundreds of thousands.
  const data = useMemo(() => {
    const w = Math.max(200, width || 800)
    return alignSeries(props.series.map((s) => decimate(s, w)))
  }, [props.series, width])
  const stats = useMemo(() => props.series.map((s) => seriesStats(s.values)), [props.series])

  useEffect(() => {
    const el = box.current
    if (el === null) return
    const observer = new ResizeObserver(() => {
      const w = Math.floor(el.clientWidth)
      setWidth(w)
      plot.current?.setSize({ width: w, height: propsRef.current.height ?? 260 })
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [])

  useEffect(() => {
    const el = box.current
    if (el === null) return
    const w = Math.max(200, Math.floor(el.clientWidth))
    const threshold = props.threshold
    const marker = props.marker
    const opts: uPlot.Options = {
      width: w,
      height: props.height ?? 260,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: {
        x: { time: true, range: () => [props.start, props.end] },
        y: {
          range: (_u, min, max) => {
            let lo = min
            let hi = max
            if (threshold !== undefined) {
              lo = lo === null || Number.isNaN(lo) ? threshold : Math.min(lo, threshold)
              hi = hi === null || Number.isNaN(hi) ? threshold : Math.max(hi, threshold)
            }
            if (lo === null || hi === null || Number.isNaN(lo) || Number.isNaN(hi)) return [0, 1]
            if (lo === hi) return [lo - 1, hi + 1]
            const pad = (hi - lo) * 0.05
            return [lo - pad, hi + pad]
          },
        },
      },
      axes: [
        { values: (_u, ticks, _space, incr) => tickLabels(ticks, incr, lang), size: 44 },
        { values: (_u, ticks) => ticks.map((v) => formatValue(v)), size: 60 },
      ],
      series: [
        {},
        ...props.series.map((s, i) => ({
          label: s.label,
          stroke: colorOf(i),
          width: 1.5,
          spanGaps: false,
          show: !hidden.has(i),
          // A point with no neighbour is drawn as a dot: a line cannot show it.
          points: {
            show: true,
            size: 7,
            fill: colorOf(i),
            filter: (u: uPlot, s: number) => isolatedPoints(u.data[s]),
          },
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return
            const a = u.posToVal(u.select.left, 'x')
            const b = u.posToVal(u.select.left + u.select.width, 'x')
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
            propsRef.current.onZoom?.(a, b)
          },
        ],
        setCursor: [
          (u) => {
            const cb = propsRef.current.onCursor
            if (cb === undefined) return
            const idx = u.cursor.idx
            if (idx === null || idx === undefined) return cb(null)
            // The series nearest the cursor: uPlot focuses one when the pointer is close to it.
            let best = -1
            let bestDist = Infinity
            const top = u.cursor.top ?? 0
            for (let s = 1; s < u.series.length; s++) {
              if (!u.series[s].show) continue
              const v = u.data[s][idx]
              if (v === null || v === undefined) continue
              const d = Math.abs(u.valToPos(v, 'y') - top)
              if (d < bestDist) {
                bestDist = d
                best = s
              }
            }
            if (best < 0) return cb(null)
            cb({
              label: propsRef.current.series[best - 1].label,
              time: u.data[0][idx],
              value: u.data[best][idx] ?? null,
            })
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx
            ctx.save()
            ctx.lineWidth = 1.5 * devicePixelRatio
            if (threshold !== undefined) {
              const y = u.valToPos(threshold, 'y', true)
              ctx.strokeStyle = '#d62728'
              ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio])
              ctx.beginPath()
              ctx.moveTo(u.bbox.left, y)
              ctx.lineTo(u.bbox.left + u.bbox.width, y)
              ctx.stroke()
            }
            if (marker !== undefined) {
              const x = u.valToPos(marker, 'x', true)
              ctx.strokeStyle = '#ff7f0e'
              ctx.setLineDash([])
              ctx.beginPath()
              ctx.moveTo(x, u.bbox.top)
              ctx.lineTo(x, u.bbox.top + u.bbox.height)
              ctx.stroke()
            }
            ctx.restore()
          },
        ],
      },
    }
    const u = new uPlot(opts, data, el)
    plot.current = u
    return () => {
      u.destroy()
      plot.current = null
    }
    // A new uPlot for new series or options; data alone is set below without rebuilding.
  }, [
    props.series.length,
    props.series.map((s) => s.label).join('\n'),
    props.start,
    props.end,
    props.threshold,
    props.marker,
    props.height,
    lang,
  ])

  useEffect(() => {
    plot.current?.setData(data, true)
  }, [data])

  const toggle = (i: number) => {
    const next = new Set(hidden)
    if (next.has(i)) next.delete(i)
    else next.add(i)
    setHidden(next)
    plot.current?.setSeries(i + 1, { show: !next.has(i) })
  }

  const empty = stats.every((s) => s.last === null)
  // What is drawn, for tests and people who read the DOM: series and points stored (gaps excluded).
  const points = props.series.reduce((n, s) => n + countPoints(s.values), 0)
  return (
    <figure
      class="chart"
      data-testid={props.testId}
      data-series={props.series.length}
      data-points={points}
    >
      {props.title !== undefined && <figcaption>{props.title}</figcaption>}
      <div class="chart-plot" ref={box} />
      {empty && <p class="chart-empty">{t('chart.noData')}</p>}
      <table class="legend">
        <thead>
          <tr>
            <th>{t('chart.series')}</th>
            <th>{t('chart.last')}</th>
            <th>{t('chart.min')}</th>
            <th>{t('chart.max')}</th>
            <th>{t('chart.avg')}</th>
          </tr>
        </thead>
        <tbody>
          {props.series.map((s, i) => (
            <tr key={s.label} class={hidden.has(i) ? 'off' : ''}>
              <td>
                <button
                  type="button"
                  class="legend-toggle"
                  aria-pressed={!hidden.has(i)}
                  title={t('chart.toggle')}
                  onClick={() => toggle(i)}
                >
                  <span class="swatch" style={{ background: colorOf(i) }} />
                  {s.label}
                </button>
              </td>
              <td>{formatValue(stats[i].last)}</td>
              <td>{formatValue(stats[i].min)}</td>
              <td>{formatValue(stats[i].max)}</td>
              <td>{formatValue(stats[i].avg)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  )
}

function countPoints(values: ArrayLike<number | null>): number {
  let n = 0
  for (let i = 0; i < values.length; i++) if (values[i] !== null && !Number.isNaN(values[i])) n++
  return n
}
