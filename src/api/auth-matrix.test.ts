// The auth matrix: every registered route, called as every kind of caller (no token, a forged, an
// expired or a blocked user's token, a plain user, the object's creator, an admin, root, the
// defaultToken), answers what its auth level promises, and a refused call changes nothing in the
// store. A route registered without a row in TABLE fails the coverage test.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { recordAlarmEvent, testEngines } from '../store/index.js'
import { ROLE } from './auth.js'
import { insertedId } from './portal.js'
import { openTestPortal, ROOT_PASSWORD, type TestPortal, type TestResponse } from './testing.js'
import { DASHBOARD_PAGES } from './web-ui.js'

const SERVICE_TOKEN = 'matrix-service-token-0123456789'

/**
 * IDENTITIES: who calls. `forged` is root's name with a made-up sig, `expired` a session of `creator`
 * past its time, `blocked` a user blocked after logging in; `creator` made every fixture a creator
 * rule protects, `other` (role 0) made none; `service` is the defaultToken.
 */
const IDENTITIES = [
  'anonymous',
  'forged',
  'expired',
  'blocked',
  'other',
  'creator',
  'admin',
  'root',
  'service',
] as const
type Identity = (typeof IDENTITIES)[number]

/** USERS: the identities that are rows of `user` (the name each logs in as). */
const USERS = {
  blocked: 'matrix-blocked',
  other: 'matrix-other',
  creator: 'matrix-creator',
  admin: 'matrix-admin',
  root: 'root',
} as const
type UserIdentity = keyof typeof USERS

/**
 * Want is an expected outcome: `ok` any 2xx; `reached` auth passed (neither 401 nor 403: the graph
 * routes then answer 502, as no graph node listens); a number that exact status.
 */
type Want = 'ok' | 'reached' | 401 | 403 | 404

/**
 * Kind is a route's auth level: `open` (no Apitoken), `user` (any valid Apitoken), `creator` (a
 * valid Apitoken, and the write is refused to users who did not create the object), `admin` (role
 * ≥ 1), `graph` (a valid Apitoken; only auth is judged).
 */
type Kind = 'open' | 'user' | 'creator' | 'admin' | 'graph'

const refused = { anonymous: 401, forged: 401, expired: 401, blocked: 401 } as const
const DEFAULTS: Record<Kind, Record<Identity, Want>> = {
  open: {
    anonymous: 'ok',
    forged: 'ok',
    expired: 'ok',
    blocked: 'ok',
    other: 'ok',
    creator: 'ok',
    admin: 'ok',
    root: 'ok',
    service: 'ok',
  },
  user: { ...refused, other: 'ok', creator: 'ok', admin: 'ok', root: 'ok', service: 'ok' },
  creator: { ...refused, other: 403, creator: 'ok', admin: 'ok', root: 'ok', service: 'ok' },
  admin: { ...refused, other: 403, creator: 403, admin: 'ok', root: 'ok', service: 'ok' },
  graph: {
    ...refused,
    other: 'reached',
    creator: 'reached',
    admin: 'reached',
    root: 'reached',
    service: 'reached',
  },
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** Request is one call of a row: path parameters, query, body, and a token other than the caller's. */
interface Request {
  params?: Record<string, string | number>
  query?: Record<string, string>
  body?: unknown
  token?: string
}

/**
 * Row is one route: how to call it (`request` runs before every caller, so that writes act on fresh
 * objects) and what each caller gets.
 */
interface Row {
  method: Method
  /** path: the route exactly as registered, `:name` parameters filled from `request().params`. */
  path: string
  kind: Kind
  request?: (w: World, who: Identity) => Request | Promise<Request>
  /** want: departures from the kind's DEFAULTS, each with its reason beside it. */
  want?: Partial<Record<Identity, Want>>
}

/** Make creates fresh objects as `creator` and returns their ids. */
interface Make {
  user(): Promise<number>
  team(name?: string): Promise<number>
  group(hosts?: string[], name?: string): Promise<number>
  template(name?: string): Promise<number>
  action(tplId: number): Promise<number>
  strategy(tplId: number): Promise<number>
  expression(): Promise<number>
  nodata(): Promise<number>
  aggregator(grpId: number): Promise<number>
  plugin(grpId: number): Promise<number>
  screen(): Promise<number>
  graph(screenId: number): Promise<number>
  tmpgraph(): Promise<number>
}

/** World is one engine's portal with its callers and the fixtures `creator` made in `before`. */
interface World {
  p: TestPortal
  token: Record<Identity, string | undefined>
  uid: Record<UserIdentity, number>
  victim: number
  team: number
  grp: number
  host: number
  tpl: number
  action: number
  strategy: number
  expression: number
  nodata: number
  aggregator: number
  plugin: number
  screen: number
  graph: number
  tmpgraph: number
  make: Make
  /** name returns a name not used before in this world. */
  name(prefix: string): string
  /** tokenFor returns the Apitoken `who` calls with. */
  tokenFor(who: Identity): Promise<string | undefined>
  /** session returns a new session of `who` (for calls that end it), or its token if none can be made. */
  session(who: Identity): Promise<string | undefined>
}

// ---- typed reading of replies (TestResponse.body is not typed)

/** at reads `path` out of a JSON value, or undefined where the value has no such member. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let v = value
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<string | number, unknown>)[key]
  }
  return v
}

/** show quotes a reply for a failure message, its body cut to 160 characters. */
const show = (r: TestResponse): string => {
  const body: unknown = r.body
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? '')
  return `${r.status} ${text.length > 160 ? `${text.slice(0, 160)}…` : text}`
}

