// The tsdb's Querier: falcon series read as Prometheus series (contract.md): samples of the variants of
// a key merged by time, rollup tiers where raw data has expired, label names and values, metadata.
import { PeregrineError } from '../core/errors.js'
import type { Block } from './block.js'
import { type Columns, ensureRoom } from './chunk/chunk.js'
import { mergeFirstWins, mergeLastWins } from './merge.js'
import { selectSeries, type SelectedSeries, typeOf } from './prom-match.js'
import type {
  LabelHints,
  Labels,
  MetricMetadata,
  Querier,
  SelectHints,
  SeriesSet,
} from './querier.js'
import { eachSeries, stopCheck, tooManySamples, type SeriesVisitor } from './querier.js'
import { appendGridRaw, appendRaw, rawColumns, rawCount } from './read.js'
import { Buckets, decodeBuckets } from './rollup.js'
import type { MemSeries } from './series.js'
import type { Matcher } from './series-index.js'
import type { DbState } from './state.js'

/** YIELD_MS: a select gives the event loop a turn after this much work (ms), so pushes go on. */
const YIELD_MS = 10

const DAY = 86_400_000

/**
 * TsdbQuerier reads one database as Prometheus series; `Db.querier()` returns it. Selections run
 * between the database's other work: they check `signal` and `deadline` and give the event loop a turn every few
 * milliseconds, reading each series whole in between, and fail with PG_TSDB_CLOSED if the database
 * is closed meanwhile. Answers are fresh arrays the caller owns.
 */
export class TsdbQuerier implements Querier {
  readonly #st: DbState

  readonly #pool = new ColumnPool(POOL_BYTES)

  constructor(st: DbState) {
    this.#st = st
  }

  /** release takes back the columns of an answer of `select` for later answers (Querier.release). */
  release(set: SeriesSet): void {
    this.#pool.give(set.ts, set.vs)
  }

