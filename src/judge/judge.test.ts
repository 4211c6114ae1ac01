// JudgeEngine against falcon v0.3's modules/judge/store (judge.go sendEventIfNeed, CheckStrategy,
// CheckExpression; history.go and linkedlist.go): every expected event below is worked out by hand from
// that code, with the points' timestamps, the `now` of Judge.Send and the ring's oldest point used.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type AlarmEvent,
  type Expression,
  type HostStrategies,
  type JudgeItem,
  recordingLogger,
  type Strategy,
} from '../core/index.js'
import { JudgeEngine } from './judge.js'
import { expression, md5, pk, point, strategy, T } from './testing.js'

interface Sent {
  list: string
  payload: string
  event: AlarmEvent
}

interface Setup {
  hosts?: HostStrategies[]
  expressions?: Expression[]
  remain?: number
  minInterval?: number
  queuePattern?: string
}

function setup(o: Setup = {}) {
  const sent: Sent[] = []
  const log = recordingLogger()
  const engine = new JudgeEngine({
    remain: o.remain ?? 11,
    minInterval: o.minInterval ?? 300,
    queuePattern: o.queuePattern ?? 'event:p%v',
    log,
    emit: (list, payload, event) => sent.push({ list, payload, event }),
  })
  engine.setRules(o.hosts ?? [], o.expressions ?? [])
  /** take returns what was sent since the last take. */
  let seen = 0
  const take = () => {
    const out = sent.slice(seen)
    seen = sent.length
    return out
  }
  return { engine, sent, log, take }
}

const h1 = (...strategies: Strategy[]): HostStrategies => ({ hostname: 'h1', strategies })

/**
 * A step of a scenario: a point at T+t with value v, sent with Judge.Send's clock at `now` (T+t when
 * absent), and the event it must cause: '' none, 'P<n>' PROBLEM with currentStep n, 'OK'. leftValue is
 * the point's value unless given.
 */
type Step = readonly [t: number, v: number, want: string, opts?: { now?: number; left?: number }]

/** play sends the steps one by one and checks each one's events against falcon's. */
function play(
  o: Setup,
  steps: readonly Step[],
  item: Partial<JudgeItem> = {},
  id = `s_3_${md5(pk(item.endpoint ?? 'h1', item.metric ?? 'cpu.busy', item.tags ?? {}))}`
): Sent[] {
  const { engine, take } = setup(o)
  const all: Sent[] = []
  for (const [t, v, want, opts] of steps) {
    const problems = engine.send([point(T + t, v, item)], opts?.now ?? T + t)
    assert.deepEqual(problems, [])
    const got = take()
    all.push(...got)
    const shown = got.map((s) => `${s.event.status} ${s.event.currentStep}`)
    if (want === '') {
      assert.deepEqual(shown, [], `t=${t}: expected no event`)
      continue
    }
    const [status, step] = want === 'OK' ? ['OK', 1] : ['PROBLEM', Number(want.slice(1))]
    assert.deepEqual(shown, [`${status} ${step}`], `t=${t}`)
    const e = got[0].event
    assert.equal(e.id, id)
    assert.equal(e.eventTime, T + t, `t=${t}: eventTime is the point's timestamp`)
    assert.equal(e.leftValue, opts?.left ?? v, `t=${t}: leftValue`)
    assert.deepEqual(JSON.parse(got[0].payload), JSON.parse(JSON.stringify(e)))
  }
  return all
}

