// Which addresses an outbound request whose URL a user set (alarm's action callback) may reach: not
// the network behind Peregrine (loopback, private, link-local with cloud metadata, …) unless the
// operator allows it. The check runs in the connection's own DNS lookup, so the address checked is the
// address connected to (no second resolution a DNS-rebinding name could answer differently).
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns'
import { isIPv4, isIPv6 } from 'node:net'
import { PeregrineError } from './errors.js'

// Addresses are 128-bit numbers in IPv6 space; IPv4 lives at ::ffff:0:0/96 (its mapped form), so one
// table and one comparison serve both families.
const V4_MAPPED = 0xffffn << 32n
const ALL_ONES = (1n << 128n) - 1n

function parseV4(s: string): number | undefined {
  if (!isIPv4(s)) return undefined
  return s.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

function parseV6(s: string): bigint | undefined {
  if (!isIPv6(s)) return undefined
  let text = s
  const last = text.lastIndexOf(':')
  if (text.slice(last + 1).includes('.')) {
    const v4 = parseV4(text.slice(last + 1))
    if (v4 === undefined) return undefined
    text = `${text.slice(0, last + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const [l, r] = text.split('::')
  const left = l === '' ? [] : l.split(':')
  const right = r === undefined || r === '' ? [] : r.split(':')
  const groups =
    r === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  let n = 0n
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16))
  return n
}

/**
 * parseIp reads an IPv4 or IPv6 address (in URL brackets or not, an IPv6 `%zone` ignored) as a
 * 128-bit number, IPv4 as its mapped form ::ffff:a.b.c.d; undefined when `text` is no address.
 */
export function parseIp(text: string): bigint | undefined {
  const s = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '')
  const v4 = parseV4(s)
  return v4 !== undefined ? V4_MAPPED | BigInt(v4) : parseV6(s)
}

const inPrefix = (n: bigint, base: bigint, bits: number): boolean => {
  const shift = BigInt(128 - bits)
  return n >> shift === base >> shift
}

/**
 * embeddedV4 turns an IPv6 address that stands for an IPv4 one into that IPv4 address (mapped form):
 * IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d and 6to4 2002:aabb:ccdd::. Other addresses are
 * returned as they are. A NAT64 gateway or a 6to4 relay would carry the connection to that IPv4.
 */
function embeddedV4(n: bigint): bigint {
  if (n > 1n && n >> 32n === 0n) return V4_MAPPED | n
  if (inPrefix(n, 0x64ff9bn << 96n, 96)) return V4_MAPPED | (n & 0xffffffffn)
  if (inPrefix(n, 0x2002n << 112n, 16)) return V4_MAPPED | ((n >> 80n) & 0xffffffffn)
  return n
}

/** Cidr is a parsed range: `base` and `bits` in the 128-bit space, `text` as written (normalised). */
export interface Cidr {
  readonly base: bigint
  readonly bits: number
  readonly text: string
}

/**
 * parseCidr reads `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128); host bits are cleared,
 * as Go's ParseCIDR does. undefined when `text` is neither.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  const n = parseIp(addr)
  if (n === undefined) return undefined
  const v4 = isIPv4(addr)
  const max = v4 ? 32 : 128
  let bits = max
  if (slash >= 0) {
    const b = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return undefined
    bits = Number(b)
  }
  const all = v4 ? bits + 96 : bits
  const mask = all === 0 ? 0n : (ALL_ONES >> BigInt(128 - all)) << BigInt(128 - all)
  return { base: n & mask, bits: all, text: slash < 0 ? `${addr}/${max}` : text }
}

/** cidrContains tells whether the address `ip` (parseIp's number) is inside `c`. */
export function cidrContains(c: Cidr, ip: bigint): boolean {
  return c.bits === 0 || inPrefix(ip, c.base, c.bits)
}

interface InternalRange extends Cidr {
  readonly kind: string
}

const range = (text: string, kind: string): InternalRange => {
  const c = parseCidr(text)
  if (c === undefined) throw new Error(`BUG: bad range ${text}`)
  return { ...c, kind }
}

/**
 * INTERNAL_RANGES: where a user's URL must not lead unless the operator allows it. Checked in this
 * order, so the broadcast address is named before the reserved block that holds it.
 */
const INTERNAL_RANGES: readonly InternalRange[] = [
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared (carrier-grade NAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local (cloud metadata)'),
  range('172.16.0.0/12', 'private'),
  range('192.168.0.0/16', 'private'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local (private)'),
  range('fc00::/7', 'unique local (private)'),
  range('ff00::/8', 'multicast'),
]

/**
 * internalRangeOf names the internal range `address` falls in (`{kind: 'loopback', cidr:
 * '127.0.0.0/8'}`), looking through IPv4-mapped, -compatible, NAT64 and 6to4 forms; undefined for a
 * public address or a text that is no address.
 */
export function internalRangeOf(address: string): { kind: string; cidr: string } | undefined {
  const n = parseIp(address)
  if (n === undefined) return undefined
  const ip = embeddedV4(n)
  const r = INTERNAL_RANGES.find((c) => cidrContains(c, ip))
  return r === undefined ? undefined : { kind: r.kind, cidr: r.text }
}

// A host name as DNS spells it: letters, digits, '-' and '_' in dot-separated labels.
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i

const hostKey = (host: string): string =>
  host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')

/** The lookup node:net calls to resolve a host name before it connects. */
export type LookupFunction = (
  hostname: string,
  options: { family?: number | string; all?: boolean; hints?: number },
  callback: (
    err: NodeJS.ErrnoException | null,
    address: string | LookupAddress[],
    family?: number
  ) => void
) => void

/**
 * AddressPolicy decides which addresses an outbound request may reach: any public address, and an
 * internal one (INTERNAL_RANGES) only when it is inside an allowed range or the URL's host name is
 * allowed. `setting` is the configuration key of the allow list, named in every refusal.
 */
export class AddressPolicy {
  readonly setting: string
  readonly #ranges: readonly Cidr[]
  readonly #hosts: ReadonlySet<string>

  /** `allow` holds CIDRs, addresses and host names, as checked by AddressPolicy.problems. */
  constructor(allow: readonly string[], setting: string) {
    this.setting = setting
    const ranges: Cidr[] = []
    const hosts = new Set<string>()
    for (const entry of allow) {
      const c = parseCidr(entry.trim())
      if (c !== undefined) ranges.push(c)
      else hosts.add(hostKey(entry.trim()))
    }
    this.#ranges = ranges
    this.#hosts = hosts
  }

  /**
   * problems names every entry of `value` (the setting `key`) that is neither a CIDR, an address
   * nor a host name, for a config check to report at start.
   */
  static problems(key: string, value: unknown): string[] {
    if (!Array.isArray(value))
      return [`${key}: expected a list of CIDRs and host names, like ["10.0.0.0/8", "hooks.lan"]`]
    const out: string[] = []
    value.forEach((v: unknown, i) => {
      if (typeof v === 'string' && (parseCidr(v.trim()) !== undefined || HOST_NAME.test(v.trim())))
        return
      out.push(
        `${key}[${i}]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got ${JSON.stringify(v)}`
      )
    })
    return out
  }

  /** allowsHost tells whether the host name (or address) of a URL is allowed whatever it resolves to. */
  allowsHost(host: string): boolean {
    return this.#hosts.has(hostKey(host))
  }

  /**
   * refusal says why connecting to `address`, which `host` resolved to (or is), is refused: the
   * address, its range and the setting that would allow it. undefined when it is allowed.
   */
  refusal(host: string, address: string): string | undefined {
    if (this.allowsHost(host)) return undefined
    const r = internalRangeOf(address)
    if (r === undefined) return undefined
    const n = parseIp(address)
    if (n !== undefined) {
      const ip = embeddedV4(n)
      if (this.#ranges.some((c) => cidrContains(c, ip) || cidrContains(c, n))) return undefined
    }
    const bare = address.replace(/^\[(.*)\]$/, '$1')
    const literal = parseIp(hostKey(host)) !== undefined
    const what = literal ? bare : `${hostKey(host)} resolves to ${bare}, which`
    const allow = literal ? `"${r.cidr}"` : `"${r.cidr}" or "${hostKey(host)}"`
    return `${what} is a ${r.kind} address (${r.cidr}); to allow it, add ${allow} to ${this.setting}`
  }

  /**
   * check throws a PG_CORE_ADDR_REFUSED error when `host` is an address literal the policy
   * refuses (node:net connects to a literal without a lookup).
   */
  checkLiteral(host: string): void {
    if (parseIp(host) === undefined) return
    const why = this.refusal(host, host)
    if (why !== undefined) throw new AddressRefused(why)
  }

  /**
   * lookup resolves as dns.lookup does, then fails with a PG_CORE_ADDR_REFUSED error when any
   * address is refused. Given to node:http(s) as the `lookup` option, the connection goes to an
   * address this lookup checked.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family
    const opts: LookupAllOptions = {
      all: true,
      ...(typeof family === 'number' ? { family } : {}),
      ...(options.hints === undefined ? {} : { hints: options.hints }),
    }
    dnsLookup(hostname, opts, (err, addresses) => {
      if (err !== null) return callback(err, '')
      for (const a of addresses) {
        const why = this.refusal(hostname, a.address)
        if (why !== undefined) return callback(new AddressRefused(why), '')
      }
      if (options.all === true) return callback(null, addresses)
      const first = addresses[0]
      if (first === undefined) {
        const none: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`)
        none.code = 'ENOTFOUND'
        return callback(none, '')
      }
      callback(null, first.address, first.family)
    })
  }
}

/** AddressRefused is a connection the AddressPolicy refused; its message says why and what allows it. */
export class AddressRefused extends PeregrineError {
  constructor(message: string) {
    super('PG_CORE_ADDR_REFUSED', message, { status: 403 })
  }
}

/**
 * hostIsLocalOrAddress tells whether a Host header names this machine in a way no web page can
 * borrow: `localhost` (or a name under `.localhost`, which resolvers keep on loopback) or an IP
 * address. DNS rebinding needs a name the attacker controls, so any other name is refused.
 */
export function hostIsLocalOrAddress(host: string): boolean {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(host.trim())
  if (m === null) return false
  const name = m[1].toLowerCase().replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost') || parseIp(name) !== undefined
}
