// Configuration for `peregrine start`: our own file (YAML or JSON) or Open-Falcon's per-module cfg.json.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { type ApiConfig, parseApiConfig } from '../api/index.js'
import { type GraphConfig, parseGraphConfig } from '../graph/index.js'
import { type HbsConfig, parseHbsConfig } from '../hbs/index.js'
import { parseTransferConfig, type TransferConfig } from '../transfer/index.js'

/** COMPONENTS in start order: storage first, then what writes to it, then what reads it. */
export const COMPONENTS = ['graph', 'transfer', 'hbs', 'api'] as const
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
        hbs: clean({
          rpc: anyPort(raw.listen as string),
          http: http.enabled === false ? undefined : listenOf(raw.http),
          store: goDsnToUrl(raw.database as string),
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
      raw: {
        api: clean({
          http: anyPort(raw.web_port),
          graphCluster: graphs.cluster,
          replicas: graphs.numberOfReplicas,
          callTimeout: graphs.call_timeout,
          store: typeof portal === 'string' ? goDsnToUrl(portal) : undefined,
          defaultToken: raw.default_token,
          salt: raw.salt,
          signupDisable: raw.signup_disable,
        }),
      },
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
 * goDsnToUrl turns a Go MySQL DSN (`user:pass@tcp(host:port)/db?params`, falcon's cfg.json) into our
 * `mysql://user:pass@host:port/db`. Anything else is returned as is, for the store's parser to name.
 */
export function goDsnToUrl(dsn: string): string {
  // The password may hold '@': Go's parser splits at the last '@' before the address, so does this.
  const m = /^([^:@]*)(?::(.*))?@tcp\(([^)]*)\)\/([^?]*)/.exec(dsn)
  if (m === null) return dsn
  const [, user = '', password = '', address = '127.0.0.1:3306', db = ''] = m
  const auth =
    password === ''
      ? encodeURIComponent(user)
      : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
  return `mysql://${auth}@${address}/${db}`
}

function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

/**
 * resolveConfigs builds each wanted component's configuration: defaults, then the file's sections, then
 * the data directory. Started together, transfer and api find the local graph node by themselves.
 * Throws one Error listing every problem, each named by its key.
 */
export function resolveConfigs(
  raw: Obj,
  components: readonly Component[],
  dataDirFlag?: string
): Configs {
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
    out.api = attempt(() => parseApiConfig({ ...localGraph, store, ...obj(raw.api) }))
  }
  if (components.includes('hbs')) {
    out.hbs = attempt(() => parseHbsConfig({ store, ...obj(raw.hbs) }))
  }
  if (problems.length > 0) throw new Error(problems.join('; '))
  return out
}
