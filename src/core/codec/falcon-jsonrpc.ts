// Go's net/rpc JSON codec (net/rpc/jsonrpc), which falcon's agent, transfer and hbs speak over TCP.
import { connect, type Server, type Socket } from 'node:net'
import {
  type ConnectionLimits,
  createLimitedTcpServer,
  defaultConnectionLimits,
  type ListenerStats,
  newListenerStats,
  watchConnection,
} from '../connection-limits.js'
import { printable } from '../printable.js'
import { JsonFrameError, JsonStreamDecoder, JsonSyntaxError } from './json-stream.js'

/**
 * RpcMethod handles one call: `param` is the request's single argument (Go's `params[0]`), `request`
 * the whole request as it came, when it came over the wire (for `paramText`). It returns the result (or a promise of it): a value
 * to JSON.stringify, or a RawJson already serialised.
 */
export type RpcMethod = (param: unknown, request?: RpcRequest) => unknown

/** RpcRequest is a request as it came: its JSON text and the object parsed from it. */
export interface RpcRequest {
  readonly text: string
  readonly value: Readonly<Record<string, unknown>>
}

/**
 * ReceivedRequest is a request read from a connection: its text is made from its bytes only when
 * asked for (a relay's `paramText`), as most methods never need it and a push's text is large.
 */
class ReceivedRequest implements RpcRequest {
  readonly value: Readonly<Record<string, unknown>>
  #bytes: Buffer | null
  #text: string | null = null

  constructor(bytes: Buffer, value: Readonly<Record<string, unknown>>) {
    this.#bytes = bytes
    this.value = value
  }

  get text(): string {
    if (this.#text === null) {
      this.#text = (this.#bytes as Buffer).toString('utf8')
      this.#bytes = null
    }
    return this.#text
  }
}

/**
 * paramText returns the text of the single argument of `request` when it is laid out as Go's client
 * and Peregrine's write it, `{"method":"<method>","params":[<arg>],"id":<n>}` with no space, and the
 * argument holds no `]` but its last byte, else null: a relay forwards that text instead of
 * serialising the parsed argument again. The text is then the argument exactly: the request parsed
 * (as JSON, to these three keys), so the params array opened at the head's `[` closes at a `]`
 * outside strings; the argument's last byte and the tail's `]` are the only ones after it, and had
 * params closed at the first, the second would close the request object, which JSON does not allow.
 */
export function paramText(request: RpcRequest, method: string): string | null {
  const { text, value } = request
  const keys = Object.keys(value)
  if (keys.length !== 3 || keys[0] !== 'method' || keys[1] !== 'params' || keys[2] !== 'id')
    return null
  const head = `{"method":${JSON.stringify(method)},"params":[`
  if (!text.startsWith(head)) return null
  const from = Math.max(head.length, text.length - 40)
  const tail = /\],"id":\d{1,20}\}\s*$/.exec(text.slice(from))
  if (tail === null) return null
  const arg = text.slice(head.length, from + tail.index)
  return arg.length > 0 && arg.indexOf(']') === arg.length - 1 ? arg : null
}

/**
 * RawJson is a result serialised in advance: the server writes `parts` one after the other as the
 * response's `result`, without JSON.stringify. The caller guarantees they join into one JSON value. Parts
 * are written as they are, not copied, so a large reply built once (a Buffer shared by many replies)
 * costs no serialisation per call; they must not change until written.
 */
export class RawJson {
  constructor(readonly parts: readonly (string | Buffer)[]) {}
}

/** RpcError is an error whose message goes back to the caller as the response's `error` string. */
export class RpcError extends Error {
  override readonly name = 'RpcError'
}

/** JsonRpcServerOptions bound what one connection may send and make the server hold. */
export interface JsonRpcServerOptions {
  /** maxRequestBytes: a bigger request ends the connection with an error (default 64 MiB). */
  maxRequestBytes: number
  /** onError reports protocol errors (garbage, oversize) and handler failures; never throws. */
  onError: (message: string) => void
  /** limits: connections at once, idle and request timeouts (defaultConnectionLimits). */
  limits: ConnectionLimits
  /** stats: where the listener's counts go (a fresh one by default; also `server.stats`). */
  stats: ListenerStats
  /**
   * maxInFlight: calls of one connection running at once (default 64); the connection is not read
   * while that many are, so its further requests wait in the network, not in memory.
   */
  maxInFlight: number
  /**
   * maxUnsentBytes: replies of one connection waiting to be sent (default 1 MiB) past which it is not
   * read until they drain: a peer that sends and never reads stops being served, then times out.
   */
  maxUnsentBytes: number
}

