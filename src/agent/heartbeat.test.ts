import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger, type RpcCaller } from '../core/index.js'
import type { BuiltinItems } from './collector.js'
import { Heartbeat } from './heartbeat.js'

// An hbs whose replies a test scripts: each method answers the next of its list (the last repeats).
function scriptedHbs(replies: Record<string, unknown[]>): RpcCaller {
  return {
    call<T>(method: string): Promise<T> {
      const list = replies[method] ?? [null]
      const next = list.length > 1 ? list.shift() : list[0]
      return Promise.resolve(next as T)
    },
    close: () => undefined,
  }
}

describe('Heartbeat with a bad hbs', () => {
  it('ignores null and odd-typed replies instead of throwing', async () => {
    const hbs = scriptedHbs({
      'Agent.ReportStatus': [null],
      'Agent.BuiltinMetrics': [
        null,
        { Metrics: { port: 22 }, Checksum: 'c0', Timestamp: 1 },
        { Metrics: null, Checksum: 7, Timestamp: 2 },
        {
          Metrics: [
            null,
            { Metric: 1, Tags: 'port=1' },
            { Metric: 'net.port.listen', Tags: null },
            { Metric: 'net.port.listen', Tags: 'port=22' },
          ],
          Checksum: 'c1',
          Timestamp: 3,
        },
      ],
      'Agent.MinePlugins': [
        null,
        { Plugins: 'sys/ntp', Timestamp: 1 },
        { Plugins: [1, null, 'sys/ntp'], Timestamp: 2 },
      ],
      'Agent.TrustableIps': [null, 42, '10.0.0.1'],
    })
    const builtin: BuiltinItems[] = []
    const plugins: string[][] = []
    const ips: string[][] = []
    const hb = new Heartbeat({
      addr: 'hbs:6030',
      interval: 60,
      timeout: 1000,
      hostname: () => 'h1',
      ip: () => '10.0.0.9',
      pluginVersion: () => 'plugin not enabled',
      log: silentLogger,
      onBuiltinItems: (items) => builtin.push(items),
      onPlugins: (p) => plugins.push(p),
      onTrustableIps: (list) => ips.push(list),
      dial: () => hbs,
    })
    for (let i = 0; i < 4; i++) await hb.syncNow()
    hb.stop()
    assert.deepEqual(
      builtin.map((b) => b.ports),
      [[22]]
    )
    assert.deepEqual(plugins, [['sys/ntp']])
    assert.deepEqual(ips, [['10.0.0.1'], ['10.0.0.1']])
  })
})
