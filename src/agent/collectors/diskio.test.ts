import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { counter, gauge } from '../collector.js'
import type { Sample } from '../collector.js'
import { DiskIoCollector, parseDiskstats, shouldHandleDevice } from './diskio.js'
import { FIXTURES, fixtureContext } from './fixtures.js'

const FIX = FIXTURES
const ctxOf = (set: string) => fixtureContext(set)

const COUNTERS = [
  'read_requests',
  'read_merged',
  'read_sectors',
  'msec_read',
  'write_requests',
  'write_merged',
  'write_sectors',
  'msec_write',
  'ios_in_progress',
  'msec_total',
  'msec_weighted_total',
]
const RATES = ['read_bytes', 'write_bytes', 'avgrq_sz', 'avgqu-sz', 'await', 'svctm', 'util']

/** counters: the eleven COUNTERs of a device, values in /proc/diskstats order. */
const counters = (device: string, line: string): Sample[] =>
  line
    .trim()
    .split(/\s+/)
    .map((v, i) => counter('disk.io.' + COUNTERS[i], Number(v), 'device=' + device))
const rates = (device: string, v: number[]): Sample[] =>
  v.map((x, i) => gauge('disk.io.' + RATES[i], x, 'device=' + device))
const ZERO_RATES = [0, 0, 0, 0, 0, 0, 0]

const zeroDelta = (device: string) => ({
  device,
  readRequests: 0,
  readMerged: 0,
  readSectors: 0,
  msecRead: 0,
  writeRequests: 0,
  writeMerged: 0,
  writeSectors: 0,
  msecWrite: 0,
  msecTotal: 0,
  msecWeightedTotal: 0,
})

/** clock returns the given times, one per call. */
const clock = (...times: number[]) => {
  let i = 0
  return () => times[i++]
}

describe('parseDiskstats', () => {
  it('skips devices without reads and reads the 14-field lines of 2.6.32', () => {
    const got = parseDiskstats(readFileSync(join(FIX, 'sys-centos6/proc/diskstats'), 'utf8'))
    assert.deepEqual(
      got.map((d) => d.device),
      ['sda', 'sda1', 'sda2', 'sda3', 'sda5', 'sr0', 'dm-0', 'dm-1']
    )
    assert.deepEqual(got[0], {
      device: 'sda',
      readRequests: 52340,
      readMerged: 10234,
      readSectors: 1623456,
      msecRead: 98765,
      writeRequests: 234567,
      writeMerged: 345678,
      writeSectors: 4567890,
      msecWrite: 1234567,
      iosInProgress: 2,
      msecTotal: 456789,
      msecWeightedTotal: 1333332,
    })
  })

  it('reads the first eleven counters of 18-field (4.18) and 20-field (5.5+) lines', () => {
    const c8 = parseDiskstats(readFileSync(join(FIX, 'sys-centos8/proc/diskstats'), 'utf8'))
    assert.deepEqual(c8[3], {
      device: 'vdb',
      readRequests: 400,
      readMerged: 0,
      readSectors: 12000,
      msecRead: 90,
      writeRequests: 100000,
      writeMerged: 20,
      writeSectors: 800000,
      msecWrite: 40000,
      iosInProgress: 1,
      msecTotal: 30000,
      msecWeightedTotal: 40090,
    })
    const local = parseDiskstats(readFileSync(join(FIX, 'sys-local/proc/diskstats'), 'utf8'))
    assert.deepEqual(local, [
      {
        device: 'vda',
        readRequests: 126288,
        readMerged: 13771,
        readSectors: 5013970,
        msecRead: 77326,
        writeRequests: 817722,
        writeMerged: 97440,
        writeSectors: 9643392,
        msecWrite: 53438,
        iosInProgress: 0,
        msecTotal: 47324,
        msecWeightedTotal: 146345,
      },
    ])
  })

  it('skips short and non-numeric lines', () => {
    const got = parseDiskstats(readFileSync(join(FIX, 'sys-garbled/proc/diskstats'), 'utf8'))
    assert.deepEqual(
      got.map((d) => d.device),
      ['sdd']
    )
    assert.deepEqual(parseDiskstats('\n  \n'), [])
  })
})

describe('shouldHandleDevice', () => {
  it('is falcon’s filter, quirks included', () => {
    const f = (device: string, want: boolean) =>
      assert.equal(shouldHandleDevice(device), want, device)
    f('sda', true)
    f('sdab', true)
    f('sda1', false)
    f('sda4', false)
    f('sda5', true) // a partition without the digits 1–4 passes, as in falcon
    f('sda10', false)
    f('sd', true)
    f('vda', true)
    f('vdaa', true)
    f('vdb1', false)
    f('xvd', false)
    f('xvda', true)
    f('xvda1', true)
    f('nvme0n1', true)
    f('nvme0n1p1', true)
    f('fioa', true)
    f('nbd0', true)
    f('nbd', false)
    f('dm-0', false)
    f('md0', false)
    f('loop0', false)
    f('sr0', false)
    f('hda', false)
    f('zram0', false)
    f('mmcblk0', false)
  })
})

