// Runs every vendored Prometheus test script against Peregrine's engine and tallies the outcome.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine } from '../engine.js'
import { runScript, type StatementResult } from './runner.js'

// The scripts stay in the source tree; the compiled copy (dist/src/…) reads them from there.
const HERE = dirname(fileURLToPath(import.meta.url)).replace(
  /([/\\])dist([/\\])src([/\\])/,
  '$1src$3'
)

/** TESTDATA is the folder of Prometheus v2.55.1's promqltest scripts (Apache-2.0, see NOTICE). */
export const TESTDATA = join(HERE, 'testdata')

/** EXPECTED_FAILURES is the checked-in list of statements known to fail, one `file:line  reason` a line. */
export const EXPECTED_FAILURES = join(HERE, 'expected-failures.txt')

/** FileResult is one script's statements. */
export interface FileResult {
  file: string
  results: StatementResult[]
}

/** conformanceEngine is configured as Prometheus's test engine (delayed name removal, 1m subquery step). */
export function conformanceEngine(): Engine {
  return new Engine({
    timeout: 100_000,
    maxSamples: 50_000_000,
    lookbackDelta: 300_000,
    delayedNameRemoval: true,
    subqueryStep: 60_000,
  })
}

/** runAll runs every script in TESTDATA (sorted by name). */
export async function runAll(): Promise<FileResult[]> {
  const engine = conformanceEngine()
  const files = readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.test'))
    .sort()
  const out: FileResult[] = []
  for (const file of files) {
    const results = await runScript(readFileSync(join(TESTDATA, file), 'utf8'), engine)
    out.push({ file, results })
  }
  return out
}

/** Tally counts eval statements passing, overall and without those needing native histograms. */
export interface Tally {
  evals: number
  passed: number
  evalsFloat: number
  passedFloat: number
}

export function tally(all: readonly FileResult[]): Tally {
  const t: Tally = { evals: 0, passed: 0, evalsFloat: 0, passedFloat: 0 }
  for (const f of all) {
    for (const r of f.results) {
      if (r.kind !== 'eval') continue
      t.evals++
      if (r.ok) t.passed++
      if (!r.nativeHistograms) {
        t.evalsFloat++
        if (r.ok) t.passedFloat++
      }
    }
  }
  return t
}

/** failureLines lists failing statements as `file:line  reason`, the format of EXPECTED_FAILURES. */
export function failureLines(all: readonly FileResult[]): string[] {
  const out: string[] = []
  for (const f of all) {
    for (const r of f.results) {
      if (!r.ok) out.push(`${f.file}:${r.line}  ${r.reason.replace(/\s+/g, ' ').slice(0, 300)}`)
    }
  }
  return out
}

/** formatTally prints the pass rates. */
export function formatTally(t: Tally): string {
  const pct = (a: number, b: number): string => (b === 0 ? '0' : ((100 * a) / b).toFixed(1))
  return `eval statements passing: ${t.passed}/${t.evals} (${pct(t.passed, t.evals)}%); without native histograms: ${t.passedFloat}/${t.evalsFloat} (${pct(t.passedFloat, t.evalsFloat)}%)`
}
