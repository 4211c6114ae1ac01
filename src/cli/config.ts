// Configuration for `peregrine start`: our own file (YAML or JSON) or Open-Falcon's per-module cfg.json.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { parseListen } from '../core/service.js'
// The components' config modules, not their index.ts: reading a configuration loads none of the
// servers (the CLI may reach into apps). api's and hbs's, which load the store's query builder, are
// imported only when those components run, so `peregrine start agent` carries only the agent.
import { type AgentConfig, isFalconAgentConfig, parseAgentConfig } from '../agent/config.js'
import type { AlarmConfig } from '../alarm/config.js'
import type { ApiConfig } from '../api/config.js'
import { type GatewayConfig, parseGatewayConfig } from '../gateway/config.js'
import { type GraphConfig, parseGraphConfig } from '../graph/config.js'
import type { HbsConfig } from '../hbs/config.js'
import type { JudgeConfig } from '../judge/config.js'
import type { NodataConfig } from '../nodata/config.js'
import type { AggregatorConfig } from '../aggregator/config.js'
import type { ScrapeComponentConfig } from '../scrape/config.js'
import {
  parseRemoteStorageConfig,
  REMOTE_GRAPH_ADDRESS,
  type RemoteStorageConfig,
} from '../remote/config.js'
import {
  defaultTransferConfig,
  parseTransferConfig,
  type TransferConfig,
} from '../transfer/config.js'

/**
 * COMPONENTS in start order: storage first, then the rules (hbs) and their evaluator (judge), then
 * what feeds them (transfer, scrape, and nodata and aggregator, which read graph and write through
 * transfer), then what reads (api, alarm), then the local agent; the gateway, which forwards to
 * transfers elsewhere, last.
 */
export const COMPONENTS = [
  'graph',
  'hbs',
  'judge',
  'transfer',
  'scrape',
  'nodata',
  'aggregator',
  'api',
  'alarm',
  'agent',
  'gateway',
] as const
export type Component = (typeof COMPONENTS)[number]

/**
 * defaultComponents are what `peregrine start` runs when none are named: every component but the
 * gateway, and the gateway too when the configuration has a `gateway` section (or is a falcon
 * gateway cfg.json). A gateway fronts a remote data centre for central transfers: beside its own
 * transfer it would only forward to itself.
 */
export function defaultComponents(raw: Record<string, unknown>): Component[] {
  return COMPONENTS.filter(
    (c) =>
      (c !== 'gateway' || raw.gateway !== undefined) &&
      // With remote storage the store keeps the series: no graph node runs.
      (c !== 'graph' || raw.storage !== 'remote')
  )
}

/** Configs holds the parsed configuration of each component to start. */
export interface Configs {
  dataDir: string
  /** store: the portal store URL api, hbs and alarm share unless their sections name their own. */
  store: string
  /** redis: the Redis judge and alarm share (falcon's lists), or '' for the in-process queue. */
  redis: string
  /**
   * remoteStorage: set when the file says `storage: remote`; transfer writes and api, nodata and
   * aggregator read the store it names, through the graph node at REMOTE_GRAPH_ADDRESS.
   */
  remoteStorage?: Readonly<RemoteStorageConfig>
  graph?: Readonly<GraphConfig>
  transfer?: Readonly<TransferConfig>
  api?: Readonly<ApiConfig>
  hbs?: Readonly<HbsConfig>
  judge?: Readonly<JudgeConfig>
  alarm?: Readonly<AlarmConfig>
  agent?: Readonly<AgentConfig>
  scrape?: Readonly<ScrapeComponentConfig>
  nodata?: Readonly<NodataConfig>
  aggregator?: Readonly<AggregatorConfig>
  /**
   * nodataLocal, aggregatorLocal: the section names no graph cluster (or no transfer), so it reads
   * the graph (pushes to the transfer) started beside it, at its bound address.
   */
  nodataLocal: { graph: boolean; transfer: boolean }
  aggregatorLocal: { graph: boolean; transfer: boolean }
  gateway?: Readonly<GatewayConfig>
  /** scrapeLocalTransfer: scrape writes to the transfer started beside it (its bound HTTP address). */
  scrapeLocalTransfer: boolean
  /**
   * agentLocal: the agent's section names no transfer or hbs address, so it pushes to the transfer
   * and heartbeats to the hbs started beside it (at their bound addresses).
   */
  agentLocal: { transfer: boolean; hbs: boolean }
  /** localGraph: transfer and api use the graph started beside them (its bound address, known once up). */
  localGraph: boolean
  /** localJudge: transfer sends to the judge started beside it (its bound address, known once up). */
  localJudge: boolean
  /** judgeLocalHbs: judge fetches its rules from the hbs started beside it. */
  judgeLocalHbs: boolean
}

/**
 * readConfigFile reads a JSON or YAML file into `{dataDir?, store?, redis?}` and a section per component. An
 * Open-Falcon module's cfg.json is recognised by its shape and mapped onto that module's section; the
 * keys it has that Peregrine does not use are returned in `ignored`. Every key is optional, so a file
 * with nothing in it (blank, or YAML with only comments) means every default.
 */