describe('DiskIoCollector', () => {
  it('sends the counters of handled devices and no rates before two samples', () => {
    const c = new DiskIoCollector({ clock: clock(0) })
    assert.deepEqual(c.collect(ctxOf('sys-centos6')), [
      ...counters(
        'sda',
        '52340 10234 1623456 98765 234567 345678 4567890 1234567 2 456789 1333332'
      ),
      ...counters('sda5', '10100 67 100000 10300 34555 45644 567798 234511 0 53500 244800'),
    ])
    c.sample(ctxOf('sys-centos6'))
    assert.equal(c.collect(ctxOf('sys-centos6')).length, 22)
  })

  it('computes falcon’s iostat over a one-second window (2.6.32)', () => {
    const c = new DiskIoCollector({ clock: clock(0, 1000) })
    c.sample(ctxOf('sys-centos6'))
    c.sample(ctxOf('sys-centos6-t1'))
    // sda: rio 40, wio 60, rsec 320, wsec 1280, ruse 50, wuse 150, use 250, weighted 500
    assert.deepEqual(c.collect(ctxOf('sys-centos6-t1')), [
      ...counters(
        'sda',
        '52380 10239 1623776 98815 234627 345685 4569170 1234717 1 457039 1333832'
      ),
      ...counters('sda5', '10100 67 100000 10300 34555 45644 567798 234511 0 53500 244800'),
      ...rates('sda', [163840, 655360, 16, 0.5, 2, 2.5, 25]),
      ...rates('sda5', ZERO_RATES),
    ])
  })

  it('caps util at 100 and leaves util 0 for an empty window', () => {
    const short = new DiskIoCollector({ clock: clock(0, 200) })
    short.sample(ctxOf('sys-centos6'))
    short.sample(ctxOf('sys-centos6-t1'))
    const util = (c: DiskIoCollector) =>
      c
        .collect(ctxOf('sys-centos6-t1'))
        .filter((s) => s.metric === 'disk.io.util')
        .map((s) => [s.tags, s.value])
    assert.deepEqual(util(short), [
      ['device=sda', 100],
      ['device=sda5', 0],
    ])
    const none = new DiskIoCollector({ clock: clock(5, 5) })
    none.sample(ctxOf('sys-centos6'))
    none.sample(ctxOf('sys-centos6-t1'))
    assert.deepEqual(util(none), [
      ['device=sda', 0],
      ['device=sda5', 0],
    ])
  })

  it('truncates the window to whole milliseconds, as Go', () => {
    const c = new DiskIoCollector({ clock: clock(0.25, 500.9) })
    c.sample(ctxOf('sys-centos6'))
    c.sample(ctxOf('sys-centos6-t1'))
    const util = c.collect(ctxOf('sys-centos6-t1')).find((s) => s.metric === 'disk.io.util')
    assert.equal(util?.value, (250 * 100) / 500)
  })

  it('handles nvme, xvd, nbd, fio and vd names; forgets a detached disk; zeroes a reset (4.4)', () => {
    const c = new DiskIoCollector({ clock: clock(5000, 6000) })
    c.sample(ctxOf('sys-ubuntu1604'))
    c.sample(ctxOf('sys-ubuntu1604-t1'))
    // nvme0n1 and its partition: rio 1000, wio 3000, rsec 64000, wsec 192000, ruse 600,
    // wuse 2400, use 1004 (100.4% of the window), weighted 3600
    const nvme = [32768000, 98304000, 64, 3.6, 0.75, 0.251, 100]
    assert.deepEqual(c.collect(ctxOf('sys-ubuntu1604-t1')), [
      ...counters(
        'nvme0n1',
        '801000 1200 30064000 400600 2003000 900010 90192000 3002400 12 1501004 3403600'
      ),
      ...counters(
        'nvme0n1p1',
        '801000 1200 30064000 400600 2003000 900010 90192000 3002400 12 1501004 3403600'
      ),
      ...counters('xvda', '120 0 5000 40 0 0 0 0 0 40 40'),
      ...counters('xvda1', '100 0 4000 30 0 0 0 0 0 30 30'),
      ...counters('xvdb', '20 0 160 10 5 0 40 3 0 12 13'),
      ...counters('nbd0', '5 0 40 1 0 0 0 0 0 1 1'),
      ...counters('vdb', '7000 20 500000 3000 9000 100 300000 8000 0 6000 11000'),
      ...counters('vdaa', '10 0 80 1 0 0 0 0 0 1 1'),
      ...counters('fioa', '500 0 4000 100 500 0 4000 100 0 150 200'),
      ...rates('nvme0n1', nvme),
      ...rates('nvme0n1p1', nvme),
      ...rates('xvda', ZERO_RATES),
      ...rates('xvda1', ZERO_RATES),
      ...rates('xvdb', ZERO_RATES), // counters went backwards: 0, not a uint64 wrap
      ...rates('vdb', ZERO_RATES),
      ...rates('vdaa', ZERO_RATES),
      ...rates('fioa', ZERO_RATES),
    ])
  })

  it('computes this machine’s captured readings (20-field, 6.18)', () => {
    const c = new DiskIoCollector({ clock: clock(100, 1100) })
    c.sample(ctxOf('sys-local'))
    c.sample(ctxOf('sys-local-t1'))
    // vda: rio 10, wio 75, rsec 192, wsec 41608, ruse 1, wuse 31, use 16, weighted 33
    assert.deepEqual(c.collect(ctxOf('sys-local-t1')), [
      ...counters('vda', '126298 13771 5014162 77327 817797 97486 9685000 53469 0 47340 146378'),
      ...rates('vda', [98304, 21303296, 41800 / 85, 0.033, 32 / 85, 16 / 85, 1.6]),
    ])
  })

  it('keeps its history across an unreadable file and sends nothing without one', () => {
    const c = new DiskIoCollector({ clock: clock(0, 1000) })
    c.sample(ctxOf('sys-centos6'))
    c.sample(ctxOf('sys-container'))
    c.sample(ctxOf('sys-centos6-t1'))
    const got = c.collect(ctxOf('sys-container'))
    assert.deepEqual(got, [
      ...rates('sda', [163840, 655360, 16, 0.5, 2, 2.5, 25]),
      ...rates('sda5', ZERO_RATES),
    ])
    const empty = new DiskIoCollector()
    empty.sample(ctxOf('sys-does-not-exist'))
    assert.deepEqual(empty.collect(ctxOf('sys-does-not-exist')), [])
  })

  it('gives the pages each handled device’s counter deltas, zeros for a device read once', () => {
    const c = new DiskIoCollector({ clock: clock(0, 1000) })
    assert.deepEqual(c.deltas(), [])
    c.sample(ctxOf('sys-centos6'))
    assert.deepEqual(c.deltas(), [zeroDelta('sda'), zeroDelta('sda5')])
    c.sample(ctxOf('sys-centos6-t1'))
    assert.deepEqual(c.deltas(), [
      {
        device: 'sda',
        readRequests: 40,
        readMerged: 5,
        readSectors: 320,
        msecRead: 50,
        writeRequests: 60,
        writeMerged: 7,
        writeSectors: 1280,
        msecWrite: 150,
        msecTotal: 250,
        msecWeightedTotal: 500,
      },
      zeroDelta('sda5'),
    ])
    c.sample(ctxOf('sys-container'))
    assert.equal(c.deltas().length, 2, 'an unreadable file keeps the history')
  })

  it('gives the pages 4.4’s deltas: a reset counts 0, a new disk 0, a detached one is gone', () => {
    const c = new DiskIoCollector({ clock: clock(5000, 6000) })
    c.sample(ctxOf('sys-ubuntu1604'))
    c.sample(ctxOf('sys-ubuntu1604-t1'))
    const nvme = (device: string) => ({
      device,
      readRequests: 1000,
      readMerged: 0,
      readSectors: 64000,
      msecRead: 600,
      writeRequests: 3000,
      writeMerged: 10,
      writeSectors: 192000,
      msecWrite: 2400,
      msecTotal: 1004,
      msecWeightedTotal: 3600,
    })
    assert.deepEqual(c.deltas(), [
      nvme('nvme0n1'),
      nvme('nvme0n1p1'),
      zeroDelta('xvda'),
      zeroDelta('xvda1'),
      zeroDelta('xvdb'), // every counter went backwards
      zeroDelta('nbd0'), // first read at t1 (no reads at t0)
      zeroDelta('vdb'),
      zeroDelta('vdaa'),
      zeroDelta('fioa'),
    ])
  })

  it('keeps the good line of a garbled file', () => {
    assert.deepEqual(
      new DiskIoCollector().collect(ctxOf('sys-garbled')),
      counters('sdd', '9 0 72 1 0 0 0 0 0 1 1')
    )
  })

  it('reads this machine’s /proc/diskstats', () => {
    const live = { ...ctxOf('x'), proc: '/proc', sys: '/sys' }
    const c = new DiskIoCollector()
    c.sample(live)
    c.sample(live)
    const devices = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'))
      .map((d) => d.device)
      .filter(shouldHandleDevice)
    const got = c.collect(live)
    const want = [
      ...devices.flatMap((d) => COUNTERS.map((m) => `disk.io.${m} device=${d}`)),
      ...devices.flatMap((d) => RATES.map((m) => `disk.io.${m} device=${d}`)),
    ]
    assert.deepEqual(
      got.map((s) => `${s.metric} ${s.tags}`),
      want
    )
    for (const s of got) assert.ok(Number.isFinite(s.value) && s.value >= 0, s.metric)
  })
})
