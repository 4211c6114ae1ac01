// Open-Falcon's consistent hashing (toolkits/consistent): which graph or judge node owns a series.
import { crc32 } from 'node:zlib'

/** DEFAULT_REPLICAS is falcon's `replicas` for the graph and judge clusters. */
export const DEFAULT_REPLICAS = 500

/**
 * HashRing places `replicas` points per node at crc32(String(i) + name), nodes added in sorted order, a
 * later node overwriting an earlier one on a collision; a key belongs to the first point strictly above
 * crc32(key), wrapping to the first. Exactly falcon's ring, so a Peregrine transfer and a falcon api (or
 * the reverse) agree on where each series lives. Keys are falcon's PK, `endpoint/metric[/sorted tags]`.
 */
export class HashRing {
  readonly nodes: readonly string[]
  readonly #points: Uint32Array
  readonly #owners: string[]

  constructor(nodes: readonly string[], replicas = DEFAULT_REPLICAS) {
    if (nodes.length === 0) throw new Error('BUG: a hash ring needs at least one node')
    this.nodes = [...new Set(nodes)].sort()
    const owner = new Map<number, string>()
    for (const node of this.nodes) {
      for (let i = 0; i < replicas; i++) owner.set(crc32(String(i) + node), node)
    }
    this.#points = Uint32Array.from(owner.keys()).sort()
    this.#owners = Array.from(this.#points, (p) => owner.get(p) ?? '')
  }

  /** get returns the node that owns `key`. */
  get(key: string): string {
    return this.#owners[this.#at(key)]
  }

  /**
   * getN returns the `n` distinct nodes that hold `key` when every series is kept `n` times: the
   * owner (`get(key)`) first, then the owners of the points after it, clockwise, skipping nodes
   * already taken, as Dynamo and Cassandra place replicas. `n` is at most `nodes.length`;
   * `getN(key, 1)` is `[get(key)]`. The answer is a new array the caller may keep.
   */
  getN(key: string, n: number): string[] {
    if (!Number.isInteger(n) || n < 1 || n > this.nodes.length)
      throw new Error(`BUG: ${n} replicas asked of a ring of ${this.nodes.length} nodes`)
    const owners = this.#owners
    let i = this.#at(key)
    const out = [owners[i]]
    // Each node has many points, so the next distinct node is usually a step or two away.
    while (out.length < n) {
      i = i + 1 === owners.length ? 0 : i + 1
      if (!out.includes(owners[i])) out.push(owners[i])
    }
    return out
  }

  // The index of the first point strictly above crc32(key), wrapping to 0.
  #at(key: string): number {
    const h = crc32(key)
    const points = this.#points
    let lo = 0
    let hi = points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid] > h) hi = mid
      else lo = mid + 1
    }
    return lo === points.length ? 0 : lo
  }
}
