// transfer's configuration (falcon's modules/transfer cfg.json roles), validated with every problem named.
import { availableParallelism } from 'node:os'
import {
  checkConnectionLimits,
  checkInt,
  checkReplication,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'

/**
 * TransferConfig configures one transfer. The connection limits apply to each of its listeners; the
 * cap allows a fleet's agents, each holding one JSON-RPC connection open.
 */
export interface TransferConfig extends ConnectionLimits {
  /** rpc: JSON-RPC listener for agents (falcon `rpc.listen`, default `0.0.0.0:8433`). */
  rpc: string
  /** http: HTTP listener for `/api/push` (falcon `http.listen`, default `0.0.0.0:6060`). */
  http: string
  /** socket: the line protocol listener (falcon `socket.listen`, default `0.0.0.0:4444`), or '' for none. */
  socket: string
  /** minStep: steps below this are raised to it, timestamps aligned to it (falcon default 30 s). */
  minStep: number
  /** graphCluster: node name → `host:port` (or `a,b` to write to both), hashed as falcon does. */
  graphCluster: Record<string, string>
  /**
   * judgeCluster: judge node name → its one `host:port` (falcon `judge.cluster`, which has no `a,b`
   * replication); every valid point also goes to the judge the ring picks. `{}` (the default) sends none.
   */
  judgeCluster: Record<string, string>
  /** replicas: points per node on the graph ring and on the judge ring (falcon default 500). */
  replicas: number
  /**
   * replication: on how many distinct graph nodes each series is kept (default 1, falcon's: the one
   * node the ring picks). With R > 1 the ring's owner and the next R − 1 distinct nodes clockwise after
   * it; at most the number of nodes. Readers (api, nodata, aggregator) must be given the same.
   */
  replication: number
  /**
   * writeQuorum: with replication, a push is acknowledged once every replica node that is up has it in
   * its WAL and at least this many do (default 1; 1 to `replication`). Replicas that are down get it
   * from the send buffer when they return.
   */
  writeQuorum: number
  /** batch: most items per Graph.Send or Judge.Send call. */
  batch: number
  /** maxBuffered: most items held per graph address while it is down; older ones are dropped and counted. */
  maxBuffered: number
  /**
   * judgeMaxBuffered: most items held per judge address while it is down (default 100,000); older ones
   * are dropped and counted in `judgeDropped`.
   */
  judgeMaxBuffered: number
  /** callTimeout: ms a Graph.Send or Judge.Send may take before it counts as failed. */
  callTimeout: number
  /** maxBodyBytes: largest HTTP push body (413 beyond) and RPC request. */
  maxBodyBytes: number
  /** maxLineBytes: longest line on the line socket; a longer one closes its connection. */
  maxLineBytes: number
  /**
   * maxInflightBytes: request bodies (and remote write's uncompressed requests) the HTTP port holds at
   * once, over every connection; a request that would go past it is answered 429 with Retry-After.
   */
  maxInflightBytes: number
  /**
   * remoteWriteStep: the step (seconds) Prometheus series written to `/api/v1/write` are stored with
   * (default 60, Prometheus's default scrape interval): it sets their rollup buckets and falcon's view.
   */
  remoteWriteStep: number
  /**
   * remoteWriteCreatedZero: store a 0 at a remote write 2.0 series' created (start) timestamp, so that
   * rate() and increase() count a restarted counter's first samples (Prometheus's
   * created-timestamp-zero-ingestion). Default true.
   */
  remoteWriteCreatedZero: boolean
  /**
   * parseWorkers: worker threads that parse and validate HTTP pushes of at least `parseWorkerMinBytes`,
   * so that parsing runs beside the main thread's storing and answering; 0 parses on the main thread.
   * `auto` (the default): one fewer than the cores Node may use, at most 4.
   */
  parseWorkers: number | 'auto'
  /** parseWorkerMinBytes: smaller HTTP pushes are parsed on the main thread (default 32 KiB). */
  parseWorkerMinBytes: number
}

/** defaultTransferConfig holds every default. */
export const defaultTransferConfig: TransferConfig = {
  rpc: '0.0.0.0:8433',
  http: '0.0.0.0:6060',
  socket: '0.0.0.0:4444',
  minStep: 30,
  graphCluster: { 'graph-00': '127.0.0.1:6070' },
  judgeCluster: {},
  replicas: 500,
  replication: 1,
  writeQuorum: 1,
  batch: 5000,
  maxBuffered: 1_000_000,
  judgeMaxBuffered: 100_000,
  callTimeout: 10_000,
  maxBodyBytes: 32 << 20,
  maxLineBytes: 4096,
  maxInflightBytes: 256 << 20,
  remoteWriteStep: 60,
  remoteWriteCreatedZero: true,
  parseWorkers: 'auto',
  parseWorkerMinBytes: 32 << 10,
  ...defaultConnectionLimits,
  maxConnections: 10_000,
  // A NAT or a proxy in front of a thousand agents is one address; one address is a tenth of a port.
  maxConnectionsPerAddress: 1000,
}

/** parseWorkerCount is `transfer.parseWorkers` resolved: `auto` is one fewer than the cores, at most 4. */
export function parseWorkerCount(c: Pick<TransferConfig, 'parseWorkers'>): number {
  return c.parseWorkers === 'auto' ? Math.min(4, availableParallelism() - 1) : c.parseWorkers
}

/** parseTransferConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseTransferConfig(raw: Record<string, unknown>): Readonly<TransferConfig> {
  const c = { ...defaultTransferConfig, ...raw }
  const problems: string[] = []
  checkListen(problems, 'transfer.rpc', c.rpc)
  checkListen(problems, 'transfer.http', c.http)
  if (c.socket !== '') checkListen(problems, 'transfer.socket', c.socket)
  const cluster = c.graphCluster as unknown
  if (typeof cluster !== 'object' || cluster === null || Object.keys(cluster).length === 0) {
    problems.push(
      'transfer.graphCluster: expected {"graph-00": "host:port", …} with at least one node'
    )
  } else {
    for (const [name, addrs] of Object.entries(cluster as Record<string, unknown>)) {
      if (typeof addrs !== 'string' || addrs === '') {
        problems.push(
          `transfer.graphCluster.${name}: expected "host:port" or "host:port,host:port"`
        )
        continue
      }
      for (const a of addrs.split(','))
        checkListen(problems, `transfer.graphCluster.${name}`, a.trim())
    }
  }
  checkReplication(problems, 'transfer', c.replication, cluster)
  if (Number.isInteger(c.replication))
    checkInt(problems, 'transfer.writeQuorum', c.writeQuorum, 1, Math.max(1, c.replication))
  const judges = c.judgeCluster as unknown
  if (typeof judges !== 'object' || judges === null || Array.isArray(judges)) {
    problems.push(
      'transfer.judgeCluster: expected {"judge-00": "host:port", …}, or {} for no judge'
    )
  } else {
    for (const [name, addr] of Object.entries(judges as Record<string, unknown>)) {
      if (typeof addr !== 'string' || addr === '') {
        problems.push(`transfer.judgeCluster.${name}: expected "host:port"`)
      } else if (addr.includes(',')) {
        problems.push(
          `transfer.judgeCluster.${name}: one "host:port" per judge node, got ${JSON.stringify(addr)} ` +
            '(judge keeps its state in memory, so a series cannot be judged at two addresses; ' +
            'give each address a node name of its own)'
        )
      } else checkListen(problems, `transfer.judgeCluster.${name}`, addr)
    }
  }
  for (const key of [
    'minStep',
    'replicas',
    'batch',
    'maxBuffered',
    'judgeMaxBuffered',
    'callTimeout',
    'maxBodyBytes',
    'maxLineBytes',
    'maxInflightBytes',
    'remoteWriteStep',
    'parseWorkerMinBytes',
  ] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0)
      problems.push(`transfer.${key}: expected a positive integer, got ${JSON.stringify(c[key])}`)
  }
  if (c.parseWorkers !== 'auto') checkInt(problems, 'transfer.parseWorkers', c.parseWorkers, 0, 64)
  if (typeof c.remoteWriteCreatedZero !== 'boolean') {
    problems.push(
      `transfer.remoteWriteCreatedZero: expected true or false, got ${JSON.stringify(c.remoteWriteCreatedZero)}`
    )
  }
  if (Number.isInteger(c.maxInflightBytes) && c.maxInflightBytes < c.maxBodyBytes)
    problems.push(
      `transfer.maxInflightBytes: ${c.maxInflightBytes} is less than maxBodyBytes (${c.maxBodyBytes}), so the largest request could never be taken`
    )
  checkConnectionLimits(problems, 'transfer', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
