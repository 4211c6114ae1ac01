// What hbs computes from the portal tables, as falcon's modules/hbs does: strategies active now with
// template inheritance, expressions, an agent's builtin metrics and plugin dirs. Pure functions.
import { createHash } from 'node:crypto'
import {
  parseGoFloat,
  splitTagPiece,
  type Expression as FalconExpression,
  type Strategy as FalconStrategy,
  type Template,
} from '../core/index.js'

export type { Template }

/**
 * ForSeconds is Peregrine's `for` of a rule (judge sends the first PROBLEM once the condition has held
 * that long). hbs gives it only when above 0, as the last key, so that replies without it are falcon's
 * to the byte (a falcon judge ignores the key anyway).
 */
export interface ForSeconds {
  readonly for?: number
}
/** Strategy is falcon's model.Strategy as hbs sends it, with Peregrine's optional `for` last. */
export type Strategy = FalconStrategy & ForSeconds
/** Expression is falcon's model.Expression as hbs sends it, with Peregrine's optional `for` last. */
export type Expression = FalconExpression & ForSeconds

/** withFor adds `for` as the last key of `rule` when `seconds` is above 0, else returns it as is. */
function withFor<R extends object>(rule: R, seconds: number): R & ForSeconds {
  return seconds > 0 ? { ...rule, for: seconds } : rule
}

/** BuiltinMetric is falcon's model.BuiltinMetric (no json tags: Go field names on the wire). */
export interface BuiltinMetric {
  readonly Metric: string
  readonly Tags: string
}

/** BuiltinMetrics is what Agent.BuiltinMetrics sends a host: the list, sorted, and its checksum. */
export interface BuiltinMetrics {
  readonly metrics: readonly BuiltinMetric[]
  /** checksum: md5 hex of the sorted `metric/tags` strings joined, or '' when there are none. */
  readonly checksum: string
}

/**
 * TemplateRow, StrategyRow, ExpressionRow: the columns read from the store (falcon's names, and
 * Peregrine's `for_duration`).
 */
export interface TemplateRow {
  id: number
  tpl_name: string
  parent_id: number
  action_id: number
  create_user: string
}
export interface StrategyRow {
  id: number
  metric: string
  tags: string
  func: string
  op: string
  right_value: string
  max_step: number
  priority: number
  note: string
  run_begin: string
  run_end: string
  tpl_id: number
  for_duration: number
}
export interface ExpressionRow {
  id: number
  expression: string
  func: string
  op: string
  right_value: string
  max_step: number
  priority: number
  note: string
  action_id: number
  for_duration: number
}

/** Report takes one problem found in the data (a sentence naming the row); the caller logs it. */
export type Report = (problem: string) => void

/** BUILTIN_METRIC_NAMES are the metrics an agent collects only when a strategy asks for them. */
export const BUILTIN_METRIC_NAMES: ReadonlySet<string> = new Set([
  'net.port.listen',
  'proc.num',
  'du.bs',
  'url.check.health',
])

/** MAX_TEMPLATE_DEPTH: a chain of this many templates or more is taken for a cycle (falcon's rule). */
export const MAX_TEMPLATE_DEPTH = 10

/**
 * compareGo orders strings as Go's `<` does (by UTF-8 bytes, that is by code point). JavaScript's `<`
 * compares UTF-16 units, which differs once characters above U+FFFF meet those from U+E000 to U+FFFF.
 */
export function compareGo(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates stand for code points above U+FFFF: move them after U+E000..U+FFFF.
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000
      }
      return x - y
    }
  }
  return a.length - b.length
}

/**
 * notInts names the fields of `row` that are not integers, as `field value` ('' when all are). Go scans
 * them into ints and skips a row it cannot scan. Only SQLite can hold one (it keeps text or a fraction
 * written into an INTEGER column outside the API), and such a value would otherwise go onto the wire:
 * as invalid JSON in the serialised strategies, or as JSON a Go judge cannot decode, which loses every
 * strategy of every host at once.
 */
function notInts<R extends object>(row: R, fields: readonly (keyof R & string)[]): string {
  const bad: string[] = []
  for (const f of fields) {
    if (!Number.isSafeInteger(row[f])) bad.push(`${f} ${JSON.stringify(row[f]) ?? String(row[f])}`)
  }
  return bad.join(', ')
}

/** toTemplate maps a `tpl` row to falcon's Template. */
export function toTemplate(row: TemplateRow): Template {
  return {
    id: row.id,
    name: row.tpl_name,
    parentId: row.parent_id,
    actionId: row.action_id,
    creator: row.create_user,
  }
}

