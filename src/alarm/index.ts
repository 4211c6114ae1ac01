/**
 * @module alarm
 * Open-Falcon's alarm: takes judge's events from falcon's lists (`event:p0`..`event:p6`), records them
 * in the store (event_cases, events), looks up the action of the strategy's template and the members of
 * its teams, and tells them: mail (SMTP or falcon's gateway), falcon's SMS and IM gateways, DingTalk,
 * WeCom, Feishu and Slack robots, JSON webhooks and falcon's action callback. High priorities go out at
 * once, low ones are merged per recipient every minute. HTTP on :9912.
 */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  type LabelledValue,
  limitedServerFactory,
  listenError,
  listenerMetrics,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  type Service,
  VERSION,
} from '../core/index.js'
import { openQueue, type Queue, registerQueueMetrics } from '../queue/index.js'
import { deleteEventsBefore, Store } from '../store/index.js'
import { Alarm } from './alarm.js'
import type { AlarmConfig } from './config.js'

export { parseAlarmConfig, defaultAlarmConfig, type AlarmConfig } from './config.js'
export { Alarm, LISTS, condOf, type AlarmCounters } from './alarm.js'

/** AlarmService is a started alarm. */
export interface AlarmService extends Service {
  readonly alarm: Alarm
  readonly queue: Queue
}

export interface AlarmStartOptions {
  /** store: the portal store when the runner shares one; else opened from `config.store`. */
  store?: Store
  /** queue: the events' queue when the runner shares one; else Redis when `redis` is set, or in process. */
  queue?: Queue
}

/** start runs the pipeline and listens on `config.http`. */
export async function start(
  config: Readonly<AlarmConfig>,
  deps: Deps,
  options: AlarmStartOptions = {}
): Promise<AlarmService> {
  const store = options.store ?? (await Store.open(config.store, deps.log))
  const ownStore = options.store === undefined
  const ownQueue = options.queue === undefined
  const queue = options.queue ?? openQueue(config.redis, config.spillDir, deps.log)
  const alarm = new Alarm(config, store, queue, deps.log, deps.now)

  const listeners = { http: newListenerStats() }
  const http = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  // As falcon's, which answers its own version string.
  http.get('/version', (_req, reply) => {
    void reply.type('text/plain').send(VERSION)
  })
  http.get('/workdir', () => ({ msg: 'success', data: process.cwd() }))
  const registry = deps.metrics ?? newMetricsRegistry()
  const c = alarm.counters
  counterFrom(registry, {
    name: 'peregrine_alarm_events_total',
    help: 'Events taken from the queue, by outcome (recorded, invalid, no_action: no template action, silenced).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'received' }, c.events],
      [{ outcome: 'invalid' }, c.invalidEvents],
      [{ outcome: 'recorded' }, c.recorded],
      [{ outcome: 'record_failed' }, c.recordFailures],
      [{ outcome: 'no_action' }, c.noAction],
      [{ outcome: 'silenced' }, c.silenced],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_alarm_deliveries_total',
    help: 'Messages delivered, by channel (mail, sms, im, webhook, robot kinds) and outcome (sent, failed, silenced).',
    labels: ['channel', 'outcome'],
    read: () =>
      [...alarm.deliveries].flatMap(([channel, d]) => [
        [{ channel, outcome: 'sent' }, d.sent] as LabelledValue,
        [{ channel, outcome: 'failed' }, d.failed] as LabelledValue,
        [{ channel, outcome: 'silenced' }, d.silenced] as LabelledValue,
      ]),
  })
  counterFrom(registry, {
    name: 'peregrine_alarm_messages_total',
    help: 'Messages queued per user and merged (low priorities), and those with no channel configured.',
    labels: ['stage'],
    read: () => [
      [{ stage: 'queued' }, c.queued],
      [{ stage: 'merged' }, c.merged],
      [{ stage: 'unconfigured' }, c.unconfigured],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_alarm_callbacks_total',
    help: 'Template callbacks, by outcome (called, failed, refused: an internal address not allowed).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'called' }, c.callbacks],
      [{ outcome: 'failed' }, c.callbackFailures],
      [{ outcome: 'refused' }, c.callbackRefused],
    ],
  })
  registerQueueMetrics(registry, 'alarm', () => queue.stats())
  listenerMetrics(registry, 'alarm', () => listeners)
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  http.get('/counter/all', () => ({
    msg: 'success',
    data: { ...alarm.counters, queue: queue.stats(), listeners },
  }))
  const close = async () => {
    await http.close()
    if (ownQueue) await queue.close()
    if (ownStore) await store.close()
  }
  try {
    const h = parseListen('alarm.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('alarm.http', config.http, err)
    })
  } catch (err) {
    await close()
    throw err
  }
  alarm.run()

  // falcon's housekeeper: events older than the retention are deleted, a batch a minute.
  const housekeeping = setInterval(() => {
    const before = Math.floor(deps.now() / 1000) - config.retentionDays * 86_400
    deleteEventsBefore(store.db, before, config.deleteBatch).catch((err: Error) =>
      deps.log.warn(`alarm: deleting old events: ${err.message}`)
    )
  }, 60_000)
  housekeeping.unref()

  const a = http.server.address() as AddressInfo
  return {
    name: 'alarm',
    addresses: { http: `${a.address}:${a.port}` },
    alarm,
    queue,
    async stop() {
      clearInterval(housekeeping)
      await alarm.stop()
      await close()
    },
  }
}
