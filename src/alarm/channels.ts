// Where alarm messages go: the Channel seam and its senders (SMTP, falcon's gateways, JSON webhook,
// DingTalk, WeCom, Feishu and Slack robots), falcon's action callback, and a retrying wrapper.
import { createHmac } from 'node:crypto'
import { setTimeout as sleepFor } from 'node:timers/promises'
import nodemailer from 'nodemailer'
import {
  eventMaxStep,
  eventMetric,
  eventNote,
  eventOperator,
  eventPriority,
  eventRightValue,
  type AlarmEvent,
} from '../core/index.js'
import { callbackUrl } from './templates.js'

/**
 * OutboundMessage is one message for one channel: recipients (`tos`: addresses, phone numbers, IM ids;
 * robots ignore them), a subject (mail only) and the text. `event` is set when the message stands for
 * one event (not for merged ones), so structured channels can send its fields.
 */
export interface OutboundMessage {
  tos: string[]
  subject: string
  content: string
  event?: AlarmEvent
}

/**
 * Channel sends messages one way. `send` resolves once the far side accepted the message and rejects
 * with a SendError otherwise; it never hangs past the channel's timeout. `close` releases pooled
 * connections (SMTP); the channel is unusable after it.
 */
export interface Channel {
  readonly name: string
  send(msg: OutboundMessage): Promise<void>
  close?(): void
}

/**
 * SendError is a failed delivery. Its message names the channel and the URL (credentials and tokens
 * masked) and says why: the HTTP status and a body snippet, the robot's error code, a timeout. `status`
 * is the HTTP status when there was an answer. withRetry sets `attempts` on the error it rejects with.
 */
export class SendError extends Error {
  readonly channel: string
  readonly status: number | undefined
  attempts: number | undefined
  constructor(channel: string, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SendError'
    this.channel = channel
    this.status = options?.status
    this.attempts = undefined
  }
}

/** DEFAULT_TIMEOUT_MS bounds every HTTP request and SMTP step (connect to last byte): 20 s, as falcon. */
export const DEFAULT_TIMEOUT_MS = 20_000
/** CALLBACK_BODY_LIMIT caps the callback answer kept (64 KiB); the rest is not read. */
export const CALLBACK_BODY_LIMIT = 64 * 1024
// Replies of senders are only inspected for status words; error messages quote this much of them.
const REPLY_LIMIT = 64 * 1024
const SNIPPET = 200

const SECRET_QUERY = /token|key|secret|sign|pass|auth/i

/**
 * redactUrl returns `url` fit for logs: user info dropped, values of query keys that look secret
 * (token, key, secret, sign, pass, auth) masked, and with `maskPath` the last path segment masked too
 * (Slack and Feishu carry their token there). An unparsable URL is replaced by `<invalid url>`.
 */
export function redactUrl(url: string, maskPath = false): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return '<invalid url>'
  }
  u.username = ''
  u.password = ''
  for (const key of [...u.searchParams.keys()])
    if (SECRET_QUERY.test(key)) u.searchParams.set(key, '***')
  if (maskPath) u.pathname = u.pathname.replace(/[^/]+$/, '***')
  return u.toString()
}

const snippet = (body: string): string =>
  body.length > SNIPPET ? `${JSON.stringify(body.slice(0, SNIPPET))}…` : JSON.stringify(body)

/** readCapped reads at most `limit` bytes of a reply's body and cancels the rest of the stream. */
async function readCapped(res: Response, limit: number): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
      if (size >= limit) {
        await reader.cancel()
        break
      }
    }
  } finally {
    reader.releaseLock()
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8')
}

interface Reply {
  status: number
  body: string
}

/**
 * request sends one HTTP request bounded by `timeoutMs` from connect to the last byte read, and returns
 * the status and (capped) body; transport failures and timeouts reject with a SendError naming `where`.
 */
async function request(
  channel: string,
  where: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  limit = REPLY_LIMIT
): Promise<Reply> {
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const [target, req] = withoutCredentials(url, init)
    const res = await fetch(target, { ...req, signal })
    return { status: res.status, body: await readCapped(res, limit) }
  } catch (err) {
    if (signal.aborted) {
      throw new SendError(channel, `${channel} ${where}: no answer within ${timeoutMs} ms`, {
        cause: err,
      })
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (err as Error).message
    throw new SendError(channel, `${channel} ${where}: request failed (${why})`, { cause: err })
  }
}

