import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LastPoint } from '../cluster/index.js'
import { type MetricValue, silentLogger } from '../core/index.js'
import type { RuleSet, Watch } from './rules.js'
import { NodataWatcher } from './watcher.js'
import { timeoutOf } from './config.js'

const T0 = 1_800_000_000_000

function watch(endpoint: string, over: Partial<Watch> = {}): Watch {
  return {
    key: `${endpoint}/agent.alive`,
    endpoint,
    metric: 'agent.alive',
    tags: '',
    counter: 'agent.alive',
    step: 60,
    mock: -1,
    ruleId: 1,
    ruleName: 'alive',
    objType: 'host',
    ...over,
  }
}

function rules(ws: Watch[], maintenance: RuleSet['maintenance'] = new Map()): RuleSet {
  return {
    watches: new Map(ws.map((w) => [w.key, w])),
    maintenance,
    groups: new Map(),
    skipped: [],
    rules: 1,
  }
}

/**
 * A graph of one node, on the same clock: `arrive` records a point as Graph.LastMany would report it
 * (its arrival, its own timestamp and value); `down` makes it not answer.
 */
function harness(defaults = { timeoutFloor: 180, timeoutSteps: 3 }) {
  let now = T0
  const last = new Map<string, { at: number; t: number; v: number }>()
  const pushed: MetricValue[] = []
  let down = false
  const w = new NodataWatcher({
    timeoutOf: (step) => timeoutOf(step, defaults),
    now: () => now,
    log: silentLogger,
    push: (ps) => {
      for (const p of ps) {
        pushed.push(p)
        // The mock goes through transfer into graph: it arrives, as any point.
        last.set(`${p.endpoint}/${p.metric}`, { at: now, t: p.timestamp, v: p.value })
      }
    },
    read: (ws) => {
      if (down)
        return Promise.resolve({ points: ws.map(() => undefined), failures: ['graph-00: down'] })
      return Promise.resolve({
        points: ws.map((x): LastPoint | null => {
          const a = last.get(x.key)
          if (a === undefined) return null
          return {
            timestamp: a.t,
            value: a.v,
            arrivedAt: a.at,
            arrivedTimestamp: a.t,
            arrivedValue: a.v,
            age: now - a.at,
          }
        }),
        failures: [],
      })
    },
  })
  // Runs every look due up to `until`, in time order, as the service's timer does.
  const runUntil = async (until: number) => {
    for (;;) {
      const next = w.nextCheckAt()
      if (next > until) break
      now = Math.max(now, next)
      await w.look()
    }
    now = until
  }
  return {
    w,
    pushed,
    last,
    get now() {
      return now
    },
    set down(v: boolean) {
      down = v
    },
    arrive: (key: string, t: number, v: number) => last.set(key, { at: now, t, v }),
    runUntil,
  }
}

