// The agent's configuration: falcon-agent's own cfg.json shape (modules/agent/cfg.example.json), so an
// existing file works unchanged, plus where to read the host's /proc and /sys from.
import { checkConnectionLimits, checkListen, type ConnectionLimits } from '../core/index.js'

/** AgentConfig is falcon-agent 5.1.2's cfg.json, keys as falcon spells them. */
export interface AgentConfig {
  debug: boolean
  /** hostname: the endpoint; '' → env FALCON_ENDPOINT, else the OS hostname. */
  hostname: string
  /** ip: reported to hbs; '' → the local address of a TCP connection to hbs. */
  ip: string
  plugin: { enabled: boolean; dir: string; git: string; logs: string }
  heartbeat: { enabled: boolean; addr: string; interval: number; timeout: number }
  transfer: { enabled: boolean; addrs: string[]; interval: number; timeout: number }
  /** http: falcon's keys, and the connection limits of the listener (Peregrine's). */
  http: { enabled: boolean; listen: string; backdoor: boolean } & ConnectionLimits
  collector: { ifacePrefix: string[]; mountPoint: string[] }
  default_tags: Record<string, string>
  /** ignore: metric names not to send (falcon's shipped list drops the raw byte counts). */
  ignore: Record<string, boolean>
  /** proc, sys: the host's /proc and /sys ('/host/proc' in a DaemonSet that mounts the node's). */
  proc: string
  sys: string
}

/**
 * AGENT_HTTP_LIMITS: a loopback API for a few local callers; keep-alive 72 s as Fastify's (longer than
 * a /run may take), headers and body within Node's 60 s headers timeout. Half of the connections per
 * address: on falcon's `:1988`, a local script that holds 50 leaves 50 to trusted hosts.
 */
export const AGENT_HTTP_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 100,
  maxConnectionsPerAddress: 50,
  idleTimeout: 72_000,
  requestTimeout: 60_000,
})

