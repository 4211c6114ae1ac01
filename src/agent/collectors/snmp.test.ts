import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { counter, readText } from '../collector.js'
import { snmpInt, udpSamples } from './snmp.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES
const snmp = (set: string) => readText(join(FIX, set, 'proc'), 'net', 'snmp')
const udp = (pairs: [string, number][]) => pairs.map(([k, v]) => counter(`snmp.Udp.${k}`, v))

describe('udpSamples', () => {
  it('CentOS 6 (2.6.32): the six fields of the time', () => {
    assert.deepEqual(
      udpSamples(snmp('net-centos6')),
      udp([
        ['InDatagrams', 70123],
        ['NoPorts', 512],
        ['InErrors', 3],
        ['OutDatagrams', 70456],
        ['RcvbufErrors', 2],
        ['SndbufErrors', 1],
      ])
    )
  })

  it('CentOS 7 (3.10): InCsumErrors too, and counters past 2^32', () => {
    assert.deepEqual(
      udpSamples(snmp('net-centos7')),
      udp([
        ['InDatagrams', 4294967296123],
        ['NoPorts', 4321],
        ['InErrors', 17],
        ['OutDatagrams', 4294967296456],
        ['RcvbufErrors', 15],
        ['SndbufErrors', 0],
        ['InCsumErrors', 2],
      ])
    )
  })

  it('this machine (6.x, copied): nine fields; UdpLite is not Udp', () => {
    assert.deepEqual(
      udpSamples(snmp('net-local')),
      udp([
        ['InDatagrams', 85],
        ['NoPorts', 0],
        ['InErrors', 0],
        ['OutDatagrams', 86],
        ['RcvbufErrors', 0],
        ['SndbufErrors', 0],
        ['InCsumErrors', 0],
        ['IgnoredMulti', 0],
        ['MemErrors', 0],
      ])
    )
  })

  it('nothing without the file (a container) or with a bad value', () => {
    assert.equal(snmp('net-container'), undefined)
    assert.deepEqual(udpSamples(undefined), [])
    assert.deepEqual(udpSamples('Udp: InDatagrams NoPorts\nUdp: 1 x\n'), [])
  })
})

describe('snmpInt', () => {
  it('reads one field, 0 when anything is missing (as ss’s get_snmp_int)', () => {
    assert.equal(snmpInt(snmp('net-centos6'), 'Tcp', 'CurrEstab'), 37)
    assert.equal(snmpInt(snmp('net-centos7'), 'Tcp', 'CurrEstab'), 95)
    assert.equal(snmpInt(snmp('net-centos7'), 'Tcp', 'MaxConn'), -1)
    assert.equal(snmpInt(snmp('net-centos7'), 'Tcp', 'Nope'), 0)
    assert.equal(snmpInt(snmp('net-centos7'), 'Nope', 'CurrEstab'), 0)
    assert.equal(snmpInt(undefined, 'Tcp', 'CurrEstab'), 0)
  })
})
