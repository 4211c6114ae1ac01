// Falcon's alarm history routes (controller/alarm: event cases, their events and notes) over the alarms
// tables alarm writes, and Peregrine's own: silences and the record of notifications sent. Every route
// needs a logged-in user; a silence is deleted only by its creator or an admin.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { normalizeTags } from '../core/index.js'
import {
  type AlarmNotification,
  type AlarmSilence,
  type CaseEvent,
  type EventCase,
  NOTIFICATION_CHANNELS,
  NOTIFICATION_STATUSES,
} from '../store/index.js'
import { badRequest, HttpError, notFound, parse } from './http-errors.js'
import {
  assertMayChange,
  idParam,
  insertedId,
  message,
  pageOf,
  type PortalContext,
  searchPage,
  searchRegExp,
  userOf,
} from './portal.js'

/** PROCESS_STATUSES: what a note may set a case to (`in progress` is acknowledging or claiming it). */
export const PROCESS_STATUSES = ['in progress', 'unresolved', 'resolved', 'ignored'] as const
/** NOTE_STATUSES: a note sets its case's process status, or is only a `comment`. */
export const NOTE_STATUSES = [...PROCESS_STATUSES, 'comment'] as const
const CASE_STATUSES = ['PROBLEM', 'OK'] as const

/** MAX_UNIX: 9999-12-31 23:59:59 UTC, the last second both engines and Date format alike. */
const MAX_UNIX = 253_402_300_799
/** Falcon's answer sizes: 2000 newest cases without paging, pages of at most 50. */
const CASES_DEFAULT = 2000
const PAGE_MAX = 50

// ---- field schemas: every message names what is expected

/** numeric reads an integer sent as text (a query or a form) as a number; '' as not sent. */
const numeric = (v: unknown): unknown =>
  v === '' ? undefined : typeof v === 'string' && /^\s*-?\d{1,16}\s*$/.test(v) ? Number(v) : v

