// Alarm message texts: falcon v0.3's sms/im/mail contents (cron/builder.go), merge texts (combiner.go),
// callback query (callback.go), and Peregrine's overridable `{{placeholder}}` templates. Pure functions.
import {
  eventExpressionId,
  eventFunc,
  eventMaxStep,
  eventMetric,
  eventNote,
  eventOperator,
  eventPriority,
  eventRightValue,
  eventStrategyId,
  eventTemplateId,
  type AlarmEvent,
  formatLocalTime,
} from '../core/index.js'

// One shared view reads a double's bits (no DataView per call).
const f64 = new Float64Array(1)
const u64 = new BigUint64Array(f64.buffer)
const MANTISSA = (1n << 52n) - 1n
const SCALE = 100_000n // 10^5: ReadableFloat's five decimals

/**
 * readableFloat is falcon's utils.ReadableFloat: Go's `strconv.FormatFloat(v, 'f', 5, 64)` with trailing
 * zeros and then the dot trimmed (4.2 → "4.2", 100 → "100", 0.000001 → "0", -3.14159265 → "-3.14159").
 * The rounding is Go's: exact decimal value of the double, ties to even (0.015625 → "0.01562"), and the
 * sign stays when a negative rounds to zero (-0.000001 → "-0"). NaN → "NaN", ±Infinity → "+Inf"/"-Inf".
 */
export function readableFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  f64[0] = v
  const bits = u64[0]
  const negative = bits >> 63n === 1n
  const exp = Number((bits >> 52n) & 0x7ffn)
  // v = m · 2^k exactly; BigInt keeps every digit, so rounding sees the true decimal value as Go does.
  const m = exp === 0 ? bits & MANTISSA : (bits & MANTISSA) | (1n << 52n)
  const k = exp === 0 ? -1074 : exp - 1075
  let q: bigint
  if (k >= 0) {
    q = (m << BigInt(k)) * SCALE
  } else {
    const num = m * SCALE
    const den = 1n << BigInt(-k)
    q = num / den
    const twice = (num % den) * 2n
    if (twice > den || (twice === den && (q & 1n) === 1n)) q++
  }
  const digits = q.toString().padStart(6, '0')
  let s = `${digits.slice(0, -5)}.${digits.slice(-5)}`.replace(/0+$/, '').replace(/\.$/, '')
  if (negative) s = `-${s}`
  return s
}

const utf8Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * sortedTags is falcon's utils.SortedTags: `k=v` pairs sorted by key (Go's byte order) joined by commas;
 * no tags → "".
 */
export function sortedTags(tags: Readonly<Record<string, string>> | null | undefined): string {
  if (tags === null || tags === undefined) return ''
  return Object.keys(tags)
    .sort(utf8Order)
    .map((k) => `${k}=${tags[k]}`)
    .join(',')
}

/**
 * formattedTime is falcon's Event.FormattedTime: `eventTime` (unix seconds) as `YYYY-MM-DD HH:MM:SS` in
 * the process's local time zone (Go's `time.Unix(ts, 0).Format("2006-01-02 15:04:05")`).
 */
export function formattedTime(eventTime: number): string {
  return formatLocalTime(eventTime * 1000)
}

/**
 * smsContent is falcon's BuildCommonSMSContent:
 * `[P{priority}][{status}][{endpoint}][][{note} {func} {metric} {tags} {left}{op}{right}][O{step} {time}]`.
 */
export function smsContent(e: AlarmEvent): string {
  return (
    `[P${eventPriority(e)}][${e.status}][${e.endpoint}][][${eventNote(e)} ${eventFunc(e)} ` +
    `${eventMetric(e)} ${sortedTags(e.pushedTags)} ${readableFloat(e.leftValue)}${eventOperator(e)}` +
    `${readableFloat(eventRightValue(e))}][O${e.currentStep} ${formattedTime(e.eventTime)}]`
  )
}

/** imContent is falcon's BuildCommonIMContent, the same text as smsContent. */
export const imContent = (e: AlarmEvent): string => smsContent(e)

