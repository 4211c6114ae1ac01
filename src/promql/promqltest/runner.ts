// A runner for Prometheus's PromQL test scripts (promql/promqltest): load, clear, eval[_fail|_warn|_ordered].
import {
  compareLabels,
  CounterResetHint,
  CUSTOM_BUCKETS_SCHEMA,
  FloatHistogram,
  MemoryQuerier,
  type Labels,
  type Querier,
} from '../../tsdb/index.js'
import { inspect, AT_MODIFIER_UNSAFE_FUNCTIONS } from '../ast.js'
import { parseGoFloat } from '../../core/index.js'
import { parseDurationOrUndefined } from '../format.js'
import { labelsKey, labelsString } from '../labels.js'
import { parseExpr, parseSeriesLabels } from '../parser.js'
import { exprString } from '../printer.js'
import type { QueryResult } from '../types.js'

/** ScriptEngine is what the runner needs of an engine (Peregrine's Engine fits). */
export interface ScriptEngine {
  instantQuery(querier: Querier, expr: string, time: number): Promise<QueryResult>
  rangeQuery(
    querier: Querier,
    expr: string,
    start: number,
    end: number,
    step: number
  ): Promise<QueryResult>
}

/** StatementResult is the outcome of one load or eval statement, named by its 1-based line. */
export interface StatementResult {
  line: number
  kind: 'load' | 'eval'
  ok: boolean
  /** why it failed, one line. */
  reason: string
  /** the statement needs native histograms (its data or its expectation holds them). */
  nativeHistograms: boolean
}

const EPSILON = 0.000001
const MIN_NORMAL = 2.2250738585072014e-308
const STALE_NAN = (() => {
  const b = new Float64Array(1)
  const u = new Uint32Array(b.buffer)
  u[0] = 2
  u[1] = 0x7ff00000
  return b[0]
})()

/** almostEqual is Prometheus's util/almost.Equal: relative epsilon, NaN equals NaN. */
export function almostEqual(a: number, b: number, epsilon = EPSILON): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true
  if (a === b) return true
  const absSum = Math.abs(a) + Math.abs(b)
  const diff = Math.abs(a - b)
  if (a === 0 || b === 0 || absSum < MIN_NORMAL) return diff < epsilon * MIN_NORMAL
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon
}

/** SequenceValue is one point of a series line: a value, an omitted step, or a native histogram. */
interface SequenceValue {
  value: number
  omitted: boolean
  histogram: boolean
  h?: FloatHistogram
}

const HINTS: Record<string, CounterResetHint> = {
  unknown: CounterResetHint.Unknown,
  reset: CounterResetHint.Reset,
  not_reset: CounterResetHint.NotReset,
  gauge: CounterResetHint.Gauge,
}