/**
 * withoutCredentials moves a URL's `user:pass@` into a Basic Authorization header (fetch refuses URLs
 * that carry credentials), unless the request already has an Authorization header.
 */
function withoutCredentials(url: string, init: RequestInit): [string, RequestInit] {
  const u = new URL(url)
  if (u.username === '' && u.password === '') return [url, init]
  const basic = Buffer.from(
    `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`
  ).toString('base64')
  u.username = ''
  u.password = ''
  const headers = new Headers(init.headers)
  if (!headers.has('authorization')) headers.set('authorization', `Basic ${basic}`)
  return [u.toString(), { ...init, headers }]
}

function expect2xx(channel: string, where: string, reply: Reply): void {
  if (reply.status < 200 || reply.status > 299) {
    throw new SendError(
      channel,
      `${channel} ${where}: HTTP ${reply.status}, body ${snippet(reply.body)}`,
      { status: reply.status }
    )
  }
}

/** post POSTs `body` as `headers` say and returns the reply, rejecting with a SendError unless 2xx. */
async function post(
  channel: string,
  where: string,
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number
): Promise<Reply> {
  const reply = await request(channel, where, url, { method: 'POST', headers, body }, timeoutMs)
  expect2xx(channel, where, reply)
  return reply
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body)
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** checkHttpUrl throws naming the channel when `url` is not an http(s) URL, so config fails at start. */
function checkHttpUrl(channel: string, url: string): void {
  let u: URL | undefined
  try {
    u = new URL(url)
  } catch {
    u = undefined
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new Error(`${channel}: expected an http:// or https:// URL, got ${redactUrl(url)}`)
  }
}

/**
 * HttpChannelOptions are shared by the HTTP channels: `timeoutMs` (default 20 s) bounds each request.
 * Every HTTP factory throws at once when `url` is not http(s); `user:pass@` in it becomes Basic auth.
 */
export interface HttpChannelOptions {
  url: string
  timeoutMs?: number
}

/** SmtpChannelOptions: `url` is `smtp://user:pass@host:port` or `smtps://…` (nodemailer URL options allowed). */
export interface SmtpChannelOptions {
  url: string
  from: string
  /** timeoutMs bounds connecting, the greeting and each socket wait; default 20 s. */
  timeoutMs?: number
}

/**
 * smtpChannel sends mail through one pooled nodemailer transport: `tos` in To, `subject`, and `content`
 * as the text body. Query parameters of `url` reach nodemailer (`?tls.rejectUnauthorized=false`,
 * `?requireTLS=true`). A refused message rejects with a SendError carrying the server's answer.
 * `close()` ends the pool's connections.
 */
export function smtpChannel(options: SmtpChannelOptions): Channel {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const where = redactUrl(options.url)
  const transport = nodemailer.createTransport({
    url: options.url,
    pool: true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  })
  return {
    name: 'smtp',
    async send(msg) {
      try {
        await transport.sendMail({
          from: options.from,
          to: msg.tos,
          subject: msg.subject,
          text: msg.content,
        })
      } catch (err) {
        throw new SendError('smtp', `smtp ${where}: ${(err as Error).message}`, { cause: err })
      }
    },
    close() {
      transport.close()
    },
  }
}

/** FalconGatewayKind names falcon's three gateways (`api.sms`, `api.mail`, `api.im` of alarm's cfg). */
export type FalconGatewayKind = 'sms' | 'mail' | 'im'

/**
 * falconGatewayChannel POSTs to a falcon gateway (sms-provider, mail-provider, falcon-message) as falcon's
 * alarm does: `application/x-www-form-urlencoded` with `tos` (comma-joined), `content`, and `subject`
 * for mail. Any 2xx is success (falcon ignores the body); other statuses reject.
 */
export function falconGatewayChannel(
  kind: FalconGatewayKind,
  url: string,
  timeoutMs = DEFAULT_TIMEOUT_MS
): Channel {
  const name = `falcon-${kind}`
  checkHttpUrl(name, url)
  const where = redactUrl(url)
  return {
    name,
    async send(msg) {
      const form = new URLSearchParams({ tos: msg.tos.join(',') })
      if (kind === 'mail') form.set('subject', msg.subject)
      form.set('content', msg.content)
      await post(
        name,
        where,
        url,
        { 'content-type': 'application/x-www-form-urlencoded' },
        form.toString(),
        timeoutMs
      )
    },
  }
}

