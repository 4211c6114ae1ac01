// Falcon's three push receivers (Transfer.Update JSON-RPC, HTTP /api/push, the line socket) around one
// sink: validation, falcon's answers, body and in-flight bounds, connection limits. Transfer and gateway
// differ only in where valid points go.
import type { AddressInfo, Server } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import {
  type BatchResult,
  type ConnectionLimits,
  pointAt,
  type PointColumns,
  type Deps,
  inputIndex,
  limitedServerFactory,
  listenError,
  listenTcp,
  paramText,
  parseJsonBytes,
  type ListenerStats,
  type MetricValue,
  newListenerStats,
  parseListen,
  printable,
  RpcError,
  type RpcMethod,
  serveJsonRpc,
  validateBatch,
  VERSION,
} from '../core/index.js'
import { serveLineSocket } from './line-socket.js'
import type { ParsePool, ValidatedPush } from './parse-pool.js'

/** Refused is a valid point the sink would not keep: its index in the sink's batch, a code and why. */
export interface Refused {
  index: number
  code: string
  message: string
}

/**
 * PushAsSent is a push whose every item was valid and held falcon's field names only, exactly (no key
 * matched by case folding, no other field), as it came: the items parsed (in `valid`'s order)
 * and `json()`, the JSON text of their array when it can be had (JSON-RPC laid out as Go writes it,
 * an HTTP body), else null. A relay may forward the text instead of serialising `valid` again where
 * the two say the same (see the gateway).
 */
export interface PushAsSent {
  items: readonly unknown[]
  json(): string | null
}

/**
 * PushSink takes the valid points of one push and resolves once they are kept as the component
 * promises (transfer: in every graph WAL; gateway: acknowledged by every cluster or on its disk), with
 * the ones refused (index into `valid`, ascending). A rejection fails the whole push: its message is
 * the answer's (an RPC error, an HTTP 503). `sent` is given when every item was valid and the push's
 * text is known (JSON-RPC laid out as Go writes it, an HTTP body).
 */
export type PushSink = (valid: MetricValue[], sent?: PushAsSent) => Promise<readonly Refused[]>

/** PushConfig: the listeners and bounds of the receivers, as named in transfer's and gateway's sections. */
export interface PushConfig extends ConnectionLimits {
  rpc: string
  http: string
  /** socket: '' for none. */
  socket: string
  /** batch: most points a line socket connection holds before they go to the sink. */
  batch: number
  maxBodyBytes: number
  maxLineBytes: number
  maxInflightBytes: number
}

/**
 * TransferResponse is falcon's answer to a push (Go field names, as on the wire). `Errors` is
 * Peregrine's: present only when some items were invalid or refused, it says which and why (the first
 * ten), so a plain answer stays byte for byte falcon's; Go clients ignore a field they do not know.
 */
export interface TransferResponse {
  Message: string
  Total: number
  Invalid: number
  Latency: number
  Errors?: string[]
}

/** PushCounters are the receivers' figures on /counter/all. */
export interface PushCounters {
  rpcCalls: number
  httpPushes: number
  socketConnections: number
  socketLines: number
  socketLinesTooLong: number
  /** received: points on every path, valid or not. */
  received: number
  invalid: number
  /** refused: valid points the sink would not keep, by code (too old, series limit, …). */
  refused: number
  refusedByCode: Record<string, number>
}

const noText = (): null => null

/** MAX_ANSWER_ERRORS bounds the `Errors` of one answer. */
const MAX_ANSWER_ERRORS = 10

/**
 * InflightBudget is what an HTTP port holds at once, over every connection: a body is counted from
 * its Content-Length (maxBodyBytes when it has none) until its answer is sent; past maxInflightBytes,
 * or past a quarter of it for one client address (so a few slow senders cannot take it all), a
 * request is answered 429 before its body is read.
 */
export class InflightBudget {
  bytes = 0
  refused = 0
  readonly #name: string
  readonly #max: number
  readonly #perAddress: number
  readonly #byAddress = new Map<string, number>()

  constructor(name: string, maxBodyBytes: number, maxInflightBytes: number) {
    this.#name = name
    this.#max = maxInflightBytes
    this.#perAddress = Math.max(maxBodyBytes, Math.floor(maxInflightBytes / 4))
  }

