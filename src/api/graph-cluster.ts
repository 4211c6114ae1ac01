// The api's view of the graph cluster: which node holds a series (falcon's ring), and one client per node.
import { type Deps, HashRing, JsonRpcClient, type RpcCaller } from '../core/index.js'

/**
 * GraphCluster sends a series' calls to the node the ring picks (to its first address; a node given as
 * `a,b` has the same series on both) and fans index calls out to every node.
 */
export class GraphCluster {
  readonly #ring: HashRing
  readonly #clients = new Map<string, RpcCaller>()
  readonly #addr = new Map<string, string>()

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
      const addr = addrs.split(',')[0].trim()
      this.#addr.set(node, addr)
      this.#clients.set(node, connect(addr, { callTimeout }))
    }
  }

  /** call sends one call for series `key` (`endpoint/counter`) to the node that owns it. */
  call<T>(key: string, method: string, param: unknown): Promise<T> {
    const node = this.#ring.get(key)
    return this.#wrap(node, (this.#clients.get(node) as RpcCaller).call<T>(method, param))
  }

  /** callAll sends the same call to every node and returns their answers. */
  callAll<T>(method: string, param: unknown): Promise<T[]> {
    return Promise.all(
      [...this.#clients].map(([node, c]) => this.#wrap(node, c.call<T>(method, param)))
    )
  }

  close(): void {
    for (const c of this.#clients.values()) c.close()
  }

  #wrap<T>(node: string, p: Promise<T>): Promise<T> {
    return p.catch((err: Error) => {
      // An error the node answered with is about the request; anything else means it did not answer.
      if (err.name === 'RpcError') throw Object.assign(new Error(err.message), { statusCode: 400 })
      throw new GraphUnavailable(`graph node ${node} (${this.#addr.get(node)}): ${err.message}`)
    })
  }
}

/** GraphUnavailable is a graph node that did not answer; the api turns it into a 502. */
export class GraphUnavailable extends Error {
  override readonly name = 'GraphUnavailable'
}
