// A user's API tokens (Peregrine's own): create (the secret is shown once), list (without secrets) and
// delete. A token is sent as `Authorization: Bearer pgt_…` by Grafana, promtool or a script.
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { apiTokenHash, newApiToken } from './auth.js'
import { badRequest, notFound, parse } from './http-errors.js'
import { idParam, insertedId, message, type PortalContext, userOf } from './portal.js'

/** MAX_TOKENS_PER_USER bounds the tokens one user may hold. */
export const MAX_TOKENS_PER_USER = 100

const NewToken = z.strictObject({
  name: z.string().min(1, 'expected a name saying what the token is for').max(64),
  scope: z.enum(['read', 'full']).default('read'),
  /** expiresIn: seconds from now; 0 or absent for a token that never expires. */
  expiresIn: z
    .number()
    .int('expected whole seconds')
    .min(0)
    .max(10 * 365 * 86400, 'expected at most 10 years of seconds')
    .default(0),
})

export function registerTokenRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { store } = ctx

  app.get('/api/v1/user/tokens', async (req) => {
    const user = userOf(req)
    return store.db
      .selectFrom('api_token')
      .select(['id', 'name', 'scope', 'expires_at', 'created'])
      .where('uid', '=', user.id)
      .orderBy('id')
      .execute()
  })

  app.post('/api/v1/user/tokens', async (req) => {
    const user = userOf(req)
    const body = parse(NewToken, req.body)
    if (user.service) {
      throw badRequest('the defaultToken stands for no user: log in as a user to create API tokens')
    }
    const { n } = await store.db
      .selectFrom('api_token')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('uid', '=', user.id)
      .executeTakeFirstOrThrow()
    if (Number(n) >= MAX_TOKENS_PER_USER) {
      throw badRequest(
        `tokens: you hold ${MAX_TOKENS_PER_USER}, the most a user may; delete one with DELETE /api/v1/user/tokens/:id`
      )
    }
    const token = newApiToken()
    const expires = body.expiresIn === 0 ? 0 : Math.floor(ctx.now() / 1000) + body.expiresIn
    const id = insertedId(
      await store.db
        .insertInto('api_token')
        .values({
          uid: user.id,
          name: body.name,
          hash: apiTokenHash(token),
          scope: body.scope,
          expires_at: expires,
        })
        .executeTakeFirst()
    )
    const row = await store.db
      .selectFrom('api_token')
      .select(['id', 'name', 'scope', 'expires_at', 'created'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    // The only time the secret is seen: the store keeps its hash.
    return { ...row, token }
  })

  app.delete('/api/v1/user/tokens/:id', async (req) => {
    const user = userOf(req)
    const id = idParam(req.params, 'id')
    const r = await store.db
      .deleteFrom('api_token')
      .where('id', '=', id)
      .where('uid', '=', user.id)
      .executeTakeFirst()
    // Someone else's token is as absent as one that never was.
    if (Number(r.numDeletedRows) === 0) throw notFound(`token ${id}: you hold no such token`)
    return message(`token ${id} deleted`)
  })
}