/** JSON_RPC_MAX_IN_FLIGHT and JSON_RPC_MAX_UNSENT_BYTES: the per-connection defaults. */
export const JSON_RPC_MAX_IN_FLIGHT = 64
export const JSON_RPC_MAX_UNSENT_BYTES = 1 << 20

const NO_REQUEST: RpcRequest = { text: '', value: {} }

/**
 * SETTLE_MS: how long a connection may pause with bytes the decoder holds unscanned before they are
 * scanned (a request followed by garbage, with no newline, is then answered). Reads of one large
 * request come much closer together.
 */
const SETTLE_MS = 20

// The error answer for bytes that do not frame or parse as JSON requests.
function frameErrorText(err: unknown): string {
  return err instanceof JsonSyntaxError
    ? `invalid JSON request: ${printable(err.message)}`
    : err instanceof JsonFrameError
      ? err.message
      : `bad request: ${(err as Error).message}`
}

/**
 * serveJsonRpc returns a TCP server speaking Go's jsonrpc: requests `{"method":"Svc.Name","params":[arg],
 * "id":N}` back to back, answered `{"id":N,"result":R,"error":null}` or `{"id":N,"result":null,
 * "error":"text"}`, each followed by a newline as Go's encoder writes. Calls on one connection run
 * concurrently and are answered as they finish (match by id, as Go's client does). A handler's thrown
 * message becomes the error string; a method missing gives Go's own `rpc: can't find method X.Y`.
 * Bytes that are not JSON get one error response with id null, then the connection is closed.
 * Each connection is read only while fewer than `maxInFlight` of its calls run and fewer than
 * `maxUnsentBytes` of its replies wait to be sent; `limits` apply (watchConnection).
 */
