// judge's rule index: hbs's strategies and expressions, parsed once and indexed the way falcon's judge
// looks them up (strategies by `endpoint/metric`, expressions by `metric/k=v` and `metric/endpoint=…`).
import {
  compileTagMatcher,
  type Expression,
  type HostStrategies,
  type Logger,
  type Strategy,
  tagMatcherOf,
  type TagTest,
  tagTestMatches,
} from '../core/index.js'
import { parseFunc } from './functions.js'
import type { Series } from './series.js'

/** Function codes, for a switch without string compares on the hot path. */
export const Fn = {
  All: 0,
  Max: 1,
  Min: 2,
  Sum: 3,
  Avg: 4,
  Diff: 5,
  Pdiff: 6,
  Lookup: 7,
  Stddev: 8,
} as const
export type Fn = (typeof Fn)[keyof typeof Fn]

/** Operator codes; Never stands for an operator falcon does not know (it never triggers). */
export const Op = { Eq: 0, Ne: 1, Lt: 2, Le: 3, Gt: 4, Ge: 5, Never: 6 } as const
export type Op = (typeof Op)[keyof typeof Op]

const FN_CODES: Record<string, Fn> = {
  all: Fn.All,
  max: Fn.Max,
  min: Fn.Min,
  sum: Fn.Sum,
  avg: Fn.Avg,
  diff: Fn.Diff,
  pdiff: Fn.Pdiff,
  lookup: Fn.Lookup,
  stddev: Fn.Stddev,
}

/** opCode maps falcon's operators (`=` is `==`); anything else never triggers, as in checkIsTriggered. */
export function opCode(op: string): Op {
  switch (op) {
    case '=':
    case '==':
      return Op.Eq
    case '!=':
      return Op.Ne
    case '<':
      return Op.Lt
    case '<=':
      return Op.Le
    case '>':
      return Op.Gt
    case '>=':
      return Op.Ge
    default:
      return Op.Never
  }
}

/** CompiledRule is a strategy or expression ready to evaluate. */
export interface CompiledRule {
  /** key: `s<id>` or `e<id>`, what a series' rule states are matched by across rule reloads. */
  readonly key: string
  /** idPrefix: `s_<id>_` or `e_<id>_`; the event id is idPrefix + md5(PK). */
  readonly idPrefix: string
  readonly strategy: Strategy | null
  readonly expression: Expression | null
  readonly fn: Fn
  /** limit: the N of name(#N) (for lookup, the second argument). */
  readonly limit: number
  /** num: lookup's first argument. */
  readonly num: number
  /** points: how many values the function reads (diff and pdiff: N+1). */
  readonly points: number
  readonly op: Op
  readonly right: number
  readonly maxStep: number
  readonly priority: number
  /** forSeconds: Peregrine's `for`: the condition must hold this long before PROBLEM is sent. */
  readonly forSeconds: number
  /** tags: an expression's tags, every one to be in the point's tags (with `endpoint`); its index. */
  readonly tags: readonly (readonly [string, string])[]
  /** matchers: a strategy's tag matchers, every one to hold (none for an expression). */
  readonly matchers: readonly TagTest[]
}

/** forOf reads Peregrine's optional `for` (seconds) from a rule; falcon's rules have none. */
function forOf(rule: Strategy | Expression): number {
  const f: unknown = rule.for
  return typeof f === 'number' && Number.isFinite(f) && f > 0 ? f : 0
}

function compile(
  rule: Strategy | Expression,
  kind: 's' | 'e',
  report: (message: string) => void
): CompiledRule | undefined {
  const parsed = parseFunc(rule.func)
  if (parsed instanceof Error) {
    report(`${kind === 's' ? 'strategy' : 'expression'} ${rule.id}: ${parsed.message}; skipped`)
    return undefined
  }
  const fn = FN_CODES[parsed.name]
  const points = fn === Fn.Diff || fn === Fn.Pdiff ? parsed.limit + 1 : parsed.limit
  const tags = Object.entries(rule.tags ?? {})
  // Only a strategy's tags are matchers; an expression's stay falcon's exact tags, by which it is
  // indexed (`metric/k=v`), so `k=~v` there is the value `~v`, as in falcon.
  const matchers: TagTest[] = []
  if (kind === 's') {
    for (const [k, v] of tags) {
      try {
        matchers.push(compileTagMatcher(tagMatcherOf(k, v)))
      } catch (err) {
        report(`strategy ${rule.id}: tags: ${(err as Error).message}; skipped`)
        return undefined
      }
    }
  }
  return {
    key: kind + String(rule.id),
    idPrefix: `${kind}_${rule.id}_`,
    strategy: kind === 's' ? (rule as Strategy) : null,
    expression: kind === 'e' ? (rule as Expression) : null,
    fn,
    limit: parsed.limit,
    num: parsed.num,
    points,
    op: opCode(rule.operator),
    right: rule.rightValue,
    maxStep: rule.maxStep,
    priority: rule.priority,
    forSeconds: forOf(rule),
    tags,
    matchers,
  }
}

