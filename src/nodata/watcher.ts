// nodata's judge: each watched series is looked at when it could first have gone silent (one timeout
// after its last point arrived), not on a fixed cron, and every decision is kept for /proc/status.
import type { LastPoint } from '../cluster/index.js'
import type { Logger, MetricValue } from '../core/index.js'
import { inMaintenance } from '../store/index.js'
import type { RuleSet, Watch } from './rules.js'

/** Status is falcon's NodataStatus.Status, plus the states falcon has no word for. */
export type Status = 'PENDING' | 'OK' | 'NODATA' | 'MAINTENANCE'

/** Decision is one judgement of a series: when, what, and why in a sentence. */
export interface Decision {
  /** at: ms. */
  at: number
  status: Status
  reason: string
}

/** SeriesState is what nodata knows of one watched series. */
export interface SeriesState {
  watch: Watch
  /** since: ms when nodata began watching (a series never seen is silent since then). */
  since: number
  status: Status
  /** cnt: mocks pushed in a row (falcon's Cnt). */
  cnt: number
  /** ts: Unix seconds of the last status change or mock (falcon's Ts). */
  ts: number
  /** lastArrival: ms (this clock) when the last point that is not a mock arrived, if known. */
  lastArrival: number | undefined
  /** lastPoint: the last point graph reported (Graph.Last: timestamp s, value). */
  lastPoint: { timestamp: number; value: number | null } | undefined
  /** lastMockTs: the timestamp (s) of the last mock pushed. */
  lastMockTs: number | undefined
  /** checkAt: ms of the next look. */
  checkAt: number
  last: Decision | undefined
  /** seq: bumped on each reschedule; a heap entry of another seq is stale. */
  seq: number
}

/** ReadLast answers, per watch, Graph.LastMany's point (null: none; undefined: its node did not answer). */
export type ReadLast = (
  watches: readonly Watch[]
) => Promise<{ points: (LastPoint | null | undefined)[]; failures: string[] }>

export interface WatcherOptions {
  timeoutOf: (step: number) => number
  read: ReadLast
  push: (points: MetricValue[]) => void
  now: () => number
  log: Logger
  /** maxPerRead: series per look (one Graph.LastMany fan-out). */
  maxPerRead?: number
  /** onLateness: seconds past a series' deadline at which its first mock was decided. */
  onLateness?: (seconds: number) => void
}

/** WatcherCounters: what the judge did since start. */
export interface WatcherCounters {
  looks: number
  judged: number
  mocks: number
  turnedNodata: number
  turnedOk: number
  readFailures: number
}

const RETRY_MS = 5_000
const MAX_TRANSITIONS = 1000
/** falcon's fCompare: values within 1e-6 are equal. */
const EPSILON = 0.000001

/**
 * NodataWatcher judges watched series by when their points arrive (graph's arrival clock, read as an
 * age), so a sender's clock, a late point or a backlog cannot make a live series look dead or a dead
 * one alive. A series is silent once no point arrived for its timeout; then a mock is pushed with
 * falcon's timestamp (now − now%step − 2·step), one per step while silence lasts. A point that
 * arrived last with the mock's value is taken for a mock (falcon's rule), which also makes a restart
 * of nodata carry on mocking a silent series at once rather than a timeout later.
 */
export class NodataWatcher {
  readonly counters: WatcherCounters = {
    looks: 0,
    judged: 0,
    mocks: 0,
    turnedNodata: 0,
    turnedOk: 0,
    readFailures: 0,
  }
  /** transitions: the last status changes, newest last (for /proc/status?changes). */
  readonly transitions: { key: string; from: Status; to: Status; at: number; reason: string }[] = []
  readonly #o: WatcherOptions
  readonly #states = new Map<string, SeriesState>()
  readonly #heap = new DeadlineHeap()
  #rules: RuleSet | undefined
  #looking = false

  constructor(options: WatcherOptions) {
    this.#o = options
  }

  get size(): number {
    return this.#states.size
  }

  get rules(): RuleSet | undefined {
    return this.#rules
  }