/** mailSubject is the subject falcon gives a single event's mail: the sms text. */
export const mailSubject = (e: AlarmEvent): string => smsContent(e)

/**
 * mailContent is falcon's BuildCommonMailContent, CRLF-separated lines ending in `link` (eventLink):
 * status, P{priority}, Endpoint:, Metric:, Tags:, `{func}: {left}{op}{right}`, Note:, Max/Current,
 * Timestamp:, link.
 */
export function mailContent(e: AlarmEvent, link: string): string {
  return (
    `${e.status}\r\nP${eventPriority(e)}\r\nEndpoint:${e.endpoint}\r\nMetric:${eventMetric(e)}\r\n` +
    `Tags:${sortedTags(e.pushedTags)}\r\n${eventFunc(e)}: ${readableFloat(e.leftValue)}` +
    `${eventOperator(e)}${readableFloat(eventRightValue(e))}\r\nNote:${eventNote(e)}\r\n` +
    `Max:${eventMaxStep(e)}, Current:${e.currentStep}\r\nTimestamp:${formattedTime(e.eventTime)}\r\n` +
    `${link}\r\n`
  )
}

/**
 * eventLink is falcon's g.Link: `{dashboardUrl}/portal/template/view/{tplId}` for a strategy's event,
 * `{dashboardUrl}/portal/expression/view/{expId}` for an expression's, "" when neither id is set.
 * Trailing slashes of `dashboardUrl` are dropped (falcon would keep them and write `//portal`).
 */
export function eventLink(e: AlarmEvent, dashboardUrl: string): string {
  const base = dashboardUrl.replace(/\/+$/, '')
  const tplId = eventTemplateId(e)
  if (tplId !== 0) return `${base}/portal/template/view/${tplId}`
  const expId = eventExpressionId(e)
  if (expId !== 0) return `${base}/portal/expression/view/${expId}`
  return ''
}

/** goQueryEscape is Go's url.QueryEscape: only A-Z a-z 0-9 - _ . ~ stay, space becomes `+`. */
function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/**
 * callbackUrl is the URL falcon's callback GETs (callback.go with toolkits httplib): the action URL,
 * then `?` (or `&` when it already has a query, which is kept) and endpoint, metric, status,
 * step (currentStep), priority, time (formattedTime), tpl_id, exp_id, stra_id, left_value
 * (readableFloat) and tags (`k:v,k:v`, sorted by key here where falcon's map order was random),
 * escaped as Go's url.QueryEscape does.
 */
export function callbackUrl(actionUrl: string, e: AlarmEvent): string {
  const tags = Object.keys(e.pushedTags)
    .sort(utf8Order)
    .map((k) => `${k}:${e.pushedTags[k]}`)
    .join(',')
  const params: [string, string][] = [
    ['endpoint', e.endpoint],
    ['metric', eventMetric(e)],
    ['status', e.status],
    ['step', String(e.currentStep)],
    ['priority', String(eventPriority(e))],
    ['time', formattedTime(e.eventTime)],
    ['tpl_id', String(eventTemplateId(e))],
    ['exp_id', String(eventExpressionId(e))],
    ['stra_id', String(eventStrategyId(e))],
    ['left_value', readableFloat(e.leftValue)],
    ['tags', tags],
  ]
  const query = params.map(([k, v]) => `${k}=${goQueryEscape(v)}`).join('&')
  return `${actionUrl}${actionUrl.includes('?') ? '&' : '?'}${query}`
}

/**
 * callbackMessage is the text falcon sends after a callback when the action asks for it
 * (`after_callback_sms|mail`): `curl {url} success. resp: {body}` or `curl {url} fail:{error}. resp: {body}`.
 * `actionUrl` should already be stripped of credentials: the text goes to people.
 */
export function callbackMessage(
  actionUrl: string,
  result: { readonly ok: boolean; readonly body: string; readonly error?: string }
): string {
  const outcome = result.ok ? 'success' : `fail:${result.error ?? 'unknown error'}`
  return `curl ${actionUrl} ${outcome}. resp: ${result.body}`
}

