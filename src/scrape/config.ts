// scrape's configuration: where it listens, which prometheus.yml (or inline scrape_configs) it reads,
// where it writes, and its bounds; validated with every problem named.
import {
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'

/** ScrapeComponentConfig configures the scrape component. */
export interface ScrapeComponentConfig extends ConnectionLimits {
  /** http: listener for /api/v1/targets, /metrics, /health and /-/reload (default 127.0.0.1:6065). */
  http: string
  /** configFile: a prometheus.yml whose `global` and `scrape_configs` are read ('' for none). */
  configFile: string
  /** scrapeConfigs, global: the same, inline (used when configFile is ''). */
  scrapeConfigs: unknown[]
  global: Record<string, unknown>
  /** remoteWrite: the transfer remote write URL the samples go to. */
  remoteWrite: string
  /** selfScrape: also scrape this process's own /metrics (job `peregrine`, every 15 s). */
  selfScrape: boolean
  /** maxTargets: most targets scraped at once; the rest are listed as dropped. */
  maxTargets: number
  /** maxBodyBytes: largest page read from a target (a job's body_size_limit may lower it). */
  maxBodyBytes: number
  /**
   * maxSamplesPerScrape: the most samples one page may have (a job's sample_limit may lower it); a
   * page with more fails its scrape, as sample_limit does, before it is read to its end.
   */
  maxSamplesPerScrape: number
}

export const defaultScrapeConfig: ScrapeComponentConfig = {
  http: '127.0.0.1:6065',
  configFile: '',
  scrapeConfigs: [],
  global: {},
  remoteWrite: 'http://127.0.0.1:6060/api/v1/write',
  selfScrape: true,
  maxTargets: 10_000,
  maxBodyBytes: 32 << 20,
  maxSamplesPerScrape: 200_000,
  ...defaultConnectionLimits,
}

/** parseScrapeConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseScrapeConfig(raw: Record<string, unknown>): Readonly<ScrapeComponentConfig> {
  const known = new Set(Object.keys(defaultScrapeConfig))
  const problems: string[] = []
  for (const k of Object.keys(raw))
    if (!known.has(k)) problems.push(`scrape.${k}: not a scrape setting`)
  const c: ScrapeComponentConfig = { ...defaultScrapeConfig, ...raw }
  checkListen(problems, 'scrape.http', c.http)
  if (typeof c.configFile !== 'string')
    problems.push('scrape.configFile: expected a file path or ""')
  if (!Array.isArray(c.scrapeConfigs))
    problems.push('scrape.scrapeConfigs: expected a list of scrape configs')
  if (typeof c.global !== 'object' || c.global === null || Array.isArray(c.global))
    problems.push('scrape.global: expected a mapping (scrape_interval, scrape_timeout)')
  try {
    const u = new URL(String(c.remoteWrite))
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http')
  } catch {
    problems.push(
      `scrape.remoteWrite: expected an http(s) URL, got ${JSON.stringify(c.remoteWrite)}`
    )
  }
  if (typeof c.selfScrape !== 'boolean') problems.push('scrape.selfScrape: expected true or false')
  for (const key of ['maxTargets', 'maxBodyBytes', 'maxSamplesPerScrape'] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0)
      problems.push(`scrape.${key}: expected a positive integer, got ${JSON.stringify(c[key])}`)
  }
  checkConnectionLimits(problems, 'scrape', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
