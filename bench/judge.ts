// Benchmark of judge: how many points a judge evaluates per second on one core, and how long a point
// that crosses a strategy takes to become an event someone can pop from the queue (in process, and
// through Redis when it is reachable).
//
// Throughput: --series series (hosts × 10 metrics), each matched by --strategies strategies (falcon
// functions all/max/min/sum/avg/diff/pdiff/lookup/stddev over 1..5 points, with thresholds random
// values cross rarely), fed in Judge.Send batches of 1,000 GAUGE points for --seconds.
// Latency: --events points, each one flipping a strategy between PROBLEM and OK, timed from Judge.Send
// to the event's pop by a consumer waiting on the queue (memoryQueue; redisQueue on --redis), and from
// an HTTP push to a real transfer (with a real graph) to the event's pop (the all-in-one's path).
//
// Usage: node dist/bench/judge.js [--series N] [--strategies N] [--seconds N] [--events N] [--redis URL]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import {
  type HostStrategies,
  JsonRpcClient,
  type JudgeItem,
  silentLogger,
  type Strategy,
} from '../src/core/index.js'
import { start as startGraph, parseGraphConfig } from '../src/graph/index.js'
import {
  JudgeEngine,
  parseJudgeConfig,
  readState,
  restoreInto,
  StateFile,
  start as startJudge,
} from '../src/judge/index.js'
import { parseTransferConfig, start as startTransfer } from '../src/transfer/index.js'
import { memoryQueue, type Queue, redisQueue } from '../src/queue/index.js'

const USAGE =
  'usage: node dist/bench/judge.js [--series N] [--strategies N] [--seconds N] [--events N] [--redis URL]'
const METRICS = 10
const BATCH = 1000
// Functions and thresholds that values drawn uniformly from 0..100 cross rarely, as in a healthy fleet.
const FUNCS: [string, string, number][] = [
  ['all(#3)', '>', 95],
  ['max(#5)', '>', 100],
  ['min(#5)', '<', 2],
  ['sum(#4)', '>', 390],
  ['avg(#5)', '>', 95],
  ['diff(#3)', '>', 98],
  ['pdiff(#3)', '>', 9000],
  ['lookup(#2,5)', '>', 99],
  ['stddev(#5)', '', 3],
  ['all(#1)', '>', 100],
]

function log(message: string): void {
  process.stderr.write(`judge bench: ${message}\n`)
}

function flags() {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      options: {
        series: { type: 'string' },
        strategies: { type: 'string' },
        seconds: { type: 'string' },
        events: { type: 'string' },
        redis: { type: 'string' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    process.exit(2)
  }
  const int = (name: string, dflt: number) => {
    const v = values[name]
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isInteger(n) || n <= 0) {
      process.stderr.write(`--${name}: expected a positive integer, got ${String(v)}\n${USAGE}\n`)
      process.exit(2)
    }
    return n
  }
  return {
    series: int('series', 10_000),
    strategies: int('strategies', 20),
    seconds: int('seconds', 5),
    events: int('events', 2000),
    redis: typeof values.redis === 'string' ? values.redis : 'redis://127.0.0.1:6379',
  }
}

const tpl = { id: 1, name: 'bench', parentId: 0, actionId: 1, creator: 'root' }

/** rules: every host gets `perSeries` strategies on each of its METRICS metrics. */
function rules(hosts: number, perSeries: number): HostStrategies[] {
  const strategies: Strategy[] = []
  let id = 1
  for (let m = 0; m < METRICS; m++) {
    for (let k = 0; k < perSeries; k++) {
      const [func, operator, rightValue] = FUNCS[k % FUNCS.length]
      strategies.push({
        id: id++,
        metric: `bench.m${m}`,
        tags: {},
        func,
        operator,
        rightValue,
        maxStep: 3,
        priority: k % 7,
        note: '',
        tpl,
      })
    }
  }
  const out: HostStrategies[] = []
  for (let h = 0; h < hosts; h++) out.push({ hostname: `host-${h}`, strategies })
  return out
}

