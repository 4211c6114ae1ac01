// The parse worker: a worker thread of ParsePool (parse-pool.ts). It parses a push's bytes and validates
// its items with transfer's rules, and answers with the valid points as columns (a series id, the
// timestamp, the value), so that no object per point crosses to the main thread: it would cost the
// main thread what parsing did. Series are numbered by this worker, each sent once, in `added`.
import { parentPort } from 'node:worker_threads'
import { parseJsonBytes, validateBatch } from '../core/index.js'
import type { ParseAnswer, ParseRequest } from './parse-pool.js'

const port = parentPort
if (port === null) throw new Error('parse-worker: not started as a worker thread')

/**
 * The series this worker has numbered: key (see keyOf) to id. Once a push takes it past `maxSeries`,
 * it is cleared before the next push, whose answer says so (`reset`): at most `maxSeries` series and
 * one push's own.
 */
let idByKey = new Map<string, number>()
let resetNext = false

// keyOf is one string per distinct (endpoint, metric, tags, counterType, step), different for any two:
// the step's digits and the counter type (neither holds a space) come first, the endpoint and metric
// with their lengths, the tags last.
function keyOf(
  endpoint: string,
  metric: string,
  tags: string,
  counterType: string,
  step: number
): string {
  return `${step} ${counterType} ${endpoint.length}:${endpoint}${metric.length}:${metric}${tags}`
}

port.on('message', (req: ParseRequest) => {
  const answer: ParseAnswer = {
    id: req.id,
    fault: null,
    reset: false,
    added: [],
    ids: new Uint32Array(0),
    ts: new Float64Array(0),
    vs: new Float64Array(0),
    invalid: 0,
    invalidAt: [],
    errors: [],
  }
  let value: unknown
  try {
    value = parseJsonBytes(Buffer.from(req.bytes.buffer, req.bytes.byteOffset, req.bytes.length))
  } catch (err) {
    answer.fault = { kind: 'json', message: (err as Error).message }
    port.postMessage(answer)
    return
  }
  if (!Array.isArray(value)) {
    answer.fault = { kind: 'shape', message: 'not an array' }
    port.postMessage(answer)
    return
  }
  const batch = validateBatch(value, req.now, req.maxErrors)
  const n = batch.valid.length
  if (resetNext) {
    idByKey = new Map()
    answer.reset = true
    resetNext = false
  }
  const ids = new Uint32Array(n)
  const ts = new Float64Array(n)
  const vs = new Float64Array(n)
  const added = answer.added
  for (let i = 0; i < n; i++) {
    const m = batch.valid[i]
    const key = keyOf(m.endpoint, m.metric, m.tags, m.counterType, m.step)
    let id = idByKey.get(key)
    if (id === undefined) {
      id = idByKey.size
      idByKey.set(key, id)
      added.push(m.endpoint, m.metric, m.tags, m.counterType, m.step)
    }
    ids[i] = id
    ts[i] = m.timestamp
    vs[i] = m.value
  }
  answer.ids = ids
  answer.ts = ts
  answer.vs = vs
  answer.invalid = batch.invalid
  answer.invalidAt = batch.invalidAt
  answer.errors = batch.errors.map((e) => [e.index, e.error.message])
  if (idByKey.size > req.maxSeries) resetNext = true
  port.postMessage(answer, [ids.buffer, ts.buffer, vs.buffer])
})