/** parseHistogram reads the inside of `{{schema:0 sum:5 count:4 buckets:[1 2 1] …}}`. */
export function parseHistogram(text: string): FloatHistogram {
  const re = /([a-z_]+)\s*:\s*(\[[^\]]*\]|[^\s\]]+)/gy
  const body = text.trim()
  const seen = new Set<string>()
  const lists: Record<string, number[]> = {}
  const nums: Record<string, number> = {}
  let hint: CounterResetHint = CounterResetHint.Unknown
  let at = 0
  while (at < body.length) {
    while (at < body.length && /\s/.test(body[at])) at++
    if (at >= body.length) break
    re.lastIndex = at
    const m = re.exec(body)
    if (m === null) throw new Error(`bad histogram description ${JSON.stringify(body.slice(at))}`)
    at = re.lastIndex
    const key = m[1]
    if (seen.has(key)) throw new Error(`duplicate key "${key}" in histogram`)
    seen.add(key)
    const val = m[2]
    if (key === 'counter_reset_hint') {
      const h = HINTS[val]
      if (h === undefined) throw new Error(`error parsing counter_reset_hint: ${val}`)
      hint = h
    } else if (val.startsWith('[')) {
      lists[key] = val
        .slice(1, -1)
        .trim()
        .split(/\s+/)
        .filter((x) => x !== '')
        .map((x) => {
          const n = parseNumber(x)
          if (n === undefined) throw new Error(`bad number ${JSON.stringify(x)} in histogram`)
          return n
        })
    } else {
      const n = parseNumber(val)
      if (n === undefined) throw new Error(`bad number ${JSON.stringify(val)} in histogram`)
      nums[key] = n
    }
  }
  const known = [
    'schema',
    'sum',
    'count',
    'z_bucket',
    'z_bucket_w',
    'custom_values',
    'buckets',
    'offset',
    'n_buckets',
    'n_offset',
    'counter_reset_hint',
  ]
  for (const k of seen) if (!known.includes(k)) throw new Error(`unknown histogram key ${k}`)
  const spans = (buckets: number[] | undefined, offset: number | undefined) =>
    buckets === undefined || buckets.length === 0
      ? undefined
      : [{ offset: offset ?? 0, length: buckets.length }]
  return FloatHistogram.from({
    counterResetHint: hint,
    schema: nums.schema ?? 0,
    sum: nums.sum ?? 0,
    count: nums.count ?? 0,
    zeroCount: nums.z_bucket ?? 0,
    zeroThreshold: nums.z_bucket_w ?? 0,
    ...(lists.custom_values !== undefined ? { customValues: lists.custom_values } : {}),
    positiveSpans: spans(lists.buckets, nums.offset),
    positiveBuckets: lists.buckets ?? [],
    negativeSpans: spans(lists.n_buckets, nums.n_offset),
    negativeBuckets: lists.n_buckets ?? [],
  })
}

/** closeOf is the index just past the `}}` closing the `{{` at 0. */
function closeOf(text: string): number {
  const end = text.indexOf('}}')
  if (end < 0) throw new Error('unclosed histogram description')
  return end + 2
}

/** parseNumber is the runner's Go ParseInt(s, 0, 64) then ParseFloat(s, 64). */
function parseNumber(s: string): number | undefined {
  if (/^[+-]?(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) {
    const neg = s.startsWith('-')
    const body = s.replace(/^[+-]/, '')
    const v = body.startsWith('0x')
      ? parseInt(body.slice(2), 16)
      : /^0[0-7]+$/.test(body)
        ? parseInt(body, 8)
        : Number(body)
    return neg ? -v : v
  }
  const l = s.toLowerCase()
  if (/^[+-]?(inf|infinity)$/.test(l)) return l.startsWith('-') ? -Infinity : Infinity
  if (l === 'nan') return NaN
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(l)) return Number(s)
  return undefined
}

const NUM = String.raw`(?:[+-]?(?:Inf|inf|NaN|nan|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+))`
const ITEM_RE = new RegExp(
  String.raw`^(${NUM})(?:([+-])(${NUM.replace('[+-]?', '')}))?(?:x(\d+))?$`
)

/** splitSeries splits `metric{labels} values…` into the label text and the value text. */
function splitSeries(line: string): [string, string] {
  let depth = 0
  let quote = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote !== '') {
      if (c === '\\' && quote !== '`') i++
      else if (c === quote) quote = ''
      continue
    }
    if (c === '"' || c === "'" || c === '`') quote = c
    else if (c === '{') depth++
    else if (c === '}') {
      depth--
      if (depth === 0) return [line.slice(0, i + 1), line.slice(i + 1).trim()]
    } else if (depth === 0 && /\s/.test(c)) return [line.slice(0, i), line.slice(i).trim()]
  }
  return [line, '']
}

