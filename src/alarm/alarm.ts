// alarm's pipeline, falcon's modules/alarm: events are recorded (event_cases, events), their action
// and teams looked up, and messages queued under falcon's list names: high priorities to `/sms`, `/im`,
// `/mail` at once, low priorities per user to `/queue/user/*`, merged every minute. Workers send what
// the lists hold, with retries, and record every outcome.
import {
  AddressPolicy,
  type AlarmEvent,
  eventActionId,
  eventMetric,
  eventOperator,
  eventPriority,
  eventRightValue,
  formatGoFloat,
  type Logger,
  parseAlarmEvent,
} from '../core/index.js'
import type { Queue } from '../queue/index.js'
import {
  type Action,
  actionOf,
  activeSilences,
  type AlarmSilence,
  type NotificationChannel,
  type Recipient,
  recordAlarmEvent,
  recordNotification,
  silenceMatches,
  type Store,
  usersOfTeams,
} from '../store/index.js'
import {
  callback,
  dingtalkChannel,
  falconGatewayChannel,
  feishuChannel,
  type OutboundMessage,
  type RetryingChannel,
  slackChannel,
  smtpChannel,
  wecomChannel,
  webhookChannel,
  withRetry,
  type Channel,
} from './channels.js'
import type { AlarmConfig, RobotConfig, WebhookConfig } from './config.js'
import {
  callbackMessage,
  eventLink,
  mailContent,
  mergedMailSubject,
  mergedShortText,
  MERGED_MAIL_SEPARATOR,
  renderTemplate,
  smsContent,
} from './templates.js'
import { redactUrl } from './channels.js'

/** Falcon's list names (alarm cfg.json `redis.*Queue`). */
export const LISTS = {
  sms: '/sms',
  im: '/im',
  mail: '/mail',
  userSms: '/queue/user/sms',
  userIm: '/queue/user/im',
  userMail: '/queue/user/mail',
  /** Peregrine's: group-chat robots, sent at once and merged like users' messages. */
  robot: '/robot',
  userRobot: '/queue/robot',
} as const

/** What the outbox lists hold (falcon's shapes; `eventId` and `robot` are Peregrine's additions). */
interface OutboxMessage {
  tos?: string
  subject?: string
  content: string
  eventId?: string
  robot?: string
}
interface UserMessage {
  priority: number
  metric: string
  status: string
  content: string
  subject?: string
  phone?: string
  im?: string
  email?: string
  robot?: string
}

/** AlarmCounters are shown on /counter/all. */
export interface AlarmCounters {
  events: number
  invalidEvents: number
  recorded: number
  recordFailures: number
  noAction: number
  silenced: number
  queued: number
  merged: number
  sent: number
  failed: number
  unconfigured: number
  callbacks: number
  /** callbackFailures: callbacks that failed, refused ones included. */
  callbackFailures: number
  /** callbackRefused: callbacks whose URL led to an internal address not in `callbackAllow`. */
  callbackRefused: number
  notificationRecordFailures: number
}

/** condOf is falcon's event_cases.cond: `fmt.Sprintf("%v %v %v", leftValue, operator, rightValue)`. */
export function condOf(e: AlarmEvent): string {
  return `${formatGoFloat(e.leftValue)} ${eventOperator(e)} ${formatGoFloat(eventRightValue(e))}`
}

interface Channels {
  mail?: RetryingChannel
  sms?: RetryingChannel
  im?: RetryingChannel
  robots: Map<string, { config: RobotConfig; channel: RetryingChannel }>
  webhooks: { config: WebhookConfig; channel: RetryingChannel }[]
}

