// Falcon's line socket (modules/transfer/receiver/socket): `update <endpoint> <metric> <ts> <value>
// [type] [step]` lines, `quit` to end, nothing answered. Read as the lines arrive, in bounded batches.
import type { Server, Socket } from 'node:net'
import {
  type ConnectionLimits,
  createLimitedTcpServer,
  type ListenerStats,
  type Logger,
  watchConnection,
} from '../core/index.js'

/** LineSocketCounters are the socket's figures on /counter/all. */
export interface LineSocketCounters {
  /** socketConnections: connections accepted since start. */
  socketConnections: number
  /** socketLines: lines read. */
  socketLines: number
  /** socketLinesTooLong: lines longer than `maxLineBytes`, each of which closed its connection. */
  socketLinesTooLong: number
}

export interface LineSocketOptions {
  /** name: the component, in log lines and the setting they name (`transfer`, `gateway`). */
  name: string
  /** receive validates, routes and counts a batch (the component's one path for every receiver). */
  receive(items: unknown[]): Promise<unknown>
  /** batch: most points held per connection; a full batch is routed before the connection is read on. */
  batch: number
  /** maxLineBytes: a longer line closes its connection (what came before it is routed). */
  maxLineBytes: number
  limits: ConnectionLimits
  stats: ListenerStats
  counters: LineSocketCounters
  log: Logger
}

const NEWLINE = 0x0a
const QUIT = Symbol('quit')

// One line as falcon's socket receiver reads it: an item, QUIT, or null for a line it skips (the
// item's own fields are checked with every other push, by core's validateBatch).
function parseLine(line: string): Record<string, unknown> | typeof QUIT | null {
  const f = line.trim().split(/\s+/)
  if (f[0] === 'quit') return QUIT
  if (f[0] !== 'update' || f.length < 5) return null
  return {
    endpoint: f[1],
    metric: f[2],
    timestamp: Number(f[3]),
    value: f[4],
    counterType: f[5] ?? 'COUNTER',
    step: f[6] === undefined ? 60 : Number(f[6].split(':').pop()),
    tags: '',
  }
}

/**
 * serveLineSocket returns the line socket's server. Each connection's points are routed in batches of
 * up to `batch` as the lines arrive (falcon routes them when the connection closes), and the
 * connection is not read while its batch is being routed, so it holds at most one batch and one
 * unfinished line of up to `maxLineBytes`. `closeAll()` stops every connection and resolves once what
 * they had is routed.
 */
export function serveLineSocket(o: LineSocketOptions): Server & { closeAll(): Promise<void> } {
  const conns = new Set<{ end(): Promise<void> }>()
  const server = createLimitedTcpServer(o.limits, o.stats, (conn: Socket) => {
    o.counters.socketConnections++
    const watch = watchConnection(conn, o.limits, o.stats)
    let items: unknown[] = []
    // The unfinished line's pieces (copied: they outlive the chunk).
    let pieces: Buffer[] = []
    let held = 0
    let ended = false
    let sawLine = false
    let routing: Promise<void> = Promise.resolve()

    const route = (): Promise<void> => {
      if (items.length === 0) return routing
      const batch = items
      items = []
      const p = routing
        .then(() => o.receive(batch))
        .then(
          () => undefined,
          (err: Error) => o.log.warn(`${o.name} socket: ${err.message}`)
        )
      routing = p
      return p
    }
    const line = (text: string): boolean => {
      sawLine = true
      o.counters.socketLines++
      const item = parseLine(text)
      if (item === QUIT) return false
      if (item !== null) items.push(item)
      return true
    }
    // Reads lines from chunk[at..] until the chunk is done, a batch is full or the connection ends;
    // returns where it stopped.
    const consume = (chunk: Buffer, at: number): number => {
      while (at < chunk.length && !ended && items.length < o.batch) {
        const nl = chunk.indexOf(NEWLINE, at)
        const end = nl < 0 ? chunk.length : nl
        if (held + end - at > o.maxLineBytes) {
          o.counters.socketLinesTooLong++
          o.log.warn(
            `${o.name} socket: a line from ${conn.remoteAddress} is longer than ${o.maxLineBytes} bytes (${o.name}.maxLineBytes); connection closed`
          )
          ended = true
          conn.destroy()
          break
        }
        if (nl < 0) {
          const part = Buffer.from(chunk.subarray(at))
          pieces.push(part)
          held += part.length
          return chunk.length
        }
        let text: string
        if (pieces.length === 0) text = chunk.toString('utf8', at, nl)
        else {
          pieces.push(chunk.subarray(at, nl))
          text = Buffer.concat(pieces).toString('utf8')
          pieces = []
          held = 0
        }
        at = nl + 1
        if (!line(text)) {
          ended = true
          conn.end()
        }
      }
      return at
    }
    // Once the connection is over: what it had is routed once, and closeAll() can wait for that.
    let finished: Promise<void> | null = null
    let markDone = () => {}
    const done = new Promise<void>((r) => (markDone = r))
    const finish = (): Promise<void> => {
      ended = true
      if (finished === null) {
        finished = route()
        void finished.then(markDone)
      }
      return finished
    }
    // The peer's end may come while a chunk is still being read (its lines waiting on a batch).
    let reading = false
    let eof = false
    const atEnd = () => {
      // A last line without a newline still counts, as it did with readline.
      if (!ended && held > 0) line(Buffer.concat(pieces).toString('utf8'))
      void finish()
    }
    const onData = async (chunk: Buffer): Promise<void> => {
      reading = true
      let at = 0
      for (;;) {
        sawLine = false
        at = consume(chunk, at)
        watch.received(sawLine, held > 0)
        if (ended || items.length < o.batch) break
        // A full batch: stop reading until graph has it (a slow graph slows the sender, not memory).
        conn.pause()
        watch.paused(true)
        await route()
        watch.paused(false)
      }
      reading = false
      // The peer may have ended or gone while lines of this chunk waited: they count all the same.
      if (ended) await finish()
      else if (eof || conn.destroyed) atEnd()
      else conn.resume()
    }
    const handle = {
      end: () => {
        conn.destroy()
        return done
      },
    }
    conns.add(handle)
    conn.on('data', (chunk: Buffer) => void onData(chunk))
    conn.on('end', () => {
      eof = true
      if (!reading) atEnd()
    })
    conn.on('close', () => {
      conns.delete(handle)
      if (!reading) atEnd()
    })
    conn.on('error', () => undefined)
  })
  return Object.assign(server, {
    async closeAll() {
      await Promise.all([...conns].map((c) => c.end()))
    },
  })
}
