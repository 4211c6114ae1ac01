// Falcon's dashboard objects (controller/dashboard_graph and dashboard_screen): temporary charts, screens
// (a tree by `pid`, 0 at the top) and the graphs on them. As in falcon they have no owner: any logged-in
// user reads and changes every screen and graph.
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { DashboardGraph, PortalDatabase } from '../store/index.js'
import { badRequest, conflict, notFound, parse } from './http-errors.js'
import {
  idParam,
  insertedId,
  isUniqueViolation,
  message,
  pageOf,
  type PortalContext,
} from './portal.js'

/** DELIMITER joins endpoints and counters in tmp_graph and dashboard_graph columns. */
const DELIMITER = '|'
/** GRAPH_TYPES: `h` one chart per counter (endpoint view), `k` one per endpoint, `a` all in one. */
export const GRAPH_TYPES = ['h', 'k', 'a'] as const
/** METHODS: '' draws each series; SUM adds them up; the others pick the consolidation function. */
export const METHODS = ['', 'SUM', 'AVERAGE', 'MAX', 'MIN', 'LAST'] as const
const INT32_MAX = 2 ** 31 - 1
// The joined lists live in TEXT columns: 65535 bytes on MariaDB.
const MAX_JOINED_BYTES = 65535

const item = (what: string, max: number) =>
  z
    .string({ error: `expected ${what} names` })
    .min(1, `expected a non-empty ${what} name`)
    .max(max, `expected at most ${max} characters`)
    .refine((s) => !s.includes(DELIMITER), `${what} names cannot contain "${DELIMITER}"`)
const Endpoints = z.array(item('endpoint', 255), { error: 'expected an array of endpoint names' })
const Counters = z.array(item('counter', 1024), { error: 'expected an array of counters' })

const positiveInt = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int(`expected ${what}`)
    .min(1, `expected ${what}`)
    .max(INT32_MAX, `expected at most ${INT32_MAX}`)
const nonNegativeInt = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int(`expected ${what}`)
    .min(0, `expected ${what}`)
    .max(INT32_MAX, `expected at most ${INT32_MAX}`)
/** formInt reads an integer sent as a JSON number or, from a form, as a decimal string. */
const formInt = (what: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    nonNegativeInt(what)
  )

/** emptyIsAbsent: falcon reads an empty field as one not sent. */
const emptyIsAbsent = (v: unknown) => (v === '' ? undefined : v)

const Title = z
  .string({ error: 'expected a title' })
  .trim()
  .max(128, 'expected at most 128 characters')
const GraphType = z.enum(GRAPH_TYPES, { error: 'expected one of h, k, a' })
// The falcon dashboard sends the method in upper case and reads it back upper-cased: stored so.
const Method = z
  .string({ error: 'expected a method' })
  .transform((s) => s.toUpperCase())
  .pipe(z.enum(METHODS, { error: 'expected one of "", SUM, AVERAGE, MAX, MIN, LAST' }))
const FalconTags = z
  .string({ error: 'expected a string' })
  .max(512, 'expected at most 512 characters')

const TmpGraph = z.object({
  endpoints: Endpoints.min(1, 'expected at least one endpoint'),
  counters: Counters.min(1, 'expected at least one counter'),
})

const NewGraph = z.object({
  screen_id: positiveInt('a screen id'),
  title: Title.min(1, 'expected a title'),
  endpoints: Endpoints,
  counters: Counters,
  timespan: positiveInt('a positive number of seconds').default(3600),
  graph_type: GraphType.default('h'),
  method: Method.default(''),
  position: nonNegativeInt('a non-negative integer').default(0),
  falcon_tags: FalconTags.default(''),
})

// falcon's update leaves a field alone when it is empty or zero (the falcon dashboard relies on it:
// its bulk edit sends `[]` for lists it does not change); `method` is replaced whenever it is sent.
const GraphUpdate = z.object({
  screen_id: nonNegativeInt('a screen id').optional(),
  title: Title.optional(),
  endpoints: Endpoints.optional(),
  counters: Counters.optional(),
  timespan: nonNegativeInt('a positive number of seconds').optional(),
  graph_type: z.preprocess(emptyIsAbsent, GraphType.optional()),
  method: Method.optional(),
  position: nonNegativeInt('a non-negative integer').optional(),
  falcon_tags: FalconTags.optional(),
})

const ScreenName = z
  .string({ error: 'expected a screen name' })
  .trim()
  .max(128, 'expected at most 128 characters')

const NewScreen = z.object({
  pid: formInt('a parent screen id (0 for a top screen)').default(0),
  name: ScreenName.min(1, 'expected a screen name'),
})

// As in falcon, an empty field is left as it is.
const ScreenUpdate = z.object({
  pid: z.preprocess(emptyIsAbsent, formInt('a parent screen id (0 for a top screen)').optional()),
  name: ScreenName.optional(),
})

