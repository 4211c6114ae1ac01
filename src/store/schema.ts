// The portal store's tables: Open-Falcon's uic, falcon_portal, dashboard and alarms schemas in one
// database (plus Peregrine's alarm silences and notification record), with falcon's table and column
// names, so its queries and its people's habits carry over. Timestamps are read as UTC
// 'YYYY-MM-DD HH:MM:SS' strings on both engines (mysql2 runs with dateStrings).
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** A column the database fills on insert (a default) that may still be given. */
type Defaulted<T> = ColumnType<T, T | undefined, T>
/** A timestamp column: read as text, written as text or left to its default. */
type Stamp = ColumnType<string, string | undefined, string>

/** uic.user. role: -1 blocked, 0 user, 1 admin, 2 root. passwd holds a scrypt hash (or falcon's md5). */
export interface UserTable {
  id: Generated<number>
  name: string
  passwd: Defaulted<string>
  cnname: Defaulted<string>
  email: Defaulted<string>
  phone: Defaulted<string>
  im: Defaulted<string>
  qq: Defaulted<string>
  role: Defaulted<number>
  creator: Defaulted<number>
  created: Stamp
}

/** uic.team; creator is a user id. */
export interface TeamTable {
  id: Generated<number>
  name: string
  resume: Defaulted<string>
  creator: Defaulted<number>
  created: Stamp
}

export interface RelTeamUserTable {
  id: Generated<number>
  tid: number
  uid: number
}

/** uic.session: one login. sig is 32 hex characters; expired a Unix time in seconds. */
export interface SessionTable {
  id: Generated<number>
  uid: number
  sig: string
  expired: number
}

/** ApiTokenScope: `read` tokens may query and GET; `full` ones act with their user's own rights. */
export type ApiTokenScope = 'read' | 'full'

/**
 * api_token (Peregrine's own): a user's API token for `Authorization: Bearer`. `hash` is the hex
 * SHA-256 of the secret, which is shown once and never stored; expires_at is Unix seconds, 0 never.
 */
export interface ApiTokenTable {
  id: Generated<number>
  uid: number
  name: Defaulted<string>
  hash: string
  scope: ApiTokenScope
  expires_at: Defaulted<number>
  created: Stamp
}

/** falcon_portal.host: registered by hbs from agent heartbeats or by the API. */
export interface HostTable {
  id: Generated<number>
  hostname: string
  ip: Defaulted<string>
  agent_version: Defaulted<string>
  plugin_version: Defaulted<string>
  maintain_begin: Defaulted<number>
  maintain_end: Defaulted<number>
  update_at: Stamp
}

/** falcon_portal.grp: a host group. come_from: 0 synced, 1 created from a page or the API. */
export interface GrpTable {
  id: Generated<number>
  grp_name: string
  create_user: Defaulted<string>
  create_at: Stamp
  come_from: Defaulted<number>
}

export interface GrpHostTable {
  grp_id: number
  host_id: number
}

/** falcon_portal.tpl: a strategy template; parent_id 0 for none; action_id 0 for none. */
export interface TplTable {
  id: Generated<number>
  tpl_name: string
  parent_id: Defaulted<number>
  action_id: Defaulted<number>
  create_user: Defaulted<string>
  create_at: Stamp
}

/**
 * falcon_portal.strategy. tags is `k=v,k2=v2`; right_value text parsed as a float by judge.
 * for_duration is Peregrine's (not falcon's): the rule's `for`, seconds the condition must hold before
 * the first PROBLEM; 0 for none.
 */
export interface StrategyTable {
  id: Generated<number>
  metric: Defaulted<string>
  tags: Defaulted<string>
  max_step: Defaulted<number>
  priority: Defaulted<number>
  func: Defaulted<string>
  op: Defaulted<string>
  right_value: string
  note: Defaulted<string>
  run_begin: Defaulted<string>
  run_end: Defaulted<string>
  tpl_id: Defaulted<number>
  for_duration: Defaulted<number>
}

/**
 * falcon_portal.expression: `each(metric=m k=v ...)` judged across endpoints. for_duration: Peregrine's
 * `for` in seconds, as for strategies.
 */
