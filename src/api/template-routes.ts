// Falcon's template, strategy, expression and action routes (controller/template, strategy and
// expression): the alarm rules hbs hands to judge. Writes are checked the way hbs and judge read
// the rows back (func syntax, tags, expression text, thresholds): a rule stored is one that runs.
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { parseTagMatchers } from '../core/index.js'
import type { Expression, PortalDatabase, Strategy } from '../store/index.js'
import { type AuthUser, isAdmin } from './auth.js'
import { badRequest, conflict, forbidden, notFound, parse } from './http-errors.js'
import { DEFAULT_METRICS } from './metric-list.js'
import {
  assertMayChange,
  filterByName,
  idParam,
  insertedId,
  isUniqueViolation,
  message,
  pageOf,
  type PortalContext,
  searchOf,
  searchPage,
  searchRegExp,
  userOf,
} from './portal.js'

type Db = Kysely<PortalDatabase>

const INT32_MAX = 2_147_483_647
/** ALL: falcon answers a whole list when no `page` is given; this is the most rows a page holds. */
const ALL = 10_000
/** MAX_CHAIN: hbs drops a template whose chain (itself and its ancestors) reaches 10 templates. */
const MAX_CHAIN = 9
/** JUDGE_FUNCS: the judge functions of one argument, `name(#N)`; `lookup(#M,N)` takes two. */
const JUDGE_FUNCS = ['all', 'max', 'min', 'sum', 'avg', 'diff', 'pdiff', 'stddev'] as const
const OPS = ['==', '!=', '<', '<=', '>', '>='] as const
/** FOR_MAX: the longest `for` of a rule, a week in seconds. */
const FOR_MAX = 604_800

const TPL_COLUMNS = ['id', 'tpl_name', 'parent_id', 'action_id', 'create_user'] as const
const ACTION_COLUMNS = [
  'id',
  'uic',
  'url',
  'callback',
  'before_callback_sms',
  'before_callback_mail',
  'after_callback_sms',
  'after_callback_mail',
] as const

/** NO_ACTION is what falcon answers for a template or expression without an action row. */
const NO_ACTION = {
  id: 0,
  uic: '',
  url: '',
  callback: 0,
  before_callback_sms: 0,
  before_callback_mail: 0,
  after_callback_sms: 0,
  after_callback_mail: 0,
}

// ---- field schemas: every message names what is expected ----

/** Form posts carry numbers as text; JSON clients send numbers. Both read as numbers. */
const numeric = (v: unknown): unknown =>
  typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v

const int = (min: number, max: number, what = `an integer ${min}..${max}`) =>
  z.preprocess(
    numeric,
    z
      .number({ error: (i) => (i.input === undefined ? `required: ${what}` : `expected ${what}`) })
      .int(`expected ${what}`)
      .min(min, `expected ${what}`)
      .max(max, `expected ${what}`)
  )

const id = (what = 'a positive integer id') => int(1, INT32_MAX, what)

/** flag: a tinyint 0/1 of the action table; JSON booleans are taken too. */
const flag = z
  .preprocess(
    (v) => (typeof v === 'boolean' ? Number(v) : numeric(v)),
    z.number({ error: 'expected 0 or 1' }).refine((n) => n === 0 || n === 1, 'expected 0 or 1')
  )
  .default(0)

const text = (max: number, what: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? `required: ${what}` : `expected ${what}`) })
    .max(max, `expected at most ${max} characters`)

const noOuterSpace = (s: string) => s.trim() === s

/** DECIMAL_RE: the float syntax that Go's ParseFloat (hbs) and JavaScript's Number agree on. */
const DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

const rightValue = (max: number) =>
  z.preprocess(
    (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : v),
    text(max, 'a number')
      .min(1, { error: 'required: a number', abort: true })
      .refine(
        (s) => DECIMAL_RE.test(s) && Number.isFinite(Number(s)),
        'expected a finite decimal number such as 90, -1.5 or 1e3'
      )
  )

const op = z.enum(OPS, { error: `expected one of ${OPS.join(' ')}` })

/**
 * forSeconds: Peregrine's `for` of a rule (not falcon's): seconds the condition must hold before judge
 * sends the first PROBLEM; 0 sends at once, as falcon. Optional: a create without it stores 0, an
 * update without it keeps the stored value (falcon's dashboard does not know the field).
 */
