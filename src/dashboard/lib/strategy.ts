// The strategy form's checks, the rules api and judge apply (docs/api.md, "Rule fields"), run as the
// user types so a mistake is named next to its field before anything is sent. The server checks
// again; its answer is shown the same way.

export interface StrategyForm {
  metric: string
  tags: string
  func: string
  op: string
  right_value: string
  max_step: string
  priority: string
  note: string
  run_begin: string
  run_end: string
  for: string
}

/** A field's problem, as a message key of the catalogue (`strategy.error.*`) and its parameters. */
export interface FieldError {
  key: string
  params?: Record<string, string | number>
}

export type StrategyErrors = Partial<Record<keyof StrategyForm, FieldError>>

export const OPERATORS = ['==', '!=', '<', '<=', '>', '>='] as const
export const FUNCTIONS = [
  'all',
  'max',
  'min',
  'sum',
  'avg',
  'diff',
  'pdiff',
  'stddev',
  'lookup',
] as const

const COUNT = '[1-9][0-9]*'

/** Why `func` is not judge's grammar (all(#3), lookup(#2,5), …), or undefined when it is. */
export function checkFunc(func: string): FieldError | undefined {
  const f = func.trim()
  if (f === '') return { key: 'required' }
  if (f.length > 16) return { key: 'tooLong', params: { max: 16 } }
  const m = /^([a-z]+)\((.*)\)$/.exec(f)
  if (m === null) return { key: 'funcShape' }
  const [, name, args] = m
  if (!(FUNCTIONS as readonly string[]).includes(name))
    return { key: 'funcUnknown', params: { name } }
  if (name === 'lookup') {
    const l = new RegExp(`^#(${COUNT}),(${COUNT})$`).exec(args)
    if (l === null) return { key: 'funcLookup' }
    if (Number(l[1]) > Number(l[2])) return { key: 'funcLookupOrder' }
    return undefined
  }
  if (!new RegExp(`^#${COUNT}$`).test(args)) return { key: 'funcCount', params: { name } }
  return undefined
}

function isDecimal(s: string): boolean {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) && Number.isFinite(Number(s))
}

function intIn(s: string, lo: number, hi: number): boolean {
  return /^\d+$/.test(s.trim()) && Number(s) >= lo && Number(s) <= hi
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/

/** The metrics whose tags tell agents what to collect (`port=80`): exact k=v only, as api says. */
const AGENT_BUILTIN_METRICS = ['net.port.listen', 'proc.num', 'du.bs', 'url.check.health']

/**
 * Why a strategy's tags are not `k=v`, `k!=v`, `k=~regex`, `k!~regex` separated by commas, or
 * undefined when they are (api's rules, core/tag-matchers.ts). A regex is checked with the browser's
 * engine after the RE2 forms it lacks are rewritten, so it passes every RE2 pattern; what only RE2
 * refuses (a look-around, a back reference) is named here, the rest by the server.
 */
export function checkTags(tags: string, metric: string): FieldError | undefined {
  const keys = new Set<string>()
  for (const piece of tags.split(',')) {
    const m = /^([^=!]*)(=~|!~|!=|=)(.*)$/s.exec(piece)
    if (m === null || m[1] === '' || piece !== piece.trim()) return { key: 'tags' }
    const [, name, op, value] = m
    if (name.trim() !== name || value.trim() !== value) return { key: 'tags' }
    if (op === '=' || op === '!=') {
      if (value.includes('=')) return { key: 'tags' }
      if (value.startsWith('~')) return { key: 'tagTilde', params: { key: name } }
    } else if (!re2Plausible(value)) return { key: 'tagRegex', params: { key: name } }
    const slot = op === '=' || op === '=~' ? name : `${name}!`
    if (keys.has(slot)) return { key: 'tagTwice', params: { key: name } }
    keys.add(slot)
    if (op !== '=' && AGENT_BUILTIN_METRICS.includes(metric))
      return { key: 'tagBuiltin', params: { metric } }
  }
  return undefined
}

/** Whether `pattern` compiles as RE2 might: its flag groups and `(?P<` rewritten for the browser. */
function re2Plausible(pattern: string): boolean {
  if (/\(\?<?[=!]/.test(pattern)) return false
  // A back reference: a backslash, itself not escaped, before a digit from 1.
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '\\') continue
    if (/[1-9]/.test(pattern[i + 1] ?? '')) return false
    i++
  }
  const js = pattern
    .replace(/^\(\?[imsU]+\)/, '')
    .replace(/\(\?[imsU]*(?:-[imsU]*)?:/g, '(?:')
    .replace(/\(\?[imsU]+(?:-[imsU]*)?\)/g, '')
    .replace(/\(\?P</g, '(?<')
  try {
    new RegExp(`^(?:${js})$`)
    return true
  } catch {
    return false
  }
}

/** Every field's problem; an empty object when the form may be sent. */
export function checkStrategy(form: StrategyForm): StrategyErrors {
  const errors: StrategyErrors = {}
  const metric = form.metric
  if (metric.trim() === '') errors.metric = { key: 'required' }
  else if (metric !== metric.trim()) errors.metric = { key: 'spaces' }
  else if (metric.length > 128) errors.metric = { key: 'tooLong', params: { max: 128 } }

  if (form.tags !== '') {
    if (form.tags.length > 256) errors.tags = { key: 'tooLong', params: { max: 256 } }
    else {
      const tags = checkTags(form.tags, metric)
      if (tags !== undefined) errors.tags = tags
    }
  }

  const func = checkFunc(form.func)
  if (func !== undefined) errors.func = func
  if (!(OPERATORS as readonly string[]).includes(form.op)) errors.op = { key: 'op' }
  const rv = form.right_value.trim()
  if (rv === '') errors.right_value = { key: 'required' }
  else if (!isDecimal(rv)) errors.right_value = { key: 'number' }
  else if (rv.length > 64) errors.right_value = { key: 'tooLong', params: { max: 64 } }
  if (!intIn(form.max_step, 1, 2147483647))
    errors.max_step = { key: 'intRange', params: { min: 1, max: 2147483647 } }
  if (!intIn(form.priority, 0, 6)) errors.priority = { key: 'intRange', params: { min: 0, max: 6 } }
  if (form.note.length > 128) errors.note = { key: 'tooLong', params: { max: 128 } }
  const rb = form.run_begin.trim()
  const re = form.run_end.trim()
  if (rb !== '' || re !== '') {
    if (!HHMM.test(rb)) errors.run_begin = { key: 'hhmm' }
    if (!HHMM.test(re)) errors.run_end = { key: 'hhmm' }
  }
  if (form.for.trim() !== '' && !intIn(form.for, 0, 604800)) {
    errors.for = { key: 'intRange', params: { min: 0, max: 604800 } }
  }
  return errors
}

/** The body POST/PUT /api/v1/strategy takes, from a form that passed checkStrategy. */
export function strategyBody(form: StrategyForm, tplId: number): Record<string, unknown> {
  return {
    tpl_id: tplId,
    metric: form.metric,
    tags: form.tags,
    func: form.func.trim(),
    op: form.op,
    right_value: form.right_value.trim(),
    max_step: Number(form.max_step),
    priority: Number(form.priority),
    note: form.note,
    run_begin: form.run_begin.trim(),
    run_end: form.run_end.trim(),
    for: form.for.trim() === '' ? 0 : Number(form.for),
  }
}
