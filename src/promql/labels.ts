// Label-set helpers for the evaluator: keys for maps, get/set/drop, and Prometheus's text form of a set.
import type { Label, Labels } from '../tsdb/index.js'
import { goQuote } from './format.js'

export const METRIC_NAME = '__name__'

/** labelsKey is a string unique to a label set, for Map keys (names and values cannot hold \xff). */
export function labelsKey(ls: Labels): string {
  let s = ''
  for (const l of ls) s += l.name + '\xfe' + l.value + '\xff'
  return s
}

/** getLabel is a label's value, '' when absent (as Prometheus's Labels.Get). */
export function getLabel(ls: Labels, name: string): string {
  for (const l of ls) if (l.name === name) return l.value
  return ''
}

/** dropMetricName is the set without `__name__` (the same array when it has none). */
export function dropMetricName(ls: Labels): Labels {
  for (let i = 0; i < ls.length; i++) {
    if (ls[i].name === METRIC_NAME) return ls.slice(0, i).concat(ls.slice(i + 1))
  }
  return ls
}

/** setLabel returns a new sorted set with `name` = `value`, or without `name` when value is ''. */
export function setLabel(ls: Labels, name: string, value: string): Labels {
  const out: Label[] = []
  let done = false
  for (const l of ls) {
    if (!done && l.name >= name) {
      if (value !== '') out.push({ name, value })
      done = true
      if (l.name === name) continue
    }
    out.push(l)
  }
  if (!done && value !== '') out.push({ name, value })
  return out
}

/** keepLabels is the set restricted to `names`. */
export function keepLabels(ls: Labels, names: readonly string[]): Labels {
  return ls.filter((l) => names.includes(l.name))
}

/** deleteLabels is the set without `names`. */
export function deleteLabels(ls: Labels, names: readonly string[]): Labels {
  return ls.filter((l) => !names.includes(l.name))
}

/** labelsString prints a set as Prometheus's Labels.String(): `{a="1", b="2"}`. */
export function labelsString(ls: Labels): string {
  return '{' + ls.map((l) => `${l.name}=${goQuote(l.value)}`).join(', ') + '}'
}

/** fromRecord builds a sorted label set from an object. */
export function fromRecord(r: Record<string, string>): Labels {
  return Object.entries(r)
    .filter(([, v]) => v !== '')
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/**
 * hashLabels is Prometheus's labels.Hash (xxhash64 of name 0xff value 0xff …) as a BigInt; limit_ratio
 * samples series by it, so results match Prometheus's choice of series.
 */
export function hashLabels(ls: Labels): bigint {
  const parts: Buffer[] = []
  const sep = Buffer.from([0xff])
  for (const l of ls) parts.push(Buffer.from(l.name), sep, Buffer.from(l.value), sep)
  return xxhash64(Buffer.concat(parts))
}

const M64 = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64

function round(acc: bigint, input: bigint): bigint {
  acc = (acc + input * P2) & M64
  acc = rotl(acc, 31n)
  return (acc * P1) & M64
}

function mergeRound(acc: bigint, val: bigint): bigint {
  val = round(0n, val)
  acc ^= val
  return (acc * P1 + P4) & M64
}

/** xxhash64 with seed 0 (cespare/xxhash, which Prometheus uses). */
export function xxhash64(b: Uint8Array): bigint {
  const n = b.length
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let i = 0
  let h: bigint
  if (n >= 32) {
    let v1 = (P1 + P2) & M64
    let v2 = P2
    let v3 = 0n
    let v4 = (0n - P1) & M64
    for (; i + 32 <= n; i += 32) {
      v1 = round(v1, dv.getBigUint64(i, true))
      v2 = round(v2, dv.getBigUint64(i + 8, true))
      v3 = round(v3, dv.getBigUint64(i + 16, true))
      v4 = round(v4, dv.getBigUint64(i + 24, true))
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64
    h = mergeRound(h, v1)
    h = mergeRound(h, v2)
    h = mergeRound(h, v3)
    h = mergeRound(h, v4)
  } else {
    h = P5
  }
  h = (h + BigInt(n)) & M64
  for (; i + 8 <= n; i += 8) {
    const k1 = round(0n, dv.getBigUint64(i, true))
    h ^= k1
    h = (rotl(h, 27n) * P1 + P4) & M64
  }
  if (i + 4 <= n) {
    h ^= (BigInt(dv.getUint32(i, true)) * P1) & M64
    h = (rotl(h, 23n) * P2 + P3) & M64
    i += 4
  }
  for (; i < n; i++) {
    h ^= (BigInt(b[i]) * P5) & M64
    h = (rotl(h, 11n) * P1) & M64
  }
  h ^= h >> 33n
  h = (h * P2) & M64
  h ^= h >> 29n
  h = (h * P3) & M64
  h ^= h >> 32n
  return h
}