  /** over tells whether `bytes` more from `address` would pass the budget. */
  over(address: string, bytes: number): boolean {
    return (
      this.bytes + bytes > this.#max ||
      (this.#byAddress.get(address) ?? 0) + bytes > this.#perAddress
    )
  }

  /** hold counts `bytes` from `address` until `raw` (the response) closes. */
  hold(raw: { once(e: 'close', f: () => void): unknown }, address: string, bytes: number): void {
    this.bytes += bytes
    this.#byAddress.set(address, (this.#byAddress.get(address) ?? 0) + bytes)
    raw.once('close', () => {
      this.bytes -= bytes
      const left = (this.#byAddress.get(address) ?? 0) - bytes
      if (left > 0) this.#byAddress.set(address, left)
      else this.#byAddress.delete(address)
    })
  }

  /** tooBusy answers 429 naming the setting, and counts it. */
  tooBusy(reply: FastifyReply, address: string, what: string): FastifyReply {
    this.refused++
    const mine = this.#byAddress.get(address) ?? 0
    return reply
      .status(429)
      .header('Retry-After', '1')
      .type('text/plain; charset=utf-8')
      .send(
        `${what}: ${this.#name} holds ${this.bytes} bytes of requests (${mine} of them from ${address}); ${this.#name}.maxInflightBytes is ${this.#max}, a quarter of it from one address; retry later\n`
      )
  }
}

/** PushReceivers are the three receivers, not yet listening: the caller adds its own HTTP routes first. */
export interface PushReceivers {
  counters: PushCounters
  listeners: { rpc: ListenerStats; http: ListenerStats; socket: ListenerStats }
  inflight: InflightBudget
  /** http: the Fastify app, with /api/push, /health and /version; every body parsed as JSON except remote write's. */
  http: FastifyInstance
  /**
   * receive is the one path of every receiver: validate, count, sink, answer. `json` gives the
   * body's JSON text when it can be had (see PushAsSent).
   */
  receive(body: unknown, json?: () => string | null): Promise<TransferResponse>
  /** listen binds every listener and returns their addresses; on failure it closes them all and throws. */
  listen(): Promise<Record<string, string>>
  /** close stops taking pushes and resolves once what the socket connections held has gone to the sink. */
  close(): Promise<void>
}

export interface PushOptions {
  /** name: the component and config section (`transfer`, `gateway`), in messages and log lines. */
  name: string
  sink: PushSink
  /** failureHint follows a sink failure's message in the answer (what the client may do). */
  failureHint: string
  /** refusedBy names who refuses points in the log line (`graph`). */
  refusedBy: string
  /**
   * pool parses and validates large HTTP pushes on worker threads (transfer's); without one, every
   * push is parsed on the main thread (the gateway, which relays pushes as they came).
   */
  pool?: ParsePool
  /**
   * sinkColumns takes what the pool validated, as columns (transfer's router); without it the points
   * go to `sink` as MetricValues.
   */
  sinkColumns?: (valid: PointColumns) => Promise<readonly Refused[]>
}

/** NOT_AN_ARRAY is the body of an HTTP push a worker parsed as JSON other than an array. */
const NOT_AN_ARRAY = Symbol('not an array')

/** PooledPush is the body of an HTTP push a worker parsed and validated. */
class PooledPush {
  constructor(
    readonly push: ValidatedPush,
    readonly started: number
  ) {}
}

/** bodyNotJson is the 400 of a body that does not parse, quoting the parser (made printable). */
function bodyNotJson(message: string): Error & { statusCode: number } {
  // The parser quotes the body: a gzip or other binary one must not come back as raw bytes.
  const e = new Error(`decode error: the body is not JSON (${printable(message)})`) as Error & {
    statusCode: number
  }
  e.statusCode = 400
  return e
}

/**
 * createPushReceivers builds the receivers of `config` around `o.sink`. A point is either kept (as the
 * sink promises) or counted in the answer's Invalid and named in its Errors; a sink failure fails the
 * push (RPC error, HTTP 503) and acknowledges none of it.
 */
export function createPushReceivers(
  config: Readonly<PushConfig>,
  deps: Deps,
  o: PushOptions
): PushReceivers {
  const { name } = o
  const counters: PushCounters = {
    rpcCalls: 0,
    httpPushes: 0,
    socketConnections: 0,
    socketLines: 0,
    socketLinesTooLong: 0,
    received: 0,
    invalid: 0,
    refused: 0,
    refusedByCode: {},
  }
  const listeners = {
    rpc: newListenerStats(),
    http: newListenerStats(),
    socket: newListenerStats(),
  }
  let refusalLoggedAt = -Infinity
  let invalidLoggedAt = -Infinity
  let refusedAtLog = 0

  const receive = async (body: unknown, json?: () => string | null): Promise<TransferResponse> => {
    const started = deps.now()
    const batch = validateBatch(body, Math.floor(started / 1000), MAX_ANSWER_ERRORS)
    const { valid } = batch
    const sent =
      batch.invalid === 0 && batch.plain
        ? { items: body as unknown[], json: json ?? noText }
        : undefined
    return settle(
      batch,
      valid.length,
      (i) => valid[i],
      () => o.sink(valid, sent),
      started
    )
  }

  // receiveValidated is `receive` for a push the pool parsed and validated.
  const receiveValidated = (push: ValidatedPush, started: number): Promise<TransferResponse> => {
    const { valid } = push
    const sink = o.sinkColumns
    return settle(
      push,
      valid.ids.length,
      (i) => pointAt(valid, i),
      sink !== undefined
        ? () => sink(valid)
        : () => o.sink(Array.from({ length: valid.ids.length }, (_, i) => pointAt(valid, i))),
      started
    )
  }

  // settle is the rest of `receive` once a push is validated: count, sink, answer. `at(i)` is valid
  // point i, for messages.
  const settle = async (
    batch: Pick<BatchResult, 'invalid' | 'errors' | 'invalidAt'>,
    count: number,
    at: (i: number) => MetricValue,
    sink: () => Promise<readonly Refused[]>,
    started: number
  ): Promise<TransferResponse> => {
    const { invalid, errors } = batch
    counters.received += count + invalid
    counters.invalid += invalid
    // As refusals below: the first lines of a push, at most every 10 s.
    if (errors.length > 0 && started - invalidLoggedAt >= 10_000) {
      for (const e of errors.slice(0, 3)) {
        deps.log.warn(`${name}: item ${e.index} invalid: ${e.error.message}`)
      }
      invalidLoggedAt = started
    }
    const refused = count === 0 ? [] : await sink()
    const answer: TransferResponse = {
      Message: 'ok',
      Total: count + invalid,
      Invalid: invalid + refused.length,
      Latency: deps.now() - started,
    }
    if (refused.length > 0) {
      counters.refused += refused.length
      for (const r of refused) {
        counters.refusedByCode[r.code] = (counters.refusedByCode[r.code] ?? 0) + 1
      }
      // One line per 10 s at most: a client sending nothing but refused points must not flood the log.
      const now = deps.now()
      if (now - refusalLoggedAt >= 10_000) {
        const r = refused[0]
        const m = at(r.index)
        const since = counters.refused - refusedAtLog - refused.length
        deps.log.warn(
          `${name}: ${refused.length} of ${answer.Total} points refused by ${o.refusedBy}, e.g. ${m.endpoint}/${m.metric} at ${m.timestamp}: ${r.message}` +
            (since > 0 ? ` (and ${since} before, since the last line)` : '')
        )
        refusalLoggedAt = now
        refusedAtLog = counters.refused
      }
    }
    if (errors.length > 0 || refused.length > 0) {
      // Both lists come in input order; merged, the first ten say which items and why.
      const toInput = inputIndex(batch.invalidAt)
      const lines: [number, string][] = errors.map((e) => [e.index, e.error.message])
      for (const r of refused.slice(0, MAX_ANSWER_ERRORS)) {
        const m = at(r.index)
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
    new Map<string, RpcMethod>([
      ['Transfer.Ping', () => ({ code: 0 })],
      [
        'Transfer.Update',
        (p, request) => {
          counters.rpcCalls++
          if (!Array.isArray(p))
            throw new RpcError('Transfer.Update: expected an array of MetricValue')
          const json = request === undefined ? noText : () => paramText(request, 'Transfer.Update')
          return receive(p, json).catch((err: Error) => {
            throw new RpcError(`${err.message}${o.failureHint}`)
          })
        },
      ],
    ]),
    {
      maxRequestBytes: config.maxBodyBytes,
      onError: (m) => deps.log.warn(`${name} rpc: ${m}`),
      limits: config,
      stats: listeners.rpc,
    }
  )

  const http = Fastify({
    logger: false,
    bodyLimit: config.maxBodyBytes,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  const inflight = new InflightBudget(name, config.maxBodyBytes, config.maxInflightBytes)
  http.addHook('onRequest', (req, reply, done) => {
    if (req.method !== 'POST') return done()
    const length = Number(req.headers['content-length'])
    const bytes =
      Number.isSafeInteger(length) && length >= 0
        ? Math.min(length, config.maxBodyBytes)
        : config.maxBodyBytes
    const address = req.socket.remoteAddress ?? ''
    if (inflight.over(address, bytes)) {
      void inflight.tooBusy(reply, address, `a body of ${bytes} bytes`)
      return
    }
    inflight.hold(reply.raw, address, bytes)
    done()
  })
  // Plain JSON (parseJsonBytes) for every content type: falcon's clients do not always send a content type, and
  // the default parser's prototype checks cost time on every push.
  http.removeAllContentTypeParsers()
  http.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    // Remote write takes its body as bytes whatever the type says; the route answers 415 for a type
    // it does not speak.
    if (req.url.startsWith('/api/v1/write')) return done(null, body)
    if ((body as Buffer).length === 0) return done(null, undefined)
    const started = deps.now()
    const pooled =
      req.url.startsWith('/api/push') && o.pool !== undefined
        ? o.pool.parse(body as Buffer, Math.floor(started / 1000), MAX_ANSWER_ERRORS)
        : null
    if (pooled !== null) {
      pooled.then(
        (p) => {
          if (p.fault === 'json') done(bodyNotJson(p.message), undefined)
          else if (p.fault === 'shape') done(null, NOT_AN_ARRAY)
          else done(null, new PooledPush(p.push, started))
        },
        (err: Error) => {
          // Not acknowledged: the client pushes again.
          const e = new Error(
            `${name}: parsing the push failed (${err.message}); push it again`
          ) as Error & { statusCode: number }
          e.statusCode = 503
          done(e, undefined)
        }
      )
      return
    }
    try {
      const value: unknown = parseJsonBytes(body as Buffer)
      // The text, for a relay (the gateway), is made only if it asks.
      ;(req as { pushBytes?: Buffer }).pushBytes = body as Buffer
      done(null, value)
    } catch (err) {
      done(bodyNotJson((err as Error).message), undefined)
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
    const pooled = req.body instanceof PooledPush ? req.body : null
    if (pooled === null && !Array.isArray(req.body)) {
      return reply.status(400).send({ msg: 'body: expected a JSON array of MetricValue' })
    }
    try {
      if (pooled !== null) {
        return { msg: 'success', data: await receiveValidated(pooled.push, pooled.started) }
      }
      return {
        msg: 'success',
        data: await receive(req.body, () => {
          const bytes = (req as { pushBytes?: Buffer }).pushBytes
          return bytes === undefined ? null : bytes.toString('utf8')
        }),
      }
    } catch (err) {
      return reply.status(503).send({ msg: `${(err as Error).message}${o.failureHint}` })
    }
  })
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  // As falcon's, which answers its own version string.
  http.get('/version', (_req, reply) => {
    void reply.type('text/plain').send(VERSION)
  })

  const socket =
    config.socket === ''
      ? null
      : serveLineSocket({
          name,
          receive,
          batch: config.batch,
          maxLineBytes: config.maxLineBytes,
          limits: config,
          stats: listeners.socket,
          counters,
          log: deps.log,
        })

  const closeRpc = () =>
    new Promise<void>((resolve) => {
      rpc.close(() => resolve())
      rpc.closeAll()
    })
  return {
    counters,
    listeners,
    inflight,
    http,
    receive,
    async listen() {
      try {
        await listenTcp(rpc, `${name}.rpc`, config.rpc)
        const h = parseListen(`${name}.http`, config.http)
        await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
          throw listenError(`${name}.http`, config.http, err)
        })
        if (socket !== null) await listenTcp(socket, `${name}.socket`, config.socket)
      } catch (err) {
        rpc.close()
        socket?.close()
        await http.close()
        throw err
      }
      const addresses: Record<string, string> = {
        rpc: addressOf(rpc),
        http: addressOf(http.server),
      }
      if (socket !== null) addresses.socket = addressOf(socket)
      return addresses
    },
    async close() {
      await closeRpc()
      socket?.close()
      // What socket connections hold goes to the sink before the caller stops it.
      await socket?.closeAll()
      await http.close()
    },
  }
}

function addressOf(s: Server | null): string {
  const a = s?.address() as AddressInfo | null | undefined
  return a ? `${a.address}:${a.port}` : ''
}
