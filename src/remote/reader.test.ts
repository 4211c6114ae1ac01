import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LocalMatch, pushdown } from './reader.js'

describe('remote reads', () => {
  it('sends the store only matchers whose answer does not depend on name aliases', () => {
    assert.equal(
      pushdown([
        { name: '__name__', op: '=', value: 'cpu.idle' },
        { name: 'endpoint', op: '=~', value: 'web-.*' },
      ]),
      '{__name__="cpu.idle",endpoint=~"web-.*"}'
    )
    // `cpu_idle` selects `cpu.idle` too: asked for broadened, decided here.
    assert.equal(
      pushdown([{ name: '__name__', op: '=', value: 'cpu_idle' }]),
      '{__name__=~"cpu.idle"}'
    )
    assert.equal(
      pushdown([{ name: '__name__', op: '=', value: '_1min_load' }]),
      '{__name__=~".?1min.load"}'
    )
    // A tag name with `_` may be a dotted tag; a regex on names may pass an alias only; a negation
    // alone narrows nothing: all three are left to LocalMatch.
    assert.equal(
      pushdown([
        { name: 'iface_name', op: '=', value: 'eth0' },
        { name: '__name__', op: '=~', value: 'cpu_.*' },
        { name: '__name__', op: '!=', value: 'cpu_idle' },
      ]),
      '{__name__=~".+"}'
    )
    assert.equal(pushdown([{ name: 'job', op: '!=', value: 'x' }]), '{job!="x",__name__=~".+"}')
    // Values are quoted as PromQL strings.
    assert.equal(
      pushdown([{ name: 'endpoint', op: '=', value: 'a"b\\c' }]),
      '{endpoint="a\\"b\\\\c"}'
    )
  })

  it('matches stored series with the tsdb rules: escaped names, dotted tags, hidden labels', () => {
    const series = {
      __name__: 'cpu.idle',
      endpoint: 'web-1',
      'iface.name': 'eth0',
      __type__: 'gauge',
      __step__: '60',
    }
    const passes = (...m: [string, '=' | '!=' | '=~' | '!~', string][]) =>
      new LocalMatch(m.map(([name, op, value]) => ({ name, op, value }))).passes(series)
    assert.equal(passes(['__name__', '=', 'cpu_idle']), true)
    assert.equal(passes(['__name__', '=', 'cpu.idle']), true)
    assert.equal(passes(['__name__', '!=', 'cpu_idle']), false)
    assert.equal(passes(['iface_name', '=', 'eth0']), true)
    assert.equal(passes(['iface.name', '=~', 'eth.*']), true)
    assert.equal(passes(['iface_name', '=', 'eth1']), false)
    assert.equal(passes(['__step__', '=', '60'], ['__type__', '=', 'gauge']), true)
    assert.equal(passes(['__type__', '=', 'counter']), false)
    // A label the series lacks matches as ''.
    assert.equal(passes(['job', '=', '']), true)
    assert.equal(passes(['job', '!=', '']), false)
  })
})
