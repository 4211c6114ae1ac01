// falcon-agent's HTTP API on :1988 (modules/agent/http): push, admin, plugins, /run and the host facts
// its built-in page shows, with falcon's paths, bodies and content types.
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import {
  type ConnectionLimits,
  createLimitedHttpServer,
  formatLocalTime,
  hostIsLocalOrAddress,
  type ListenerStats,
  newListenerStats,
  parseGoFloat,
  validateBatch,
  type Logger,
  type MetricValue,
} from '../core/index.js'
import { AGENT_HTTP_LIMITS } from './config.js'
import { AGENT_PAGE } from './page.js'
import { goErrnoText, goExecError, runProcess, type PluginRunner } from './plugins.js'

/** CpuUsage is the cpu collector's last one-second reading, in percent (falcon's funcs.Cpu*). */
export interface CpuUsage {
  idle: number
  user: number
  nice: number
  system: number
  iowait: number
  irq: number
  softirq: number
  steal: number
  guest: number
}

/** DfUsage is one mounted filesystem as the df collector measured it (nux.DeviceUsage). */
export interface DfUsage {
  fsSpec: string
  fsFile: string
  fsVfstype: string
  /** bytes */
  blocksAll: number
  blocksUsed: number
  blocksFree: number
  /** percent */
  blocksUsedPercent: number
  inodesAll: number
  inodesUsed: number
  inodesFree: number
  inodesUsedPercent: number
}

/** DiskIoDelta is one device's /proc/diskstats counters over the collector's last second. */
export interface DiskIoDelta {
  device: string
  readRequests: number
  readMerged: number
  readSectors: number
  msecRead: number
  writeRequests: number
  writeMerged: number
  writeSectors: number
  msecWrite: number
  msecTotal: number
  msecWeightedTotal: number
}

/** PluginControl is the part of a PluginRunner the routes use. */
export type PluginControl = Pick<PluginRunner, 'list' | 'gitUpdate' | 'gitReset'>

/**
 * AgentHttpContext is what the routes use. Fields are read on every request, so an object with
 * getters over the live config follows `/config/reload` as falcon's `g.Config()` does.
 */
export interface AgentHttpContext {
  /** version: what `/version` answers (falcon: `5.1.2`). */
  readonly version: string
  /** workdir: what `/workdir` answers (falcon: the binary's directory). */
  readonly workdir: string
  /** proc: the /proc to read the host facts from. */
  readonly proc: string
  /** backdoor: http.backdoor, which enables POST /run. */
  readonly backdoor: boolean
  /** pluginEnabled, pluginGit: plugin.enabled and plugin.git. */
  readonly pluginEnabled: boolean
  readonly pluginGit: string
  /** plugins: the PluginRunner (undefined while plugins are off). */
  readonly plugins: PluginControl | undefined
  /** hostname: the endpoint the agent reports as (hostname, else FALCON_ENDPOINT, else the OS's). */
  hostname(): string
  /** trustable: the IPs hbs says may use the admin routes (besides 127.0.0.1 and ::1). */
  trustable(): readonly string[]
  /**
   * push sends checked items to transfer, adding default_tags (the same function the PluginRunner
   * gets). Resolves once the items are taken; a rejection answers 500.
   */
  push(items: MetricValue[]): Promise<void>
  /** reloadConfig re-reads the config file and resolves to the new config; a rejection answers 500. */
  reloadConfig(): Promise<unknown>
  /** exit ends the agent; `/exit` calls it one second after answering. */
  exit(): void
  /** metrics: the Prometheus text exposition `/metrics` answers (host metrics and the agent's own). */
  metrics?(): Promise<string>
  /** cpuUsage: undefined until two readings exist (falcon's `not prepared`). */
  cpuUsage?(): CpuUsage | undefined
  /** df: every mounted filesystem (throws to answer `{"msg": <error>}`). */
  df?(): readonly DfUsage[]
  diskio?(): readonly DiskIoDelta[]
  /** numCpu: CPUs this process may use (Go's runtime.NumCPU); defaults to os.availableParallelism. */
  numCpu?(): number
  /** now in ms, for /system/date and for the timestamps that replace bad ones. */
  now?(): number
  /** log hears about refused pushes. */
  log?: Logger
  /** runTimeout: ms a /run command may take before its process group is killed (default 60 s). */
  runTimeout?: number
  /**
   * closeGrace: ms close() waits for requests still open (a body still arriving, a /run) before it
   * cuts their connections (default 5 s).
   */
  closeGrace?: number
  /** limits: connections, idle and request timeouts (AGENT_HTTP_LIMITS when left out). */
  limits?: ConnectionLimits
}

