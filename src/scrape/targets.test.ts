import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileGroups } from './targets.js'

describe('FileGroups', () => {
  it('reads a file again when it changed, even with its modification time set back (cp -p, rsync -a)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-file-sd-'))
    try {
      const file = join(dir, 'sd.json')
      writeFileSync(file, JSON.stringify([{ targets: ['a:1'] }]))
      const { atime, mtime } = statSync(file)
      const groups = new FileGroups()
      assert.deepEqual(
        groups.read([file]).map((g) => g.targets),
        [['a:1']]
      )
      writeFileSync(file, JSON.stringify([{ targets: ['b:2'] }]))
      utimesSync(file, atime, mtime)
      assert.deepEqual(
        groups.read([file]).map((g) => g.targets),
        [['b:2']]
      )
      // A file that no longer parses keeps its last good targets, and says why.
      writeFileSync(file, '[{')
      assert.deepEqual(
        groups.read([file]).map((g) => g.targets),
        [['b:2']]
      )
      assert.ok(groups.errors.has(file))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
