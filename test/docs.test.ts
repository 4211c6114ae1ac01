// The documentation stands on its own in a clone: every relative link in the repository's Markdown
// (README.md, docs/, bench/, notes beside the code) names a file inside the repository that exists,
// and a `#fragment` into a Markdown file names one of its headings.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
// Not part of the documentation: installed packages, build output, data and VCS internals.
const SKIP = new Set(['node_modules', 'dist', 'data', '.git'])

function markdownFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...markdownFiles(path))
    else if (name.endsWith('.md')) out.push(path)
  }
  return out
}

// Code is not prose: a `[x](y)` or a `# line` inside a fence is neither a link nor a heading.
function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
}

// Nor is a `[x](y)` inside a code span.
function withoutCode(text: string): string {
  return withoutFences(text).replace(/`[^`\n]*`/g, '')
}

/** links returns the targets of inline links and images and of reference definitions. */
function links(markdown: string): string[] {
  const text = withoutCode(markdown)
  const out: string[] = []
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1])
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm)) out.push(m[1])
  return out
}

/** slug is GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of withoutFences(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'))
    // A repeated heading gets -1, -2, ... as GitHub numbers them.
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** problems lists what is wrong with each relative link of `file`, as `file: target: why`. */
function problems(file: string): string[] {
  const out: string[] = []
  const name = relative(ROOT, file)
  for (const target of links(readFileSync(file, 'utf8'))) {
    // Absolute URLs (http:, https:, mailto:) are the web's; only paths inside the repository are ours.
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
    const [pathPart, fragment] = target.split('#', 2)
    const path = decodeURIComponent(pathPart.split('?')[0])
    if (path.startsWith('/')) {
      out.push(`${name}: ${target}: an absolute path (write it relative to ${name})`)
      continue
    }
    const to = path === '' ? file : resolve(dirname(file), path)
    if (to !== ROOT && !to.startsWith(ROOT + sep)) {
      out.push(`${name}: ${target}: leaves the repository`)
      continue
    }
    if (!existsSync(to)) {
      out.push(`${name}: ${target}: no such file`)
      continue
    }
    if (fragment !== undefined && to.endsWith('.md') && !anchorsOf(to).has(fragment)) {
      out.push(`${name}: ${target}: no heading #${fragment} in ${relative(ROOT, to)}`)
    }
  }
  return out
}

describe('documentation links', () => {
  it('finds links as Markdown writes them, and not inside code', () => {
    assert.deepEqual(
      links(
        [
          'See [a](docs/a.md), ![img](x.png "t") and [b](<b.md>).',
          '`[not](code.md)`',
          '```',
          '[nor](fenced.md)',
          '```',
          '[ref]: ../outside.md',
        ].join('\n')
      ),
      ['docs/a.md', 'x.png', 'b.md', '../outside.md']
    )
    assert.equal(
      slug('Options (`TsdbOptions`, defaults in `defaultTsdbOptions`)'),
      'options-tsdboptions-defaults-in-defaulttsdboptions'
    )
  })

  it('README.md and docs/*.md are among the files checked', () => {
    const files = markdownFiles(ROOT).map((f) => relative(ROOT, f))
    assert.ok(files.includes('README.md'))
    assert.ok(files.some((f) => f.startsWith(`docs${sep}`)))
  })

  it('every relative link names a file inside the repository that exists', () => {
    assert.deepEqual(markdownFiles(ROOT).flatMap(problems), [])
  })
})