/** MERGED_MAIL_SEPARATOR joins the contents of merged mails (combiner.go). */
export const MERGED_MAIL_SEPARATOR = '\r\n'
/** MERGED_SHORT_SEPARATOR joins merged sms/im contents before they are stored behind a short link. */
export const MERGED_SHORT_SEPARATOR = ',,'

/** mergedMailSubject is combiner.go's subject for n mails merged into one: `[P{p}][{status}] {n} {metric}`. */
export function mergedMailSubject(
  priority: number,
  status: string,
  n: number,
  metric: string
): string {
  return `[P${priority}][${status}] ${n} ${metric}`
}

/**
 * mergedShortText is combiner.go's sms/im text for n merged messages. The example (`e.g.`) is the third
 * `][`-separated field of the first content (the endpoint for falcon's texts; "" when it has fewer). With
 * `link` (the dashboard and the path `/portal/links/store` answered), it is
 * `[P{p}][{status}] {n} {metric} e.g. {eg} {dashboardUrl}/portal/links/{path} ` (trailing space kept);
 * without, `[P{p}][{status}] {n} {metric}.  e.g. {eg}. detail in email`.
 */
export function mergedShortText(
  priority: number,
  status: string,
  n: number,
  metric: string,
  firstContent: string,
  link?: { readonly dashboardUrl: string; readonly path: string }
): string {
  const fields = firstContent.split('][')
  const eg = fields.length >= 3 ? fields[2] : ''
  if (link === undefined) {
    return `[P${priority}][${status}] ${n} ${metric}.  e.g. ${eg}. detail in email`
  }
  return `[P${priority}][${status}] ${n} ${metric} e.g. ${eg} ${link.dashboardUrl}/portal/links/${link.path} `
}

type Field = (e: AlarmEvent, link: string) => string

const FIELDS: Readonly<Record<string, Field>> = {
  status: (e) => e.status,
  priority: (e) => String(eventPriority(e)),
  endpoint: (e) => e.endpoint,
  metric: (e) => eventMetric(e),
  tags: (e) => sortedTags(e.pushedTags),
  func: (e) => eventFunc(e),
  leftValue: (e) => readableFloat(e.leftValue),
  operator: (e) => eventOperator(e),
  rightValue: (e) => readableFloat(eventRightValue(e)),
  note: (e) => eventNote(e),
  maxStep: (e) => String(eventMaxStep(e)),
  currentStep: (e) => String(e.currentStep),
  time: (e) => formattedTime(e.eventTime),
  link: (_e, link) => link,
  id: (e) => e.id,
}

/** TEMPLATE_PLACEHOLDERS lists the names renderTemplate knows, in documentation order. */
export const TEMPLATE_PLACEHOLDERS: readonly string[] = Object.keys(FIELDS)

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g

/**
 * checkTemplate throws an Error naming the first unknown placeholder (or an unclosed `{{`) of a
 * template, so configuration can refuse it at start. See renderTemplate for the syntax.
 */
export function checkTemplate(template: string): void {
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1].trim()
    if (!Object.hasOwn(FIELDS, name)) {
      throw new Error(
        `template: unknown placeholder {{${name}}}; known: ${TEMPLATE_PLACEHOLDERS.join(', ')}`
      )
    }
  }
  const rest = template.replace(PLACEHOLDER, '')
  const open = rest.indexOf('{{')
  if (open >= 0)
    throw new Error(`template: "{{" without a matching "}}" near ${rest.slice(open, open + 20)}`)
}

/**
 * renderTemplate fills a user template. Syntax: `{{name}}` (spaces inside the braces allowed) is
 * replaced by the event's value; all other text is copied as is. Names: status, priority, endpoint,
 * metric, tags (sortedTags), func, leftValue and rightValue (readableFloat), operator, note, maxStep,
 * currentStep, time (formattedTime), link (the `link` argument, eventLink's), id (the event id).
 * Throws as checkTemplate does on an unknown name, so check templates when the configuration is read.
 */
export function renderTemplate(template: string, e: AlarmEvent, link = ''): string {
  checkTemplate(template)
  return template.replace(PLACEHOLDER, (_m, name: string) => FIELDS[name.trim()](e, link))
}