/** AGENT_HTTP_BODY_LIMIT: largest request body (bytes), else 413; falcon has none. */
export const AGENT_HTTP_BODY_LIMIT = 32 * 1024 * 1024
/** MAX_RUN_OUTPUT: bytes of stdout a /run command may write before it is killed. */
export const MAX_RUN_OUTPUT = 16 * 1024 * 1024
const DEFAULT_RUN_TIMEOUT = 60_000
const CLOSE_GRACE = 5_000

const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json; charset=UTF-8'

/**
 * isTrustable is falcon's g.IsTrustable: the caller's IP is 127.0.0.1 (or ::1, or either mapped into
 * IPv6) or one of `trustable`.
 */
export function isTrustable(address: string | undefined, trustable: readonly string[]): boolean {
  if (address === undefined) return false
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address
  if (ip === '127.0.0.1' || ip === '::1') return true
  return trustable.some((t) => t.trim() === ip)
}

// goJson is Go's json.Marshal text: Go escapes <, > and & (and U+2028/9) inside strings.
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  )
}

/**
 * goFixed is Go's `%.<d>f`: like toFixed, but an exact tie rounds to even (Go prints 0.25 as 0.2
 * where toFixed gives 0.3). A tie at d decimals is exactly an odd multiple of 2^-(d+1).
 */
export function goFixed(x: number, d: number): string {
  if (Number.isNaN(x)) return 'NaN'
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf'
  const s = x.toFixed(d)
  const scaled = x * 2 ** (d + 1)
  if (!Number.isInteger(scaled) || Math.abs(scaled % 2) !== 1) return s
  // toFixed took the larger magnitude; when that digit is odd, even is one below (no borrow).
  const last = s.charCodeAt(s.length - 1) - 48
  return last % 2 === 1 ? s.slice(0, -1) + String(last - 1) : s
}

const SIZE_UNITS = ['B', 'K', 'M', 'G', 'T', 'P']

/** readableSize is falcon's core.ReadableSize: `%.1f` of the value in the largest unit below it. */
export function readableSize(raw: number): string {
  let d = 1
  for (const unit of SIZE_UNITS) {
    if (raw < d * 1024) return goFixed(raw / d, 1) + unit
    d *= 1024
  }
  return 'TooLarge'
}

// goUint is strconv.ParseUint(s, 10, 64), returning the digits for the JSON (a uint64 such as
// file-max's 9223372036854775807 does not survive a double), or Go's error text.
function goUint(s: string): { digits: string } | { error: string } {
  if (!/^[0-9]+$/.test(s))
    return { error: `strconv.ParseUint: parsing ${goJson(s)}: invalid syntax` }
  const n = BigInt(s)
  if (n > 18446744073709551615n) {
    return { error: `strconv.ParseUint: parsing ${goJson(s)}: value out of range` }
  }
  return { digits: n.toString() }
}

type Read = { text: string; error?: undefined } | { text?: undefined; error: string }

async function readProc(path: string): Promise<Read> {
  try {
    return { text: await readFile(path, 'utf8') }
  } catch (err) {
    return { error: `open ${path}: ${goErrnoText(err as NodeJS.ErrnoException)}` }
  }
}

function goFloat(s: string): { value: number } | { error: string } {
  const v = parseGoFloat(s)
  return v === undefined
    ? { error: `strconv.ParseFloat: parsing ${goJson(s)}: invalid syntax` }
    : { value: v }
}

interface Loadavg {
  Avg1min: number
  Avg5min: number
  Avg15min: number
  RunningProcesses: number
  TotalProcesses: number
}

