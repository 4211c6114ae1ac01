// Falcon's nodata rules (controller/mockcfg, table mockcfg): which series nodata watches and the mock
// value it pushes when they go silent. Any user reads and creates them; only the creator or an admin
// changes or deletes one.
import { Buffer } from 'node:buffer'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { MAX_METRIC_TAGS_BYTES } from '../core/index.js'
import type { Mockcfg } from '../store/index.js'
import { badRequest, conflict, notFound, parse } from './http-errors.js'
import {
  assertMayChange,
  idParam,
  insertedId,
  isUniqueViolation,
  message,
  pageOf,
  type PortalContext,
  userOf,
} from './portal.js'

/** OBJ_TYPES: what `obj` lists, one per line: hostnames, host group names, or other endpoint names. */
export const OBJ_TYPES = ['host', 'group', 'other'] as const

/** ENDPOINT_RE: a host or endpoint name as the host routes take them: no whitespace or control characters. */
const ENDPOINT_RE = /^[^\s\p{Cc}]{1,255}$/u
/** NOUNS: what one line of `obj` names, by obj_type. */
const NOUNS = { host: 'host name', group: 'host group name', other: 'endpoint name' } as const
const MAX_OBJ_CHARS = 10240
const INT32_MAX = 2 ** 31 - 1

// The columns falcon's Mockcfg model puts in JSON (t_create and t_modify are not among them).
const COLUMNS = [
  'id',
  'name',
  'obj',
  'obj_type',
  'metric',
  'tags',
  'dstype',
  'step',
  'mock',
  'creator',
] as const

/**
 * tagsProblem checks a falcon tags string the way nodata reads it (spaces dropped, `,` between items,
 * `=` inside each): every item needs a key and a value. Returns what is wrong, or undefined.
 */
function tagsProblem(raw: string): string | undefined {
  const s = raw.replaceAll(' ', '')
  if (s === '') return undefined
  for (const item of s.split(',')) {
    const eq = item.indexOf('=')
    if (eq <= 0 || eq === item.length - 1) {
      return `expected k=v pairs separated by commas, got ${JSON.stringify(item)}`
    }
  }
  return undefined
}

const Rule = {
  obj: z
    .string({ error: 'expected names, one per line' })
    .max(MAX_OBJ_CHARS, `expected at most ${MAX_OBJ_CHARS} characters`),
  obj_type: z.enum(OBJ_TYPES, { error: 'expected one of host, group, other' }),
  metric: z
    .string({ error: 'expected a metric name' })
    .trim()
    .min(1, 'expected a metric name')
    .max(128, 'expected at most 128 characters'),
  tags: z
    .string({ error: 'expected a string k1=v1,k2=v2' })
    .trim()
    .max(1024, 'expected at most 1024 characters')
    .default('')
    .superRefine((v, c) => {
      const problem = tagsProblem(v)
      if (problem !== undefined) c.addIssue({ code: 'custom', message: problem })
    }),
  // falcon's nodata drops every rule whose dstype is not GAUGE, so storing another would be a silent no-op.
  dstype: z
    .literal('GAUGE', { error: 'nodata mocks GAUGE series only: expected "GAUGE"' })
    .default('GAUGE'),
  step: z
    .number({ error: 'expected a positive integer (seconds)' })
    .int('expected a positive integer (seconds)')
    .min(1, 'expected a positive integer (seconds)')
    .max(INT32_MAX, `expected at most ${INT32_MAX}`),
  // What graph stores (as falcon's rrdtool): a mock it would refuse would never reach a strategy.
  mock: z
    .number({ error: 'expected a finite number' })
    .refine(
      (v) => Math.abs(v) <= 1e300 && (v === 0 || Math.abs(v) >= 1e-300),
      'expected a value graph stores: 0, or from 1e-300 to 1e300 in size'
    ),
}

const Name = z
  .string({ error: 'expected a rule name' })
  .trim()
  .min(1, 'expected a rule name')
  .max(255, 'expected at most 255 characters')

const NewRule = z.object({ name: Name, ...Rule })

const RuleUpdate = z.object({
  id: z
    .number({ error: 'expected the rule id' })
    .int('expected a positive integer')
    .positive('expected a positive integer'),
  name: Name.optional(),
  ...Rule,
})

type RuleFields = Pick<z.infer<typeof NewRule>, 'obj' | 'obj_type' | 'metric' | 'tags'>

/**
 * registerNodataRoutes adds `/api/v1/nodata`: list, read, create, update, delete mockcfg rows. Reads and
 * creates need any user; updates and deletes the creator or an admin (403 otherwise).
 */
