// Configuration for `peregrine start`: our own file (YAML or JSON) or Open-Falcon's per-module cfg.json.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
// The components' config modules, not their index.ts: reading a configuration loads none of the
// servers (the CLI may reach into apps). api's and hbs's, which load the store's query builder, are
// imported only when those components run, so `peregrine start agent` carries only the agent.
import { type AgentConfig, isFalconAgentConfig, parseAgentConfig } from '../agent/config.js'
import type { ApiConfig } from '../api/config.js'
import { type GraphConfig, parseGraphConfig } from '../graph/config.js'
import type { HbsConfig } from '../hbs/config.js'
import { parseTransferConfig, type TransferConfig } from '../transfer/config.js'

/** COMPONENTS in start order: storage first, then what writes to it, then what reads it. */
export const COMPONENTS = ['graph', 'transfer', 'hbs', 'api', 'agent'] as const
export type Component = (typeof COMPONENTS)[number]

/** Configs holds the parsed configuration of each component to start. */
export interface Configs {
  dataDir: string
  /** store: the portal store URL api and hbs share unless their sections name their own. */
  store: string
  graph?: Readonly<GraphConfig>
  transfer?: Readonly<TransferConfig>
  api?: Readonly<ApiConfig>
  hbs?: Readonly<HbsConfig>
  agent?: Readonly<AgentConfig>
  /**
   * agentLocal: the agent's section names no transfer or hbs address, so it pushes to the transfer
   * and heartbeats to the hbs started beside it (at their bound addresses).
   */
  agentLocal: { transfer: boolean; hbs: boolean }
  /** localGraph: transfer and api use the graph started beside them (its bound address, known once up). */
  localGraph: boolean
}

/**
 * readConfigFile reads a JSON or YAML file into sections `{dataDir?, graph?, transfer?, api?}`. An
 * Open-Falcon module's cfg.json is recognised by its shape and mapped onto that module's section; the
 * keys it has that Peregrine does not use are returned in `ignored`.
 */
export function readConfigFile(file: string): { raw: Record<string, unknown>; ignored: string[] } {
  const text = readFileSync(file, 'utf8')
  let parsed: unknown
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
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

// Recognises falcon's transfer, graph and api cfg.json (modules/*/cfg.example.json at v0.3).
function fromFalcon(raw: Obj): { raw: Obj; ignored: string[] } {
  if (isFalconAgentConfig(raw)) return { raw: { agent: raw }, ignored: [] }
  const isHbs = typeof raw.database === 'string' && typeof raw.listen === 'string'
  const isFalcon =
    typeof obj(raw.rpc).listen === 'string' || typeof raw.web_port === 'string' || isHbs
  if (!isFalcon) return { raw, ignored: [] }
  const pick = (used: string[]) => Object.keys(raw).filter((k) => !used.includes(k))
  const anyPort = (v: string) => (v.startsWith(':') ? '0.0.0.0' + v : v)
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
  const socket = obj(raw.socket)
  return {
    raw: {
      transfer: clean({
        rpc: listenOf(raw.rpc),
        http: listenOf(raw.http),
        socket: socket.enabled === false ? '' : listenOf(raw.socket),
        minStep: raw.minStep,
        graphCluster: graph.cluster,
        replicas: graph.replicas,
        callTimeout: graph.callTimeout,
      }),
    },
    ignored: pick(['rpc', 'http', 'socket', 'minStep', 'graph']),
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
    (k) => k !== 'dataDir' && k !== 'store' && !(COMPONENTS as readonly string[]).includes(k)
  )
  const problems: string[] = unknown.map(
    (k) => `${k}: not a Peregrine setting (expected dataDir, store, ${COMPONENTS.join(', ')})`
  )
  // The portal store, shared by api and hbs: the file's `store`, else a SQLite file in the data dir.
  if (raw.store !== undefined && typeof raw.store !== 'string') {
    problems.push('store: expected sqlite:PATH or mysql://user:password@host:port/database')
  }
  const store = typeof raw.store === 'string' ? raw.store : `sqlite:${join(dataDir, 'portal.db')}`
  const usesLocal = (section: unknown) => obj(section).graphCluster === undefined
  const out: Configs = {
    dataDir,
    store,
    agentLocal: { transfer: false, hbs: false },
    localGraph: components.includes('graph') && usesLocal(raw.transfer) && usesLocal(raw.api),
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
  if (components.includes('transfer')) {
    out.transfer = attempt(() => parseTransferConfig({ ...localGraph, ...obj(raw.transfer) }))
  }
  if (components.includes('api')) {
    const { parseApiConfig } = await import('../api/config.js')
    out.api = attempt(() => parseApiConfig({ ...localGraph, store, ...obj(raw.api) }))
  }
  if (components.includes('hbs')) {
    const { parseHbsConfig } = await import('../hbs/config.js')
    out.hbs = attempt(() => parseHbsConfig({ store, ...obj(raw.hbs) }))
  }
  if (components.includes('agent')) {
    const agent = obj(raw.agent)
    out.agent = attempt(() => parseAgentConfig(agent))
    out.agentLocal = {
      transfer: components.includes('transfer') && obj(agent.transfer).addrs === undefined,
      hbs: components.includes('hbs') && obj(agent.heartbeat).addr === undefined,
    }
  }
  if (problems.length > 0) throw new Error(problems.join('; '))
  return out
}