export function readConfigFile(file: string): { raw: Record<string, unknown>; ignored: string[] } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'a directory, not a file'
          : code === 'EACCES'
            ? 'not readable by this user'
            : (err as Error).message
    throw new Error(`${file}: cannot read the configuration: ${why}`, { cause: err })
  }
  let parsed: unknown
  try {
    if (text.trim() === '') parsed = {}
    else if (file.endsWith('.json')) parsed = JSON.parse(text)
    // A YAML stream of comments alone is the null document: no settings.
    else parsed = (parseYaml(text) as unknown) ?? {}
  } catch (err) {
    throw new Error(
      `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'} (${(err as Error).message})`,
      { cause: err }
    )
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file}: expected an object of settings`)
  }
  return fromFalcon(parsed as Record<string, unknown>)
}

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {}
const listenOf = (v: unknown): string | undefined => {
  const o = obj(v)
  return typeof o.listen === 'string' ? o.listen : undefined
}

// A Go listen address may leave the host out (`:6080`, every address).
const anyPort = (v: string) => (v.startsWith(':') ? '0.0.0.0' + v : v)
/** The keys of `o` not in `used`, as `path.key`. */
const unusedIn = (o: Obj, path: string, used: string[]) =>
  Object.keys(o)
    .filter((k) => !used.includes(k))
    .map((k) => `${path}.${k}`)

/** isFalconJudgeConfig: falcon judge's cfg.json (it has `rpc.listen` too, like transfer's). */
function isFalconJudgeConfig(raw: Obj): boolean {
  return (
    raw.remain !== undefined ||
    obj(raw.alarm).queuePattern !== undefined ||
    (typeof obj(raw.rpc).listen === 'string' && Array.isArray(obj(raw.hbs).servers))
  )
}

/** isFalconAlarmConfig: falcon alarm's cfg.json (Peregrine's own `redis` is a string, not an object). */
function isFalconAlarmConfig(raw: Obj): boolean {
  const redis = obj(raw.redis)
  return (
    redis.highQueues !== undefined ||
    redis.addr !== undefined ||
    obj(raw.api).plus_api !== undefined ||
    raw.falcon_portal !== undefined
  )
}

/** isFalconNodataConfig: falcon nodata's cfg.json (`sender.transferAddr`, `collector`, `config.dsn`). */
function isFalconNodataConfig(raw: Obj): boolean {
  return (
    obj(raw.sender).transferAddr !== undefined ||
    (raw.collector !== undefined && typeof obj(raw.config).dsn === 'string')
  )
}

/** isFalconAggregatorConfig: falcon aggregator's cfg.json (`api.push_api`, `database.ids`). */
function isFalconAggregatorConfig(raw: Obj): boolean {
  return obj(raw.api).push_api !== undefined || Array.isArray(obj(raw.database).ids)
}

// falcon nodata's cfg.json → `nodata` and the top-level `store`.
function fromFalconNodata(raw: Obj): { raw: Obj; ignored: string[] } {
  const notes: string[] = []
  const sender = obj(raw.sender)
  const config = obj(raw.config)
  const transferAddr = sender.transferAddr
  return {
    raw: clean({
      store: typeof config.dsn === 'string' ? goDsnToUrl(config.dsn, 'config.dsn') : undefined,
      nodata: clean({
        http: listener(raw, 'http', 'nodata', notes),
        // falcon posts to transfer's /api/push at this host:port.
        // A wrong type is passed on for nodata's parser to name.
        transfer:
          transferAddr === undefined || transferAddr === ''
            ? undefined
            : typeof transferAddr !== 'string'
              ? [transferAddr]
              : [
                  /^https?:\/\//.test(transferAddr)
                    ? transferAddr
                    : `http://${transferAddr}/api/push`,
                ],
        batch: sender.batch,
      }),
    }),
    ignored: [
      ...Object.keys(raw)
        .filter((k) => !['http', 'sender', 'config'].includes(k))
        .map((k) =>
          k === 'plus_api'
            ? 'plus_api (nodata reads last points from graph: nodata.graphCluster)'
            : k === 'collector'
              ? 'collector (nodata reads each series when its timeout can have passed)'
              : k
        ),
      ...unusedIn(obj(raw.http), 'http', ['enabled', 'listen']),
      ...unusedIn(sender, 'sender', ['transferAddr', 'batch']),
      ...unusedIn(config, 'config', ['dsn']),
      ...notes,
    ],
  }
}

