// The Prometheus HTTP query API on api's port, as Prometheus 2.55's web/api/v1/api.go answers it:
// query, query_range, series, labels, label values, metadata, query_exemplars (empty), buildinfo,
// runtimeinfo and format_query, by GET or form-encoded POST, over the graph cluster's Querier.
import { availableParallelism } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../../core/index.js'
import { VERSION } from '../../core/index.js'
import { type Engine, formatQuery, type QueryResult } from '../../promql/index.js'
import { compareLabels, type Labels, type Matcher, type Querier } from '../../tsdb/index.js'
import type { QueryConfig } from '../config.js'
import { queryDataJson, successJson } from './encode.js'
import { PromError, toPromError } from './errors.js'
import { QueryGate } from './gate.js'
import {
  Form,
  MAX_TIME,
  MIN_TIME,
  parseDurationParam,
  parseLimit,
  parseMatchers,
  parseTime,
  parseTimeParam,
} from './params.js'

/** PROMETHEUS_VERSION is the Prometheus whose API this one answers as (buildinfo's `version`). */
export const PROMETHEUS_VERSION = '2.55.1'

/** MAX_FORM_BYTES bounds a POST form (a query and its parameters): 1 MiB. */
export const MAX_FORM_BYTES = 1 << 20

/** PromDeps is what the routes need. */
export interface PromDeps {
  engine: Engine
  querier: Querier
  config: Readonly<QueryConfig>
  log: Logger
  /** now in ms. */
  now: () => number
}

/** PromCounters count what the query API did and refused, for /counter/all. */
export interface PromCounters {
  queries: number
  failed: number
  gate: QueryGate
}

/** Answer is a route's success: its data as JSON and the warnings to show beside it. */
interface Answer {
  data: string
  warnings?: readonly string[]
}

const json = (v: unknown) => JSON.stringify(v)
const TRUNCATED = 'results truncated due to limit'

