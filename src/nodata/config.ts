// nodata's configuration (falcon's modules/nodata cfg.json roles), validated with every problem named.
import {
  checkConnectionLimits,
  checkInt,
  checkKnownKeys,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'
import { checkReadPush, defaultReadPush, type ReadPushConfig } from '../cluster/index.js'

/** NodataConfig configures nodata. */
export interface NodataConfig extends ConnectionLimits, ReadPushConfig {
  /** http: falcon's status and debug routes (falcon `http.listen`, :6090; here loopback by default). */
  http: string
  /** store: the portal store holding `mockcfg`, groups and hosts (falcon `config.dsn`). */
  store: string
  /**
   * transfer: where mock points go: transfer JSON-RPC `host:port` addresses, or http URLs of
   * /api/push (falcon `sender.transferAddr`). Each batch goes to one; the next on failure.
   */
  transfer: string[]
  /** batch: mock points per push (falcon's `sender.batch` is 500; larger calls cost transfer less). */
  batch: number
  /**
   * timeoutFloor, timeoutSteps: a series is silent once no point arrived for
   * max(timeoutFloor, timeoutSteps × step) seconds when step < 60, else timeoutSteps × step
   * (falcon: 180 s when step < 60, else 3 × step). Tests lower them.
   */
  timeoutFloor: number
  timeoutSteps: number
  /** maxSeries: series watched at most (rules × their hosts); past it, rules are skipped, named. */
  maxSeries: number
}

export const defaultNodataConfig: NodataConfig = {
  http: '127.0.0.1:6090',
  ...defaultReadPush,
  batch: 5000,
  timeoutFloor: 180,
  timeoutSteps: 3,
  maxSeries: 1_000_000,
  maxPending: 1_000_000,
  ...defaultConnectionLimits,
  maxConnections: 100,
  maxConnectionsPerAddress: 20,
}

/** parseNodataConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseNodataConfig(raw: Record<string, unknown>): Readonly<NodataConfig> {
  const c = { ...defaultNodataConfig, ...raw }
  const problems: string[] = []
  checkKnownKeys(problems, 'nodata', raw, Object.keys(defaultNodataConfig))
  checkListen(problems, 'nodata.http', c.http)
  checkReadPush(problems, 'nodata', c)
  checkInt(problems, 'nodata.batch', c.batch, 1, 10_000)
  checkInt(problems, 'nodata.timeoutFloor', c.timeoutFloor, 0, 86_400, 's')
  checkInt(problems, 'nodata.timeoutSteps', c.timeoutSteps, 1, 100)
  checkInt(problems, 'nodata.maxSeries', c.maxSeries, 1, 100_000_000)
  checkConnectionLimits(problems, 'nodata', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({ ...c, transfer: Object.freeze([...c.transfer]) as string[] })
}

/** timeoutOf is falcon's getTimeout with its constants as settings: seconds of silence that mean nodata. */
export function timeoutOf(step: number, c: Pick<NodataConfig, 'timeoutFloor' | 'timeoutSteps'>) {
  return step < 60 ? Math.max(c.timeoutFloor, c.timeoutSteps * step) : c.timeoutSteps * step
}