  /**
   * select returns the series matching `matchers` with their samples in [start, end] (ms, inclusive),
   * sorted by labels: each series' samples in one pair of columns for the whole set (grown by
   * doubling). Variants of a key (a changed step or counter type) are merged by time, the one written
   * last winning a timestamp both hold; `__type__` and `__step__` matchers pick variants. Before a
   * series' oldest raw sample, samples come from the finest rollup tier that covers `start` (its
   * AVERAGE; a counter's average rates integrated back into a counter ending at its first raw
   * value), and a warning says so. Past `maxSamples` it throws PG_PROMQL_TOO_MANY_SAMPLES at once.
   */
  async select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    const sel = this.#prepare(matchers, hints)
    if (sel === null) return this.#seriesOnly(matchers, hints)
    const { picked, from, to, grid } = sel
    // One pair of columns for the whole answer, sized from the chunk headers of a sample of the
    // series (the first 64, scaled to all; a bound, exact but for chunks across the range's ends), at
    // most the budget; when a chunk does not fit, the columns grow by half (appendRaw).
    const sample = Math.min(picked.length, 64)
    let bound = 0
    for (let i = 0; i < sample; i++)
      for (const s of picked[i].variants) bound += rawCount(s, from, to)
    let guess = sample === 0 ? 0 : Math.ceil((bound / sample) * picked.length)
    if (grid !== null) guess = Math.min(guess, picked.length * (grid.points + 1))
    const size = Math.max(16, Math.min(guess, sel.max + 1))
    const out: Columns = this.#pool.take(size) ?? {
      ts: new Float64Array(size),
      vs: new Float64Array(size),
      n: 0,
    }
    const labels: Labels[] = []
    const offsets: number[] = [0]
    const warnings = await this.#scan(sel, stopCheck(hints), out, false, (i) => {
      labels.push(picked[i].labels)
      offsets.push(out.n)
    })
    this.#pool.issued(out)
    return {
      labels,
      offsets: Uint32Array.from(offsets),
      ts: out.ts.subarray(0, out.n),
      vs: out.vs.subarray(0, out.n),
      warnings,
    }
  }

  /**
   * selectEach reads what `select` answers but hands it to `visit` series by series, each in one pair
   * of columns reused for the next (Querier.selectEach): nothing the size of the answer is allocated.
   * With a grid hint a series is not thinned to the grid: the visitor picks what it reads.
   */
  async selectEach(
    matchers: readonly Matcher[],
    hints: SelectHints,
    visit: SeriesVisitor
  ): Promise<readonly string[]> {
    const sel = this.#prepare(matchers, hints)
    if (sel === null) {
      const set = await this.#seriesOnly(matchers, hints)
      eachSeries(set, visit)
      return set.warnings
    }
    // Grown as a series needs (appendRaw): a grid of many points costs only what is read.
    const size = sel.grid !== null ? Math.min(sel.grid.points + 1, 4096) : 1024
    const out: Columns = { ts: new Float64Array(size), vs: new Float64Array(size), n: 0 }
    return this.#scan(sel, stopCheck(hints), out, true, (i) => {
      visit(sel.picked[i].labels, out.ts, out.vs, out.n, undefined)
    })
  }

  // Checks a select's hints and picks its series; null for `func: 'series'`, which reads no samples.
  #prepare(matchers: readonly Matcher[], hints: SelectHints): Selection | null {
    const st = this.#st
    st.checkOpen()
    const start = timeHint(hints.start, 'start')
    const end = timeHint(hints.end, 'end')
    hints.signal?.throwIfAborted()
    if (hints.func === 'series') return null
    return {
      picked: end >= start ? selectSeries(st.index, matchers, stopCheck(hints)) : [],
      // Raw reads take from < t ≤ to: timestamps are integer ms.
      from: Math.ceil(start) - 1,
      to: Math.floor(end),
      grid: gridOf(hints, end),
      max: hints.maxSamples ?? Infinity,
    }
  }

  /**
   * #scan reads the selection's series one by one onto `out` and calls `done(i)` for each series i with
   * samples, then resolves to the warnings. Appended after the previous ones, each series is thinned to
   * the grid and, past `max` samples in all, it throws PG_PROMQL_TOO_MANY_SAMPLES at once; with `reset`
   * (selectEach) each series starts at 0 and is handed over as read, neither thinned nor counted.
   */
  async #scan(
    sel: Selection,
    stop: () => void,
    out: Columns,
    reset: boolean,
    done: (i: number) => void
  ): Promise<string[]> {
    const st = this.#st
    const { picked, from, to, grid, max } = sel
    const tiers = new TierReader(st, from, to)
    let total = 0
    let yielded = performance.now()
    for (let i = 0; i < picked.length; i++) {
      if ((i & 63) === 63) {
        stop()
        if (performance.now() - yielded > YIELD_MS) {
          await new Promise((r) => setImmediate(r))
          stop()
          st.checkOpen()
          yielded = performance.now()
        }
      }
      if (reset) out.n = 0
      const base = out.n
      const { variants } = picked[i]
      if (variants.length > 1) {
        // The variant written last first: of a timestamp two variants hold, its sample stays.
        variants.sort((a, b) => b.maxT - a.maxT)
      }
      for (const s of variants) {
        tiers.append(s, out)
        if (grid === null || grid.phase === null) appendRaw(st, s, from, to, out)
        else appendGridRaw(st, s, from, to, out, grid.step, grid.phase)
      }
      if (out.n === base) continue
      mergeFrom(out, base)
      if (!reset) {
        if (grid !== null) out.n = thinToGrid(out, base, grid.first, grid.step, grid.last)
        if (out.n === base) continue
        total += out.n - base
        if (total > max) throw tooManySamples(max)
      }
      done(i)
    }
    return tiers.warnings()
  }

  // `func: 'series'` (Prometheus's hint of /api/v1/series): the labels of the series with a sample in
  // range, read from the index and block metadata, and no samples.
  async #seriesOnly(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    await Promise.resolve()
    const found = this.#inRange(matchers, hints)
    const empty = new Float64Array(0)
    return {
      labels: found.map((s) => s.labels),
      offsets: new Uint32Array(found.length + 1),
      ts: empty,
      vs: empty,
      warnings: [],
    }
  }

  /** labelNames returns the sorted label names of the series matching, with samples in range. */
  labelNames(matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    return settle(() => this.#labelNames(matchers, hints))
  }

  #labelNames(matchers: readonly Matcher[], hints: LabelHints): string[] {
    const st = this.#st
    st.checkOpen()
    hints.signal?.throwIfAborted()
    const names = new Set<string>()
    if (matchers.length === 0 && this.#wholeRange(hints)) {
      if (st.index.size === 0) return []
      names.add('__name__').add('endpoint')
      for (const name of st.index.tagNames()) {
        const values = st.index.tagPostings(name)
        if (values !== undefined && !(values.size === 1 && values.has(''))) names.add(name)
      }
      // A tag of a reserved name is not shown (the reserved label wins).
      names.delete('__type__')
      names.delete('__step__')
    } else {
      for (const s of this.#inRange(matchers, hints)) for (const l of s.labels) names.add(l.name)
    }
    return limited([...names].sort(), hints.limit)
  }

  /**
   * labelValues returns the sorted values label `name` takes among the series matching, with samples
   * in range. `name` may be the escaped form of a tag's name (`iface_name` for `iface.name`).
   */
  labelValues(name: string, matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    return settle(() => this.#labelValues(name, matchers, hints))
  }

  #labelValues(name: string, matchers: readonly Matcher[], hints: LabelHints): string[] {
    const st = this.#st
    st.checkOpen()
    hints.signal?.throwIfAborted()
    const values = new Set<string>()
    const tags = st.index.tagNamesFor(name)
    if (matchers.length === 0 && this.#wholeRange(hints)) {
      if (name === '__name__') for (const m of st.index.metricPostings.keys()) values.add(m)
      else if (name === 'endpoint') for (const e of st.index.endpointPostings.keys()) values.add(e)
      else
        for (const t of tags) for (const v of st.index.tagPostings(t)?.keys() ?? []) values.add(v)
    } else {
      const wanted = name === '__name__' || name === 'endpoint' ? [name] : tags
      for (const s of this.#inRange(matchers, hints)) {
        for (const l of s.labels) if (wanted.includes(l.name)) values.add(l.value)
      }
    }
    values.delete('')
    return limited([...values].sort(), hints.limit)
  }

  /**
   * metadata returns, per metric (all, or the one named, by its stored name or escaped form, at most
   * `limit`), `counter` when its series are COUNTER/DERIVE, `gauge` when GAUGE, `unknown` when its
   * series disagree (each series counted by the variant written last). Help and unit are empty.
   */
  metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>> {
    return settle(() => this.#metadata(metric, limit))
  }

  #metadata(metric: string | undefined, limit: number | undefined): Map<string, MetricMetadata> {
    const st = this.#st
    st.checkOpen()
    const names =
      metric === undefined ? [...st.index.metricPostings.keys()] : st.index.metricsFor(metric)
    names.sort()
    const out = new Map<string, MetricMetadata>()
    for (const name of names) {
      if (limit !== undefined && limit > 0 && out.size >= limit) break
      let type: MetricMetadata['type'] | undefined
      for (const s of st.index.metricPostings.get(name) ?? []) {
        const t = typeOf((st.index.byKey(s.key) ?? s).dstype)
        if (type === undefined) type = t
        else if (type !== t) {
          type = 'unknown'
          break
        }
      }
      out.set(name, { type: type ?? 'unknown', help: '', unit: '' })
    }
    return out
  }

  // Whether [start, end] of a label query takes in every sample the database holds.
  #wholeRange(hints: LabelHints): boolean {
    const st = this.#st
    const start = hints.start ?? -Infinity
    const end = hints.end ?? Infinity
    if (start === -Infinity && end === Infinity) return true
    let min = st.headMinT
    let max = st.headMaxT
    for (const b of st.blocks) {
      if (b.meta.minT < min) min = b.meta.minT
      if (b.meta.maxT > max) max = b.meta.maxT
    }
    return start <= min && end >= max
  }

  // The series matching with a sample in [start, end] (at block and chunk granularity).
  #inRange(matchers: readonly Matcher[], hints: LabelHints): SelectedSeries[] {
    const st = this.#st
    const start = timeHint(hints.start ?? -Infinity, 'start')
    const end = timeHint(hints.end ?? Infinity, 'end')
    if (!(end >= start)) return []
    const tierBlocks = st.blocks.filter(
      (b) => b.meta.kind !== 'raw' && b.meta.maxT >= start && b.meta.minT <= end
    )
    const out: SelectedSeries[] = []
    const stop = stopCheck(hints)
    let n = 0
    for (const series of selectSeries(st.index, matchers, stop)) {
      if ((++n & 1023) === 0) stop()
      const hit = series.variants.some(
        (s) =>
          (rawMinT(s) <= end && s.maxT >= start) ||
          tierBlocks.some((b) => b.series.has(s.uid) && !st.deletedIn(s.uid, b))
      )
      if (hit) out.push(series)
    }
    return out
  }
}

