// The SQL alarm needs: falcon's alarm history (InsertEvent and its housekeeping), Peregrine's silences
// and notification record, and an event's action and recipients from the portal tables.
import { type Kysely, sql } from 'kysely'
import {
  type AlarmEvent,
  counterOf,
  eventExpressionId,
  eventFunc,
  eventMaxStep,
  eventMetric,
  eventNote,
  eventPriority,
  eventStrategyId,
  eventTemplateCreator,
  eventTemplateId,
  formatTags,
  parseTags,
} from '../core/index.js'
import type {
  Action,
  AlarmSilence,
  EventCase,
  NewAlarmNotification,
  PortalDatabase,
  User,
} from './schema.js'

type Db = Kysely<PortalDatabase>

/** stampOf formats Unix seconds as the store's UTC `YYYY-MM-DD HH:MM:SS`. */
const stampOf = (unixSeconds: number): string =>
  new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ')

/** clip cuts `s` to the `max` characters its column holds (MySQL refuses more; SQLite would keep it). */
const clip = (s: string, max: number): string => (s.length > max ? s.slice(0, max) : s)

const isDuplicate = (err: unknown): boolean => {
  const e = err as { code?: unknown; errno?: unknown }
  return (
    e.code === 'ER_DUP_ENTRY' ||
    e.errno === 1062 ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE'
  )
}

// A transaction another one beat: InnoDB chose it as a deadlock victim (three or more recording one new
// case: the losers of the insert each hold a shared lock on the winner's row and want it exclusive),
// or (SQLite, another process) its snapshot went stale before its first write. Run again, it sees the
// winner's row and updates it.
const isRetryable = (err: unknown): boolean => {
  const e = err as { code?: unknown; errno?: unknown }
  return e.errno === 1213 || e.code === 'ER_LOCK_DEADLOCK' || e.code === 'SQLITE_BUSY_SNAPSHOT'
}

const RECORD_ATTEMPTS = 5

/**
 * recordAlarmEvent is falcon's InsertEvent (modules/alarm/model/event), in one transaction: the case
 * `event.id` is created, or updated (update_at, max_step, current_step, note, cond, status, func,
 * priority, tpl_creator and the rule ids; `timestamp` too when currentStep is 1; a `resolved` or
 * `ignored` case is reopened as `unresolved` with process_note 0), and the event is appended to
 * `events`. `cond` is falcon's `%v %v %v` of leftValue, operator and rightValue, formatted by the caller.
 * Safe when several alarm processes record the same new case at once: the loser of the insert updates.
 * Text longer than its column is cut to fit. Returns the case as stored; throws on an id longer than
 * 50 characters (not an event falcon's judge makes) and on store errors.
 */
export async function recordAlarmEvent(
  db: Db,
  event: AlarmEvent,
  cond: string
): Promise<EventCase> {
  if (event.id.length > 50) {
    throw new Error(`event.id: ${event.id.length} characters, more than the 50 event_cases holds`)
  }
  const at = stampOf(event.eventTime)
  const fields = {
    max_step: eventMaxStep(event),
    current_step: event.currentStep,
    note: clip(eventNote(event), 500),
    cond: clip(cond, 200),
    status: event.status,
    func: clip(eventFunc(event), 50),
    priority: eventPriority(event),
    tpl_creator: clip(eventTemplateCreator(event), 64),
    expression_id: eventExpressionId(event),
    strategy_id: eventStrategyId(event),
    template_id: eventTemplateId(event),
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (tx) => {
        const known = await tx
          .selectFrom('event_cases')
          .select('id')
          .where('id', '=', event.id)
          .executeTakeFirst()
        let created = false
        if (known === undefined) {
          try {
            await tx
              .insertInto('event_cases')
              .values({
                id: event.id,
                endpoint: clip(event.endpoint, 255),
                metric: clip(counterOf(eventMetric(event), formatTags(event.pushedTags)), 512),
                ...fields,
                timestamp: at,
                update_at: at,
              })
              .execute()
            created = true
          } catch (err) {
            // Another process created it since the select: update it as falcon would have.
            if (!isDuplicate(err)) throw err
          }
        }
        if (!created) {
          // The reopen is decided on the row as it is now, not as the select saw it. process_note comes
          // first: MySQL evaluates SET left to right, so it must read process_status unchanged.
          const reopen = sql<boolean>`process_status in ('resolved', 'ignored')`
          await tx
            .updateTable('event_cases')
            .set({
              update_at: at,
              ...fields,
              ...(event.currentStep === 1 ? { timestamp: at } : {}),
              process_note: sql<number>`case when ${reopen} then 0 else process_note end`,
              process_status: sql<string>`case when ${reopen} then 'unresolved' else process_status end`,
            })
            .where('id', '=', event.id)
            .execute()
        }
        await tx
          .insertInto('events')
          .values({
            event_caseId: event.id,
            step: event.currentStep,
            cond: fields.cond,
            status: event.status === 'OK' ? 1 : 0,
            timestamp: at,
          })
          .execute()
        return tx
          .selectFrom('event_cases')
          .selectAll()
          .where('id', '=', event.id)
          .executeTakeFirstOrThrow()
      })
    } catch (err) {
      if (attempt >= RECORD_ATTEMPTS || !isRetryable(err)) throw err
    }
  }
}

