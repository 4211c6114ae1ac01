import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { gauge, readText } from '../collector.js'
import { parseSockstat, ssSamples } from './sockstat.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES
const read = (set: string, name: string) => readText(join(FIX, set, 'proc'), 'net', name)
const fromFixture = (set: string) =>
  ssSamples(read(set, 'sockstat'), read(set, 'sockstat6'), read(set, 'snmp'))
const ss = (estab: number, closed: number, orphaned: number, timewait: number) => [
  gauge('ss.estab', estab),
  gauge('ss.closed', closed),
  gauge('ss.orphaned', orphaned),
  gauge('ss.synrecv', 0),
  gauge('ss.timewait', timewait),
  gauge('ss.slabinfo.timewait', 0),
]

// nux's SocketStatSummary parse of `ss -s`, for the cross-check against the real ss below.
function nuxParse(out: string): Map<string, number> {
  const m = new Map<string, number>()
  const line = out.split('\n').find((l, i) => i > 0 && l.startsWith('TCP'))
  assert.ok(line !== undefined, out)
  const content = line.slice(line.indexOf('(') + 1, line.indexOf(')'))
  for (const part of content.split(', ')) {
    const [k, v] = part.split(/\s+/)
    // ParseUint's error is ignored: a negative number is 0.
    const u = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : 0)
    if (k === 'timewait') {
      const [tw, slab] = v.split('/')
      m.set('timewait', u(tw))
      m.set('slabinfo.timewait', u(slab))
    } else {
      m.set(k, u(v))
    }
  }
  return m
}

function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('parseSockstat', () => {
  it('reads TCP and TCP6 by position, missing ones as 0', () => {
    assert.deepEqual(
      parseSockstat(read('net-centos7', 'sockstat'), read('net-centos7', 'sockstat6')),
      {
        inuse4: 120,
        orphan: 2,
        tw: 4000,
        alloc: 130,
        inuse6: 8,
      }
    )
    assert.deepEqual(parseSockstat('TCP: inuse 3 orphan 1\n', undefined), {
      inuse4: 3,
      orphan: 1,
      tw: 0,
      alloc: 0,
      inuse6: 0,
    })
  })
})

describe('ssSamples', () => {
  it('CentOS 6: closed = alloc - (inuse + inuse6 - tw) = 30 - (25 + 4 - 120)', () => {
    assert.deepEqual(fromFixture('net-centos6'), ss(37, 121, 1, 120))
  })

  it('CentOS 7: closed = 130 - (120 + 8 - 4000)', () => {
    assert.deepEqual(fromFixture('net-centos7'), ss(95, 4002, 2, 4000))
  })

  it('this machine (copied): closed = 14 - (11 + 2 - 6)', () => {
    assert.deepEqual(fromFixture('net-local'), ss(2, 7, 0, 6))
  })

  it('a container without snmp or sockstat6: estab 0, a negative closed (3 - 5) sent as 0', () => {
    assert.deepEqual(fromFixture('net-container'), ss(0, 0, 0, 0))
  })

  it('nothing without sockstat', () => {
    assert.deepEqual(ssSamples(undefined, undefined, read('net-centos7', 'snmp')), [])
  })

  it('matches the real `ss -s` reading each fixture (PROC_ROOT), parsed as nux parses it', (t) => {
    if (!hasSs()) return t.skip('ss (iproute2) is not installed')
    for (const set of ['net-centos6', 'net-centos7', 'net-local', 'net-container']) {
      const out = execFileSync('ss', ['-s'], {
        env: { ...process.env, PROC_ROOT: join(FIX, set, 'proc') },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      const ours = new Map(fromFixture(set).map((s) => [s.metric.slice(3), s.value]))
      for (const [k, v] of nuxParse(out)) assert.equal(ours.get(k), v, `${set} ss.${k}`)
    }
  })
})
