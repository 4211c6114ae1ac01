import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { pointAt, recordingLogger, silentLogger, validateBatch } from '../core/index.js'
import { type ParsedPush, ParsePool, type ValidatedPush } from './parse-pool.js'

const NOW = 1_700_000_000

const item = (i: number, extra: Record<string, unknown> = {}) => ({
  endpoint: `host-${i % 7}`,
  metric: `m.${i % 3}`,
  value: i / 4,
  step: 60,
  counterType: i % 2 === 0 ? 'GAUGE' : 'COUNTER',
  tags: i % 5 === 0 ? '' : `k=${i % 5}`,
  timestamp: NOW - 60 * i,
  ...extra,
})

function validated(p: ParsedPush | null): ValidatedPush {
  assert.ok(p !== null, 'parsed by a worker')
  assert.equal(p.fault, null)
  return (p as { push: ValidatedPush }).push
}

const pools: ParsePool[] = []
after(async () => {
  for (const p of pools) await p.close()
})

function pool(o: Partial<ConstructorParameters<typeof ParsePool>[0]> = {}): ParsePool {
  const p = new ParsePool({
    workers: 1,
    minBytes: 0,
    maxQueuedBytes: 1 << 30,
    log: silentLogger,
    name: 'test',
    ...o,
  })
  pools.push(p)
  return p
}

describe('ParsePool', () => {
  it('answers what validateBatch answers on the calling thread, the points as columns', async () => {
    const items: unknown[] = Array.from({ length: 50 }, (_, i) => item(i))
    items.push(
      item(50, { counterType: 'gauge' }),
      item(51, { value: '1.5e3' }),
      item(52, { timestamp: undefined }),
      { Endpoint: 'folded', METRIC: 'm', value: 1, step: 60, counterType: 'GAUGE' },
      'not an object',
      item(53, { step: 1.5 }),
      item(54, { tags: '城市=北京,note=a},{"b":"c"}' })
    )
    const bytes = Buffer.from(JSON.stringify(items))
    const got = validated(await pool().parse(bytes, NOW, 10))
    const want = validateBatch(items, NOW, 10)
    const points = Array.from({ length: got.valid.ids.length }, (_, i) => pointAt(got.valid, i))
    // The same fields and values, whatever the key order of the pushed objects.
    assert.deepEqual(
      points.map((m) => ({ ...m })),
      want.valid.map((m) => ({
        endpoint: m.endpoint,
        metric: m.metric,
        value: m.value,
        step: m.step,
        counterType: m.counterType,
        tags: m.tags,
        timestamp: m.timestamp,
      }))
    )
    assert.equal(got.invalid, want.invalid)
    assert.deepEqual(got.invalidAt, want.invalidAt)
    assert.deepEqual(
      got.errors.map((e) => [e.index, e.error.code, e.error.message]),
      want.errors.map((e) => [e.index, e.error.code, e.error.message])
    )
  })

  it('numbers each series once, and starts again past maxSeries without mixing series up', async () => {
    const p = pool({ maxSeries: 8 })
    // Many points of one series in a push do not make the worker start again.
    const one = Array.from({ length: 50 }, (_, i) => item(0, { value: i, timestamp: NOW - 60 * i }))
    let table: unknown = null
    for (let k = 0; k < 3; k++) {
      const got = validated(await p.parse(Buffer.from(JSON.stringify(one)), NOW, 10))
      assert.equal(got.valid.series.length, 1)
      if (table !== null) assert.equal(got.valid.series, table, 'the same table')
      table = got.valid.series
    }
    const seen = new Set<string>()
    for (let round = 0; round < 6; round++) {
      // 5 series a push, new ones each round: the worker forgets them every other push.
      const items = Array.from({ length: 20 }, (_, i) =>
        item(i, { endpoint: `r${round}-${i % 5}`, value: round * 100 + i })
      )
      const got = validated(await p.parse(Buffer.from(JSON.stringify(items)), NOW, 10))
      assert.equal(got.valid.ids.length, 20)
      for (let i = 0; i < 20; i++) {
        const m = pointAt(got.valid, i)
        assert.equal(m.endpoint, `r${round}-${i % 5}`)
        assert.equal(m.metric, `m.${i % 3}`)
        assert.equal(m.value, round * 100 + i)
        seen.add(`${m.endpoint}/${m.metric}/${m.tags}`)
      }
      // At most maxSeries and one push's own (20 series a push here).
      assert.ok(got.valid.series.length <= 8 + 20, `${got.valid.series.length} series in the table`)
    }
    assert.equal(seen.size, 6 * 15)
  })

  it('says when the bytes are not JSON or not an array', async () => {
    const p = pool()
    const bad = await p.parse(Buffer.from('[{"endpoint": '), NOW, 10)
    assert.ok(bad !== null && bad.fault === 'json')
    assert.match(bad.message, /JSON/)
    const obj = await p.parse(Buffer.from('{"endpoint":"a"}'), NOW, 10)
    assert.deepEqual(obj, { fault: 'shape' })
  })

  it('leaves small pushes to the caller, and every push when it has no worker', () => {
    assert.equal(pool({ minBytes: 100 }).parse(Buffer.from('[]'), NOW, 10), null)
    assert.equal(pool({ workers: 0 }).parse(Buffer.alloc(1000, 0x20), NOW, 10), null)
  })

  it('leaves a push to the caller while the workers hold maxQueuedBytes, until they are done', async () => {
    const p = pool({ maxQueuedBytes: 6_000 })
    const body = () => Buffer.from(JSON.stringify(Array.from({ length: 40 }, (_, i) => item(i))))
    assert.ok(body().length > 3_000 && body().length < 6_000)
    const first = p.parse(body(), NOW, 10)
    assert.ok(first !== null)
    assert.ok(p.queuedBytes > 0)
    // The first push is still with the worker: a second one of the same size would pass the bound.
    assert.equal(p.parse(body(), NOW, 10), null)
    validated(await first)
    assert.equal(p.queuedBytes, 0)
    const again = p.parse(body(), NOW, 10)
    assert.ok(again !== null)
    validated(await again)
  })

  it('fails the pushes of a worker that dies, starts another, and gives up after five deaths', async () => {
    const log = recordingLogger()
    // A worker that dies on its first message.
    const dying = new URL(
      'data:text/javascript,' +
        encodeURIComponent(
          "import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => { throw new Error('boom') })"
        )
    )
    const p = pool({ workerUrl: dying, log })
    for (let k = 0; k < 5; k++) {
      const pending = p.parse(Buffer.from('[]'), NOW, 10)
      assert.ok(pending !== null)
      await assert.rejects(pending, /boom/)
    }
    assert.equal(p.workers, 0)
    assert.equal(p.parse(Buffer.from('[]'), NOW, 10), null)
    assert.ok(
      log.lines.some((l) =>
        /died 5 times within a minute; 0 left, pushes are parsed on the main thread/.test(l)
      ),
      log.lines.join('\n')
    )
  })
})