export interface ExpressionTable {
  id: Generated<number>
  expression: string
  func: Defaulted<string>
  op: Defaulted<string>
  right_value: Defaulted<string>
  max_step: Defaulted<number>
  priority: Defaulted<number>
  note: Defaulted<string>
  action_id: Defaulted<number>
  create_user: Defaulted<string>
  pause: Defaulted<number>
  for_duration: Defaulted<number>
}

export interface GrpTplTable {
  grp_id: number
  tpl_id: number
  bind_user: Defaulted<string>
}

export interface PluginDirTable {
  id: Generated<number>
  grp_id: number
  dir: string
  create_user: Defaulted<string>
  create_at: Stamp
}

/** falcon_portal.action: uic is a comma list of team names. */
export interface ActionTable {
  id: Generated<number>
  uic: Defaulted<string>
  url: Defaulted<string>
  callback: Defaulted<number>
  before_callback_sms: Defaulted<number>
  before_callback_mail: Defaulted<number>
  after_callback_sms: Defaulted<number>
  after_callback_mail: Defaulted<number>
}

/** falcon_portal.mockcfg: a nodata rule. */
export interface MockcfgTable {
  id: Generated<number>
  name: string
  obj: string
  obj_type: Defaulted<string>
  metric: Defaulted<string>
  tags: Defaulted<string>
  dstype: Defaulted<string>
  step: Defaulted<number>
  mock: Defaulted<number>
  creator: Defaulted<string>
  t_create: Stamp
  t_modify: Stamp
}

/** falcon_portal.cluster: an aggregator rule over a host group. */
export interface ClusterTable {
  id: Generated<number>
  grp_id: number
  numerator: string
  denominator: string
  endpoint: string
  metric: string
  tags: string
  ds_type: string
  step: number
  last_update: Stamp
  creator: string
}

export interface AlertLinkTable {
  id: Generated<number>
  path: string
  content: string
  create_at: Stamp
}

/** dashboard.dashboard_graph: hosts and counters are `|`-joined. */
export interface DashboardGraphTable {
  id: Generated<number>
  title: string
  hosts: string
  counters: string
  screen_id: number
  timespan: Defaulted<number>
  graph_type: Defaulted<string>
  method: Defaulted<string>
  position: Defaulted<number>
  falcon_tags: Defaulted<string>
}

export interface DashboardScreenTable {
  id: Generated<number>
  pid: Defaulted<number>
  name: string
  time: Stamp
}

/** dashboard.tmp_graph: ck = md5 of the sorted endpoints and counters, unique. */
export interface TmpGraphTable {
  id: Generated<number>
  endpoints: string
  counters: string
  ck: string
  time_: Stamp
}

/**
 * alarms.event_cases: one row per alarm (event id `s_<strategy>_<md5>` or `e_<expression>_<md5>`), its
 * latest state. `metric` is `metric[/sortedtags]`; `timestamp` is when the case last began (step 1),
 * `update_at` its latest event; process_status is `unresolved`, `in progress`, `resolved` or `ignored`
 * and process_note the event_note id that set it.
 */
export interface EventCaseTable {
  id: string
  endpoint: string
  metric: string
  func: Defaulted<string>
  cond: string
  note: Defaulted<string>
  max_step: Defaulted<number>
  current_step: Defaulted<number>
  priority: number
  status: string
  timestamp: Stamp
  update_at: Stamp
  closed_at: ColumnType<string | null, string | null | undefined, string | null>
  closed_note: Defaulted<string>
  user_modified: Defaulted<number>
  tpl_creator: Defaulted<string>
  expression_id: Defaulted<number>
  strategy_id: Defaulted<number>
  template_id: Defaulted<number>
  process_note: Defaulted<number>
  process_status: Defaulted<string>
}

/** alarms.events: every event of a case; status 0 PROBLEM, 1 OK; step is the event's currentStep. */
export interface EventsTable {
  id: Generated<number>
  event_caseId: string
  step: Defaulted<number>
  cond: string
  status: Defaulted<number>
  timestamp: Stamp
}

