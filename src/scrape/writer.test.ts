import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  type AppendResult,
  type PromAppender,
  type SeriesRef,
  silentLogger,
  waitUntil,
} from '../core/index.js'
import type { ScrapedSeries } from './scraper.js'
import { ScrapeWriter } from './writer.js'

// The writer's in-process path against an appender kept here (transfer's own is tested end to end in
// test/prometheus-remote-write.test.ts): what it places, drops, retries and counts.
class Appender implements PromAppender {
  placed = 0
  answers: AppendResult[] = []
  got: { names: string[]; t: number[]; v: number[]; step: number }[] = []
  ref(labels: readonly (readonly [string, string])[]): SeriesRef | string {
    const name = labels.find(([n]) => n === '__name__')?.[1] ?? ''
    if (name.startsWith('bad')) return `${name}: not a metric name Peregrine keeps`
    this.placed++
    return { name } as unknown as SeriesRef
  }
  append(
    refs: readonly SeriesRef[],
    t: Float64Array,
    v: Float64Array,
    step: number
  ): Promise<AppendResult> {
    this.got.push({
      names: refs.map((r) => (r as unknown as { name: string }).name),
      t: [...t],
      v: [...v],
      step,
    })
    const stored: AppendResult = { outcome: 'stored', stored: refs.length, refused: 0, reasons: [] }
    return Promise.resolve(this.answers.shift() ?? stored)
  }
}

function series(name: string): ScrapedSeries {
  return { labels: [['__name__', name]], ref: null, seen: 1 }
}

describe('ScrapeWriter in process', () => {
  it('places a series once, drops those storage will not keep, and retries what it could not take', async () => {
    const a = new Appender()
    const w = new ScrapeWriter(
      'http://127.0.0.1:1/api/v1/write',
      { log: silentLogger, now: Date.now },
      a
    )
    const s = [series('a'), series('bad_one'), series('b')]
    a.answers.push({ outcome: 'retry', reason: 'graph node down' })
    w.write({ series: s, t: Float64Array.of(1, 2, 3), v: Float64Array.of(10, 20, 30), step: 15 })
    await waitUntil(() => w.counters.samples === 2, 'written after a retry')
    assert.deepEqual(a.got[1], { names: ['a', 'b'], t: [1, 3], v: [10, 30], step: 15 })
    assert.deepEqual(a.got[0], a.got[1], 'the same write again')
    assert.equal(w.counters.retries, 1)
    assert.equal(w.counters.droppedSamples, 1, 'bad_one')
    w.write({ series: s, t: Float64Array.of(4, 5, 6), v: Float64Array.of(1, 2, 3), step: 15 })
    await waitUntil(() => w.counters.samples === 4, 'second write')
    assert.equal(a.placed, 2, 'placed once each')
    // Samples storage refuses (too old) are counted as dropped, the rest as written.
    a.answers.push({ outcome: 'stored', stored: 1, refused: 1, reasons: ['too old'] })
    w.write({ series: s, t: Float64Array.of(7, 8, 9), v: Float64Array.of(1, 2, 3), step: 15 })
    await waitUntil(() => w.counters.samples === 5, 'third write')
    assert.equal(w.counters.droppedSamples, 3 + 1, 'bad_one each time, and the refused one')
    w.close()
  })
})