/** Selection is a select's checked range and picked series. */
interface Selection {
  picked: SelectedSeries[]
  from: number
  to: number
  grid: Grid | null
  max: number
}

/** Grid is a checked `grid` hint (gridOf). */
interface Grid {
  first: number
  step: number
  last: number
  points: number
  phase: number | null
}

/** POOL_BYTES bounds the released answer columns a querier keeps for reuse. */
const POOL_BYTES = 16 * 2 ** 20

/**
 * ColumnPool keeps the columns of answers the engine has released, for later selects: memory fresh
 * from the system costs a page fault per 4 KiB on its first write (measured here: 65–135 ms to first
 * fill 46 MB, 3 ms to fill it again), memory reused does not. Only columns this pool issued come back,
 * each once; it holds at most its budget, the smallest pairs leaving first.
 */
class ColumnPool {
  readonly #budget: number
  #pairs: Columns[] = []
  #bytes = 0
  readonly #out = new WeakSet<ArrayBufferLike>()

  constructor(budget: number) {
    this.#budget = budget
  }

  /** take returns the smallest pair that holds `size` samples and is not far larger, or undefined. */
  take(size: number): Columns | undefined {
    let best = -1
    for (let i = 0; i < this.#pairs.length; i++) {
      const len = this.#pairs[i].ts.length
      if (
        len >= size &&
        len <= size * 4 + 65_536 &&
        (best < 0 || len < this.#pairs[best].ts.length)
      )
        best = i
    }
    if (best < 0) return undefined
    const [pair] = this.#pairs.splice(best, 1)
    this.#bytes -= pair.ts.byteLength * 2
    pair.n = 0
    return pair
  }

  /** issued records the columns of an answer as handed out (they may come back once). */
  issued(out: Columns): void {
    this.#out.add(out.ts.buffer)
  }

  /** give takes back the columns under views ts and vs of an answer, when this pool issued them. */
  give(ts: Float64Array, vs: Float64Array): void {
    if (!this.#out.has(ts.buffer) || ts.buffer === vs.buffer) return
    this.#out.delete(ts.buffer)
    const pair: Columns = { ts: new Float64Array(ts.buffer), vs: new Float64Array(vs.buffer), n: 0 }
    if (pair.ts.length !== pair.vs.length) return
    const bytes = pair.ts.byteLength * 2
    if (bytes > this.#budget) return
    this.#pairs.push(pair)
    this.#bytes += bytes
    this.#pairs.sort((a, b) => b.ts.length - a.ts.length)
    while (this.#bytes > this.#budget) {
      const dropped = this.#pairs.pop() as Columns
      this.#bytes -= dropped.ts.byteLength * 2
    }
  }
}

/**
 * TierReader reads, for one select over (from, to], the samples of a series that precede its oldest raw
 * sample from the rollup tiers, finest first: each tier's buckets run back until that tier's data
 * ends (its retention), where the next coarser tier takes over. It counts the series each tier
 * served, for the warnings.
 */
class TierReader {
  readonly #st: DbState
  readonly #from: number
  readonly #to: number
  readonly #tiers: readonly number[]
  /** Per tier, its blocks overlapping the range in the order they were written (a repair wins). */
  readonly #blocks: (Block[] | undefined)[]
  /** Per tier, the buckets read for the current series. */
  readonly #buckets: Buckets[]
  readonly #decoded = new Buckets(64)
  readonly #served: number[]
  readonly #any: boolean

  constructor(st: DbState, from: number, to: number) {
    this.#st = st
    this.#from = from
    this.#to = to
    this.#tiers = [...st.options.tiers].sort((a, b) => a - b)
    this.#blocks = this.#tiers.map(() => undefined)
    this.#buckets = this.#tiers.map(() => new Buckets(0))
    this.#served = this.#tiers.map(() => 0)
    // Without a tier block in the range there is nothing to read: no series' oldest sample is sought.
    this.#any = this.#tiers.some((k, i) => (this.#blocks[i] = this.#tierBlocks(k)).length > 0)
  }

  /** append appends to `out` the tier samples of s in (from, to] before its oldest raw sample. */
  append(s: MemSeries, out: Columns): void {
    if (!this.#any) return
    const first = rawMinT(s)
    if (this.#from + 1 >= first) return
    // Bucket ends (samples) of the next tier must stay below this.
    let limit = first
    let used = 0
    for (let i = 0; i < this.#tiers.length; i++) {
      const b = this.#buckets[i].reset()
      const upTo = Math.min(this.#to, limit - 1)
      if (upTo <= this.#from) break
      const blocks = (this.#blocks[i] ??= this.#tierBlocks(this.#tiers[i]))
      if (blocks.length === 0) continue
      this.#read(s, blocks, upTo, b)
      if (b.n === 0) continue
      this.#served[i]++
      used = i + 1
      // A bucket (e - res, e]: coarser buckets must end where this tier's first one begins.
      limit = b.end[0] - this.#tiers[i] * s.step * 1000 + 1
    }
    if (used === 0) return
    const base = out.n
    for (let i = used - 1; i >= 0; i--) {
      const b = this.#buckets[i]
      if (b.n === 0) continue
      ensureRoom(out, out.n + b.n)
      for (let j = 0; j < b.n; j++) {
        out.ts[out.n + j] = b.end[j]
        out.vs[out.n + j] = b.sum[j] / b.count[j]
      }
      out.n += b.n
    }
    if (s.dstype !== 'GAUGE') this.#integrate(s, out, base, first)
  }

  /** warnings names each tier read, and for how many series. */
  warnings(): string[] {
    const out: string[] = []
    const raw = this.#st.options.retention.raw
    const days = Math.round((raw / DAY) * 10) / 10
    for (let i = 0; i < this.#tiers.length; i++) {
      const k = this.#tiers[i]
      if (this.#served[i] === 0) continue
      out.push(
        `${this.#served[i]} series read from rollup tier r${k} (the average of ${k} steps a sample) before their oldest raw sample: raw samples are kept ${days} days (tsdb retention.raw)`
      )
    }
    return out
  }

  // The buckets of s in blocks with from < end ≤ upTo, in time order (the last computed of an end).
  #read(s: MemSeries, blocks: readonly Block[], upTo: number, b: Buckets): void {
    const tmp = this.#decoded
    for (const block of blocks) {
      const entry = block.series.get(s.uid)
      if (entry === undefined || this.#st.deletedIn(s.uid, block)) continue
      for (const c of entry.chunks) {
        if (c.maxT <= this.#from || c.minT > upTo) continue
        decodeBuckets(block.read(c, undefined, this.#st.blockCache), c.minT, tmp.reset())
        for (let i = 0; i < tmp.n; i++) {
          const e = tmp.end[i]
          if (e <= this.#from || e > upTo) continue
          b.push(e, tmp.count[i], tmp.sum[i], tmp.min[i], tmp.max[i], tmp.last[i])
        }
      }
    }
    mergeLastWins(b)
  }

  // A counter's tiers hold average rates (per second): turned back into a counter that ends at the
  // series' first raw value (so rate() runs on across the seam), or starts at 0 when none is left.
  #integrate(s: MemSeries, out: Columns, base: number, first: number): void {
    const n = out.n
    const ts = out.ts
    const vs = out.vs
    if (first === Infinity) {
      let c = 0
      let prev = ts[base]
      for (let i = base; i < n; i++) {
        c += (vs[i] * (ts[i] - prev)) / 1000
        prev = ts[i]
        vs[i] = c
      }
      return
    }
    const anchor = rawColumns(this.#st, s, first - 1, first)
    let c = anchor.n > 0 ? anchor.vs[0] : 0
    let next = anchor.n > 0 ? anchor.ts[0] : ts[n - 1]
    // Bucket i's rate is the rate of (end[i-1], end[i]]; up to the first raw sample, the last one's.
    let nextRate = vs[n - 1]
    for (let i = n - 1; i >= base; i--) {
      const rate = vs[i]
      c -= (nextRate * (next - ts[i])) / 1000
      vs[i] = c
      next = ts[i]
      nextRate = rate
    }
  }

  #tierBlocks(k: number): Block[] {
    const kind = `r${k}`
    const blocks = this.#st.blocks.filter(
      (b) => b.meta.kind === kind && b.meta.maxT > this.#from && b.meta.minT <= this.#to
    )
    return blocks.sort((a, b) => a.meta.seq - b.meta.seq)
  }
}

/** rawMinT is the oldest raw timestamp a series holds (in blocks or the head), Infinity when none. */
export function rawMinT(s: MemSeries): number {
  let min = Infinity
  for (const { entry } of s.inBlocks) for (const c of entry.chunks) if (c.minT < min) min = c.minT
  if (s.sealed.length > 0 && s.sealed[0].minT < min) min = s.sealed[0].minT
  if (s.n > 0 && s.openMinT() < min) min = s.openMinT()
  for (const c of s.oooSealed) if (c.minT < min) min = c.minT
  if (s.oooN > 0 && s.oooTs[0] < min) min = s.oooTs[0]
  return min
}

// Puts out[base, n) in time order, a timestamp once (the first one stays), in place.
function mergeFrom(out: Columns, base: number): void {
  const n = out.n - base
  let sorted = true
  for (let i = base + 1; i < out.n; i++) {
    if (!(out.ts[i] > out.ts[i - 1])) {
      sorted = false
      break
    }
  }
  if (sorted) return
  const view: Columns = { ts: out.ts.subarray(base, out.n), vs: out.vs.subarray(base, out.n), n }
  mergeFirstWins(view)
  out.ts.set(view.ts.subarray(0, view.n), base)
  out.vs.set(view.vs.subarray(0, view.n), base)
  out.n = base + view.n
}

function timeHint(v: unknown, field: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new PeregrineError(
      'PG_PROMQL_BAD_QUERY',
      `${field}: expected a time in ms, got ${String(v)}`,
      {
        status: 400,
      }
    )
  }
  return v
}

function limited(list: string[], limit: number | undefined): string[] {
  return limit !== undefined && limit > 0 && list.length > limit ? list.slice(0, limit) : list
}

// A synchronous answer as a promise: a throw becomes a rejection.
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()))
}

/** gridOf checks a select's `grid` hint: its first and last time and how many points it has. */
function gridOf(hints: SelectHints, end: number): Grid | null {
  const g = hints.grid
  if (g === undefined || !(g.step > 0) || !Number.isFinite(g.first) || !(end >= g.first))
    return null
  const points = Math.floor((end - g.first) / g.step) + 1
  // The grid's phase names it among grids of its step, for reading thinned chunks (appendGridRaw):
  // whole milliseconds only, so that grid times computed from the phase or from `first` are the same.
  const phase =
    Number.isSafeInteger(g.first) && Number.isSafeInteger(g.step)
      ? ((g.first % g.step) + g.step) % g.step
      : null
  return { first: g.first, step: g.step, last: g.first + (points - 1) * g.step, points, phase }
}

/**
 * thinToGrid keeps, of the samples of one series at out[base, out.n), only the last sample at or before
 * each grid time `first + k × step` ≤ `last`, in place, and returns the new end. A sample is kept when
 * a grid time falls at or after it and before the next sample.
 */
function thinToGrid(out: Columns, base: number, first: number, step: number, last: number): number {
  const { ts, vs } = out
  const n = out.n
  let w = base
  for (let i = base; i < n; i++) {
    const t = ts[i]
    // The first grid time at or after t.
    const g = t <= first ? first : first + Math.ceil((t - first) / step) * step
    if (g > last) break
    if (i + 1 < n && ts[i + 1] <= g) continue
    ts[w] = t
    vs[w] = vs[i]
    w++
  }
  return w
}
