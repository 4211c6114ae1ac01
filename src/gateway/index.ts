/**
 * @module gateway
 * Falcon's gateway: a transfer-compatible front (JSON-RPC Transfer.Update on :18433, HTTP
 * POST /api/push on :16060, the line socket on :14444, with transfer's validation, answers and bounds)
 * that a remote data centre pushes to, forwarding every valid point to one or more central transfer
 * clusters over JSON-RPC. A push is acknowledged once every cluster acknowledged it or it is on the
 * gateway's disk (fdatasynced), and is then never dropped.
 */
import {
  type Deps,
  type MetricValue,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  newMetricsRegistry,
  type Service,
} from '../core/index.js'
import { createPushReceivers, type PushAsSent } from '../ingest/index.js'
import type { GatewayConfig } from './config.js'
import { Forwarder } from './forwarder.js'
import { type GatewayCounters, registerGatewayMetrics } from './metrics.js'

export { defaultGatewayConfig, parseGatewayConfig, type GatewayConfig } from './config.js'

/**
 * REMOTE_WRITE_REFUSAL is the answer to Prometheus remote write: falcon's Transfer.Update carries an
 * endpoint, a metric and a tag string, so a Prometheus series' labels and its millisecond samples
 * would arrive as something else. A 4xx, so a Prometheus server logs it and does not retry forever.
 */
export const REMOTE_WRITE_REFUSAL =
  "remote write: not taken by the gateway: it forwards falcon's Transfer.Update, which cannot carry a Prometheus series' labels and millisecond samples unchanged; point remote_write at a central transfer's /api/v1/write instead\n"

/**
 * start opens the disk buffer (sending what it holds from before), then listens. `stop()` stops
 * taking pushes first, then writes what waits in memory to disk and closes it.
 */
export async function start(config: Readonly<GatewayConfig>, deps: Deps): Promise<Service> {
  const forwarder = new Forwarder(config, deps)
  const own: GatewayCounters = { pushesFailed: 0 }
  const push = createPushReceivers(config, deps, {
    name: 'gateway',
    sink: (valid, sent) => {
      // What graph refuses for its value alone is refused here, in this push's answer: once
      // acknowledged, a point must not be refused later (graph's range, rrdtool's).
      const { keep, refused } = outOfGraphRange(valid)
      const json = refused.length === 0 && sent !== undefined ? forwardAsSent(keep, sent) : null
      return forwarder.accept(keep, json).then(
        () => refused,
        (err: unknown) => {
          own.pushesFailed++
          throw err
        }
      )
    },
    // The sink's errors say what to do themselves.
    failureHint: '',
    refusedBy: 'the clusters',
  })
  const { counters, listeners, inflight, http } = push
  http.post('/api/v1/write', (_req, reply) =>
    reply.status(404).type('text/plain; charset=utf-8').send(REMOTE_WRITE_REFUSAL)
  )
  const registry = deps.metrics ?? newMetricsRegistry()
  registerGatewayMetrics(registry, counters, own, forwarder, inflight, listeners)
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  http.get('/counter/all', () => ({
    msg: 'success',
    data: {
      ...counters,
      pushesFailed: own.pushesFailed,
      diskBytes: forwarder.budget.used,
      maxDiskBytes: forwarder.budget.max,
      clusters: Object.fromEntries(
        forwarder.clusters.map((c) => [
          c.name,
          {
            ...c.counters,
            up: !c.down,
            bufferedMemory: c.memoryPoints,
            bufferedDisk: c.spool.points,
            diskBytes: c.spool.bytes,
            damagedRecords: c.spool.damaged,
            addresses: c.addresses(),
          },
        ])
      ),
      inflightBytes: inflight.bytes,
      inflightRefused: inflight.refused,
      listeners,
    },
  }))

  let addresses: Record<string, string>
  try {
    addresses = await push.listen()
  } catch (err) {
    await forwarder.close()
    throw err
  }
  return {
    name: 'gateway',
    addresses,
    async stop() {
      // What the receivers hold is forwarded (or put on disk) before the forwarder stops.
      await push.close()
      await forwarder.close()
    },
  }
}

/**
 * MAX_SENT_BYTES_PER_POINT bounds the text forwarded as sent, in characters per item on average over
 * the push: beyond it (padding, a field repeated) the points are serialised again, so that a call of
 * `batch` points stays within what serialising them would make of the longest fields.
 */
const MAX_SENT_BYTES_PER_POINT = 512

/**
 * A step or timestamp written with a fraction or an exponent (`6e1`, `60.0`): JSON.parse reads a whole
 * number, but Go's decoder refuses it for an int64 field, and with it falcon's transfer the whole call.
 */
const NOT_AN_INT64_TEXT = /"(?:step|timestamp)"\s*:\s*-?\d+[.eE]/

/**
 * forwardAsSent returns the push's own JSON text, without its brackets, when any transfer (Peregrine's
 * or falcon's Go one) would read from it exactly the points `valid` holds, else null. It would not
 * where the gateway gave an item a timestamp (none, 0 or far in the future: the gateway's time of
 * arrival, which a transfer reading it later would not give), where a key was matched by case folding
 * or written with an escape (`sent` comes only for items with the field names exactly; no backslash
 * at all in the text), or where Go would refuse a number (NOT_AN_INT64_TEXT). Every other field a
 * transfer validates the same way, here or there. Past MAX_SENT_BYTES_PER_POINT characters an item on
 * average (padding between tokens, a field repeated) the points are serialised again.
 */
function forwardAsSent(valid: readonly MetricValue[], sent: PushAsSent): Buffer | null {
  const { items } = sent
  if (items.length !== valid.length) return null
  for (let i = 0; i < valid.length; i++) {
    if ((items[i] as { timestamp?: unknown }).timestamp !== valid[i].timestamp) return null
  }
  const json = sent.json()
  if (
    json === null ||
    json.length > MAX_SENT_BYTES_PER_POINT * valid.length ||
    json.includes('\\') ||
    NOT_AN_INT64_TEXT.test(json)
  )
    return null
  const open = json.indexOf('[')
  const close = json.lastIndexOf(']')
  return open < 0 || close < open ? null : Buffer.from(json.slice(open + 1, close))
}

/** OUT_OF_RANGE is graph's refusal of a value it cannot store (graph/rpc.ts, as falcon's rrdtool). */
const OUT_OF_RANGE = 'value out of what graph stores: |value| above 1e300 or below 1e-300'

/** outOfGraphRange splits a push into what graph can store and the refusals of the rest. */
function outOfGraphRange(valid: MetricValue[]): {
  keep: MetricValue[]
  refused: { index: number; code: string; message: string }[]
} {
  let refused: { index: number; code: string; message: string }[] | null = null
  for (let i = 0; i < valid.length; i++) {
    const abs = Math.abs(valid[i].value)
    if (abs > 1e300 || (abs > 0 && abs < 1e-300))
      (refused ??= []).push({ index: i, code: 'PG_GRAPH_BAD_ITEM', message: OUT_OF_RANGE })
  }
  if (refused === null) return { keep: valid, refused: [] }
  const out = new Set(refused.map((r) => r.index))
  return { keep: valid.filter((_, i) => !out.has(i)), refused }
}
