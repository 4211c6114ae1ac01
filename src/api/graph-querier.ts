// The PromQL engine's Querier over a graph cluster: each call fanned out to every graph node, the
// answers merged (series by labels, a series two nodes hold merged by time, names and values united).
import { type ErrorCode, PeregrineError } from '../core/index.js'
import {
  compareLabels,
  decodeSeriesSet,
  type LabelHints,
  type LabelsParam,
  type Labels,
  type Matcher,
  type MetadataParam,
  type MetadataRow,
  type MetricMetadata,
  type Querier,
  type SelectHints,
  type SelectParam,
  type SeriesSet,
  tooManySamples,
} from '../tsdb/index.js'
import {
  decodeFoldState,
  FOLD_TOO_LARGE,
  type FoldingQuerier,
  type FoldSpec,
  type FoldState,
} from '../promql/index.js'
import { type GraphCluster, GraphUnavailable } from '../cluster/index.js'

/** The furthest time JSON carries for an open range (ms; JavaScript's Date range). */
const FAR = 8.64e15

/**
 * GraphQuerier reads the series of every graph node of a cluster through Graph.Select,
 * Graph.LabelNames, Graph.LabelValues and Graph.Metadata. A node that does not answer fails the call
 * with GraphUnavailable (no partial answers), unless the cluster keeps each series on R nodes
 * (`replication`) and fewer than R do not answer: the others then hold every series, and a series two
 * replicas answer is one series (merged by labels, names and values united); an error a node raises for the request (a bad regex,
 * too many samples) is raised again as the same PeregrineError. A call whose signal aborts rejects
 * at once with the signal's reason (the nodes finish their part unheard).
 */
export class GraphQuerier implements Querier, FoldingQuerier {
  readonly #graphs: GraphCluster

  constructor(graphs: GraphCluster) {
    this.#graphs = graphs
  }

  /**
   * select asks every node and merges: series sorted by labels; the same labels from two nodes (a
   * series moved by a ring change, or its replicas) merged by time, the first node's sample winning a timestamp both
   * hold. The budget `maxSamples` goes to each node and to the merged answer.
   */
  async select(matchers: readonly Matcher[], hints: SelectHints): Promise<SeriesSet> {
    hints.signal?.throwIfAborted()
    const param = selectParam(matchers, hints)
    const answers = await this.#call<unknown>('Graph.Select', param, hints.signal)
    const sets = answers.map((a) => {
      try {
        return decodeSeriesSet(a)
      } catch (err) {
        throw new GraphUnavailable(
          `a graph node answered Graph.Select with ${(err as Error).message}`
        )
      }
    })
    const merged = mergeSeriesSets(sets)
    if (hints.maxSamples !== undefined && merged.ts.length > hints.maxSamples) {
      throw tooManySamples(hints.maxSamples)
    }
    return merged
  }

  /**
   * fold pushes an aggregation over a selector down to the graph node (Graph.Fold), which folds its
   * series where they are stored and answers the groups' state: no series crosses the seam. Only for
   * a cluster of one node: over several, a series held by two (a ring change, or replicas: with
   * `replication` above 1 every series is on two nodes or more, and a sum folded on each would count
   * it twice) must be merged before it is aggregated, and a sum's order over all series kept, so null
   * says to select instead. Null too
   * when the node does not know Graph.Fold (an older one) or refuses a fold past its answer limit.
   */
  async fold(
    matchers: readonly Matcher[],
    hints: SelectHints,
    spec: FoldSpec
  ): Promise<FoldState | null> {
    if (this.#graphs.size !== 1) return null
    hints.signal?.throwIfAborted()
    const param = { ...selectParam(matchers, hints), spec }
    let answers: unknown[]
    try {
      answers = await this.#call<unknown>('Graph.Fold', param, hints.signal)
    } catch (err) {
      // An older node, or a fold past the node's answer limit (a selection may still fit in its own).
      if (err instanceof Error && err.message.includes("can't find method Graph.Fold")) return null
      if (err instanceof Error && err.message.includes(FOLD_TOO_LARGE)) return null
      throw err
    }
    try {
      return decodeFoldState(answers[0], spec.n)
    } catch (err) {
      throw new GraphUnavailable(`a graph node answered Graph.Fold with ${(err as Error).message}`)
    }
  }

  /** labelNames unites the nodes' label names, sorted, at most `limit`. */
  async labelNames(matchers: readonly Matcher[], hints: LabelHints): Promise<string[]> {
    const lists = await this.#call<unknown>(
      'Graph.LabelNames',
      labelsParam(matchers, hints),
      hints.signal
    )
    return united(lists, 'Graph.LabelNames', hints.limit)
  }