// falcon aggregator's cfg.json → `aggregator` and the top-level `store`.
function fromFalconAggregator(raw: Obj): { raw: Obj; ignored: string[] } {
  const notes: string[] = []
  const database = obj(raw.database)
  const api = obj(raw.api)
  return {
    raw: clean({
      store:
        typeof database.addr === 'string' ? goDsnToUrl(database.addr, 'database.addr') : undefined,
      aggregator: clean({
        http: listener(raw, 'http', 'aggregator', notes),
        ids: database.ids,
        transfer: api.push_api === undefined || api.push_api === '' ? undefined : [api.push_api],
      }),
    }),
    ignored: [
      ...Object.keys(raw).filter((k) => !['http', 'database', 'api'].includes(k)),
      ...unusedIn(obj(raw.http), 'http', ['enabled', 'listen']),
      ...unusedIn(database, 'database', ['addr', 'ids']).map((k) =>
        k === 'database.interval' ? 'database.interval (rules are reread when they change)' : k
      ),
      ...unusedIn(api, 'api', ['push_api']).map((k) =>
        k === 'api.plus_api'
          ? 'api.plus_api (aggregator reads groups from the store and points from graph)'
          : k
      ),
      ...notes,
    ],
  }
}

/** isFalconGatewayConfig: falcon gateway's cfg.json (`transfer.cluster`, where transfer's has `graph`). */
function isFalconGatewayConfig(raw: Obj): boolean {
  return obj(raw.transfer).cluster !== undefined && raw.graph === undefined
}

// falcon gateway's cfg.json → `gateway`. Falcon's transfer nodes are one cluster (each batch goes to
// one of them at random, the next on failure): here the cluster `transfer`, its addresses balanced
// the same way.
function fromFalconGateway(raw: Obj): { raw: Obj; ignored: string[] } {
  const notes: string[] = []
  const socket = obj(raw.socket)
  const transfer = obj(raw.transfer)
  const cluster = obj(transfer.cluster)
  if (transfer.enabled === false)
    notes.push('transfer.enabled: false (a gateway always forwards, to gateway.clusters)')
  const explain: Record<string, string> = {
    'transfer.retry': 'transfer.retry (the gateway retries until the cluster answers, from disk)',
    'transfer.maxConns': 'transfer.maxConns (gateway.callsInFlight bounds the calls to a cluster)',
    'socket.timeout': 'socket.timeout (gateway.idleTimeout applies to every listener)',
  }
  return {
    raw: {
      gateway: clean({
        rpc: listener(raw, 'rpc', 'gateway', notes),
        http: listener(raw, 'http', 'gateway', notes),
        socket:
          socket.enabled === false
            ? ''
            : typeof socket.listen === 'string' && socket.listen !== ''
              ? anyPort(socket.listen)
              : undefined,
        // An empty map or another type is passed on for the gateway's parser to name: never the
        // default cluster in its place.
        clusters:
          typeof transfer.cluster !== 'object' ||
          transfer.cluster === null ||
          Array.isArray(transfer.cluster)
            ? transfer.cluster
            : Object.keys(cluster).length === 0
              ? {}
              : { transfer: Object.values(cluster) },
        batch: transfer.batch,
        callTimeout: transfer.callTimeout,
        connectTimeout: transfer.connTimeout,
      }),
    },
    ignored: [
      ...Object.keys(raw).filter((k) => !['rpc', 'http', 'socket', 'transfer'].includes(k)),
      ...unusedIn(obj(raw.rpc), 'rpc', ['enabled', 'listen']),
      ...unusedIn(obj(raw.http), 'http', ['enabled', 'listen']),
      ...unusedIn(socket, 'socket', ['enabled', 'listen']),
      ...unusedIn(transfer, 'transfer', [
        'enabled',
        'batch',
        'callTimeout',
        'connTimeout',
        'cluster',
      ]),
      ...notes,
    ].map((k) => explain[k] ?? k),
  }
}

