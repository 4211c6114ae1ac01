import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gauge } from '../collector.js'
import { parseUrlItems, probeUrl, urlSamples } from './url.js'

function hasCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

// falcon's probe, run for real: ok when curl exits 0 and prints exactly 200.
function curlProbe(url: string, timeout: string): Promise<boolean> {
  const args = ['--max-filesize', '102400', '-I', '-m', timeout, '-o', '/dev/null', '-s']
  return new Promise((resolve) => {
    execFile('curl', [...args, '-w', '%{http_code}', url], (err, stdout) =>
      resolve(err === null && stdout.trim() === '200')
    )
  })
}

describe('parseUrlItems', () => {
  it('takes url=<u>,timeout=<n> as falcon’s cron/builtin.go does', () => {
    assert.deepEqual(
      parseUrlItems([
        'url=http://a/health,timeout=3',
        'url=http://b/,timeout=5,extra=1', // three parts
        'url=http://c/?x=1,timeout=3', // '=' in the URL
        'url=http://d/,timeout=soon',
        'url=http://e/,timeout= 3',
        'link=http://f/,t=-2', // only the shape counts, not the keys
        'url=http://a/health,timeout=9', // a repeated URL keeps its place, takes the last timeout
        'url=http://g/',
      ]),
      [
        { url: 'http://a/health', timeout: '9' },
        { url: 'http://f/', timeout: '-2' },
      ]
    )
  })
})

describe('probeUrl', () => {
  let server: Server
  let base = ''
  const methods: string[] = []
  before(async () => {
    server = createServer((req, res) => {
      methods.push(req.method ?? '')
      switch (req.url ?? '') {
        case '/ok':
          res.writeHead(200, { 'content-length': '100' }).end()
          break
        case '/big':
          res.writeHead(200, { 'content-length': '200000' }).end()
          break
        case '/edge':
          res.writeHead(200, { 'content-length': '102400' }).end()
          break
        case '/moved':
          res.writeHead(301, { location: '/ok' }).end()
          break
        case '/slow':
          setTimeout(() => res.writeHead(200).end(), 3000).unref()
          break
        default:
          res.writeHead(500).end()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    server.close()
  })

  it('is true only for 200, with HEAD, without following redirects', async () => {
    methods.length = 0
    assert.equal(await probeUrl(`http://${base}/ok`, '3', 60_000), true)
    assert.equal(await probeUrl(`http://${base}/fail`, '3', 60_000), false)
    assert.equal(await probeUrl(`http://${base}/moved`, '3', 60_000), false)
    assert.deepEqual(methods, ['HEAD', 'HEAD', 'HEAD'])
  })

  it('fails a 200 whose Content-Length is over curl’s --max-filesize 102400', async () => {
    assert.equal(await probeUrl(`http://${base}/big`, '3', 60_000), false)
    assert.equal(await probeUrl(`http://${base}/edge`, '3', 60_000), true)
  })

  it('times out after `timeout` seconds; 0 is no limit but maxMs; negative fails', async () => {
    let t = Date.now()
    assert.equal(await probeUrl(`http://${base}/slow`, '1', 60_000), false)
    assert.ok(Date.now() - t < 2500, `took ${Date.now() - t} ms`)
    t = Date.now()
    assert.equal(await probeUrl(`http://${base}/slow`, '0', 200), false)
    assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms`)
    assert.equal(await probeUrl(`http://${base}/ok`, '0', 60_000), true)
    assert.equal(await probeUrl(`http://${base}/ok`, '-1', 60_000), false)
  })

  it('takes a URL without a scheme as http, as curl does; other schemes and errors are false', async () => {
    assert.equal(await probeUrl(`${base}/ok`, '3', 60_000), true)
    assert.equal(await probeUrl(`ftp://${base}/ok`, '3', 60_000), false)
    assert.equal(await probeUrl('http://[not a host', '3', 60_000), false)
    const refused = createServer()
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve))
    const port = (refused.address() as AddressInfo).port
    await new Promise<void>((resolve) => refused.close(() => resolve()))
    assert.equal(await probeUrl(`http://127.0.0.1:${port}/`, '3', 60_000), false)
  })

  it('agrees with falcon’s real curl command', async (t) => {
    if (!hasCurl()) return t.skip('curl is not installed')
    for (const u of [`http://${base}/ok`, `http://${base}/fail`, `http://${base}/moved`]) {
      assert.equal(await probeUrl(u, '3', 60_000), await curlProbe(u, '3'), u)
    }
    for (const u of [`http://${base}/big`, `http://${base}/edge`, `${base}/ok`]) {
      assert.equal(await probeUrl(u, '3', 60_000), await curlProbe(u, '3'), u)
    }
  })

  it('urlSamples tags each item url=<u>,timeout=<s>,src=<hostname>', async () => {
    const items = parseUrlItems([
      `url=http://${base}/ok,timeout=2`,
      `url=http://${base}/e,timeout=2`,
    ])
    assert.deepEqual(await urlSamples(items, 'web-01', 60_000), [
      gauge('url.check.health', 1, `url=http://${base}/ok,timeout=2,src=web-01`),
      gauge('url.check.health', 0, `url=http://${base}/e,timeout=2,src=web-01`),
    ])
    assert.deepEqual(await urlSamples([], 'web-01', 60_000), [])
  })
})
