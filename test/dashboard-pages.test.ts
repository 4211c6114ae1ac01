// The api answers index.html at the pages the app draws, and only there: the two lists agree. (The
// api does not import the app; this test reads both.)
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DASHBOARD_PAGES } from '../src/api/web-ui.js'
import { PAGES } from '../src/dashboard/lib/pages.js'

describe("the dashboard's pages", () => {
  it('are the routes api serves index.html at', () => {
    assert.deepEqual([...DASHBOARD_PAGES].sort(), PAGES.filter((p) => p !== '/').sort())
  })
})
