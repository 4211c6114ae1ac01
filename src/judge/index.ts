/**
 * @module judge
 * Open-Falcon's judge: takes points from transfer (`Judge.Send`, JSON-RPC on :6080), keeps the newest
 * of each series, evaluates hbs's strategies and expressions on every point as it arrives, and pushes
 * PROBLEM/OK events to falcon's lists (`event:p<priority>`), in process or in Redis. HTTP on :6081.
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyReply } from 'fastify'
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  gaugeFrom,
  listenerMetrics,
  newMetricsRegistry,
  type Expression,
  type HostStrategies,
  formatGoFloat,
  formatLocalTime,
  JsonRpcClient,
  limitedServerFactory,
  listenError,
  listenTcp,
  newListenerStats,
  normalizeTags,
  parseListen,
  type RpcCaller,
  RpcError,
  serveJsonRpc,
  type Service,
  VERSION,
} from '../core/index.js'
import { openQueue, type Queue, registerQueueMetrics } from '../queue/index.js'
import type { JudgeConfig } from './config.js'
import { JudgeEngine } from './judge.js'
import { tagsKeyOf } from './series.js'
import { readState, restoreInto, StateFile } from './state.js'

export { parseJudgeConfig, defaultJudgeConfig, type JudgeConfig } from './config.js'
export { JudgeEngine, type JudgeCounters, type JudgeEngineOptions } from './judge.js'
export * from './functions.js'
export { readState, restoreInto, StateFile, type StateCounters } from './state.js'

/** JudgeService is a started judge; `syncRules` fetches hbs's rules now (tests, /config/reload). */
export interface JudgeService extends Service {
  readonly engine: JudgeEngine
  readonly queue: Queue
  syncRules(): Promise<void>
}

export interface JudgeStartOptions {
  /** queue: where events go; by default Redis when `redis` is set, else an in-process queue. */
  queue?: Queue
}

