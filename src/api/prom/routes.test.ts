import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { testEngines } from '../../store/index.js'
import {
  type LabelHints,
  type Matcher,
  MemoryQuerier,
  type MetricMetadata,
  type Querier,
  type SelectHints,
  type SeriesSet,
} from '../../tsdb/index.js'
import { GraphUnavailable } from '../../cluster/index.js'
import { openTestPortal, type TestPortal } from '../testing.js'

// Series as the tsdb querier shows falcon's: __name__ as stored, endpoint, tags.
const T0 = 1_700_000_000_000
const data = new MemoryQuerier()
for (const host of ['h1', 'h2']) {
  data.add(
    { __name__: 'cpu.idle', endpoint: host },
    [0, 1, 2, 3].map((i) => T0 + i * 60_000),
    [0, 1, 2, 3].map((i) => (host === 'h1' ? 50 + i : 0.5))
  )
}
data.add({ __name__: 'net.if.in.bytes', endpoint: 'h1', iface: 'eth0' }, [T0], [1e6])
data.setMetadata('cpu.idle', { type: 'gauge', help: '', unit: '' })
data.setMetadata('net.if.in.bytes', { type: 'counter', help: '', unit: '' })

/**
 * HeldQuerier answers as `data` once `open()` is called, and honours its hints' signal while held:
 * a query waiting on it is one that runs until it is stopped.
 */
class HeldQuerier implements Querier {
  #open = () => {}
  #opened = new Promise<void>((resolve) => (this.#open = resolve))
  fail: Error | undefined
  selects = 0

  open(): void {
    this.#open()
  }

  reset(): void {
    this.#opened = new Promise<void>((resolve) => (this.#open = resolve))
    this.fail = undefined
  }

  async select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    this.selects++
    if (this.fail !== undefined) throw this.fail
    await new Promise<void>((resolve, reject) => {
      const abort = () => reject(new Error('select aborted'))
      if (hints.signal?.aborted === true) abort()
      hints.signal?.addEventListener('abort', abort, { once: true })
      void this.#opened.then(resolve)
    })
    return data.select(matchers, hints)
  }
  labelNames(m: readonly Matcher[], h: LabelHints): Promise<string[]> {
    return data.labelNames(m, h)
  }
  labelValues(n: string, m: readonly Matcher[], h: LabelHints): Promise<string[]> {
    return data.labelValues(n, m, h)
  }
  metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>> {
    return data.metadata(metric, limit)
  }
}

interface Reply {
  status: string
  data: unknown
  errorType?: string
  error?: string
  warnings?: string[]
}

const engines = await testEngines()

