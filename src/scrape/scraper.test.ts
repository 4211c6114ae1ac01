import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { silentLogger } from '../core/index.js'
import { parseJobs } from './jobs.js'
import { Gate, type ScrapeBatch, TargetLoop } from './scraper.js'
import { staticGroups, targetsOf } from './targets.js'

// The scrape loop's cache and bookkeeping, against a page served here that each test sets.
let server: Server
let address = ''
let page = ''
let status = 200

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { Location: '/metrics' })
      res.end()
      return
    }
    res.writeHead(status, { 'Content-Type': 'text/plain; version=0.0.4' })
    res.end(page)
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  address = `127.0.0.1:${(server.address() as { port: number }).port}`
})
after(() => new Promise<void>((ok) => server.close(() => ok())))

function loop(extra: Record<string, unknown> = {}, maxSamplesPerScrape = 1000) {
  const [job] = parseJobs([
    { job_name: 'j', scrape_interval: '1m', static_configs: [{ targets: [address] }], ...extra },
  ])
  const [target] = targetsOf(job, staticGroups(job))
  const batches: ScrapeBatch[] = []
  let now = 1_000_000
  const l = new TargetLoop(
    job,
    target,
    (b) => batches.push(b),
    { log: silentLogger, now: () => now },
    { maxBodyBytes: 1 << 20, maxSamplesPerScrape, bigPages: new Gate() }
  )
  const scrape = async () => {
    now += 60_000
    await l.scrapeOnce()
    return batches[batches.length - 1]
  }
  return { l, scrape, batches }
}

// A batch as readable rows: the series' labels as text, the time and value (STALE for a marker). A
// scrape's batch starts with its 5 report series (up, scrape_*), then the page's, then stale markers.
function rows(b: ScrapeBatch): string[] {
  // Bits read from the column itself: a NaN taken out as a number may lose its payload.
  const bits = new BigUint64Array(b.v.buffer, b.v.byteOffset, b.v.length)
  return b.series.map((s, k) => {
    const isStale = bits[k] === STALE_BITS
    return `${s.labels.map(([n, x]) => `${n}=${x}`).join(',')} ${isStale ? 'STALE' : b.v[k]}`
  })
}
const STALE_BITS = 0x7ff0000000000002n
function report(b: ScrapeBatch, name: string): number {
  const k = b.series.findIndex((s) => s.labels[0][1] === name)
  return b.v[k]
}

