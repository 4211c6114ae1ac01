// Enforces the dependency rule of docs/architecture.md (Layering): core imports nothing in src/, libraries import core and
// each other's index.ts, apps never import another app, and other areas import only an area's index.ts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// Compiled to dist/test/, the sources are two levels up.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SRC = join(ROOT, 'src')
const LIBRARIES = new Set([
  'core',
  'tsdb',
  'store',
  'queue',
  'promql',
  'cluster',
  'ingest',
  'spool',
])
const ENTRY_POINTS = new Set(['cli'])

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sources(path))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

function areaOf(file: string): string {
  return relative(SRC, file).split(sep)[0]
}

describe('layering', () => {
  it('keeps every import inside the rules', () => {
    const problems: string[] = []
    for (const file of sources(SRC)) {
      const from = areaOf(file)
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
        const target = resolve(dirname(file), m[1])
        if (!target.startsWith(SRC + sep)) continue
        const to = areaOf(target)
        if (to === from) continue
        const where = `${relative(ROOT, file)} imports ${m[1]}`
        if (from === 'core') problems.push(`${where}: core imports nothing else in src/`)
        else if (!LIBRARIES.has(to)) {
          if (!ENTRY_POINTS.has(from))
            problems.push(`${where}: ${to} is an app; apps meet over the network`)
        } else if (to !== 'core' && !target.endsWith(`${sep}${to}${sep}index.js`)) {
          problems.push(`${where}: import ${to}/index.js, not its internals`)
        }
      }
    }
    assert.deepEqual(problems, [])
  })

  it('finds the sources it checks', () => {
    assert.ok(sources(SRC).length > 10)
  })
})
