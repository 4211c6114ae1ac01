// A reader's view of the graph cluster: which node holds a series (falcon's ring), and clients per node.
// api, nodata and aggregator read through it.
import {
  type Deps,
  HashRing,
  isPeregrineError,
  JsonRpcClient,
  type RpcCaller,
  seriesKeyOfCounter,
} from '../core/index.js'

/**
 * GraphCluster sends a series' calls to the node the ring picks and fans index calls out to every node.
 * A node given as `a,b` holds the same series at both addresses (transfer writes to each): a call goes
 * to the first, and to the next when one does not answer.
 *
 * With `replication` R above 1 (transfer's `replication`: each series on R distinct nodes, the ring's
 * owner and the next ones clockwise), a series' call goes to all R nodes at once and their answers are
 * merged, so a node that missed points while it was down (or lost them past transfer's buffer) does
 * not hide them: Graph.Query's points filled from each other, Graph.Last's newest, Graph.LastMany's
 * newest point. It fails only when none answers. A fan-out call (`callAll`) is answered by the nodes
 * that answer as long as fewer than R do not: every series then has a replica among them. Its callers
 * merge the answers by series (labels, names, keys), so a series two nodes hold counts once.
 */
export class GraphCluster {
  readonly #ring: HashRing
  readonly #nodes = new Map<string, { address: string; client: RpcCaller }[]>()
  readonly #replication: number

  constructor(
    cluster: Record<string, string>,
    replicas: number,
    callTimeout: number,
    dial?: Deps['dial'],
    replication = 1
  ) {
    const connect =
      dial ?? ((address: string, o: { callTimeout: number }) => new JsonRpcClient(address, o))
    this.#ring = new HashRing(Object.keys(cluster), replicas)
    if (!Number.isInteger(replication) || replication < 1 || replication > this.#ring.nodes.length)
      throw new Error(
        `BUG: replication ${replication} over ${this.#ring.nodes.length} graph nodes (config parsing checks it)`
      )
    this.#replication = replication
    for (const [node, addrs] of Object.entries(cluster)) {
      const list = addrs
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== '')
        .map((address) => ({ address, client: connect(address, { callTimeout }) }))
      this.#nodes.set(node, list)
    }
  }

