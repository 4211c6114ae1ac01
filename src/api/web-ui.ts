// Serves the dashboard (src/dashboard, built by Vite into dist/dashboard) from memory: hashed assets
// with a year's cache, the page itself revalidated every time, each in the brotli or gzip form the
// build wrote when the browser takes it. The api does not import the dashboard's code, only its
// build output.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

interface Asset {
  body: Buffer
  gzip?: Buffer
  brotli?: Buffer
  type: string
  etag: string
  /** Hashed file names never change content: cached for a year. */
  immutable: boolean
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
}

/**
 * The app's pages, as routes that answer index.html (the app then draws the page its URL names): the
 * list of src/dashboard/lib/pages.ts but `/`, checked by test/dashboard-pages.test.ts. Other paths
 * keep the api's JSON 404 (a browser gets the app's own "no page here").
 */
export const DASHBOARD_PAGES = [
  '/login',
  '/charts',
  '/explore',
  '/alarms',
  '/alarms/case',
  '/alarms/silences',
  '/config',
  '/config/hostgroups',
  '/config/hostgroups/:id',
  '/config/templates',
  '/config/templates/:id',
  '/config/strategy/new',
  '/config/teams',
  '/config/expressions',
  '/config/nodata',
  '/screens',
  '/screens/:id',
  '/hosts',
  '/account',
]

/** The dashboard build next to this file's build: dist/src/api/web-ui.js → dist/dashboard. */
export function defaultDashboardDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboard')
}

/** The most a dashboard build may hold in memory (it is about 1 MB; a stray file is not served). */
const MAX_BUILD_BYTES = 32 << 20

let defaultUi: WebUi | undefined | null = null

/** The build in defaultDashboardDir(), read once per process. */
export function defaultWebUi(): WebUi | undefined {
  if (defaultUi === null) defaultUi = WebUi.load(defaultDashboardDir())
  return defaultUi
}

export class WebUi {
  readonly #files = new Map<string, Asset>()

  private constructor() {}

  /** The build in `dir`, or undefined when it has not been built (no index.html). */
  static load(dir: string): WebUi | undefined {
    if (!existsSync(join(dir, 'index.html'))) return undefined
    const ui = new WebUi()
    let total = 0
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const path = join(d, name)
        const st = statSync(path)
        if (st.isDirectory()) walk(path)
        else if (
          !name.endsWith('.gz') &&
          !name.endsWith('.br') &&
          TYPES[extname(name)] !== undefined
        ) {
          total += st.size
          if (total > MAX_BUILD_BYTES)
            throw new Error(
              `dashboard build in ${dir} is over 32 MiB: rebuild it with npm run build`
            )
          const body = readFileSync(path)
          const urlPath = '/' + relative(dir, path).split(sep).join('/')
          ui.#files.set(urlPath, {
            body,
            gzip: existsSync(`${path}.gz`) ? readFileSync(`${path}.gz`) : undefined,
            brotli: existsSync(`${path}.br`) ? readFileSync(`${path}.br`) : undefined,
            type: TYPES[extname(name)],
            etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
            immutable: urlPath.startsWith('/assets/'),
          })
        }
      }
    }
    walk(dir)
    return ui
  }

  get(path: string): Asset | undefined {
    return this.#files.get(path)
  }
}

/** The page's security headers: it runs only its own scripts, talks only to this origin, is never framed. */
function pageHeaders(reply: FastifyReply): void {
  void reply.header(
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
  )
  void reply.header('X-Frame-Options', 'DENY')
  void reply.header('Referrer-Policy', 'same-origin')
  void reply.header('X-Content-Type-Options', 'nosniff')
}

function sendPage(reply: FastifyReply, index: Asset) {
  pageHeaders(reply)
  return reply.type(index.type).send(index.body)
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  void reply.header('Vary', 'Accept-Encoding')
  void reply.header('ETag', asset.etag)
  void reply.header('X-Content-Type-Options', 'nosniff')
  void reply.header(
    'Cache-Control',
    asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache'
  )
  if (asset.type.startsWith('text/html')) pageHeaders(reply)
  if (req.headers['if-none-match'] === asset.etag) return reply.status(304).send()
  const accept = String(req.headers['accept-encoding'] ?? '')
  void reply.type(asset.type)
  if (asset.brotli !== undefined && /\bbr\b/.test(accept)) {
    return reply.header('Content-Encoding', 'br').send(asset.brotli)
  }
  if (asset.gzip !== undefined && /\bgzip\b/.test(accept)) {
    return reply.header('Content-Encoding', 'gzip').send(asset.gzip)
  }
  return reply.send(asset.body)
}

/**
 * `/` and the app's pages answer index.html; `/assets/*` the build's files. Without a build, `/`
 * says how to make one.
 */
export function registerWebUi(app: FastifyInstance, ui: WebUi | undefined): void {
  const page = (req: FastifyRequest, reply: FastifyReply) => {
    const index = ui?.get('/index.html')
    if (index === undefined) {
      return reply
        .type('text/plain; charset=utf-8')
        .send(
          "Hello, I'm Peregrine, speaking Falcon+ /api/v1. The dashboard is not built: run `npm run build` (or `npm start`, which builds it) and restart."
        )
    }
    return send(req, reply, index)
  }
  app.get('/', page)
  for (const path of DASHBOARD_PAGES) app.get(path, page)
  // A browser asking for a page that is not one (a mistyped link) gets the app, which says so in the
  // user's language, with the 404 status; every other caller gets Fastify's JSON 404 as before.
  app.setNotFoundHandler((req, reply) => {
    const index = ui?.get('/index.html')
    const wantsPage =
      (req.method === 'GET' || req.method === 'HEAD') &&
      String(req.headers.accept ?? '').includes('text/html') &&
      !req.url.startsWith('/api/')
    if (index !== undefined && wantsPage) {
      void reply.header('Cache-Control', 'no-cache')
      return sendPage(reply.status(404), index)
    }
    return reply.status(404).send({
      message: `Route ${req.method}:${req.url} not found`,
      error: 'Not Found',
      statusCode: 404,
    })
  })
  // The build's files are flat in assets/ (Vite's hashed names).
  app.get('/assets/:file', (req, reply) => {
    const { file } = req.params as { file: string }
    const asset = ui?.get(`/assets/${file}`)
    if (asset === undefined) {
      return reply.status(404).send({ error: `/assets/${file}: no such dashboard file` })
    }
    return send(req, reply, asset)
  })
}
