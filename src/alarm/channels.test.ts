import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { SMTPServer } from 'smtp-server'
import { AddressPolicy } from '../core/index.js'
import {
  callback,
  CALLBACK_BODY_LIMIT,
  dingtalkChannel,
  falconGatewayChannel,
  feishuChannel,
  redactUrl,
  SendError,
  slackChannel,
  smtpChannel,
  webhookChannel,
  wecomChannel,
  withRetry,
  type Channel,
  type OutboundMessage,
} from './channels.js'
import { callbackUrl, eventLink, mailContent, mailSubject, smsContent } from './templates.js'
import { event } from './testing.js'

process.env.TZ = 'Asia/Shanghai'

const e = event()

const sms: OutboundMessage = {
  tos: ['13800000001', '13800000002'],
  subject: '',
  content: smsContent(e),
  event: e,
}

interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

type Answer = { status?: number; body?: string; type?: string } | 'hang'

/**
 * Receiver is a real HTTP server on 127.0.0.1:0 that records every request and answers with the next
 * queued answer (200 with an empty body once the queue is empty), or never answers ('hang').
 */
class Receiver {
  readonly got: Received[] = []
  readonly answers: Answer[] = []
  readonly #server: Server
  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        this.got.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        })
        const a = this.answers.shift() ?? {}
        if (a === 'hang') return
        res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'application/json' })
        res.end(a.body ?? '')
      })
    })
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    return this
  }
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }
  reset(...answers: Answer[]): void {
    this.got.length = 0
    this.answers.length = 0
    this.answers.push(...answers)
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }
}

const json = (v: unknown): Answer => ({ body: JSON.stringify(v) })

/** rejectsWith asserts that `p` rejects with a SendError whose message matches every pattern. */
async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<SendError> {
  let err: unknown
  await p.then(
    () => assert.fail('expected a rejection'),
    (x: unknown) => (err = x)
  )
  assert.ok(err instanceof SendError, `not a SendError: ${String(err)}`)
  for (const re of patterns) assert.match(err.message, re)
  return err
}

describe('smtpChannel against a real SMTP server', () => {
  const mails: { raw: string; from: string; rcpt: string[] }[] = []
  const auths: string[] = []
  let refuse = ''
  const smtp = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      auths.push(`${auth.username}:${auth.password}`)
      cb(null, { user: auth.username })
    },
    onRcptTo(address, _session, cb) {
      if (address.address === refuse) cb(new Error('550 no such user'))
      else cb()
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        mails.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          rcpt: session.envelope.rcptTo.map((r) => r.address),
        })
        cb()
      })
    },
  })
  let channel: Channel
  before(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()))
    const port = (smtp.server.address() as AddressInfo).port
    channel = smtpChannel({
      url: `smtp://falcon:s%40cret@127.0.0.1:${port}`,
      from: 'falcon@example.com',
      timeoutMs: 5000,
    })
  })
  after(async () => {
    channel.close?.()
    await new Promise<void>((r) => smtp.close(() => r()))
  })

  it('sends falcon mail: To, Subject, the CRLF text body, with the URL credentials', async () => {
    const link = eventLink(e, 'http://dash:8081')
    const msg = {
      tos: ['a@example.com', 'b@example.com'],
      subject: mailSubject(e),
      content: mailContent(e, link),
      event: e,
    }
    await channel.send(msg)
    assert.equal(mails.length, 1)
    assert.deepEqual(auths, ['falcon:s@cret'])
    assert.equal(mails[0].from, 'falcon@example.com')
    assert.deepEqual(mails[0].rcpt, ['a@example.com', 'b@example.com'])
    const split = mails[0].raw.indexOf('\r\n\r\n')
    // unfold header lines (RFC 5322 2.2.3) before reading them
    const head = mails[0].raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '')
    const header = (name: string) =>
      head
        .split('\r\n')
        .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
        ?.slice(name.length + 1)
        .trim()
    assert.equal(header('To'), 'a@example.com, b@example.com')
    assert.equal(
      header('Subject'),
      '[P1][PROBLEM][host-01][][disk almost full all(#3) df.bytes.free.percent ' +
        'fstype=ext4,mount=/ 4.2<10][O1 2023-11-15 06:13:20]'
    )
    assert.equal(header('Content-Transfer-Encoding'), '7bit')
    assert.equal(
      mails[0].raw.slice(split + 4),
      'PROBLEM\r\nP1\r\nEndpoint:host-01\r\nMetric:df.bytes.free.percent\r\n' +
        'Tags:fstype=ext4,mount=/\r\nall(#3): 4.2<10\r\nNote:disk almost full\r\n' +
        'Max:3, Current:1\r\nTimestamp:2023-11-15 06:13:20\r\n' +
        'http://dash:8081/portal/template/view/12\r\n'
    )
  })

  it('rejects a refused recipient naming the server, not the password', async () => {
    refuse = 'nobody@example.com'
    const err = await rejectsWith(
      channel.send({ tos: [refuse], subject: 's', content: 'c' }),
      /^smtp smtp:\/\/127\.0\.0\.1:\d+/,
      /no such user/
    )
    assert.doesNotMatch(err.message, /cret/)
    refuse = ''
  })

  it('rejects when nothing listens', async () => {
    const dead = await new Receiver().start()
    const port = new URL(dead.url).port
    await dead.stop()
    const ch = smtpChannel({ url: `smtp://127.0.0.1:${port}`, from: 'f@example.com' })
    try {
      await rejectsWith(ch.send({ tos: ['a@example.com'], subject: 's', content: 'c' }), /^smtp /)
    } finally {
      ch.close?.()
    }
  })
})

