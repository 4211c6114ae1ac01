// A graph cluster of three real graph processes with replication 2, behind a real transfer and api:
// one node kill -9'd while pushes go on, every acknowledged point readable through api (falcon's
// history, PromQL, the endpoint search: each series once), and the node, restarted on its address,
// caught up from transfer's buffer: asked directly, it holds every point of its series.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HashRing, JsonRpcClient, seriesKeyOf, waitUntil } from '../src/core/index.js'
import {
  loginRoot,
  type PeregrineProcess,
  startPeregrine,
  TEST_ROOT_PASSWORD,
} from './support/peregrine-process.js'

const root = mkdtempSync(join(tmpdir(), 'pg-replicas-'))
const running: PeregrineProcess[] = []
after(async () => {
  for (const p of running) await p.stop('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

const STEP = 60
const HOSTS = 60
const BATCHES = 120
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 200 * STEP
const valueOf = (batch: number, host: number) => batch * 1000 + host
const NODES = ['graph-00', 'graph-01', 'graph-02']
for (const d of [...NODES, 'front']) mkdirSync(join(root, d))

interface Series {
  endpoint: string
  counter: string
  Values: { timestamp: number; value: number | null }[]
}

describe('graph cluster with replication 2', () => {
  it(
    'keeps every acknowledged point readable across kill -9 of a node, and catches it up',
    { timeout: 90_000 },
    async () => {
      const graphs: PeregrineProcess[] = []
      for (const n of NODES) {
        graphs.push(await startPeregrine(join(root, n), ['graph']))
        running.push(graphs[graphs.length - 1])
      }
      const addr = graphs.map((g) => g.addresses.graph.rpc)
      const graphCluster = Object.fromEntries(NODES.map((n, i) => [n, addr[i]]))
      // api takes transfer's replication from the same file (its graphCluster is the same).
      const front = await startPeregrine(join(root, 'front'), ['transfer', 'api'], {
        transfer: { graphCluster, replication: 2 },
        api: { graphCluster },
      })
      running.push(front)
      const push = `http://${front.addresses.transfer.http}/api/push`
      const api = front.addresses.api.http

      // Two pushers, one batch (every host's point at one timestamp) after another, paced so that the
      // kill and the restart land while they push.
      const status: number[] = []
      let next = 0
      let restarted = false
      const pusher = async () => {
        while (next < BATCHES) {
          // The last 30 batches wait for graph-01's restart, so that pushes go on across it too.
          if (next >= BATCHES - 30 && !restarted) {
            await new Promise((r) => setTimeout(r, 20))
            continue
          }
          const i = next++
          const body = Array.from({ length: HOSTS }, (_, h) => ({
            endpoint: `host-${h}`,
            metric: 'cpu.idle',
            value: valueOf(i, h),
            step: STEP,
            counterType: 'GAUGE',
            tags: '',
            timestamp: T0 + i * STEP,
          }))
          const res = await fetch(push, { method: 'POST', body: JSON.stringify(body) })
          const answer = (await res.json()) as { data?: { Message: string; Invalid: number } }
          status[i] = res.status
          if (res.status === 200)
            assert.deepEqual([answer.data?.Message, answer.data?.Invalid], ['ok', 0])
          await new Promise((r) => setTimeout(r, 15))
        }
      }
      const pushing = Promise.all([pusher(), pusher()])
      const acked = () => status.filter((s) => s === 200).length

      await waitUntil(() => acked() >= 30, '30 batches acknowledged')
      assert.equal(await graphs[1].stop('SIGKILL'), null)
      await waitUntil(() => acked() >= 60, '30 more batches acknowledged with graph-01 down')
      // Readable while graph-01 is down: each series has its other replica.
      const token = await loginRoot(api)
      const whileDown = await history(api, token, T0 + 59 * STEP)
      assert.equal(whileDown.length, HOSTS)
      for (const s of whileDown) assert.ok(s.Values.length > 0, s.endpoint)
      graphs[1] = await startPeregrine(join(root, NODES[1]), ['graph'], { graph: { rpc: addr[1] } })
      running.push(graphs[1])
      restarted = true
      await pushing

      // Every push was acknowledged: one node down of two replicas never refuses one.
      assert.deepEqual(
        status.map((s, i) => [i, s]).filter(([, s]) => s !== 200),
        []
      )
      assert.equal(status.length, BATCHES)

      // Every acknowledged point, once, through falcon's history.
      const got = await history(api, token, T0 + (BATCHES - 1) * STEP)
      assert.equal(got.length, HOSTS)
      for (const s of got) {
        const h = Number(s.endpoint.slice(5))
        const want = Array.from({ length: BATCHES }, (_, i) => valueOf(i, h))
        assert.deepEqual(
          s.Values.filter((v) => v.value !== null).map((v) => v.value),
          want,
          s.endpoint
        )
      }
      // PromQL over Graph.Select: each series counted once, though two nodes hold it.
      const at = T0 + 100 * STEP
      const q = await promql(api, `count(cpu_idle)`, at)
      assert.equal(q, String(HOSTS))
      const sum = await promql(api, `sum(cpu_idle)`, at)
      let want = 0
      for (let h = 0; h < HOSTS; h++) want += valueOf(100, h)
      assert.equal(Number(sum), want)
      // The endpoint search: each endpoint once.
      const eps = (await (
        await fetch(`http://${api}/api/v1/graph/endpoint?q=host&limit=1000`, {
          headers: { apitoken: token },
        })
      ).json()) as { endpoint: string }[]
      assert.equal(eps.length, HOSTS)

      // Caught up: graph-01, asked directly, holds every point of every series it is a replica of.
      const ring = new HashRing(NODES)
      const mine = Array.from({ length: HOSTS }, (_, h) => h).filter((h) =>
        ring.getN(seriesKeyOf(`host-${h}`, 'cpu.idle', ''), 2).includes('graph-01')
      )
      assert.ok(mine.length > HOSTS / 3, `${mine.length} series on graph-01`)
      const direct = new JsonRpcClient(addr[1])
      try {
        const complete = async () => {
          for (const h of mine) {
            const r = await direct.call<Series>('Graph.Query', {
              endpoint: `host-${h}`,
              counter: 'cpu.idle',
              start: T0,
              end: T0 + (BATCHES - 1) * STEP,
              consolFuc: 'AVERAGE',
            })
            if (r.Values.filter((v) => v.value !== null).length < BATCHES) return false
          }
          return true
        }
        await waitUntil(complete, 'graph-01 to hold every point of its series again', 30_000)
      } finally {
        direct.close()
      }
      const counters = (await (
        await fetch(`http://${front.addresses.transfer.http}/counter/all`)
      ).json()) as { data: { dropped: number; bufferedByGraph: Record<string, number> } }
      assert.equal(counters.data.dropped, 0)
      assert.equal(counters.data.bufferedByGraph[addr[1]], 0)
    }
  )
})

async function history(api: string, token: string, end: number): Promise<Series[]> {
  const res = await fetch(`http://${api}/api/v1/graph/history`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apitoken: token },
    body: JSON.stringify({
      hostnames: Array.from({ length: HOSTS }, (_, h) => `host-${h}`),
      counters: ['cpu.idle'],
      start_time: T0,
      end_time: end,
      consol_fun: 'AVERAGE',
      step: STEP,
    }),
  })
  assert.equal(res.status, 200, await res.clone().text())
  return (await res.json()) as Series[]
}

async function promql(api: string, query: string, time: number): Promise<string> {
  const res = await fetch(`http://${api}/api/v1/query`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`root:${TEST_ROOT_PASSWORD}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ query, time: String(time) }).toString(),
  })
  const body = (await res.json()) as {
    status: string
    data: { result: { value: [number, string] }[] }
  }
  assert.equal(body.status, 'success', JSON.stringify(body))
  assert.equal(body.data.result.length, 1, JSON.stringify(body))
  return body.data.result[0].value[1]
}
