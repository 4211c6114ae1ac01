// falcon-agent's plugins (modules/agent/plugins, cron/plugin.go): executables under plugin.dir that hbs
// binds to this host, each run every <cycle> seconds, their stdout (a JSON array of MetricValue) pushed.
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process'
import { readdirSync, statSync, type Stats } from 'node:fs'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { validateBatch, type Logger, type MetricValue } from '../core/index.js'

/** Plugin is one bound plugin as falcon's `/plugins` shows it; MTime is unix seconds. */
export interface Plugin {
  FilePath: string
  MTime: number
  Cycle: number
  Args: string
}

/** PluginRunnerOptions are what a PluginRunner needs; every path is used as given (relative to cwd). */
export interface PluginRunnerOptions {
  /** dir: plugin.dir, the checkout holding the plugins. */
  dir: string
  /** logs: plugin.logs, where `<FilePath>(<Args>).stderr.log` files go. */
  logs: string
  /** push receives the valid items of each run (as the script wrote them, checked by transfer's rules). */
  push: (items: MetricValue[]) => void | Promise<void>
  log: Logger
  /** now in ms: the time that replaces a bad timestamp (as transfer would); defaults to Date.now. */
  now?: () => number
}

/** PluginStats counts what the runner did since it was built. */
export interface PluginStats {
  /** runs started. */
  runs: number
  /** runs not started because the previous run of the same plugin was still going. */
  skipped: number
  /** runs killed at their timeout (or for writing more than MAX_PLUGIN_STDOUT). */
  killed: number
  /** runs that could not start, exited non-zero or died of a signal. */
  failed: number
  /** runs whose stdout was not a JSON array. */
  badOutput: number
  /** items pushed, and items refused for a bad field. */
  pushed: number
  refused: number
}

/** MAX_PLUGIN_STDOUT: bytes of stdout one run may write; past it the run is killed (falcon has no cap). */
export const MAX_PLUGIN_STDOUT = 16 * 1024 * 1024
/** MAX_PLUGIN_STDERR: bytes of stderr kept for the log file; the rest is dropped. */
export const MAX_PLUGIN_STDERR = 1024 * 1024
/** GIT_TIMEOUT_MS: how long `git pull`, `git clone` and `git reset --hard` may take. */
export const GIT_TIMEOUT_MS = 300_000

interface Slot {
  readonly key: string
  readonly plugin: Plugin
  readonly mtimeMs: number
  timer: NodeJS.Timeout | undefined
  run: RunningProcess | undefined
}

/** ResolvedPlugin is one plugin `resolvePlugins` found, with its mtime in ms for change detection. */
export interface ResolvedPlugin {
  plugin: Plugin
  mtimeMs: number
}

/**
 * PluginRunner runs the plugins hbs binds to this host (Agent.MinePlugins), the way falcon-agent does:
 * each on its own timer every Cycle s (the first run one cycle after binding), spawned directly in a
 * process group of its own, killed with the whole group at `Cycle*1000 - 500` ms. A run still going
 * when its next tick comes is not started twice. The items of a run that exits 0 are checked with
 * transfer's rules and pushed; bad output is logged with the plugin's name and dropped. A slow or
 * crashing plugin never holds up another: runs are asynchronous child processes.
 */
export class PluginRunner {
  readonly #dir: string
  readonly #logs: string
  readonly #push: (items: MetricValue[]) => void | Promise<void>
  readonly #log: Logger
  readonly #now: () => number
  readonly #slots = new Map<string, Slot>()
  // Runs not yet ended, bound or not, so stop() can kill and await them all.
  readonly #inflight = new Map<RunningProcess, Promise<void>>()
  // Bindings the last update warned about (missing file, bad cycle): each is logged when it breaks.
  #warned = new Set<string>()
  #stopped = false
  readonly stats: PluginStats = {
    runs: 0,
    skipped: 0,
    killed: 0,
    failed: 0,
    badOutput: 0,
    pushed: 0,
    refused: 0,
  }

  constructor(options: PluginRunnerOptions) {
    this.#dir = options.dir
    this.#logs = options.logs
    this.#push = options.push
    this.#log = options.log
    this.#now = options.now ?? Date.now
  }

