// The `scrape_configs` part of a prometheus.yml, read as Prometheus reads it: its defaults, its
// durations, and an error naming the key for anything it would refuse (an unknown key included).
import { parseRelabelConfigs, type RelabelRule } from './relabel.js'

/** Job is one checked scrape config. */
export interface Job {
  name: string
  /** interval, timeout: ms. */
  interval: number
  timeout: number
  metricsPath: string
  scheme: 'http' | 'https'
  params: Record<string, string[]>
  honorLabels: boolean
  honorTimestamps: boolean
  /** followRedirects: follow 3xx answers (at most 10), as Prometheus does by default. */
  followRedirects: boolean
  staticConfigs: { targets: string[]; labels: Record<string, string> }[]
  fileSdConfigs: { files: string[]; refreshInterval: number }[]
  relabel: RelabelRule[]
  metricRelabel: RelabelRule[]
  basicAuth: { username: string; password: string; passwordFile: string } | null
  authorization: { type: string; credentials: string; credentialsFile: string } | null
  tls: {
    caFile: string
    certFile: string
    keyFile: string
    serverName: string
    insecureSkipVerify: boolean
  }
  sampleLimit: number
  labelLimit: number
  labelNameLengthLimit: number
  labelValueLengthLimit: number
  /** bodySizeLimit: bytes, 0 for the component's own cap. */
  bodySizeLimit: number
}

/** Global is the `global` section's defaults for every job. */
export interface Global {
  interval: number
  timeout: number
}

export const DEFAULT_GLOBAL: Global = { interval: 60_000, timeout: 10_000 }

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
}

/** parseDuration reads a Prometheus duration (`15s`, `1m30s`, `500ms`) into ms, or throws naming `at`. */
export function parseDuration(v: unknown, at: string): number {
  if (typeof v !== 'string' || !/^((\d+)(ms|s|m|h|d|w|y))+$/.test(v)) {
    throw new Error(`${at}: ${JSON.stringify(v)} is not a duration (like 15s, 1m30s, 500ms)`)
  }
  let ms = 0
  for (const m of v.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(m[1]) * UNITS[m[2]]
  if (ms <= 0) throw new Error(`${at}: must be more than 0`)
  return ms
}

/** parseSize reads a Prometheus size (`10MB`, `512KiB`, `0`) into bytes. */
function parseSize(v: unknown, at: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v
  const m = typeof v === 'string' ? /^(\d+)(B|KB|MB|GB|KiB|MiB|GiB)?$/.exec(v) : null
  if (m === null) throw new Error(`${at}: ${JSON.stringify(v)} is not a size (like 10MB)`)
  const mul: Record<string, number> = {
    B: 1,
    KB: 1 << 10,
    MB: 1 << 20,
    GB: 1 << 30,
    KiB: 1 << 10,
    MiB: 1 << 20,
    GiB: 1 << 30,
  }
  return Number(m[1]) * mul[m[2] ?? 'B']
}

type Obj = Record<string, unknown>

function mapping(v: unknown, at: string): Obj {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${at}: expected a mapping`)
  return v as Obj
}

function only(o: Obj, at: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) {
      throw new Error(`${at}.${k}: not a setting Peregrine's scrape takes (${keys.join(', ')})`)
    }
  }
}

function str(o: Obj, k: string, at: string, d: string): string {
  const v = o[k] ?? d
  if (typeof v !== 'string') throw new Error(`${at}.${k}: expected a string`)
  return v
}

function bool(o: Obj, k: string, at: string, d: boolean): boolean {
  const v = o[k] ?? d
  if (typeof v !== 'boolean') throw new Error(`${at}.${k}: expected true or false`)
  return v
}

function count(o: Obj, k: string, at: string): number {
  const v = o[k] ?? 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new Error(`${at}.${k}: expected a whole number, 0 for no limit`)
  return v
}

function labelMap(v: unknown, at: string): Record<string, string> {
  const o = mapping(v, at)
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(o)) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) throw new Error(`${at}.${k}: not a label name`)
    out[k] = String(x)
  }
  return out
}

