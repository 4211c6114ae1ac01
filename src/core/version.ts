// Peregrine's version, as package.json gives it: what `peregrine --version` prints and `/version` answers.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** VERSION is package.json's `version`, read once when core is first imported. */
export const VERSION: string = packageVersion()

// The nearest package.json above this file (in src/core, or dist/src/core once built).
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }
      return typeof version === 'string' ? version : 'unknown'
    }
    if (dirname(dir) === dir) return 'unknown'
  }
}
