// net.port.listen: which ports have a listening TCP socket or a bound UDP socket, from
// /proc/net/{tcp,tcp6,udp,udp6} (falcon funcs/portstat.go over nux TcpPorts/UdpPorts).
//
// nux runs `ss -t -l -n` (TCP sockets in LISTEN or CLOSE state; a CLOSE socket is in no table
// /proc or inet_diag lists, so this is LISTEN, st 0A) and `ss -u -a -n` (every UDP socket,
// unconnected or connected) and takes the port after the last ':' of the local address, IPv4
// and IPv6 alike. These tables are the ones ss reads when netlink is unavailable.
import { closeSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { type CollectContext, type Sample, gauge } from '../collector.js'

/** ListeningPorts are the local ports of listening TCP and of all UDP sockets. */
export interface ListeningPorts {
  tcp: Set<number>
  udp: Set<number>
}

const TCP_LISTEN = 0x0a
const TCP_SYN_RECV = 0x03

// One buffer for every table read: collection runs on one thread and reads are synchronous.
const chunk = Buffer.allocUnsafe(64 * 1024)

// A /proc seq_file read returns whole records and fills the kernel's page-sized buffer (4 KiB or
// more) unless the table has ended; a socket line is under 200 bytes. So a read that returns less
// than 2 KiB was the last one, and the read that would return 0 is skipped: for /proc/net/tcp[6]
// that read walks the whole established hash table again (2 ms here with 23 GiB of RAM). A regular
// file (a test fixture) returns a short read only at its end too.
const SHORT_READ = 2048

/**
 * scanLines calls `row` for each line of the file at `path`, reading 64 KiB at a time, until
 * `row` returns false or a read returns less than SHORT_READ bytes. It returns false when the file
 * cannot be opened. Reading in chunks lets a caller stop early: the kernel generates
 * /proc/net/tcp as it is read, and on a host with many connections the whole file is megabytes.
 */
export function scanLines(path: string, row: (line: string) => boolean): boolean {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return false
  }
  try {
    let rest = ''
    for (;;) {
      let n: number
      try {
        n = readSync(fd, chunk, 0, chunk.length, null)
      } catch {
        return true
      }
      if (n === 0) break
      const text = rest + chunk.toString('latin1', 0, n)
      let pos = 0
      for (;;) {
        const nl = text.indexOf('\n', pos)
        if (nl < 0) break
        if (!row(text.slice(pos, nl))) return true
        pos = nl + 1
      }
      rest = text.slice(pos)
      if (n < SHORT_READ) break
    }
    if (rest.length > 0) row(rest)
    return true
  } finally {
    closeSync(fd)
  }
}

/**
 * parseSocketLine reads the local port and the state of one line of /proc/net/{tcp,udp}[6]
 * (`   0: 0100007F:0CEA 00000000:0000 0A ...`) into `into` as [port, state] (one array reused
 * for every socket) and returns true, or returns false for the header or a bad line.
 */
export function parseSocketLine(line: string, into: [number, number]): boolean {
  // "sl:" then the local address, the remote address and the state, separated by spaces.
  const slEnd = line.indexOf(':')
  if (slEnd < 0) return false
  let i = skipSpaces(line, slEnd + 1)
  const localEnd = line.indexOf(' ', i)
  if (localEnd < 0) return false
  const portColon = line.lastIndexOf(':', localEnd)
  if (portColon <= i) return false
  const port = parseInt(line.slice(portColon + 1, localEnd), 16)
  i = skipSpaces(line, localEnd)
  const remoteEnd = line.indexOf(' ', i)
  if (remoteEnd < 0) return false
  i = skipSpaces(line, remoteEnd)
  const state = parseInt(line.slice(i, i + 2), 16)
  if (Number.isNaN(port) || Number.isNaN(state)) return false
  into[0] = port
  into[1] = state
  return true
}

function skipSpaces(s: string, i: number): number {
  while (i < s.length && s.charCodeAt(i) === 32) i++
  return i
}

/**
 * readListeningPorts reads the four tables under `proc` (any may be missing: no IPv6). It returns
 * undefined when none can be read, where falcon's ss calls would fail and it reports nothing.
 */
export function readListeningPorts(proc: string): ListeningPorts | undefined {
  const tcp = new Set<number>()
  const udp = new Set<number>()
  const cell: [number, number] = [0, 0]
  let readable = false
  for (const name of ['tcp', 'tcp6']) {
    readable =
      scanLines(join(proc, 'net', name), (line) => {
        if (!parseSocketLine(line, cell)) return true
        if (cell[1] === TCP_LISTEN) {
          tcp.add(cell[0])
          return true
        }
        // The kernel lists every listener before any other socket; before Linux 4.4 each
        // listener's pending connections (SYN_RECV) follow it. After that, no LISTEN line comes.
        return cell[1] === TCP_SYN_RECV
      }) || readable
  }
  for (const name of ['udp', 'udp6']) {
    readable =
      scanLines(join(proc, 'net', name), (line) => {
        if (parseSocketLine(line, cell)) udp.add(cell[0])
        return true
      }) || readable
  }
  return readable ? { tcp, udp } : undefined
}

/**
 * portSamples returns one net.port.listen GAUGE per port asked for, tagged `port=<n>`: 1 when a
 * TCP socket listens on it or a UDP socket is bound to it, else 0. Nothing when no port is asked
 * for (then no table is read) or no table can be read.
 */
export function portSamples(ctx: CollectContext): Sample[] {
  const ports = ctx.builtin.ports
  if (ports.length === 0) return []
  const open = readListeningPorts(ctx.proc)
  if (open === undefined) return []
  const out: Sample[] = []
  for (const p of ports) {
    out.push(gauge('net.port.listen', open.tcp.has(p) || open.udp.has(p) ? 1 : 0, `port=${p}`))
  }
  return out
}