const JOB_KEYS = [
  'job_name',
  'scrape_interval',
  'scrape_timeout',
  'metrics_path',
  'scheme',
  'params',
  'honor_labels',
  'honor_timestamps',
  'static_configs',
  'file_sd_configs',
  'relabel_configs',
  'metric_relabel_configs',
  'basic_auth',
  'authorization',
  'tls_config',
  'sample_limit',
  'label_limit',
  'label_name_length_limit',
  'label_value_length_limit',
  'body_size_limit',
  'follow_redirects',
  // Taken for a prometheus.yml to load unchanged: scrape speaks HTTP/1.1 whatever it says.
  'enable_http2',
] as const

/** parseGlobal reads a prometheus.yml `global` section (scrape_interval, scrape_timeout; the rest ignored). */
export function parseGlobal(raw: unknown): Global {
  const g = mapping(raw, 'global')
  const interval =
    g.scrape_interval === undefined
      ? DEFAULT_GLOBAL.interval
      : parseDuration(g.scrape_interval, 'global.scrape_interval')
  const timeout =
    g.scrape_timeout === undefined
      ? Math.min(DEFAULT_GLOBAL.timeout, interval)
      : parseDuration(g.scrape_timeout, 'global.scrape_timeout')
  if (timeout > interval)
    throw new Error('global.scrape_timeout: greater than global.scrape_interval')
  return { interval, timeout }
}