const forSeconds = int(0, FOR_MAX, `an integer number of seconds 0..${FOR_MAX}`).optional()

const FUNC_USAGE = `expected ${JUDGE_FUNCS.map((f) => `${f}(#N)`).join(', ')} or lookup(#M,N)`

/** funcProblem says what is wrong with a judge function like `all(#3)`, or undefined if nothing. */
export function funcProblem(f: string): string | undefined {
  const m = /^([a-z]+)\(#(\d+)(?:,(\d+))?\)$/.exec(f)
  if (m === null) return FUNC_USAGE
  const [, name = '', a = '', b] = m
  const positive = (s: string) => /^[1-9]\d*$/.test(s)
  if (name === 'lookup') {
    if (b === undefined) return 'lookup takes two arguments: lookup(#M,N), M of the newest N points'
    if (!positive(a) || !positive(b)) return 'lookup(#M,N): M and N must be positive integers'
    if (Number(a) > Number(b)) return `lookup(#${a},${b}): M must not exceed N`
    return undefined
  }
  if (!(JUDGE_FUNCS as readonly string[]).includes(name))
    return `unknown function ${name}: ${FUNC_USAGE}`
  if (b !== undefined) return `${name} takes one argument: ${name}(#N)`
  if (!positive(a)) return `${name}(#N): N must be a positive integer`
  return undefined
}

const func = text(16, 'a judge function such as all(#3)').superRefine((f, c) => {
  const p = funcProblem(f)
  if (p !== undefined) c.addIssue({ code: 'custom', message: p })
})

/**
 * AGENT_BUILTIN_METRICS: the metrics whose strategy tags tell agents what to collect (hbs's
 * Agent.BuiltinMetrics sends them the tags text: `port=80` for net.port.listen, ...); an agent reads
 * only `k=v` there, so their strategies take no other matcher.
 */
const AGENT_BUILTIN_METRICS: ReadonlySet<string> = new Set([
  'net.port.listen',
  'proc.num',
  'du.bs',
  'url.check.health',
])

/**
 * tagsProblem checks a strategy's tags (`k=v`, `k!=v`, `k=~regex`, `k!~regex`, separated by commas;
 * see core's parseTagMatchers), or undefined when they are fine (empty is fine). With `metric`, an
 * agent's builtin metric takes exact `k=v` only.
 */
export function tagsProblem(tags: string, metric?: string): string | undefined {
  let matchers
  try {
    matchers = parseTagMatchers(tags)
  } catch (err) {
    return (err as Error).message
  }
  if (metric !== undefined && AGENT_BUILTIN_METRICS.has(metric)) {
    const other = matchers.find((m) => m.op !== '=')
    if (other !== undefined) {
      return `${metric}'s tags tell agents what to collect: write them as exact k=v, not ${other.name}${other.op}`
    }
  }
  return undefined
}

/**
 * parseExpression reads an expression as hbs does (`each(metric=qps endpoint=host1 project=x)`):
 * the text between the first `(` and the first `)`, whitespace-separated `k=v` pairs with exactly
 * one `=`, at least two of them, `metric` among them. It returns the metric and the other tags, or
 * throws an Error saying what is wrong.
 */
export function parseExpression(exp: string): { metric: string; tags: Record<string, string> } {
  const usage = 'write it as each(metric=NAME k=v ...)'
  const left = exp.indexOf('(')
  const right = exp.indexOf(')')
  if (left < 0) throw new Error(`no "(": ${usage}`)
  if (right < left) throw new Error(`no ")" after the first "(": ${usage}`)
  const pairs = exp
    .slice(left + 1, right)
    .split(/\s+/)
    .filter((s) => s !== '')
  if (pairs.length < 2) {
    throw new Error(`needs at least 2 k=v pairs (metric and a tag such as endpoint): ${usage}`)
  }
  const tags: Record<string, string> = {}
  for (const pair of pairs) {
    const kv = pair.split('=')
    if (kv.length !== 2) throw new Error(`"${pair}" is not k=v with exactly one "="`)
    const [k = '', v = ''] = kv
    if (k === '' || v === '') throw new Error(`"${pair}" needs a non-empty key and value`)
    if (Object.hasOwn(tags, k)) throw new Error(`${k} is given twice`)
    tags[k] = v
  }
  const metric = tags.metric
  if (metric === undefined) throw new Error(`no metric=NAME among the pairs: ${usage}`)
  delete tags.metric
  return { metric, tags }
}

const expressionText = text(
  1024,
  'an expression such as each(metric=qps endpoint=host1)'
).superRefine((exp, c) => {
  try {
    parseExpression(exp)
  } catch (err) {
    c.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

const HHMM_RE = /^(?:[01]\d|2[0-3]):[0-5]\d$/
const runTime = text(5, 'HH:MM')
  .default('')
  .refine((s) => s === '' || HHMM_RE.test(s), 'expected HH:MM between 00:00 and 23:59, or empty')

const URL_RE = /^https?:\/\/[^\s/]+\S*$/i
const actionFields = {
  url: text(255, 'a URL')
    .default('')
    .refine((u) => u === '' || URL_RE.test(u), 'expected an http:// or https:// URL, or empty'),
  callback: flag,
  before_callback_sms: flag,
  before_callback_mail: flag,
  after_callback_sms: flag,
  after_callback_mail: flag,
}

/** callbackNeedsUrl: alarm calls `url` when `callback` is 1, so callback without url is refused. */
function callbackNeedsUrl(a: { url: string; callback: number }, c: z.RefinementCtx) {
  if (a.callback === 1 && a.url === '') {
    c.addIssue({ code: 'custom', path: ['url'], message: 'required when callback is 1' })
  }
}

/** uic of a template action: a comma list of team names ('' for none). */
const uicList = text(255, 'a comma list of team names')
  .default('')
  .refine(
    (s) => s.trim() === '' || s.split(',').every((t) => t.trim() !== ''),
    'expected team names separated by commas, without empty names'
  )

const NewTemplate = z.object({
  name: text(255, 'a template name').trim().min(1, 'required: a template name'),
  parent_id: int(0, INT32_MAX, 'a template id, or 0 for none').default(0),
  action_id: int(0, INT32_MAX, 'an action id, or 0 for none').default(0),
})

const TemplateUpdate = z.object({
  tpl_id: id(),
  name: text(255, 'a template name').trim().min(1, 'required: a template name'),
  parent_id: int(0, INT32_MAX, 'a template id, or 0 for none'),
})

const TemplateAction = z
  .object({ tpl_id: id(), uic: uicList, ...actionFields })
  .superRefine(callbackNeedsUrl)

const TemplateActionUpdate = z
  .object({ id: id(), uic: uicList, ...actionFields })
  .superRefine(callbackNeedsUrl)

const strategyFields = {
  metric: text(128, 'a metric name')
    .min(1, { error: 'required: a metric name', abort: true })
    .refine(noOuterSpace, 'must not start or end with spaces'),
  tags: text(256, 'tags as k=v,k2=v2 (or k!=v, k=~regex, k!~regex)')
    .default('')
    .superRefine((t, c) => {
      const p = tagsProblem(t)
      if (p !== undefined) c.addIssue({ code: 'custom', message: p })
    }),
  max_step: id('an integer ≥ 1 (alarms sent per problem)'),
  priority: int(0, 6, 'a priority 0..6'),
  func,
  op,
  right_value: rightValue(64),
  note: text(128, 'a note').default(''),
  run_begin: runTime,
  run_end: runTime,
}

/** builtinTags: an agent's builtin metric (net.port.listen, ...) takes exact tags only. */
function builtinTags(s: { metric: string; tags: string }, c: z.RefinementCtx) {
  // The tags' own syntax is checked by their field; this adds what depends on the metric.
  if (tagsProblem(s.tags) !== undefined) return
  const p = tagsProblem(s.tags, s.metric)
  if (p !== undefined) c.addIssue({ code: 'custom', path: ['tags'], message: p })
}

/** runPair: hbs treats a strategy as always active only when both times are empty. */
function runPair(s: { run_begin: string; run_end: string }, c: z.RefinementCtx) {
  if ((s.run_begin === '') !== (s.run_end === '')) {
    c.addIssue({
      code: 'custom',
      path: [s.run_begin === '' ? 'run_begin' : 'run_end'],
      message: 'run_begin and run_end are both HH:MM or both empty (always active)',
    })
  }
}

const NewStrategy = z
  .object({ ...strategyFields, for: forSeconds, tpl_id: id('a template id') })
  .superRefine(runPair)
  .superRefine(builtinTags)
const StrategyUpdate = z
  .object({ id: id(), ...strategyFields, for: forSeconds })
  .superRefine(runPair)
  .superRefine(builtinTags)

const expressionAction = z
  .object(
    {
      uic: z
        .array(
          z
            .string({ error: 'expected a team name' })
            .trim()
            .min(1, 'expected a team name')
            .refine((t) => !t.includes(','), 'a team name has no commas'),
          {
            error: (i) =>
              i.input === undefined
                ? 'required: a list of team names'
                : 'expected a list of team names',
          }
        )
        .max(64, 'expected at most 64 teams'),
      ...actionFields,
    },
    {
      error: (i) =>
        i.input === undefined ? 'required: the action {uic: [teams], ...}' : 'expected an object',
    }
  )
  .superRefine(callbackNeedsUrl)

const expressionFields = {
  expression: expressionText,
  func,
  op,
  right_value: rightValue(16),
  max_step: id('an integer ≥ 1 (alarms sent per problem)'),
  priority: int(0, 6, 'a priority 0..6'),
  note: text(1024, 'a note').default(''),
  pause: flag,
  for: forSeconds,
  action: expressionAction,
}

const NewExpression = z.object(expressionFields)
const ExpressionUpdate = z.object({ id: id(), ...expressionFields })

// ---- store helpers ----

function loadTpl(db: Db, tplId: number) {
  return db.selectFrom('tpl').select(TPL_COLUMNS).where('id', '=', tplId).executeTakeFirst()
}

async function mustTpl(db: Db, tplId: number, field: string) {
  const tpl = await loadTpl(db, tplId)
  if (tpl === undefined) throw notFound(`${field}: no template with id ${tplId}`)
  return tpl
}

function loadAction(db: Db, actionId: number) {
  return db
    .selectFrom('action')
    .select(ACTION_COLUMNS)
    .where('id', '=', actionId)
    .executeTakeFirst()
}

/**
 * checkParent refuses a `parent_id` that does not exist, is the template itself or one of its
 * descendants (a cycle), or makes a chain hbs would drop (10 templates or more).
 */
async function checkParent(db: Db, tplId: number | undefined, parentId: number): Promise<void> {
  if (parentId === 0) return
  if (parentId === tplId) throw badRequest('body.parent_id: a template cannot be its own parent')
  const rows = await db.selectFrom('tpl').select(['id', 'parent_id']).execute()
  const parentOf = new Map(rows.map((r) => [r.id, r.parent_id]))
  if (!parentOf.has(parentId)) throw badRequest(`body.parent_id: no template with id ${parentId}`)
  let above = 0
  const seen = new Set<number>()
  for (let p = parentId; p !== 0 && parentOf.has(p); p = parentOf.get(p) ?? 0) {
    if (p === tplId) {
      throw badRequest(
        `body.parent_id: template ${parentId} inherits from template ${tplId}: ` +
          'this would make a cycle'
      )
    }
    if (seen.has(p))
      throw badRequest(`body.parent_id: the ancestors of template ${parentId} form a cycle`)
    seen.add(p)
    above++
  }
  // The template and its descendants move under the parent: the deepest of them sets the length.
  let below = 1
  if (tplId !== undefined) {
    const children = new Map<number, number[]>()
    for (const r of rows) {
      const list = children.get(r.parent_id)
      if (list === undefined) children.set(r.parent_id, [r.id])
      else list.push(r.id)
    }
    const visited = new Set<number>([tplId])
    let level = [tplId]
    while (level.length > 0) {
      const next = level.flatMap((t) => children.get(t) ?? []).filter((t) => !visited.has(t))
      for (const t of next) visited.add(t)
      if (next.length > 0) below++
      level = next
    }
  }
  if (above + below > MAX_CHAIN) {
    throw badRequest(
      `body.parent_id: the inheritance chain would be ${above + below} templates long; ` +
        `hbs ignores chains of 10 or more, so keep it to ${MAX_CHAIN}`
    )
  }
}

/** checkTeams refuses team names that do not exist, naming them. */
async function checkTeams(db: Db, names: readonly string[], field: string): Promise<void> {
  if (names.length === 0) return
  const rows = await db.selectFrom('team').select('name').where('name', 'in', names).execute()
  const known = new Set(rows.map((r) => r.name))
  const unknown = names.filter((n) => !known.has(n))
  if (unknown.length > 0) {
    throw badRequest(`${field}: no team named ${unknown.join(', ')}`)
  }
}

/** teamsOf splits a template action's `uic` into unique, trimmed team names. */
const teamsOf = (uic: string): string[] =>
  uic.trim() === '' ? [] : [...new Set(uic.split(',').map((t) => t.trim()))]

/**
 * assertMayChangeAction applies the creator rule to an action: the user must be allowed to change
 * every template and expression that uses it. An action that nothing uses is an admin's to change.
 */
async function assertMayChangeAction(db: Db, user: AuthUser, actionId: number): Promise<void> {
  const tpls = await db
    .selectFrom('tpl')
    .select(['tpl_name', 'create_user'])
    .where('action_id', '=', actionId)
    .execute()
  const exps = await db
    .selectFrom('expression')
    .select(['id', 'create_user'])
    .where('action_id', '=', actionId)
    .execute()
  if (tpls.length === 0 && exps.length === 0 && !isAdmin(user)) {
    throw forbidden(
      `action ${actionId} belongs to no template or expression: only an admin may change it`
    )
  }
  for (const t of tpls)
    assertMayChange(user, t.create_user, `action ${actionId} of template ${t.tpl_name}`)
  for (const e of exps)
    assertMayChange(user, e.create_user, `action ${actionId} of expression ${e.id}`)
}

/** dropActionIfUnused deletes an action row once no template or expression refers to it. */
async function dropActionIfUnused(db: Db, actionId: number): Promise<void> {
  if (actionId === 0) return
  const tpl = await db
    .selectFrom('tpl')
    .select('id')
    .where('action_id', '=', actionId)
    .executeTakeFirst()
  if (tpl !== undefined) return
  const exp = await db
    .selectFrom('expression')
    .select('id')
    .where('action_id', '=', actionId)
    .executeTakeFirst()
  if (exp !== undefined) return
  await db.deleteFrom('action').where('id', '=', actionId).execute()
}

async function mustStrategy(db: Db, sid: number, field: string) {
  const s = await db.selectFrom('strategy').selectAll().where('id', '=', sid).executeTakeFirst()
  if (s === undefined) throw notFound(`${field}: no strategy with id ${sid}`)
  return s
}

/** assertMayChangeStrategies: strategies belong to their template's creator (and admins). */
async function assertMayChangeStrategies(db: Db, user: AuthUser, tplId: number): Promise<void> {
  const tpl = await loadTpl(db, tplId)
  if (tpl === undefined) {
    if (!isAdmin(user))
      throw forbidden(`template ${tplId} is gone: only an admin may change its strategies`)
    return
  }
  assertMayChange(user, tpl.create_user, `strategies of template ${tpl.tpl_name}`)
}

async function mustExpression(db: Db, eid: number, field: string) {
  const e = await db.selectFrom('expression').selectAll().where('id', '=', eid).executeTakeFirst()
  if (e === undefined) throw notFound(`${field}: no expression with id ${eid}`)
  return e
}

/**
 * ruleJson answers a strategy or expression row: falcon's fields, then Peregrine's `for` (seconds; the
 * `for_duration` column) last.
 */
function ruleJson<R extends Strategy | Expression>({
  for_duration,
  ...falcon
}: R): Omit<R, 'for_duration'> & { for: number } {
  return { ...falcon, for: for_duration }
}

/** forColumn: the `for_duration` to write for a body's `for`: none (kept) when the body has none. */
const forColumn = (f: number | undefined) => (f === undefined ? {} : { for_duration: f })

function expressionRow(body: z.infer<typeof NewExpression>) {
  return {
    expression: body.expression,
    func: body.func,
    op: body.op,
    right_value: body.right_value,
    max_step: body.max_step,
    priority: body.priority,
    note: body.note,
    pause: body.pause,
    ...forColumn(body.for),
  }
}

type ActionFlags = Omit<z.infer<typeof expressionAction>, 'uic'>

function actionRow(a: ActionFlags, uic: readonly string[]) {
  return {
    uic: uic.join(','),
    url: a.url,
    callback: a.callback,
    before_callback_sms: a.before_callback_sms,
    before_callback_mail: a.before_callback_mail,
    after_callback_sms: a.after_callback_sms,
    after_callback_mail: a.after_callback_mail,
  }
}

/** expressionTeams checks an expression action's teams and the length of their comma list. */
async function expressionTeams(db: Db, uic: readonly string[]): Promise<string[]> {
  const names = [...new Set(uic)]
  if (names.join(',').length > 255) {
    throw badRequest(
      'body.action.uic: the team names take more than 255 characters joined by commas'
    )
  }
  await checkTeams(db, names, 'body.action.uic')
  return names
}

export function registerTemplateRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { store } = ctx

  // ---- templates ----

  app.get('/api/v1/template', async (req) => {
    const search = searchOf(req.query, ALL)
    const query = store.db
      .selectFrom('tpl')
      .leftJoin('tpl as p', 'p.id', 'tpl.parent_id')
      .select([
        'tpl.id',
        'tpl.tpl_name',
        'tpl.parent_id',
        'tpl.action_id',
        'tpl.create_user',
        'p.tpl_name as parent_name',
      ])
      .orderBy('tpl.id')
    const rows = await searchPage(query, 'tpl_name', search)
    return {
      templates: rows.map(({ parent_name, ...template }) => ({
        template,
        parent_name: parent_name ?? '',
      })),
    }
  })

  app.get('/api/v1/template_simple', async (req) => {
    // falcon's template_simple takes no page: every matching template.
    const re = searchRegExp((req.query as Record<string, unknown>).q, 'i')
    const rows = await store.db.selectFrom('tpl').select(TPL_COLUMNS).orderBy('id').execute()
    return filterByName(rows, re, 'tpl_name')
  })

  app.get('/api/v1/template/:tpl_id', async (req) => {
    const tplId = idParam(req.params, 'tpl_id')
    const template = await mustTpl(store.db, tplId, 'tpl_id')
    const stratges = await store.db
      .selectFrom('strategy')
      .selectAll()
      .where('tpl_id', '=', tplId)
      .orderBy('id')
      .execute()
    const action =
      template.action_id === 0 ? undefined : await loadAction(store.db, template.action_id)
    const parent =
      template.parent_id === 0 ? undefined : await loadTpl(store.db, template.parent_id)
    return {
      template,
      stratges: stratges.map(ruleJson),
      action: action ?? NO_ACTION,
      parent_name: parent?.tpl_name ?? '',
    }
  })

  app.get('/api/v1/template/:tpl_id/hostgroup', async (req) => {
    const tplId = idParam(req.params, 'tpl_id')
    const template = await mustTpl(store.db, tplId, 'tpl_id')
    const hostgroups = await store.db
      .selectFrom('grp_tpl')
      .innerJoin('grp', 'grp.id', 'grp_tpl.grp_id')
      .select(['grp.id', 'grp.grp_name', 'grp.create_user'])
      .distinct()
      .where('grp_tpl.tpl_id', '=', tplId)
      .orderBy('grp.id')
      .execute()
    return { template, hostgroups }
  })

  app.post('/api/v1/template', async (req) => {
    const user = userOf(req)
    const body = parse(NewTemplate, req.body)
    const tplId = await store.db.transaction().execute(async (trx) => {
      await checkParent(trx, undefined, body.parent_id)
      if (body.action_id !== 0) {
        if ((await loadAction(trx, body.action_id)) === undefined) {
          throw badRequest(`body.action_id: no action with id ${body.action_id}`)
        }
        await assertMayChangeAction(trx, user, body.action_id)
      }
      try {
        return insertedId(
          await trx
            .insertInto('tpl')
            .values({
              tpl_name: body.name,
              parent_id: body.parent_id,
              action_id: body.action_id,
              create_user: user.name,
            })
            .executeTakeFirst()
        )
      } catch (err) {
        if (isUniqueViolation(err))
          throw conflict(`body.name: template ${body.name} already exists`)
        throw err
      }
    })
    return await mustTpl(store.db, tplId, 'tpl_id')
  })

  app.put('/api/v1/template', async (req) => {
    const user = userOf(req)
    const body = parse(TemplateUpdate, req.body)
    await store.db.transaction().execute(async (trx) => {
      const tpl = await mustTpl(trx, body.tpl_id, 'body.tpl_id')
      assertMayChange(user, tpl.create_user, `template ${tpl.tpl_name}`)
      await checkParent(trx, tpl.id, body.parent_id)
      try {
        await trx
          .updateTable('tpl')
          .set({ tpl_name: body.name, parent_id: body.parent_id })
          .where('id', '=', tpl.id)
          .execute()
      } catch (err) {
        if (isUniqueViolation(err))
          throw conflict(`body.name: template ${body.name} already exists`)
        throw err
      }
    })
    return message('template updated')
  })

  app.delete('/api/v1/template/:tpl_id', async (req) => {
    const user = userOf(req)
    const tplId = idParam(req.params, 'tpl_id')
    await store.db.transaction().execute(async (trx) => {
      const tpl = await mustTpl(trx, tplId, 'tpl_id')
      assertMayChange(user, tpl.create_user, `template ${tpl.tpl_name}`)
      await trx.deleteFrom('tpl').where('id', '=', tplId).execute()
      await trx.deleteFrom('strategy').where('tpl_id', '=', tplId).execute()
      await trx.deleteFrom('grp_tpl').where('tpl_id', '=', tplId).execute()
      // Children keep their own strategies and stop inheriting (falcon left them dangling).
      await trx.updateTable('tpl').set({ parent_id: 0 }).where('parent_id', '=', tplId).execute()
      await dropActionIfUnused(trx, tpl.action_id)
    })
    return message(`template ${tplId} has been deleted`)
  })

  app.post('/api/v1/template/action', async (req) => {
    const user = userOf(req)
    const body = parse(TemplateAction, req.body)
    const uic = teamsOf(body.uic)
    await store.db.transaction().execute(async (trx) => {
      const tpl = await mustTpl(trx, body.tpl_id, 'body.tpl_id')
      assertMayChange(user, tpl.create_user, `template ${tpl.tpl_name}`)
      await checkTeams(trx, uic, 'body.uic')
      const actionId = insertedId(
        await trx.insertInto('action').values(actionRow(body, uic)).executeTakeFirst()
      )
      await trx.updateTable('tpl').set({ action_id: actionId }).where('id', '=', tpl.id).execute()
      // The template's previous action, if any, is replaced rather than left behind unused.
      await dropActionIfUnused(trx, tpl.action_id)
    })
    return message(`action is created and bind to template: ${body.tpl_id}`)
  })

  app.put('/api/v1/template/action', async (req) => {
    const user = userOf(req)
    const body = parse(TemplateActionUpdate, req.body)
    const uic = teamsOf(body.uic)
    await store.db.transaction().execute(async (trx) => {
      if ((await loadAction(trx, body.id)) === undefined) {
        throw notFound(`body.id: no action with id ${body.id}`)
      }
      await assertMayChangeAction(trx, user, body.id)
      await checkTeams(trx, uic, 'body.uic')
      await trx.updateTable('action').set(actionRow(body, uic)).where('id', '=', body.id).execute()
    })
    return message('action is updated, row affected: 1')
  })

  app.get('/api/v1/action/:act_id', async (req) => {
    const actionId = idParam(req.params, 'act_id')
    const action = await loadAction(store.db, actionId)
    if (action === undefined) throw notFound(`act_id: no action with id ${actionId}`)
    return action
  })

  // ---- strategies ----

  app.get('/api/v1/strategy', async (req) => {
    const tplId = idParam(req.query, 'tid')
    await mustTpl(store.db, tplId, 'tid')
    const rows = await store.db
      .selectFrom('strategy')
      .selectAll()
      .where('tpl_id', '=', tplId)
      .orderBy('id')
      .execute()
    return rows.map(ruleJson)
  })

  app.get('/api/v1/strategy/:sid', async (req) => {
    return ruleJson(await mustStrategy(store.db, idParam(req.params, 'sid'), 'sid'))
  })

  app.post('/api/v1/strategy', async (req) => {
    const user = userOf(req)
    const { for: forSecs = 0, ...body } = parse(NewStrategy, req.body)
    const sid = await store.db.transaction().execute(async (trx) => {
      const tpl = await loadTpl(trx, body.tpl_id)
      if (tpl === undefined) throw badRequest(`body.tpl_id: no template with id ${body.tpl_id}`)
      assertMayChange(user, tpl.create_user, `strategies of template ${tpl.tpl_name}`)
      return insertedId(
        await trx
          .insertInto('strategy')
          .values({ ...body, for_duration: forSecs })
          .executeTakeFirst()
      )
    })
    return ruleJson(await mustStrategy(store.db, sid, 'id'))
  })

  app.put('/api/v1/strategy', async (req) => {
    const user = userOf(req)
    const { id: sid, for: forSecs, ...fields } = parse(StrategyUpdate, req.body)
    await store.db.transaction().execute(async (trx) => {
      const s = await mustStrategy(trx, sid, 'body.id')
      await assertMayChangeStrategies(trx, user, s.tpl_id)
      await trx
        .updateTable('strategy')
        .set({ ...fields, ...forColumn(forSecs) })
        .where('id', '=', sid)
        .execute()
    })
    return message(`stragtegy:${sid} has been updated`)
  })

  app.delete('/api/v1/strategy/:sid', async (req) => {
    const user = userOf(req)
    const sid = idParam(req.params, 'sid')
    await store.db.transaction().execute(async (trx) => {
      const s = await mustStrategy(trx, sid, 'sid')
      await assertMayChangeStrategies(trx, user, s.tpl_id)
      await trx.deleteFrom('strategy').where('id', '=', sid).execute()
    })
    return message(`strategy:${sid} has been deleted`)
  })

  app.get('/api/v1/metric/default_list', () => DEFAULT_METRICS)

  // ---- expressions ----

  app.get('/api/v1/expression', async (req) => {
    const { limit, offset } = pageOf(req.query, ALL)
    const rows = await store.db
      .selectFrom('expression')
      .selectAll()
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute()
    return rows.map(ruleJson)
  })

  app.get('/api/v1/expression/:eid', async (req) => {
    const expression = await mustExpression(store.db, idParam(req.params, 'eid'), 'eid')
    const action =
      expression.action_id === 0 ? undefined : await loadAction(store.db, expression.action_id)
    return { expression: ruleJson(expression), action: action ?? NO_ACTION }
  })

  app.post('/api/v1/expression', async (req) => {
    const user = userOf(req)
    const body = parse(NewExpression, req.body)
    await store.db.transaction().execute(async (trx) => {
      const uic = await expressionTeams(trx, body.action.uic)
      const actionId = insertedId(
        await trx.insertInto('action').values(actionRow(body.action, uic)).executeTakeFirst()
      )
      await trx
        .insertInto('expression')
        .values({ ...expressionRow(body), action_id: actionId, create_user: user.name })
        .execute()
    })
    return message('expression created')
  })

  app.put('/api/v1/expression', async (req) => {
    const user = userOf(req)
    const body = parse(ExpressionUpdate, req.body)
    await store.db.transaction().execute(async (trx) => {
      const e = await mustExpression(trx, body.id, 'body.id')
      assertMayChange(user, e.create_user, `expression ${e.id}`)
      const uic = await expressionTeams(trx, body.action.uic)
      const row = actionRow(body.action, uic)
      let actionId = e.action_id
      if (actionId !== 0 && (await loadAction(trx, actionId)) !== undefined) {
        await trx.updateTable('action').set(row).where('id', '=', actionId).execute()
      } else {
        actionId = insertedId(await trx.insertInto('action').values(row).executeTakeFirst())
      }
      await trx
        .updateTable('expression')
        .set({ ...expressionRow(body), action_id: actionId })
        .where('id', '=', e.id)
        .execute()
    })
    return message(`expression:${body.id} has been updated`)
  })

  app.delete('/api/v1/expression/:eid', async (req) => {
    const user = userOf(req)
    const eid = idParam(req.params, 'eid')
    await store.db.transaction().execute(async (trx) => {
      const e = await mustExpression(trx, eid, 'eid')
      assertMayChange(user, e.create_user, `expression ${e.id}`)
      await trx.deleteFrom('expression').where('id', '=', eid).execute()
      await dropActionIfUnused(trx, e.action_id)
    })
    return message(`expression:${eid} has been deleted`)
  })
}
