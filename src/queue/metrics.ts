// An event queue's metrics, for the components that push to or pop from it (judge, alarm).
import { counterFrom, gaugeFrom, type MetricsRegistry } from '../core/index.js'
import type { QueueStats } from './queue.js'

/** registerQueueMetrics registers `peregrine_<component>_queue_*` read from `stats` at scrape time. */
export function registerQueueMetrics(
  registry: MetricsRegistry,
  component: string,
  stats: () => QueueStats
): void {
  const prefix = `peregrine_${component}_queue`
  counterFrom(registry, {
    name: `${prefix}_pushed_total`,
    help: 'Events pushed to the event queue.',
    read: () => stats().pushed,
  })
  counterFrom(registry, {
    name: `${prefix}_popped_total`,
    help: 'Events taken from the event queue.',
    read: () => stats().popped,
  })
  gaugeFrom(registry, {
    name: `${prefix}_backlog`,
    help: 'Events accepted but not yet in Redis (held in memory or spilled to disk); 0 in memory.',
    read: () => stats().backlog,
  })
  counterFrom(registry, {
    name: `${prefix}_spilled_total`,
    help: 'Events written to the spill file while Redis was down.',
    read: () => stats().spilled,
  })
}
