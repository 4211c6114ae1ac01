// Every package the lockfile installs runs on the oldest Node that package.json's `engines` allows, so
// `npm ci` prints no EBADENGINE warning there and no dependency reaches for an API that Node lacks.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

type Version = [number, number, number]

// A version as ranges write it: `20`, `20.19`, `20.x`, `20.19.0`; the parts left out are 0.
function parseVersion(text: string): Version {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text)
  if (m === null) throw new Error(`unsupported version "${text}"`)
  const n = (s: string | undefined) => (s === undefined || s === 'x' || s === '*' ? 0 : Number(s))
  return [Number(m[1]), n(m[2]), n(m[3])]
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
}

// How many parts a partial version gives (`20` one, `20.19` and `20.19.x` two), for ^, ~ and bare ranges.
function partsGiven(text: string): number {
  return text.split('.').filter((p) => p !== 'x' && p !== '*').length
}

/**
 * satisfies answers whether `v` is in `range`, for the node-semver forms package engines use: `||`
 * alternatives of space-separated comparators, each `*`, `>=`, `>`, `<=`, `<`, `=`, `^`, `~` or a bare
 * (possibly partial or x) version. Anything else throws, so the test cannot pass by not understanding.
 */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    if (/\s-\s/.test(alternative)) throw new Error(`unsupported hyphen range in "${range}"`)
    return alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .every((c) => {
        if (c === '' || c === '*' || c === 'x') return true
        const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(c)
        if (m === null) throw new Error(`unsupported comparator "${c}" in "${range}"`)
        const [, op = '', text] = m
        const low = parseVersion(text)
        const given = partsGiven(text)
        const upper = (): Version =>
          op === '^'
            ? low[0] > 0 || given === 1
              ? [low[0] + 1, 0, 0]
              : [0, low[1] + 1, 0]
            : given === 1
              ? [low[0] + 1, 0, 0]
              : given === 2 || op === '~'
                ? [low[0], low[1] + 1, 0]
                : [low[0], low[1], low[2] + 1]
        switch (op) {
          case '>=':
            return compare(v, low) >= 0
          case '<':
            return compare(v, low) < 0
          case '>':
            if (given < 3) throw new Error(`unsupported partial "${c}" in "${range}"`)
            return compare(v, low) > 0
          case '<=':
            if (given < 3) throw new Error(`unsupported partial "${c}" in "${range}"`)
            return compare(v, low) <= 0
          default:
            // '', '=', '^', '~': from the version up to (not including) the next one its form allows.
            return compare(v, low) >= 0 && compare(v, upper()) < 0
        }
      })
  })
}

describe('engines', () => {
  it('reads ranges as npm does', () => {
    const f = (v: string, range: string, want: boolean) => {
      assert.equal(satisfies(parseVersion(v), range), want, `${v} in ${range}`)
    }
    f('20.19.0', '>=20.19', true)
    f('20.18.3', '>=20.19', false)
    f('20.19.0', '>=22', false)
    f('20.19.0', '>= 18', true)
    f('20.19.0', '^18.18.0 || ^20.9.0 || >=21.1.0', true)
    f('20.19.0', '^20.19.0 || ^22.13.0 || >=24', true)
    f('20.19.0', '^22.13.0 || >=24', false)
    f('20.19.0', '18 || 20 || >=22', true)
    f('20.19.0', '20.x || 22.x', true)
    f('21.0.0', '20.x || 22.x', false)
    f('20.19.0', '~20.18.0', false)
    f('0.3.1', '^0.3.0', true)
    f('0.4.0', '^0.3.0', false)
    f('20.19.0', '*', true)
    assert.throws(() => satisfies([20, 0, 0], '1.0.0 - 2.0.0'), /unsupported/)
  })

  it('every package in package-lock.json runs on the oldest Node package.json allows', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string }
    }
    const floor = /^>=\s*(\S+)$/.exec(pkg.engines.node)
    assert.ok(
      floor !== null,
      `package.json engines.node: expected ">=X.Y", got ${pkg.engines.node}`
    )
    const oldest = parseVersion(floor[1])
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; engines?: { node?: unknown } }>
    }
    const refused: string[] = []
    for (const [path, p] of Object.entries(lock.packages)) {
      const node = p.engines?.node
      if (typeof node !== 'string') continue
      if (!satisfies(oldest, node)) {
        refused.push(`${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${node}`)
      }
    }
    assert.deepEqual(refused, [], `on Node ${oldest.join('.')} (package.json engines)`)
  })
})
