import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { EXPECTED_FAILURES, failureLines, formatTally, runAll, tally } from './conformance.js'

describe("Prometheus's promqltest scripts", () => {
  it('fail exactly the statements listed in expected-failures.txt', async () => {
    const all = await runAll()
    const listed = new Map<string, string>()
    for (const line of readFileSync(EXPECTED_FAILURES, 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const at = line.indexOf('  ')
      listed.set(at < 0 ? line : line.slice(0, at), line)
    }
    const failing = new Map<string, string>()
    for (const line of failureLines(all)) failing.set(line.slice(0, line.indexOf('  ')), line)
    const regressions = [...failing].filter(([k]) => !listed.has(k)).map(([, v]) => v)
    const fixed = [...listed].filter(([k]) => !failing.has(k)).map(([k]) => k)
    const t = tally(all)
    console.log(formatTally(t))
    assert.deepEqual(regressions, [], 'statements that now fail (regressions)')
    assert.deepEqual(
      fixed,
      [],
      'statements that now pass: remove them from expected-failures.txt (update-expected.ts)'
    )
    assert.ok(t.evals > 900, `all scripts ran (${t.evals} eval statements)`)
  })
})
