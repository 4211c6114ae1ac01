import assert from 'node:assert/strict'
import { createServer, get, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import {
  AddressPolicy,
  internalRangeOf,
  parseCidr,
  parseIp,
  cidrContains,
} from './address-policy.js'

describe('parseIp', () => {
  it('reads IPv4 as its mapped IPv6 form, and IPv6 in every spelling', () => {
    const f = (text: string, want: bigint | undefined) => assert.equal(parseIp(text), want, text)
    f('127.0.0.1', 0xffff7f000001n)
    f('::ffff:127.0.0.1', 0xffff7f000001n)
    f('[::ffff:7f00:1]', 0xffff7f000001n)
    f('::1', 1n)
    f('::', 0n)
    f('fe80::1%eth0', (0xfe80n << 112n) | 1n)
    f('2001:db8::8:800:200c:417a', 0x20010db80000000000080800200c417an)
    f('1::', 1n << 112n)
    f('localhost', undefined)
    f('1.2.3', undefined)
    f('256.1.1.1', undefined)
  })
})

describe('parseCidr', () => {
  it('reads ranges and bare addresses, clearing host bits', () => {
    const c = parseCidr('10.1.2.3/8')
    assert.ok(c)
    assert.equal(cidrContains(c, parseIp('10.200.0.1') ?? 0n), true)
    assert.equal(cidrContains(c, parseIp('11.0.0.1') ?? 0n), false)
    assert.equal(parseCidr('127.0.0.1')?.text, '127.0.0.1/32')
    assert.equal(parseCidr('fd00::/8')?.bits, 8)
    const all = parseCidr('0.0.0.0/0')
    assert.ok(all)
    assert.equal(cidrContains(all, parseIp('8.8.8.8') ?? 0n), true)
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', 'host/8', '10.0.0.0/8/8'])
      assert.equal(parseCidr(bad), undefined, bad)
  })
})

describe('internalRangeOf', () => {
  it('names the range of every internal address, through IPv6 forms of IPv4', () => {
    const f = (address: string, want: string | undefined) =>
      assert.equal(internalRangeOf(address)?.cidr, want, address)
    f('127.0.0.1', '127.0.0.0/8')
    f('127.255.0.9', '127.0.0.0/8')
    f('10.0.0.1', '10.0.0.0/8')
    f('172.16.0.1', '172.16.0.0/12')
    f('172.31.255.255', '172.16.0.0/12')
    f('192.168.1.1', '192.168.0.0/16')
    f('100.64.0.1', '100.64.0.0/10')
    f('169.254.169.254', '169.254.0.0/16')
    f('0.0.0.0', '0.0.0.0/8')
    f('224.0.0.251', '224.0.0.0/4')
    f('255.255.255.255', '255.255.255.255/32')
    f('::', '::/128')
    f('::1', '::1/128')
    f('fe80::1', 'fe80::/10')
    f('fd12:3456::1', 'fc00::/7')
    f('ff02::1', 'ff00::/8')
    f('::ffff:127.0.0.1', '127.0.0.0/8')
    f('[::ffff:7f00:1]', '127.0.0.0/8')
    f('::127.0.0.1', '127.0.0.0/8')
    f('64:ff9b::a9fe:a9fe', '169.254.0.0/16')
    f('2002:c0a8:0101::1', '192.168.0.0/16')
    // Public addresses, and neighbours of the ranges.
    f('8.8.8.8', undefined)
    f('172.32.0.1', undefined)
    f('100.128.0.1', undefined)
    f('2001:4860:4860::8888', undefined)
    f('::ffff:8.8.8.8', undefined)
    f('example.com', undefined)
  })
})

describe('AddressPolicy', () => {
  it('refuses internal addresses, naming the address, the range and the setting', () => {
    const p = new AddressPolicy([], 'alarm.callbackAllow')
    assert.equal(p.refusal('8.8.8.8', '8.8.8.8'), undefined)
    assert.equal(
      p.refusal('127.0.0.1', '127.0.0.1'),
      '127.0.0.1 is a loopback address (127.0.0.0/8); to allow it, add "127.0.0.0/8" to alarm.callbackAllow'
    )
    assert.equal(
      p.refusal('metadata.internal', '169.254.169.254'),
      'metadata.internal resolves to 169.254.169.254, which is a link-local (cloud metadata) address (169.254.0.0/16); to allow it, add "169.254.0.0/16" or "metadata.internal" to alarm.callbackAllow'
    )
    assert.match(
      p.refusal('[::ffff:7f00:1]', '[::ffff:7f00:1]') ?? '',
      /^::ffff:7f00:1 is a loopback/
    )
  })

  it('allows the listed ranges, addresses and host names', () => {
    const p = new AddressPolicy(['10.0.0.0/8', '127.0.0.1', 'Hooks.LAN.'], 'k')
    assert.equal(p.refusal('10.1.1.1', '10.1.1.1'), undefined)
    assert.equal(p.refusal('127.0.0.1', '127.0.0.1'), undefined)
    // The mapped form of an allowed address is allowed too.
    assert.equal(p.refusal('[::ffff:7f00:1]', '::ffff:7f00:1'), undefined)
    assert.match(p.refusal('127.0.0.2', '127.0.0.2') ?? '', /loopback/)
    assert.equal(p.refusal('hooks.lan', '192.168.0.5'), undefined)
    assert.match(
      p.refusal('other.lan', '192.168.0.5') ?? '',
      /other\.lan resolves to 192\.168\.0\.5/
    )
  })

  it('checks an address literal before any connection', () => {
    const p = new AddressPolicy([], 'k')
    assert.throws(
      () => p.checkLiteral('[::ffff:7f00:1]'),
      (err: Error & { code?: string }) =>
        err.code === 'PG_CORE_ADDR_REFUSED' && /loopback/.test(err.message)
    )
    p.checkLiteral('8.8.8.8')
    p.checkLiteral('example.com')
  })

  it('names every bad entry of the allow list by its index', () => {
    assert.deepEqual(
      AddressPolicy.problems('a.b', ['10.0.0.0/8', 'fd00::/8', 'hooks.lan', '::1']),
      []
    )
    assert.deepEqual(AddressPolicy.problems('a.b', ['10.0.0.0/40', 'http://x', 7, '']), [
      'a.b[0]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got "10.0.0.0/40"',
      'a.b[1]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got "http://x"',
      'a.b[2]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got 7',
      'a.b[3]: expected a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name, got ""',
    ])
    assert.match(AddressPolicy.problems('a.b', '10.0.0.0/8')[0], /^a\.b: expected a list/)
  })

  describe('lookup, as node:http uses it', () => {
    let server: Server
    let port = 0
    before(async () => {
      server = createServer((_req, res) => res.end('inside'))
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      port = (server.address() as AddressInfo).port
    })
    after(() => new Promise<void>((r) => server.close(() => r())))

    const fetchVia = (policy: AddressPolicy, host: string) =>
      new Promise<string>((resolve, reject) => {
        const req = get({ host, port, path: '/', lookup: policy.lookup, agent: false }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (body += c))
          res.on('end', () => resolve(body))
        })
        req.on('error', reject)
      })

    it('fails the connection when the name resolves to a refused address', async () => {
      await assert.rejects(
        fetchVia(new AddressPolicy([], 'alarm.callbackAllow'), 'localhost'),
        (err: Error & { code?: string }) =>
          err.code === 'PG_CORE_ADDR_REFUSED' &&
          /^localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/.test(err.message)
      )
    })

    it('connects when the range is allowed', async () => {
      const policy = new AddressPolicy(['127.0.0.0/8', '::1'], 'alarm.callbackAllow')
      assert.equal(await fetchVia(policy, 'localhost'), 'inside')
    })
  })
})