/** idAt returns the positive integer at `path` of the reply, or throws quoting the reply. */
function idAt(r: TestResponse, ...path: (string | number)[]): number {
  const v = at(r.body, ...path)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new Error(`expected an id at ${path.join('.') || 'the top'}, got ${show(r)}`)
  }
  return v
}

function urlOf(path: string, params: Record<string, string | number> = {}): string {
  return path.replace(/:(\w+)/g, (_m, name: string) => {
    const v = params[name]
    if (v === undefined) throw new Error(`BUG: the row for ${path} gives no :${name}`)
    return encodeURIComponent(String(v))
  })
}

function matches(status: number, want: Want): boolean {
  if (want === 'ok') return status >= 200 && status < 300
  if (want === 'reached') return status !== 401 && status !== 403
  return status === want
}

const wantOf = (row: Row, who: Identity): Want => row.want?.[who] ?? DEFAULTS[row.kind][who]

// ---- request bodies

const strategyFields = {
  metric: 'cpu.idle',
  tags: '',
  max_step: 3,
  priority: 2,
  func: 'all(#3)',
  op: '<',
  right_value: '10',
  note: 'matrix',
}
const strategyBody = (tplId: number) => ({ tpl_id: tplId, ...strategyFields })

const expressionBody = (note: string) => ({
  expression: 'each(metric=qps endpoint=matrix-host)',
  func: 'all(#3)',
  op: '>',
  right_value: '100',
  max_step: 3,
  priority: 1,
  note,
  action: { uic: ['matrix-team'] },
})

const aggregatorBody = {
  numerator: '$(cpu.idle)',
  denominator: '$#',
  endpoint: 'matrix-aggregate',
  metric: 'cpu.idle.avg',
  tags: '',
  step: 60,
}

const nodataBody = {
  obj: 'matrix-host',
  obj_type: 'host',
  metric: 'agent.alive',
  tags: '',
  dstype: 'GAUGE',
  step: 60,
  mock: -1,
}

const maintainWindow = { maintain_begin: 1_700_000_000, maintain_end: 1_700_003_600 }

/** alarmCase records (again) a PROBLEM of `w.strategy` on matrix-host and returns its case id. */
async function alarmCase(w: World): Promise<string> {
  const id = `s_${w.strategy}_matrix`
  const strategy = {
    id: w.strategy,
    metric: 'cpu.idle',
    tags: {},
    func: 'all(#3)',
    operator: '<',
    rightValue: 10,
    maxStep: 3,
    priority: 2,
    note: 'matrix',
    tpl: { id: w.tpl, name: 'matrix-tpl', parentId: 0, actionId: w.action, creator: USERS.creator },
  }
  const event = {
    id,
    strategy,
    expression: null,
    status: 'PROBLEM' as const,
    endpoint: 'matrix-host',
    leftValue: 1,
    currentStep: 1,
    eventTime: 1_700_000_000,
    pushedTags: {},
  }
  await recordAlarmEvent(w.p.store.db, event, '1 < 10')
  return id
}

/** silenceBody silences matrix-host for an hour from now. */
const silenceBody = () => ({
  endpoint: 'matrix-host',
  ends_at: Math.floor(Date.now() / 1000) + 3600,
  note: 'matrix',
})

const passwordOf = (who: Identity) =>
  who === 'root' ? ROOT_PASSWORD : `password-${who in USERS ? USERS[who as UserIdentity] : who}`

/** aHostIn makes a fresh group of `creator` holding a fresh host, for writes that change either. */
async function aHostIn(w: World): Promise<{ grp: number; hostname: string; host: number }> {
  const hostname = w.name('matrix-host')
  const grp = await w.make.group([hostname])
  const row = await w.p.store.db
    .selectFrom('host')
    .select('id')
    .where('hostname', '=', hostname)
    .executeTakeFirstOrThrow()
  return { grp, hostname, host: row.id }
}

// ---- the table: one row per registered route

