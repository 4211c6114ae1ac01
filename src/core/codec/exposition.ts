// The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0's text format, as exporters
// serve them at /metrics: parsed line by line into samples, with what Prometheus's own parsers
// refuse refused here too (a scrape that does not parse counts as failed: `up` 0).
import { parseGoFloat } from '../validate.js'

/** ExpositionFormat names the two formats: `text` (0.0.4) and `openmetrics` (1.0). */
export type ExpositionFormat = 'text' | 'openmetrics'

/** ExposedSample is one sample line: name, labels as written (pairs), value, and timestamp in ms. */
export interface ExposedSample {
  name: string
  labels: [string, string][]
  value: number
  /** timestamp: ms, or null when the line has none. */
  timestamp: number | null
}

/** Exposition is a parsed page: its samples in order, and the families' types, help and units. */
export interface Exposition {
  samples: ExposedSample[]
  types: Map<string, string>
  help: Map<string, string>
  units: Map<string, string>
  /** exemplars and created: what was read and not kept (OpenMetrics exemplars, `_created` series). */
  exemplars: number
  created: number
}

/** ExpositionError is a page that does not parse: `line` (from 1) and why. */
export class ExpositionError extends Error {
  constructor(
    readonly line: number,
    message: string
  ) {
    super(`line ${line}: ${message}`)
    this.name = 'ExpositionError'
  }
}

const TEXT_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const OM_TYPES = new Set([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'unknown',
])

/**
 * formatOf picks the parser for a response's Content-Type, as Prometheus does:
 * `application/openmetrics-text` is OpenMetrics, anything else the text format.
 */
export function formatOf(contentType: string | null | undefined): ExpositionFormat {
  return (contentType ?? '').trim().toLowerCase().startsWith('application/openmetrics-text')
    ? 'openmetrics'
    : 'text'
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a
}
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39)
}
function isLabelStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f
}
function isLabelChar(c: number): boolean {
  return isLabelStart(c) || (c >= 0x30 && c <= 0x39)
}

/** MAX_LINE_LABELS bounds the labels one line may carry (a page cannot make one sample huge). */
const MAX_LINE_LABELS = 1024

// One line's cursor.
class Line {
  pos = 0
  constructor(
    readonly s: string,
    readonly no: number
  ) {}
  fail(message: string): never {
    throw new ExpositionError(this.no, message)
  }
  blanks(): void {
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos)
      if (c !== 0x20 && c !== 0x09) break
      this.pos++
    }
  }
  name(labels: boolean): string {
    const from = this.pos
    const s = this.s
    if (from >= s.length || !(labels ? isLabelStart : isNameStart)(s.charCodeAt(from)))
      this.fail(`expected a ${labels ? 'label' : 'metric'} name at column ${from + 1}`)
    let i = from + 1
    while (i < s.length && (labels ? isLabelChar : isNameChar)(s.charCodeAt(i))) i++
    this.pos = i
    return s.slice(from, i)
  }
  // A double-quoted string with \\, \" and \n escapes (other escapes kept as written, as Prometheus).
  quoted(): string {
    const s = this.s
    if (s.charCodeAt(this.pos) !== 0x22) this.fail(`expected '"' at column ${this.pos + 1}`)
    let i = this.pos + 1
    let out = ''
    let from = i
    for (;;) {
      if (i >= s.length) this.fail('a quoted string runs to the end of the line')
      const c = s.charCodeAt(i)
      if (c === 0x22) break
      if (c === 0x5c) {
        out += s.slice(from, i)
        const e = s.charCodeAt(i + 1)
        if (e === 0x6e) out += '\n'
        else if (e === 0x5c) out += '\\'
        else if (e === 0x22) out += '"'
        else if (Number.isNaN(e)) this.fail('a quoted string ends in a backslash')
        else out += '\\' + s[i + 1]
        i += 2
        from = i
        continue
      }
      i++
    }
    out += s.slice(from, i)
    this.pos = i + 1
    return out
  }
  token(): string {
    const from = this.pos
    const s = this.s
    let i = from
    while (i < s.length) {
      const c = s.charCodeAt(i)
      if (c === 0x20 || c === 0x09) break
      i++
    }
    this.pos = i
    return s.slice(from, i)
  }
}

