// Framing for a stream of JSON values sent back to back, as Go's json.Encoder writes them (net/rpc/jsonrpc).
import { parseJsonBytes } from './json-bytes.js'

const WS_SPACE = 0x20
const WS_TAB = 0x09
const WS_LF = 0x0a
const WS_CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d

/** JsonFrameError is a stream that is not a sequence of JSON values; the connection cannot go on. */
export class JsonFrameError extends Error {
  override readonly name: string = 'JsonFrameError'
}

/**
 * JsonSyntaxError is a value framed whole (its braces balance) that JSON.parse refuses; `message` is
 * the parser's. The values before it in the stream were delivered.
 */
export class JsonSyntaxError extends JsonFrameError {
  override readonly name = 'JsonSyntaxError'
}

/**
 * OnValue receives each value parsed, with its bytes (UTF-8 JSON, for a relay that forwards part of it
 * as is). The bytes are the caller's to keep: they are not reused by the decoder.
 */
export type OnValue = (value: unknown, bytes: Buffer) => void

/**
 * CUT_SHORT_MAX_BYTES: past this size, a value that a read ending in `}` cut short is scanned from
 * then on rather than parsed again at the next such read (they come about once in a hundred reads: a
 * large value would be parsed in vain many times over). A value of any size that ends with a newline
 * before such a read is still parsed once, the cheap way.
 */
const CUT_SHORT_MAX_BYTES = 1 << 20

// cutShort tells whether JSON.parse failed at the end of `text` (V8's messages: the end reached, or a
// position at or past the last byte that is not whitespace), not on a byte in it.
function cutShort(err: unknown, text: string): boolean {
  const message = (err as Error).message
  if (message.startsWith('Unexpected end of JSON input')) return true
  // At the end of the message: V8 quotes the start of the input in some messages.
  const at = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message)
  return at !== null && Number(at[1]) >= text.trimEnd().length
}

function isSpace(c: number): boolean {
  return c === WS_SPACE || c === WS_LF || c === WS_CR || c === WS_TAB
}

/**
 * JsonStreamDecoder cuts a byte stream into top-level JSON objects (or arrays) and parses each, so a
 * value split across TCP packets, or many values in one packet, come out whole.
 *
 * Two ways to find where a value ends. The cheap one first: Go's encoder (and Peregrine's client)
 * ends each value with a newline, and a read usually ends at a value's end, so at a newline or at the
 * end of a read whose last byte that is not whitespace closes an object or array, the bytes so far
 * are given to JSON.parse, which a caller needs anyway. A parse that fails at the end of its input
 * (a read ending just after a nested `}`, a pretty-printed line) waits for more, as long as such
 * failures cost less than the value; any other failure (several values with no newline between, not
 * JSON) hands over to the exact way until that value ends: a scan that tracks nesting and strings
 * only, byte by byte, which costs about as much as the parse again. A value followed in the same read by part of
 * the next one, with no newline between, is delivered when that next one ends (no client waits for
 * an answer in the middle of writing its next request).
 *
 * Each byte is looked at a bounded number of times, and the pieces of an unfinished value are kept as
 * they came and joined once when it ends, so a large value arriving in many small packets costs time
 * in proportion to its size.
 */
export class JsonStreamDecoder {
  readonly maxValueBytes: number
  #pieces: Buffer[] = []
  #held = 0
  // The last byte of the held bytes that is not whitespace (0 when none).
  #heldLast = 0
  // Bytes of the unfinished value in the last parse that failed because it was cut short.
  #tried = 0
  #parsedInVain = 0
  // True while the scanner's state below describes the held bytes; false when they are held unscanned.
  #scanning = false
  #depth = 0
  #inString = false
  // A chunk ended inside a string after an odd run of backslashes: the next byte is escaped.
  #escapeNext = false
  // The stream offset of the chunk being pushed, for messages.
  #offset = 0

  constructor(maxValueBytes = 64 << 20) {
    this.maxValueBytes = maxValueBytes
  }

  /** parsedInVain: bytes given to JSON.parse in attempts that failed because a value was cut short. */
  get parsedInVain(): number {
    return this.#parsedInVain
  }

  /** buffered is how many bytes of an unfinished value are held. */
  get buffered(): number {
    return this.#held
  }

  /**
   * unscanned tells whether bytes are held that no scan has looked at: a complete value may be among
   * them, followed by something that is not (`{…}xyz`), waiting for a newline or a closing brace
   * that may never come. `settle` looks.
   */
  get unscanned(): boolean {
    return !this.#scanning && this.#held > 0
  }

  /**
   * settle scans the bytes held unscanned, calling `onValue` for each complete value among them and
   * throwing as `push` on bytes that are not JSON. A reader calls it when the stream pauses with
   * `unscanned` bytes, so that a value followed by garbage is answered (then the garbage refused).
   */
  settle(onValue: OnValue): void {
    if (this.unscanned) this.#fallBack(Buffer.alloc(0), 0, onValue)
  }

