// url.check.health: 1 when a URL answers HEAD with HTTP 200 in time, else 0 (falcon
// funcs/urlstat.go, which runs `curl --max-filesize 102400 -I -m <timeout> -o /dev/null -s
// -w %{http_code} <url>` and wants exactly "200").
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { type Sample, gauge } from '../collector.js'
import { parseDecimal } from './netstat.js'

/** UrlItem is one URL to probe and its timeout in seconds, as the text hbs sent. */
export interface UrlItem {
  url: string
  timeout: string
}

/**
 * parseUrlItems reads hbs's `url=<u>,timeout=<s>` tag strings as falcon's cron/builtin.go does:
 * exactly two ','-separated parts, each exactly one '=' (so a URL holding ',' or '=' is dropped),
 * a timeout that parses as an integer. A URL given twice keeps its first place and last timeout.
 */
export function parseUrlItems(items: readonly string[]): UrlItem[] {
  const byUrl = new Map<string, string>()
  for (const tags of items) {
    const parts = tags.split(',')
    if (parts.length !== 2) continue
    const url = parts[0].split('=')
    const timeout = parts[1].split('=')
    if (url.length !== 2 || timeout.length !== 2) continue
    if (parseDecimal(timeout[1], true) === undefined) continue
    byUrl.set(url[1], timeout[1])
  }
  return [...byUrl].map(([url, timeout]) => ({ url, timeout }))
}

/** MAX_FILESIZE is curl's --max-filesize in falcon's call: a larger Content-Length fails. */
const MAX_FILESIZE = 102_400

/**
 * probeUrl sends one HEAD request, the way falcon's curl call does, and resolves to true only for
 * status 200. Like curl: a URL without a scheme is http; redirects are not followed; TLS
 * certificates are verified; a 200 whose Content-Length exceeds 102 400 bytes fails (curl exits
 * 63); `timeout` seconds bound the whole request, 0 means none (then `maxMs` bounds it) and a
 * negative one fails (curl rejects it). Any error is false; it never rejects.
 */
export function probeUrl(url: string, timeout: string, maxMs: number): Promise<boolean> {
  const seconds = parseDecimal(timeout, true)
  if (seconds === undefined || seconds < 0) return Promise.resolve(false)
  let target: URL
  try {
    target = new URL(url.includes('://') ? url : `http://${url}`)
  } catch {
    return Promise.resolve(false)
  }
  const request =
    target.protocol === 'http:'
      ? httpRequest
      : target.protocol === 'https:'
        ? httpsRequest
        : undefined
  if (request === undefined) return Promise.resolve(false)
  return new Promise((resolve) => {
    const req = request(
      target,
      {
        method: 'HEAD',
        agent: false,
        headers: { accept: '*/*', 'user-agent': 'falcon-agent (peregrine)' },
        signal: AbortSignal.timeout(seconds === 0 ? maxMs : seconds * 1000),
      },
      (res) => {
        const length = parseDecimal(res.headers['content-length'] ?? '', false)
        resolve(res.statusCode === 200 && (length === undefined || length <= MAX_FILESIZE))
        res.resume()
        req.destroy()
      }
    )
    req.on('error', () => resolve(false))
    req.end()
  })
}

/**
 * urlSamples probes every item at once and returns one url.check.health GAUGE per item, tagged
 * `url=<u>,timeout=<s>,src=<hostname>` as falcon does. It resolves when the slowest probe ends,
 * so within the largest timeout.
 */
export async function urlSamples(
  items: readonly UrlItem[],
  hostname: string,
  maxMs: number
): Promise<Sample[]> {
  const ok = await Promise.all(items.map((i) => probeUrl(i.url, i.timeout, maxMs)))
  return items.map((i, k) =>
    gauge('url.check.health', ok[k] ? 1 : 0, `url=${i.url},timeout=${i.timeout},src=${hostname}`)
  )
}
