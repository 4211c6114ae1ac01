// Agent benchmark: the cost of one collection cycle of every built-in metric on this host, and the
// agent's memory once steady. Runs the real collectors against /proc and /sys, sampling every second
// between cycles as the agent does, with no transfer (nothing is sent).
//
// Usage: node --expose-gc dist/bench/agent.js [--cycles N]
// Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
import { parseArgs } from 'node:util'
import { defaultAgentConfig, parseAgentConfig, start } from '../src/agent/index.js'
import { silentLogger } from '../src/core/index.js'

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '30' } } })
const cycles = Number(values.cycles)
if (!Number.isInteger(cycles) || cycles < 3 || cycles > 10_000) {
  process.stderr.write('agent bench: --cycles must be an integer from 3 to 10000\n')
  process.exit(2)
}

const config = parseAgentConfig({
  hostname: 'bench-agent',
  heartbeat: { ...defaultAgentConfig.heartbeat, enabled: false },
  transfer: { ...defaultAgentConfig.transfer, enabled: false },
  http: { ...defaultAgentConfig.http, enabled: false },
  // Everything falcon-agent can send, the shipped ignore list aside, so the count is comparable.
  ignore: {},
})
const agent = await start(config, { log: silentLogger, now: Date.now })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
try {
  // Two samples a second apart, as the agent has before its first cycle.
  await sleep(2100)
  const wall: number[] = []
  const cpu: number[] = []
  let metrics = 0
  for (let i = 0; i < cycles; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const r = await agent.collectOnce()
    wall.push(performance.now() - t0)
    const used = process.cpuUsage(c0)
    cpu.push((used.user + used.system) / 1000)
    metrics = r.metrics
    if ((i + 1) % 10 === 0) process.stderr.write(`agent bench: ${i + 1}/${cycles} cycles\n`)
    // Between cycles the 1-second samplers run, as in the agent.
    await sleep(250)
  }
  global.gc?.()
  await sleep(200)
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const names = (await agent.collectOnce()).names
  process.stderr.write(`agent bench: ${names.length} metric names: ${names.join(' ')}\n`)
  process.stdout.write(
    JSON.stringify({
      bench: 'agent',
      collect_cycle_ms_p50: Number(median(wall).toFixed(3)),
      cpu_ms_per_cycle: Number(median(cpu).toFixed(3)),
      rss_mb: Math.round(process.memoryUsage().rss / 1048576),
      heap_mb: Math.round(process.memoryUsage().heapUsed / 1048576),
      metrics_per_cycle: metrics,
      metric_names: names.length,
    }) + '\n'
  )
} finally {
  await agent.stop()
}