// loadAvg is nux.LoadAvg.
async function loadAvg(proc: string): Promise<Loadavg | string> {
  const r = await readProc(join(proc, 'loadavg'))
  if (r.error !== undefined) return r.error
  const data = r.text.trim()
  const f = data.split(/\s+/)
  if (f.length < 4) return 'invalid loadavg ' + data
  const avgs: number[] = []
  for (const s of f.slice(0, 3)) {
    const v = goFloat(s)
    if ('error' in v) return v.error
    avgs.push(v.value)
  }
  const procs = f[3].split('/')
  if (procs.length !== 2 || !/^[+-]?[0-9]+$/.test(procs[0]) || !/^[+-]?[0-9]+$/.test(procs[1])) {
    return 'invalid loadavg ' + data
  }
  return {
    Avg1min: avgs[0],
    Avg5min: avgs[1],
    Avg15min: avgs[2],
    RunningProcesses: Number(procs[0]),
    TotalProcesses: Number(procs[1]),
  }
}

// uptime is nux.SystemUptime.
async function uptime(
  proc: string
): Promise<{ days: number; hours: number; mins: number } | string> {
  const path = join(proc, 'uptime')
  const r = await readProc(path)
  if (r.error !== undefined) return r.error
  const f = r.text.trim().split(/\s+/)
  if (f.length < 2) return `${path} format not supported`
  const sec = goFloat(f[0])
  if ('error' in sec) return sec.error
  const minTotal = sec.value / 60
  const hourTotal = minTotal / 60
  const days = Math.trunc(hourTotal / 24)
  const hours = Math.trunc(hourTotal) - days * 24
  const mins = Math.trunc(minTotal) - days * 60 * 24 - hours * 60
  return { days, hours, mins }
}

// memory is what /proc/memory and /page/memory show: nux.MemInfo's total, and free as
// MemFree+Buffers+Cached (not MemAvailable, unlike the mem.* metrics).
async function memory(proc: string): Promise<{ total: number; free: number } | string> {
  const r = await readProc(join(proc, 'meminfo'))
  if (r.error !== undefined) return r.error
  let total = 0
  let free = 0
  for (const line of r.text.split('\n')) {
    const f = line.split(/\s+/).filter((s) => s !== '')
    if (f.length !== 3) continue
    if (f[0] !== 'MemTotal:' && f[0] !== 'MemFree:' && f[0] !== 'Buffers:' && f[0] !== 'Cached:') {
      continue
    }
    if (!/^[0-9]+$/.test(f[1])) continue
    const bytes = Number(f[1]) * 1024
    if (f[0] === 'MemTotal:') total = bytes
    else free += bytes
  }
  return { total, free }
}

// cpuMhz is nux.CpuMHz: the first line of cpuinfo that mentions MHz.
async function cpuMhz(proc: string): Promise<{ mhz: string } | string> {
  const path = join(proc, 'cpuinfo')
  const r = await readProc(path)
  if (r.error !== undefined) return r.error
  for (const line of r.text.split('\n')) {
    if (!line.includes('MHz')) continue
    const parts = line.split(':')
    if (parts.length !== 2) return `${path} content format error`
    return { mhz: parts[1].trim() }
  }
  return `no MHz in ${path}`
}

function dfRow(u: DfUsage): (string | number)[] {
  return [
    u.fsSpec,
    readableSize(u.blocksAll),
    readableSize(u.blocksUsed),
    readableSize(u.blocksFree),
    goFixed(u.blocksUsedPercent, 1) + '%',
    u.fsFile,
    readableSize(u.inodesAll),
    readableSize(u.inodesUsed),
    readableSize(u.inodesFree),
    goFixed(u.inodesUsedPercent, 1) + '%',
    u.fsVfstype,
  ]
}

// diskioRow is falcon's IOStatsForPage line: iostat -x columns over the last second.
function diskioRow(d: DiskIoDelta): string[] {
  const nio = d.readRequests + d.writeRequests
  const per = (v: number) => (nio === 0 ? 0 : v / nio)
  return [
    d.device,
    String(d.readMerged),
    String(d.writeMerged),
    String(d.readRequests),
    String(d.writeRequests),
    goFixed(d.readSectors / 2, 2),
    goFixed(d.writeSectors / 2, 2),
    goFixed(per(d.readSectors + d.writeSectors), 2),
    goFixed(d.msecWeightedTotal / 1000, 2),
    goFixed(per(d.msecRead + d.msecWrite), 2),
    goFixed(per(d.msecTotal), 2),
    goFixed(d.msecTotal / 10, 2) + '%',
  ]
}

const header = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v.join(',') : v

const CPU_FIELDS = ['idle', 'user', 'nice', 'system', 'iowait', 'irq', 'softirq', 'steal', 'guest']

