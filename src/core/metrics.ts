// Peregrine's own metrics in the Prometheus text format, through prom-client. A process has one
// registry (Deps.metrics): every component it runs registers there, and every component's HTTP port
// serves it at /metrics with the process's own (CPU, memory, GC, event loop), so each process is one
// Prometheus target however many components it runs. Most metrics are read at scrape time from the
// counters a component keeps anyway (the ones /counter/all shows), not counted twice.
import client from 'prom-client'
import type { ListenerStats } from './connection-limits.js'

export type MetricsRegistry = client.Registry

/** newMetricsRegistry returns an empty registry. */
export function newMetricsRegistry(): MetricsRegistry {
  return new client.Registry()
}

let processRegistry: client.Registry | null = null

// The process's metrics (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_gc_*, …),
// collected once a process whatever the number of registries.
function processMetrics(): client.Registry {
  if (processRegistry === null) {
    processRegistry = new client.Registry()
    client.collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** EXPOSITION_CONTENT_TYPE is the text format 0.0.4's content type. */
export const EXPOSITION_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE

/** exposition renders `registry` and the process's metrics in the text format. */
export async function exposition(registry: MetricsRegistry): Promise<string> {
  return client.Registry.merge([registry, processMetrics()]).metrics()
}

/** LabelledValue is one series of a metric read at scrape time: its labels and value. */
export type LabelledValue = [Record<string, string>, number]

/**
 * MetricSource says how to read a metric at scrape time: one number, or one per label set (all with
 * the same label names, listed in `labels`).
 */
export interface MetricSource {
  name: string
  help: string
  labels?: readonly string[]
  read: () => number | readonly LabelledValue[]
}

// A name already registered is not registered again: two components of one kind in one process (a
// test's two graph nodes sharing a registry) would otherwise throw. Such tests give each its own.
function registered(registry: MetricsRegistry, name: string): boolean {
  return registry.getSingleMetric(name) !== undefined
}

/**
 * counterFrom registers a counter read from `source` at scrape time. Its name must end in `_total`,
 * and what `read` returns must only grow (a counter that restarts with the process).
 */
export function counterFrom(registry: MetricsRegistry, source: MetricSource): void {
  if (!source.name.endsWith('_total')) throw new Error(`BUG: counter ${source.name} without _total`)
  if (registered(registry, source.name)) return
  new client.Counter({
    name: source.name,
    help: source.help,
    labelNames: source.labels ?? [],
    registers: [registry],
    collect() {
      this.reset()
      const v = source.read()
      if (typeof v === 'number') this.inc(Math.max(0, v))
      else for (const [labels, x] of v) this.inc(labels, Math.max(0, x))
    },
  })
}

/** gaugeFrom registers a gauge read from `source` at scrape time. */
export function gaugeFrom(registry: MetricsRegistry, source: MetricSource): void {
  if (registered(registry, source.name)) return
  new client.Gauge({
    name: source.name,
    help: source.help,
    labelNames: source.labels ?? [],
    registers: [registry],
    collect() {
      this.reset()
      const v = source.read()
      if (typeof v === 'number') this.set(v)
      else for (const [labels, x] of v) this.set(labels, x)
    },
  })
}

/** Histogram observes durations or sizes into buckets. */
export interface Histogram {
  observe(labels: Record<string, string>, value: number): void
}

/** histogram registers a histogram that code observes into (seconds, by convention). */
export function histogram(
  registry: MetricsRegistry,
  options: { name: string; help: string; labels: readonly string[]; buckets: number[] }
): Histogram {
  const existing = registry.getSingleMetric(options.name)
  if (existing !== undefined) return existing as unknown as Histogram
  return new client.Histogram({
    name: options.name,
    help: options.help,
    labelNames: options.labels,
    buckets: options.buckets,
    registers: [registry],
  })
}

/** LATENCY_BUCKETS: seconds, from a millisecond to a minute. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]

/**
 * listenerMetrics registers a component's connection counts per listener (connection-limits'
 * ListenerStats): open and paused connections, and those refused or closed by a limit.
 */
export function listenerMetrics(
  registry: MetricsRegistry,
  component: string,
  listeners: () => Record<string, ListenerStats>
): void {
  const each = (pick: (s: ListenerStats) => number): LabelledValue[] =>
    Object.entries(listeners()).map(([listener, s]) => [{ listener }, pick(s)] as LabelledValue)
  gaugeFrom(registry, {
    name: `peregrine_${component}_connections_open`,
    help: `Connections open on ${component}, by listener.`,
    labels: ['listener'],
    read: () => each((s) => s.open),
  })
  gaugeFrom(registry, {
    name: `peregrine_${component}_connections_paused`,
    help: `Connections of ${component} not read now (replies unread, or calls at the cap), by listener.`,
    labels: ['listener'],
    read: () => each((s) => s.paused),
  })
  counterFrom(registry, {
    name: `peregrine_${component}_connections_refused_total`,
    help: `Connections ${component} closed as they arrived, by listener and the cap they hit (maxConnections, maxConnectionsPerAddress).`,
    labels: ['listener', 'cap'],
    read: () =>
      Object.entries(listeners()).flatMap(([listener, s]) => [
        [{ listener, cap: 'total' }, s.refused] as LabelledValue,
        [{ listener, cap: 'per_address' }, s.refusedPerAddress] as LabelledValue,
      ]),
  })
  counterFrom(registry, {
    name: `peregrine_${component}_connections_closed_total`,
    help: `Connections ${component} closed by a timeout, by listener and reason (idle, request).`,
    labels: ['listener', 'reason'],
    read: () =>
      Object.entries(listeners()).flatMap(([listener, s]) => [
        [{ listener, reason: 'idle' }, s.idleClosed] as LabelledValue,
        [{ listener, reason: 'request' }, s.requestTimeouts] as LabelledValue,
      ]),
  })
}
