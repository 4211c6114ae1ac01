// format_query: a query parsed and printed back as Prometheus's /api/v1/format_query does.
import { parseExpr } from './parser.js'
import { prettify } from './printer.js'

/** formatQuery parses `expr` and prints it prettified (Prometheus's parser.Prettify); throws PG_PROMQL_BAD_QUERY. */
export function formatQuery(expr: string): string {
  return prettify(parseExpr(expr))
}
