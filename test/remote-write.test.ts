// Prometheus remote write into transfer, over real sockets, in front of two graph nodes: 1.0 and 2.0
// requests stored bit for bit and read back through the PromQL API and falcon's graph view; every
// kind of bad input answered 400 or 415 with its reason and the rest of the request kept; a node down
// answered 503 with Retry-After.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import {
  encodeSnappy,
  encodeWriteRequest,
  encodeWriteRequestV2,
  JsonRpcClient,
  type Service,
  silentLogger,
  type WriteSeries,
  waitUntil,
} from '../src/core/index.js'
import { parseGraphConfig, start as startGraph } from '../src/graph/index.js'
import { parseTransferConfig, start as startTransfer } from '../src/transfer/index.js'
import { buildApi, parseApiConfig } from '../src/api/index.js'
import { Store } from '../src/store/index.js'

const deps = { log: silentLogger, now: () => Date.now() }
const MIN = 60_000
const T0 = Date.now() - (Date.now() % MIN) - 30 * MIN
const STALE = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]
const TOKEN = 'remote-write-test-token'

let dir = ''
const graphs: Service[] = []
let transfer: Service
let api: ReturnType<typeof buildApi>
let store: Store

async function post(
  body: Uint8Array,
  headers: Record<string, string> = {}
): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`http://${transfer.addresses.http}/api/v1/write`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'snappy',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      ...headers,
    },
    body: Buffer.from(body),
  })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

const v1 = (series: WriteSeries[]) => encodeSnappy(encodeWriteRequest(series))
const v2 = (series: WriteSeries[]) => encodeSnappy(encodeWriteRequestV2(series))
const V2_HEADERS = {
  'Content-Type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'X-Prometheus-Remote-Write-Version': '2.0.0',
}

