// hbs's JSON-RPC methods on :6030 (falcon's modules/hbs/rpc): what agents and judges call.
import { type RpcMethod, RpcError } from '../core/index.js'
import type { AgentReport, Agents } from './agents.js'
import type { Snapshot } from './snapshot.js'

/** HbsRpcContext is what the methods answer from. */
export interface HbsRpcContext {
  /** snapshot returns the current snapshot (it is replaced on refresh, so ask at each call). */
  snapshot: () => Snapshot
  agents: Agents
  /** trustable: the configured IPs, joined by `,` as Agent.TrustableIps sends them. */
  trustable: string
  now: () => number
}

const REPORT_FIELDS = ['Hostname', 'IP', 'AgentVersion', 'PluginVersion'] as const
const HEARTBEAT_FIELDS = ['Hostname', 'Checksum'] as const

/**
 * hbsMethods returns falcon's hbs methods. Replies keep falcon's shapes exactly: Go field names where
 * the model has no json tags, `null` where Go leaves a slice nil (MinePlugins and BuiltinMetrics for
 * an empty Hostname, GetExpressions with no expression), Unix-second Timestamps.
 */
export function hbsMethods(ctx: HbsRpcContext): Map<string, RpcMethod> {
  const seconds = () => Math.floor(ctx.now() / 1000)
  const builtinMetrics: RpcMethod = (param) => {
    const a = goStruct(param, 'AgentHeartbeatRequest', HEARTBEAT_FIELDS)
    if (a.Hostname === '') return { Metrics: null, Checksum: '', Timestamp: 0 }
    const b = ctx.snapshot().builtinMetrics(a.Hostname)
    // The agent sends the checksum it has; a match means it has the list already.
    return {
      Metrics: a.Checksum === b.checksum ? [] : b.metrics,
      Checksum: b.checksum,
      Timestamp: seconds(),
    }
  }
  return new Map<string, RpcMethod>([
    [
      'Agent.ReportStatus',
      async (param) => {
        const a: AgentReport = goStruct(param, 'AgentReportRequest', REPORT_FIELDS)
        if (a.Hostname === '') return { code: 1 }
        // A new host with a bad name or past the limits is neither kept nor written; its agent logs
        // the error, which names the rule or the setting (falcon's logs `call Agent.ReportStatus fail`).
        const refused = ctx.agents.admit(a.Hostname)
        if (refused !== undefined) throw new RpcError(refused)
        await ctx.agents.report(a)
        return { code: 0 }
      },
    ],
    [
      'Agent.MinePlugins',
      (param) => {
        const a = goStruct(param, 'AgentHeartbeatRequest', HEARTBEAT_FIELDS)
        if (a.Hostname === '') return { Plugins: null, Timestamp: 0 }
        return { Plugins: ctx.snapshot().plugins(a.Hostname), Timestamp: seconds() }
      },
    ],
    ['Agent.BuiltinMetrics', builtinMetrics],
    // Not a falcon method: the name some documents give it, answered the same way.
    ['Agent.BuiltinItems', builtinMetrics],
    [
      'Agent.TrustableIps',
      (param) => {
        goStruct(param, 'NullRpcRequest', [])
        return ctx.trustable
      },
    ],
    [
      'Hbs.GetStrategies',
      (param) => {
        goStruct(param, 'NullRpcRequest', [])
        return ctx.snapshot().strategiesReply
      },
    ],
    [
      'Hbs.GetExpressions',
      (param) => {
        goStruct(param, 'NullRpcRequest', [])
        return { expressions: ctx.snapshot().expressions }
      },
    ],
  ])
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'boolean') return 'bool'
  return typeof v // number, string, object
}

/**
 * goStruct decodes `param` as Go's encoding/json decodes into a struct of string fields: null or a
 * missing argument leaves every field '', keys match field names exactly or case-insensitively (the
 * last one wins), unknown keys are ignored, a null value leaves the field as it is, any other
 * non-string value is an error worded as Go's.
 */
function goStruct<F extends string>(
  param: unknown,
  type: string,
  fields: readonly F[]
): Record<F, string> {
  const out = Object.fromEntries(fields.map((f) => [f, ''])) as Record<F, string>
  if (param === null || param === undefined) return out
  if (typeof param !== 'object' || Array.isArray(param)) {
    throw new RpcError(
      `json: cannot unmarshal ${kindOf(param)} into Go value of type model.${type}`
    )
  }
  for (const [key, value] of Object.entries(param)) {
    const lower = key.toLowerCase()
    const field = fields.find((f) => f === key) ?? fields.find((f) => f.toLowerCase() === lower)
    if (field === undefined || value === null) continue
    if (typeof value !== 'string') {
      throw new RpcError(
        `json: cannot unmarshal ${kindOf(value)} into Go struct field ${type}.${field} of type string`
      )
    }
    out[field] = value
  }
  return out
}
