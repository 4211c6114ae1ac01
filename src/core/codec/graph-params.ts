// Reading the parameters of graph's Graph.* calls, shared by graph and the remote graph node so both
// refuse the same requests with the same words.
import { RpcError } from './falcon-jsonrpc.js'

/** graphSeriesParam reads `{endpoint, counter}` (Graph.Query, Graph.Last, …) or throws naming `method`. */
export function graphSeriesParam(
  param: unknown,
  method: string
): { endpoint: string; counter: string } {
  const p = param as { endpoint?: unknown; counter?: unknown } | null
  if (
    p === null ||
    typeof p !== 'object' ||
    typeof p.endpoint !== 'string' ||
    typeof p.counter !== 'string'
  ) {
    throw new RpcError(`${method}: expected {endpoint, counter}`)
  }
  return { endpoint: p.endpoint, counter: p.counter }
}

/** graphStringList reads an optional array of strings (search terms, tags) or throws naming `field`. */
export function graphStringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new RpcError(`${field}: expected an array of strings`)
  }
  return v
}
