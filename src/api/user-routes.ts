// Falcon's user routes (controller/uic/user_controller.go, AdminLogin in session_controller.go):
// profiles, passwords, the user list, team membership questions, and the admin routes under the
// role rules: nobody changes root's role or deletes root, only root changes another admin, and a
// new password or a block ends the user's sessions.
import type { FastifyInstance } from 'fastify'
import { type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely'
import { z } from 'zod'
import type { PortalDatabase, UserUpdate } from '../store/index.js'
import {
  type AuthUser,
  hashPassword,
  isAdmin,
  newSig,
  parseApitoken,
  ROLE,
  verifyPassword,
} from './auth.js'
import { badRequest, forbidden, notFound, parse, unauthorized } from './http-errors.js'
import { idParam, message, type PortalContext, searchOf, searchPage, userOf } from './portal.js'

/** USER_COLUMNS are the columns of falcon's User JSON; `passwd` is never among them. */
export const USER_COLUMNS = ['id', 'name', 'cnname', 'email', 'phone', 'im', 'qq', 'role'] as const

/** UserJson is falcon's User as the API answers it. */
export interface UserJson {
  id: number
  name: string
  cnname: string
  email: string
  phone: string
  im: string
  qq: string
  role: number
}

/**
 * idField reads an id from JSON (a number) or from a form (a digit string), as falcon's gin binding
 * accepts both; anything else is `expected a positive integer id`.
 */
export const idField = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'expected a positive integer id' })
    .int('expected a positive integer id')
    .positive('expected a positive integer id')
    .max(Number.MAX_SAFE_INTEGER, 'expected a positive integer id')
)

/** likeContains is `column LIKE '%text%'` with `text` taken literally (its `%` and `_` escaped). */
export function likeContains(column: string, text: string): RawBuilder<SqlBool> {
  const pattern = `%${text.replace(/[!%_]/g, (c) => `!${c}`)}%`
  return sql<SqlBool>`${sql.ref(column)} like ${pattern} escape '!'`
}