/**
 * WebhookBody is what webhookChannel POSTs as JSON. The event fields are null for a message that does
 * not stand for one event (a merged one):
 * - `event`: the event id (`s_<strategy>_<md5>` / `e_<expression>_<md5>`)
 * - `status` (`PROBLEM`|`OK`), `priority`, `endpoint`, `metric`, `tags` (the pushed tags object)
 * - `leftValue` (the value that fired), `operator`, `rightValue` (the threshold), `note`
 * - `currentStep`, `maxStep`: how many times it was notified, and the limit
 * - `time`: the event time, unix seconds
 * - `subject`, `content`, `tos`: the rendered message and its recipients
 */
export interface WebhookBody {
  event: string | null
  status: string | null
  priority: number | null
  endpoint: string | null
  metric: string | null
  tags: Readonly<Record<string, string>> | null
  leftValue: number | null
  operator: string | null
  rightValue: number | null
  note: string | null
  currentStep: number | null
  maxStep: number | null
  time: number | null
  subject: string
  content: string
  tos: string[]
}

/** webhookBody builds the JSON body webhookChannel sends (see WebhookBody). */
export function webhookBody(msg: OutboundMessage): WebhookBody {
  const e = msg.event
  return {
    event: e?.id ?? null,
    status: e?.status ?? null,
    priority: e === undefined ? null : eventPriority(e),
    endpoint: e?.endpoint ?? null,
    metric: e === undefined ? null : eventMetric(e),
    tags: e?.pushedTags ?? null,
    leftValue: e?.leftValue ?? null,
    operator: e === undefined ? null : eventOperator(e),
    rightValue: e === undefined ? null : eventRightValue(e),
    note: e === undefined ? null : eventNote(e),
    currentStep: e?.currentStep ?? null,
    maxStep: e === undefined ? null : eventMaxStep(e),
    time: e?.eventTime ?? null,
    subject: msg.subject,
    content: msg.content,
    tos: msg.tos,
  }
}

/** WebhookChannelOptions: extra `headers` (an Authorization, say) go with every request. */
export interface WebhookChannelOptions extends HttpChannelOptions {
  headers?: Readonly<Record<string, string>>
}

/** webhookChannel POSTs webhookBody(msg) as `application/json`; any 2xx is success. */
export function webhookChannel(options: WebhookChannelOptions): Channel {
  checkHttpUrl('webhook', options.url)
  const where = redactUrl(options.url)
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return {
    name: 'webhook',
    async send(msg) {
      await post(
        'webhook',
        where,
        options.url,
        { ...options.headers, 'content-type': 'application/json' },
        JSON.stringify(webhookBody(msg)),
        timeout
      )
    },
  }
}

/** RobotChannelOptions: `secret` turns on signing where the robot supports it (DingTalk, Feishu). */
export interface RobotChannelOptions extends HttpChannelOptions {
  secret?: string
  /** now returns the time in ms for the signature's timestamp; defaults to Date.now. */
  now?: () => number
}

const robotText = (msg: OutboundMessage): string => msg.content

/**
 * postRobot POSTs a JSON body and checks the robot's answer with `accepted`, which returns an error
 * description for an HTTP 200 that the robot still refused (undefined when it accepted).
 */
async function postRobot(
  name: string,
  url: string,
  where: string,
  body: unknown,
  timeoutMs: number,
  accepted: (reply: string) => string | undefined
): Promise<void> {
  const reply = await post(
    name,
    where,
    url,
    { 'content-type': 'application/json' },
    JSON.stringify(body),
    timeoutMs
  )
  const refused = accepted(reply.body)
  if (refused !== undefined) {
    throw new SendError(name, `${name} ${where}: ${refused}, body ${snippet(reply.body)}`, {
      status: reply.status,
    })
  }
}

/** errcodeZero accepts DingTalk's and WeCom's answers: a JSON object whose `errcode` is 0. */
function errcodeZero(body: string): string | undefined {
  const v = parseJson(body)
  if (v === undefined) return 'answer is not JSON'
  return v.errcode === 0 ? undefined : `errcode ${JSON.stringify(v.errcode)}`
}

