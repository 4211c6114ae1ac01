// Judge as its users asked (falcon-plus #727, open-falcon #11, #323, #495), in a real process with api,
// hbs and judge: strategies saved through the api with tag matchers fire only on the series they match,
// a bad regex is a 400 naming `tags`, and a judge stopped (SIGTERM) or killed (SIGKILL) in the middle
// of a PROBLEM sends no second PROBLEM after its restart, and still sends the OK. Events are read from
// Redis lists of this test's own (judge.queuePattern), where falcon's alarm would read them.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { JsonRpcClient, waitUntil } from '../src/core/index.js'
import { dropKeys, testRedis } from '../src/queue/index.js'
import { loginRoot, type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

const { url: REDIS_URL, skip } = await testRedis()
const PREFIX = `pg-judge-state-${randomUUID()}:`
const LIST = `${PREFIX}event:p2`
const STEP = 60
// Points of the last few minutes, so that judge's clock (Date.now) sees them as falcon's would.
const T = Math.floor(Date.now() / 1000 / STEP) * STEP - 20 * STEP

describe('judge with api and hbs, restarted', { skip }, () => {
  let dir = ''
  let aio: PeregrineProcess
  let token = ''
  let redis: Redis
  const ids: Record<string, number> = {}

  const start = async () => {
    aio = await startPeregrine(dir, ['api', 'hbs', 'judge'], {
      top: { redis: REDIS_URL },
      judge: { queuePattern: `${PREFIX}event:p%v` },
    })
    token = await loginRoot(aio.addresses.api.http)
  }

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`http://${aio.addresses.api.http}/api/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', apitoken: token },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> }
  }

  async function strategy(name: string, tpl: unknown, over: Record<string, unknown>) {
    const r = await call('POST', '/strategy', {
      tags: '',
      max_step: 1,
      priority: 2,
      func: 'all(#2)',
      op: '>',
      right_value: '90',
      note: name,
      run_begin: '',
      run_end: '',
      tpl_id: tpl,
      ...over,
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    ids[name] = r.body.id as number
  }

  /** send pushes GAUGE points to judge's Judge.Send, as transfer does. */
  async function send(points: [string, string, Record<string, string>, number, number][]) {
    const rpc = new JsonRpcClient(aio.addresses.judge.rpc)
    try {
      const items = points.map(([endpoint, metric, tags, t, value]) => ({
        endpoint,
        metric,
        tags,
        timestamp: T + t,
        value,
        judgeType: 'GAUGE',
      }))
      assert.deepEqual(await rpc.call('Judge.Send', items), { code: 0 })
    } finally {
      rpc.close()
    }
  }

  /** events lists what judge pushed so far, oldest first, as `note status step tags`. */
  async function events(): Promise<string[]> {
    const raw = await redis.lrange(LIST, 0, -1)
    return raw.reverse().map((p) => {
      const e = JSON.parse(p) as {
        strategy: { note: string }
        status: string
        currentStep: number
        endpoint: string
        pushedTags: Record<string, string>
      }
      const tags = Object.entries(e.pushedTags).map(([k, v]) => `${k}=${v}`)
      return [e.strategy.note, e.endpoint, e.status, e.currentStep, ...tags].join(' ')
    })
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-judge-state-'))
    redis = new Redis(REDIS_URL).on('error', () => undefined)
    await start()
    const grp = await call('POST', '/hostgroup', { name: 'hosts' })
    await call('POST', '/hostgroup/host', { hostgroup_id: grp.body.id, hosts: ['h1', 'h2', 'h3'] })
    const tpl = (await call('POST', '/template', { name: 'judge-state' })).body.id
    await strategy('data', tpl, { metric: 'df.used', tags: 'mount=~/data[0-9]*' })
    await strategy('not-data', tpl, { metric: 'df.used', tags: 'mount!~/data[0-9]*,fstype!=tmpfs' })
    await strategy('busy', tpl, { metric: 'cpu.busy' })
    await call('POST', '/hostgroup/template', { grp_id: grp.body.id, tpl_id: tpl })
    for (const url of [
      `http://${aio.addresses.hbs.http}/config/reload`,
      `http://${aio.addresses.judge.http}/config/reload`,
    ]) {
      const res = await fetch(url)
      assert.equal(res.status, 200, await res.text())
    }
  })

  after(async () => {
    await aio?.stop()
    redis?.disconnect()
    await dropKeys(REDIS_URL, PREFIX)
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses a strategy whose tag regex does not compile, naming tags', async () => {
    const tpl = (await call('POST', '/template', { name: 'bad-tags' })).body.id
    const r = await call('POST', '/strategy', {
      metric: 'df.used',
      tags: 'mount=~/data(',
      max_step: 1,
      priority: 2,
      func: 'all(#1)',
      op: '>',
      right_value: '90',
      tpl_id: tpl,
    })
    assert.equal(r.status, 400)
    assert.match(String(r.body.error), /^body\.tags: "mount=~\/data\(": error parsing regexp/)
  })

  it('fires a k=~re strategy and a k!~re,k!=v one each on the series they match only', async () => {
    await send([
      ['h1', 'df.used', { mount: '/data1', fstype: 'ext4' }, STEP, 95],
      ['h1', 'df.used', { mount: '/', fstype: 'ext4' }, STEP, 95],
      ['h1', 'df.used', { mount: '/run', fstype: 'tmpfs' }, STEP, 95],
      ['h1', 'df.used', { mount: '/data1x', fstype: 'ext4' }, STEP, 95],
    ])
    await send([
      ['h1', 'df.used', { mount: '/data1', fstype: 'ext4' }, 2 * STEP, 96],
      ['h1', 'df.used', { mount: '/', fstype: 'ext4' }, 2 * STEP, 96],
      ['h1', 'df.used', { mount: '/run', fstype: 'tmpfs' }, 2 * STEP, 96],
      ['h1', 'df.used', { mount: '/data1x', fstype: 'ext4' }, 2 * STEP, 96],
    ])
    // /run is tmpfs (fstype!=tmpfs), /data1x is not /data[0-9]* (anchored) but is !~ it.
    await waitUntil(async () => (await events()).length >= 3, 'three PROBLEMs')
    assert.deepEqual((await events()).sort(), [
      'data h1 PROBLEM 1 fstype=ext4 mount=/data1',
      'not-data h1 PROBLEM 1 fstype=ext4 mount=/',
      'not-data h1 PROBLEM 1 fstype=ext4 mount=/data1x',
    ])
    await redis.del(LIST)
  })

  for (const [signal, host] of [
    ['SIGTERM', 'h2'],
    ['SIGKILL', 'h3'],
  ] as const) {
    it(`restarted (${signal}) in the middle of a PROBLEM: no second PROBLEM, the OK arrives`, async () => {
      await send([[host, 'cpu.busy', {}, STEP, 95]])
      await send([[host, 'cpu.busy', {}, 2 * STEP, 96]])
      await waitUntil(async () => (await events()).length === 1, 'the PROBLEM in Redis')
      assert.deepEqual(await events(), [`busy ${host} PROBLEM 1`])
      // The PROBLEM's last event was written before it was queued: a kill now loses nothing.
      assert.equal(await aio.stop(signal), signal === 'SIGKILL' ? null : 0)
      await start()
      // Still triggered: a judge that forgot would send PROBLEM 1 again (maxStep 1 allows one).
      await send([[host, 'cpu.busy', {}, 3 * STEP, 97]])
      await send([[host, 'cpu.busy', {}, 4 * STEP, 98]])
      // Cleared: the OK follows, and nothing came between.
      await send([[host, 'cpu.busy', {}, 5 * STEP, 10]])
      await waitUntil(async () => (await events()).length >= 2, 'the OK in Redis')
      assert.deepEqual(await events(), [`busy ${host} PROBLEM 1`, `busy ${host} OK 1`])
      await redis.del(LIST)
    })
  }
})
