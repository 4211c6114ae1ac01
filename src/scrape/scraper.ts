// The scrape loops: one per target, on the target's interval (offset by a hash of it, as Prometheus
// spreads targets), each fetching the page, parsing it, adding the target's labels, relabelling,
// checking the limits, writing the samples with the report series (up, scrape_*) and stale markers
// for series that went away, through a remote write client to transfer.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { createGunzip } from 'node:zlib'
import {
  type Deps,
  type ExposedSample,
  ExpositionError,
  formatOf,
  ExpositionScanner,
  type SeriesRef,
} from '../core/index.js'
import type { Job } from './jobs.js'
import { relabel } from './relabel.js'
import type { Target } from './targets.js'

/** STALE_NAN is Prometheus's staleness marker. */
export const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]

const ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

/**
 * ScrapedSeries is one series a target exposes, as kept between scrapes: its labels (target labels
 * added, relabelled, sorted) and where storage keeps it (`ref`, set by the writer on first write).
 */
export interface ScrapedSeries {
  readonly labels: Labels
  ref: SeriesRef | null
  /** seen: the scrape that last had it. */
  seen: number
}

/** ScrapeBatch is what one scrape writes: sample k of series[k] at t[k], value v[k]. */
export interface ScrapeBatch {
  series: ScrapedSeries[]
  t: Float64Array
  v: Float64Array
  /** step: the seconds new series are stored with (the scrape interval). */
  step: number
  /** notStored: told of samples storage would not keep (a series it cannot store, a limit), with why. */
  notStored?: (samples: number, why: string) => void
}

/** SampleSink takes a scrape's samples. */
export type SampleSink = (batch: ScrapeBatch) => void

/** TargetState is what /api/v1/targets shows of a target. */
export interface TargetState {
  target: Target
  health: 'up' | 'down' | 'unknown'
  lastError: string
  lastScrape: number
  lastScrapeDuration: number
  /** samplesNotStored: samples of the last scrape storage would not keep; lastStoreError says why. */
  samplesNotStored: number
  lastStoreError: string
}

type Labels = readonly (readonly [string, string])[]

function keyOf(labels: Labels): string {
  let k = ''
  for (const [n, v] of labels) k += n + '\xff' + v + '\xfe'
  return k
}

// A copy of a string cut from a page, so that keeping it does not keep the page.
function own(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1)
}

// A series text's entry in the cache: the series it is (null: dropped by relabelling, or a
// `_created` line) and the scrape that last had it.
interface TextEntry {
  series: ScrapedSeries | null
  seen: number
}

// Columns a scrape's samples are gathered in, grown as needed and reused scrape after scrape.
class Columns {
  series: ScrapedSeries[] = []
  t = new Float64Array(64)
  v = new Float64Array(64)
  n = 0
  push(s: ScrapedSeries, t: number, v: number): void {
    if (this.n === this.t.length) {
      const t2 = new Float64Array(this.n * 2)
      t2.set(this.t)
      this.t = t2
      const v2 = new Float64Array(this.n * 2)
      v2.set(this.v)
      this.v = v2
    }
    this.series.push(s)
    this.t[this.n] = t
    this.v[this.n++] = v
  }
  /** take hands the samples over (copies of the columns' used part) and empties the columns. */
  take(step: number): ScrapeBatch {
    const b = { series: this.series, t: this.t.slice(0, this.n), v: this.v.slice(0, this.n), step }
    this.series = []
    this.n = 0
    return b
  }
}

/** ScrapeError is a scrape that failed: its message is what the target's lastError shows. */
class ScrapeError extends Error {}

