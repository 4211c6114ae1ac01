import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { matchPage } from './pages.js'

describe('the page a path shows', () => {
  it('matches fixed pages and numeric ids, ignoring a trailing slash', () => {
    assert.deepEqual(matchPage('/'), { page: '/' })
    assert.deepEqual(matchPage('/charts'), { page: '/charts' })
    assert.deepEqual(matchPage('/charts/'), { page: '/charts' })
    assert.deepEqual(matchPage('/config/hostgroups/12'), { page: '/config/hostgroups/:id', id: 12 })
    assert.deepEqual(matchPage('/screens/3'), { page: '/screens/:id', id: 3 })
    assert.deepEqual(matchPage('/config/strategy/new'), { page: '/config/strategy/new' })
  })

  it('is no page for anything else', () => {
    for (const p of [
      '/nope',
      '/config/x',
      '/config/hostgroups/abc',
      '/config/hostgroups/0',
      '/screens/1/2',
      '/chartsx',
      '/config/hostgroups/12345678901',
    ]) {
      assert.equal(matchPage(p), undefined, p)
    }
  })
})