// Recognises falcon's transfer, graph, api, hbs, judge, alarm, nodata, aggregator and gateway
// cfg.json (modules/*/cfg.example.json at v0.3).
function fromFalcon(raw: Obj): { raw: Obj; ignored: string[] } {
  if (isFalconAgentConfig(raw)) return { raw: { agent: raw }, ignored: [] }
  if (isFalconNodataConfig(raw)) return fromFalconNodata(raw)
  if (isFalconAggregatorConfig(raw)) return fromFalconAggregator(raw)
  if (isFalconGatewayConfig(raw)) return fromFalconGateway(raw)
  if (isFalconJudgeConfig(raw)) return fromFalconJudge(raw)
  if (isFalconAlarmConfig(raw)) return fromFalconAlarm(raw)
  const isHbs = typeof raw.database === 'string' && typeof raw.listen === 'string'
  const isFalcon =
    typeof obj(raw.rpc).listen === 'string' || typeof raw.web_port === 'string' || isHbs
  if (!isFalcon) return { raw, ignored: [] }
  const pick = (used: string[]) => Object.keys(raw).filter((k) => !used.includes(k))
  if (isHbs) {
    const http = obj(raw.http)
    const trustable = Array.isArray(raw.trustable)
      ? raw.trustable.filter((ip) => typeof ip === 'string' && ip !== '')
      : undefined
    return {
      raw: {
        // The portal store is every component's: started together, api must write where hbs reads.
        store: goDsnToUrl(raw.database as string, 'database'),
        hbs: clean({
          rpc: anyPort(raw.listen as string),
          http: http.enabled === false ? undefined : listenOf(raw.http),
          hosts: typeof raw.hosts === 'string' && raw.hosts !== '' ? 'update' : undefined,
          trustable,
        }),
      },
      ignored: pick(['listen', 'http', 'database', 'hosts', 'trustable']),
    }
  }
  if (typeof raw.web_port === 'string') {
    const graphs = obj(raw.graphs)
    const portal = obj(raw.db).falcon_portal
    return {
      raw: clean({
        // The portal store is every component's: started together, hbs must read where api writes.
        store: typeof portal === 'string' ? goDsnToUrl(portal, 'db.falcon_portal') : undefined,
        api: clean({
          http: anyPort(raw.web_port),
          graphCluster: graphs.cluster,
          replicas: graphs.numberOfReplicas,
          callTimeout: graphs.call_timeout,
          defaultToken: raw.default_token,
          salt: raw.salt,
          signupDisable: raw.signup_disable,
        }),
      }),
      ignored: pick(['web_port', 'graphs', 'db', 'default_token', 'salt', 'signup_disable']),
    }
  }
  if (obj(raw.rrd).storage !== undefined) {
    return {
      raw: {
        graph: clean({
          rpc: listenOf(raw.rpc),
          http: listenOf(raw.http),
          dataDir: obj(raw.rrd).storage,
        }),
      },
      ignored: pick(['rpc', 'http', 'rrd']),
    }
  }
  const graph = obj(raw.graph)
  const judge = obj(raw.judge)
  const socket = obj(raw.socket)
  // Falcon sends to judge only with `judge.enabled: true` (a missing key is Go's false).
  const judgeOn = judge.enabled === true
  // One `replicas` serves both rings here; a judge ring of its own size is reported as not used.
  const replicas = graph.replicas ?? defaultTransferConfig.replicas
  const judgeReplicas =
    judgeOn && judge.replicas !== undefined && judge.replicas !== replicas
      ? [`judge.replicas (both rings use graph.replicas, ${JSON.stringify(replicas)})`]
      : []
  return {
    raw: {
      transfer: clean({
        rpc: listenOf(raw.rpc),
        http: listenOf(raw.http),
        socket: socket.enabled === false ? '' : listenOf(raw.socket),
        minStep: raw.minStep,
        graphCluster: graph.cluster,
        judgeCluster: judgeOn ? (judge.cluster ?? {}) : {},
        replicas: graph.replicas,
        callTimeout: graph.callTimeout,
      }),
    },
    ignored: [...pick(['rpc', 'http', 'socket', 'minStep', 'graph', 'judge']), ...judgeReplicas],
  }
}

/**
 * A listener of falcon's `{enabled, listen}`: its address, or none (the default kept) with a note when
 * falcon turns it off, which Peregrine cannot.
 */
function listener(
  raw: Obj,
  key: 'http' | 'rpc',
  section: string,
  notes: string[]
): string | undefined {
  const l = obj(raw[key])
  if (l.enabled === false) {
    notes.push(`${key}.enabled: false (cannot be turned off: ${section}.${key} keeps its default)`)
    return undefined
  }
  if (l.listen === undefined || l.listen === '') return undefined
  // Not a string: passed on as it is, for the section's parser to name (never the default instead).
  return typeof l.listen === 'string' ? anyPort(l.listen) : (l.listen as string)
}

/**
 * falconRedisToUrl turns falcon's Redis address (judge `alarm.redis.dsn`, alarm `redis.addr`:
 * `[password@]host:port`, the password being everything before the last '@', as falcon's
 * formatRedisAddr splits it) into `redis://[:password@]host:port`; a URL is returned as is.
 */
