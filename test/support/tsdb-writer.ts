// Child process for the crash test: writes batches forever, printing each batch once it is acknowledged.
import { Db } from '../../src/tsdb/index.js'

const [dir, walSync] = process.argv.slice(2)
const T0 = 1_700_000_000_000
const db = Db.open({
  dir,
  walSync: walSync === 'write' ? 'write' : 'fsync',
  maintenanceInterval: 0,
  now: () => T0 + 3_600_000,
  // Small blocks, so the kill also lands around flushes and WAL segment removal.
  maxHeadPoints: 5_000,
})

// Four concurrent writers so that group commits hold several batches.
async function writer(w: number): Promise<never> {
  const app = db.appender()
  const refs = new Array<number>(10).fill(0)
  for (let batch = 0; ; batch++) {
    const t = T0 + batch * 1000
    for (let s = 0; s < 10; s++) {
      const desc = {
        endpoint: `w${w}`,
        metric: `m${s}`,
        tags: '',
        dstype: 'GAUGE' as const,
        step: 1,
      }
      refs[s] = app.append(refs[s], desc, t, batch * 10 + s)
    }
    await app.commit()
    process.stdout.write(`ack ${w} ${batch}\n`)
  }
}

process.stdout.write('ready\n')
void Promise.all([0, 1, 2, 3].map(writer))
