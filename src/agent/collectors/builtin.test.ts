import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BuiltinItems, type CollectContext, NO_BUILTIN_ITEMS, gauge } from '../collector.js'
import { builtinItemCollectors } from './builtin.js'

const ctxOf = (builtin: BuiltinItems): CollectContext => ({
  proc: '/proc',
  sys: '/sys',
  ifacePrefix: [],
  mountPoints: [],
  builtin,
  hostname: 'web-01',
  now: 0,
})

describe('builtinItemCollectors', () => {
  it('are net.port.listen, proc.num, du.bs and url.check.health', () => {
    assert.deepEqual(
      builtinItemCollectors().map((c) => c.name),
      ['net.port.listen', 'proc.num', 'du.bs', 'url.check.health']
    )
  })

  it('report nothing (and read nothing) when hbs asked for nothing', async () => {
    for (const c of builtinItemCollectors())
      assert.deepEqual(await c.collect(ctxOf(NO_BUILTIN_ITEMS)), [])
  })

  it('live on this machine: ports, this process, a temp dir, local HTTP servers', async () => {
    const tcp = createServer()
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
    const udp = createSocket('udp4')
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
    const spare = createServer()
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve))
    const closed = (spare.address() as AddressInfo).port
    await new Promise<void>((resolve) => spare.close(() => resolve()))
    const http = createHttpServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 3000).unref()
      else res.writeHead(req.url === '/ok' ? 200 : 500).end()
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-builtin-'))
    try {
      mkdirSync(join(dir, 'sub'))
      writeFileSync(join(dir, 'a'), Buffer.alloc(4000))
      writeFileSync(join(dir, 'sub', 'b'), Buffer.alloc(96))
      const duBytes = 4000 + 96 + statSync(dir).size + statSync(join(dir, 'sub')).size
      const tcpPort = (tcp.address() as AddressInfo).port
      const udpPort = udp.address().port
      const web = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
      const name = readFileSync('/proc/self/status', 'utf8').split('\n')[0].slice(5).trim()
      const items: BuiltinItems = {
        ports: [tcpPort, udpPort, closed],
        procs: [`name=${name}`, 'name=no-such-process-x'],
        duPaths: [dir, join(dir, 'missing')],
        urls: [`url=${web}/ok,timeout=2`, `url=${web}/err,timeout=2`, `url=${web}/slow,timeout=1`],
      }
      const [ports, procs, du, url] = builtinItemCollectors({ du: { waitMs: 10_000 } })
      assert.deepEqual(await ports.collect(ctxOf(items)), [
        gauge('net.port.listen', 1, `port=${tcpPort}`),
        gauge('net.port.listen', 1, `port=${udpPort}`),
        gauge('net.port.listen', 0, `port=${closed}`),
      ])
      const [self, none] = await procs.collect(ctxOf(items))
      assert.equal(self.metric, 'proc.num')
      assert.equal(self.tags, `name=${name}`)
      assert.ok(self.value >= 1)
      assert.deepEqual(none, gauge('proc.num', 0, 'name=no-such-process-x'))
      assert.deepEqual(await du.collect(ctxOf(items)), [
        gauge('du.bs', duBytes, `path=${dir}`),
        gauge('du.bs', -1, `path=${join(dir, 'missing')}`),
      ])
      assert.deepEqual(await url.collect(ctxOf(items)), [
        gauge('url.check.health', 1, `url=${web}/ok,timeout=2,src=web-01`),
        gauge('url.check.health', 0, `url=${web}/err,timeout=2,src=web-01`),
        gauge('url.check.health', 0, `url=${web}/slow,timeout=1,src=web-01`),
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
      udp.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  })
})
