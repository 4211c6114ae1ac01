// Versioned schema migrations, applied by Kysely's Migrator on start (it records what ran in
// `kysely_migration` and holds a lock, so two processes starting together apply each step once).
// Migrations are append-only: a released one is never edited, a change is a new entry.
import { type ColumnDefinitionBuilder, type Kysely, type Migration, sql } from 'kysely'

export type Engine = 'sqlite' | 'mysql'

type Col = (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder

/** migrationsFor returns the migrations for one engine, by name in the order they apply. */
export function migrationsFor(engine: Engine): Record<string, Migration> {
  // One definition for both engines: types are written in MySQL's words, which SQLite maps onto its
  // affinities (varchar → TEXT, smallint → INTEGER, double → REAL). What differs is here.
  const now: Col = (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`)
  const stamp = engine === 'mysql' ? 'timestamp' : 'text'
  // Case-sensitive comparisons on MySQL, as on SQLite, so the two engines answer the same; utf8mb4 keeps
  // any hostname or note a user types.
  const table = (db: Kysely<unknown>, name: string) => {
    const t = db.schema.createTable(name).ifNotExists()
    return engine === 'mysql'
      ? t.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
      : t
  }
  const id: Col = (c) => c.primaryKey().autoIncrement()
  const text: Col = (c) => c.notNull().defaultTo('')
  const int0: Col = (c) => c.notNull().defaultTo(0)
  // A timestamp that may be NULL. MySQL without explicit_defaults_for_timestamp (5.7's default) makes a
  // TIMESTAMP column NOT NULL unless it says NULL.
  const nullStamp: Col = (c) =>
    engine === 'mysql' ? c.modifyFront(sql`null`).defaultTo(null) : c.defaultTo(null)
  // MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB has): an index left by a half-applied run (MySQL
  // DDL is not transactional) is recognised by its error code instead.
  const createIndex = async (
    db: Kysely<unknown>,
    name: string,
    on: string,
    columns: string[],
    isUnique: boolean
  ) => {
    let q = db.schema.createIndex(name).on(on).columns(columns)
    if (isUnique) q = q.unique()
    if (engine === 'sqlite') q = q.ifNotExists()
    try {
      await q.execute()
    } catch (err) {
      if ((err as { errno?: number }).errno !== 1061) throw err
    }
  }
  const index = (db: Kysely<unknown>, name: string, on: string, columns: string[]) =>
    createIndex(db, `idx_${on}_${name}`, on, columns, false)
  const unique = (db: Kysely<unknown>, name: string, on: string, columns: string[]) =>
    createIndex(db, `uniq_${on}_${name}`, on, columns, true)
  // MySQL and SQLite have no ADD COLUMN IF NOT EXISTS (MariaDB has): a column left by a half-applied
  // run (MySQL DDL is not transactional) is looked up first and not added again.
  const hasColumn = async (db: Kysely<unknown>, on: string, column: string) => {
    const query =
      engine === 'mysql'
        ? sql<{ n: number }>`select count(*) as n from information_schema.columns where
            table_schema = database() and table_name = ${on} and column_name = ${column}`
        : sql<{ n: number }>`select count(*) as n from pragma_table_info(${on}) where
            name = ${column}`
    const { rows } = await query.execute(db)
    return Number(rows[0]?.n ?? 0) > 0
  }
  const addColumn = async (
    db: Kysely<unknown>,
    on: string,
    column: string,
    type: 'integer',
    build: Col
  ) => {
    if (await hasColumn(db, on, column)) return
    await db.schema.alterTable(on).addColumn(column, type, build).execute()
  }

  return {
    '0001_portal': {
      async up(db) {
        // uic
        await table(db, 'user')
          .addColumn('id', 'integer', id)
          .addColumn('name', 'varchar(64)', (c) => c.notNull())
          .addColumn('passwd', 'varchar(255)', text)
          .addColumn('cnname', 'varchar(128)', text)
          .addColumn('email', 'varchar(255)', text)
          .addColumn('phone', 'varchar(16)', text)
          .addColumn('im', 'varchar(32)', text)
          .addColumn('qq', 'varchar(16)', text)
          .addColumn('role', 'smallint', int0)
          .addColumn('creator', 'integer', int0)
          .addColumn('created', stamp, now)
          .execute()
        await unique(db, 'name', 'user', ['name'])
        await table(db, 'team')
          .addColumn('id', 'integer', id)
          .addColumn('name', 'varchar(64)', (c) => c.notNull())
          .addColumn('resume', 'varchar(255)', text)
          .addColumn('creator', 'integer', int0)
          .addColumn('created', stamp, now)
          .execute()
        await unique(db, 'name', 'team', ['name'])
        await table(db, 'rel_team_user')
          .addColumn('id', 'integer', id)
          .addColumn('tid', 'integer', (c) => c.notNull())
          .addColumn('uid', 'integer', (c) => c.notNull())
          .execute()
        await index(db, 'tid', 'rel_team_user', ['tid'])
        await index(db, 'uid', 'rel_team_user', ['uid'])
        await table(db, 'session')
          .addColumn('id', 'integer', id)
          .addColumn('uid', 'integer', (c) => c.notNull())
          .addColumn('sig', 'varchar(32)', (c) => c.notNull())
          .addColumn('expired', 'integer', (c) => c.notNull())
          .execute()
        await index(db, 'uid', 'session', ['uid'])
        await index(db, 'sig', 'session', ['sig'])

        // falcon_portal
        await table(db, 'host')
          .addColumn('id', 'integer', id)
          .addColumn('hostname', 'varchar(255)', text)
          .addColumn('ip', 'varchar(64)', text)
          .addColumn('agent_version', 'varchar(16)', text)
          .addColumn('plugin_version', 'varchar(128)', text)
          .addColumn('maintain_begin', 'integer', int0)
          .addColumn('maintain_end', 'integer', int0)
          .addColumn('update_at', stamp, now)
          .execute()
        await unique(db, 'hostname', 'host', ['hostname'])
        await table(db, 'grp')
          .addColumn('id', 'integer', id)
          .addColumn('grp_name', 'varchar(255)', text)
          .addColumn('create_user', 'varchar(64)', text)
          .addColumn('create_at', stamp, now)
          .addColumn('come_from', 'smallint', int0)
          .execute()
        await unique(db, 'grp_name', 'grp', ['grp_name'])
        await table(db, 'grp_host')
          .addColumn('grp_id', 'integer', (c) => c.notNull())
          .addColumn('host_id', 'integer', (c) => c.notNull())
          .execute()
        // Falcon has no unique key here; one stops two concurrent binds from doubling a membership.
        await unique(db, 'grp_host', 'grp_host', ['grp_id', 'host_id'])
        await index(db, 'host_id', 'grp_host', ['host_id'])
        await table(db, 'tpl')
          .addColumn('id', 'integer', id)
          .addColumn('tpl_name', 'varchar(255)', text)
          .addColumn('parent_id', 'integer', int0)
          .addColumn('action_id', 'integer', int0)
          .addColumn('create_user', 'varchar(64)', text)
          .addColumn('create_at', stamp, now)
          .execute()
        await unique(db, 'tpl_name', 'tpl', ['tpl_name'])
        await index(db, 'create_user', 'tpl', ['create_user'])
        await table(db, 'strategy')
          .addColumn('id', 'integer', id)
          .addColumn('metric', 'varchar(128)', text)
          .addColumn('tags', 'varchar(256)', text)
          .addColumn('max_step', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('priority', 'smallint', int0)
          .addColumn('func', 'varchar(16)', (c) => c.notNull().defaultTo('all(#1)'))
          .addColumn('op', 'varchar(8)', text)
          .addColumn('right_value', 'varchar(64)', (c) => c.notNull())
          .addColumn('note', 'varchar(128)', text)
          .addColumn('run_begin', 'varchar(16)', text)
          .addColumn('run_end', 'varchar(16)', text)
          .addColumn('tpl_id', 'integer', int0)
          .execute()
        await index(db, 'tpl_id', 'strategy', ['tpl_id'])
        await table(db, 'expression')
          .addColumn('id', 'integer', id)
          .addColumn('expression', 'varchar(1024)', (c) => c.notNull())
          .addColumn('func', 'varchar(16)', (c) => c.notNull().defaultTo('all(#1)'))
          .addColumn('op', 'varchar(8)', text)
          .addColumn('right_value', 'varchar(16)', text)
          .addColumn('max_step', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('priority', 'smallint', int0)
          .addColumn('note', 'varchar(1024)', text)
          .addColumn('action_id', 'integer', int0)
          .addColumn('create_user', 'varchar(64)', text)
          .addColumn('pause', 'smallint', int0)
          .execute()
        await table(db, 'grp_tpl')
          .addColumn('grp_id', 'integer', (c) => c.notNull())
          .addColumn('tpl_id', 'integer', (c) => c.notNull())
          .addColumn('bind_user', 'varchar(64)', text)
          .execute()
        await unique(db, 'grp_tpl', 'grp_tpl', ['grp_id', 'tpl_id'])
        await index(db, 'tpl_id', 'grp_tpl', ['tpl_id'])
        await table(db, 'plugin_dir')
          .addColumn('id', 'integer', id)
          .addColumn('grp_id', 'integer', (c) => c.notNull())
          .addColumn('dir', 'varchar(255)', (c) => c.notNull())
          .addColumn('create_user', 'varchar(64)', text)
          .addColumn('create_at', stamp, now)
          .execute()
        await index(db, 'grp_id', 'plugin_dir', ['grp_id'])
        await table(db, 'action')
          .addColumn('id', 'integer', id)
          .addColumn('uic', 'varchar(255)', text)
          .addColumn('url', 'varchar(255)', text)
          .addColumn('callback', 'smallint', int0)
          .addColumn('before_callback_sms', 'smallint', int0)
          .addColumn('before_callback_mail', 'smallint', int0)
          .addColumn('after_callback_sms', 'smallint', int0)
          .addColumn('after_callback_mail', 'smallint', int0)
          .execute()
        await table(db, 'mockcfg')
          .addColumn('id', 'integer', id)
          .addColumn('name', 'varchar(255)', text)
          .addColumn('obj', 'text', (c) => c.notNull())
          .addColumn('obj_type', 'varchar(255)', text)
          .addColumn('metric', 'varchar(128)', text)
          .addColumn('tags', 'varchar(1024)', text)
          .addColumn('dstype', 'varchar(32)', (c) => c.notNull().defaultTo('GAUGE'))
          .addColumn('step', 'integer', (c) => c.notNull().defaultTo(60))
          .addColumn('mock', 'double precision', int0)
          .addColumn('creator', 'varchar(64)', text)
          .addColumn('t_create', stamp, now)
          .addColumn('t_modify', stamp, now)
          .execute()
        await unique(db, 'name', 'mockcfg', ['name'])
        await table(db, 'cluster')
          .addColumn('id', 'integer', id)
          .addColumn('grp_id', 'integer', (c) => c.notNull())
          .addColumn('numerator', 'text', (c) => c.notNull())
          .addColumn('denominator', 'text', (c) => c.notNull())
          .addColumn('endpoint', 'varchar(255)', (c) => c.notNull())
          .addColumn('metric', 'varchar(255)', (c) => c.notNull())
          .addColumn('tags', 'varchar(255)', (c) => c.notNull())
          .addColumn('ds_type', 'varchar(255)', (c) => c.notNull())
          .addColumn('step', 'integer', (c) => c.notNull())
          .addColumn('last_update', stamp, now)
          .addColumn('creator', 'varchar(255)', (c) => c.notNull())
          .execute()
        await index(db, 'grp_id', 'cluster', ['grp_id'])
        await table(db, 'alert_link')
          .addColumn('id', 'integer', id)
          .addColumn('path', 'varchar(16)', text)
          .addColumn('content', 'text', (c) => c.notNull())
          .addColumn('create_at', stamp, now)
          .execute()
        await unique(db, 'path', 'alert_link', ['path'])

        // dashboard
        await table(db, 'dashboard_graph')
          .addColumn('id', 'integer', id)
          .addColumn('title', 'varchar(128)', (c) => c.notNull())
          .addColumn('hosts', 'text', (c) => c.notNull())
          .addColumn('counters', 'text', (c) => c.notNull())
          .addColumn('screen_id', 'integer', (c) => c.notNull())
          .addColumn('timespan', 'integer', (c) => c.notNull().defaultTo(3600))
          .addColumn('graph_type', 'varchar(2)', (c) => c.notNull().defaultTo('h'))
          .addColumn('method', 'varchar(8)', text)
          .addColumn('position', 'integer', int0)
          .addColumn('falcon_tags', 'varchar(512)', text)
          .execute()
        await index(db, 'screen_id', 'dashboard_graph', ['screen_id'])
        await table(db, 'dashboard_screen')
          .addColumn('id', 'integer', id)
          .addColumn('pid', 'integer', int0)
          .addColumn('name', 'varchar(128)', (c) => c.notNull())
          .addColumn('time', stamp, now)
          .execute()
        await index(db, 'pid', 'dashboard_screen', ['pid'])
        await unique(db, 'pid_name', 'dashboard_screen', ['pid', 'name'])
        await table(db, 'tmp_graph')
          .addColumn('id', 'integer', id)
          .addColumn('endpoints', 'text', (c) => c.notNull())
          .addColumn('counters', 'text', (c) => c.notNull())
          .addColumn('ck', 'varchar(32)', (c) => c.notNull())
          .addColumn('time_', stamp, now)
          .execute()
        await unique(db, 'ck', 'tmp_graph', ['ck'])
      },
    },
    '0002_alarms': {
      async up(db) {
        // alarms: falcon's history of alarm cases, with its column names; sizes are falcon's except where
        // falcon's would refuse an event transfer accepts (endpoint, metric with its tags).
        await table(db, 'event_cases')
          .addColumn('id', 'varchar(50)', (c) => c.notNull().primaryKey())
          .addColumn('endpoint', 'varchar(255)', (c) => c.notNull())
          .addColumn('metric', 'varchar(512)', (c) => c.notNull())
          .addColumn('func', 'varchar(50)', text)
          .addColumn('cond', 'varchar(200)', (c) => c.notNull())
          .addColumn('note', 'varchar(500)', text)
          .addColumn('max_step', 'integer', int0)
          .addColumn('current_step', 'integer', int0)
          .addColumn('priority', 'integer', (c) => c.notNull())
          .addColumn('status', 'varchar(20)', (c) => c.notNull())
          .addColumn('timestamp', stamp, now)
          .addColumn('update_at', stamp, now)
          // Never written by alarm (nor by falcon's): NULL until something closes a case.
          .addColumn('closed_at', stamp, nullStamp)
          .addColumn('closed_note', 'varchar(250)', text)
          .addColumn('user_modified', 'integer', int0)
          .addColumn('tpl_creator', 'varchar(64)', text)
          .addColumn('expression_id', 'integer', int0)
          .addColumn('strategy_id', 'integer', int0)
          .addColumn('template_id', 'integer', int0)
          .addColumn('process_note', 'integer', int0)
          .addColumn('process_status', 'varchar(20)', (c) => c.notNull().defaultTo('unresolved'))
          .execute()
        await index(db, 'endpoint', 'event_cases', ['endpoint', 'strategy_id', 'template_id'])
        await index(db, 'strategy_id', 'event_cases', ['strategy_id'])
        await index(db, 'template_id', 'event_cases', ['template_id'])
        await index(db, 'timestamp', 'event_cases', ['timestamp'])
        // Falcon's foreign keys (ON DELETE CASCADE to event_cases and uic.user) are left out: SQLite
        // enforces none unless asked per connection, and the two engines must answer the same.
        await table(db, 'events')
          .addColumn('id', 'integer', id)
          .addColumn('event_caseId', 'varchar(50)', (c) => c.notNull())
          .addColumn('step', 'integer', int0)
          .addColumn('cond', 'varchar(200)', (c) => c.notNull())
          .addColumn('status', 'smallint', int0)
          .addColumn('timestamp', stamp, now)
          .execute()
        await index(db, 'event_caseId', 'events', ['event_caseId'])
        // housekeeping deletes by age every minute
        await index(db, 'timestamp', 'events', ['timestamp'])
        await table(db, 'event_note')
          .addColumn('id', 'integer', id)
          .addColumn('event_caseId', 'varchar(50)', (c) => c.notNull())
          .addColumn('note', 'varchar(300)', text)
          .addColumn('case_id', 'varchar(20)', text)
          .addColumn('status', 'varchar(15)', text)
          .addColumn('timestamp', stamp, now)
          .addColumn('user_id', 'integer', int0)
          .execute()
        await index(db, 'event_caseId', 'event_note', ['event_caseId'])

        // Peregrine's own: silences (falcon has none) and the record of every notification sent.
        await table(db, 'alarm_silence')
          .addColumn('id', 'integer', id)
          .addColumn('endpoint', 'varchar(255)', text)
          .addColumn('metric', 'varchar(255)', text)
          .addColumn('tags', 'varchar(512)', text)
          .addColumn('strategy_id', 'integer', int0)
          .addColumn('expression_id', 'integer', int0)
          // Unix seconds; bigint so that a silence may end after 2038.
          .addColumn('starts_at', 'bigint', (c) => c.notNull())
          .addColumn('ends_at', 'bigint', (c) => c.notNull())
          .addColumn('note', 'varchar(500)', text)
          .addColumn('creator', 'varchar(64)', text)
          .addColumn('created', stamp, now)
          .execute()
        await index(db, 'ends_at', 'alarm_silence', ['ends_at'])
        await table(db, 'alarm_notification')
          .addColumn('id', 'integer', id)
          .addColumn('event_id', 'varchar(50)', text)
          .addColumn('channel', 'varchar(16)', (c) => c.notNull())
          .addColumn('tos', 'text', (c) => c.notNull())
          .addColumn('subject', 'varchar(255)', text)
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('attempts', 'integer', int0)
          .addColumn('error', 'varchar(500)', text)
          .addColumn('created_at', stamp, now)
          .execute()
        await index(db, 'created_at', 'alarm_notification', ['created_at'])
        await index(db, 'event_id', 'alarm_notification', ['event_id'])
      },
    },
    '0003_rule_for': {
      async up(db) {
        // Peregrine's `for` (seconds) of a rule: judge sends its first PROBLEM only once the condition
        // has held that long; 0 is falcon's behaviour (at once). hbs sends it only when it is above 0.
        await addColumn(db, 'strategy', 'for_duration', 'integer', int0)
        await addColumn(db, 'expression', 'for_duration', 'integer', int0)
      },
    },
    '0004_api_token': {
      async up(db) {
        // Per-user API tokens for `Authorization: Bearer` (Grafana, promtool, scripts): only a SHA-256
        // of the secret is kept, so the table read by someone else gives no usable token. `scope` is
        // `read` (the query API and GETs) or `full` (the user's own rights); expires_at is Unix
        // seconds, 0 for never.
        await table(db, 'api_token')
          .addColumn('id', 'integer', id)
          .addColumn('uid', 'integer', (c) => c.notNull())
          .addColumn('name', 'varchar(64)', text)
          .addColumn('hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('scope', 'varchar(8)', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', int0)
          .addColumn('created', stamp, now)
          .execute()
        await unique(db, 'hash', 'api_token', ['hash'])
        await index(db, 'uid', 'api_token', ['uid'])
      },
    },
  }
}
