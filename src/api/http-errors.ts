// The API's error shape (falcon's `{"error": "..."}`) and request validation with messages that name
// the field: `body.hostgroup_id: expected a positive integer`.
import type { z } from 'zod'

/** HttpError is answered as `status` with `{"error": message}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string) => new HttpError(400, message)
export const unauthorized = (message: string) => new HttpError(401, message)
export const notFound = (message: string) => new HttpError(404, message)
export const conflict = (message: string) => new HttpError(409, message)
/** forbidden: falcon's creator rule, a non-admin changing what someone else created. */
export const forbidden = (message = 'only its creator or an admin may change this') =>
  new HttpError(403, message)

/**
 * parse checks `value` against `schema` and returns the typed result, or throws a 400 naming the first
 * bad field as `where.path: message` (every problem is listed, separated by `; `).
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.infer<S> {
  const r = schema.safeParse(value ?? (where === 'body' ? {} : value))
  if (r.success) return r.data
  const problems = r.error.issues.map((i) => {
    const path = i.path.length === 0 ? where : `${where}.${i.path.map(String).join('.')}`
    return `${path}: ${i.message}`
  })
  throw badRequest(problems.join('; '))
}
