// A reader's view of the graph cluster: which node holds a series (falcon's ring), and clients per node.
// api, nodata and aggregator read through it.
import {
  type Deps,
  HashRing,
  JsonRpcClient,
  type RpcCaller,
  seriesKeyOfCounter,
} from '../core/index.js'

/**
 * GraphCluster sends a series' calls to the node the ring picks and fans index calls out to every node.
 * A node given as `a,b` holds the same series at both addresses (transfer writes to each): a call goes
 * to the first, and to the next when one does not answer.
 */
export class GraphCluster {
  readonly #ring: HashRing
  readonly #nodes = new Map<string, { address: string; client: RpcCaller }[]>()

  constructor(
    cluster: Record<string, string>,
    replicas: number,
    callTimeout: number,
    dial?: Deps['dial']
  ) {
    const connect =
      dial ?? ((address: string, o: { callTimeout: number }) => new JsonRpcClient(address, o))
    this.#ring = new HashRing(Object.keys(cluster), replicas)
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
    return this.#callNode<T>(this.#ring.get(seriesKeyOfCounter(endpoint, counter)), method, param)
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
    for (let i = 0; i < items.length; i++) {
      const node = this.#ring.get(seriesKeyOfCounter(items[i].endpoint, items[i].counter))
      let list = byNode.get(node)
      if (list === undefined) byNode.set(node, (list = []))
      list.push(i)
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
                points[part[k]] = p === null ? null : { ...p, age: answer.now - p.arrivedAt }
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
    return { points, failures: [...new Set(failures)] }
  }

  /** size is how many nodes the cluster has. */
  get size(): number {
    return this.#nodes.size
  }

  /** callAll sends the same call to every node and returns their answers. */
  callAll<T>(method: string, param: unknown): Promise<T[]> {
    return Promise.all(
      [...this.#nodes.keys()].map((node) => this.#callNode<T>(node, method, param))
    )
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
