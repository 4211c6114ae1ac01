import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
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

  it('sends everything to a single node', () => {
    assert.equal(new HashRing(['only']).get('x/y'), 'only')
  })
})