/**
 * parseTags reads a strategy's `k=v,k2=v2` as falcon does: pieces split at `,`, each at its first `=`,
 * a piece without `=` ignored, nothing trimmed, a repeated key keeping its last value. Peregrine's
 * matchers ride in the same map (core's splitTagPiece): `k=~re` → `k: ~re` and `k!=v` → `k!: v` as
 * falcon splits them, and `k!~re`, which falcon would drop, → `k!: ~re`. The entries come back sorted
 * by key (Go's order).
 */
export function parseTags(s: string): [string, string][] {
  if (s === '') return []
  const m = new Map<string, string>()
  for (const piece of s.split(',')) {
    const kv = splitTagPiece(piece)
    if (kv !== undefined) m.set(kv[0], kv[1])
  }
  return [...m].sort((a, b) => compareGo(a[0], b[0]))
}

/** tagsKey is falcon's SortedTags: `k=v` of the sorted entries joined by `,`. */
export function tagsKey(sorted: readonly (readonly [string, string])[]): string {
  let out = ''
  for (let i = 0; i < sorted.length; i++)
    out += `${i > 0 ? ',' : ''}${sorted[i][0]}=${sorted[i][1]}`
  return out
}

/** clockOf is the local wall-clock `HH:MM` of `ms`, as Go's `time.Now().Format("15:04")`. */
export function clockOf(ms: number): string {
  const d = new Date(ms)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/**
 * runsAt is falcon's SQL filter on `run_begin`/`run_end` at local time `hhmm`, compared as strings:
 * no window, a window containing `hhmm`, or an overnight window (`begin > end`) not excluding it.
 */
export function runsAt(begin: string, end: string, hhmm: string): boolean {
  return (
    (begin === '' && end === '') ||
    (begin <= hhmm && end >= hhmm) ||
    (begin > end && !(begin > hhmm && end < hhmm))
  )
}

/**
 * toStrategies keeps the rows falcon sends at `hhmm`: inside their run window, with integer max_step
 * and priority, a `right_value` Go parses as a float, and a template that exists; each gets its own
 * template as `tpl`, and its `for_duration` as `for` after `tpl` when above 0. Rows left out for bad
 * data are reported. A right_value of NaN or ±Inf is left out as well: Go parses it, but then cannot
 * encode the reply, so a falcon judge gets no strategies at all while one exists.
 */
export function toStrategies(
  rows: readonly StrategyRow[],
  templates: ReadonlyMap<number, Template>,
  hhmm: string,
  report: Report
): Map<number, Strategy> {
  const out = new Map<number, Strategy>()
  for (const r of rows) {
    if (!runsAt(r.run_begin, r.run_end, hhmm)) continue
    const bad = notInts(r, ['max_step', 'priority', 'for_duration'])
    if (bad !== '') {
      report(`strategy ${r.id}: ${bad} is not an integer; it is not sent to judges`)
      continue
    }
    const rightValue = parseGoFloat(String(r.right_value))
    if (rightValue === undefined) {
      report(
        `strategy ${r.id}: right_value ${JSON.stringify(r.right_value)} is not a number; it is not sent to judges`
      )
      continue
    }
    if (!Number.isFinite(rightValue)) {
      report(
        `strategy ${r.id}: right_value ${JSON.stringify(r.right_value)} is not a finite number; it is not sent to judges`
      )
      continue
    }
    const tpl = templates.get(r.tpl_id)
    if (tpl === undefined) {
      report(`strategy ${r.id}: its template ${r.tpl_id} does not exist; it is not sent to judges`)
      continue
    }
    const s = withFor(
      {
        id: r.id,
        metric: r.metric,
        tags: Object.fromEntries(parseTags(r.tags)),
        func: r.func,
        operator: r.op,
        rightValue,
        maxStep: r.max_step,
        priority: r.priority,
        note: r.note,
        tpl,
      },
      r.for_duration
    )
    out.set(r.id, s)
  }
  return out
}

/**
 * toTemplates maps `tpl` rows to falcon's Templates by id, leaving out (and reporting) a row whose
 * parent_id or action_id is not an integer, as Go's scan does: its strategies then have no template.
 */
export function toTemplates(rows: readonly TemplateRow[], report: Report): Map<number, Template> {
  const out = new Map<number, Template>()
  for (const row of rows) {
    const bad = notInts(row, ['parent_id', 'action_id'])
    if (bad !== '') {
      report(`template ${row.id}: ${bad} is not an integer; its strategies are not sent to judges`)
      continue
    }
    out.set(row.id, toTemplate(row))
  }
  return out
}

/**
 * templateChain is falcon's ParentIds: the ancestors of template `tid` and itself, root first, following
 * `parentId` while the parent exists. [] when `tid` does not exist, or when the chain reaches
 * MAX_TEMPLATE_DEPTH templates (a cycle, or a tree too deep: falcon drops both).
 */
export function templateChain(templates: ReadonlyMap<number, Template>, tid: number): number[] {
  const chain: number[] = []
  let id = tid
  while (id > 0) {
    const t = templates.get(id)
    if (t === undefined) break
    chain.push(id)
    if (chain.length === MAX_TEMPLATE_DEPTH) return []
    id = t.parentId
  }
  return chain.reverse()
}

/** Inherited is one strategy as a host gets it: `strategy` (with its own template), sent under `tpl`. */
export interface Inherited {
  readonly strategy: Strategy
  readonly tpl: Template
}

/**
 * inherit is falcon's CalcInheritStrategies for a host bound to templates `tids`: each template's
 * ancestor chain; a chain contained in another one dropped (its templates are inherited anyway); along
 * a chain, a template's strategies replace its ancestors' with the same metric and tags (same `metric +
 * sorted tags`; other tags do not replace); every strategy of a chain is sent with the chain's youngest
 * template as `tpl`, so that template's action fires (it keeps its own `for`: a child's strategy that
 * replaces a parent's has the child's `for`, or none); a strategy reached by two chains is sent once,
 * with the first chain's template. `byTemplate` holds each template's strategies (from toStrategies).
 * Chains are taken in the order of `tids`, strategies in their parents-first order. `keyOf` gives a
 * strategy's strategyKey (callers that compute many sets pass a cached one).
 */
export function inherit(
  templates: ReadonlyMap<number, Template>,
  tids: readonly number[],
  byTemplate: ReadonlyMap<number, readonly Strategy[]>,
  keyOf: (s: Strategy) => string = strategyKey
): Inherited[] {
  const chains: number[][] = []
  for (const tid of new Set(tids)) {
    const chain = templateChain(templates, tid)
    if (chain.length > 0) chains.push(chain)
  }
  const out: Inherited[] = []
  const sent = new Set<number>()
  for (let i = 0; i < chains.length; i++) {
    const chain = chains[i]
    // Distinct templates end distinct chains, so "contained in another" is never "equal to another".
    if (chains.some((other, j) => j !== i && chain.every((t) => other.includes(t)))) continue
    const byKey = new Map<string, Strategy[]>()
    for (const tid of chain) {
      const own = new Map<string, Strategy[]>()
      for (const s of byTemplate.get(tid) ?? []) {
        const key = keyOf(s)
        const list = own.get(key)
        if (list === undefined) own.set(key, [s])
        else list.push(s)
      }
      for (const [key, list] of own) byKey.set(key, list)
    }
    const youngest = templates.get(chain[chain.length - 1])
    if (youngest === undefined) throw new Error('BUG: a template chain ends on a missing template')
    for (const list of byKey.values()) {
      for (const s of list) {
        if (sent.has(s.id)) continue
        sent.add(s.id)
        out.push({ strategy: s, tpl: youngest })
      }
    }
  }
  return out
}

/** inheritStrategies is `inherit` as falcon's Strategy objects: each a copy carrying its `tpl`. */
export function inheritStrategies(
  templates: ReadonlyMap<number, Template>,
  tids: readonly number[],
  byTemplate: ReadonlyMap<number, readonly Strategy[]>
): Strategy[] {
  return inherit(templates, tids, byTemplate).map(({ strategy, tpl }) =>
    strategy.tpl === tpl ? strategy : { ...strategy, tpl }
  )
}

/** strategyKey is falcon's inheritance key: `metric:%s/tags:%v` of the metric and SortedTags. */
export function strategyKey(s: Strategy): string {
  const entries = Object.entries(s.tags).sort((a, b) => compareGo(a[0], b[0]))
  return `metric:${s.metric}/tags:${tagsKey(entries)}`
}

// Go's strings.Fields separators (unicode.IsSpace), which differ from JavaScript's \s.
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/

/**
 * parseExpression reads `each(metric=qps endpoint=h1 k=v)` as falcon does: the text between the first
 * `(` and the first `)` (from the start when there is no `(`), split at spaces into `k=v` pairs, each
 * with exactly one `=`; at least two pairs; `metric` required and taken out of the tags. Returns the
 * reason as a string when the text does not parse (falcon panics on a missing `)`; here it is refused).
 */
export function parseExpression(
  exp: string
): { metric: string; tags: Record<string, string> } | string {
  const left = exp.indexOf('(')
  const right = exp.indexOf(')')
  if (right < left + 1) return `no ")" after "(" in ${JSON.stringify(exp)}`
  const fields = exp
    .slice(left + 1, right)
    .split(GO_SPACE)
    .filter((f) => f !== '')
  if (fields.length < 2) return `fewer than 2 k=v pairs in ${JSON.stringify(exp)}`
  const tags = new Map<string, string>()
  for (const f of fields) {
    const kv = f.split('=')
    if (kv.length !== 2) return `${JSON.stringify(f)} is not k=v in ${JSON.stringify(exp)}`
    tags.set(kv[0], kv[1])
  }
  const metric = tags.get('metric')
  if (metric === undefined) return `no metric= in ${JSON.stringify(exp)}`
  tags.delete('metric')
  return {
    metric,
    tags: Object.fromEntries([...tags].sort((a, b) => compareGo(a[0], b[0]))),
  }
}

/**
 * toExpressions maps `expression` rows (already those with action_id > 0 and pause = 0) to falcon's
 * Expression, in row order, with `for_duration` as `for` (last) when above 0; a row whose text or
 * right_value does not parse, or whose max_step, priority, action_id or for_duration is not an integer,
 * is reported and left out.
 */
export function toExpressions(rows: readonly ExpressionRow[], report: Report): Expression[] {
  const out: Expression[] = []
  for (const r of rows) {
    const bad = notInts(r, ['max_step', 'priority', 'action_id', 'for_duration'])
    if (bad !== '') {
      report(`expression ${r.id}: ${bad} is not an integer; it is not sent to judges`)
      continue
    }
    const rightValue = parseGoFloat(String(r.right_value))
    if (rightValue === undefined || !Number.isFinite(rightValue)) {
      report(
        `expression ${r.id}: right_value ${JSON.stringify(r.right_value)} is not a finite number; it is not sent to judges`
      )
      continue
    }
    const parsed = parseExpression(r.expression)
    if (typeof parsed === 'string') {
      report(`expression ${r.id}: ${parsed}; it is not sent to judges`)
      continue
    }
    out.push(
      withFor(
        {
          id: r.id,
          metric: parsed.metric,
          tags: parsed.tags,
          func: r.func,
          operator: r.op,
          rightValue,
          maxStep: r.max_step,
          priority: r.priority,
          note: r.note,
          actionId: r.action_id,
        },
        r.for_duration
      )
    )
  }
  return out
}

/**
 * builtinMetrics is falcon's GetBuiltinMetrics for a host bound to templates `tids`: the builtin
 * metrics (BUILTIN_METRIC_NAMES) of the strategies of those templates and all their ancestors, whatever
 * their run window, unique by metric and tags, sorted by `metric/tags`, with falcon's checksum.
 * `byTemplate` holds each template's builtin metric rows. A template in a cycle counts without ancestors.
 */
export function builtinMetrics(
  templates: ReadonlyMap<number, Template>,
  tids: readonly number[],
  byTemplate: ReadonlyMap<number, readonly BuiltinMetric[]>
): BuiltinMetrics {
  const all = new Set(tids)
  for (const tid of tids) for (const id of templateChain(templates, tid)) all.add(id)
  const seen = new Map<string, BuiltinMetric>()
  for (const tid of all) {
    for (const m of byTemplate.get(tid) ?? []) {
      const key = `${m.Metric}/${m.Tags}`
      if (!seen.has(key)) seen.set(key, m)
    }
  }
  if (seen.size === 0) return { metrics: [], checksum: '' }
  const keys = [...seen.keys()].sort(compareGo)
  return {
    metrics: keys.map((k) => seen.get(k) as BuiltinMetric),
    checksum: createHash('md5').update(keys.join('')).digest('hex'),
  }
}

/** pluginsOf is falcon's GetPlugins: the plugin dirs of groups `gids`, de-duplicated and sorted. */
export function pluginsOf(
  gids: readonly number[],
  dirsByGroup: ReadonlyMap<number, readonly string[]>
): string[] {
  const dirs = new Set<string>()
  for (const gid of gids) for (const d of dirsByGroup.get(gid) ?? []) dirs.add(d)
  return [...dirs].sort(compareGo)
}
