// Where alarm messages go: the Channel seam and its senders (SMTP, falcon's gateways, JSON webhook,
// DingTalk, WeCom, Feishu and Slack robots), falcon's action callback, and a retrying wrapper.
import { createHmac } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { setTimeout as sleepFor } from 'node:timers/promises'
import nodemailer from 'nodemailer'
import {
  AddressPolicy,
  eventMaxStep,
  eventMetric,
  eventNote,
  eventOperator,
  eventPriority,
  eventRightValue,
  isPeregrineError,
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
  /** refused: the URL led where the AddressPolicy does not allow (no request was sent). */
  readonly refused: boolean
  attempts: number | undefined
  constructor(
    channel: string,
    message: string,
    options?: { status?: number; cause?: unknown; refused?: boolean }
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SendError'
    this.channel = channel
    this.status = options?.status
    this.refused = options?.refused ?? false
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

interface Reply {
  status: number
  body: string
  /** location: a redirect's target, as sent. */
  location?: string
}

/** RequestOptions: one HTTP request of a channel. */
interface RequestOptions {
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  /** limit: bytes of the answer kept; the rest is not read (the connection is closed). */
  limit?: number
  /** policy: where a URL a user set may lead (the action callback); none for the operator's URLs. */
  policy?: AddressPolicy
}

/**
 * request sends one HTTP request bounded by `timeoutMs` from connect to the last byte read, and returns
 * the status and at most `limit` bytes of the body; redirects are not followed (a 3xx is returned as
 * it came). With a `policy`, the URL's host is resolved in the connection's own lookup and refused
 * when it leads inside (AddressPolicy). Transport failures, refusals and timeouts reject with a
 * SendError naming `where`.
 */
function request(
  channel: string,
  where: string,
  url: string,
  options: RequestOptions
): Promise<Reply> {
  const limit = options.limit ?? REPLY_LIMIT
  const fail = (err: unknown, timedOut: boolean): SendError => {
    const why = `${channel} ${where}`
    if (timedOut)
      return new SendError(channel, `${why}: no answer within ${options.timeoutMs} ms`, {
        cause: err,
      })
    if (isPeregrineError(err) && err.code === 'PG_CORE_ADDR_REFUSED')
      return new SendError(channel, `${why}: refused: ${err.message}`, {
        cause: err,
        refused: true,
      })
    const e = err as NodeJS.ErrnoException
    return new SendError(channel, `${why}: request failed (${e.code ?? e.message})`, { cause: err })
  }
  let target: URL
  let headers: Record<string, string>
  try {
    ;[target, headers] = withoutCredentials(url, options.headers ?? {})
    options.policy?.checkLiteral(target.hostname)
  } catch (err) {
    return Promise.reject(fail(err, false))
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest
  if (options.body !== undefined)
    headers['content-length'] = String(Buffer.byteLength(options.body))
  return new Promise<Reply>((resolve, reject) => {
    let settled = false
    let timedOut = false
    const req = send(
      target,
      {
        method: options.method,
        headers: { 'user-agent': 'peregrine-alarm', ...headers },
        // One connection per request: nothing pooled outlives the lookup that checked it.
        agent: false,
        ...(options.policy === undefined ? {} : { lookup: options.policy.lookup }),
      },
      (res) => {
        const status = res.statusCode ?? 0
        const location = res.headers.location
        if (status >= 300 && status < 400) {
          done(undefined, { status, body: '', ...(location === undefined ? {} : { location }) })
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        const finish = () =>
          done(undefined, {
            status,
            body: Buffer.concat(chunks, size).subarray(0, limit).toString('utf8'),
          })
        res.on('data', (chunk: Buffer) => {
          if (settled) return
          chunks.push(chunk)
          size += chunk.length
          if (size >= limit) finish()
        })
        res.on('end', finish)
        res.on('error', (err) => done(err))
        res.on('close', () => done(new Error('the answer was cut short')))
      }
    )
    const timer = setTimeout(() => {
      timedOut = true
      done(new Error('timeout'))
    }, options.timeoutMs)
    // Settles once: the first of an answer, an error or the timeout; the connection is closed then.
    function done(err: unknown, reply?: Reply): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      if (reply !== undefined) resolve(reply)
      else reject(fail(err, timedOut))
    }
    req.on('error', (err) => done(err))
    req.end(options.body)
  })
}

/**
 * withoutCredentials moves a URL's `user:pass@` into a Basic Authorization header (so it is never
 * logged with the URL), unless the request already has an Authorization header.
 */
function withoutCredentials(
  url: string,
  headers: Record<string, string>
): [URL, Record<string, string>] {
  const u = new URL(url)
  const out = { ...headers }
  if (u.username === '' && u.password === '') return [u, out]
  const basic = Buffer.from(
    `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`
  ).toString('base64')
  u.username = ''
  u.password = ''
  if (!Object.keys(out).some((k) => k.toLowerCase() === 'authorization'))
    out.authorization = `Basic ${basic}`
  return [u, out]
}

/** A 3xx is a failed delivery: Peregrine does not follow redirects (they could lead anywhere). */
function redirectError(channel: string, where: string, reply: Reply): SendError {
  const to = reply.location === undefined ? '' : ` to ${redactUrl(reply.location)}`
  return new SendError(
    channel,
    `${channel} ${where}: HTTP ${reply.status}${to}; redirects are not followed, configure the final URL`,
    { status: reply.status }
  )
}

function expect2xx(channel: string, where: string, reply: Reply): void {
  if (reply.status >= 300 && reply.status < 400) throw redirectError(channel, where, reply)
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
  const reply = await request(channel, where, url, { method: 'POST', headers, body, timeoutMs })
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
  /** refused: the URL led inside the network and the policy does not allow it; nothing was sent. */
  refused?: boolean
}

/** CallbackOptions: how a callback is made. */
export interface CallbackOptions {
  /** timeoutMs bounds the request, connect to last byte (default 20 s, falcon's total). */
  timeoutMs?: number
  /**
   * policy: which internal addresses the URL may reach (a user sets it through /api/v1). The default
   * refuses every internal range, naming `alarm.callbackAllow`.
   */
  policy?: AddressPolicy
}

const NO_INTERNAL_CALLBACKS = new AddressPolicy([], 'alarm.callbackAllow')

/**
 * callback GETs callbackUrl(actionUrl, e) as falcon's action callback does. The host is resolved when
 * the call is made and the connection refused when an address it resolves to is internal and not
 * allowed by `policy`; a redirect is not followed. It never rejects: failures are reported in the
 * result, whose `error` names the URL without credentials.
 */
export async function callback(
  actionUrl: string,
  e: AlarmEvent,
  options: CallbackOptions = {}
): Promise<CallbackResult> {
  const where = redactUrl(actionUrl)
  const protocol = URL.canParse(actionUrl) ? new URL(actionUrl).protocol : ''
  if (protocol !== 'http:' && protocol !== 'https:')
    return {
      ok: false,
      status: 0,
      body: '',
      error: `callback ${where}: expected an http:// or https:// URL`,
    }
  try {
    const reply = await request('callback', where, callbackUrl(actionUrl, e), {
      method: 'GET',
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      limit: CALLBACK_BODY_LIMIT,
      policy: options.policy ?? NO_INTERNAL_CALLBACKS,
    })
    if (reply.status >= 300 && reply.status < 400) {
      const err = redirectError('callback', where, reply)
      return { ok: false, status: reply.status, body: '', error: err.message }
    }
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
    const refused = err instanceof SendError && err.refused
    return {
      ok: false,
      status: 0,
      body: '',
      error: (err as Error).message,
      ...(refused ? { refused } : {}),
    }
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
