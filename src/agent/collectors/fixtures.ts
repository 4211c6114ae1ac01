// Test support: where the /proc and /sys fixture sets are (see fixtures/README.md). Tests also run
// compiled from dist/, so the directory is found from the one holding package.json.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CollectContext, NO_BUILTIN_ITEMS } from '../collector.js'

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

/**
 * fixtureContext is a collection context reading fixture set `set` (e.g. `linux-6.18`) as the host's
 * /proc and /sys, with no interface or mount filter, no builtin items, hostname `host` and time 0.
 */
export function fixtureContext(set: string, over: Partial<CollectContext> = {}): CollectContext {
  return {
    proc: join(FIXTURES, set, 'proc'),
    sys: join(FIXTURES, set, 'sys'),
    ifacePrefix: [],
    mountPoints: [],
    builtin: NO_BUILTIN_ITEMS,
    hostname: 'host',
    now: 0,
    ...over,
  }
}
