// The in-process queue: one FIFO per list, poppers parked until a push wakes them.
import { Fifo, type Queue, type QueueStats } from './queue.js'

interface Waiter {
  lists: readonly string[]
  resolve(item: { list: string; payload: string } | undefined): void
  timer: NodeJS.Timeout | undefined
}

/** memoryQueue keeps lists in memory: for the all-in-one runner and tests. */
export function memoryQueue(): Queue {
  const lists = new Map<string, Fifo<string>>()
  const waiters = new Set<Waiter>()
  const counts = { pushed: 0, popped: 0 }
  let closed = false

  const fifo = (list: string): Fifo<string> => {
    let f = lists.get(list)
    if (!f) lists.set(list, (f = new Fifo()))
    return f
  }

  const take = (names: readonly string[]) => {
    for (const list of names) {
      const f = lists.get(list)
      if (f && f.size > 0) {
        const payload = f.shift() as string
        if (f.size === 0) lists.delete(list)
        counts.popped++
        return { list, payload }
      }
    }
    return undefined
  }

  const finish = (w: Waiter, item: { list: string; payload: string } | undefined) => {
    waiters.delete(w)
    if (w.timer) clearTimeout(w.timer)
    w.resolve(item)
  }

  return {
    push(list, ...payloads) {
      if (closed) return Promise.reject(new Error('queue: push after close'))
      if (payloads.length === 0) return Promise.resolve()
      const f = fifo(list)
      for (const p of payloads) f.push(p)
      counts.pushed += payloads.length
      // Waiters are served oldest first; a waiter only waits while all its lists are empty.
      for (const w of waiters) {
        if (!lists.has(list)) break
        if (w.lists.includes(list)) finish(w, take([list]))
      }
      return Promise.resolve()
    },

    pop(names, timeoutMs) {
      const item = closed ? undefined : take(names)
      if (item || closed || timeoutMs <= 0) return Promise.resolve(item)
      return new Promise((resolve) => {
        const w: Waiter = { lists: names, resolve, timer: undefined }
        w.timer = setTimeout(() => finish(w, undefined), timeoutMs)
        waiters.add(w)
      })
    },

    length: (list) => Promise.resolve(lists.get(list)?.size ?? 0),

    stats: (): QueueStats => ({ ...counts, backlog: 0, spilled: 0, replayed: 0 }),

    close() {
      closed = true
      for (const w of waiters) finish(w, undefined)
      return Promise.resolve()
    },
  }
}
