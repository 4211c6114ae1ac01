/**
 * @module transfer
 * Receives points the ways Open-Falcon's transfer does (JSON-RPC Transfer.Update on :8433, HTTP
 * POST /api/push on :6060, the line socket on :4444), validates them with falcon's rules and routes them
 * by falcon's consistent hashing to the graph cluster (a push is acknowledged once graph has it) and,
 * when `judgeCluster` names any, to the judge cluster (`Judge.Send`, never waited for).
 */
import type { AddressInfo, Server } from 'node:net'
import Fastify from 'fastify'
import {
  type Deps,
  limitedServerFactory,
  listenError,
  listenTcp,
  newListenerStats,
  parseListen,
  RpcError,
  serveJsonRpc,
  type Service,
  validateBatch,
} from '../core/index.js'
import type { TransferConfig } from './config.js'
import { serveLineSocket } from './line-socket.js'
import { Router } from './router.js'

export { parseTransferConfig, defaultTransferConfig, type TransferConfig } from './config.js'

/** TransferResponse is falcon's answer to a push (Go field names, as on the wire). */
interface TransferResponse {
  Message: string
  Total: number
  Invalid: number
  Latency: number
}

/** start listens on the configured ports; `stop()` stops taking points first, then the senders. */
export async function start(config: Readonly<TransferConfig>, deps: Deps): Promise<Service> {
  const router = new Router(config, deps)
  const counters = {
    rpcCalls: 0,
    httpPushes: 0,
    socketConnections: 0,
    socketLines: 0,
    socketLinesTooLong: 0,
    received: 0,
    invalid: 0,
  }
  const listeners = {
    rpc: newListenerStats(),
    http: newListenerStats(),
    socket: newListenerStats(),
  }

  // One path for every receiver: validate, count, route, answer with falcon's TransferResponse.
  const receive = async (body: unknown): Promise<TransferResponse> => {
    const started = deps.now()
    const { valid, invalid, errors } = validateBatch(body, Math.floor(started / 1000), 3)
    counters.received += valid.length + invalid
    counters.invalid += invalid
    for (const e of errors) deps.log.warn(`transfer: item ${e.index} invalid: ${e.error.message}`)
    if (valid.length > 0) await router.route(valid)
    return {
      Message: 'ok',
      Total: valid.length + invalid,
      Invalid: invalid,
      Latency: deps.now() - started,
    }
  }

  const rpc = serveJsonRpc(
    new Map<string, (p: unknown) => unknown>([
      ['Transfer.Ping', () => ({ code: 0 })],
      [
        'Transfer.Update',
        (p) => {
          counters.rpcCalls++
          if (!Array.isArray(p))
            throw new RpcError('Transfer.Update: expected an array of MetricValue')
          return receive(p).catch((err: Error) => {
            throw new RpcError(
              `${err.message}; the points are buffered and retried, and pushing them again is safe`
            )
          })
        },
      ],
    ]),
    {
      maxRequestBytes: config.maxBodyBytes,
      onError: (m) => deps.log.warn(`transfer rpc: ${m}`),
      limits: config,
      stats: listeners.rpc,
    }
  )

  const http = Fastify({
    logger: false,
    bodyLimit: config.maxBodyBytes,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  // Plain JSON.parse for every content type: falcon's clients do not always send a content type, and
  // the default parser's prototype checks cost time on every push.
  http.removeAllContentTypeParsers()
  http.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined)
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      const e = new Error(
        `decode error: the body is not JSON (${(err as Error).message})`
      ) as Error & { statusCode: number }
      e.statusCode = 400
      done(e, undefined)
    }
  })
  http.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode ?? 500
    const msg =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `body: larger than ${config.maxBodyBytes} bytes; push smaller batches`
        : err.message
    void reply.status(status).send({ msg })
  })
  http.post('/api/push', async (req, reply) => {
    counters.httpPushes++
    if (req.body === undefined)
      return reply.status(400).send({ msg: 'blank body: expected a JSON array of MetricValue' })
    if (!Array.isArray(req.body)) {
      return reply.status(400).send({ msg: 'body: expected a JSON array of MetricValue' })
    }
    try {
      return { msg: 'success', data: await receive(req.body) }
    } catch (err) {
      return reply.status(503).send({
        msg: `${(err as Error).message}; the points are buffered and retried, and pushing them again is safe`,
      })
    }
  })
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  http.get('/version', (_req, reply) => {
    void reply.type('text/plain').send('peregrine')
  })
  http.get('/counter/all', () => {
    const j = router.judgeCounters
    return {
      msg: 'success',
      data: {
        ...counters,
        ...router.counters,
        bufferedByGraph: router.buffered(),
        judgeSent: j.sent,
        judgeSendCalls: j.sendCalls,
        judgeSendFailures: j.sendFailures,
        judgeRetried: j.retried,
        judgeBuffered: j.buffered,
        judgeDropped: j.dropped,
        bufferedByJudge: router.bufferedByJudge(),
        listeners,
      },
    }
  })

  const socket =
    config.socket === ''
      ? null
      : serveLineSocket({
          receive,
          batch: config.batch,
          maxLineBytes: config.maxLineBytes,
          limits: config,
          stats: listeners.socket,
          counters,
          log: deps.log,
        })

  try {
    await listenTcp(rpc, 'transfer.rpc', config.rpc)
    const h = parseListen('transfer.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('transfer.http', config.http, err)
    })
    if (socket !== null) await listenTcp(socket, 'transfer.socket', config.socket)
  } catch (err) {
    rpc.close()
    socket?.close()
    await http.close()
    router.close()
    throw err
  }
  const addr = (s: Server | null) => {
    const a = s?.address() as AddressInfo | null | undefined
    return a ? `${a.address}:${a.port}` : ''
  }
  const addresses: Record<string, string> = { rpc: addr(rpc), http: addr(http.server) }
  if (socket !== null) addresses.socket = addr(socket)
  return {
    name: 'transfer',
    addresses,
    async stop() {
      await new Promise<void>((resolve) => {
        rpc.close(() => resolve())
        rpc.closeAll()
      })
      socket?.close()
      // What socket connections hold is routed before the senders stop.
      await socket?.closeAll()
      await http.close()
      router.close()
    },
  }
}