describe('NodataWatcher', () => {
  it('pushes one mock one timeout after the last point arrived, stamped as falcon, one per step after', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1')]))
    h.arrive('h1/agent.alive', T0 / 1000, 1)
    await h.runUntil(T0 + 179_000)
    assert.equal(h.pushed.length, 0)
    assert.equal(h.w.state('h1/agent.alive')?.status, 'OK')
    await h.runUntil(T0 + 180_000)
    assert.equal(h.pushed.length, 1, 'exactly at the timeout')
    const nowS = T0 / 1000 + 180
    assert.deepEqual(h.pushed[0], {
      endpoint: 'h1',
      metric: 'agent.alive',
      value: -1,
      step: 60,
      counterType: 'GAUGE',
      tags: '',
      timestamp: nowS - (nowS % 60) - 120,
    })
    const s = h.w.state('h1/agent.alive')
    assert.equal(s?.status, 'NODATA')
    assert.match(s?.last?.reason ?? '', /no point arrived for 180 s/)
    // Silence goes on: one more mock per step, each with its own timestamp.
    await h.runUntil(T0 + 180_000 + 3 * 60_000)
    const ts = h.pushed.map((p) => p.timestamp)
    assert.equal(new Set(ts).size, ts.length)
    assert.equal(h.pushed.length, 4)
    for (let i = 1; i < ts.length; i++) assert.equal(ts[i] - ts[i - 1], 60)
    // The host comes back: OK at the next look, no more mocks.
    for (let i = 0; i < 10; i++) {
      h.arrive('h1/agent.alive', h.now / 1000, 1)
      await h.runUntil(h.now + 60_000)
    }
    assert.equal(h.pushed.length, 4)
    assert.equal(h.w.state('h1/agent.alive')?.status, 'OK')
    assert.deepEqual(
      h.w.transitions.map((t) => [t.from, t.to]),
      [
        ['PENDING', 'OK'],
        ['OK', 'NODATA'],
        ['NODATA', 'OK'],
      ]
    )
  })

  it("judges by arrival: a sender's clock behind, or a late point, does not make a live series silent", async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1')]))
    // The agent's clock is an hour behind, and its points keep arriving every minute.
    for (let i = 0; i < 10; i++) {
      h.arrive('h1/agent.alive', (h.now - 3_600_000) / 1000, 1)
      await h.runUntil(h.now + 60_000)
    }
    assert.equal(h.pushed.length, 0)
    assert.equal(h.w.state('h1/agent.alive')?.status, 'OK')
  })

  it('is not kept alive by a clock ahead: it stops, the mock comes one timeout later', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1')]))
    h.arrive('h1/agent.alive', (h.now + 3_600_000) / 1000, 1)
    await h.runUntil(T0 + 180_000)
    assert.equal(h.pushed.length, 1)
  })

  it('mocks a series never seen one timeout after watching began, not at once', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1')]))
    await h.runUntil(T0 + 179_000)
    assert.equal(h.pushed.length, 0)
    assert.equal(h.w.state('h1/agent.alive')?.status, 'PENDING')
    await h.runUntil(T0 + 180_000)
    assert.equal(h.pushed.length, 1)
  })

  it('takes a last point with the mock value for a mock (a restarted nodata goes on at once)', async () => {
    const h = harness()
    h.arrive('h1/agent.alive', T0 / 1000 - 120, -1)
    h.w.setRules(rules([watch('h1')]))
    await h.runUntil(T0 + 1000)
    assert.equal(h.pushed.length, 1)
    assert.match(h.w.state('h1/agent.alive')?.last?.reason ?? '', /mock value/)
  })

  it('pushes nothing for a host in maintenance, and mocks once the window closes', async () => {
    const h = harness()
    const end = T0 / 1000 + 600
    h.w.setRules(
      rules(
        [watch('h1')],
        new Map([['h1', { id: 1, hostname: 'h1', maintainBegin: T0 / 1000 - 1, maintainEnd: end }]])
      )
    )
    await h.runUntil(T0 + 599_000)
    assert.equal(h.pushed.length, 0)
    assert.equal(h.w.state('h1/agent.alive')?.status, 'MAINTENANCE')
    await h.runUntil(T0 + 602_000)
    assert.equal(h.pushed.length, 1)
  })

  it('does not judge a series whose graph node did not answer, and judges it again', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1')]))
    h.down = true
    await h.runUntil(T0 + 200_000)
    assert.equal(h.pushed.length, 0)
    assert.match(h.w.state('h1/agent.alive')?.last?.reason ?? '', /graph did not answer/)
    h.down = false
    await h.runUntil(T0 + 206_000)
    assert.equal(h.pushed.length, 1)
  })

  it('uses 3 × step past 60 s, the floor below', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1', { step: 120 })]))
    h.arrive('h1/agent.alive', T0 / 1000, 1)
    await h.runUntil(T0 + 359_000)
    assert.equal(h.pushed.length, 0)
    await h.runUntil(T0 + 360_000)
    assert.equal(h.pushed.length, 1)
    assert.equal(timeoutOf(10, { timeoutFloor: 180, timeoutSteps: 3 }), 180)
    assert.equal(timeoutOf(10, { timeoutFloor: 0, timeoutSteps: 3 }), 30)
  })

  it('forgets a series its rule no longer names, and rejudges one whose rule changed', async () => {
    const h = harness()
    h.w.setRules(rules([watch('h1'), watch('h2')]))
    await h.runUntil(T0 + 1000)
    h.w.setRules(rules([watch('h1', { mock: -2 })]))
    assert.equal(h.w.size, 1)
    await h.runUntil(T0 + 180_000)
    assert.deepEqual(
      h.pushed.map((p) => [p.endpoint, p.value]),
      [['h1', -2]]
    )
  })
})
