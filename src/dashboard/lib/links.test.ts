import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bareMetricName, safeNext, thresholdOf } from './links.js'

describe('after login', () => {
  it('returns to a page of this app', () => {
    assert.equal(safeNext('/charts?e=web-01&range=1h'), '/charts?e=web-01&range=1h')
    assert.equal(safeNext('/config/hostgroups/3'), '/config/hostgroups/3')
  })

  it('never leaves the origin or loops to login', () => {
    for (const bad of [
      null,
      '',
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/login?next=/x',
      '/\t/evil.example',
      '/a\\b',
    ]) {
      assert.equal(safeNext(bad), '/', String(bad))
    }
  })
})

describe("a case's threshold", () => {
  it('is the right side of the condition judge printed', () => {
    assert.equal(thresholdOf('97 > 90'), 90)
    assert.equal(thresholdOf('3 <= -1.5'), -1.5)
    assert.equal(thresholdOf('0.5 != 1e3'), 1000)
    assert.equal(thresholdOf('12 == 12'), 12)
    assert.equal(thresholdOf(''), undefined)
    assert.equal(thresholdOf('97 > x'), undefined)
  })
})

describe('metric names for the PromQL editor', () => {
  it('escapes names PromQL cannot write bare, as the engine reads them back', () => {
    assert.equal(bareMetricName('up'), 'up')
    assert.equal(bareMetricName('node_cpu_seconds_total'), 'node_cpu_seconds_total')
    assert.equal(bareMetricName('cpu.idle'), 'cpu_idle')
    assert.equal(bareMetricName('net.if.in.bytes'), 'net_if_in_bytes')
    assert.equal(bareMetricName('1min.load'), '_1min_load')
    assert.equal(bareMetricName('TcpExt.TCPDSACKUndo'), 'TcpExt_TCPDSACKUndo')
  })
})
