// The remote graph node's falcon reads over a stand-in for the store's query API (a real
// VictoriaMetrics is in test/remote-storage.test.ts): what it asks, and how answers map back to series.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../core/index.js'
import { defaultRemoteStorageConfig } from './config.js'
import { ForwardQueue } from './queue.js'
import { RemoteGraphNode } from './graph-node.js'
import { RemoteReader } from './reader.js'

const NOW = 1_800_000_000_000
const asked: Record<string, string>[] = []
let server: Server
let node: RemoteGraphNode

// A matrix per metric: two endpoints, one of them with a counter stored at two steps.
const rows: Record<string, { metric: Record<string, string>; values: [number, string][] }[]> = {
  'cpu.idle': [
    {
      metric: { __name__: 'cpu.idle', endpoint: 'a', __type__: 'gauge', __step__: '60' },
      values: [
        [NOW / 1000 - 60, '90'],
        [NOW / 1000, '91'],
      ],
    },
    {
      metric: { __name__: 'cpu.idle', endpoint: 'b', __type__: 'gauge', __step__: '60' },
      values: [[NOW / 1000 - 120, '50']],
    },
    // Another series of endpoint a (a tag): not cpu.idle of a.
    {
      metric: { __name__: 'cpu.idle', endpoint: 'a', core: '1', __type__: 'gauge', __step__: '60' },
      values: [[NOW / 1000, '7']],
    },
  ],
  'net.if.in.bytes': [
    {
      metric: {
        __name__: 'net.if.in.bytes',
        endpoint: 'a',
        iface: 'eth0',
        __type__: 'counter',
        __step__: '30',
      },
      values: [[NOW / 1000 - 600, '1']],
    },
    {
      metric: {
        __name__: 'net.if.in.bytes',
        endpoint: 'a',
        iface: 'eth0',
        __type__: 'counter',
        __step__: '60',
      },
      values: [
        [NOW / 1000 - 60, '1000'],
        [NOW / 1000, '7000'],
      ],
    },
  ],
}

before(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body))
      asked.push(form)
      const name = /__name__="([^"]+)"/.exec(form.query ?? '')?.[1] ?? ''
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'matrix', result: rows[name] ?? [] },
        })
      )
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  node = new RemoteGraphNode(
    null,
    new RemoteReader({
      ...defaultRemoteStorageConfig,
      writeUrl: url,
      readUrl: url,
      queueDir: '/nonexistent',
    }),
    () => NOW
  )
})

after(() => server.close())

describe('RemoteGraphNode', () => {
  it('answers Graph.LastMany with one query per metric, each series matched exactly, counters as rates', async () => {
    asked.length = 0
    const answer = await node.call<{
      points: ({ value: number | null; arrivedAt: number } | null)[]
      now: number
    }>('Graph.LastMany', {
      items: [
        { endpoint: 'a', counter: 'cpu.idle' },
        { endpoint: 'b', counter: 'cpu.idle' },
        { endpoint: 'c', counter: 'cpu.idle' },
        { endpoint: 'a', counter: 'net.if.in.bytes/iface=eth0' },
      ],
    })
    assert.equal(asked.length, 2)
    assert.match(asked[0].query, /^\{__name__="cpu\.idle",endpoint=~"a\|b\|c"\}\[3600001ms\]$/)
    assert.equal(asked[0].time, (NOW / 1000).toFixed(3))
    assert.deepEqual(
      answer.points.map((p) => p?.value ?? null),
      // a's own cpu.idle (not the core=1 series), b's, none for c, and the newest variant's rate.
      [91, 50, null, 100]
    )
    assert.equal(answer.points[0]?.arrivedAt, NOW)
    assert.equal(answer.now, NOW)
  })

  it('refuses in its answer, and keeps out of the queue, what graph would refuse', async () => {
    const q = ForwardQueue.open(
      {
        ...defaultRemoteStorageConfig,
        writeUrl: 'http://127.0.0.1:1/api/v1/write',
        readUrl: 'http://127.0.0.1:1',
        queueDir: mkdtempSync(join(tmpdir(), 'pg-remote-node-')),
      },
      silentLogger
    )
    const writer = new RemoteGraphNode(q, new RemoteReader(defaultRemoteStorageConfig), () => NOW)
    const item = (endpoint: string, value: number) => ({
      endpoint,
      metric: 'm',
      tags: {},
      value,
      timestamp: 1_700_000_000,
      dstype: 'GAUGE',
      step: 60,
    })
    const answer = await writer.call<{ refused?: { index: number; code: string }[] }>(
      'Graph.Send',
      [item('ok', 1), item('a"b', 1), item('ok', 1e301)]
    )
    assert.deepEqual(
      answer.refused?.map((r) => [r.index, r.code]),
      [
        [1, 'PG_GRAPH_BAD_ITEM'],
        [2, 'PG_GRAPH_BAD_ITEM'],
      ]
    )
    assert.equal(q.counters.enqueuedSamples, 1)
    await q.close()
    rmSync(q.dir, { recursive: true, force: true })
  })

  it('refuses writes when it only reads, and methods it does not serve, by name', async () => {
    await assert.rejects(node.call('Graph.Send', []), /Graph\.Send: this node only reads/)
    await assert.rejects(
      node.call('Graph.Delete', []),
      /can't find method Graph\.Delete \(storage: remote\)/
    )
    await assert.rejects(
      node.call('Graph.Query', { endpoint: 1 }),
      /Graph\.Query: expected \{endpoint, counter\}/
    )
  })
})
