import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  ExpositionError,
  ExpositionScanner,
  formatOf,
  parseExposition,
  scanExposition,
} from './exposition.js'

describe('parseExposition', () => {
  it('reads the text format: HELP, TYPE, labels with escapes, special values, timestamps', () => {
    const page = [
      '# HELP http_requests_total The total number of HTTP requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{method="post",code="200"} 1027 1395066363000',
      'http_requests_total{method="post",code="400"}    3 1395066363000',
      '',
      '# A normal comment.',
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      'metric_without_timestamp_and_labels 12.47',
      'something_weird{problem="division by zero"} +Inf -3982045',
      'nan_value NaN',
      'trailing_comma{a="1",} -Inf',
      '{"my.dotted", "a.b"="c"} 1',
      'x\t{ a = "1" }\t2',
    ].join('\n')
    const e = parseExposition(page, 'text')
    assert.equal(e.types.get('http_requests_total'), 'counter')
    assert.equal(e.help.get('http_requests_total'), 'The total number of HTTP requests.')
    assert.deepEqual(e.samples[0], {
      name: 'http_requests_total',
      labels: [
        ['method', 'post'],
        ['code', '200'],
      ],
      value: 1027,
      timestamp: 1395066363000,
    })
    assert.deepEqual(e.samples[2].labels, [
      ['path', 'C:\\DIR\\FILE.TXT'],
      ['error', 'Cannot find file:\n"FILE.TXT"'],
    ])
    assert.equal(e.samples[3].timestamp, null)
    assert.equal(e.samples[4].value, Infinity)
    assert.equal(e.samples[4].timestamp, -3982045)
    assert.ok(Number.isNaN(e.samples[5].value))
    assert.equal(e.samples[6].value, -Infinity)
    assert.deepEqual(e.samples[7], {
      name: 'my.dotted',
      labels: [['a.b', 'c']],
      value: 1,
      timestamp: null,
    })
    assert.deepEqual(e.samples[8], { name: 'x', labels: [['a', '1']], value: 2, timestamp: null })
  })

  it('reads OpenMetrics: seconds timestamps, exemplars dropped, _created dropped, # EOF required', () => {
    const page = [
      '# TYPE foo counter',
      '# HELP foo Foo things.',
      '# UNIT foo seconds',
      'foo_total{a="b"} 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67',
      'foo_created{a="b"} 1520430000.123',
      '# TYPE g gauge',
      'g 1',
      '# EOF',
      '',
    ].join('\n')
    const e = parseExposition(page, 'openmetrics')
    assert.deepEqual(e.samples, [
      { name: 'foo_total', labels: [['a', 'b']], value: 17, timestamp: 1520879607789 },
      { name: 'g', labels: [], value: 1, timestamp: null },
    ])
    assert.equal(e.exemplars, 1)
    assert.equal(e.created, 1)
    assert.equal(e.units.get('foo'), 'seconds')
    assert.throws(() => parseExposition('g 1\n', 'openmetrics'), /must end with # EOF/)
    assert.throws(() => parseExposition('# EOF\ng 1\n', 'openmetrics'), /after # EOF/)
  })

  it('refuses what Prometheus refuses, naming the line', () => {
    const bad: [string, RegExp][] = [
      ['m{a="1",a="2"} 1', /label a given twice/],
      ['m{a="1"', /expected ','/],
      ['m{a=1} 1', /expected '"'/],
      ['m 1x', /is not a value/],
      ['m', /expected a space before the value/],
      ['m 1 12.5', /not a timestamp/],
      ['m 1 2 3', /text after the sample/],
      ['1m 1', /expected a metric name/],
      ['# TYPE m counter\n# TYPE m gauge', /a second TYPE/],
      ['# TYPE m bogus', /unknown metric type/],
      ['m{a="\\', /ends in a backslash|runs to the end/],
      ['m 1e400', /is not a value/],
    ]
    for (const [page, why] of bad) {
      assert.throws(
        () => parseExposition(page, 'text'),
        (err: unknown) => {
          assert.ok(err instanceof ExpositionError, page)
          assert.match((err as Error).message, why, page)
          return true
        }
      )
    }
    assert.throws(() => parseExposition('ok 1\nbad{', 'text'), /^ExpositionError: line 2/)
  })

  it('picks the format from the Content-Type', () => {
    assert.equal(
      formatOf('application/openmetrics-text; version=1.0.0; charset=utf-8'),
      'openmetrics'
    )
    assert.equal(formatOf('text/plain; version=0.0.4'), 'text')
    assert.equal(formatOf(null), 'text')
  })
})

describe('scanExposition', () => {
  // A visitor that remembers every series text, as the scrape cache: the second pass of a page is
  // read by `known` only.
  function caching() {
    const seen = new Set<string>()
    const got: { series: string; value: number; timestamp: number | null; known: boolean }[] = []
    const visitor = {
      known: (series: string, value: number, timestamp: number | null) => {
        if (!seen.has(series)) return false
        got.push({ series, value, timestamp, known: true })
        return true
      },
      sample: (series: string, s: { value: number; timestamp: number | null } | null) => {
        seen.add(series)
        if (s !== null) got.push({ series, value: s.value, timestamp: s.timestamp, known: false })
      },
    }
    return { visitor, got }
  }

  it('offers a line by its series text, and parses in full only the texts not known', () => {
    const page = [
      '# TYPE a counter',
      'a{x="1",y="a \\" } b"} 1 1000',
      'a{x="2"}\t2',
      'b 3\r',
      'b 4',
      '{"dotted.name"} 5',
    ].join('\n')
    const { visitor, got } = caching()
    scanExposition(page, 'text', visitor)
    assert.deepEqual(
      got.map((g) => [g.series, g.value, g.timestamp, g.known]),
      [
        ['a{x="1",y="a \\" } b"}', 1, 1000, false],
        ['a{x="2"}', 2, null, false],
        ['b', 3, null, false],
        ['b', 4, null, true],
        ['{"dotted.name"}', 5, null, false],
      ]
    )
    got.length = 0
    const info = scanExposition(page.replaceAll(' 1 1000', ' 7 2000'), 'text', visitor)
    assert.deepEqual(
      got.map((g) => [g.value, g.timestamp, g.known]),
      [
        [7, 2000, true],
        [2, null, true],
        [3, null, true],
        [4, null, true],
        [5, null, true],
      ]
    )
    assert.equal(info.types.get('a'), 'counter')
  })

  it('refuses a bad value or timestamp on a known series as parseExposition does', () => {
    const { visitor } = caching()
    scanExposition('m{a="1"} 1\n', 'text', visitor)
    for (const [page, why] of [
      ['m{a="1"} x', /is not a value/],
      ['m{a="1"}', /before the value/],
      ['m{a="1"} 1 2 3', /text after the sample/],
      ['m{a="1"} 1 1.5', /is not a timestamp/],
      ['m{a="1"}1', /before the value|is not a value|expected/],
    ] as const) {
      assert.throws(() => scanExposition(page, 'text', visitor), why, page)
    }
  })

  it('reads OpenMetrics exemplars past, counted, on known series too', () => {
    const page = 'a_total 1 # {trace_id="x"} 1\nb 2 1.5 # {t="y"} 2\n# EOF\n'
    const { visitor, got } = caching()
    assert.equal(scanExposition(page, 'openmetrics', visitor).exemplars, 2)
    assert.equal(scanExposition(page, 'openmetrics', visitor).exemplars, 2)
    assert.deepEqual(
      got.map((g) => [g.series, g.timestamp, g.known]),
      [
        ['a_total', null, false],
        ['b', 1500, false],
        ['a_total', null, true],
        ['b', 1500, true],
      ]
    )
  })
})

describe('ExpositionScanner', () => {
  it('reads a page a few lines at a time exactly as at once, and still checks the end', () => {
    const page = '# TYPE a counter\na_total 1\n# HELP b x\nb{c="d"} 2 3\n\nb{c="e"} 4\n'
    const all = parseExposition(page, 'text')
    for (const step of [1, 2, 3]) {
      const got: unknown[] = []
      const s = new ExpositionScanner(page, 'text', {
        known: () => false,
        sample: (_t, x) => got.push(x),
      })
      let rounds = 1
      while (!s.scan(step)) rounds++
      assert.deepEqual(got, all.samples, `step ${step}`)
      assert.ok(rounds >= Math.ceil(6 / step), `step ${step}: ${rounds} rounds`)
      assert.equal(s.info.help.get('b'), 'x')
    }
    const om = new ExpositionScanner('a 1\nb 2\n', 'openmetrics', {
      known: () => false,
      sample: () => {},
    })
    assert.equal(om.scan(1), false)
    assert.throws(() => {
      while (!om.scan(1));
    }, /must end with # EOF/)
  })
})
