// Alarm's pipeline on a real store (SQLite, and MariaDB when reachable), an in-process queue and real
// receivers: an HTTP server standing for falcon's gateways, robots, webhooks and callbacks, and an SMTP
// server. Events go in as falcon's JSON through handleEvent; the outbox lists are sent with sendOne and
// merged with merge(), or the whole runs with run().
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { SMTPServer } from 'smtp-server'
import { type AlarmEvent, parseAlarmEvent, recordingLogger, waitUntil } from '../core/index.js'
import { memoryQueue, type Queue } from '../queue/index.js'
import { type PortalDatabase, type Store, testEngines, type TestStore } from '../store/index.js'
import { Alarm, condOf, LISTS } from './alarm.js'
import { redactUrl } from './channels.js'
import { parseAlarmConfig } from './config.js'
import {
  callbackMessage,
  callbackUrl,
  eventLink,
  formattedTime,
  mailContent,
  mergedMailSubject,
  mergedShortText,
  smsContent,
} from './templates.js'

process.env.TZ = 'Asia/Shanghai'

const T0 = 1_764_000_000

// ---- receivers -------------------------------------------------------------------------------------

interface Received {
  method: string
  path: string
  url: string
  headers: IncomingHttpHeaders
  body: string
  form: Record<string, string>
}

/**
 * HttpSink records every request. Robots get the answer their kind takes as success (by path:
 * /dingtalk*, /wecom* `{"errcode":0}`, /slack* `ok`); a path in `failing` gets that status.
 */
class HttpSink {
  readonly got: Received[] = []
  readonly failing = new Map<string, { status: number; body: string }>()
  base = ''
  readonly #server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const url = req.url ?? ''
      const path = url.split('?')[0]
      this.got.push({
        method: req.method ?? '',
        path,
        url,
        headers: req.headers,
        body,
        form: Object.fromEntries(new URLSearchParams(body)),
      })
      const fail = this.failing.get(path)
      const answer =
        fail ??
        (path.startsWith('/dingtalk') || path.startsWith('/wecom')
          ? { status: 200, body: '{"errcode":0,"errmsg":"ok"}' }
          : { status: 200, body: path === '/cb' ? 'done' : 'ok' })
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body)
    })
  })

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok))
    this.base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  on(path: string): Received[] {
    return this.got.filter((r) => r.path === path)
  }

  close(): Promise<void> {
    this.#server.closeAllConnections()
    return new Promise((ok) => this.#server.close(() => ok()))
  }
}

interface Mail {
  to: string[]
  subject: string
  text: string
}

/** decodeMail reads what nodemailer writes: folded headers, encoded words, QP or base64 bodies. */
function decodeMail(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  let body = raw.slice(split + 4)
  const header = (name: string) =>
    new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
  const hex = (s: string) =>
    s.replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16)))
  const words = (s: string) =>
    s.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_m, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(hex(data.replace(/_/g, ' ')), 'latin1').toString('utf8')
    )
  const cte = header('Content-Transfer-Encoding').toLowerCase()
  if (cte === 'quoted-printable')
    body = Buffer.from(hex(body.replace(/=\r\n/g, '')), 'latin1').toString('utf8')
  else if (cte === 'base64') body = Buffer.from(body, 'base64').toString('utf8')
  return { subject: words(header('Subject')), text: body }
}

/** SmtpSink is a plain SMTP server on 127.0.0.1 keeping every mail. */
class SmtpSink {
  readonly mails: Mail[] = []
  url = ''
  readonly #server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData: (stream, session, done) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const { subject, text } = decodeMail(Buffer.concat(chunks).toString('utf8'))
        this.mails.push({ to: session.envelope.rcptTo.map((r) => r.address), subject, text })
        done()
      })
    },
  })

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok))
    this.url = `smtp://127.0.0.1:${(this.#server.server.address() as AddressInfo).port}`
  }

  close(): Promise<void> {
    return new Promise((ok) => this.#server.close(() => ok()))
  }
}

// ---- the portal: users, teams, actions -------------------------------------------------------------

const ALICE = { name: 'alice', email: 'alice@example.com', phone: '13800000001', im: 'alice-im' }
const BOB = { name: 'bob', email: 'bob@example.com', phone: '13800000002', im: '' }
// carol reads alice's mailbox: the address goes once.
const CAROL = { name: 'carol', email: 'alice@example.com', phone: '13800000003', im: 'carol-im' }

type Actions = Record<
  'all' | 'ops' | 'dba' | 'noTeams' | 'callback' | 'blankCallback' | 'failingCallback',
  number
>

