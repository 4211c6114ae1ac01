import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliCompressSync, brotliDecompressSync, gzipSync } from 'node:zlib'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { registerWebUi, WebUi } from './web-ui.js'

describe('serving the dashboard build', () => {
  let dir = ''
  let app: FastifyInstance
  const html = '<!doctype html><script type="module" src="/assets/index-abc.js"></script>'
  const js = 'console.log("peregrine")'.repeat(50)

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-webui-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), html)
    writeFileSync(join(dir, 'assets', 'index-abc.js'), js)
    writeFileSync(join(dir, 'assets', 'index-abc.js.gz'), gzipSync(js))
    writeFileSync(join(dir, 'assets', 'index-abc.js.br'), brotliCompressSync(js))
    writeFileSync(join(dir, 'assets', 'notes.txt'), 'not served: no known type')
    app = Fastify()
    registerWebUi(app, WebUi.load(dir))
    await app.ready()
  })
  after(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers the page at / and at every page of the app, revalidated each time, framed by nobody', async () => {
    for (const url of [
      '/',
      '/charts?e=web-01',
      '/login',
      '/config/hostgroups/3',
      '/alarms/case?id=s_1',
      '/screens/4',
    ]) {
      const r = await app.inject({ url })
      assert.equal(r.statusCode, 200, url)
      assert.equal(r.body, html)
      assert.equal(r.headers['cache-control'], 'no-cache')
      assert.match(String(r.headers['content-type']), /^text\/html/)
      assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/)
      assert.equal(r.headers['x-frame-options'], 'DENY')
    }
    // A mistyped page: a browser gets the app (which says there is no such page) with a 404; other
    // callers, and any /api/ path, Fastify's JSON 404.
    const typo = await app.inject({
      url: '/nope',
      headers: { accept: 'text/html,application/xhtml+xml' },
    })
    assert.equal(typo.statusCode, 404)
    assert.equal(typo.body, html)
    assert.match(String(typo.headers['content-security-policy']), /frame-ancestors 'none'/)
    for (const [url, accept] of [
      ['/nope', '*/*'],
      ['/config/a/b/c', 'application/json'],
      ['/config/whatever', 'application/json'],
      ['/api/v1/nope', 'text/html'],
    ]) {
      const r = await app.inject({ url, headers: { accept } })
      assert.equal(r.statusCode, 404, url)
      assert.equal(r.json<{ error: string }>().error, 'Not Found')
    }
    const post = await app.inject({
      method: 'POST',
      url: '/charts',
      headers: { accept: 'text/html' },
    })
    assert.equal(post.statusCode, 404)
    assert.equal(post.json<{ error: string }>().error, 'Not Found')
  })

  it('serves hashed assets for a year, in the encoding the browser takes', async () => {
    const br = await app.inject({
      url: '/assets/index-abc.js',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    })
    assert.equal(br.statusCode, 200)
    assert.equal(br.headers['content-encoding'], 'br')
    assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable')
    assert.equal(br.headers.vary, 'Accept-Encoding')
    assert.equal(brotliDecompressSync(br.rawPayload).toString(), js)
    const gz = await app.inject({
      url: '/assets/index-abc.js',
      headers: { 'accept-encoding': 'gzip' },
    })
    assert.equal(gz.headers['content-encoding'], 'gzip')
    const plain = await app.inject({ url: '/assets/index-abc.js' })
    assert.equal(plain.headers['content-encoding'], undefined)
    assert.equal(plain.body, js)
    const again = await app.inject({
      url: '/assets/index-abc.js',
      headers: { 'if-none-match': String(plain.headers.etag) },
    })
    assert.equal(again.statusCode, 304)
    assert.equal(again.body, '')
  })

  it('answers 404 for files that are not in the build or of no known type, and never leaves it', async () => {
    for (const url of [
      '/assets/missing.js',
      '/assets/notes.txt',
      '/assets/..%2Findex.html',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    ]) {
      const r = await app.inject({ url })
      assert.equal(r.statusCode, 404, url)
      assert.match(r.json<{ error: string }>().error, /no such dashboard file/)
    }
  })

  it('says how to build the dashboard when there is no build', async () => {
    const bare = Fastify()
    registerWebUi(bare, WebUi.load(join(dir, 'nothing-here')))
    const r = await bare.inject({ url: '/' })
    assert.equal(r.statusCode, 200)
    assert.match(r.body, /The dashboard is not built: run `npm run build`/)
    await bare.close()
  })
})
