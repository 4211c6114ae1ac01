import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  callbackMessage,
  callbackUrl,
  checkTemplate,
  eventLink,
  formattedTime,
  imContent,
  mailContent,
  mailSubject,
  mergedMailSubject,
  mergedShortText,
  readableFloat,
  renderTemplate,
  smsContent,
  sortedTags,
  TEMPLATE_PLACEHOLDERS,
} from './templates.js'
import { event, expression, strategy, T } from './testing.js'

// Falcon formats in local time; pin the zone (UTC+8, no DST) so the expected strings hold anywhere.
process.env.TZ = 'Asia/Shanghai'

const byExpression = event({
  id: 'e_9_fedcba9876543210fedcba9876543210',
  strategy: null,
  expression,
  status: 'OK',
  leftValue: 1,
  currentStep: 2,
  pushedTags: { port: '8080' },
})

describe('readableFloat (utils.ReadableFloat: %.5f, zeros and dot trimmed)', () => {
  const f = (v: number, want: string) => assert.equal(readableFloat(v), want, String(v))
  it('formats as Go does', () => {
    f(4.2, '4.2')
    f(100, '100')
    f(0, '0')
    f(0.000001, '0')
    f(-3.14159265, '-3.14159')
    f(123.456789, '123.45679')
    f(0.1, '0.1')
    f(1e6, '1000000')
    f(1.5, '1.5')
    f(99.999999, '100')
    f(1e21, '1000000000000000000000')
    f(2 ** 70, '1180591620717411303424')
    f(5e-324, '0')
  })
  it('rounds exact ties to even as Go (JS toFixed would round them up)', () => {
    f(0.015625, '0.01562') // 1/64 = 1562.5e-5 exactly
    f(0.046875, '0.04688') // 3/64 = 4687.5e-5 exactly
    f(-0.015625, '-0.01562')
  })
  it('keeps the sign of a negative that rounds to zero, and spells the specials as Go', () => {
    f(-0.000001, '-0')
    f(-0, '-0')
    f(NaN, 'NaN')
    f(Infinity, '+Inf')
    f(-Infinity, '-Inf')
  })
})

describe('sortedTags (utils.SortedTags)', () => {
  const f = (tags: Record<string, string> | null, want: string) =>
    assert.equal(sortedTags(tags), want)
  it('joins k=v sorted by key in byte order', () => {
    f(null, '')
    f({}, '')
    f({ mount: '/' }, 'mount=/')
    f({ mount: '/', fstype: 'ext4' }, 'fstype=ext4,mount=/')
    f({ b: '2', a: '1', B: '3' }, 'B=3,a=1,b=2')
    // U+FF5E sorts before U+1F600 in UTF-8 (Go), after it in UTF-16 (JS's default sort)
    f({ '\u{1F600}': 'x', '\uFF5E': 'y' }, '\uFF5E=y,\u{1F600}=x')
  })
})

describe('formattedTime (Event.FormattedTime)', () => {
  it('is local YYYY-MM-DD HH:MM:SS', () => {
    assert.equal(formattedTime(T), '2023-11-15 06:13:20')
    assert.equal(formattedTime(0), '1970-01-01 08:00:00')
    assert.equal(formattedTime(1_704_038_399), '2023-12-31 23:59:59')
  })
})

describe('falcon message texts (builder.go)', () => {
  it('sms and im', () => {
    const want =
      '[P1][PROBLEM][host-01][][disk almost full all(#3) df.bytes.free.percent ' +
      'fstype=ext4,mount=/ 4.2<10][O1 2023-11-15 06:13:20]'
    assert.equal(smsContent(event()), want)
    assert.equal(imContent(event()), want)
    assert.equal(mailSubject(event()), want)
  })
  it('sms of an event without tags keeps falcon double space', () => {
    assert.equal(
      smsContent(event({ pushedTags: {}, leftValue: 0.000001, currentStep: 3 })),
      '[P1][PROBLEM][host-01][][disk almost full all(#3) df.bytes.free.percent  0<10]' +
        '[O3 2023-11-15 06:13:20]'
    )
  })
  it('sms of an expression event', () => {
    assert.equal(
      smsContent(byExpression),
      '[P0][OK][host-01][][port down max(#2) net.port.listen port=8080 1==0][O2 2023-11-15 06:13:20]'
    )
  })
  it('mail', () => {
    assert.equal(
      mailContent(event(), 'http://dash:8081/portal/template/view/12'),
      'PROBLEM\r\nP1\r\nEndpoint:host-01\r\nMetric:df.bytes.free.percent\r\n' +
        'Tags:fstype=ext4,mount=/\r\nall(#3): 4.2<10\r\nNote:disk almost full\r\n' +
        'Max:3, Current:1\r\nTimestamp:2023-11-15 06:13:20\r\n' +
        'http://dash:8081/portal/template/view/12\r\n'
    )
    assert.equal(
      mailContent(byExpression, ''),
      'OK\r\nP0\r\nEndpoint:host-01\r\nMetric:net.port.listen\r\nTags:port=8080\r\n' +
        'max(#2): 1==0\r\nNote:port down\r\nMax:5, Current:2\r\nTimestamp:2023-11-15 06:13:20\r\n\r\n'
    )
  })
})

