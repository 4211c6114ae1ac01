// bench/ingest.ts runs to its JSON line: a tiny dataset through a real server, pushes, login and history.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'ingest.js')

describe('bench/ingest', () => {
  it('pushes, reads history back through api and prints its figures as one JSON line', () => {
    const r = spawnSync(
      process.execPath,
      [BENCH, '--series', '20', '--points', '5', '--clients', '2', '--batch', '10'],
      { encoding: 'utf8' }
    )
    assert.equal(r.status, 0, r.stderr)
    const last = r.stdout.trim().split('\n').at(-1) ?? ''
    const figures = JSON.parse(last) as Record<string, unknown>
    assert.equal(figures.bench, 'ingest')
    assert.equal(figures.points_per_phase, 100)
    assert.equal(figures.components, 'graph,transfer,api')
    assert.ok((figures.http_points_per_s as number) > 0)
    assert.ok((figures.history_1series_24h_p50_ms as number) > 0)
    // Shuffled batches included: nothing acknowledged is lost.
    assert.equal(figures.acked_points_lost, 0)
    assert.equal(figures.shuffled_points_missing, 0)
  })
})
