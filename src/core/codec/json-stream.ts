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
 * come out whole. `push` calls `onValue` with each value's text; the caller parses it. Each byte is
 * scanned once, and the pieces of an unfinished value are kept as they came and joined once when it
 * ends, so a large value arriving in many small packets costs time in proportion to its size.
 */
export class JsonStreamDecoder {
  readonly maxValueBytes: number
  #pieces: Buffer[] = []
  #held = 0
  #depth = 0
  #inString = false
  // A chunk ended inside a string after an odd run of backslashes: the next byte is escaped.
  #escapeNext = false
  #offset = 0

  constructor(maxValueBytes = 64 << 20) {
    this.maxValueBytes = maxValueBytes
  }

  /** buffered is how many bytes of an unfinished value are held. */
  get buffered(): number {
    return this.#held
  }

  /** push scans `chunk`, calling `onValue` for each complete value. Throws JsonFrameError on garbage. */
  push(chunk: Buffer, onValue: (text: string) => void): void {
    const len = chunk.length
    let depth = this.#depth
    let inString = this.#inString
    // Where the current value starts in this chunk (0 when it began in an earlier one), or -1.
    let start = depth > 0 ? 0 : -1
    let i = 0
    if (inString && this.#escapeNext && len > 0) {
      this.#escapeNext = false
      i = 1
    }
    for (; i < len; i++) {
      const c = chunk[i]
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
        // strings. A quote after an odd run of backslashes is escaped; runs are counted within this
        // chunk only, as an odd run at the end of the previous chunk was handled by #escapeNext.
        const from = i
        let q = i
        for (;;) {
          q = chunk.indexOf(QUOTE, q)
          if (q < 0) break
          let k = 0
          while (q - 1 - k >= from && chunk[q - 1 - k] === BACKSLASH) k++
          if ((k & 1) === 0) break
          q++
        }
        if (q < 0) {
          let k = 0
          while (len - 1 - k >= from && chunk[len - 1 - k] === BACKSLASH) k++
          this.#escapeNext = (k & 1) === 1
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
          let text: string
          if (this.#pieces.length === 0) text = chunk.toString('utf8', start, i + 1)
          else {
            this.#pieces.push(chunk.subarray(0, i + 1))
            text = Buffer.concat(this.#pieces).toString('utf8')
            this.#pieces = []
            this.#held = 0
          }
          onValue(text)
          start = -1
        }
      }
    }
    this.#depth = depth
    this.#inString = inString
    this.#offset += len
    if (depth > 0) {
      // Keep the unfinished value's bytes of this chunk (copied: the socket may reuse its buffer).
      const part = Buffer.from(chunk.subarray(start < 0 ? 0 : start))
      this.#pieces.push(part)
      this.#held += part.length
      if (this.#held > this.maxValueBytes) {
        throw new JsonFrameError(
          `a request of more than ${this.maxValueBytes} bytes; send smaller batches`
        )
      }
    }
  }
}
