// Test support for the portal routes: an api on a fresh store of one engine, with root logged in and a
// way to make more users of any role. Requests go through Fastify's inject (no socket).
import type { FastifyInstance, InjectOptions } from 'fastify'
import { type Deps, silentLogger } from '../core/index.js'
import type { Store, TestEngine } from '../store/index.js'
import type { Querier } from '../tsdb/index.js'
import { ensureRoot, hashPassword } from './auth.js'
import { type ApiConfig, defaultApiConfig } from './config.js'
import { buildApi } from './index.js'
import type { PortalContext } from './portal.js'

export const ROOT_PASSWORD = 'root-password'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface TestResponse<T = any> {
  status: number
  /** body: the parsed JSON reply (text when it is not JSON), read as the shape the test expects. */
  body: T
}

/** CallOptions: `token` is an Apitoken header value (omit for none); `headers` are sent as well. */
export interface CallOptions {
  token?: string
  body?: unknown
  query?: Record<string, string>
  headers?: Record<string, string>
}

export interface TestPortal {
  app: FastifyInstance
  store: Store
  ctx: PortalContext
  /** root's Apitoken header value. */
  root: string
  /** user creates (once) a user of `role` with password `password-<name>` and returns its Apitoken. */
  user(name: string, role?: number): Promise<string>
  /** call makes a request; `token` is an Apitoken header value (omit for none). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call<T = any>(
    method: InjectOptions['method'],
    url: string,
    options?: CallOptions
  ): Promise<TestResponse<T>>
  close(): Promise<void>
}

/**
 * openTestPortal builds the api over a new empty store of `engine`; `dial` reaches a fake graph
 * cluster when given; the Prometheus query API reads `querier` when given.
 */
export async function openTestPortal(
  engine: TestEngine,
  overrides: Partial<ApiConfig> = {},
  dial?: Deps['dial'],
  querier?: Querier
): Promise<TestPortal> {
  const t = await engine.open()
  await ensureRoot(t.store, silentLogger, { PEREGRINE_ROOT_PASSWORD: ROOT_PASSWORD })
  const { app, ctx, graphs } = buildApi(
    { ...defaultApiConfig, ...overrides },
    { log: silentLogger, now: Date.now, dial },
    t.store,
    { querier }
  )
  await app.ready()
  const call = async <T>(
    method: InjectOptions['method'],
    url: string,
    options: CallOptions = {}
  ): Promise<TestResponse<T>> => {
    const res = await app.inject({
      method,
      url,
      headers: {
        ...options.headers,
        ...(options.token === undefined ? {} : { apitoken: options.token }),
      },
      ...(options.body === undefined ? {} : { payload: options.body as InjectOptions['payload'] }),
      ...(options.query === undefined ? {} : { query: options.query }),
    })
    let body: unknown = res.body
    try {
      body = JSON.parse(res.body)
    } catch {
      // plain text answers stay text
    }
    return { status: res.statusCode, body: body as T }
  }
  const login = async (name: string, password: string) => {
    const r = await call('POST', '/api/v1/user/login', { body: { name, password } })
    if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.body)}`)
    return JSON.stringify({ name, sig: (r.body as { sig: string }).sig })
  }
  const root = await login('root', ROOT_PASSWORD)
  const tokens = new Map<string, string>()
  return {
    app,
    store: t.store,
    ctx,
    root,
    call,
    async user(name, role = 0) {
      const known = tokens.get(name)
      if (known !== undefined) return known
      await t.store.db
        .insertInto('user')
        .values({ name, role, passwd: await hashPassword(`password-${name}`) })
        .execute()
      const token = await login(name, `password-${name}`)
      tokens.set(name, token)
      return token
    },
    async close() {
      await app.close()
      graphs.close()
      await t.drop()
    },
  }
}
