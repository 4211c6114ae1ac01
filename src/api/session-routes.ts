// Falcon's session routes (controller/uic/session_controller.go and user create): login, logout,
// auth_session, and signing up. Login answers the `sig` that later requests send in `Apitoken`.
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import {
  authenticate,
  decoyHash,
  hashPassword,
  isAdmin,
  newSig,
  parseApitoken,
  ROLE,
  verifyPassword,
} from './auth.js'
import { badRequest, conflict, HttpError, parse, unauthorized } from './http-errors.js'
import { insertedId, isUniqueViolation, message, type PortalContext } from './portal.js'

const Login = z.object({
  // The name column is 64 characters: a longer name is no user's (and is not kept by the limiter).
  name: z.string().min(1, 'expected a user name').max(64, 'expected at most 64 characters'),
  password: z.string().min(1, 'expected the password'),
})

/** NAME_RE: user and team names as falcon's pages allow them (letters, digits, `_.-@`). */
export const NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/

export const NewUser = z.object({
  name: z.string().regex(NAME_RE, 'expected 1-64 letters, digits or _.-@'),
  password: z.string().min(6, 'expected at least 6 characters').max(256),
  cnname: z.string().max(128).default(''),
  email: z.string().max(255).default(''),
  phone: z.string().max(16).default(''),
  im: z.string().max(32).default(''),
  qq: z.string().max(16).default(''),
})

export function registerSessionRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { store, config } = ctx
  const seconds = () => Math.floor(ctx.now() / 1000)

  app.post('/api/v1/user/login', { config: { auth: 'open' } }, async (req) => {
    const body = parse(Login, req.body)
    // An address over its limit is refused before the store is asked anything.
    ctx.limiter.checkAddress(req.ip)
    const user = await store.db
      .selectFrom('user')
      .select(['id', 'name', 'passwd', 'role'])
      .where('name', '=', body.name)
      .executeTakeFirst()
    // The name as stored counts: MySQL finds `root ` (trailing spaces) as `root`. The failure is
    // counted before the password is checked, so that logins sent at once cannot pass the limit.
    const name = user?.name ?? body.name
    const settle = ctx.limiter.attempt(name, req.ip)
    // One answer, taking as long, for a wrong name and a wrong password, so names cannot be probed.
    // Its status is falcon's (400); falcon's two texts, `no such user` and `password error`, would
    // tell a guesser which names exist.
    const verdict = await verifyPassword(
      body.password,
      user?.passwd ?? (await decoyHash()),
      config.salt
    )
    settle(user !== undefined && verdict.ok)
    if (user === undefined || !verdict.ok) throw badRequest('wrong name or password')
    if (user.role === ROLE.blocked) throw unauthorized(`user ${user.name} is blocked`)
    ctx.limiter.succeed(name, req.ip)
    if (verdict.legacy) {
      await store.db
        .updateTable('user')
        .set({ passwd: await hashPassword(body.password) })
        .where('id', '=', user.id)
        .execute()
    }
    const sig = newSig()
    const now = seconds()
    await store.db
      .insertInto('session')
      .values({ uid: user.id, sig, expired: now + config.sessionTtl })
      .execute()
    // Expired sessions of this user go now, so the table does not grow with every login.
    await store.db
      .deleteFrom('session')
      .where('uid', '=', user.id)
      .where('expired', '<', now)
      .execute()
    return { sig, name: user.name, admin: user.role >= ROLE.admin }
  })

  app.get('/api/v1/user/logout', { config: { auth: 'open' } }, async (req) => {
    const token = parseApitoken(req.headers.apitoken)
    const user = await authenticate(store, req.headers.apitoken, '', seconds())
    await store.db
      .deleteFrom('session')
      .where('uid', '=', user.id)
      .where('sig', '=', token.sig)
      .execute()
    return message('logout successful')
  })

  app.get('/api/v1/user/auth_session', { config: { auth: 'open' } }, async (req) => {
    await authenticate(store, req.headers.apitoken, config.defaultToken, seconds())
    return message('session is valid!')
  })

  app.post('/api/v1/user/create', { config: { auth: 'open' } }, async (req) => {
    const body = parse(NewUser, req.body)
    let creator = 0
    if (config.signupDisable) {
      const by = await authenticate(store, req.headers.apitoken, config.defaultToken, seconds())
      if (!isAdmin(by)) throw new HttpError(403, 'sign-up is disabled: only an admin creates users')
      creator = by.id
    }
    if (body.name === 'root') throw badRequest('name: root is reserved')
    let id: number
    try {
      id = insertedId(
        await store.db
          .insertInto('user')
          .values({
            name: body.name,
            passwd: await hashPassword(body.password),
            cnname: body.cnname,
            email: body.email,
            phone: body.phone,
            im: body.im,
            qq: body.qq,
            role: ROLE.user,
            creator,
          })
          .executeTakeFirst()
      )
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`name: user ${body.name} already exists`)
      throw err
    }
    const sig = newSig()
    await store.db
      .insertInto('session')
      .values({ uid: id, sig, expired: seconds() + config.sessionTtl })
      .execute()
    return { sig, name: body.name, id }
  })
}