/**
 * dingtalkSign is DingTalk's custom robot signature: base64(HMAC-SHA256(key = secret,
 * data = `${timestampMs}\n${secret}`)), sent as the `timestamp` and `sign` query parameters.
 */
export function dingtalkSign(timestampMs: number, secret: string): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64')
}

/**
 * dingtalkChannel POSTs `{"msgtype":"text","text":{"content":…}}` to a DingTalk custom robot; with a
 * secret it adds `timestamp` (ms) and `sign` to the URL's query. A 200 whose `errcode` is not 0 fails.
 */
export function dingtalkChannel(options: RobotChannelOptions): Channel {
  checkHttpUrl('dingtalk', options.url)
  const where = redactUrl(options.url)
  const now = options.now ?? Date.now
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return {
    name: 'dingtalk',
    async send(msg) {
      let url = options.url
      if (options.secret !== undefined && options.secret !== '') {
        const u = new URL(url)
        const ts = now()
        u.searchParams.set('timestamp', String(ts))
        u.searchParams.set('sign', dingtalkSign(ts, options.secret))
        url = u.toString()
      }
      const body = { msgtype: 'text', text: { content: robotText(msg) } }
      await postRobot('dingtalk', url, where, body, timeout, errcodeZero)
    },
  }
}

/**
 * wecomChannel POSTs `{"msgtype":"text","text":{"content":…}}` to a WeCom group robot (the key is in the
 * URL; WeCom has no signing, so `secret` is ignored). A 200 whose `errcode` is not 0 fails.
 */
export function wecomChannel(options: RobotChannelOptions): Channel {
  checkHttpUrl('wecom', options.url)
  const where = redactUrl(options.url)
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return {
    name: 'wecom',
    async send(msg) {
      const body = { msgtype: 'text', text: { content: robotText(msg) } }
      await postRobot('wecom', options.url, where, body, timeout, errcodeZero)
    },
  }
}

/**
 * feishuSign is Feishu's custom bot signature: base64(HMAC-SHA256(key = `${timestampS}\n${secret}`,
 * data = "")), sent as `timestamp` (seconds, a string) and `sign` in the body.
 */
export function feishuSign(timestampS: number, secret: string): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64')
}

/**
 * feishuChannel POSTs `{"msg_type":"text","content":{"text":…}}` to a Feishu (Lark) custom bot, with
 * `timestamp` and `sign` first in the body when a secret is set. A 200 whose `code` (or older
 * `StatusCode`) is not 0 fails, as does one that is not JSON.
 */
export function feishuChannel(options: RobotChannelOptions): Channel {
  checkHttpUrl('feishu', options.url)
  const where = redactUrl(options.url, true)
  const now = options.now ?? Date.now
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return {
    name: 'feishu',
    async send(msg) {
      const text = { msg_type: 'text', content: { text: robotText(msg) } }
      let body: object = text
      if (options.secret !== undefined && options.secret !== '') {
        const ts = Math.floor(now() / 1000)
        body = { timestamp: String(ts), sign: feishuSign(ts, options.secret), ...text }
      }
      await postRobot('feishu', options.url, where, body, timeout, (reply) => {
        const v = parseJson(reply)
        if (v === undefined) return 'answer is not JSON'
        if (typeof v.code === 'number' && v.code !== 0) return `code ${v.code}`
        if (typeof v.StatusCode === 'number' && v.StatusCode !== 0)
          return `StatusCode ${v.StatusCode}`
        if (typeof v.code !== 'number' && typeof v.StatusCode !== 'number')
          return 'no code in answer'
        return undefined
      })
    },
  }
}

/**
 * slackChannel POSTs `{"text":…}` to a Slack incoming webhook (no signing: the token is the URL's path,
 * masked in errors). Slack answers `ok`; any other body fails even with a 200.
 */
export function slackChannel(options: RobotChannelOptions): Channel {
  checkHttpUrl('slack', options.url)
  const where = redactUrl(options.url, true)
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return {
    name: 'slack',
    async send(msg) {
      await postRobot('slack', options.url, where, { text: robotText(msg) }, timeout, (reply) =>
        reply.trim() === 'ok' ? undefined : 'answer is not "ok"'
      )
    },
  }
}

/** CallbackResult is how falcon's action callback went: `ok` for a 2xx answer, `error` otherwise. */
export interface CallbackResult {
  ok: boolean
  /** status is the HTTP status, 0 when no answer came. */
  status: number
  /** body is the answer, at most CALLBACK_BODY_LIMIT bytes of it. */
  body: string
  error?: string
}