/** AgentHttp is the agent's HTTP server; `handle` is its request listener (tests inject into it). */
export interface AgentHttp {
  readonly server: Server
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void
  /** stats: what the connection limits did, on /counter/all. */
  readonly stats: ListenerStats
  listen(options: { host: string; port: number }): Promise<void>
  /** close stops accepting, answers 503 to requests still arriving, and waits for open ones. */
  close(): Promise<void>
}

interface Reply {
  status: number
  type: string
  body: string | Buffer
}

interface Request {
  /** remoteAddress: the peer's address (req.socket.remoteAddress). */
  remoteAddress: string | undefined
  /** body: the request body, empty when there was none. */
  body: Buffer
  method: string
  /** host, origin, fetchSite: the Host, Origin and Sec-Fetch-Site headers (undefined when absent). */
  host: string | undefined
  origin: string | undefined
  fetchSite: string | undefined
}

type Handler = (req: Request) => Reply | Promise<Reply>

const reply = (type: string, body: string | Buffer, status = 200): Reply => ({ status, type, body })
const text = (body: string | Buffer, status = 200) => reply(TEXT, body, status)
const json = (body: string, status = 200) => reply(JSON_TYPE, body, status)
const data = (d: unknown) => json(goJson({ msg: 'success', data: d }))
// dataRaw puts already-encoded JSON in the data slot (uint64 digits).
const dataRaw = (encoded: string) => json(`{"msg":"success","data":${encoded}}`)
const msg = (message: string, status = 200) => json(goJson({ msg: message }), status)

