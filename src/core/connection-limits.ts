// What one client may hold on a listener: a cap on connections, an idle timeout and a request timeout,
// applied the same way to every TCP and HTTP port (JSON-RPC, the line socket, Fastify and node:http).
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { readFileSync } from 'node:fs'
import { createServer as createTcpServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { parseIp } from './address-policy.js'

/** ConnectionLimits bound the connections of one listener; every component's section has these keys. */
export interface ConnectionLimits {
  /** maxConnections: connections open at once on each listener; more are closed as they arrive. */
  maxConnections: number
  /**
   * maxConnectionsPerAddress: connections one client address (an IPv6 client: its /64) may hold open
   * at once on each listener; more from it are closed as they arrive, so one client cannot take a
   * whole listener (nor, over several listeners, the process's file descriptors).
   */
  maxConnectionsPerAddress: number
  /**
   * idleTimeout: ms a connection may stay with nothing received or sent (between two requests, or
   * while a reply waits for a peer that does not read it); then it is closed.
   */
  idleTimeout: number
  /**
   * requestTimeout: ms a client has to send one whole request, from its first byte (HTTP: headers and
   * body; JSON-RPC: one request; the line socket: one line), and to start the first one once connected.
   */
  requestTimeout: number
}

/**
 * defaultConnectionLimits suit a port that a few peers use: components override `maxConnections` where
 * a fleet connects (transfer, hbs). The idle timeout is ten times an agent's push interval: a falcon
 * agent whose connection was closed loses that push (its client fails the call, then redials). One
 * address may hold a tenth of a listener: ten of them are needed to fill it. Peregrine's own callers
 * hold one connection per peer (a JsonRpcClient), and 100 are sixteen browsers at their six
 * connections per site at once.
 */
export const defaultConnectionLimits: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 1000,
  maxConnectionsPerAddress: 100,
  idleTimeout: 600_000,
  requestTimeout: 60_000,
})

/** ListenerStats count, per listener, the connections open and what the limits closed. */
export interface ListenerStats {
  /** open: connections open now. */
  open: number
  /** refused: connections closed as they arrived because `maxConnections` were open. */
  refused: number
  /**
   * refusedPerAddress: connections closed as they arrived because their address held
   * `maxConnectionsPerAddress` already.
   */
  refusedPerAddress: number
  /** idleClosed: connections closed after `idleTimeout` with nothing received or sent. */
  idleClosed: number
  /** requestTimeouts: connections closed because a request did not arrive whole in `requestTimeout`. */
  requestTimeouts: number
  /** paused: connections not read now because their replies are unread or their calls at the cap. */
  paused: number
}

/** newListenerStats returns zeroed stats for one listener. */
export function newListenerStats(): ListenerStats {
  return { open: 0, refused: 0, refusedPerAddress: 0, idleClosed: 0, requestTimeouts: 0, paused: 0 }
}

/** MAX_TIMEOUT_MS is the longest delay a Node timer takes (about 24.8 days); longer fires at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

const LIMIT_KEYS = [
  'maxConnections',
  'maxConnectionsPerAddress',
  'idleTimeout',
  'requestTimeout',
] as const
const MAX_CONNECTIONS = 1_000_000
const isCount = (key: string) => key.startsWith('maxConnections')

/**
 * checkConnectionLimits adds a problem per bad key of `c` (a component's merged section), each named
 * by its path: `transfer.idleTimeout: expected …`.
 */
export function checkConnectionLimits(
  problems: string[],
  section: string,
  c: Readonly<Record<(typeof LIMIT_KEYS)[number], unknown>>
): void {
  for (const key of LIMIT_KEYS) {
    const v = c[key]
    const max = isCount(key) ? MAX_CONNECTIONS : MAX_TIMEOUT_MS
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) {
      const unit = isCount(key) ? 'connections' : 'ms'
      problems.push(
        `${section}.${key}: expected an integer from 1 to ${max} (${unit}), got ${JSON.stringify(v)}`
      )
    }
  }
}

/**
 * addressKey is what `maxConnectionsPerAddress` counts by: an IPv4 address (an IPv4-mapped IPv6 one
 * as IPv4), an IPv6 address's /64 (one host or one site usually holds a whole /64, so counting its
 * addresses one by one would bound nothing), ::1 as itself. undefined when there is no address.
 */
export function addressKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined
  if (!address.includes(':')) return address
  if (address === '::1') return address
  const n = parseIp(address)
  if (n === undefined) return address
  if (n >> 32n === 0xffffn) return address.slice(address.lastIndexOf(':') + 1)
  const hextets = [48n, 32n, 16n, 0n].map((s) => ((n >> (64n + s)) & 0xffffn).toString(16))
  return `${hextets.join(':')}::/64`
}

