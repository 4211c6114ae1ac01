// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// all-in-one: log in, find and chart a host's counter, zoom, configure an alert through the forms,
// see the problem arrive on the Alarms page without a reload and open its chart, switch to Chinese,
// run PromQL on Explore. Screenshots of each page go to test-screenshots/ (ignored by git).
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { waitUntil } from '../src/core/index.js'
import { launchChromium } from './support/browser.js'
import {
  startPeregrine,
  TEST_ROOT_PASSWORD,
  type PeregrineProcess,
} from './support/peregrine-process.js'

const SHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-screenshots')

/**
 * Pixels of a chart's canvas that are not its background (transparent or white), or of `color`
 * only: 0 for an empty chart. Retried for a few seconds: a chart that is being built has no canvas
 * for a moment.
 */
async function drawnPixels(
  page: Page,
  selector: string,
  color?: [number, number, number]
): Promise<number> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await page.waitForSelector(selector, { timeout: 5_000 })
      return await page.$eval(
        selector,
        (canvas, rgb) => {
          const c = canvas as HTMLCanvasElement
          const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
          let n = 0
          for (let i = 0; i < data.length; i += 4) {
            const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]]
            if (a === 0 || (r > 245 && g > 245 && b > 245)) continue
            if (
              rgb !== null &&
              (Math.abs(r - rgb[0]) > 30 || Math.abs(g - rgb[1]) > 30 || Math.abs(b - rgb[2]) > 30)
            )
              continue
            n++
          }
          return n
        },
        color ?? null
      )
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

