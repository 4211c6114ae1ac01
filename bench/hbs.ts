// Benchmark of hbs: a portal of many hosts with inherited templates, Hbs.GetStrategies and
// Agent.ReportStatus measured over real TCP with falcon's JSON-RPC framing. Server and clients share
// the process: get_strategies_p*_ms include the client's decoding and JSON.parse of the reply,
// get_strategies_last_byte_p*_ms stop at its last byte; rss_peak_mb includes the parsed replies.
//
// Usage: node --expose-gc dist/bench/hbs.js [--hosts N] [--groups N] [--calls N] [--reports N] [--clients N]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { JsonRpcClient, silentLogger } from '../src/core/index.js'
import { defaultHbsConfig, start } from '../src/hbs/index.js'
import { Store } from '../src/store/index.js'

const USAGE =
  'usage: node --expose-gc dist/bench/hbs.js [--hosts N] [--groups N] [--calls N] [--reports N] [--clients N]'
// Strategies per template level: a host's chain is root → mid → leaf, and each mid template
// replaces ROOT_OVERRIDDEN of root's, so a host gets ROOT - ROOT_OVERRIDDEN + MID + LEAF = 50.
const ROOT = 20
const ROOT_OVERRIDDEN = 5
const MID = 20
const LEAF = 15
const MIDS = 10
const WARMUP = 3

function log(message: string): void {
  process.stderr.write(`hbs bench: ${message}\n`)
}

