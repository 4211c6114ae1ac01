// Prometheus's relabelling (relabel_configs, metric_relabel_configs): every action, with Prometheus's
// defaults and Go's `$1` / `${name}` expansion, over a label set held as a Map.
import { createHash } from 'node:crypto'
import { compileRe2 } from '../core/index.js'

/** RELABEL_ACTIONS are the actions Prometheus 2.42+ knows. */
export const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'keepequal',
  'dropequal',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
] as const
export type RelabelAction = (typeof RELABEL_ACTIONS)[number]

/** RelabelRule is one checked relabel config. */
export interface RelabelRule {
  sourceLabels: string[]
  separator: string
  targetLabel: string
  regex: RegExp
  modulus: number
  replacement: string
  action: RelabelAction
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/**
 * parseRelabelConfigs checks a YAML list of relabel configs (snake_case keys, as in prometheus.yml)
 * and returns the rules, or throws naming `where[i].key` and what is wrong, as Prometheus refuses
 * such a config at load.
 */
export function parseRelabelConfigs(raw: unknown, where: string): RelabelRule[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw new Error(`${where}: expected a list of relabel configs`)
  return raw.map((r: unknown, i) => {
    const at = `${where}[${i}]`
    if (typeof r !== 'object' || r === null || Array.isArray(r))
      throw new Error(`${at}: expected a mapping`)
    const o = r as Record<string, unknown>
    const known = new Set([
      'source_labels',
      'separator',
      'target_label',
      'regex',
      'modulus',
      'replacement',
      'action',
    ])
    for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`${at}.${k}: unknown key`)
    const action = (o.action ?? 'replace') as RelabelAction
    if (typeof action !== 'string' || !RELABEL_ACTIONS.includes(action.toLowerCase() as never)) {
      throw new Error(
        `${at}.action: ${JSON.stringify(o.action)} is not one of ${RELABEL_ACTIONS.join(', ')}`
      )
    }
    const sourceLabels = (o.source_labels ?? []) as unknown
    if (!Array.isArray(sourceLabels) || sourceLabels.some((s) => typeof s !== 'string'))
      throw new Error(`${at}.source_labels: expected a list of label names`)
    const str = (k: string, d: string): string => {
      const v = o[k] ?? d
      if (typeof v !== 'string') throw new Error(`${at}.${k}: expected a string`)
      return v
    }
    const pattern =
      o.regex === undefined
        ? '(.*)'
        : typeof o.regex === 'string'
          ? o.regex
          : JSON.stringify(o.regex)
    let regex: RegExp
    try {
      regex = compileRe2(pattern, true)
    } catch (err) {
      throw new Error(`${at}.regex: ${(err as Error).message}`, { cause: err })
    }
    const rule: RelabelRule = {
      sourceLabels: sourceLabels as string[],
      separator: str('separator', ';'),
      targetLabel: str('target_label', ''),
      regex,
      modulus: o.modulus === undefined ? 0 : Number(o.modulus),
      replacement: str('replacement', '$1'),
      action: action.toLowerCase() as RelabelAction,
    }
    // Prometheus's load-time checks.
    const a = rule.action
    if (
      (a === 'replace' ||
        a === 'hashmod' ||
        a === 'lowercase' ||
        a === 'uppercase' ||
        a === 'keepequal' ||
        a === 'dropequal') &&
      rule.targetLabel === ''
    )
      throw new Error(`${at}.target_label: required for action ${a}`)
    if (
      (a === 'lowercase' ||
        a === 'uppercase' ||
        a === 'hashmod' ||
        a === 'keepequal' ||
        a === 'dropequal') &&
      !LABEL_NAME.test(rule.targetLabel)
    )
      throw new Error(`${at}.target_label: ${JSON.stringify(rule.targetLabel)} is not a label name`)
    if (a === 'hashmod' && (!Number.isInteger(rule.modulus) || rule.modulus <= 0))
      throw new Error(`${at}.modulus: required, a positive integer, for action hashmod`)
    if (
      (a === 'labeldrop' || a === 'labelkeep') &&
      (o.source_labels !== undefined || o.target_label !== undefined || o.replacement !== undefined)
    )
      throw new Error(`${at}: ${a} takes only regex`)
    if ((a === 'keepequal' || a === 'dropequal') && o.regex !== undefined)
      throw new Error(`${at}.regex: not taken by ${a}`)
    return rule
  })
}

