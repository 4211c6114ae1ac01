import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CollectContext, NO_BUILTIN_ITEMS, gauge } from '../collector.js'
import { parseSocketLine, portSamples, readListeningPorts, scanLines } from './ports.js'
import { FIXTURES } from './fixtures.js'

const FIX = FIXTURES
const ctxOf = (proc: string, ports: number[]): CollectContext => ({
  proc,
  sys: '/sys',
  ifacePrefix: [],
  mountPoints: [],
  builtin: { ...NO_BUILTIN_ITEMS, ports },
  hostname: 'host',
  now: 0,
})
const sorted = (s: Set<number> | undefined) => [...(s ?? [])].sort((a, b) => a - b)

// nux's listeningPorts parse of ss output: skip the header, 4 or 5 fields, port after the last ':'.
function nuxPorts(out: string): number[] {
  const ports = new Set<number>()
  for (const line of out.split('\n').slice(1)) {
    if (line === '') continue
    const f = line.trim().split(/\s+/)
    assert.ok(f.length === 4 || f.length === 5, line)
    const local = f[f.length === 5 ? 3 : 2]
    ports.add(Number(local.slice(local.lastIndexOf(':') + 1)))
  }
  return [...ports].sort((a, b) => a - b)
}

function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('parseSocketLine', () => {
  it('reads the local port and the state of tcp, tcp6 and udp lines', () => {
    const cell: [number, number] = [0, 0]
    const f = (line: string, want: [number, number] | undefined) => {
      assert.equal(parseSocketLine(line, cell), want !== undefined, line)
      if (want !== undefined) assert.deepEqual(cell, want)
    }
    f(
      '   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 ',
      [3306, 10]
    )
    f(
      '   1: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 0',
      [4369, 10]
    )
    f(' 1024: 0A01A8C0:B798 0101A8C0:0035 01 00000000:00000000 00:00000000', [47000, 1])
    f(
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid',
      undefined
    )
    f('', undefined)
    f('   0: 0100007F', undefined)
  })
})

describe('readListeningPorts', () => {
  it('CentOS 6: listeners after a SYN_RECV line (before 4.4) are found; UDP of any state', () => {
    const p = readListeningPorts(join(FIX, 'net-centos6', 'proc'))
    assert.deepEqual(sorted(p?.tcp), [22, 25, 3306, 8080])
    assert.deepEqual(sorted(p?.udp), [68, 123, 161, 40000])
  })

  it('CentOS 7: IPv4-mapped tcp6 listeners too', () => {
    const p = readListeningPorts(join(FIX, 'net-centos7', 'proc'))
    assert.deepEqual(sorted(p?.tcp), [22, 80, 443, 9000])
    assert.deepEqual(sorted(p?.udp), [68, 323, 514, 47000])
  })

  it('this machine (copied) and a container without tcp6/udp6', () => {
    const local = readListeningPorts(join(FIX, 'net-local', 'proc'))
    assert.deepEqual(sorted(local?.tcp), [1883, 2024, 3306, 4222, 4369, 5432, 5672, 6379, 25672])
    assert.deepEqual(sorted(local?.udp), [])
    const container = readListeningPorts(join(FIX, 'net-container', 'proc'))
    assert.deepEqual(sorted(container?.tcp), [8080])
    assert.deepEqual(sorted(container?.udp), [])
  })

  it('undefined when no table can be read', () => {
    assert.equal(readListeningPorts(join(FIX, 'net-procs', 'proc')), undefined)
  })

  it('matches the real `ss -t -l -n` and `ss -u -a -n` reading each fixture (PROC_ROOT)', (t) => {
    if (!hasSs()) return t.skip('ss (iproute2) is not installed')
    for (const set of ['net-centos6', 'net-centos7', 'net-local', 'net-container']) {
      const run = (args: string[]) =>
        execFileSync('ss', args, {
          env: { ...process.env, PROC_ROOT: join(FIX, set, 'proc') },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        })
      const p = readListeningPorts(join(FIX, set, 'proc'))
      assert.deepEqual(sorted(p?.tcp), nuxPorts(run(['-t', '-l', '-n'])), `${set} tcp`)
      assert.deepEqual(sorted(p?.udp), nuxPorts(run(['-u', '-a', '-n'])), `${set} udp`)
    }
  })

  it('stops reading tcp at the first socket that is neither LISTEN nor SYN_RECV', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-ports-'))
    try {
      mkdirSync(join(dir, 'net'))
      const line = (sl: number, port: number, st: string) =>
        `${String(sl).padStart(4)}: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} ` +
        `00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 1 1`
      // The kernel never lists a listener after an established socket: one placed there is not read.
      const rows = [line(0, 80, '0A'), line(1, 80, '03'), line(2, 81, '0A'), line(3, 80, '01')]
      for (let i = 0; i < 5000; i++) rows.push(line(4 + i, 40000 + (i % 20000), '01'))
      rows.push(line(9999, 82, '0A'))
      writeFileSync(join(dir, 'net', 'tcp'), `  sl  local_address\n${rows.join('\n')}\n`)
      const p = readListeningPorts(dir)
      assert.deepEqual(sorted(p?.tcp), [80, 81])
      let lines = 0
      scanLines(join(dir, 'net', 'tcp'), () => ++lines > 0)
      assert.equal(lines, 5006)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('portSamples', () => {
  it('1 for a TCP listener or any UDP socket, 0 otherwise, in the order asked', () => {
    const ctx = ctxOf(join(FIX, 'net-centos6', 'proc'), [22, 25, 68, 40000, 51000, 54321, 9999])
    assert.deepEqual(portSamples(ctx), [
      gauge('net.port.listen', 1, 'port=22'),
      gauge('net.port.listen', 1, 'port=25'),
      gauge('net.port.listen', 1, 'port=68'),
      gauge('net.port.listen', 1, 'port=40000'),
      // a SYN_RECV's remote port, a TIME_WAIT's local port, nothing
      gauge('net.port.listen', 0, 'port=51000'),
      gauge('net.port.listen', 0, 'port=54321'),
      gauge('net.port.listen', 0, 'port=9999'),
    ])
  })

  it('nothing when no port is asked for or no table is readable', () => {
    assert.deepEqual(portSamples(ctxOf(join(FIX, 'net-centos6', 'proc'), [])), [])
    assert.deepEqual(portSamples(ctxOf(join(FIX, 'no-such-set'), [22])), [])
  })

  it('live: a TCP server and a UDP socket on 127.0.0.1 are 1, a closed port 0', async () => {
    const tcp = createServer()
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
    const udp = createSocket('udp4')
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
    const spare = createServer()
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve))
    const closed = (spare.address() as AddressInfo).port
    await new Promise<void>((resolve) => spare.close(() => resolve()))
    try {
      const tcpPort = (tcp.address() as AddressInfo).port
      const udpPort = udp.address().port
      assert.deepEqual(portSamples(ctxOf('/proc', [tcpPort, udpPort, closed])), [
        gauge('net.port.listen', 1, `port=${tcpPort}`),
        gauge('net.port.listen', 1, `port=${udpPort}`),
        gauge('net.port.listen', 0, `port=${closed}`),
      ])
    } finally {
      udp.close()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  })
})