/** queryRange answers `/api/v1/query_range` as [labels, [[s, "v"], …]] per series. */
async function queryRange(
  q: string,
  start: number,
  end: number,
  step = 15
): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> {
  const res = await api.app.inject({
    method: 'GET',
    url: `/api/v1/query_range?query=${encodeURIComponent(q)}&start=${start / 1000}&end=${end / 1000}&step=${step}`,
    headers: { Apitoken: JSON.stringify({ name: 'test', sig: TOKEN }) },
  })
  assert.equal(res.statusCode, 200, res.body)
  return (JSON.parse(res.body) as { data: { result: never[] } }).data.result
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-remote-write-'))
  for (const i of [0, 1]) {
    graphs.push(
      await startGraph(
        parseGraphConfig({
          rpc: '127.0.0.1:0',
          http: '127.0.0.1:0',
          dataDir: join(dir, `graph-${i}`),
          walSync: 'write',
        }),
        deps
      )
    )
  }
  const cluster = { 'graph-00': graphs[0].addresses.rpc, 'graph-01': graphs[1].addresses.rpc }
  transfer = await startTransfer(
    parseTransferConfig({
      rpc: '127.0.0.1:0',
      http: '127.0.0.1:0',
      socket: '',
      graphCluster: cluster,
      maxBodyBytes: 1 << 20,
      callTimeout: 2000,
    }),
    deps
  )
  store = await Store.open('sqlite::memory:', silentLogger)
  api = buildApi(
    parseApiConfig({ http: '127.0.0.1:0', graphCluster: cluster, defaultToken: TOKEN }),
    deps,
    store
  )
})
after(async () => {
  await api.app.close()
  await store.close()
  await transfer.stop()
  for (const g of graphs) await g.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('remote write', () => {
  it('keeps apart two series whose label bytes hash alike in the placement cache', async () => {
    // The hash of these two label sets' bytes is the same 30 bits (found by search): each must still
    // get its own samples, request after request, whichever was placed first.
    const pair = ['h55303', 'h100472'].map(
      (instance) =>
        [
          ['__name__', 'hash_twins'],
          ['instance', instance],
        ] as [string, string][]
    )
    for (let k = 0; k < 3; k++) {
      const order = k % 2 === 0 ? [0, 1] : [1, 0]
      const res = await post(
        v1(order.map((i) => ({ labels: pair[i], samples: [[T0 + k * 15_000, i * 100 + k]] })))
      )
      assert.equal(res.status, 204, res.text)
    }
    const got = await queryRange('hash_twins', T0, T0 + MIN)
    const by = Object.fromEntries(
      got.map((s) => [s.metric.instance, s.values.slice(0, 3).map(([, v]) => v)])
    )
    assert.deepEqual(by, { h55303: ['0', '1', '2'], h100472: ['100', '101', '102'] })
  })

  it('stores 1.0 samples exactly (ms timestamps, NaN, ±Inf, the stale marker) and reads them back through PromQL', async () => {
    const series: WriteSeries[] = []
    for (let h = 0; h < 20; h++) {
      series.push({
        labels: [
          ['__name__', 'node_load1'],
          ['instance', `host${h}:9100`],
          ['job', 'node'],
        ],
        samples: Array.from({ length: 8 }, (_, k) => [T0 + k * 15_000 + 123, h + k / 8] as const),
      })
    }
    series.push({
      labels: [
        ['__name__', 'odd_values'],
        ['instance', 'host0:9100'],
        ['job', 'node'],
        ['note', 'a, b and c'],
      ],
      samples: [
        [T0 + 1, 0.1],
        [T0 + 2, Infinity],
        [T0 + 3, -Infinity],
        [T0 + 4, -0],
        [T0 + 5, 1.7976931348623157e308],
        [T0 + 6, 5e-324],
      ],
    })
    const res = await post(v1(series))
    assert.equal(res.status, 204, res.text)

    const got = await queryRange('node_load1', T0, T0 + 2 * MIN)
    assert.equal(got.length, 20)
    const host3 = got.find((s) => s.metric.instance === 'host3:9100')
    assert.deepEqual(host3?.metric, {
      __name__: 'node_load1',
      endpoint: 'host3',
      instance: 'host3:9100',
      job: 'node',
    })
    // Each step sees the newest sample at or before it: at T0 + (k+1)·15 s the one of T0 + k·15 s + 123 ms
    // (none yet at T0).
    assert.deepEqual(host3?.values.slice(0, 3), [
      [(T0 + 15_000) / 1000, '3'],
      [(T0 + 30_000) / 1000, '3.125'],
      [(T0 + 45_000) / 1000, '3.25'],
    ])
    // A label value with a comma and spaces, and values JSON cannot hold, come back as they went.
    const odd = await api.app.inject({
      method: 'GET',
      url: `/api/v1/query?query=${encodeURIComponent('odd_values[1m]')}&time=${(T0 + 30_000) / 1000}`,
      headers: { Apitoken: JSON.stringify({ name: 'test', sig: TOKEN }) },
    })
    const r = (JSON.parse(odd.body) as { data: { result: { metric: object; values: unknown }[] } })
      .data.result
    assert.deepEqual(r[0].metric, {
      __name__: 'odd_values',
      endpoint: 'host0',
      instance: 'host0:9100',
      job: 'node',
      note: 'a, b and c',
    })
    assert.deepEqual(r[0].values, [
      [(T0 + 1) / 1000, '0.1'],
      [(T0 + 2) / 1000, '+Inf'],
      [(T0 + 3) / 1000, '-Inf'],
      [(T0 + 4) / 1000, '-0'],
      [(T0 + 5) / 1000, '1.7976931348623157e+308'],
      [(T0 + 6) / 1000, '5e-324'],
    ])
  })

  it('keeps the stale marker: an instant query stops seeing the series at it', async () => {
    const labels: WriteSeries['labels'] = [
      ['__name__', 'up'],
      ['instance', 'gone:9100'],
      ['job', 'node'],
    ]
    const res = await post(
      v1([
        {
          labels,
          samples: [
            [T0, 1],
            [T0 + 15_000, 1],
            [T0 + 30_000, STALE],
          ],
        },
      ])
    )
    assert.equal(res.status, 204, res.text)
    const got = await queryRange('up{instance="gone:9100"}', T0, T0 + 60_000, 15)
    assert.deepEqual(
      got[0].values.map(([t]) => t),
      [T0 / 1000, (T0 + 15_000) / 1000]
    )
  })

  it('takes 2.0 requests (symbols, metadata, created timestamps) and answers the written-counts headers', async () => {
    const res = await post(
      v2([
        {
          labels: [
            ['__name__', 'http_requests_total'],
            ['instance', 'web1:8080'],
            ['job', 'web'],
          ],
          samples: [
            [T0 + 60_000, 5],
            [T0 + 75_000, 9],
          ],
          created: T0 + 30_000,
          type: 'counter',
          help: 'Requests.',
        },
      ]),
      V2_HEADERS
    )
    assert.equal(res.status, 204, res.text)
    assert.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '2')
    assert.equal(res.headers.get('x-prometheus-remote-write-histograms-written'), '0')
    const got = await queryRange('http_requests_total', T0 + 30_000, T0 + 75_000, 15)
    // The created timestamp stored a 0 before the first sample, so increase() counts all 9 requests.
    assert.deepEqual(got[0].values, [
      [(T0 + 30_000) / 1000, '0'],
      [(T0 + 45_000) / 1000, '0'],
      [(T0 + 60_000) / 1000, '5'],
      [(T0 + 75_000) / 1000, '9'],
    ])
  })

  it('answers 400 naming each bad series, stores the rest, and counts them', async () => {
    const good: WriteSeries = {
      labels: [
        ['__name__', 'good_one'],
        ['instance', 'h:1'],
      ],
      samples: [[T0, 1]],
    }
    const cases: [string, WriteSeries, RegExp][] = [
      ['no name', { labels: [['job', 'x']], samples: [[T0, 1]] }, /without __name__/],
      [
        'duplicate',
        {
          labels: [
            ['__name__', 'm'],
            ['a', '1'],
            ['a', '2'],
          ],
          samples: [[T0, 1]],
        },
        /label "a": named twice/,
      ],
      [
        'unsorted',
        {
          labels: [
            ['__name__', 'm'],
            ['b', '1'],
            ['a', '2'],
          ],
          samples: [[T0, 1]],
        },
        /not sorted by name/,
      ],
      [
        'bad name',
        {
          labels: [
            ['__name__', 'm'],
            ['a-b', '1'],
          ],
          samples: [[T0, 1]],
        },
        /"a-b": not a label name/,
      ],
      [
        'future',
        { labels: [['__name__', 'm']], samples: [[Date.now() + 3600_000, 1]] },
        /timestamp out of range/,
      ],
    ]
    for (const [what, bad, reason] of cases) {
      const res = await post(v1([good, bad]))
      assert.equal(res.status, 400, what)
      assert.match(res.text, reason, what)
      assert.match(res.text, /^1 samples stored/, what)
    }
    const got = await queryRange('good_one', T0, T0)
    assert.equal(got.length, 1)
  })

  it('answers 400 for a body that is not snappy or not protobuf, 415 for what it does not speak', async () => {
    const corrupt = await post(Buffer.from([0x20, 0xff, 0xff, 0xff, 0x01, 0x02]))
    assert.equal(corrupt.status, 400)
    assert.match(corrupt.text, /snappy: corrupt block/)
    const huge = await post(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]))
    assert.equal(huge.status, 400)
    assert.match(huge.text, /more than the 1048576 allowed/)
    const notProto = await post(encodeSnappy(Buffer.from([0x0a, 0xff, 0x01])))
    assert.equal(notProto.status, 400)
    assert.match(notProto.text, /protobuf: the body is not a prometheus.WriteRequest/)
    const badRef = await post(
      encodeSnappy(Buffer.from([0x22, 0x00, 0x2a, 0x04, 0x0a, 0x02, 0x01, 0x09])),
      V2_HEADERS
    )
    assert.equal(badRef.status, 400)
    assert.match(badRef.text, /symbol reference \d+ is past the symbol table/)
    const json = await post(Buffer.from('[]'), { 'Content-Type': 'application/json' })
    assert.equal(json.status, 415)
    const gzip = await post(v1([]), { 'Content-Encoding': 'gzip' })
    assert.equal(gzip.status, 415)
    assert.match(gzip.text, /snappy/)
    const other = await post(v1([]), {
      'Content-Type': 'application/x-protobuf;proto=io.prometheus.write.v9.Request',
    })
    assert.equal(other.status, 415)
    const tooBig = await post(Buffer.alloc(2 << 20))
    assert.equal(tooBig.status, 413)
  })

  it('keeps series apart whose label strings concatenate alike, and answers 400 to what an outside review sent', async () => {
    // Two label sets that a joined key would confuse (ÿ is a legal label character).
    for (const [labels, v] of [
      [
        [
          ['__name__', 'collide'],
          ['a', 'x\u00ffb\u00ffy'],
        ],
        111,
      ],
      [
        [
          ['__name__', 'collide'],
          ['a', 'x'],
          ['b', 'y'],
        ],
        222,
      ],
    ] as const) {
      const res = await post(v2([{ labels: labels, samples: [[T0, v]] }]), V2_HEADERS)
      assert.equal(res.status, 204, res.text)
    }
    const both = await queryRange('collide', T0, T0)
    assert.equal(both.length, 2)
    // One series naming a long symbol 100,000 times: refused at once, and nothing kept of it.
    const long = 'v'.repeat(4000)
    const pairs: [string, string][] = [['__name__', 'm']]
    for (let i = 0; i < 100_000; i++) pairs.push(['job', long])
    const many = await post(v2([{ labels: pairs, samples: [[T0, 1]] }]), V2_HEADERS)
    assert.equal(many.status, 400)
    assert.match(many.text, /more than the 256 a series may have/)
    // A Label whose name claims more bytes than the Label holds; a Sample value sent as a varint.
    const label = Buffer.from([0x0a, 0x07, 0x0a, 0x05, 0x0a, 0x09, 0x61, 0x62, 0x63])
    const a = await post(encodeSnappy(label))
    assert.equal(a.status, 400, a.text)
    assert.match(a.text, /protobuf/)
    const varintValue = Buffer.from([
      0x0a, 0x0a, 0x0a, 0x04, 0x0a, 0x02, 0x6d, 0x6d, 0x12, 0x02, 0x08, 0x05,
    ])
    const b = await post(encodeSnappy(varintValue))
    assert.equal(b.status, 400, b.text)
    assert.match(b.text, /wrong wire type 0 for Sample.value/)
    // No content type is remote write 1.0; text/plain is not.
    const none = await fetch(`http://${transfer.addresses.http}/api/v1/write`, {
      method: 'POST',
      headers: { 'Content-Encoding': 'snappy' },
      body: Buffer.from(v1([{ labels: [['__name__', 'untyped_body']], samples: [[T0, 1]] }])),
    })
    assert.equal(none.status, 204, await none.text())
    const text = await post(v1([]), { 'Content-Type': 'text/plain' })
    assert.equal(text.status, 415)
  })

  it('answers 503 with Retry-After while a graph node is down, and nothing is lost once it is back', async () => {
    const addr = graphs[1].addresses.rpc
    await graphs[1].stop()
    const series: WriteSeries[] = Array.from({ length: 40 }, (_, h) => ({
      labels: [
        ['__name__', 'during_outage'],
        ['instance', `h${h}:1`],
      ],
      samples: [[T0 + 5 * MIN, h]],
    }))
    const first = await post(v1(series))
    assert.equal(first.status, 503, first.text)
    assert.equal(first.headers.get('retry-after'), '5')
    graphs[1] = await startGraph(
      parseGraphConfig({
        rpc: addr,
        http: '127.0.0.1:0',
        dataDir: join(dir, 'graph-1'),
        walSync: 'write',
      }),
      deps
    )
    // As Prometheus does: retry until 2xx.
    let status = 0
    for (let i = 0; i < 100 && status !== 204; i++) {
      const r = await post(v1(series))
      status = r.status
      if (status !== 204) await new Promise((ok) => setTimeout(ok, 200))
    }
    assert.equal(status, 204)
    const got = await queryRange('during_outage', T0 + 5 * MIN, T0 + 5 * MIN)
    assert.equal(got.length, 40)
    const client = new JsonRpcClient(transfer.addresses.rpc)
    client.close()
  })

  it('answers 429 past the bytes of requests it holds at once, or one address holds, and takes requests again once they are done', async () => {
    const small = await startTransfer(
      parseTransferConfig({
        rpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        socket: '',
        graphCluster: { 'graph-00': graphs[0].addresses.rpc },
        maxBodyBytes: 1 << 20,
        maxInflightBytes: 4 << 20,
      }),
      deps
    )
    try {
      const [host, port] = small.addresses.http.split(':')
      // A sender that announces a whole body and sends nothing more holds its address's share (a
      // quarter of 4 MiB).
      const slow = connect(Number(port), host)
      await new Promise<void>((ok) => slow.once('connect', () => ok()))
      slow.write(
        'POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1048576\r\n\r\n'
      )
      const body = v1([
        {
          labels: [
            ['__name__', 'budget'],
            ['instance', 'b:1'],
          ],
          samples: [[T0, 1]],
        },
      ])
      const send = () =>
        fetch(`http://${small.addresses.http}/api/v1/write`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
          body: new Uint8Array(body),
        })
      // The slow request's headers may take a moment to be read.
      let refused: Response | undefined
      await waitUntil(async () => {
        const r = await send()
        if (r.status === 429) refused = r
        else await r.text()
        return r.status === 429
      }, 'a request past the budget is refused')
      assert.equal(refused?.headers.get('retry-after'), '1')
      assert.match(
        await refused.text(),
        /1048576 of them from 127\.0\.0\.1\); transfer\.maxInflightBytes is 4194304, a quarter of it from one address/
      )
      // Another address is not held back by it.
      const other = await new Promise<number>((ok, fail) => {
        const r = httpRequest(
          `http://${small.addresses.http}/api/v1/write`,
          {
            method: 'POST',
            localAddress: '127.0.0.2',
            headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
          },
          (res) => {
            res.resume()
            ok(res.statusCode ?? 0)
          }
        )
        r.on('error', fail)
        r.end(body)
      })
      assert.equal(other, 204)
      slow.destroy()
      await waitUntil(
        async () => (await send()).status === 204,
        'taken again once the slow one is gone'
      )
      const c = (await (await fetch(`http://${small.addresses.http}/counter/all`)).json()) as {
        data: { inflightBytes: number; inflightRefused: number }
      }
      assert.ok(c.data.inflightRefused >= 1)
      assert.equal(c.data.inflightBytes, 0)
    } finally {
      await small.stop()
    }
  })

  it('shows Prometheus series in falcon’s view: the endpoint is the instance’s host, labels are tags', async () => {
    const res = await api.app.inject({
      method: 'GET',
      url: `/api/v1/graph/endpoint_counter?eid=${await endpointId('host3')}&metricQuery=node_load1`,
      headers: { Apitoken: JSON.stringify({ name: 'test', sig: TOKEN }) },
    })
    assert.equal(res.statusCode, 200, res.body)
    assert.match(res.body, /node_load1\/instance=host3:9100,job=node/)
  })
})

async function endpointId(name: string): Promise<number> {
  const res = await api.app.inject({
    method: 'GET',
    url: `/api/v1/graph/endpoint?q=${name}`,
    headers: { Apitoken: JSON.stringify({ name: 'test', sig: TOKEN }) },
  })
  const rows = JSON.parse(res.body) as { id: number; endpoint: string }[]
  const row = rows.find((r) => r.endpoint === name)
  assert.ok(row, res.body)
  return row.id
}
