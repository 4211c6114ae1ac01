// alarm's configuration (falcon's modules/alarm cfg.json roles plus Peregrine's channels), validated
// with every problem named.
import {
  AddressPolicy,
  checkConnectionLimits,
  checkListen,
  type ConnectionLimits,
  defaultConnectionLimits,
} from '../core/index.js'
import { checkStoreUrl } from '../store/index.js'
import { checkTemplate } from './templates.js'

/** RobotKind: the group-chat robots alarm posts to. */
export const ROBOT_KINDS = ['dingtalk', 'wecom', 'feishu', 'slack'] as const
export type RobotKind = (typeof ROBOT_KINDS)[number]

/** A group-chat robot: gets the IM text of the events of actions naming one of `teams` (all if empty). */
export interface RobotConfig {
  name: string
  kind: RobotKind
  url: string
  secret?: string
  teams?: string[]
}

/** A JSON webhook: gets every event (Peregrine's; falcon's per-action callback is separate). */
export interface WebhookConfig {
  name: string
  url: string
  headers?: Record<string, string>
  /** priorities: only events of these priorities (all if empty). */
  priorities?: number[]
}

/** Channels: where messages go. A channel not configured is skipped (and counted). */
export interface ChannelsConfig {
  /** mail: over SMTP (`smtp://user:pass@host:port`, `smtps://…`) or falcon's mail gateway (`gateway`). */
  mail?: { smtp?: string; from?: string; gateway?: string }
  /** sms: falcon's SMS gateway (form POST `tos`, `content`). */
  sms?: { gateway: string }
  /** im: falcon's IM gateway (form POST `tos`, `content`), users' `im` field as `tos`. */
  im?: { gateway: string }
  robots?: RobotConfig[]
  webhooks?: WebhookConfig[]
}

/** AlarmConfig configures alarm. The connection limits apply to its HTTP listener. */
export interface AlarmConfig extends ConnectionLimits {
  /** http: HTTP listener (falcon `http.listen`, default `127.0.0.1:9912`: it is for the operator). */
  http: string
  /** store: the portal store (actions, teams, users; alarm history is written there too). */
  store: string
  /** redis: falcon's Redis lists (`redis://host:port`); '' takes events from the in-process queue. */
  redis: string
  /** spillDir: where messages wait on disk while Redis is unreachable. */
  spillDir: string
  /** highQueues: sent at once (falcon `redis.highQueues`, `event:p0`..`event:p2`). */
  highQueues: string[]
  /** lowQueues: merged per recipient every `mergeInterval` (falcon `redis.lowQueues`, p3..p6). */
  lowQueues: string[]
  /** mergeInterval: ms between two merges of low-priority messages (falcon: 60 s). */
  mergeInterval: number
  /** dashboard: base URL of links in mails (falcon `api.dashboard`); '' for no link. */
  dashboard: string
  channels: ChannelsConfig
  /** templates: override falcon's texts; `{{placeholders}}` as in docs/alarm.md. */
  templates: { sms?: string; im?: string; mail?: string; mailSubject?: string }
  /** retry: attempts per message (first included) and the first wait, doubled up to maxDelayMs. */
  retry: { attempts: number; baseDelayMs: number; maxDelayMs: number }
  /** workers: messages sent at once (falcon `worker.sms|mail|im` 10/50/10, shared here). */
  workers: number
  /** timeoutMs: one delivery attempt's limit (falcon's callback total, 20 s). */
  timeoutMs: number
  /**
   * callbackAllow: the internal ranges (CIDRs, addresses) and host names action callbacks may reach.
   * A callback URL is set by users through /api/v1, so by default it may not lead to loopback,
   * private, link-local (cloud metadata) or other internal addresses (AddressPolicy). The URLs of
   * `channels` are the operator's and are not checked.
   */
  callbackAllow: string[]
  /** retentionDays, deleteBatch: falcon's `housekeeper`: events older than this are deleted. */
  retentionDays: number
  deleteBatch: number
}

