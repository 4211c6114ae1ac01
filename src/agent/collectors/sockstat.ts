// ss.* gauges: the numbers of `ss -s`'s TCP line, computed from /proc as iproute2 computes them.
//
// falcon (nux SocketStatSummary) runs `ss -s` and parses the TCP line,
//   iproute2 < 4.17:  TCP:   217 (estab 95, closed 101, orphaned 0, synrecv 0, timewait 13/0), ports 0
//   iproute2 >= 4.17: TCP:   217 (estab 95, closed 101, orphaned 0, timewait 13)
// and ss itself prints there only numbers read from /proc (misc/ss.c print_summary):
//   estab    = /proc/net/snmp  Tcp: CurrEstab
//   closed   = sockstat TCP alloc - (sockstat TCP inuse + sockstat6 TCP6 inuse - sockstat TCP tw)
//   orphaned = sockstat TCP orphan
//   timewait = sockstat TCP tw
//   synrecv, and the number after "timewait N/": the active objects of the "tcp_open_request" and
//     "tcp_tw_bucket" lines of /proc/slabinfo. Those slab caches were renamed request_sock_TCP and
//     tw_sock_TCP in Linux 2.6.12/2.6.14, so ss < 4.17 prints 0 for both on any kernel falcon runs
//     on, and ss >= 4.17 no longer prints them (nux then sets slabinfo.timewait to 0 and has no
//     synrecv). Both are reported here as 0, which is what falcon sends with the iproute2 of
//     CentOS 6/7.
// So no process is spawned. falcon parses the numbers with ParseUint and ignores the error, so a
// negative `closed` (counters read at slightly different times) is sent as 0.
import { type Sample, gauge } from '../collector.js'
import { splitFields } from './netstat.js'
import { snmpInt } from './snmp.js'

/** SockstatTcp holds the sockstat fields `ss -s` uses. */
export interface SockstatTcp {
  inuse4: number
  orphan: number
  tw: number
  alloc: number
  inuse6: number
}

/**
 * parseSockstat reads the `TCP:` line of /proc/net/sockstat and the `TCP6:` line of
 * /proc/net/sockstat6 (either may be undefined: no IPv6, or a container) the way ss's sscanf
 * does: by position (`TCP: inuse N orphan N tw N alloc N mem N`), a missing number stays 0.
 */
export function parseSockstat(
  sockstat: string | undefined,
  sockstat6: string | undefined
): SockstatTcp {
  const s: SockstatTcp = { inuse4: 0, orphan: 0, tw: 0, alloc: 0, inuse6: 0 }
  const tcp = lineFields(sockstat, 'TCP:')
  if (tcp !== undefined) {
    s.inuse4 = intAt(tcp, 2)
    s.orphan = intAt(tcp, 4)
    s.tw = intAt(tcp, 6)
    s.alloc = intAt(tcp, 8)
  }
  const tcp6 = lineFields(sockstat6, 'TCP6:')
  if (tcp6 !== undefined) s.inuse6 = intAt(tcp6, 2)
  return s
}

/**
 * ssSamples returns ss.estab, ss.closed, ss.orphaned, ss.synrecv, ss.timewait and
 * ss.slabinfo.timewait (GAUGEs) from the texts of /proc/net/sockstat, /proc/net/sockstat6 and
 * /proc/net/snmp. It returns [] without sockstat (then `ss -s` has nothing true to say either).
 */
export function ssSamples(
  sockstat: string | undefined,
  sockstat6: string | undefined,
  snmp: string | undefined
): Sample[] {
  if (sockstat === undefined) return []
  const s = parseSockstat(sockstat, sockstat6)
  const estab = snmpInt(snmp, 'Tcp', 'CurrEstab')
  const closed = s.alloc - (s.inuse4 + s.inuse6 - s.tw)
  return [
    gauge('ss.estab', unsigned(estab)),
    gauge('ss.closed', unsigned(closed)),
    gauge('ss.orphaned', unsigned(s.orphan)),
    gauge('ss.synrecv', 0),
    gauge('ss.timewait', unsigned(s.tw)),
    gauge('ss.slabinfo.timewait', 0),
  ]
}

const unsigned = (n: number): number => (n < 0 ? 0 : n)

function lineFields(text: string | undefined, id: string): string[] | undefined {
  if (text === undefined) return undefined
  let pos = 0
  while (pos < text.length) {
    let end = text.indexOf('\n', pos)
    if (end < 0) end = text.length
    // sscanf("%[^ ] ...") takes the id up to the first space.
    if (text.startsWith(id, pos) && text.charCodeAt(pos + id.length) === 32) {
      return splitFields(text.slice(pos, end))
    }
    pos = end + 1
  }
  return undefined
}

// sscanf's %d reads a leading integer and stops at the first other character.
function intAt(fields: string[], i: number): number {
  if (i >= fields.length) return 0
  const n = parseInt(fields[i], 10)
  return Number.isNaN(n) ? 0 : n
}