describe('JudgeEngine events (store/judge.go sendEventIfNeed)', () => {
  it("writes falcon's event JSON to event:p<priority>", () => {
    const s = strategy()
    const { engine, sent } = setup({ hosts: [h1(s)] })
    engine.send([point(T + 60, 91), point(T + 120, 93.25), point(T + 180, 95.5)], T + 185)
    assert.equal(sent.length, 1)
    assert.equal(sent[0].list, 'event:p2')
    assert.equal(
      sent[0].payload,
      `{"id":"s_3_${md5('h1/cpu.busy')}",` +
        '"strategy":{"id":3,"metric":"cpu.busy","tags":{},"func":"all(#3)","operator":">",' +
        '"rightValue":90,"maxStep":3,"priority":2,"note":"cpu busy",' +
        '"tpl":{"id":2,"name":"base","parentId":0,"actionId":5,"creator":"root"}},' +
        '"expression":null,"status":"PROBLEM","endpoint":"h1","leftValue":95.5,"currentStep":1,' +
        `"eventTime":${T + 180},"pushedTags":{}}`
    )
    assert.equal(sent[0].event.strategy, s) // the strategy as hbs gave it
  })

  it('an expression event: e_<id>_<md5(PK)>, strategy null, pushedTags in key order', () => {
    const e = expression()
    const { engine, sent } = setup({ expressions: [e] })
    // Go's encoding/json writes a map with sorted keys, whatever order the tags came in.
    const tags = { project: 'x', idc: 'bj' }
    engine.send([point(T + 60, 120, { metric: 'qps', tags })], T + 60)
    assert.equal(sent.length, 1)
    assert.equal(sent[0].list, 'event:p0')
    assert.equal(
      sent[0].payload,
      `{"id":"e_9_${md5('h1/qps/idc=bj,project=x')}","strategy":null,` +
        `"expression":${JSON.stringify(e)},"status":"PROBLEM","endpoint":"h1","leftValue":120,` +
        `"currentStep":1,"eventTime":${T + 60},"pushedTags":{"idc":"bj","project":"x"}}`
    )
  })

  it('the list follows queuePattern and the priority', () => {
    const { engine, sent } = setup({
      hosts: [h1(strategy({ func: 'all(#1)', priority: 5 }))],
      queuePattern: 'alarm:%v:events',
    })
    engine.send([point(T, 95)], T)
    assert.deepEqual(
      sent.map((s) => s.list),
      ['alarm:5:events']
    )
  })

  it('PROBLEM on the first trigger, repeats up to maxStep, silence, OK, then PROBLEM again', () => {
    // all(#3) > 90, maxStep 3, minInterval 300, now = the point's time.
    play({ hosts: [h1(strategy())] }, [
      [60, 95, ''], // 1 point: not enough
      [120, 95, ''], // 2 points: not enough
      [180, 95, 'P1'], // first trigger, no last event
      [240, 96, ''], // oldest used (120) <= last eventTime (180)
      [300, 97, ''], // oldest used 180 <= 180
      [360, 98, ''], // oldest 240 > 180, but now-180 = 180 < 300
      [480, 99, 'P2'], // oldest 300 > 180, now-180 = 300 >= 300
      [540, 99, ''], // oldest 360 <= 480
      [780, 99, ''], // oldest 480 <= 480
      [840, 99, 'P3'], // oldest 540 > 480, now-480 = 360
      [1200, 99, ''], // oldest 780 <= 840
      [1260, 99, ''], // oldest 840 <= 840
      [1320, 99, ''], // oldest 1200 > 840, 480 s later, but currentStep 3 = maxStep
      [1380, 10, 'OK'], // not triggered after PROBLEM: OK, currentStep 1
      [1440, 10, ''], // not triggered after OK: nothing
      [1500, 95, ''], // [95 10 10]
      [1560, 95, ''], // [95 95 10]
      [1620, 95, 'P1'], // triggered after OK: a new PROBLEM at step 1
    ])
  })

  it('a repeat waits until no point used has caused the last event (minInterval 0)', () => {
    play({ hosts: [h1(strategy())], minInterval: 0 }, [
      [60, 95, ''],
      [120, 95, ''],
      [180, 95, 'P1'],
      [240, 95, ''], // uses 240 180 120
      [300, 95, ''], // uses 300 240 180
      [360, 95, 'P2'], // uses 360 300 240: all newer than 180
      [420, 95, ''],
      [480, 95, ''],
      [540, 95, 'P3'],
      [600, 95, ''],
      [660, 95, ''],
      [720, 95, ''], // maxStep 3
    ])
  })

  it("minInterval runs from the last event's point time to Judge.Send's now", () => {
    play({ hosts: [h1(strategy({ func: 'all(#1)', maxStep: 5 }))] }, [
      [60, 95, 'P1', { now: T + 60 }],
      [120, 95, '', { now: T + 100 }],
      [180, 95, '', { now: T + 359 }], // 299 s after 60
      [240, 95, 'P2', { now: T + 360 }], // exactly 300 s: sent, with eventTime 240
      [300, 95, '', { now: T + 539 }], // 299 s after 240
      [360, 95, 'P3', { now: T + 540 }],
    ])
  })

  it('maxStep 0 sends nothing and records nothing, so no OK either', () => {
    play({ hosts: [h1(strategy({ func: 'all(#1)', maxStep: 0 }))], minInterval: 0 }, [
      [60, 95, ''],
      [120, 95, ''],
      [180, 10, ''],
      [240, 95, ''],
    ])
  })

  it('nothing while OK (or never alarmed) and not triggered', () => {
    play({ hosts: [h1(strategy({ func: 'all(#1)' }))] }, [
      [60, 10, ''],
      [120, 10, ''],
      [180, 95, 'P1'],
      [240, 10, 'OK'],
      [300, 10, ''],
      [360, 95, 'P1'],
    ])
  })

  it('COUNTER and DERIVE are judged on rates, which need one point more', () => {
    for (const judgeType of ['COUNTER', 'DERIVE', 'counter']) {
      // all(#2) > 5 on rates; history.go: value_i = (v_i - v_i+1) / (t_i - t_i+1), ts_i = t_i, so
      // the oldest point used is t_1 (the older point of the oldest rate is not counted).
      play(
        { hosts: [h1(strategy({ func: 'all(#2)', rightValue: 5 }))], minInterval: 0 },
        [
          [60, 0, ''],
          [120, 600, ''], // 2 points: 1 rate, not enough (a gauge would be judged)
          [180, 1200, 'P1', { left: 10 }], // rates 10 (at 180), 10 (at 120)
          [240, 1800, ''], // rates at 240 and 180: 180 <= 180
          [300, 2400, 'P2', { left: 10 }], // rates at 300 and 240
          [360, 2460, 'OK', { left: 1 }],
        ],
        { judgeType }
      )
    }
  })

  it('a counter reset gives a negative rate (falcon does not clamp it)', () => {
    play(
      { hosts: [h1(strategy({ func: 'all(#1)', operator: '<', rightValue: 0 }))] },
      [
        [60, 1000, ''],
        [120, 1600, ''],
        [180, 100, 'P1', { left: -25 }],
      ],
      { judgeType: 'COUNTER' }
    )
  })

  it('a judgeType starting with g is a gauge', () => {
    play(
      { hosts: [h1(strategy({ func: 'all(#1)' }))] },
      [
        [60, 95, 'P1'],
        [120, 10, 'OK'],
      ],
      { judgeType: 'gauge' }
    )
  })

  it('several rules of one series each keep their own last event, strategies first', () => {
    const e = expression({ metric: 'cpu.busy', tags: { endpoint: 'h1' }, func: 'all(#1)' })
    const { engine, take } = setup({
      hosts: [
        h1(
          strategy({ func: 'all(#1)' }),
          strategy({ id: 4, func: 'all(#1)', operator: '<', rightValue: 100, priority: 0 })
        ),
      ],
      expressions: [e],
    })
    engine.send([point(T + 60, 150)], T + 60)
    assert.deepEqual(
      take().map((s) => [s.list, s.event.id.slice(0, 4), s.event.status]),
      [
        ['event:p2', 's_3_', 'PROBLEM'],
        ['event:p0', 'e_9_', 'PROBLEM'],
      ]
    )
    engine.send([point(T + 120, 50)], T + 120)
    assert.deepEqual(
      take().map((s) => [s.list, s.event.id.slice(0, 4), s.event.status]),
      [
        ['event:p2', 's_3_', 'OK'],
        ['event:p0', 's_4_', 'PROBLEM'],
        ['event:p0', 'e_9_', 'OK'],
      ]
    )
  })
})

