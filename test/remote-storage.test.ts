// `storage: remote` against a real VictoriaMetrics (Debian's victoria-metrics, single node: the same
// remote write and query API as a cluster's vminsert and vmselect): falcon pushes land in it with
// Peregrine's labels, Peregrine's falcon history, PromQL and judge work on top of it, and with the
// store stopped for 30 s while pushes go on, every acknowledged point arrives once.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeSnappy, encodeWriteRequest, waitUntil } from '../src/core/index.js'
import {
  BIN,
  loginRoot,
  type PeregrineProcess,
  startPeregrine,
} from './support/peregrine-process.js'
import { VICTORIA_METRICS as VM, VictoriaMetrics } from './support/victoria-metrics.js'

const STEP = 60
// Whole minutes, two days back: transfer aligns timestamps to the step.
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 2 * 86_400

let dir = ''
let vm: VictoriaMetrics
let aio: PeregrineProcess
let token = ''

/** The raw samples VictoriaMetrics holds for a selector, by its export API. */
async function exported(
  selector: string
): Promise<{ metric: Record<string, string>; values: number[]; timestamps: number[] }[]> {
  await fetch(`${vm.url}/internal/force_flush`)
  const res = await fetch(`${vm.url}/api/v1/export?match[]=${encodeURIComponent(selector)}`)
  const text = await res.text()
  assert.equal(res.status, 200, text)
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(
      (l) =>
        JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] }
    )
}

async function push(items: Record<string, unknown>[]): Promise<boolean> {
  const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
    method: 'POST',
    body: JSON.stringify(items),
  })
  const text = await res.text()
  return res.status === 200 && /"Invalid":0/.test(text)
}

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://${aio.addresses.api.http}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', apitoken: token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`)
  return JSON.parse(text) as unknown
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-remote-'))
  vm = new VictoriaMetrics(join(dir, 'vm'))
  await vm.start()
  aio = await startPeregrine(dir, [], {
    top: {
      storage: 'remote',
      remoteStorage: {
        writeUrl: `${vm.url}/api/v1/write`,
        readUrl: `${vm.url}`,
        minBackoff: 50,
        maxBackoff: 1000,
      },
    },
    judge: { minInterval: 0 },
  })
  token = await loginRoot(aio.addresses.api.http)
})