export function serveJsonRpc(
  methods: ReadonlyMap<string, RpcMethod>,
  options: Partial<JsonRpcServerOptions> = {}
): Server & { closeAll(): void; readonly stats: ListenerStats } {
  const maxRequestBytes = options.maxRequestBytes ?? 64 << 20
  const onError = options.onError ?? (() => undefined)
  const limits = options.limits ?? defaultConnectionLimits
  const stats = options.stats ?? newListenerStats()
  const maxInFlight = options.maxInFlight ?? JSON_RPC_MAX_IN_FLIGHT
  const maxUnsent = options.maxUnsentBytes ?? JSON_RPC_MAX_UNSENT_BYTES
  const services = new Set([...methods.keys()].map((m) => m.slice(0, m.indexOf('.'))))
  const sockets = new Set<Socket>()
  const server = createLimitedTcpServer(limits, stats, (socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    const watch = watchConnection(socket, limits, stats)
    const decoder = new JsonStreamDecoder(maxRequestBytes)
    let closed = false
    // Requests read but not started (at most what one read brought, parsed), and calls not yet answered.
    const waiting: RpcRequest[] = []
    let next = 0
    let inFlight = 0
    let paused = false
    const send = (text: string) => {
      if (!closed) socket.write(text)
    }
    const fail = (message: string) => {
      onError(message)
      send(`{"id":null,"result":null,"error":${JSON.stringify(message)}}\n`)
      closed = true
      socket.end()
    }
    // Start what may start, then read on only if nothing waits: the peer's further requests stay in
    // the network until its replies are read and its calls answered.
    const pump = () => {
      while (
        next < waiting.length &&
        inFlight < maxInFlight &&
        socket.writableLength <= maxUnsent &&
        !closed
      ) {
        const req = waiting[next]
        waiting[next++] = NO_REQUEST
        handle(req)
      }
      if (next === waiting.length) {
        waiting.length = 0
        next = 0
      }
      const hold =
        waiting.length > 0 || inFlight >= maxInFlight || socket.writableLength > maxUnsent
      if (hold !== paused && !closed) {
        paused = hold
        if (hold) socket.pause()
        else socket.resume()
        watch.paused(hold)
      }
    }
    let completed = false
    const onValue = (value: unknown, bytes: Buffer) => {
      completed = true
      // A request that is not an object (an array, say) has no method: Go answers that below.
      waiting.push(
        new ReceivedRequest(
          bytes,
          typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
        )
      )
    }
    // Bytes held unscanned when the peer pauses are scanned (decoder.settle) after SETTLE_MS.
    let settleTimer: NodeJS.Timeout | null = null
    const settle = () => {
      settleTimer = null
      if (closed) return
      completed = false
      try {
        decoder.settle(onValue)
      } catch (err) {
        pump()
        fail(frameErrorText(err))
        return
      }
      if (completed) watch.received(true, decoder.buffered > 0)
      pump()
    }
    socket.on('data', (chunk: Buffer) => {
      if (closed) return
      completed = false
      try {
        decoder.push(chunk, onValue)
      } catch (err) {
        // The requests before the garbage are served, as they arrived.
        pump()
        fail(frameErrorText(err))
        return
      }
      watch.received(completed, decoder.buffered > 0)
      if (decoder.unscanned) {
        if (settleTimer === null) settleTimer = setTimeout(settle, SETTLE_MS)
        else settleTimer.refresh()
      } else if (settleTimer !== null) {
        clearTimeout(settleTimer)
        settleTimer = null
      }
      pump()
    })
    socket.on('drain', pump)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closed = true
      if (settleTimer !== null) clearTimeout(settleTimer)
      sockets.delete(socket)
    })

    const handle = (request: RpcRequest) => {
      const req = request.value as { method?: unknown; params?: unknown; id?: unknown }
      inFlight++
      const id = JSON.stringify(req.id ?? null)
      const reply = (result: unknown, error: string | null) => {
        inFlight--
        if (error === null && result instanceof RawJson) {
          if (closed) return
          // One writev for the whole reply: corked writes are handed to the kernel together on uncork.
          socket.cork()
          socket.write(`{"id":${id},"result":`)
          for (const part of result.parts) socket.write(part)
          socket.write(',"error":null}\n')
          socket.uncork()
          return
        }
        let body: string
        try {
          body = JSON.stringify(result ?? null)
        } catch (err) {
          body = 'null'
          error = `cannot encode the result: ${(err as Error).message}`
        }
        send(
          `{"id":${id},"result":${error === null ? body : 'null'},"error":${error === null ? 'null' : JSON.stringify(error)}}\n`
        )
      }
      // A call answered later frees its slot then: start what waits behind it.
      const replyLater = (result: unknown, error: string | null) => {
        reply(result, error)
        pump()
      }
      const method = req.method
      if (typeof method !== 'string' || !method.includes('.')) {
        reply(null, `rpc: service/method request ill-formed: ${String(method)}`)
        return
      }
      const fn = methods.get(method)
      if (fn === undefined) {
        const service = method.slice(0, method.indexOf('.'))
        reply(
          null,
          services.has(service)
            ? `rpc: can't find method ${method}`
            : `rpc: can't find service ${method}`
        )
        return
      }
      if (req.params === undefined) {
        reply(null, 'jsonrpc: request body missing params')
        return
      }
      if (!Array.isArray(req.params)) {
        reply(null, 'jsonrpc: params must be an array holding the one argument')
        return
      }
      const param: unknown = req.params[0]
      let out: unknown
      try {
        out = fn(param, request)
      } catch (err) {
        reply(null, errorText(err, onError, method))
        return
      }
      if (out instanceof Promise) {
        out.then(
          (r: unknown) => replyLater(r, null),
          (err: unknown) => replyLater(null, errorText(err, onError, method))
        )
      } else reply(out, null)
    }
  })
  return Object.assign(server, {
    stats,
    closeAll() {
      for (const s of sockets) s.destroy()
    },
  })
}

function errorText(err: unknown, onError: (m: string) => void, method: string): string {
  const message = err instanceof Error ? err.message : String(err)
  // RpcError is the caller's fault and expected; anything else is worth a log line.
  if (!(err instanceof RpcError)) onError(`${method}: ${message}`)
  return message
}

/** JsonRpcClientOptions: timeouts in ms, and the largest response accepted. */
export interface JsonRpcClientOptions {
  callTimeout: number
  connectTimeout: number
  /** maxResponseBytes: a bigger response ends the connection and fails the calls in flight (64 MiB). */
  maxResponseBytes: number
}

/**
 * JsonRpcClient calls a jsonrpc server over one connection, many calls in flight at once (matched by id).
 * A broken connection fails the calls in flight; the next call dials again.
 */
export class JsonRpcClient {
  readonly host: string
  readonly port: number
  readonly options: JsonRpcClientOptions
  #socket: Socket | null = null
  /** #dialing: the socket still connecting, so that close() can end it too. */
  #dialing: Socket | null = null
  #ready: Promise<Socket> | null = null
  #nextId = 0
  #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >()