/** parseValues reads a series line's values: `1 2 _ stale 0+10x5 -2-3x4 1x3 _x2 {{…}}`. */
function parseValues(text: string): SequenceValue[] {
  const out: SequenceValue[] = []
  let rest = text.trim()
  while (rest !== '') {
    if (rest.startsWith('{{')) {
      // A native histogram, possibly repeated (`{{…}}x3`) or incremented (`{{…}}+{{…}}x3`).
      const end = closeOf(rest)
      const base = parseHistogram(rest.slice(2, end - 2))
      rest = rest.slice(end)
      let inc: FloatHistogram | null = null
      let sign = 1
      if (/^[+-]\{\{/.test(rest)) {
        sign = rest[0] === '-' ? -1 : 1
        const e2 = closeOf(rest.slice(1)) + 1
        inc = parseHistogram(rest.slice(3, e2 - 2))
        rest = rest.slice(e2)
      }
      const times = /^x(\d+)/.exec(rest)
      if (times !== null) rest = rest.slice(times[0].length)
      else if (inc !== null) throw new Error('histogram increment without a repetition')
      if (rest !== '' && !/^\s/.test(rest))
        throw new Error(`bad series value ${JSON.stringify(rest)}`)
      const n = times === null ? 0 : Number(times[1])
      out.push({ value: 0, omitted: false, histogram: true, h: base })
      let cur = base
      for (let j = 1; j <= n; j++) {
        if (inc !== null) {
          if (cur.schema > inc.schema) {
            throw new Error(
              `error combining histograms: cannot merge from schema ${inc.schema} to ${cur.schema}`
            )
          }
          const next = cur.copy()
          const err = sign > 0 ? next.add(inc) : next.sub(inc)
          if (err !== '') throw new Error(`error combining histograms: ${err}`)
          cur = next
        }
        out.push({ value: 0, omitted: false, histogram: true, h: cur })
      }
      rest = rest.trim()
      continue
    }
    const sp = rest.search(/\s/)
    const item = sp < 0 ? rest : rest.slice(0, sp)
    rest = sp < 0 ? '' : rest.slice(sp).trim()
    if (item === '_') {
      out.push({ value: 0, omitted: true, histogram: false })
      continue
    }
    const blanks = /^_x(\d+)$/.exec(item)
    if (blanks !== null) {
      for (let j = 0; j < Number(blanks[1]); j++)
        out.push({ value: 0, omitted: true, histogram: false })
      continue
    }
    if (item === 'stale') {
      out.push({ value: STALE_NAN, omitted: false, histogram: false })
      continue
    }
    const m = ITEM_RE.exec(item)
    if (m === null) throw new Error(`bad series value ${JSON.stringify(item)}`)
    let v = parseNumber(m[1])
    if (v === undefined) throw new Error(`bad number ${JSON.stringify(m[1])}`)
    if (m[4] === undefined) {
      if (m[2] !== undefined) throw new Error(`bad series value ${JSON.stringify(item)}`)
      out.push({ value: v, omitted: false, histogram: false })
      continue
    }
    const times = Number(m[4])
    let inc = 0
    if (m[2] !== undefined) {
      const d = parseNumber(m[3])
      if (d === undefined) throw new Error(`bad increment ${JSON.stringify(m[3])}`)
      inc = m[2] === '-' ? -d : d
    }
    for (let j = 0; j <= times; j++) {
      out.push({ value: v, omitted: false, histogram: false })
      v += inc
    }
  }
  return out
}

function duration(s: string, what: string): number {
  const ms = parseDurationOrUndefined(s)
  if (ms === undefined) throw new Error(`invalid ${what} ${JSON.stringify(s)}`)
  return ms
}

interface Expected {
  labels: Labels
  values: SequenceValue[]
  pos: number
}

interface EvalCmd {
  line: number
  expr: string
  instant: boolean
  start: number
  end: number
  step: number
  fail: boolean
  warn: boolean
  ordered: boolean
  failMessage: string | null
  failRegexp: RegExp | null
  expectScalar: number | null
  expected: Map<string, Expected>
}

const PAT_LOAD = /^load(?:_(with_nhcb))?\s+(.+?)$/
const PAT_INSTANT = /^eval(?:_(fail|warn|ordered))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$/
const PAT_RANGE = /^eval(?:_(fail|warn))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$/

/**
 * runScript runs one test script against `engine` over a MemoryQuerier and returns the outcome of
 * every load and eval statement. It never throws for a failing statement.
 */
export async function runScript(
  script: string,
  engine: ScriptEngine,
  makeQuerier: () => MemoryQuerier = () => new MemoryQuerier()
): Promise<StatementResult[]> {
  const lines = script.split('\n').map((l) => {
    const t = l.trim()
    return t.startsWith('#') ? '' : t
  })
  const results: StatementResult[] = []
  let querier = makeQuerier()
  // Names of metrics that exist only as native histograms (from {{…}} samples or load_with_nhcb).
  let histogramNames = new Set<string>()
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]
    if (l === '') continue
    const word = l.split(/[\t ]+/, 1)[0].toLowerCase()
    if (word === 'clear') {
      querier = makeQuerier()
      histogramNames = new Set()
      continue
    }
    if (word.startsWith('load')) {
      const start = i
      const m = PAT_LOAD.exec(l)
      let problem = ''
      let native = false
      let gap = 0
      const nhcb = m?.[1] === 'with_nhcb'
      const defs: { labels: Labels; ts: number[]; vs: number[] }[] = []
      if (m === null) problem = 'invalid load command'
      else {
        if (nhcb) native = true
        try {
          gap = duration(m[2], 'step')
        } catch (err) {
          problem = (err as Error).message
        }
      }
      while (i + 1 < lines.length && lines[i + 1] !== '') {
        i++
        try {
          const [labelText, valueText] = splitSeries(lines[i])
          const labels = parseSeriesLabels(labelText)
          const values = parseValues(valueText)
          const ts: number[] = []
          const vs: number[] = []
          const hs: (FloatHistogram | undefined)[] = []
          let anyH = false
          for (let j = 0; j < values.length; j++) {
            const v = values[j]
            if (v.omitted) continue
            if (v.histogram) {
              native = true
              anyH = true
            }
            ts.push(j * gap)
            vs.push(v.value)
            hs.push(v.h)
          }
          if (ts.length > 0) querier.add(labels, ts, vs, anyH ? hs : undefined)
          if (nhcb) defs.push({ labels, ts, vs: anyH ? [] : vs })
          const metric = labels.find((x) => x.name === '__name__')?.value ?? ''
          if (values.some((v) => v.histogram)) histogramNames.add(metric)
          if (m?.[1] === 'with_nhcb') {
            for (const suffix of ['_bucket', '_count', '_sum']) {
              if (metric.endsWith(suffix)) histogramNames.add(metric.slice(0, -suffix.length))
            }
          }
        } catch (err) {
          if (problem === '') problem = `line ${i + 1}: ${(err as Error).message}`
        }
      }
      if (nhcb && problem === '') {
        try {
          appendCustomHistograms(querier, defs)
        } catch (err) {
          problem = (err as Error).message
        }
      }
      results.push({
        line: start + 1,
        kind: 'load',
        ok: problem === '',
        reason: problem,
        nativeHistograms: native,
      })
      continue
    }
    if (word.startsWith('eval')) {
      const start = i
      let cmd: EvalCmd | null = null
      let problem = ''
      let native = false
      try {
        cmd = parseEvalHeader(l, start + 1)
        native = mentions(cmd.expr, histogramNames)
      } catch (err) {
        problem = (err as Error).message
      }
      let pos = 0
      while (i + 1 < lines.length && lines[i + 1] !== '') {
        i++
        pos++
        const def = lines[i]
        if (def.includes('{{')) native = true
        if (cmd === null || problem !== '') continue
        try {
          if (cmd.fail && def.startsWith('expected_fail_message')) {
            cmd.failMessage = def.slice('expected_fail_message'.length).trim()
            continue
          }
          if (cmd.fail && def.startsWith('expected_fail_regexp')) {
            cmd.failRegexp = new RegExp(def.slice('expected_fail_regexp'.length).trim())
            continue
          }
          const n = parseNumber(def)
          if (n !== undefined) {
            cmd.expectScalar = n
            continue
          }
          const [labelText, valueText] = splitSeries(def)
          const labels = parseSeriesLabels(labelText)
          const values = parseValues(valueText)
          if (values.length > 1 && cmd.instant) {
            throw new Error('expecting multiple values in instant evaluation not allowed')
          }
          cmd.expected.set(labelsKey(labels), { labels, values, pos })
        } catch (err) {
          problem = `line ${i + 1}: ${(err as Error).message}`
        }
      }
      if (cmd !== null && problem === '') {
        try {
          await execEval(cmd, engine, querier)
        } catch (err) {
          problem = (err as Error).message.split('\n')[0]
        }
      }
      results.push({
        line: start + 1,
        kind: 'eval',
        ok: problem === '',
        reason: problem,
        nativeHistograms: native,
      })
      continue
    }
    results.push({
      line: i + 1,
      kind: 'eval',
      ok: false,
      reason: `invalid command ${JSON.stringify(l)}`,
      nativeHistograms: false,
    })
  }
  return results
}

