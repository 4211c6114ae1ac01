/**
 * @module api
 * Open-Falcon's HTTP API (`/api/v1`) on :8080: users, sessions and the `Apitoken` header; teams; the
 * portal configuration (host groups, hosts, templates, strategies, expressions, actions, plugins,
 * aggregator and nodata rules, dashboard screens and graphs) in the portal store; the alarm history
 * (cases, events, notes), silences and notification record; and the graph routes (history,
 * lastpoint, endpoint search), reading the graph cluster by falcon's consistent hashing.
 */
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import cors from '@fastify/cors'
import formbody from '@fastify/formbody'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  counterFrom,
  createLimitedHttpServer,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  gaugeFrom,
  histogram,
  isPeregrineError,
  LATENCY_BUCKETS,
  limitedServerFactory,
  listenerMetrics,
  type ListenerStats,
  listenError,
  type Logger,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  type Service,
} from '../core/index.js'
import { Engine } from '../promql/index.js'
import { Store } from '../store/index.js'
import type { Querier } from '../tsdb/index.js'
import { registerAlarmRoutes } from './alarm-routes.js'
import { authenticateRequest, BasicAuthCache, ensureRoot, isAdmin, LoginLimiter } from './auth.js'
import type { ApiConfig } from './config.js'
import { registerDashboardRoutes } from './dashboard-routes.js'
import { GraphCluster, GraphUnavailable } from '../cluster/index.js'
import { GraphQuerier } from './graph-querier.js'
import { newGraphRouteCounters, registerGraphRoutes } from './graph-routes.js'
import { registerHostgroupRoutes } from './hostgroup-routes.js'
import { HttpError } from './http-errors.js'
import { registerNodataRoutes } from './nodata-routes.js'
import { registerPromRoutes } from './prom/routes.js'
import type { Auth, PortalContext } from './portal.js'
import { registerSessionRoutes } from './session-routes.js'
import { registerTeamRoutes } from './team-routes.js'
import { registerTemplateRoutes } from './template-routes.js'
import { registerTokenRoutes } from './token-routes.js'
import { registerUserRoutes } from './user-routes.js'
import { defaultWebUi, registerWebUi, type WebUi } from './web-ui.js'

export { parseApiConfig, defaultApiConfig, type ApiConfig } from './config.js'

/** MAX_BODY_BYTES: the largest request body the api reads (8 MiB; 413 beyond). */
const MAX_BODY_BYTES = 8 << 20

/**
 * buildApi returns the routes on a Fastify instance without listening (tests use `inject`). The
 * Prometheus query API reads `options.querier`, by default the graph cluster's.
 */