export function registerNodataRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { db } = ctx.store
  const stamp = () => new Date(ctx.now()).toISOString().slice(0, 19).replace('T', ' ')

  const find = async (id: number): Promise<Mockcfg> => {
    const row = await db.selectFrom('mockcfg').selectAll().where('id', '=', id).executeTakeFirst()
    if (row === undefined) throw notFound(`nodata rule ${id} not found`)
    return row
  }
  const reply = async (id: number) => {
    const row = await db
      .selectFrom('mockcfg')
      .select(COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`nodata rule ${id} not found`)
    return row
  }

  /**
   * checkRule returns `obj` as nodata reads it (trimmed names, one per line, no repeats) after checking
   * each name for its obj_type, that named host groups exist, and transfer's metric+tags size limit.
   */
  const checkRule = async (body: RuleFields): Promise<string> => {
    const names = [
      ...new Set(
        body.obj
          .split('\n')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      ),
    ]
    const noun = NOUNS[body.obj_type]
    if (names.length === 0) throw badRequest(`body.obj: expected at least one ${noun}`)
    for (const name of names) {
      if (body.obj_type !== 'group' && !ENDPOINT_RE.test(name)) {
        throw badRequest(
          `body.obj: ${JSON.stringify(name)} is not a valid ${noun} (1-255 characters, no spaces; one per line)`
        )
      }
      if (body.obj_type === 'group' && name.length > 255) {
        throw badRequest(`body.obj: host group names have at most 255 characters`)
      }
    }
    if (body.obj_type === 'group') {
      const known = await db
        .selectFrom('grp')
        .select('grp_name')
        .where('grp_name', 'in', names)
        .execute()
      const have = new Set(known.map((g) => g.grp_name))
      const missing = names.filter((n) => !have.has(n))
      if (missing.length > 0) {
        throw badRequest(
          `body.obj: no host group named ${missing.map((n) => JSON.stringify(n)).join(', ')}`
        )
      }
    }
    // transfer refuses longer points, so every mock of such a rule would be dropped.
    const bytes = Buffer.byteLength(body.metric) + Buffer.byteLength(body.tags)
    if (bytes > MAX_METRIC_TAGS_BYTES) {
      throw badRequest(
        `body.tags: metric and tags take ${bytes} bytes, more than the ${MAX_METRIC_TAGS_BYTES} transfer accepts`
      )
    }
    return names.join('\n')
  }

  const duplicate = (err: unknown, name: string) =>
    isUniqueViolation(err) ? conflict(`name: nodata rule ${name} already exists`) : err

  const list = async (req: FastifyRequest) => {
    // falcon returns every rule when no page is asked for; the cap keeps one answer bounded.
    const page = pageOf(req.query, 10_000)
    return db
      .selectFrom('mockcfg')
      .select(COLUMNS)
      .orderBy('id')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
  }
  app.get('/api/v1/nodata', list)
  app.get('/api/v1/nodata/', list)

  app.get('/api/v1/nodata/:nid', async (req) => {
    return reply(idParam(req.params, 'nid'))
  })

  const create = async (req: FastifyRequest) => {
    const user = userOf(req)
    const body = parse(NewRule, req.body)
    const obj = await checkRule(body)
    const now = stamp()
    let id: number
    try {
      id = insertedId(
        await db
          .insertInto('mockcfg')
          .values({
            name: body.name,
            obj,
            obj_type: body.obj_type,
            metric: body.metric,
            tags: body.tags,
            dstype: body.dstype,
            step: body.step,
            mock: body.mock,
            creator: user.name,
            t_create: now,
            t_modify: now,
          })
          .executeTakeFirst()
      )
    } catch (err) {
      throw duplicate(err, body.name)
    }
    return reply(id)
  }
  // falcon registers `/nodata/`; gin answers the slash-less form with a redirect, so both are routes.
  app.post('/api/v1/nodata/', create)
  app.post('/api/v1/nodata', create)

  const update = async (req: FastifyRequest) => {
    const user = userOf(req)
    const body = parse(RuleUpdate, req.body)
    const row = await find(body.id)
    assertMayChange(user, row.creator, `nodata rule ${row.name}`)
    const obj = await checkRule(body)
    try {
      await db
        .updateTable('mockcfg')
        .set({
          ...(body.name === undefined ? {} : { name: body.name }),
          obj,
          obj_type: body.obj_type,
          metric: body.metric,
          tags: body.tags,
          dstype: body.dstype,
          step: body.step,
          mock: body.mock,
          t_modify: stamp(),
        })
        .where('id', '=', body.id)
        .execute()
    } catch (err) {
      throw duplicate(err, body.name ?? row.name)
    }
    return reply(body.id)
  }
  app.put('/api/v1/nodata/', update)
  app.put('/api/v1/nodata', update)

  app.delete('/api/v1/nodata/:nid', async (req) => {
    const id = idParam(req.params, 'nid')
    const row = await find(id)
    assertMayChange(userOf(req), row.creator, `nodata rule ${row.name}`)
    await db.deleteFrom('mockcfg').where('id', '=', id).execute()
    return message(`mockcfg:${id} is deleted`)
  })
}
