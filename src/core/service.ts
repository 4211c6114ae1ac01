// What every app's start() returns and receives: a running service, and its dependencies.
import { readFileSync } from 'node:fs'
import type { Server } from 'node:net'
import type { MetricsRegistry } from './metrics.js'
import type { PromAppender } from './prom-appender.js'

/** Logger is the logging seam: apps log through it and never to the console directly. */
export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

/** RpcCaller makes calls to another component: a JsonRpcClient over TCP, or a direct in-process call. */
export interface RpcCaller {
  call<T = unknown>(method: string, param: unknown): Promise<T>
  close(): void
  /**
   * columns: the caller is a graph in this process that takes `Graph.SendColumns` (GraphColumns[]),
   * points without an object each; absent for a caller over the wire.
   */
  readonly columns?: true
}

/** Deps are what an app's start() is given besides its config (Prometheus' EngineOpts spirit). */
export interface Deps {
  log: Logger
  /** now returns the time in ms; tests pass their own clock. */
  now: () => number
  /**
   * dial returns a caller for a component's RPC address. The runner passes one that reaches components
   * of the same process directly (no JSON in between); by default it is a JsonRpcClient over TCP.
   */
  dial?: (address: string, options: { callTimeout: number; maxResponseBytes?: number }) => RpcCaller
  /**
   * metrics is the process's metrics registry, which every component registers in and serves at
   * /metrics. Without one, a component keeps its own (tests running two of a kind in one process).
   */
  metrics?: MetricsRegistry
}

/** Service is a started app: its name, the addresses it listens on, and how to stop it. */
export interface Service {
  readonly name: string
  /** addresses maps a listener (`rpc`, `http`, …) to the `host:port` it is bound to. */
  readonly addresses: Readonly<Record<string, string>>
  /** local answers this service's RPC methods in-process, for components started in the same process. */
  readonly local?: RpcCaller
  /** appender takes Prometheus series in-process (transfer's), for components started beside it. */
  readonly appender?: PromAppender
  stop(): Promise<void>
}

/** silentLogger drops everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}

/** listenError turns a failed listen into one sentence naming the setting and what to do. */
export function listenError(field: string, address: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code
  const why =
    code === 'EADDRINUSE'
      ? 'is already in use; stop the program holding it or set another port'
      : code === 'EACCES'
        ? 'is not allowed for this user (ports below 1024 need privileges); set another port'
        : code === 'EADDRNOTAVAIL'
          ? 'is not an address of this machine; set another host'
          : `cannot be listened on (${(err as Error).message})`
  return new Error(`${field}: ${address} ${why}`, { cause: err })
}

/**
 * processAlive tells whether a process with this pid exists and runs (EPERM: it does, owned by someone
 * else). A zombie, which has exited and waits only for its parent to read its status, is not alive:
 * it holds no lock, serves nothing and will never stop by a signal.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  return !exited(pid)
}

// Linux's /proc/PID/stat state: Z (zombie) and X (dead) have exited. Where there is no /proc, the
// signal's answer stands.
function exited(pid: number): boolean {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return false
  }
  // The state follows the command name, which is in parentheses and may hold spaces and parentheses.
  const state = stat.charAt(stat.lastIndexOf(')') + 2)
  return state === 'Z' || state === 'X'
}

/** listenTcp listens on `value` (`host:port`); a failure is one sentence naming `field` (listenError). */
export function listenTcp(server: Server, field: string, value: string): Promise<void> {
  const { host, port } = parseListen(field, value)
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(field, value, err)))
    server.listen(port, host, () => resolve())
  })
}

/** parseListen splits `host:port` (or `:port`, meaning every interface); throws naming `field`. */
export function parseListen(field: string, value: unknown): { host: string; port: number } {
  if (typeof value !== 'string')
    throw new Error(`${field}: expected "host:port", got ${JSON.stringify(value)}`)
  const colon = value.lastIndexOf(':')
  const port = Number(value.slice(colon + 1))
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `${field}: expected "host:port" with a port from 0 to 65535, got ${JSON.stringify(value)}`
    )
  }
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host: host === '' ? '0.0.0.0' : host, port }
}

/**
 * checkListen is parseListen for a config check that names every bad key at once: a bad address
 * adds parseListen's sentence to `problems` instead of throwing.
 */
export function checkListen(problems: string[], field: string, value: unknown): void {
  try {
    parseListen(field, value)
  } catch (err) {
    problems.push((err as Error).message)
  }
}
