import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeSnappy, decodeWriteRequest, silentLogger, waitUntil } from '../core/index.js'
import { defaultRemoteStorageConfig, type RemoteStorageConfig } from './config.js'
import { encodeLabels, labelPairs, TimeSeriesWriter } from './encode.js'
import { ForwardQueue } from './queue.js'

const root = mkdtempSync(join(tmpdir(), 'pg-remote-queue-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0

/** A remote write receiver on loopback answering as `answer` says; it records what it took. */
async function receiver(
  answer: (
    req: IncomingMessage,
    count: number
  ) => { status: number; headers?: Record<string, string> }
): Promise<{ server: Server; url: string; taken: number[][]; requests: () => number }> {
  const taken: number[][] = []
  let count = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => {
      count++
      const a = answer(req, count)
      if (a.status >= 200 && a.status < 300) {
        const batch = decodeWriteRequest(decodeSnappy(Buffer.concat(parts), 64 << 20))
        taken.push(Array.from(batch.t))
      }
      res.writeHead(a.status, a.headers ?? {})
      res.end(a.status >= 300 ? `answer ${a.status}` : '')
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as { port: number }
  return { server, url: `http://127.0.0.1:${port}/api/v1/write`, taken, requests: () => count }
}

function config(url: string, over: Partial<RemoteStorageConfig> = {}): RemoteStorageConfig {
  return {
    ...defaultRemoteStorageConfig,
    writeUrl: url,
    readUrl: url,
    queueDir: join(root, String(n++)),
    minBackoff: 10,
    maxBackoff: 50,
    ...over,
  }
}

const labels = encodeLabels(labelPairs('host1', 'cpu.idle', [], false, 60))

/** A record of `count` samples of one series at t = from, from + 1, … (ms). */
function record(from: number, count: number): Uint8Array {
  const w = new TimeSeriesWriter()
  for (let i = 0; i < count; i++) w.one(labels, from + i, i)
  return w.take()
}

describe('ForwardQueue', () => {
  it('sends what it acknowledged as remote write, in requests of at most maxSamplesPerSend', async () => {
    const r = await receiver(() => ({ status: 204 }))
    const q = ForwardQueue.open(config(r.url, { maxSamplesPerSend: 50 }), silentLogger)
    await Promise.all([q.append(record(1000, 40), 40), q.append(record(2000, 40), 40)])
    await waitUntil(() => q.counters.sentSamples === 80, 'both records sent')
    assert.equal(r.taken.length, 2, 'a request per record: 40 + 40 passes 50')
    assert.deepEqual(r.taken.flat(), [
      ...Array.from({ length: 40 }, (_, i) => 1000 + i),
      ...Array.from({ length: 40 }, (_, i) => 2000 + i),
    ])
    assert.equal(q.pendingSamples, 0)
    assert.equal(q.lagSeconds, 0)
    await q.close()
    r.server.close()
  })

  it('retries 5xx and 429 (after Retry-After, bounded by maxBackoff) until the store takes it', async () => {
    const r = await receiver((_req, count) =>
      count === 1
        ? { status: 503 }
        : count === 2
          ? { status: 429, headers: { 'Retry-After': '3600' } }
          : { status: 204 }
    )
    const q = ForwardQueue.open(config(r.url), silentLogger)
    await q.append(record(1, 5), 5)
    await waitUntil(() => q.counters.sentSamples === 5, 'the record sent after two failures')
    assert.equal(q.counters.failedRequests, 2)
    assert.equal(r.requests(), 3)
    assert.equal(q.lastError, '')
    await q.close()
    r.server.close()
  })

  it('keeps what the store refuses (a wrong path: 404) and sends it again until it is taken', async () => {
    const r = await receiver((_req, count) => ({ status: count <= 2 ? 404 : 204 }))
    const q = ForwardQueue.open(config(r.url), silentLogger)
    await q.append(record(1, 3), 3)
    await waitUntil(() => q.counters.sentSamples === 3, 'the record sent once the store takes it')
    assert.equal(q.counters.refusedRequests, 2)
    assert.equal(q.counters.droppedSamples, 0)
    assert.deepEqual(r.taken, [[1, 2, 3]])
    await q.close()
    r.server.close()
  })

  it('with onRefused: drop, drops what the store refuses (400), counted, and goes on', async () => {
    const r = await receiver((_req, count) => ({ status: count === 1 ? 400 : 204 }))
    const q = ForwardQueue.open(
      config(r.url, { sendConcurrency: 1, onRefused: 'drop' }),
      silentLogger
    )
    await q.append(record(1, 3), 3)
    await q.append(record(10, 2), 2)
    await waitUntil(() => q.counters.sentSamples === 2, 'the second record sent')
    assert.equal(q.counters.droppedSamples, 3)
    assert.equal(q.counters.droppedRequests, 1)
    assert.deepEqual(r.taken, [[10, 11]])
    await q.close()
    r.server.close()
  })

  it('keeps what was acknowledged across a restart while the store is unreachable, then sends it once', async () => {
    const dir = join(root, 'restart')
    // Nothing listens there.
    const q1 = ForwardQueue.open(
      config('http://127.0.0.1:1/api/v1/write', { queueDir: dir }),
      silentLogger
    )
    await q1.append(record(100, 7), 7)
    await waitUntil(() => q1.counters.failedRequests > 0, 'a failed send')
    assert.match(q1.lastError, /cannot be reached/)
    assert.equal(q1.pendingSamples, 7)
    // Not closed: as after kill -9, the files are as they are.
    const r = await receiver(() => ({ status: 204 }))
    const q2 = ForwardQueue.open(config(r.url, { queueDir: dir }), silentLogger)
    assert.equal(q2.pendingSamples, 7)
    await waitUntil(() => q2.counters.sentSamples === 7, 'the records from before sent')
    assert.deepEqual(r.taken, [[100, 101, 102, 103, 104, 105, 106]])
    await q1.close()
    await q2.close()
    r.server.close()
  })

  it('refuses an append past maxQueueBytes with PG_REMOTE_QUEUE_FULL, acknowledging nothing of it', async () => {
    const q = ForwardQueue.open(
      config('http://127.0.0.1:1/api/v1/write', { maxQueueBytes: 1 << 20 }),
      silentLogger
    )
    const big = record(0, 10_000)
    await q.append(big, 10_000)
    await assert.rejects(q.append(record(0, 10_000), 10_000), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PG_REMOTE_QUEUE_FULL')
      assert.match(err.message, /remoteStorage\.maxQueueBytes/)
      return true
    })
    assert.equal(q.counters.refusedSamples, 10_000)
    assert.equal(q.pendingSamples, 10_000)
    await q.close()
  })
})