after(async () => {
  await aio?.stop()
  await vm?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe(
  'storage: remote on VictoriaMetrics',
  {
    // CI sets PEREGRINE_TEST_VICTORIA_METRICS=required: there a missing store fails the test.
    skip:
      !existsSync(VM) &&
      process.env.PEREGRINE_TEST_VICTORIA_METRICS !== 'required' &&
      `${VM} is not installed (apt-get install victoria-metrics)`,
  },
  () => {
    it('runs no graph node, and stores falcon pushes in the store under Peregrine labels', async () => {
      assert.equal(aio.addresses.graph, undefined)
      const items = []
      for (let i = 0; i < 10; i++) {
        items.push(
          {
            endpoint: 'web-1',
            metric: 'cpu.idle',
            value: 90 + i,
            step: STEP,
            counterType: 'GAUGE',
            tags: '',
            timestamp: T0 + i * STEP,
          },
          {
            endpoint: 'web-1',
            metric: 'net.if.in.bytes',
            value: 1000 * i * i,
            step: STEP,
            counterType: 'COUNTER',
            tags: 'iface=eth0',
            timestamp: T0 + i * STEP,
          }
        )
      }
      assert.ok(await push(items))
      let rows: Awaited<ReturnType<typeof exported>> = []
      await waitUntil(async () => {
        rows = await exported('{endpoint="web-1"}')
        return rows.reduce((n, r) => n + r.values.length, 0) === 20
      }, 'the 20 points in VictoriaMetrics')
      const byName = new Map(rows.map((r) => [r.metric.__name__, r]))
      assert.deepEqual(byName.get('cpu.idle')?.metric, {
        __name__: 'cpu.idle',
        __step__: '60',
        __type__: 'gauge',
        endpoint: 'web-1',
      })
      assert.deepEqual(byName.get('net.if.in.bytes')?.metric, {
        __name__: 'net.if.in.bytes',
        __step__: '60',
        __type__: 'counter',
        endpoint: 'web-1',
        iface: 'eth0',
      })
      assert.deepEqual(
        byName.get('cpu.idle')?.timestamps,
        Array.from({ length: 10 }, (_, i) => (T0 + i * STEP) * 1000)
      )
      assert.deepEqual(
        byName.get('cpu.idle')?.values,
        Array.from({ length: 10 }, (_, i) => 90 + i)
      )
    })

    it("answers falcon's history, last point and counter search from the store", async () => {
      const history = (await api('POST', '/graph/history', {
        hostnames: ['web-1'],
        counters: ['cpu.idle', 'net.if.in.bytes/iface=eth0'],
        start_time: T0,
        end_time: T0 + 9 * STEP,
        consol_fun: 'AVERAGE',
        step: STEP,
      })) as {
        counter: string
        dstype: string
        Values: { timestamp: number; value: number | null }[]
      }[]
      const idle = history.find((h) => h.counter === 'cpu.idle')
      const bytes = history.find((h) => h.counter === 'net.if.in.bytes/iface=eth0')
      assert.deepEqual(
        idle?.Values.filter((v) => v.value !== null).map((v) => [v.timestamp, v.value]),
        Array.from({ length: 10 }, (_, i) => [T0 + i * STEP, 90 + i])
      )
      // A counter reads as per-second rates, as falcon's graph answers: (1000 i² - 1000 (i-1)²) / 60.
      assert.equal(bytes?.dstype, 'DERIVE')
      assert.deepEqual(
        bytes?.Values.filter((v) => v.value !== null).map((v) => v.value),
        Array.from({ length: 9 }, (_, k) => (1000 * (2 * (k + 1) - 1)) / 60)
      )
      const counters = (await api(
        'GET',
        '/graph/endpoint_counter?eid=' +
          ((await api('GET', '/graph/endpoint?q=web-1')) as { id: number }[])[0].id
      )) as { counter: string }[]
      assert.deepEqual(counters.map((c) => c.counter).sort(), [
        'cpu.idle',
        'net.if.in.bytes/iface=eth0',
      ])
    })

    it('answers PromQL range queries over the store, escaped names included', async () => {
      const res = await fetch(
        `http://${aio.addresses.api.http}/api/v1/query_range?` +
          new URLSearchParams({
            query: 'cpu_idle{endpoint="web-1"}',
            start: String(T0),
            end: String(T0 + 9 * STEP),
            step: '60',
          }).toString(),
        { headers: { apitoken: token } }
      )
      const body = (await res.json()) as {
        status: string
        data: { result: { metric: Record<string, string>; values: [number, string][] }[] }
      }
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.data.result.length, 1)
      assert.deepEqual(body.data.result[0].metric, { __name__: 'cpu.idle', endpoint: 'web-1' })
      assert.deepEqual(
        body.data.result[0].values,
        Array.from({ length: 10 }, (_, i) => [T0 + i * STEP, String(90 + i)])
      )
    })

    it('forwards Prometheus remote write with its labels, and reads it back through PromQL', async () => {
      const t = (T0 + 3600) * 1000
      const body = encodeSnappy(
        encodeWriteRequest([
          {
            labels: [
              ['__name__', 'node_load1'],
              ['instance', 'host9:9100'],
              ['job', 'node, edge'],
            ],
            samples: [
              [t, 0.5],
              [t + 15_000, 0.75],
            ],
          },
        ])
      )
      const res = await fetch(`http://${aio.addresses.transfer.http}/api/v1/write`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
        body: new Uint8Array(body),
      })
      assert.equal(res.status, 204, await res.text())
      let rows: Awaited<ReturnType<typeof exported>> = []
      await waitUntil(async () => {
        rows = await exported('{__name__="node_load1"}')
        return rows.length === 1 && rows[0].values.length === 2
      }, 'the remote-written samples in VictoriaMetrics')
      assert.deepEqual(rows[0].metric, {
        __name__: 'node_load1',
        __step__: '60',
        __type__: 'gauge',
        endpoint: 'host9',
        instance: 'host9:9100',
        job: 'node, edge',
      })
      const q = await fetch(
        `http://${aio.addresses.api.http}/api/v1/query?` +
          new URLSearchParams({
            query: 'node_load1{job="node, edge"}',
            time: String(t / 1000 + 15),
          }).toString(),
        { headers: { apitoken: token } }
      )
      const answer = (await q.json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] }
      }
      assert.equal(q.status, 200, JSON.stringify(answer))
      assert.deepEqual(answer.data.result, [
        {
          metric: {
            __name__: 'node_load1',
            endpoint: 'host9',
            instance: 'host9:9100',
            job: 'node, edge',
          },
          value: [t / 1000 + 15, '0.75'],
        },
      ])
    })

    it('fires a judge strategy on points pushed in remote mode', async () => {
      const grp = (await api('POST', '/hostgroup', { name: 'web' })) as { id: number }
      await api('POST', '/hostgroup/host', { hostgroup_id: grp.id, hosts: ['web-2'] })
      const tpl = (await api('POST', '/template', { name: 'cpu' })) as { id: number }
      await api('POST', '/strategy', {
        metric: 'cpu.busy',
        tags: '',
        max_step: 3,
        priority: 2,
        func: 'all(#1)',
        op: '>',
        right_value: '80',
        note: 'busy',
        run_begin: '',
        run_end: '',
        tpl_id: tpl.id,
      })
      await api('POST', '/hostgroup/template', { grp_id: grp.id, tpl_id: tpl.id })
      for (const url of [
        `http://${aio.addresses.hbs.http}/config/reload`,
        `http://${aio.addresses.judge.http}/config/reload`,
      ])
        assert.equal((await fetch(url)).status, 200)
      const now = Math.floor(Date.now() / 1000 / STEP) * STEP
      assert.ok(
        await push([
          {
            endpoint: 'web-2',
            metric: 'cpu.busy',
            value: 95,
            step: STEP,
            counterType: 'GAUGE',
            tags: '',
            timestamp: now,
          },
        ])
      )
      await waitUntil(async () => {
        const cases = (await api('GET', '/alarm/eventcases?endpoints=web-2')) as unknown[]
        return cases.length > 0
      }, 'an event case of web-2')
    })

    it('keeps pushing while the store is down 30 s, and delivers every acknowledged point once', async () => {
      const acked: number[] = []
      let next = 0
      let pushing = true
      const pusher = (async () => {
        while (pushing) {
          // A week back, so that ~6,000 minutes stay in the past (stores refuse far-future samples).
          const ts = Array.from({ length: 20 }, () => T0 - 5 * 86_400 + STEP * next++)
          const ok = await push(
            ts.map((t) => ({
              endpoint: 'db-1',
              metric: 'load.x',
              value: t % 997,
              step: STEP,
              counterType: 'GAUGE',
              tags: '',
              timestamp: t,
            }))
          )
          if (ok) acked.push(...ts)
          await new Promise((r) => setTimeout(r, 100))
        }
      })()
      await new Promise((r) => setTimeout(r, 1000))
      await vm.stop()
      const down = acked.length
      await new Promise((r) => setTimeout(r, 30_000))
      assert.ok(
        acked.length > down + 100,
        `pushes are acknowledged while the store is down (${acked.length - down})`
      )
      await vm.start()
      await new Promise((r) => setTimeout(r, 1000))
      pushing = false
      await pusher
      let rows: Awaited<ReturnType<typeof exported>> = []
      await waitUntil(
        async () => {
          rows = await exported('{__name__="load.x"}')
          return (rows[0]?.timestamps.length ?? 0) >= acked.length
        },
        `${acked.length} acknowledged points in VictoriaMetrics`,
        30_000
      ).catch(async (err: Error) => {
        const m = await (await fetch(`http://${aio.addresses.transfer.http}/metrics`)).text()
        const remote = m.split('\n').filter((l) => l.startsWith('peregrine_remote'))
        throw new Error(
          `${err.message}: ${rows.map((r) => r.timestamps.length).join(', ')} there; ${remote.join('; ')}`
        )
      })
      assert.equal(rows.length, 1)
      const stored = rows[0].timestamps.map((t) => t / 1000)
      // Every acknowledged point, none twice (a point pushed but not acknowledged may be there too).
      assert.equal(new Set(stored).size, stored.length, 'no point twice')
      const have = new Set(stored)
      assert.deepEqual(
        acked.filter((t) => !have.has(t)),
        []
      )
      const metrics = await (await fetch(`http://${aio.addresses.transfer.http}/metrics`)).text()
      assert.match(metrics, /^peregrine_remote_queue_samples 0$/m)
      assert.match(metrics, /^peregrine_remote_failed_requests_total [1-9]/m)
    })

    it('shows the forward queue in `peregrine check`, and no graph', () => {
      const r = spawnSync(process.execPath, [BIN, 'check', '-c', join(dir, 'peregrine.json')], {
        encoding: 'utf8',
      })
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.match(r.stdout, /transfer +UP/)
      assert.match(r.stdout, /remote storage: 0 samples waiting in the forward queue/)
      assert.doesNotMatch(r.stdout, /graph/)
      // Named, graph is said not to run here, and is no failure.
      const g = spawnSync(
        process.execPath,
        [BIN, 'check', 'graph', 'transfer', '-c', join(dir, 'peregrine.json')],
        { encoding: 'utf8' }
      )
      assert.equal(g.status, 0, g.stdout + g.stderr)
      assert.match(g.stdout, /graph +- +- +not run: storage is remote/)
    })
  }
)
