// Prometheus label matchers over the series index: falcon series as Prometheus series (contract.md),
// escaped aliases of names, the reserved `__type__` and `__step__` matchers, variants grouped by key.
import { PeregrineError } from '../core/errors.js'
import { escapeName } from '../core/prom-names.js'
import { compareLabels, type Labels, matcherTest } from './querier.js'
import type { MemSeries } from './series.js'
import { type Matcher, type SeriesIndex, tagValue } from './series-index.js'

/** SelectedSeries is one Prometheus series: its labels and the variants (dstype, step) merged in it. */
export interface SelectedSeries {
  labels: Labels
  variants: MemSeries[]
}

const NAME = 0
const ENDPOINT = 1
const TAG = 2
const TYPE = 3
const STEP = 4

// One matcher, compiled: `pos` is the positive test (= or =~) of its value, memoized per distinct
// value, `neg` says the matcher is its negation (!= or !~).
interface Compiled {
  kind: number
  neg: boolean
  value: string
  exact: boolean
  test: (v: string) => boolean
  memo: Map<string, boolean>
  /** the real tag names a TAG matcher's name refers to (itself and those it is the escaped form of). */
  tags: string[]
  /** stop, for a regex: called before each value is tested (a test may take a while), throws to stop. */
  stop: (() => void) | undefined
}

/** typeOf is the `__type__` of a stored dstype: `counter` for DERIVE (falcon's COUNTER and DERIVE). */
export function typeOf(dstype: string): 'counter' | 'gauge' {
  return dstype === 'GAUGE' ? 'gauge' : 'counter'
}

/**
 * selectSeries returns the Prometheus series matching every matcher, sorted by labels, labels unique.
 * The smallest posting set of the matchers that need their label present is the base; each candidate
 * is then checked against every matcher, each regex tested once per distinct value, `stop` called
 * before each test (it throws to end the select). Throws PG_CORE_BAD_REGEX for a regex RE2 would
 * refuse. With no matcher, every series is selected.
 */
export function selectSeries(
  index: SeriesIndex,
  matchers: readonly Matcher[],
  stop?: () => void
): SelectedSeries[] {
  const compiled = matchers.map((m) => compile(index, m, stop))
  const byKey = new Map<string, MemSeries[]>()
  const keep = (s: MemSeries): void => {
    for (const c of compiled) if (!passes(c, s)) return
    const list = byKey.get(s.key)
    if (list === undefined) byKey.set(s.key, [s])
    else if (!list.includes(s)) list.push(s)
  }
  const base = smallestPostings(index, compiled)
  if (base === undefined) for (const s of index.byUid.values()) keep(s)
  else for (const set of base) for (const s of set) keep(s)
  const out: SelectedSeries[] = []
  for (const variants of byKey.values()) out.push({ labels: index.labels(variants[0]), variants })
  out.sort((a, b) => compareLabels(a.labels, b.labels))
  // Two keys can show the same labels (a tag with an empty value or a reserved name is not shown):
  // one series, their variants merged.
  let w = 0
  for (let r = 0; r < out.length; r++) {
    if (w > 0 && compareLabels(out[w - 1].labels, out[r].labels) === 0) {
      out[w - 1].variants.push(...out[r].variants)
    } else out[w++] = out[r]
  }
  out.length = w
  return out
}

/** passesEmpty tells whether a matcher passes a series without its label (Prometheus: value ''). */
function passesEmpty(c: Compiled): boolean {
  return positive(c, '') !== c.neg
}

