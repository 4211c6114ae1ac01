// The agent's host metrics in the Prometheus text format (0.0.4), for a Prometheus that scrapes
// :1988/metrics instead of, or beside, the agent pushing them to transfer. Names and labels are the
// falcon ones as PromQL over Peregrine shows them to older clients (docs/prometheus.md): every
// character outside [a-zA-Z0-9_:] becomes `_` (`cpu.idle` → `cpu_idle`), the endpoint is a label, and
// each tag a label.
import { escapeName } from '../core/index.js'
import type { AgentMetric } from './sender.js'

// A label value in the text format: backslash, double quote and newline escaped.
function labelValue(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

/**
 * hostExposition renders metrics as the text format: one family per escaped metric name (a
 * COUNTER or DERIVE is a `counter`, else a `gauge`, by the first metric of the name), its series
 * labelled `endpoint` and their tags. A series named twice (two collectors) is shown once.
 */
export function hostExposition(metrics: readonly AgentMetric[]): string {
  const families = new Map<string, { type: string; metric: string; lines: Map<string, string> }>()
  for (const m of metrics) {
    const name = escapeName(m.metric)
    let f = families.get(name)
    if (f === undefined) {
      f = {
        type: m.counterType === 'GAUGE' ? 'gauge' : 'counter',
        metric: m.metric,
        lines: new Map(),
      }
      families.set(name, f)
    }
    const labels: [string, string][] = [['endpoint', m.endpoint]]
    for (const item of m.tags === '' ? [] : m.tags.split(',')) {
      const eq = item.indexOf('=')
      if (eq <= 0) continue
      const key = escapeName(item.slice(0, eq).trim())
      const value = item.slice(eq + 1).trim()
      if (value === '' || key === 'endpoint' || labels.some(([k]) => k === key)) continue
      labels.push([key, value])
    }
    labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    const series = `${name}{${labels.map(([k, v]) => `${k}="${labelValue(v)}"`).join(',')}}`
    if (!f.lines.has(series)) f.lines.set(series, `${series} ${sampleValue(m.value)}`)
  }
  let out = ''
  for (const [name, f] of [...families].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    out += `# HELP ${name} falcon-agent's ${f.metric}.\n# TYPE ${name} ${f.type}\n`
    for (const line of f.lines.values()) out += line + '\n'
  }
  return out
}