export function buildApi(
  config: Readonly<ApiConfig>,
  deps: Deps,
  store: Store,
  options: { querier?: Querier; webUi?: WebUi } = {}
): {
  app: FastifyInstance
  graphs: GraphCluster
  ctx: PortalContext
  listeners: { http: ListenerStats; dashboardHttp?: ListenerStats }
} {
  const listeners: { http: ListenerStats; dashboardHttp?: ListenerStats } = {
    http: newListenerStats(),
    ...(config.dashboardHttp === '' ? {} : { dashboardHttp: newListenerStats() }),
  }
  const graphCounters = newGraphRouteCounters()
  const graphs = new GraphCluster(
    config.graphCluster,
    config.replicas,
    config.callTimeout,
    deps.dial,
    config.replication
  )
  const ctx: PortalContext = {
    store,
    config,
    log: deps.log,
    now: deps.now,
    limiter: new LoginLimiter(
      {
        attempts: config.loginAttempts,
        nameAttempts: config.loginNameAttempts,
        windowMs: config.loginWindow * 1000,
      },
      deps.now,
      (name) =>
        deps.log.warn(
          `api: ${config.loginNameAttempts} failed logins for ${JSON.stringify(name)} within ${config.loginWindow} s from all addresses (api.loginNameAttempts): now each address may try it once a window`
        )
    ),
    basicCache: new BasicAuthCache(deps.now),
  }
  const authContext = {
    store,
    salt: config.salt,
    limiter: ctx.limiter,
    cache: ctx.basicCache,
    defaultToken: config.defaultToken,
    nowSeconds: () => Math.floor(deps.now() / 1000),
  }
  const q = config.query
  const engine = new Engine({
    timeout: q.timeout,
    maxSamples: q.maxSamples,
    lookbackDelta: q.lookbackDelta,
    maxPointsPerSeries: q.maxPointsPerSeries,
  })
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  // Falcon echoes any origin with credentials, which lets every web page use the api through a
  // visitor's browser. Here only the configured origins (or any, with "*") get CORS headers, and never
  // Access-Control-Allow-Credentials: the Apitoken is a header the page sends, not a cookie.
  const origins = config.corsOrigins
  void app.register(cors, {
    origin: origins.length === 0 ? false : origins.includes('*') ? '*' : [...origins],
    credentials: false,
    allowedHeaders: ['Apitoken', 'Authorization', 'Content-Type', 'X-Requested-With'],
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  })
  // The falcon dashboard posts some forms (login, screens) as application/x-www-form-urlencoded.
  void app.register(formbody)
  // It also sends `Content-Type: application/json` on DELETEs without a body, which Fastify's JSON
  // parser refuses: here an empty JSON body reads as no body.
  const json = app.getDefaultJsonParser('error', 'error') as (
    req: FastifyRequest,
    body: string,
    done: (err: Error | null, value?: unknown) => void
  ) => void
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString()
    if (text === '') done(null, undefined)
    else json(req, text, done)
  })
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof GraphUnavailable) {
      deps.log.warn(`api: ${err.message}`)
      return reply.status(502).send({ error: err.message })
    }
    if (err instanceof HttpError) return reply.status(err.status).send({ error: err.message })
    if (isPeregrineError(err)) {
      if (err.code === 'PG_REMOTE_UNAVAILABLE' || err.code === 'PG_REMOTE_BAD_ANSWER') {
        deps.log.warn(`api: ${err.message}`)
      } else if (err.status >= 500 && err.code !== 'PG_STORE_UNAVAILABLE') {
        deps.log.error(`api: ${err.stack ?? err.message}`)
      }
      return reply.status(err.status).send({ error: err.message })
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({
        error: `body: larger than 8 MiB (${MAX_BODY_BYTES} bytes), the most the api reads; send less in one request`,
      })
    }
    const status = err.statusCode ?? 500
    if (status >= 500) deps.log.error(`api: ${err.stack ?? err.message}`)
    return reply
      .status(status)
      .send({ error: status === 400 ? `body: ${err.message}` : err.message })
  })
  // Every /api/v1 route needs an Apitoken unless it says `auth: 'open'`; `admin` routes need role ≥ 1.
  app.addHook('onRequest', async (req) => {
    if (req.method === 'OPTIONS') return
    const declared = req.routeOptions.config.auth
    // The route's own pattern, not req.url: Fastify matches the decoded path, so `/%61pi/v1/…` reaches
    // an /api/v1 route while its raw URL does not start with /api/v1/.
    const pattern = req.routeOptions.url ?? ''
    const auth: Auth = declared ?? (pattern.startsWith('/api/v1/') ? 'user' : 'open')
    if (auth === 'open') return
    req.user = await authenticateRequest(authContext, req.headers, req.ip)
    // A read-only caller (a `read` API token, HTTP Basic) reads: GET, HEAD, and the routes that
    // declare they only read (the Prometheus query API's POST forms).
    if (
      req.user.readOnly &&
      req.method !== 'GET' &&
      req.method !== 'HEAD' &&
      req.routeOptions.config.readOnly !== true
    ) {
      throw new HttpError(
        403,
        'read-only credentials (a read API token or HTTP Basic) may not change anything: log in, or use a full API token'
      )
    }
    if (auth === 'admin' && !isAdmin(req.user)) {
      throw new HttpError(403, 'only an admin may do this')
    }
  })
  const prom = registerPromRoutes(app, {
    engine,
    querier: options.querier ?? new GraphQuerier(graphs),
    config: q,
    log: deps.log,
    now: deps.now,
  })
  registerWebUi(app, options.webUi ?? defaultWebUi())
  app.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  const registry = deps.metrics ?? newMetricsRegistry()
  // Every route's latency, by its pattern (a bounded set) and status: the query API's among them.
  const durations = histogram(registry, {
    name: 'peregrine_api_request_duration_seconds',
    help: 'api requests by route pattern, method and status code, from arrival to answer.',
    labels: ['route', 'method', 'code'],
    buckets: LATENCY_BUCKETS,
  })
  app.addHook('onResponse', async (req, reply) => {
    durations.observe(
      {
        route: req.routeOptions.url ?? 'unmatched',
        method: req.method,
        code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000
    )
  })
  counterFrom(registry, {
    name: 'peregrine_api_promql_queries_total',
    help: 'PromQL queries (query, query_range), by outcome.',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'served' }, prom.queries],
      [{ outcome: 'failed' }, prom.failed],
      [{ outcome: 'refused' }, prom.gate.refused],
      [{ outcome: 'timed_out_waiting' }, prom.gate.timedOut],
    ],
  })
  gaugeFrom(registry, {
    name: 'peregrine_api_promql_queries_running',
    help: 'PromQL queries running and waiting for a slot (api.query.maxConcurrency).',
    labels: ['state'],
    read: () => [
      [{ state: 'running' }, prom.gate.running],
      [{ state: 'waiting' }, prom.gate.waiting],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_api_graph_refused_total',
    help: 'Falcon graph requests refused by a budget (history points, index rows) or a timeout.',
    labels: ['reason'],
    read: () => [
      [{ reason: 'history_points' }, graphCounters.historyRefused],
      [{ reason: 'index_rows' }, graphCounters.indexRefused],
      [{ reason: 'timeout' }, graphCounters.queryTimeouts],
    ],
  })
  counterFrom(registry, {
    name: 'peregrine_api_logins_refused_total',
    help: 'Logins answered 429 after too many failures (api.loginAttempts), by what failed: the address or the name.',
    labels: ['by'],
    read: () => [
      [{ by: 'address' }, ctx.limiter.refused.address],
      [{ by: 'name' }, ctx.limiter.refused.name],
    ],
  })
  listenerMetrics(registry, 'api', () => listeners)
  app.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  // As the other components' (falcon's api has none): what the limits refused.
  app.get('/counter/all', () => ({
    msg: 'success',
    data: {
      ...graphCounters,
      loginRefused: ctx.limiter.refused,
      listeners,
      promQueries: {
        served: prom.queries,
        failed: prom.failed,
        running: prom.gate.running,
        waiting: prom.gate.waiting,
        refused: prom.gate.refused,
        timedOutWaiting: prom.gate.timedOut,
      },
    },
  }))
  registerSessionRoutes(app, ctx)
  registerUserRoutes(app, ctx)
  registerTokenRoutes(app, ctx)
  registerTeamRoutes(app, ctx)
  registerHostgroupRoutes(app, ctx)
  registerTemplateRoutes(app, ctx)
  registerNodataRoutes(app, ctx)
  registerDashboardRoutes(app, ctx)
  registerAlarmRoutes(app, ctx)
  registerGraphRoutes(app, graphs, config, graphCounters)
  return { app, graphs, ctx, listeners }
}

