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
  ExpositionError,
  formatOf,
  parseExposition,
  type WriteSeries,
} from '../core/index.js'
import type { Job } from './jobs.js'
import { relabel } from './relabel.js'
import type { Target } from './targets.js'

/** STALE_NAN is Prometheus's staleness marker. */
export const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]

const ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

/** SampleSink takes a scrape's series (labels sorted, samples [ms, value]) and the step to store them with. */
export type SampleSink = (series: WriteSeries[], stepSeconds: number) => void

/** TargetState is what /api/v1/targets shows of a target. */
export interface TargetState {
  target: Target
  health: 'up' | 'down' | 'unknown'
  lastError: string
  lastScrape: number
  lastScrapeDuration: number
}

type Labels = [string, string][]

function keyOf(labels: Labels): string {
  let k = ''
  for (const [n, v] of labels) k += n + '\xff' + v + '\xfe'
  return k
}

/** ScrapeError is a scrape that failed: its message is what the target's lastError shows. */
class ScrapeError extends Error {}

// GET `url` with a timeout and a body cap, gunzipping a gzip answer; the body and its content type.
function fetchPage(
  url: string,
  headers: Record<string, string>,
  timeout: number,
  maxBytes: number,
  tls: Job['tls']
): Promise<{ body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const options = {
      method: 'GET',
      headers,
      timeout,
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
    }, timeout)
    const done = (err: Error | null, value?: { body: string; contentType: string }) => {
      clearTimeout(timer)
      if (err !== null) reject(err)
      else resolve(value as { body: string; contentType: string })
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      options,
      (res: IncomingMessage) => {
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

/** TargetLoop scrapes one target on its interval until stopped. */
export class TargetLoop {
  readonly state: TargetState
  #timer: NodeJS.Timeout | null = null
  #prev = new Map<string, Labels>()
  #stopped = false
  #running: Promise<void> | null = null

  constructor(
    readonly job: Job,
    readonly target: Target,
    private readonly sink: SampleSink,
    private readonly deps: Deps,
    private readonly maxBodyBytes: number
  ) {
    this.state = { target, health: 'unknown', lastError: '', lastScrape: 0, lastScrapeDuration: 0 }
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
    this.#running = this.scrapeOnce().finally(() => (this.#running = null))
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
    if (stale && this.#prev.size > 0) {
      const t = this.deps.now()
      this.sink(
        [...this.#prev.values()].map((labels) => ({ labels, samples: [[t, STALE_NAN]] })),
        this.target.interval / 1000
      )
      this.#prev.clear()
    }
  }

  /** scrapeOnce scrapes now and writes what it got. */
  async scrapeOnce(): Promise<void> {
    const t = this.deps.now()
    const started = performance.now()
    const job = this.job
    const labels = this.target.labels as Record<string, string>
    let out: WriteSeries[]
    let scraped = 0
    let error = ''
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
      const limit =
        job.bodySizeLimit > 0 ? Math.min(job.bodySizeLimit, this.maxBodyBytes) : this.maxBodyBytes
      const page = await fetchPage(this.target.url, headers, this.target.timeout, limit, job.tls)
      const exposition = parseExposition(page.body, formatOf(page.contentType))
      scraped = exposition.samples.length
      out = this.#series(exposition.samples, labels, t)
      if (job.sampleLimit > 0 && out.length > job.sampleLimit) {
        throw new ScrapeError(
          `sample limit exceeded (${out.length} samples, sample_limit ${job.sampleLimit})`
        )
      }
    } catch (err) {
      error =
        err instanceof ExpositionError
          ? `parse error: ${err.message}`
          : err instanceof ScrapeError
            ? err.message
            : `Get "${this.target.url}": ${(err as Error).message}`
      out = []
    }
    const duration = (performance.now() - started) / 1000
    // Stale markers for what the last scrape had and this one does not (all of it after a failure).
    const now = new Map<string, Labels>()
    for (const s of out) now.set(keyOf(s.labels as Labels), s.labels as Labels)
    let added = 0
    for (const k of now.keys()) if (!this.#prev.has(k)) added++
    const stale: WriteSeries[] = []
    for (const [k, l] of this.#prev)
      if (!now.has(k)) stale.push({ labels: l, samples: [[t, STALE_NAN]] })
    this.#prev = now
    const report = (name: string, v: number): WriteSeries => ({
      labels: sortLabels([['__name__', name], ...Object.entries(labels)]),
      samples: [[t, v]],
    })
    const reports = [
      report('up', error === '' ? 1 : 0),
      report('scrape_duration_seconds', duration),
      report('scrape_samples_scraped', scraped),
      report('scrape_samples_post_metric_relabeling', out.length),
      report('scrape_series_added', added),
    ]
    this.sink([...out, ...stale, ...reports], this.target.interval / 1000)
    this.state.health = error === '' ? 'up' : 'down'
    this.state.lastError = error
    this.state.lastScrape = t
    this.state.lastScrapeDuration = duration
  }

  // The samples as series: target labels merged (honor_labels or exported_), metric relabelling,
  // the label limits (a breach fails the scrape), the timestamp (honor_timestamps).
  #series(
    samples: ReturnType<typeof parseExposition>['samples'],
    target: Record<string, string>,
    t: number
  ): WriteSeries[] {
    const job = this.job
    const out: WriteSeries[] = []
    const seen = new Set<string>()
    for (const s of samples) {
      const lset = new Map<string, string>()
      lset.set('__name__', s.name)
      for (const [k, v] of s.labels) if (v !== '') lset.set(k, v)
      for (const [k, v] of Object.entries(target)) {
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
      if (job.metricRelabel.length > 0 && !relabel(lset, job.metricRelabel)) continue
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
      const labels = sortLabels([...lset])
      const key = keyOf(labels)
      // A series twice in one page keeps its first sample, as Prometheus (a duplicate is an error it skips).
      if (seen.has(key)) continue
      seen.add(key)
      out.push({
        labels,
        samples: [[job.honorTimestamps && s.timestamp !== null ? s.timestamp : t, s.value]],
      })
    }
    return out
  }
}

function sortLabels(l: Labels): Labels {
  return l.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}