/** LATENCY_RULES: one strategy that a value above 50 triggers and one below clears, never muted. */
const LATENCY_RULES: HostStrategies[] = [
  {
    hostname: 'lat',
    strategies: [
      {
        id: 1,
        metric: 'lat.m',
        tags: {},
        func: 'all(#1)',
        operator: '>',
        rightValue: 50,
        maxStep: 1_000_000,
        priority: 0,
        note: '',
        tpl,
      },
    ],
  },
]

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * throughput judges pre-built batches for `seconds`; with `stateDir`, the engine writes its last
 * events to a StateFile there (judge's default), and the result adds what a snapshot of every series
 * and a restore of it cost.
 */
async function throughput(series: number, perSeries: number, seconds: number, stateDir?: string) {
  const hosts = Math.ceil(series / METRICS)
  let events = 0
  const state =
    stateDir === undefined ? undefined : new StateFile(stateDir, 0, silentLogger, () => undefined)
  const engine = new JudgeEngine({
    remain: 11,
    minInterval: 300,
    queuePattern: 'event:p%v',
    log: silentLogger,
    journal: state,
    emit: () => {
      events++
    },
  })
  const t0 = performance.now()
  engine.setRules(rules(hosts, perSeries), [])
  log(
    `rules: ${engine.rules.strategyCount} strategies, ${engine.rules.bindingCount} bindings, indexed in ${Math.round(performance.now() - t0)} ms`
  )
  // Pre-built batches: the bench measures judging, not building objects.
  const batches: JudgeItem[][] = []
  let batch: JudgeItem[] = []
  let x = 12345
  for (let h = 0; h < hosts; h++) {
    for (let m = 0; m < METRICS; m++) {
      batch.push({
        endpoint: `host-${h}`,
        metric: `bench.m${m}`,
        value: 0,
        timestamp: 0,
        judgeType: 'GAUGE',
        tags: {},
      })
      if (batch.length === BATCH) {
        batches.push(batch)
        batch = []
      }
    }
  }
  if (batch.length > 0) batches.push(batch)
  let ts = 1_700_000_000
  let points = 0
  const round = () => {
    ts += 60
    for (const b of batches) {
      for (const item of b) {
        x = (x * 1103515245 + 12345) & 0x7fffffff
        item.value = x % 101
        item.timestamp = ts
      }
      engine.send(b, ts)
      points += b.length
    }
  }
  // Warm-up: fill every ring so every strategy has enough points, then measure.
  for (let i = 0; i < 6; i++) round()
  points = 0
  events = 0
  const evaluations0 = engine.counters.evaluations
  const started = performance.now()
  let rounds = 0
  while (performance.now() - started < seconds * 1000) {
    round()
    rounds++
  }
  const elapsed = (performance.now() - started) / 1000
  const evaluations = engine.counters.evaluations - evaluations0
  log(
    `${points} points in ${elapsed.toFixed(2)} s (${rounds} rounds), ${evaluations} evaluations, ${events} events${state === undefined ? '' : ', state kept'}`
  )
  const out = {
    points_per_s: Math.round(points / elapsed),
    evaluations_per_s: Math.round(evaluations / elapsed),
    series: engine.series.count,
    strategies: engine.rules.strategyCount,
    strategy_bindings: engine.rules.bindingCount,
    strategies_per_series: perSeries,
    events_per_s: Math.round(events / elapsed),
  }
  if (state === undefined || stateDir === undefined) return { ...out, state: null }
  const logBytes = state.counters.logBytes
  const snapStart = performance.now()
  await state.snapshot(engine.series)
  const snapshotMs = performance.now() - snapStart
  await state.close(engine.series)
  const restoreStart = performance.now()
  const read = readState(stateDir)
  const fresh = new JudgeEngine({
    remain: 11,
    minInterval: 300,
    queuePattern: 'event:p%v',
    log: silentLogger,
    emit: () => undefined,
  })
  restoreInto(fresh.series, read.series.values())
  const restoreMs = performance.now() - restoreStart
  if (fresh.series.count !== engine.series.count || read.problems.length > 0)
    throw new Error(`restored ${fresh.series.count} series of ${engine.series.count}`)
  log(
    `state: log ${logBytes} bytes; snapshot of ${engine.series.count} series ${state.counters.snapshotBytes} bytes in ${snapshotMs.toFixed(1)} ms; restored in ${restoreMs.toFixed(1)} ms`
  )
  return {
    ...out,
    state: {
      log_bytes_per_event: Number(((logBytes - 16) / Math.max(1, events)).toFixed(1)),
      snapshot_ms: Number(snapshotMs.toFixed(1)),
      snapshot_bytes: state.counters.snapshotBytes,
      restore_ms: Number(restoreMs.toFixed(1)),
    },
  }
}

/** latency: each point flips one strategy between PROBLEM and OK; timed until a consumer pops it. */
async function latency(queue: Queue, events: number) {
  const sentAt: number[] = []
  const engine = new JudgeEngine({
    remain: 11,
    minInterval: 0,
    queuePattern: 'event:p%v',
    log: silentLogger,
    emit: (list, payload) => {
      void queue.push(list, payload)
    },
  })
  engine.setRules(LATENCY_RULES, [])
  const samples: number[] = []
  const consumer = (async () => {
    while (samples.length < events) {
      const got = await queue.pop(['event:p0'], 5000)
      if (got === undefined) throw new Error('no event within 5 s')
      samples.push(performance.now() - sentAt[samples.length])
    }
  })()
  let ts = 1_700_000_000
  for (let i = 0; i < events; i++) {
    ts += 60
    sentAt.push(performance.now())
    engine.send(
      [
        {
          endpoint: 'lat',
          metric: 'lat.m',
          value: i % 2 === 0 ? 90 : 10,
          timestamp: ts,
          judgeType: 'GAUGE',
          tags: {},
        },
      ],
      ts
    )
    // One event at a time: the latency of an event, not of a queue drained in bulk.
    while (samples.length <= i) await new Promise((r) => setImmediate(r))
  }
  await consumer
  samples.sort((a, b) => a - b)
  return {
    p50: Number(percentile(samples, 50).toFixed(3)),
    p99: Number(percentile(samples, 99).toFixed(3)),
  }
}

/**
 * latencyThroughTransfer: the all-in-one's path, timed from an HTTP push to transfer until alarm's
 * side could pop the event: transfer parses and routes the point, judge (reached in process, as the
 * runner wires it) judges it and queues the event. Graph is real (WAL with fdatasync) but not waited on
 * by judge's path.
 */
async function latencyThroughTransfer(events: number) {
  const dir = mkdtempSync(join(tmpdir(), 'pg-judge-bench-e2e-'))
  const deps = { log: silentLogger, now: Date.now }
  const graph = await startGraph(
    parseGraphConfig({ rpc: '127.0.0.1:0', http: '127.0.0.1:0', dataDir: join(dir, 'graph') }),
    deps
  )
  const queue = memoryQueue()
  const judge = await startJudge(
    parseJudgeConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      hbs: ['127.0.0.1:1'],
      minInterval: 0,
      spillDir: join(dir, 'judge'),
    }),
    deps,
    { queue }
  )
  judge.engine.setRules(LATENCY_RULES, [])
  const transfer = await startTransfer(
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '',
      graphCluster: { 'graph-00': graph.addresses.rpc },
      judgeCluster: { 'judge-00': judge.addresses.rpc },
    }),
    {
      ...deps,
      dial: (address, options) =>
        address === judge.addresses.rpc && judge.local !== undefined
          ? judge.local
          : new JsonRpcClient(address, options),
    }
  )
  const samples: number[] = []
  let ts = Math.floor(Date.now() / 1000 / 60) * 60 - events * 60
  try {
    for (let i = 0; i < events; i++) {
      ts += 60
      const body = JSON.stringify([
        {
          endpoint: 'lat',
          metric: 'lat.m',
          value: i % 2 === 0 ? 90 : 10,
          timestamp: ts,
          step: 60,
          counterType: 'GAUGE',
          tags: '',
        },
      ])
      const started = performance.now()
      const popped = queue.pop(['event:p0'], 5000)
      const pushed = fetch(`http://${transfer.addresses.http}/api/push`, { method: 'POST', body })
      if ((await popped) === undefined) throw new Error('no event within 5 s')
      samples.push(performance.now() - started)
      await (await pushed).text()
    }
  } finally {
    await transfer.stop()
    await judge.stop()
    await graph.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  samples.sort((a, b) => a - b)
  return {
    p50: Number(percentile(samples, 50).toFixed(3)),
    p99: Number(percentile(samples, 99).toFixed(3)),
  }
}

