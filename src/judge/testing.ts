// Test support shared by judge's tests: a time, falcon's PK and its md5, and builders of the rules
// and points they judge.
import { createHash } from 'node:crypto'
import type { Expression, JudgeItem, Strategy } from '../core/index.js'

export const T = 1_559_200_000 // 2019-05-30 07:06:40 UTC

export const md5 = (s: string): string => createHash('md5').update(s).digest('hex')

/** pk is falcon's utils.PK: `endpoint/metric`, then `/k=v,k2=v2` with the keys sorted. */
export function pk(endpoint: string, metric: string, tags: Record<string, string> = {}): string {
  const keys = Object.keys(tags).sort()
  if (keys.length === 0) return `${endpoint}/${metric}`
  return `${endpoint}/${metric}/${keys.map((k) => `${k}=${tags[k]}`).join(',')}`
}

export const TPL = { id: 2, name: 'base', parentId: 0, actionId: 5, creator: 'root' }

type Rule<R> = Partial<R> & { for?: number }

/** strategy is strategy 3 of template TPL, `all(#3) > 90` on cpu.busy, with `over` on top. */
export function strategy(over: Rule<Strategy> = {}): Strategy {
  return {
    id: 3,
    metric: 'cpu.busy',
    tags: {},
    func: 'all(#3)',
    operator: '>',
    rightValue: 90,
    maxStep: 3,
    priority: 2,
    note: 'cpu busy',
    tpl: TPL,
    ...over,
  }
}

/** expression is expression 9, `all(#1) >= 100` on qps{project=x}, with `over` on top. */
export function expression(over: Rule<Expression> = {}): Expression {
  return {
    id: 9,
    metric: 'qps',
    tags: { project: 'x' },
    func: 'all(#1)',
    operator: '>=',
    rightValue: 100,
    maxStep: 2,
    priority: 0,
    note: 'qps high',
    actionId: 4,
    ...over,
  }
}

/** point is a GAUGE point of h1's cpu.busy, with `over` on top. */
export const point = (
  timestamp: number,
  value: number,
  over: Partial<JudgeItem> = {}
): JudgeItem => ({
  endpoint: 'h1',
  metric: 'cpu.busy',
  value,
  timestamp,
  judgeType: 'GAUGE',
  tags: {},
  ...over,
})