/** registerPromRoutes adds the query API; the caller's onRequest hook has authenticated the request. */
export function registerPromRoutes(app: FastifyInstance, deps: PromDeps): PromCounters {
  const { engine, querier, config, log, now } = deps
  const gate = new QueryGate(config.maxConcurrency, config.maxWaiting)
  const counters: PromCounters = { queries: 0, failed: 0, gate }
  const started = new Date(now()).toISOString()

  /**
   * budget returns the signal a request's work runs under: it aborts at the query timeout (the
   * `timeout` parameter may lower `api.query.timeout`, never raise it) or when the client goes away.
   */
  /** timeoutOf is a request's timeout (ms): `timeout` may lower `api.query.timeout`, never raise it. */
  const timeoutOf = (form: Form): number => {
    const given = form.value('timeout')
    return given === ''
      ? config.timeout
      : Math.min(config.timeout, Math.max(1, parseDurationParam(given, 'timeout')))
  }

  const budget = (form: Form, reply: FastifyReply) => {
    const ms = timeoutOf(form)
    // A timer of our own, not AbortSignal.timeout's: that one is unref'd, and a query must end even
    // when nothing else holds the process up.
    const timer = new AbortController()
    const clock = setTimeout(() => timer.abort(), ms)
    const client = new AbortController()
    const onClose = () => {
      if (!reply.raw.writableFinished) client.abort()
    }
    reply.raw.once('close', onClose)
    const signal = AbortSignal.any([timer.signal, client.signal])
    return {
      signal,
      done() {
        clearTimeout(clock)
        reply.raw.off('close', onClose)
      },
      /** why maps an error thrown after `signal` aborted onto timeout or canceled. */
      why(err: unknown): unknown {
        if (timer.signal.aborted)
          return new PromError('timeout', 'query timed out in expression evaluation')
        if (client.signal.aborted) return new PromError('canceled', 'query was canceled')
        return err
      },
    }
  }

  /** limited runs `work` in a query slot, under the request's budget. */
  const limited = async <T>(
    form: Form,
    reply: FastifyReply,
    work: (signal: AbortSignal) => Promise<T>
  ): Promise<T> => {
    const b = budget(form, reply)
    let release: () => void
    try {
      release = await gate.acquire(b.signal)
    } catch (err) {
      b.done()
      throw err
    }
    const running = work(b.signal)
    // The slot stays taken until the work has stopped, even when the answer goes before it.
    running.then(release, release)
    // Answered at the deadline even if the work is slow to notice it.
    let onAbort = () => {}
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new Error('aborted'))
      if (b.signal.aborted) onAbort()
      else b.signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return await Promise.race([running, aborted])
    } catch (err) {
      throw b.why(err)
    } finally {
      b.signal.removeEventListener('abort', onAbort)
      aborted.catch(() => {})
      b.done()
    }
  }

  // Prometheus's stats: how long the query waited and ran, and the samples it touched.
  const runQuery = async (
    form: Form,
    reply: FastifyReply,
    run: (signal: AbortSignal) => Promise<QueryResult>
  ): Promise<Answer> => {
    const arrived = performance.now()
    let began = arrived
    const result = await limited(form, reply, (signal) => {
      began = performance.now()
      return run(signal)
    })
    const ended = performance.now()
    const data = queryDataJson(result, form.value('stats') !== '', {
      queued: (began - arrived) / 1000,
      evaluated: (ended - began) / 1000,
    })
    return { data, warnings: result.warnings }
  }

  const query = (form: Form, reply: FastifyReply) => {
    const time = parseTimeParam(form, 'time', now())
    const expr = form.value('query')
    return runQuery(form, reply, (signal) =>
      engine
        .instantQuery(querier, expr, time, { signal, timeout: timeoutOf(form) })
        .catch((err: unknown) => {
          throw toPromError(err, true)
        })
    )
  }

  const queryRange = (form: Form, reply: FastifyReply) => {
    const start = parseTime(form.value('start'), 'start')
    const end = parseTime(form.value('end'), 'end')
    if (end < start) {
      throw PromError.badParam('end', 'end timestamp must not be before start time')
    }
    // The engine steps in whole ms, as Prometheus's does.
    const asked = parseDurationParam(form.value('step'), 'step')
    // Below a millisecond, a step still counts as positive (Prometheus steps in ns): the resolution
    // check below then says what is wrong.
    const step = asked > 0 ? Math.max(1, Math.floor(asked)) : 0
    if (step <= 0) {
      throw PromError.badParam(
        'step',
        'zero or negative query resolution step widths are not accepted. Try a positive integer'
      )
    }
    // For safety, as Prometheus: 11,000 points are a week at 60 s or a year at 1 h.
    if (Math.floor((end - start) / step) > config.maxPointsPerSeries) {
      throw PromError.badData(
        `exceeded maximum resolution of ${config.maxPointsPerSeries.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`
      )
    }
    const expr = form.value('query')
    return runQuery(form, reply, (signal) =>
      engine
        .rangeQuery(querier, expr, start, end, step, { signal, timeout: timeoutOf(form) })
        .catch((err: unknown) => {
          throw toPromError(err, true)
        })
    )
  }

  const range = (form: Form) => {
    const start = parseTimeParam(form, 'start', MIN_TIME)
    const end = parseTimeParam(form, 'end', MAX_TIME)
    return { start, end }
  }

  const series = async (form: Form, reply: FastifyReply): Promise<Answer> => {
    if (form.all('match[]').length === 0) throw PromError.badData('no match[] parameter provided')
    const limit = parseLimit(form)
    const { start, end } = range(form)
    const sets = parseMatchers(form.all('match[]'), true)
    const deadline = Date.now() + timeoutOf(form)
    const found = await limited(form, reply, async (signal) => {
      const all: Labels[] = []
      for (const set of sets) {
        const s = await querier.select(set, {
          start,
          end,
          func: 'series',
          maxSamples: engine.options.maxSamples,
          signal,
          deadline,
        })
        for (const l of s.labels) all.push(l)
      }
      return all
    })
    found.sort(compareLabels)
    const unique = found.filter((l, i) => i === 0 || compareLabels(found[i - 1], l) !== 0)
    const cap = limit > 0 ? Math.min(limit, config.maxSeries) : config.maxSeries
    const warnings: string[] = []
    if (unique.length > cap) {
      unique.length = cap
      warnings.push(TRUNCATED)
    }
    const rows = unique.map((l) => Object.fromEntries(l.map((x) => [x.name, x.value])))
    return { data: json(rows), warnings }
  }

  /** labelsOf unions names (or one label's values) over the match[] sets, sorted and capped. */
  const labelsOf = async (
    form: Form,
    reply: FastifyReply,
    ask: (matchers: Matcher[], hints: object & { signal: AbortSignal }) => Promise<string[]>
  ): Promise<Answer> => {
    const limit = parseLimit(form)
    const { start, end } = range(form)
    const sets = parseMatchers(form.all('match[]'))
    const cap = limit > 0 ? Math.min(limit, config.maxSeries) : config.maxSeries
    const deadline = Date.now() + timeoutOf(form)
    const names = await limited(form, reply, async (signal) => {
      const hints = {
        ...(start === MIN_TIME ? {} : { start }),
        ...(end === MAX_TIME ? {} : { end }),
        // One more than asked, to tell that the answer was cut.
        limit: cap + 1,
        signal,
        deadline,
      }
      const union = new Set<string>()
      for (const set of sets.length === 0 ? [[]] : sets) {
        for (const n of await ask(set, hints)) union.add(n)
      }
      return [...union].sort()
    })
    const warnings: string[] = []
    if (names.length > cap) {
      names.length = cap
      warnings.push(TRUNCATED)
    }
    return { data: json(names), warnings }
  }

  const labels = (form: Form, reply: FastifyReply) =>
    labelsOf(form, reply, (m, hints) => querier.labelNames(m, hints))

  const labelValues = (form: Form, reply: FastifyReply, name: string) => {
    // Prometheus 2.55 takes only legacy names here; a falcon tag may be any text, so any name is
    // asked for, and none that could never be one.
    if (name === '' || name.length > 1024)
      throw PromError.badData(`invalid label name: ${JSON.stringify(name)}`)
    return labelsOf(form, reply, (m, hints) => querier.labelValues(name, m, hints))
  }

  const metadata = async (form: Form): Promise<Answer> => {
    let limit = -1
    const s = form.value('limit')
    if (s !== '') {
      if (!/^[+-]?\d+$/.test(s)) throw PromError.badData('limit must be a number')
      limit = Number(s)
    }
    if (form.value('limit_per_metric') !== '' && !/^[+-]?\d+$/.test(form.value('limit_per_metric')))
      throw PromError.badData('limit_per_metric must be a number')
    if (limit === 0) return { data: '{}' }
    const metric = form.value('metric')
    const found = await querier.metadata(
      metric === '' ? undefined : metric,
      limit > 0 ? Math.min(limit, config.maxSeries) : config.maxSeries
    )
    const out: Record<string, { type: string; help: string; unit: string }[]> = {}
    for (const [name, m] of found) out[name] = [{ type: m.type, help: m.help, unit: m.unit }]
    return { data: json(out) }
  }

  const exemplars = (form: Form): Answer => {
    const { start, end } = range(form)
    if (end < start) throw PromError.badData('end timestamp must not be before start timestamp')
    try {
      formatQuery(form.value('query'))
    } catch (err) {
      throw toPromError(err)
    }
    // Falcon points carry no exemplars.
    return { data: '[]' }
  }

  const format = (form: Form): Answer => {
    try {
      return { data: json(formatQuery(form.value('query'))) }
    } catch (err) {
      throw toPromError(err, true)
    }
  }

  const buildinfo = (): Answer => ({
    data: json({
      version: PROMETHEUS_VERSION,
      revision: `peregrine-${VERSION}`,
      branch: 'peregrine',
      buildUser: 'peregrine',
      buildDate: '',
      goVersion: `node ${process.version}`,
    }),
  })

  const runtimeinfo = (): Answer => ({
    data: json({
      startTime: started,
      // Where the process runs is no client's business.
      CWD: '',
      reloadConfigSuccess: true,
      lastConfigTime: started,
      corruptionCount: 0,
      goroutineCount: gate.running,
      GOMAXPROCS: availableParallelism(),
      GOMEMLIMIT: 0,
      GOGC: '',
      GODEBUG: '',
      storageRetention: '',
    }),
  })

  type Handler = (form: Form, reply: FastifyReply, req: FastifyRequest) => Answer | Promise<Answer>
  const wrap =
    (counted: boolean, fn: Handler) => async (req: FastifyRequest, reply: FastifyReply) => {
      const form = new Form(req.body, req.query)
      if (counted) counters.queries++
      const answer = await fn(form, reply, req)
      return reply.type('application/json').send(successJson(answer.data, answer.warnings))
    }

  void app.register((scope, _opts, done) => {
    scope.setErrorHandler((err: Error, req, reply) => {
      const e = toPromError(err)
      if (e.type !== 'unauthorized' && e.type !== 'forbidden') counters.failed++
      if (e.internal === true)
        log.error(`api: ${req.method} ${req.url}: ${err.stack ?? err.message}`)
      if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        e.message = `body: larger than ${MAX_FORM_BYTES} bytes, the most a query form may be`
      }
      return reply
        .status(e.status)
        .type('application/json')
        .send(json({ status: 'error', errorType: e.type, error: e.message }))
    })
    const both = (path: string, fn: Handler, counted = true) => {
      scope.get(path, wrap(counted, fn))
      scope.post(path, { config: { readOnly: true }, bodyLimit: MAX_FORM_BYTES }, wrap(counted, fn))
    }
    both('/api/v1/query', query)
    both('/api/v1/query_range', queryRange)
    both('/api/v1/series', series)
    both('/api/v1/labels', labels)
    both('/api/v1/query_exemplars', exemplars, false)
    both('/api/v1/format_query', format, false)
    scope.get(
      '/api/v1/label/:name/values',
      wrap(true, (form, reply, req) =>
        labelValues(form, reply, (req.params as { name: string }).name)
      )
    )
    scope.get('/api/v1/metadata', wrap(true, metadata))
    scope.get('/api/v1/status/buildinfo', wrap(false, buildinfo))
    scope.get('/api/v1/status/runtimeinfo', wrap(false, runtimeinfo))
    done()
  })
  return counters
}