describe('JudgeEngine matching (CheckStrategy, CheckExpression)', () => {
  it('a strategy applies when each of its tags is among the point tags', () => {
    const f = (pointTags: Record<string, string>, fires: boolean) => {
      const s = strategy({ metric: 'df.used', tags: { mount: '/data' }, func: 'all(#1)' })
      const { engine, sent } = setup({ hosts: [h1(s)] })
      engine.send([point(T, 95, { metric: 'df.used', tags: pointTags })], T)
      assert.equal(sent.length, fires ? 1 : 0, JSON.stringify(pointTags))
      if (fires) assert.equal(sent[0].event.id, `s_3_${md5(pk('h1', 'df.used', pointTags))}`)
    }
    f({ mount: '/data' }, true)
    f({ mount: '/data', fstype: 'ext4' }, true) // extra point tags are allowed
    f({ mount: '/' }, false)
    f({}, false)
    f({ Mount: '/data' }, false)
    f({ fstype: 'ext4' }, false)
  })

  it("matches a strategy's k=~re, k!=v and k!~re tags (as hbs carries them), anchored", () => {
    // hbs carries `mount=~/data[0-9]*,fstype!=tmpfs,dev!~loop.*` as this map (core/tag-matchers.ts).
    const tags = { mount: '~/data[0-9]*', 'fstype!': 'tmpfs', 'dev!': '~loop.*' }
    const f = (pointTags: Record<string, string>, fires: boolean) => {
      const s = strategy({ metric: 'df.used', tags, func: 'all(#1)' })
      const { engine, sent } = setup({ hosts: [h1(s)] })
      engine.send([point(T, 95, { metric: 'df.used', tags: pointTags })], T)
      assert.equal(sent.length, fires ? 1 : 0, JSON.stringify(pointTags))
      if (fires) {
        assert.equal(sent[0].event.id, `s_3_${md5(pk('h1', 'df.used', pointTags))}`)
        // The event carries the strategy as hbs sent it: falcon's alarm reads the same JSON.
        assert.deepEqual(sent[0].event.strategy?.tags, tags)
      }
    }
    f({ mount: '/data' }, true)
    f({ mount: '/data12', fstype: 'ext4', dev: 'sda1' }, true)
    f({ mount: '/data', fstype: 'tmpfs' }, false) // != excludes
    f({ mount: '/data', dev: 'loop0' }, false) // !~ excludes
    f({ mount: '/datax' }, false) // anchored at both ends
    f({ mount: 'x/data' }, false)
    f({ mount: '/' }, false)
    f({}, false) // a missing tag is '' to a regex: /data[0-9]* does not match it
  })

  it('every strategy that matches applies: a specific one does not hide a general one', () => {
    const all = strategy({
      id: 3,
      metric: 'df.used',
      tags: { 'mount!': '~/data.*' },
      func: 'all(#1)',
    })
    const data = strategy({
      id: 4,
      metric: 'df.used',
      tags: { mount: '~/data.*' },
      func: 'all(#1)',
    })
    const root = strategy({ id: 5, metric: 'df.used', tags: { mount: '/' }, func: 'all(#1)' })
    const any = strategy({ id: 6, metric: 'df.used', tags: {}, func: 'all(#1)' })
    const { engine, sent } = setup({ hosts: [h1(all, data, root, any)] })
    engine.send(
      [
        point(T, 95, { metric: 'df.used', tags: { mount: '/' } }),
        point(T, 95, { metric: 'df.used', tags: { mount: '/data1' } }),
      ],
      T
    )
    assert.deepEqual(
      sent.map((x) => `${x.event.strategy?.id} ${x.event.pushedTags.mount}`),
      ['3 /', '5 /', '6 /', '4 /data1', '6 /data1']
    )
  })

  it("keeps an expression's tags exact, as falcon: k=~v there is the value ~v", () => {
    const e = expression({ tags: { project: '~x.*' } })
    const { engine, sent } = setup({ expressions: [e] })
    engine.send([point(T, 100, { metric: 'qps', tags: { project: 'xy' } })], T)
    assert.equal(sent.length, 0)
    engine.send([point(T, 100, { metric: 'qps', tags: { project: '~x.*' } })], T)
    assert.equal(sent.length, 1)
  })

  it('a strategy whose tag regex does not compile is skipped with one warning', () => {
    const { engine, log } = setup()
    engine.setRules(
      [h1(strategy({ tags: { mount: '~(' } }), strategy({ id: 4, func: 'all(#1)' }))],
      []
    )
    assert.equal(log.lines.length, 1)
    assert.match(
      log.lines[0],
      /^warn judge: strategy 3: tags: error parsing regexp "\(": .*; skipped$/
    )
    assert.equal(engine.rules.strategies.get('h1')?.get('cpu.busy')?.length, 1)
  })

  it('strategies are per host: another endpoint of the metric is stored, not judged', () => {
    const { engine, sent } = setup({ hosts: [h1(strategy({ func: 'all(#1)' }))] })
    engine.send([point(T, 95, { endpoint: 'h2' })], T)
    assert.equal(sent.length, 0)
    assert.equal(engine.series.count, 1) // falcon's filter is by metric only
    assert.equal(engine.counters.evaluations, 0)
  })

  it("each host's events carry the template hbs gave that host (inherited strategies)", () => {
    // hbs gives a strategy inherited by a child template the host's youngest template as tpl.
    const child = { id: 8, name: 'child', parentId: 2, actionId: 6, creator: 'ops' }
    const { engine, sent } = setup({
      hosts: [
        { hostname: 'h1', strategies: [strategy({ func: 'all(#1)' })] },
        { hostname: 'h2', strategies: [strategy({ func: 'all(#1)', tpl: child })] },
      ],
    })
    engine.send([point(T, 95), point(T, 95, { endpoint: 'h2' })], T)
    assert.deepEqual(
      sent.map((s) => [s.event.endpoint, s.event.strategy?.tpl.id]),
      [
        ['h1', 2],
        ['h2', 8],
      ]
    )
    assert.equal(engine.rules.strategyCount, 1)
    assert.equal(engine.rules.bindingCount, 2)
  })

  it('an expression applies when each of its tags matches, endpoint= matching the endpoint', () => {
    const f = (
      exprTags: Record<string, string>,
      endpoint: string,
      pointTags: Record<string, string>,
      fires: boolean
    ) => {
      const { engine, sent } = setup({ expressions: [expression({ tags: exprTags })] })
      engine.send([point(T, 150, { endpoint, metric: 'qps', tags: pointTags })], T)
      const what = `${JSON.stringify(exprTags)} on ${endpoint} ${JSON.stringify(pointTags)}`
      assert.equal(sent.length, fires ? 1 : 0, what)
      if (fires) {
        assert.equal(sent[0].event.id, `e_9_${md5(pk(endpoint, 'qps', pointTags))}`, what)
        assert.equal(sent[0].event.endpoint, endpoint)
        assert.equal(sent[0].event.strategy, null)
      }
    }
    f({ project: 'x' }, 'h1', { project: 'x' }, true)
    f({ project: 'x' }, 'h1', { project: 'x', idc: 'bj' }, true)
    f({ project: 'x' }, 'h1', { project: 'y' }, false)
    f({ project: 'x' }, 'h1', {}, false)
    f({ endpoint: 'h1' }, 'h1', {}, true)
    f({ endpoint: 'h1' }, 'h2', {}, false)
    f({ endpoint: 'h1', project: 'x' }, 'h1', { project: 'x' }, true)
    f({ endpoint: 'h1', project: 'x' }, 'h2', { project: 'x' }, false)
    f({ endpoint: 'h1', project: 'x' }, 'h1', {}, false)
    // A point tag named endpoint stands for the endpoint (copyItemTags copies the tags over it).
    f({ endpoint: 'h1', project: 'x' }, 'h2', { endpoint: 'h1', project: 'x' }, true)
    f({ endpoint: 'h1' }, 'h2', { endpoint: 'h1' }, true)
    f({ endpoint: 'h1', project: 'x' }, 'h1', { endpoint: 'h9', project: 'x' }, false)
  })

  it('an expression reached by two of the point tags is judged once', () => {
    const { engine, take } = setup({
      expressions: [expression({ tags: { project: 'x', idc: 'bj', endpoint: 'h1' } })],
    })
    const tags = { project: 'x', idc: 'bj' }
    engine.send([point(T + 60, 150, { metric: 'qps', tags })], T + 60)
    assert.deepEqual(
      take().map((s) => `${s.event.status} ${s.event.currentStep}`),
      ['PROBLEM 1']
    )
    assert.equal(engine.counters.evaluations, 1)
    engine.send([point(T + 120, 50, { metric: 'qps', tags })], T + 120)
    assert.deepEqual(
      take().map((s) => `${s.event.status} ${s.event.currentStep}`),
      ['OK 1']
    )
  })

  it('points of metrics no rule names are dropped and not stored', () => {
    const { engine, sent } = setup({
      hosts: [h1(strategy({ func: 'all(#1)' }))],
      expressions: [expression()],
    })
    const problems = engine.send(
      [
        point(T, 95, { metric: 'mem.used' }),
        point(T, 95, { metric: 'df.used', tags: { project: 'x' } }),
        point(T, 150, { metric: 'qps', tags: { project: 'x' } }),
      ],
      T
    )
    assert.deepEqual(problems, [])
    assert.equal(engine.counters.filtered, 2)
    assert.equal(engine.series.count, 1)
    assert.equal(engine.series.get('h1', 'mem.used', {}, 11, false), undefined)
    assert.equal(sent.length, 1)
  })

  it('a point not after its series newest is neither stored nor judged', () => {
    const { engine } = setup()
    const sent = play({ hosts: [h1(strategy({ func: 'all(#1)', maxStep: 10 }))], minInterval: 0 }, [
      [120, 95, 'P1'],
      [120, 10, ''], // same timestamp: would be OK if judged
      [60, 10, ''], // older
      [180, 95, 'P2'], // the ring still ends with 120's 95
      [240, 10, 'OK'],
    ])
    assert.equal(sent.length, 3)
    // Counted, on an engine of its own.
    engine.setRules([h1(strategy({ func: 'all(#1)' }))], [])
    engine.send([point(T + 60, 95), point(T + 60, 95), point(T + 30, 95), point(0, 95)], T)
    assert.equal(engine.counters.outOfOrder, 3)
    assert.equal(engine.counters.evaluations, 1)
    assert.equal(engine.series.get('h1', 'cpu.busy', {}, 11, false)?.size, 1)
  })
})