/** start fetches the rules, then listens; a judge whose hbs is down starts with no rules and retries. */
export async function start(
  config: Readonly<JudgeConfig>,
  deps: Deps,
  options: JudgeStartOptions = {}
): Promise<JudgeService> {
  // State first: what the last run left is read before anything is judged, and a data directory
  // judge cannot write stops the start with one sentence rather than losing state later.
  let state: StateFile | undefined
  let snapshotSoon: () => void = () => undefined
  let restored: ReturnType<typeof readState> | undefined
  if (config.snapshotInterval > 0) {
    restored = readState(config.spillDir)
    if (restored.problems.length > 0) {
      deps.log.warn(
        `judge: state files damaged, starting with what could be read before the damage: ${restored.problems.join('; ')}`
      )
    }
    state = new StateFile(config.spillDir, restored.gen, deps.log, () => snapshotSoon())
  }
  const ownQueue = options.queue === undefined
  const queue = options.queue ?? openQueue(config.redis, config.spillDir, deps.log)
  const pushFailures = { count: 0 }
  const engine = new JudgeEngine({
    remain: config.remain,
    minInterval: config.minInterval,
    queuePattern: config.queuePattern,
    log: deps.log,
    journal: state,
    emit: (list, payload) => {
      // The queue holds what Redis cannot take yet (memory, then disk); a refusal here is a bug or a
      // full disk, and is counted and logged rather than lost silently.
      queue.push(list, payload).catch((err: Error) => {
        pushFailures.count++
        deps.log.error(`judge: event not queued to ${list}: ${err.message}`)
      })
    },
  })

  let snapshotTimer: NodeJS.Timeout | undefined
  if (state !== undefined && restored !== undefined) {
    const st = state
    let events = 0
    for (const r of restored.series.values()) events += r.states.size
    const n = restoreInto(engine.series, restored.series.values())
    if (n > 0) {
      deps.log.info(`judge: restored ${n} series and ${events} last events from ${config.spillDir}`)
    }
    const hadFiles = restored.gen > 0
    const snapshot = () => {
      void st.snapshot(engine.series)
    }
    // A long log (many events between two snapshots) is folded into a snapshot at once.
    snapshotSoon = () => setImmediate(snapshot)
    // What was read becomes one snapshot now, so that restarts never pile up logs.
    if (hadFiles) snapshot()
    snapshotTimer = setInterval(snapshot, config.snapshotInterval)
    snapshotTimer.unref()
  }

  // Rules from hbs: the first address that answers wins; the last rules stay when none does.
  const dial =
    deps.dial ??
    ((address: string, o: { callTimeout: number; maxResponseBytes?: number }) =>
      new JsonRpcClient(address, o))
  const clients = new Map<string, RpcCaller>()
  const clientOf = (address: string) => {
    let c = clients.get(address)
    if (c === undefined) {
      c = dial(address, { callTimeout: config.hbsTimeout, maxResponseBytes: config.maxRulesBytes })
      clients.set(address, c)
    }
    return c
  }
  const sync = { ok: 0, failed: 0, lastAt: 0, lastError: '' }
  let hbsDown = false
  let stopped = false
  const syncRules = async (): Promise<void> => {
    const errors: string[] = []
    for (const address of config.hbs) {
      try {
        const c = clientOf(address)
        const [s, e] = await Promise.all([
          c.call<{ hostStrategies: readonly HostStrategies[] | null }>('Hbs.GetStrategies', {}),
          c.call<{ expressions: readonly Expression[] | null }>('Hbs.GetExpressions', {}),
        ])
        engine.setRules(s.hostStrategies ?? [], e.expressions ?? [])
        sync.ok++
        sync.lastAt = deps.now()
        if (hbsDown) deps.log.info(`judge: rules fetched from hbs ${address} again`)
        hbsDown = false
        return
      } catch (err) {
        errors.push(`${address}: ${(err as Error).message}`)
      }
    }
    sync.failed++
    sync.lastError = errors.join('; ')
    // A fetch that stop() cut short (its clients closed) is not hbs's failure: nothing to report.
    if (!hbsDown && !stopped)
      deps.log.warn(
        `judge: cannot fetch rules from hbs (${sync.lastError}); keeping the last rules and retrying every ${config.hbsInterval} ms`
      )
    hbsDown = true
    throw new Error(`judge: no hbs answered: ${sync.lastError}`)
  }
  await syncRules().catch(() => undefined)
  let syncTimer: NodeJS.Timeout | undefined
  const scheduleSync = () => {
    syncTimer = setTimeout(() => {
      void syncRules()
        .catch(() => undefined)
        .finally(() => {
          if (!stopped) scheduleSync()
        })
    }, config.hbsInterval)
    syncTimer.unref()
  }
  scheduleSync()
  const purgeTimer = setInterval(() => {
    const dropped = engine.purge(Math.floor(deps.now() / 1000) - config.staleAfter)
    if (dropped > 0)
      deps.log.info(`judge: forgot ${dropped} series silent for ${config.staleAfter} s`)
  }, config.purgeInterval)
  purgeTimer.unref()

  const send = (p: unknown) => {
    if (!Array.isArray(p)) throw new RpcError('Judge.Send: expected an array of JudgeItem')
    const problems = engine.send(p, Math.floor(deps.now() / 1000))
    if (problems.length > 0) deps.log.warn(`judge: Judge.Send refused ${problems.join('; ')}`)
    return { code: 0 }
  }
  const methods = new Map<string, (p: unknown) => unknown>([
    ['Judge.Ping', () => ({ code: 0 })],
    ['Judge.Send', send],
  ])
  const listeners = { rpc: newListenerStats(), http: newListenerStats() }
  const rpc = serveJsonRpc(methods, {
    maxRequestBytes: config.maxBodyBytes,
    onError: (m) => deps.log.warn(`judge rpc: ${m}`),
    limits: config,
    stats: listeners.rpc,
  })

  const http = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  const ok = (data: unknown) => ({ msg: 'success', data })
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  // As falcon's, which answers its own version string.
  http.get('/version', (_req, reply) => {
    void reply.type('text/plain').send(VERSION)
  })
  http.get('/workdir', () => ok(process.cwd()))
  // falcon answers /count in text: `total: <series>`.
  http.get('/count', (_req, reply) => {
    void reply.type('text/plain').send(`total: ${engine.series.count}\n`)
  })
  const registry = deps.metrics ?? newMetricsRegistry()
  const c = engine.counters
  counterFrom(registry, {
    name: 'peregrine_judge_points_total',
    help: 'Points received by Judge.Send, by outcome (judged; invalid; filtered: no rule names the metric; out_of_order).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'judged' }, c.received - c.invalid - c.filtered - c.outOfOrder],
      [{ outcome: 'invalid' }, c.invalid],
      [{ outcome: 'filtered' }, c.filtered],
      [{ outcome: 'out_of_order' }, c.outOfOrder],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_judge_evaluations_total',
    help: 'Strategy and expression evaluations.',
    read: () => c.evaluations,
  })
  counterFrom(registry, {
    name: 'peregrine_judge_events_total',
    help: 'Events (PROBLEM and OK) sent to the alarm queue.',
    read: () => c.events,
  })
  counterFrom(registry, {
    name: 'peregrine_judge_event_push_failures_total',
    help: 'Events the queue would not take.',
    read: () => pushFailures.count,
  })
  gaugeFrom(registry, {
    name: 'peregrine_judge_series',
    help: 'Series judge keeps recent points of.',
    read: () => engine.series.count,
  })
  gaugeFrom(registry, {
    name: 'peregrine_judge_rules',
    help: 'Rules judge holds, by kind (strategy, binding, expression).',
    labels: ['kind'],
    read: () => [
      [{ kind: 'strategy' }, engine.rules.strategyCount],
      [{ kind: 'binding' }, engine.rules.bindingCount],
      [{ kind: 'expression' }, engine.rules.expressionCount],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_judge_rule_fetches_total',
    help: 'Fetches of the rules from hbs, by outcome.',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'ok' }, sync.ok],
      [{ outcome: 'failed' }, sync.failed],
    ],
  })
  if (state !== undefined) {
    const sc = state.counters
    counterFrom(registry, {
      name: 'peregrine_judge_state_snapshots_total',
      help: 'Snapshots of the state (series points, last events) written.',
      read: () => sc.snapshots,
    })
    counterFrom(registry, {
      name: 'peregrine_judge_state_write_failures_total',
      help: 'State log writes and snapshots that failed (each logged).',
      read: () => sc.writeFailures,
    })
    gaugeFrom(registry, {
      name: 'peregrine_judge_state_bytes',
      help: 'Bytes of state on disk, by file (snapshot: the last one written; log: the current log).',
      labels: ['file'],
      read: () => [
        [{ file: 'snapshot' }, sc.snapshotBytes],
        [{ file: 'log' }, sc.logBytes],
      ],
    })
  }
  registerQueueMetrics(registry, 'judge', () => queue.stats())
  listenerMetrics(registry, 'judge', () => listeners)
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  http.get('/counter/all', () =>
    ok({
      ...engine.counters,
      series: engine.series.count,
      strategies: engine.rules.strategyCount,
      strategyBindings: engine.rules.bindingCount,
      expressions: engine.rules.expressionCount,
      rulesFetched: sync.ok,
      rulesFetchFailures: sync.failed,
      rulesFetchedAt: sync.lastAt,
      queuePushFailures: pushFailures.count,
      state: state?.counters ?? null,
      queue: queue.stats(),
      listeners,
    })
  )
  // falcon: /strategy/<endpoint>/<metric>: the strategies judge holds for it.
  http.get<{ Params: { endpoint: string; metric: string } }>(
    '/strategy/:endpoint/:metric',
    (req) => {
      const list = engine.rules.strategies.get(req.params.endpoint)?.get(req.params.metric)
      return ok(list?.map((c) => c.strategy) ?? null)
    }
  )
  // falcon: /expression/<metric>/<k=v>: the expressions indexed under that tag.
  http.get<{ Params: { metric: string; tag: string } }>('/expression/:metric/:tag', (req) => {
    const list = engine.rules.expressions.get(`${req.params.metric}/${req.params.tag}`)
    return ok(list?.map((c) => c.expression) ?? null)
  })
  // falcon: /history/<endpoint>/<metric>[/<k=v,…>]: in text, newest first, the values its functions
  // read (rates for a counter), at most remain-1: `<ts> <local time> <value>` lines, or `not found`.
  const history = (
    reply: FastifyReply,
    endpoint: string,
    metric: string,
    tags: string | undefined
  ) => {
    const key = tags === undefined ? '' : normalizeTags(tags)
    const s = engine.series.seriesOf(endpoint, metric).find((x) => tagsKeyOf(x.tags) === key)
    if (s === undefined || s.size === 0) return reply.type('text/plain').send('not found\n')
    const n = Math.min(config.remain - 1, s.gauge ? s.size : s.size - 1)
    let text = ''
    for (let i = 0; i < n; i++) {
      const v = s.gauge ? s.v(i) : (s.v(i) - s.v(i + 1)) / (s.t(i) - s.t(i + 1))
      text += `${s.t(i)} ${formatLocalTime(s.t(i) * 1000)} ${formatGoFloat(v)}\n`
    }
    return reply.type('text/plain').send(text)
  }
  http.get<{ Params: { endpoint: string; metric: string } }>(
    '/history/:endpoint/:metric',
    (req, reply) => history(reply, req.params.endpoint, req.params.metric, undefined)
  )
  http.get<{ Params: { endpoint: string; metric: string; tags: string } }>(
    '/history/:endpoint/:metric/:tags',
    (req, reply) => history(reply, req.params.endpoint, req.params.metric, req.params.tags)
  )
  // falcon reloads its cfg.json here; Peregrine's judge has its rules fetched from hbs at once.
  http.get('/config/reload', async (_req, reply) => {
    try {
      await syncRules()
      return ok('rules fetched from hbs')
    } catch (err) {
      return reply.status(503).send({ msg: (err as Error).message })
    }
  })

  try {
    await listenTcp(rpc, 'judge.rpc', config.rpc)
    const h = parseListen('judge.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('judge.http', config.http, err)
    })
  } catch (err) {
    stopped = true
    clearTimeout(syncTimer)
    clearInterval(purgeTimer)
    clearInterval(snapshotTimer)
    rpc.close()
    await http.close()
    for (const c of clients.values()) c.close()
    await state?.close(engine.series)
    if (ownQueue) await queue.close()
    throw err
  }
  const addr = (a: AddressInfo) => `${a.address}:${a.port}`
  return {
    name: 'judge',
    addresses: {
      rpc: addr(rpc.address() as AddressInfo),
      http: addr(http.server.address() as AddressInfo),
    },
    engine,
    queue,
    syncRules,
    local: {
      // In-process transfer: the items are judged without a JSON round trip.
      async call<T>(method: string, param: unknown): Promise<T> {
        if (stopped) throw new Error('judge is stopped')
        const fn = methods.get(method)
        if (fn === undefined) throw new RpcError(`rpc: can't find method ${method}`)
        return (await fn(param)) as T
      },
      close: () => undefined,
    },
    async stop() {
      stopped = true
      clearTimeout(syncTimer)
      clearInterval(purgeTimer)
      await new Promise<void>((resolve) => {
        rpc.close(() => resolve())
        rpc.closeAll()
      })
      await http.close()
      for (const c of clients.values()) c.close()
      // Nothing is judged any more: the last snapshot holds every series and last event.
      clearInterval(snapshotTimer)
      await state?.close(engine.series)
      if (ownQueue) await queue.close()
    },
  }
}
