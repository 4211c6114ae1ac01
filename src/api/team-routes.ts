// Falcon's team routes (controller/uic/team_controller.go): list, read, create, update, add
// members, delete. A team is changed only by its creator (team.creator, a user id) or an admin;
// alarm reads a team's `users` (with their email, phone and im) through GET /team/name/:name.
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { PortalDatabase } from '../store/index.js'
import { isAdmin } from './auth.js'
import { badRequest, conflict, notFound, parse } from './http-errors.js'
import {
  assertMayChange,
  idParam,
  insertedId,
  isUniqueViolation,
  message,
  type PortalContext,
  searchOf,
  searchPage,
  userOf,
} from './portal.js'
import { NAME_RE } from './session-routes.js'
import { idField, likeContains, type UserJson } from './user-routes.js'

type Db = Kysely<PortalDatabase>

/** TeamJson is falcon's uic.Team. */
interface TeamJson {
  id: number
  name: string
  resume: string
  creator: number
}

const TEAM_COLUMNS = ['id', 'name', 'resume', 'creator'] as const

const NAME_MESSAGE = 'expected 1-64 letters, digits or _.-@'
const resume = z.string({ error: 'expected a string' }).max(255, 'expected at most 255 characters')
const userIds = z.array(idField, { error: 'expected an array of user ids' }).max(10_000)

/** CreateTeam is falcon's APICreateTeamInput. */
const CreateTeam = z.object({
  team_name: z.string({ error: NAME_MESSAGE }).regex(NAME_RE, NAME_MESSAGE),
  resume: resume.default(''),
  users: userIds.default([]),
})

/**
 * UpdateTeam is falcon's APIUpdateTeamInput. A field left out (or an empty `name`, as falcon treats
 * it) keeps its value; `users`, when given, replaces the membership.
 */
const UpdateTeam = z.object({
  team_id: idField,
  name: z
    .string({ error: NAME_MESSAGE })
    .refine((s) => s === '' || NAME_RE.test(s), `${NAME_MESSAGE} (or empty to keep the name)`)
    .optional(),
  resume: resume.optional(),
  users: userIds.optional(),
})

/** AddTeamUsers is falcon's APIAddTeamUsers: user names to add to the team. */
const AddTeamUsers = z.object({
  team_id: idField,
  users: z
    .array(z.string({ error: 'expected a user name' }).min(1, 'expected a user name'), {
      error: 'expected an array of user names',
    })
    .min(1, 'expected at least one user name')
    .max(10_000),
})

async function findTeam(db: Db, id: number, field: string): Promise<TeamJson> {
  const team = await db
    .selectFrom('team')
    .select(TEAM_COLUMNS)
    .where('id', '=', id)
    .executeTakeFirst()
  if (team === undefined) throw notFound(`${field}: no team with id ${id}`)
  return team
}

/** membersOf returns each team's users, in id order. */
async function membersOf(db: Db, tids: number[]): Promise<Map<number, UserJson[]>> {
  const out = new Map<number, UserJson[]>(tids.map((t) => [t, []]))
  if (tids.length === 0) return out
  const rows = await db
    .selectFrom('rel_team_user')
    .innerJoin('user', 'user.id', 'rel_team_user.uid')
    .select([
      'rel_team_user.tid',
      'user.id',
      'user.name',
      'user.cnname',
      'user.email',
      'user.phone',
      'user.im',
      'user.qq',
      'user.role',
    ])
    .where('rel_team_user.tid', 'in', tids)
    .orderBy('user.id')
    .execute()
  for (const { tid, ...user } of rows) {
    const list = out.get(tid)
    // A falcon database may hold the same pair twice (it had no unique key).
    if (list !== undefined && list.at(-1)?.id !== user.id) list.push(user)
  }
  return out
}