export const defaultAlarmConfig: AlarmConfig = {
  http: '127.0.0.1:9912',
  store: 'sqlite:./data/portal.db',
  redis: '',
  spillDir: './data/alarm',
  highQueues: ['event:p0', 'event:p1', 'event:p2'],
  lowQueues: ['event:p3', 'event:p4', 'event:p5', 'event:p6'],
  mergeInterval: 60_000,
  dashboard: '',
  channels: {},
  templates: {},
  retry: { attempts: 3, baseDelayMs: 1000, maxDelayMs: 30_000 },
  workers: 16,
  timeoutMs: 20_000,
  callbackAllow: [],
  retentionDays: 7,
  deleteBatch: 100,
  ...defaultConnectionLimits,
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function urlProblem(key: string, v: unknown, schemes: readonly string[]): string | undefined {
  if (typeof v !== 'string') return `${key}: expected a URL string`
  try {
    const u = new URL(v)
    if (!schemes.includes(u.protocol.slice(0, -1)))
      return `${key}: expected a ${schemes.join(' or ')} URL, got ${u.protocol}`
  } catch {
    return `${key}: not a URL: ${JSON.stringify(v)}`
  }
  return undefined
}

function channelProblems(c: unknown, problems: string[]): void {
  if (!isObject(c)) {
    problems.push('alarm.channels: expected an object')
    return
  }
  const http = ['http', 'https'] as const
  const add = (p: string | undefined) => {
    if (p !== undefined) problems.push(p)
  }
  for (const k of Object.keys(c))
    if (!['mail', 'sms', 'im', 'robots', 'webhooks'].includes(k))
      problems.push(`alarm.channels.${k}: not a channel (expected mail, sms, im, robots, webhooks)`)
  if (c.mail !== undefined) {
    const m = c.mail
    if (!isObject(m)) problems.push('alarm.channels.mail: expected {smtp, from} or {gateway}')
    else if (m.smtp !== undefined) {
      add(urlProblem('alarm.channels.mail.smtp', m.smtp, ['smtp', 'smtps']))
      if (typeof m.from !== 'string' || !m.from.includes('@'))
        problems.push(
          'alarm.channels.mail.from: expected the sender address, like "falcon@example.com"'
        )
    } else if (m.gateway !== undefined)
      add(urlProblem('alarm.channels.mail.gateway', m.gateway, http))
    else problems.push('alarm.channels.mail: expected {smtp, from} or {gateway}')
  }
  for (const k of ['sms', 'im'] as const) {
    const v = c[k]
    if (v === undefined) continue
    if (!isObject(v)) problems.push(`alarm.channels.${k}: expected {gateway: URL}`)
    else add(urlProblem(`alarm.channels.${k}.gateway`, v.gateway, http))
  }
  const names = new Set<string>()
  const named = (key: string, v: Record<string, unknown>) => {
    if (typeof v.name !== 'string' || v.name === '') problems.push(`${key}.name: expected a name`)
    else if (names.has(v.name)) problems.push(`${key}.name: ${v.name} is used twice`)
    else names.add(v.name)
  }
  if (c.robots !== undefined) {
    if (!Array.isArray(c.robots)) problems.push('alarm.channels.robots: expected a list')
    else
      c.robots.forEach((r: unknown, i) => {
        const key = `alarm.channels.robots[${i}]`
        if (!isObject(r)) return problems.push(`${key}: expected {name, kind, url}`)
        named(key, r)
        if (!(ROBOT_KINDS as readonly unknown[]).includes(r.kind))
          problems.push(`${key}.kind: expected one of ${ROBOT_KINDS.join(', ')}`)
        add(urlProblem(`${key}.url`, r.url, http))
        if (r.secret !== undefined && typeof r.secret !== 'string')
          problems.push(`${key}.secret: expected a string`)
        if (
          r.teams !== undefined &&
          (!Array.isArray(r.teams) || !r.teams.every((t) => typeof t === 'string'))
        )
          problems.push(`${key}.teams: expected a list of team names`)
      })
  }
  if (c.webhooks !== undefined) {
    if (!Array.isArray(c.webhooks)) problems.push('alarm.channels.webhooks: expected a list')
    else
      c.webhooks.forEach((w: unknown, i) => {
        const key = `alarm.channels.webhooks[${i}]`
        if (!isObject(w)) return problems.push(`${key}: expected {name, url}`)
        named(key, w)
        add(urlProblem(`${key}.url`, w.url, http))
        if (
          w.headers !== undefined &&
          (!isObject(w.headers) || !Object.values(w.headers).every((h) => typeof h === 'string'))
        )
          problems.push(`${key}.headers: expected {"Header-Name": "value"}`)
        if (
          w.priorities !== undefined &&
          (!Array.isArray(w.priorities) ||
            !w.priorities.every((p) => Number.isInteger(p) && p >= 0 && p <= 6))
        )
          problems.push(`${key}.priorities: expected a list of priorities 0..6`)
      })
  }
}

/** parseAlarmConfig merges `raw` over the defaults and checks it, naming every bad key at once. */
export function parseAlarmConfig(raw: Record<string, unknown>): Readonly<AlarmConfig> {
  const c = {
    ...defaultAlarmConfig,
    ...raw,
    retry: { ...defaultAlarmConfig.retry, ...(isObject(raw.retry) ? raw.retry : {}) },
  }
  const problems: string[] = []
  if (raw.retry !== undefined && !isObject(raw.retry))
    problems.push('alarm.retry: expected {attempts, baseDelayMs, maxDelayMs}')
  checkListen(problems, 'alarm.http', c.http)
  checkStoreUrl(problems, 'alarm.store', c.store)
  if (typeof c.redis !== 'string' || (c.redis !== '' && !/^rediss?:\/\//.test(c.redis)))
    problems.push(
      `alarm.redis: expected "" (events from the in-process queue) or a URL like "redis://127.0.0.1:6379", got ${JSON.stringify(c.redis)}`
    )
  if (typeof c.spillDir !== 'string' || c.spillDir === '')
    problems.push('alarm.spillDir: expected a directory path')
  for (const k of ['highQueues', 'lowQueues'] as const) {
    const v: unknown = c[k]
    if (!Array.isArray(v) || !v.every((q) => typeof q === 'string' && q !== ''))
      problems.push(`alarm.${k}: expected a list of queue names like ["event:p0"]`)
  }
  if (typeof c.dashboard !== 'string') problems.push('alarm.dashboard: expected a URL or ""')
  channelProblems(c.channels, problems)
  problems.push(...AddressPolicy.problems('alarm.callbackAllow', c.callbackAllow))
  if (!isObject(c.templates)) problems.push('alarm.templates: expected an object')
  else
    for (const [k, t] of Object.entries(c.templates)) {
      if (!['sms', 'im', 'mail', 'mailSubject'].includes(k)) {
        problems.push(`alarm.templates.${k}: not a template (expected sms, im, mail, mailSubject)`)
        continue
      }
      try {
        if (typeof t !== 'string') throw new Error('expected a string')
        checkTemplate(t)
      } catch (err) {
        problems.push(`alarm.templates.${k}: ${(err as Error).message}`)
      }
    }
  for (const k of ['attempts', 'baseDelayMs', 'maxDelayMs'] as const)
    if (!Number.isInteger(c.retry[k]) || c.retry[k] <= 0)
      problems.push(`alarm.retry.${k}: expected a positive integer`)
  for (const k of [
    'mergeInterval',
    'workers',
    'timeoutMs',
    'retentionDays',
    'deleteBatch',
  ] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0)
      problems.push(`alarm.${k}: expected a positive integer, got ${JSON.stringify(c[k])}`)
  }
  checkConnectionLimits(problems, 'alarm', c)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return Object.freeze(c)
}