describe('dashboard in chromium', () => {
  let dir = ''
  let aio: PeregrineProcess
  let browser: Browser
  let page: Page
  let base = ''
  const now = Math.floor(Date.now() / 1000)

  const push = async (items: unknown[]) => {
    const res = await fetch(`http://${aio.addresses.transfer.http}/api/push`, {
      method: 'POST',
      body: JSON.stringify(items),
    })
    assert.equal(res.status, 200, await res.text())
  }
  const shot = (name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  before(async () => {
    mkdirSync(SHOTS, { recursive: true })
    dir = mkdtempSync(join(tmpdir(), 'pg-dashboard-'))
    aio = await startPeregrine(dir, [], { judge: { minInterval: 0 } })
    base = `http://${aio.addresses.api.http}`
    // An hour of cpu.idle for web-01 with a 10-minute gap, and a second host.
    const points = []
    for (let i = 60; i >= 1; i--) {
      if (i >= 20 && i < 30) continue
      const ts = now - i * 60
      points.push({
        endpoint: 'web-01',
        metric: 'cpu.idle',
        timestamp: ts,
        value: 50 + 40 * Math.sin(i / 6),
        step: 60,
        counterType: 'GAUGE',
        tags: '',
      })
      points.push({
        endpoint: 'web-02',
        metric: 'cpu.idle',
        timestamp: ts,
        value: 70,
        step: 60,
        counterType: 'GAUGE',
        tags: '',
      })
    }
    await push(points)
    browser = await launchChromium()
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' })
  })

  after(async () => {
    await browser?.close()
    await aio?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('sends a visitor to login and back to the page asked for', async () => {
    await page.goto(`${base}/charts?range=1h`)
    await page.waitForURL(/\/login\?next=/)
    await shot('login')
    await page.getByLabel('User name').fill('root')
    await page.getByLabel('Password').fill('wrong-password')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByText('wrong name or password').waitFor()
    await page.getByLabel('Password').fill(TEST_ROOT_PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(/\/charts\?range=1h$/)
  })

  it('finds an endpoint, its counter, and draws its chart with the gap left empty', async () => {
    await page.getByLabel('Search endpoints').fill('web')
    await page.getByRole('button', { name: 'Search' }).first().click()
    await page.getByTestId('endpoint-list').getByLabel('web-01').check()
    await page
      .getByTestId('counter-list')
      .getByLabel(/cpu\.idle/)
      .check()
    const chart = page.getByTestId('chart').first()
    await chart.waitFor()
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'chart points',
      10_000
    )
    // 50 minutes stored of the hour: the gap stays a gap (no zeros drawn in its place).
    assert.equal(await chart.getAttribute('data-series'), '1')
    const points = Number(await chart.getAttribute('data-points'))
    assert.ok(points >= 48 && points <= 51, `points drawn: ${points}`)
    assert.ok(
      (await drawnPixels(page, '[data-testid=chart] canvas', [31, 119, 180])) > 200,
      'the canvas has a drawn line'
    )
    const legend = chart.locator('.legend tbody tr')
    assert.match(await legend.first().innerText(), /web-01\s+cpu\.idle/)
    await shot('charts')
  })

  it('zooms by dragging and keeps the range in the URL', async () => {
    const over = page.locator('[data-testid=chart] .u-over').first()
    const box = (await over.boundingBox())!
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2)
    await page.mouse.down()
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 })
    await page.mouse.up()
    await page.waitForURL(/from=\d+&to=\d+|to=\d+.*from=\d+/)
    const url = new URL(page.url())
    const from = Number(url.searchParams.get('from'))
    const to = Number(url.searchParams.get('to'))
    assert.ok(to - from > 600 && to - from < 3000, `zoomed to ${to - from} s`)
    assert.ok(from > now - 3600 && to <= now + 60)
    await page.goBack()
    await page.waitForURL(/range=1h/)
  })

  it('finds an endpoint whose name holds regex characters, and draws a lone point as a dot', async () => {
    const name = 'db(1)+x.[a]'
    await push([
      {
        endpoint: name,
        metric: 'disk.used',
        timestamp: now - 120,
        value: 42,
        step: 60,
        counterType: 'GAUGE',
        tags: '',
      },
    ])
    await page.goto(`${base}/charts?e=${encodeURIComponent(name)}&range=1h`)
    await page
      .getByTestId('counter-list')
      .getByLabel(/disk\.used/)
      .check()
    const chart = page.getByTestId('chart').first()
    await waitUntil(
      async () => (await chart.getAttribute('data-points')) === '1',
      'one point',
      10_000
    )
    // Only the series' colour counts (#1f77b4): a dot, where a line would draw nothing.
    assert.ok(
      (await drawnPixels(page, '[data-testid=chart] canvas', [31, 119, 180])) > 10,
      'the lone point is drawn'
    )
    await page.goto(`${base}/charts?range=1h`)
  })

  it('shows its own page for a mistyped address', async () => {
    const res = await page.goto(`${base}/chart-typo`)
    assert.equal(res?.status(), 404)
    await page.getByText('There is no page here.').waitFor()
    await page.goto(`${base}/charts?range=1h`)
  })

  it('configures a host group, a template with a strategy, and binds them', async () => {
    await page.getByRole('link', { name: 'Configuration' }).click()
    await page.getByLabel('New host group').fill('web')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.waitForURL(/\/config\/hostgroups\/\d+$/)
    const groupUrl = page.url()
    await page.getByLabel('Add hosts').fill('web-01')
    await page.getByTestId('add-hosts').getByRole('button', { name: 'Add', exact: true }).click()
    await page.getByTestId('group-hosts').getByText('web-01').waitFor()

    await page.getByRole('link', { name: 'Templates' }).click()
    await page.getByLabel('New template').fill('base')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.waitForURL(/\/config\/templates\/\d+$/)
    await page.getByRole('button', { name: 'Add a strategy' }).click()
    const form = page.getByTestId('strategy-form')
    await form.getByLabel('Metric').fill('cpu.idle')
    // The judge grammar is checked as the user types.
    await form.getByLabel('Function').fill('median(#3)')
    await form.getByText('Unknown function median').waitFor()
    await form.getByLabel('Function').fill('all(#1)')
    assert.equal(await form.getByText('Unknown function').count(), 0)
    await form.getByLabel('Operator').selectOption('<')
    await form.getByLabel('Threshold').fill('10')
    await form.getByLabel('Priority').fill('1')
    await shot('strategy-form')
    await form.getByRole('button', { name: 'Save' }).click()
    await page.getByTestId('strategies').getByText('all(#1) < 10').waitFor()

    await page.goto(groupUrl)
    await page.getByLabel('Template to bind').selectOption({ label: 'base' })
    await page.getByRole('button', { name: 'Bind', exact: true }).click()
    await page.getByTestId('group-templates').getByText('base').waitFor()
    await shot('hostgroup')
  })

  it('shows the problem on the Alarms page without a reload, and its chart with the threshold', async () => {
    await page.getByRole('link', { name: 'Alarms' }).click()
    await page.getByText('No problems').waitFor()
    for (const url of [
      `http://${aio.addresses.hbs.http}/config/reload`,
      `http://${aio.addresses.judge.http}/config/reload`,
    ]) {
      assert.equal((await fetch(url)).status, 200)
    }
    await push([
      {
        endpoint: 'web-01',
        metric: 'cpu.idle',
        timestamp: now,
        value: 3,
        step: 60,
        counterType: 'GAUGE',
        tags: '',
      },
    ])
    const row = page.getByTestId('problems').getByRole('link', { name: 'web-01' })
    await row.waitFor({ timeout: 20_000 })
    await shot('alarms')
    await row.click()
    await page.waitForURL(/\/alarms\/case\?id=s_/)
    const chart = page.getByTestId('case-chart')
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'chart points',
      10_000
    )
    // The threshold is drawn in red across the chart.
    assert.ok(
      (await drawnPixels(page, '[data-testid=case-chart] canvas', [214, 39, 40])) > 100,
      'threshold line drawn'
    )
    await shot('case')
  })

  it('offers "alert on this" from a chart with its endpoint, counter and value', async () => {
    await page.goto(`${base}/charts?e=web-02&c=cpu.idle&range=1h`)
    const chart = page.getByTestId('chart').first()
    await chart.waitFor()
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'chart points',
      10_000
    )
    const over = page.locator('[data-testid=chart] .u-over').first()
    const box = (await over.boundingBox())!
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5)
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 3 })
    await page.getByTestId('alert-on-this').click()
    await page.waitForURL(/\/config\/strategy\/new\?/)
    const url = new URL(page.url())
    assert.equal(url.searchParams.get('endpoint'), 'web-02')
    assert.equal(url.searchParams.get('metric'), 'cpu.idle')
    assert.equal(url.searchParams.get('value'), '70')
    await page.locator('select[name=tpl]').selectOption({ label: 'base' })
    assert.equal(await page.getByTestId('strategy-form').getByLabel('Threshold').inputValue(), '70')
  })

  it('saves a chart to a screen and draws the screen from its link', async () => {
    await page.goto(`${base}/screens`)
    await page.getByLabel('New screen').fill('ops')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.waitForURL(/\/screens\/\d+$/)
    const screenUrl = page.url()
    await page.getByText('This screen has no graphs yet.').waitFor()
    await page.goto(`${base}/charts?e=web-01&e=web-02&c=cpu.idle&view=all&range=1h`)
    await page.getByRole('button', { name: 'Save to a screen' }).click()
    await page.locator('select[name=screen]').selectOption({ label: 'ops' })
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.waitForURL(screenUrl)
    // A new page load from the link alone, as someone it was shared with opens it.
    await page.goto(screenUrl)
    const chart = page.getByTestId('screen-graph').getByTestId('chart')
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'screen chart points',
      10_000
    )
    assert.equal(await chart.getAttribute('data-series'), '2')
    await shot('screen')
  })

  it('lists the hosts with their groups and puts one in maintenance', async () => {
    // A host name of 219 characters (the API takes 255) wraps in its cell: the page stays its width.
    const long = `web-${'y'.repeat(200)}-long-name-end`
    const token = await page.evaluate(() => localStorage.getItem('peregrine.session'))
    const { name, sig } = JSON.parse(token!) as { name: string; sig: string }
    const groups = (await (
      await fetch(`${base}/api/v1/hostgroup?q=^web$`, {
        headers: { Apitoken: JSON.stringify({ name, sig }) },
      })
    ).json()) as { id: number }[]
    const added = await fetch(`${base}/api/v1/hostgroup/${groups[0].id}/host`, {
      method: 'PATCH',
      headers: { Apitoken: JSON.stringify({ name, sig }), 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'add', hosts: [long] }),
    })
    assert.equal(added.status, 200, await added.text())
    await page.goto(`${base}/hosts?q=web`)
    await page.getByTestId('hosts').getByText(long).waitFor()
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 1280, `the Hosts page is ${width} px wide in a 1280 px window`)
    const row = page.getByTestId('hosts').getByRole('row', { name: /web-01/ })
    await row.getByRole('link', { name: 'web', exact: true }).waitFor()
    await row.getByRole('button', { name: 'Start maintenance' }).click()
    await row.getByRole('button', { name: 'End maintenance' }).waitFor()
    await shot('hosts')
    await row.getByRole('button', { name: 'End maintenance' }).click()
    await row.getByRole('button', { name: 'Start maintenance' }).waitFor()
  })

  it('returns to login when the session ends, and then to the page the user was on', async () => {
    await page.goto(`${base}/config/templates`)
    await page.getByTestId('templates').getByText('base').waitFor()
    // The session ends elsewhere (logout from another tab or by an admin).
    const session = await page.evaluate(() => localStorage.getItem('peregrine.session'))
    const { name, sig } = JSON.parse(session!) as { name: string; sig: string }
    const out = await fetch(`${base}/api/v1/user/logout`, {
      headers: { Apitoken: JSON.stringify({ name, sig }) },
    })
    assert.equal(out.status, 200)
    await page.getByRole('link', { name: 'Host groups' }).click()
    await page.waitForURL(/\/login\?next=%2Fconfig%2Fhostgroups/)
    await page.getByLabel('User name').fill('root')
    await page.getByLabel('Password').fill(TEST_ROOT_PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(/\/config\/hostgroups$/)
    await page.getByTestId('hostgroups').getByText('web').waitFor()
  })

  it('shows a banner while the API does not answer, and recovers without a reload', async () => {
    await page.goto(`${base}/alarms`)
    await page.getByRole('heading', { name: 'Current problems' }).waitFor()
    // The browser's requests to the API fail as if the server were down (a route, not a mock server).
    await page.route('**/api/v1/**', (route) => route.abort('connectionrefused'))
    const banner = page.getByTestId('api-down')
    await banner.waitFor({ timeout: 15_000 })
    assert.match(await banner.innerText(), /does not answer/)
    // The page is still there, not blank.
    await page.getByRole('heading', { name: 'Current problems' }).waitFor()
    await shot('api-down')
    await page.unroute('**/api/v1/**')
    await banner.waitFor({ state: 'detached', timeout: 20_000 })
  })

  it('is readable on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(`${base}/charts?e=web-01&c=cpu.idle&range=1h`)
    const chart = page.getByTestId('chart').first()
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'phone chart points',
      10_000
    )
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 400, `the page is ${width} px wide on a 390 px screen`)
    await shot('charts-phone')
    await page.setViewportSize({ width: 1280, height: 800 })
  })

  it('creates a user, makes them an admin, and puts them in a team', async () => {
    await page.goto(`${base}/config/teams`)
    await page.getByRole('button', { name: 'New user' }).click()
    await page.locator('input[name=name]').fill('alice')
    await page.locator('input[name=password]').fill('short')
    await page.getByRole('button', { name: 'Save' }).click()
    // The server's field error, beside the field.
    await page.getByText(/6-256 characters|at least 6/).waitFor()
    await page.locator('input[name=password]').fill('alice-password')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText('User alice created.').waitFor()
    const row = page.getByTestId('users').getByRole('row', { name: /alice/ })
    await row.getByLabel('Role of alice').selectOption('1')
    await page.reload()
    assert.equal(await page.getByTestId('users').getByLabel('Role of alice').inputValue(), '1')
    await page.getByRole('button', { name: 'New team' }).click()
    const form = page.getByTestId('team-form')
    await form.locator('input[name=team_name]').fill('ops')
    await form.locator('textarea[name=users]').fill('alice ghost')
    await form.getByRole('button', { name: 'Save' }).click()
    await form.getByText('no user named ghost').waitFor()
    await form.locator('textarea[name=users]').fill('alice')
    await form.getByRole('button', { name: 'Save' }).click()
    await page.getByTestId('teams').getByRole('row', { name: /ops/ }).getByText('alice').waitFor()
    await shot('teams')
  })

  it('switches to Chinese', async () => {
    await page.getByTestId('language').selectOption('zh')
    await page.getByRole('link', { name: '告警' }).waitFor()
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN')
    await page.getByRole('link', { name: '告警' }).click()
    await page.getByRole('heading', { name: '当前未恢复的告警' }).waitFor()
    await shot('alarms-zh')
    await page.getByTestId('language').selectOption('en')
  })

  it('runs a PromQL query on Explore', async () => {
    await page.goto(
      `${base}/explore?q=${encodeURIComponent('cpu_idle{endpoint="web-02"}')}&range=1h`
    )
    const chart = page.getByTestId('explore-chart')
    await chart.waitFor()
    await waitUntil(
      async () => Number(await chart.getAttribute('data-points')) > 0,
      'chart points',
      10_000
    )
    assert.equal(await chart.getAttribute('data-series'), '1')
    // Completion asks Peregrine's own /api/v1 (metric names and metadata).
    await page.locator('.cm-content').click()
    await page.keyboard.press('End')
    await page.keyboard.type(' + cpu')
    await page.locator('.cm-tooltip-autocomplete').getByText('cpu.idle').first().click()
    // Inserted as PromQL can write it bare: the engine reads cpu_idle back as cpu.idle.
    assert.match(await page.locator('.cm-content').innerText(), /\+ cpu_idle$/)
    await page.getByRole('tab', { name: 'Table' }).click()
    await page.getByTestId('result-table').getByText('70').waitFor()
    await shot('explore')
  })
})