  /** dir is plugin.dir. */
  get dir(): string {
    return this.#dir
  }

  /**
   * update applies hbs's MinePlugins list (`sys/ntp`, `sys/ntp/60_ntp.py(a,b)`): starts plugins not
   * yet running, stops those no longer bound, restarts those whose file changed (mtime). A run in
   * progress of a stopped plugin finishes (within its timeout) and is still pushed, as in falcon.
   * Reads the plugin directory synchronously (a few stats). Ignored after `stop()`.
   */
  update(entries: readonly string[]): void {
    if (this.#stopped) return
    const before = this.#warned
    this.#warned = new Set()
    const desired = resolvePlugins(this.#dir, entries, (entry, message) => {
      this.#warned.add(entry)
      if (!before.has(entry)) this.#log.warn(`agent: plugin ${entry}: ${message}`)
    })
    for (const [key, slot] of this.#slots) {
      const next = desired.get(key)
      if (next === undefined || next.mtimeMs !== slot.mtimeMs) this.#unbind(slot)
    }
    for (const [key, next] of desired) {
      if (this.#slots.has(key)) continue
      const slot: Slot = {
        key,
        plugin: next.plugin,
        mtimeMs: next.mtimeMs,
        timer: undefined,
        run: undefined,
      }
      slot.timer = setInterval(() => this.#tick(slot), next.plugin.Cycle * 1000)
      slot.timer.unref()
      this.#slots.set(key, slot)
    }
  }

  /** list returns falcon's `/plugins` data: key (`path` from a directory, `path(args)` bound alone) → Plugin. */
  list(): Record<string, Plugin> {
    const out: Record<string, Plugin> = {}
    for (const [key, { plugin }] of this.#slots) out[key] = { ...plugin }
    return out
  }

  /**
   * stop clears every timer and kills every running plugin's process group; their output is dropped.
   * Resolves when the killed runs are reaped. The runner cannot be started again.
   */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const slot of this.#slots.values()) clearInterval(slot.timer)
    this.#slots.clear()
    for (const run of this.#inflight.keys()) run.kill()
    await Promise.all(this.#inflight.values())
  }

  /** gitUpdate is `/plugin/update`: `git pull` in dir, or `git clone gitUrl` when dir is absent or empty. */
  gitUpdate(gitUrl: string): Promise<string> {
    return pluginGitUpdate(this.#dir, gitUrl)
  }

  /** gitReset is `/plugin/reset`: `git reset --hard` in dir when it exists. */
  gitReset(): Promise<string> {
    return pluginGitReset(this.#dir)
  }

  #unbind(slot: Slot): void {
    clearInterval(slot.timer)
    slot.timer = undefined
    this.#slots.delete(slot.key)
  }

  #tick(slot: Slot): void {
    if (slot.run !== undefined) {
      this.stats.skipped++
      return
    }
    const p = slot.plugin
    const timeout = p.Cycle * 1000 - 500
    const run = runProcess(
      join(this.#dir, p.FilePath),
      p.Args === '' ? [] : parsePluginArgs(p.Args),
      {
        timeout,
        maxStdout: MAX_PLUGIN_STDOUT,
        maxStderr: MAX_PLUGIN_STDERR,
      }
    )
    this.stats.runs++
    slot.run = run
    const done = run.done
      .then((result) => {
        slot.run = undefined
        this.#inflight.delete(run)
        return this.#finish(p, timeout, result)
      })
      .catch((err: unknown) => {
        this.#log.error(`agent: plugin ${label(p)}: ${(err as Error).message}`)
      })
    this.#inflight.set(run, done)
  }

  async #finish(p: Plugin, timeout: number, r: ProcessResult): Promise<void> {
    if (r.stderr.length > 0) {
      // falcon rewrites the file on each run that wrote to stderr, so it holds the latest complaint.
      const file = join(this.#logs, `${p.FilePath}(${p.Args}).stderr.log`)
      try {
        await mkdir(dirname(file), { recursive: true })
        await writeFile(file, r.stderr)
      } catch (err) {
        this.#log.error(
          `agent: plugin ${label(p)}: cannot write ${file}: ${(err as Error).message}`
        )
      }
    }
    if (this.#stopped) return
    if (r.timedOut || r.overflow) {
      this.stats.killed++
      this.#log.warn(
        r.overflow
          ? `agent: plugin ${label(p)}: killed: wrote more than ${MAX_PLUGIN_STDOUT} bytes to stdout`
          : `agent: plugin ${label(p)}: killed at its timeout of ${timeout} ms (cycle ${p.Cycle} s - 500 ms)`
      )
      return
    }
    if (r.error !== undefined || r.code !== 0) {
      this.stats.failed++
      this.#log.error(`agent: plugin ${label(p)}: exec failed: ${goExecError(r)}`)
      return
    }
    const text = r.stdout.toString('utf8')
    if (text.trim() === '') return
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (err) {
      this.stats.badOutput++
      this.#log.error(
        `agent: plugin ${label(p)}: stdout is not JSON (${(err as Error).message}): ${quote(text)}`
      )
      return
    }
    // Go decodes `null` into an empty list.
    if (data === null) return
    if (!Array.isArray(data)) {
      this.stats.badOutput++
      this.#log.error(
        `agent: plugin ${label(p)}: stdout must be a JSON array of MetricValue, got ${quote(text)}`
      )
      return
    }
    const batch = validateBatch(data, Math.floor(this.#now() / 1000), 3)
    if (batch.invalid > 0) {
      this.stats.refused += batch.invalid
      const first = batch.errors.map((e) => `item ${e.index}: ${e.error.message}`).join('; ')
      this.#log.error(
        `agent: plugin ${label(p)}: ${batch.invalid} of ${data.length} items refused: ${first}`
      )
    }
    if (batch.valid.length === 0) return
    this.stats.pushed += batch.valid.length
    try {
      await this.#push(batch.valid)
    } catch (err) {
      this.#log.error(`agent: plugin ${label(p)}: push failed: ${(err as Error).message}`)
    }
  }
}

const label = (p: Plugin) => `${p.FilePath}(${p.Args})`

const QUOTE_MAX = 200
const quote = (s: string) => JSON.stringify(s.length > QUOTE_MAX ? s.slice(0, QUOTE_MAX) + '…' : s)

// falcon's `(.*)\((.*)\)`: Go's `.` stops only at \n; greedy, so the args run to the last `)`.
const ENTRY_RE = /([^\n]*)\(([^\n]*)\)/

/**
 * parsePluginEntry splits a MinePlugins entry as falcon does: `a/60_x.sh(1,2)` → path `a/60_x.sh`,
 * args `1,2`; an entry without parentheses is all path, with args ''.
 */
export function parsePluginEntry(entry: string): { path: string; args: string } {
  const m = ENTRY_RE.exec(entry)
  return m === null ? { path: entry, args: '' } : { path: m[1], args: m[2] }
}

/**
 * parsePluginArgs splits a plugin's args exactly as falcon's PluginArgsParse, quirks included, so a
 * binding yields the argv it always did: split on `\,` into groups, each group on `,`; every arg is
 * trimmed of spaces, then `"`, then `'`; the last arg of a group is joined with a `,` to the first of
 * the next. So `x,a\,b` → [x, 'a,b'], but `a\,b` (a group of one) → [a, b], and an empty last arg of a
 * group is dropped (`a,\,b` → [a, b]).
 */
export function parsePluginArgs(raw: string): string[] {
  const ret: string[] = []
  let tail = ''
  for (const group of raw.split('\\,')) {
    const args = group.split(',').map((a) => trimChars(trimChars(trimChars(a, ' '), '"'), "'"))
    for (let j = 0; j < args.length; j++) {
      const y = args[j]
      if (j === 0) {
        if (tail !== '') {
          ret.push(tail + ',' + y)
          tail = ''
        } else ret.push(y)
      } else if (j === args.length - 1) tail = y
      else ret.push(y)
    }
  }
  if (tail !== '') ret.push(tail)
  return ret
}

// Go's strings.Trim with a one-character cutset.
function trimChars(s: string, c: string): string {
  let a = 0
  let b = s.length
  while (a < b && s[a] === c) a++
  while (b > a && s[b - 1] === c) b--
  return s.slice(a, b)
}

// Node's timers take at most 2^31-1 ms, and fire at once beyond it.
const MAX_CYCLE = Math.floor(0x7fffffff / 1000)

// Go's strconv.Atoi for the small numbers a cycle is.
function atoi(s: string): number | undefined {
  return /^[+-]?[0-9]+$/.test(s) ? Number(s) : undefined
}

// cleanRel is filepath.Join's cleaning of a path relative to the plugin dir, without outer slashes
// ('.' for the dir itself).
function cleanRel(p: string): string {
  return join('.', p).replace(/^\/+|\/+$/g, '') || '.'
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

/**
 * resolvePlugins turns MinePlugins entries into the plugins to run, keyed as falcon keys them.
 * A file entry (`sys/ntp/60_ntp.py(a,b)`, args optional) is keyed `path(args)` and its cycle is the
 * integer before the first `_` of its name. A directory entry (`sys/ntp`, args ignored) contributes
 * each regular file named `<cycle>_<anything>`, keyed by its path; a file also bound on its own is not
 * taken again from its directory. Missing entries are skipped, as are cycles below 1 (falcon would
 * crash on them) or above 2147483 s (24 days, the longest Node timer); `warn(entry, why)` hears
 * about each skip of an entry (a directory's badly named files are skipped silently, as falcon).
 */
export function resolvePlugins(
  dir: string,
  entries: readonly string[],
  warn: (entry: string, message: string) => void = () => undefined
): Map<string, ResolvedPlugin> {
  const out = new Map<string, ResolvedPlugin>()
  const files: { entry: string; path: string; args: string; st: Stats }[] = []
  const dirs: string[] = []
  for (const entry of entries) {
    const { path, args } = parsePluginEntry(entry)
    const st = statOrUndefined(join(dir, path))
    if (st === undefined) {
      warn(entry, `not found under ${dir}`)
      continue
    }
    if (st.isDirectory()) dirs.push(path)
    else files.push({ entry, path, args, st })
  }
  const taken = new Set<string>()
  for (const f of files) {
    taken.add(cleanRel(f.path))
    const cycle = atoi(basename(f.path).split('_')[0])
    if (cycle === undefined) {
      warn(f.entry, 'file name must start with the cycle in seconds, as in 60_name')
      continue
    }
    if (cycle < 1 || cycle > MAX_CYCLE) {
      warn(f.entry, `cycle ${cycle} is not a number of seconds from 1 to ${MAX_CYCLE}`)
      continue
    }
    const plugin = {
      FilePath: f.path,
      MTime: Math.floor(f.st.mtimeMs / 1000),
      Cycle: cycle,
      Args: f.args,
    }
    out.set(`${f.path}(${f.args})`, { plugin, mtimeMs: f.st.mtimeMs })
  }
  for (const d of dirs) {
    // falcon lists nothing for `` or `/`, and keys files by the cleaned `dir/name`.
    if (d.replace(/^\/+|\/+$/g, '') === '') continue
    const rel = cleanRel(d)
    let names: string[]
    try {
      names = readdirSync(join(dir, rel))
    } catch (err) {
      warn(d, `cannot list files: ${(err as Error).message}`)
      continue
    }
    for (const name of names) {
      const parts = name.split('_')
      if (parts.length < 2) continue
      const cycle = atoi(parts[0])
      if (cycle === undefined || cycle < 1 || cycle > MAX_CYCLE) continue
      const path = rel === '.' ? name : `${rel}/${name}`
      if (taken.has(path)) continue
      const st = statOrUndefined(join(dir, path))
      if (st === undefined || !st.isFile()) continue
      const plugin = {
        FilePath: path,
        MTime: Math.floor(st.mtimeMs / 1000),
        Cycle: cycle,
        Args: '',
      }
      out.set(path, { plugin, mtimeMs: st.mtimeMs })
    }
  }
  return out
}

/** ProcessResult is how a `runProcess` child ended. */
export interface ProcessResult {
  stdout: Buffer
  /** stderr, cut at maxStderr bytes. */
  stderr: Buffer
  /** exit code, or null when killed by a signal or not started. */
  code: number | null
  signal: NodeJS.Signals | null
  /** the run outlived its timeout and its process group was killed. */
  timedOut: boolean
  /** stdout passed maxStdout and the process group was killed. */
  overflow: boolean
  /** why the file could not be started (ENOENT, EACCES, …), if it could not. */
  error: NodeJS.ErrnoException | undefined
}

/** RunningProcess is a started `runProcess`: `done` resolves (never rejects) when it has ended. */
export interface RunningProcess {
  readonly done: Promise<ProcessResult>
  /** kill sends SIGKILL to the whole process group and stops reading its output. */
  kill(): void
}

/** RunOptions bound a `runProcess` child. */
export interface RunOptions {
  /** ms before the process group is killed. */
  timeout: number
  maxStdout: number
  maxStderr: number
  cwd?: string
}

/**
 * runProcess spawns `file` with `args` (no shell; stdin is /dev/null) as the leader of a new process
 * group, collects stdout and stderr, and kills the whole group (SIGKILL) at `timeout` ms or when
 * stdout passes `maxStdout`. It ends when the leader has exited and its pipes are closed, or at once
 * after a kill (a grandchild that left the group cannot hold it open).
 */
export function runProcess(
  file: string,
  args: readonly string[],
  options: RunOptions
): RunningProcess {
  const out: Buffer[] = []
  const err: Buffer[] = []
  let outBytes = 0
  let errBytes = 0
  let timedOut = false
  let overflow = false
  let error: NodeJS.ErrnoException | undefined
  let settled = false
  let child: ChildProcessByStdio<null, Readable, Readable> | undefined
  let settle: (r: ProcessResult) => void = () => undefined
  const done = new Promise<ProcessResult>((res) => (settle = res))
  const timer = setTimeout(() => {
    timedOut = true
    kill()
  }, options.timeout)
  timer.unref()
  const finish = (code: number | null, signal: NodeJS.Signals | null) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    settle({
      stdout: Buffer.concat(out, outBytes),
      stderr: Buffer.concat(err, errBytes),
      code,
      signal,
      timedOut,
      overflow,
      error,
    })
  }
  const kill = () => {
    if (settled || child === undefined) return
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // ESRCH: the group is gone already.
      }
    }
    child.stdout.destroy()
    child.stderr.destroy()
  }
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: options.cwd,
    })
  } catch (e) {
    error = e as NodeJS.ErrnoException
    finish(null, null)
    return { done, kill }
  }
  const c = child
  c.stdout.on('data', (chunk: Buffer) => {
    outBytes += chunk.length
    out.push(chunk)
    if (outBytes > options.maxStdout && !overflow) {
      overflow = true
      kill()
    }
  })
  c.stderr.on('data', (chunk: Buffer) => {
    if (errBytes >= options.maxStderr) return
    const part = chunk.subarray(0, options.maxStderr - errBytes)
    errBytes += part.length
    err.push(part)
  })
  // Reads of a destroyed pipe may report EPIPE or ECONNRESET; the exit status says what happened.
  c.stdout.on('error', () => undefined)
  c.stderr.on('error', () => undefined)
  c.on('error', (e: NodeJS.ErrnoException) => {
    if (c.pid === undefined) {
      error = e
      finish(null, null)
    }
  })
  c.on('close', (code, signal) => finish(code, signal))
  return { done, kill }
}

