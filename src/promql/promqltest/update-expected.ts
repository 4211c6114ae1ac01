// Regenerates expected-failures.txt from a run of every script: node --import tsx src/promql/promqltest/update-expected.ts
import { writeFileSync } from 'node:fs'
import { EXPECTED_FAILURES, failureLines, formatTally, runAll, tally } from './conformance.js'

const all = await runAll()
const lines = failureLines(all)
writeFileSync(
  EXPECTED_FAILURES,
  [
    '# Statements of Prometheus v2.55.1 promqltest scripts that Peregrine does not pass, one per line:',
    '# file:line  reason. conformance.test.ts fails on a new failure and on a listed statement that passes.',
    '# Regenerate with: node --import tsx src/promql/promqltest/update-expected.ts',
    ...lines,
    '',
  ].join('\n')
)
console.log(`${lines.length} failing statements written to ${EXPECTED_FAILURES}`)
console.log(formatTally(tally(all)))