export function falconRedisToUrl(addr: string): string {
  if (/^rediss?:\/\//.test(addr)) return addr
  const at = addr.lastIndexOf('@')
  const password = at < 0 ? '' : addr.slice(0, at)
  const hostPort = addr.slice(at + 1)
  const host = hostPort.startsWith(':') ? `127.0.0.1${hostPort}` : hostPort
  return `redis://${password === '' ? '' : `:${encodeURIComponent(password)}@`}${host}`
}

// falcon judge's cfg.json → `judge` and the top-level `redis`.
function fromFalconJudge(raw: Obj): { raw: Obj; ignored: string[] } {
  const notes: string[] = []
  const hbs = obj(raw.hbs)
  const alarm = obj(raw.alarm)
  const redis = obj(alarm.redis)
  // Falcon pushes events to Redis only with `alarm.enabled: true` (a missing key is Go's false).
  const alarmOn = alarm.enabled === true
  const dsn = typeof redis.dsn === 'string' && redis.dsn !== '' ? redis.dsn : undefined
  if (!alarmOn && dsn !== undefined)
    notes.push('alarm.redis.dsn (alarm.enabled is not true: events stay in this process)')
  const judge = clean({
    rpc: listener(raw, 'rpc', 'judge', notes),
    http: listener(raw, 'http', 'judge', notes),
    hbs: hbs.servers,
    // Seconds in falcon, ms here.
    hbsInterval: typeof hbs.interval === 'number' ? hbs.interval * 1000 : hbs.interval,
    remain: raw.remain,
    minInterval: alarm.minInterval,
    queuePattern: alarm.queuePattern,
  })
  return {
    raw: clean({ redis: alarmOn && dsn !== undefined ? falconRedisToUrl(dsn) : undefined, judge }),
    ignored: [
      ...Object.keys(raw).filter((k) => !['rpc', 'http', 'hbs', 'remain', 'alarm'].includes(k)),
      ...unusedIn(obj(raw.rpc), 'rpc', ['enabled', 'listen']),
      ...unusedIn(obj(raw.http), 'http', ['enabled', 'listen']),
      // Falcon's `hbs.timeout` is the connect timeout (ms); its calls wait 3 s. judge.hbsTimeout is
      // the call's, and GetStrategies for a fleet takes longer than falcon's 300 ms.
      ...unusedIn(hbs, 'hbs', ['servers', 'interval']).map((k) =>
        k === 'hbs.timeout'
          ? "hbs.timeout (the connect timeout; judge.hbsTimeout is the call's)"
          : k
      ),
      ...unusedIn(alarm, 'alarm', ['enabled', 'minInterval', 'queuePattern', 'redis']),
      ...unusedIn(redis, 'alarm.redis', ['dsn']),
      ...notes,
    ],
  }
}

/** Falcon alarm's per-user lists; Peregrine uses these names whatever the cfg.json says. */
const FALCON_USER_QUEUES: Readonly<Record<string, string>> = {
  userIMQueue: '/queue/user/im',
  userSmsQueue: '/queue/user/sms',
  userMailQueue: '/queue/user/mail',
}

// falcon alarm's cfg.json → `alarm` and the top-level `redis` and `store`.
function fromFalconAlarm(raw: Obj): { raw: Obj; ignored: string[] } {
  const notes: string[] = []
  const redis = obj(raw.redis)
  const api = obj(raw.api)
  const portal = obj(raw.falcon_portal)
  const worker = obj(raw.worker)
  // Go's encoding/json matches keys case-insensitively; falcon's struct tag says `Housekeeper`.
  const housekeeperKey = Object.keys(raw).find((k) => k.toLowerCase() === 'housekeeper')
  const housekeeper = obj(housekeeperKey === undefined ? undefined : raw[housekeeperKey])
  const gateway = (v: unknown) => (typeof v === 'string' && v !== '' ? { gateway: v } : undefined)
  const channels = clean({ mail: gateway(api.mail), sms: gateway(api.sms), im: gateway(api.im) })
  // Falcon has a pool per channel; Peregrine's workers send for every channel, so they are the sum.
  // A pool that is not an integer is passed on for parseAlarmConfig to name.
  const pools = [worker.im, worker.sms, worker.mail].filter((n) => n !== undefined)
  const workers =
    pools.length === 0
      ? undefined
      : (pools.find((n) => !Number.isInteger(n)) ??
        pools.reduce<number>((sum, n) => sum + (n as number), 0))
  const addr = typeof redis.addr === 'string' && redis.addr !== '' ? redis.addr : undefined
  for (const [k, name] of Object.entries(FALCON_USER_QUEUES))
    if (redis[k] !== undefined && redis[k] !== name)
      notes.push(`redis.${k} (Peregrine uses falcon's ${name})`)
  // callbackAllow is Peregrine's (falcon calls back anywhere): the one way to let a falcon cfg.json's
  // action callbacks reach internal addresses.
  const used = ['http', 'redis', 'api', 'falcon_portal', 'worker', 'callbackAllow']
  return {
    raw: clean({
      redis: addr === undefined ? undefined : falconRedisToUrl(addr),
      store:
        typeof portal.addr === 'string' ? goDsnToUrl(portal.addr, 'falcon_portal.addr') : undefined,
      alarm: clean({
        http: listener(raw, 'http', 'alarm', notes),
        highQueues: redis.highQueues,
        lowQueues: redis.lowQueues,
        dashboard: api.dashboard,
        channels: Object.keys(channels).length === 0 ? undefined : channels,
        workers,
        retentionDays: housekeeper.event_retention_days,
        deleteBatch: housekeeper.event_delete_batch,
        callbackAllow: raw.callbackAllow,
      }),
    }),
    ignored: [
      ...Object.keys(raw).filter((k) => !used.includes(k) && k !== housekeeperKey),
      ...unusedIn(obj(raw.http), 'http', ['enabled', 'listen']),
      ...unusedIn(redis, 'redis', [
        'addr',
        'highQueues',
        'lowQueues',
        ...Object.keys(FALCON_USER_QUEUES),
      ]),
      ...(api.plus_api === undefined
        ? []
        : ['api.plus_api (alarm reads actions and teams from the store)']),
      ...unusedIn(api, 'api', ['sms', 'im', 'mail', 'dashboard', 'plus_api']),
      ...unusedIn(portal, 'falcon_portal', ['addr']),
      ...unusedIn(worker, 'worker', ['im', 'sms', 'mail']),
      ...unusedIn(housekeeper, housekeeperKey ?? 'housekeeper', [
        'event_retention_days',
        'event_delete_batch',
      ]),
      ...notes,
    ],
  }
}

/**
 * goDsnToUrl turns a Go MySQL DSN (`[user[:pass]@][tcp[(host:port)]]/db[?params]`, falcon's cfg.json)
 * into our `mysql://user:pass@host:port/db`; an address left out is Go's default, 127.0.0.1:3306. A
 * unix socket address throws naming `field`. Anything else is returned as is, its password hidden, for
 * the store's parser to name.
 */
export function goDsnToUrl(dsn: string, field = 'database'): string {
  if (/^(mysql|mariadb):\/\/|^sqlite:/.test(dsn)) return dsn
  // The password may hold '@' and '/': Go's parser splits at the last '@' before the address, so
  // does this.
  const m = /^(?:([^:@]*)(?::(.*))?@)?(?:(\w+)(?:\(([^)]*)\))?)?\/([^?/]*)(?:\?.*)?$/.exec(dsn)
  const hidden = dsn.replace(/^([^:@/]*):.*@/, '$1:***@')
  if (m === null) return hidden
  const [, user = '', password = '', net = 'tcp', address = '', db = ''] = m
  if (net !== 'tcp') {
    throw new Error(
      `${field}: only tcp(host:port) addresses are supported, not ${net} (got ${JSON.stringify(hidden)})`
    )
  }
  const host =
    address === '' ? '127.0.0.1:3306' : address.startsWith(':') ? `127.0.0.1${address}` : address
  const auth =
    password === ''
      ? encodeURIComponent(user)
      : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
  return `mysql://${auth}@${host}/${db}`
}

