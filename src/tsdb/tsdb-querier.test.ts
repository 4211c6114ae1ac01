import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db, type TsdbOptions } from './db.js'
import { escapeName } from '../core/prom-names.js'
import { MemoryQuerier, type SeriesSet } from './querier.js'
import type { SeriesDesc } from './series.js'
import { type Matcher, type MatchOp, tagValue } from './series-index.js'

const MIN = 60_000
const DAY = 24 * 60 * MIN
const T0 = 1_700_006_400_000 - (1_700_006_400_000 % DAY)

let dir = ''
let clock = T0 + DAY
const dbs: Db[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-querier-'))
  clock = T0 + DAY
})
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close({ flush: false })
  rmSync(dir, { recursive: true, force: true })
})

function open(extra: Partial<TsdbOptions> = {}): Db {
  const db = Db.open({
    dir,
    maintenanceInterval: 0,
    walSync: 'write',
    now: () => clock,
    maxAhead: 10 * DAY,
    ...extra,
  })
  dbs.push(db)
  return db
}

const desc = (
  endpoint: string,
  metric: string,
  tags = '',
  dstype: 'GAUGE' | 'DERIVE' = 'GAUGE',
  step = 60
): SeriesDesc => ({ endpoint, metric, tags, dstype, step })

async function write(db: Db, d: SeriesDesc, points: [number, number][]): Promise<void> {
  const app = db.appender()
  let ref = 0
  for (const [t, v] of points) ref = app.append(ref, d, t, v)
  await app.commit()
}

const m = (name: string, op: MatchOp, value: string): Matcher => ({ name, op, value })
const eq = (name: string, value: string) => m(name, '=', value)

// The series of a SeriesSet as plain data: labels as an object, samples as [t, v] pairs.
function plain(set: SeriesSet): { labels: Record<string, string>; samples: [number, number][] }[] {
  return set.labels.map((ls, i) => ({
    labels: Object.fromEntries(ls.map((l) => [l.name, l.value])),
    samples: Array.from(
      set.ts.subarray(set.offsets[i], set.offsets[i + 1]),
      (t, j): [number, number] => [t, set.vs[set.offsets[i] + j]]
    ),
  }))
}

const names = (set: SeriesSet) => set.labels.map((ls) => ls.map((l) => l.value).join(' '))

const all = { start: -Infinity, end: Infinity }

describe('escapeName', () => {
  const f = (name: string, want: string) => assert.equal(escapeName(name), want, name)
  it("is Prometheus's underscores escaping, a leading digit prefixed", () => {
    f('cpu.idle', 'cpu_idle')
    f('cpu_idle', 'cpu_idle')
    f('df.bytes.free.percent', 'df_bytes_free_percent')
    f('net.if.in.bytes', 'net_if_in_bytes')
    f('a:b', 'a:b')
    f('1min.load', '_1min_load')
    f('héllo-wörld', 'h_llo_w_rld')
    f('a😀b', 'a_b')
    f('', '')
  })
})

describe('tagValue', () => {
  const f = (tags: string, name: string, want: string) =>
    assert.equal(tagValue(tags, name), want, `${tags} ${name}`)
  it('reads a tag of canonical tags in place', () => {
    f('', 'a', '')
    f('a=1', 'a', '1')
    f('a=1,b=2', 'b', '2')
    f('ba=1,a=2', 'a', '2')
    f('a.b=x=y,c=', 'a.b', 'x=y')
    f('a.b=x=y,c=', 'c', '')
    f('ab=1', 'a', '')
  })
})

