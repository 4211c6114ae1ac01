import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HttpError } from './http-errors.js'
import { testEngines } from '../store/index.js'
import { filterByName, type Pageable, searchOf, searchPage, searchRegExp } from './portal.js'
import { openTestPortal } from './testing.js'

const isQ400 = (e: unknown) => e instanceof HttpError && e.status === 400 && /^q: /.test(e.message)

describe('q search patterns', () => {
  const bad = (q: unknown) => assert.throws(() => searchRegExp(q), isQ400, String(q))
  const good = (q: string, name: string) => assert.ok(searchRegExp(q, 'i')?.test(name), q)

  it('compiles plain and anchored patterns; no filter for the defaults', () => {
    assert.equal(searchRegExp(undefined), null)
    assert.equal(searchRegExp(''), null)
    assert.equal(searchRegExp('.+'), null)
    assert.equal(searchRegExp('.*'), null)
    assert.ok(searchRegExp('^web-(a|b)[0-9]+$')?.test('web-a12'))
    assert.ok(searchRegExp('WEB', 'i')?.test('web1'))
    assert.equal(searchRegExp('WEB')?.test('web1'), false)
    assert.ok(searchRegExp('(ab)*c')?.test('ababc'))
  })

  it('accepts the patterns people search names with', () => {
    good('^web-.*-[0-9]+$', 'web-bj-12')
    good('.*x.*y', 'axby')
    good('web|db|cache', 'cache-1')
    good('(web|db)-[0-9]+', 'db-7')
    good('^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$', '10.0.0.1')
    good('(a|b){3}', 'bab')
    good('a{2,5}b{3,}', 'aabbb')
    good('(?<n>a+)-\\k<n>', 'aa-aa')
  })

  it('refuses bad syntax, arrays and long patterns', () => {
    bad('(')
    bad('[')
    bad('[a-')
    bad('a**')
    bad(['a', 'b'])
    bad('a'.repeat(257))
    assert.throws(() => searchRegExp('['), /^HttpError: q: Invalid regular expression/)
  })

  it('refuses patterns that may backtrack exponentially or for long', () => {
    bad('(a+)+$')
    bad('(a|aa)*')
    bad('((ab)*)+')
    bad('(?:x*){2,}')
    bad('(x+x+)+y')
    bad('(a|b){1000}')
    bad('a*a*a*c')
    bad('.*a.*b.*c')
    bad(`${'a?'.repeat(19)}${'a'.repeat(19)}`)
    bad(`${'(a|a)'.repeat(25)}b`)
  })

  it('keeps accepted patterns quick on the names that make a backtracker work hardest', () => {
    const worst = ['a*a*c', `${'a?'.repeat(18)}${'a'.repeat(18)}$`, 'a{1,255}a{1,255}c']
    for (const q of worst) {
      const re = searchRegExp(q, 'i')!
      const start = performance.now()
      re.test('a'.repeat(255))
      assert.ok(performance.now() - start < 500, q)
    }
  })
})

describe('filterByName', () => {
  const rows = [{ name: 'web-1' }, { name: 'DB-2' }, { name: 'web-x' }]

  it('keeps the matching rows in order; null keeps all', () => {
    assert.deepEqual(filterByName(rows, /^web-/, 'name'), [{ name: 'web-1' }, { name: 'web-x' }])
    assert.deepEqual(filterByName(rows, /db/i, 'name'), [{ name: 'DB-2' }])
    assert.deepEqual(filterByName(rows, null, 'name'), rows)
  })

  it('answers 400 naming q once matching runs past its budget', () => {
    assert.throws(() => filterByName(rows, /web/, 'name', 0), isQ400)
    assert.deepEqual(filterByName([], /web/, 'name', 0), [])
  })
})

describe('searchOf and searchPage', () => {
  // fake is a store query over `rows` that records the page the store was asked for.
  const fake = (rows: { name: string }[]) => {
    const asked: { limit?: number; offset?: number } = {}
    const query: Pageable<{ name: string }> = {
      limit(n) {
        asked.limit = n
        return query
      },
      offset(n) {
        asked.offset = n
        return query
      },
      execute: () =>
        Promise.resolve(
          asked.limit === undefined
            ? rows
            : rows.slice(asked.offset ?? 0, (asked.offset ?? 0) + asked.limit)
        ),
    }
    return { query, asked }
  }
  const rows = ['web-1', 'db-2', 'WEB-3', 'web-x', 'web-5'].map((name) => ({ name }))
  const names = (r: { name: string }[]) => r.map((x) => x.name)

  it('reads q case-insensitively with page and limit', () => {
    const s = searchOf({ q: '^WEB-[0-9]$', page: '2', limit: '10' })
    assert.ok(s.re?.test('web-1'))
    assert.deepEqual(s.page, { limit: 10, offset: 10 })
    assert.deepEqual(searchOf(undefined, 7), { re: null, page: { limit: 7, offset: 0 } })
    assert.throws(() => searchOf({ q: '(' }), isQ400)
  })

  it('pages in the store without a pattern', async () => {
    const { query, asked } = fake(rows)
    const got = await searchPage(query, 'name', searchOf({ page: '2', limit: '2' }))
    assert.deepEqual(names(got), ['WEB-3', 'web-x'])
    assert.deepEqual(asked, { limit: 2, offset: 2 })
  })

  it('pages the matches, not the rows, with a pattern', async () => {
    const { query, asked } = fake(rows)
    const s = searchOf({ q: '^web-[0-9]+$', page: '2', limit: '2' })
    assert.deepEqual(names(await searchPage(query, 'name', s)), ['web-5'])
    assert.deepEqual(asked, {})
    const first = searchOf({ q: '^web-[0-9]+$', limit: '2' })
    assert.deepEqual(names(await searchPage(fake(rows).query, 'name', first)), ['web-1', 'WEB-3'])
    const past = searchOf({ q: 'web', page: '3', limit: '2' })
    assert.deepEqual(await searchPage(fake(rows).query, 'name', past), [])
  })
})

for (const engine of await testEngines()) {
  describe(`page numbers (${engine.engine})`, () => {
    it('answers 400 for a page whose offset is past 2^53, and [] for the last one taken', async () => {
      const p = await openTestPortal(engine)
      try {
        for (const page of [
          '1e300',
          '9007199254740991',
          String(Math.floor(Number.MAX_SAFE_INTEGER / 500) + 2),
        ]) {
          const r = await p.call('GET', '/api/v1/user/users', { token: p.root, query: { page } })
          assert.equal(r.status, 400, page)
          assert.match(r.body.error, /^page: expected /)
        }
        const last = String(Math.floor(Number.MAX_SAFE_INTEGER / 10_000))
        const r = await p.call('GET', '/api/v1/user/users', {
          token: p.root,
          query: { page: last, limit: '10000' },
        })
        assert.deepEqual(r, { status: 200, body: [] })
      } finally {
        await p.close()
      }
    })
  })
}
