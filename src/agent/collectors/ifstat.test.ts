import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { type Sample, counter, gauge, readText } from '../collector.js'
import { METRICS_PER_IFACE, netIfSamples, parseNetDev, parseSpeedMbps } from './ifstat.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES

// falcon's funcs/ifstat.go order; speed.bits is the one GAUGE.
const NAMES = [
  'net.if.in.bytes',
  'net.if.in.packets',
  'net.if.in.errors',
  'net.if.in.dropped',
  'net.if.in.fifo.errs',
  'net.if.in.frame.errs',
  'net.if.in.compressed',
  'net.if.in.multicast',
  'net.if.out.bytes',
  'net.if.out.packets',
  'net.if.out.errors',
  'net.if.out.dropped',
  'net.if.out.fifo.errs',
  'net.if.out.collisions',
  'net.if.out.carrier.errs',
  'net.if.out.compressed',
  'net.if.total.bytes',
  'net.if.total.packets',
  'net.if.total.errors',
  'net.if.total.dropped',
  'net.if.speed.bits',
  'net.if.in.percent',
  'net.if.out.percent',
  'net.if.in.bits',
  'net.if.out.bits',
  'net.if.total.bits',
]
const iface = (name: string, v: number[]): Sample[] => {
  assert.equal(v.length, NAMES.length)
  return NAMES.map((n, i) =>
    n === 'net.if.speed.bits' ? gauge(n, v[i], `iface=${name}`) : counter(n, v[i], `iface=${name}`)
  )
}
const zeros = (name: string) => iface(name, new Array<number>(26).fill(0))

function collect(set: string, prefixes: string[]): Sample[] {
  const dev = readText(join(FIX, set, 'proc'), 'net', 'dev')
  assert.ok(dev !== undefined)
  const sys = join(FIX, set, 'sys')
  return netIfSamples(parseNetDev(dev, prefixes), (i) =>
    parseSpeedMbps(readText(sys, 'class', 'net', i, 'speed'))
  )
}

// prettier-ignore
const CENTOS6_ETH0 = [
  123456789012, 98765432, 3, 17, 1, 2, 0, 4021,
  98765432109, 87654321, 1, 5, 0, 7, 2, 0,
  222222221121, 186419753, 4, 22,
  1_000_000_000, 98765.4312096, 79012.3456872,
  987654312096, 790123456872, 1777777768968,
]
// prettier-ignore
const CENTOS6_EM1 = [
  1500000000, 1200000, 0, 0, 0, 0, 0, 12,
  2500000000, 1100000, 0, 0, 0, 0, 0, 0,
  4000000000, 2300000, 0, 0,
  10_000_000_000, 120, 200,
  12000000000, 20000000000, 32000000000,
]

describe('parseNetDev', () => {
  it('reads 2.6.32 lines with no space after the colon', () => {
    const rows = parseNetDev(readText(join(FIX, 'net-centos6', 'proc'), 'net', 'dev') ?? '', [])
    assert.deepEqual(
      rows.map((r) => r.iface),
      ['lo', 'eth0', 'em1', 'bond0']
    )
    assert.deepEqual(rows[1].values, CENTOS6_ETH0.slice(0, 16))
  })

  it('keeps the interfaces with one of the prefixes, all when there is none', () => {
    const text = readText(join(FIX, 'net-centos7', 'proc'), 'net', 'dev') ?? ''
    const names = (p: string[]) => parseNetDev(text, p).map((r) => r.iface)
    assert.deepEqual(names([]), ['em2', 'lo', 'em1', 'docker0', 'vethd1e2f3a'])
    assert.deepEqual(names(['eth', 'em']), ['em2', 'em1'])
    assert.deepEqual(names(['veth', 'lo']), ['lo', 'vethd1e2f3a'])
    assert.deepEqual(names(['eth']), [])
  })

  it('skips a line without exactly 16 numbers and reads a bad number as 0', () => {
    const text =
      'Inter-|   Receive\n face |bytes\n' +
      '  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n' +
      '  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n' +
      '  eth2: x 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -16'
    assert.deepEqual(parseNetDev(text, []), [
      { iface: 'eth2', values: [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -16] },
    ])
    assert.deepEqual(parseNetDev('', []), [])
  })
})

describe('parseSpeedMbps', () => {
  it('reads Mb/s, -1 as -1, and a failed read or junk as 0', () => {
    assert.equal(parseSpeedMbps('1000\n'), 1000)
    assert.equal(parseSpeedMbps('-1\n'), -1)
    assert.equal(parseSpeedMbps(undefined), 0)
    assert.equal(parseSpeedMbps('fast\n'), 0)
    assert.equal(parseSpeedMbps(''), 0)
  })
})