describe('prometheus query API', () => {
  let p: TestPortal
  let held: TestPortal
  const slow = new HeldQuerier()
  let token = ''
  let heldToken = ''
  before(async () => {
    p = await openTestPortal(engines[0], {}, undefined, data)
    token = await p.user('grafana')
    held = await openTestPortal(
      engines[0],
      {
        query: {
          timeout: 60_000,
          maxSamples: 50_000_000,
          lookbackDelta: 300_000,
          maxPointsPerSeries: 11_000,
          maxConcurrency: 1,
          maxWaiting: 1,
          maxSeries: 50_000,
        },
      },
      undefined,
      slow
    )
    heldToken = await held.user('grafana')
  })
  after(async () => {
    await p.close()
    await held.close()
  })

  const get = (path: string, query: Record<string, string> = {}) =>
    p.call<Reply>('GET', path, { token, query })
  const post = (path: string, form: string) =>
    p.call<Reply>('POST', path, {
      token,
      body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })

  it('answers an instant query as a vector, times in seconds, values as strings', async () => {
    const r = await get('/api/v1/query', {
      query: '{"cpu.idle", endpoint="h1"}',
      time: String((T0 + 180_000) / 1000),
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body, {
      status: 'success',
      data: {
        resultType: 'vector',
        result: [
          {
            metric: { __name__: 'cpu.idle', endpoint: 'h1' },
            value: [(T0 + 180_000) / 1000, '53'],
          },
        ],
      },
    })
  })

  it('answers a range query sent as a POST form as a matrix', async () => {
    const form = new URLSearchParams({
      query: '{__name__="cpu.idle"}',
      start: new Date(T0).toISOString(),
      end: String((T0 + 120_000) / 1000),
      step: '60s',
    })
    const r = await post('/api/v1/query_range', form.toString())
    assert.equal(r.status, 200, JSON.stringify(r.body))
    const t = (i: number) => (T0 + i * 60_000) / 1000
    assert.deepEqual(r.body.data, {
      resultType: 'matrix',
      result: [
        {
          metric: { __name__: 'cpu.idle', endpoint: 'h1' },
          values: [
            [t(0), '50'],
            [t(1), '51'],
            [t(2), '52'],
          ],
        },
        {
          metric: { __name__: 'cpu.idle', endpoint: 'h2' },
          values: [
            [t(0), '0.5'],
            [t(1), '0.5'],
            [t(2), '0.5'],
          ],
        },
      ],
    })
  })

  it('answers bad parameters with 400 bad_data naming them, as Prometheus words it', async () => {
    const f = async (path: string, query: Record<string, string>, want: RegExp) => {
      const r = await get(path, query)
      assert.equal(r.status, 400, `${path} ${JSON.stringify(query)}: ${JSON.stringify(r.body)}`)
      assert.equal(r.body.status, 'error')
      assert.equal(r.body.errorType, 'bad_data')
      assert.match(r.body.error ?? '', want)
    }
    await f('/api/v1/query', { query: 'up', time: 'yesterday' }, /^invalid parameter "time": /)
    await f('/api/v1/query', { query: 'up', timeout: 'soon' }, /^invalid parameter "timeout": /)
    await f('/api/v1/query', { query: 'up{' }, /^invalid parameter "query": /)
    const range = { query: 'up', start: '0', end: '3600' }
    await f('/api/v1/query_range', { ...range, step: '0' }, /zero or negative query resolution/)
    // Below a millisecond the step is positive still, and too fine (Prometheus steps in ns).
    await f('/api/v1/query_range', { ...range, step: '0.000001' }, /exceeded maximum resolution/)
    await f(
      '/api/v1/query_range',
      { ...range, end: '-1', step: '1' },
      /^invalid parameter "end": end timestamp must not be before start time$/
    )
    await f(
      '/api/v1/query_range',
      { ...range, start: '', step: '1' },
      /^invalid parameter "start": /
    )
    await f(
      '/api/v1/query_range',
      { ...range, end: '11001', step: '1' },
      /^exceeded maximum resolution of 11,000 points per timeseries\. Try decreasing the query resolution \(\?step=XX\)$/
    )
    await f('/api/v1/series', {}, /^no match\[\] parameter provided$/)
    await f('/api/v1/series', { 'match[]': '{a=~".*"}' }, /at least one non-empty matcher/)
    await f('/api/v1/labels', { limit: '-1' }, /limit must be non-negative/)
    await f('/api/v1/metadata', { limit: 'x' }, /^limit must be a number$/)
    await f('/api/v1/format_query', { query: 'sum(' }, /^invalid parameter "query": /)
  })

  it('lists series for every match[], merged, with a limit that warns when it cuts', async () => {
    const r = await get('/api/v1/series?match[]={endpoint="h1"}&match[]={"cpu.idle"}')
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body.data, [
      { __name__: 'cpu.idle', endpoint: 'h1' },
      { __name__: 'cpu.idle', endpoint: 'h2' },
      { __name__: 'net.if.in.bytes', endpoint: 'h1', iface: 'eth0' },
    ])
    const cut = await get('/api/v1/series', { 'match[]': '{endpoint=~"h.*"}', limit: '2' })
    assert.equal((cut.body.data as unknown[]).length, 2)
    assert.deepEqual(cut.body.warnings, ['results truncated due to limit'])
    const posted = await post('/api/v1/series', 'match%5B%5D=%7Biface%3D%22eth0%22%7D')
    assert.deepEqual(posted.body.data, [
      { __name__: 'net.if.in.bytes', endpoint: 'h1', iface: 'eth0' },
    ])
  })

  it('lists label names and values, with matchers and a limit', async () => {
    assert.deepEqual((await get('/api/v1/labels')).body.data, ['__name__', 'endpoint', 'iface'])
    assert.deepEqual((await get('/api/v1/labels', { 'match[]': '{"cpu.idle"}' })).body.data, [
      '__name__',
      'endpoint',
    ])
    assert.deepEqual((await get('/api/v1/label/__name__/values')).body.data, [
      'cpu.idle',
      'net.if.in.bytes',
    ])
    const cut = await get('/api/v1/label/endpoint/values', { limit: '1' })
    assert.deepEqual(cut.body.data, ['h1'])
    assert.deepEqual(cut.body.warnings, ['results truncated due to limit'])
  })

  it('answers metadata, exemplars, buildinfo, runtimeinfo and format_query', async () => {
    assert.deepEqual((await get('/api/v1/metadata')).body.data, {
      'cpu.idle': [{ type: 'gauge', help: '', unit: '' }],
      'net.if.in.bytes': [{ type: 'counter', help: '', unit: '' }],
    })
    assert.deepEqual((await get('/api/v1/metadata', { metric: 'cpu.idle' })).body.data, {
      'cpu.idle': [{ type: 'gauge', help: '', unit: '' }],
    })
    assert.deepEqual((await get('/api/v1/metadata', { limit: '0' })).body.data, {})
    assert.deepEqual((await get('/api/v1/query_exemplars', { query: 'up' })).body.data, [])
    const build = (await get('/api/v1/status/buildinfo')).body.data as Record<string, string>
    assert.equal(build.version, '2.55.1')
    assert.match(build.revision, /^peregrine-/)
    const rt = (await get('/api/v1/status/runtimeinfo')).body.data as Record<string, unknown>
    assert.equal(typeof rt.startTime, 'string')
    assert.equal(rt.CWD, '')
    const fmt = await get('/api/v1/format_query', { query: 'up' })
    assert.equal(fmt.status, 200)
    assert.equal(fmt.body.data, 'up')
  })

  it('needs credentials, answered in the API shape; a read token may POST a query', async () => {
    const none = await p.call<Reply>('GET', '/api/v1/query', { query: { query: 'up' } })
    assert.equal(none.status, 401)
    assert.equal(none.body.status, 'error')
    assert.equal(none.body.errorType, 'unauthorized')
    const created = await p.call<{ token: string }>('POST', '/api/v1/user/tokens', {
      token,
      body: { name: 'grafana', scope: 'read' },
    })
    const r = await p.call<Reply>('POST', '/api/v1/query', {
      headers: {
        authorization: `Bearer ${created.body.token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `query=${encodeURIComponent('{"cpu.idle"}')}&time=${(T0 + 60_000) / 1000}`,
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal((r.body.data as { result: unknown[] }).result.length, 2)
  })

  it('answers a query over its samples budget with 422 execution', async () => {
    const q = await openTestPortal(
      engines[0],
      { query: { ...p.ctx.config.query, maxSamples: 1 } },
      undefined,
      data
    )
    try {
      const r = await q.call<Reply>('GET', '/api/v1/query', {
        token: await q.user('grafana'),
        query: { query: '{"cpu.idle"}', time: String(T0 / 1000 + 60) },
      })
      assert.equal(r.status, 422, JSON.stringify(r.body))
      assert.equal(r.body.errorType, 'execution')
      assert.match(r.body.error ?? '', /too many samples/)
    } finally {
      await q.close()
    }
  })

  it('stops a query at its timeout parameter (503 timeout) and frees its slot', async () => {
    slow.reset()
    const r = await held.call<Reply>('GET', '/api/v1/query', {
      token: heldToken,
      query: { query: '{"cpu.idle"}', time: String(T0 / 1000), timeout: '0.05' },
    })
    assert.equal(r.status, 503, JSON.stringify(r.body))
    assert.equal(r.body.errorType, 'timeout')
    slow.open()
    const again = await held.call<Reply>('GET', '/api/v1/query', {
      token: heldToken,
      query: { query: '{"cpu.idle"}', time: String(T0 / 1000) },
    })
    assert.equal(again.status, 200, JSON.stringify(again.body))
  })

  it('lets maxConcurrency run, maxWaiting wait, and refuses the next with 503 unavailable', async () => {
    slow.reset()
    const ask = () =>
      held.call<Reply>('GET', '/api/v1/query', {
        token: heldToken,
        query: { query: '{"cpu.idle"}', time: String(T0 / 1000) },
      })
    const selects = slow.selects
    const first = ask()
    // The first holds the one slot once its select is running.
    while (slow.selects === selects) await new Promise((r) => setImmediate(r))
    const second = ask()
    while (held.ctx && (await counters(held)).waiting === 0)
      await new Promise((r) => setImmediate(r))
    const third = await ask()
    assert.equal(third.status, 503)
    assert.equal(third.body.errorType, 'unavailable')
    slow.open()
    assert.equal((await first).status, 200)
    assert.equal((await second).status, 200)
    const c = await counters(held)
    assert.equal(c.refused, 1)
    assert.equal(c.running, 0)
  })

  it('answers 503 unavailable when a graph node does not answer', async () => {
    slow.reset()
    slow.fail = new GraphUnavailable('graph-00 (127.0.0.1:6070): connection refused')
    const r = await held.call<Reply>('GET', '/api/v1/series', {
      token: heldToken,
      query: { 'match[]': '{"cpu.idle"}' },
    })
    assert.equal(r.status, 503, JSON.stringify(r.body))
    assert.deepEqual(r.body, {
      status: 'error',
      errorType: 'unavailable',
      error: 'graph-00 (127.0.0.1:6070): connection refused',
    })
    slow.reset()
  })
})

async function counters(
  p: TestPortal
): Promise<{ waiting: number; running: number; refused: number }> {
  const r = await p.call<{
    data: { promQueries: { waiting: number; running: number; refused: number } }
  }>('GET', '/counter/all')
  return r.body.data.promQueries
}
