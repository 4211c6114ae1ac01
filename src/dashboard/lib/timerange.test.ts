import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  chooseStep,
  durationSeconds,
  formatCalendar,
  parseRange,
  parseTime,
  promStep,
  tickLabels,
  zoomedQuery,
} from './timerange.js'

const NOW = 1_796_000_000

describe('time ranges', () => {
  it('reads durations', () => {
    assert.equal(durationSeconds('90s'), 90)
    assert.equal(durationSeconds('1h'), 3600)
    assert.equal(durationSeconds('30d'), 30 * 86400)
    assert.equal(durationSeconds('2w'), 14 * 86400)
    for (const bad of ['', 'h', '1', '1y', '-1h', '0h', '1.5h', '1h30m'])
      assert.equal(durationSeconds(bad), undefined, bad)
  })

  it('reads Unix seconds, milliseconds, now-relative and calendar times', () => {
    assert.deepEqual(parseTime('1796000000', NOW), { ok: true, value: 1796000000 })
    assert.deepEqual(parseTime('1796000000123', NOW), { ok: true, value: 1796000000 })
    assert.deepEqual(parseTime('now', NOW), { ok: true, value: NOW })
    assert.deepEqual(parseTime('now-6h', NOW), { ok: true, value: NOW - 6 * 3600 })
    assert.deepEqual(parseTime('2026-12-01T10:00:00Z', NOW), {
      ok: true,
      value: Date.UTC(2026, 11, 1, 10) / 1000,
    })
    assert.deepEqual(parseTime('2026-12-01 10:00+08:00', NOW), {
      ok: true,
      value: Date.UTC(2026, 11, 1, 2) / 1000,
    })
    const local = parseTime('2026-12-01 10:30', NOW)
    assert.ok(local.ok)
    assert.equal(local.value, new Date(2026, 11, 1, 10, 30).getTime() / 1000)
    const day = parseTime('2026-12-01', NOW)
    assert.ok(day.ok)
    assert.equal(day.value, new Date(2026, 11, 1).getTime() / 1000)
  })

  it('refuses what is not a time, with the reason', () => {
    assert.deepEqual(parseTime('', NOW), { ok: false, error: 'empty' })
    assert.deepEqual(parseTime('yesterday', NOW), { ok: false, error: 'format' })
    assert.deepEqual(parseTime('2026-13-01', NOW), { ok: false, error: 'format' })
    assert.deepEqual(parseTime('2026-02-31', NOW), { ok: false, error: 'format' })
    assert.deepEqual(parseTime('2026-12-01 24:00', NOW), { ok: false, error: 'format' })
    assert.deepEqual(parseTime('now-soon', NOW), { ok: false, error: 'duration' })
  })

  it('reads a URL range: relative, custom, and refuses reversed or endless ones', () => {
    assert.deepEqual(parseRange({}, NOW), { ok: true, value: { start: NOW - 3600, end: NOW } })
    assert.deepEqual(parseRange({ range: '30d' }, NOW), {
      ok: true,
      value: { start: NOW - 30 * 86400, end: NOW },
    })
    assert.deepEqual(parseRange({ from: String(NOW - 600), to: String(NOW - 60) }, NOW), {
      ok: true,
      value: { start: NOW - 600, end: NOW - 60 },
    })
    assert.deepEqual(parseRange({ from: String(NOW - 600) }, NOW), {
      ok: true,
      value: { start: NOW - 600, end: NOW },
    })
    assert.deepEqual(parseRange({ from: String(NOW), to: String(NOW - 600) }, NOW), {
      ok: false,
      error: 'order',
    })
    assert.deepEqual(parseRange({ from: 'x' }, NOW), { ok: false, error: 'from:format' })
    assert.deepEqual(parseRange({ range: '1x' }, NOW), { ok: false, error: 'range:format' })
    assert.deepEqual(parseRange({ range: '5000d' }, NOW), { ok: false, error: 'long' })
  })

  it('asks graph for the tier that fits the chart: raw for an hour, rollups for a month', () => {
    const hour = { start: NOW - 3600, end: NOW }
    assert.equal(chooseStep(hour, 800), 60)
    const day = { start: NOW - 86400, end: NOW }
    assert.equal(chooseStep(day, 800), 300) // 1440 raw points do not fit 800 px: the 5-step tier
    const month = { start: NOW - 30 * 86400, end: NOW }
    assert.equal(chooseStep(month, 800), 10800) // 180-step tier: 240 points
    assert.equal(chooseStep(month, 4000), 1200) // a wide chart: the 20-step tier, 2160 points
    const decade = { start: NOW - 3650 * 86400, end: NOW }
    const step = chooseStep(decade, 500)
    assert.equal(step % 43200, 0)
    assert.ok((decade.end - decade.start) / step <= 500)
  })

  it('rounds PromQL steps to ones a person reads', () => {
    assert.equal(promStep({ start: NOW - 3600, end: NOW }, 1000), 10)
    assert.equal(promStep({ start: NOW - 30 * 86400, end: NOW }, 1000), 7200)
    assert.equal(promStep({ start: NOW - 60, end: NOW }, 1000), 1)
  })

  it('turns a drag into an ordered range of at least a minute', () => {
    assert.deepEqual(zoomedQuery(200.7, 100.2), { from: '100', to: '201' })
    assert.deepEqual(zoomedQuery(100, 110), { from: '100', to: '160' })
  })

  it('writes a calendar time that reads back', () => {
    for (const t of [NOW, NOW + 37, 1_700_000_000]) {
      const text = formatCalendar(t)
      assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?$/)
      assert.deepEqual(parseTime(text, NOW), { ok: true, value: t })
    }
  })

  it('labels time ticks in 24-hour time, with the date where the day changes', () => {
    const day = new Date(2026, 11, 7, 22, 0).getTime() / 1000
    const ticks = [day, day + 3600, day + 7200, day + 10800]
    assert.deepEqual(tickLabels(ticks, 3600, 'en'), [
      '22:00\n12/7',
      '23:00',
      '00:00\n12/8',
      '01:00',
    ])
    assert.deepEqual(tickLabels(ticks, 3600, 'zh'), [
      '22:00\n12月7日',
      '23:00',
      '00:00\n12月8日',
      '01:00',
    ])
    assert.deepEqual(tickLabels([day, day + 86400], 86400, 'zh'), ['12月7日', '12月8日'])
  })
})
