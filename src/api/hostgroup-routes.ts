// Falcon's host routes (controller/host/*.go): host groups and their members, template bindings,
// plugin dirs and aggregator rules of a group, the groups and templates of a host, and maintenance.
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { type AuthUser, isAdmin } from './auth.js'
import { conflict, forbidden, notFound, parse } from './http-errors.js'
import {
  filterByName,
  idParam,
  insertedId,
  isUniqueViolation,
  mayChange,
  message,
  pageOf,
  type PortalContext,
  searchOf,
  searchPage,
  searchRegExp,
  userOf,
} from './portal.js'
import { aggregatorExprProblem, hostnameProblem } from '../core/index.js'
import type { PortalDatabase } from '../store/index.js'

// The JSON shapes falcon answers (its models' json tags): the columns each reply carries.
const GRP = ['id', 'grp_name', 'create_user'] as const
const HOST = [
  'id',
  'hostname',
  'ip',
  'agent_version',
  'plugin_version',
  'maintain_begin',
  'maintain_end',
] as const
const TPL = ['id', 'tpl_name', 'parent_id', 'action_id', 'create_user'] as const
const PLUGIN = ['id', 'grp_id', 'dir', 'create_user'] as const
const CLUSTER = [
  'id',
  'grp_id',
  'numerator',
  'denominator',
  'endpoint',
  'metric',
  'tags',
  'ds_type',
  'step',
  'creator',
] as const

/** MAX_INT: the largest value an `integer` column holds on MySQL (ids, Unix seconds). */
const MAX_INT = 2_147_483_647
/** CHUNK bounds the placeholders of one `IN (...)` or multi-row insert. */
const CHUNK = 500
/** MAX_HOSTS bounds the hosts one request names. */
const MAX_HOSTS = 10_000
/** ALL: the rows a list answers when the request gives no `page` (falcon answers them all). */
const ALL = 10_000

const Id = z
  .int('expected a positive integer id')
  .positive('expected a positive integer id')
  .max(MAX_INT, 'expected a positive integer id')

// Control characters never belong in a name; a falcon page would show them as garbage.
const CONTROL = /\p{Cc}/u

// A name with no whitespace (hostnames, endpoints, metrics), at most 255 characters as their columns.
const word = (what: string) =>
  z
    .string(`expected ${what}`)
    .min(1, `expected ${what}`)
    .max(255, 'expected at most 255 characters')
    .refine(
      (s) => !/\s/.test(s) && !CONTROL.test(s),
      'expected no whitespace or control characters'
    )

/** Hostname: falcon's `host.hostname`, by the rule hbs applies to the names agents report. */
const Hostname = z.string('expected a host name').superRefine((name, c) => {
  const problem = hostnameProblem(name)
  if (problem !== undefined) c.addIssue({ code: 'custom', message: problem })
})

const Hostnames = z
  .array(Hostname, 'expected an array of host names')
  .max(MAX_HOSTS, `expected at most ${MAX_HOSTS} host names`)