/** alarms.event_note: a user's note on a case; status as event_cases.process_status, or `comment`. */
export interface EventNoteTable {
  id: Generated<number>
  event_caseId: string
  note: Defaulted<string>
  case_id: Defaulted<string>
  status: Defaulted<string>
  timestamp: Stamp
  user_id: Defaulted<number>
}

/**
 * alarm_silence (Peregrine's): events matching every non-empty field are not notified while
 * starts_at <= now < ends_at (Unix seconds). tags is falcon's `k=v,k2=v2`; 0 ids match any rule.
 */
export interface AlarmSilenceTable {
  id: Generated<number>
  endpoint: Defaulted<string>
  metric: Defaulted<string>
  tags: Defaulted<string>
  strategy_id: Defaulted<number>
  expression_id: Defaulted<number>
  starts_at: number
  ends_at: number
  note: Defaulted<string>
  creator: Defaulted<string>
  created: Stamp
}

/** NOTIFICATION_CHANNELS are the ways alarm delivers a message. */
export const NOTIFICATION_CHANNELS = [
  'mail',
  'sms',
  'im',
  'webhook',
  'callback',
  'dingtalk',
  'wecom',
  'feishu',
  'slack',
] as const
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number]
/** NOTIFICATION_STATUSES: delivered, given up on, or held back by a silence. */
export const NOTIFICATION_STATUSES = ['sent', 'failed', 'silenced'] as const
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number]

/** alarm_notification (Peregrine's): one delivery attempt series; event_id is '' for a merged one. */
export interface AlarmNotificationTable {
  id: Generated<number>
  event_id: Defaulted<string>
  channel: NotificationChannel
  tos: string
  subject: Defaulted<string>
  status: NotificationStatus
  attempts: Defaulted<number>
  error: Defaulted<string>
  created_at: Stamp
}

/** PortalDatabase is the Kysely view of the whole store. */
export interface PortalDatabase {
  user: UserTable
  team: TeamTable
  rel_team_user: RelTeamUserTable
  session: SessionTable
  api_token: ApiTokenTable
  host: HostTable
  grp: GrpTable
  grp_host: GrpHostTable
  tpl: TplTable
  strategy: StrategyTable
  expression: ExpressionTable
  grp_tpl: GrpTplTable
  plugin_dir: PluginDirTable
  action: ActionTable
  mockcfg: MockcfgTable
  cluster: ClusterTable
  alert_link: AlertLinkTable
  dashboard_graph: DashboardGraphTable
  dashboard_screen: DashboardScreenTable
  tmp_graph: TmpGraphTable
  event_cases: EventCaseTable
  events: EventsTable
  event_note: EventNoteTable
  alarm_silence: AlarmSilenceTable
  alarm_notification: AlarmNotificationTable
}

export type User = Selectable<UserTable>
export type NewUser = Insertable<UserTable>
export type UserUpdate = Updateable<UserTable>
export type ApiToken = Selectable<ApiTokenTable>
export type Team = Selectable<TeamTable>
export type Host = Selectable<HostTable>
export type Grp = Selectable<GrpTable>
export type Tpl = Selectable<TplTable>
export type Strategy = Selectable<StrategyTable>
export type Expression = Selectable<ExpressionTable>
export type Action = Selectable<ActionTable>
export type PluginDir = Selectable<PluginDirTable>
export type Mockcfg = Selectable<MockcfgTable>
export type Cluster = Selectable<ClusterTable>
export type DashboardGraph = Selectable<DashboardGraphTable>
export type DashboardScreen = Selectable<DashboardScreenTable>
export type TmpGraph = Selectable<TmpGraphTable>
export type EventCase = Selectable<EventCaseTable>
export type CaseEvent = Selectable<EventsTable>
export type EventNote = Selectable<EventNoteTable>
export type AlarmSilence = Selectable<AlarmSilenceTable>
export type NewAlarmSilence = Insertable<AlarmSilenceTable>
export type AlarmNotification = Selectable<AlarmNotificationTable>
export type NewAlarmNotification = Insertable<AlarmNotificationTable>
