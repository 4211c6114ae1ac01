// The judge engine: every accepted point is stored in its series and judged at once against the rules
// that apply to it; falcon's PROBLEM/OK state machine decides which events go out (store/judge.go).
import type {
  AlarmEvent,
  EventStatus,
  Expression,
  HostStrategies,
  JudgeItem,
  Logger,
} from '../core/index.js'
import { evaluate, type Evaluation } from './evaluate.js'
import { RuleIndex, type CompiledRule } from './rules.js'
import { type Series, SeriesStore } from './series.js'
import type { StateJournal } from './state.js'

/** JudgeCounters are shown on /counter/all. */
export interface JudgeCounters {
  /** items received by Judge.Send */
  received: number
  /** items refused as malformed (each logged once per call) */
  invalid: number
  /** items of metrics no rule names (falcon's FilterMap), dropped without being stored */
  filtered: number
  /** items not after their series' newest point, stored nowhere and not judged */
  outOfOrder: number
  /** rule evaluations */
  evaluations: number
  /** events sent, PROBLEM and OK */
  events: number
}

export interface JudgeEngineOptions {
  /** remain: points kept per series at least (falcon `remain`, default 11). */
  remain: number
  /** minInterval: seconds between two PROBLEM events of one id (falcon `alarm.minInterval`, 300). */
  minInterval: number
  /** queuePattern: the list an event goes to, `%v` replaced by its priority (falcon `event:p%v`). */
  queuePattern: string
  log: Logger
  /**
   * emit hands an event to the queue; called synchronously at the end of the Judge.Send call whose
   * point caused it, in order, after the journal's commit.
   */
  emit: (list: string, payload: string, event: AlarmEvent) => void
  /** journal, when given, records every last event and commits them before any is emitted. */
  journal?: StateJournal
}

/** JudgeEngine holds the rules, the history and the last events. Single-threaded: no locks. */
export class JudgeEngine {
  readonly counters: JudgeCounters = {
    received: 0,
    invalid: 0,
    filtered: 0,
    outOfOrder: 0,
    evaluations: 0,
    events: 0,
  }
  readonly series = new SeriesStore()
  #rules: RuleIndex
  #version = 0
  readonly #opts: JudgeEngineOptions
  readonly #eval: Evaluation = { enough: false, triggered: false, leftValue: 0, oldestTime: 0 }
  readonly #journal: StateJournal | undefined
  /** The events of the current call, emitted once the journal has them (#flush). */
  readonly #outLists: string[] = []
  readonly #outPayloads: string[] = []
  readonly #outEvents: AlarmEvent[] = []

  constructor(opts: JudgeEngineOptions) {
    this.#opts = opts
    this.#journal = opts.journal
    this.#rules = new RuleIndex(0, [], [], opts.remain, opts.log)
  }

  get rules(): RuleIndex {
    return this.#rules
  }