/**
 * AddressCounts counts the open connections of one listener per address key and admits a new one
 * while its address holds fewer than `max`. Entries go when their last connection closes, so the map
 * holds at most one key per open connection.
 */
class AddressCounts {
  readonly #open = new Map<string, number>()
  constructor(readonly max: number) {}

  /** admit counts `socket` in and returns true, or returns false when its address is at the cap. */
  admit(socket: Socket): boolean {
    const key = addressKey(socket.remoteAddress)
    // A socket already gone has no address: nothing to count, and it closes by itself.
    if (key === undefined) return true
    const n = this.#open.get(key) ?? 0
    if (n >= this.max) return false
    this.#open.set(key, n + 1)
    socket.once('close', () => {
      const left = (this.#open.get(key) ?? 1) - 1
      if (left === 0) this.#open.delete(key)
      else this.#open.set(key, left)
    })
    return true
  }
}

/**
 * createLimitedTcpServer returns a raw TCP server whose connections are capped: past `maxConnections`
 * Node closes them as they arrive, past `maxConnectionsPerAddress` from one address they are closed
 * before `handler` sees them; both counted. Each connection `handler` gets is then watched with
 * `watchConnection`.
 */
export function createLimitedTcpServer(
  limits: ConnectionLimits,
  stats: ListenerStats,
  handler: (socket: Socket) => void
): Server {
  const perAddress = new AddressCounts(limits.maxConnectionsPerAddress)
  const server = createTcpServer((socket) => {
    if (!perAddress.admit(socket)) {
      stats.refusedPerAddress++
      socket.destroy()
      return
    }
    handler(socket)
  })
  server.maxConnections = limits.maxConnections
  server.on('drop', () => stats.refused++)
  return server
}

/**
 * ConnectionWatch is what a TCP protocol tells the watch of one connection: after each chunk, whether
 * a request ended in it and whether one is left unfinished; and when it stops or starts reading.
 */
export interface ConnectionWatch {
  received(completed: boolean, partial: boolean): void
  paused(isPaused: boolean): void
}

/**
 * watchConnection applies the timeouts to one TCP connection: its first request must start within
 * `requestTimeout`, a request once started must end within `requestTimeout` (not counting the time
 * the server itself stops reading), and a connection with nothing received or sent for `idleTimeout`
 * is closed (so is one whose peer never reads its replies: nothing moves). Each close is counted.
 */
export function watchConnection(
  socket: Socket,
  limits: ConnectionLimits,
  stats: ListenerStats
): ConnectionWatch {
  stats.open++
  let started = false
  let isPaused = false
  let partial = false
  // The deadline of the request under way; cleared while the server does not read.
  let deadline: NodeJS.Timeout | undefined
  const expire = () => {
    if (socket.destroyed) return
    stats.requestTimeouts++
    socket.destroy()
  }
  const arm = () => {
    if (deadline === undefined && partial && !isPaused) {
      deadline = setTimeout(expire, limits.requestTimeout)
      deadline.unref()
    }
  }
  const disarm = () => {
    clearTimeout(deadline)
    deadline = undefined
  }
  socket.setTimeout(limits.requestTimeout)
  socket.on('timeout', () => {
    if (socket.destroyed) return
    // Silent with a request unfinished (or none begun) is the client's slowness, not idleness.
    if (started && (!partial || isPaused)) stats.idleClosed++
    else stats.requestTimeouts++
    socket.destroy()
  })
  socket.once('close', () => {
    stats.open--
    if (isPaused) stats.paused--
    disarm()
  })
  return {
    received(completed, isPartial) {
      if (!started) {
        started = true
        socket.setTimeout(limits.idleTimeout)
      }
      partial = isPartial
      if (completed || !partial) disarm()
      arm()
    },
    paused(p) {
      if (p === isPaused || socket.destroyed) return
      isPaused = p
      stats.paused += p ? 1 : -1
      if (p) disarm()
      else arm()
    },
  }
}

/**
 * createLimitedHttpServer returns a node:http server with the limits applied: `maxConnections` and
 * `maxConnectionsPerAddress` (a connection past either is closed as it arrives, with nothing sent), the
 * headers and the whole request within `requestTimeout` (a silent new connection included; answered
 * 408), and `idleTimeout` both for keep-alive between requests and for a connection where nothing
 * moves (a peer that stopped reading a reply). Fastify takes it as its `serverFactory`.
 */
export function createLimitedHttpServer(
  limits: ConnectionLimits,
  stats: ListenerStats,
  handler?: (req: IncomingMessage, res: ServerResponse) => void
): HttpServer {
  const server = createServer(
    {
      keepAliveTimeout: limits.idleTimeout,
      headersTimeout: limits.requestTimeout,
      requestTimeout: limits.requestTimeout,
      // Node checks these deadlines on an interval (30 s by default): short timeouts need it shorter.
      connectionsCheckingInterval: Math.max(10, Math.min(30_000, limits.requestTimeout >> 2)),
    },
    handler
  )
  server.maxConnections = limits.maxConnections
  server.on('drop', () => stats.refused++)
  // Ahead of node:http's own listener, which then meets a destroyed socket: it parses nothing, and
  // forgets the socket when it closes.
  const perAddress = new AddressCounts(limits.maxConnectionsPerAddress)
  server.prependListener('connection', (socket: Socket) => {
    if (!perAddress.admit(socket)) {
      stats.refusedPerAddress++
      socket.destroy()
      return
    }
    stats.open++
    socket.once('close', () => stats.open--)
  })
  // Keep-alive and a reply that does not move end here (not a request still arriving: Node answers
  // that one 408 once requestTimeout has passed).
  server.on('timeout', (socket: Socket) => {
    stats.idleClosed++
    socket.destroy()
  })
  // A reply under way on a socket: a client error then may not write one of its own. Only a bare
  // server answers client errors here; a framework that listens for them answers them itself.
  const replying = new WeakMap<Duplex, ServerResponse>()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    req.socket.setTimeout(limits.idleTimeout)
    if (server.listenerCount('clientError') > 1) return
    replying.set(req.socket, res)
    res.once('finish', () => replying.delete(req.socket))
  })
  server.prependListener('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') stats.requestTimeouts++
    // A framework (Fastify) answers client errors itself; a bare server gets Node's own answers,
    // which a 'clientError' listener turns off.
    if (server.listenerCount('clientError') > 1) return
    if (socket.writable && replying.get(socket)?.headersSent !== true) {
      socket.write(NODE_CLIENT_ERROR_REPLY[err.code ?? ''] ?? NODE_BAD_REQUEST)
    }
    socket.destroy(err)
  })
  return server
}