describe("JudgeEngine's `for` (Peregrine)", () => {
  it('sends PROBLEM once the condition has held `for` seconds of point time', () => {
    play({ hosts: [h1(strategy({ func: 'all(#1)', for: 120 }))] }, [
      [60, 95, ''], // holds since 60
      [120, 95, ''], // 60 s
      [180, 95, 'P1'], // 120 s
      [240, 10, 'OK'],
      [300, 95, ''], // holds since 300
      [360, 95, ''],
      [390, 10, ''], // broken: the clock restarts (no OK: the last event is OK)
      [420, 95, ''], // holds since 420
      [480, 95, ''],
      [540, 95, 'P1'],
    ])
  })

  it('starts when the function has enough points, and does not gate repeats', () => {
    play({ hosts: [h1(strategy({ for: 60 }))], minInterval: 0 }, [
      [60, 95, ''],
      [120, 95, ''],
      [180, 95, ''], // first evaluation, triggered: holds since 180
      [240, 95, 'P1'],
      [300, 95, ''],
      [360, 95, ''],
      [420, 95, 'P2'], // oldest used 300 > 240
    ])
  })

  it('applies to expressions too', () => {
    const e = expression({ for: 60 })
    play(
      { expressions: [e] },
      [
        [60, 150, ''],
        [120, 150, 'P1'],
      ],
      { metric: 'qps', tags: { project: 'x' } },
      `e_9_${md5('h1/qps/project=x')}`
    )
  })
})