  /** labelValues unites the nodes' values of label `name`, sorted, at most `limit`. */
  async labelValues(
    name: string,
    matchers: readonly Matcher[],
    hints: LabelHints
  ): Promise<string[]> {
    const lists = await this.#call<unknown>(
      'Graph.LabelValues',
      { ...labelsParam(matchers, hints), name },
      hints.signal
    )
    return united(lists, 'Graph.LabelValues', hints.limit)
  }

  /** metadata unites the nodes' metadata; a metric the nodes type differently is `unknown`. */
  async metadata(
    metric: string | undefined,
    limit: number | undefined
  ): Promise<Map<string, MetricMetadata>> {
    const param: MetadataParam = {}
    if (metric !== undefined) param.metric = metric
    if (limit !== undefined && limit > 0) param.limit = limit
    const answers = await this.#call<unknown>('Graph.Metadata', param, undefined)
    const byName = new Map<string, MetricMetadata>()
    for (const rows of answers) {
      if (!Array.isArray(rows)) throw badAnswer('Graph.Metadata', 'expected an array')
      for (const row of rows as Partial<MetadataRow>[]) {
        if (typeof row?.metric !== 'string' || !TYPES.has(row.type as string)) {
          throw badAnswer('Graph.Metadata', 'expected rows of {metric, type, help, unit}')
        }
        const was = byName.get(row.metric)
        const m: MetricMetadata = {
          type: row.type as MetricMetadata['type'],
          help: typeof row.help === 'string' ? row.help : '',
          unit: typeof row.unit === 'string' ? row.unit : '',
        }
        if (was === undefined) byName.set(row.metric, m)
        else if (was.type !== m.type) was.type = 'unknown'
      }
    }
    const names = [...byName.keys()].sort()
    const out = new Map<string, MetricMetadata>()
    for (const name of names) {
      if (limit !== undefined && limit > 0 && out.size >= limit) break
      out.set(name, byName.get(name) as MetricMetadata)
    }
    return out
  }

  async #call<T>(method: string, param: unknown, signal: AbortSignal | undefined): Promise<T[]> {
    const call = this.#graphs.callAll<T>(method, param).catch((err: unknown) => {
      throw fromNode(err)
    })
    if (signal === undefined) return call
    return new Promise<T[]>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error)
      signal.addEventListener('abort', onAbort, { once: true })
      call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
  }
}

const TYPES = new Set(['counter', 'gauge', 'unknown'])

// Status of the codes a node's refusal may carry (its message starts with the code).
const STATUS: Partial<Record<ErrorCode, number>> = {
  PG_PROMQL_BAD_QUERY: 400,
  PG_CORE_BAD_REGEX: 400,
  PG_PROMQL_TOO_MANY_SAMPLES: 422,
  PG_PROMQL_EXECUTION: 422,
  PG_PROMQL_TIMEOUT: 503,
}

// A node's answer to the request (an RpcError: "PG_…: message" when it carries a code) becomes the
// PeregrineError it was on the node; a node that did not answer stays GraphUnavailable.
function fromNode(err: unknown): unknown {
  if (err instanceof GraphUnavailable || !(err instanceof Error)) return err
  if ((err as { statusCode?: unknown }).statusCode !== 400) return err
  const m = /^(PG_[A-Z0-9_]+): ([\s\S]*)$/.exec(err.message)
  const code = m?.[1] as ErrorCode | undefined
  if (m !== null && code !== undefined && code in STATUS) {
    return new PeregrineError(code, m[2], { status: STATUS[code], cause: err })
  }
  // A refusal without a code: a node's own limit (graph.maxIndexRows), an unknown method.
  return new PeregrineError('PG_PROMQL_EXECUTION', `graph: ${err.message}`, {
    status: 422,
    cause: err,
  })
}

function badAnswer(method: string, what: string): GraphUnavailable {
  return new GraphUnavailable(`a graph node answered ${method} wrongly: ${what}`)
}