const number = (min: number, max: number, what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int(`expected ${what}`)
    .min(min, `expected ${what}`)
    .max(max, `expected ${what}`)

/** int is an integer field; absent or empty it is `fallback`, or (none given) required. */
const int = (min: number, max: number, what: string, fallback?: number) =>
  z.preprocess(
    numeric,
    fallback === undefined ? number(min, max, what) : number(min, max, what).default(fallback)
  )

/** unix: a time in Unix seconds; 0 (falcon's zero value) or absent means no bound. */
const unix = int(0, MAX_UNIX, `Unix seconds, 0..${MAX_UNIX}`, 0)
const id0 = int(0, 2 ** 31 - 1, 'a non-negative integer id (0 for any)', 0)
/** page sizes as falcon reads them: -1 is "not given". */
const pageInt = int(-(2 ** 31), 2 ** 31 - 1, 'an integer', -1)

const text = (max: number, what: string) =>
  z.string({ error: `expected ${what}` }).max(max, `expected at most ${max} characters`)

const EventId = text(50, 'an alarm case id such as s_3_0f8e…')

/** commaList reads falcon's `a,b` filter whose items must be among `allowed`. */
const commaList = (allowed: readonly string[]) =>
  text(1024, `a comma-separated list of ${allowed.join(', ')}`)
    .default('')
    .transform((s, c) => {
      const items = s === '' ? [] : s.split(',').map((x) => x.trim())
      for (const x of items) {
        if (!allowed.includes(x)) {
          c.addIssue({
            code: 'custom',
            message: `${JSON.stringify(x)} is not one of ${allowed.join(', ')}`,
          })
          return z.NEVER
        }
      }
      return items
    })

/** endpoints: a JSON array, or from a query or form one value per `endpoints=`; empty names dropped. */
const Endpoints = z
  .preprocess(
    (v) => (typeof v === 'string' ? [v] : v),
    z.array(text(255, 'an endpoint name'), { error: 'expected an array of endpoint names' })
  )
  .default([])
  .transform((list) => list.filter((e) => e !== ''))

const CaseQuery = z.object({
  startTime: unix,
  endTime: unix,
  priority: int(-1, 2 ** 31 - 1, 'a priority (-1 for any)', -1),
  status: commaList(CASE_STATUSES),
  process_status: commaList(PROCESS_STATUSES),
  metrics: z.string({ error: 'expected a regular expression' }).default(''),
  event_id: EventId.default(''),
  endpoints: Endpoints,
  strategy_id: id0,
  template_id: id0,
  limit: pageInt,
  page: pageInt,
})

const EventQuery = z.object({
  event_id: EventId.min(1, 'required: the alarm case id'),
  startTime: unix,
  endTime: unix,
  status: int(-1, 1, '-1 (any), 0 (PROBLEM) or 1 (OK)', -1),
  limit: pageInt,
  page: pageInt,
})

const NewNote = z.object({
  event_id: EventId.min(1, 'required: the alarm case id'),
  note: text(300, 'a note').min(1, 'required: a note'),
  status: z.enum(NOTE_STATUSES, { error: `expected one of ${NOTE_STATUSES.join(', ')}` }),
  case_id: text(20, 'a case id of your own (an issue number)').default(''),
})

const NoteQuery = z.object({
  event_id: EventId.default(''),
  startTime: unix,
  endTime: unix,
  status: z
    .enum(NOTE_STATUSES, { error: `expected one of ${NOTE_STATUSES.join(', ')}` })
    .optional(),
  limit: pageInt,
  page: pageInt,
})

const SilenceQuery = z.object({
  all: z.enum(['', '0', '1', 'true', 'false'], { error: 'expected 1 or 0' }).default(''),
})

const NewSilence = z.object({
  endpoint: text(255, 'an endpoint name').trim().default(''),
  metric: text(255, 'a metric name').trim().default(''),
  tags: text(512, 'tags as k1=v1,k2=v2')
    .default('')
    .superRefine((raw, c) => {
      const s = raw.replaceAll(' ', '')
      if (s === '') return
      for (const item of s.split(',')) {
        const eq = item.indexOf('=')
        if (eq <= 0 || eq === item.length - 1) {
          c.addIssue({
            code: 'custom',
            message: `expected k=v pairs separated by commas, got ${JSON.stringify(item)}`,
          })
          return
        }
      }
    })
    .transform(normalizeTags),
  strategy_id: id0,
  expression_id: id0,
  starts_at: z.preprocess(numeric, number(0, MAX_UNIX, 'Unix seconds').optional()),
  ends_at: int(1, MAX_UNIX, 'Unix seconds after starts_at'),
  note: text(500, 'why the alarms are silenced').trim().min(1, 'required: say why'),
})

const NotificationQuery = z.object({
  event_id: EventId.default(''),
  status: z
    .enum(NOTIFICATION_STATUSES, { error: `expected one of ${NOTIFICATION_STATUSES.join(', ')}` })
    .optional(),
  channel: z
    .enum(NOTIFICATION_CHANNELS, { error: `expected one of ${NOTIFICATION_CHANNELS.join(', ')}` })
    .optional(),
  startTime: unix,
  endTime: unix,
})

// ---- answers

/** stampOf formats Unix seconds as the store's UTC `YYYY-MM-DD HH:MM:SS`. */
const stampOf = (unixSeconds: number) =>
  new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ')

/** rfc3339 renders a stored UTC stamp as Go renders a time.Time in JSON (`2025-11-24T16:00:00Z`). */
const rfc3339 = (stamp: string): string => `${stamp.replace(' ', 'T')}Z`

/** caseJson is falcon's api model EventCases as JSON (max_step is answered as `step`, sic). */
const caseJson = (c: EventCase) => ({
  id: c.id,
  endpoint: c.endpoint,
  metric: c.metric,
  func: c.func,
  cond: c.cond,
  note: c.note,
  step: c.max_step,
  current_step: c.current_step,
  priority: c.priority,
  status: c.status,
  timestamp: rfc3339(c.timestamp),
  update_at: rfc3339(c.update_at),
  closed_at: c.closed_at === null ? null : rfc3339(c.closed_at),
  closed_note: c.closed_note,
  user_modified: c.user_modified,
  tpl_creator: c.tpl_creator,
  expression_id: c.expression_id,
  strategy_id: c.strategy_id,
  template_id: c.template_id,
  process_note: c.process_note,
  process_status: c.process_status,
})

const eventJson = (e: CaseEvent) => ({
  id: e.id,
  event_caseId: e.event_caseId,
  step: e.step,
  cond: e.cond,
  status: e.status,
  timestamp: rfc3339(e.timestamp),
})

const silenceJson = (s: AlarmSilence) => ({ ...s, created: rfc3339(s.created) })

const notificationJson = (n: AlarmNotification) => ({ ...n, created_at: rfc3339(n.created_at) })

/**
 * asMetrics names the field `metrics` in a 400 of the `q` safety rules (searchRegExp, searchPage),
 * which the `metrics` filter follows; other errors pass as they are.
 */
function asMetrics(where: string, err: unknown): unknown {
  if (err instanceof HttpError && err.message.startsWith('q: ')) {
    return new HttpError(err.status, `${where}.metrics: ${err.message.slice(3)}`)
  }
  return err
}

/**
 * falconPage applies falcon's lenient paging of events and notes: a limit of 0, less, or 50 and more
 * reads as 50; a page of 0 or less as the first.
 */
const falconPage = (limit: number, page: number) => {
  const size = limit <= 0 || limit >= PAGE_MAX ? PAGE_MAX : limit
  return { limit: size, offset: (Math.max(page, 1) - 1) * size }
}

/** checkRange refuses an endTime before startTime (both given). */
const checkRange = (where: string, q: { startTime: number; endTime: number }) => {
  if (q.startTime !== 0 && q.endTime !== 0 && q.endTime < q.startTime) {
    throw badRequest(`${where}.endTime: expected a time at or after startTime`)
  }
}

/**
 * registerAlarmRoutes adds `/api/v1/alarm/*`: falcon's eventcases, events and event_note, and
 * Peregrine's silences and notifications.
 */
export function registerAlarmRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const { db } = ctx.store
  const nowSeconds = () => Math.floor(ctx.now() / 1000)

  /** input is what falcon's gin Bind reads: the query of a GET; a POST's body, over its query. */
  const input = (req: FastifyRequest): { where: string; value: Record<string, unknown> } => {
    const query = (req.query ?? {}) as Record<string, unknown>
    if (req.method !== 'POST') return { where: 'query', value: query }
    const body: unknown = req.body ?? {}
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('body: expected a JSON object')
    }
    return { where: 'body', value: { ...query, ...(body as Record<string, unknown>) } }
  }

  const eventCases = async (req: FastifyRequest) => {
    const { where, value } = input(req)
    const q = parse(CaseQuery, value, where)
    checkRange(where, q)
    if (
      q.startTime === 0 &&
      q.endTime === 0 &&
      q.event_id === '' &&
      q.endpoints.length === 0 &&
      q.strategy_id === 0 &&
      q.template_id === 0
    ) {
      throw badRequest(
        `${where}: give at least one of startTime, endTime, event_id, endpoints, strategy_id, template_id`
      )
    }
    let page: { limit: number; offset: number }
    if (q.page === -1 && q.limit === -1) {
      page = { limit: CASES_DEFAULT, offset: 0 }
    } else if (q.limit === -1) {
      throw badRequest(`${where}.limit: required with page`)
    } else if (q.limit <= 0 || (q.page !== -1 && q.page <= 0)) {
      throw badRequest(`${where}.${q.limit <= 0 ? 'limit' : 'page'}: expected a positive integer`)
    } else {
      const size = Math.min(q.limit, PAGE_MAX)
      page = { limit: size, offset: (Math.max(q.page, 1) - 1) * size }
    }
    // falcon's MySQL REGEXP over a utf8_general_ci column ignores case.
    let re: RegExp | null
    try {
      re = searchRegExp(q.metrics, 'i')
    } catch (err) {
      throw asMetrics(where, err)
    }

    let sel = db.selectFrom('event_cases').selectAll()
    if (q.startTime !== 0) sel = sel.where('timestamp', '>=', stampOf(q.startTime))
    if (q.endTime !== 0) sel = sel.where('timestamp', '<=', stampOf(q.endTime))
    if (q.priority !== -1) sel = sel.where('priority', '=', q.priority)
    if (q.status.length > 0) sel = sel.where('status', 'in', q.status)
    if (q.process_status.length > 0) sel = sel.where('process_status', 'in', q.process_status)
    if (q.event_id !== '') sel = sel.where('id', '=', q.event_id)
    if (q.endpoints.length > 0) sel = sel.where('endpoint', 'in', q.endpoints)
    if (q.strategy_id !== 0) sel = sel.where('strategy_id', '=', q.strategy_id)
    if (q.template_id !== 0) sel = sel.where('template_id', '=', q.template_id)
    sel = sel.orderBy('timestamp', 'desc').orderBy('id')
    let rows: EventCase[]
    try {
      rows = await searchPage(sel, 'metric', { re, page })
    } catch (err) {
      throw asMetrics(where, err)
    }
    return rows.map(caseJson)
  }
  app.get('/api/v1/alarm/eventcases', eventCases)
  app.post('/api/v1/alarm/eventcases', eventCases)

  const events = async (req: FastifyRequest) => {
    const { where, value } = input(req)
    const q = parse(EventQuery, value, where)
    checkRange(where, q)
    const { limit, offset } = falconPage(q.limit, q.page)
    let sel = db.selectFrom('events').selectAll().where('event_caseId', '=', q.event_id)
    if (q.startTime !== 0) sel = sel.where('timestamp', '>=', stampOf(q.startTime))
    if (q.endTime !== 0) sel = sel.where('timestamp', '<=', stampOf(q.endTime))
    if (q.status !== -1) sel = sel.where('status', '=', q.status)
    const rows = await sel
      .orderBy('timestamp', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute()
    return rows.map(eventJson)
  }
  app.get('/api/v1/alarm/events', events)
  app.post('/api/v1/alarm/events', events)

  app.post('/api/v1/alarm/event_note', async (req) => {
    const user = userOf(req)
    const body = parse(NewNote, req.body)
    await db.transaction().execute(async (tx) => {
      const known = await tx
        .selectFrom('event_cases')
        .select('id')
        .where('id', '=', body.event_id)
        .executeTakeFirst()
      if (known === undefined) throw notFound(`body.event_id: no alarm case ${body.event_id}`)
      const noteId = insertedId(
        await tx
          .insertInto('event_note')
          .values({
            event_caseId: body.event_id,
            note: body.note,
            case_id: body.case_id,
            status: body.status,
            timestamp: stampOf(nowSeconds()),
            user_id: user.id,
          })
          .executeTakeFirst()
      )
      if (body.status !== 'comment') {
        await tx
          .updateTable('event_cases')
          .set({ process_status: body.status, process_note: noteId })
          .where('id', '=', body.event_id)
          .execute()
      }
    })
    return { id: body.event_id, message: `add note to ${body.event_id} successfuled` }
  })

  app.get('/api/v1/alarm/event_note', async (req) => {
    const q = parse(NoteQuery, req.query, 'query')
    checkRange('query', q)
    if (q.startTime === 0 && q.endTime === 0 && q.event_id === '') {
      throw badRequest('query: give at least one of startTime, endTime, event_id')
    }
    const { limit, offset } = falconPage(q.limit, q.page)
    let sel = db
      .selectFrom('event_note')
      .leftJoin('user', 'user.id', 'event_note.user_id')
      .select([
        'event_note.id',
        'event_note.event_caseId',
        'event_note.note',
        'event_note.case_id',
        'event_note.status',
        'event_note.timestamp',
        'user.name',
      ])
    if (q.event_id !== '') sel = sel.where('event_note.event_caseId', '=', q.event_id)
    if (q.startTime !== 0) sel = sel.where('event_note.timestamp', '>=', stampOf(q.startTime))
    if (q.endTime !== 0) sel = sel.where('event_note.timestamp', '<=', stampOf(q.endTime))
    if (q.status !== undefined) sel = sel.where('event_note.status', '=', q.status)
    const rows = await sel
      .orderBy('event_note.timestamp', 'desc')
      .orderBy('event_note.id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute()
    return rows.map((n) => ({
      id: n.id,
      event_caseId: n.event_caseId,
      note: n.note,
      case_id: n.case_id,
      status: n.status,
      timestamp: rfc3339(n.timestamp),
      user: n.name ?? '',
    }))
  })

  app.get('/api/v1/alarm/silences', async (req) => {
    const q = parse(SilenceQuery, req.query, 'query')
    const page = pageOf(req.query, 500)
    let sel = db.selectFrom('alarm_silence').selectAll()
    if (q.all !== '1' && q.all !== 'true') sel = sel.where('ends_at', '>', nowSeconds())
    const rows = await sel.orderBy('id').limit(page.limit).offset(page.offset).execute()
    return rows.map(silenceJson)
  })

  app.post('/api/v1/alarm/silences', async (req) => {
    const user = userOf(req)
    const body = parse(NewSilence, req.body)
    const now = nowSeconds()
    const startsAt = body.starts_at ?? now
    if (body.ends_at <= now) throw badRequest('body.ends_at: expected a time in the future')
    if (body.ends_at <= startsAt) throw badRequest('body.ends_at: expected a time after starts_at')
    if (
      body.endpoint === '' &&
      body.metric === '' &&
      body.tags === '' &&
      body.strategy_id === 0 &&
      body.expression_id === 0
    ) {
      throw badRequest(
        'body: give at least one of endpoint, metric, tags, strategy_id, expression_id (a silence of everything is refused)'
      )
    }
    const id = insertedId(
      await db
        .insertInto('alarm_silence')
        .values({
          endpoint: body.endpoint,
          metric: body.metric,
          tags: body.tags,
          strategy_id: body.strategy_id,
          expression_id: body.expression_id,
          starts_at: startsAt,
          ends_at: body.ends_at,
          note: body.note,
          creator: user.name,
          created: stampOf(now),
        })
        .executeTakeFirst()
    )
    const row = await db
      .selectFrom('alarm_silence')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    return silenceJson(row)
  })

  app.delete('/api/v1/alarm/silences/:id', async (req) => {
    const id = idParam(req.params, 'id')
    const row = await db
      .selectFrom('alarm_silence')
      .select(['id', 'creator'])
      .where('id', '=', id)
      .executeTakeFirst()
    if (row === undefined) throw notFound(`silence ${id} not found`)
    assertMayChange(userOf(req), row.creator, `silence ${id}`)
    await db.deleteFrom('alarm_silence').where('id', '=', id).execute()
    return message(`silence:${id} is deleted`)
  })

  app.get('/api/v1/alarm/notifications', async (req) => {
    const q = parse(NotificationQuery, req.query, 'query')
    checkRange('query', q)
    const page = pageOf(req.query, PAGE_MAX, 500)
    let sel = db.selectFrom('alarm_notification').selectAll()
    if (q.event_id !== '') sel = sel.where('event_id', '=', q.event_id)
    if (q.status !== undefined) sel = sel.where('status', '=', q.status)
    if (q.channel !== undefined) sel = sel.where('channel', '=', q.channel)
    if (q.startTime !== 0) sel = sel.where('created_at', '>=', stampOf(q.startTime))
    if (q.endTime !== 0) sel = sel.where('created_at', '<=', stampOf(q.endTime))
    const rows = await sel
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
    return rows.map(notificationJson)
  })
}