/**
 * start listens on `config.http`. The portal store is `shared.store` when the runner shares one
 * (all-in-one), else opened from `config.store` and closed on stop. `root` is created on first start.
 */
export async function start(
  config: Readonly<ApiConfig>,
  deps: Deps,
  shared: { store?: Store; querier?: Querier } = {}
): Promise<Service> {
  const store = shared.store ?? (await Store.open(config.store, deps.log))
  const ownStore = shared.store === undefined
  const root = createRoot(store, deps.log)
  root.done.catch((err: unknown) => {
    deps.log.error(`api: creating user root failed: ${(err as Error).message}`)
  })
  // Start waits for the first try only: retries go on while api serves (and answers 503).
  if (store.available) await root.tried
  // A querier given (remote storage's) replaces the graph cluster's for PromQL.
  const { app, graphs, listeners } = buildApi(
    config,
    deps,
    store,
    shared.querier === undefined ? {} : { querier: shared.querier }
  )
  const { host, port } = parseListen('api.http', config.http)
  // falcon-dashboard's :8081, when asked for: a second server with the same limits handing every
  // request to the same routes.
  let second: HttpServer | undefined
  const closeSecond = () =>
    new Promise<void>((ok) => {
      if (second === undefined || !second.listening) return ok()
      second.closeAllConnections()
      second.close(() => ok())
    })
  try {
    await app.listen({ host, port }).catch((err: unknown) => {
      throw listenError('api.http', config.http, err)
    })
    if (config.dashboardHttp !== '') {
      const d = parseListen('api.dashboardHttp', config.dashboardHttp)
      const server = createLimitedHttpServer(config, listeners.dashboardHttp!, (req, res) =>
        app.routing(req, res)
      )
      second = server
      await new Promise<void>((ok, fail) => {
        server.once('error', (err) =>
          fail(listenError('api.dashboardHttp', config.dashboardHttp, err))
        )
        server.listen({ host: d.host, port: d.port }, () => ok())
      })
    }
  } catch (err) {
    root.stop()
    await closeSecond()
    await app.close()
    graphs.close()
    if (ownStore) await store.close()
    throw err
  }
  const a = app.server.address() as AddressInfo
  const addresses: Record<string, string> = { http: `${a.address}:${a.port}` }
  if (second !== undefined) {
    const b = second.address() as AddressInfo
    addresses.dashboardHttp = `${b.address}:${b.port}`
  }
  return {
    name: 'api',
    addresses,
    async stop() {
      root.stop()
      await closeSecond()
      await app.close()
      graphs.close()
      if (ownStore) await store.close()
    },
  }
}

/**
 * createRoot makes `root` once the store's schema is there, and again after `retryMs` (doubling) while
 * the store cannot be reached: a MySQL that is down at first start, or goes down just as it comes up,
 * still ends with a root once it answers. `tried` resolves after the first try, `done` once root is
 * there (or on an error other than PG_STORE_UNAVAILABLE); `stop` ends the retries.
 */
export function createRoot(
  store: Store,
  log: Logger,
  retryMs = 1000
): { tried: Promise<void>; done: Promise<void>; stop(): void } {
  let stopped = false
  let triedOnce = () => {}
  const tried = new Promise<void>((resolve) => (triedOnce = resolve))
  let timer: NodeJS.Timeout | undefined
  let wake = () => {}
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve
      timer = setTimeout(resolve, ms)
      timer.unref()
    })
  const done = (async () => {
    await store.ready
    for (let delay = retryMs; !stopped; delay = Math.min(delay * 2, 30_000)) {
      try {
        await ensureRoot(store, log)
        return
      } catch (err) {
        if (stopped) return
        if ((err as { code?: unknown }).code !== 'PG_STORE_UNAVAILABLE') throw err
      } finally {
        triedOnce()
      }
      await pause(delay)
    }
  })()
  return {
    tried,
    done,
    stop() {
      stopped = true
      clearTimeout(timer)
      wake()
    },
  }
}
