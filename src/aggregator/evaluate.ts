// One run of a falcon aggregator rule (modules/aggregator/cron/run.go): per host of the group, the
// numerator and denominator from last points within [now − 2·step, now]; hosts missing a value are
// left out; the result is Σnumerator / Σdenominator.
import {
  type AggregatorExpr,
  compareHolds,
  formatTags,
  parseAggregatorExpr,
  splitCounter,
  parseTags,
  counterOf,
} from '../core/index.js'

/** Rule is a parsed `cluster` row. */
export interface Rule {
  id: number
  grpId: number
  numerator: AggregatorExpr
  denominator: AggregatorExpr
  endpoint: string
  metric: string
  tags: string
  dsType: string
  step: number
  /** version: id and last_update; a changed version restarts the rule's worker (falcon's key). */
  version: string
}

/** parseRule reads a `cluster` row, or says why it cannot run. */
export function parseRule(row: {
  id: number
  grp_id: number
  numerator: string
  denominator: string
  endpoint: string
  metric: string
  tags: string
  ds_type: string
  step: number
  last_update: unknown
}): Rule | string {
  const numerator = parseAggregatorExpr(row.numerator)
  if (typeof numerator === 'string')
    return `numerator ${JSON.stringify(row.numerator)}: ${numerator}`
  const denominator = parseAggregatorExpr(row.denominator)
  if (typeof denominator === 'string')
    return `denominator ${JSON.stringify(row.denominator)}: ${denominator}`
  if (numerator.kind !== 'sum' && denominator.kind !== 'sum')
    return 'neither numerator nor denominator reads a counter (falcon: "no need compute")'
  if (!(row.step >= 1)) return `step ${row.step}: expected at least 1 second`
  const stamp =
    row.last_update instanceof Date ? row.last_update.getTime() : String(row.last_update)
  return {
    id: row.id,
    grpId: row.grp_id,
    numerator,
    denominator,
    endpoint: row.endpoint,
    metric: row.metric,
    tags: row.tags,
    dsType: row.ds_type === '' ? 'GAUGE' : row.ds_type,
    step: row.step,
    version: `${row.id}_${stamp}`,
  }
}

/** normalCounter writes a `$(counter)` as graph names it: tags sorted, spaces dropped. */
export function normalCounter(counter: string): string {
  const { metric, tags } = splitCounter(counter)
  return counterOf(metric, formatTags(parseTags(tags)))
}

/** countersOf lists the counters a rule reads (graph's names), each once. */
export function countersOf(rule: Rule): string[] {
  const out = new Set<string>()
  for (const e of [rule.numerator, rule.denominator])
    if (e.kind === 'sum') for (const t of e.terms) out.add(normalCounter(t.counter))
  return [...out]
}

/** Outcome is one run's result, or why there is none. */
export type Outcome =
  | { value: number; numerator: number; denominator: number; hosts: number; valid: number }
  | { skipped: string; hosts: number; valid: number }

/**
 * evaluate computes a rule over `hosts`, given `value(host, counter)` (a last point within the window,
 * or undefined). As falcon: a host counts only when every counter of both sides has a value; `$#` is
 * how many hosts counted; a test gives 1 or 0 per host; no result when the denominator is 0.
 */
export function evaluate(
  rule: Rule,
  hosts: readonly string[],
  value: (host: string, counter: string) => number | undefined
): Outcome {
  if (hosts.length === 0)
    return { skipped: 'the group has no host out of maintenance', hosts: 0, valid: 0 }
  let numerator = 0
  let denominator = 0
  let valid = 0
  const side = (e: AggregatorExpr, host: string): number | undefined => {
    if (e.kind !== 'sum') return 0
    let sum = 0
    for (const t of e.terms) {
      const v = value(host, normalCounter(t.counter))
      if (v === undefined) return undefined
      sum += t.sign * v
    }
    if (e.compare === undefined) return sum
    return compareHolds(sum, e.compare.op, e.compare.value) ? 1 : 0
  }
  for (const host of hosts) {
    const n = side(rule.numerator, host)
    const d = side(rule.denominator, host)
    if (n === undefined || d === undefined) continue
    numerator += n
    denominator += d
    valid++
  }
  const constant = (e: AggregatorExpr, sum: number) =>
    e.kind === 'hosts' ? valid : e.kind === 'number' ? e.value : sum
  numerator = constant(rule.numerator, numerator)
  denominator = constant(rule.denominator, denominator)
  if (valid === 0)
    return { skipped: 'no host had a value for every counter', hosts: hosts.length, valid }
  if (denominator === 0) return { skipped: 'the denominator is 0', hosts: hosts.length, valid }
  return { value: numerator / denominator, numerator, denominator, hosts: hosts.length, valid }
}