// What Graph.Select and Graph.Fold select, as their params.
function selectParam(matchers: readonly Matcher[], hints: SelectHints): SelectParam {
  const param: SelectParam = {
    matchers: [...matchers],
    start: Math.max(hints.start, -FAR),
    end: Math.min(hints.end, FAR),
  }
  if (hints.func !== undefined) param.func = hints.func
  if (hints.grid !== undefined) param.grid = { first: hints.grid.first, step: hints.grid.step }
  if (hints.maxSamples !== undefined && Number.isFinite(hints.maxSamples)) {
    param.maxSamples = Math.max(0, Math.floor(hints.maxSamples))
  }
  if (hints.deadline !== undefined) param.timeout = Math.max(0, hints.deadline - Date.now())
  return param
}

function labelsParam(matchers: readonly Matcher[], hints: LabelHints): LabelsParam {
  const p: LabelsParam = { matchers: [...matchers] }
  if (hints.start !== undefined && hints.start > -FAR) p.start = hints.start
  if (hints.end !== undefined && hints.end < FAR) p.end = hints.end
  if (hints.limit !== undefined && hints.limit > 0) p.limit = hints.limit
  if (hints.deadline !== undefined) p.timeout = Math.max(0, hints.deadline - Date.now())
  return p
}

function united(lists: unknown[], method: string, limit: number | undefined): string[] {
  const all = new Set<string>()
  for (const list of lists) {
    if (!Array.isArray(list)) throw badAnswer(method, 'expected an array of strings')
    for (const s of list as unknown[]) {
      if (typeof s !== 'string') throw badAnswer(method, 'expected an array of strings')
      all.add(s)
    }
  }
  const out = [...all].sort()
  return limit !== undefined && limit > 0 && out.length > limit ? out.slice(0, limit) : out
}

/**
 * mergeSeriesSets merges sets (each sorted by labels) into one sorted by labels: the same labels in
 * several sets are one series, their samples merged by time, the first set's sample winning a
 * timestamp several hold. Warnings are united. A single non-empty set comes back as it is.
 */
export function mergeSeriesSets(sets: readonly SeriesSet[]): SeriesSet {
  const warnings = [...new Set(sets.flatMap((s) => s.warnings))]
  const live = sets.filter((s) => s.labels.length > 0)
  if (live.length === 0) {
    const empty = new Float64Array(0)
    return { labels: [], offsets: Uint32Array.of(0), ts: empty, vs: empty, warnings }
  }
  if (live.length === 1) return { ...live[0], warnings }
  let total = 0
  for (const s of live) total += s.ts.length
  const ts = new Float64Array(total)
  const vs = new Float64Array(total)
  const labels: Labels[] = []
  const offsets: number[] = [0]
  const next = live.map(() => 0)
  // Per set, the sample position of the series being merged.
  const at = live.map(() => 0)
  const end = live.map(() => 0)
  const holding: number[] = []
  let n = 0
  for (;;) {
    let min: Labels | undefined
    for (let k = 0; k < live.length; k++) {
      if (next[k] >= live[k].labels.length) continue
      const l = live[k].labels[next[k]]
      if (min === undefined || compareLabels(l, min) < 0) min = l
    }
    if (min === undefined) break
    holding.length = 0
    for (let k = 0; k < live.length; k++) {
      const i = next[k]
      if (i >= live[k].labels.length || compareLabels(live[k].labels[i], min) !== 0) continue
      holding.push(k)
      at[k] = live[k].offsets[i]
      end[k] = live[k].offsets[i + 1]
      next[k]++
    }
    // In time order over the sets holding the series; a timestamp once, the first set's.
    for (;;) {
      let pick = -1
      let t = Infinity
      for (const k of holding) {
        if (at[k] < end[k] && live[k].ts[at[k]] < t) {
          t = live[k].ts[at[k]]
          pick = k
        }
      }
      if (pick < 0) break
      ts[n] = t
      vs[n] = live[pick].vs[at[pick]]
      n++
      for (const k of holding) if (at[k] < end[k] && live[k].ts[at[k]] === t) at[k]++
    }
    labels.push(min)
    offsets.push(n)
  }
  return {
    labels,
    offsets: Uint32Array.from(offsets),
    ts: ts.subarray(0, n),
    vs: vs.subarray(0, n),
    warnings,
  }
}
