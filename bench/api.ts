// Config API benchmark: write-read round trips through /api/v1 over real HTTP, on the api started in
// this process with a fresh store (SQLite by default, or --store mysql://…).
//
// Usage: node dist/bench/api.js [--rounds N] [--store URL]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { defaultApiConfig, start } from '../src/api/index.js'
import { silentLogger } from '../src/core/index.js'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2000' },
    store: { type: 'string' },
  },
})
const rounds = Number(values.rounds)
if (!Number.isInteger(rounds) || rounds < 10 || rounds > 1_000_000) {
  process.stderr.write(`api bench: --rounds must be an integer from 10 to 1000000\n`)
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'pg-bench-api-'))
const store = values.store ?? `sqlite:${join(dir, 'portal.db')}`
process.env.PEREGRINE_ROOT_PASSWORD = 'bench-root-password'
const api = await start(
  { ...defaultApiConfig, http: '127.0.0.1:0', store, loginAttempts: 1000 },
  { log: silentLogger, now: Date.now }
)
const base = `http://${api.addresses.http}/api/v1`

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = (await res.json()) as Record<string, unknown>
  if (res.status !== 200)
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

function percentiles(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(3))
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) }
}

try {
  const login = await fetch(`${base}/user/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'root', password: 'bench-root-password' }),
  })
  const { sig } = (await login.json()) as { sig: string }
  const token = JSON.stringify({ name: 'root', sig })
  const runId = Date.now().toString(36)
  // Warm up the connection, the JIT and the statement caches.
  for (let i = 0; i < 50; i++) {
    const g = await call('POST', '/hostgroup', token, { name: `warm-${runId}-${i}` })
    await call('GET', `/hostgroup/${String(g.id)}`, token)
  }
  const roundTrip: number[] = []
  const writes: number[] = []
  const reads: number[] = []
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    const g = await call('POST', '/hostgroup', token, { name: `g-${runId}-${i}` })
    const t1 = performance.now()
    const back = await call('GET', `/hostgroup/${String(g.id)}`, token)
    const t2 = performance.now()
    if ((back.hostgroup as { grp_name: string }).grp_name !== `g-${runId}-${i}`) {
      throw new Error(`read back the wrong group: ${JSON.stringify(back)}`)
    }
    writes.push(t1 - t0)
    reads.push(t2 - t1)
    roundTrip.push(t2 - t0)
    if ((i + 1) % 500 === 0) process.stderr.write(`api bench: ${i + 1}/${rounds} rounds\n`)
  }
  const rt = percentiles(roundTrip)
  const w = percentiles(writes)
  const r = percentiles(reads)
  process.stdout.write(
    JSON.stringify({
      engine: store.split(':')[0],
      rounds,
      write_read_p50_ms: rt.p50,
      write_read_p90_ms: rt.p90,
      write_read_p99_ms: rt.p99,
      write_p50_ms: w.p50,
      write_p99_ms: w.p99,
      read_p50_ms: r.p50,
      read_p99_ms: r.p99,
    }) + '\n'
  )
} finally {
  await api.stop()
  rmSync(dir, { recursive: true, force: true })
}
