// du.bs: the size in bytes of each directory hbs asked for, by `du -bs <path>` (falcon funcs/du.go).
import { execFile } from 'node:child_process'
import { type Sample, gauge } from '../collector.js'
import { parseDecimal, splitFields } from './netstat.js'

/** DuOptions say how du runs. */
export interface DuOptions {
  /** command: the du binary (GNU du: `-b` is apparent size in bytes). Default `du`. */
  command: string
  /** timeoutMs: a run still going after this is killed and reports -1. Default 30 000 (falcon's). */
  timeoutMs: number
  /**
   * waitMs: how long a cycle waits for the runs it started before reporting the last finished
   * values (a path whose first run is still going is left out of that cycle). Default 1000.
   */
  waitMs: number
}

export const defaultDuOptions: Readonly<DuOptions> = {
  command: 'du',
  timeoutMs: 30_000,
  waitMs: 1000,
}

/**
 * runDu runs `<command> -bs <path>` and resolves to the first number it prints, or to -1 as falcon
 * reports it: when du cannot start, exits non-zero, runs past `timeoutMs` (then it is killed),
 * writes anything to stderr (a subdirectory it cannot read: the total is incomplete) or prints
 * something that is not `<size> <path>`. It never rejects and never blocks the event loop.
 */
export function runDu(path: string, options: Readonly<DuOptions>): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      options.command,
      ['-bs', path],
      { timeout: options.timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err !== null || stderr !== '') return resolve(-1)
        const fields = splitFields(stdout)
        if (fields.length < 2) return resolve(-1)
        resolve(parseDecimal(fields[0], false) ?? -1)
      }
    )
  })
}

interface DuEntry {
  value: number | undefined
  running: Promise<void> | undefined
}

/**
 * DuCache runs du for each path in the background and keeps the last finished value, so a slow
 * du (a huge tree, a hung NFS mount) never holds a cycle for more than `waitMs`. A path's next run
 * starts only when its previous one has finished.
 */
export class DuCache {
  readonly #options: Readonly<DuOptions>
  readonly #entries = new Map<string, DuEntry>()

  constructor(options: Readonly<DuOptions> = defaultDuOptions) {
    this.#options = options
  }

  /**
   * collect starts a run for every path of `paths` that has none going, waits up to waitMs for
   * them, and returns one du.bs GAUGE per path that has a finished value, tagged `path=<path>`.
   * Paths no longer asked for are forgotten.
   */
  async collect(paths: readonly string[]): Promise<Sample[]> {
    const wanted = new Set(paths)
    for (const p of this.#entries.keys()) if (!wanted.has(p)) this.#entries.delete(p)
    const pending: Promise<void>[] = []
    for (const p of wanted) {
      let entry = this.#entries.get(p)
      if (entry === undefined) {
        entry = { value: undefined, running: undefined }
        this.#entries.set(p, entry)
      }
      if (entry.running === undefined) entry.running = this.#start(p, entry)
      pending.push(entry.running)
    }
    if (pending.length > 0) await within(Promise.all(pending), this.#options.waitMs)
    const out: Sample[] = []
    for (const p of wanted) {
      const value = this.#entries.get(p)?.value
      if (value !== undefined) out.push(gauge('du.bs', value, `path=${p}`))
    }
    return out
  }

  async #start(path: string, entry: DuEntry): Promise<void> {
    const value = await runDu(path, this.#options)
    entry.value = value
    entry.running = undefined
  }
}

// within resolves when `p` settles or after `ms`, whichever is first, and leaves no timer behind.
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms)
  })
  try {
    await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
