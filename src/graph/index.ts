/**
 * @module graph
 * A graph node: Open-Falcon's Graph RPC (Send, Query, Last, LastRaw, Info, Delete, Ping) over JSON-RPC,
 * Peregrine's index and Prometheus-series calls (Endpoints, Counters, Select, LabelNames, LabelValues,
 * Metadata), and HTTP /health and /counter/all, serving the tsdb storage engine.
 */
import type { AddressInfo } from 'node:net'
import { getHeapStatistics } from 'node:v8'
import Fastify from 'fastify'
import {
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  limitedServerFactory,
  listenError,
  listenTcp,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  RpcError,
  serveJsonRpc,
  type Service,
} from '../core/index.js'
import { registerGraphMetrics } from './metrics.js'
import { Db } from '../tsdb/index.js'
import { type GraphConfig, seriesLimits } from './config.js'
import { graphMethods, newGraphCounters } from './rpc.js'

export { parseGraphConfig, defaultGraphConfig, type GraphConfig } from './config.js'

/** start opens the storage and starts listening; `stop()` stops listening first, then closes storage. */
export async function start(config: Readonly<GraphConfig>, deps: Deps): Promise<Service> {
  const limits = seriesLimits(config, getHeapStatistics().heap_size_limit)
  if (config.maxSeries === 'auto' || config.maxNewSeriesPerHour === 'auto') {
    deps.log.info(
      `graph: at most ${limits.maxSeries} series, ${limits.maxNewSeriesPerHour} new an hour (graph.maxSeries, graph.maxNewSeriesPerHour: auto, from the heap limit)`
    )
  }
  const db = Db.open({
    dir: config.dataDir,
    walSync: config.walSync,
    maintenanceInterval: config.maintenanceInterval,
    maxAhead: config.maxAhead,
    ...limits,
    now: deps.now,
    log: (level, message) => (level === 'warn' ? deps.log.warn(message) : deps.log.info(message)),
  })
  const counters = newGraphCounters()
  const methods = graphMethods(db, counters, { maxIndexRows: config.maxIndexRows })
  // Called in this process (the all-in-one's api): Graph.Select's columns stay typed arrays.
  const localMethods = graphMethods(db, counters, {
    maxIndexRows: config.maxIndexRows,
    inProcess: true,
  })
  const listeners = { rpc: newListenerStats(), http: newListenerStats() }
  const rpc = serveJsonRpc(methods, {
    onError: (m) => deps.log.warn(`graph rpc: ${m}`),
    limits: config,
    stats: listeners.rpc,
  })
  const http = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  // Degraded (the WAL or flushes failing) answers 503 with the reasons, so a probe sees it.
  http.get('/health', (_req, reply) => {
    const h = db.health()
    void reply
      .status(h.ok ? 200 : 503)
      .type('text/plain')
      .send(h.ok ? 'ok' : `degraded: ${h.problems.join('; ')}\n`)
  })
  http.get('/counter/all', () => ({
    msg: 'success',
    data: { ...counters, health: db.health(), tsdb: db.stats(), listeners },
  }))
  const registry = deps.metrics ?? newMetricsRegistry()
  registerGraphMetrics(registry, db, counters, listeners)
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  try {
    await listenTcp(rpc, 'graph.rpc', config.rpc)
    const h = parseListen('graph.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('graph.http', config.http, err)
    })
  } catch (err) {
    rpc.close()
    await http.close()
    await db.close()
    throw err
  }
  const rpcAddr = rpc.address() as AddressInfo
  const httpAddr = http.server.address() as AddressInfo
  let stopped = false
  return {
    name: 'graph',
    local: {
      // The same methods, called directly instead of through JSON over loopback.
      async call<T>(method: string, param: unknown): Promise<T> {
        const fn = localMethods.get(method)
        if (stopped) throw new Error('graph is stopped')
        if (fn === undefined) throw new RpcError(`rpc: can't find method ${method}`)
        return (await fn(param)) as T
      },
      close: () => undefined,
      columns: true,
    },
    addresses: {
      rpc: `${rpcAddr.address}:${rpcAddr.port}`,
      http: `${httpAddr.address}:${httpAddr.port}`,
    },
    async stop() {
      stopped = true
      // Stop taking writes, let answers in flight go out, then flush and close the storage.
      await new Promise<void>((resolve) => {
        rpc.close(() => resolve())
        rpc.closeAll()
      })
      await http.close()
      await db.close()
    },
  }
}
