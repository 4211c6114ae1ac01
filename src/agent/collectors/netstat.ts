// TcpExt.* counters from /proc/net/netstat, and the parser of the "Title: keys" / "Title: values"
// line pairs that /proc/net/netstat and /proc/net/snmp share (falcon's nux Netstat and Snmp).
import { type Sample, counter } from '../collector.js'

/**
 * TCP_EXT_KEYS are the TcpExt fields falcon-agent reports (funcs/netstat.go `USES`); a kernel that
 * lacks one (TCPPrequeueDropped is gone since 4.14) just does not report it.
 */
export const TCP_EXT_KEYS: ReadonlySet<string> = new Set([
  'PruneCalled',
  'LockDroppedIcmps',
  'ArpFilter',
  'TW',
  'DelayedACKLocked',
  'ListenOverflows',
  'ListenDrops',
  'TCPPrequeueDropped',
  'TCPTSReorder',
  'TCPDSACKUndo',
  'TCPLoss',
  'TCPLostRetransmit',
  'TCPLossFailures',
  'TCPFastRetrans',
  'TCPTimeouts',
  'TCPSchedulerFailed',
  'TCPAbortOnMemory',
  'TCPAbortOnTimeout',
  'TCPAbortFailed',
  'TCPMemoryPressures',
  'TCPSpuriousRTOs',
  'TCPBacklogDrop',
  'TCPMinTTLDrop',
])

/** TitledRow is one "Title:" section of a /proc/net table: its keys and their values, in file order. */
export interface TitledRow {
  keys: string[]
  values: number[]
}

/**
 * parseDecimal reads a whole string as a base-10 integer the way Go's strconv.ParseInt (signed) or
 * ParseUint (unsigned) does: digits only, a leading sign only when signed. It returns undefined for
 * anything else, where Go returns an error.
 */
export function parseDecimal(s: string, signed: boolean): number | undefined {
  let i = 0
  let negative = false
  if (signed && s.length > 1) {
    const c = s.charCodeAt(0)
    if (c === 45 || c === 43) {
      negative = c === 45
      i = 1
    }
  }
  if (i >= s.length) return undefined
  let n = 0
  for (; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return undefined
    n = n * 10 + d
  }
  return negative ? -n : n
}

/** splitFields splits on runs of spaces and tabs, like Go's strings.Fields for /proc text. */
export function splitFields(s: string): string[] {
  const out: string[] = []
  let start = -1
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (start >= 0) {
        out.push(s.slice(start, i))
        start = -1
      }
    } else if (start < 0) {
      start = i
    }
  }
  if (start >= 0) out.push(s.slice(start))
  return out
}

/**
 * parseTitledRow finds the first line whose text before its first ':' is `title`, takes the keys
 * after the colon and the values from the line after it (nux Netstat/Snmp). It returns undefined
 * when the title is absent, the values line is missing or short, or a value is not a number
 * (`signed` false parses like Go's ParseUint: a negative value is an error). falcon reports
 * nothing for the family in all those cases, so callers report nothing too.
 */
export function parseTitledRow(
  text: string,
  title: string,
  signed: boolean
): TitledRow | undefined {
  let pos = 0
  while (pos < text.length) {
    let end = text.indexOf('\n', pos)
    if (end < 0) end = text.length
    const colon = text.indexOf(':', pos)
    if (colon >= 0 && colon < end && text.slice(pos, colon).trim() === title) {
      const keys = splitFields(text.slice(colon + 1, end))
      if (end >= text.length) return undefined
      let valueEnd = text.indexOf('\n', end + 1)
      if (valueEnd < 0) valueEnd = text.length
      // nux cuts the values line at the header's colon offset: both lines start with "Title:".
      const tds = splitFields(text.slice(Math.min(end + 1 + colon - pos + 1, valueEnd), valueEnd))
      if (tds.length < keys.length) return undefined
      const values: number[] = new Array<number>(keys.length)
      for (let i = 0; i < keys.length; i++) {
        const v = parseDecimal(tds[i], signed)
        if (v === undefined) return undefined
        values[i] = v
      }
      return { keys, values }
    }
    pos = end + 1
  }
  return undefined
}

/** tcpExtSamples returns falcon's TcpExt.<key> COUNTERs from the text of /proc/net/netstat. */
export function tcpExtSamples(netstat: string | undefined): Sample[] {
  if (netstat === undefined) return []
  const row = parseTitledRow(netstat, 'TcpExt', false)
  if (row === undefined) return []
  const out: Sample[] = []
  for (let i = 0; i < row.keys.length; i++) {
    if (TCP_EXT_KEYS.has(row.keys[i])) out.push(counter(`TcpExt.${row.keys[i]}`, row.values[i]))
  }
  return out
}
