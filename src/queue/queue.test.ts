import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { dropKeys, memoryQueue, type Queue, redisQueue, SPILL_FILE, testRedis } from './index.js'
import { recordingLogger, waitUntil } from '../core/index.js'

const { url: REDIS_URL, skip: skipRedis } = await testRedis()
const prefix = `peregrine-test-${randomUUID()}:`

const dirs: string[] = []
const spillDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'peregrine-queue-'))
  dirs.push(d)
  return d
}
const url = (port: number) =>
  `redis://127.0.0.1:${port}/${new URL(REDIS_URL).pathname.slice(1) || '0'}`

/** tcpProxy forwards to Redis until cut: then it drops every connection and refuses new ones. */
async function tcpProxy(target: URL) {
  const sockets = new Set<Socket>()
  let cut = false
  const server = createServer((client) => {
    if (cut) return client.destroy()
    const upstream = connect(Number(target.port || 6379), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s)).on('error', () => undefined)
    }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true
      for (const s of sockets) s.destroy()
    },
    restore: () => void (cut = false),
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

interface Subject {
  name: string
  skip: string | false
  make(): Queue
}
const subjects: Subject[] = [
  { name: 'memoryQueue', skip: false, make: memoryQueue },
  {
    name: 'redisQueue',
    skip: skipRedis,
    make: () =>
      redisQueue({
        url: REDIS_URL,
        spillDir: spillDir(),
        log: recordingLogger(),
        keyPrefix: prefix,
      }),
  },
]

