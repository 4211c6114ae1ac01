// judge's configuration (falcon's modules/judge cfg.json roles), validated with every problem named.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'

/** JudgeConfig configures one judge. The connection limits apply to each listener. */
export interface JudgeConfig extends ConnectionLimits {
  /**
   * rpc: JSON-RPC listener for transfer's Judge.Send (falcon `rpc.listen`). Default `127.0.0.1:6080`:
   * whoever reaches it can raise and clear alarms, so other hosts reach it only when configured so.
   */
  rpc: string
  /** http: HTTP listener (falcon `http.listen`, default `127.0.0.1:6081`). */
  http: string
  /** hbs: hbs RPC addresses, tried in order (falcon `hbs.servers`). */
  hbs: string[]
  /** hbsInterval: ms between two rule fetches from hbs (falcon `hbs.interval`, 60 s; default 10 s). */
  hbsInterval: number
  /** hbsTimeout: ms one GetStrategies/GetExpressions call may take (falcon `hbs.timeout`). */
  hbsTimeout: number
  /** maxRulesBytes: largest GetStrategies reply accepted from hbs (a fleet's is ~120 MB). */
  maxRulesBytes: number
  /** remain: points kept per series at least (falcon `remain`, 11); more when a rule reads more. */
  remain: number
  /** minInterval: seconds between two PROBLEM events of one id (falcon `alarm.minInterval`, 300). */
  minInterval: number
  /** queuePattern: the list events go to, `%v` the priority (falcon `alarm.queuePattern`). */
  queuePattern: string
  /** redis: `redis://[:password@]host:port[/db]` for falcon's Redis lists; '' keeps events in process. */
  redis: string
  /**
   * spillDir: judge's data directory: where events wait on disk while Redis is unreachable, and
   * where its state (series' newest points, last events) is kept (STATE.md).
   */
  spillDir: string
  /**
   * snapshotInterval: ms between two snapshots of judge's state under spillDir (default 60 s); 0
   * keeps no state on disk, as falcon (a restart forgets history and last events).
   */
  snapshotInterval: number
  /** staleAfter: seconds after which a silent series is forgotten (falcon: 7 days). */
  staleAfter: number
  /** purgeInterval: ms between two sweeps for silent series (falcon: 5 h). */
  purgeInterval: number
  /** maxBodyBytes: largest Judge.Send request. */
  maxBodyBytes: number
}

/** defaultJudgeConfig holds every default. */
export const defaultJudgeConfig: JudgeConfig = {
  rpc: '127.0.0.1:6080',
  http: '127.0.0.1:6081',
  hbs: ['127.0.0.1:6030'],
  hbsInterval: 10_000,
  hbsTimeout: 60_000,
  maxRulesBytes: 1 << 30,
  remain: 11,
  minInterval: 300,
  queuePattern: 'event:p%v',
  redis: '',
  spillDir: './data/judge',
  snapshotInterval: 60_000,
  staleAfter: 7 * 86_400,
  purgeInterval: 5 * 3_600_000,
  maxBodyBytes: 32 << 20,
  ...defaultConnectionLimits,
}

/** parseJudgeConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseJudgeConfig(raw: Record<string, unknown>): Readonly<JudgeConfig> {
  const c = { ...defaultJudgeConfig, ...raw }
  const problems: string[] = []
  // A misspelt key (snapshotIntervall) would otherwise leave its default in force unnoticed.
  for (const k of Object.keys(raw))
    if (!Object.hasOwn(defaultJudgeConfig, k)) problems.push(`judge.${k}: not a judge setting`)
  checkListen(problems, 'judge.rpc', c.rpc)
  checkListen(problems, 'judge.http', c.http)
  const hbs: unknown = c.hbs
  if (!Array.isArray(hbs) || hbs.length === 0) {
    problems.push(
      `judge.hbs: expected a list of hbs addresses like ["127.0.0.1:6030"], got ${JSON.stringify(hbs)}`
    )
  } else hbs.forEach((a: unknown, i) => checkListen(problems, `judge.hbs[${i}]`, a))
  for (const key of [
    'hbsInterval',
    'hbsTimeout',
    'maxRulesBytes',
    'remain',
    'staleAfter',
    'purgeInterval',
    'maxBodyBytes',
  ] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0)
      problems.push(`judge.${key}: expected a positive integer, got ${JSON.stringify(c[key])}`)
  }
  if (!Number.isInteger(c.minInterval) || c.minInterval < 0)
    problems.push(
      `judge.minInterval: expected seconds (an integer ≥ 0), got ${JSON.stringify(c.minInterval)}`
    )
  if (typeof c.queuePattern !== 'string' || !c.queuePattern.includes('%v'))
    problems.push(
      `judge.queuePattern: expected a list name with %v for the priority, like "event:p%v", got ${JSON.stringify(c.queuePattern)}`
    )
  if (typeof c.redis !== 'string' || (c.redis !== '' && !/^rediss?:\/\//.test(c.redis)))
    problems.push(
      `judge.redis: expected "" (events stay in process) or a URL like "redis://127.0.0.1:6379", got ${JSON.stringify(c.redis)}`
    )
  if (typeof c.spillDir !== 'string' || c.spillDir === '')
    problems.push('judge.spillDir: expected a directory path')
  if (!Number.isInteger(c.snapshotInterval) || c.snapshotInterval < 0)
    problems.push(
      `judge.snapshotInterval: expected ms (an integer ≥ 0; 0 keeps no state on disk), got ${JSON.stringify(c.snapshotInterval)}`
    )
  checkConnectionLimits(problems, 'judge', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({ ...c, hbs: Object.freeze([...c.hbs]) as string[] })
}
