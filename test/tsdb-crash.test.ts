// Crash recovery: a writer process is killed with SIGKILL; every batch it acknowledged must be readable.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Db } from '../src/tsdb/index.js'

const T0 = 1_700_000_000_000
const WRITER = new URL('./support/tsdb-writer.js', import.meta.url).pathname

async function crashAfter(dir: string, walSync: string, acks: number): Promise<number[]> {
  const child = spawn(process.execPath, [WRITER, dir, walSync], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const acked = [-1, -1, -1, -1]
  let seen = 0
  const lines = createInterface({ input: child.stdout })
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_c, sig) => resolve(sig))
  )
  for await (const line of lines) {
    const m = /^ack (\d) (\d+)$/.exec(line)
    if (m === null) continue
    acked[Number(m[1])] = Number(m[2])
    if (++seen === acks) child.kill('SIGKILL')
  }
  assert.equal(await exited, 'SIGKILL')
  return acked
}

describe('tsdb crash recovery', () => {
  for (const walSync of ['fsync', 'write']) {
    it(`keeps every acknowledged point after kill -9 (walSync ${walSync})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pg-crash-'))
      try {
        for (let round = 0; round < 2; round++) {
          const acked = await crashAfter(dir, walSync, 400 + round * 300)
          const db = Db.open({ dir, maintenanceInterval: 0, now: () => T0 + 3_600_000 })
          try {
            for (let w = 0; w < 4; w++) {
              assert.ok(acked[w] >= 0, `writer ${w} acknowledged something`)
              for (let s = 0; s < 10; s++) {
                const r = db.query(`w${w}/m${s}`, { start: T0, end: T0 + 3_600_000 })
                assert.ok(r !== null, `w${w}/m${s} exists`)
                // Every acknowledged batch is there, with its value; later unacknowledged ones may be too.
                assert.ok(
                  r.n >= acked[w] + 1,
                  `w${w}/m${s}: ${r.n} points, ${acked[w] + 1} acknowledged`
                )
                for (let b = 0; b <= acked[w]; b++) {
                  assert.equal(r.ts[b], T0 + b * 1000)
                  assert.equal(r.vs[b], b * 10 + s)
                }
              }
            }
          } finally {
            // The second round writes on top of what the first left: its WAL and blocks.
            await db.close({ flush: round === 0 })
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