const NODE_BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'
const NODE_CLIENT_ERROR_REPLY: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
}

/**
 * limitedServerFactory is createLimitedHttpServer in the shape of Fastify's `serverFactory` option:
 * `Fastify({ serverFactory: limitedServerFactory(config, stats) })`.
 */
export function limitedServerFactory(
  limits: ConnectionLimits,
  stats: ListenerStats
): (handler: (req: IncomingMessage, res: ServerResponse) => void) => HttpServer {
  return (handler) => createLimitedHttpServer(limits, stats, handler)
}

/**
 * openFileLimit is the soft `Max open files` of a /proc/PID/limits text; undefined when it is
 * unlimited or not there.
 */
export function openFileLimit(limitsText: string): number | undefined {
  const m = /^Max open files\s+(\d+)\s/m.exec(limitsText)
  return m === null ? undefined : Number(m[1])
}

/** processOpenFileLimit is this process's open-file limit (Linux); undefined elsewhere. */
export function processOpenFileLimit(): number | undefined {
  try {
    return openFileLimit(readFileSync('/proc/self/limits', 'utf8'))
  } catch {
    return undefined
  }
}

/** ListenerCap is one listener of a process and its `maxConnections` (`transfer.rpc`, 10000). */
export interface ListenerCap {
  listener: string
  maxConnections: number
}

/**
 * descriptorWarning is one line saying that the listeners' caps add up to more connections than the
 * open-file limit lets the process hold (every connection is a file descriptor: past the limit,
 * accept fails and every port stops answering, the busy one and the others alike), naming the limit
 * and what to do; undefined when they fit or the limit is unknown.
 */
export function descriptorWarning(
  caps: readonly ListenerCap[],
  limit: number | undefined
): string | undefined {
  if (limit === undefined) return undefined
  const total = caps.reduce((sum, c) => sum + c.maxConnections, 0)
  if (total <= limit) return undefined
  const n = (v: number) => v.toLocaleString('en-US')
  const each = caps.map((c) => `${c.listener} ${n(c.maxConnections)}`).join(', ')
  return (
    `connections: the listeners of this process may hold ${n(total)} connections together ` +
    `(${each}), more than its open-file limit of ${n(limit)} (Max open files in /proc/self/limits): ` +
    `past it no port accepts a connection. Raise the limit above ${n(total)} plus the files the ` +
    `process keeps open (ulimit -n, or LimitNOFILE= in its systemd unit), or lower maxConnections`
  )
}