describe('JudgeEngine.setRules (a reload from hbs)', () => {
  it('keeps the last event of a rule that stays: no second PROBLEM, OK still sent', () => {
    const { engine, take } = setup({ hosts: [h1(strategy({ func: 'all(#1)' }))] })
    engine.send([point(T + 60, 95)], T + 60)
    assert.deepEqual(
      take().map((s) => s.event.status),
      ['PROBLEM']
    )
    // The same strategy, as a new object with a changed note.
    engine.setRules([h1(strategy({ func: 'all(#1)', note: 'cpu busy (edited)' }))], [])
    engine.send([point(T + 120, 95)], T + 120)
    assert.deepEqual(take(), []) // a fresh state would send PROBLEM step 1 here
    engine.send([point(T + 180, 10)], T + 180)
    const ok = take()
    assert.deepEqual(
      ok.map((s) => `${s.event.status} ${s.event.currentStep}`),
      ['OK 1']
    )
    assert.equal(ok[0].event.strategy?.note, 'cpu busy (edited)')
  })

  it('keeps the last event of a rule that leaves (falcon never forgets one): its OK still comes when it returns', () => {
    const s3 = strategy({ func: 'all(#1)' })
    // Another rule on the series keeps the metric judged while s3 is away (a maintenance window).
    const s4 = strategy({ id: 4, func: 'all(#1)', rightValue: 1000 })
    const { engine, take } = setup({ hosts: [h1(s3, s4)] })
    engine.send([point(T + 60, 95)], T + 60)
    assert.deepEqual(
      take().map((s) => s.event.id.slice(0, 4)),
      ['s_3_']
    )
    engine.setRules([h1(s4)], [])
    engine.send([point(T + 120, 5)], T + 120)
    assert.deepEqual(take(), [])
    engine.setRules([h1(s3, s4)], [])
    // Still a problem, within minInterval of the first PROBLEM: nothing, as in falcon.
    engine.send([point(T + 180, 95)], T + 180)
    assert.deepEqual(take(), [])
    // Recovered: the OK of the PROBLEM reported before the rule left.
    engine.send([point(T + 240, 5)], T + 240)
    assert.deepEqual(
      take().map((s) => `${s.event.id.slice(0, 4)} ${s.event.status} ${s.event.currentStep}`),
      ['s_3_ OK 1']
    )
  })

  it('a rule reading more points than remain grows the ring', () => {
    const steps: Step[] = []
    for (let i = 1; i < 15; i++) steps.push([i * 60, 95, ''])
    steps.push([15 * 60, 95, 'P1'])
    play({ hosts: [h1(strategy({ func: 'all(#15)' }))], remain: 11 }, steps)
  })

  it('a series filled under a smaller ring grows when such a rule arrives', () => {
    const never = strategy({ id: 4, func: 'all(#1)', rightValue: 1000 })
    const { engine, take } = setup({ hosts: [h1(never)], remain: 11 })
    for (let i = 1; i <= 11; i++) engine.send([point(T + i * 60, 95)], T + i * 60)
    const s = engine.series.get('h1', 'cpu.busy', {}, 0, false)
    assert.ok(s)
    assert.equal(s.capacity, 11)
    assert.equal(s.size, 11)
    engine.setRules([h1(never, strategy({ id: 5, func: 'all(#15)' }))], [])
    assert.equal(engine.rules.capacity, 16)
    for (let i = 12; i <= 14; i++) engine.send([point(T + i * 60, 95)], T + i * 60)
    assert.deepEqual(take(), [])
    engine.send([point(T + 15 * 60, 95)], T + 15 * 60)
    assert.deepEqual(
      take().map((x) => x.event.id),
      [`s_5_${md5('h1/cpu.busy')}`]
    )
    assert.equal(s.capacity, 16)
    assert.equal(s.size, 15)
  })

  it('a rule whose func does not parse is skipped with one warning', () => {
    const { engine, log } = setup()
    engine.setRules([h1(strategy({ func: 'top(#3)' }), strategy({ id: 4, func: 'all(#1)' }))], [])
    assert.deepEqual(log.lines, ['warn judge: strategy 3: not_supported_method: top; skipped'])
    assert.equal(engine.rules.strategies.get('h1')?.get('cpu.busy')?.length, 1)
  })
})

