// How fast a falcon push becomes MetricValue objects: JSON.parse of the whole body's text against
// parseJsonBytes (the array parsed in ~64 KB pieces), on the bench dataset's pushes.
//
// Usage: node dist/bench/parse-push.js [--batch N] [--rounds N]
// The last stdout line is one JSON object (see bench/README.md).
import { parseArgs } from 'node:util'
import { parseJsonBytes } from '../src/core/index.js'
import { falconBatches } from './support/falcon-batches.js'

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '20' },
  },
})
const batch = Number(values.batch)
const rounds = Number(values.rounds)
if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) {
  process.stderr.write(
    `parse-push bench: --batch must be an integer from 1 to 100000, got ${values.batch}\n`
  )
  process.exit(2)
}
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) {
  process.stderr.write(
    `parse-push bench: --rounds must be an integer from 1 to 1000, got ${values.rounds}\n`
  )
  process.exit(2)
}

// 2,000 series × 30 minutes: the pushes bench:ingest sends.
const bodies: Buffer[] = []
for (const b of falconBatches(2000, 30, batch, 'h-', 1_700_000_000))
  bodies.push(Buffer.from(b.text))

function itemsPerSecond(parse: (b: Buffer) => unknown): number {
  let items = 0
  const started = process.hrtime.bigint()
  for (let r = 0; r < rounds; r++) for (const b of bodies) items += (parse(b) as unknown[]).length
  return Math.round(items / (Number(process.hrtime.bigint() - started) / 1e9))
}

const whole = (b: Buffer): unknown => JSON.parse(b.toString('utf8'))
const pieces = (b: Buffer): unknown => parseJsonBytes(b)
// Warm both up, then take the better of two runs each.
itemsPerSecond(whole)
itemsPerSecond(pieces)
const w = Math.max(itemsPerSecond(whole), itemsPerSecond(whole))
const p = Math.max(itemsPerSecond(pieces), itemsPerSecond(pieces))
process.stderr.write(`parse-push bench: ${bodies.length} bodies of ${bodies[0].length} bytes\n`)
console.log(
  JSON.stringify({
    bench: 'parse_push',
    whole_items_per_s: w,
    pieces_items_per_s: p,
    ratio: Math.round((p / w) * 100) / 100,
    body_bytes: bodies[0].length,
    batch,
    rounds,
    node: process.version,
  })
)