function flags() {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      options: {
        hosts: { type: 'string' },
        groups: { type: 'string' },
        calls: { type: 'string' },
        reports: { type: 'string' },
        clients: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`hbs bench: bad command line: ${(err as Error).message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const int = (name: string, def: number, max: number): number => {
    const raw = values[name]
    if (raw === undefined) return def
    const n = Number(raw)
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < 1 || n > max) {
      process.stderr.write(
        `hbs bench: --${name}: expected an integer from 1 to ${max}, got ${JSON.stringify(raw)}\n`
      )
      process.exit(2)
    }
    return n
  }
  return {
    hosts: int('hosts', 10_000, 1_000_000),
    groups: int('groups', 100, 100_000),
    calls: int('calls', 20, 10_000),
    reports: int('reports', 50_000, 10_000_000),
    clients: int('clients', 8, 256),
  }
}

// Nearest-rank percentile of ascending `sorted`.
function percentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

const round1 = (x: number): number => Math.round(x * 10) / 10

// Writes the portal: templates root ← mid[i] ← leaf[g], group g bound to leaf[g] and to root (a
// chain contained in the other, dropped), hosts spread evenly over the groups.
async function seed(store: Store, hosts: number, groups: number): Promise<void> {
  const db = store.db
  await db.transaction().execute(async (trx) => {
    const tpl = async (name: string, parent: number) =>
      Number(
        (
          await trx
            .insertInto('tpl')
            .values({ tpl_name: name, parent_id: parent, action_id: 1, create_user: 'bench' })
            .executeTakeFirst()
        ).insertId
      )
    const strategies = (tplId: number, metrics: string[]) =>
      trx
        .insertInto('strategy')
        .values(
          metrics.map((m, i) => ({
            metric: m,
            tags: i % 2 === 0 ? `mount=/data${i}` : '',
            func: 'all(#3)',
            op: '>=',
            right_value: String(80 + (i % 20)),
            max_step: 3,
            priority: i % 6,
            note: `${m} is high`,
            tpl_id: tplId,
          }))
        )
        .execute()
    const root = await tpl('root', 0)
    const rootMetrics = Array.from({ length: ROOT }, (_, i) => `root.metric.${i}`)
    await strategies(root, rootMetrics)
    const mids: number[] = []
    for (let m = 0; m < MIDS; m++) {
      const id = await tpl(`mid-${m}`, root)
      mids.push(id)
      await strategies(id, [
        ...rootMetrics.slice(0, ROOT_OVERRIDDEN),
        ...Array.from({ length: MID - ROOT_OVERRIDDEN }, (_, i) => `mid.metric.${m}.${i}`),
      ])
    }
    const grpIds: number[] = []
    for (let g = 0; g < groups; g++) {
      const leaf = await tpl(`leaf-${g}`, mids[g % MIDS])
      await strategies(
        leaf,
        Array.from({ length: LEAF }, (_, i) => `leaf.metric.${g}.${i}`)
      )
      const gid = Number(
        (
          await trx
            .insertInto('grp')
            .values({ grp_name: `group-${g}` })
            .executeTakeFirst()
        ).insertId
      )
      grpIds.push(gid)
      await trx
        .insertInto('grp_tpl')
        .values([
          { grp_id: gid, tpl_id: leaf },
          { grp_id: gid, tpl_id: root },
        ])
        .execute()
      await trx
        .insertInto('plugin_dir')
        .values({ grp_id: gid, dir: `plugins/group-${g}` })
        .execute()
    }
    const BATCH = 500
    for (let h = 0; h < hosts; h += BATCH) {
      const n = Math.min(BATCH, hosts - h)
      await trx
        .insertInto('host')
        .values(
          Array.from({ length: n }, (_, i) => ({
            hostname: `host-${String(h + i).padStart(6, '0')}`,
            ip: '10.0.0.1',
          }))
        )
        .execute()
    }
    const ids = await trx.selectFrom('host').select('id').orderBy('id').execute()
    for (let h = 0; h < ids.length; h += BATCH) {
      await trx
        .insertInto('grp_host')
        .values(
          ids
            .slice(h, h + BATCH)
            .map((r, i) => ({ grp_id: grpIds[(h + i) % groups], host_id: r.id }))
        )
        .execute()
    }
  })
}

// Time to the last byte of one GetStrategies reply on a raw socket (no parsing): server plus transfer.
function rawCall(address: string): Promise<{ ms: number; bytes: number }> {
  const colon = address.lastIndexOf(':')
  return new Promise((resolve, reject) => {
    const socket = connect(Number(address.slice(colon + 1)), address.slice(0, colon))
    let bytes = 0
    let started = 0
    socket.once('connect', () => {
      started = performance.now()
      socket.write('{"method":"Hbs.GetStrategies","params":[{}],"id":1}\n')
    })
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      // JSON text holds no raw newline: the one at the end of a chunk ends the reply.
      if (chunk[chunk.length - 1] === 0x0a) {
        const ms = performance.now() - started
        socket.destroy()
        resolve({ ms, bytes })
      }
    })
    socket.on('error', reject)
  })
}

async function main(): Promise<void> {
  const f = flags()
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-bench-hbs-'))
  const url = `sqlite:${join(dir, 'portal.db')}`
  let rssPeak = 0
  const sampleRss = () => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
  }
  const rssTimer = setInterval(sampleRss, 50)
  rssTimer.unref()
  try {
    log(`seeding ${f.hosts} hosts in ${f.groups} groups (${url})`)
    const seeding = await Store.open(url, silentLogger)
    let t0 = performance.now()
    await seed(seeding, f.hosts, f.groups)
    await seeding.close()
    log(`seeded in ${Math.round(performance.now() - t0)} ms`)

    const hbs = await start(
      {
        ...defaultHbsConfig,
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        store: url,
        refreshInterval: 3_600_000,
      },
      { log: { info: log, warn: log, error: log }, now: Date.now }
    )
    try {
      type Counters = {
        data: { snapshot: { buildMs: number; strategySets: number; getStrategiesBytes: number } }
      }
      const snapshotNow = async () =>
        ((await (await fetch(`http://${hbs.addresses.http}/counter/all`)).json()) as Counters).data
          .snapshot
      // Cold: a strategy edited before each refresh, so every template set is recomputed. Steady:
      // nothing changed, the serialised sets are reused and only hosts are gone over again.
      const editor = await Store.open(url, silentLogger)
      const cold: number[] = []
      const coldBuild: number[] = []
      const steady: number[] = []
      const steadyBuild: number[] = []
      for (let i = 0; i < 5; i++) {
        await editor.db
          .updateTable('strategy')
          .set({ note: `edit ${i}` })
          .where('id', '=', 1)
          .execute()
        t0 = performance.now()
        if (!(await hbs.refresh())) throw new Error('refresh failed')
        cold.push(performance.now() - t0)
        coldBuild.push((await snapshotNow()).buildMs)
        t0 = performance.now()
        if (!(await hbs.refresh())) throw new Error('refresh failed')
        steady.push(performance.now() - t0)
        steadyBuild.push((await snapshotNow()).buildMs)
      }
      await editor.close()
      for (const a of [cold, coldBuild, steady, steadyBuild]) a.sort((x, y) => x - y)
      // The server's own footprint, before any client holds a parsed reply.
      globalThis.gc?.()
      const rssServer = process.memoryUsage.rss()
      const heapServer = process.memoryUsage().heapUsed
      const snap = await snapshotNow()
      log(
        `snapshot: ${snap.strategySets} template sets, reply ${(snap.getStrategiesBytes / 1e6).toFixed(1)} MB; ` +
          `refresh after a change p50 ${round1(percentile(cold, 0.5))} ms (build ${round1(percentile(coldBuild, 0.5))} ms), ` +
          `unchanged p50 ${round1(percentile(steady, 0.5))} ms (build ${round1(percentile(steadyBuild, 0.5))} ms)`
      )

      const client = new JsonRpcClient(hbs.addresses.rpc, {
        callTimeout: 120_000,
        maxResponseBytes: 1 << 30,
      })
      type Reply = { hostStrategies: { hostname: string; strategies: unknown[] }[] }
      let sink = 0
      for (let i = 0; i < WARMUP; i++)
        sink += (await client.call<Reply>('Hbs.GetStrategies', {})).hostStrategies.length
      const full: number[] = []
      let perHost = 0
      for (let i = 0; i < f.calls; i++) {
        t0 = performance.now()
        const r = await client.call<Reply>('Hbs.GetStrategies', {})
        full.push(performance.now() - t0)
        sink += r.hostStrategies.length
        perHost = r.hostStrategies[0]?.strategies.length ?? 0
        if (r.hostStrategies.length !== f.hosts) {
          throw new Error(
            `GetStrategies sent ${r.hostStrategies.length} hosts, expected ${f.hosts}`
          )
        }
      }
      full.sort((a, b) => a - b)
      log(
        `GetStrategies with JSON.parse: p50 ${round1(percentile(full, 0.5))} ms, p99 ${round1(percentile(full, 0.99))} ms, ${perHost} strategies per host`
      )
      const raw: number[] = []
      let replyBytes = 0
      for (let i = 0; i < WARMUP + f.calls; i++) {
        const r = await rawCall(hbs.addresses.rpc)
        if (i >= WARMUP) raw.push(r.ms)
        replyBytes = r.bytes
      }
      raw.sort((a, b) => a - b)
      log(
        `GetStrategies to the last byte: p50 ${round1(percentile(raw, 0.5))} ms, p99 ${round1(percentile(raw, 0.99))} ms`
      )

      // ReportStatus: every host's first report (a row write each), then unchanged reports (memory only).
      const clients = Array.from({ length: f.clients }, () => new JsonRpcClient(hbs.addresses.rpc))
      const reportAll = async (count: number, ip: string) => {
        let next = 0
        const started = performance.now()
        await Promise.all(
          clients.map(async (c) => {
            while (next < count) {
              const i = next++
              const r = await c.call<{ code: number }>('Agent.ReportStatus', {
                Hostname: `host-${String(i % f.hosts).padStart(6, '0')}`,
                IP: ip,
                AgentVersion: '5.1.2',
                PluginVersion: 'plugin not enabled',
              })
              sink += r.code
            }
          })
        )
        return count / ((performance.now() - started) / 1000)
      }
      const firstPerS = await reportAll(f.hosts, '10.0.0.2')
      log(`ReportStatus, first report of each host (row written): ${Math.round(firstPerS)} calls/s`)
      const steadyPerS = await reportAll(f.reports, '10.0.0.2')
      log(`ReportStatus, unchanged reports: ${Math.round(steadyPerS)} calls/s`)
      for (const c of clients) c.close()
      client.close()
      sampleRss()
      if (sink < 0) log('unreachable')
      console.log(
        JSON.stringify({
          bench: 'hbs',
          hosts: f.hosts,
          groups: f.groups,
          strategies_per_host: perHost,
          template_sets: snap.strategySets,
          get_strategies_reply_mb: round1(replyBytes / 1e6),
          get_strategies_p50_ms: round1(percentile(full, 0.5)),
          get_strategies_p99_ms: round1(percentile(full, 0.99)),
          get_strategies_last_byte_p50_ms: round1(percentile(raw, 0.5)),
          get_strategies_last_byte_p99_ms: round1(percentile(raw, 0.99)),
          snapshot_refresh_changed_p50_ms: round1(percentile(cold, 0.5)),
          snapshot_build_changed_p50_ms: round1(percentile(coldBuild, 0.5)),
          snapshot_refresh_unchanged_p50_ms: round1(percentile(steady, 0.5)),
          snapshot_build_unchanged_p50_ms: round1(percentile(steadyBuild, 0.5)),
          report_status_first_per_s: Math.round(firstPerS),
          report_status_steady_per_s: Math.round(steadyPerS),
          rss_after_snapshot_mb: Math.round(rssServer / 1024 ** 2),
          heap_after_snapshot_mb: Math.round(heapServer / 1024 ** 2),
          rss_peak_mb: Math.round(rssPeak / 1024 ** 2),
          node: process.version,
        })
      )
    } finally {
      await hbs.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `hbs bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
  )
  process.exit(1)
})