describe('HTTP channels against real receivers', () => {
  const rx = new Receiver()
  before(() => rx.start())
  after(() => rx.stop())

  describe('falconGatewayChannel', () => {
    it('posts mail as a form with tos, subject and content', async () => {
      rx.reset({ body: 'ok', type: 'text/plain' })
      const msg = { ...sms, tos: ['a@example.com', 'b@example.com'], subject: 'subj & more' }
      await falconGatewayChannel('mail', `${rx.url}/mail`).send(msg)
      assert.equal(rx.got.length, 1)
      const r = rx.got[0]
      assert.equal(r.method, 'POST')
      assert.equal(r.url, '/mail')
      assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded')
      const form = new URLSearchParams(r.body)
      assert.deepEqual([...form.keys()], ['tos', 'subject', 'content'])
      assert.equal(form.get('tos'), 'a@example.com,b@example.com')
      assert.equal(form.get('subject'), 'subj & more')
      assert.equal(form.get('content'), smsContent(e))
    })
    it('posts sms and im without a subject', async () => {
      for (const kind of ['sms', 'im'] as const) {
        rx.reset()
        await falconGatewayChannel(kind, `${rx.url}/${kind}`).send(sms)
        const form = new URLSearchParams(rx.got[0].body)
        assert.deepEqual(Object.fromEntries(form), {
          tos: '13800000001,13800000002',
          content: smsContent(e),
        })
      }
    })
    it('counts a non-2xx answer as a failure, with status and body', async () => {
      rx.reset({ status: 500, body: 'gateway exploded', type: 'text/plain' })
      const err = await rejectsWith(
        falconGatewayChannel('sms', `${rx.url}/sms`).send(sms),
        /^falcon-sms http:\/\/127\.0\.0\.1:\d+\/sms: HTTP 500, body "gateway exploded"$/
      )
      assert.equal(err.status, 500)
      assert.equal(err.channel, 'falcon-sms')
    })
  })

  describe('webhookChannel', () => {
    it('posts the documented JSON body with the configured headers', async () => {
      rx.reset({ status: 204 })
      const ch = webhookChannel({ url: `${rx.url}/hook`, headers: { authorization: 'Bearer t' } })
      await ch.send(sms)
      const r = rx.got[0]
      assert.equal(r.method, 'POST')
      assert.equal(r.headers['content-type'], 'application/json')
      assert.equal(r.headers.authorization, 'Bearer t')
      assert.deepEqual(JSON.parse(r.body), {
        event: 's_7_0123456789abcdef0123456789abcdef',
        status: 'PROBLEM',
        priority: 1,
        endpoint: 'host-01',
        metric: 'df.bytes.free.percent',
        tags: { mount: '/', fstype: 'ext4' },
        leftValue: 4.2,
        operator: '<',
        rightValue: 10,
        note: 'disk almost full',
        currentStep: 1,
        maxStep: 3,
        time: 1_700_000_000,
        subject: '',
        content: smsContent(e),
        tos: ['13800000001', '13800000002'],
      })
    })
    it('sends null event fields for a merged message', async () => {
      rx.reset()
      await webhookChannel({ url: rx.url }).send({ tos: ['x'], subject: 's', content: 'c' })
      const body = JSON.parse(rx.got[0].body)
      assert.equal(body.event, null)
      assert.equal(body.leftValue, null)
      assert.equal(body.content, 'c')
    })
    it('sends the URL credentials as Basic auth', async () => {
      rx.reset()
      await webhookChannel({ url: rx.url.replace('http://', 'http://al%40rm:p%3Ass@') }).send(sms)
      assert.equal(
        rx.got[0].headers.authorization,
        `Basic ${Buffer.from('al@rm:p:ss').toString('base64')}`
      )
    })
    it('fails on 4xx', async () => {
      rx.reset({ status: 401, body: '{"error":"bad token"}' })
      await rejectsWith(
        webhookChannel({ url: rx.url }).send(sms),
        /^webhook .*HTTP 401/,
        /bad token/
      )
    })
  })

  describe('dingtalkChannel', () => {
    it('posts a text message', async () => {
      rx.reset(json({ errcode: 0, errmsg: 'ok' }))
      await dingtalkChannel({ url: `${rx.url}/robot/send?access_token=tok` }).send(sms)
      const r = rx.got[0]
      assert.equal(r.method, 'POST')
      assert.equal(r.url, '/robot/send?access_token=tok')
      assert.equal(r.headers['content-type'], 'application/json')
      assert.equal(r.body, JSON.stringify({ msgtype: 'text', text: { content: smsContent(e) } }))
    })
    it('signs with timestamp and sign in the query when a secret is set', async () => {
      rx.reset(json({ errcode: 0, errmsg: 'ok' }))
      const secret = 'SECabc123'
      const ch = dingtalkChannel({
        url: `${rx.url}/robot/send?access_token=tok`,
        secret,
        now: () => 1_700_000_000_123,
      })
      await ch.send(sms)
      const q = new URL(rx.got[0].url, rx.url).searchParams
      assert.equal(q.get('access_token'), 'tok')
      assert.equal(q.get('timestamp'), '1700000000123')
      const want = createHmac('sha256', secret).update(`1700000000123\n${secret}`).digest('base64')
      assert.equal(q.get('sign'), want)
    })
    it('counts errcode != 0 as a failure and hides the token', async () => {
      rx.reset(json({ errcode: 310000, errmsg: 'sign not match' }))
      const err = await rejectsWith(
        dingtalkChannel({ url: `${rx.url}/robot/send?access_token=tok` }).send(sms),
        /^dingtalk http:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=\*\*\*: errcode 310000/,
        /sign not match/
      )
      assert.doesNotMatch(err.message, /tok\b/)
    })
    it('counts a reply that is not JSON as a failure', async () => {
      rx.reset({ body: '<html>proxy</html>', type: 'text/html' })
      await rejectsWith(dingtalkChannel({ url: rx.url }).send(sms), /not JSON/)
    })
  })

  describe('wecomChannel', () => {
    it('posts a text message and fails on errcode != 0', async () => {
      rx.reset(json({ errcode: 0, errmsg: 'ok' }), json({ errcode: 93000, errmsg: 'invalid key' }))
      const ch = wecomChannel({ url: `${rx.url}/cgi-bin/webhook/send?key=k1` })
      await ch.send(sms)
      assert.equal(rx.got[0].url, '/cgi-bin/webhook/send?key=k1')
      assert.equal(rx.got[0].headers['content-type'], 'application/json')
      assert.equal(
        rx.got[0].body,
        JSON.stringify({ msgtype: 'text', text: { content: smsContent(e) } })
      )
      await rejectsWith(ch.send(sms), /^wecom .*key=\*\*\*: errcode 93000/)
    })
  })

  describe('feishuChannel', () => {
    it('posts a text message', async () => {
      rx.reset(json({ code: 0, msg: 'success', data: {} }))
      await feishuChannel({ url: `${rx.url}/open-apis/bot/v2/hook/uuid-1` }).send(sms)
      assert.equal(rx.got[0].url, '/open-apis/bot/v2/hook/uuid-1')
      assert.equal(rx.got[0].headers['content-type'], 'application/json')
      assert.equal(
        rx.got[0].body,
        JSON.stringify({ msg_type: 'text', content: { text: smsContent(e) } })
      )
    })
    it('signs in the body when a secret is set', async () => {
      rx.reset(json({ StatusCode: 0, StatusMessage: 'success', code: 0 }))
      const secret = 'feishu-secret'
      await feishuChannel({
        url: `${rx.url}/open-apis/bot/v2/hook/uuid-1`,
        secret,
        now: () => 1_700_000_000_999,
      }).send(sms)
      const sign = createHmac('sha256', `1700000000\n${secret}`).update('').digest('base64')
      assert.equal(
        rx.got[0].body,
        JSON.stringify({
          timestamp: '1700000000',
          sign,
          msg_type: 'text',
          content: { text: smsContent(e) },
        })
      )
    })
    it('counts code != 0 as a failure, masking the hook token', async () => {
      rx.reset(json({ code: 19021, msg: 'sign match fail or timestamp is not within one hour' }))
      const err = await rejectsWith(
        feishuChannel({ url: `${rx.url}/open-apis/bot/v2/hook/uuid-1` }).send(sms),
        /^feishu http:\/\/127\.0\.0\.1:\d+\/open-apis\/bot\/v2\/hook\/\*\*\*: code 19021/
      )
      assert.doesNotMatch(err.message, /uuid-1/)
    })
  })

  describe('slackChannel', () => {
    it('posts {text} and accepts "ok"', async () => {
      rx.reset({ body: 'ok', type: 'text/plain' })
      await slackChannel({ url: `${rx.url}/services/T0/B0/XYZ` }).send(sms)
      assert.equal(rx.got[0].headers['content-type'], 'application/json')
      assert.equal(rx.got[0].body, JSON.stringify({ text: smsContent(e) }))
    })
    it('counts any other answer as a failure', async () => {
      rx.reset(
        { body: 'invalid_payload', type: 'text/plain' },
        { status: 404, body: 'no_service', type: 'text/plain' }
      )
      const ch = slackChannel({ url: `${rx.url}/services/T0/B0/XYZ` })
      await rejectsWith(ch.send(sms), /^slack .*\/services\/T0\/B0\/\*\*\*: answer is not "ok"/)
      await rejectsWith(ch.send(sms), /HTTP 404, body "no_service"/)
    })
  })

  describe('timeouts and transport errors', () => {
    it('rejects when the server never answers', async () => {
      rx.reset('hang')
      const ch = falconGatewayChannel('im', `${rx.url}/im`, 150)
      await rejectsWith(ch.send(sms), /^falcon-im http:.*\/im: no answer within 150 ms$/)
    })
    it('rejects when nothing listens, naming the URL without credentials', async () => {
      const dead = await new Receiver().start()
      const url = dead.url.replace('http://', 'http://user:hunter2@')
      await dead.stop()
      const err = await rejectsWith(
        webhookChannel({ url }).send(sms),
        /^webhook http:\/\/127\.0\.0\.1:\d+\/: request failed \(ECONNREFUSED\)$/
      )
      assert.doesNotMatch(err.message, /hunter2/)
    })
  })

  describe('callback', () => {
    // The receivers listen on loopback, which callbacks may reach only when allowed.
    const loopback = new AddressPolicy(['127.0.0.0/8'], 'alarm.callbackAllow')
    it('GETs the action URL with falcon parameters', async () => {
      rx.reset({ body: 'done', type: 'text/plain' })
      const res = await callback(`${rx.url}/cb?k=v`, e, { policy: loopback })
      assert.deepEqual(res, { ok: true, status: 200, body: 'done' })
      assert.equal(rx.got[0].method, 'GET')
      assert.equal(`${rx.url}${rx.got[0].url}`, callbackUrl(`${rx.url}/cb?k=v`, e))
      const q = new URL(rx.got[0].url, rx.url).searchParams
      assert.equal(q.get('k'), 'v')
      assert.equal(q.get('tags'), 'fstype:ext4,mount:/')
    })
    it('caps the body at 64 KiB', async () => {
      rx.reset({ body: 'x'.repeat(CALLBACK_BODY_LIMIT * 2), type: 'text/plain' })
      const res = await callback(`${rx.url}/cb`, e, { policy: loopback })
      assert.equal(res.ok, true)
      assert.equal(res.body.length, CALLBACK_BODY_LIMIT)
    })
    it('reads no more than the cap of an answer that never ends', async () => {
      const endless = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const chunk = 'y'.repeat(16 * 1024)
        const more = () => {
          while (res.write(chunk));
        }
        res.on('drain', more)
        more()
      })
      await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r))
      try {
        const port = (endless.address() as AddressInfo).port
        const res = await callback(`http://127.0.0.1:${port}/cb`, e, { policy: loopback })
        assert.equal(res.ok, true, res.error)
        assert.equal(res.body.length, CALLBACK_BODY_LIMIT)
      } finally {
        endless.closeAllConnections()
        await new Promise<void>((r) => endless.close(() => r()))
      }
    })
    it('reports a non-2xx answer and a timeout without rejecting', async () => {
      rx.reset({ status: 503, body: 'busy', type: 'text/plain' }, 'hang')
      assert.deepEqual(await callback(`${rx.url}/cb`, e, { policy: loopback }), {
        ok: false,
        status: 503,
        body: 'busy',
        error: `callback ${rx.url}/cb: HTTP 503`,
      })
      const slow = await callback(`${rx.url}/cb`, e, { timeoutMs: 100, policy: loopback })
      assert.equal(slow.ok, false)
      assert.equal(slow.status, 0)
      assert.match(slow.error ?? '', /no answer within 100 ms/)
    })

    describe('refuses URLs that lead inside, unless allowed', () => {
      const port = () => new URL(rx.url).port
      const refused = async (url: string, ...patterns: RegExp[]) => {
        rx.reset()
        const res = await callback(url, e)
        assert.equal(res.ok, false, url)
        assert.equal(res.refused, true, `${url}: ${res.error}`)
        assert.equal(res.status, 0)
        for (const re of patterns) assert.match(res.error ?? '', re, url)
        assert.equal(rx.got.length, 0, `${url} reached the receiver`)
      }
      it('loopback by address, naming the range and the setting', async () => {
        await refused(
          `${rx.url}/cb`,
          new RegExp(
            `^callback http://127\\.0\\.0\\.1:${port()}/cb: refused: 127\\.0\\.0\\.1 is a loopback address \\(127\\.0\\.0\\.0/8\\); to allow it, add "127\\.0\\.0\\.0/8" to alarm\\.callbackAllow$`
          )
        )
      })
      it('loopback in its IPv4-mapped IPv6 form', async () => {
        await refused(
          `http://[::ffff:127.0.0.1]:${port()}/cb`,
          /::ffff:7f00:1 is a loopback address/
        )
      })
      it('a host name that resolves to loopback', async () => {
        await refused(
          `http://localhost:${port()}/cb`,
          /localhost resolves to (127\.0\.0\.1|::1), which is a loopback address .* add "(127\.0\.0\.0\/8|::1\/128)" or "localhost" to alarm\.callbackAllow/
        )
      })
      it('private, link-local (cloud metadata), shared and unspecified addresses', async () => {
        await refused('http://10.1.2.3/cb', /10\.1\.2\.3 is a private address \(10\.0\.0\.0\/8\)/)
        await refused('http://172.20.0.1/cb', /private address \(172\.16\.0\.0\/12\)/)
        await refused('http://192.168.1.10:8080/cb', /private address \(192\.168\.0\.0\/16\)/)
        await refused('http://169.254.169.254/latest/meta-data/', /link-local \(cloud metadata\)/)
        await refused('http://100.64.1.1/cb', /shared \(carrier-grade NAT\)/)
        await refused(`http://0.0.0.0:${port()}/cb`, /unspecified/)
        await refused('http://[fd00::1]/cb', /unique local/)
        await refused('http://[fe80::1]/cb', /link-local address \(fe80::\/10\)/)
        // WHATWG URL spellings of 127.0.0.1 are normalised before the check.
        await refused(`http://2130706433:${port()}/cb`, /127\.0\.0\.1 is a loopback/)
      })
      it('allows a listed range or host name', async () => {
        rx.reset({ body: 'in' })
        const byRange = await callback(`${rx.url}/cb`, e, {
          policy: new AddressPolicy(['127.0.0.1/32'], 'alarm.callbackAllow'),
        })
        assert.equal(byRange.ok, true, byRange.error)
        rx.reset({ body: 'in' })
        const byName = await callback(`http://localhost:${port()}/cb`, e, {
          policy: new AddressPolicy(['localhost'], 'alarm.callbackAllow'),
        })
        assert.equal(byName.ok, true, byName.error)
        assert.equal(rx.got.length, 1)
      })
      it('does not follow a redirect, to loopback or anywhere', async () => {
        rx.reset()
        const redirector = createServer((_req, res) => {
          res.writeHead(302, { location: `${rx.url}/secret` })
          res.end()
        })
        await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r))
        try {
          const at = (redirector.address() as AddressInfo).port
          // Only the redirecting host is allowed; where it points is loopback, and is never asked.
          const res = await callback(`http://localhost:${at}/cb`, e, {
            policy: new AddressPolicy(['localhost'], 'alarm.callbackAllow'),
          })
          assert.equal(res.ok, false)
          assert.equal(res.status, 302)
          assert.match(
            res.error ?? '',
            new RegExp(
              `^callback http://localhost:${at}/cb: HTTP 302 to ${rx.url}/secret; redirects are not followed`
            )
          )
          assert.equal(rx.got.length, 0)
        } finally {
          await new Promise<void>((r) => redirector.close(() => r()))
        }
      })
      it('refuses what is not http(s)', async () => {
        for (const url of ['file:///etc/passwd', 'ftp://10.0.0.1/x', 'not a url']) {
          const res = await callback(url, e)
          assert.equal(res.ok, false)
          assert.match(res.error ?? '', /expected an http:\/\/ or https:\/\/ URL$/, url)
        }
      })
    })
  })

  describe('redirects of the configured channels', () => {
    it('are failed deliveries naming the status, not followed', async () => {
      rx.reset({ status: 301, body: '' })
      const ch = webhookChannel({ url: `${rx.url}/hook` })
      const err = await rejectsWith(
        ch.send(sms),
        /^webhook http:.*\/hook: HTTP 301; redirects are not followed/
      )
      assert.equal(err.status, 301)
      assert.equal(rx.got.length, 1)
    })
  })

  describe('withRetry over a real gateway', () => {
    it('succeeds on the third attempt', async () => {
      rx.reset({ status: 502 }, { status: 503 }, { status: 200 })
      const waits: number[] = []
      const failures: number[] = []
      const ch = withRetry(falconGatewayChannel('sms', `${rx.url}/sms`), {
        sleep: (ms) => {
          waits.push(ms)
          return Promise.resolve()
        },
        random: () => 0,
        onAttemptFailed: (_err, attempt) => failures.push(attempt),
      })
      assert.deepEqual(await ch.send(sms), { attempts: 3 })
      assert.equal(rx.got.length, 3)
      assert.deepEqual(failures, [1, 2])
      assert.deepEqual(waits, [500, 1000]) // base 1000 · 2^(n-1), jitter factor 0.5 at random() = 0
    })
    it('gives up after the last attempt with that error and the count', async () => {
      rx.reset({ status: 500, body: 'a' }, { status: 500, body: 'b' }, { status: 500, body: 'c' })
      const ch = withRetry(falconGatewayChannel('sms', `${rx.url}/sms`), {
        sleep: () => Promise.resolve(),
      })
      const err = await rejectsWith(ch.send(sms), /HTTP 500, body "c"/)
      assert.equal(err.attempts, 3)
      assert.equal(rx.got.length, 3)
    })
  })
})