// falcon's utils.HasDangerousCharacters: profile text is shown in pages and mails unescaped.
const DANGEROUS = /[<>&'"]/

const text = (max: number) =>
  z
    .string({ error: 'expected a string' })
    .max(max, `expected at most ${max} characters`)
    .refine((s) => !DANGEROUS.test(s), `must not contain < > & ' or "`)

/** Profile is falcon's APIUserUpdateInput; the column sizes are the `user` table's. */
const Profile = z.object({
  cnname: text(128),
  email: text(255),
  phone: text(16).optional(),
  im: text(32).optional(),
  qq: text(16).optional(),
})

const Password = z
  .string({ error: 'expected a string' })
  .min(6, 'expected at least 6 characters')
  .max(256, 'expected at most 256 characters')

const ChangePassword = z.object({
  old_password: z
    .string({ error: 'expected the current password' })
    .min(1, 'expected the current password'),
  new_password: Password,
})

const AdminProfile = Profile.extend({ user_id: idField })
const AdminPassword = z.object({ user_id: idField, password: Password })
const UserId = z.object({ user_id: idField })
const AdminLogin = z.object({
  name: z.string({ error: 'expected a user name' }).min(1, 'expected a user name'),
})

/**
 * ChangeRole is falcon's `{user_id, admin: "yes"|"no"}`, or Peregrine's `{user_id, role: -1|0|1}`,
 * which can also block (-1) and unblock a user.
 */
const ChangeRole = z.object({
  user_id: idField,
  admin: z.enum(['yes', 'no'], { error: 'expected "yes" or "no"' }).optional(),
  role: z
    .union([z.literal(ROLE.blocked), z.literal(ROLE.user), z.literal(ROLE.admin)], {
      error: 'expected -1 (blocked), 0 (user) or 1 (admin)',
    })
    .optional(),
})

type Db = Kysely<PortalDatabase>

/** findUser returns the user with `id`, or throws 404 naming `field`. */
export async function findUser(db: Db, id: number, field: string): Promise<UserJson> {
  const row = await db
    .selectFrom('user')
    .select(USER_COLUMNS)
    .where('id', '=', id)
    .executeTakeFirst()
  if (row === undefined) throw notFound(`${field}: no user with id ${id}`)
  return row
}

/**
 * assertMayManage applies the role rule for changing a user, or throws 403: a user changes only
 * itself, an admin itself and users below admin, root everyone. (Root's role and existence are
 * guarded apart.)
 */
function assertMayManage(actor: AuthUser, target: UserJson, what: string): void {
  if (!actor.service && actor.id === target.id) return
  if (actor.role >= ROLE.root) return
  if (isAdmin(actor) && target.role < ROLE.admin) return
  if (isAdmin(actor)) throw forbidden(`${what}: only root may change another admin or root`)
  throw forbidden(`${what}: only the user itself or an admin may change it`)
}

/** dropSessions ends `uid`'s sessions but `keepSig` (the caller's own, when it acts on itself). */
async function dropSessions(db: Db, uid: number, keepSig?: string): Promise<void> {
  let q = db.deleteFrom('session').where('uid', '=', uid)
  if (keepSig !== undefined) q = q.where('sig', '<>', keepSig)
  await q.execute()
}

function profileUpdate(p: z.infer<typeof Profile>): UserUpdate {
  // Optional fields left out stay as they are (falcon blanks them).
  const set: UserUpdate = { cnname: p.cnname, email: p.email }
  if (p.phone !== undefined) set.phone = p.phone
  if (p.im !== undefined) set.im = p.im
  if (p.qq !== undefined) set.qq = p.qq
  return set
}

/**
 * registerUserRoutes adds /api/v1/user/{current, u/:uid, u/:uid/in_teams, u/:uid/teams,
 * name/:user_name, update, cgpasswd, users} and /api/v1/admin/{change_user_role,
 * change_user_passwd, change_user_profile, delete_user, login}.
 */
export function registerUserRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { store, config } = ctx
  const seconds = () => Math.floor(ctx.now() / 1000)

  // The defaultToken's identity is no user row: "own" routes read the row its name stands for.
  const self = async (actor: AuthUser): Promise<UserJson> => {
    const q = store.db.selectFrom('user').select(USER_COLUMNS)
    const row = await (
      actor.service ? q.where('name', '=', actor.name) : q.where('id', '=', actor.id)
    ).executeTakeFirst()
    if (row === undefined) throw notFound(`user ${actor.name} does not exist`)
    return row
  }
  const ownSig = (req: { headers: Record<string, unknown> }) =>
    parseApitoken(req.headers.apitoken).sig
  const notService = (actor: AuthUser, what: string) => {
    if (actor.service) throw forbidden(`${what}: the defaultToken is not a user; log in as one`)
  }

  app.get('/api/v1/user/current', async (req) => self(userOf(req)))

  app.get('/api/v1/user/u/:uid', async (req) =>
    findUser(store.db, idParam(req.params, 'uid'), 'uid')
  )

  app.put('/api/v1/user/u/:uid', async (req) => {
    const actor = userOf(req)
    const uid = idParam(req.params, 'uid')
    const body = parse(Profile, req.body)
    const target = await findUser(store.db, uid, 'uid')
    assertMayManage(actor, target, `user ${target.name}`)
    await store.db.updateTable('user').set(profileUpdate(body)).where('id', '=', uid).execute()
    return message('user info updated')
  })

  app.get('/api/v1/user/name/:user_name', async (req) => {
    const name = (req.params as { user_name: string }).user_name
    const row = await store.db
      .selectFrom('user')
      .select(USER_COLUMNS)
      .where('name', '=', name)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`user_name: no user named ${name}`)
    return row
  })

  app.put('/api/v1/user/update', async (req) => {
    const actor = userOf(req)
    notService(actor, 'user/update')
    const body = parse(Profile, req.body)
    const me = await self(actor)
    await store.db.updateTable('user').set(profileUpdate(body)).where('id', '=', me.id).execute()
    return message('user info updated')
  })

  app.put('/api/v1/user/cgpasswd', async (req) => {
    const actor = userOf(req)
    notService(actor, 'user/cgpasswd')
    const body = parse(ChangePassword, req.body)
    // A stolen session must not make the old password guessable: count misses as failed logins.
    ctx.limiter.checkAddress(req.ip)
    const row = await store.db
      .selectFrom('user')
      .select(['id', 'passwd'])
      .where('id', '=', actor.id)
      .executeTakeFirst()
    if (row === undefined) throw unauthorized(`user ${actor.name} does not exist`)
    // Counted before the check, so that guesses sent at once cannot pass the limit.
    const settle = ctx.limiter.attempt(actor.name, req.ip)
    const verdict = await verifyPassword(body.old_password, row.passwd, config.salt)
    settle(verdict.ok)
    if (!verdict.ok) throw badRequest('old_password: does not match the current password')
    const passwd = await hashPassword(body.new_password)
    const keep = ownSig(req)
    await store.db.transaction().execute(async (trx) => {
      await trx.updateTable('user').set({ passwd }).where('id', '=', row.id).execute()
      await dropSessions(trx, row.id, keep)
    })
    return message('password updated!')
  })

  app.get('/api/v1/user/users', async (req) => {
    // Without `page` falcon answers the whole list; 10000 rows bound it here.
    const search = searchOf(req.query, 10_000)
    return searchPage(
      store.db.selectFrom('user').select(USER_COLUMNS).orderBy('id'),
      'name',
      search
    )
  })

  app.get('/api/v1/user/u/:uid/in_teams', async (req) => {
    const uid = idParam(req.params, 'uid')
    const raw = (req.query as { team_names?: unknown }).team_names
    if (typeof raw !== 'string')
      throw badRequest('team_names: expected a comma-separated list of team names')
    const names = [
      ...new Set(
        raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      ),
    ]
    if (names.length === 0)
      throw badRequest('team_names: expected a comma-separated list of team names')
    await findUser(store.db, uid, 'uid')
    const hit = await store.db
      .selectFrom('rel_team_user')
      .innerJoin('team', 'team.id', 'rel_team_user.tid')
      .select('rel_team_user.id')
      .where('rel_team_user.uid', '=', uid)
      .where('team.name', 'in', names)
      .limit(1)
      .executeTakeFirst()
    return message(hit === undefined ? 'false' : 'true')
  })

  app.get('/api/v1/user/u/:uid/teams', async (req) => {
    const uid = idParam(req.params, 'uid')
    await findUser(store.db, uid, 'uid')
    const teams = await store.db
      .selectFrom('team')
      .innerJoin('rel_team_user', 'rel_team_user.tid', 'team.id')
      .select(['team.id', 'team.name', 'team.resume', 'team.creator'])
      .where('rel_team_user.uid', '=', uid)
      .orderBy('team.id')
      .execute()
    return { teams }
  })

  const admin = { config: { auth: 'admin' as const } }

  app.put('/api/v1/admin/change_user_role', admin, async (req) => {
    const actor = userOf(req)
    const body = parse(ChangeRole, req.body)
    if ((body.admin === undefined) === (body.role === undefined)) {
      throw badRequest('body: give either admin ("yes" or "no") or role (-1, 0 or 1), not both')
    }
    const role = body.role ?? (body.admin === 'yes' ? ROLE.admin : ROLE.user)
    const target = await findUser(store.db, body.user_id, 'user_id')
    if (target.role === ROLE.root)
      throw forbidden(`user ${target.name}: nobody may change root's role`)
    assertMayManage(actor, target, `user ${target.name}`)
    await store.db.transaction().execute(async (trx) => {
      await trx.updateTable('user').set({ role }).where('id', '=', target.id).execute()
      if (role === ROLE.blocked) await dropSessions(trx, target.id)
    })
    // Always 1: MySQL would count an unchanged row as 0, SQLite as 1; the user exists either way.
    return message('user role update successful, affect row: 1')
  })

  app.put('/api/v1/admin/change_user_passwd', admin, async (req) => {
    const actor = userOf(req)
    const body = parse(AdminPassword, req.body)
    const target = await findUser(store.db, body.user_id, 'user_id')
    assertMayManage(actor, target, `user ${target.name}`)
    const passwd = await hashPassword(body.password)
    const keep = !actor.service && actor.id === target.id ? ownSig(req) : undefined
    await store.db.transaction().execute(async (trx) => {
      await trx.updateTable('user').set({ passwd }).where('id', '=', target.id).execute()
      await dropSessions(trx, target.id, keep)
    })
    return message('password updated!')
  })

  app.put('/api/v1/admin/change_user_profile', admin, async (req) => {
    const actor = userOf(req)
    const body = parse(AdminProfile, req.body)
    const target = await findUser(store.db, body.user_id, 'user_id')
    assertMayManage(actor, target, `user ${target.name}`)
    await store.db
      .updateTable('user')
      .set(profileUpdate(body))
      .where('id', '=', target.id)
      .execute()
    return message('user profile updated')
  })

  app.delete('/api/v1/admin/delete_user', admin, async (req) => {
    const actor = userOf(req)
    // falcon binds user_id from a JSON body, a form or the query string.
    const body = parse(UserId, req.body ?? req.query)
    const target = await findUser(store.db, body.user_id, 'user_id')
    if (target.role === ROLE.root) throw forbidden(`user ${target.name}: nobody may delete root`)
    assertMayManage(actor, target, `user ${target.name}`)
    const affected = await store.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('session').where('uid', '=', target.id).execute()
      await trx.deleteFrom('api_token').where('uid', '=', target.id).execute()
      await trx.deleteFrom('rel_team_user').where('uid', '=', target.id).execute()
      // What the user created passes to the admin deleting it: ownership is by name, and a new user
      // who later signs up with the same name must not inherit it. An admin deleting itself, or the
      // defaultToken (no user, any name), hands it to root instead.
      const name = target.name
      const heir =
        !actor.service && actor.id !== target.id
          ? actor
          : await trx
              .selectFrom('user')
              .select(['id', 'name'])
              .where('name', '=', 'root')
              .executeTakeFirstOrThrow()
      const to = heir.name
      await trx
        .updateTable('grp')
        .set({ create_user: to })
        .where('create_user', '=', name)
        .execute()
      await trx
        .updateTable('tpl')
        .set({ create_user: to })
        .where('create_user', '=', name)
        .execute()
      await trx
        .updateTable('expression')
        .set({ create_user: to })
        .where('create_user', '=', name)
        .execute()
      await trx
        .updateTable('plugin_dir')
        .set({ create_user: to })
        .where('create_user', '=', name)
        .execute()
      await trx
        .updateTable('grp_tpl')
        .set({ bind_user: to })
        .where('bind_user', '=', name)
        .execute()
      await trx.updateTable('mockcfg').set({ creator: to }).where('creator', '=', name).execute()
      await trx.updateTable('cluster').set({ creator: to }).where('creator', '=', name).execute()
      await trx
        .updateTable('team')
        .set({ creator: heir.id })
        .where('creator', '=', target.id)
        .execute()
      const r = await trx.deleteFrom('user').where('id', '=', target.id).executeTakeFirst()
      return Number(r.numDeletedRows)
    })
    return message(`user ${target.id} has been deleted, affect row: ${affected}`)
  })

  app.post('/api/v1/admin/login', admin, async (req) => {
    const actor = userOf(req)
    const body = parse(AdminLogin, req.body)
    const target = await store.db
      .selectFrom('user')
      .select(['id', 'name', 'role'])
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (target === undefined) throw notFound(`name: no user named ${body.name}`)
    if (target.role >= actor.role) {
      throw forbidden(
        `name: ${target.name} has a role as high as yours; log in as a lower-role user`
      )
    }
    if (target.role === ROLE.blocked) throw forbidden(`name: user ${target.name} is blocked`)
    const sig = newSig()
    await store.db
      .insertInto('session')
      .values({ uid: target.id, sig, expired: seconds() + config.sessionTtl })
      .execute()
    return { sig, name: target.name, admin: target.role >= ROLE.admin }
  })
}
