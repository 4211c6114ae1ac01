/**
 * @module scrape
 * Scrapes Prometheus exporters (node_exporter, kube-state-metrics, any /metrics) as Prometheus does,
 * from the `scrape_configs` of a prometheus.yml: static and file_sd targets, relabelling, the limits,
 * `up` and the `scrape_*` series, stale markers; and writes what it scraped to transfer by remote
 * write. Serves Prometheus's `/api/v1/targets`, `/metrics`, `/health` and `/-/reload` on its HTTP port.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { parse as parseYaml } from 'yaml'
import {
  counterFrom,
  type Deps,
  EXPOSITION_CONTENT_TYPE,
  exposition,
  gaugeFrom,
  hostIsLocalOrAddress,
  type LabelledValue,
  limitedServerFactory,
  listenError,
  listenerMetrics,
  newListenerStats,
  newMetricsRegistry,
  parseListen,
  type PromAppender,
  type Service,
} from '../core/index.js'
import type { ScrapeComponentConfig } from './config.js'
import { type Job, parseGlobal, parseJobs } from './jobs.js'
import { Gate, TargetLoop } from './scraper.js'
import { FileGroups, staticGroups, type Target, targetsOf } from './targets.js'
import { ScrapeWriter } from './writer.js'

export { parseScrapeConfig, defaultScrapeConfig, type ScrapeComponentConfig } from './config.js'
export { parseJobs, parseGlobal, type Job } from './jobs.js'

/** readJobs reads the jobs of a config: its file's (a prometheus.yml) or its inline ones. */
export function readJobs(config: Readonly<ScrapeComponentConfig>): Job[] {
  if (config.configFile === '') return parseJobs(config.scrapeConfigs, parseGlobal(config.global))
  let raw: Record<string, unknown>
  try {
    raw = (parseYaml(readFileSync(config.configFile, 'utf8')) ?? {}) as Record<string, unknown>
  } catch (err) {
    throw new Error(`scrape.configFile ${config.configFile}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  try {
    return parseJobs(raw.scrape_configs, parseGlobal(raw.global))
  } catch (err) {
    throw new Error(`${config.configFile}: ${(err as Error).message}`, { cause: err })
  }
}

/** start reads the jobs, listens, and starts scraping; `stop()` writes stale markers for nothing (a restart continues). */
export async function start(
  config: Readonly<ScrapeComponentConfig>,
  deps: Deps,
  options: {
    /** appender: a transfer's in the same process, to write to instead of `remoteWrite`. */
    appender?: PromAppender
  } = {}
): Promise<Service> {
  let jobs = readJobs(config)
  const writer = new ScrapeWriter(config.remoteWrite, deps, options.appender ?? null)
  const files = new FileGroups()
  const loops = new Map<string, TargetLoop>()
  let dropped: Target[] = []
  let overLimit = 0
  const listeners = { http: newListenerStats() }
  const http = Fastify({
    logger: false,
    serverFactory: limitedServerFactory(config, listeners.http),
  })
  let selfJob: Job | null = null

  const warned = new Set<string>()
  const limits = {
    maxBodyBytes: config.maxBodyBytes,
    maxSamplesPerScrape: config.maxSamplesPerScrape,
    bigPages: new Gate(),
  }
  // Work out every job's targets; start loops for new ones, stop (with stale markers) gone ones.
  // Peregrine's own job comes first: a fleet past maxTargets must not cut it.
  const sync = async () => {
    const all = selfJob === null ? jobs : [selfJob, ...jobs]
    const want = new Map<string, { job: Job; target: Target }>()
    const drops: Target[] = []
    let over = 0
    for (const job of all) {
      const groups = [
        ...staticGroups(job),
        ...files.read(job.fileSdConfigs.flatMap((f) => f.files)),
      ]
      for (const t of targetsOf(job, groups)) {
        if (t.invalid !== undefined && !warned.has(t.invalid)) {
          if (warned.size >= 1000) warned.clear()
          warned.add(t.invalid)
          deps.log.warn(`scrape: job ${job.name}: target ${t.invalid}`)
        }
        if (t.labels === null) drops.push(t)
        else if (want.size >= config.maxTargets) {
          // Past maxTargets: not scraped, listed with the dropped ones (and counted).
          over++
          drops.push(t)
        } else want.set(`${job.name}\x00${t.key}`, { job, target: t })
      }
    }
    dropped = drops
    overLimit = over
    for (const [key, loop] of loops) {
      const w = want.get(key)
      if (w === undefined || w.job !== loop.job) {
        loops.delete(key)
        await loop.stop(w === undefined)
      }
    }
    for (const [key, { job, target }] of want) {
      if (loops.has(key)) continue
      const loop = new TargetLoop(job, target, (batch) => writer.write(batch), deps, limits)
      loops.set(key, loop)
      loop.start()
    }
  }

  const registry = deps.metrics ?? newMetricsRegistry()
  gaugeFrom(registry, {
    name: 'peregrine_scrape_targets',
    help: 'Targets, by job and health (up, down, unknown: not scraped yet).',
    labels: ['job', 'health'],
    read: () => {
      const n = new Map<string, number>()
      for (const l of loops.values()) {
        const k = `${l.job.name}\x00${l.state.health}`
        n.set(k, (n.get(k) ?? 0) + 1)
      }
      return [...n].map(([k, v]) => {
        const [job, health] = k.split('\x00')
        return [{ job, health }, v] as LabelledValue
      })
    },
  })
  counterFrom(registry, {
    name: 'peregrine_scrape_written_samples_total',
    help: 'Scraped samples written to transfer, and dropped (refused, or past the queue).',
    labels: ['outcome'],
    read: () => [
      [{ outcome: 'written' }, writer.counters.samples],
      [{ outcome: 'dropped' }, writer.counters.droppedSamples],
    ],
  })
  gaugeFrom(registry, {
    name: 'peregrine_scrape_write_pending_requests',
    help: 'Remote write requests waiting to be sent to transfer.',
    read: () => writer.pending,
  })
  listenerMetrics(registry, 'scrape', () => listeners)

  const iso = (ms: number) => (ms === 0 ? '0001-01-01T00:00:00Z' : new Date(ms).toISOString())
  const dur = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`)
  http.get('/api/v1/targets', (req) => {
    const state = (req.query as { state?: string }).state ?? 'any'
    const active =
      state === 'dropped'
        ? []
        : [...loops.values()].map((l) => ({
            discoveredLabels: l.target.discovered,
            labels: l.target.labels,
            scrapePool: l.job.name,
            scrapeUrl: l.target.url,
            globalUrl: l.target.url,
            lastError: l.state.lastError,
            lastScrape: iso(l.state.lastScrape),
            lastScrapeDuration: l.state.lastScrapeDuration,
            health: l.state.health,
            scrapeInterval: dur(l.target.interval),
            scrapeTimeout: dur(l.target.timeout),
            // Peregrine's: samples of the last scrape storage would not keep, and why (the scrape
            // itself went well; Prometheus stores what Peregrine cannot, such as labels over 510 bytes).
            samplesNotStored: l.state.samplesNotStored,
            lastStoreError: l.state.lastStoreError,
          }))
    const droppedTargets =
      state === 'active' ? [] : dropped.map((t) => ({ discoveredLabels: t.discovered }))
    const droppedTargetCounts: Record<string, number> = {}
    for (const t of dropped) droppedTargetCounts[t.job] = (droppedTargetCounts[t.job] ?? 0) + 1
    return {
      status: 'success',
      data: { activeTargets: active, droppedTargets, droppedTargetCounts },
    }
  })
  http.get('/metrics', async (_req, reply) =>
    reply.type(EXPOSITION_CONTENT_TYPE).send(await exposition(registry))
  )
  http.get('/health', (_req, reply) => {
    void reply.type('text/plain').send('ok')
  })
  http.get('/counter/all', () => ({
    msg: 'success',
    data: {
      targets: loops.size,
      droppedTargets: dropped.length,
      targetsOverLimit: overLimit,
      fileErrors: Object.fromEntries(files.errors),
      write: writer.counters,
      writePending: writer.pending,
      listeners,
    },
  }))
  // As Prometheus's: reread the config, from this host only (a reload can change what is scraped),
  // and not for a web page (another Origin, or a Host name a page could rebind to this address).
  http.post('/-/reload', async (req, reply) => {
    const a = req.socket.remoteAddress ?? ''
    if (!(a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.')))
      return reply.status(403).send('reload from this host only\n')
    const host = req.headers.host
    const origin = req.headers.origin
    if (host !== undefined && !hostIsLocalOrAddress(host))
      return reply
        .status(403)
        .send(
          `reload needs a Host that is localhost or an IP address, not ${JSON.stringify(host)}\n`
        )
    if (origin !== undefined && origin.toLowerCase() !== `http://${host ?? ''}`.toLowerCase())
      return reply
        .status(403)
        .send(
          `reload may not be called by a web page of another origin (${JSON.stringify(origin)}); call it with curl\n`
        )
    try {
      jobs = readJobs(config)
    } catch (err) {
      return reply.status(400).send(`${(err as Error).message}\n`)
    }
    arm()
    await sync()
    return reply.type('text/plain').send('ok\n')
  })

  try {
    const h = parseListen('scrape.http', config.http)
    await http.listen({ port: h.port, host: h.host }).catch((err: unknown) => {
      throw listenError('scrape.http', config.http, err)
    })
  } catch (err) {
    writer.close()
    await http.close()
    throw err
  }
  const a = http.server.address() as AddressInfo
  const address = `${a.address}:${a.port}`
  if (config.selfScrape) {
    selfJob = parseJobs([
      {
        job_name: 'peregrine',
        scrape_interval: '15s',
        scrape_timeout: '10s',
        static_configs: [{ targets: [address.replace(/^0\.0\.0\.0:/, '127.0.0.1:')] }],
      },
    ])[0]
  }
  await sync()
  // file_sd: read again at the shortest refresh_interval of any job (at least every second),
  // picking up changed files by their modification time; worked out again when a reload changes the jobs.
  let timer: NodeJS.Timeout | null = null
  const arm = () => {
    if (timer !== null) clearInterval(timer)
    const every = jobs.flatMap((j) => j.fileSdConfigs.map((f) => f.refreshInterval))
    timer =
      every.length === 0 ? null : setInterval(() => void sync(), Math.max(1000, Math.min(...every)))
    timer?.unref()
  }
  arm()
  return {
    name: 'scrape',
    addresses: { http: address },
    async stop() {
      if (timer !== null) clearInterval(timer)
      for (const l of loops.values()) await l.stop(false)
      loops.clear()
      writer.close()
      await http.close()
    },
  }
}
