// The network collectors of falcon-agent: net.if.*, TcpExt.*, snmp.Udp.* and ss.*.
import { type CollectContext, type Collector, readText } from '../collector.js'
import { netIfSamples, parseNetDev, parseSpeedMbps } from './ifstat.js'
import { tcpExtSamples } from './netstat.js'
import { udpSamples } from './snmp.js'
import { ssSamples } from './sockstat.js'

/**
 * networkCollectors returns four collectors: `net.if` (/proc/net/dev and
 * /sys/class/net/<iface>/speed, interfaces filtered by ctx.ifacePrefix), `netstat` (TcpExt.* from
 * /proc/net/netstat), `snmp` (snmp.Udp.* from /proc/net/snmp) and `ss` (ss.* from
 * /proc/net/sockstat, sockstat6 and snmp; see sockstat.ts). They share one read of /proc/net/snmp
 * per cycle (a cycle is one ctx.now). None spawns a process.
 */
export function networkCollectors(): Collector[] {
  let snmpKey = ''
  let snmpText: string | undefined
  const snmp = (ctx: CollectContext): string | undefined => {
    const key = `${ctx.now} ${ctx.proc}`
    if (key !== snmpKey) {
      snmpText = readText(ctx.proc, 'net', 'snmp')
      snmpKey = key
    }
    return snmpText
  }
  return [
    {
      name: 'net.if',
      collect(ctx) {
        const dev = readText(ctx.proc, 'net', 'dev')
        if (dev === undefined) return []
        return netIfSamples(parseNetDev(dev, ctx.ifacePrefix), (iface) =>
          parseSpeedMbps(readText(ctx.sys, 'class', 'net', iface, 'speed'))
        )
      },
    },
    {
      name: 'netstat',
      collect: (ctx) => tcpExtSamples(readText(ctx.proc, 'net', 'netstat')),
    },
    {
      name: 'snmp',
      collect: (ctx) => udpSamples(snmp(ctx)),
    },
    {
      name: 'ss',
      collect: (ctx) =>
        ssSamples(
          readText(ctx.proc, 'net', 'sockstat'),
          readText(ctx.proc, 'net', 'sockstat6'),
          snmp(ctx)
        ),
    },
  ]
}
