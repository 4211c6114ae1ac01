import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gauge } from '../collector.js'
import { DuCache, type DuOptions, defaultDuOptions, runDu } from './du.js'

// A temp dir holding a/ (1000 bytes) and sub/b (2345 bytes), and fake du scripts.
function setup(): { dir: string; tree: string; script: (name: string, body: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-du-'))
  const tree = join(dir, 'tree')
  mkdirSync(join(tree, 'sub'), { recursive: true })
  writeFileSync(join(tree, 'a'), Buffer.alloc(1000))
  writeFileSync(join(tree, 'sub', 'b'), Buffer.alloc(2345))
  const script = (name: string, body: string) => {
    const path = join(dir, name)
    writeFileSync(path, `#!/bin/sh\n${body}\n`)
    chmodSync(path, 0o755)
    return path
  }
  return { dir, tree, script }
}
const opts = (o: Partial<DuOptions>): DuOptions => ({ ...defaultDuOptions, ...o })

describe('runDu', () => {
  it('reports du -bs: apparent bytes of the files and the directories themselves', async () => {
    const { dir, tree } = setup()
    try {
      // du -b counts each directory's own st_size too (4096 on ext4, other sizes elsewhere).
      const want = 1000 + 2345 + statSync(tree).size + statSync(join(tree, 'sub')).size
      assert.equal(await runDu(tree, defaultDuOptions), want)
      assert.equal(await runDu(join(tree, 'a'), defaultDuOptions), 1000)
    } finally {
      // A du this test started may still be writing in dir: removal retries until it is done.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  })

  it('reports -1 for a missing path, a missing du, stderr output, bad output or a timeout', async () => {
    const { dir, tree, script } = setup()
    try {
      assert.equal(await runDu(join(tree, 'no-such-dir'), defaultDuOptions), -1)
      assert.equal(await runDu(tree, opts({ command: join(dir, 'no-such-du') })), -1)
      // a partial total with an error (an unreadable subdirectory) is -1, as in falcon
      const partial = script('partial', 'echo "123\t$2"; echo "du: cannot read" >&2')
      assert.equal(await runDu(tree, opts({ command: partial })), -1)
      assert.equal(await runDu(tree, opts({ command: script('one', 'echo 123') })), -1)
      assert.equal(await runDu(tree, opts({ command: script('nan', 'echo "x12 $2"') })), -1)
      assert.equal(await runDu(tree, opts({ command: script('neg', 'echo "-5 $2"') })), -1)
      assert.equal(await runDu(tree, opts({ command: script('fail', 'echo "5 $2"; exit 1') })), -1)
      const slow = script('slow', 'exec sleep 5')
      const started = Date.now()
      assert.equal(await runDu(tree, opts({ command: slow, timeoutMs: 200 })), -1)
      assert.ok(Date.now() - started < 4000, 'the slow du was killed at its timeout')
      assert.equal(await runDu(tree, opts({ command: script('ok', 'echo "77\t$2"') })), 77)
    } finally {
      // A du this test started may still be writing in dir: removal retries until it is done.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  })
})

describe('DuCache', () => {
  it('reports each path once it has a value, -1 for a missing one', async () => {
    const { dir, tree } = setup()
    try {
      const cache = new DuCache(opts({ waitMs: 10_000 }))
      const missing = join(dir, 'missing')
      const want = 1000 + 2345 + statSync(tree).size + statSync(join(tree, 'sub')).size
      assert.deepEqual(await cache.collect([tree, missing, tree]), [
        gauge('du.bs', want, `path=${tree}`),
        gauge('du.bs', -1, `path=${missing}`),
      ])
      assert.deepEqual(await cache.collect([]), [])
    } finally {
      // A du this test started may still be writing in dir: removal retries until it is done.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  })

  it('a slow du never holds a cycle past waitMs: the last finished value is reported', async () => {
    const { dir, tree, script } = setup()
    try {
      // Each run prints how many runs came before it, after 300 ms.
      const counter = join(dir, 'runs')
      writeFileSync(counter, '0')
      const slow = script(
        'slow',
        `n=$(cat ${counter}); echo $((n + 1)) > ${counter}; sleep 0.3; echo "$n\t$2"`
      )
      const cache = new DuCache(opts({ command: slow, waitMs: 20 }))
      let t = Date.now()
      assert.deepEqual(await cache.collect([tree]), [], 'no value yet')
      assert.ok(Date.now() - t < 250)
      // A cycle while the first run goes on starts no second run and still has nothing.
      assert.deepEqual(await cache.collect([tree]), [])
      await new Promise((resolve) => setTimeout(resolve, 500))
      t = Date.now()
      assert.deepEqual(await cache.collect([tree]), [gauge('du.bs', 0, `path=${tree}`)])
      assert.ok(Date.now() - t < 250)
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.deepEqual(await cache.collect([tree]), [gauge('du.bs', 1, `path=${tree}`)])
    } finally {
      // A du this test started may still be writing in dir: removal retries until it is done.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  })

  it('forgets a path no longer asked for, with its last value', async () => {
    const { dir, tree, script } = setup()
    try {
      const slow = script('slow', 'sleep 0.2; echo "9\t$2"')
      const cache = new DuCache(opts({ command: slow, waitMs: 20 }))
      assert.deepEqual(await cache.collect([tree]), [])
      await new Promise((resolve) => setTimeout(resolve, 400))
      assert.deepEqual(await cache.collect([tree]), [gauge('du.bs', 9, `path=${tree}`)])
      assert.deepEqual(await cache.collect([dir]), [])
      // Asked again, the path starts afresh: no value until its new run ends.
      assert.deepEqual(await cache.collect([tree]), [])
    } finally {
      // A du this test started may still be writing in dir: removal retries until it is done.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  })
})