  state(key: string): SeriesState | undefined {
    return this.#states.get(key)
  }

  states(): IterableIterator<SeriesState> {
    return this.#states.values()
  }

  /** nextCheckAt: ms of the earliest look due, or Infinity. */
  nextCheckAt(): number {
    for (;;) {
      const top = this.#heap.peek()
      if (top === undefined) return Infinity
      const s = this.#states.get(top.key)
      if (s !== undefined && s.seq === top.seq) return top.at
      this.#heap.pop()
    }
  }

  /**
   * setRules replaces the watched series: new ones are looked at now (to learn when their last point
   * arrived), changed ones (step, mock, rule) now again, gone ones forgotten.
   */
  setRules(rules: RuleSet): void {
    this.#rules = rules
    const now = this.#o.now()
    for (const key of this.#states.keys()) if (!rules.watches.has(key)) this.#states.delete(key)
    for (const [key, w] of rules.watches) {
      const s = this.#states.get(key)
      if (s === undefined) {
        const fresh: SeriesState = {
          watch: w,
          since: now,
          status: 'PENDING',
          cnt: 0,
          ts: 0,
          lastArrival: undefined,
          lastPoint: undefined,
          lastMockTs: undefined,
          checkAt: now,
          last: undefined,
          seq: 0,
        }
        this.#states.set(key, fresh)
        this.#schedule(fresh, now)
      } else if (
        s.watch.step !== w.step ||
        s.watch.mock !== w.mock ||
        s.watch.ruleId !== w.ruleId
      ) {
        s.watch = w
        this.#schedule(s, now)
      } else s.watch = w
    }
  }

  /**
   * look judges every series due by now, reading their last points in one fan-out per maxPerRead.
   * Returns how many were judged; a look already running makes this one return 0.
   */
  async look(): Promise<number> {
    if (this.#looking) return 0
    this.#looking = true
    try {
      const now = this.#o.now()
      const due: SeriesState[] = []
      const max = this.#o.maxPerRead ?? 50_000
      while (due.length < max) {
        const top = this.#heap.peek()
        if (top === undefined || top.at > now) break
        this.#heap.pop()
        const s = this.#states.get(top.key)
        if (s !== undefined && s.seq === top.seq) due.push(s)
      }
      if (due.length === 0) return 0
      this.counters.looks++
      const { points, failures } = await this.#o.read(due.map((s) => s.watch))
      if (failures.length > 0) {
        this.counters.readFailures++
        this.#o.log.warn(`nodata: ${failures.join('; ')}; those series are judged again in 5 s`)
      }
      const at = this.#o.now()
      const mocks: MetricValue[] = []
      for (let i = 0; i < due.length; i++) {
        const s = due[i]
        // Rules reread while the points were read may have dropped or changed it.
        if (this.#states.get(s.watch.key) !== s) continue
        this.#judge(s, points[i], failures, at, mocks)
      }
      this.counters.judged += due.length
      if (mocks.length > 0) {
        this.counters.mocks += mocks.length
        this.#o.push(mocks)
      }
      return due.length
    } finally {
      this.#looking = false
    }
  }

  #judge(
    s: SeriesState,
    p: LastPoint | null | undefined,
    failures: readonly string[],
    now: number,
    mocks: MetricValue[]
  ): void {
    const w = s.watch
    const timeout = this.#o.timeoutOf(w.step) * 1000
    const nowS = Math.floor(now / 1000)
    if (p === undefined) {
      this.#decide(s, now, s.status, `not judged: graph did not answer (${failures.join('; ')})`)
      this.#schedule(s, now + RETRY_MS)
      return
    }
    if (p !== null) s.lastPoint = { timestamp: p.timestamp, value: p.value }
    const host = this.#rules?.maintenance.get(w.endpoint)
    if (host !== undefined && inMaintenance(host, nowS)) {
      this.#decide(
        s,
        now,
        'MAINTENANCE',
        `${w.endpoint} is in maintenance until ${new Date(host.maintainEnd * 1000).toISOString()}: no mock`
      )
      this.#schedule(s, Math.min((host.maintainEnd + 1) * 1000, now + 60_000))
      return
    }
    const mockArrived =
      p !== null && p.arrivedValue !== null && Math.abs(p.arrivedValue - w.mock) < EPSILON
    if (p !== null && !mockArrived) s.lastArrival = now - Math.max(0, p.age)
    // Never seen since watching began: silent since then.
    const alive = s.lastArrival ?? s.since
    if (!mockArrived && now - alive < timeout) {
      const why =
        s.lastArrival === undefined
          ? `no point yet; silent for ${fmtS(now - alive)} of the ${fmtS(timeout)} timeout`
          : `last point arrived ${fmtS(now - alive)} ago (timeout ${fmtS(timeout)})`
      this.#decide(s, now, s.lastArrival === undefined ? 'PENDING' : 'OK', why)
      this.#schedule(s, alive + timeout)
      return
    }
    // Silent: one mock per step, with falcon's timestamp, never two for one timestamp.
    const mockTs = nowS - (nowS % w.step) - 2 * w.step
    const why = mockArrived
      ? `the last point to arrive is the mock value ${w.mock}: still silent`
      : s.lastArrival === undefined
        ? `no point for ${fmtS(now - alive)} since watching began (timeout ${fmtS(timeout)})`
        : `no point arrived for ${fmtS(now - alive)} (timeout ${fmtS(timeout)})`
    if (s.lastMockTs !== mockTs) {
      if (s.status !== 'NODATA' && !mockArrived)
        this.#o.onLateness?.((now - alive - timeout) / 1000)
      s.lastMockTs = mockTs
      s.cnt = s.status === 'NODATA' ? s.cnt + 1 : 1
      mocks.push({
        endpoint: w.endpoint,
        metric: w.metric,
        value: w.mock,
        step: w.step,
        counterType: 'GAUGE',
        tags: w.tags,
        timestamp: mockTs,
      })
      this.#decide(s, now, 'NODATA', `${why}; mock ${w.mock} pushed at ${mockTs}`)
      s.ts = nowS
    } else this.#decide(s, now, 'NODATA', `${why}; the mock at ${mockTs} is pushed already`)
    // The next step's mock: at the start of the next step.
    this.#schedule(s, (nowS - (nowS % w.step) + w.step) * 1000)
  }

  #decide(s: SeriesState, at: number, status: Status, reason: string): void {
    if (status !== s.status) {
      if (status === 'NODATA') this.counters.turnedNodata++
      if (status === 'OK' && s.status === 'NODATA') {
        this.counters.turnedOk++
        s.cnt = 0
      }
      this.transitions.push({ key: s.watch.key, from: s.status, to: status, at, reason })
      if (this.transitions.length > MAX_TRANSITIONS) this.transitions.shift()
      s.status = status
      s.ts = Math.floor(at / 1000)
    }
    s.last = { at, status, reason }
  }

  #schedule(s: SeriesState, at: number): void {
    s.seq++
    s.checkAt = at
    this.#heap.push({ at, key: s.watch.key, seq: s.seq })
  }
}

function fmtS(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`
}

interface Entry {
  at: number
  key: string
  seq: number
}

/** DeadlineHeap is a binary min-heap of looks by time (stale entries are skipped when popped). */
class DeadlineHeap {
  readonly #a: Entry[] = []

  get size(): number {
    return this.#a.length
  }

  peek(): Entry | undefined {
    return this.#a[0]
  }

  push(e: Entry): void {
    const a = this.#a
    a.push(e)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (a[parent].at <= e.at) break
      a[i] = a[parent]
      i = parent
    }
    a[i] = e
  }

  pop(): Entry | undefined {
    const a = this.#a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= a.length) break
        const r = l + 1
        const c = r < a.length && a[r].at < a[l].at ? r : l
        if (a[c].at >= last.at) break
        a[i] = a[c]
        i = c
      }
      a[i] = last
    }
    return top
  }
}
