// Test support: where the /proc and /sys fixture sets are (see fixtures/README.md). Tests also run
// compiled from dist/, so the directory is found from the one holding package.json.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error('BUG: no package.json above the agent sources')
    dir = dirname(dir)
  }
  return join(dir, 'src', 'agent', 'collectors', 'fixtures')
}

/** FIXTURES is the absolute path of src/agent/collectors/fixtures. */
export const FIXTURES = fixturesDir()