describe('JudgeEngine.send (Judge.Send)', () => {
  it('refuses malformed items, naming the field, and judges the rest in order', () => {
    const { engine, sent } = setup({ hosts: [h1(strategy({ func: 'all(#1)' }))] })
    const bad = (over: Record<string, unknown>) => ({ ...point(T + 60, 95), ...over })
    const items: unknown[] = [
      point(T + 60, 95),
      null,
      'x',
      bad({ endpoint: '' }),
      bad({ metric: 5 }),
      bad({ value: '95' }),
      bad({ value: Infinity }),
      bad({ timestamp: T + 60.5 }),
      bad({ timestamp: String(T + 60) }),
      bad({ judgeType: undefined }),
      bad({ tags: ['a'] }),
      bad({ tags: { a: 1 } }),
      point(T + 120, 10, { tags: null as unknown as Record<string, string> }),
    ]
    const problems = engine.send(items, T + 120)
    assert.deepEqual(problems, [
      'item 1: expected a JudgeItem object',
      'item 2: expected a JudgeItem object',
      'item 3: endpoint: expected a non-empty string',
      'item 4: metric: expected a non-empty string',
      'item 5: value: expected a finite number',
      'item 6: value: expected a finite number',
      'item 7: timestamp: expected an integer (Unix seconds)',
      'item 8: timestamp: expected an integer (Unix seconds)',
      'item 9: judgeType: expected GAUGE, COUNTER or DERIVE',
      'item 10: tags: expected an object',
    ]) // at most 10 reasons per call
    assert.deepEqual(engine.send([bad({ tags: { a: 1 } })], T), [
      'item 0: tags.a: expected a string',
    ])
    assert.deepEqual(
      sent.map((s) => `${s.event.status} ${s.event.eventTime - T}`),
      ['PROBLEM 60', 'OK 120']
    )
    assert.deepEqual(engine.counters, {
      received: 14,
      invalid: 12,
      filtered: 0,
      outOfOrder: 0,
      evaluations: 2,
      events: 2,
    })
  })
})