/** mentions tells whether an expression names one of the metrics (as a whole identifier). */
function mentions(expr: string, names: ReadonlySet<string>): boolean {
  for (const name of names) {
    if (name === '') continue
    const re = new RegExp(
      `(^|[^a-zA-Z0-9_:])${name.replace(/[^a-zA-Z0-9_]/g, '\\$&')}($|[^a-zA-Z0-9_:])`
    )
    if (re.test(expr)) return true
  }
  return false
}

function parseEvalHeader(l: string, line: number): EvalCmd {
  const inst = PAT_INSTANT.exec(l)
  const rng = PAT_RANGE.exec(l)
  if (inst === null && rng === null) throw new Error('invalid evaluation command')
  const base = {
    line,
    fail: false,
    warn: false,
    ordered: false,
    failMessage: null,
    failRegexp: null,
    expectScalar: null,
    expected: new Map<string, Expected>(),
  }
  let cmd: EvalCmd
  let mod: string | undefined
  if (inst !== null) {
    mod = inst[1]
    const at = duration(inst[2] ?? '0s', 'timestamp')
    cmd = { ...base, expr: inst[3], instant: true, start: at, end: at, step: 0 }
  } else {
    const r = rng as RegExpExecArray
    mod = r[1]
    const from = duration(r[2], 'start timestamp')
    const to = duration(r[3], 'end timestamp')
    if (to < from)
      throw new Error('invalid test definition, end timestamp is before start timestamp')
    cmd = {
      ...base,
      expr: r[5],
      instant: false,
      start: from,
      end: to,
      step: duration(r[4], 'step'),
    }
  }
  if (mod === 'fail') cmd.fail = true
  else if (mod === 'warn') cmd.warn = true
  else if (mod === 'ordered') cmd.ordered = true
  // As Prometheus's runner: the expression must parse, or the script is wrong.
  parseExpr(cmd.expr)
  return cmd
}

