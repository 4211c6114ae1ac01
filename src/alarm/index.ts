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
  type Deps,
  limitedServerFactory,
  listenError,
  newListenerStats,
  parseListen,
  type Service,
  VERSION,
} from '../core/index.js'
import { openQueue, type Queue } from '../queue/index.js'
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