async function main() {
  const f = flags()
  log(`${f.series} series × ${f.strategies} strategies each, ${f.seconds} s`)
  const plain = await throughput(f.series, f.strategies, f.seconds)
  const t = { ...plain, state: undefined }
  log(`${t.points_per_s} points/s`)
  const stateDir = mkdtempSync(join(tmpdir(), 'pg-judge-bench-state-'))
  let withState
  try {
    withState = await throughput(f.series, f.strategies, f.seconds, stateDir)
  } finally {
    rmSync(stateDir, { recursive: true, force: true })
  }
  log(`${withState.points_per_s} points/s with the state kept`)
  const inProcess = await latency(memoryQueue(), f.events)
  log(`in process: event latency p50 ${inProcess.p50} ms, p99 ${inProcess.p99} ms`)
  const e2e = await latencyThroughTransfer(Math.min(f.events, 1000))
  log(`HTTP push → transfer → judge → queue: p50 ${e2e.p50} ms, p99 ${e2e.p99} ms`)
  let viaRedis: { p50: number; p99: number } | null = null
  const dir = mkdtempSync(join(tmpdir(), 'pg-judge-bench-'))
  const q = redisQueue({
    url: f.redis,
    spillDir: dir,
    log: silentLogger,
    keyPrefix: `bench-${process.pid}:`,
  })
  try {
    await q.push('probe', 'x')
    if (await q.pop(['probe'], 2000)) {
      viaRedis = await latency(q, f.events)
      log(`through Redis: event latency p50 ${viaRedis.p50} ms, p99 ${viaRedis.p99} ms`)
    }
  } catch (err) {
    log(`Redis at ${f.redis} not usable (${(err as Error).message}); skipping its latency`)
  } finally {
    await q.close()
    rmSync(dir, { recursive: true, force: true })
  }
  console.log(
    JSON.stringify({
      bench: 'judge',
      ...t,
      // The same run with judge's state log written (one write per Judge.Send with events).
      points_per_s_state: withState.points_per_s,
      events_per_s_state: withState.events_per_s,
      state_log_bytes_per_event: withState.state?.log_bytes_per_event,
      state_snapshot_ms: withState.state?.snapshot_ms,
      state_snapshot_bytes: withState.state?.snapshot_bytes,
      state_restore_ms: withState.state?.restore_ms,
      event_latency_p50_ms: inProcess.p50,
      event_latency_p99_ms: inProcess.p99,
      push_to_event_latency_p50_ms: e2e.p50,
      push_to_event_latency_p99_ms: e2e.p99,
      redis_event_latency_p50_ms: viaRedis?.p50 ?? null,
      redis_event_latency_p99_ms: viaRedis?.p99 ?? null,
    })
  )
}

void main()