/** joined sorts `names` by bytes (Go's sort.Strings) and joins them, refusing a column overflow. */
function joined(names: readonly string[], field: string): string {
  const s = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const out = s.join(DELIMITER)
  const bytes = Buffer.byteLength(out)
  if (bytes > MAX_JOINED_BYTES) {
    throw badRequest(
      `body.${field}: ${bytes} bytes joined, more than the ${MAX_JOINED_BYTES} stored`
    )
  }
  return out
}

const split = (s: string) => (s === '' ? [] : s.split(DELIMITER))

/** graphJson is falcon's reply shape for a graph. */
const graphJson = (g: DashboardGraph) => ({
  graph_id: g.id,
  title: g.title,
  endpoints: split(g.hosts),
  counters: split(g.counters),
  screen_id: g.screen_id,
  graph_type: g.graph_type,
  timespan: g.timespan,
  method: g.method,
  position: g.position,
  falcon_tags: g.falcon_tags,
})

/** pidParam reads a parent screen id: 0 (top screens) or a positive integer. */
function pidParam(params: unknown): number {
  const v = (params as Record<string, unknown> | undefined)?.pid
  if (v === '0') return 0
  return idParam(params, 'pid')
}

/** registerDashboardRoutes adds `/api/v1/dashboard/*`: tmpgraphs, screens and graphs, for any logged-in user. */
export function registerDashboardRoutes(app: FastifyInstance, ctx: PortalContext): void {
  routes(app, ctx)
}

