// bench/remote-forward.ts runs to its JSON line: a tiny dataset through a transfer in remote mode into
// Debian's victoria-metrics, the store stopped for a second in the middle, every point arriving.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'remote-forward.js')
const VM = '/usr/bin/victoria-metrics'

describe(
  'bench/remote-forward',
  {
    // CI sets PEREGRINE_TEST_VICTORIA_METRICS=required: there a missing store fails the test.
    skip:
      !existsSync(VM) &&
      process.env.PEREGRINE_TEST_VICTORIA_METRICS !== 'required' &&
      `${VM} is not installed (apt-get install victoria-metrics)`,
  },
  () => {
    it('forwards the dataset across an outage of the store and prints its figures as one JSON line', () => {
      const r = spawnSync(
        process.execPath,
        [
          BENCH,
          '--series',
          '50',
          '--points',
          '40',
          '--clients',
          '2',
          '--batch',
          '100',
          '--outage',
          '1',
        ],
        { encoding: 'utf8', timeout: 120_000 }
      )
      assert.equal(r.status, 0, r.stderr)
      const figures = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, number>
      assert.equal(figures.points, 2000)
      assert.equal(figures.acked, 2000)
      assert.equal(figures.in_store, 2000)
      assert.equal(figures.acked_missing_in_store, 0)
      assert.ok(figures.forwarded_points_per_s > 0)
    })

    it('refuses a bad flag with a sentence and status 2', () => {
      const r = spawnSync(process.execPath, [BENCH, '--series', 'many'], { encoding: 'utf8' })
      assert.equal(r.status, 2)
      assert.match(r.stderr, /--series must be an integer from 1 to 1000000, got many/)
    })
  }
)