/**
 * ExpositionVisitor takes a page's samples as scanExposition reads them. A scraper sees the same
 * series lines page after page, so a line is first offered by its series text (name and labels as
 * written) with its value: the visitor that has seen that text before takes it as it is (`known`),
 * and only a text it has not is parsed in full and given to `sample`. This is Prometheus's scrape
 * cache: labels are parsed, relabelled and looked up once per series, not once per sample.
 */
export interface ExpositionVisitor {
  /** known takes the sample of a series text seen before, or returns false to have the line parsed. */
  known(series: string, value: number, timestamp: number | null): boolean
  /** sample takes a line parsed in full, or null for an OpenMetrics `_created` line (not kept). */
  sample(series: string, sample: ExposedSample | null): void
}

/** ExpositionInfo is what a scanned page said besides its samples. */
export type ExpositionInfo = Omit<Exposition, 'samples'>

/**
 * parseExposition parses a page in `format`, or throws an ExpositionError naming the first line that
 * does not parse: a malformed name, label or value, a label named twice on a line, a TYPE given
 * twice or of an unknown kind, an OpenMetrics page without its `# EOF`, or text after it.
 * OpenMetrics exemplars are read and dropped; its `_created` samples are counted and dropped (as
 * Prometheus 2.x does not keep them either); its timestamps (seconds) become ms.
 */
export function parseExposition(page: string, format: ExpositionFormat): Exposition {
  const samples: ExposedSample[] = []
  const info = scanExposition(page, format, {
    known: () => false,
    sample: (_series, sample) => {
      if (sample !== null) samples.push(sample)
    },
  })
  return { samples, ...info }
}

/**
 * scanExposition reads a page as parseExposition does, giving its samples to `visitor` (see
 * ExpositionVisitor); it throws an ExpositionError where parseExposition would.
 */
export function scanExposition(
  page: string,
  format: ExpositionFormat,
  visitor: ExpositionVisitor
): ExpositionInfo {
  const scanner = new ExpositionScanner(page, format, visitor)
  scanner.scan()
  return scanner.info
}

/**
 * ExpositionScanner reads a page a slice of lines at a time, so that a scraper can let the event loop
 * run between slices of a large page; otherwise as scanExposition.
 */
export class ExpositionScanner {
  readonly info: ExpositionInfo = {
    types: new Map(),
    help: new Map(),
    units: new Map(),
    exemplars: 0,
    created: 0,
  }
  #start = 0
  #no = 0
  #eof = false
  readonly #om: boolean
  readonly #fast: FastSample = { value: 0, timestamp: null, exemplar: false }

  constructor(
    readonly page: string,
    format: ExpositionFormat,
    readonly visitor: ExpositionVisitor
  ) {
    this.#om = format === 'openmetrics'
  }

