import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseExpr, parseSelector } from './parser.js'
import { exprString } from './printer.js'
import { typeOf } from './ast.js'

describe('parseExpr', () => {
  it('builds the tree Prometheus builds (printed back as its String())', () => {
    const f = (q: string, want: string): void => assert.equal(exprString(parseExpr(q)), want, q)
    f('foo', 'foo')
    f('foo{a="b",c=~"d.*"}', 'foo{a="b",c=~"d.*"}')
    f('{"cpu.idle"}', '{__name__="cpu.idle"}')
    f('{__name__="a", "b.c"="d"}', '{"b.c"="d",__name__="a"}')
    f('rate(x[5m] offset 1h)', 'rate(x[5m] offset 1h)')
    f('x @ 100 offset -5m', 'x @ 100.000 offset -5m')
    f('x offset 5m @ end()', 'x @ end() offset 5m')
    f('sum by (a, b) (x)', 'sum by (a, b) (x)')
    f('sum(x) without (a)', 'sum without (a) (x)')
    f('topk(3, x)', 'topk(3, x)')
    f('count_values("v", x)', 'count_values("v", x)')
    f('a + on(b) group_left(c) d', 'a + on (b) group_left (c) d')
    f('a == bool 1', 'a == bool 1')
    f('x[1h30m:1m]', 'x[1h30m:1m]')
    f('rate(x[5m])[1h:]', 'rate(x[5m])[1h:]')
    f('1h', '3600')
    f('0x1F + 010', '31 + 8')
    f('Inf - -Inf', '+Inf - -Inf')
    f("'a\\'b' ", '"a\'b"')
    f('`a\\b`', '"a\\\\b"')
    f('1./6.', '1 / 6')
  })

  it('binds postfix modifiers and unary minus as Prometheus does', () => {
    const f = (q: string, want: string): void => assert.equal(exprString(parseExpr(q)), want, q)
    f('a / b offset 5m', 'a / b offset 5m')
    f('a + b @ 100 * 0', 'a + b @ 100.000 * 0')
    f('-2 ^ 2', '-2 ^ 2')
    const t = parseExpr('-2 ^ 2')
    assert.equal(t.kind, 'UnaryExpr')
    const u = parseExpr('a - b * c ^ d ^ e')
    assert.equal(u.kind === 'BinaryExpr' && u.op, '-')
    const p = parseExpr('a + b @ 100 * 0')
    assert.ok(p.kind === 'BinaryExpr' && p.op === '+' && p.rhs.kind === 'BinaryExpr')
    assert.equal(typeOf(parseExpr('x[5m]')), 'matrix')
  })

  it("answers bad queries with Prometheus's text and position", () => {
    const f = (q: string, want: string): void =>
      assert.throws(
        () => parseExpr(q),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'PG_PROMQL_BAD_QUERY', q)
          assert.equal(err.message, want, q)
          return true
        }
      )
    f(
      'rate(foo)',
      '1:6: parse error: expected type range vector in call to function "rate", got instant vector'
    )
    f('foo(bar)', '1:1: parse error: unknown function with name "foo"')
    f('1 +', '1:4: parse error: unexpected end of input')
    f('{}', '1:1: parse error: vector selector must contain at least one non-empty matcher')
    f('{a=~".*"}', '1:1: parse error: vector selector must contain at least one non-empty matcher')
    f('foo{__name__="bar"}', '1:1: parse error: metric name must not be set twice: "foo" or "bar"')
    f('a + bool b', '1:3: parse error: bool modifier can only be used on comparison operators')
    f('1 and 2', '1:1: parse error: set operator "and" not allowed in binary scalar expression')
    f('a and on(x) group_left b', '1:1: parse error: no grouping allowed for "and" operation')
    f(
      'sum(a, b)',
      '1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2'
    )
    f(
      'round(a, 1, 2)',
      '1:1: parse error: expected at most 2 argument(s) in call to "round", got 3'
    )
    f('x offset 5m offset 1m', '1:1: parse error: offset may not be set multiple times')
    f(
      'x[5m] + 1',
      '1:1: parse error: binary expression must contain only scalar and instant vector types'
    )
    f('"unterminated', '1:1: parse error: unterminated quoted string')
    f('', '1:1: parse error: no expression found in input')
    f('x @ start', '1:10: parse error: unexpected end of input')
  })
})

describe('parseSelector', () => {
  it('reads a series selector into matchers', () => {
    assert.deepEqual(parseSelector('up{job="x"}'), [
      { name: 'job', op: '=', value: 'x' },
      { name: '__name__', op: '=', value: 'up' },
    ])
    assert.deepEqual(parseSelector('{"cpu.idle"}'), [
      { name: '__name__', op: '=', value: 'cpu.idle' },
    ])
  })

  it('refuses what is not a selector, or one matching everything', () => {
    assert.throws(() => parseSelector('rate(x[5m])'), { code: 'PG_PROMQL_BAD_QUERY' })
    assert.throws(() => parseSelector('{}'), { code: 'PG_PROMQL_BAD_QUERY' })
    assert.throws(() => parseSelector('x offset 5m'), { code: 'PG_PROMQL_BAD_QUERY' })
  })
})

describe('parse errors name whole characters', () => {
  it('quotes a character outside the BMP whole, not half a surrogate pair', () => {
    assert.throws(() => parseExpr('𝔘𝔫𝔦'), { message: '1:1: parse error: unexpected "𝔘"' })
  })
})
