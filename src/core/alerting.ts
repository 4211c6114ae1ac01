// The alerting data model shared by hbs (serves rules), transfer (feeds judge), judge (fires events)
// and alarm (turns events into notifications): falcon's common/model, with its JSON names.

/** Template is falcon's model.Template as it goes on the wire (json tags of common/model/template.go). */
export interface Template {
  readonly id: number
  readonly name: string
  readonly parentId: number
  readonly actionId: number
  readonly creator: string
}

/** Strategy is falcon's model.Strategy on the wire; `tpl` is the template whose action fires. */
export interface Strategy {
  readonly id: number
  readonly metric: string
  readonly tags: Readonly<Record<string, string>>
  readonly func: string
  readonly operator: string
  readonly rightValue: number
  readonly maxStep: number
  readonly priority: number
  readonly note: string
  readonly tpl: Template
  /** for: Peregrine's (not falcon's): seconds the condition must hold before PROBLEM; absent when 0. */
  readonly for?: number
}

/** Expression is falcon's model.Expression on the wire. */
export interface Expression {
  readonly id: number
  readonly metric: string
  readonly tags: Readonly<Record<string, string>>
  readonly func: string
  readonly operator: string
  readonly rightValue: number
  readonly maxStep: number
  readonly priority: number
  readonly note: string
  readonly actionId: number
  /** for: Peregrine's (not falcon's): seconds the condition must hold before PROBLEM; absent when 0. */
  readonly for?: number
}

/** HostStrategies is one entry of falcon's `Hbs.GetStrategies` reply (model.HostStrategy). */
export interface HostStrategies {
  readonly hostname: string
  readonly strategies: readonly Strategy[]
}

/**
 * JudgeItem is what transfer sends judge (`Judge.Send`): falcon's model.JudgeItem. `timestamp` is
 * aligned to the step as for graph; `judgeType` is the point's original counter type (GAUGE, COUNTER,
 * DERIVE), which decides whether judge looks at raw values or rates.
 */
export interface JudgeItem {
  endpoint: string
  metric: string
  value: number
  timestamp: number
  judgeType: string
  tags: Record<string, string>
}

export type EventStatus = 'PROBLEM' | 'OK'

/**
 * AlarmEvent is falcon's model.Event as judge LPUSHes it to `event:p<priority>`: both `strategy` and
 * `expression` keys are always present, one of them null. `id` is `s_<strategyId>_<md5(PK)>` or
 * `e_<expressionId>_<md5(PK)>`; `eventTime` is the timestamp of the point that caused it.
 */
export interface AlarmEvent {
  readonly id: string
  readonly strategy: Strategy | null
  readonly expression: Expression | null
  readonly status: EventStatus
  readonly endpoint: string
  readonly leftValue: number
  readonly currentStep: number
  readonly eventTime: number
  readonly pushedTags: Readonly<Record<string, string>>
}

/** The rule of an event: its strategy, else its expression (falcon's Event accessors read it so). */
function ruleOf(e: AlarmEvent): Strategy | Expression {
  return (e.strategy ?? e.expression) as Strategy | Expression
}

/** eventPriority, eventMetric, …: falcon's Event.Priority(), Metric(), … accessors. */
export const eventPriority = (e: AlarmEvent): number => ruleOf(e).priority
export const eventMetric = (e: AlarmEvent): string => ruleOf(e).metric
export const eventNote = (e: AlarmEvent): string => ruleOf(e).note
export const eventFunc = (e: AlarmEvent): string => ruleOf(e).func
export const eventOperator = (e: AlarmEvent): string => ruleOf(e).operator
export const eventRightValue = (e: AlarmEvent): number => ruleOf(e).rightValue
export const eventMaxStep = (e: AlarmEvent): number => ruleOf(e).maxStep
/** actionId: the expression's action, else the action of the strategy's template. */
export const eventActionId = (e: AlarmEvent): number =>
  e.expression !== null ? e.expression.actionId : (e.strategy?.tpl.actionId ?? 0)
export const eventTemplateId = (e: AlarmEvent): number => e.strategy?.tpl.id ?? 0
export const eventTemplateCreator = (e: AlarmEvent): string => e.strategy?.tpl.creator ?? ''
export const eventStrategyId = (e: AlarmEvent): number => e.strategy?.id ?? 0
export const eventExpressionId = (e: AlarmEvent): number => e.expression?.id ?? 0

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function ruleProblem(r: Record<string, unknown>, kind: string): string | undefined {
  for (const k of ['id', 'rightValue', 'maxStep', 'priority'] as const)
    if (typeof r[k] !== 'number') return `${kind}.${k}: expected a number`
  for (const k of ['metric', 'func', 'operator'] as const)
    if (typeof r[k] !== 'string') return `${kind}.${k}: expected a string`
  if (r.tags !== undefined && r.tags !== null && !isObject(r.tags))
    return `${kind}.tags: expected an object`
  if (kind === 'strategy' && !isObject(r.tpl)) return 'strategy.tpl: expected an object'
  return undefined
}

/**
 * parseAlarmEvent reads one event as falcon's judge (or ours) pushed it. A payload that is not an event
 * throws an Error naming the field, so a consumer can log and skip it rather than crash. Missing
 * optional fields (note, tags, pushedTags, tpl.creator) get falcon's zero values.
 */
export function parseAlarmEvent(payload: string): AlarmEvent {
  let raw: unknown
  try {
    raw = JSON.parse(payload)
  } catch (err) {
    throw new Error(`event: not JSON (${(err as Error).message})`, { cause: err })
  }
  if (!isObject(raw)) throw new Error('event: expected a JSON object')
  if (typeof raw.id !== 'string' || raw.id === '') throw new Error('event.id: expected a string')
  if (raw.status !== 'PROBLEM' && raw.status !== 'OK')
    throw new Error(`event.status: expected PROBLEM or OK, got ${JSON.stringify(raw.status)}`)
  if (typeof raw.endpoint !== 'string') throw new Error('event.endpoint: expected a string')
  for (const k of ['leftValue', 'currentStep', 'eventTime'] as const)
    if (typeof raw[k] !== 'number') throw new Error(`event.${k}: expected a number`)
  const s = isObject(raw.strategy) ? raw.strategy : null
  const x = isObject(raw.expression) ? raw.expression : null
  if (s === null && x === null) throw new Error('event: neither strategy nor expression is set')
  const problem = s !== null ? ruleProblem(s, 'strategy') : ruleProblem(x ?? {}, 'expression')
  if (problem !== undefined) throw new Error(`event.${problem}`)
  const rule = (r: Record<string, unknown>) => ({
    ...r,
    note: typeof r.note === 'string' ? r.note : '',
    tags: isObject(r.tags) ? (r.tags as Record<string, string>) : {},
  })
  const strategy =
    s === null
      ? null
      : ({
          ...rule(s),
          tpl: {
            id: 0,
            name: '',
            parentId: 0,
            actionId: 0,
            creator: '',
            ...(s.tpl as Record<string, unknown>),
          },
        } as unknown as Strategy)
  const expression = x === null ? null : ({ actionId: 0, ...rule(x) } as unknown as Expression)
  return {
    id: raw.id,
    strategy,
    expression,
    status: raw.status,
    endpoint: raw.endpoint,
    leftValue: raw.leftValue as number,
    currentStep: raw.currentStep as number,
    eventTime: raw.eventTime as number,
    pushedTags: isObject(raw.pushedTags) ? (raw.pushedTags as Record<string, string>) : {},
  }
}