function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

/** checkRedisUrl: why the top-level `redis` is not '' or a redis:// URL (its password hidden). */
function checkRedisUrl(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined
  const expected =
    'redis: expected "" (in-process queue) or a URL like redis://[:password@]host:6379'
  if (typeof v !== 'string') return `${expected}, got ${JSON.stringify(v)}`
  let ok = /^rediss?:\/\/[^/]/.test(v)
  try {
    ok &&= new URL(v).hostname !== ''
  } catch {
    ok = false
  }
  // A falcon address (`password@host:port`) given as is: its password is hidden.
  return ok
    ? undefined
    : `${expected}, got ${JSON.stringify(v.replace(/^(\w+:\/\/)?.*@/, '$1***@'))}`
}

/**
 * resolveConfigs builds each wanted component's configuration: defaults, then the file's sections, then
 * the data directory. Started together, transfer and api find the local graph node by themselves.
 * Throws one Error listing every problem, each named by its key.
 */
export async function resolveConfigs(
  raw: Obj,
  components: readonly Component[],
  dataDirFlag?: string
): Promise<Configs> {
  const dataDir = dataDirFlag ?? (typeof raw.dataDir === 'string' ? raw.dataDir : './data')
  const unknown = Object.keys(raw).filter(
    (k) =>
      k !== 'dataDir' &&
      k !== 'store' &&
      k !== 'redis' &&
      k !== 'storage' &&
      k !== 'remoteStorage' &&
      !(COMPONENTS as readonly string[]).includes(k)
  )
  const problems: string[] = unknown.map(
    (k) =>
      `${k}: not a Peregrine setting (expected dataDir, store, redis, storage, remoteStorage, ${COMPONENTS.join(', ')})`
  )
  // A section that is not a map of settings (`nodata: null`, `gateway: []`) is named, not read as
  // every default.
  for (const c of COMPONENTS) {
    const v = raw[c]
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v)))
      problems.push(`${c}: expected a section of settings (a map), got ${JSON.stringify(v)}`)
  }
  // The Redis judge and alarm share: checked here once, so a bad value is named `redis`, not once per
  // section; the sections then get '' (their own `redis`, if any, is checked by their parser).
  const redisProblem = checkRedisUrl(raw.redis)
  if (redisProblem !== undefined) problems.push(redisProblem)
  const redis = typeof raw.redis === 'string' && redisProblem === undefined ? raw.redis : ''
  // The portal store, shared by api and hbs: the file's `store`, else a SQLite file in the data dir.
  if (raw.store !== undefined && typeof raw.store !== 'string') {
    problems.push('store: expected sqlite:PATH or mysql://user:password@host:port/database')
  }
  const store = typeof raw.store === 'string' ? raw.store : `sqlite:${join(dataDir, 'portal.db')}`
  const usesLocal = (section: unknown) => obj(section).graphCluster === undefined
  // Where series live: the embedded tsdb of graph nodes (falcon's way), or a remote store.
  const storage = raw.storage ?? 'embedded'
  if (storage !== 'embedded' && storage !== 'remote')
    problems.push(
      `storage: expected "embedded" (graph nodes keep the series) or "remote" (a Prometheus remote-write store keeps them, see remoteStorage), got ${JSON.stringify(storage)}`
    )
  let remoteStorage: Readonly<RemoteStorageConfig> | undefined
  if (storage === 'remote') {
    try {
      remoteStorage = parseRemoteStorageConfig(obj(raw.remoteStorage), dataDir)
    } catch (err) {
      problems.push((err as Error).message)
    }
    if (
      raw.remoteStorage !== undefined &&
      (typeof raw.remoteStorage !== 'object' ||
        raw.remoteStorage === null ||
        Array.isArray(raw.remoteStorage))
    )
      problems.push('remoteStorage: expected a section of settings (writeUrl, readUrl, …)')
    if (components.includes('graph'))
      problems.push(
        'graph: storage is "remote", so no graph node keeps series here; start the other components (or set storage: embedded)'
      )
    for (const section of ['transfer', 'api', 'nodata', 'aggregator'] as const) {
      if (obj(raw[section]).graphCluster !== undefined)
        problems.push(
          `${section}.graphCluster: storage is "remote", so ${section} reads and writes the store of remoteStorage, not graph nodes; remove ${section}.graphCluster or set storage: embedded`
        )
    }
  } else if (raw.remoteStorage !== undefined) {
    problems.push('remoteStorage: only read with storage: remote; add storage: remote or remove it')
  }
  const remoteGraph = storage === 'remote' ? { graphCluster: { remote: REMOTE_GRAPH_ADDRESS } } : {}
  const out: Configs = {
    ...(remoteStorage === undefined ? {} : { remoteStorage }),
    dataDir,
    store,
    redis,
    agentLocal: { transfer: false, hbs: false },
    nodataLocal: localReader(raw.nodata, components),
    aggregatorLocal: localReader(raw.aggregator, components),
    localGraph: components.includes('graph') && usesLocal(raw.transfer) && usesLocal(raw.api),
    localJudge: components.includes('judge') && obj(raw.transfer).judgeCluster === undefined,
    judgeLocalHbs: components.includes('hbs') && obj(raw.judge).hbs === undefined,
    scrapeLocalTransfer:
      components.includes('transfer') && obj(raw.scrape).remoteWrite === undefined,
  }
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn()
    } catch (err) {
      problems.push((err as Error).message)
      return undefined
    }
  }
  if (components.includes('graph')) {
    out.graph = attempt(() =>
      parseGraphConfig({ dataDir: join(dataDir, 'graph'), ...obj(raw.graph) })
    )
  }
  // All-in-one: the local graph node is the whole cluster unless the file says otherwise.
  const localGraph =
    out.graph === undefined
      ? {}
      : { graphCluster: { 'graph-00': out.graph.rpc.replace(/^0\.0\.0\.0:/, '127.0.0.1:') } }
  if (components.includes('judge')) {
    const { parseJudgeConfig } = await import('../judge/config.js')
    out.judge = attempt(() =>
      parseJudgeConfig({ redis, spillDir: join(dataDir, 'judge'), ...obj(raw.judge) })
    )
  }
  // All-in-one: the local judge is the whole judge cluster unless the file says otherwise.
  const localJudge =
    out.judge === undefined || !out.localJudge
      ? {}
      : { judgeCluster: { 'judge-00': out.judge.rpc.replace(/^0\.0\.0\.0:/, '127.0.0.1:') } }
  if (components.includes('transfer')) {
    out.transfer = attempt(() =>
      parseTransferConfig({ ...localGraph, ...localJudge, ...obj(raw.transfer), ...remoteGraph })
    )
  }
  if (components.includes('gateway')) {
    out.gateway = attempt(() =>
      parseGatewayConfig({ dataDir: join(dataDir, 'gateway'), ...obj(raw.gateway) })
    )
  }
  if (components.includes('scrape')) {
    const { parseScrapeConfig } = await import('../scrape/config.js')
    out.scrape = attempt(() => parseScrapeConfig(obj(raw.scrape)))
  }
  // nodata and aggregator beside a graph and a transfer read and write there unless told otherwise
  // (the addresses here stand in until the runner knows the bound ones).
  const reader = (section: string, local: { graph: boolean; transfer: boolean }) => ({
    store,
    ...(local.graph ? localGraph : {}),
    ...(local.transfer && out.transfer !== undefined
      ? { transfer: [out.transfer.rpc.replace(/^0\.0\.0\.0:/, '127.0.0.1:')] }
      : {}),
    ...replicationOf(raw, section),
    ...obj(raw[section]),
    ...remoteGraph,
  })
  if (components.includes('nodata')) {
    const { parseNodataConfig } = await import('../nodata/config.js')
    out.nodata = attempt(() => parseNodataConfig(reader('nodata', out.nodataLocal)))
  }
  if (components.includes('aggregator')) {
    const { parseAggregatorConfig } = await import('../aggregator/config.js')
    out.aggregator = attempt(() => parseAggregatorConfig(reader('aggregator', out.aggregatorLocal)))
  }
  if (components.includes('api')) {
    const { parseApiConfig } = await import('../api/config.js')
    out.api = attempt(() =>
      parseApiConfig({
        ...localGraph,
        store,
        ...replicationOf(raw, 'api'),
        ...obj(raw.api),
        ...remoteGraph,
      })
    )
  }
  if (components.includes('hbs')) {
    const { parseHbsConfig } = await import('../hbs/config.js')
    out.hbs = attempt(() => parseHbsConfig({ store, ...obj(raw.hbs) }))
  }
  if (components.includes('alarm')) {
    const { parseAlarmConfig } = await import('../alarm/config.js')
    out.alarm = attempt(() =>
      parseAlarmConfig({ store, redis, spillDir: join(dataDir, 'alarm'), ...obj(raw.alarm) })
    )
  }
  if (components.includes('agent')) {
    const agent = obj(raw.agent)
    out.agent = attempt(() => parseAgentConfig(agent))
    out.agentLocal = {
      transfer: components.includes('transfer') && obj(agent.transfer).addrs === undefined,
      hbs: components.includes('hbs') && obj(agent.heartbeat).addr === undefined,
    }
  }
  problems.push(...portClashes(out))
  if (problems.length > 0) throw new Error(withoutInheritedStore(problems, raw).join('; '))
  return out
}

