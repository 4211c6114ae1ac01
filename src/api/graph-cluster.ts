// The api's view of the graph cluster: which node holds a series (falcon's ring), and clients per node.
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

/** GraphUnavailable is a graph node that did not answer; the api turns it into a 502. */
export class GraphUnavailable extends Error {
  override readonly name = 'GraphUnavailable'
}