/**
 * deleteEventsBefore is falcon's housekeeping (DeleteEventOlder): it deletes up to `batch` rows of
 * `events` older than `beforeUnixSeconds` and returns how many it deleted. Cases are never deleted.
 */
export async function deleteEventsBefore(
  db: Db,
  beforeUnixSeconds: number,
  batch: number
): Promise<number> {
  // Neither engine takes `DELETE ... LIMIT` in the same words (SQLite only when built for it).
  const rows = await db
    .selectFrom('events')
    .select('id')
    .where('timestamp', '<', stampOf(beforeUnixSeconds))
    .limit(batch)
    .execute()
  if (rows.length === 0) return 0
  const result = await db
    .deleteFrom('events')
    .where(
      'id',
      'in',
      rows.map((r) => r.id)
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** activeSilences returns the silences in force at `nowMs` (starts_at <= now < ends_at), by id. */
export function activeSilences(db: Db, nowMs: number): Promise<AlarmSilence[]> {
  const now = Math.floor(nowMs / 1000)
  return db
    .selectFrom('alarm_silence')
    .selectAll()
    .where('starts_at', '<=', now)
    .where('ends_at', '>', now)
    .orderBy('id')
    .execute()
}

/** SilenceMatchers are the fields of a silence that select events. */
export type SilenceMatchers = Pick<
  AlarmSilence,
  'endpoint' | 'metric' | 'tags' | 'strategy_id' | 'expression_id'
>

const hasTag = (tags: Readonly<Record<string, string>>, k: string, v: string): boolean =>
  Object.hasOwn(tags, k) && tags[k] === v

/**
 * silenceMatches tells whether `silence` holds back `event`: each non-empty (non-zero) field must match
 * exactly: endpoint, metric (the rule's, without tags), strategy_id, expression_id, and every `k=v` of
 * `tags` must be among the event's pushed tags or its rule's tags. A silence with no field set matches
 * every event (api refuses to create one). The time window is activeSilences' business.
 */
export function silenceMatches(silence: SilenceMatchers, event: AlarmEvent): boolean {
  if (silence.endpoint !== '' && silence.endpoint !== event.endpoint) return false
  if (silence.metric !== '' && silence.metric !== eventMetric(event)) return false
  if (silence.strategy_id !== 0 && silence.strategy_id !== eventStrategyId(event)) return false
  if (silence.expression_id !== 0 && silence.expression_id !== eventExpressionId(event))
    return false
  if (silence.tags !== '') {
    const ruleTags = (event.strategy ?? event.expression)?.tags ?? {}
    for (const [k, v] of Object.entries(parseTags(silence.tags))) {
      if (!hasTag(event.pushedTags, k, v) && !hasTag(ruleTags, k, v)) return false
    }
  }
  return true
}

/**
 * recordNotification appends one delivery to `alarm_notification` and returns its id. `subject` and
 * `error` are cut to the 255 and 500 characters their columns hold; created_at defaults to now.
 */
export async function recordNotification(db: Db, row: NewAlarmNotification): Promise<number> {
  const result = await db
    .insertInto('alarm_notification')
    .values({
      ...row,
      ...(row.subject === undefined ? {} : { subject: clip(row.subject, 255) }),
      ...(row.error === undefined ? {} : { error: clip(row.error, 500) }),
    })
    .executeTakeFirst()
  if (result.insertId === undefined) throw new Error('BUG: the store returned no id')
  return Number(result.insertId)
}

/** actionOf returns the falcon_portal action `actionId`, or undefined (also for ids <= 0). */
export async function actionOf(db: Db, actionId: number): Promise<Action | undefined> {
  if (!(actionId > 0)) return undefined
  return db.selectFrom('action').selectAll().where('id', '=', actionId).executeTakeFirst()
}

/** Recipient is what alarm needs of a user to reach it. */
export type Recipient = Pick<User, 'name' | 'cnname' | 'email' | 'phone' | 'im'>

/**
 * usersOfTeams returns the members of the teams named (an action's `uic`, split on commas; names are
 * trimmed, empty and unknown ones skipped), each user once, by user id.
 */
export async function usersOfTeams(db: Db, teamNames: readonly string[]): Promise<Recipient[]> {
  const names = [...new Set(teamNames.map((n) => n.trim()).filter((n) => n !== ''))]
  if (names.length === 0) return []
  const rows = await db
    .selectFrom('team')
    .innerJoin('rel_team_user', 'rel_team_user.tid', 'team.id')
    .innerJoin('user', 'user.id', 'rel_team_user.uid')
    .select(['user.id', 'user.name', 'user.cnname', 'user.email', 'user.phone', 'user.im'])
    .where('team.name', 'in', names)
    .orderBy('user.id')
    .execute()
  const seen = new Set<number>()
  const out: Recipient[] = []
  for (const { id, ...user } of rows) {
    if (seen.has(id)) continue
    seen.add(id)
    out.push(user)
  }
  return out
}
