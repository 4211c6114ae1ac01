import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { defaultApiConfig, parseApiConfig } from './config.js'

/** problems returns parseApiConfig's complaints about `raw`, one per item. */
function problems(raw: Record<string, unknown>): string[] {
  try {
    parseApiConfig(raw)
  } catch (err) {
    return (err as Error).message.split('; ')
  }
  return []
}

describe('parseApiConfig', () => {
  it('keeps sign-up off and answers no CORS by default', () => {
    const c = parseApiConfig({})
    assert.equal(c.signupDisable, true)
    assert.deepEqual(c.corsOrigins, [])
    assert.equal(defaultApiConfig.signupDisable, true)
    assert.equal(parseApiConfig({ signupDisable: false }).signupDisable, false)
  })

  it('takes origins or "*" in corsOrigins, naming anything else by its index', () => {
    const origins = ['https://dash.example.com', 'http://10.0.0.5:8081', '*']
    assert.deepEqual(parseApiConfig({ corsOrigins: origins }).corsOrigins, origins)
    assert.deepEqual(
      problems({ corsOrigins: ['https://dash.example.com/', 'dash.example.com', 'ftp://x', 3] }),
      [
        'api.corsOrigins[0]: expected an origin like "https://dash.example.com" (scheme, host and port, no path) or "*", got "https://dash.example.com/"',
        'api.corsOrigins[1]: expected an origin like "https://dash.example.com" (scheme, host and port, no path) or "*", got "dash.example.com"',
        'api.corsOrigins[2]: expected an origin like "https://dash.example.com" (scheme, host and port, no path) or "*", got "ftp://x"',
        'api.corsOrigins[3]: expected an origin like "https://dash.example.com" (scheme, host and port, no path) or "*", got 3',
      ]
    )
    assert.deepEqual(problems({ corsOrigins: '*' }), [
      'api.corsOrigins: expected a list of origins like ["https://dash.example.com"]',
    ])
  })

  it('limits failed logins per address (5) and guards a name past 100 from everywhere', () => {
    const c = parseApiConfig({})
    assert.deepEqual([c.loginAttempts, c.loginNameAttempts, c.loginWindow], [5, 100, 60])
    assert.deepEqual(problems({ loginNameAttempts: 0 }), [
      'api.loginNameAttempts: expected a positive integer',
    ])
  })

  it("takes the query API's budgets as Prometheus names them, durations as text or ms", () => {
    const d = parseApiConfig({}).query
    assert.deepEqual(
      [d.timeout, d.maxSamples, d.lookbackDelta, d.maxPointsPerSeries, d.maxConcurrency],
      [120_000, 50_000_000, 300_000, 11_000, 20]
    )
    const c = parseApiConfig({
      query: { timeout: '30s', lookbackDelta: 60_000, maxConcurrency: 4 },
    })
    assert.deepEqual(
      [c.query.timeout, c.query.lookbackDelta, c.query.maxConcurrency],
      [30_000, 60_000, 4]
    )
    assert.equal(c.query.maxSamples, 50_000_000)
    assert.deepEqual(problems({ query: { timeout: 'soon', maxSamples: 0, maxConcurency: 4 } }), [
      'api.query.maxConcurency: not a query setting (expected timeout, maxSamples, lookbackDelta, maxPointsPerSeries, maxConcurrency, maxWaiting, maxSeries)',
      'api.query.timeout: expected a duration like "2m" or "30s", or ms from 1 to 2147483647, got "soon"',
      'api.query.maxSamples: expected a positive integer, got 0',
    ])
    // Prometheus's own flag names, as `--query.max-samples` spells them.
    const prom = parseApiConfig({
      query: { 'max-samples': 1000, 'lookback-delta': '1m', 'max-concurrency': 2 },
    }).query
    assert.deepEqual([prom.maxSamples, prom.lookbackDelta, prom.maxConcurrency], [1000, 60_000, 2])
    assert.deepEqual(problems({ query: { maxSamples: 5, 'max-samples': 6 } }), [
      'api.query.max-samples: maxSamples is given twice, in two spellings',
    ])
    assert.deepEqual(problems({ query: 5 }), [
      'api.query: expected an object like {"timeout": "2m", "maxSamples": 50000000}',
    ])
  })
})