  /** setRules installs a new generation of hbs's strategies and expressions. */
  setRules(hosts: readonly HostStrategies[], expressions: readonly Expression[]): void {
    this.#rules = new RuleIndex(
      ++this.#version,
      hosts,
      expressions,
      this.#opts.remain,
      this.#opts.log
    )
  }

  /**
   * send is Judge.Send: each item is checked, stored and judged in order. `now` (Unix seconds) is read
   * once per call, as falcon does. Returns the problems of refused items (index and reason).
   */
  send(items: readonly unknown[], now: number): string[] {
    const problems: string[] = []
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as JudgeItem
      this.counters.received++
      const problem = itemProblem(item)
      if (problem !== undefined) {
        this.counters.invalid++
        if (problems.length < 10) problems.push(`item ${i}: ${problem}`)
        continue
      }
      this.#judge(item, now)
    }
    this.#flush()
    return problems
  }

  /** judge stores one checked item, evaluates the rules of its series and emits its events. */
  judge(item: JudgeItem, now: number): void {
    this.#judge(item, now)
    this.#flush()
  }

  /**
   * #flush commits the last events of the call to the journal in one write, then emits the events:
   * a state on disk before its event is queued means a restart never repeats an event, at the cost
   * of losing one that was in flight when the process died.
   */
  #flush(): void {
    const n = this.#outEvents.length
    if (n === 0) return
    try {
      this.#journal?.commit()
      for (let i = 0; i < n; i++)
        this.#opts.emit(this.#outLists[i], this.#outPayloads[i], this.#outEvents[i])
    } finally {
      this.#outLists.length = 0
      this.#outPayloads.length = 0
      this.#outEvents.length = 0
    }
  }

  #judge(item: JudgeItem, now: number): void {
    const rules = this.#rules
    if (!rules.metrics.has(item.metric)) {
      this.counters.filtered++
      return
    }
    const s = this.series.get(item.endpoint, item.metric, item.tags, rules.capacity, true) as Series
    const t = item.judgeType.charCodeAt(0)
    if (!s.push(item.timestamp, item.value, t === 71 || t === 103, rules.capacity)) {
      this.counters.outOfOrder++
      return
    }
    if (s.rulesVersion !== rules.version) rematch(s, rules)
    const list = s.rules
    const ev = this.#eval
    for (let i = 0; i < list.length; i++) {
      const rule = list[i]
      evaluate(rule, s, ev)
      this.counters.evaluations++
      if (!ev.enough) continue
      const last = s.states[i]
      if (ev.triggered) {
        if (last === undefined || last.status === 'OK') {
          // maxStep 0 is how falcon users mute a rule: nothing is sent and nothing recorded.
          if (rule.maxStep === 0) continue
          if (rule.forSeconds > 0) {
            let since = s.pendingSince[i]
            if (since === 0) since = s.pendingSince[i] = item.timestamp
            if (item.timestamp - since < rule.forSeconds) continue
          }
          this.#send(s, i, rule, 'PROBLEM', 1, ev.leftValue, item.timestamp)
          continue
        }
        if (last.currentStep >= rule.maxStep) continue
        // A point that already fired must not fire again (falcon: once a minute otherwise).
        if (ev.oldestTime <= last.eventTime) continue
        if (now - last.eventTime < this.#opts.minInterval) continue
        this.#send(s, i, rule, 'PROBLEM', last.currentStep + 1, ev.leftValue, item.timestamp)
      } else {
        s.pendingSince[i] = 0
        if (last !== undefined && last.status === 'PROBLEM')
          this.#send(s, i, rule, 'OK', 1, ev.leftValue, item.timestamp)
      }
    }
  }

  #send(
    s: Series,
    i: number,
    rule: CompiledRule,
    status: EventStatus,
    currentStep: number,
    leftValue: number,
    eventTime: number
  ): void {
    const state = { status, currentStep, eventTime }
    s.states[i] = state
    this.#journal?.record(s, rule.key, state)
    const event: AlarmEvent = {
      id: rule.idPrefix + s.pkHash,
      strategy: rule.strategy,
      expression: rule.expression,
      status,
      endpoint: s.endpoint,
      leftValue,
      currentStep,
      eventTime,
      pushedTags: s.tags,
    }
    this.counters.events++
    this.#outLists.push(this.#opts.queuePattern.replace('%v', String(rule.priority)))
    this.#outPayloads.push(JSON.stringify(event))
    this.#outEvents.push(event)
  }

  /** purge drops series whose newest point is older than `before` (Unix seconds). */
  purge(before: number): number {
    return this.series.purge(before)
  }
}

/**
 * rematch gives a series the rules of a new generation. The last event of a rule that leaves (a host
 * in maintenance, a template unbound) is kept aside, as falcon's LastEvents never forgets: when the
 * rule comes back, a problem reported before it left still gets its OK.
 */
function rematch(s: Series, rules: RuleIndex): void {
  const next = rules.rulesFor(s)
  const states: Series['states'] = new Array<Series['states'][number]>(next.length)
  const pending = new Array<number>(next.length).fill(0)
  const old = new Map<string, number>()
  for (let k = 0; k < s.rules.length; k++) old.set(s.rules[k].key, k)
  const kept = new Set<string>()
  for (let k = 0; k < next.length; k++) {
    const key = next[k].key
    kept.add(key)
    const j = old.get(key)
    if (j !== undefined) {
      states[k] = s.states[j]
      pending[k] = s.pendingSince[j]
    } else {
      states[k] = s.parked?.get(key)
      s.parked?.delete(key)
    }
  }
  for (let k = 0; k < s.rules.length; k++) {
    const state = s.states[k]
    if (state !== undefined && !kept.has(s.rules[k].key))
      (s.parked ??= new Map()).set(s.rules[k].key, state)
  }
  if (s.parked?.size === 0) s.parked = undefined
  s.rules = next
  s.states = states
  s.pendingSince = pending
  s.rulesVersion = rules.version
}

/** itemProblem checks a JudgeItem as it arrives over the wire; undefined when it is usable. */
export function itemProblem(item: JudgeItem): string | undefined {
  if (typeof item !== 'object' || item === null) return 'expected a JudgeItem object'
  if (typeof item.endpoint !== 'string' || item.endpoint === '')
    return 'endpoint: expected a non-empty string'
  if (typeof item.metric !== 'string' || item.metric === '')
    return 'metric: expected a non-empty string'
  if (typeof item.value !== 'number' || !Number.isFinite(item.value))
    return 'value: expected a finite number'
  if (typeof item.timestamp !== 'number' || !Number.isInteger(item.timestamp))
    return 'timestamp: expected an integer (Unix seconds)'
  if (typeof item.judgeType !== 'string') return 'judgeType: expected GAUGE, COUNTER or DERIVE'
  const tags = item.tags as unknown
  if (tags !== null && tags !== undefined) {
    if (typeof tags !== 'object' || Array.isArray(tags)) return 'tags: expected an object'
    for (const k in tags as Record<string, unknown>)
      if (typeof (tags as Record<string, unknown>)[k] !== 'string')
        return `tags.${k}: expected a string`
  }
  return undefined
}