/**
 * RuleIndex is one generation of rules. `version` changes with every reload, so a series re-matches
 * its rules lazily, on its next point.
 */
export class RuleIndex {
  readonly version: number
  /** metrics: falcon's FilterMap: points of other metrics are dropped on arrival, not stored. */
  readonly metrics: ReadonlySet<string>
  readonly strategies: ReadonlyMap<string, ReadonlyMap<string, readonly CompiledRule[]>>
  readonly expressions: ReadonlyMap<string, readonly CompiledRule[]>
  /** capacity: points kept per series: at least `remain`, more when a rule reads more (counters +1). */
  readonly capacity: number
  readonly strategyCount: number
  readonly bindingCount: number
  readonly expressionCount: number

  constructor(
    version: number,
    hosts: readonly HostStrategies[],
    expressions: readonly Expression[],
    remain: number,
    log: Logger
  ) {
    this.version = version
    const problems = new Set<string>()
    const report = (m: string) => problems.add(m)
    const metrics = new Set<string>()
    const ids = new Set<number>()
    const compiled = new Map<string, CompiledRule | null>()
    const strategies = new Map<string, Map<string, CompiledRule[]>>()
    let capacity = remain
    let bindings = 0
    for (const h of hosts) {
      const byMetric = new Map<string, CompiledRule[]>()
      for (const s of h.strategies) {
        // The same strategy reaches many hosts: compile it once per template it comes with. hbs gives
        // an inherited strategy the host's youngest template as `tpl` (its action), so one id may
        // carry different templates on different hosts, and each host's events must carry its own.
        const key = `${s.id}/${(s.tpl as Strategy['tpl'] | null | undefined)?.id}`
        let c = compiled.get(key)
        if (c === undefined) {
          c = compile(s, 's', report) ?? null
          compiled.set(key, c)
        }
        ids.add(s.id)
        if (c === null) continue
        const list = byMetric.get(s.metric)
        if (list === undefined) byMetric.set(s.metric, [c])
        else list.push(c)
        metrics.add(s.metric)
        bindings++
        capacity = Math.max(capacity, c.points + 1)
      }
      if (byMetric.size > 0) strategies.set(h.hostname, byMetric)
    }
    const exprs = new Map<string, CompiledRule[]>()
    let expressionCount = 0
    for (const e of expressions) {
      const c = compile(e, 'e', report)
      if (c === undefined) continue
      expressionCount++
      metrics.add(e.metric)
      capacity = Math.max(capacity, c.points + 1)
      for (const [k, v] of c.tags) {
        const key = `${e.metric}/${k}=${v}`
        const list = exprs.get(key)
        if (list === undefined) exprs.set(key, [c])
        else list.push(c)
      }
    }
    for (const p of problems) log.warn(`judge: ${p}`)
    this.metrics = metrics
    this.strategies = strategies
    this.expressions = exprs
    this.capacity = capacity
    this.strategyCount = ids.size
    this.bindingCount = bindings
    this.expressionCount = expressionCount
  }

  /**
   * rulesFor lists the rules that apply to a series, as falcon's CheckStrategy and CheckExpression
   * select them: strategies of `endpoint/metric` whose every tag matcher holds (falcon's: every tag
   * is in the point's tags), all of them: a more specific strategy does not hide a broader one;
   * expressions found by `metric/k=v` of a point tag or `metric/endpoint=<endpoint>` whose every tag
   * matches (`endpoint` matching the endpoint), each once.
   */
  rulesFor(series: Series): CompiledRule[] {
    const out: CompiledRule[] = []
    const tags = series.tags
    for (const c of this.strategies.get(series.endpoint)?.get(series.metric) ?? []) {
      if (c.matchers.every((m) => tagTestMatches(m, tags))) out.push(c)
    }
    if (this.expressions.size > 0) {
      const seen = new Set<CompiledRule>()
      const keys = Object.entries(tags).map(([k, v]) => `${series.metric}/${k}=${v}`)
      keys.push(`${series.metric}/endpoint=${series.endpoint}`)
      for (const key of keys) {
        for (const c of this.expressions.get(key) ?? []) {
          if (seen.has(c)) continue
          const related = c.tags.every(([k, v]) =>
            k === 'endpoint' && !Object.hasOwn(tags, 'endpoint')
              ? series.endpoint === v
              : Object.hasOwn(tags, k) && tags[k] === v
          )
          if (!related) continue
          seen.add(c)
          out.push(c)
        }
      }
    }
    return out
  }
}
