import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { defaultAlarmConfig, parseAlarmConfig } from './config.js'

/** docs/configuration.md, found from here (src/alarm, or dist/src/alarm when compiled). */
function configurationDoc(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const path = join(dir, 'docs', 'configuration.md')
    if (existsSync(path)) return readFileSync(path, 'utf8')
    if (dirname(dir) === dir) throw new Error('docs/configuration.md not found')
  }
}

/** The YAML examples of the `alarm` section of docs/configuration.md, each its `alarm` object. */
function alarmExamples(): Record<string, unknown>[] {
  const doc = configurationDoc()
  const section = doc.slice(doc.indexOf('### `alarm`'), doc.indexOf('### `agent`'))
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map(
    (m) => (parse(m[1]) as { alarm: Record<string, unknown> }).alarm
  )
}

/** problems returns parseAlarmConfig's complaints about `raw`, one per item. */
function problems(raw: Record<string, unknown>): string[] {
  try {
    parseAlarmConfig(raw)
  } catch (err) {
    return (err as Error).message.split('; alarm.').map((p, i) => (i === 0 ? p : `alarm.${p}`))
  }
  return []
}

describe('parseAlarmConfig', () => {
  it('accepts the examples of docs/configuration.md and keeps what they say', () => {
    const examples = alarmExamples()
    assert.equal(examples.length, 2)
    const [channels, templates] = examples.map((raw) => parseAlarmConfig(raw))
    assert.equal(channels.channels.mail?.smtp, 'smtp://falcon:password@smtp.example.com:587')
    assert.equal(channels.channels.mail?.from, 'falcon@example.com')
    assert.equal(channels.channels.sms?.gateway, 'http://127.0.0.1:10086/sms')
    assert.equal(channels.channels.im?.gateway, 'http://127.0.0.1:10086/wechat')
    assert.deepEqual(
      channels.channels.robots?.map((r) => [r.name, r.kind, r.teams]),
      [['ops-dingtalk', 'dingtalk', ['ops', 'dba']]]
    )
    assert.deepEqual(channels.channels.webhooks?.[0].priorities, [0, 1, 2])
    assert.equal(channels.channels.webhooks?.[0].headers?.Authorization, 'Bearer …')
    assert.deepEqual(Object.keys(templates.templates), ['sms', 'mailSubject'])
    // What the examples leave out is the default.
    assert.deepEqual(channels.retry, defaultAlarmConfig.retry)
    assert.equal(templates.mergeInterval, 60_000)
  })

  it('gives the defaults for an empty section, and merges a partial retry over them', () => {
    assert.deepEqual({ ...parseAlarmConfig({}) }, defaultAlarmConfig)
    assert.deepEqual(parseAlarmConfig({ retry: { attempts: 5 } }).retry, {
      attempts: 5,
      baseDelayMs: 1000,
      maxDelayMs: 30_000,
    })
  })

  it('accepts a mail gateway instead of SMTP, and every robot kind', () => {
    const c = parseAlarmConfig({
      channels: {
        mail: { gateway: 'http://127.0.0.1:4000/mail' },
        robots: ['dingtalk', 'wecom', 'feishu', 'slack'].map((kind) => ({
          name: kind,
          kind,
          url: `https://${kind}.example.com/hook`,
        })),
      },
    })
    assert.equal(c.channels.mail?.gateway, 'http://127.0.0.1:4000/mail')
    assert.equal(c.channels.robots?.length, 4)
  })

  it('refuses a bad SMTP URL, and a mail channel without a sender', () => {
    assert.deepEqual(
      problems({ channels: { mail: { smtp: 'http://smtp.example.com', from: 'a@b.c' } } }),
      ['alarm.channels.mail.smtp: expected a smtp or smtps URL, got http:']
    )
    assert.deepEqual(problems({ channels: { mail: { smtp: 'not a url', from: 'a@b.c' } } }), [
      'alarm.channels.mail.smtp: not a URL: "not a url"',
    ])
    assert.deepEqual(problems({ channels: { mail: { smtp: 'smtp://h:25' } } }), [
      'alarm.channels.mail.from: expected the sender address, like "falcon@example.com"',
    ])
    assert.deepEqual(problems({ channels: { mail: {} } }), [
      'alarm.channels.mail: expected {smtp, from} or {gateway}',
    ])
    assert.deepEqual(problems({ channels: { sms: { gateway: 'ftp://x/sms' } } }), [
      'alarm.channels.sms.gateway: expected a http or https URL, got ftp:',
    ])
  })

  it('refuses an unknown robot kind and an unknown channel', () => {
    assert.deepEqual(
      problems({
        channels: {
          robots: [{ name: 'r', kind: 'telegram', url: 'https://t.example.com' }],
          pager: {},
        },
      }),
      [
        'alarm.channels.pager: not a channel (expected mail, sms, im, robots, webhooks)',
        'alarm.channels.robots[0].kind: expected one of dingtalk, wecom, feishu, slack',
      ]
    )
  })

  it('refuses a name used twice, among robots and webhooks alike', () => {
    assert.deepEqual(
      problems({
        channels: {
          robots: [
            { name: 'ops', kind: 'slack', url: 'https://hooks.slack.com/services/x' },
            { name: 'ops', kind: 'wecom', url: 'https://qyapi.weixin.qq.com/x' },
          ],
          webhooks: [{ name: 'ops', url: 'https://hooks.example.com/x' }],
        },
      }),
      [
        'alarm.channels.robots[1].name: ops is used twice',
        'alarm.channels.webhooks[0].name: ops is used twice',
      ]
    )
  })

  it('refuses a template with an unknown placeholder, naming it', () => {
    const got = problems({ templates: { sms: '{{endpoint}} {{host}}', bogus: 'x' } })
    assert.equal(got.length, 2)
    assert.match(got[0], /^alarm\.templates\.sms: template: unknown placeholder \{\{host\}\}/)
    assert.equal(
      got[1],
      'alarm.templates.bogus: not a template (expected sms, im, mail, mailSubject)'
    )
    assert.match(problems({ templates: { mail: 'x {{endpoint' } })[0], /^alarm\.templates\.mail:/)
  })

  it('refuses bad webhook priorities', () => {
    for (const priorities of [[7], [-1], [1.5], ['0'], 'p0']) {
      assert.deepEqual(
        problems({ channels: { webhooks: [{ name: 'w', url: 'http://x/w', priorities }] } }),
        ['alarm.channels.webhooks[0].priorities: expected a list of priorities 0..6'],
        JSON.stringify(priorities)
      )
    }
  })

  it('takes callbackAllow as CIDRs, addresses and host names, naming a bad entry', () => {
    assert.deepEqual(defaultAlarmConfig.callbackAllow, [])
    const allow = ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'hooks.lan']
    assert.deepEqual(parseAlarmConfig({ callbackAllow: allow }).callbackAllow, allow)
    assert.deepEqual(problems({ callbackAllow: ['10.0.0.0/8', 'http://hooks.lan/'] }), [
      'alarm.callbackAllow[1]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got "http://hooks.lan/"',
    ])
    assert.deepEqual(problems({ callbackAllow: '10.0.0.0/8' }), [
      'alarm.callbackAllow: expected a list of CIDRs and host names, like ["10.0.0.0/8", "hooks.lan"]',
    ])
  })

  it('names every bad key at once', () => {
    assert.deepEqual(
      problems({
        redis: 'localhost:6379',
        highQueues: ['event:p0', ''],
        retry: { attempts: 0 },
        workers: 1.5,
        channels: { webhooks: [{ name: 'w', url: 'http://x/w', headers: { a: 1 } }] },
      }),
      [
        'alarm.redis: expected "" (events from the in-process queue) or a URL like "redis://127.0.0.1:6379", got "localhost:6379"',
        'alarm.highQueues: expected a list of queue names like ["event:p0"]',
        'alarm.channels.webhooks[0].headers: expected {"Header-Name": "value"}',
        'alarm.retry.attempts: expected a positive integer',
        'alarm.workers: expected a positive integer, got 1.5',
      ]
    )
  })

  it('refuses a retry that is not an object rather than ignoring it', () => {
    assert.deepEqual(problems({ retry: 5 }), [
      'alarm.retry: expected {attempts, baseDelayMs, maxDelayMs}',
    ])
  })
})
