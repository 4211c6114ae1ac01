// JSON.parse of UTF-8 bytes, fast for the shape every push has: a large array of objects.

/**
 * PIECE_BYTES: the size of the pieces a large array is parsed in. V8 makes a string of more than
 * 128 KiB in its large-object space, where creating it (and parsing it) costs several times more
 * per byte than a string under that size: a 140 KB push of 1,000 MetricValues parsed as ~64 KB
 * pieces goes ~1.7× as fast as parsed whole (bench/README.md, "parsing a push").
 */
const PIECE_BYTES = 64 << 10

const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const BETWEEN_ITEMS = Buffer.from('},{')

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/**
 * parseJsonBytes returns JSON.parse of `bytes` read as UTF-8, and throws what JSON.parse throws. An
 * array (at the top, or as the argument of a JSON-RPC request laid out as Go writes it,
 * `{"method":"M","params":[<array>],"id":N}`) of one and a half `pieceBytes` or more is parsed in
 * pieces of about `pieceBytes` (PIECE_BYTES unless a test says), each cut just after an item's closing `}` where the next item opens at once
 * (`},{`), each parsed as an array of its own and the items joined. A cut anywhere else (inside a
 * string, inside a nested array) leaves a piece that is not JSON, as does anything else wrong with the
 * input: then the whole is parsed once more, so the value or the error is always JSON.parse's own.
 * Cuts fall on ASCII bytes, so every piece is whole UTF-8.
 */
export function parseJsonBytes(bytes: Buffer, pieceBytes = PIECE_BYTES): unknown {
  // Under one and a half pieces, pieces would gain nothing.
  if (bytes.length >= pieceBytes + (pieceBytes >> 1)) {
    const fast = parseLarge(bytes, pieceBytes)
    if (fast !== undefined) return fast
  }
  return JSON.parse(bytes.toString('utf8'))
}

// parseLarge returns the value, or undefined when the input is not one of the two shapes or a piece
// did not parse (the caller then parses the whole).
function parseLarge(bytes: Buffer, pieceBytes: number): unknown {
  let first = 0
  let last = bytes.length - 1
  while (first <= last && isSpace(bytes[first])) first++
  while (last >= first && isSpace(bytes[last])) last--
  if (last - first < 2) return undefined
  if (bytes[first] === OPEN_BRACKET && bytes[last] === CLOSE_BRACKET) {
    return parseArrayInPieces(bytes, first, last, pieceBytes)
  }
  return parseRpcInPieces(bytes, first, last, pieceBytes)
}

// The head and tail of a JSON-RPC request as Go's client writes it; the method name is plain ASCII,
// so the head holds no escape and no quote but its own.
const RPC_HEAD = /^\{"method":"[A-Za-z0-9_.]{1,64}","params":\[/
const RPC_TAIL = /\],"id":\d{1,20}\}$/

function parseRpcInPieces(bytes: Buffer, first: number, last: number, pieceBytes: number): unknown {
  const head = RPC_HEAD.exec(bytes.toString('latin1', first, Math.min(last + 1, first + 96)))
  if (head === null) return undefined
  const tailFrom = Math.max(first + head[0].length, last + 1 - 32)
  const tail = RPC_TAIL.exec(bytes.toString('latin1', tailFrom, last + 1))
  if (tail === null) return undefined
  const argFirst = first + head[0].length
  const argLast = tailFrom + tail.index - 1
  if (argLast - argFirst < 2 || bytes[argFirst] !== OPEN_BRACKET) return undefined
  if (bytes[argLast] !== CLOSE_BRACKET) return undefined
  const arg = parseArrayInPieces(bytes, argFirst, argLast, pieceBytes)
  if (arg === undefined) return undefined
  // head + null + tail is the request with its argument left out: method and id as they came.
  let request: { params: unknown[] }
  try {
    request = JSON.parse(`${head[0]}null${tail[0]}`) as { params: unknown[] }
  } catch {
    return undefined
  }
  request.params[0] = arg
  return request
}

// parseArrayInPieces parses the array from `open` (its `[`) to `close` (its `]`).
function parseArrayInPieces(
  bytes: Buffer,
  open: number,
  close: number,
  pieceBytes: number
): unknown[] | undefined {
  let items: unknown[] | null = null
  // Each piece runs from `from` (the byte after a `[` or a `,`) to `cut` (a `}` or the array's end).
  let from = open + 1
  while (from < close) {
    let cut = close
    if (close - from > pieceBytes + (pieceBytes >> 1)) {
      const at = bytes.indexOf(BETWEEN_ITEMS, from + pieceBytes)
      if (at >= 0 && at + 2 < close) cut = at + 1
    }
    let part: unknown[]
    try {
      part = JSON.parse(`[${bytes.toString('utf8', from, cut)}]`) as unknown[]
    } catch {
      return undefined
    }
    if (items === null) items = part
    else for (let i = 0; i < part.length; i++) items.push(part[i])
    // Past the `,` after the cut `}`.
    from = cut + 1
  }
  return items ?? []
}