const STRERROR: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EPERM: 'operation not permitted',
  E2BIG: 'argument list too long',
}

/** goErrnoText is Go's text for a system error code (`ENOENT` → `no such file or directory`). */
export function goErrnoText(err: NodeJS.ErrnoException): string {
  return STRERROR[err.code ?? ''] ?? err.message
}

const SIGNAL_TEXT: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGINT: 'interrupt',
  SIGHUP: 'hangup',
  SIGQUIT: 'quit',
  SIGABRT: 'aborted',
  SIGSEGV: 'segmentation fault',
  SIGBUS: 'bus error',
  SIGPIPE: 'broken pipe',
  SIGFPE: 'floating point exception',
  SIGILL: 'illegal instruction',
}

/**
 * goExecError words a failed run as Go's exec package does, which falcon puts in its replies and
 * logs: `exit status 1`, `signal: killed`, `fork/exec <file>: permission denied`.
 */
export function goExecError(r: {
  code: number | null
  signal: NodeJS.Signals | null
  error: NodeJS.ErrnoException | undefined
  file?: string
}): string {
  if (r.error !== undefined) {
    return `fork/exec ${r.error.path ?? r.file ?? ''}: ${goErrnoText(r.error)}`
  }
  if (r.signal !== null) return `signal: ${SIGNAL_TEXT[r.signal] ?? r.signal}`
  return `exit status ${r.code ?? -1}`
}