// falcon refuses < > & ' " in a group name (utils.HasDangerousCharacters); it is shown in pages.
const GrpName = z
  .string('expected a host group name')
  .min(1, 'expected a host group name')
  .max(255, 'expected at most 255 characters')
  .refine(
    (s) => !/[<>&'"]/.test(s) && !CONTROL.test(s) && s.trim() === s,
    `expected no < > & ' " or control characters, and no surrounding spaces`
  )

/**
 * pluginDirProblem checks a plugin dir as the agent reads it (cron/plugin.go): a directory of scripts
 * (`sys/ntp`) or one script with optional arguments (`sys/ntp/60_ntp.py(a,b)`), relative to the
 * agent's plugin dir. Returns what is wrong, or null.
 */
export function pluginDirProblem(dir: string): string | null {
  const m = /^([^()]*)(?:\(([^()]*)\))?$/.exec(dir)
  if (m === null) return 'expected a path like sys/ntp or sys/ntp/60_ntp.py(arg1,arg2)'
  const path = m[1] ?? ''
  if (path === '') return 'expected a path like sys/ntp'
  if (/[\s\\]/.test(path) || CONTROL.test(dir)) {
    return 'expected no whitespace, backslash or control characters in the path'
  }
  if (path.split('/').includes('..')) return 'expected no .. in the path'
  return null
}

const readsCounter = (expr: string) => expr.includes('$(')

const Expr = z
  .string('expected an aggregator expression')
  .min(1, 'expected an aggregator expression')
  .max(10_240, 'expected at most 10240 characters')
  .superRefine((s, c) => {
    const problem = aggregatorExprProblem(s)
    if (problem !== null) c.addIssue({ code: 'custom', message: problem })
  })

// Tags of an aggregated series: falcon's `k=v,k2=v2` or empty.
const Tags = z
  .string('expected tags like k=v,k2=v2')
  .max(255, 'expected at most 255 characters')
  .refine(
    (s) => s === '' || s.split(',').every((kv) => /^[^=\s]+=[^=\s]+$/.test(kv)),
    'expected tags like k=v,k2=v2 (or empty)'
  )

const AggregatorFields = {
  numerator: Expr,
  denominator: Expr,
  endpoint: word('the endpoint the result is pushed as'),
  metric: word('a metric name'),
  tags: Tags.default(''),
  step: z
    .int('expected a step in seconds')
    .positive('expected a step of at least 1 second')
    .max(MAX_INT, 'expected a step in seconds'),
}

// With neither side reading a counter the aggregator has nothing to compute and skips the rule.
const needsCounter = (v: { numerator: string; denominator: string }, c: z.RefinementCtx) => {
  // A constant 0 below would make every run give no value.
  if (/^0+$/.test(v.denominator.replace(/[ \r\n\t]/g, ''))) {
    c.addIssue({
      code: 'custom',
      path: ['denominator'],
      message: 'a denominator of 0 never gives a value; use $# or a counter',
    })
  }
  if (!readsCounter(v.numerator) && !readsCounter(v.denominator)) {
    c.addIssue({
      code: 'custom',
      path: ['numerator'],
      message: 'numerator or denominator must read a counter, like $(cpu.idle)',
    })
  }
}

const NewAggregator = z.object({ hostgroup_id: Id, ...AggregatorFields }).superRefine(needsCounter)
const AggregatorUpdate = z.object({ id: Id, ...AggregatorFields }).superRefine(needsCounter)

const NewGroup = z.object({ name: GrpName })
const GroupUpdate = z.object({ id: Id, grp_name: GrpName })
const ReplaceHosts = z.object({ hostgroup_id: Id, hosts: Hostnames })
const UnbindHost = z.object({ hostgroup_id: Id, host_id: Id })
const PatchHosts = z.object({
  action: z.enum(['add', 'remove'], 'expected add or remove'),
  hosts: Hostnames,
})
const GroupTemplate = z.object({ tpl_id: Id, grp_id: Id })
const NewPlugin = z.object({
  hostgroup_id: Id,
  dir_path: z
    .string('expected a plugin dir like sys/ntp')
    .min(1, 'expected a plugin dir like sys/ntp')
    .max(255, 'expected at most 255 characters')
    .superRefine((s, c) => {
      const problem = pluginDirProblem(s)
      if (problem !== null) c.addIssue({ code: 'custom', message: problem })
    }),
})

const Seconds = z
  .int('expected a Unix time in seconds')
  .positive('expected a Unix time in seconds')
  .max(MAX_INT, 'expected a Unix time in seconds')
const HostsOrIds = {
  hosts: Hostnames.default([]),
  ids: z
    .array(Id, 'expected an array of host ids')
    .max(MAX_HOSTS, `expected at most ${MAX_HOSTS} ids`)
    .default([]),
}
const oneTarget = (v: { hosts: string[]; ids: number[] }, c: z.RefinementCtx) => {
  if (v.hosts.length === 0 && v.ids.length === 0) {
    c.addIssue({ code: 'custom', path: ['hosts'], message: 'hosts or ids is required' })
  } else if (v.hosts.length > 0 && v.ids.length > 0) {
    c.addIssue({ code: 'custom', path: ['ids'], message: 'give hosts or ids, not both' })
  }
}
const SetMaintain = z
  .object({ ...HostsOrIds, maintain_begin: Seconds, maintain_end: Seconds })
  .superRefine((v, c) => {
    oneTarget(v, c)
    if (v.maintain_end <= v.maintain_begin) {
      c.addIssue({
        code: 'custom',
        path: ['maintain_end'],
        message: 'expected a time after maintain_begin',
      })
    }
  })
const UnsetMaintain = z.object(HostsOrIds).superRefine(oneTarget)

const chunks = <T>(all: readonly T[]): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < all.length; i += CHUNK) out.push(all.slice(i, i + CHUNK))
  return out
}

