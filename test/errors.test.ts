// The error catalogue and its page agree: every code in src/core/errors.ts has a row in docs/errors.md,
// every row there is a code, and every code the sources, docs or benches name is in the catalogue.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// Compiled to dist/test/, the sources are two levels up.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CODE = /\bPG_[A-Z][A-Z0-9_]*\b/g

/** catalogue returns the codes of the `ErrorCode` union, in its order. */
function catalogue(source: string): string[] {
  const start = source.indexOf('export type ErrorCode =')
  assert.ok(start >= 0, 'src/core/errors.ts declares export type ErrorCode')
  const out: string[] = []
  for (const line of source.slice(start).split('\n').slice(1)) {
    const m = /^\s*\|\s*'(PG_[A-Z0-9_]+)'\s*$/.exec(line)
    if (m === null) break
    out.push(m[1])
  }
  return out
}

/** documented returns the codes that open a row of a Markdown table (`| \`PG_X\` | ...`). */
function documented(markdown: string): string[] {
  return [...markdown.matchAll(/^\|\s*`(PG_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1])
}

function files(dir: string, ext: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...files(path, ext))
    else if (name.endsWith(ext)) out.push(path)
  }
  return out
}

/** mentions lists every code named in `file` as `file:line: code`, with the code apart. */
function mentions(file: string): { where: string; code: string }[] {
  const out: { where: string; code: string }[] = []
  const lines = readFileSync(file, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    for (const m of lines[i].matchAll(CODE)) {
      out.push({ where: `${relative(ROOT, file)}:${i + 1}`, code: m[0] })
    }
  }
  return out
}

const duplicates = (list: string[]) => list.filter((c, i) => list.indexOf(c) !== i)

describe('error catalogue', () => {
  const codes = catalogue(readFileSync(join(ROOT, 'src', 'core', 'errors.ts'), 'utf8'))
  const rows = documented(readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8'))

  it('reads the union and the table as they are written', () => {
    assert.deepEqual(
      catalogue("x\nexport type ErrorCode =\n  | 'PG_A_B'\n  | 'PG_C_D'\n\n  | 'PG_NOT_IN'"),
      ['PG_A_B', 'PG_C_D']
    )
    assert.deepEqual(
      documented('| code | status |\n| --- | --- |\n| `PG_A_B` | 400 |\n`PG_NOT_A_ROW` |'),
      ['PG_A_B']
    )
    assert.ok(codes.length > 10, `${codes.length} codes found in src/core/errors.ts`)
  })

  it('lists each code once, and docs/errors.md gives each one row', () => {
    assert.deepEqual(duplicates(codes), [], 'codes twice in ErrorCode')
    assert.deepEqual(duplicates(rows), [], 'codes with two rows in docs/errors.md')
  })

  it('has a row in docs/errors.md for every code in src/core/errors.ts', () => {
    assert.deepEqual(
      codes.filter((c) => !rows.includes(c)),
      [],
      'codes without a row in docs/errors.md'
    )
  })

  it('has a code in src/core/errors.ts for every row of docs/errors.md', () => {
    assert.deepEqual(
      rows.filter((c) => !codes.includes(c)),
      [],
      'rows of docs/errors.md that are not in ErrorCode'
    )
  })

  it('names only catalogued codes in src/, docs/, bench/ and the README', () => {
    const named = [
      ...files(join(ROOT, 'src'), '.ts'),
      ...files(join(ROOT, 'bench'), '.ts'),
      ...files(join(ROOT, 'docs'), '.md'),
      join(ROOT, 'README.md'),
    ].flatMap(mentions)
    assert.ok(named.some((n) => n.where.startsWith('src')))
    assert.deepEqual(
      named.filter((n) => !codes.includes(n.code)).map((n) => `${n.where}: ${n.code}`),
      [],
      'codes not in the ErrorCode catalogue of src/core/errors.ts'
    )
  })
})
