/**
 * @module transfer
 * Receives points the ways Open-Falcon's transfer does (JSON-RPC Transfer.Update on :8433, HTTP
 * POST /api/push on :6060, the line socket on :4444), validates them with falcon's rules and routes them
 * by falcon's consistent hashing to the graph cluster (a push is acknowledged once graph has it) and,
 * when `judgeCluster` names any, to the judge cluster (`Judge.Send`, never waited for).
 */
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  gaugeFrom,
  exposition,
  newMetricsRegistry,
  type Service,
  snappyBlockLength,
} from '../core/index.js'
import { createPushReceivers, ParsePool } from '../ingest/index.js'
import { parseWorkerCount, type TransferConfig } from './config.js'
import { registerTransferMetrics } from './metrics.js'
import { RemoteWriteReceiver } from './remote-write.js'
import { Router } from './router.js'

export { parseTransferConfig, defaultTransferConfig, type TransferConfig } from './config.js'

/** start listens on the configured ports; `stop()` stops taking points first, then the senders. */
export async function start(config: Readonly<TransferConfig>, deps: Deps): Promise<Service> {
  const router = new Router(config, deps)
  const remoteWrite = new RemoteWriteReceiver(router, config, deps)
  const pool = new ParsePool({
    workers: parseWorkerCount(config),
    minBytes: config.parseWorkerMinBytes,
    maxQueuedBytes: config.maxInflightBytes,
    log: deps.log,
    name: 'transfer',
  })
  // One path for every receiver (ingest): validate, count, route, answer with falcon's
  // TransferResponse. A point is either stored (in every graph WAL that holds it) or counted in
  // Invalid and named in Errors.
  const push = createPushReceivers(config, deps, {
    name: 'transfer',
    sink: (valid) => router.route(valid),
    failureHint: '; the points are buffered and retried, and pushing them again is safe',
    refusedBy: 'graph',
    pool,
    sinkColumns: (valid) => router.routeColumns(valid),
  })
  const { counters, listeners, inflight, http } = push

  http.post('/api/v1/write', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : null
    if (body === null) {
      remoteWrite.counters.requests++
      remoteWrite.counters.unsupported++
      return reply
        .status(415)
        .type('text/plain; charset=utf-8')
        .send(
          `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}: expected application/x-protobuf (remote write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)\n`
        )
    }
    // Peregrine's scrape says its scrape interval, the step its series are stored with.
    const stepHeader = Number(req.headers['x-peregrine-step'])
    const step =
      Number.isInteger(stepHeader) && stepHeader >= 1 && stepHeader <= 86_400
        ? stepHeader
        : undefined
    // The uncompressed request is held while it is stored: counted before it is made.
    const uncompressed = snappyBlockLength(body)
    if (uncompressed > 0 && uncompressed <= config.maxBodyBytes) {
      const address = req.socket.remoteAddress ?? ''
      if (inflight.over(address, uncompressed))
        return inflight.tooBusy(
          reply,
          address,
          `a remote write request of ${uncompressed} bytes uncompressed`
        )
      inflight.hold(reply.raw, address, uncompressed)
    }
    const answer = await remoteWrite.receive(
      body,
      req.headers['content-type'],
      req.headers['content-encoding'],
      step
    )
    void reply.status(answer.status).headers(answer.headers)
    return answer.status === 204 ? reply.send() : reply.send(answer.body)
  })
  const registry = deps.metrics ?? newMetricsRegistry()
  registerTransferMetrics(registry, counters, router, remoteWrite.counters, listeners)
  gaugeFrom(registry, {
    name: 'peregrine_transfer_inflight_bytes',
    help: 'Request bytes the HTTP port holds now (bodies, and remote write requests uncompressed).',
    read: () => inflight.bytes,
  })
  counterFrom(registry, {
    name: 'peregrine_transfer_inflight_refused_total',
    help: 'HTTP requests answered 429 because transfer.maxInflightBytes was reached.',
    read: () => inflight.refused,
  })
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  http.get('/counter/all', () => {
    const j = router.judgeCounters
    return {
      msg: 'success',
      data: {
        ...counters,
        ...router.counters,
        bufferedByGraph: router.buffered(),
        droppedByGraph: router.droppedByGraph(),
        judgeSent: j.sent,
        judgeSendCalls: j.sendCalls,
        judgeSendFailures: j.sendFailures,
        judgeRetried: j.retried,
        judgeBuffered: j.buffered,
        judgeDropped: j.dropped,
        bufferedByJudge: router.bufferedByJudge(),
        remoteWrite: remoteWrite.counters,
        inflightBytes: inflight.bytes,
        inflightRefused: inflight.refused,
        listeners,
      },
    }
  })

  let addresses: Record<string, string>
  try {
    addresses = await push.listen()
  } catch (err) {
    router.close()
    await pool.close()
    throw err
  }
  return {
    name: 'transfer',
    addresses,
    appender: {
      ref: (labels) => remoteWrite.ref(labels),
      append: (refs, t, v, step) => remoteWrite.append(refs, t, v, step),
    },
    async stop() {
      // What socket connections hold is routed before the senders stop.
      await push.close()
      await pool.close()
      router.close()
    },
  }
}