interface GitResult {
  ok: boolean
  /** Go's wording of the failure (`exit status 128`). */
  why: string
  /** git's last stderr line ('' when it wrote none). */
  said: string
  stdout: string
}

// failure words a git failure for a reply: Go's wording, then what git said.
const failure = (r: GitResult) => (r.said === '' ? r.why : `${r.why} (${r.said})`)

function git(args: string[], cwd: string, timeout: number): Promise<GitResult> {
  return new Promise((res) => {
    execFile(
      'git',
      args,
      // No credential prompt: the agent has no terminal, and a prompt would hang until the timeout.
      { cwd, timeout, killSignal: 'SIGKILL', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } },
      (err, stdout, stderr) => {
        if (err === null) return res({ ok: true, why: '', said: '', stdout })
        const e = err as NodeJS.ErrnoException & {
          killed?: boolean
          signal?: NodeJS.Signals | null
        }
        let why: string
        if (typeof e.code === 'string') {
          why =
            e.code === 'ENOENT'
              ? 'exec: "git": executable file not found in $PATH'
              : `exec: "git": ${goErrnoText(e)}`
        } else if (e.killed === true || (e.signal ?? null) !== null) {
          why = `signal: ${SIGNAL_TEXT[e.signal ?? 'SIGKILL'] ?? String(e.signal)}`
          if (e.killed === true) why += ` (timed out after ${timeout} ms)`
        } else why = `exit status ${typeof e.code === 'number' ? e.code : -1}`
        res({ ok: false, why, said: stderr.trim().split('\n').pop() ?? '', stdout })
      }
    )
  })
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/**
 * pluginGitUpdate is falcon's `/plugin/update`: `git pull` in `dir` when it exists and holds files,
 * else `git clone gitUrl <dir>` from its parent (created if missing). Resolves to `success` or falcon's
 * failure text, `git pull in dir:<dir> fail. error: exit status 1 (<git's last stderr line>)`.
 */