/** creatorNames maps creator ids to names; falcon answers `unknown` for a deleted creator. */
async function creatorNames(db: Db, ids: number[]): Promise<(id: number) => string> {
  const names = new Map<number, string>()
  const unique = [...new Set(ids)]
  if (unique.length > 0) {
    const rows = await db
      .selectFrom('user')
      .select(['id', 'name'])
      .where('id', 'in', unique)
      .execute()
    for (const r of rows) names.set(r.id, r.name)
  }
  return (id) => names.get(id) ?? 'unknown'
}

/** teamDetail is falcon's APIGetTeamOutput: the team flattened, its users, its creator's name. */
async function teamDetail(db: Db, team: TeamJson) {
  const users = (await membersOf(db, [team.id])).get(team.id) ?? []
  const creatorName = await creatorNames(db, [team.creator])
  return { ...team, users, creator_name: creatorName(team.creator) }
}

/** assertUsersExist throws 400 naming the ids in `ids` that are no user. */
async function assertUsersExist(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return
  const found = new Set(
    (await db.selectFrom('user').select('id').where('id', 'in', ids).execute()).map((r) => r.id)
  )
  const missing = ids.filter((id) => !found.has(id))
  if (missing.length > 0) throw badRequest(`users: no user with id ${missing.join(', ')}`)
}

/**
 * renameInActions rewrites `from` to `to` in every action's `uic` team list (or drops it when `to`
 * is null), so alarms keep reaching a renamed team and never reach a later team that reuses a
 * deleted team's name.
 */
async function renameInActions(db: Db, from: string, to: string | null): Promise<void> {
  const rows = await db
    .selectFrom('action')
    .select(['id', 'uic'])
    .where(likeContains('uic', from))
    .execute()
  for (const r of rows) {
    const parts = r.uic.split(',')
    const next = parts.flatMap((p) => (p.trim() !== from ? [p] : to === null ? [] : [to]))
    if (next.length === parts.length && next.every((p, i) => p === parts[i])) continue
    await db
      .updateTable('action')
      .set({ uic: next.join(',') })
      .where('id', '=', r.id)
      .execute()
  }
}

