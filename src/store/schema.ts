// The portal store's tables: Open-Falcon's uic, falcon_portal and dashboard schemas in one database, with
// falcon's table and column names, so its queries and its people's habits carry over. Timestamps are
// read as 'YYYY-MM-DD HH:MM:SS' strings on both engines (mysql2 runs with dateStrings).
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

/** falcon_portal.strategy. tags is `k=v,k2=v2`; right_value text parsed as a float by judge. */
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
}

/** falcon_portal.expression: `each(metric=m k=v ...)` judged across endpoints. */
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

/** PortalDatabase is the Kysely view of the whole store. */
export interface PortalDatabase {
  user: UserTable
  team: TeamTable
  rel_team_user: RelTeamUserTable
  session: SessionTable
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
}

export type User = Selectable<UserTable>
export type NewUser = Insertable<UserTable>
export type UserUpdate = Updateable<UserTable>
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
