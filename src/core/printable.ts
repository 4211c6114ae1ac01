// Quoting what a client sent in the message it gets back: short, and printable whatever the bytes were.

/** PRINTABLE_MAX: the most characters `printable` returns by default, `…` included. */
export const PRINTABLE_MAX = 200

// What a terminal or log viewer would not show as itself: controls (C0, DEL, C1), format characters
// (bidi overrides, zero widths, BOM), lone surrogates, private use, unassigned code points, line and
// paragraph separators, and U+FFFD, which stands for bytes that were not UTF-8 (a gzip body read as
// text).
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\uFFFD]/u

/**
 * printable returns `text` with every character that would not print as itself escaped (`\x1f`,
 * `\ufffd`, `\u{e0001}`), cut to at most `max` characters with a trailing `…` when longer. Only the
 * characters kept are read, so a long input costs no more than a short one. Backslashes already in
 * `text` are left as they are: this is for people reading a message, not a reversible encoding.
 */
export function printable(text: string, max = PRINTABLE_MAX): string {
  let out = ''
  // Where `…` goes if the rest does not fit: after the last character that leaves room for it.
  let cut = -1
  for (const ch of text) {
    const shown = NON_PRINTABLE.test(ch) ? escaped(ch.codePointAt(0) ?? 0) : ch
    if (out.length + shown.length > max) return out.slice(0, cut) + '…'
    if (cut < 0 && out.length + shown.length > max - 1) cut = out.length
    out += shown
  }
  return out
}

function escaped(cp: number): string {
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`
  return `\\u{${cp.toString(16)}}`
}