  /**
   * push takes the next bytes of the stream, calling `onValue` for each complete value. Throws
   * JsonFrameError on bytes that do not frame as JSON values (JsonSyntaxError for one that frames but
   * does not parse), or past `maxValueBytes`; the stream cannot go on after a throw.
   */
  push(chunk: Buffer, onValue: OnValue): void {
    try {
      if (this.#scanning) this.#scan(chunk, this.#offset, onValue)
      else this.#cheap(chunk, onValue)
    } finally {
      this.#offset += chunk.length
    }
  }

  #cheap(chunk: Buffer, onValue: OnValue): void {
    const len = chunk.length
    // The value's first byte in this chunk (0 when it began in an earlier one).
    let start = 0
    for (;;) {
      if (this.#held === 0) {
        // Between values: skip whitespace; a value begins with { or [ (the scanner names anything else).
        while (start < len && isSpace(chunk[start])) start++
        if (start === len) return
        const c = chunk[start]
        if (c !== OPEN_BRACE && c !== OPEN_BRACKET) return this.#fallBack(chunk, start, onValue)
      }
      // Where to look for the next candidate end, and the last byte not whitespace before that.
      let from = start
      let last = this.#heldLast
      for (;;) {
        const lf = chunk.indexOf(WS_LF, from)
        const end = lf < 0 ? len : lf
        let k = end - 1
        while (k >= from && isSpace(chunk[k])) k--
        if (k >= from) last = chunk[k]
        if (last === CLOSE_BRACE || last === CLOSE_BRACKET) {
          const bytes =
            this.#held === 0
              ? chunk.subarray(start, end)
              : Buffer.concat([...this.#pieces, chunk.subarray(start, end)])
          let value: unknown
          try {
            value = parseJsonBytes(bytes)
          } catch (err) {
            // Cut short (a read ended after a nested `}`, a pretty-printed line): wait for more the
            // cheap way while the failed parses cost less than the value (each on at least twice the
            // bytes of the one before); anything else is for the scanner to tell.
            const size = this.#held + (end - start)
            if (
              size < 2 * this.#tried ||
              (lf < 0 && size > CUT_SHORT_MAX_BYTES) ||
              !cutShort(err, bytes.toString('utf8'))
            ) {
              return this.#fallBack(chunk, start, onValue)
            }
            this.#tried = size
            this.#parsedInVain += size
            if (lf < 0) {
              this.#hold(chunk.subarray(start), last)
              return
            }
            from = lf + 1
            continue
          }
          this.#release()
          onValue(value, bytes)
          start = end
          break
        }
        if (lf < 0) {
          this.#hold(chunk.subarray(start), last)
          return
        }
        // A newline inside the value: look at the next one.
        from = lf + 1
      }
    }
  }

  // The scanner takes over at `start` of `chunk`, with the bytes held before it.
  #fallBack(chunk: Buffer, start: number, onValue: OnValue): void {
    const rest = chunk.subarray(start)
    const base = this.#offset + start - this.#held
    const buf = this.#held === 0 ? rest : Buffer.concat([...this.#pieces, rest])
    this.#release()
    this.#scanning = true
    this.#depth = 0
    this.#inString = false
    this.#escapeNext = false
    this.#scan(buf, base, onValue)
  }

  #release(): void {
    if (this.#held > 0) {
      this.#pieces = []
      this.#held = 0
    }
    this.#heldLast = 0
    this.#tried = 0
  }

  // Keeps the unfinished value's bytes (copied: the socket may reuse its buffer).
  #hold(bytes: Buffer, last: number): void {
    const part = Buffer.from(bytes)
    this.#pieces.push(part)
    this.#held += part.length
    this.#heldLast = last
    if (this.#held > this.maxValueBytes) {
      throw new JsonFrameError(
        `a request of more than ${this.maxValueBytes} bytes; send smaller batches`
      )
    }
  }

  // The exact way: nesting and strings tracked byte by byte. `base` is buf[0]'s stream offset.
  #scan(buf: Buffer, base: number, onValue: OnValue): void {
    const len = buf.length
    let depth = this.#depth
    let inString = this.#inString
    // Where the current value starts in buf (0 when it began in an earlier chunk), or -1.
    let start = depth > 0 ? 0 : -1
    let i = 0
    if (inString && this.#escapeNext && len > 0) {
      this.#escapeNext = false
      i = 1
    }
    while (i < len) {
      if (inString) {
        // To the string's closing quote; a backslash escapes the byte after it.
        let c = buf[i]
        while (c !== QUOTE && c !== BACKSLASH) {
          if (++i === len) break
          c = buf[i]
        }
        if (i === len) break
        if (c === BACKSLASH) {
          if (i + 1 === len) {
            this.#escapeNext = true
            break
          }
          i += 2
          continue
        }
        inString = false
        i++
        continue
      }
      const c = buf[i]
      if (depth === 0) {
        if (isSpace(c)) {
          i++
          continue
        }
        if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
          throw new JsonFrameError(
            `invalid character ${JSON.stringify(String.fromCharCode(c))} at byte ${base + i} looking for beginning of value`
          )
        }
        start = i
        depth = 1
        i++
        continue
      }
      if (c === QUOTE) inString = true
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) {
          let bytes: Buffer
          if (this.#pieces.length === 0) bytes = buf.subarray(start, i + 1)
          else {
            this.#pieces.push(buf.subarray(0, i + 1))
            bytes = Buffer.concat(this.#pieces)
            this.#pieces = []
            this.#held = 0
          }
          let value: unknown
          try {
            value = parseJsonBytes(bytes)
          } catch (err) {
            throw new JsonSyntaxError((err as Error).message)
          }
          onValue(value, bytes)
          start = -1
          // Between values the cheap way can go on, from the next chunk.
        }
      }
      i++
    }
    this.#depth = depth
    this.#inString = inString
    if (depth > 0) {
      // Keep the unfinished value's bytes of this chunk (copied: the socket may reuse its buffer).
      const part = Buffer.from(buf.subarray(start < 0 ? 0 : start))
      this.#pieces.push(part)
      this.#held += part.length
      if (this.#held > this.maxValueBytes) {
        throw new JsonFrameError(
          `a request of more than ${this.maxValueBytes} bytes; send smaller batches`
        )
      }
    } else this.#scanning = false
  }
}
