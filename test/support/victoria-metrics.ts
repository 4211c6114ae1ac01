// Debian's victoria-metrics for tests and benches: started on a free loopback port with its own data
// directory, stopped (SIGTERM, data kept) and started again on the same port and data.
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { waitUntil } from '../../src/core/index.js'

/** VICTORIA_METRICS is where Debian's package puts the binary. */
export const VICTORIA_METRICS = '/usr/bin/victoria-metrics'

/** freePort asks the OS for a loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok, fail) => {
    s.once('error', fail)
    s.listen(0, '127.0.0.1', ok)
  })
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}

/** VictoriaMetrics is one single-node store with its data in `dir`, at `url` once started. */
export class VictoriaMetrics {
  #child: ChildProcess | undefined
  #port = 0

  constructor(
    readonly dir: string,
    readonly extraArgs: readonly string[] = [],
    readonly path = VICTORIA_METRICS
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.#port}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** start starts it (on the port it had, after a stop) and resolves once /health answers. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.#port === 0) this.#port = await freePort()
    const child = spawn(
      this.path,
      [
        `-storageDataPath=${this.dir}`,
        `-httpListenAddr=127.0.0.1:${this.#port}`,
        '-retentionPeriod=100y',
        '-loggerLevel=ERROR',
        ...this.extraArgs,
      ],
      { stdio: 'ignore' }
    )
    this.#child = child
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.path} exited with ${child.exitCode}`)
        try {
          return (await fetch(`${this.url}/health`)).ok
        } catch {
          return false
        }
      },
      `${this.path} to answer on ${this.url}`,
      timeoutMs
    )
  }

  /** stop stops it with SIGTERM (it writes what it holds) and resolves once it is gone. */
  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((ok) => child.once('exit', ok))
    child.kill('SIGTERM')
    await gone
  }
}