// GET `url` with a timeout and a body cap, gunzipping a gzip answer; the body and its content type.
async function fetchPage(
  url: string,
  headers: Record<string, string>,
  timeout: number,
  maxBytes: number,
  tls: Job['tls'],
  followRedirects: boolean
): Promise<{ body: string; contentType: string }> {
  // Redirects as Go's client (Prometheus's): at most 10, in the same time budget; credentials only
  // to the host they were given for.
  const deadline = Date.now() + timeout
  let at = url
  let sent = headers
  for (let hops = 0; ; hops++) {
    const left = deadline - Date.now()
    if (left <= 0)
      throw new ScrapeError(`context deadline exceeded (scrape_timeout ${timeout / 1000}s)`)
    const r = await fetchOnce(at, sent, left, maxBytes, tls, timeout)
    if (!('location' in r)) return r
    if (!followRedirects)
      throw new ScrapeError(`server returned HTTP status ${r.status} (follow_redirects is false)`)
    if (hops >= 10) throw new ScrapeError('stopped after 10 redirects')
    const next = new URL(r.location, at)
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new ScrapeError(`redirected to ${JSON.stringify(next.href.slice(0, 100))}: not http(s)`)
    if (next.host !== new URL(at).host) {
      sent = { ...sent }
      delete sent.Authorization
    }
    at = next.href
  }
}

// One GET: the page, or where a 3xx answer points.
function fetchOnce(
  url: string,
  headers: Record<string, string>,
  left: number,
  maxBytes: number,
  tls: Job['tls'],
  timeout: number
): Promise<{ body: string; contentType: string } | { status: number; location: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const options = {
      method: 'GET',
      headers,
      timeout: left,
      ...(u.protocol === 'https:'
        ? {
            ca: tls.caFile === '' ? undefined : readFileSync(tls.caFile),
            cert: tls.certFile === '' ? undefined : readFileSync(tls.certFile),
            key: tls.keyFile === '' ? undefined : readFileSync(tls.keyFile),
            servername: tls.serverName === '' ? undefined : tls.serverName,
            rejectUnauthorized: !tls.insecureSkipVerify,
          }
        : {}),
    }
    const timer = setTimeout(() => {
      req.destroy(new ScrapeError(`context deadline exceeded (scrape_timeout ${timeout / 1000}s)`))
    }, left)
    type Answer = { body: string; contentType: string } | { status: number; location: string }
    const done = (err: Error | null, value?: Answer) => {
      clearTimeout(timer)
      if (err !== null) reject(err)
      else resolve(value as Answer)
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      options,
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0
        const location = res.headers.location
        if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
          res.resume()
          done(null, { status, location })
          return
        }
        if (res.statusCode !== 200) {
          res.resume()
          done(
            new ScrapeError(
              `server returned HTTP status ${res.statusCode} ${res.statusMessage ?? ''}`.trim()
            )
          )
          return
        }
        const gzip = (res.headers['content-encoding'] ?? '').toLowerCase() === 'gzip'
        const stream = gzip ? res.pipe(createGunzip()) : res
        const chunks: Buffer[] = []
        let bytes = 0
        stream.on('data', (c: Buffer) => {
          bytes += c.length
          if (bytes > maxBytes) {
            req.destroy()
            done(new ScrapeError(`body size limit exceeded (${maxBytes} bytes)`))
            return
          }
          chunks.push(c)
        })
        stream.on('end', () =>
          done(null, {
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: String(res.headers['content-type'] ?? ''),
          })
        )
        stream.on('error', (err: Error) => done(err))
      }
    )
    req.on('error', (err: Error) => done(err))
    req.on('timeout', () =>
      req.destroy(new ScrapeError(`context deadline exceeded (scrape_timeout ${timeout / 1000}s)`))
    )
    req.end()
  })
}

/** ScrapeLimits are the scrape component's own bounds on every target. */
export interface ScrapeLimits {
  /** maxBodyBytes: the largest page (a job's body_size_limit may lower it). */
  maxBodyBytes: number
  /** maxSamplesPerScrape: the most samples a page may have (a job's sample_limit may lower it). */
  maxSamplesPerScrape: number
  /** bigPages: taken while a page over BIG_PAGE_CHARS is parsed (one at a time, all targets). */
  bigPages: Gate
}

/** BIG_PAGE_CHARS: a page longer than this (about 20,000 lines) is parsed only when no other such page is. */
const BIG_PAGE_CHARS = 1 << 20

/** Gate lets one holder through at a time, the others in turn. */
export class Gate {
  #held = false
  readonly #waiting: (() => void)[] = []
  acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true
      return Promise.resolve()
    }
    return new Promise((ok) => this.#waiting.push(ok))
  }
  release(): void {
    const next = this.#waiting.shift()
    if (next === undefined) this.#held = false
    else next()
  }
}