/**
 * callback GETs callbackUrl(actionUrl, e) as falcon's action callback does, bounded by `timeoutMs`
 * (default 20 s, falcon's total). It never rejects: failures are reported in the result, whose `error`
 * names the URL without credentials.
 */
export async function callback(
  actionUrl: string,
  e: AlarmEvent,
  timeoutMs = DEFAULT_TIMEOUT_MS
): Promise<CallbackResult> {
  const where = redactUrl(actionUrl)
  try {
    const reply = await request(
      'callback',
      where,
      callbackUrl(actionUrl, e),
      { method: 'GET' },
      timeoutMs,
      CALLBACK_BODY_LIMIT
    )
    const ok = reply.status >= 200 && reply.status <= 299
    return ok
      ? { ok, status: reply.status, body: reply.body }
      : {
          ok,
          status: reply.status,
          body: reply.body,
          error: `callback ${where}: HTTP ${reply.status}`,
        }
  } catch (err) {
    return { ok: false, status: 0, body: '', error: (err as Error).message }
  }
}

function attachAttempts(channel: string, err: unknown, attempts: number): Error {
  const last =
    err instanceof Error
      ? err
      : new SendError(channel, `${channel}: ${String(err)}`, { cause: err })
  ;(last as Error & { attempts?: number }).attempts = attempts
  return last
}

/** RetryOptions: how withRetry retries a failed send. */
export interface RetryOptions {
  /** attempts is the total number of tries, the first included; default 3. */
  attempts?: number
  /** baseDelayMs is the wait after the first failure, doubled after each further one; default 1000. */
  baseDelayMs?: number
  /** maxDelayMs caps the wait; default 30 000. */
  maxDelayMs?: number
  /** onAttemptFailed hears of each failure that will be retried, with the wait before the next try. */
  onAttemptFailed?: (err: unknown, attempt: number, delayMs: number) => void
  /**
   * signal stops retrying (a service stopping): a wait in progress ends at once and send rejects with
   * the last send error, `attempts` set to the tries made.
   */
  signal?: AbortSignal
  /** sleep waits `ms`; tests pass one that returns at once. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** random returns a number in [0, 1) for the jitter; default Math.random. */
  random?: () => number
}

/** defaultRetryOptions are withRetry's defaults. */
export const defaultRetryOptions = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 30_000 } as const

/** RetryingChannel is a Channel whose send also tells how many attempts it took. */
export interface RetryingChannel {
  readonly name: string
  send(msg: OutboundMessage): Promise<{ attempts: number }>
  close(): void
}

/**
 * withRetry wraps `channel` so a failed send is tried again, up to `attempts` in all. The wait before
 * try n+1 is min(maxDelayMs, baseDelayMs · 2^(n-1)) scaled by a random factor in [0.5, 1) (jitter, so
 * alarms failing together do not retry together). Resolves `{attempts}`; after the last failure rejects
 * with that error, its `attempts` property set (a non-Error is wrapped in a SendError first).
 */
export function withRetry(channel: Channel, options: RetryOptions = {}): RetryingChannel {
  const attempts = Math.max(1, options.attempts ?? defaultRetryOptions.attempts)
  const base = options.baseDelayMs ?? defaultRetryOptions.baseDelayMs
  const max = options.maxDelayMs ?? defaultRetryOptions.maxDelayMs
  const random = options.random ?? Math.random
  const stopping = (): boolean => options.signal?.aborted === true
  const sleep =
    options.sleep ?? ((ms: number, signal?: AbortSignal) => sleepFor(ms, undefined, { signal }))
  return {
    name: channel.name,
    async send(msg) {
      for (let attempt = 1; ; attempt++) {
        try {
          await channel.send(msg)
          return { attempts: attempt }
        } catch (err) {
          if (attempt >= attempts || stopping()) {
            throw attachAttempts(channel.name, err, attempt)
          }
          const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + random() / 2)
          options.onAttemptFailed?.(err, attempt, delay)
          try {
            await sleep(delay, options.signal)
          } catch (stop) {
            if (!stopping()) throw stop
            throw attachAttempts(channel.name, err, attempt)
          }
        }
      }
    },
    close: () => channel.close?.(),
  }
}