/** atModifierCases re-runs an instant query with every selector pinned by `@` (promqltest's atModifierTestCases). */
function atModifierCases(expr: string, t: number): { expr: string; t: number }[] {
  const e = parseExpr(expr)
  let unsafe = false
  inspect(e, (n, path) => {
    if (path.some((p) => p.kind === 'SubqueryExpr' && p.timestamp !== null)) return
    if (n.kind === 'VectorSelector' && n.timestamp === null && n.startOrEnd === null)
      n.timestamp = t
    else if (n.kind === 'SubqueryExpr' && n.timestamp === null && n.startOrEnd === null)
      n.timestamp = t
    else if (n.kind === 'Call' && AT_MODIFIER_UNSAFE_FUNCTIONS.has(n.func.name)) unsafe = true
  })
  if (unsafe) return []
  const text = exprString(e)
  const times = t === 0 ? [-1000, 0, 1000] : [-10 * t, 0, Math.trunc(t / 5), t, 10 * t]
  return times.map((x) => ({ expr: text, t: x }))
}

async function execEval(cmd: EvalCmd, engine: ScriptEngine, q: Querier): Promise<void> {
  if (!cmd.instant) {
    let res: QueryResult
    try {
      res = await engine.rangeQuery(q, cmd.expr, cmd.start, cmd.end, cmd.step)
    } catch (err) {
      if (cmd.fail) return checkExpectedFailure(cmd, err)
      throw new Error(`error evaluating query: ${(err as Error).message}`, { cause: err })
    }
    if (cmd.fail) throw new Error('expected error evaluating query but got none')
    checkWarnings(cmd, res)
    compareResult(cmd, res.value, cmd.start)
    return
  }
  const cases = [{ expr: cmd.expr, t: cmd.start }, ...atModifierCases(cmd.expr, cmd.start)]
  for (const c of cases) await runInstant(cmd, c, engine, q)
}