describe('TargetLoop', () => {
  it('writes each series once a scrape, keeps series between scrapes, and marks the gone ones stale', async () => {
    const { scrape } = loop()
    page = 'a{x="1"} 1\na{x="2"} 2\na{x="1"} 9\nb 3\n'
    let b = await scrape()
    const instance = `instance=${address},job=j`
    assert.deepEqual(rows(b).slice(5, 8), [
      `__name__=a,${instance},x=1 1`,
      `__name__=a,${instance},x=2 2`,
      `__name__=b,${instance} 3`,
    ])
    assert.equal(report(b, 'up'), 1)
    assert.equal(report(b, 'scrape_samples_scraped'), 4)
    assert.equal(report(b, 'scrape_samples_post_metric_relabeling'), 3)
    assert.equal(report(b, 'scrape_series_added'), 3)
    const first = b.series[0]
    page = 'a{x="1"} 11\nc 4\n'
    b = await scrape()
    assert.equal(b.series[0], first, 'the same series object, scrape after scrape')
    assert.deepEqual(rows(b).slice(5, 9), [
      `__name__=a,${instance},x=1 11`,
      `__name__=c,${instance} 4`,
      `__name__=a,${instance},x=2 STALE`,
      `__name__=b,${instance} STALE`,
    ])
    assert.equal(report(b, 'scrape_series_added'), 1)
    // Gone series are marked once, not again.
    b = await scrape()
    assert.deepEqual(rows(b).slice(5, 7), [
      `__name__=a,${instance},x=1 11`,
      `__name__=c,${instance} 4`,
    ])
    assert.equal(report(b, 'scrape_series_added'), 0)
  })

  it('writes one series for two texts that relabel into it, and nothing of dropped ones', async () => {
    const { scrape } = loop({
      metric_relabel_configs: [
        { regex: 'x', action: 'labeldrop' },
        { source_labels: ['__name__'], regex: 'drop_me', action: 'drop' },
      ],
    })
    page = 'a{x="1"} 1\na{x="2"} 2\ndrop_me 5\n'
    for (let i = 0; i < 2; i++) {
      const b = await scrape()
      assert.deepEqual(rows(b).slice(5, 6), [`__name__=a,instance=${address},job=j 1`])
      assert.equal(report(b, 'scrape_samples_scraped'), 3)
      assert.equal(report(b, 'scrape_samples_post_metric_relabeling'), 1)
    }
  })

  it('marks every series stale when a scrape fails, and starts again after', async () => {
    const { scrape } = loop()
    page = 'a 1\nb 2\n'
    await scrape()
    status = 500
    try {
      const b = await scrape()
      assert.deepEqual(rows(b).slice(5, 7), [
        `__name__=a,instance=${address},job=j STALE`,
        `__name__=b,instance=${address},job=j STALE`,
      ])
      assert.equal(report(b, 'up'), 0)
      assert.equal(b.series.length, 2 + 5)
    } finally {
      status = 200
    }
    const b = await scrape()
    assert.deepEqual(rows(b).slice(5, 7), [
      `__name__=a,instance=${address},job=j 1`,
      `__name__=b,instance=${address},job=j 2`,
    ])
    assert.equal(report(b, 'scrape_series_added'), 2)
  })

  it('fails a scrape over sample_limit or a label limit, every time, and writes none of it', async () => {
    const { scrape } = loop({ sample_limit: 2, label_value_length_limit: 5 })
    page = 'a 1\nb 2\nc 3\n'
    for (let i = 0; i < 2; i++) {
      const b = await scrape()
      assert.equal(report(b, 'up'), 0)
      assert.equal(b.series.length, 5)
    }
    page = 'a{v="toolong"} 1\n'
    for (let i = 0; i < 2; i++) {
      const b = await scrape()
      assert.equal(report(b, 'up'), 0)
      assert.equal(b.series.length, 5)
    }
  })

  it('counts series added right after pages that failed half way', async () => {
    const { scrape } = loop()
    page = 'a 1\nb 2\n'
    await scrape()
    page = 'a 1\nb 2\nc 3\nd 4\nbad{\n'
    for (let i = 0; i < 3; i++) assert.equal(report(await scrape(), 'up'), 0)
    page = 'a 1\nb 2\nc 3\nd 4\ne 5\n'
    const b = await scrape()
    assert.equal(report(b, 'up'), 1)
    assert.equal(report(b, 'scrape_series_added'), 5)
    assert.equal(b.series.length, 5 + 5)
    page = 'a 1\nb 2\nc 3\nd 4\ne 5\nf 6\n'
    assert.equal(report(await scrape(), 'scrape_series_added'), 1)
  })

  it('stops reading a page at the component’s sample cap, and reads a big one a slice at a time', async () => {
    const { l, scrape } = loop({}, 12_000)
    page = Array.from({ length: 12_001 }, (_, i) => `m{i="${i}"} ${i}`).join('\n') + '\n'
    let b = await scrape()
    assert.equal(report(b, 'up'), 0)
    assert.match(l.state.lastError, /more than 12000 samples, scrape\.maxSamplesPerScrape 12000/)
    page = Array.from({ length: 12_000 }, (_, i) => `m{i="${i}"} ${i}`).join('\n') + '\n'
    b = await scrape()
    assert.equal(report(b, 'up'), 1)
    assert.equal(report(b, 'scrape_samples_scraped'), 12_000)
    assert.equal(b.v[5 + 11_999], 11_999)
  })

  it('follows redirects, as Prometheus, unless follow_redirects is false', async () => {
    page = 'a 1\n'
    assert.equal(report(await loop({ metrics_path: '/moved' }).scrape(), 'up'), 1)
    const { l, scrape } = loop({ metrics_path: '/moved', follow_redirects: false })
    assert.equal(report(await scrape(), 'up'), 0)
    assert.match(l.state.lastError, /302 \(follow_redirects is false\)/)
  })

  it('writes nothing of a page it is stopped in the middle of, and marks the last scrape’s series stale', async () => {
    const { l, scrape, batches } = loop({}, 100_000)
    page = 'a 1\n'
    await scrape()
    page = Array.from({ length: 40_000 }, (_, i) => `m{i="${i}"} ${i}`).join('\n') + '\n'
    const running = l.scrapeOnce()
    // Stopped once the page is being read (a reload, or the target gone).
    await new Promise((ok) => setTimeout(ok, 30))
    await l.stop(true)
    await running
    const all = batches.slice(1).flatMap(rows)
    assert.deepEqual(
      all.filter((r) => r.startsWith('__name__=m')),
      [],
      'nothing of the half-read page'
    )
    assert.deepEqual(all.slice(0, 2), [
      `__name__=a,instance=${address},job=j STALE`,
      `__name__=up,instance=${address},job=j STALE`,
    ])
  })

  it('marks what it last wrote stale when its target goes away', async () => {
    const { l, scrape, batches } = loop()
    page = 'a 1\n'
    await scrape()
    await l.stop(true)
    assert.deepEqual(rows(batches[batches.length - 1]).slice(0, 2), [
      `__name__=a,instance=${address},job=j STALE`,
      `__name__=up,instance=${address},job=j STALE`,
    ])
  })
})