export async function pluginGitUpdate(
  dir: string,
  gitUrl: string,
  timeout = GIT_TIMEOUT_MS
): Promise<string> {
  const abs = resolve(dir)
  const parent = dirname(abs)
  try {
    await mkdir(parent, { recursive: true })
  } catch (err) {
    return `git clone in dir:${parent} fail. error: ${(err as Error).message}`
  }
  let entries: string[] | undefined
  try {
    entries = await readdir(abs)
  } catch {
    entries = undefined
  }
  if (entries !== undefined && entries.length > 0) {
    const r = await git(['pull'], abs, timeout)
    return r.ok ? 'success' : `git pull in dir:${dir} fail. error: ${failure(r)}`
  }
  const r = await git(['clone', gitUrl, basename(abs)], parent, timeout)
  return r.ok ? 'success' : `git clone in dir:${parent} fail. error: ${failure(r)}`
}

/** pluginGitReset is falcon's `/plugin/reset`: `git reset --hard` in `dir` if it exists; `success` or why not. */
export async function pluginGitReset(dir: string, timeout = GIT_TIMEOUT_MS): Promise<string> {
  if (!(await exists(dir))) return 'success'
  const r = await git(['reset', '--hard'], dir, timeout)
  return r.ok ? 'success' : `git reset --hard in dir:${dir} fail. error: ${failure(r)}`
}

/**
 * pluginVersion is the PluginVersion the agent reports to hbs (falcon's GetCurrPluginVersion):
 * `plugin not enabled`, `plugin dir not existent`, the checkout's `git rev-parse HEAD`, or
 * `Error:<why>` when git fails.
 */
export async function pluginVersion(
  enabled: boolean,
  dir: string,
  timeout = 10_000
): Promise<string> {
  if (!enabled) return 'plugin not enabled'
  if (!(await exists(dir))) return 'plugin dir not existent'
  const r = await git(['rev-parse', 'HEAD'], dir, timeout)
  // Only Go's wording: hbs stores this in a 128-character column.
  return r.ok ? r.stdout.trim() : `Error:${r.why}`
}