  constructor(address: string, options: Partial<JsonRpcClientOptions> = {}) {
    const colon = address.lastIndexOf(':')
    this.host = address.slice(0, colon) || '127.0.0.1'
    this.port = Number(address.slice(colon + 1))
    this.options = {
      callTimeout: options.callTimeout ?? 10_000,
      connectTimeout: options.connectTimeout ?? 3_000,
      maxResponseBytes: options.maxResponseBytes ?? 64 << 20,
    }
  }

  /** call sends `param` as the single argument of `method` and resolves with the result. */
  call<T = unknown>(method: string, param: unknown): Promise<T> {
    return this.callJson<T>(method, JSON.stringify(param))
  }

  /** callJson is `call` with the argument already serialised as JSON (relays, load generators). */
  callJson<T = unknown>(method: string, paramJson: string): Promise<T> {
    return this.callRaw<T>(method, [paramJson])
  }

  /**
   * callRaw is `callJson` with the argument in parts written one after the other (strings and bytes,
   * joining into one JSON value), without building one string of them: a relay forwards the bytes it
   * serialised once. The parts must not change until the call is answered.
   */
  async callRaw<T = unknown>(method: string, parts: readonly (string | Uint8Array)[]): Promise<T> {
    const socket = await this.#connect()
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(
          new Error(
            `${method} to ${this.host}:${this.port}: no answer in ${this.options.callTimeout} ms`
          )
        )
      }, this.options.callTimeout)
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      // One writev for the request: corked writes go to the kernel together on uncork.
      socket.cork()
      socket.write(`{"method":${JSON.stringify(method)},"params":[`)
      for (const p of parts) socket.write(p)
      socket.write(`],"id":${id}}\n`)
      socket.uncork()
    })
  }

  /** close ends the connection, or the dial under way; calls in flight fail. */
  close(): void {
    // A dial left running would connect after close and hold the process open with its socket.
    this.#dialing?.destroy()
    this.#socket?.destroy()
    this.#drop(new Error('client closed'))
  }

  #connect(): Promise<Socket> {
    if (this.#ready !== null) return this.#ready
    const ready = new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port })
      this.#dialing = socket
      socket.setNoDelay(true)
      const timer = setTimeout(() => {
        socket.destroy(new Error(`connect to ${this.host}:${this.port}: timed out`))
      }, this.options.connectTimeout)
      const decoder = new JsonStreamDecoder(this.options.maxResponseBytes)
      socket.once('connect', () => {
        clearTimeout(timer)
        if (this.#dialing === socket) this.#dialing = null
        this.#socket = socket
        resolve(socket)
      })
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (value) => this.#onResponse(value))
        } catch (err) {
          socket.destroy(err as Error)
        }
      })
      socket.on('error', (err) => {
        clearTimeout(timer)
        // A failed dial is forgotten now, not at 'close' (a tick later): a call made in between would
        // otherwise get this refusal again, though the server may be back.
        if (this.#socket !== socket && this.#ready === ready) this.#ready = null
        reject(new Error(`${this.host}:${this.port}: ${err.message}`))
      })
      socket.on('close', () => {
        clearTimeout(timer)
        if (this.#dialing === socket) this.#dialing = null
        // A dial ended by close() emits no error: the calls waiting for it fail here instead.
        reject(new Error(`${this.host}:${this.port}: connection closed before it was made`))
        // Only this connection's calls fail: a later dial may already carry new ones.
        const current = this.#socket === socket || this.#ready === ready
        if (this.#socket === socket) this.#socket = null
        if (this.#ready === ready) this.#ready = null
        if (current) this.#drop(new Error(`connection to ${this.host}:${this.port} closed`))
      })
    })
    this.#ready = ready
    return ready
  }

  #onResponse(value: unknown): void {
    const res = (typeof value === 'object' && value !== null ? value : {}) as {
      id?: number
      result: unknown
      error: unknown
    }
    if (res.id === undefined) return
    const p = this.#pending.get(res.id)
    if (p === undefined) return
    this.#pending.delete(res.id)
    clearTimeout(p.timer)
    if (res.error !== null && res.error !== undefined) {
      // Go sends the error as a string; anything else is shown as JSON rather than [object Object].
      p.reject(new RpcError(typeof res.error === 'string' ? res.error : JSON.stringify(res.error)))
    } else p.resolve(res.result)
  }

  #drop(err: Error): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.#pending.clear()
  }
}
