import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { counter, readText } from '../collector.js'
import {
  TCP_EXT_KEYS,
  parseDecimal,
  parseTitledRow,
  splitFields,
  tcpExtSamples,
} from './netstat.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES
const netstat = (set: string) => readText(join(FIX, set, 'proc'), 'net', 'netstat')
const tcpExt = (pairs: [string, number][]) => pairs.map(([k, v]) => counter(`TcpExt.${k}`, v))

describe('parseDecimal', () => {
  it('parses like Go strconv.ParseInt / ParseUint', () => {
    const f = (s: string, signed: boolean, want: number | undefined) =>
      assert.equal(parseDecimal(s, signed), want, `${JSON.stringify(s)} signed=${signed}`)
    f('0', false, 0)
    f('1234567890123', false, 1234567890123)
    f('-1', true, -1)
    f('+7', true, 7)
    f('-1', false, undefined)
    f('+7', false, undefined)
    f('', true, undefined)
    f('-', true, undefined)
    f('12a', true, undefined)
    f(' 12', true, undefined)
    f('0x10', true, undefined)
    f('1e3', true, undefined)
  })
})

describe('splitFields', () => {
  it('splits on runs of spaces and tabs', () => {
    assert.deepEqual(splitFields('  a \t b  c\n'), ['a', 'b', 'c'])
    assert.deepEqual(splitFields(''), [])
    assert.deepEqual(splitFields('   '), [])
  })
})

describe('parseTitledRow', () => {
  it('pairs the keys with the next line, for the exact title only', () => {
    const text = 'MPTcpExt: A B\nMPTcpExt: 9 9\nTcpExt: A B C\nTcpExt: 1 2 3\nIpExt: X\nIpExt: 4\n'
    assert.deepEqual(parseTitledRow(text, 'TcpExt', false), {
      keys: ['A', 'B', 'C'],
      values: [1, 2, 3],
    })
    assert.deepEqual(parseTitledRow(text, 'IpExt', false), { keys: ['X'], values: [4] })
    assert.equal(parseTitledRow(text, 'Tcp', false), undefined)
  })

  it('gives up (falcon reports nothing) on a missing, short or bad values line', () => {
    assert.equal(parseTitledRow('TcpExt: A B', 'TcpExt', false), undefined)
    assert.equal(parseTitledRow('TcpExt: A B\nTcpExt: 1\n', 'TcpExt', false), undefined)
    assert.equal(parseTitledRow('TcpExt: A B\nTcpExt: 1 -2\n', 'TcpExt', false), undefined)
    assert.deepEqual(parseTitledRow('Tcp: A B\nTcp: 1 -2\n', 'Tcp', true), {
      keys: ['A', 'B'],
      values: [1, -2],
    })
    // Extra values (a newer header cut short) are ignored, as nux does.
    assert.deepEqual(parseTitledRow('Udp: A\nUdp: 1 2\n', 'Udp', true), {
      keys: ['A'],
      values: [1],
    })
  })
})

describe('tcpExtSamples', () => {
  it('keeps falcon’s 23 keys', () => {
    assert.equal(TCP_EXT_KEYS.size, 23)
  })

  it('CentOS 6 (2.6.32): 21 of them, TCPBacklogDrop and TCPMinTTLDrop not yet there', () => {
    // The fixture's values are 1000 + the field's position in the line.
    assert.deepEqual(
      tcpExtSamples(netstat('net-centos6')),
      tcpExt([
        ['PruneCalled', 1004],
        ['LockDroppedIcmps', 1008],
        ['ArpFilter', 1009],
        ['TW', 1010],
        ['DelayedACKLocked', 1017],
        ['ListenOverflows', 1019],
        ['ListenDrops', 1020],
        ['TCPPrequeueDropped', 1024],
        ['TCPTSReorder', 1035],
        ['TCPDSACKUndo', 1038],
        ['TCPLoss', 1040],
        ['TCPLostRetransmit', 1041],
        ['TCPLossFailures', 1044],
        ['TCPFastRetrans', 1045],
        ['TCPTimeouts', 1048],
        ['TCPSchedulerFailed', 1051],
        ['TCPAbortOnMemory', 1060],
        ['TCPAbortOnTimeout', 1061],
        ['TCPAbortFailed', 1063],
        ['TCPMemoryPressures', 1064],
        ['TCPSpuriousRTOs', 1068],
      ])
    )
  })

  it('CentOS 7 (3.10): 22 of them, no TCPLoss', () => {
    // The fixture's values are 2000 + the field's position in the line.
    assert.deepEqual(
      tcpExtSamples(netstat('net-centos7')),
      tcpExt([
        ['PruneCalled', 2004],
        ['LockDroppedIcmps', 2008],
        ['ArpFilter', 2009],
        ['TW', 2010],
        ['DelayedACKLocked', 2017],
        ['ListenOverflows', 2019],
        ['ListenDrops', 2020],
        ['TCPPrequeueDropped', 2024],
        ['TCPTSReorder', 2035],
        ['TCPDSACKUndo', 2038],
        ['TCPLostRetransmit', 2040],
        ['TCPLossFailures', 2043],
        ['TCPFastRetrans', 2044],
        ['TCPTimeouts', 2047],
        ['TCPSchedulerFailed', 2052],
        ['TCPAbortOnMemory', 2060],
        ['TCPAbortOnTimeout', 2061],
        ['TCPAbortFailed', 2063],
        ['TCPMemoryPressures', 2064],
        ['TCPSpuriousRTOs', 2068],
        ['TCPBacklogDrop', 2074],
        ['TCPMinTTLDrop', 2075],
      ])
    )
  })

  it('this machine (6.x, copied): 20 of them; MPTcpExt is not TcpExt', () => {
    assert.deepEqual(
      tcpExtSamples(netstat('net-local')),
      tcpExt([
        ['PruneCalled', 0],
        ['LockDroppedIcmps', 0],
        ['ArpFilter', 0],
        ['TW', 2494],
        ['DelayedACKLocked', 1],
        ['ListenOverflows', 0],
        ['ListenDrops', 0],
        ['TCPTSReorder', 0],
        ['TCPDSACKUndo', 0],
        ['TCPLostRetransmit', 0],
        ['TCPLossFailures', 0],
        ['TCPFastRetrans', 0],
        ['TCPTimeouts', 2],
        ['TCPAbortOnMemory', 0],
        ['TCPAbortOnTimeout', 0],
        ['TCPAbortFailed', 0],
        ['TCPMemoryPressures', 0],
        ['TCPSpuriousRTOs', 0],
        ['TCPBacklogDrop', 0],
        ['TCPMinTTLDrop', 0],
      ])
    )
  })

  it('nothing without the file (a container)', () => {
    assert.equal(netstat('net-container'), undefined)
    assert.deepEqual(tcpExtSamples(undefined), [])
    assert.deepEqual(tcpExtSamples(''), [])
  })
})