describe('withRetry', () => {
  const failing = (n: number, seen: number[]): Channel => ({
    name: 'fake',
    send: () => {
      seen.push(seen.length + 1)
      return seen.length <= n ? Promise.reject(new Error(`boom ${seen.length}`)) : Promise.resolve()
    },
  })
  it('backs off exponentially with jitter, capped at maxDelayMs', async () => {
    const waits: number[] = []
    const seen: number[] = []
    const ch = withRetry(failing(5, seen), {
      attempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.999,
      sleep: (ms) => {
        waits.push(Math.floor(ms))
        return Promise.resolve()
      },
    })
    assert.deepEqual(await ch.send(sms), { attempts: 6 })
    assert.deepEqual(waits, [99, 199, 399, 799, 999]) // min(1000, 100 · 2^(n-1)) · 0.9995
  })
  it('attaches attempts to the last error', async () => {
    const seen: number[] = []
    const ch = withRetry(failing(9, seen), { attempts: 2, sleep: () => Promise.resolve() })
    await assert.rejects(ch.send(sms), (err: Error & { attempts?: number }) => {
      assert.equal(err.message, 'boom 2')
      assert.equal(err.attempts, 2)
      return true
    })
  })
  it('stops waiting when its signal aborts', async () => {
    const ac = new AbortController()
    const seen: number[] = []
    const ch = withRetry(failing(9, seen), { baseDelayMs: 60_000, signal: ac.signal })
    const p = ch.send(sms)
    setImmediate(() => ac.abort(new Error('stopping')))
    await assert.rejects(p, (err: Error & { attempts?: number }) => {
      assert.equal(err.message, 'boom 1')
      assert.equal(err.attempts, 1)
      return true
    })
    assert.equal(seen.length, 1)
  })
  it('uses the default waits when none are given', async () => {
    const waits: number[] = []
    const seen: number[] = []
    const ch = withRetry(failing(2, seen), {
      random: () => 0,
      sleep: (ms) => {
        waits.push(ms)
        return Promise.resolve()
      },
    })
    assert.deepEqual(await ch.send(sms), { attempts: 3 })
    assert.deepEqual(waits, [500, 1000])
  })
})

describe('channel factories', () => {
  it('refuse a URL that is not http(s), naming the channel', () => {
    assert.throws(
      () => slackChannel({ url: 'hooks.slack.com/x' }),
      /^Error: slack: expected an http/
    )
    assert.throws(() => falconGatewayChannel('mail', 'ftp://x/'), /^Error: falcon-mail: expected/)
  })
})

describe('redactUrl', () => {
  it('drops credentials and masks secret-looking query values', () => {
    assert.equal(
      redactUrl('https://u:p@oapi.dingtalk.com/robot/send?access_token=abc&x=1'),
      'https://oapi.dingtalk.com/robot/send?access_token=***&x=1'
    )
    assert.equal(
      redactUrl('https://hooks.slack.com/services/T0/B0/XYZ', true),
      'https://hooks.slack.com/services/T0/B0/***'
    )
    assert.equal(redactUrl('not a url'), '<invalid url>')
  })
})