/** PARSE_SLICE_LINES: lines parsed between two turns of the event loop (a big page must not stall it). */
const PARSE_SLICE_LINES = 5000

/** TargetLoop scrapes one target on its interval until stopped. */
export class TargetLoop {
  readonly state: TargetState
  #timer: NodeJS.Timeout | null = null
  #stopped = false
  #running: Promise<void> | null = null
  /** The scrape cache: series texts as the target writes them, and the series they are. */
  #texts = new Map<string, TextEntry>()
  /** The series by their final labels (two texts can relabel to one series). */
  #series = new Map<string, ScrapedSeries>()
  /** The report series (up, scrape_*), made once. */
  readonly #reports: ScrapedSeries[]
  /** iteration: the current scrape's number; the last scrape's is iteration - 1. */
  #iteration = 0
  readonly #columns = new Columns()

  constructor(
    readonly job: Job,
    readonly target: Target,
    private readonly sink: SampleSink,
    private readonly deps: Deps,
    private readonly limits: ScrapeLimits
  ) {
    this.state = {
      target,
      health: 'unknown',
      lastError: '',
      lastScrape: 0,
      lastScrapeDuration: 0,
      samplesNotStored: 0,
      lastStoreError: '',
    }
    const labels = Object.entries(target.labels as Record<string, string>)
    this.#reports = REPORTS.map((name) => ({
      labels: sortLabels([['__name__', name], ...labels]),
      ref: null,
      seen: 0,
    }))
  }

  /** start schedules the scrapes: the first at an offset in the interval taken from the target's hash. */
  start(): void {
    const interval = this.target.interval
    const h = createHash('md5').update(this.target.key).digest().readUInt32BE(0)
    const now = this.deps.now()
    const offset = (h % interval) - (now % interval)
    const first = offset < 0 ? offset + interval : offset
    this.#timer = setTimeout(() => this.#tick(), first)
    this.#timer.unref()
  }

  #tick(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => this.#tick(), this.target.interval)
    this.#timer.unref()
    // A scrape still running (a slow target) is not started twice.
    if (this.#running !== null) return
    void this.scrapeOnce()
  }

  /**
   * stop ends the loop; with `stale`, the target went away: every series it wrote gets a stale
   * marker now, as Prometheus does.
   */
  async stop(stale: boolean): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    // A scrape in flight is waited for only when its series are to be marked stale; on shutdown it
    // is left to end on its own (its writes go nowhere).
    if (stale) await this.#running
    if (stale && this.#iteration > 0) {
      const t = this.deps.now()
      const last = this.#iteration
      const cols = this.#columns
      for (const s of this.#series.values()) if (s.seen === last) cols.push(s, t, STALE_NAN)
      for (const s of this.#reports) cols.push(s, t, STALE_NAN)
      this.#series.clear()
      this.#texts.clear()
      this.sink(cols.take(this.target.interval / 1000))
    }
  }

  /** scrapeOnce scrapes now and writes what it got; `stop` waits for it. */
  scrapeOnce(): Promise<void> {
    const p: Promise<void> = this.#scrape().finally(() => {
      if (this.#running === p) this.#running = null
    })
    this.#running = p
    return p
  }

  async #scrape(): Promise<void> {
    const t = this.deps.now()
    const started = performance.now()
    const job = this.job
    const iteration = ++this.#iteration
    const cols = this.#columns
    let scraped = 0
    let error = ''
    // Series this scrape has that the last did not (scrape_series_added).
    const fresh: ScrapedSeries[] = []
    // The report series first (their values set at the end): before the page's own series, so that a
    // page past graph's series limits cannot keep `up` from being stored.
    const r = this.#reports
    for (const rs of r) cols.push(rs, t, 0)
    const reported = r.length
    try {
      const headers: Record<string, string> = {
        Accept: ACCEPT,
        'Accept-Encoding': 'gzip',
        'User-Agent': 'Peregrine-scrape',
        'X-Prometheus-Scrape-Timeout-Seconds': String(this.target.timeout / 1000),
      }
      if (job.basicAuth !== null) {
        const password =
          job.basicAuth.passwordFile === ''
            ? job.basicAuth.password
            : readFileSync(job.basicAuth.passwordFile, 'utf8').trim()
        headers.Authorization =
          'Basic ' + Buffer.from(`${job.basicAuth.username}:${password}`).toString('base64')
      } else if (job.authorization !== null) {
        const cred =
          job.authorization.credentialsFile === ''
            ? job.authorization.credentials
            : readFileSync(job.authorization.credentialsFile, 'utf8').trim()
        headers.Authorization = `${job.authorization.type} ${cred}`
      }
      const { maxBodyBytes, maxSamplesPerScrape } = this.limits
      const limit = job.bodySizeLimit > 0 ? Math.min(job.bodySizeLimit, maxBodyBytes) : maxBodyBytes
      const page = await fetchPage(
        this.target.url,
        headers,
        this.target.timeout,
        limit,
        job.tls,
        job.followRedirects
      )
      if (this.#stopped) {
        this.#abandon(iteration, fresh, reported)
        return
      }
      const honor = job.honorTimestamps
      const texts = this.#texts
      // The sample limit is checked as samples come (a page far over it is not read to its end).
      const sampleLimit =
        job.sampleLimit > 0 ? Math.min(job.sampleLimit, maxSamplesPerScrape) : maxSamplesPerScrape
      const overLimit = () =>
        new ScrapeError(
          job.sampleLimit > 0 && job.sampleLimit <= maxSamplesPerScrape
            ? `sample limit exceeded (more than ${sampleLimit} samples, sample_limit ${job.sampleLimit})`
            : `sample limit exceeded (more than ${sampleLimit} samples, scrape.maxSamplesPerScrape ${maxSamplesPerScrape}: raise it for a target this large)`
        )
      const scanner = new ExpositionScanner(page.body, formatOf(page.contentType), {
        known: (text, value, timestamp) => {
          const e = texts.get(text)
          if (e === undefined) return false
          scraped++
          e.seen = iteration
          const s = e.series
          // Dropped by relabelling; or the series twice in one page: the first sample is kept, as
          // Prometheus (a duplicate is an error it skips).
          if (s === null || s.seen === iteration) return true
          if (cols.n - reported >= sampleLimit) throw overLimit()
          if (s.seen !== iteration - 1) fresh.push(s)
          s.seen = iteration
          cols.push(s, honor && timestamp !== null ? timestamp : t, value)
          return true
        },
        sample: (text, sample) => {
          if (sample !== null) scraped++
          let series: ScrapedSeries | null = null
          if (sample !== null) {
            const labels = this.#labelsOf(sample)
            if (labels !== null) {
              const key = keyOf(labels)
              series = this.#series.get(key) ?? null
              if (series === null) {
                series = { labels, ref: null, seen: -1 }
                this.#series.set(key, series)
              }
            }
          }
          texts.set(own(text), { series, seen: iteration })
          if (series === null || series.seen === iteration) return
          if (cols.n - reported >= sampleLimit) throw overLimit()
          if (series.seen !== iteration - 1) fresh.push(series)
          series.seen = iteration
          cols.push(
            series,
            honor && sample !== null && sample.timestamp !== null ? sample.timestamp : t,
            (sample as { value: number }).value
          )
        },
      })
      // A slice at a time, the event loop running between: other targets and components go on.
      // One large page at a time over all targets: each holds its parsed series until it is done.
      const big = page.body.length > BIG_PAGE_CHARS
      if (big) await this.limits.bigPages.acquire()
      try {
        while (!scanner.scan(PARSE_SLICE_LINES)) {
          await new Promise((ok) => setImmediate(ok))
          if (this.#stopped) {
            // Stopped half way (a reload, the target gone): nothing of this page is written.
            this.#abandon(iteration, fresh, reported)
            return
          }
        }
      } finally {
        if (big) this.limits.bigPages.release()
      }
    } catch (err) {
      error =
        err instanceof ExpositionError
          ? `parse error: ${err.message}`
          : err instanceof ScrapeError
            ? err.message
            : `Get "${this.target.url}": ${(err as Error).message}`
      // Nothing of a failed scrape is written: its series are as gone as the page (those the last
      // scrape had get their stale markers below).
      this.#undo(iteration, fresh, reported)
    }
    const written = cols.n - reported
    const duration = (performance.now() - started) / 1000
    // Stale markers for what the last scrape had and this one does not (all of it after a failure);
    // then the cache forgets what this scrape did not have.
    for (const [key, s] of this.#series) {
      if (s.seen === iteration) continue
      if (s.seen === iteration - 1) cols.push(s, t, STALE_NAN)
      this.#series.delete(key)
    }
    for (const [text, e] of this.#texts) if (e.seen !== iteration) this.#texts.delete(text)
    cols.v[0] = error === '' ? 1 : 0
    cols.v[1] = duration
    cols.v[2] = scraped
    cols.v[3] = written
    cols.v[4] = fresh.length
    const batch = cols.take(this.target.interval / 1000)
    const state = this.state
    state.samplesNotStored = 0
    batch.notStored = (samples, why) => {
      state.samplesNotStored += samples
      state.lastStoreError = why
    }
    this.sink(batch)
    this.state.health = error === '' ? 'up' : 'down'
    this.state.lastError = error
    this.state.lastScrape = t
    this.state.lastScrapeDuration = duration
  }

  // Forgets what a scrape that failed or was abandoned read: its series are as they were after the
  // last scrape (fresh ones forgotten), its columns hold the report series only, and the texts it
  // read are dropped (they may name series forgotten after it).
  #undo(iteration: number, fresh: ScrapedSeries[], reported: number): void {
    const cols = this.#columns
    for (let k = reported; k < cols.n; k++) cols.series[k].seen = iteration - 1
    for (const s of fresh) s.seen = -1
    fresh.length = 0
    cols.series.length = reported
    cols.n = reported
    this.#texts.clear()
  }

  // A scrape stopped half way writes nothing, not even its report series: as if it never began.
  #abandon(iteration: number, fresh: ScrapedSeries[], reported: number): void {
    this.#undo(iteration, fresh, reported)
    this.#columns.series.length = 0
    this.#columns.n = 0
    this.#iteration = iteration - 1
  }

  // A sample's series: target labels merged (honor_labels or exported_), metric relabelling, the
  // label limits (a breach fails the scrape); null when relabelling drops it.
  #labelsOf(s: ExposedSample): Labels | null {
    const job = this.job
    const target = this.target.labels as Record<string, string>
    const lset = new Map<string, string>()
    lset.set('__name__', own(s.name))
    for (const [k, v] of s.labels) if (v !== '') lset.set(own(k), own(v))
    for (const k in target) {
      const v = target[k]
      if (job.honorLabels) {
        if (!lset.has(k)) lset.set(k, v)
        continue
      }
      const existing = lset.get(k)
      if (existing !== undefined) {
        let name = 'exported_' + k
        while (lset.has(name)) name = 'exported_' + name
        lset.set(name, existing)
      }
      lset.set(k, v)
    }
    if (job.metricRelabel.length > 0 && !relabel(lset, job.metricRelabel)) return null
    if (job.labelLimit > 0 && lset.size > job.labelLimit)
      throw new ScrapeError(
        `label_limit exceeded (metric: ${s.name}, number of labels: ${lset.size}, limit: ${job.labelLimit})`
      )
    for (const [k, v] of lset) {
      if (job.labelNameLengthLimit > 0 && k.length > job.labelNameLengthLimit)
        throw new ScrapeError(
          `label_name_length_limit exceeded (metric: ${s.name}, label name: ${k}, length: ${k.length}, limit: ${job.labelNameLengthLimit})`
        )
      if (job.labelValueLengthLimit > 0 && v.length > job.labelValueLengthLimit)
        throw new ScrapeError(
          `label_value_length_limit exceeded (metric: ${s.name}, label name: ${k}, value: ${JSON.stringify(v.slice(0, 40))}, length: ${v.length}, limit: ${job.labelValueLengthLimit})`
        )
    }
    return sortLabels([...lset])
  }
}

/** REPORTS names the series every scrape writes about itself, in the order scrapeOnce writes them. */
const REPORTS = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
]

function sortLabels(l: [string, string][]): Labels {
  return l.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}
