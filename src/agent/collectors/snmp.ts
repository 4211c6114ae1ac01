// snmp.Udp.* counters from /proc/net/snmp (falcon funcs/snmp.go over nux Snmp("Udp")).
import { type Sample, counter } from '../collector.js'
import { parseTitledRow } from './netstat.js'

/**
 * udpSamples returns one snmp.Udp.<key> COUNTER per field of the `Udp:` lines of /proc/net/snmp,
 * whatever fields the kernel has (2.6.32: 6; 3.10: +InCsumErrors; 3.19: +IgnoredMulti; 5.x+:
 * +MemErrors), as falcon does. `UdpLite:` is a different title and is not reported.
 */
export function udpSamples(snmp: string | undefined): Sample[] {
  if (snmp === undefined) return []
  const row = parseTitledRow(snmp, 'Udp', true)
  if (row === undefined) return []
  const out: Sample[] = new Array<Sample>(row.keys.length)
  for (let i = 0; i < row.keys.length; i++)
    out[i] = counter(`snmp.Udp.${row.keys[i]}`, row.values[i])
  return out
}

/**
 * snmpInt returns one field of /proc/net/snmp, or 0 when the file, the title or the field is
 * missing, as iproute2's `get_snmp_int` (which `ss -s` uses for Tcp CurrEstab) leaves it.
 */
export function snmpInt(snmp: string | undefined, title: string, key: string): number {
  if (snmp === undefined) return 0
  const row = parseTitledRow(snmp, title, true)
  if (row === undefined) return 0
  const i = row.keys.indexOf(key)
  return i < 0 ? 0 : row.values[i]
}