  /** scan reads at most `lines` more lines; true once the whole page is read. */
  scan(lines = Infinity): boolean {
    const page = this.page
    const visitor = this.visitor
    const om = this.#om
    const out = this.info
    const fast = this.#fast
    const n = page.length
    let start = this.#start
    let no = this.#no
    let left = lines
    try {
      while (start < n) {
        if (left-- <= 0) return false
        let end = page.indexOf('\n', start)
        if (end < 0) end = n
        no++
        const lineStart = start
        start = end + 1
        if (!om && end > lineStart && page.charCodeAt(end - 1) === 0x0d) end--
        if (this.#eof) throw new ExpositionError(no, 'text after # EOF')
        const c0 = page.charCodeAt(lineStart)
        // The common line first: a series text, then its value, read without cutting out the line.
        if (end > lineStart && c0 !== 0x23 && c0 !== 0x20 && c0 !== 0x09) {
          const seriesEnd = seriesEndOf(page, lineStart, end)
          if (seriesEnd > lineStart && readValue(page, seriesEnd, end, om, fast)) {
            const series = page.slice(lineStart, seriesEnd)
            if (visitor.known(series, fast.value, fast.timestamp)) {
              if (fast.exemplar) out.exemplars++
              continue
            }
            const sample = sampleLine(new Line(page.slice(lineStart, end), no), om, out)
            visitor.sample(series, sample)
            continue
          }
        }
        const text = page.slice(lineStart, end)
        if (text === '' || (!om && text.trim() === '')) {
          if (om && start <= n)
            throw new ExpositionError(no, 'an empty line (OpenMetrics has none)')
          continue
        }
        if (text.charCodeAt(0) === 0x23) {
          if (om && text === '# EOF') {
            this.#eof = true
            continue
          }
          comment(new Line(text, no), om, out)
          continue
        }
        // A line the quick reading could not take: read in full, which says what is wrong with it.
        const sample = sampleLine(new Line(text, no), om, out)
        const e = seriesEndOf(text, 0, text.length)
        visitor.sample(e < 0 ? text : text.slice(0, e), sample)
      }
    } finally {
      this.#start = start
      this.#no = no
    }
    if (om && !this.#eof) throw new ExpositionError(no, 'an OpenMetrics page must end with # EOF')
    return true
  }
}

interface FastSample {
  value: number
  timestamp: number | null
  /** exemplar: an OpenMetrics exemplar follows (read past, not kept). */
  exemplar: boolean
}

// Where a line's series text (name, then labels in braces if any) ends, or -1 when it runs to the
// end of the line (the full reading then says why).
function seriesEndOf(s: string, from: number, end: number): number {
  let i = from
  while (i < end) {
    const c = s.charCodeAt(i)
    if (c === 0x7b || c === 0x20 || c === 0x09) break
    i++
  }
  let j = i
  while (j < end && (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09)) j++
  if (j >= end || s.charCodeAt(j) !== 0x7b) return i < end ? i : -1
  let quoted = false
  for (j++; j < end; j++) {
    const c = s.charCodeAt(j)
    if (quoted) {
      if (c === 0x5c) j++
      else if (c === 0x22) quoted = false
    } else if (c === 0x22) quoted = true
    else if (c === 0x7d) return j + 1
  }
  return -1
}

// Reads the value and timestamp after a series text, the way sampleLine does, into `out`; false for
// anything it does not expect (sampleLine then reads the line and names the fault).
function readValue(s: string, from: number, end: number, om: boolean, out: FastSample): boolean {
  let i = from
  while (i < end && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++
  if (i === from || i >= end) return false
  let j = i
  while (j < end && s.charCodeAt(j) !== 0x20 && s.charCodeAt(j) !== 0x09) j++
  const value = parseGoFloat(s.slice(i, j))
  if (value === undefined) return false
  out.value = value
  out.timestamp = null
  out.exemplar = false
  while (j < end && (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09)) j++
  if (j >= end) return true
  if (om && s.charCodeAt(j) === 0x23) return (out.exemplar = true)
  let k = j
  while (k < end && s.charCodeAt(k) !== 0x20 && s.charCodeAt(k) !== 0x09) k++
  const ts = s.slice(j, k)
  while (k < end && (s.charCodeAt(k) === 0x20 || s.charCodeAt(k) === 0x09)) k++
  if (om && k < end && s.charCodeAt(k) === 0x23) out.exemplar = true
  else if (k < end) return false
  if (om) {
    const secs = parseGoFloat(ts)
    if (secs === undefined || !Number.isFinite(secs)) return false
    out.timestamp = Math.round(secs * 1000)
  } else {
    if (!/^-?\d+$/.test(ts)) return false
    const ms = Number(ts)
    if (!Number.isSafeInteger(ms)) return false
    out.timestamp = ms
  }
  return true
}

function comment(l: Line, om: boolean, out: ExpositionInfo): void {
  l.pos = 1
  l.blanks()
  const keyword = l.token()
  if (keyword !== 'HELP' && keyword !== 'TYPE' && keyword !== 'UNIT') {
    if (om) l.fail(`unknown comment # ${keyword.slice(0, 20)}`)
    return
  }
  if (keyword === 'UNIT' && !om) return
  l.blanks()
  const name = l.name(false)
  const rest = l.s.slice(l.pos).replace(/^[ \t]+/, '')
  if (keyword === 'TYPE') {
    const type = rest.trim()
    if (!(om ? OM_TYPES : TEXT_TYPES).has(type))
      l.fail(`unknown metric type ${JSON.stringify(type)}`)
    if (out.types.has(name)) l.fail(`a second TYPE for ${name}`)
    out.types.set(name, type)
  } else if (keyword === 'HELP') {
    out.help.set(name, rest.replaceAll('\\n', '\n').replaceAll('\\\\', '\\'))
  } else out.units.set(name, rest.trim())
}

function sampleLine(l: Line, om: boolean, out: ExpositionInfo): ExposedSample | null {
  let name = ''
  if (l.s.charCodeAt(0) !== 0x7b) name = l.name(false)
  const labels: [string, string][] = []
  const afterName = l.pos
  l.blanks()
  let sep = l.pos > afterName ? afterName : -1
  if (l.s.charCodeAt(l.pos) === 0x7b) {
    l.pos++
    for (;;) {
      l.blanks()
      if (l.s.charCodeAt(l.pos) === 0x7d) {
        l.pos++
        break
      }
      let label: string
      if (l.s.charCodeAt(l.pos) === 0x22) {
        // Prometheus 3's quoted names: `{"my.metric", "a.label"="v"}`.
        label = l.quoted()
        l.blanks()
        if (l.s.charCodeAt(l.pos) !== 0x3d) {
          if (name !== '') l.fail('a second metric name in the braces')
          name = label
          l.blanks()
          const c = l.s.charCodeAt(l.pos)
          if (c === 0x2c) l.pos++
          else if (c !== 0x7d) l.fail(`expected ',' or '}' at column ${l.pos + 1}`)
          continue
        }
      } else label = l.name(true)
      l.blanks()
      if (l.s.charCodeAt(l.pos) !== 0x3d) l.fail(`expected '=' after label ${label}`)
      l.pos++
      l.blanks()
      const value = l.quoted()
      for (const [k] of labels) if (k === label) l.fail(`label ${label} given twice`)
      if (labels.length >= MAX_LINE_LABELS) l.fail(`more than ${MAX_LINE_LABELS} labels`)
      labels.push([label, value])
      l.blanks()
      const c = l.s.charCodeAt(l.pos)
      if (c === 0x2c) l.pos++
      else if (c !== 0x7d) l.fail(`expected ',' or '}' at column ${l.pos + 1}`)
    }
  }
  if (name === '') l.fail('a sample without a metric name')
  if (sep < 0 || l.s.charCodeAt(l.pos - 1) === 0x7d) {
    sep = l.pos
    l.blanks()
  }
  if (l.pos === sep) l.fail(`expected a space before the value of ${name}`)
  const valueText = l.token()
  const value = parseGoFloat(valueText)
  if (value === undefined || valueText === '')
    l.fail(`${JSON.stringify(valueText.slice(0, 40))} is not a value`)
  let timestamp: number | null = null
  l.blanks()
  if (l.pos < l.s.length && l.s.charCodeAt(l.pos) !== 0x23) {
    const ts = l.token()
    if (om) {
      const secs = parseGoFloat(ts)
      if (secs === undefined || !Number.isFinite(secs))
        l.fail(`${JSON.stringify(ts)} is not a timestamp`)
      timestamp = Math.round(secs * 1000)
    } else {
      if (!/^-?\d+$/.test(ts))
        l.fail(`${JSON.stringify(ts.slice(0, 40))} is not a timestamp (integer ms)`)
      timestamp = Number(ts)
      if (!Number.isSafeInteger(timestamp)) l.fail(`timestamp ${ts} is out of range`)
    }
    l.blanks()
  }
  if (l.pos < l.s.length) {
    if (om && l.s.charCodeAt(l.pos) === 0x23) out.exemplars++
    else if (!om) l.fail(`text after the sample of ${name}`)
    else l.fail(`text after the sample of ${name}`)
  }
  if (om && name.endsWith('_created')) {
    const family = name.slice(0, -'_created'.length)
    const type = out.types.get(family) ?? out.types.get(family + '_total')
    if (
      type === 'counter' ||
      type === 'histogram' ||
      type === 'summary' ||
      type === 'gaugehistogram'
    ) {
      out.created++
      return null
    }
  }
  return { name, labels, value, timestamp }
}
