/**
 * @module transfer
 * Receives points the ways Open-Falcon's transfer does (JSON-RPC Transfer.Update on :8433, HTTP
 * POST /api/push on :6060, the line socket on :4444), validates them with falcon's rules and routes them
 * by falcon's consistent hashing to the graph cluster (a push is acknowledged once graph has it) and,
 * when `judgeCluster` names any, to the judge cluster (`Judge.Send`, never waited for).
 */
import type { AddressInfo, Server } from 'node:net'
import Fastify, { type FastifyReply } from 'fastify'
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  gaugeFrom,
  exposition,
  newMetricsRegistry,
  limitedServerFactory,
  listenError,
  listenTcp,
  newListenerStats,
  parseListen,
  printable,
  RpcError,
  serveJsonRpc,
  type Service,
  snappyBlockLength,
  inputIndex,
  validateBatch,
  VERSION,
} from '../core/index.js'
import type { TransferConfig } from './config.js'
import { serveLineSocket } from './line-socket.js'
import { registerTransferMetrics } from './metrics.js'
import { RemoteWriteReceiver } from './remote-write.js'
import { Router } from './router.js'

export { parseTransferConfig, defaultTransferConfig, type TransferConfig } from './config.js'

/**
 * TransferResponse is falcon's answer to a push (Go field names, as on the wire). `Errors` is
 * Peregrine's: present only when some items were invalid or refused, it says which and why (the first
 * ten), so a plain answer stays byte for byte falcon's; Go clients ignore a field they do not know.
 */
interface TransferResponse {
  Message: string
  Total: number
  Invalid: number
  Latency: number
  Errors?: string[]
}

/** MAX_ANSWER_ERRORS bounds the `Errors` of one answer. */
const MAX_ANSWER_ERRORS = 10

