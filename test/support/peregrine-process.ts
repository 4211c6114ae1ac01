// Starts `peregrine start …` as a real child process on ephemeral loopback ports, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'bin',
  'peregrine.js'
)

/** TEST_ROOT_PASSWORD is root's password in every store a test process creates. */
export const TEST_ROOT_PASSWORD = 'test-root-password'

/** loginRoot logs in as root on the api at `address` and returns the `Apitoken` header value. */
export async function loginRoot(address: string): Promise<string> {
  const res = await fetch(`http://${address}/api/v1/user/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'root', password: TEST_ROOT_PASSWORD }),
  })
  const body = (await res.json()) as { sig?: string; error?: string }
  if (res.status !== 200 || body.sig === undefined) {
    throw new Error(`login as root on ${address}: ${res.status} ${JSON.stringify(body)}`)
  }
  return JSON.stringify({ name: 'root', sig: body.sig })
}

/** PeregrineProcess is a running `peregrine start`: its child, the addresses it bound, and how to stop it. */
export interface PeregrineProcess {
  child: ChildProcess
  addresses: Record<string, Record<string, string>>
  /** stop sends SIGTERM (or `signal`) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * startPeregrine writes `settings` as the config of `components` in `dir` (data under `dir/data`) and
 * resolves once the process reports running. Every listener not set in `settings` is 127.0.0.1:0.
 * `settings.top` holds top-level settings (`store`, `redis`).
 */
export async function startPeregrine(
  dir: string,
  components: string[],
  settings: Record<string, Record<string, unknown>> = {},
  nodeArgs: string[] = []
): Promise<PeregrineProcess> {
  const { top, ...sections } = settings
  const config = {
    dataDir: join(dir, 'data'),
    ...top,
    graph: { rpc: '127.0.0.1:0', http: '127.0.0.1:0', ...sections.graph },
    transfer: { rpc: '127.0.0.1:0', http: '127.0.0.1:0', socket: '', ...sections.transfer },
    api: { http: '127.0.0.1:0', ...sections.api },
    hbs: { rpc: '127.0.0.1:0', http: '127.0.0.1:0', ...sections.hbs },
    judge: { rpc: '127.0.0.1:0', http: '127.0.0.1:0', ...sections.judge },
    alarm: { http: '127.0.0.1:0', ...sections.alarm },
    agent: { http: { listen: '127.0.0.1:0' }, ...sections.agent },
    scrape: { http: '127.0.0.1:0', ...sections.scrape },
    nodata: { http: '127.0.0.1:0', ...sections.nodata },
    aggregator: { http: '127.0.0.1:0', ...sections.aggregator },
    // Only when given: a gateway section makes `start` with no component named run a gateway too.
    ...(sections.gateway === undefined ? {} : { gateway: sections.gateway }),
  }
  const file = join(dir, 'peregrine.json')
  writeFileSync(file, JSON.stringify(config))
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'start', ...components, '-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PEREGRINE_ROOT_PASSWORD: TEST_ROOT_PASSWORD },
  })
  let err = ''
  child.stderr?.setEncoding('utf8')
  await new Promise<void>((ok, fail) => {
    child.stderr?.on('data', (d: string) => {
      err += d
      if (err.includes('Peregrine running')) ok()
    })
    child.once('exit', (code) => fail(new Error(`peregrine exited ${code}: ${err}`)))
  })
  const state = JSON.parse(readFileSync(join(dir, 'data', 'run', 'peregrine.json'), 'utf8')) as {
    addresses: Record<string, Record<string, string>>
  }
  return {
    child,
    addresses: state.addresses,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      // A process killed by a signal has no exit code: it has a signal code.
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve(child.exitCode)
      const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)))
      child.kill(signal)
      return exited
    },
  }
}