  /**
   * callSeries sends one call about the series `endpoint` + `counter` to the node that holds it: the
   * ring is asked with core's series key, tags sorted, as transfer asked it when it wrote the series.
   */
  callSeries<T>(endpoint: string, counter: string, method: string, param: unknown): Promise<T> {
    const key = seriesKeyOfCounter(endpoint, counter)
    if (this.#replication === 1) return this.#callNode<T>(this.#ring.get(key), method, param)
    return this.#callReplicas<T>(this.#ring.getN(key, this.#replication), method, param)
  }

  /** replication is on how many nodes each series is kept (1: falcon's one node). */
  get replication(): number {
    return this.#replication
  }

  // Every replica asked at once; the answers merged by `method`, the ring's order breaking ties.
  async #callReplicas<T>(nodes: readonly string[], method: string, param: unknown): Promise<T> {
    const settled = await Promise.allSettled(
      nodes.map((node) => this.#callNode<T>(node, method, param))
    )
    const answers: T[] = []
    let request: Error | undefined
    const failures: string[] = []
    for (const r of settled) {
      if (r.status === 'fulfilled') answers.push(r.value)
      else if (r.reason instanceof GraphUnavailable) failures.push((r.reason as Error).message)
      else request ??= r.reason as Error
    }
    if (answers.length === 0) {
      if (request !== undefined) throw request
      throw new GraphUnavailable(`no replica answered: ${failures.join('; ')}`)
    }
    return mergeReplicaAnswers(method, answers) as T
  }

  /**
   * lastMany asks each node, once per `batch` series, for the last point and arrival of the series it
   * holds (Graph.LastMany). `points[i]` answers `items[i]`: null when no node has had a point of it,
   * undefined when its node did not answer (named in `failures`), so a caller never takes a node it
   * could not reach for a silent series.
   */
  async lastMany(
    items: readonly SeriesId[],
    batch = LAST_MANY_BATCH
  ): Promise<{ points: (LastPoint | null | undefined)[]; failures: string[] }> {
    const byNode = new Map<string, number[]>()
    const r = this.#replication
    for (let i = 0; i < items.length; i++) {
      const key = seriesKeyOfCounter(items[i].endpoint, items[i].counter)
      for (const node of r === 1 ? [this.#ring.get(key)] : this.#ring.getN(key, r)) {
        let list = byNode.get(node)
        if (list === undefined) byNode.set(node, (list = []))
        list.push(i)
      }
    }
    const points: (LastPoint | null | undefined)[] = new Array<undefined>(items.length)
    const failures: string[] = []
    const calls: Promise<void>[] = []
    for (const [node, positions] of byNode) {
      for (let from = 0; from < positions.length; from += batch) {
        const part = positions.slice(from, from + batch)
        calls.push(
          this.#callNode<{ points: (Omit<LastPoint, 'age'> | null)[]; now: number }>(
            node,
            'Graph.LastMany',
            {
              items: part.map((i) => ({ endpoint: items[i].endpoint, counter: items[i].counter })),
            }
          ).then(
            (answer) => {
              for (let k = 0; k < part.length; k++) {
                const p = answer.points[k] ?? null
                const was = points[part[k]]
                const mine = p === null ? null : { ...p, age: answer.now - p.arrivedAt }
                // Of two replicas' answers, the newer point; of two with the same, the first
                // arrival (a point delivered late to a returning replica did not arrive then).
                // (A node that answered "no point" says null, never "did not answer".)
                if (was === undefined || was === null) points[part[k]] = mine
                else if (
                  mine !== null &&
                  (mine.timestamp > was.timestamp ||
                    (mine.timestamp === was.timestamp && mine.age > was.age))
                )
                  points[part[k]] = mine
              }
            },
            (err: unknown) => {
              failures.push((err as Error).message)
            }
          )
        )
      }
    }
    await Promise.all(calls)
    // A node that did not answer matters only when no replica of a series did.
    if (r > 1 && !points.includes(undefined)) return { points, failures: [] }
    return { points, failures: [...new Set(failures)] }
  }

  /** size is how many nodes the cluster has. */
  get size(): number {
    return this.#nodes.size
  }

  /**
   * callAll sends the same call to every node and returns their answers. With replication R, the
   * answers of those that answered when fewer than R did not (each series has a replica among them);
   * else it fails with GraphUnavailable naming them, as it does for any node at R = 1.
   */
  async callAll<T>(method: string, param: unknown): Promise<T[]> {
    const calls = [...this.#nodes.keys()].map((node) => this.#callNode<T>(node, method, param))
    if (this.#replication === 1) return Promise.all(calls)
    const settled = await Promise.allSettled(calls)
    const answers: T[] = []
    const down: string[] = []
    for (const r of settled) {
      if (r.status === 'fulfilled') answers.push(r.value)
      else if (r.reason instanceof GraphUnavailable) down.push((r.reason as Error).message)
      else throw r.reason
    }
    if (down.length >= this.#replication) {
      throw new GraphUnavailable(
        `${down.length} graph nodes do not answer, and each series is on ${this.#replication}: ${down.join('; ')}`
      )
    }
    return answers
  }

  close(): void {
    for (const list of this.#nodes.values()) for (const c of list) c.client.close()
  }

  async #callNode<T>(node: string, method: string, param: unknown): Promise<T> {
    const failures: string[] = []
    for (const { address, client } of this.#nodes.get(node) ?? []) {
      try {
        return await client.call<T>(method, param)
      } catch (err) {
        // An error the node answered with is about the request; anything else means it did not answer.
        if ((err as Error).name === 'RpcError') {
          throw Object.assign(new Error((err as Error).message), { statusCode: 400 })
        }
        // The remote store behind the node said what went wrong, with its code and status.
        if (isPeregrineError(err)) throw err
        failures.push(`${address}: ${(err as Error).message}`)
      }
    }
    throw new GraphUnavailable(`graph node ${node} (${failures.join('; ')})`)
  }
}

/** SeriesId names a falcon series: its endpoint and counter (`metric/k=v,...`). */
export interface SeriesId {
  endpoint: string
  counter: string
}

/**
 * LastPoint is a node's answer about one series in Graph.LastMany: Graph.Last's point (seconds; a
 * COUNTER's as a rate, null when not known) and the point that arrived last, with when it arrived on
 * that node (ms, the node's clock).
 */
export interface LastPoint {
  timestamp: number
  value: number | null
  arrivedAt: number
  arrivedTimestamp: number
  arrivedValue: number | null
  /** age: ms from that arrival to the node's answer, by the node's clock (no clock skew between us). */
  age: number
}

/** LAST_MANY_BATCH: series per Graph.LastMany call (the node's limit is 10,000). */
export const LAST_MANY_BATCH = 5_000

/** GraphUnavailable is a graph node that did not answer; the api turns it into a 502. */
export class GraphUnavailable extends Error {
  override readonly name = 'GraphUnavailable'
}

/** QueryAnswer is the part of a Graph.Query answer merged across replicas. */
interface QueryAnswer {
  step: number
  Values: { timestamp: number; value: number | null }[]
  points?: number
}

/** LastAnswer is the part of a Graph.Last answer compared across replicas. */
interface LastAnswer {
  value?: { timestamp: number; value: number | null } | null
}

/**
 * mergeReplicaAnswers makes one answer of several replicas' answers to the same call, `answers` in
 * the ring's order. Graph.Query: the first that knows the series (step not 0), each of its empty
 * points filled from the others at the same timestamp and step; when one says it has more points than
 * asked (`points`), the most any says. Graph.Last and Graph.LastRaw: the newest point, a value before
 * none. Any other method: the first answer.
 */
export function mergeReplicaAnswers(method: string, answers: readonly unknown[]): unknown {
  if (answers.length === 1) return answers[0]
  if (method === 'Graph.Query') {
    const qs = answers as QueryAnswer[]
    let over: number | undefined
    for (const q of qs) if (q.points !== undefined) over = Math.max(over ?? 0, q.points)
    const base = qs.find((q) => q.step !== 0 && Array.isArray(q.Values))
    if (base === undefined) return qs[0]
    if (over !== undefined) return { ...base, Values: [], points: over }
    let values = base.Values
    for (const q of qs) {
      if (q === base || q.step !== base.step || !Array.isArray(q.Values)) continue
      const at = new Map<number, number>()
      for (const v of q.Values) if (v.value !== null) at.set(v.timestamp, v.value)
      if (at.size === 0) continue
      values = values.map((v) =>
        v.value === null && at.has(v.timestamp)
          ? { timestamp: v.timestamp, value: at.get(v.timestamp) as number }
          : v
      )
    }
    return values === base.Values ? base : { ...base, Values: values }
  }
  if (method === 'Graph.Last' || method === 'Graph.LastRaw') {
    let best = answers[0] as LastAnswer
    for (const a of answers as LastAnswer[]) {
      const p = a.value
      const b = best.value
      if (p === null || p === undefined || p.value === null) continue
      if (b === null || b === undefined || b.value === null || p.timestamp > b.timestamp) best = a
    }
    return best
  }
  return answers[0]
}
