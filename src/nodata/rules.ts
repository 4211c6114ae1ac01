// nodata's rules (falcon_portal.mockcfg) expanded into the series it watches: one per endpoint a rule
// names, directly (host, other) or through host groups (group), keyed by falcon's PK.
import type { Kysely } from 'kysely'
import { counterOf, formatTags, parseTags, seriesKeyOf } from '../core/index.js'
import { type GroupHost, groupHosts, hostMaintenance, type PortalDatabase } from '../store/index.js'

/** Watch is one series nodata watches and the rule that asks for it. */
export interface Watch {
  /** key: falcon's PK, `endpoint/metric[/k=v,...]` (tags sorted). */
  key: string
  endpoint: string
  metric: string
  /** tags: sorted `k=v,...`. */
  tags: string
  /** counter: `metric[/tags]`, as graph names it. */
  counter: string
  step: number
  mock: number
  ruleId: number
  ruleName: string
  objType: string
}

/** RuleSet is what one read of the store gives nodata. */
export interface RuleSet {
  watches: Map<string, Watch>
  /** maintenance: hosts with a maintenance window, by hostname (checked when a series is judged). */
  maintenance: Map<string, GroupHost>
  /** groups: host groups by name, for /proc/group. */
  groups: Map<string, GroupHost[]>
  /** skipped: rules left out and why (a group that does not exist, a bad row, maxSeries). */
  skipped: string[]
  /** rules: the mockcfg rows read. */
  rules: number
}

/** The obj lines of a rule: trimmed, empty ones dropped (falcon's getEndpointFromHosts). */
const linesOf = (obj: string) =>
  obj
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')

/**
 * loadRules reads mockcfg, groups and maintenance windows and expands the rules. As falcon: only
 * GAUGE rules with step ≥ 1 count; when two rules name one series a host (or other) rule beats a group
 * rule, and between two of a kind the one with the lower id stays. Group hosts are all of them: who
 * is in maintenance is decided when a series is judged, so a window that opens or closes needs no
 * reread. At most `maxSeries` series; the rules past it are skipped, named.
 */
export async function loadRules(db: Kysely<PortalDatabase>, maxSeries: number): Promise<RuleSet> {
  const [rows, groups, maintenance] = await Promise.all([
    db
      .selectFrom('mockcfg')
      .select(['id', 'name', 'obj', 'obj_type', 'metric', 'tags', 'dstype', 'step', 'mock'])
      .orderBy('id')
      .execute(),
    groupHosts(db),
    hostMaintenance(db),
  ])
  const watches = new Map<string, Watch>()
  const skipped: string[] = []
  for (const r of rows) {
    const rule = `rule ${r.id} (${r.name})`
    if (r.dstype !== 'GAUGE' || !(Number(r.step) >= 1) || r.metric.trim() === '') {
      skipped.push(`${rule}: needs dstype GAUGE, a step ≥ 1 and a metric`)
      continue
    }
    let endpoints: string[]
    if (r.obj_type === 'group') {
      const set = new Set<string>()
      for (const name of linesOf(r.obj)) {
        const hosts = groups.byName.get(name)
        if (hosts === undefined) skipped.push(`${rule}: no host group ${JSON.stringify(name)}`)
        else for (const h of hosts) set.add(h.hostname)
      }
      endpoints = [...set]
    } else if (r.obj_type === 'host' || r.obj_type === 'other') {
      endpoints = linesOf(r.obj)
    } else {
      skipped.push(`${rule}: obj_type ${JSON.stringify(r.obj_type)} is not host, group or other`)
      continue
    }
    const metric = r.metric.trim()
    const tags = formatTags(parseTags(r.tags))
    for (const endpoint of endpoints) {
      const key = seriesKeyOf(endpoint, metric, tags)
      const held = watches.get(key)
      // A host (or other) rule beats a group rule; otherwise the first (lowest id) stays.
      if (held !== undefined && !(held.objType === 'group' && r.obj_type !== 'group')) continue
      if (held === undefined && watches.size >= maxSeries) {
        skipped.push(`${rule}: nodata.maxSeries (${maxSeries}) series watched already`)
        break
      }
      watches.set(key, {
        key,
        endpoint,
        metric,
        tags,
        counter: counterOf(metric, tags),
        step: Number(r.step),
        mock: Number(r.mock),
        ruleId: Number(r.id),
        ruleName: r.name,
        objType: r.obj_type,
      })
    }
  }
  return { watches, maintenance, groups: groups.byName, skipped, rules: rows.length }
}