function compile(index: SeriesIndex, m: Matcher, stop: (() => void) | undefined): Compiled {
  if (typeof m?.name !== 'string' || typeof m.value !== 'string') {
    throw new PeregrineError('PG_PROMQL_BAD_QUERY', 'matcher: expected {name, op, value} strings', {
      status: 400,
    })
  }
  const kind =
    m.name === '__name__'
      ? NAME
      : m.name === 'endpoint'
        ? ENDPOINT
        : m.name === '__type__'
          ? TYPE
          : m.name === '__step__'
            ? STEP
            : TAG
  const neg = m.op === '!=' || m.op === '!~'
  const exact = m.op === '=' || m.op === '!='
  if (!neg && !exact && m.op !== '=~') {
    throw new PeregrineError(
      'PG_PROMQL_BAD_QUERY',
      `matcher op: expected =, !=, =~ or !~, got ${JSON.stringify(m.op)}`,
      { status: 400 }
    )
  }
  const test = matcherTest({ name: m.name, op: exact ? '=' : '=~', value: m.value })
  return {
    kind,
    neg,
    value: m.value,
    exact,
    test,
    memo: new Map(),
    tags: kind === TAG ? index.tagNamesFor(m.name) : [],
    stop: exact ? undefined : stop,
  }
}

// The positive test of a value; for __name__ the stored name passes when it or its escaped form does.
function positive(c: Compiled, v: string): boolean {
  let r = c.memo.get(v)
  if (r === undefined) {
    c.stop?.()
    r = c.test(v)
    if (!r && c.kind === NAME) {
      const alias = escapeName(v)
      if (alias !== v) r = c.test(alias)
    }
    c.memo.set(v, r)
  }
  return r
}

function passes(c: Compiled, s: MemSeries): boolean {
  let any: boolean
  switch (c.kind) {
    case NAME:
      any = positive(c, s.metric)
      break
    case ENDPOINT:
      any = positive(c, s.endpoint)
      break
    case TYPE:
      any = positive(c, typeOf(s.dstype))
      break
    case STEP:
      any = positive(c, String(s.step))
      break
    default: {
      any = false
      let found = false
      for (const name of c.tags) {
        // An empty value is no label (labels never show one).
        const v = tagValue(s.tags, name)
        if (v === '') continue
        found = true
        if (positive(c, v)) {
          any = true
          break
        }
      }
      if (!found) any = positive(c, '')
    }
  }
  return any !== c.neg
}

// The posting sets of the matcher that selects the fewest series among those that need their label
// (a series without it fails them), or undefined when no matcher narrows the selection.
function smallestPostings(
  index: SeriesIndex,
  compiled: readonly Compiled[]
): ReadonlySet<MemSeries>[] | undefined {
  let best: ReadonlySet<MemSeries>[] | undefined
  let bestSize = Infinity
  for (const c of compiled) {
    if (c.kind === TYPE || c.kind === STEP || passesEmpty(c)) continue
    const sets = postings(index, c)
    let size = 0
    for (const set of sets) size += set.size
    if (size < bestSize) {
      best = sets
      bestSize = size
    }
    if (size === 0) break
  }
  return best
}

// The posting sets a matcher can pass: exact values looked up, others tested once per distinct value.
function postings(index: SeriesIndex, c: Compiled): ReadonlySet<MemSeries>[] {
  const out: ReadonlySet<MemSeries>[] = []
  if (c.exact && !c.neg) {
    if (c.kind === NAME) {
      for (const metric of index.metricsFor(c.value)) {
        const set = index.metricPostings.get(metric)
        if (set !== undefined) out.push(set)
      }
    } else if (c.kind === ENDPOINT) {
      const set = index.endpointPostings.get(c.value)
      if (set !== undefined) out.push(set)
    } else {
      for (const name of c.tags) {
        const set = index.tagPostings(name)?.get(c.value)
        if (set !== undefined) out.push(set)
      }
    }
    return out
  }
  const scan = (values: ReadonlyMap<string, ReadonlySet<MemSeries>> | undefined): void => {
    if (values === undefined) return
    for (const [v, set] of values) if (positive(c, v) !== c.neg) out.push(set)
  }
  if (c.kind === NAME) scan(index.metricPostings)
  else if (c.kind === ENDPOINT) scan(index.endpointPostings)
  else for (const name of c.tags) scan(index.tagPostings(name))
  return out
}