// routePath is the path a request target names, as Fastify's router (find-my-way) found it: an
// absolute-form target loses its scheme and authority, the path ends at the first `?` or `#`, and
// percent-escapes are decoded except reserved characters (%2F stays). undefined for a malformed
// escape or an absolute-form target with a fragment.
function routePath(url: string): string | undefined {
  let path = url
  if (!path.startsWith('/')) {
    const m = /^https?:\/\/[^/?#]+/i.exec(path)
    if (m !== null) {
      if (path.includes('#')) return undefined
      path = '/' + path.slice(m[0].length).replace(/^\//, '')
    }
  }
  const end = path.slice(1).search(/[?#]/)
  if (end >= 0) path = path.slice(0, end + 1)
  if (!path.includes('%')) return path
  try {
    return decodeURI(path)
  } catch {
    return undefined
  }
}

// send writes a reply as Fastify's reply.send did: lowercase content-type and content-length.
function send(res: ServerResponse, r: Reply, headers: Record<string, string> = {}): void {
  res.writeHead(r.status, {
    ...headers,
    'content-type': r.type,
    'content-length': String(Buffer.byteLength(r.body)),
  })
  res.end(r.body)
}

// Fastify's answers for what the routes never see; kept byte for byte.
const TOO_LARGE = reply(
  'application/json; charset=utf-8',
  '{"statusCode":413,"code":"FST_ERR_CTP_BODY_TOO_LARGE","error":"Payload Too Large",' +
    '"message":"Request body is too large"}',
  413
)
const UNAVAILABLE =
  '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}'

/**
 * callerRefusal says why a request may not reach a route that writes, stops, reloads or runs
 * something, or undefined when it may. Refused: HEAD (a probe, such as url.check.health's, must change
 * nothing); a Host that is neither localhost nor an IP address (a page under its own name, rebound to
 * this agent's address); and what a browser sends on behalf of another page: an Origin other than this
 * agent's own, or a Sec-Fetch-Site other than same-origin or none (a page on another port of this
 * host is same-site). curl and falcon's tools send neither header and are not affected.
 */
function callerRefusal(path: string, req: Request): Reply | undefined {
  const forbidden = (why: string) => text(`forbidden (PG_AGENT_FORBIDDEN): ${why}\n`, 403)
  if (req.method === 'HEAD')
    return text(`${path} changes the agent: call it with GET or POST, not HEAD\n`, 405)
  if (req.host !== undefined && !hostIsLocalOrAddress(req.host))
    return forbidden(
      `${path} needs a Host that is localhost or an IP address, not ${JSON.stringify(req.host)} (a web page under another name may point it at this agent: DNS rebinding)`
    )
  if (
    req.origin !== undefined &&
    req.origin.toLowerCase() !== `http://${req.host ?? ''}`.toLowerCase()
  )
    return forbidden(
      `${path} may not be called by a web page of another origin (Origin ${JSON.stringify(req.origin)}); call it with curl`
    )
  if (req.fetchSite !== undefined && req.fetchSite !== 'same-origin' && req.fetchSite !== 'none')
    return forbidden(
      `${path} may not be called by a web page of another origin (Sec-Fetch-Site: ${req.fetchSite}); call it with curl`
    )
  return undefined
}

/**
 * agentHttp serves falcon-agent's routes with node:http. Like Go's ServeMux, each path answers any
 * method, other paths `404 page not found`, and the body is read whatever the method or
 * Content-Type (curl -d sends a form type), up to AGENT_HTTP_BODY_LIMIT (413 past it). Replies are
 * falcon's: `{"msg":"success","data":…}` (application/json), `{"msg":<error>}` when a host fact
 * cannot be read, plain text for `ok`, `success`, `no privilege`, `/run disabled`, and
 * `body is blank` / `connot decode body` (sic) with 400.
 *
 * POST /v1/push checks every item with transfer's rules (falcon forwards blindly and lets transfer
 * drop bad items): the valid ones are pushed, and if any was refused the reply is 400 naming the
 * first fields at fault; `success` means every item was taken. Like the routes that stop, reload or
 * run, it refuses what callerRefusal refuses.
 */
export function agentHttp(ctx: AgentHttpContext): AgentHttp {
  const now = () => (ctx.now ? ctx.now() : Date.now())
  const numCpu = () => (ctx.numCpu ? ctx.numCpu() : availableParallelism())
  const trusted = (req: Request) => isTrustable(req.remoteAddress, ctx.trustable())
  const routes = new Map<string, Handler>()
  const route = (path: string, handler: Handler) => routes.set(path, handler)
  const stats = newListenerStats()
  // A route that writes, stops, reloads or runs something answers only callers callerRefusal lets
  // through; the others only read.
  const guarded = (path: string, handler: Handler) =>
    route(path, (req) => callerRefusal(path, req) ?? handler(req))

  // Writes points for any endpoint, as falcon's does: a web page must not be able to push them
  // through a visitor's browser (a text/plain POST needs no CORS preflight).
  guarded('/v1/push', async (req) => {
    const raw = req.body
    if (raw.length === 0) return text('body is blank\n', 400)
    let parsed: unknown
    try {
      parsed = JSON.parse(raw.toString('utf8'))
    } catch {
      return text('connot decode body\n', 400)
    }
    // Go decodes `null` into an empty list; anything else but a list fails its decode.
    if (parsed === null) return text('success')
    if (!Array.isArray(parsed)) return text('connot decode body\n', 400)
    const batch = validateBatch(parsed, Math.floor(now() / 1000), 5)
    if (batch.valid.length > 0) {
      try {
        await ctx.push(batch.valid)
      } catch (err) {
        return text(`push failed: ${(err as Error).message}\n`, 500)
      }
    }
    if (batch.invalid === 0) return text('success')
    const why = batch.errors.map((e) => `item ${e.index}: ${e.error.message}`).join('; ')
    const said =
      `${batch.invalid} of ${parsed.length} items refused` +
      (batch.valid.length > 0 ? `, the other ${batch.valid.length} sent` : '') +
      `: ${why}`
    ctx.log?.warn(`agent: /v1/push from ${req.remoteAddress ?? '?'}: ${said}`)
    return text(said + '\n', 400)
  })

  // falcon-agent serves a linux-dash page at /; ours is self-contained (src/agent/page.ts).
  route('/', () => reply('text/html; charset=utf-8', AGENT_PAGE, 200))
  route('/index.html', () => reply('text/html; charset=utf-8', AGENT_PAGE, 200))
  route('/health', () => text('ok'))
  // Peregrine's own, as its other components have: what the connection limits refused.
  route('/counter/all', () => data({ listeners: { http: stats } }))
  route('/metrics', async () =>
    ctx.metrics === undefined
      ? text('no metrics\n', 404)
      : reply('text/plain; version=0.0.4; charset=utf-8', await ctx.metrics(), 200)
  )
  route('/version', () => text(ctx.version))
  route('/workdir', () => data(ctx.workdir))
  route('/ips', () => data(ctx.trustable()))

  guarded('/config/reload', async (req) => {
    if (!trusted(req)) return text('no privilege')
    try {
      return data(await ctx.reloadConfig())
    } catch (err) {
      return msg((err as Error).message, 500)
    }
  })

  guarded('/exit', (req) => {
    if (!trusted(req)) return text('no privilege')
    setTimeout(() => ctx.exit(), 1000)
    return text('exiting...')
  })

  guarded('/plugin/update', async () => {
    if (!ctx.pluginEnabled || ctx.plugins === undefined) return text('plugin not enabled')
    return text(await ctx.plugins.gitUpdate(ctx.pluginGit))
  })
  guarded('/plugin/reset', async () => {
    if (!ctx.pluginEnabled || ctx.plugins === undefined) return text('plugin not enabled')
    return text(await ctx.plugins.gitReset())
  })
  route('/plugins', () => data(ctx.plugins?.list() ?? {}))

  guarded('/run', async (req) => {
    if (!ctx.backdoor) return text('/run disabled')
    if (!trusted(req)) return text('no privilege')
    const raw = req.body
    if (raw.length === 0) return text('body is blank\n', 400)
    const timeout = ctx.runTimeout ?? DEFAULT_RUN_TIMEOUT
    const r = await runProcess('sh', ['-c', raw.toString('utf8')], {
      timeout,
      maxStdout: MAX_RUN_OUTPUT,
      maxStderr: 0,
    }).done
    if (r.timedOut) return text(`exec fail: signal: killed (timed out after ${timeout} ms)`)
    if (r.overflow) {
      return text(`exec fail: signal: killed (more than ${MAX_RUN_OUTPUT} bytes of output)`)
    }
    if (r.error !== undefined || r.code !== 0) return text('exec fail: ' + goExecError(r))
    return text(r.stdout)
  })

  route('/proc/cpu/num', () => data(numCpu()))
  route('/proc/cpu/mhz', async () => {
    const r = await cpuMhz(ctx.proc)
    return typeof r === 'string' ? msg(r) : data(r.mhz)
  })
  route('/proc/cpu/usage', () => {
    const u = ctx.cpuUsage?.()
    if (u === undefined) return msg('not prepared')
    // Shares of a sum can come out a rounding step past 100 (busy -1.4e-14): idle is capped.
    const idle = Math.min(100, u.idle)
    // Go writes a map's keys sorted.
    return data({
      busy: 100 - idle,
      guest: u.guest,
      idle,
      iowait: u.iowait,
      irq: u.irq,
      nice: u.nice,
      softirq: u.softirq,
      steal: u.steal,
      system: u.system,
      user: u.user,
    })
  })
  route('/page/cpu/usage', () => {
    const u = ctx.cpuUsage?.()
    if (u === undefined) return msg('not prepared')
    const row = CPU_FIELDS.map((k) => goFixed(u[k as keyof CpuUsage], 1) + '%')
    row.splice(1, 0, goFixed(100 - u.idle, 1) + '%')
    return data([row])
  })

  route('/proc/kernel/hostname', () => data(ctx.hostname()))
  const uintFile = (path: string) => async () => {
    const r = await readProc(join(ctx.proc, path))
    if (r.error !== undefined) return msg(r.error)
    const n = goUint(r.text.trim())
    return 'error' in n ? msg(n.error) : dataRaw(n.digits)
  }
  route('/proc/kernel/maxproc', uintFile('sys/kernel/pid_max'))
  route('/proc/kernel/maxfiles', uintFile('sys/fs/file-max'))
  // falcon runs `uname -r`; the kernel keeps the same text here.
  route('/proc/kernel/version', async () => {
    const r = await readProc(join(ctx.proc, 'sys/kernel/osrelease'))
    return r.error !== undefined ? msg(r.error) : data(r.text.trim())
  })

  route('/proc/memory', async () => {
    const m = await memory(ctx.proc)
    if (typeof m === 'string') return msg(m)
    return data({ free: m.free, total: m.total, used: m.total - m.free })
  })
  route('/page/memory', async () => {
    const m = await memory(ctx.proc)
    if (typeof m === 'string') return msg(m)
    const mib = 1024 * 1024
    return data([
      Math.floor(m.total / mib),
      Math.floor((m.total - m.free) / mib),
      Math.floor(m.free / mib),
    ])
  })

  route('/system/date', () => data(formatLocalTime(now())))
  route('/proc/system/uptime', async () => {
    const u = await uptime(ctx.proc)
    return typeof u === 'string' ? msg(u) : data(u)
  })
  route('/page/system/uptime', async () => {
    const u = await uptime(ctx.proc)
    if (typeof u === 'string') return msg(u)
    return data(`${u.days} days ${u.hours} hours ${u.mins} minutes`)
  })
  route('/proc/system/loadavg', async () => {
    const l = await loadAvg(ctx.proc)
    return typeof l === 'string' ? msg(l) : data(l)
  })
  route('/page/system/loadavg', async () => {
    const l = await loadAvg(ctx.proc)
    if (typeof l === 'string') return msg(l)
    const cpus = numCpu()
    const pct = (v: number) => Math.trunc((v * 100) / cpus)
    return data([
      [l.Avg1min, pct(l.Avg1min)],
      [l.Avg5min, pct(l.Avg5min)],
      [l.Avg15min, pct(l.Avg15min)],
    ])
  })

  route('/page/df', () => {
    let usage: readonly DfUsage[]
    try {
      usage = ctx.df?.() ?? []
    } catch (err) {
      return msg((err as Error).message)
    }
    return data(usage.map(dfRow))
  })
  // falcon's list is nil (JSON null) when no device qualifies.
  route('/page/diskio', () => {
    const rows = ctx.diskio?.() ?? []
    return data(rows.length === 0 ? null : rows.map(diskioRow))
  })

  const notFound: Handler = () => text('404 page not found\n', 404)
  let closing = false

  // run answers one request once its body is in; a handler's throw answers Fastify's 500 JSON. A
  // reply finished after close() closes its connection, so close() need not wait out keep-alive.
  const run = (handler: Handler, req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    Promise.resolve()
      .then(() =>
        handler({
          remoteAddress: req.socket.remoteAddress,
          body,
          method: req.method ?? 'GET',
          host: req.headers.host,
          origin: req.headers.origin,
          fetchSite: header(req.headers['sec-fetch-site']),
        })
      )
      .then(
        (r) => send(res, r, closing ? { connection: 'close' } : {}),
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err)
          const body = JSON.stringify({
            statusCode: 500,
            error: 'Internal Server Error',
            message,
          })
          send(
            res,
            reply('application/json; charset=utf-8', body, 500),
            closing ? { connection: 'close' } : {}
          )
        }
      )
      .catch(() => res.destroy())
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = routePath(req.url ?? '/')
    if (path === undefined) {
      const body = JSON.stringify({
        error: 'Bad Request',
        code: 'FST_ERR_BAD_URL',
        message: `'${req.url}' is not a valid url component`,
        statusCode: 400,
      })
      res.writeHead(400, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      })
      res.end(body)
      return
    }
    if (closing) {
      res.setHeader('Connection', 'close')
      res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': '80' })
      res.end(UNAVAILABLE)
      return
    }
    const handler = routes.get(path) ?? notFound
    // The client may go on sending after a 413: answer it and close the connection.
    if (Number(req.headers['content-length']) > AGENT_HTTP_BODY_LIMIT) {
      send(res, TOO_LARGE, { connection: 'close' })
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const stop = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', stop)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > AGENT_HTTP_BODY_LIMIT) {
        stop()
        chunks.length = 0
        send(res, TOO_LARGE, { connection: 'close' })
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      stop()
      run(handler, req, res, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    // An aborted request has no one to answer.
    req.on('error', stop)
  }

  // The headers and the body must arrive within requestTimeout, or a client that trickles them
  // (slowloris) holds a socket and up to the body limit forever; this bounds receiving the request
  // only, so a /run may still take its full timeout to answer.
  const server = createLimitedHttpServer(ctx.limits ?? AGENT_HTTP_LIMITS, stats, handle)

  return {
    server,
    handle,
    stats,
    listen: ({ host, port }) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host, port }, () => {
          server.off('error', reject)
          resolve()
        })
      }),
    // A request still open after the grace (a client that stopped sending its body) would hold
    // close(), and the agent's stop on SIGTERM, until its timeout: its connection is cut.
    close: () =>
      new Promise<void>((resolve) => {
        closing = true
        if (!server.listening) {
          resolve()
          return
        }
        const cut = setTimeout(() => server.closeAllConnections(), ctx.closeGrace ?? CLOSE_GRACE)
        server.close(() => {
          clearTimeout(cut)
          resolve()
        })
      }),
  }
}
