// The collector seam: every built-in metric family of falcon-agent is a Collector that reads the host's
// /proc and /sys (under a configurable root, so a DaemonSet reads the node's, and tests read fixtures).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** CounterKind is what falcon-agent sends as counterType. */
export type CounterKind = 'GAUGE' | 'COUNTER'

/**
 * Sample is one value a collector found. The scheduler fills endpoint (the hostname), step (the
 * interval), timestamp (the cycle's time) and appends default_tags, as falcon-agent's cron/collector.go.
 */
export interface Sample {
  metric: string
  value: number
  counterType: CounterKind
  /** falcon's tag string, `k=v,k2=v2` ('' for none), in falcon-agent's own order. */
  tags: string
}

/** BuiltinItems are what hbs's Agent.BuiltinMetrics asked this host to watch. */
export interface BuiltinItems {
  /** net.port.listen: ports (from `port=N` tags). */
  ports: readonly number[]
  /** proc.num: the strategy tag strings verbatim, `name=nginx` or `cmdline=java` (may hold both). */
  procs: readonly string[]
  /** du.bs: directory paths (from `path=...`). */
  duPaths: readonly string[]
  /** url.check.health: the strategy tag strings verbatim, `url=...,timeout=...`. */
  urls: readonly string[]
}

export const NO_BUILTIN_ITEMS: BuiltinItems = { ports: [], procs: [], duPaths: [], urls: [] }

/** CollectContext is what a collection cycle gives every collector. */
export interface CollectContext {
  /** proc: the /proc to read ('/proc', or '/host/proc' in a container, or a fixture dir). */
  readonly proc: string
  /** sys: the /sys to read. */
  readonly sys: string
  /** collector.ifacePrefix: interfaces whose name starts with one of these (all when empty). */
  readonly ifacePrefix: readonly string[]
  /** collector.mountPoint: mounts to report (all real filesystems when empty). */
  readonly mountPoints: readonly string[]
  readonly builtin: BuiltinItems
  /** hostname: the endpoint (url.check.health puts it in its `src` tag). */
  readonly hostname: string
  /** now in ms (tests pass their own). */
  readonly now: number
}

/**
 * Collector is one family of metrics. `collect` is called once per cycle (every transfer.interval s).
 * `sample`, when present, is called every second between cycles, for families falcon-agent computes
 * over the last second (cpu percentages, disk io rates): it keeps the previous reading itself.
 * A collector never throws for a missing or unreadable file: it returns what it could read (a
 * container may lack /proc/net/snmp; a kernel may lack a field).
 */
export interface Collector {
  readonly name: string
  collect(ctx: CollectContext): Sample[] | Promise<Sample[]>
  sample?(ctx: CollectContext): void
}

export const gauge = (metric: string, value: number, tags = ''): Sample => ({
  metric,
  value,
  counterType: 'GAUGE',
  tags,
})

export const counter = (metric: string, value: number, tags = ''): Sample => ({
  metric,
  value,
  counterType: 'COUNTER',
  tags,
})

/** readText returns a file's text, or undefined when it is missing or unreadable. */
export function readText(dir: string, ...path: string[]): string | undefined {
  try {
    return readFileSync(join(dir, ...path), 'utf8')
  } catch {
    return undefined
  }
}

/** listDir returns a directory's entries, or [] when it is missing or unreadable. */
export function listDir(dir: string, ...path: string[]): string[] {
  try {
    return readdirSync(join(dir, ...path))
  } catch {
    return []
  }
}