const TABLE: Row[] = [
  // Not under /api/v1: the banner, the health check, the counters and the Prometheus metrics.
  { method: 'GET', path: '/', kind: 'open' },
  { method: 'GET', path: '/health', kind: 'open' },
  { method: 'GET', path: '/counter/all', kind: 'open' },
  { method: 'GET', path: '/metrics', kind: 'open' },
  // The dashboard's pages (each answers index.html; the app then asks for a session) and its files:
  // `/assets/none.js` is no file, so every caller gets the same 404.
  ...DASHBOARD_PAGES.map((page): Row => ({
    method: 'GET',
    path: page,
    kind: 'open',
    request: () => ({ params: { id: 1 } }),
  })),
  {
    method: 'GET',
    path: '/assets/:file',
    kind: 'open',
    request: () => ({ params: { file: 'none.js' } }),
    want: Object.fromEntries(Object.keys(DEFAULTS.open).map((who) => [who, 404 as const])),
  },

  // ---- session-routes.ts
  {
    method: 'POST',
    path: '/api/v1/user/login',
    kind: 'open',
    request: () => ({ body: { name: 'matrix-login', password: 'password-matrix-login' } }),
  },
  {
    // Open, but it ends the caller's own session, so it needs one (the defaultToken has none).
    method: 'GET',
    path: '/api/v1/user/logout',
    kind: 'open',
    request: async (w, who) => ({ token: await w.session(who) }),
    want: { ...refused, service: 401 },
  },
  {
    // Open, but answers whether the token is valid.
    method: 'GET',
    path: '/api/v1/user/auth_session',
    kind: 'open',
    want: refused,
  },
  {
    // Declared open, it checks an admin itself while signupDisable is true (the default).
    method: 'POST',
    path: '/api/v1/user/create',
    kind: 'admin',
    request: (w) => ({ body: { name: w.name('matrix-signup'), password: 'signup-password' } }),
  },

  // ---- user-routes.ts
  {
    // The defaultToken's name (matrix-service) is no user row.
    method: 'GET',
    path: '/api/v1/user/current',
    kind: 'user',
    want: { service: 404 },
  },
  {
    method: 'GET',
    path: '/api/v1/user/u/:uid',
    kind: 'user',
    request: (w) => ({ params: { uid: w.uid.creator } }),
  },
  {
    // A profile is changed by the user itself or an admin: `creator` is the target here.
    method: 'PUT',
    path: '/api/v1/user/u/:uid',
    kind: 'creator',
    request: (w) => ({
      params: { uid: w.uid.creator },
      body: { cnname: 'Matrix Creator', email: 'creator@example.com' },
    }),
  },
  {
    method: 'GET',
    path: '/api/v1/user/name/:user_name',
    kind: 'user',
    request: () => ({ params: { user_name: USERS.creator } }),
  },
  {
    // Changes the caller's own profile: the defaultToken is no user.
    method: 'PUT',
    path: '/api/v1/user/update',
    kind: 'user',
    request: () => ({ body: { cnname: 'Matrix', email: 'matrix@example.com' } }),
    want: { service: 403 },
  },
  {
    // Sets the same password again, so every caller keeps working; the defaultToken is no user.
    method: 'PUT',
    path: '/api/v1/user/cgpasswd',
    kind: 'user',
    request: (_w, who) => ({
      body: { old_password: passwordOf(who), new_password: passwordOf(who) },
    }),
    want: { service: 403 },
  },
  { method: 'GET', path: '/api/v1/user/users', kind: 'user' },
  {
    method: 'GET',
    path: '/api/v1/user/u/:uid/in_teams',
    kind: 'user',
    request: (w) => ({ params: { uid: w.uid.creator }, query: { team_names: 'matrix-team' } }),
  },
  {
    method: 'GET',
    path: '/api/v1/user/u/:uid/teams',
    kind: 'user',
    request: (w) => ({ params: { uid: w.uid.creator } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/admin/change_user_role',
    kind: 'admin',
    request: (w) => ({ body: { user_id: w.victim, admin: 'no' } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/admin/change_user_passwd',
    kind: 'admin',
    request: (w) => ({ body: { user_id: w.victim, password: 'password-matrix-victim' } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/admin/change_user_profile',
    kind: 'admin',
    request: (w) => ({ body: { user_id: w.victim, cnname: 'Victim', email: 'v@example.com' } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/admin/delete_user',
    kind: 'admin',
    request: async (w) => ({ body: { user_id: await w.make.user() } }),
  },
  {
    method: 'POST',
    path: '/api/v1/admin/login',
    kind: 'admin',
    request: () => ({ body: { name: 'matrix-victim' } }),
  },

  // ---- team-routes.ts
  { method: 'GET', path: '/api/v1/team', kind: 'user' },
  {
    method: 'GET',
    path: '/api/v1/team/t/:team_id',
    kind: 'user',
    request: (w) => ({ params: { team_id: w.team } }),
  },
  {
    method: 'GET',
    path: '/api/v1/team/name/:team_name',
    kind: 'user',
    request: () => ({ params: { team_name: 'matrix-team' } }),
  },
  {
    method: 'POST',
    path: '/api/v1/team',
    kind: 'user',
    request: (w) => ({ body: { team_name: w.name('matrix-team'), resume: 'made by the matrix' } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/team',
    kind: 'creator',
    request: async (w) => ({ body: { team_id: await w.make.team(), resume: 'changed' } }),
  },
  {
    method: 'POST',
    path: '/api/v1/team/user',
    kind: 'creator',
    request: async (w) => ({ body: { team_id: await w.make.team(), users: [USERS.other] } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/team/:team_id',
    kind: 'creator',
    request: async (w) => ({ params: { team_id: await w.make.team() } }),
  },

  // ---- hostgroup-routes.ts
  { method: 'GET', path: '/api/v1/hostgroup', kind: 'user' },
  {
    method: 'POST',
    path: '/api/v1/hostgroup',
    kind: 'user',
    request: (w) => ({ body: { name: w.name('matrix-grp') } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/hostgroup',
    kind: 'creator',
    request: async (w) => ({
      body: { id: await w.make.group(), grp_name: w.name('matrix-renamed') },
    }),
  },
  {
    method: 'GET',
    path: '/api/v1/hostgroup/:host_group',
    kind: 'user',
    request: (w) => ({ params: { host_group: w.grp } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/hostgroup/:host_group',
    kind: 'creator',
    request: async (w) => ({ params: { host_group: (await aHostIn(w)).grp } }),
  },
  {
    method: 'POST',
    path: '/api/v1/hostgroup/host',
    kind: 'creator',
    request: async (w) => ({
      body: { hostgroup_id: await w.make.group(), hosts: [w.name('matrix-host')] },
    }),
  },
  {
    method: 'PUT',
    path: '/api/v1/hostgroup/host',
    kind: 'creator',
    request: async (w) => {
      const { grp, host } = await aHostIn(w)
      return { body: { hostgroup_id: grp, host_id: host } }
    },
  },
  {
    method: 'PATCH',
    path: '/api/v1/hostgroup/:host_group/host',
    kind: 'creator',
    request: async (w) => ({
      params: { host_group: await w.make.group() },
      body: { action: 'add', hosts: [w.name('matrix-host')] },
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/hostgroup/template',
    kind: 'creator',
    request: async (w) => ({ body: { tpl_id: w.tpl, grp_id: await w.make.group() } }),
  },
  {
    // Unbinding: the group's creator (who also bound it here) or an admin.
    method: 'PUT',
    path: '/api/v1/hostgroup/template',
    kind: 'creator',
    request: async (w) => {
      const grp = await w.make.group()
      await creatorCall(w, 'POST', '/api/v1/hostgroup/template', { tpl_id: w.tpl, grp_id: grp })
      return { body: { tpl_id: w.tpl, grp_id: grp } }
    },
  },
  {
    method: 'GET',
    path: '/api/v1/hostgroup/:host_group/template',
    kind: 'user',
    request: (w) => ({ params: { host_group: w.grp } }),
  },
  {
    method: 'GET',
    path: '/api/v1/host',
    kind: 'user',
  },
  {
    method: 'GET',
    path: '/api/v1/host/:host_id/hostgroup',
    kind: 'user',
    request: (w) => ({ params: { host_id: w.host } }),
  },
  {
    method: 'GET',
    path: '/api/v1/host/:host_id/template',
    kind: 'user',
    request: (w) => ({ params: { host_id: w.host } }),
  },
  {
    // Maintenance of a host: the creator of a group holding it, or an admin.
    method: 'POST',
    path: '/api/v1/host/maintain',
    kind: 'creator',
    request: async (w) => ({ body: { hosts: [(await aHostIn(w)).hostname], ...maintainWindow } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/host/maintain',
    kind: 'creator',
    request: async (w) => ({ body: { ids: [(await aHostIn(w)).host] } }),
  },
  {
    method: 'GET',
    path: '/api/v1/hostgroup/:host_group/plugins',
    kind: 'user',
    request: (w) => ({ params: { host_group: w.grp } }),
  },
  {
    method: 'POST',
    path: '/api/v1/plugin',
    kind: 'creator',
    request: (w) => ({ body: { hostgroup_id: w.grp, dir_path: w.name('sys/matrix') } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/plugin/:id',
    kind: 'creator',
    request: async (w) => ({ params: { id: await w.make.plugin(w.grp) } }),
  },
  {
    method: 'GET',
    path: '/api/v1/hostgroup/:host_group/aggregators',
    kind: 'user',
    request: (w) => ({ params: { host_group: w.grp } }),
  },
  {
    method: 'GET',
    path: '/api/v1/aggregator/:id',
    kind: 'user',
    request: (w) => ({ params: { id: w.aggregator } }),
  },
  {
    method: 'POST',
    path: '/api/v1/aggregator',
    kind: 'creator',
    request: (w) => ({ body: { hostgroup_id: w.grp, ...aggregatorBody } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/aggregator',
    kind: 'creator',
    request: async (w) => ({
      body: { id: await w.make.aggregator(w.grp), ...aggregatorBody, step: 120 },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/aggregator/:id',
    kind: 'creator',
    request: async (w) => ({ params: { id: await w.make.aggregator(w.grp) } }),
  },

  // ---- template-routes.ts
  { method: 'GET', path: '/api/v1/template', kind: 'user' },
  { method: 'GET', path: '/api/v1/template_simple', kind: 'user' },
  {
    method: 'GET',
    path: '/api/v1/template/:tpl_id',
    kind: 'user',
    request: (w) => ({ params: { tpl_id: w.tpl } }),
  },
  {
    method: 'GET',
    path: '/api/v1/template/:tpl_id/hostgroup',
    kind: 'user',
    request: (w) => ({ params: { tpl_id: w.tpl } }),
  },
  {
    method: 'POST',
    path: '/api/v1/template',
    kind: 'user',
    request: (w) => ({ body: { name: w.name('matrix-tpl') } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/template',
    kind: 'creator',
    request: async (w) => ({
      body: { tpl_id: await w.make.template(), name: w.name('matrix-renamed'), parent_id: 0 },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/template/:tpl_id',
    kind: 'creator',
    request: async (w) => ({ params: { tpl_id: await w.make.template() } }),
  },
  {
    method: 'POST',
    path: '/api/v1/template/action',
    kind: 'creator',
    request: async (w) => ({ body: { tpl_id: await w.make.template(), uic: 'matrix-team' } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/template/action',
    kind: 'creator',
    request: async (w) => ({
      body: { id: await w.make.action(await w.make.template()), uic: 'matrix-team' },
    }),
  },
  {
    method: 'GET',
    path: '/api/v1/action/:act_id',
    kind: 'user',
    request: (w) => ({ params: { act_id: w.action } }),
  },
  {
    method: 'GET',
    path: '/api/v1/strategy',
    kind: 'user',
    request: (w) => ({ query: { tid: String(w.tpl) } }),
  },
  {
    method: 'GET',
    path: '/api/v1/strategy/:sid',
    kind: 'user',
    request: (w) => ({ params: { sid: w.strategy } }),
  },
  {
    // Strategies belong to their template's creator.
    method: 'POST',
    path: '/api/v1/strategy',
    kind: 'creator',
    request: async (w) => ({ body: strategyBody(await w.make.template()) }),
  },
  {
    method: 'PUT',
    path: '/api/v1/strategy',
    kind: 'creator',
    request: async (w) => {
      return { body: { id: await w.make.strategy(w.tpl), ...strategyFields, priority: 3 } }
    },
  },
  {
    method: 'DELETE',
    path: '/api/v1/strategy/:sid',
    kind: 'creator',
    request: async (w) => ({ params: { sid: await w.make.strategy(w.tpl) } }),
  },
  { method: 'GET', path: '/api/v1/metric/default_list', kind: 'user' },
  { method: 'GET', path: '/api/v1/expression', kind: 'user' },
  {
    method: 'GET',
    path: '/api/v1/expression/:eid',
    kind: 'user',
    request: (w) => ({ params: { eid: w.expression } }),
  },
  {
    method: 'POST',
    path: '/api/v1/expression',
    kind: 'user',
    request: (w) => ({ body: expressionBody(w.name('matrix-expression')) }),
  },
  {
    method: 'PUT',
    path: '/api/v1/expression',
    kind: 'creator',
    request: async (w) => ({
      body: { id: await w.make.expression(), ...expressionBody(w.name('matrix-changed')) },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/expression/:eid',
    kind: 'creator',
    request: async (w) => ({ params: { eid: await w.make.expression() } }),
  },

  // ---- nodata-routes.ts
  { method: 'GET', path: '/api/v1/nodata', kind: 'user' },
  { method: 'GET', path: '/api/v1/nodata/', kind: 'user' },
  {
    method: 'GET',
    path: '/api/v1/nodata/:nid',
    kind: 'user',
    request: (w) => ({ params: { nid: w.nodata } }),
  },
  {
    method: 'POST',
    path: '/api/v1/nodata',
    kind: 'user',
    request: (w) => ({ body: { name: w.name('matrix-nodata'), ...nodataBody } }),
  },
  {
    method: 'POST',
    path: '/api/v1/nodata/',
    kind: 'user',
    request: (w) => ({ body: { name: w.name('matrix-nodata'), ...nodataBody } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/nodata',
    kind: 'creator',
    request: async (w) => ({ body: { id: await w.make.nodata(), ...nodataBody, mock: 0 } }),
  },
  {
    method: 'PUT',
    path: '/api/v1/nodata/',
    kind: 'creator',
    request: async (w) => ({ body: { id: await w.make.nodata(), ...nodataBody, mock: 0 } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/nodata/:nid',
    kind: 'creator',
    request: async (w) => ({ params: { nid: await w.make.nodata() } }),
  },

  // ---- dashboard-routes.ts: as in falcon, screens and graphs have no owner (no creator column),
  // so any logged-in user changes them.
  {
    method: 'POST',
    path: '/api/v1/dashboard/tmpgraph',
    kind: 'user',
    request: (w) => ({ body: { endpoints: [w.name('matrix-host')], counters: ['cpu.idle'] } }),
  },
  {
    method: 'GET',
    path: '/api/v1/dashboard/tmpgraph/:id',
    kind: 'user',
    request: (w) => ({ params: { id: w.tmpgraph } }),
  },
  {
    method: 'POST',
    path: '/api/v1/dashboard/graph',
    kind: 'user',
    request: (w) => ({
      body: {
        screen_id: w.screen,
        title: 'matrix',
        endpoints: ['matrix-host'],
        counters: ['cpu.idle'],
      },
    }),
  },
  {
    method: 'PUT',
    path: '/api/v1/dashboard/graph/:id',
    kind: 'user',
    request: async (w) => ({
      params: { id: await w.make.graph(w.screen) },
      body: { title: 'changed' },
    }),
  },
  {
    method: 'GET',
    path: '/api/v1/dashboard/graph/:id',
    kind: 'user',
    request: (w) => ({ params: { id: w.graph } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/dashboard/graph/:id',
    kind: 'user',
    request: async (w) => ({ params: { id: await w.make.graph(w.screen) } }),
  },
  {
    method: 'GET',
    path: '/api/v1/dashboard/graphs/screen/:screen_id',
    kind: 'user',
    request: (w) => ({ params: { screen_id: w.screen } }),
  },
  {
    method: 'POST',
    path: '/api/v1/dashboard/screen',
    kind: 'user',
    request: (w) => ({ body: { pid: 0, name: w.name('matrix-screen') } }),
  },
  {
    method: 'GET',
    path: '/api/v1/dashboard/screen/:screen_id',
    kind: 'user',
    request: (w) => ({ params: { screen_id: w.screen } }),
  },
  {
    method: 'GET',
    path: '/api/v1/dashboard/screens/pid/:pid',
    kind: 'user',
    request: () => ({ params: { pid: 0 } }),
  },
  { method: 'GET', path: '/api/v1/dashboard/screens', kind: 'user' },
  {
    method: 'PUT',
    path: '/api/v1/dashboard/screen/:screen_id',
    kind: 'user',
    request: async (w) => ({
      params: { screen_id: await w.make.screen() },
      body: { name: w.name('matrix-renamed') },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/dashboard/screen/:screen_id',
    kind: 'user',
    request: async (w) => ({ params: { screen_id: await w.make.screen() } }),
  },

  // ---- alarm-routes.ts
  {
    method: 'GET',
    path: '/api/v1/alarm/eventcases',
    kind: 'user',
    request: (w) => ({ query: { strategy_id: String(w.strategy) } }),
  },
  {
    method: 'POST',
    path: '/api/v1/alarm/eventcases',
    kind: 'user',
    request: (w) => ({ body: { strategy_id: w.strategy, limit: 10, page: 1 } }),
  },
  {
    method: 'GET',
    path: '/api/v1/alarm/events',
    kind: 'user',
    request: async (w) => ({ query: { event_id: await alarmCase(w) } }),
  },
  {
    method: 'POST',
    path: '/api/v1/alarm/events',
    kind: 'user',
    request: async (w) => ({ body: { event_id: await alarmCase(w) } }),
  },
  {
    // Any user notes, claims or resolves any case, as in falcon.
    method: 'POST',
    path: '/api/v1/alarm/event_note',
    kind: 'user',
    request: async (w) => ({
      body: { event_id: await alarmCase(w), note: 'matrix', status: 'in progress' },
    }),
  },
  {
    method: 'GET',
    path: '/api/v1/alarm/event_note',
    kind: 'user',
    request: async (w) => ({ query: { event_id: await alarmCase(w) } }),
  },
  { method: 'GET', path: '/api/v1/alarm/silences', kind: 'user' },
  {
    method: 'POST',
    path: '/api/v1/alarm/silences',
    kind: 'user',
    request: () => ({ body: silenceBody() }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/alarm/silences/:id',
    kind: 'creator',
    request: async (w) => ({
      params: {
        id: idAt(await creatorCall(w, 'POST', '/api/v1/alarm/silences', silenceBody()), 'id'),
      },
    }),
  },
  { method: 'GET', path: '/api/v1/alarm/notifications', kind: 'user' },

  // ---- token-routes.ts: each user's own API tokens.
  { method: 'GET', path: '/api/v1/user/tokens', kind: 'user' },
  {
    method: 'POST',
    path: '/api/v1/user/tokens',
    kind: 'user',
    request: () => ({ body: { name: 'matrix' } }),
    // The defaultToken stands for no user: 400.
    want: { service: 'reached' },
  },
  {
    method: 'DELETE',
    path: '/api/v1/user/tokens/:id',
    kind: 'user',
    request: async (w) => ({
      params: {
        id: idAt(await creatorCall(w, 'POST', '/api/v1/user/tokens', { name: 'matrix' }), 'id'),
      },
    }),
    // Only its holder deletes a token; anyone else is told there is no such token.
    want: { other: 404, admin: 404, root: 404, service: 404 },
  },

  // ---- prom/routes.ts: the Prometheus query API; with no graph node listening, a caller past auth
  // gets 503 where the graph cluster is read.
  ...(['GET', 'POST'] as const).flatMap((method): Row[] => [
    {
      method,
      path: '/api/v1/query',
      kind: 'graph',
      request: () => ({ query: { query: 'up', time: '1700000000' } }),
    },
    {
      method,
      path: '/api/v1/query_range',
      kind: 'graph',
      request: () => ({
        query: { query: 'up', start: '1700000000', end: '1700003600', step: '60' },
      }),
    },
    {
      method,
      path: '/api/v1/series',
      kind: 'graph',
      request: () => ({ query: { 'match[]': 'up' } }),
    },
    { method, path: '/api/v1/labels', kind: 'graph' },
    {
      method,
      path: '/api/v1/query_exemplars',
      kind: 'user',
      request: () => ({ query: { query: 'up' } }),
    },
    {
      method,
      path: '/api/v1/format_query',
      kind: 'user',
      request: () => ({ query: { query: 'up' } }),
    },
  ]),
  {
    method: 'GET',
    path: '/api/v1/label/:name/values',
    kind: 'graph',
    request: () => ({ params: { name: '__name__' } }),
  },
  { method: 'GET', path: '/api/v1/metadata', kind: 'graph' },
  { method: 'GET', path: '/api/v1/status/buildinfo', kind: 'user' },
  { method: 'GET', path: '/api/v1/status/runtimeinfo', kind: 'user' },

  // ---- graph-routes.ts: with no graph node listening, a caller past auth gets 502.
  {
    method: 'POST',
    path: '/api/v1/graph/history',
    kind: 'graph',
    request: () => ({
      body: {
        hostnames: ['matrix-host'],
        counters: ['cpu.idle'],
        start_time: 1_700_000_000,
        end_time: 1_700_003_600,
        consol_fun: 'AVERAGE',
      },
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/graph/lastpoint',
    kind: 'graph',
    request: () => ({ body: [{ endpoint: 'matrix-host', counter: 'cpu.idle' }] }),
  },
  {
    method: 'GET',
    path: '/api/v1/graph/endpoint',
    kind: 'graph',
    request: () => ({ query: { q: 'matrix' } }),
  },
  {
    method: 'GET',
    path: '/api/v1/graph/endpoint_counter',
    kind: 'graph',
    request: () => ({ query: { eid: '1' } }),
  },
]

/** Snapshot is every table's rows, as sorted JSON lines. */
type Snapshot = Map<string, string[]>

const json = (row: unknown) =>
  JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))

/** snapshot reads every table of the portal store, to show that a refused call wrote nothing. */
async function snapshot(p: TestPortal): Promise<Snapshot> {
  const out: Snapshot = new Map()
  for (const table of await p.store.db.introspection.getTables()) {
    const { rows } = await sql<unknown>`select * from ${sql.table(table.name)}`.execute(p.store.db)
    out.set(table.name, rows.map(json).sort())
  }
  return out
}

function changedTables(before: Snapshot, after: Snapshot): string[] {
  const names = new Set([...before.keys(), ...after.keys()])
  return [...names].filter((t) => json(before.get(t)) !== json(after.get(t)))
}

/** creatorCall makes a request as `creator` that must succeed, for fixtures. */
async function creatorCall(
  w: Pick<World, 'p' | 'token'>,
  method: Method,
  url: string,
  body?: unknown
): Promise<TestResponse> {
  const r = await w.p.call(method, url, { token: w.token.creator, body })
  if (r.status < 200 || r.status >= 300) {
    throw new Error(`fixture ${method} ${url} as ${USERS.creator}: ${show(r)}`)
  }
  return r
}

/**
 * registeredRoutes lists the app's routes as `METHOD /path`, read from the tree printRoutes draws
 * (each line a path segment under its parent, four columns deeper per level).
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const out: string[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (m === null) continue
    const depth = (m[1] ?? '').length / 4
    stack.length = depth
    const path = (stack[depth - 1] ?? '') + (m[2] ?? '')
    stack.push(path)
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path}`)
  }
  return out
}

async function openWorld(engine: Awaited<ReturnType<typeof testEngines>>[number]): Promise<World> {
  const p = await openTestPortal(engine, {
    defaultToken: SERVICE_TOKEN,
    graphCluster: { 'graph-00': '127.0.0.1:1' },
    callTimeout: 500,
  })
  let counter = 0
  const name = (prefix: string) => `${prefix}-${++counter}`
  const uidOf = async (n: string) =>
    (
      await p.store.db
        .selectFrom('user')
        .select('id')
        .where('name', '=', n)
        .executeTakeFirstOrThrow()
    ).id
  const token: Record<Identity, string | undefined> = {
    anonymous: undefined,
    // A well-formed token for root with a signature nobody was given.
    forged: JSON.stringify({ name: 'root', sig: randomBytes(16).toString('hex') }),
    expired: undefined, // made per call by tokenFor: a login elsewhere clears expired sessions
    blocked: await p.user(USERS.blocked, ROLE.user),
    other: await p.user(USERS.other, ROLE.user),
    creator: await p.user(USERS.creator, ROLE.user),
    admin: await p.user(USERS.admin, ROLE.admin),
    root: p.root,
    service: JSON.stringify({ name: 'matrix-service', sig: SERVICE_TOKEN }),
  }
  // Blocked after logging in: the session row stays, the role refuses it.
  await p.store.db
    .updateTable('user')
    .set({ role: ROLE.blocked })
    .where('name', '=', USERS.blocked)
    .execute()
  await p.user('matrix-login', ROLE.user)
  await p.user('matrix-victim', ROLE.user)
  const uid = {
    blocked: await uidOf(USERS.blocked),
    other: await uidOf(USERS.other),
    creator: await uidOf(USERS.creator),
    admin: await uidOf(USERS.admin),
    root: await uidOf(USERS.root),
  }
  const tokenFor = async (who: Identity) => {
    if (who !== 'expired') return token[who]
    const sig = randomBytes(16).toString('hex')
    const expired = Math.floor(Date.now() / 1000) - 60
    await p.store.db.insertInto('session').values({ uid: uid.creator, sig, expired }).execute()
    return JSON.stringify({ name: USERS.creator, sig })
  }
  const base = { p, token }
  const post = (url: string, body: unknown) => creatorCall(base, 'POST', url, body)

  const make: Make = {
    async user() {
      const result = await p.store.db
        .insertInto('user')
        .values({ name: name('matrix-doomed'), passwd: 'not-a-hash', role: ROLE.user })
        .executeTakeFirst()
      return insertedId(result)
    },
    async team(teamName = name('matrix-team')) {
      return idAt(await post('/api/v1/team', { team_name: teamName, users: [uid.creator] }), 'id')
    },
    async group(hosts = [], grpName = name('matrix-grp')) {
      const id = idAt(await post('/api/v1/hostgroup', { name: grpName }), 'id')
      if (hosts.length > 0) await post('/api/v1/hostgroup/host', { hostgroup_id: id, hosts })
      return id
    },
    async template(tplName = name('matrix-tpl')) {
      return idAt(await post('/api/v1/template', { name: tplName }), 'id')
    },
    async action(tplId) {
      await post('/api/v1/template/action', { tpl_id: tplId, uic: 'matrix-team' })
      const r = await creatorCall(base, 'GET', `/api/v1/template/${tplId}`)
      return idAt(r, 'template', 'action_id')
    },
    async strategy(tplId) {
      return idAt(await post('/api/v1/strategy', strategyBody(tplId)), 'id')
    },
    async expression() {
      const note = name('matrix-expression')
      await post('/api/v1/expression', expressionBody(note))
      const row = await p.store.db
        .selectFrom('expression')
        .select('id')
        .where('note', '=', note)
        .executeTakeFirstOrThrow()
      return row.id
    },
    async nodata() {
      return idAt(
        await post('/api/v1/nodata', { name: name('matrix-nodata'), ...nodataBody }),
        'id'
      )
    },
    async aggregator(grpId) {
      return idAt(
        await post('/api/v1/aggregator', { hostgroup_id: grpId, ...aggregatorBody }),
        'id'
      )
    },
    async plugin(grpId) {
      const body = { hostgroup_id: grpId, dir_path: name('sys/matrix') }
      return idAt(await post('/api/v1/plugin', body), 'id')
    },
    async screen() {
      return idAt(await post('/api/v1/dashboard/screen', { name: name('matrix-screen') }), 'id')
    },
    async graph(screenId) {
      const body = {
        screen_id: screenId,
        title: 'matrix',
        endpoints: ['matrix-host'],
        counters: ['cpu.idle'],
      }
      return idAt(await post('/api/v1/dashboard/graph', body), 'id')
    },
    async tmpgraph() {
      const body = { endpoints: [name('matrix-host')], counters: ['cpu.idle'] }
      return idAt(await post('/api/v1/dashboard/tmpgraph', body), 'id')
    },
  }

  const team = await make.team('matrix-team')
  const grp = await make.group(['matrix-host'], 'matrix-grp')
  const host = (
    await p.store.db
      .selectFrom('host')
      .select('id')
      .where('hostname', '=', 'matrix-host')
      .executeTakeFirstOrThrow()
  ).id
  const tpl = await make.template('matrix-tpl')
  await post('/api/v1/hostgroup/template', { tpl_id: tpl, grp_id: grp })
  const screen = await make.screen()
  return {
    p,
    token,
    uid,
    victim: await uidOf('matrix-victim'),
    team,
    grp,
    host,
    tpl,
    action: await make.action(tpl),
    strategy: await make.strategy(tpl),
    expression: await make.expression(),
    nodata: await make.nodata(),
    aggregator: await make.aggregator(grp),
    plugin: await make.plugin(grp),
    screen,
    graph: await make.graph(screen),
    tmpgraph: await make.tmpgraph(),
    make,
    name,
    tokenFor,
    async session(who) {
      if (!(who in USERS)) return tokenFor(who)
      const sig = randomBytes(16).toString('hex')
      await p.store.db
        .insertInto('session')
        .values({
          uid: uid[who as UserIdentity],
          sig,
          expired: Math.floor(Date.now() / 1000) + 3600,
        })
        .execute()
      return JSON.stringify({ name: USERS[who as UserIdentity], sig })
    },
  }
}

describe('auth matrix table', () => {
  it('has one row per method and path, each path absolute', () => {
    const keys = TABLE.map((r) => `${r.method} ${r.path}`)
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      []
    )
    for (const r of TABLE) assert.match(r.path, /^\//)
  })
})

for (const engine of await testEngines()) {
  describe(`auth matrix (${engine.engine})`, () => {
    let w: World
    before(async () => {
      w = await openWorld(engine)
    })
    after(() => w.p.close())

    it('has a row for every registered route, and every row is a registered route', () => {
      // OPTIONS * is the CORS preflight (not /api/v1); HEAD is Fastify's copy of each GET, checked
      // below.
      const registered = registeredRoutes(w.p.app).filter((r) => r !== 'OPTIONS *')
      // The parse of printRoutes is checked against the router itself.
      for (const r of registered) {
        const [method = '', url = ''] = r.split(' ')
        assert.ok(w.p.app.hasRoute({ method, url }), `printRoutes parse: ${r} is no route`)
      }
      const routes = registered.filter((r) => !r.startsWith('HEAD '))
      assert.ok(routes.length >= TABLE.length, `only ${routes.length} routes parsed`)
      const rows = new Set(TABLE.map((r) => `${r.method} ${r.path}`))
      assert.deepEqual(
        routes.filter((r) => !rows.has(r)),
        [],
        'registered routes without a row in TABLE'
      )
      assert.deepEqual(
        [...rows].filter((r) => !routes.includes(r)),
        [],
        'rows in TABLE for routes that are not registered'
      )
      const heads = registered.filter((r) => r.startsWith('HEAD '))
      assert.deepEqual(
        heads.filter((r) => !rows.has(r.replace(/^HEAD /, 'GET '))),
        [],
        'HEAD routes without a GET'
      )
    })

    for (const row of TABLE) {
      const title = `${row.method} ${row.path}: ${IDENTITIES.map((who) => `${who} ${wantOf(row, who)}`).join(', ')}`
      it(title, async () => {
        const wrong: string[] = []
        for (const who of IDENTITIES) {
          const req = (await row.request?.(w, who)) ?? {}
          const token = 'token' in req ? req.token : await w.tokenFor(who)
          const want = wantOf(row, who)
          // A call must be refused before it writes anything (GET /user/logout writes too).
          const before = want === 401 || want === 403 ? await snapshot(w.p) : undefined
          const r = await w.p.call(row.method, urlOf(row.path, req.params), {
            ...(token === undefined ? {} : { token }),
            ...(req.query === undefined ? {} : { query: req.query }),
            ...(req.body === undefined ? {} : { body: req.body }),
          })
          if (!matches(r.status, want)) {
            wrong.push(`${who}: want ${want}, got ${show(r)}`)
          } else if (before !== undefined) {
            const changed = changedTables(before, await snapshot(w.p))
            if (changed.length > 0) wrong.push(`${who}: refused, yet changed ${changed.join(', ')}`)
          }
        }
        assert.deepEqual(wrong, [])
      })
    }

    it('enforces the same auth on the HEAD twin of every GET route', async () => {
      const wrong: string[] = []
      for (const row of TABLE) {
        if (row.method !== 'GET') continue
        const req = (await row.request?.(w, 'anonymous')) ?? {}
        const r = await w.p.call('HEAD', urlOf(row.path, req.params), {
          ...(req.query === undefined ? {} : { query: req.query }),
        })
        const want = wantOf(row, 'anonymous')
        if (!matches(r.status, want)) wrong.push(`HEAD ${row.path}: want ${want}, got ${r.status}`)
      }
      assert.deepEqual(wrong, [])
    })

    it('enforces the same auth when the path is percent-encoded (/%61pi/v1/...)', async () => {
      // The router matches the decoded path, so the auth level must not be read from the raw URL.
      const wrong: string[] = []
      for (const row of TABLE) {
        if (!row.path.startsWith('/api/')) continue
        const req = (await row.request?.(w, 'anonymous')) ?? {}
        const url = urlOf(row.path, req.params).replace(/^\/api\//, '/%61pi/')
        const r = await w.p.call(row.method, url, {
          ...(req.query === undefined ? {} : { query: req.query }),
          ...(req.body === undefined ? {} : { body: req.body }),
        })
        const want = wantOf(row, 'anonymous')
        if (!matches(r.status, want))
          wrong.push(`${row.method} ${url}: want ${want}, got ${show(r)}`)
      }
      assert.deepEqual(wrong, [])
    })
  })
}