describe('netIfSamples', () => {
  it('CentOS 6 (2.6.32): every metric of every interface', () => {
    assert.deepEqual(collect('net-centos6', []), [
      // prettier-ignore
      ...iface('lo', [
        5874512, 41231, 0, 0, 0, 0, 0, 0,
        5874512, 41231, 0, 0, 0, 0, 0, 0,
        11749024, 82462, 0, 0,
        0, 0, 0,
        46996096, 46996096, 93992192,
      ]),
      ...iface('eth0', CENTOS6_ETH0),
      ...iface('em1', CENTOS6_EM1),
      // prettier-ignore
      ...iface('bond0', [
        1, 2, 3, 4, 5, 6, 7, 8,
        9, 10, 11, 12, 13, 14, 15, 16,
        10, 12, 14, 16,
        2_000_000_000, 4e-7, 0.0000036,
        8, 72, 80,
      ]),
    ])
  })

  it('CentOS 6 with ifacePrefix eth, em', () => {
    assert.deepEqual(collect('net-centos6', ['eth', 'em']), [
      ...iface('eth0', CENTOS6_ETH0),
      ...iface('em1', CENTOS6_EM1),
    ])
  })

  it('CentOS 7 (3.10): a -1 speed gives negative speed and percents, as falcon sends', () => {
    assert.deepEqual(collect('net-centos7', []), [
      // em2: up without carrier, speed -1; 0 * 100 / -1e6 is -0 in Go and here.
      // prettier-ignore
      ...iface('em2', [
        0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0,
        -1_000_000, -0, -0,
        0, 0, 0,
      ]),
      // prettier-ignore
      ...iface('lo', [
        9988776655, 7766554, 0, 0, 0, 0, 0, 0,
        9988776655, 7766554, 0, 0, 0, 0, 0, 0,
        19977553310, 15533108, 0, 0,
        0, 0, 0,
        79910213240, 79910213240, 159820426480,
      ]),
      // prettier-ignore
      ...iface('em1', [
        8123456789012, 6123456789, 12, 345, 6, 78, 0, 91011,
        7123456789012, 5123456789, 2, 33, 4, 5, 6, 0,
        15246913578024, 11246913578, 14, 378,
        1_000_000_000, 6498765.4312096, 5698765.4312096,
        64987654312096, 56987654312096, 121975308624192,
      ]),
      // prettier-ignore
      ...iface('docker0', [
        55555, 66, 0, 0, 0, 0, 0, 0,
        77777, 88, 0, 9, 0, 0, 0, 0,
        133332, 154, 0, 9,
        0, 0, 0,
        444440, 622216, 1066656,
      ]),
      // prettier-ignore
      ...iface('vethd1e2f3a', [
        777, 7, 0, 0, 0, 0, 0, 0,
        888, 8, 0, 0, 0, 0, 0, 0,
        1665, 15, 0, 0,
        10_000_000_000, 0.00006216, 0.00007104,
        6216, 7104, 13320,
      ]),
    ])
  })

  it('a container without /sys: speed and percents 0', () => {
    assert.deepEqual(collect('net-container', []), [
      ...zeros('lo'),
      // prettier-ignore
      ...iface('eth0', [
        5566778, 4455, 0, 0, 0, 0, 0, 0,
        3344556, 3344, 0, 0, 0, 0, 0, 0,
        8911334, 7799, 0, 0,
        0, 0, 0,
        44534224, 26756448, 71290672,
      ]),
    ])
  })

  it('this machine (6.x, copied): eth0 is virtio with speed -1', () => {
    const got = collect('net-local', [])
    assert.equal(got.length, 4 * METRICS_PER_IFACE)
    // prettier-ignore
    assert.deepEqual(got, [
      ...iface('lo', [
        43329831643, 2502514, 0, 0, 0, 0, 0, 0,
        43329831643, 2502514, 0, 0, 0, 0, 0, 0,
        86659663286, 5005028, 0, 0,
        0, 0, 0,
        346638653144, 346638653144, 693277306288,
      ]),
      ...zeros('ifb0'),
      ...zeros('ifb1'),
      ...iface('eth0', [
        197625691, 7261, 0, 0, 0, 0, 0, 0,
        820263, 5947, 0, 0, 0, 0, 0, 0,
        198445954, 13208, 0, 0,
        -1_000_000, -158100.5528, -656.2104,
        1581005528, 6562104, 1587567632,
      ]),
    ])
  })
})