describe('TsdbQuerier', () => {
  it('shows falcon series as Prometheus series: __name__ as stored, endpoint, tags, sorted', async () => {
    const db = open()
    await write(db, desc('host1', 'cpu.idle'), [
      [T0, 97.5],
      [T0 + MIN, 96.25],
    ])
    await write(db, desc('host1', 'net.if.in.bytes', 'iface=eth0', 'DERIVE'), [
      [T0, 1000],
      [T0 + MIN, 7000],
    ])
    await write(db, desc('host2', 'cpu.idle'), [[T0, 50]])
    const q = db.querier()
    const set = await q.select([eq('__name__', 'cpu.idle'), eq('endpoint', 'host1')], all)
    assert.deepEqual(plain(set), [
      {
        labels: { __name__: 'cpu.idle', endpoint: 'host1' },
        samples: [
          [T0, 97.5],
          [T0 + MIN, 96.25],
        ],
      },
    ])
    assert.deepEqual(set.warnings, [])
    // A counter gives its raw values (rate() works on them).
    const net = await q.select([eq('__name__', 'net.if.in.bytes')], all)
    assert.deepEqual(plain(net), [
      {
        labels: { __name__: 'net.if.in.bytes', endpoint: 'host1', iface: 'eth0' },
        samples: [
          [T0, 1000],
          [T0 + MIN, 7000],
        ],
      },
    ])
    const cpu = await q.select([eq('__name__', 'cpu.idle')], all)
    assert.deepEqual(names(cpu), ['cpu.idle host1', 'cpu.idle host2'])
    assert.deepEqual(Array.from(cpu.offsets), [0, 2, 3])
  })

  it("answers func 'series' with the labels of the series in range and no samples", async () => {
    const db = open()
    await write(db, desc('host1', 'cpu.idle'), [[T0, 1]])
    await write(db, desc('host2', 'cpu.idle'), [[T0 + 10 * MIN, 2]])
    const q = db.querier()
    const set = await q.select([eq('__name__', 'cpu.idle')], { ...all, func: 'series' })
    assert.deepEqual(names(set), ['cpu.idle host1', 'cpu.idle host2'])
    assert.deepEqual(Array.from(set.offsets), [0, 0, 0])
    assert.equal(set.ts.length, 0)
    // Only the series with a sample in [start, end].
    const late = await q.select([eq('__name__', 'cpu.idle')], {
      start: T0 + 5 * MIN,
      end: T0 + 20 * MIN,
      func: 'series',
      maxSamples: 0,
    })
    assert.deepEqual(names(late), ['cpu.idle host2'])
  })

  it('matches escaped aliases of metric and tag names, and shows the stored names', async () => {
    const db = open()
    await write(db, desc('host1', 'cpu.idle'), [[T0, 1]])
    await write(db, desc('host1', 'cpu_user'), [[T0, 2]])
    await write(db, desc('host1', 'if.octets', 'iface.name=eth0'), [[T0, 3]])
    await write(db, desc('host1', 'if.octets', 'iface.name=lo'), [[T0, 4]])
    const q = db.querier()
    const sel = async (...ms: Matcher[]) => names(await q.select(ms, all))
    assert.deepEqual(await sel(eq('__name__', 'cpu_idle')), ['cpu.idle host1'])
    assert.deepEqual(await sel(eq('__name__', 'cpu.idle')), ['cpu.idle host1'])
    assert.deepEqual(await sel(m('__name__', '=~', 'cpu_.*')), ['cpu.idle host1', 'cpu_user host1'])
    assert.deepEqual(await sel(m('__name__', '=~', 'cpu\\..*')), ['cpu.idle host1'])
    // A negative matcher passes only when neither the name nor its escaped form passes.
    assert.deepEqual(await sel(eq('endpoint', 'host1'), m('__name__', '!=', 'cpu_idle')), [
      'cpu_user host1',
      'if.octets host1 eth0',
      'if.octets host1 lo',
    ])
    assert.deepEqual(
      await sel(eq('endpoint', 'host1'), m('__name__', '!~', 'cpu_.*|if_octets')),
      []
    )
    const byTag = await q.select([eq('iface_name', 'eth0')], all)
    assert.deepEqual(plain(byTag)[0].labels, {
      __name__: 'if.octets',
      endpoint: 'host1',
      'iface.name': 'eth0',
    })
    assert.deepEqual(await sel(eq('__name__', 'if_octets'), m('iface_name', '!=', 'eth0')), [
      'if.octets host1 lo',
    ])
    assert.deepEqual(await sel(eq('__name__', 'if_octets'), m('iface_name', '=~', 'e.*')), [
      'if.octets host1 eth0',
    ])
  })

  it('treats a missing label as empty, and anchors regexes with RE2 semantics', async () => {
    const db = open()
    await write(db, desc('host1', 'm', 'iface=eth0'), [[T0, 1]])
    await write(db, desc('host1', 'm'), [[T0, 2]])
    await write(db, desc('host12', 'm'), [[T0, 3]])
    const q = db.querier()
    const sel = async (...ms: Matcher[]) => names(await q.select(ms, all))
    assert.deepEqual(await sel(eq('__name__', 'm'), eq('iface', '')), ['m host1', 'm host12'])
    assert.deepEqual(await sel(eq('__name__', 'm'), m('iface', '!=', '')), ['m host1 eth0'])
    assert.deepEqual(await sel(m('endpoint', '=~', 'host1')), ['m host1', 'm host1 eth0'])
    assert.deepEqual(await sel(m('endpoint', '=~', '(?i)HOST1.')), ['m host12'])
    assert.deepEqual(await sel(m('endpoint', '!~', 'host1'), eq('__name__', 'm')), ['m host12'])
    assert.deepEqual(await sel(eq('__name__', 'nothing')), [])
    assert.deepEqual(await sel(eq('nosuchtag', 'x')), [])
    await assert.rejects(
      q.select([m('endpoint', '=~', '(?<=a)b')], all),
      (err: Error & { code?: string }) => err.code === 'PG_CORE_BAD_REGEX'
    )
  })

  it('answers as a MemoryQuerier holding the same series does', async () => {
    const db = open()
    const mem = new MemoryQuerier()
    const r = rng(7)
    for (let i = 0; i < 60; i++) {
      const endpoint = `host${i % 7}`
      const metric = ['cpu_idle', 'mem_used', 'disk_io'][i % 3]
      const tags = i % 4 === 0 ? '' : `dev=d${i % 5},kind=k${i % 2}`
      const points: [number, number][] = []
      for (let t = T0; t < T0 + 30 * MIN; t += MIN) if (r() < 0.8) points.push([t, r() * 100])
      if (points.length === 0) continue
      await write(db, desc(endpoint, metric, tags), points)
      const labels: Record<string, string> = { __name__: metric, endpoint }
      for (const kv of tags === '' ? [] : tags.split(',')) {
        const [k, v] = kv.split('=')
        labels[k] = v
      }
      mem.add(
        labels,
        points.map((p) => p[0]),
        points.map((p) => p[1])
      )
    }
    const q = db.querier()
    const cases: Matcher[][] = [
      [eq('__name__', 'cpu_idle')],
      [m('__name__', '=~', 'cpu_idle|disk_io'), m('endpoint', '!=', 'host3')],
      [m('dev', '=~', 'd[0-2]'), eq('kind', 'k1')],
      [eq('__name__', 'mem_used'), eq('dev', '')],
      [m('endpoint', '=~', '.+'), m('kind', '!~', 'k0')],
      [m('__name__', '!=', ''), m('dev', '!=', '')],
    ]
    const ranges = [all, { start: T0 + 5 * MIN, end: T0 + 9 * MIN }, { start: T0 + MIN, end: T0 }]
    for (const ms of cases) {
      for (const range of ranges) {
        assert.deepEqual(
          plain(await q.select(ms, range)),
          plain(await mem.select(ms, range)),
          JSON.stringify([ms, range])
        )
        for (const name of ['__name__', 'endpoint', 'dev']) {
          assert.deepEqual(
            await q.labelValues(name, ms, range),
            await mem.labelValues(name, ms, range),
            `labelValues ${name} ${JSON.stringify([ms, range])}`
          )
        }
        assert.deepEqual(await q.labelNames(ms, range), await mem.labelNames(ms, range))
      }
    }
  })

  it('reads blocks, head and late points in time order, start and end inclusive, first written wins', async () => {
    const db = open()
    const d = desc('h', 'g')
    await write(db, d, [
      [T0, 1],
      [T0 + MIN, 2],
      [T0 + 2 * MIN, 3],
    ])
    await db.flush()
    await write(db, d, [
      [T0 + 3 * MIN, 4],
      [T0 + 4 * MIN, 5],
    ])
    // Late: one new timestamp, one the block already has (the block's value stays).
    await write(db, d, [
      [T0 + 90_000, 1.5],
      [T0 + MIN, 99],
    ])
    const q = db.querier()
    const got = plain(await q.select([eq('__name__', 'g')], { start: T0 + MIN, end: T0 + 3 * MIN }))
    assert.deepEqual(got[0].samples, [
      [T0 + MIN, 2],
      [T0 + 90_000, 1.5],
      [T0 + 2 * MIN, 3],
      [T0 + 3 * MIN, 4],
    ])
    // A fractional range: t in [start, end] still.
    const frac = plain(
      await q.select([eq('__name__', 'g')], { start: T0 + 0.5, end: T0 + MIN + 0.5 })
    )
    assert.deepEqual(frac[0].samples, [[T0 + MIN, 2]])
    // No sample in range: no series.
    assert.deepEqual(names(await q.select([eq('__name__', 'g')], { start: 0, end: T0 - 1 })), [])
  })

  it('keeps NaN payloads, ±Inf and -0 exact', async () => {
    const db = open()
    // Values from a Float64Array: a JS array literal may quiet a signalling NaN (V8 canonicalises).
    const vs = new Float64Array(
      new BigUint64Array([
        0x7ff0000000000000n,
        0xfff0000000000000n,
        0x7ff0000000000002n, // Prometheus's stale marker
        0x7ff8000000000000n,
        0x8000000000000000n,
      ]).buffer
    )
    const app = db.appender()
    let ref = 0
    for (let i = 0; i < vs.length; i++) ref = app.append(ref, desc('h', 'g'), T0 + i * MIN, vs[i])
    await app.commit()
    for (const phase of ['head', 'block']) {
      if (phase === 'block') await db.flush()
      const set = await db.querier().select([eq('__name__', 'g')], all)
      const bits = Array.from(new BigUint64Array(set.vs.slice().buffer), (b) => b.toString(16))
      assert.deepEqual(
        bits,
        [
          '7ff0000000000000',
          'fff0000000000000',
          '7ff0000000000002',
          '7ff8000000000000',
          '8000000000000000',
        ],
        phase
      )
    }
  })

  it('merges the variants of a key by time, the one written last winning; __type__ and __step__ pick one', async () => {
    const db = open()
    const g = desc('h', 'df.free')
    const c = desc('h', 'df.free', '', 'DERIVE', 30)
    await write(db, g, [
      [T0, 1],
      [T0 + MIN, 2],
      [T0 + 2 * MIN, 3],
      [T0 + 3 * MIN, 4],
    ])
    await write(db, c, [
      [T0 + 2 * MIN, 100],
      [T0 + 3 * MIN, 101],
      [T0 + 4 * MIN, 102],
    ])
    const q = db.querier()
    const merged = plain(await q.select([eq('__name__', 'df_free')], all))
    assert.deepEqual(merged, [
      {
        labels: { __name__: 'df.free', endpoint: 'h' },
        samples: [
          [T0, 1],
          [T0 + MIN, 2],
          [T0 + 2 * MIN, 100],
          [T0 + 3 * MIN, 101],
          [T0 + 4 * MIN, 102],
        ],
      },
    ])
    const gauge = plain(await q.select([eq('__name__', 'df.free'), eq('__type__', 'gauge')], all))
    assert.deepEqual(
      gauge[0].samples.map((s) => s[1]),
      [1, 2, 3, 4]
    )
    assert.deepEqual(gauge[0].labels, { __name__: 'df.free', endpoint: 'h' })
    const step = plain(await q.select([eq('__name__', 'df.free'), eq('__step__', '30')], all))
    assert.deepEqual(
      step[0].samples.map((s) => s[1]),
      [100, 101, 102]
    )
    const counter = await q.select([eq('__name__', 'df.free'), m('__type__', '=~', 'count.*')], all)
    assert.equal(counter.labels.length, 1)
    assert.deepEqual(
      names(await q.select([eq('__name__', 'df.free'), eq('__step__', '10')], all)),
      []
    )
    // The reserved names are not labels.
    assert.deepEqual(await q.labelNames([], {}), ['__name__', 'endpoint'])
    assert.deepEqual(await q.labelValues('__type__', [], {}), [])
  })

  it('stops past maxSamples and when its signal aborts', async () => {
    const db = open()
    for (let i = 0; i < 200; i++) {
      await write(db, desc(`h${i}`, 'm'), [
        [T0, i],
        [T0 + MIN, i],
      ])
    }
    const q = db.querier()
    const ok = await q.select([eq('__name__', 'm')], { ...all, maxSamples: 400 })
    assert.equal(ok.ts.length, 400)
    await assert.rejects(
      q.select([eq('__name__', 'm')], { ...all, maxSamples: 399 }),
      (err: Error & { code?: string }) => err.code === 'PG_PROMQL_TOO_MANY_SAMPLES'
    )
    const ac = new AbortController()
    ac.abort(new Error('query timed out'))
    await assert.rejects(q.select([eq('__name__', 'm')], { ...all, signal: ac.signal }), {
      message: 'query timed out',
    })
    await assert.rejects(q.labelNames([], { signal: ac.signal }), { message: 'query timed out' })
    await assert.rejects(q.select([eq('__name__', 'm')], { start: NaN, end: 0 }), /start/)
  })

  it('answers label names and values by matchers, time range and limit', async () => {
    const db = open()
    assert.deepEqual(await db.querier().labelNames([], {}), [], 'an empty database')
    await write(db, desc('host1', 'cpu.idle'), [[T0, 1]])
    await write(db, desc('host2', 'net.in', 'iface.name=eth0,dc=a'), [[T0 + 10 * MIN, 1]])
    await write(db, desc('host3', 'net.in', 'iface.name=lo,dc=,endpoint=x'), [[T0 + 20 * MIN, 1]])
    const q = db.querier()
    assert.deepEqual(await q.labelNames([], {}), ['__name__', 'dc', 'endpoint', 'iface.name'])
    assert.deepEqual(await q.labelNames([], { limit: 2 }), ['__name__', 'dc'])
    assert.deepEqual(await q.labelNames([eq('__name__', 'cpu_idle')], {}), ['__name__', 'endpoint'])
    assert.deepEqual(await q.labelNames([], { start: T0 + 15 * MIN, end: T0 + 30 * MIN }), [
      '__name__',
      'endpoint',
      'iface.name',
    ])
    assert.deepEqual(await q.labelValues('__name__', [], {}), ['cpu.idle', 'net.in'])
    assert.deepEqual(await q.labelValues('endpoint', [], {}), ['host1', 'host2', 'host3'])
    assert.deepEqual(await q.labelValues('iface_name', [], {}), ['eth0', 'lo'])
    assert.deepEqual(await q.labelValues('dc', [], {}), ['a'])
    assert.deepEqual(await q.labelValues('endpoint', [eq('__name__', 'net_in')], { limit: 1 }), [
      'host2',
    ])
    assert.deepEqual(
      await q.labelValues('endpoint', [], { start: T0 + 5 * MIN, end: T0 + 10 * MIN }),
      ['host2']
    )
    assert.deepEqual(await q.labelValues('endpoint', [], { start: T0 + 30 * MIN }), [])
  })

  it('says a metric is a counter or a gauge', async () => {
    const db = open()
    await write(db, desc('h1', 'cpu.idle'), [[T0, 1]])
    await write(db, desc('h1', 'net.in', '', 'DERIVE'), [[T0, 1]])
    await write(db, desc('h1', 'mixed'), [[T0, 1]])
    await write(db, desc('h2', 'mixed', '', 'DERIVE'), [[T0, 1]])
    // One series whose type changed: the variant written last speaks for it.
    await write(db, desc('h1', 'changed'), [[T0, 1]])
    await write(db, desc('h1', 'changed', '', 'DERIVE'), [[T0 + MIN, 1]])
    const q = db.querier()
    const md = await q.metadata(undefined, undefined)
    assert.deepEqual(
      [...md].map(([k, v]) => [k, v.type]),
      [
        ['changed', 'counter'],
        ['cpu.idle', 'gauge'],
        ['mixed', 'unknown'],
        ['net.in', 'counter'],
      ]
    )
    assert.deepEqual([...(await q.metadata('net_in', undefined)).keys()], ['net.in'])
    assert.deepEqual([...(await q.metadata(undefined, 2)).keys()], ['changed', 'cpu.idle'])
    assert.deepEqual([...(await q.metadata('none', undefined)).keys()], [])
  })

  it('reads a rollup tier where raw data has expired, with a warning; a counter stays a counter', async () => {
    clock = T0 + 2 * DAY
    const retention = {
      raw: 3 * DAY,
      r5: 30 * DAY,
      r20: 90 * DAY,
      r180: 400 * DAY,
      r720: 1000 * DAY,
    }
    const db = open({ rollupAfter: DAY, retention })
    const g = desc('h', 'g')
    const c = desc('h', 'c', '', 'DERIVE')
    const gPoints: [number, number][] = []
    const cPoints: [number, number][] = []
    let v = 1000
    for (let t = T0; t < T0 + 6 * DAY; t += MIN) {
      gPoints.push([t, (t / MIN) % 100])
      v += (t / MIN) % 7
      cPoints.push([t, v])
    }
    await write(db, g, gPoints)
    await write(db, c, cPoints)
    await db.flush()
    clock = T0 + 7 * DAY
    await db.rollup(true)
    await db.applyRetention()
    const q = db.querier()
    const raw = await q.select([eq('__name__', 'g')], { start: T0 + 5 * DAY, end: T0 + 6 * DAY })
    assert.deepEqual(raw.warnings, [])
    const set = await q.select([m('__name__', '=~', 'g|c')], all)
    assert.match(set.warnings.join(), /2 series read from rollup tier r5 .*retention\.raw/)
    const [cs, gs] = plain(set)
    const firstRaw = 4 * DAY + T0 // raw blocks of days 0 to 3 expired (3 days of raw retention)
    const gTier = gs.samples.filter(([t]) => t < firstRaw)
    const gRaw = gs.samples.filter(([t]) => t >= firstRaw)
    assert.deepEqual(
      gRaw,
      gPoints.filter(([t]) => t >= firstRaw)
    )
    // Five-minute buckets (t - 5 min, t], the average of their points.
    assert.equal(gTier.length, (4 * DAY) / (5 * MIN))
    for (const [t, val] of gTier) {
      const inBucket = gPoints.filter(([x]) => x > t - 5 * MIN && x <= t).map((p) => p[1])
      assert.equal(val, inBucket.reduce((a, b) => a + b, 0) / inBucket.length, `bucket ${t}`)
    }
    // The counter: raw values from the seam on; before it, average rates integrated into a counter
    // that runs into the first raw value.
    const cRaw = cs.samples.filter(([t]) => t >= firstRaw)
    assert.deepEqual(
      cRaw,
      cPoints.filter(([t]) => t >= firstRaw)
    )
    const cTier = cs.samples.filter(([t]) => t < firstRaw)
    const rateOf = (t: number): number => {
      const pts = cPoints.filter(([x]) => x > t - 6 * MIN && x <= t)
      const rates = []
      for (let i = 1; i < pts.length; i++) {
        if (pts[i][0] > t - 5 * MIN) rates.push(((pts[i][1] - pts[i - 1][1]) * 1000) / MIN)
      }
      return rates.reduce((a, b) => a + b, 0) / rates.length
    }
    for (let i = 1; i < cTier.length; i++) {
      const [t, val] = cTier[i]
      const got = ((val - cTier[i - 1][1]) * 1000) / (t - cTier[i - 1][0])
      assert.ok(Math.abs(got - rateOf(t)) < 1e-6, `rate at ${t}: ${got} vs ${rateOf(t)}`)
    }
    const [lastT, lastV] = cTier[cTier.length - 1]
    const seam = lastV + (rateOf(lastT) * (cRaw[0][0] - lastT)) / 1000
    assert.ok(Math.abs(seam - cRaw[0][1]) < 1e-6, `${seam} runs into ${cRaw[0][1]}`)
  })

  it('reads coarser tiers where the finer ones have expired, each bucket once', async () => {
    const HOUR = 60 * MIN
    clock = T0 + 2 * DAY
    const db = open({
      rollupAfter: DAY,
      maxBlockSpan: HOUR,
      retention: { raw: 2 * DAY, r5: 3 * DAY, r20: 90 * DAY, r180: 400 * DAY, r720: 1000 * DAY },
    })
    const points: [number, number][] = []
    for (let t = T0 + MIN; t < T0 + 6 * DAY; t += MIN) points.push([t, (t / MIN) % 100])
    await write(db, desc('h', 'g'), points)
    await db.flush()
    clock = T0 + 6 * DAY
    await db.rollup(true)
    await db.applyRetention()
    const set = await db.querier().select([eq('__name__', 'g')], all)
    assert.equal(set.warnings.length, 2)
    assert.match(set.warnings[0], /^1 series read from rollup tier r5 /)
    assert.match(set.warnings[1], /^1 series read from rollup tier r20 /)
    const samples = plain(set)[0].samples
    const firstRaw = T0 + 4 * DAY
    // r5 blocks cover 5-hour windows (from the epoch) of bucket ends; those ending before
    // now - 3 days have expired, so r5's first bucket ends where its first kept window begins.
    const span5 = 5 * HOUR
    const firstR5 = Math.ceil((T0 + 3 * DAY - span5 + 5 * MIN) / span5) * span5
    assert.ok(samples.some(([t]) => t === firstR5))
    // r20 up to where r5 begins, r5 up to the raw data, then raw: each span at its own step.
    let seam5 = 0
    for (let i = 1; i < samples.length; i++) {
      const [t, v] = samples[i]
      const gap = t - samples[i - 1][0]
      const res: number = t >= firstRaw ? MIN : t >= firstR5 ? 5 * MIN : 20 * MIN
      if (gap !== res && t !== firstRaw) {
        // Where r20 hands over to r5: the r5 bucket begins where the last r20 bucket ends, or later.
        assert.equal(t, firstR5, `gap ${gap} at ${t - T0}`)
        assert.ok(gap >= 5 * MIN, `gap ${gap} at ${t - T0}`)
        seam5++
      }
      if (t >= firstRaw) continue
      const inBucket = points.filter(([x]) => x > t - res && x <= t).map((p) => p[1])
      assert.equal(v, inBucket.reduce((a, b) => a + b, 0) / inBucket.length, `bucket at ${t - T0}`)
    }
    assert.ok(seam5 <= 1)
    assert.ok(samples[0][0] < T0 + DAY, 'r20 reaches back to the first day')
  })
})

function rng(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
}