let raw: Redis | undefined
before(() => {
  if (skipRedis === false)
    raw = new Redis(REDIS_URL, { keyPrefix: prefix }).on('error', () => undefined)
})
after(async () => {
  if (raw) {
    raw.disconnect()
    await dropKeys(REDIS_URL, prefix)
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

for (const s of subjects) {
  describe(s.name, { skip: s.skip }, () => {
    it('is FIFO per list', async () => {
      const q = s.make()
      const list = `fifo-${randomUUID()}`
      await q.push(list, '1', '2')
      await q.push(list, '3')
      assert.equal(await q.length(list), 3)
      const got = [await q.pop([list], 1000), await q.pop([list], 1000), await q.pop([list], 1000)]
      assert.deepEqual(
        got.map((g) => g?.payload),
        ['1', '2', '3']
      )
      assert.equal(await q.length(list), 0)
      assert.deepEqual(
        { ...q.stats(), backlog: 0 },
        { pushed: 3, popped: 3, backlog: 0, spilled: 0, replayed: 0 }
      )
      await q.close()
    })

    it('pops the first non-empty list in the order given', async () => {
      const q = s.make()
      const id = randomUUID()
      const [p0, p1, p2] = [0, 1, 2].map((p) => `event:p${p}-${id}`)
      await q.push(p2, 'low')
      await q.push(p0, 'high')
      assert.deepEqual(await q.pop([p0, p1, p2], 1000), { list: p0, payload: 'high' })
      assert.deepEqual(await q.pop([p0, p1, p2], 1000), { list: p2, payload: 'low' })
      await q.close()
    })

    it('returns undefined when nothing arrives in time', async () => {
      const q = s.make()
      const t0 = Date.now()
      assert.equal(await q.pop([`empty-${randomUUID()}`], 150), undefined)
      const took = Date.now() - t0
      assert.ok(took >= 140 && took < 2000, `took ${took} ms`)
      await q.close()
    })

    it('wakes a waiting pop on push', async () => {
      const q = s.make()
      const list = `wake-${randomUUID()}`
      const t0 = Date.now()
      const popping = q.pop(['other', list], 10_000)
      await new Promise((r) => setTimeout(r, 100))
      await q.push(list, 'hello')
      assert.deepEqual(await popping, { list, payload: 'hello' })
      assert.ok(Date.now() - t0 < 2000)
      await q.close()
    })

    it('wakes waiting poppers with undefined on close', async () => {
      const q = s.make()
      const popping = q.pop([`closed-${randomUUID()}`], 10_000)
      await new Promise((r) => setTimeout(r, 100))
      await q.close()
      assert.equal(await popping, undefined)
      await assert.rejects(q.push('x', 'y'), /after close/)
    })
  })
}

describe('redisQueue with falcon', { skip: skipRedis }, () => {
  it('shares event:p0 with falcon clients (LPUSH in, RPOP out)', async () => {
    const r = raw as Redis
    const q = redisQueue({
      url: REDIS_URL,
      spillDir: spillDir(),
      log: recordingLogger(),
      keyPrefix: prefix,
    })
    const event = JSON.stringify({ id: 's_3_abc', priority: 0, status: 'PROBLEM' })
    await q.push('event:p0', event)
    assert.equal(await r.rpop('event:p0'), event)
    await r.lpush('event:p1', 'a', 'b')
    assert.deepEqual(await q.pop(['event:p0', 'event:p1'], 1000), {
      list: 'event:p1',
      payload: 'a',
    })
    assert.deepEqual(await q.pop(['event:p0', 'event:p1'], 1000), {
      list: 'event:p1',
      payload: 'b',
    })
    await q.close()
  })

  it('answers a pop that must not block from the lists, even on its first, new connection', async () => {
    const q = redisQueue({
      url: REDIS_URL,
      spillDir: spillDir(),
      log: recordingLogger(),
      keyPrefix: prefix,
    })
    // alarm's merge drains lists with timeout 0: before the fix the first such pop, opening its
    // connection, answered "empty" without asking Redis.
    await q.push('merge:user', 'a', 'b')
    assert.deepEqual(await q.pop(['merge:user'], 0), { list: 'merge:user', payload: 'a' })
    assert.deepEqual(await q.pop(['merge:user'], 0), { list: 'merge:user', payload: 'b' })
    assert.equal(await q.pop(['merge:user'], 0), undefined)
    await q.close()
  })

  it('holds and spills pushes while Redis is unreachable, then replays them in order', async () => {
    const r = raw as Redis
    const proxy = await tcpProxy(new URL(REDIS_URL))
    const log = recordingLogger()
    const dir = spillDir()
    const q = redisQueue({
      url: url(proxy.port),
      spillDir: dir,
      maxBuffered: 100,
      log,
      keyPrefix: prefix,
    })
    const list = `outage-${randomUUID()}`
    await q.push(list, 'before')
    proxy.cut()
    await waitUntil(
      () => log.lines.some((l) => l.includes('unreachable')),
      'the outage to be noticed'
    )
    const sent = Array.from({ length: 1000 }, (_, i) => `item-${i}`)
    // 100 pushes of 10 in flight at once: the order of the calls is the order in Redis.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => q.push(list, ...sent.slice(i * 10, i * 10 + 10)))
    )
    assert.equal(q.stats().backlog, 1000)
    assert.equal(q.stats().spilled, 900)
    assert.equal(readFileSync(join(dir, SPILL_FILE), 'utf8').split('\n').length - 1, 900)
    proxy.restore()
    await waitUntil(() => q.stats().backlog === 0, 'the backlog to drain', 20_000)
    const inRedis = (await r.lrange(list, 0, -1)).reverse()
    assert.deepEqual(inRedis, ['before', ...sent])
    assert.equal(q.stats().replayed, 1000)
    await waitUntil(() => !existsSync(join(dir, SPILL_FILE)), 'the spill file to be removed')
    assert.equal(log.lines.filter((l) => l.includes('unreachable')).length, 1)
    assert.equal(log.lines.filter((l) => l.includes('answers again')).length, 1)
    await q.close()
    await proxy.close()
  })

  it('replays a spill file left by a crash, and keeps what it held on close', async () => {
    const r = raw as Redis
    const proxy = await tcpProxy(new URL(REDIS_URL))
    proxy.cut()
    const dir = spillDir()
    const list = `crash-${randomUUID()}`
    const log = recordingLogger()
    const q1 = redisQueue({
      url: url(proxy.port),
      spillDir: dir,
      maxBuffered: 3,
      log,
      keyPrefix: prefix,
    })
    await waitUntil(
      () => log.lines.some((l) => l.includes('unreachable')),
      'the outage to be noticed'
    )
    await q1.push(list, ...Array.from({ length: 50 }, (_, i) => `${i}`))
    // close writes the 3 held in memory ahead of the 47 spilled ones.
    await q1.close()
    appendFileSync(join(dir, SPILL_FILE), '["torn') // a write cut short by the crash
    await proxy.close()

    const q2 = redisQueue({
      url: REDIS_URL,
      spillDir: dir,
      log: recordingLogger(),
      keyPrefix: prefix,
    })
    await waitUntil(() => q2.stats().backlog === 0, 'the spill file to be replayed')
    await q2.push(list, 'after')
    assert.deepEqual((await r.lrange(list, 0, -1)).reverse(), [
      ...Array.from({ length: 50 }, (_, i) => `${i}`),
      'after',
    ])
    await waitUntil(() => !existsSync(join(dir, SPILL_FILE)), 'the spill file to be removed')
    await q2.close()
  })
})