/** parseJobs reads `scrape_configs` into Jobs, or throws naming `scrape_configs[i].key`. */
export function parseJobs(raw: unknown, global: Global = DEFAULT_GLOBAL): Job[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw new Error('scrape_configs: expected a list of scrape configs')
  const names = new Set<string>()
  return raw.map((r: unknown, i) => {
    const at = `scrape_configs[${i}]`
    const o = mapping(r, at)
    only(o, at, JOB_KEYS)
    const name = o.job_name
    if (typeof name !== 'string' || name === '') throw new Error(`${at}.job_name: required`)
    if (names.has(name)) throw new Error(`${at}.job_name: ${JSON.stringify(name)} given twice`)
    names.add(name)
    const interval =
      o.scrape_interval === undefined
        ? global.interval
        : parseDuration(o.scrape_interval, `${at}.scrape_interval`)
    const timeout =
      o.scrape_timeout === undefined
        ? Math.min(global.timeout, interval)
        : parseDuration(o.scrape_timeout, `${at}.scrape_timeout`)
    if (timeout > interval)
      throw new Error(`${at}.scrape_timeout: greater than the scrape_interval (${interval} ms)`)
    const scheme = str(o, 'scheme', at, 'http')
    if (scheme !== 'http' && scheme !== 'https')
      throw new Error(`${at}.scheme: expected http or https`)
    const metricsPath = str(o, 'metrics_path', at, '/metrics')
    if (!metricsPath.startsWith('/')) throw new Error(`${at}.metrics_path: must start with /`)
    const params: Record<string, string[]> = {}
    for (const [k, v] of Object.entries(mapping(o.params, `${at}.params`))) {
      if (!Array.isArray(v)) throw new Error(`${at}.params.${k}: expected a list of values`)
      params[k] = v.map(String)
    }
    const staticConfigs = ((o.static_configs ?? []) as unknown[]).map((s, k) => {
      const sat = `${at}.static_configs[${k}]`
      const so = mapping(s, sat)
      only(so, sat, ['targets', 'labels'])
      const targets = so.targets ?? []
      if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string' || t === ''))
        throw new Error(`${sat}.targets: expected a list of host:port`)
      return { targets: targets as string[], labels: labelMap(so.labels, `${sat}.labels`) }
    })
    if (!Array.isArray(o.static_configs ?? []))
      throw new Error(`${at}.static_configs: expected a list`)
    const fileSdConfigs = ((o.file_sd_configs ?? []) as unknown[]).map((s, k) => {
      const sat = `${at}.file_sd_configs[${k}]`
      const so = mapping(s, sat)
      only(so, sat, ['files', 'refresh_interval'])
      const files = so.files
      if (!Array.isArray(files) || files.length === 0 || files.some((f) => typeof f !== 'string'))
        throw new Error(`${sat}.files: expected a list of file paths (*.json, *.yml, *.yaml)`)
      for (const f of files as string[]) {
        if (!/\.(json|ya?ml)$/.test(f))
          throw new Error(`${sat}.files: ${JSON.stringify(f)} must end in .json, .yml or .yaml`)
      }
      const refreshInterval =
        so.refresh_interval === undefined
          ? 300_000
          : parseDuration(so.refresh_interval, `${sat}.refresh_interval`)
      return { files: files as string[], refreshInterval }
    })
    bool(o, 'enable_http2', at, true)
    let basicAuth: Job['basicAuth'] = null
    if (o.basic_auth !== undefined) {
      const b = mapping(o.basic_auth, `${at}.basic_auth`)
      only(b, `${at}.basic_auth`, ['username', 'password', 'password_file'])
      basicAuth = {
        username: str(b, 'username', `${at}.basic_auth`, ''),
        password: str(b, 'password', `${at}.basic_auth`, ''),
        passwordFile: str(b, 'password_file', `${at}.basic_auth`, ''),
      }
      if (basicAuth.password !== '' && basicAuth.passwordFile !== '')
        throw new Error(`${at}.basic_auth: password and password_file are exclusive`)
    }
    let authorization: Job['authorization'] = null
    if (o.authorization !== undefined) {
      const a = mapping(o.authorization, `${at}.authorization`)
      only(a, `${at}.authorization`, ['type', 'credentials', 'credentials_file'])
      authorization = {
        type: str(a, 'type', `${at}.authorization`, 'Bearer'),
        credentials: str(a, 'credentials', `${at}.authorization`, ''),
        credentialsFile: str(a, 'credentials_file', `${at}.authorization`, ''),
      }
      if (authorization.type.toLowerCase() === 'basic')
        throw new Error(`${at}.authorization.type: Basic is basic_auth's`)
    }
    if (basicAuth !== null && authorization !== null)
      throw new Error(`${at}: basic_auth and authorization are exclusive`)
    const t = mapping(o.tls_config, `${at}.tls_config`)
    only(t, `${at}.tls_config`, [
      'ca_file',
      'cert_file',
      'key_file',
      'server_name',
      'insecure_skip_verify',
    ])
    return {
      name,
      interval,
      timeout,
      metricsPath,
      scheme,
      params,
      honorLabels: bool(o, 'honor_labels', at, false),
      honorTimestamps: bool(o, 'honor_timestamps', at, true),
      followRedirects: bool(o, 'follow_redirects', at, true),
      staticConfigs,
      fileSdConfigs,
      relabel: parseRelabelConfigs(o.relabel_configs, `${at}.relabel_configs`),
      metricRelabel: parseRelabelConfigs(o.metric_relabel_configs, `${at}.metric_relabel_configs`),
      basicAuth,
      authorization,
      tls: {
        caFile: str(t, 'ca_file', `${at}.tls_config`, ''),
        certFile: str(t, 'cert_file', `${at}.tls_config`, ''),
        keyFile: str(t, 'key_file', `${at}.tls_config`, ''),
        serverName: str(t, 'server_name', `${at}.tls_config`, ''),
        insecureSkipVerify: bool(t, 'insecure_skip_verify', `${at}.tls_config`, false),
      },
      sampleLimit: count(o, 'sample_limit', at),
      labelLimit: count(o, 'label_limit', at),
      labelNameLengthLimit: count(o, 'label_name_length_limit', at),
      labelValueLengthLimit: count(o, 'label_value_length_limit', at),
      bodySizeLimit:
        o.body_size_limit === undefined ? 0 : parseSize(o.body_size_limit, `${at}.body_size_limit`),
    }
  })
}