/** start listens on the configured ports; `stop()` stops taking points first, then the senders. */
export async function start(config: Readonly<TransferConfig>, deps: Deps): Promise<Service> {
  const router = new Router(config, deps)
  const remoteWrite = new RemoteWriteReceiver(router, config, deps)
  const counters = {
    rpcCalls: 0,
    httpPushes: 0,
    socketConnections: 0,
    socketLines: 0,
    socketLinesTooLong: 0,
    received: 0,
    invalid: 0,
    /** refused: valid points a graph node would not store, by code (too old, series limit, …). */
    refused: 0,
    refusedByCode: {} as Record<string, number>,
  }
  const listeners = {
    rpc: newListenerStats(),
    http: newListenerStats(),
    socket: newListenerStats(),
  }

  let refusalLoggedAt = -Infinity
  let invalidLoggedAt = -Infinity
  let refusedAtLog = 0

  // One path for every receiver: validate, count, route, answer with falcon's TransferResponse. A point
  // is either stored (in every graph WAL that holds it) or counted in Invalid and named in Errors.
  const receive = async (body: unknown): Promise<TransferResponse> => {
    const started = deps.now()
    const batch = validateBatch(body, Math.floor(started / 1000), MAX_ANSWER_ERRORS)
    const { valid, invalid, errors } = batch
    counters.received += valid.length + invalid
    counters.invalid += invalid
    // As refusals below: the first lines of a push, at most every 10 s.
    if (errors.length > 0 && started - invalidLoggedAt >= 10_000) {
      for (const e of errors.slice(0, 3)) {
        deps.log.warn(`transfer: item ${e.index} invalid: ${e.error.message}`)
      }
      invalidLoggedAt = started
    }
    const refused = valid.length > 0 ? await router.route(valid) : []
    const answer: TransferResponse = {
      Message: 'ok',
      Total: valid.length + invalid,
      Invalid: invalid + refused.length,
      Latency: deps.now() - started,
    }
    if (refused.length > 0) {
      counters.refused += refused.length
      for (const r of refused) {
        counters.refusedByCode[r.code] = (counters.refusedByCode[r.code] ?? 0) + 1
      }
      // One line per 10 s at most: a client sending nothing but refused points must not flood the log.
      const at = deps.now()
      if (at - refusalLoggedAt >= 10_000) {
        const r = refused[0]
        const m = valid[r.index]
        const since = counters.refused - refusedAtLog - refused.length
        deps.log.warn(
          `transfer: ${refused.length} of ${answer.Total} points refused by graph, e.g. ${m.endpoint}/${m.metric} at ${m.timestamp}: ${r.message}` +
            (since > 0 ? ` (and ${since} before, since the last line)` : '')
        )
        refusalLoggedAt = at
        refusedAtLog = counters.refused
      }
    }
    if (errors.length > 0 || refused.length > 0) {
      // Both lists come in input order; merged, the first ten say which items and why.
      const toInput = inputIndex(batch.invalidAt)
      const lines: [number, string][] = errors.map((e) => [e.index, e.error.message])
      for (const r of refused.slice(0, MAX_ANSWER_ERRORS)) {
        const m = valid[r.index]
        lines.push([
          toInput(r.index),
          `${r.code}: ${m.endpoint}/${m.metric} at ${m.timestamp}: ${r.message}`,
        ])
      }
      lines.sort((a, b) => a[0] - b[0])
      answer.Errors = lines.slice(0, MAX_ANSWER_ERRORS).map(([i, text]) => `item ${i}: ${text}`)
    }
    return answer
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
  // What the port holds at once, over every connection: a body is counted from its Content-Length
  // (maxBodyBytes when it has none) until its answer is sent, and remote write's uncompressed request
  // as well; past maxInflightBytes a request is answered 429 before its body is read.
  const inflight = { bytes: 0, refused: 0 }
  // One client address holds at most a quarter of it: a few slow senders cannot take it all.
  const perAddress = Math.max(config.maxBodyBytes, Math.floor(config.maxInflightBytes / 4))
  const byAddress = new Map<string, number>()
  const overBudget = (address: string, bytes: number) =>
    inflight.bytes + bytes > config.maxInflightBytes ||
    (byAddress.get(address) ?? 0) + bytes > perAddress
  const hold = (
    raw: { once(e: 'close', f: () => void): unknown },
    address: string,
    bytes: number
  ) => {
    inflight.bytes += bytes
    byAddress.set(address, (byAddress.get(address) ?? 0) + bytes)
    raw.once('close', () => {
      inflight.bytes -= bytes
      const left = (byAddress.get(address) ?? 0) - bytes
      if (left > 0) byAddress.set(address, left)
      else byAddress.delete(address)
    })
  }
  const tooBusy = (reply: FastifyReply, address: string, what: string) => {
    inflight.refused++
    const mine = byAddress.get(address) ?? 0
    return reply
      .status(429)
      .header('Retry-After', '1')
      .type('text/plain; charset=utf-8')
      .send(
        `${what}: transfer holds ${inflight.bytes} bytes of requests (${mine} of them from ${address}); transfer.maxInflightBytes is ${config.maxInflightBytes}, a quarter of it from one address; retry later\n`
      )
  }
  http.addHook('onRequest', (req, reply, done) => {
    if (req.method !== 'POST') return done()
    const length = Number(req.headers['content-length'])
    const bytes =
      Number.isSafeInteger(length) && length >= 0
        ? Math.min(length, config.maxBodyBytes)
        : config.maxBodyBytes
    const address = req.socket.remoteAddress ?? ''
    if (overBudget(address, bytes)) {
      void tooBusy(reply, address, `a body of ${bytes} bytes`)
      return
    }
    hold(reply.raw, address, bytes)
    done()
  })
  // Plain JSON.parse for every content type: falcon's clients do not always send a content type, and
  // the default parser's prototype checks cost time on every push.
  http.removeAllContentTypeParsers()
  http.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    // Remote write takes its body as bytes whatever the type says; the route answers 415 for a type
    // it does not speak.
    if (req.url.startsWith('/api/v1/write')) return done(null, body)
    if ((body as Buffer).length === 0) return done(null, undefined)
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')))
    } catch (err) {
      // The parser quotes the body: a gzip or other binary one must not come back as raw bytes.
      const e = new Error(
        `decode error: the body is not JSON (${printable((err as Error).message)})`
      ) as Error & { statusCode: number }
      e.statusCode = 400
      done(e, undefined)
    }
  })
  // Remote write bodies are snappy-compressed protobuf, taken as bytes (any parameters of the type).
  http.addContentTypeParser(
    /^application\/x-protobuf(;.*)?$/i,
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body)
  )
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
  http.post('/api/v1/write', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : null
    if (body === null) {
      remoteWrite.counters.requests++
      remoteWrite.counters.unsupported++
      return reply
        .status(415)
        .type('text/plain; charset=utf-8')
        .send(
          `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}: expected application/x-protobuf (remote write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)\n`
        )
    }
    // Peregrine's scrape says its scrape interval, the step its series are stored with.
    const stepHeader = Number(req.headers['x-peregrine-step'])
    const step =
      Number.isInteger(stepHeader) && stepHeader >= 1 && stepHeader <= 86_400
        ? stepHeader
        : undefined
    // The uncompressed request is held while it is stored: counted before it is made.
    const uncompressed = snappyBlockLength(body)
    if (uncompressed > 0 && uncompressed <= config.maxBodyBytes) {
      const address = req.socket.remoteAddress ?? ''
      if (overBudget(address, uncompressed))
        return tooBusy(
          reply,
          address,
          `a remote write request of ${uncompressed} bytes uncompressed`
        )
      hold(reply.raw, address, uncompressed)
    }
    const answer = await remoteWrite.receive(
      body,
      req.headers['content-type'],
      req.headers['content-encoding'],
      step
    )
    void reply.status(answer.status).headers(answer.headers)
    return answer.status === 204 ? reply.send() : reply.send(answer.body)
  })
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  // As falcon's, which answers its own version string.
  http.get('/version', (_req, reply) => {
    void reply.type('text/plain').send(VERSION)
  })
  const registry = deps.metrics ?? newMetricsRegistry()
  registerTransferMetrics(registry, counters, router, remoteWrite.counters, listeners)
  gaugeFrom(registry, {
    name: 'peregrine_transfer_inflight_bytes',
    help: 'Request bytes the HTTP port holds now (bodies, and remote write requests uncompressed).',
    read: () => inflight.bytes,
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_inflight_refused_total',
    help: 'HTTP requests answered 429 because transfer.maxInflightBytes was reached.',
    read: () => inflight.refused,
  })
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
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
        remoteWrite: remoteWrite.counters,
        inflightBytes: inflight.bytes,
        inflightRefused: inflight.refused,
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
    appender: {
      ref: (labels) => remoteWrite.ref(labels),
      append: (refs, t, v, step) => remoteWrite.append(refs, t, v, step),
    },
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