const unique = <T>(all: readonly T[]): T[] => [...new Set(all)]

// Go's fmt prints a slice as `[a b c]`; falcon's reply messages carry that form.
const goList = (items: readonly (string | number)[]) => `[${items.join(' ')}]`

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ')

/** registerHostgroupRoutes adds falcon's /api/v1 host group, host, plugin and aggregator routes. */
export function registerHostgroupRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const db = () => ctx.store.db

  const groupOr404 = async (id: number, field: string) => {
    const grp = await db().selectFrom('grp').select(GRP).where('id', '=', id).executeTakeFirst()
    if (grp === undefined) throw notFound(`${field}: no host group ${id}`)
    return grp
  }

  const hostOr404 = async (id: number, field: string) => {
    const host = await db().selectFrom('host').select(HOST).where('id', '=', id).executeTakeFirst()
    if (host === undefined) throw notFound(`${field}: no host ${id}`)
    return host
  }

  // A group is changed by its creator or an admin; `owner` names who else may change one row of it
  // (the user who created that plugin dir, aggregator rule or template binding).
  const assertMayChangeGroup = (
    user: AuthUser,
    grp: { grp_name: string; create_user: string } | undefined,
    owner?: string
  ) => {
    if (grp !== undefined && mayChange(user, grp.create_user)) return
    if (owner !== undefined && owner === user.name) return
    if (isAdmin(user)) return
    throw forbidden(
      grp === undefined
        ? 'only its creator or an admin may change this'
        : `host group ${grp.grp_name}: only its creator or an admin may change it`
    )
  }

  // hostIds returns the ids of `names`, creating the missing host rows first. Hosts are not part of
  // the group's transaction: hbs registers the same rows from heartbeats, and `insert ignore` lets
  // either side win a race.
  const hostIds = async (names: readonly string[]): Promise<Map<string, number>> => {
    const ids = new Map<string, number>()
    for (const part of chunks(names)) {
      const found = await db()
        .selectFrom('host')
        .select(['id', 'hostname'])
        .where('hostname', 'in', part)
        .execute()
      for (const h of found) ids.set(h.hostname, h.id)
      const missing = part.filter((n) => !ids.has(n))
      if (missing.length === 0) continue
      await db()
        .insertInto('host')
        .orIgnore()
        .values(missing.map((hostname) => ({ hostname })))
        .execute()
      const created = await db()
        .selectFrom('host')
        .select(['id', 'hostname'])
        .where('hostname', 'in', missing)
        .execute()
      for (const h of created) ids.set(h.hostname, h.id)
    }
    for (const n of names) {
      if (!ids.has(n)) throw new Error(`BUG: host ${n} neither found nor created`)
    }
    return ids
  }

  // Members are read through a subquery so that duplicate grp_host rows (falcon has no key on them)
  // list a host once.
  const membersOf = (trx: Kysely<PortalDatabase>, grpId: number) =>
    trx.selectFrom('grp_host').select('host_id').where('grp_id', '=', grpId)

  // ----- host groups

  app.get('/api/v1/hostgroup', async (req) => {
    const search = searchOf(req.query, ALL)
    return searchPage(db().selectFrom('grp').select(GRP).orderBy('id'), 'grp_name', search)
  })

  app.post('/api/v1/hostgroup', async (req) => {
    const body = parse(NewGroup, req.body)
    const user = userOf(req)
    try {
      const id = insertedId(
        await db()
          .insertInto('grp')
          .values({ grp_name: body.name, create_user: user.name, come_from: 1 })
          .executeTakeFirst()
      )
      return { id, grp_name: body.name, create_user: user.name }
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`name: host group ${body.name} already exists`)
      throw err
    }
  })

  app.put('/api/v1/hostgroup', async (req) => {
    const body = parse(GroupUpdate, req.body)
    const grp = await groupOr404(body.id, 'id')
    assertMayChangeGroup(userOf(req), grp)
    try {
      await db()
        .updateTable('grp')
        .set({ grp_name: body.grp_name })
        .where('id', '=', grp.id)
        .execute()
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw conflict(`grp_name: host group ${body.grp_name} already exists`)
      }
      throw err
    }
    return message('hostgroup profile updated')
  })

  app.get('/api/v1/hostgroup/:host_group', async (req) => {
    const id = idParam(req.params, 'host_group')
    const re = searchRegExp((req.query as Record<string, unknown>).q)
    const hostgroup = await groupOr404(id, 'host_group')
    const hosts = await db()
      .selectFrom('host')
      .select(HOST)
      .where('id', 'in', membersOf(db(), id))
      .orderBy('hostname')
      .execute()
    return { hostgroup, hosts: filterByName(hosts, re, 'hostname') }
  })

  app.delete('/api/v1/hostgroup/:host_group', async (req) => {
    const id = idParam(req.params, 'host_group')
    const grp = await groupOr404(id, 'host_group')
    assertMayChangeGroup(userOf(req), grp)
    await db()
      .transaction()
      .execute(async (trx) => {
        await trx.deleteFrom('grp_host').where('grp_id', '=', id).execute()
        await trx.deleteFrom('grp_tpl').where('grp_id', '=', id).execute()
        await trx.deleteFrom('plugin_dir').where('grp_id', '=', id).execute()
        await trx.deleteFrom('cluster').where('grp_id', '=', id).execute()
        await trx.deleteFrom('grp').where('id', '=', id).execute()
      })
    return message(`hostgroup:${id} has been deleted`)
  })

  // ----- members

  app.post('/api/v1/hostgroup/host', async (req) => {
    const body = parse(ReplaceHosts, req.body)
    const grp = await groupOr404(body.hostgroup_id, 'hostgroup_id')
    assertMayChangeGroup(userOf(req), grp)
    const names = unique(body.hosts)
    const byName = await hostIds(names)
    const ids = names.map((n) => byName.get(n)!)
    await db()
      .transaction()
      .execute(async (trx) => {
        await trx.deleteFrom('grp_host').where('grp_id', '=', grp.id).execute()
        for (const part of chunks(ids)) {
          await trx
            .insertInto('grp_host')
            .values(part.map((host_id) => ({ grp_id: grp.id, host_id })))
            .execute()
        }
      })
    return message(`${goList(ids)} bind to hostgroup: ${grp.id}`)
  })

  app.put('/api/v1/hostgroup/host', async (req) => {
    const body = parse(UnbindHost, req.body)
    const grp = await groupOr404(body.hostgroup_id, 'hostgroup_id')
    assertMayChangeGroup(userOf(req), grp)
    await hostOr404(body.host_id, 'host_id')
    await db()
      .deleteFrom('grp_host')
      .where('grp_id', '=', grp.id)
      .where('host_id', '=', body.host_id)
      .execute()
    return message(`unbind host:${body.host_id} of hostgroup: ${grp.id}`)
  })

  app.patch('/api/v1/hostgroup/:host_group/host', async (req) => {
    const id = idParam(req.params, 'host_group')
    const body = parse(PatchHosts, req.body)
    const grp = await groupOr404(id, 'host_group')
    assertMayChangeGroup(userOf(req), grp)
    const names = unique(body.hosts)
    if (body.action === 'add') {
      const byName = await hostIds(names)
      const bound: string[] = []
      const existing: string[] = []
      await db()
        .transaction()
        .execute(async (trx) => {
          const members = new Set<number>()
          for (const part of chunks([...byName.values()])) {
            const rows = await membersOf(trx, grp.id).where('host_id', 'in', part).execute()
            for (const r of rows) members.add(r.host_id)
          }
          const added: number[] = []
          for (const n of names) {
            const hostId = byName.get(n)!
            if (members.has(hostId)) {
              existing.push(n)
            } else {
              bound.push(n)
              added.push(hostId)
            }
          }
          for (const part of chunks(added)) {
            await trx
              .insertInto('grp_host')
              .values(part.map((host_id) => ({ grp_id: grp.id, host_id })))
              .execute()
          }
        })
      return message(
        `${goList(bound)} bind to hostgroup: ${grp.grp_name}, ${goList(existing)} have been exist`
      )
    }
    // remove: hosts that do not exist are skipped, as falcon does.
    const unbound: string[] = []
    await db()
      .transaction()
      .execute(async (trx) => {
        for (const part of chunks(names)) {
          const rows = await trx
            .selectFrom('host')
            .select(['id', 'hostname'])
            .where('hostname', 'in', part)
            .execute()
          const known = new Map(rows.map((r) => [r.hostname, r.id]))
          unbound.push(...part.filter((n) => known.has(n)))
          if (rows.length === 0) continue
          await trx
            .deleteFrom('grp_host')
            .where('grp_id', '=', grp.id)
            .where(
              'host_id',
              'in',
              rows.map((r) => r.id)
            )
            .execute()
        }
      })
    return message(`${goList(unbound)} unbind to hostgroup: ${grp.grp_name}`)
  })

  // ----- templates

  const templateOr404 = async (id: number) => {
    const tpl = await db().selectFrom('tpl').select('id').where('id', '=', id).executeTakeFirst()
    if (tpl === undefined) throw notFound(`tpl_id: no template ${id}`)
  }

  app.post('/api/v1/hostgroup/template', async (req) => {
    const body = parse(GroupTemplate, req.body)
    const user = userOf(req)
    const grp = await groupOr404(body.grp_id, 'grp_id')
    assertMayChangeGroup(user, grp)
    await templateOr404(body.tpl_id)
    const bound = await db()
      .selectFrom('grp_tpl')
      .select(['grp_id', 'tpl_id', 'bind_user'])
      .where('grp_id', '=', body.grp_id)
      .where('tpl_id', '=', body.tpl_id)
      .executeTakeFirst()
    if (bound !== undefined) return bound
    const row = { grp_id: body.grp_id, tpl_id: body.tpl_id, bind_user: user.name }
    await db().insertInto('grp_tpl').values(row).execute()
    return row
  })

  app.put('/api/v1/hostgroup/template', async (req) => {
    const body = parse(GroupTemplate, req.body)
    const user = userOf(req)
    const grp = await groupOr404(body.grp_id, 'grp_id')
    await templateOr404(body.tpl_id)
    const bound = await db()
      .selectFrom('grp_tpl')
      .select('bind_user')
      .where('grp_id', '=', body.grp_id)
      .where('tpl_id', '=', body.tpl_id)
      .executeTakeFirst()
    // falcon lets the user who bound it undo a binding, as well as the group's creator.
    assertMayChangeGroup(user, grp, bound?.bind_user)
    await db()
      .deleteFrom('grp_tpl')
      .where('grp_id', '=', body.grp_id)
      .where('tpl_id', '=', body.tpl_id)
      .execute()
    return message(`template: ${body.tpl_id} is unbind of HostGroup: ${body.grp_id}`)
  })

  app.get('/api/v1/hostgroup/:host_group/template', async (req) => {
    const id = idParam(req.params, 'host_group')
    const hostgroup = await groupOr404(id, 'host_group')
    const templates = await db()
      .selectFrom('tpl')
      .select(TPL)
      .where('id', 'in', db().selectFrom('grp_tpl').select('tpl_id').where('grp_id', '=', id))
      .orderBy('id')
      .execute()
    return { hostgroup, templates }
  })

  // ----- hosts

  // Peregrine's (falcon has no host list): every host with its last heartbeat (`update_at`, RFC 3339
  // UTC, as the alarm routes answer times), its groups and the plugin dirs those groups give it, for
  // the dashboard's Hosts page. `q` and paging as for host groups.
  app.get('/api/v1/host', async (req) => {
    const search = searchOf(req.query, ALL)
    const hosts = await searchPage(
      db()
        .selectFrom('host')
        .select([...HOST, 'update_at'])
        .orderBy('hostname'),
      'hostname',
      search
    )
    const ids = hosts.map((h) => h.id)
    const groups = new Map<number, { id: number; grp_name: string }[]>()
    const plugins = new Map<number, Set<string>>()
    for (const part of chunks(ids)) {
      const rows = await db()
        .selectFrom('grp_host')
        .innerJoin('grp', 'grp.id', 'grp_host.grp_id')
        .leftJoin('plugin_dir', 'plugin_dir.grp_id', 'grp.id')
        .select(['grp_host.host_id', 'grp.id', 'grp.grp_name', 'plugin_dir.dir'])
        .where('grp_host.host_id', 'in', part)
        .execute()
      for (const r of rows) {
        const list = groups.get(r.host_id) ?? []
        if (!list.some((g) => g.id === r.id)) list.push({ id: r.id, grp_name: r.grp_name })
        groups.set(r.host_id, list)
        if (r.dir !== null) plugins.set(r.host_id, (plugins.get(r.host_id) ?? new Set()).add(r.dir))
      }
    }
    return hosts.map((h) => ({
      ...h,
      update_at: `${h.update_at.replace(' ', 'T')}Z`,
      hostgroups: (groups.get(h.id) ?? []).sort((a, b) => a.id - b.id),
      plugins: [...(plugins.get(h.id) ?? [])].sort(),
    }))
  })

  app.get('/api/v1/host/:host_id/hostgroup', async (req) => {
    const id = idParam(req.params, 'host_id')
    await hostOr404(id, 'host_id')
    return db()
      .selectFrom('grp')
      .select(GRP)
      .where('id', 'in', db().selectFrom('grp_host').select('grp_id').where('host_id', '=', id))
      .orderBy('id')
      .execute()
  })

  app.get('/api/v1/host/:host_id/template', async (req) => {
    const id = idParam(req.params, 'host_id')
    await hostOr404(id, 'host_id')
    const groups = db().selectFrom('grp_host').select('grp_id').where('host_id', '=', id)
    return db()
      .selectFrom('tpl')
      .select(TPL)
      .where('id', 'in', db().selectFrom('grp_tpl').select('tpl_id').where('grp_id', 'in', groups))
      .orderBy('id')
      .execute()
  })

  // Maintenance: falcon lets anyone set it on any host; here a non-admin may set it only on hosts of
  // groups they created, the hosts they could also remove from those groups.
  const maintainTargets = async (user: AuthUser, hosts: string[], ids: number[]) => {
    const found: { id: number; hostname: string }[] = []
    const byName = hosts.length > 0
    const select = db().selectFrom('host').select(['id', 'hostname'])
    for (const part of chunks(unique(hosts))) {
      found.push(...(await select.where('hostname', 'in', part).execute()))
    }
    for (const part of chunks(unique(ids))) {
      found.push(...(await select.where('id', 'in', part).execute()))
    }
    if (isAdmin(user) || found.length === 0) return found
    const own = new Set<number>()
    for (const part of chunks(found.map((h) => h.id))) {
      const rows = await db()
        .selectFrom('grp_host')
        .innerJoin('grp', 'grp.id', 'grp_host.grp_id')
        .select('grp_host.host_id')
        .where('grp.create_user', '=', user.name)
        .where('grp_host.host_id', 'in', part)
        .execute()
      for (const r of rows) own.add(r.host_id)
    }
    const others = found.filter((h) => !own.has(h.id)).map((h) => h.hostname)
    if (others.length > 0) {
      const shown = others.slice(0, 5).join(', ') + (others.length > 5 ? ', ...' : '')
      throw forbidden(
        `${byName ? 'hosts' : 'ids'}: ${shown}: only an admin or the creator of a group holding the host may set its maintenance`
      )
    }
    return found
  }

  const setMaintain = async (ids: number[], begin: number, end: number) => {
    for (const part of chunks(ids)) {
      await db()
        .updateTable('host')
        .set({ maintain_begin: begin, maintain_end: end })
        .where('id', 'in', part)
        .execute()
    }
  }

  app.post('/api/v1/host/maintain', async (req) => {
    const body = parse(SetMaintain, req.body)
    const targets = await maintainTargets(userOf(req), body.hosts, body.ids)
    await setMaintain(
      targets.map((h) => h.id),
      body.maintain_begin,
      body.maintain_end
    )
    const method = body.hosts.length > 0 ? 'hosts' : 'ids'
    return message(`Through: ${method}, Affect row: ${targets.length}`)
  })

  app.delete('/api/v1/host/maintain', async (req) => {
    const body = parse(UnsetMaintain, req.body)
    const targets = await maintainTargets(userOf(req), body.hosts, body.ids)
    await setMaintain(
      targets.map((h) => h.id),
      0,
      0
    )
    const method = body.hosts.length > 0 ? 'hosts' : 'ids'
    return message(`Through: ${method}, Affect row: ${targets.length}`)
  })

  // ----- plugins

  app.get('/api/v1/hostgroup/:host_group/plugins', async (req) => {
    const id = idParam(req.params, 'host_group')
    await groupOr404(id, 'host_group')
    return db()
      .selectFrom('plugin_dir')
      .select(PLUGIN)
      .where('grp_id', '=', id)
      .orderBy('id')
      .execute()
  })

  app.post('/api/v1/plugin', async (req) => {
    const body = parse(NewPlugin, req.body)
    const user = userOf(req)
    const grp = await groupOr404(body.hostgroup_id, 'hostgroup_id')
    assertMayChangeGroup(user, grp)
    const dup = await db()
      .selectFrom('plugin_dir')
      .select('id')
      .where('grp_id', '=', grp.id)
      .where('dir', '=', body.dir_path)
      .executeTakeFirst()
    if (dup !== undefined) {
      throw conflict(
        `dir_path: ${body.dir_path} is already a plugin dir of host group ${grp.grp_name}`
      )
    }
    const id = insertedId(
      await db()
        .insertInto('plugin_dir')
        .values({ grp_id: grp.id, dir: body.dir_path, create_user: user.name })
        .executeTakeFirst()
    )
    return { id, grp_id: grp.id, dir: body.dir_path, create_user: user.name }
  })

  app.delete('/api/v1/plugin/:id', async (req) => {
    const id = idParam(req.params, 'id')
    const plugin = await db()
      .selectFrom('plugin_dir')
      .select(PLUGIN)
      .where('id', '=', id)
      .executeTakeFirst()
    if (plugin === undefined) throw notFound(`id: no plugin dir ${id}`)
    const grp = await db()
      .selectFrom('grp')
      .select(GRP)
      .where('id', '=', plugin.grp_id)
      .executeTakeFirst()
    assertMayChangeGroup(userOf(req), grp, plugin.create_user)
    await db().deleteFrom('plugin_dir').where('id', '=', id).execute()
    return message(`plugin:${id} has been deleted`)
  })

  // ----- aggregators (table cluster)

  const aggregatorOr404 = async (id: number, field: string) => {
    const row = await db()
      .selectFrom('cluster')
      .select(CLUSTER)
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`${field}: no aggregator ${id}`)
    return row
  }

  app.get('/api/v1/hostgroup/:host_group/aggregators', async (req) => {
    const id = idParam(req.params, 'host_group')
    const page = pageOf(req.query, ALL)
    const grp = await groupOr404(id, 'host_group')
    const aggregators = await db()
      .selectFrom('cluster')
      .select(CLUSTER)
      .where('grp_id', '=', id)
      .orderBy('id')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
    return { hostgroup: grp.grp_name, aggregators }
  })

  app.get('/api/v1/aggregator/:id', async (req) => aggregatorOr404(idParam(req.params, 'id'), 'id'))

  app.post('/api/v1/aggregator', async (req) => {
    const body = parse(NewAggregator, req.body)
    const user = userOf(req)
    const grp = await groupOr404(body.hostgroup_id, 'hostgroup_id')
    assertMayChangeGroup(user, grp)
    const row = {
      grp_id: grp.id,
      numerator: body.numerator,
      denominator: body.denominator,
      endpoint: body.endpoint,
      metric: body.metric,
      tags: body.tags,
      // The aggregator pushes what it computes as a GAUGE; falcon's API never stores anything else.
      ds_type: 'GAUGE',
      step: body.step,
      creator: user.name,
    }
    const id = insertedId(
      await db()
        .insertInto('cluster')
        .values({ ...row, last_update: stamp(ctx.now()) })
        .executeTakeFirst()
    )
    return { id, ...row }
  })

  app.put('/api/v1/aggregator', async (req) => {
    const body = parse(AggregatorUpdate, req.body)
    const current = await aggregatorOr404(body.id, 'id')
    const grp = await db()
      .selectFrom('grp')
      .select(GRP)
      .where('id', '=', current.grp_id)
      .executeTakeFirst()
    assertMayChangeGroup(userOf(req), grp, current.creator)
    const changes = {
      numerator: body.numerator,
      denominator: body.denominator,
      endpoint: body.endpoint,
      metric: body.metric,
      tags: body.tags,
      step: body.step,
    }
    // The aggregator restarts a rule's worker when its last_update changes (MySQL's ON UPDATE
    // CURRENT_TIMESTAMP in falcon's schema; set here so SQLite does the same).
    await db()
      .updateTable('cluster')
      .set({ ...changes, last_update: stamp(ctx.now()) })
      .where('id', '=', current.id)
      .execute()
    return { ...current, ...changes }
  })

  app.delete('/api/v1/aggregator/:id', async (req) => {
    const id = idParam(req.params, 'id')
    const current = await aggregatorOr404(id, 'id')
    const grp = await db()
      .selectFrom('grp')
      .select(GRP)
      .where('id', '=', current.grp_id)
      .executeTakeFirst()
    assertMayChangeGroup(userOf(req), grp, current.creator)
    await db().deleteFrom('cluster').where('id', '=', id).execute()
    return message(`aggregator:${id} has been deleted`)
  })
}
