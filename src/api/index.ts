/**
 * @module api
 * Open-Falcon's HTTP API (`/api/v1`) on :8080. Today: the graph routes (history, lastpoint, endpoint and
 * endpoint_counter search), reading the graph cluster by falcon's consistent hashing. Users, the
 * `Apitoken` header and the portal routes come with the portal issue; until then these routes are open.
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { type Deps, listenError, parseListen, type Service } from '../core/index.js'
import type { ApiConfig } from './config.js'
import { GraphCluster, GraphUnavailable } from './graph-cluster.js'
import { registerGraphRoutes } from './graph-routes.js'

export { parseApiConfig, defaultApiConfig, type ApiConfig } from './config.js'

/** buildApi returns the routes on a Fastify instance without listening (tests use `inject`). */
export function buildApi(
  config: Readonly<ApiConfig>,
  deps: Deps
): { app: FastifyInstance; graphs: GraphCluster } {
  const graphs = new GraphCluster(
    config.graphCluster,
    config.replicas,
    config.callTimeout,
    deps.dial
  )
  const app = Fastify({ logger: false, bodyLimit: 8 << 20 })
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof GraphUnavailable) {
      deps.log.warn(`api: ${err.message}`)
      return reply.status(502).send({ error: err.message })
    }
    const status = err.statusCode ?? 500
    if (status >= 500) deps.log.error(`api: ${err.stack ?? err.message}`)
    return reply
      .status(status)
      .send({ error: status === 400 ? `body: ${err.message}` : err.message })
  })
  app.get('/', (_req, reply) => {
    void reply.type('text/plain').send("Hello, I'm Peregrine, speaking Falcon+ /api/v1")
  })
  app.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  registerGraphRoutes(app, graphs)
  return { app, graphs }
}

/** start listens on `config.http`. */
export async function start(config: Readonly<ApiConfig>, deps: Deps): Promise<Service> {
  const { app, graphs } = buildApi(config, deps)
  const { host, port } = parseListen('api.http', config.http)
  try {
    await app.listen({ host, port }).catch((err: unknown) => {
      throw listenError('api.http', config.http, err)
    })
  } catch (err) {
    graphs.close()
    throw err
  }
  const a = app.server.address() as AddressInfo
  return {
    name: 'api',
    addresses: { http: `${a.address}:${a.port}` },
    async stop() {
      await app.close()
      graphs.close()
    },
  }
}