/** The sections that take the top-level `store` unless they name their own. */
const STORE_SECTIONS = ['api', 'hbs', 'alarm', 'nodata', 'aggregator'] as const

/**
 * replicationOf: a reader (api, nodata, aggregator) of the graph cluster the file's transfer writes
 * (the same `graphCluster`) reads it with transfer's `replication` unless its section gives its own:
 * a reader left at 1 would miss what a node lost and fail while one is down.
 */
function replicationOf(raw: Obj, section: string): { replication?: unknown } {
  const transfer = obj(raw.transfer)
  const reader = obj(raw[section])
  if (transfer.replication === undefined || reader.replication !== undefined) return {}
  const same = JSON.stringify(transfer.graphCluster) === JSON.stringify(reader.graphCluster)
  return same ? { replication: transfer.replication } : {}
}

/** localReader: which of graph and transfer a nodata or aggregator section takes from this process. */
function localReader(
  section: unknown,
  components: readonly Component[]
): { graph: boolean; transfer: boolean } {
  return {
    graph: components.includes('graph') && obj(section).graphCluster === undefined,
    transfer: components.includes('transfer') && obj(section).transfer === undefined,
  }
}

/**
 * withoutInheritedStore names a bad top-level `store` once: each section that inherits it reports
 * it as its own (`api.store: …`, `hbs.store: …`), and those copies are left out for one `store: …`.
 */