/** defaultAgentConfig is falcon's cfg.example.json, with the HTTP API on loopback. */
export const defaultAgentConfig: AgentConfig = {
  debug: false,
  hostname: '',
  ip: '',
  plugin: {
    enabled: false,
    dir: './plugin',
    git: 'https://github.com/open-falcon/plugin.git',
    logs: './logs',
  },
  heartbeat: { enabled: true, addr: '127.0.0.1:6030', interval: 60, timeout: 1000 },
  transfer: { enabled: true, addrs: ['127.0.0.1:8433'], interval: 60, timeout: 1000 },
  // falcon listens on :1988 (every address); its write routes check trustable IPs. Peregrine binds
  // loopback by default so /v1/push is local-only unless the file says otherwise.
  http: { enabled: true, listen: '127.0.0.1:1988', backdoor: false, ...AGENT_HTTP_LIMITS },
  collector: { ifacePrefix: ['eth', 'em', 'ens'], mountPoint: [] },
  default_tags: {},
  ignore: {
    'cpu.busy': true,
    'df.bytes.free': true,
    'df.bytes.total': true,
    'df.bytes.used': true,
    'df.bytes.used.percent': true,
    'df.inodes.total': true,
    'df.inodes.free': true,
    'df.inodes.used': true,
    'df.inodes.used.percent': true,
    'mem.memtotal': true,
    'mem.memused': true,
    'mem.memused.percent': true,
    'mem.memfree': true,
    'mem.swaptotal': true,
    'mem.swapused': true,
    'mem.swapfree': true,
  },
  proc: '/proc',
  sys: '/sys',
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * parseAgentConfig merges `raw` (falcon's cfg.json or our `agent:` section) over the defaults, section
 * by section, and checks it, naming every bad key at once (`agent.transfer.interval: …`).
 */
export function parseAgentConfig(raw: Obj): Readonly<AgentConfig> {
  const d = defaultAgentConfig
  const section = <T extends object>(name: string, def: T): T => {
    const v = raw[name]
    return isObj(v) ? { ...def, ...v } : def
  }
  const c: AgentConfig = {
    debug: (raw.debug ?? d.debug) as boolean,
    hostname: (raw.hostname ?? d.hostname) as string,
    ip: (raw.ip ?? d.ip) as string,
    plugin: section('plugin', d.plugin),
    heartbeat: section('heartbeat', d.heartbeat),
    transfer: section('transfer', d.transfer),
    http: section('http', d.http),
    collector: section('collector', d.collector),
    default_tags: (raw.default_tags ?? d.default_tags) as Record<string, string>,
    ignore: (raw.ignore ?? d.ignore) as Record<string, boolean>,
    proc: (raw.proc ?? d.proc) as string,
    sys: (raw.sys ?? d.sys) as string,
  }
  const problems: string[] = []
  const known = new Set([...Object.keys(d)])
  for (const k of Object.keys(raw)) {
    if (!known.has(k)) problems.push(`agent.${k}: not an agent setting`)
  }
  for (const name of ['plugin', 'heartbeat', 'transfer', 'http', 'collector'] as const) {
    if (raw[name] !== undefined && !isObj(raw[name])) {
      problems.push(`agent.${name}: expected an object`)
    }
  }
  const str = (path: string, v: unknown) => {
    if (typeof v !== 'string') problems.push(`agent.${path}: expected a string`)
  }
  const bool = (path: string, v: unknown) => {
    if (typeof v !== 'boolean') problems.push(`agent.${path}: expected true or false`)
  }
  const int = (path: string, v: unknown, min: number, max: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(
        `agent.${path}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`
      )
    }
  }
  const strings = (path: string, v: unknown) => {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      problems.push(`agent.${path}: expected a list of strings`)
    }
  }
  bool('debug', c.debug)
  str('hostname', c.hostname)
  str('ip', c.ip)
  str('proc', c.proc)
  str('sys', c.sys)
  bool('plugin.enabled', c.plugin.enabled)
  str('plugin.dir', c.plugin.dir)
  str('plugin.git', c.plugin.git)
  str('plugin.logs', c.plugin.logs)
  bool('heartbeat.enabled', c.heartbeat.enabled)
  int('heartbeat.interval', c.heartbeat.interval, 1, 86400)
  int('heartbeat.timeout', c.heartbeat.timeout, 1, 600_000)
  bool('transfer.enabled', c.transfer.enabled)
  int('transfer.interval', c.transfer.interval, 1, 86400)
  int('transfer.timeout', c.transfer.timeout, 1, 600_000)
  strings('transfer.addrs', c.transfer.addrs)
  bool('http.enabled', c.http.enabled)
  bool('http.backdoor', c.http.backdoor)
  checkConnectionLimits(problems, 'agent.http', c.http)
  strings('collector.ifacePrefix', c.collector.ifacePrefix)
  strings('collector.mountPoint', c.collector.mountPoint)
  const address = (path: string, v: unknown) =>
    checkListen(
      problems,
      `agent.${path}`,
      typeof v === 'string' && v.startsWith(':') ? `0.0.0.0${v}` : v
    )
  if (c.heartbeat.enabled) address('heartbeat.addr', c.heartbeat.addr)
  if (c.http.enabled) address('http.listen', c.http.listen)
  if (Array.isArray(c.transfer.addrs)) {
    c.transfer.addrs.forEach((a, i) => address(`transfer.addrs[${i}]`, a))
    if (c.transfer.enabled && c.transfer.addrs.length === 0) {
      problems.push(
        'agent.transfer.addrs: give at least one transfer address, or set enabled: false'
      )
    }
  }
  if (
    !isObj(c.default_tags) ||
    !Object.values(c.default_tags).every((v) => typeof v === 'string')
  ) {
    problems.push('agent.default_tags: expected {"key": "value", …}')
  } else {
    for (const [k, v] of Object.entries(c.default_tags)) {
      if (!/^[^=,\s]+$/.test(k) || /[=,]/.test(v)) {
        problems.push(`agent.default_tags.${k}: keys and values may not hold "=", "," or spaces`)
      }
    }
  }
  if (!isObj(c.ignore) || !Object.values(c.ignore).every((v) => typeof v === 'boolean')) {
    problems.push('agent.ignore: expected {"metric.name": true, …}')
  }
  if (problems.length > 0) throw new Error(problems.join('; '))
  // falcon writes ":1988" for every address.
  if (c.http.listen.startsWith(':')) c.http = { ...c.http, listen: `0.0.0.0${c.http.listen}` }
  return Object.freeze(c)
}

/** isFalconAgentConfig recognises falcon-agent's cfg.json by its shape. */
export function isFalconAgentConfig(raw: Obj): boolean {
  return isObj(raw.heartbeat) && isObj(raw.transfer) && Array.isArray(raw.transfer.addrs)
}
