import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { type TestStore, testEngines } from '../store/index.js'
import { Snapshot, SnapshotSource } from './snapshot.js'
import { LATE, NIGHT, NOON, type Portal, seedPortal } from './testing.js'
import { recordingLogger } from '../core/index.js'

const engines = await testEngines()

const md5 = (s: string) => createHash('md5').update(s).digest('hex')

// The reply's bytes, and the reply as a judge parses it, from the serialised parts.
const replyText = (s: Snapshot) =>
  Buffer.concat(
    s.strategiesReply.parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))
  ).toString()
const replyOf = (s: Snapshot) =>
  JSON.parse(replyText(s)) as {
    hostStrategies: {
      hostname: string
      strategies: { id: number; tpl: { id: number }; for?: number }[]
    }[]
  }

for (const engine of engines) {
  describe(`hbs snapshot (${engine.engine})`, () => {
    let t: TestStore
    let p: Portal
    let clock = NOON
    const log = recordingLogger()
    let source: SnapshotSource

    before(async () => {
      t = await engine.open()
      p = await seedPortal(t.store.db, NOON)
      source = new SnapshotSource(t.store.db, { log, now: () => clock })
    })
    after(() => t.drop())

    // What each host is sent: "strategy name@template name", sorted, by hostname.
    const sentAt = async (at: number) => {
      clock = at
      assert.equal(await source.refresh(), true)
      const names = new Map(Object.entries(p.s).map(([k, v]) => [v, k]))
      const tpls = new Map(Object.entries(p.tpl).map(([k, v]) => [v, k]))
      return Object.fromEntries(
        replyOf(source.current).hostStrategies.map((h) => [
          h.hostname,
          h.strategies.map((s) => `${names.get(s.id)}@${tpls.get(s.tpl.id)}`).sort(),
        ])
      )
    }

    it('sends each monitored host its inherited strategies, as falcon computes them', async () => {
      assert.deepEqual(await sentAt(NOON), {
        prod: [
          'cpuWeb@webProd',
          'dfDataWeb@webProd',
          'dfRootProd@webProd',
          'loadProd@webProd',
          'memWeb@webProd',
          'portBase@webProd',
        ],
        both: [
          'cpuBase@db',
          'cpuWeb@web',
          'dfDataWeb@web',
          'dfRootBase@web',
          'memWeb@web',
          'mysqlDb@db',
          'portBase@web',
        ],
        // maint is in maintenance; cycle is bound to a cycle only; bare has no group.
        after: [
          'cpuWeb@webProd',
          'dfDataWeb@webProd',
          'dfRootProd@webProd',
          'loadProd@webProd',
          'memWeb@webProd',
          'portBase@webProd',
        ],
      })
      const s = source.current
      assert.deepEqual(
        replyOf(s).hostStrategies.map((h) => h.hostname),
        ['prod', 'both', 'after'],
        'hosts in id order'
      )
      assert.deepEqual([...s.monitored.values()].map((h) => h.Name).sort(), [
        'after',
        'bare',
        'both',
        'cycle',
        'prod',
      ])
    })

    it('applies run windows at the clock of the refresh, overnight ones included', async () => {
      const night = await sentAt(NIGHT)
      assert.ok(night.prod.includes('nightProd@webProd'))
      assert.ok(night.prod.includes('cpuWeb@webProd'))
      const late = await sentAt(LATE)
      // 00:30: web-prod's own cpu.idle is active and replaces web's; the nightly one still runs.
      assert.ok(late.prod.includes('cpuProdLate@webProd') && !late.prod.includes('cpuWeb@webProd'))
      assert.ok(late.prod.includes('nightProd@webProd'))
      assert.ok(!(await sentAt(NOON)).prod.includes('nightProd@webProd'))
    })

    it('serialises the reply once per template set, as the objects in-process callers get', async () => {
      await sentAt(NOON)
      const s = source.current
      assert.equal(s.strategySets, 2)
      const value = s.hostStrategiesValue()
      const [prod, , after] = value.hostStrategies
      assert.equal(prod.strategies, after.strategies, 'one array for one template set')
      assert.deepEqual(replyOf(s), JSON.parse(JSON.stringify(value)))
      assert.equal(s.replyBytes, Buffer.byteLength(JSON.stringify(value)))
      const one = replyOf(s).hostStrategies[0].strategies.find((x) => x.id === p.s.loadProd)
      assert.deepEqual(one, {
        id: p.s.loadProd,
        metric: 'load.1min',
        tags: {},
        func: 'all(#3)',
        operator: '>=',
        rightValue: 15,
        maxStep: 3,
        priority: 1,
        note: 'loadProd',
        tpl: {
          id: p.tpl.webProd,
          name: 'web-prod',
          parentId: p.tpl.web,
          actionId: 3,
          creator: 'root',
        },
      })
      assert.ok(Object.isFrozen(prod.strategies[0]))
    })

    it("sends Peregrine's for last, only on the rules that have one", async () => {
      await sentAt(NOON)
      // No rule has one yet: the reply is falcon's, byte for byte.
      assert.ok(!replyText(source.current).includes('"for"'))
      const setFor = async (table: 'strategy' | 'expression', id: number, seconds: number) => {
        await t.store.db
          .updateTable(table)
          .set({ for_duration: seconds })
          .where('id', '=', id)
          .execute()
      }
      const qps = (
        await t.store.db
          .selectFrom('expression')
          .select('id')
          .where('action_id', '>', 0)
          .where('pause', '=', 0)
          .orderBy('id')
          .executeTakeFirstOrThrow()
      ).id
      await setFor('strategy', p.s.loadProd, 120)
      // cpuWeb is inherited from web: prod gets it under web-prod, both under web, each with its for.
      await setFor('strategy', p.s.cpuWeb, 45)
      await setFor('expression', qps, 600)
      try {
        await sentAt(NOON)
        const s = source.current
        assert.equal(s.reused, false, 'a changed for is a changed strategy')
        const value = s.hostStrategiesValue()
        // The serialised reply is the in-process value, to the byte (keys in the same order).
        assert.equal(replyText(s), JSON.stringify(value))
        assert.equal(s.replyBytes, Buffer.byteLength(replyText(s)))
        const ofHost = (name: string) =>
          value.hostStrategies.find((h) => h.hostname === name)?.strategies ?? []
        const prod = ofHost('prod')
        const load = prod.find((x) => x.id === p.s.loadProd)
        assert.equal(load?.for, 120)
        assert.deepEqual(Object.keys(load ?? {}).slice(-2), ['tpl', 'for'])
        assert.equal(
          replyText(s).match(/"note":"loadProd","tpl":\{[^}]*\},"for":120\}/g)?.length,
          2,
          'prod and after, each under web-prod'
        )
        for (const host of ['prod', 'both']) {
          const cpu = ofHost(host).find((x) => x.id === p.s.cpuWeb)
          assert.equal(cpu?.for, 45, host)
          assert.equal(Object.keys(cpu ?? {}).at(-1), 'for')
        }
        assert.equal(ofHost('both').find((x) => x.id === p.s.cpuWeb)?.tpl.id, p.tpl.web)
        assert.equal(ofHost('prod').find((x) => x.id === p.s.cpuWeb)?.tpl.id, p.tpl.webProd)
        // The others have no for key at all (for 0), in both forms.
        const others = prod.filter((x) => x.id !== p.s.loadProd && x.id !== p.s.cpuWeb)
        assert.equal(others.length, 4)
        for (const x of others) assert.ok(!('for' in x), JSON.stringify(x))
        for (const x of replyOf(s).hostStrategies[0].strategies) {
          assert.equal('for' in x, x.id === p.s.loadProd || x.id === p.s.cpuWeb, JSON.stringify(x))
        }
        assert.equal(s.strategies.get(p.s.loadProd)?.for, 120)
        assert.ok(!('for' in (s.strategies.get(p.s.portBase) ?? {})))

        const exps = s.expressions ?? []
        assert.deepEqual(
          exps.map((e) => [e.id, e.for]),
          [
            [qps, 600],
            [exps[1].id, undefined],
          ]
        )
        assert.equal(Object.keys(exps[0]).at(-1), 'for')
        assert.ok(!('for' in exps[1]))
        assert.match(JSON.stringify({ expressions: exps }), /"actionId":9,"for":600\},\{/)
      } finally {
        await setFor('strategy', p.s.loadProd, 0)
        await setFor('strategy', p.s.cpuWeb, 0)
        await setFor('expression', qps, 0)
      }
      await sentAt(NOON)
      assert.ok(!replyText(source.current).includes('"for"'))
      assert.ok(!JSON.stringify(source.current.expressions).includes('"for"'))
    })

    it('answers builtin metrics from all templates and ancestors, whatever their windows', async () => {
      await sentAt(NOON)
      const s = source.current
      const prod = ['net.port.listen/port=22', 'proc.num/name=nginx']
      assert.deepEqual(s.builtinMetrics('prod'), {
        metrics: [
          { Metric: 'net.port.listen', Tags: 'port=22' },
          { Metric: 'proc.num', Tags: 'name=nginx' },
        ],
        checksum: md5(prod.join('')),
      })
      // In maintenance: still answered (falcon looks only at the host's groups).
      assert.deepEqual(s.builtinMetrics('maint'), s.builtinMetrics('prod'))
      assert.deepEqual(s.builtinMetrics('both').metrics, [
        { Metric: 'net.port.listen', Tags: 'port=22' },
      ])
      assert.deepEqual(s.builtinMetrics('bare'), { metrics: [], checksum: '' })
      assert.deepEqual(s.builtinMetrics('cycle'), { metrics: [], checksum: '' })
      assert.deepEqual(s.builtinMetrics('nobody'), { metrics: [], checksum: '' })
    })

    it('answers plugin dirs of all the host groups, de-duplicated and sorted', async () => {
      await sentAt(NOON)
      const s = source.current
      assert.deepEqual(s.plugins('prod'), ['a/60_x.py(arg1,arg2)', 'b', 'sys/ntp'])
      assert.deepEqual(s.plugins('maint'), ['a/60_x.py(arg1,arg2)', 'sys/ntp'])
      assert.deepEqual(s.plugins('bare'), [])
      assert.deepEqual(s.plugins('nobody'), [])
    })

    it('keeps the expressions falcon keeps, and logs each data problem once', async () => {
      await sentAt(NOON)
      assert.deepEqual(
        source.current.expressions?.map((e) => [e.metric, e.tags, e.rightValue, e.actionId]),
        [
          ['qps', { endpoint: 'h1', project: 'x' }, 100, 9],
          ['load', { endpoint: 'h3' }, -2.5, 9],
        ]
      )
      const problems = log.lines.filter((l) => l.startsWith('warn hbs: '))
      assert.deepEqual(problems.map((l) => /^warn hbs: \w+/.exec(l)?.[0]).sort(), [
        'warn hbs: expression',
        'warn hbs: expression',
        'warn hbs: expression',
        'warn hbs: strategy',
        'warn hbs: strategy',
        'warn hbs: template',
      ])
      assert.ok(
        problems.some((l) => l.includes(`template ${p.tpl.cycA}: its parents form a cycle`))
      )
      assert.ok(problems.some((l) => l.includes(`strategy ${p.s.orphan}: its template 9999`)))
    })

    it('reuses the serialised strategies while nothing they depend on changed', async () => {
      await sentAt(NOON)
      const first = source.current
      await sentAt(NOON + 60_000) // 12:01: no run window starts or ends
      const second = source.current
      assert.equal(second.reused, true)
      assert.notEqual(second, first)
      const tails = (s: Snapshot) => s.strategiesReply.parts.filter((_, i) => i > 0 && i % 2 === 0)
      assert.ok(
        tails(second).every((b, i) => b === tails(first)[i]),
        'the same buffers'
      )
      // A host change alone keeps them too; a window opening or a strategy edit does not.
      await t.store.db
        .updateTable('host')
        .set({ ip: '10.0.0.9' })
        .where('hostname', '=', 'prod')
        .execute()
      await sentAt(NOON + 60_000)
      assert.equal(source.current.reused, true)
      await sentAt(NIGHT)
      assert.equal(source.current.reused, false)
      await t.store.db
        .updateTable('strategy')
        .set({ note: 'edited' })
        .where('id', '=', p.s.loadProd)
        .execute()
      const before = source.current
      await sentAt(NIGHT)
      assert.equal(source.current.reused, false)
      assert.notDeepEqual(replyOf(source.current), replyOf(before))
      assert.ok(JSON.stringify(replyOf(source.current)).includes('"note":"edited"'))
    })

    it('sees changes at the next refresh, and new hosts', async () => {
      await sentAt(NOON)
      await t.store.db
        .updateTable('host')
        .set({ maintain_begin: 0, maintain_end: 0 })
        .where('hostname', '=', 'maint')
        .execute()
      await t.store.db.deleteFrom('strategy').where('id', '=', p.s.cpuWeb).execute()
      const now = await sentAt(NOON)
      assert.ok(now.maint.includes('cpuBase@webProd'))
      assert.ok(!now.prod.includes('cpuWeb@webProd') && now.prod.includes('cpuBase@webProd'))
    })

    it('runs one reread for a burst of refreshes, which reads the change made before it', async () => {
      await sentAt(NOON)
      const before = source.counters.refreshes
      const first = source.refresh()
      await new Promise((r) => setImmediate(r)) // the first one has started reading
      await t.store.db.insertInto('tpl').values({ tpl_name: 'burst' }).execute()
      const burst = await Promise.all(Array.from({ length: 50 }, () => source.refresh()))
      assert.ok((await first) && burst.every((ok) => ok))
      // The 50 waited for the first and shared the next one, as a burst of /config/reload does.
      assert.equal(source.counters.refreshes - before, 2)
      assert.ok([...source.current.templates.values()].some((x) => x.name === 'burst'))
    })

    it(
      'keeps GetStrategies valid JSON when an INTEGER column holds text',
      { skip: engine.engine === 'sqlite' ? false : 'only SQLite keeps text in an INTEGER column' },
      async () => {
        const bad = await t.store.db
          .insertInto('strategy')
          .values({
            metric: 'bad.max_step',
            right_value: '1',
            tpl_id: p.tpl.webProd,
            max_step: 'x' as unknown as number,
          })
          .executeTakeFirst()
        try {
          const sent = await sentAt(NOON)
          assert.ok(sent.prod.includes('loadProd@webProd'))
          assert.ok(
            log.lines.some((l) => l.includes(`strategy ${bad.insertId}: max_step "x" is not an`))
          )
        } finally {
          await t.store.db.deleteFrom('strategy').where('id', '=', Number(bad.insertId)).execute()
        }
      }
    )

    it('keeps serving the last snapshot while the store cannot be read, logging once', async () => {
      await sentAt(NOON)
      const before = source.current
      const lines = log.lines.length
      await t.store.close()
      assert.equal(await source.refresh(), false)
      assert.equal(await source.refresh(), false)
      assert.equal(source.current, before)
      assert.match(source.failing ?? '', /^cannot read the store: /)
      const logged = log.lines.slice(lines)
      assert.equal(logged.length, 1)
      assert.match(
        logged[0],
        /^error hbs: cannot read the store: .*answering from the snapshot of /
      )
    })
  })
}

describe('hbs snapshot before any read', () => {
  it('is empty, in falcon shapes', () => {
    const s = Snapshot.empty()
    assert.equal(
      Buffer.concat(s.strategiesReply.parts as Buffer[]).toString(),
      '{"hostStrategies":[]}'
    )
    assert.equal(s.expressions, null)
    assert.deepEqual(s.plugins('h'), [])
    assert.deepEqual(s.builtinMetrics('h'), { metrics: [], checksum: '' })
  })
})