describe('eventLink (g.Link)', () => {
  it('points at the template, else the expression', () => {
    assert.equal(eventLink(event(), 'http://dash:8081'), 'http://dash:8081/portal/template/view/12')
    assert.equal(
      eventLink(event(), 'http://dash:8081/'),
      'http://dash:8081/portal/template/view/12'
    )
    assert.equal(
      eventLink(byExpression, 'http://dash:8081'),
      'http://dash:8081/portal/expression/view/9'
    )
    const noTpl = event({ strategy: { ...strategy, tpl: { ...strategy.tpl, id: 0 } } })
    assert.equal(eventLink(noTpl, 'http://dash:8081'), '')
  })
})

describe('callbackUrl (callback.go)', () => {
  it('appends falcon parameters, Go-escaped', () => {
    assert.equal(
      callbackUrl('http://hooks.local/cb', event()),
      'http://hooks.local/cb?endpoint=host-01&metric=df.bytes.free.percent&status=PROBLEM' +
        '&step=1&priority=1&time=2023-11-15+06%3A13%3A20&tpl_id=12&exp_id=0&stra_id=7' +
        '&left_value=4.2&tags=fstype%3Aext4%2Cmount%3A%2F'
    )
  })
  it('keeps the action URL query and escapes as url.QueryEscape', () => {
    const e = event({
      endpoint: "a b!*'()~",
      strategy: null,
      expression,
      pushedTags: {},
      leftValue: -3.14159265,
    })
    assert.equal(
      callbackUrl('http://hooks.local/cb?token=abc', e),
      'http://hooks.local/cb?token=abc&endpoint=a+b%21%2A%27%28%29~&metric=net.port.listen' +
        '&status=PROBLEM&step=1&priority=0&time=2023-11-15+06%3A13%3A20&tpl_id=0&exp_id=9' +
        '&stra_id=0&left_value=-3.14159&tags='
    )
  })
  it('after-callback message', () => {
    assert.equal(
      callbackMessage('http://h/cb', { ok: true, body: 'done' }),
      'curl http://h/cb success. resp: done'
    )
    assert.equal(
      callbackMessage('http://h/cb', { ok: false, body: '', error: 'HTTP 500' }),
      'curl http://h/cb fail:HTTP 500. resp: '
    )
  })
})

describe('merge texts (combiner.go)', () => {
  const first = smsContent(event())
  it('mail subject', () => {
    assert.equal(mergedMailSubject(1, 'PROBLEM', 3, 'cpu.idle'), '[P1][PROBLEM] 3 cpu.idle')
  })
  it('sms/im with a short link', () => {
    assert.equal(
      mergedShortText(1, 'PROBLEM', 3, 'df.bytes.free.percent', first, {
        dashboardUrl: 'http://dash:8081',
        path: 'a1b2c3d4',
      }),
      '[P1][PROBLEM] 3 df.bytes.free.percent e.g. host-01 http://dash:8081/portal/links/a1b2c3d4 '
    )
  })
  it('sms/im when storing the link failed', () => {
    assert.equal(
      mergedShortText(1, 'PROBLEM', 3, 'df.bytes.free.percent', first),
      '[P1][PROBLEM] 3 df.bytes.free.percent.  e.g. host-01. detail in email'
    )
    assert.equal(
      mergedShortText(2, 'OK', 2, 'm', 'no brackets'),
      '[P2][OK] 2 m.  e.g. . detail in email'
    )
  })
})

describe('renderTemplate / checkTemplate', () => {
  it('fills every placeholder', () => {
    const all = TEMPLATE_PLACEHOLDERS.map((n) => `${n}={{${n}}}`).join('|')
    assert.equal(
      renderTemplate(all, event(), 'http://l'),
      'status=PROBLEM|priority=1|endpoint=host-01|metric=df.bytes.free.percent|' +
        'tags=fstype=ext4,mount=/|func=all(#3)|leftValue=4.2|operator=<|rightValue=10|' +
        'note=disk almost full|maxStep=3|currentStep=1|time=2023-11-15 06:13:20|link=http://l|' +
        'id=s_7_0123456789abcdef0123456789abcdef'
    )
  })
  it('allows spaces in the braces and leaves other text alone', () => {
    assert.equal(
      renderTemplate('[{{ status }}] {endpoint} {{endpoint}}: {{ leftValue}}', event()),
      '[PROBLEM] {endpoint} host-01: 4.2'
    )
  })
  it('refuses unknown placeholders and unclosed braces, naming them', () => {
    assert.throws(() => checkTemplate('x {{hostname}} y'), /unknown placeholder \{\{hostname\}\}/)
    assert.throws(() => renderTemplate('{{ Status }}', event()), /\{\{Status\}\}/)
    assert.throws(() => checkTemplate('x {{status'), /without a matching/)
    assert.doesNotThrow(() => checkTemplate('plain text } {'))
  })
})
