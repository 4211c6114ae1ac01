/**
 * @module store
 * The portal store: Open-Falcon's configuration tables (users, teams, sessions, hosts, groups,
 * templates, strategies, expressions, actions, plugin dirs, nodata and aggregator rules, dashboard
 * screens and graphs) and its alarm history (cases, events, notes), with Peregrine's alarm silences and
 * notification record, in an embedded SQLite file or MySQL/MariaDB, one code path for both (Kysely).
 */
export {
  Store,
  parseStoreUrl,
  checkStoreUrl,
  redact,
  isConnectionError,
  type StoreLocation,
  type StoreOptions,
} from './store.js'
export type { Engine } from './migrations.js'
export * from './schema.js'
export {
  recordAlarmEvent,
  deleteEventsBefore,
  activeSilences,
  silenceMatches,
  recordNotification,
  actionOf,
  usersOfTeams,
  type SilenceMatchers,
  type Recipient,
} from './alarms.js'
export {
  testEngines,
  tcpProxy,
  mysqlServerUrl,
  type TestEngine,
  type TestStore,
  type TcpProxy,
} from './testing.js'
export {
  groupHosts,
  hostMaintenance,
  inMaintenance,
  rulesFingerprint,
  RuleRefresher,
  type GroupHost,
  type RuleRefresherOptions,
} from './rules.js'