/** buildChannels makes the configured channels, each wrapped in the configured retries. */
function buildChannels(cfg: Readonly<AlarmConfig>, signal: AbortSignal, log: Logger): Channels {
  const retry = (c: Channel) =>
    withRetry(c, {
      ...cfg.retry,
      signal,
      onAttemptFailed: (err, attempt, delay) =>
        log.warn(
          `alarm: ${c.name}: attempt ${attempt} failed (${(err as Error).message}); retrying in ${Math.round(delay)} ms`
        ),
    })
  const c = cfg.channels
  const t = cfg.timeoutMs
  const out: Channels = { robots: new Map(), webhooks: [] }
  if (c.mail?.smtp !== undefined)
    out.mail = retry(smtpChannel({ url: c.mail.smtp, from: c.mail.from ?? '', timeoutMs: t }))
  else if (c.mail?.gateway !== undefined)
    out.mail = retry(falconGatewayChannel('mail', c.mail.gateway, t))
  if (c.sms !== undefined) out.sms = retry(falconGatewayChannel('sms', c.sms.gateway, t))
  if (c.im !== undefined) out.im = retry(falconGatewayChannel('im', c.im.gateway, t))
  for (const r of c.robots ?? []) {
    const o = { url: r.url, secret: r.secret, timeoutMs: t }
    const channel =
      r.kind === 'dingtalk'
        ? dingtalkChannel(o)
        : r.kind === 'wecom'
          ? wecomChannel(o)
          : r.kind === 'feishu'
            ? feishuChannel(o)
            : slackChannel(o)
    out.robots.set(r.name, { config: r, channel: retry(channel) })
  }
  for (const w of c.webhooks ?? [])
    out.webhooks.push({
      config: w,
      channel: retry(webhookChannel({ url: w.url, headers: w.headers, timeoutMs: t })),
    })
  return out
}

const uniq = (xs: readonly string[]): string[] => [
  ...new Set(xs.map((x) => x.trim()).filter((x) => x !== '')),
]

