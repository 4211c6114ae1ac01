// The API client: the session's Apitoken on every request, a 401 back to the login page (and then
// back here), and an API that does not answer shown as a banner while reads are retried.
import { apiDown, navigate, session } from './state.js'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

export interface RequestOptions {
  /** Retry a read while the API is down (the default for GET); writes are never retried. */
  retry?: boolean
  signal?: AbortSignal
}

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000]

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(signal.reason as Error)
    })
  })
}

/** Back to the login page, which returns to `next` (the page the user was on) after logging in. */
export function toLogin(): void {
  session.set(null)
  const here = location.pathname + location.search
  navigate(here.startsWith('/login') ? here : `/login?next=${encodeURIComponent(here)}`, true)
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {}
): Promise<T> {
  const retry = options.retry ?? method === 'GET'
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {}
    const s = session.get()
    if (s !== null) headers.Apitoken = JSON.stringify({ name: s.name, sig: s.sig })
    let init: RequestInit = { method, headers, signal: options.signal }
    if (body instanceof URLSearchParams) {
      init = { ...init, body }
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      init = { ...init, body: JSON.stringify(body) }
    }
    let res: Response | undefined
    let down: string | undefined
    try {
      res = await fetch(path, init)
      if (res.status === 502 || res.status === 503 || res.status === 504) {
        down = `${res.status} ${await errorText(res)}`
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err
      down = (err as Error).message
    }
    if (down !== undefined) {
      apiDown.set(down)
      if (!retry) throw new ApiError(0, down)
      await sleep(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)], options.signal)
      continue
    }
    apiDown.set(null)
    const r = res!
    if (r.status === 401 && !path.startsWith('/api/v1/user/login')) {
      toLogin()
      throw new ApiError(401, await errorText(r))
    }
    if (!r.ok) throw new ApiError(r.status, await errorText(r))
    const type = r.headers.get('content-type') ?? ''
    return (type.includes('json') ? await r.json() : await r.text()) as T
  }
}

async function errorText(res: Response): Promise<string> {
  const text = await res.text()
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown }
    if (typeof j.error === 'string') return j.error
    if (typeof j.message === 'string') return j.message
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 300) || res.statusText
}

export const get = <T>(path: string, options?: RequestOptions) =>
  request<T>('GET', path, undefined, options)
export const post = <T>(path: string, body: unknown) => request<T>('POST', path, body)
export const put = <T>(path: string, body: unknown) => request<T>('PUT', path, body)
export const patch = <T>(path: string, body: unknown) => request<T>('PATCH', path, body)
export const del = <T>(path: string) => request<T>('DELETE', path)

/** A path with query fields (undefined values left out; arrays repeated). */
export function withParams(
  path: string,
  params: Record<string, string | number | undefined | string[]>
): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) q.append(k, x)
    else q.set(k, String(v))
  }
  const s = q.toString()
  return s === '' ? path : `${path}?${s}`
}
