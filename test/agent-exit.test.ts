// The agent's /config/reload and /exit in real processes: beside the servers of an all-in-one they
// reload and stop the agent and nothing else; alone in `peregrine start agent`, /exit ends the
// process, as falcon-agent does.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { waitUntil } from '../src/core/index.js'
import { type PeregrineProcess, startPeregrine } from './support/peregrine-process.js'

/** refuses tells whether nothing listens on `address` any more. */
function refuses(address: string): Promise<boolean> {
  const colon = address.lastIndexOf(':')
  return new Promise((resolve) => {
    const s = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', () => resolve(true))
  })
}

/** stderrOf collects what the process writes to stderr from now on. */
function stderrOf(p: PeregrineProcess): { text: string } {
  const out = { text: '' }
  p.child.stderr?.on('data', (d: string) => (out.text += d))
  return out
}

describe('the agent’s /config/reload and /exit in an all-in-one', () => {
  let dir = ''
  let aio: PeregrineProcess
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-agent-exit-'))
    aio = await startPeregrine(dir, [])
  })
  after(async () => {
    await aio.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reloads the agent alone: the process and its servers go on', async () => {
    const agent = aio.addresses.agent.http
    const res = await fetch(`http://${agent}/config/reload`)
    const body = (await res.json()) as { msg?: string }
    assert.equal(body.msg, 'success', JSON.stringify(body))
    assert.equal(aio.child.exitCode, null)
    assert.equal(await (await fetch(`http://${aio.addresses.api.http}/health`)).text(), 'ok')
    assert.equal(await (await fetch(`http://${agent}/health`)).text(), 'ok')
  })

  it('stops the agent alone: the process and its servers go on', async () => {
    const log = stderrOf(aio)
    const agent = aio.addresses.agent.http
    const res = await fetch(`http://${agent}/exit`)
    assert.equal(await res.text(), 'exiting...')
    // Either the agent stops by itself, or (the fault this guards against) the whole process ends.
    await waitUntil(
      () => log.text.includes('agent stopped by /exit') || aio.child.exitCode !== null,
      'the agent to stop'
    )
    assert.equal(aio.child.exitCode, null, `the process ended:\n${log.text}`)
    assert.equal(await refuses(agent), true, 'the agent still listens')
    const api = await fetch(`http://${aio.addresses.api.http}/health`)
    assert.equal(await api.text(), 'ok')
    const push = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
      method: 'POST',
      body: JSON.stringify([
        {
          endpoint: 'h',
          metric: 'm',
          value: 1,
          step: 60,
          counterType: 'GAUGE',
          tags: '',
          timestamp: Math.floor(Date.now() / 1000),
        },
      ]),
    })
    assert.equal(push.status, 200, await push.text())
    // The runner stops the agent again at the end, which must be harmless.
    assert.equal(await aio.stop(), 0, log.text)
  })
})

describe('the agent’s /exit in `peregrine start agent`', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-agent-alone-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('ends the process, as falcon-agent does', async () => {
    const agent = await startPeregrine(dir, ['agent'], {
      agent: { heartbeat: { enabled: false }, transfer: { enabled: false } },
    })
    try {
      const res = await fetch(`http://${agent.addresses.agent.http}/exit`)
      assert.equal(await res.text(), 'exiting...')
      await waitUntil(() => agent.child.exitCode !== null, 'the agent process to end')
      assert.equal(agent.child.exitCode, 0)
    } finally {
      await agent.stop()
    }
  })
})
