// The Redis queue: falcon's lists in Redis, with pushes held in memory and then spilled to disk while
// Redis is unreachable, and replayed in order when it answers again.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from '../core/index.js'
import { Fifo, type Queue, type QueueStats } from './queue.js'

export interface RedisQueueOptions {
  /** redis://[:password@]host:port/db */
  url: string
  /** directory of the spill file; one queue per directory */
  spillDir: string
  /** payloads held in memory while Redis is unreachable before spilling to disk (default 100,000) */
  maxBuffered?: number
  log: Logger
  /** prepended to every list name in Redis (tests); default none, so names match falcon's */
  keyPrefix?: string
}

/** SPILL_FILE is the spill file's name under spillDir: one `["list","payload"]` JSON line per item. */
export const SPILL_FILE = 'queue-spill.jsonl'

const BATCH = 1000
/** CONNECT_GRACE_MS: how long a non-blocking pop waits for a new connection while Redis is up. */
const CONNECT_GRACE_MS = 2000

interface Ack {
  left: number
  resolve(): void
}
interface Item {
  list: string
  payload: string
  /** set until the item is in Redis or acknowledged as held */
  ack?: Ack
  /** acknowledged before reaching Redis */
  held?: boolean
}

/** redact hides a password in a Redis URL for log lines. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}

const isReplyError = (err: unknown) => err instanceof Error && err.name === 'ReplyError'
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** redisQueue keeps lists in Redis under falcon's names (event:p0..p6, /sms, /mail, /im, ...). */
export function redisQueue(options: RedisQueueOptions): Queue {
  const { log, spillDir } = options
  const prefix = options.keyPrefix ?? ''
  const maxBuffered = options.maxBuffered ?? 100_000
  const where = redact(options.url)
  const spillPath = join(spillDir, SPILL_FILE)
  const redisOptions: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
  }
  const counts = { pushed: 0, popped: 0, spilled: 0, replayed: 0 }
  const buffer = new Fifo<Item>()
  let state: 'connecting' | 'up' | 'down' = 'connecting'
  let closed = false
  let lastError = ''

  // The spill file holds items newer than everything in the buffer: once it has outstanding items,
  // new pushes go to it until it has been replayed.
  let spillOutstanding = recoverSpill()
  let spillOffset = 0
  let spillFd: Awaited<ReturnType<typeof open>> | undefined
  let spillQueue: { lines: string; resolve(): void; reject(err: unknown): void }[] = []
  let writer: Promise<void> | undefined
  let lockTail: Promise<unknown> = Promise.resolve()
  const withLock = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lockTail.then(fn)
    lockTail = run.catch(() => undefined)
    return run
  }

  function recoverSpill(): number {
    mkdirSync(spillDir, { recursive: true })
    rmSync(spillPath + '.tmp', { force: true })
    if (!existsSync(spillPath)) return 0
    // Count complete lines; a torn last line was never acknowledged, so cut it off.
    const fd = openSync(spillPath, 'r')
    const chunk = Buffer.alloc(1 << 20)
    let lines = 0
    let end = 0
    let pos = 0
    try {
      for (let n; (n = readSync(fd, chunk, 0, chunk.length, pos)) > 0; pos += n) {
        for (let i = chunk.indexOf(10); i !== -1 && i < n; i = chunk.indexOf(10, i + 1)) {
          lines++
          end = pos + i + 1
        }
      }
    } finally {
      closeSync(fd)
    }
    if (end < statSync(spillPath).size) truncateSync(spillPath, end)
    if (lines > 0) log.info(`queue: replaying ${lines} items from ${spillPath} when Redis answers`)
    return lines
  }

  const cmd = new Redis(options.url, { ...redisOptions, connectionName: 'peregrine-queue' })
  cmd.on('error', (err: Error) => (lastError = err.message))
  cmd.on('ready', markUp)
  cmd.on('close', () => markDown(lastError || 'connection closed'))
  const blockingIdle: Redis[] = []
  const blockingBusy = new Set<Redis>()

  function settle(item: Item, held: boolean) {
    const ack = item.ack
    if (!ack) return
    item.ack = undefined
    item.held = held
    if (--ack.left === 0) ack.resolve()
  }

  function markDown(reason: string) {
    if (closed || state === 'down') return
    state = 'down'
    log.warn(
      `queue: Redis at ${where} is unreachable (${reason}); holding pushes in memory (up to ${maxBuffered}), then in ${spillPath}`
    )
    for (const item of buffer.peek(buffer.size)) settle(item, true)
  }

  function markUp() {
    if (closed || state === 'up') return
    const was = state
    state = 'up'
    lastError = ''
    if (was === 'down') {
      log.info(`queue: Redis at ${where} answers again; replaying ${backlog()} held items`)
    }
    kick()
  }

  const backlog = () => buffer.size + spillOutstanding

  let flushing: Promise<void> | undefined
  let stopFlush = false
  function kick() {
    if (!flushing && state === 'up' && !stopFlush)
      flushing = flushLoop().finally(() => (flushing = undefined))
  }

  async function flushLoop() {
    try {
      while (state === 'up' && !stopFlush) {
        if (buffer.size > 0) {
          const batch = buffer.peek(BATCH)
          await send(batch)
          buffer.drop(batch.length)
          for (const item of batch) {
            if (item.held) counts.replayed++
            settle(item, false)
          }
        } else if (spillOutstanding > 0) {
          await replaySpillChunk()
        } else {
          if (spillFd || existsSync(spillPath)) await removeSpill()
          if (buffer.size === 0 && spillOutstanding === 0) break
        }
      }
    } catch (err) {
      markDown(err instanceof Error ? err.message : String(err))
    }
  }

  /** send LPUSHes items in one MULTI, grouping runs of the same list. Reply errors are logged and dropped. */
  async function send(items: readonly { list: string; payload: string }[]) {
    const multi = cmd.multi()
    const groups: number[] = []
    for (let i = 0; i < items.length;) {
      let j = i + 1
      while (j < items.length && items[j].list === items[i].list) j++
      multi.lpush(prefix + items[i].list, ...items.slice(i, j).map((it) => it.payload))
      groups.push(j - i)
      i = j
    }
    const results = await multi.exec()
    if (!results) throw new Error('MULTI aborted')
    results.forEach(([err], g) => {
      if (!err) return
      if (!isReplyError(err)) throw err
      log.error(`queue: Redis refused ${groups[g]} items: ${err.message}; dropped`)
    })
  }

  async function replaySpillChunk() {
    const got = await withLock(async () => {
      const fh = await open(spillPath, 'r').catch(() => undefined)
      if (!fh) return undefined
      try {
        for (let size = 1 << 20; ; size *= 2) {
          const buf = Buffer.alloc(size)
          const { bytesRead } = await fh.read(buf, 0, size, spillOffset)
          const end = buf.subarray(0, bytesRead).lastIndexOf(10)
          if (end !== -1) return { text: buf.toString('utf8', 0, end + 1), bytes: end + 1 }
          if (bytesRead < size) return undefined
        }
      } finally {
        await fh.close()
      }
    })
    if (!got) {
      // Outstanding items not written yet: wait for the writer.
      if (writer) return writer
      log.error(
        `queue: ${spillPath} ends before ${spillOutstanding} expected items; giving up on them`
      )
      spillOutstanding = 0
      return
    }
    const items: { list: string; payload: string }[] = []
    for (const line of got.text.split('\n')) {
      if (!line) continue
      try {
        const [list, payload] = JSON.parse(line) as [string, string]
        items.push({ list, payload })
      } catch {
        log.error(`queue: skipping a corrupt line in ${spillPath}`)
      }
    }
    for (let i = 0; i < items.length; i += BATCH) await send(items.slice(i, i + BATCH))
    spillOffset += got.bytes
    const n = Math.min(got.text.split('\n').length - 1, spillOutstanding)
    spillOutstanding -= n
    counts.replayed += items.length
  }

  async function removeSpill() {
    await withLock(async () => {
      if (spillOutstanding > 0 || spillQueue.length > 0) return
      await spillFd?.close()
      spillFd = undefined
      await rm(spillPath, { force: true })
      spillOffset = 0
    })
  }

  async function openSpill() {
    if (!spillFd) {
      spillFd = await open(spillPath, 'a')
      await syncDir()
    }
    return spillFd
  }

  async function syncDir() {
    const dir = await open(spillDir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }

  /** spill appends lines to the spill file; group commit: one write and one fdatasync per round. */
  function spill(lines: string): Promise<void> {
    return new Promise((resolve, reject) => {
      spillQueue.push({ lines, resolve, reject })
      writer ??= runWriter().finally(() => (writer = undefined))
    })
  }

  async function runWriter() {
    while (spillQueue.length > 0) {
      const round = spillQueue
      spillQueue = []
      try {
        await withLock(async () => {
          const fh = await openSpill()
          await fh.write(round.map((r) => r.lines).join(''))
          await fh.datasync()
        })
        for (const r of round) r.resolve()
      } catch (err) {
        for (const r of round) r.reject(err)
      }
    }
  }

  const line = (list: string, payload: string) => JSON.stringify([list, payload]) + '\n'

  async function waitReady(conn: Redis, ms: number) {
    if (conn.status === 'ready' || ms <= 0) return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        conn.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      conn.on('ready', done)
    })
  }

  return {
    push(list, ...payloads) {
      if (closed) return Promise.reject(new Error('queue: push after close'))
      if (payloads.length === 0) return Promise.resolve()
      counts.pushed += payloads.length
      const room = spillOutstanding > 0 ? 0 : Math.max(0, maxBuffered - buffer.size)
      const kept = payloads.slice(0, room)
      const spilled = payloads.slice(room)
      const waits: Promise<void>[] = []
      if (kept.length > 0) {
        if (state === 'down') {
          for (const payload of kept) buffer.push({ list, payload, held: true })
        } else {
          waits.push(
            new Promise((resolve) => {
              const ack: Ack = { left: kept.length, resolve }
              for (const payload of kept) buffer.push({ list, payload, ack })
            })
          )
          kick()
        }
      }
      if (spilled.length > 0) {
        if (counts.spilled === 0 || spillOutstanding === 0) {
          log.warn(`queue: more than ${maxBuffered} items held; spilling to ${spillPath}`)
        }
        spillOutstanding += spilled.length
        counts.spilled += spilled.length
        waits.push(spill(spilled.map((p) => line(list, p)).join('')))
        kick()
      }
      return Promise.all(waits).then(() => undefined)
    },

    async pop(lists, timeoutMs) {
      if (closed) return undefined
      const deadline = Date.now() + Math.max(0, timeoutMs)
      // A new blocking connection takes a moment to connect. While Redis is reachable, a pop that
      // must not block (timeout 0) still waits for it, up to CONNECT_GRACE_MS, rather than answer
      // "empty" about lists it never looked at (alarm's merge would then run a whole interval late).
      const readyBy = timeoutMs <= 0 && state === 'up' ? Date.now() + CONNECT_GRACE_MS : deadline
      const keys = lists.map((l) => prefix + l)
      const conn =
        blockingIdle.pop() ??
        new Redis(options.url, { ...redisOptions, connectionName: 'peregrine-queue-pop' }).on(
          'error',
          () => undefined
        )
      blockingBusy.add(conn)
      try {
        for (;;) {
          await waitReady(conn, Math.min(Math.max(deadline, readyBy) - Date.now(), 500))
          if (closed) return undefined
          const left = deadline - Date.now()
          if (conn.status === 'ready') {
            try {
              let reply: [string, string] | null = null
              if (left <= 0) {
                for (const key of keys) {
                  const payload = await conn.rpop(key)
                  if (payload !== null) {
                    reply = [key, payload]
                    break
                  }
                }
              } else {
                reply = await conn.brpop(...keys, left / 1000)
              }
              if (reply) {
                counts.popped++
                return { list: reply[0].slice(prefix.length), payload: reply[1] }
              }
            } catch (err) {
              if (closed) return undefined
              if (isReplyError(err)) throw err
              await sleep(Math.min(100, Math.max(0, deadline - Date.now())))
            }
          }
          if (Date.now() >= (conn.status === 'ready' ? deadline : readyBy)) return undefined
        }
      } finally {
        blockingBusy.delete(conn)
        if (closed) conn.disconnect()
        else blockingIdle.push(conn)
      }
    },

    async length(list) {
      if (state !== 'up') throw new Error(`queue: Redis at ${where} is unreachable (${lastError})`)
      return cmd.llen(prefix + list)
    },

    stats: (): QueueStats => ({ ...counts, backlog: backlog() }),

    async close() {
      if (closed) return
      // Deliver what Redis can take now, then keep the rest on disk, oldest first.
      while (state === 'up' && buffer.size > 0) {
        kick()
        await flushing
      }
      closed = true
      stopFlush = true
      for (const conn of [...blockingIdle, ...blockingBusy]) conn.disconnect()
      await flushing
      await writer
      const rest = buffer.take()
      if (rest.length > 0) {
        await withLock(async () => {
          const tmp = await open(spillPath + '.tmp', 'w')
          try {
            await tmp.write(rest.map((it) => line(it.list, it.payload)).join(''))
            const old = await open(spillPath, 'r').catch(() => undefined)
            if (old) {
              const buf = Buffer.alloc(1 << 20)
              for (
                let pos = spillOffset, n;
                (n = (await old.read(buf, 0, buf.length, pos)).bytesRead) > 0;
                pos += n
              ) {
                await tmp.write(buf.subarray(0, n))
              }
              await old.close()
            }
            await tmp.datasync()
          } finally {
            await tmp.close()
          }
          await spillFd?.close()
          spillFd = undefined
          await rename(spillPath + '.tmp', spillPath)
          await syncDir()
        })
        for (const item of rest) settle(item, true)
        log.info(`queue: kept ${rest.length} items Redis did not take in ${spillPath}`)
      } else {
        await spillFd?.close()
        spillFd = undefined
      }
      cmd.disconnect()
    },
  }
}