/** registerTeamRoutes adds /api/v1/team and /api/v1/team/{t/:id, name/:name, user, :id}. */
export function registerTeamRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { store } = ctx

  app.get('/api/v1/team', async (req) => {
    const user = userOf(req)
    // Without `page` falcon answers the whole list; 10000 rows bound it here.
    const search = searchOf(req.query, 10_000)
    let q = store.db.selectFrom('team').select(TEAM_COLUMNS)
    // falcon: admins see every team, others the teams they created or belong to.
    if (!isAdmin(user)) {
      q = q.where((eb) =>
        eb.or([
          eb('creator', '=', user.id),
          eb('id', 'in', eb.selectFrom('rel_team_user').select('tid').where('uid', '=', user.id)),
        ])
      )
    }
    const teams = await searchPage(q.orderBy('id'), 'name', search)
    const members = await membersOf(
      store.db,
      teams.map((t) => t.id)
    )
    const creatorName = await creatorNames(
      store.db,
      teams.map((t) => t.creator)
    )
    return teams.map((team) => ({
      team,
      creator_name: creatorName(team.creator),
      users: members.get(team.id) ?? [],
    }))
  })

  app.get('/api/v1/team/t/:team_id', async (req) =>
    teamDetail(store.db, await findTeam(store.db, idParam(req.params, 'team_id'), 'team_id'))
  )

  app.get('/api/v1/team/name/:team_name', async (req) => {
    const name = (req.params as { team_name: string }).team_name
    const team = await store.db
      .selectFrom('team')
      .select(TEAM_COLUMNS)
      .where('name', '=', name)
      .executeTakeFirst()
    if (team === undefined) throw notFound(`team_name: no team named ${name}`)
    return teamDetail(store.db, team)
  })

  app.post('/api/v1/team', async (req) => {
    const user = userOf(req)
    const body = parse(CreateTeam, req.body)
    const uids = [...new Set(body.users)]
    await assertUsersExist(store.db, uids)
    try {
      const id = await store.db.transaction().execute(async (trx) => {
        const tid = insertedId(
          await trx
            .insertInto('team')
            .values({ name: body.team_name, resume: body.resume, creator: user.id })
            .executeTakeFirst()
        )
        if (uids.length > 0) {
          await trx
            .insertInto('rel_team_user')
            .values(uids.map((uid) => ({ tid, uid })))
            .execute()
        }
        return tid
      })
      // `id` is Peregrine's addition, so a client need not look the new team up by name.
      return { ...message(`team created! Affect row: 1, Affect refer: ${uids.length}`), id }
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`team_name: team ${body.team_name} already exists`)
      throw err
    }
  })

  app.put('/api/v1/team', async (req) => {
    const user = userOf(req)
    const body = parse(UpdateTeam, req.body)
    const team = await findTeam(store.db, body.team_id, 'team_id')
    assertMayChange(user, team.creator, `team ${team.name}`)
    const uids = body.users === undefined ? undefined : [...new Set(body.users)]
    if (uids !== undefined) await assertUsersExist(store.db, uids)
    const rename = body.name !== undefined && body.name !== '' && body.name !== team.name
    try {
      await store.db.transaction().execute(async (trx) => {
        if (rename || body.resume !== undefined) {
          await trx
            .updateTable('team')
            .set({
              ...(rename ? { name: body.name } : {}),
              ...(body.resume !== undefined ? { resume: body.resume } : {}),
            })
            .where('id', '=', team.id)
            .execute()
        }
        if (rename) await renameInActions(trx, team.name, body.name!)
        if (uids !== undefined) {
          await trx.deleteFrom('rel_team_user').where('tid', '=', team.id).execute()
          if (uids.length > 0) {
            await trx
              .insertInto('rel_team_user')
              .values(uids.map((uid) => ({ tid: team.id, uid })))
              .execute()
          }
        }
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`name: team ${body.name} already exists`)
      throw err
    }
    return message('team updated!')
  })

  app.post('/api/v1/team/user', async (req) => {
    const user = userOf(req)
    const body = parse(AddTeamUsers, req.body)
    const team = await findTeam(store.db, body.team_id, 'team_id')
    assertMayChange(user, team.creator, `team ${team.name}`)
    const names = [...new Set(body.users)]
    const found = await store.db
      .selectFrom('user')
      .select(['id', 'name'])
      .where('name', 'in', names)
      .execute()
    const known = new Set(found.map((u) => u.name))
    const missing = names.filter((n) => !known.has(n))
    if (missing.length > 0) throw badRequest(`users: no user named ${missing.join(', ')}`)
    await store.db.transaction().execute(async (trx) => {
      const already = new Set(
        (
          await trx
            .selectFrom('rel_team_user')
            .select('uid')
            .where('tid', '=', team.id)
            .where(
              'uid',
              'in',
              found.map((u) => u.id)
            )
            .execute()
        ).map((r) => r.uid)
      )
      const add = found.filter((u) => !already.has(u.id))
      if (add.length > 0) {
        await trx
          .insertInto('rel_team_user')
          .values(add.map((u) => ({ tid: team.id, uid: u.id })))
          .execute()
      }
    })
    return message('add successful')
  })

  app.delete('/api/v1/team/:team_id', async (req) => {
    const user = userOf(req)
    const team = await findTeam(store.db, idParam(req.params, 'team_id'), 'team_id')
    assertMayChange(user, team.creator, `team ${team.name}`)
    const refs = await store.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('rel_team_user').where('tid', '=', team.id).executeTakeFirst()
      await trx.deleteFrom('team').where('id', '=', team.id).execute()
      await renameInActions(trx, team.name, null)
      return Number(r.numDeletedRows)
    })
    return message(`team ${team.id} is deleted. Affect row: 1 / refer delete: ${refs}`)
  })
}
