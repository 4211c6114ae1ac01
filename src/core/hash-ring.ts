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
    const h = crc32(key)
    const points = this.#points
    let lo = 0
    let hi = points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid] > h) hi = mid
      else lo = mid + 1
    }
    return this.#owners[lo === points.length ? 0 : lo]
  }
}