function routes(app: FastifyInstance, ctx: PortalContext): void {
  const { db } = ctx.store
  const stamp = () => new Date(ctx.now()).toISOString().slice(0, 19).replace('T', ' ')

  const screen = async (id: number, field: string, q: Kysely<PortalDatabase> = db) => {
    const row = await q
      .selectFrom('dashboard_screen')
      .select(['id', 'pid', 'name'])
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`${field}: screen ${id} not found`)
    return row
  }
  const graph = async (id: number) => {
    const row = await db
      .selectFrom('dashboard_graph')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`graph ${id} not found`)
    return row
  }
  /** subtree returns `id` and the ids of every screen below it. */
  const subtree = async (id: number, q: Kysely<PortalDatabase>) => {
    const all = new Set([id])
    let frontier = [id]
    while (frontier.length > 0) {
      const children = await q
        .selectFrom('dashboard_screen')
        .select('id')
        .where('pid', 'in', frontier)
        .execute()
      frontier = children.map((c) => c.id).filter((c) => !all.has(c))
      for (const c of frontier) all.add(c)
    }
    return [...all]
  }
  const duplicateScreen = (err: unknown, name: string, pid: number) =>
    isUniqueViolation(err)
      ? conflict(`name: a screen named ${name} already exists under pid ${pid}`)
      : err

  // Temporary graphs: one row per distinct (endpoints, counters) set, found again by its checksum.
  app.post('/api/v1/dashboard/tmpgraph', async (req) => {
    const body = parse(TmpGraph, req.body)
    const endpoints = joined(body.endpoints, 'endpoints')
    const counters = joined(body.counters, 'counters')
    const ck = createHash('md5').update(`${endpoints}:${counters}`).digest('hex')
    const lookup = () =>
      db.selectFrom('tmp_graph').select('id').where('ck', '=', ck).executeTakeFirst()
    const known = await lookup()
    if (known !== undefined) {
      await db.updateTable('tmp_graph').set({ time_: stamp() }).where('id', '=', known.id).execute()
      return { id: known.id }
    }
    try {
      const result = await db
        .insertInto('tmp_graph')
        .values({ endpoints, counters, ck, time_: stamp() })
        .executeTakeFirst()
      return { id: insertedId(result) }
    } catch (err) {
      // Someone stored the same set since the lookup: theirs is the one.
      if (!isUniqueViolation(err)) throw err
      const row = await lookup()
      if (row === undefined) throw err
      return { id: row.id }
    }
  })

  app.get('/api/v1/dashboard/tmpgraph/:id', async (req) => {
    const id = idParam(req.params, 'id')
    const row = await db
      .selectFrom('tmp_graph')
      .select(['endpoints', 'counters'])
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`tmpgraph ${id} not found`)
    return { endpoints: split(row.endpoints), counters: split(row.counters) }
  })

  app.post('/api/v1/dashboard/graph', async (req) => {
    const body = parse(NewGraph, req.body)
    const hosts = joined(body.endpoints, 'endpoints')
    const counters = joined(body.counters, 'counters')
    await screen(body.screen_id, 'screen_id')
    const result = await db
      .insertInto('dashboard_graph')
      .values({
        title: body.title,
        hosts,
        counters,
        screen_id: body.screen_id,
        timespan: body.timespan,
        graph_type: body.graph_type,
        method: body.method,
        position: body.position,
        falcon_tags: body.falcon_tags,
      })
      .executeTakeFirst()
    return { id: insertedId(result) }
  })

  app.put('/api/v1/dashboard/graph/:id', async (req) => {
    const id = idParam(req.params, 'id')
    const body = parse(GraphUpdate, req.body)
    await graph(id)
    const set: Partial<Omit<DashboardGraph, 'id'>> = {}
    if (body.screen_id !== undefined && body.screen_id !== 0) {
      await screen(body.screen_id, 'screen_id')
      set.screen_id = body.screen_id
    }
    if (body.title !== undefined && body.title !== '') set.title = body.title
    if (body.endpoints !== undefined && body.endpoints.length > 0) {
      set.hosts = joined(body.endpoints, 'endpoints')
    }
    if (body.counters !== undefined && body.counters.length > 0) {
      set.counters = joined(body.counters, 'counters')
    }
    if (body.timespan !== undefined && body.timespan !== 0) set.timespan = body.timespan
    if (body.graph_type !== undefined) set.graph_type = body.graph_type
    if (body.method !== undefined) set.method = body.method
    if (body.position !== undefined && body.position !== 0) set.position = body.position
    if (body.falcon_tags !== undefined && body.falcon_tags !== '') {
      set.falcon_tags = body.falcon_tags
    }
    if (Object.keys(set).length > 0) {
      await db.updateTable('dashboard_graph').set(set).where('id', '=', id).execute()
    }
    return { id }
  })

  app.get('/api/v1/dashboard/graph/:id', async (req) =>
    graphJson(await graph(idParam(req.params, 'id')))
  )

  app.delete('/api/v1/dashboard/graph/:id', async (req) => {
    const id = idParam(req.params, 'id')
    await graph(id)
    await db.deleteFrom('dashboard_graph').where('id', '=', id).execute()
    return { id }
  })

  app.get('/api/v1/dashboard/graphs/screen/:screen_id', async (req) => {
    const id = idParam(req.params, 'screen_id')
    const page = pageOf(req.query, 500)
    await screen(id, 'screen_id')
    const rows = await db
      .selectFrom('dashboard_graph')
      .selectAll()
      .where('screen_id', '=', id)
      .orderBy('id')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
    return rows.map(graphJson)
  })

  // The falcon dashboard posts screens as form fields; JSON bodies are read the same way.
  app.post('/api/v1/dashboard/screen', async (req) => {
    const body = parse(NewScreen, req.body)
    if (body.pid !== 0) await screen(body.pid, 'pid')
    let id: number
    try {
      id = insertedId(
        await db
          .insertInto('dashboard_screen')
          .values({ pid: body.pid, name: body.name, time: stamp() })
          .executeTakeFirst()
      )
    } catch (err) {
      throw duplicateScreen(err, body.name, body.pid)
    }
    return { pid: body.pid, id, name: body.name }
  })

  app.get('/api/v1/dashboard/screen/:screen_id', async (req) =>
    screen(idParam(req.params, 'screen_id'), 'screen_id')
  )

  app.get('/api/v1/dashboard/screens/pid/:pid', async (req) =>
    db
      .selectFrom('dashboard_screen')
      .select(['id', 'pid', 'name'])
      .where('pid', '=', pidParam(req.params))
      .orderBy('id')
      .execute()
  )

  app.get('/api/v1/dashboard/screens', async (req: FastifyRequest) => {
    const page = pageOf(req.query, 500)
    return db
      .selectFrom('dashboard_screen')
      .select(['id', 'pid', 'name'])
      .orderBy('id')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
  })

  app.put('/api/v1/dashboard/screen/:screen_id', async (req) => {
    const id = idParam(req.params, 'screen_id')
    const body = parse(ScreenUpdate, req.body)
    const name = body.name === undefined || body.name === '' ? undefined : body.name
    const pid = body.pid
    if (name === undefined && pid === undefined) {
      throw badRequest('body: expected a name or a pid to change')
    }
    await db.transaction().execute(async (trx) => {
      const row = await screen(id, 'screen_id', trx)
      if (pid !== undefined && pid !== 0) {
        await screen(pid, 'pid', trx)
        // A screen under itself would loop the tree and hide it from every listing.
        if ((await subtree(id, trx)).includes(pid)) {
          throw badRequest(`body.pid: screen ${pid} is screen ${id} or below it`)
        }
      }
      try {
        await trx
          .updateTable('dashboard_screen')
          .set({ ...(name === undefined ? {} : { name }), ...(pid === undefined ? {} : { pid }) })
          .where('id', '=', id)
          .execute()
      } catch (err) {
        throw duplicateScreen(err, name ?? row.name, pid ?? row.pid)
      }
    })
    return message('ok')
  })

  // falcon deletes only the screen row, leaving its graphs and sub-screens behind where no page
  // reaches them; here they go with it.
  app.delete('/api/v1/dashboard/screen/:screen_id', async (req) => {
    const id = idParam(req.params, 'screen_id')
    await db.transaction().execute(async (trx) => {
      await screen(id, 'screen_id', trx)
      const ids = await subtree(id, trx)
      await trx.deleteFrom('dashboard_graph').where('screen_id', 'in', ids).execute()
      await trx.deleteFrom('dashboard_screen').where('id', 'in', ids).execute()
    })
    return message('ok')
  })
}