/** seed writes alice, bob and carol, teams ops (alice, bob) and dba (bob, carol), and the actions. */
async function seed(db: Kysely<PortalDatabase>, sink: HttpSink): Promise<Actions> {
  const id = (r: { insertId?: bigint }) => Number(r.insertId)
  const users: number[] = []
  for (const u of [ALICE, BOB, CAROL])
    users.push(id(await db.insertInto('user').values(u).executeTakeFirstOrThrow()))
  const team = async (name: string, members: number[]) => {
    const tid = id(await db.insertInto('team').values({ name }).executeTakeFirstOrThrow())
    for (const uid of members) await db.insertInto('rel_team_user').values({ tid, uid }).execute()
  }
  await team('ops', [users[0], users[1]])
  await team('dba', [users[1], users[2]])
  const action = async (values: Record<string, string | number>) =>
    id(await db.insertInto('action').values(values).executeTakeFirstOrThrow())
  const flags = {
    before_callback_sms: 1,
    before_callback_mail: 1,
    after_callback_sms: 1,
    after_callback_mail: 1,
  }
  return {
    all: await action({ uic: 'ops, dba' }),
    ops: await action({ uic: 'ops' }),
    dba: await action({ uic: 'dba' }),
    noTeams: await action({ uic: '' }),
    callback: await action({
      uic: 'ops',
      url: `${sink.base}/cb?token=s3cret`,
      callback: 1,
      ...flags,
    }),
    blankCallback: await action({ uic: 'ops', url: '', callback: 1, after_callback_sms: 1 }),
    failingCallback: await action({
      uic: 'dba',
      url: `${sink.base}/cb-fail`,
      callback: 1,
      after_callback_mail: 1,
    }),
  }
}

// ---- events ----------------------------------------------------------------------------------------

let seq = 0

interface EventOptions {
  priority?: number
  actionId?: number
  metric?: string
  endpoint?: string
  status?: 'PROBLEM' | 'OK'
  leftValue?: number
  operator?: string
  rightValue?: number
}

/** event is a strategy event as falcon's judge pushes it (JSON), and the same parsed. */
function event(o: EventOptions = {}): { e: AlarmEvent; json: string } {
  const raw = {
    id: `s_7_${String(++seq).padStart(32, '0')}`,
    strategy: {
      id: 7,
      metric: o.metric ?? 'cpu.busy',
      tags: {},
      func: 'all(#1)',
      operator: o.operator ?? '>',
      rightValue: o.rightValue ?? 90,
      maxStep: 3,
      priority: o.priority ?? 0,
      note: 'busy',
      tpl: { id: 5, name: 'base', parentId: 0, actionId: o.actionId ?? 0, creator: 'root' },
    },
    expression: null,
    status: o.status ?? 'PROBLEM',
    endpoint: o.endpoint ?? 'web-01',
    leftValue: o.leftValue ?? 95,
    currentStep: 1,
    eventTime: T0,
    pushedTags: { core: 'all' },
  }
  const json = JSON.stringify(raw)
  return { e: parseAlarmEvent(json), json }
}

// ---- queue helpers ---------------------------------------------------------------------------------

const OUTBOX = [LISTS.sms, LISTS.im, LISTS.mail, LISTS.robot]
const ALL_LISTS = [...OUTBOX, LISTS.userSms, LISTS.userIm, LISTS.userMail, LISTS.userRobot]

/** take empties one list and returns its messages, parsed. */
async function take(queue: Queue, list: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for (;;) {
    const item = await queue.pop([list], 0)
    if (item === undefined) return out
    out.push(JSON.parse(item.payload) as Record<string, unknown>)
  }
}

/** drain sends everything in the outbox lists, as the send workers do. */
async function drain(alarm: Alarm, queue: Queue): Promise<void> {
  for (;;) {
    const item = await queue.pop(OUTBOX, 0)
    if (item === undefined) return
    await alarm.sendOne(item.list, item.payload)
  }
}

async function lengths(queue: Queue): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const l of ALL_LISTS) {
    const n = await queue.length(l)
    if (n > 0) out[l] = n
  }
  return out
}

/** A queue whose pushes to some lists fail (the queue closed, a spill file unwritable). */
function failingPushes(inner: Queue, fails: (list: string) => boolean): Queue {
  return {
    ...inner,
    push: (list, ...payloads) =>
      fails(list)
        ? Promise.reject(new Error(`cannot push to ${list}`))
        : inner.push(list, ...payloads),
  }
}

/** A queue whose pushes to `list` take `ms`. */
function slowPushes(inner: Queue, list: string, ms: number): Queue {
  return {
    ...inner,
    push: async (l, ...payloads) => {
      if (l === list) await new Promise((r) => setTimeout(r, ms))
      return inner.push(l, ...payloads)
    },
  }
}

const sorted = <T>(xs: T[]): T[] => [...xs].sort()

const parsed = (body: string) => JSON.parse(body) as Record<string, unknown>

// ---- the tests -------------------------------------------------------------------------------------

describe('event_cases.cond', () => {
  it('makes falcon’s cond: leftValue, operator, rightValue', () => {
    assert.equal(
      condOf(event({ leftValue: 1e6, operator: '>=', rightValue: 1e-5 }).e),
      '1e+06 >= 1e-05'
    )
  })
})

