import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { crc32 } from 'node:zlib'
import { HashRing } from './hash-ring.js'

describe('HashRing', () => {
  it('places keys exactly as falcon-plus v0.3 (toolkits/consistent, 500 replicas) does', () => {
    // Golden values printed by falcon's own vendored ring package, built from the v0.3 tag.
    const graph = new HashRing(['graph-02', 'graph-00', 'graph-01'])
    const f = (key: string, node: string) => assert.equal(graph.get(key), node, key)
    f('host1/cpu.idle', 'graph-02')
    f('host1/net.if.in.bytes/iface=eth0', 'graph-01')
    f('host2/cpu.idle', 'graph-00')
    f('docker-a/df.bytes.free/fstype=ext4,mount=/', 'graph-02')
    f('a', 'graph-02')
    f('', 'graph-02')
    f('endpoint-0001/load.1min', 'graph-01')
    f('h/m/k=v', 'graph-02')
    f('192.168.1.1/mem.memfree.percent', 'graph-01')
    f('web-03/disk.io.util/device=sda', 'graph-02')
    const judge = new HashRing(['judge-00', 'judge-01'])
    const g = (key: string, node: string) => assert.equal(judge.get(key), node, key)
    g('host1/cpu.idle', 'judge-00')
    g('host1/net.if.in.bytes/iface=eth0', 'judge-00')
    g('host2/cpu.idle', 'judge-00')
    g('docker-a/df.bytes.free/fstype=ext4,mount=/', 'judge-01')
    g('a', 'judge-01')
  })

  it('spreads series as falcon does', () => {
    const ring = new HashRing(['graph-00', 'graph-01', 'graph-02'])
    const counts: Record<string, number> = {}
    for (let i = 0; i < 10000; i++) {
      const node = ring.get(`host-${String(i).padStart(4, '0')}/cpu.idle`)
      counts[node] = (counts[node] ?? 0) + 1
    }
    assert.deepEqual(counts, { 'graph-00': 2929, 'graph-01': 3384, 'graph-02': 3687 })
  })

  it('places n replicas on n distinct nodes, the owner first and the next clockwise after it', () => {
    const nodes = ['graph-00', 'graph-01', 'graph-02', 'graph-03']
    const ring = new HashRing(nodes)
    const seconds: Record<string, number> = {}
    for (let i = 0; i < 5000; i++) {
      const key = `host-${i}/cpu.idle/k=${i % 7}`
      assert.deepEqual(ring.getN(key, 1), [ring.get(key)])
      const two = ring.getN(key, 2)
      const three = ring.getN(key, 3)
      assert.equal(two[0], ring.get(key))
      assert.notEqual(two[1], two[0])
      // Growing the factor keeps the replicas already chosen: a series' copies do not move.
      assert.deepEqual(three.slice(0, 2), two)
      assert.equal(new Set(three).size, 3)
      assert.deepEqual([...ring.getN(key, 4)].sort(), nodes)
      seconds[two[1]] = (seconds[two[1]] ?? 0) + 1
    }
    // The second copies spread over every node, not onto one neighbour.
    assert.deepEqual(Object.keys(seconds).sort(), nodes)
    for (const n of nodes) assert.ok(seconds[n] > 800, `${n}: ${seconds[n]}`)
  })

  it('agrees with a plain walk over the ring points', () => {
    // The reference: every point as [hash, node] (a later node wins a collision), sorted, walked.
    const names = ['graph-02', 'graph-00', 'graph-01']
    const owner = new Map<number, string>()
    for (const name of [...names].sort())
      for (let i = 0; i < 500; i++) owner.set(crc32(String(i) + name), name)
    const points = [...owner].sort((a, b) => a[0] - b[0])
    const walk = (key: string, n: number) => {
      const h = crc32(key)
      let i = points.findIndex(([p]) => p > h)
      if (i < 0) i = 0
      const out: string[] = []
      for (; out.length < n; i = (i + 1) % points.length)
        if (!out.includes(points[i][1])) out.push(points[i][1])
      return out
    }
    const ring = new HashRing(names)
    for (let k = 0; k < 2000; k++) {
      const key = `h${k}/m/k=${k}`
      for (const n of [1, 2, 3]) assert.deepEqual(ring.getN(key, n), walk(key, n), key)
    }
    assert.throws(() => ring.getN('x', 4), /BUG/)
    assert.throws(() => ring.getN('x', 0), /BUG/)
  })

  it('keeps a replica of every series in its set when one node joins or leaves', () => {
    // What docs/graph-cluster.md promises: with 2 replicas, one node added or removed leaves every
    // series at least one node of its old set, so its history stays readable.
    const four = new HashRing(['graph-00', 'graph-01', 'graph-02', 'graph-03'])
    const three = new HashRing(['graph-00', 'graph-01', 'graph-02'])
    for (let i = 0; i < 5000; i++) {
      const key = `host-${i}/cpu.idle`
      const before = three.getN(key, 2)
      const after = four.getN(key, 2)
      assert.ok(
        before.some((n) => after.includes(n)),
        `${key}: ${before.join()} → ${after.join()}`
      )
      // graph-03 leaving: the nodes that held the series beside it still do.
      for (const n of after) if (n !== 'graph-03') assert.ok(before.includes(n), key)
    }
  })

  it('sends everything to a single node', () => {
    assert.equal(new HashRing(['only']).get('x/y'), 'only')
  })
})