function withoutInheritedStore(problems: string[], raw: Obj): string[] {
  const items = problems.flatMap((p) => p.split('; '))
  const inherited = STORE_SECTIONS.filter((s) => obj(raw[s]).store === undefined)
  const copies = items.filter((p) => inherited.some((s) => p.startsWith(`${s}.store: `)))
  if (copies.length === 0) return items
  const first = copies[0].slice(copies[0].indexOf('.') + 1)
  return [first, ...items.filter((p) => !copies.includes(p))]
}

/** Listening on every address: a listener there takes its port from any other on the same port. */
const EVERY_ADDRESS = new Set(['0.0.0.0', '::'])

/**
 * portClashes names every two listeners of the configured components that would take the same port
 * (on one address, or one of them on every address): the second could not start. Port 0 is a new
 * port each time; addresses that do not parse are left to their section's own check.
 */
function portClashes(c: Configs): string[] {
  const listeners: [string, string | undefined][] = [
    ['graph.rpc', c.graph?.rpc],
    ['graph.http', c.graph?.http],
    ['hbs.rpc', c.hbs?.rpc],
    ['hbs.http', c.hbs?.http],
    ['judge.rpc', c.judge?.rpc],
    ['judge.http', c.judge?.http],
    ['transfer.rpc', c.transfer?.rpc],
    ['transfer.http', c.transfer?.http],
    ['transfer.socket', c.transfer?.socket],
    ['api.http', c.api?.http],
    ['api.dashboardHttp', c.api?.dashboardHttp],
    ['alarm.http', c.alarm?.http],
    ['scrape.http', c.scrape?.http],
    ['nodata.http', c.nodata?.http],
    ['aggregator.http', c.aggregator?.http],
    ['gateway.rpc', c.gateway?.rpc],
    ['gateway.http', c.gateway?.http],
    ['gateway.socket', c.gateway?.socket],
    ['agent.http.listen', c.agent?.http.enabled === true ? c.agent.http.listen : undefined],
  ]
  const taken: { key: string; value: string; host: string; port: number }[] = []
  const out: string[] = []
  for (const [key, value] of listeners) {
    if (value === undefined || value === '') continue
    let l: { host: string; port: number }
    try {
      l = parseListen(key, value)
    } catch {
      continue
    }
    if (l.port === 0) continue
    const host = l.host === 'localhost' ? '127.0.0.1' : l.host
    const other = taken.find(
      (t) =>
        t.port === l.port &&
        (t.host === host || EVERY_ADDRESS.has(t.host) || EVERY_ADDRESS.has(host))
    )
    if (other !== undefined) {
      out.push(
        `${other.key} (${other.value}) and ${key} (${value}) both listen on port ${l.port}; give each a port of its own`
      )
    }
    taken.push({ key, value, host, port: l.port })
  }
  return out
}