function checkExpectedFailure(cmd: EvalCmd, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err)
  if (cmd.failMessage !== null && cmd.failMessage !== msg) {
    throw new Error(`expected error ${JSON.stringify(cmd.failMessage)}, but got: ${msg}`)
  }
  if (cmd.failRegexp !== null && !cmd.failRegexp.test(msg)) {
    throw new Error(`expected error matching ${String(cmd.failRegexp)}, but got: ${msg}`)
  }
}

function checkWarnings(cmd: EvalCmd, res: QueryResult): void {
  if (!cmd.warn && res.warnings.length > 0) {
    throw new Error(`unexpected warnings: ${res.warnings.join('; ')}`)
  }
  if (cmd.warn && res.warnings.length === 0) throw new Error('expected warnings but got none')
}

async function runInstant(
  cmd: EvalCmd,
  c: { expr: string; t: number },
  engine: ScriptEngine,
  q: Querier
): Promise<void> {
  const where = c.expr === cmd.expr && c.t === cmd.start ? '' : ` (as ${c.expr} at ${c.t}ms)`
  let res: QueryResult
  try {
    res = await engine.instantQuery(q, c.expr, c.t)
  } catch (err) {
    if (cmd.fail) return checkExpectedFailure(cmd, err)
    throw new Error(`error evaluating query${where}: ${(err as Error).message}`, { cause: err })
  }
  if (cmd.fail) throw new Error(`expected error evaluating query${where} but got none`)
  checkWarnings(cmd, res)
  try {
    compareResult(cmd, res.value, c.t)
  } catch (err) {
    throw new Error(`${(err as Error).message}${where}`, { cause: err })
  }
  // The same query in range mode must agree at the middle step.
  let range: QueryResult
  try {
    range = await engine.rangeQuery(q, c.expr, c.t - 60_000, c.t + 60_000, 60_000)
  } catch (err) {
    throw new Error(`error evaluating query in range mode${where}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (cmd.ordered) return
  if (range.value.resultType !== 'matrix') throw new Error('range query did not return a matrix')
  const series = range.value.series
  for (let i = 1; i < series.length; i++) {
    if (compareLabels(series[i - 1].labels, series[i].labels) > 0) {
      throw new Error('matrix results should always be sorted by labels')
    }
  }
  const samples = []
  for (const s of series) {
    for (let j = 0; j < s.ts.length; j++) {
      if (s.ts[j] === c.t) {
        const h = s.hs?.[j]
        samples.push(
          h === undefined
            ? { labels: s.labels, t: c.t, v: s.vs[j] }
            : { labels: s.labels, t: c.t, v: 0, h }
        )
        break
      }
    }
  }
  try {
    if (res.value.resultType === 'scalar') {
      compareResult(cmd, { resultType: 'scalar', t: c.t, v: samples[0]?.v ?? NaN }, c.t)
    } else compareResult(cmd, { resultType: 'vector', samples }, c.t)
  } catch (err) {
    throw new Error(`range mode: ${(err as Error).message}${where}`, { cause: err })
  }
}

function fmt(v: number): string {
  return Number.isNaN(v) ? 'NaN' : String(v)
}

function compareResult(cmd: EvalCmd, value: QueryResult['value'], _t: number): void {
  switch (value.resultType) {
    case 'matrix': {
      if (cmd.ordered) throw new Error('expected ordered result, but query returned a matrix')
      if (cmd.expectScalar !== null) throw new Error('expected scalar result, but got matrix')
      const seen = new Set<string>()
      for (const s of value.series) {
        const key = labelsKey(s.labels)
        const exp = cmd.expected.get(key)
        if (exp === undefined) {
          throw new Error(
            `unexpected metric ${labelsString(s.labels)} in result, has ${s.ts.length} points`
          )
        }
        seen.add(key)
        const want: { t: number; v: number; h: FloatHistogram | undefined }[] = []
        for (let i = 0; i < exp.values.length; i++) {
          const t = cmd.start + i * cmd.step
          if (t > cmd.end) throw new Error('expected more points than the query range can return')
          const e = exp.values[i]
          if (!e.omitted) want.push({ t, v: e.value, h: e.h })
        }
        if (want.length !== s.ts.length) {
          throw new Error(
            `expected ${want.length} points for ${labelsString(s.labels)}, but got ${s.ts.length} [${Array.from(s.vs, (v, i) => s.hs?.[i]?.toString() ?? fmt(v)).join(' ')}]`
          )
        }
        for (let i = 0; i < want.length; i++) {
          if (want[i].t !== s.ts[i]) {
            throw new Error(
              `expected point ${i} of ${labelsString(s.labels)} at ${want[i].t}, got ${s.ts[i]}`
            )
          }
          const gotH = s.hs?.[i]
          const wantH = want[i].h
          if (wantH !== undefined || gotH !== undefined) {
            if (
              wantH === undefined ||
              gotH === undefined ||
              !wantH.equalsApprox(gotH, almostEqual)
            ) {
              throw new Error(
                `expected ${wantH?.toString() ?? fmt(want[i].v)} at t=${s.ts[i]} for ${labelsString(s.labels)}, got ${gotH?.toString() ?? fmt(s.vs[i])}`
              )
            }
            continue
          }
          if (!almostEqual(s.vs[i], want[i].v)) {
            throw new Error(
              `expected ${fmt(want[i].v)} at t=${s.ts[i]} for ${labelsString(s.labels)}, got ${fmt(s.vs[i])}`
            )
          }
        }
      }
      for (const [key, exp] of cmd.expected) {
        if (!seen.has(key)) throw new Error(`expected metric ${labelsString(exp.labels)} not found`)
      }
      return
    }
    case 'vector': {
      if (cmd.expectScalar !== null) throw new Error('expected scalar result, but got vector')
      const seen = new Set<string>()
      value.samples.forEach((s, pos) => {
        const key = labelsKey(s.labels)
        const exp = cmd.expected.get(key)
        if (exp === undefined) {
          throw new Error(
            `unexpected metric ${labelsString(s.labels)} in result, has value ${fmt(s.v)}`
          )
        }
        if (cmd.ordered && exp.pos !== pos + 1) {
          throw new Error(
            `expected metric ${labelsString(s.labels)} at position ${exp.pos} but was at ${pos + 1}`
          )
        }
        const e = exp.values[0]
        if (e.h !== undefined || s.h !== undefined) {
          if (e.h === undefined || s.h === undefined || !e.h.equalsApprox(s.h, almostEqual)) {
            throw new Error(
              `expected ${e.h?.toString() ?? fmt(e.value)} for ${labelsString(s.labels)} but got ${s.h?.toString() ?? fmt(s.v)}`
            )
          }
          seen.add(key)
          return
        }
        if (!almostEqual(e.value, s.v)) {
          throw new Error(
            `expected ${fmt(e.value)} for ${labelsString(s.labels)} but got ${fmt(s.v)}`
          )
        }
        seen.add(key)
      })
      for (const [key, exp] of cmd.expected) {
        if (!seen.has(key)) throw new Error(`expected metric ${labelsString(exp.labels)} not found`)
      }
      return
    }
    case 'scalar':
      if (cmd.expectScalar === null) {
        throw new Error(`expected vector or matrix result, but got scalar ${fmt(value.v)}`)
      }
      if (!almostEqual(cmd.expectScalar, value.v)) {
        throw new Error(`expected scalar ${fmt(cmd.expectScalar)} but got ${fmt(value.v)}`)
      }
      return
    case 'string':
      throw new Error('unexpected string result')
  }
}

/**
 * appendCustomHistograms is `load_with_nhcb`: classic histogram series (`_bucket` with `le`, `_count`,
 * `_sum`) become native histograms with custom buckets named without the suffix, as Prometheus's runner.
 */
function appendCustomHistograms(
  querier: MemoryQuerier,
  defs: readonly { labels: Labels; ts: number[]; vs: number[] }[]
): void {
  interface Temp {
    labels: Labels
    bounds: number[]
    byTs: Map<number, { buckets: Map<number, number>; count: number; sum: number }>
  }
  const groups = new Map<string, Temp>()
  const group = (ls: Labels, suffix: string): Temp => {
    const name = ls.find((l) => l.name === '__name__')?.value ?? ''
    const base = ls
      .filter((l) => l.name !== 'le')
      .map((l) =>
        l.name === '__name__' ? { name: l.name, value: name.slice(0, -suffix.length) } : l
      )
    const key = labelsKey(base)
    let g = groups.get(key)
    if (g === undefined) groups.set(key, (g = { labels: base, bounds: [], byTs: new Map() }))
    return g
  }
  const at = (g: Temp, t: number) => {
    let x = g.byTs.get(t)
    if (x === undefined) g.byTs.set(t, (x = { buckets: new Map(), count: 0, sum: 0 }))
    return x
  }
  for (const d of defs) {
    const name = d.labels.find((l) => l.name === '__name__')?.value ?? ''
    const leLabel = d.labels.find((l) => l.name === 'le')
    if (name.endsWith('_bucket') && leLabel !== undefined) {
      const le = parseGoFloatLoose(leLabel.value)
      if (le === undefined || Number.isNaN(le)) continue
      const g = group(d.labels, '_bucket')
      g.bounds.push(le)
      d.ts.forEach((t, i) => at(g, t).buckets.set(le, d.vs[i]))
    } else if (name.endsWith('_count')) {
      const g = group(d.labels, '_count')
      d.ts.forEach((t, i) => (at(g, t).count = d.vs[i]))
    } else if (name.endsWith('_sum')) {
      const g = group(d.labels, '_sum')
      d.ts.forEach((t, i) => (at(g, t).sum = d.vs[i]))
    }
  }
  for (const g of groups.values()) {
    if (g.bounds.length === 0) throw new Error('load_with_nhcb: a histogram without buckets')
    const upper = [...new Set(g.bounds)].sort((a, b) => a - b)
    const custom = upper[upper.length - 1] === Infinity ? upper.slice(0, -1) : upper
    const times = [...g.byTs.keys()].sort((a, b) => a - b)
    const hs: FloatHistogram[] = []
    for (const t of times) {
      const x = g.byTs.get(t) as { buckets: Map<number, number>; count: number; sum: number }
      let prev = 0
      let total = 0
      const buckets: number[] = []
      for (const le of upper) {
        const cur = x.buckets.get(le) ?? 0
        buckets.push(cur - prev)
        total += cur - prev
        prev = cur
      }
      const h = FloatHistogram.from({
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: x.count !== 0 ? x.count : total,
        sum: x.sum,
        positiveSpans: [{ offset: 0, length: upper.length }],
        positiveBuckets: buckets,
        customValues: custom,
      })
      hs.push(h.compact())
    }
    querier.add(
      g.labels,
      times,
      times.map(() => 0),
      hs
    )
  }
}

/** parseGoFloatLoose reads a bucket bound as Go's strconv.ParseFloat. */
function parseGoFloatLoose(s: string): number | undefined {
  return parseGoFloat(s)
}
