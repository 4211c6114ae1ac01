// bench/series-memory.ts and bench/parse-push.ts run to their JSON line on a tiny load.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench')

function lastJson(script: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [join(BENCH, script), ...args], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>
}

describe('bench/series-memory', () => {
  it('pushes series to a fresh server and prints its memory per series', () => {
    const f = lastJson('series-memory.js', ['--series', '1000', '--points', '2'])
    assert.equal(f.bench, 'series_memory')
    assert.equal(f.series, 1000)
    assert.equal(f.points, 2)
    assert.equal(typeof f.kb_per_series, 'number')
    assert.ok((f.rss_after_mb as number) > 0)
  })

  it('refuses a bad flag with a sentence and exit 2', () => {
    const r = spawnSync(process.execPath, [join(BENCH, 'series-memory.js'), '--points', '0'], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /--points must be an integer from 1 to 240/)
  })
})

describe('bench/parse-push', () => {
  it('parses the pushes both ways and prints the rates', () => {
    const f = lastJson('parse-push.js', ['--rounds', '1'])
    assert.equal(f.bench, 'parse_push')
    assert.ok((f.whole_items_per_s as number) > 0)
    assert.ok((f.pieces_items_per_s as number) > 0)
    assert.equal(f.body_bytes, 141304)
  })
})