for (const engine of await testEngines()) {
  describe(`alarm (${engine.engine})`, () => {
    let t: TestStore
    const http = new HttpSink()
    const smtp = new SmtpSink()
    let A: Actions
    const running: Alarm[] = []

    before(async () => {
      await http.start()
      await smtp.start()
      t = await engine.open()
      A = await seed(t.store.db, http)
    })
    after(async () => {
      await t.drop()
      await http.close()
      await smtp.close()
    })
    beforeEach(async () => {
      http.got.length = 0
      http.failing.clear()
      smtp.mails.length = 0
      for (const table of ['alarm_notification', 'events', 'event_cases', 'alarm_silence'] as const)
        await t.store.db.deleteFrom(table).execute()
    })
    afterEach(async () => {
      await Promise.all(running.splice(0).map((a) => a.stop()))
    })

    const gateways = () => ({
      mail: { gateway: `${http.base}/mail` },
      sms: { gateway: `${http.base}/sms` },
      im: { gateway: `${http.base}/im` },
    })

    /** make builds an Alarm on `channels`, with fast retries, through parseAlarmConfig. */
    function make(
      channels: Record<string, unknown>,
      more: Record<string, unknown> = {},
      queue: Queue = memoryQueue(),
      store: Store = t.store
    ) {
      const cfg = parseAlarmConfig({
        channels,
        retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 },
        timeoutMs: 5000,
        workers: 2,
        // The receiver standing for callbacks listens on loopback, which they reach only when allowed.
        callbackAllow: ['127.0.0.0/8'],
        ...more,
      })
      const log = recordingLogger()
      const alarm = new Alarm(cfg, store, queue, log, Date.now)
      running.push(alarm)
      return { alarm, queue, log }
    }

    const notifications = (eventId?: string) => {
      let q = t.store.db
        .selectFrom('alarm_notification')
        .select(['event_id', 'channel', 'tos', 'subject', 'status', 'attempts', 'error'])
        .orderBy('id')
      if (eventId !== undefined) q = q.where('event_id', '=', eventId)
      return q.execute()
    }

    const caseOf = (id: string) =>
      t.store.db.selectFrom('event_cases').selectAll().where('id', '=', id).executeTakeFirst()

    it('sends a high priority at once: one sms, im and mail, every member once', async () => {
      const { alarm, queue } = make(gateways())
      const { e, json } = event({ priority: 0, actionId: A.all })
      await alarm.handleEvent('event:p0', json)

      const [sms] = await take(queue, LISTS.sms)
      assert.deepEqual(sms, {
        tos: '13800000001,13800000002,13800000003',
        content: smsContent(e),
        eventId: e.id,
      })
      const [im] = await take(queue, LISTS.im)
      const [mail] = await take(queue, LISTS.mail)
      // bob has no IM id; carol shares alice's mailbox.
      assert.equal(im.tos, 'alice-im,carol-im')
      assert.equal(mail.tos, 'alice@example.com,bob@example.com')
      assert.deepEqual(await lengths(queue), {})

      await alarm.sendOne(LISTS.sms, JSON.stringify(sms))
      await alarm.sendOne(LISTS.im, JSON.stringify(im))
      await alarm.sendOne(LISTS.mail, JSON.stringify(mail))
      assert.deepEqual(
        http.got.map((r) => [r.path, r.form]),
        [
          ['/sms', { tos: '13800000001,13800000002,13800000003', content: smsContent(e) }],
          ['/im', { tos: 'alice-im,carol-im', content: smsContent(e) }],
          [
            '/mail',
            {
              tos: 'alice@example.com,bob@example.com',
              subject: smsContent(e),
              content: mailContent(e, eventLink(e, '')),
            },
          ],
        ]
      )
      assert.deepEqual(
        (await notifications()).map((n) => [n.event_id, n.channel, n.tos, n.status, n.attempts]),
        [
          [e.id, 'sms', '13800000001,13800000002,13800000003', 'sent', 1],
          [e.id, 'im', 'alice-im,carol-im', 'sent', 1],
          [e.id, 'mail', 'alice@example.com,bob@example.com', 'sent', 1],
        ]
      )
      const c = await caseOf(e.id)
      assert.equal(c?.cond, '95 > 90')
      assert.equal(c?.status, 'PROBLEM')
      assert.deepEqual(
        { ...alarm.counters },
        {
          ...{ events: 1, invalidEvents: 0, recorded: 1, recordFailures: 0, noAction: 0 },
          ...{ silenced: 0, queued: 3, merged: 0, sent: 3, failed: 0, unconfigured: 0 },
          ...{
            callbacks: 0,
            callbackFailures: 0,
            callbackRefused: 0,
            notificationRecordFailures: 0,
          },
        }
      )
    })

    it('mails over SMTP: one mail to every address, falcon’s subject and text', async () => {
      const { alarm, queue } = make({ mail: { smtp: smtp.url, from: 'falcon@example.com' } })
      const { e, json } = event({ priority: 1, actionId: A.all })
      await alarm.handleEvent('event:p1', json)
      await drain(alarm, queue)
      assert.equal(smtp.mails.length, 1)
      const [m] = smtp.mails
      assert.deepEqual(m.to, ['alice@example.com', 'bob@example.com'])
      assert.equal(m.subject, smsContent(e))
      assert.equal(
        m.text.replace(/\r\n$/, ''),
        mailContent(e, eventLink(e, '')).replace(/\r\n$/, '')
      )
      // No SMS or IM channel: those two are counted, not lost silently.
      assert.equal(alarm.counters.unconfigured, 2)
      assert.deepEqual(
        (await notifications(e.id)).map((n) => [n.channel, n.status, n.subject]),
        [['mail', 'sent', smsContent(e)]]
      )
    })

    it('sends SMS only below priority 3, on the high lists and the low ones', async () => {
      const { alarm, queue } = make(gateways())
      await alarm.handleEvent('event:p0', event({ priority: 3, actionId: A.ops }).json)
      assert.deepEqual(await lengths(queue), { [LISTS.im]: 1, [LISTS.mail]: 1 })
      await take(queue, LISTS.im)
      await take(queue, LISTS.mail)

      const low = event({ priority: 2, actionId: A.ops })
      await alarm.handleEvent('event:p5', low.json)
      const base = { priority: 2, metric: 'cpu.busy', status: 'PROBLEM' }
      assert.deepEqual(await take(queue, LISTS.userSms), [
        { ...base, content: smsContent(low.e), phone: ALICE.phone },
        { ...base, content: smsContent(low.e), phone: BOB.phone },
      ])
      await alarm.handleEvent('event:p5', event({ priority: 3, actionId: A.ops }).json)
      assert.equal(await queue.length(LISTS.userSms), 0)
    })

    it('holds low priorities per user, then merges by priority, status, recipient and metric', async () => {
      const { alarm, queue } = make(gateways())
      const disk = ['web-a', 'web-b', 'web-c'].map((endpoint) =>
        event({ priority: 4, actionId: A.ops, metric: 'disk.busy', endpoint })
      )
      const cpu = event({ priority: 4, actionId: A.ops, metric: 'cpu.busy' })
      const ok = event({ priority: 4, actionId: A.ops, metric: 'disk.busy', status: 'OK' })
      const p5 = event({ priority: 5, actionId: A.ops, metric: 'disk.busy' })
      for (const x of [...disk, cpu, ok, p5]) await alarm.handleEvent('event:p4', x.json)

      // ops is alice and bob; bob has no IM id. Nothing goes out before the merge.
      assert.deepEqual(await lengths(queue), { [LISTS.userIm]: 6, [LISTS.userMail]: 12 })
      await alarm.merge()
      assert.deepEqual(await lengths(queue), { [LISTS.im]: 4, [LISTS.mail]: 8 })
      assert.equal(alarm.counters.merged, 3 * 2 + 3)

      await drain(alarm, queue)
      const mails = http.on('/mail').map((r) => r.form)
      const single = (x: { e: AlarmEvent }, tos: string) => ({
        tos,
        subject: smsContent(x.e),
        content: mailContent(x.e, eventLink(x.e, '')),
      })
      for (const tos of [ALICE.email, BOB.email]) {
        assert.deepEqual(
          sorted(mails.filter((m) => m.tos === tos).map((m) => JSON.stringify(m))),
          sorted(
            [
              {
                tos,
                subject: '[P4][PROBLEM] 3 disk.busy',
                content: disk.map((x) => mailContent(x.e, eventLink(x.e, ''))).join('\r\n'),
              },
              single(cpu, tos),
              single(ok, tos),
              single(p5, tos),
            ].map((m) => JSON.stringify(m))
          ),
          tos
        )
      }
      assert.deepEqual(
        sorted(http.on('/im').map((r) => JSON.stringify(r.form))),
        sorted(
          [
            mergedShortText(4, 'PROBLEM', 3, 'disk.busy', smsContent(disk[0].e)),
            smsContent(cpu.e),
            smsContent(ok.e),
            smsContent(p5.e),
          ].map((content) => JSON.stringify({ tos: ALICE.im, content }))
        )
      )
      assert.equal(
        mergedShortText(4, 'PROBLEM', 3, 'disk.busy', smsContent(disk[0].e)),
        '[P4][PROBLEM] 3 disk.busy.  e.g. web-a. detail in email'
      )
      const rows = await notifications()
      assert.equal(rows.length, 12)
      assert.ok(rows.every((r) => r.status === 'sent'))
      assert.equal(
        rows.filter((r) => r.subject === mergedMailSubject(4, 'PROBLEM', 3, 'disk.busy')).length,
        2
      )
    })

    it('merges a group of one unchanged: a low-priority SMS per phone', async () => {
      const { alarm, queue } = make(gateways())
      const { e, json } = event({ priority: 1, actionId: A.ops })
      await alarm.handleEvent('event:p6', json)
      await alarm.merge()
      assert.deepEqual(sorted((await take(queue, LISTS.sms)).map((m) => JSON.stringify(m))), [
        JSON.stringify({ tos: ALICE.phone, content: smsContent(e) }),
        JSON.stringify({ tos: BOB.phone, content: smsContent(e) }),
      ])
    })

    it('posts to the robots serving one of the action’s teams, merged for low priorities', async () => {
      const { alarm, queue } = make({
        robots: [
          { name: 'ops-slack', kind: 'slack', url: `${http.base}/slack`, teams: ['ops'] },
          { name: 'dba-ding', kind: 'dingtalk', url: `${http.base}/dingtalk`, teams: ['dba'] },
          { name: 'all-wecom', kind: 'wecom', url: `${http.base}/wecom` },
        ],
      })
      const high = event({ priority: 0, actionId: A.ops })
      await alarm.handleEvent('event:p0', high.json)
      await drain(alarm, queue)
      assert.deepEqual(
        http.on('/slack').map((r) => parsed(r.body)),
        [{ text: smsContent(high.e) }]
      )
      assert.deepEqual(
        http.on('/wecom').map((r) => parsed(r.body)),
        [{ msgtype: 'text', text: { content: smsContent(high.e) } }]
      )
      assert.equal(http.on('/dingtalk').length, 0)
      assert.deepEqual(
        (await notifications(high.e.id)).map((n) => [n.channel, n.tos, n.status]),
        [
          ['slack', 'ops-slack', 'sent'],
          ['wecom', 'all-wecom', 'sent'],
        ]
      )

      http.got.length = 0
      const dba = event({ priority: 0, actionId: A.dba })
      await alarm.handleEvent('event:p0', dba.json)
      await drain(alarm, queue)
      assert.deepEqual(sorted(http.got.map((r) => r.path)), ['/dingtalk', '/wecom'])

      http.got.length = 0
      const lows = ['web-a', 'web-b'].map((endpoint) =>
        event({ priority: 4, actionId: A.ops, metric: 'disk.busy', endpoint })
      )
      for (const x of lows) await alarm.handleEvent('event:p4', x.json)
      assert.equal(await queue.length(LISTS.userRobot), 4)
      await alarm.merge()
      await drain(alarm, queue)
      const merged = `[P4][PROBLEM] 2 disk.busy\n${lows.map((x) => smsContent(x.e)).join('\n')}`
      assert.deepEqual(
        http.on('/slack').map((r) => parsed(r.body)),
        [{ text: merged }]
      )
      assert.deepEqual(
        http.on('/wecom').map((r) => (parsed(r.body).text as { content: string }).content),
        [merged]
      )
    })

    it('posts every event to the webhooks, whatever its action, filtered by priorities', async () => {
      const { alarm } = make({
        webhooks: [
          { name: 'all', url: `${http.base}/hook-all`, headers: { Authorization: 'Bearer t0k' } },
          { name: 'urgent', url: `${http.base}/hook-urgent`, priorities: [0, 1] },
        ],
      })
      const p0 = event({ priority: 0, actionId: A.ops })
      const p4 = event({ priority: 4, actionId: 0 })
      const p1 = event({ priority: 1, actionId: 99_999 })
      await alarm.handleEvent('event:p0', p0.json)
      await alarm.handleEvent('event:p4', p4.json)
      await alarm.handleEvent('event:p1', p1.json)
      await waitUntil(async () => (await notifications()).length === 5, 'five webhook posts')

      const bodies = (path: string) =>
        http
          .on(path)
          .map((r) => parsed(r.body))
          .sort((a, b) => String(a.event).localeCompare(String(b.event)))
      const all = bodies('/hook-all')
      assert.deepEqual(
        all.map((b) => [b.event, b.priority, b.status, b.subject, b.content, b.tos]),
        [p0, p4, p1].map((x) => [
          x.e.id,
          x.e.strategy?.priority,
          'PROBLEM',
          smsContent(x.e),
          smsContent(x.e),
          ['all'],
        ])
      )
      assert.equal(all[0].leftValue, 95)
      assert.deepEqual(all[0].tags, { core: 'all' })
      assert.ok(http.on('/hook-all').every((r) => r.headers.authorization === 'Bearer t0k'))
      assert.deepEqual(
        bodies('/hook-urgent').map((b) => b.event),
        [p0.e.id, p1.e.id]
      )
      const rows = await notifications()
      assert.ok(rows.every((r) => r.channel === 'webhook' && r.status === 'sent'))
      // p0's action has teams, but no mail, SMS or IM channel is configured.
      assert.equal(alarm.counters.unconfigured, 3)
      assert.equal(alarm.counters.noAction, 2)
    })

    it('records the case but tells nobody for action 0, an unknown action or one without teams', async () => {
      const { alarm, queue } = make(gateways())
      const events = [
        event({ priority: 0, actionId: 0 }),
        event({ priority: 0, actionId: 99_999 }),
        event({ priority: 0, actionId: A.noTeams }),
        event({ priority: 4, actionId: 0 }),
      ]
      for (const x of events) await alarm.handleEvent('event:p0', x.json)
      await alarm.handleEvent('event:p4', events[3].json)
      assert.equal(alarm.counters.noAction, 4)
      assert.equal(alarm.counters.recorded, 5)
      assert.deepEqual(await lengths(queue), {})
      assert.deepEqual(await notifications(), [])
      for (const x of events) assert.equal((await caseOf(x.e.id))?.status, 'PROBLEM')
      const rows = await t.store.db.selectFrom('events').select('event_caseId').execute()
      assert.equal(rows.length, 5)
      assert.equal(http.got.length, 0)
    })

    it('records a silenced event as silenced and sends nothing for it', async () => {
      const now = Math.floor(Date.now() / 1000)
      await t.store.db
        .insertInto('alarm_silence')
        .values([
          { endpoint: 'web-quiet', starts_at: now - 60, ends_at: now + 3600 },
          { endpoint: 'web-loud', starts_at: now - 3600, ends_at: now - 1 },
        ])
        .execute()
      const { alarm, queue } = make({
        ...gateways(),
        webhooks: [{ name: 'hook', url: `${http.base}/hook` }],
      })
      const quiet = event({ priority: 0, actionId: A.callback, endpoint: 'web-quiet' })
      const quietLow = event({ priority: 4, actionId: A.ops, endpoint: 'web-quiet' })
      const loud = event({ priority: 0, actionId: A.ops, endpoint: 'web-loud' })
      await alarm.handleEvent('event:p0', quiet.json)
      await alarm.handleEvent('event:p4', quietLow.json)
      await alarm.handleEvent('event:p0', loud.json)
      await waitUntil(
        async () => (await notifications()).filter((n) => n.channel === 'webhook').length === 3,
        'the webhook records'
      )
      // Only the loud event is queued; the silenced case is still recorded.
      assert.deepEqual(await lengths(queue), { [LISTS.sms]: 1, [LISTS.im]: 1, [LISTS.mail]: 1 })
      assert.equal((await caseOf(quiet.e.id))?.status, 'PROBLEM')
      assert.deepEqual(
        (await notifications(quiet.e.id)).map((n) => [n.channel, n.tos, n.status]).sort(),
        [
          ['mail', 'ops', 'silenced'],
          ['webhook', 'hook', 'silenced'],
        ]
      )
      assert.deepEqual(
        (await notifications(quietLow.e.id)).map((n) => [n.channel, n.status]).sort(),
        [
          ['mail', 'silenced'],
          ['webhook', 'silenced'],
        ]
      )
      assert.deepEqual(
        http.got.map((r) => [r.path, parsed(r.body).event]),
        [['/hook', loud.e.id]]
      )
      assert.equal(alarm.counters.silenced, 2)
      assert.equal(alarm.counters.callbacks, 0)
    })

    it('retries a failing gateway, then records the failure with its reason', async () => {
      http.failing.set('/sms', { status: 500, body: 'gateway down' })
      const { alarm, queue, log } = make(gateways())
      const { e, json } = event({ priority: 0, actionId: A.ops })
      await alarm.handleEvent('event:p0', json)
      await drain(alarm, queue)
      assert.equal(http.on('/sms').length, 3)
      assert.equal(http.on('/mail').length, 1)
      const rows = await notifications(e.id)
      const sms = rows.find((r) => r.channel === 'sms')
      assert.equal(sms?.status, 'failed')
      assert.equal(sms?.attempts, 3)
      assert.match(sms?.error ?? '', /HTTP 500, body "gateway down"/)
      assert.deepEqual(
        rows.filter((r) => r.channel !== 'sms').map((r) => [r.channel, r.status]),
        [
          ['im', 'sent'],
          ['mail', 'sent'],
        ]
      )
      assert.equal(alarm.counters.failed, 1)
      assert.equal(log.lines.filter((l) => /attempt \d failed .*HTTP 500/.test(l)).length, 2)
      assert.ok(log.lines.some((l) => l.startsWith('error ') && l.includes('after 3 attempt(s)')))
    })

    it('counts and skips an event that is not falcon’s event JSON, and goes on', async () => {
      const { alarm, queue, log } = make(gateways())
      const { e, json } = event({ priority: 0, actionId: A.ops })
      await alarm.handleEvent('event:p0', 'not json')
      await alarm.handleEvent('event:p0', JSON.stringify({ ...JSON.parse(json), status: 'BAD' }))
      await alarm.handleEvent(
        'event:p0',
        JSON.stringify({ ...JSON.parse(json), strategy: null, expression: null })
      )
      assert.equal(alarm.counters.invalidEvents, 3)
      assert.equal(alarm.counters.recorded, 0)
      assert.deepEqual(await lengths(queue), {})
      assert.match(log.lines.join('\n'), /event: not JSON/)
      assert.match(log.lines.join('\n'), /event\.status: expected PROBLEM or OK, got "BAD"/)
      assert.match(log.lines.join('\n'), /neither strategy nor expression/)

      // Running: the bad one is skipped, the next one is mailed.
      alarm.run()
      await queue.push('event:p0', '[1, 2]', json)
      await waitUntil(() => http.on('/mail').length === 1, 'the mail of the good event')
      assert.equal(alarm.counters.invalidEvents, 4)
      assert.equal(http.on('/mail')[0].form.subject, smsContent(e))
    })

    it('calls back with falcon’s texts before and after', async () => {
      const { alarm, queue } = make(gateways())
      const { e, json } = event({ priority: 0, actionId: A.callback })
      await alarm.handleEvent('event:p0', json)
      // The event's own sms, im and mail; the same before the callback; its outcome after.
      await waitUntil(() => alarm.counters.queued === 9, 'nine messages queued')
      await drain(alarm, queue)

      const url = `${http.base}/cb?token=s3cret`
      const [cb] = http.on('/cb')
      assert.equal(cb.method, 'GET')
      assert.equal(`${http.base}${cb.url}`, callbackUrl(url, e))
      const message = callbackMessage(redactUrl(url), { ok: true, body: 'done' })
      assert.equal(message, `curl ${http.base}/cb?token=*** success. resp: done`)
      const forms = (path: string) => sorted(http.on(path).map((r) => JSON.stringify(r.form)))
      const sms = (content: string) =>
        JSON.stringify({ tos: `${ALICE.phone},${BOB.phone}`, content })
      assert.deepEqual(
        forms('/sms'),
        sorted([sms(smsContent(e)), sms(smsContent(e)), sms(message)])
      )
      const im = (content: string) => JSON.stringify({ tos: ALICE.im, content })
      assert.deepEqual(forms('/im'), sorted([im(smsContent(e)), im(smsContent(e)), im(message)]))
      const mail = (subject: string, content: string) =>
        JSON.stringify({ tos: `${ALICE.email},${BOB.email}`, subject, content })
      const text = mailContent(e, eventLink(e, ''))
      assert.deepEqual(
        forms('/mail'),
        sorted([mail(smsContent(e), text), mail(smsContent(e), text), mail(message, message)])
      )
      assert.deepEqual(
        (await notifications(e.id)).filter((n) => n.channel === 'callback'),
        [
          {
            event_id: e.id,
            channel: 'callback',
            tos: redactUrl(url),
            subject: '',
            status: 'sent',
            attempts: 1,
            error: '',
          },
        ]
      )
      assert.equal(alarm.counters.callbacks, 1)
    })

    it('says falcon’s "callback url is blank", and a failed callback’s reason', async () => {
      http.failing.set('/cb-fail', { status: 500, body: 'nope' })
      const { alarm, queue } = make(gateways())
      const blank = event({ priority: 0, actionId: A.blankCallback })
      await alarm.handleEvent('event:p0', blank.json)
      await waitUntil(() => alarm.counters.queued === 5, 'the blank callback’s sms and im')
      const sms = (await take(queue, LISTS.sms)).map((m) => m.content)
      assert.deepEqual(sorted(sms), sorted([smsContent(blank.e), 'callback url is blank']))
      assert.equal(alarm.counters.callbacks, 0)
      await take(queue, LISTS.im)
      await take(queue, LISTS.mail)

      const failing = event({ priority: 0, actionId: A.failingCallback })
      await alarm.handleEvent('event:p0', failing.json)
      await waitUntil(() => alarm.counters.callbackFailures === 1, 'the failed callback')
      await waitUntil(() => alarm.counters.queued === 9, 'the message after it')
      const url = `${http.base}/cb-fail`
      const error = `callback ${url}: HTTP 500`
      const message = callbackMessage(url, { ok: false, body: 'nope', error })
      assert.equal(message, `curl ${url} fail:${error}. resp: nope`)
      const mails = await take(queue, LISTS.mail)
      assert.deepEqual(
        mails.find((m) => m.subject === message),
        {
          tos: `${BOB.email},${ALICE.email}`,
          subject: message,
          content: message,
          eventId: failing.e.id,
        }
      )
      const [row] = (await notifications(failing.e.id)).filter((n) => n.channel === 'callback')
      assert.deepEqual([row.status, row.error], ['failed', error])
    })

    it('refuses a callback to loopback unless allowed: recorded, counted, told after', async () => {
      const { alarm, queue } = make(gateways(), { callbackAllow: [] })
      const { e, json } = event({ priority: 0, actionId: A.callback })
      await alarm.handleEvent('event:p0', json)
      await waitUntil(() => alarm.counters.callbackFailures === 1, 'the refused callback')
      await waitUntil(() => alarm.counters.queued === 9, 'the messages after it')
      assert.equal(alarm.counters.callbackRefused, 1)
      assert.equal(http.on('/cb').length, 0, 'the callback reached the receiver')
      const url = redactUrl(`${http.base}/cb?token=s3cret`)
      const error = `callback ${url}: refused: 127.0.0.1 is a loopback address (127.0.0.0/8); to allow it, add "127.0.0.0/8" to alarm.callbackAllow`
      const [row] = (await notifications(e.id)).filter((n) => n.channel === 'callback')
      assert.deepEqual([row.status, row.error], ['failed', error])
      // after_callback_sms tells falcon's text, with the reason; never a body from inside.
      const sms = (await take(queue, LISTS.sms)).map((m) => m.content)
      assert.ok(sms.includes(`curl ${url} fail:${error}. resp: `), sms.join('\n'))
    })

    it('writes falcon’s %v cond into event_cases and events', async () => {
      const { alarm } = make(gateways())
      const cases: [EventOptions, string][] = [
        [{ leftValue: 4.2, operator: '<', rightValue: 10 }, '4.2 < 10'],
        [{ leftValue: 100, operator: '>', rightValue: 90 }, '100 > 90'],
        [{ leftValue: 1e6, operator: '>', rightValue: 1234567 }, '1e+06 > 1.234567e+06'],
        [{ leftValue: 1e-5, operator: '<', rightValue: 0.0001 }, '1e-05 < 0.0001'],
      ]
      for (const [o, cond] of cases) {
        const { e, json } = event({ ...o, actionId: 0 })
        await alarm.handleEvent('event:p0', json)
        assert.equal((await caseOf(e.id))?.cond, cond)
        const ev = await t.store.db
          .selectFrom('events')
          .select('cond')
          .where('event_caseId', '=', e.id)
          .executeTakeFirstOrThrow()
        assert.equal(ev.cond, cond)
      }
    })

    it('still mails when the store is down, counting what it could not write', async () => {
      const own = await engine.open()
      try {
        const actions = await seed(own.store.db, http)
        const { alarm, queue, log } = make(
          { mail: { smtp: smtp.url, from: 'falcon@example.com' } },
          {},
          memoryQueue(),
          own.store
        )
        const first = event({ priority: 0, actionId: actions.ops })
        await alarm.handleEvent('event:p0', first.json)
        await drain(alarm, queue)
        assert.equal(smtp.mails.length, 1)

        await own.store.close()
        const second = event({ priority: 0, actionId: actions.ops, endpoint: 'web-02' })
        await alarm.handleEvent('event:p0', second.json)
        await drain(alarm, queue)
        assert.equal(smtp.mails.length, 2)
        assert.deepEqual(smtp.mails[1].to, [ALICE.email, BOB.email])
        assert.equal(smtp.mails[1].subject, smsContent(second.e))
        assert.equal(alarm.counters.recorded, 1)
        assert.equal(alarm.counters.recordFailures, 1)
        assert.equal(alarm.counters.notificationRecordFailures, 1)
        assert.equal(alarm.counters.sent, 2)
        assert.ok(
          log.lines.some((l) => l.startsWith(`error alarm: event ${second.e.id} not recorded`))
        )
        assert.ok(log.lines.some((l) => l.includes('using the last copy')))
      } finally {
        await own.drop()
      }
    })

    it('uses the templates of the configuration everywhere, callbacks’ texts included', async () => {
      const { alarm, queue } = make(
        {
          ...gateways(),
          robots: [{ name: 'bot', kind: 'slack', url: `${http.base}/slack` }],
        },
        {
          dashboard: 'http://dash.example.com/',
          templates: {
            sms: 'S {{endpoint}} {{metric}} {{leftValue}}{{operator}}{{rightValue}}',
            im: 'I [P{{priority}}][{{status}}] {{ note }}',
            mail: 'M {{id}} {{link}} step {{currentStep}}/{{maxStep}}',
            mailSubject: 'Subj {{endpoint}} {{time}}',
          },
        }
      )
      const { e, json } = event({ priority: 0, actionId: A.callback })
      await alarm.handleEvent('event:p0', json)
      await waitUntil(() => alarm.counters.queued === 10, 'ten messages queued')
      await drain(alarm, queue)
      const sms = 'S web-01 cpu.busy 95>90'
      const im = 'I [P0][PROBLEM] busy'
      const subject = `Subj web-01 ${formattedTime(T0)}`
      const mail = `M ${e.id} http://dash.example.com/portal/template/view/5 step 1/3`
      const message = callbackMessage(redactUrl(`${http.base}/cb?token=s3cret`), {
        ok: true,
        body: 'done',
      })
      // The event's messages and those before the callback alike; after it, falcon's own text.
      assert.deepEqual(
        sorted(http.on('/sms').map((r) => r.form.content)),
        sorted([sms, sms, message])
      )
      assert.deepEqual(sorted(http.on('/im').map((r) => r.form.content)), sorted([im, im, message]))
      assert.deepEqual(
        sorted(http.on('/mail').map((r) => `${r.form.subject}|${r.form.content}`)),
        sorted([`${subject}|${mail}`, `${subject}|${mail}`, `${message}|${message}`])
      )
      assert.deepEqual(
        http.on('/slack').map((r) => parsed(r.body).text),
        [im]
      )
    })

    it('stops at once while a retry is waiting, recording the failure', async () => {
      http.failing.set('/sms', { status: 503, body: 'later' })
      const { alarm, queue, log } = make(gateways(), {
        retry: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 },
      })
      alarm.run()
      const { e, json } = event({ priority: 0, actionId: A.ops })
      await queue.push('event:p0', json)
      await waitUntil(() => log.lines.some((l) => /attempt 1 failed/.test(l)), 'a retry waiting')
      const t0 = Date.now()
      await alarm.stop()
      assert.ok(Date.now() - t0 < 3000, `stop took ${Date.now() - t0} ms`)
      const [sms] = (await notifications(e.id)).filter((n) => n.channel === 'sms')
      assert.deepEqual([sms.status, sms.attempts], ['failed', 1])
      assert.match(sms.error, /HTTP 503/)
      assert.equal(http.on('/sms').length, 1)
    })

    // ---- bugs found in review ----------------------------------------------------------------------

    it('queues an event’s other messages when one push fails, and the loop goes on', async () => {
      const inner = memoryQueue()
      const queue = failingPushes(inner, (l) => l === LISTS.sms)
      const { alarm, log } = make(gateways(), {}, queue)
      const first = event({ priority: 0, actionId: A.ops })
      await alarm.handleEvent('event:p0', first.json)
      assert.deepEqual(await lengths(inner), { [LISTS.im]: 1, [LISTS.mail]: 1 })
      assert.ok(
        log.lines.some((l) => l === 'error alarm: message for /sms lost: cannot push to /sms')
      )
      await take(inner, LISTS.im)
      await take(inner, LISTS.mail)

      alarm.run()
      const later = [
        event({ priority: 0, actionId: A.ops }),
        event({ priority: 1, actionId: A.ops }),
      ]
      for (const x of later) await inner.push('event:p0', x.json)
      await waitUntil(() => http.on('/mail').length === 2, 'both events mailed')
    })

    it('merges past a message that is JSON but not an object', async () => {
      const { alarm, queue, log } = make(gateways())
      const ok = {
        priority: 4,
        metric: 'm',
        status: 'PROBLEM',
        content: 'c',
        subject: 's',
        email: 'a@x',
      }
      await queue.push(LISTS.userMail, 'null', '42', JSON.stringify(ok))
      await alarm.merge()
      assert.deepEqual(await take(queue, LISTS.mail), [{ tos: 'a@x', subject: 's', content: 'c' }])
      assert.equal(log.lines.filter((l) => l.includes('not an object')).length, 2)
    })

    it('skips an outbox message whose tos is not a string instead of throwing', async () => {
      const { alarm, log } = make(gateways())
      await alarm.sendOne(LISTS.mail, JSON.stringify({ tos: ['a@x'], subject: 's', content: 'c' }))
      assert.ok(log.lines.some((l) => l.startsWith('warn alarm: skipped a message from /mail')))
      assert.equal(http.got.length, 0)
    })

    it('lets a merge under way finish before stop returns, so nothing it popped is lost', async () => {
      const inner = memoryQueue()
      const { alarm } = make(gateways(), { mergeInterval: 20 }, slowPushes(inner, LISTS.mail, 1200))
      await alarm.handleEvent('event:p4', event({ priority: 4, actionId: A.ops }).json)
      assert.equal(await inner.length(LISTS.userMail), 2)
      alarm.run()
      await waitUntil(async () => (await inner.length(LISTS.userMail)) === 0, 'the merge')
      await alarm.stop()
      // Both mails are queued (or, when a worker was still there, sent) by the time stop returns.
      assert.equal((await inner.length(LISTS.mail)) + http.on('/mail').length, 2)
    })
  })
}
