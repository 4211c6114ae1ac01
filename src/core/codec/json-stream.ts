// Framing for a stream of JSON values sent back to back, as Go's json.Encoder writes them (net/rpc/jsonrpc).

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

/** JsonFrameError is a stream that is not a sequence of JSON objects; the connection cannot go on. */
export class JsonFrameError extends Error {
  override readonly name = 'JsonFrameError'
}

/**
 * JsonStreamDecoder cuts a byte stream into top-level JSON objects (or arrays) without parsing them: it
 * tracks nesting and strings only, so a value split across TCP packets, or many values in one packet,
 * come out whole. `push` calls `onValue` with each value's text; the caller parses it. Scanning resumes
 * where it stopped, so a large value arriving in many packets is scanned once.
 */
export class JsonStreamDecoder {
  readonly maxValueBytes: number
  #buf: Buffer = Buffer.alloc(0)
  #pos = 0
  #start = -1
  #depth = 0
  #inString = false
  #offset = 0

  constructor(maxValueBytes = 64 << 20) {
    this.maxValueBytes = maxValueBytes
  }

  /** buffered is how many bytes of an unfinished value are held. */
  get buffered(): number {
    return this.#start < 0 ? 0 : this.#buf.length - this.#start
  }

  /** push scans `chunk`, calling `onValue` for each complete value. Throws JsonFrameError on garbage. */
  push(chunk: Buffer, onValue: (text: string) => void): void {
    if (this.#start < 0) {
      this.#offset += this.#buf.length
      this.#buf = chunk
      this.#pos = 0
    } else {
      // Keep only the unfinished value, then append: earlier values are gone already.
      const keep = this.#buf.subarray(this.#start)
      this.#offset += this.#start
      this.#pos -= this.#start
      this.#start = 0
      this.#buf = Buffer.concat([keep, chunk])
    }
    const buf = this.#buf
    const len = buf.length
    let depth = this.#depth
    let inString = this.#inString
    let start = this.#start
    let i = this.#pos
    for (; i < len; i++) {
      const c = buf[i]
      if (depth === 0) {
        if (c === WS_SPACE || c === WS_LF || c === WS_CR || c === WS_TAB) continue
        if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
          throw new JsonFrameError(
            `invalid character ${JSON.stringify(String.fromCharCode(c))} at byte ${this.#offset + i} looking for beginning of value`
          )
        }
        start = i
        depth = 1
        continue
      }
      if (inString) {
        // Jump to the string's closing quote with a native search: most bytes of a request are inside
        // strings. A quote preceded by an odd run of backslashes is escaped. The buffer still holds the
        // whole value, so the run can be counted even when it began in an earlier chunk.
        let q = i
        for (;;) {
          q = buf.indexOf(QUOTE, q)
          if (q < 0) break
          let k = 0
          while (buf[q - 1 - k] === BACKSLASH) k++
          if ((k & 1) === 0) break
          q++
        }
        if (q < 0) {
          i = len - 1
          continue
        }
        i = q
        inString = false
        continue
      }
      if (c === QUOTE) inString = true
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) {
          onValue(buf.toString('utf8', start, i + 1))
          start = -1
        }
      }
    }
    this.#pos = i
    this.#depth = depth
    this.#inString = inString
    this.#start = start
    if (start >= 0 && len - start > this.maxValueBytes) {
      throw new JsonFrameError(
        `a request of more than ${this.maxValueBytes} bytes; send smaller batches`
      )
    }
  }
}