/**
 * expand is Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}` replaced by the group (empty when
 * there is none; `$1x` names the group "1x", as in Go), `$$` by `$`.
 */
export function expand(template: string, m: RegExpExecArray): string {
  if (!template.includes('$')) return template
  let out = ''
  let i = 0
  while (i < template.length) {
    const c = template[i]
    if (c !== '$' || i + 1 >= template.length) {
      out += c
      i++
      continue
    }
    if (template[i + 1] === '$') {
      out += '$'
      i += 2
      continue
    }
    let name: string
    if (template[i + 1] === '{') {
      const close = template.indexOf('}', i + 2)
      if (close < 0) {
        out += c
        i++
        continue
      }
      name = template.slice(i + 2, close)
      i = close + 1
    } else {
      let j = i + 1
      while (j < template.length && /[A-Za-z0-9_]/.test(template[j])) j++
      if (j === i + 1) {
        out += c
        i++
        continue
      }
      name = template.slice(i + 1, j)
      i = j
    }
    if (/^\d+$/.test(name)) out += m[Number(name)] ?? ''
    else out += m.groups?.[name] ?? ''
  }
  return out
}

// md5 of the value, the last 8 bytes as a big-endian uint64, modulo `modulus` (Prometheus's hashmod).
function hashmod(value: string, modulus: number): string {
  const h = createHash('md5').update(value).digest()
  return String(h.readBigUInt64BE(8) % BigInt(modulus))
}

/**
 * relabel applies `rules` to `labels` in order (changing it) and returns false when a keep or drop
 * rule dropped the whole set. A label set to '' is removed, as Prometheus does.
 */
export function relabel(labels: Map<string, string>, rules: readonly RelabelRule[]): boolean {
  for (const r of rules) {
    let value = ''
    for (let k = 0; k < r.sourceLabels.length; k++) {
      if (k > 0) value += r.separator
      value += labels.get(r.sourceLabels[k]) ?? ''
    }
    switch (r.action) {
      case 'drop':
        if (r.regex.test(value)) return false
        break
      case 'keep':
        if (!r.regex.test(value)) return false
        break
      case 'dropequal':
        if ((labels.get(r.targetLabel) ?? '') === value) return false
        break
      case 'keepequal':
        if ((labels.get(r.targetLabel) ?? '') !== value) return false
        break
      case 'replace': {
        r.regex.lastIndex = 0
        const m = r.regex.exec(value)
        if (m === null) break
        const target = expand(r.targetLabel, m)
        if (!LABEL_NAME.test(target)) break
        const res = expand(r.replacement, m)
        if (res === '') labels.delete(target)
        else labels.set(target, res)
        break
      }
      case 'lowercase':
        labels.set(r.targetLabel, value.toLowerCase())
        break
      case 'uppercase':
        labels.set(r.targetLabel, value.toUpperCase())
        break
      case 'hashmod':
        labels.set(r.targetLabel, hashmod(value, r.modulus))
        break
      case 'labelmap':
        for (const [name, v] of [...labels]) {
          const m = r.regex.exec(name)
          if (m !== null) labels.set(expand(r.replacement, m), v)
        }
        break
      case 'labeldrop':
        for (const name of [...labels.keys()]) if (r.regex.test(name)) labels.delete(name)
        break
      case 'labelkeep':
        for (const name of [...labels.keys()]) if (!r.regex.test(name)) labels.delete(name)
        break
    }
  }
  for (const [k, v] of labels) if (v === '') labels.delete(k)
  return true
}