/** Alarm is the running pipeline; `start` lives in index.ts. */
export class Alarm {
  /** deliveries: messages by channel kind (mail, sms, im, webhook, …) and outcome. */
  readonly deliveries = new Map<string, { sent: number; failed: number; silenced: number }>()
  #delivery(kind: string): { sent: number; failed: number; silenced: number } {
    let d = this.deliveries.get(kind)
    if (d === undefined) this.deliveries.set(kind, (d = { sent: 0, failed: 0, silenced: 0 }))
    return d
  }
  readonly counters: AlarmCounters = {
    events: 0,
    invalidEvents: 0,
    recorded: 0,
    recordFailures: 0,
    noAction: 0,
    silenced: 0,
    queued: 0,
    merged: 0,
    sent: 0,
    failed: 0,
    unconfigured: 0,
    callbacks: 0,
    callbackFailures: 0,
    callbackRefused: 0,
    notificationRecordFailures: 0,
  }
  readonly #cfg: Readonly<AlarmConfig>
  readonly #store: Store
  readonly #queue: Queue
  readonly #log: Logger
  readonly #now: () => number
  readonly #abort = new AbortController()
  readonly #channels: Channels
  readonly #high: ReadonlySet<string>
  readonly #callbackPolicy: AddressPolicy
  // Falcon's alarm keeps the last good action and team members, used when a lookup fails.
  readonly #actions = new Map<number, Action>()
  readonly #teams = new Map<string, Recipient[]>()
  #silences: { at: number; list: AlarmSilence[] } = { at: -Infinity, list: [] }
  #stopped = false
  readonly #loops: Promise<void>[] = []
  #mergeTimer: NodeJS.Timeout | undefined
  #merging: Promise<void> | undefined
  readonly #inFlight = new Set<Promise<unknown>>()

  constructor(
    cfg: Readonly<AlarmConfig>,
    store: Store,
    queue: Queue,
    log: Logger,
    now: () => number
  ) {
    this.#cfg = cfg
    this.#store = store
    this.#queue = queue
    this.#log = log
    this.#now = now
    this.#high = new Set(cfg.highQueues)
    this.#callbackPolicy = new AddressPolicy(cfg.callbackAllow, 'alarm.callbackAllow')
    this.#channels = buildChannels(cfg, this.#abort.signal, log)
  }

  /** run starts the event loop, the send workers and the merge timer. */
  run(): void {
    this.#loops.push(this.#eventLoop())
    for (let i = 0; i < this.#cfg.workers; i++) this.#loops.push(this.#sendLoop())
    const merge = () => {
      this.#mergeTimer = setTimeout(() => {
        // Kept so stop() waits for a merge under way: what it popped is pushed before the queue closes.
        this.#merging = this.merge()
          .catch((err: Error) => this.#log.error(`alarm: merging: ${err.message}`))
          .finally(() => {
            this.#merging = undefined
            if (!this.#stopped) merge()
          })
      }, this.#cfg.mergeInterval)
      this.#mergeTimer.unref()
    }
    merge()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#mergeTimer)
    // Retries waiting out a backoff give up now; a message being sent finishes or times out.
    this.#abort.abort(new Error('alarm is stopping'))
    await Promise.allSettled(this.#loops)
    await this.#merging
    await Promise.allSettled([...this.#inFlight])
    const c = this.#channels
    for (const ch of [c.mail, c.sms, c.im]) ch?.close()
    for (const r of c.robots.values()) r.channel.close()
    for (const w of c.webhooks) w.channel.close()
  }

  // BRPOP over the high lists then the low ones, in order: the first non-empty wins, so high
  // priorities go first; falcon runs one loop per group, which a single ordered pop subsumes.
  #eventLoop(): Promise<void> {
    return this.#consume([...this.#cfg.highQueues, ...this.#cfg.lowQueues], 'event', (l, p) =>
      this.handleEvent(l, p)
    )
  }

  /**
   * #consume pops `lists` until stop and hands each payload to `handle`. A failing pop waits a second;
   * a handler that throws is logged, and the loop goes on: one bad item must not end it.
   */
  async #consume(
    lists: readonly string[],
    what: string,
    handle: (list: string, payload: string) => Promise<void>
  ): Promise<void> {
    while (!this.#stopped) {
      let item: { list: string; payload: string } | undefined
      const asked = Date.now()
      try {
        item = await this.#queue.pop(lists, 1000)
      } catch (err) {
        this.#log.warn(`alarm: reading ${what}s: ${(err as Error).message}`)
        await sleep(1000)
        continue
      }
      if (item === undefined) {
        // A queue closed under a running alarm answers at once: wait rather than spin.
        if (Date.now() - asked < 50) await sleep(100)
        continue
      }
      try {
        await handle(item.list, item.payload)
      } catch (err) {
        this.#log.error(`alarm: ${what} from ${item.list}: ${(err as Error).message}`)
      }
    }
  }

  /** handleEvent is falcon's consume(): record, look up the action, tell people and machines. */
  async handleEvent(list: string, payload: string): Promise<void> {
    this.counters.events++
    let e: AlarmEvent
    try {
      e = parseAlarmEvent(payload)
    } catch (err) {
      this.counters.invalidEvents++
      this.#log.warn(`alarm: skipped an event from ${list}: ${(err as Error).message}`)
      return
    }
    try {
      await recordAlarmEvent(this.#store.db, e, condOf(e))
      this.counters.recorded++
    } catch (err) {
      // People are told even when the history cannot be written; the failure is counted and logged.
      this.counters.recordFailures++
      this.#log.error(`alarm: event ${e.id} not recorded: ${(err as Error).message}`)
    }
    const silenced = await this.#silenced(e)
    for (const w of this.#channels.webhooks) {
      const ps = w.config.priorities
      if (ps !== undefined && ps.length > 0 && !ps.includes(eventPriority(e))) continue
      this.#track(
        this.#deliver(
          'webhook',
          w.channel,
          {
            tos: [w.config.name],
            subject: smsContent(e),
            content: this.#text('im', e),
            event: e,
          },
          e.id,
          silenced
        )
      )
    }
    const actionId = eventActionId(e)
    if (actionId <= 0) {
      this.counters.noAction++
      return
    }
    const action = await this.#action(actionId)
    if (action === undefined) {
      this.counters.noAction++
      return
    }
    const teams = uniq(action.uic.split(','))
    const users = teams.length === 0 ? [] : await this.#users(teams)
    const high = this.#high.has(list)
    if (action.callback === 1 && !silenced) this.#track(this.#callback(e, action, users))
    if (teams.length === 0) return
    if (silenced) {
      this.counters.silenced++
      await this.#record(e.id, 'mail', teams.join(','), smsContent(e), 'silenced', 0, '')
      return
    }
    const sms = this.#text('sms', e)
    const im = this.#text('im', e)
    const subject = this.#subject(e)
    const mail = this.#text('mail', e)
    const priority = eventPriority(e)
    const robots = [...this.#channels.robots.values()].filter(
      (r) =>
        r.config.teams === undefined ||
        r.config.teams.length === 0 ||
        r.config.teams.some((t) => teams.includes(t))
    )
    if (high) {
      const phones = uniq(users.map((u) => u.phone))
      const ims = uniq(users.map((u) => u.im))
      const mails = uniq(users.map((u) => u.email))
      if (priority < 3) await this.#out(LISTS.sms, phones, { content: sms, eventId: e.id })
      await this.#out(LISTS.im, ims, { content: im, eventId: e.id })
      await this.#out(LISTS.mail, mails, { subject, content: mail, eventId: e.id })
      for (const r of robots)
        await this.#push(LISTS.robot, { robot: r.config.name, content: im, subject, eventId: e.id })
      return
    }
    const base = { priority, metric: eventMetric(e), status: e.status }
    for (const u of users) {
      if (priority < 3 && u.phone !== '' && this.#channels.sms !== undefined)
        await this.#push(LISTS.userSms, { ...base, content: sms, phone: u.phone })
      if (u.im !== '' && this.#channels.im !== undefined)
        await this.#push(LISTS.userIm, { ...base, content: im, im: u.im })
      if (u.email !== '' && this.#channels.mail !== undefined)
        await this.#push(LISTS.userMail, { ...base, subject, content: mail, email: u.email })
    }
    for (const r of robots)
      await this.#push(LISTS.userRobot, { ...base, content: im, subject, robot: r.config.name })
  }

  #text(kind: 'sms' | 'im' | 'mail', e: AlarmEvent): string {
    const link = eventLink(e, this.#cfg.dashboard)
    const t = this.#cfg.templates[kind]
    if (t !== undefined) return renderTemplate(t, e, link)
    return kind === 'mail' ? mailContent(e, link) : smsContent(e)
  }

  #subject(e: AlarmEvent): string {
    const t = this.#cfg.templates.mailSubject
    return t !== undefined ? renderTemplate(t, e, eventLink(e, this.#cfg.dashboard)) : smsContent(e)
  }

  async #silenced(e: AlarmEvent): Promise<boolean> {
    const now = this.#now()
    if (now - this.#silences.at > 2000) {
      try {
        this.#silences = { at: now, list: await activeSilences(this.#store.db, now) }
      } catch (err) {
        this.#log.warn(
          `alarm: cannot read silences (${(err as Error).message}); using the last ones`
        )
      }
    }
    const nowS = Math.floor(now / 1000)
    return this.#silences.list.some(
      (s) => s.starts_at <= nowS && nowS < s.ends_at && silenceMatches(s, e)
    )
  }

  async #action(id: number): Promise<Action | undefined> {
    try {
      const a = await actionOf(this.#store.db, id)
      if (a === undefined) this.#actions.delete(id)
      else this.#actions.set(id, a)
      return a
    } catch (err) {
      const cached = this.#actions.get(id)
      this.#log.warn(
        `alarm: action ${id} lookup failed (${(err as Error).message}); ${cached === undefined ? 'no copy to use' : 'using the last copy'}`
      )
      return cached
    }
  }

  async #users(teams: string[]): Promise<Recipient[]> {
    const key = teams.join(',')
    try {
      const users = await usersOfTeams(this.#store.db, teams)
      this.#teams.set(key, users)
      return users
    } catch (err) {
      const cached = this.#teams.get(key)
      this.#log.warn(
        `alarm: members of ${key} lookup failed (${(err as Error).message}); ${cached === undefined ? 'nobody to tell' : 'using the last copy'}`
      )
      return cached ?? []
    }
  }

  /** #out queues a falcon `/sms`, `/im` or `/mail` message when there are recipients and a channel. */
  async #out(list: string, tos: string[], msg: Omit<OutboxMessage, 'tos'>): Promise<void> {
    if (tos.length === 0) return
    if (this.#channelOf(list) === undefined) {
      this.counters.unconfigured++
      return
    }
    await this.#push(list, { tos: tos.join(','), ...msg })
  }

  // A push that fails (the queue closed, its spill file unwritable) is logged and the event's other
  // messages still go, as falcon's lpush does.
  async #push(list: string, value: OutboxMessage | UserMessage): Promise<void> {
    try {
      await this.#queue.push(list, JSON.stringify(value))
      this.counters.queued++
    } catch (err) {
      this.#log.error(`alarm: message for ${list} lost: ${(err as Error).message}`)
    }
  }

  #channelOf(list: string, robot?: string): RetryingChannel | undefined {
    const c = this.#channels
    switch (list) {
      case LISTS.sms:
        return c.sms
      case LISTS.im:
        return c.im
      case LISTS.mail:
        return c.mail
      case LISTS.robot:
        return robot === undefined ? undefined : c.robots.get(robot)?.channel
      default:
        return undefined
    }
  }

  async #callback(e: AlarmEvent, action: Action, users: Recipient[]): Promise<void> {
    const phones = uniq(users.map((u) => u.phone))
    const ims = uniq(users.map((u) => u.im))
    const mails = uniq(users.map((u) => u.email))
    // Before the callback, the event's own texts (the configured templates, as for every message).
    if (action.before_callback_sms === 1) {
      await this.#out(LISTS.sms, phones, { content: this.#text('sms', e), eventId: e.id })
      await this.#out(LISTS.im, ims, { content: this.#text('im', e), eventId: e.id })
    }
    if (action.before_callback_mail === 1)
      await this.#out(LISTS.mail, mails, {
        subject: this.#subject(e),
        content: this.#text('mail', e),
        eventId: e.id,
      })
    let message = 'callback url is blank'
    if (action.url !== '') {
      this.counters.callbacks++
      const result = await callback(action.url, e, {
        timeoutMs: this.#cfg.timeoutMs,
        policy: this.#callbackPolicy,
      })
      if (!result.ok) {
        this.counters.callbackFailures++
        if (result.refused === true) this.counters.callbackRefused++
        this.#log.warn(`alarm: callback for ${e.id}: ${result.error ?? 'failed'}`)
      }
      await this.#record(
        e.id,
        'callback',
        redactUrl(action.url),
        '',
        result.ok ? 'sent' : 'failed',
        1,
        result.error ?? ''
      )
      message = callbackMessage(redactUrl(action.url), result)
    }
    if (action.after_callback_sms === 1) {
      await this.#out(LISTS.sms, phones, { content: message, eventId: e.id })
      await this.#out(LISTS.im, ims, { content: message, eventId: e.id })
    }
    if (action.after_callback_mail === 1)
      await this.#out(LISTS.mail, mails, { subject: message, content: message, eventId: e.id })
  }

  // Send workers: each takes one message from the outbox lists, sends it (with retries) and records
  // the outcome before taking the next.
  #sendLoop(): Promise<void> {
    return this.#consume([LISTS.sms, LISTS.im, LISTS.mail, LISTS.robot], 'message', (l, p) =>
      this.sendOne(l, p)
    )
  }

  /** sendOne sends one outbox message (falcon's sender workers: `/sms`, `/im`, `/mail`). */
  async sendOne(list: string, payload: string): Promise<void> {
    let m: OutboxMessage
    try {
      m = JSON.parse(payload) as OutboxMessage
      if (
        typeof m !== 'object' ||
        m === null ||
        typeof m.content !== 'string' ||
        (m.tos !== undefined && typeof m.tos !== 'string')
      )
        throw new Error('expected {tos, content}')
    } catch (err) {
      this.#log.warn(`alarm: skipped a message from ${list}: ${(err as Error).message}`)
      return
    }
    const channel = this.#channelOf(list, m.robot)
    if (channel === undefined) {
      this.counters.unconfigured++
      this.#log.warn(
        `alarm: no channel configured for ${list}${m.robot === undefined ? '' : ` (${m.robot})`}; message dropped`
      )
      return
    }
    const kind: NotificationChannel =
      list === LISTS.robot
        ? (this.#channels.robots.get(m.robot ?? '')?.config.kind ?? 'im')
        : list === LISTS.sms
          ? 'sms'
          : list === LISTS.im
            ? 'im'
            : 'mail'
    const tos = list === LISTS.robot ? [m.robot ?? ''] : uniq((m.tos ?? '').split(','))
    await this.#deliver(
      kind,
      channel,
      { tos, subject: m.subject ?? '', content: m.content },
      m.eventId ?? '',
      false
    )
  }

  async #deliver(
    kind: NotificationChannel,
    channel: RetryingChannel,
    msg: OutboundMessage,
    eventId: string,
    silenced: boolean
  ): Promise<void> {
    if (silenced) {
      this.#delivery(kind).silenced++
      await this.#record(eventId, kind, msg.tos.join(','), msg.subject, 'silenced', 0, '')
      return
    }
    try {
      const { attempts } = await channel.send(msg)
      this.counters.sent++
      this.#delivery(kind).sent++
      await this.#record(eventId, kind, msg.tos.join(','), msg.subject, 'sent', attempts, '')
    } catch (err) {
      this.counters.failed++
      this.#delivery(kind).failed++
      const attempts = (err as { attempts?: number }).attempts ?? 1
      this.#log.error(
        `alarm: ${channel.name} to ${msg.tos.join(',')} failed after ${attempts} attempt(s): ${(err as Error).message}`
      )
      await this.#record(
        eventId,
        kind,
        msg.tos.join(','),
        msg.subject,
        'failed',
        attempts,
        (err as Error).message
      )
    }
  }

  async #record(
    eventId: string,
    channel: NotificationChannel,
    tos: string,
    subject: string,
    status: 'sent' | 'failed' | 'silenced',
    attempts: number,
    error: string
  ): Promise<void> {
    try {
      await recordNotification(this.#store.db, {
        event_id: eventId.slice(0, 50),
        channel,
        tos,
        subject,
        status,
        attempts,
        error,
      })
    } catch (err) {
      this.counters.notificationRecordFailures++
      this.#log.warn(`alarm: delivery record not written (${(err as Error).message})`)
    }
  }

  #track(p: Promise<unknown>): void {
    const t = p.catch((err: Error) => this.#log.error(`alarm: ${err.message}`))
    this.#inFlight.add(t)
    void t.finally(() => this.#inFlight.delete(t))
  }

  /**
   * merge is falcon's combiner: everything waiting in the per-user lists is grouped by priority,
   * status, recipient and metric; a group of one goes out as is, a bigger group as one message.
   */
  async merge(): Promise<void> {
    const groups = [
      { from: LISTS.userSms, to: LISTS.sms, who: 'phone' as const },
      { from: LISTS.userIm, to: LISTS.im, who: 'im' as const },
      { from: LISTS.userMail, to: LISTS.mail, who: 'email' as const },
      { from: LISTS.userRobot, to: LISTS.robot, who: 'robot' as const },
    ]
    for (const g of groups) {
      const byKey = new Map<string, UserMessage[]>()
      for (;;) {
        let item: { list: string; payload: string } | undefined
        try {
          item = await this.#queue.pop([g.from], 0)
        } catch (err) {
          this.#log.warn(`alarm: merging ${g.from}: ${(err as Error).message}`)
          break
        }
        if (item === undefined) break
        let m: UserMessage
        try {
          m = JSON.parse(item.payload) as UserMessage
        } catch {
          this.#log.warn(`alarm: skipped a message from ${g.from}: not JSON`)
          continue
        }
        if (typeof m !== 'object' || m === null) {
          this.#log.warn(`alarm: skipped a message from ${g.from}: not an object`)
          continue
        }
        const who = m[g.who] ?? ''
        const key = `${m.priority}\u0000${m.status}\u0000${who}\u0000${m.metric}`
        const list = byKey.get(key)
        if (list === undefined) byKey.set(key, [m])
        else list.push(m)
      }
      for (const list of byKey.values()) {
        const first = list[0]
        const who = first[g.who] ?? ''
        if (list.length > 1) this.counters.merged += list.length
        if (g.who === 'email') {
          const subject =
            list.length === 1
              ? (first.subject ?? '')
              : mergedMailSubject(first.priority, first.status, list.length, first.metric)
          const content = list.map((m) => m.content).join(MERGED_MAIL_SEPARATOR)
          await this.#push(g.to, { tos: who, subject, content })
        } else if (g.who === 'robot') {
          // Robots post to a group chat, which takes long texts: every message is kept.
          const content =
            list.length === 1
              ? first.content
              : `${mergedMailSubject(first.priority, first.status, list.length, first.metric)}\n${list.map((m) => m.content).join('\n')}`
          await this.#push(g.to, { robot: who, subject: first.subject ?? '', content })
        } else {
          const content =
            list.length === 1
              ? first.content
              : mergedShortText(
                  first.priority,
                  first.status,
                  list.length,
                  first.metric,
                  first.content
                )
          await this.#push(g.to, { tos: who, content })
        }
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref())
