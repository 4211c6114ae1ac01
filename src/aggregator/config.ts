// aggregator's configuration (falcon's modules/aggregator cfg.json roles), validated with every problem named.
import {
  checkConnectionLimits,
  checkInt,
  checkKnownKeys,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'
import { checkReadPush, defaultReadPush, type ReadPushConfig } from '../cluster/index.js'

/** AggregatorConfig configures the aggregator. */
export interface AggregatorConfig extends ConnectionLimits, ReadPushConfig {
  /** http: status routes (falcon `http.listen`, :6055; here loopback by default). */
  http: string
  /** store: the portal store holding `cluster` rules, groups and hosts (falcon `database.addr`). */
  store: string
  /**
   * transfer: where results go: transfer JSON-RPC `host:port` addresses, or http URLs taking a JSON
   * array of points (falcon `api.push_api`, an agent's /v1/push, or transfer's /api/push).
   */
  transfer: string[]
  /** ids: the rule ids this aggregator runs, [min, max], -1 for no bound (falcon `database.ids`). */
  ids: [number, number]
  /** maxRules: rules run at most; past it, the rest are skipped, named. */
  maxRules: number
}

export const defaultAggregatorConfig: AggregatorConfig = {
  http: '127.0.0.1:6055',
  ...defaultReadPush,
  ids: [1, -1],
  maxRules: 10_000,
  maxPending: 100_000,
  ...defaultConnectionLimits,
  maxConnections: 100,
  maxConnectionsPerAddress: 20,
}

/** parseAggregatorConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseAggregatorConfig(raw: Record<string, unknown>): Readonly<AggregatorConfig> {
  const c = { ...defaultAggregatorConfig, ...raw }
  const problems: string[] = []
  checkKnownKeys(problems, 'aggregator', raw, Object.keys(defaultAggregatorConfig))
  checkListen(problems, 'aggregator.http', c.http)
  checkReadPush(problems, 'aggregator', c)
  checkInt(problems, 'aggregator.maxRules', c.maxRules, 1, 1_000_000)
  const ids: unknown = c.ids
  if (
    !Array.isArray(ids) ||
    ids.length !== 2 ||
    !ids.every((n) => Number.isInteger(n) && (n as number) >= -1)
  )
    problems.push(
      `aggregator.ids: expected [min, max] rule ids, -1 for no bound (like [1, -1]), got ${JSON.stringify(ids)}`
    )
  // Bounds that leave no rule to run would make an aggregator that silently does nothing.
  if (Array.isArray(ids) && ids.length === 2 && ids.every((n) => Number.isInteger(n))) {
    const [min, max] = ids as number[]
    if (max === 0 || (min >= 0 && max >= 0 && max < min))
      problems.push(
        `aggregator.ids: [${min}, ${max}] leaves no rule id to run (rule ids start at 1; -1 for no bound)`
      )
  }
  checkConnectionLimits(problems, 'aggregator', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze({
    ...c,
    transfer: Object.freeze([...c.transfer]) as string[],
    ids: [c.ids[0], c.ids[1]] as [number, number],
  })
}
