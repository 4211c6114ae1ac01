// Prometheus remote write: the snappy block that wraps a request, and the protobuf messages of
// remote write 1.0 (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`).
//
// Decoding is on the ingest hot path, so it does not build an object per sample: protobufjs's Reader
// walks the wire, samples land in two Float64Arrays, and each series keeps the bytes of its labels (1.0)
// or its label references (2.0) as a key, so a receiver that has seen the series before never decodes
// its label strings again.
import protobuf from 'protobufjs/minimal.js'
import snappy from 'snappy'

const { Reader, Writer } = protobuf

/** MetricType is a metadata type, as remote write 1.0's enum and 2.0's (same numbers) name it. */
export type MetricType =
  'unknown' | 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset'

const METRIC_TYPES: readonly MetricType[] = [
  'unknown',
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
]

/** RemoteWriteMetadata is what a request says about one metric family. */
export interface RemoteWriteMetadata {
  metric: string
  type: MetricType
  help: string
  unit: string
}

/**
 * RemoteWriteBatch is a decoded request. Series `i` has samples `sampleStart[i]` up to
 * `sampleStart[i + 1]` in `t` (ms) and `v`, and its labels from `labelsOf(i)` in the order sent.
 */
export interface RemoteWriteBatch {
  version: 1 | 2
  /** series is how many series the request holds. */
  series: number
  /** key(i) is a string that is equal for two series exactly when their labels are (one request's). */
  key(i: number): string
  /**
   * labelBytes(i): series i's labels as the bytes they came in, equal for two series exactly when
   * key(i) is (remote write 1.0, labels sent together, as Prometheus sends them); else null, and
   * key(i) is the way to tell series apart. A view into the request: copy what is kept.
   */
  labelBytes(i: number): Uint8Array | null
  /** labelHash(i): a 30-bit hash of labelBytes(i), -1 when that is null; made without a copy. */
  labelHash(i: number): number
  /** sameLabels(i, bytes): whether series i's label bytes are `bytes` (labelBytes(i) not null). */
  sameLabels(i: number, bytes: Uint8Array): boolean
  /** labelsOf(i) decodes series i's labels: names at even, values at odd indices. */
  labelsOf(i: number): string[]
  /** labelCount(i) is how many labels series i has, without decoding them. */
  labelCount(i: number): number
  sampleStart: Uint32Array
  t: Float64Array
  v: Float64Array
  /** created: per series its created (start) timestamp in ms, 0 when none was sent (2.0 only). */
  created: Float64Array
  /** type: per series its metadata type (2.0 only; 'unknown' in 1.0, whose metadata is per family). */
  type: MetricType[]
  /** histograms and exemplars count what the request held of each (not stored as samples). */
  histograms: number
  exemplars: number
  /** histogramSeries: per series, how many native histogram samples it held. */
  histogramSeries: Uint32Array
  metadata: RemoteWriteMetadata[]
}

/** RemoteWriteError is a request that cannot be decoded: its message says where and why. */
export class RemoteWriteError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RemoteWriteError'
  }
}

/**
 * snappyBlockLength reads the uncompressed length at the head of a snappy block (a varint), or -1 when
 * the head is not one. Checked before decompressing: a 20-byte block may claim 4 GiB.
 */
export function snappyBlockLength(block: Uint8Array): number {
  let len = 0
  let shift = 0
  for (let i = 0; i < 5 && i < block.length; i++) {
    const b = block[i]
    len += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return len
    shift += 7
  }
  return -1
}

/**
 * decodeSnappy decompresses a snappy block (the block format, not the framed stream) of at most
 * `maxBytes` uncompressed bytes, or throws a RemoteWriteError saying what is wrong with it.
 */
export function decodeSnappy(block: Uint8Array, maxBytes: number): Buffer {
  const len = snappyBlockLength(block)
  if (len < 0) throw new RemoteWriteError('snappy: the block does not start with a length')
  if (len > maxBytes) {
    throw new RemoteWriteError(
      `snappy: the block holds ${len} bytes uncompressed, more than the ${maxBytes} allowed; send smaller batches`
    )
  }
  try {
    const out = snappy.uncompressSync(Buffer.from(block.buffer, block.byteOffset, block.length), {
      asBuffer: true,
    }) as Buffer
    if (out.length !== len) throw new Error(`${out.length} bytes where the head says ${len}`)
    return out
  } catch (err) {
    throw new RemoteWriteError(`snappy: corrupt block (${(err as Error).message})`)
  }
}

/** encodeSnappy compresses `data` as one snappy block. */
export function encodeSnappy(data: Uint8Array): Buffer {
  return snappy.compressSync(Buffer.from(data.buffer, data.byteOffset, data.length))
}

// Wire types.
const VARINT = 0
const FIXED64 = 1
const LEN = 2

type ProtoReader = protobuf.Reader

// int64 as a JS number: timestamps in ms are far inside 2^53. protobufjs gives a Long object here,
// which would cost an allocation per sample. Up to 7 bytes (49 bits) add up exactly as doubles; longer
// varints (negative numbers take 10) are read again as a BigInt.
function int64(r: ProtoReader): number {
  const buf = r.buf
  const start = r.pos
  let pos = start
  let x = 0
  let mul = 1
  for (let i = 0; i < 7; i++) {
    if (pos >= r.len) throw new RangeError('index out of range')
    const b = buf[pos++]
    x += (b & 0x7f) * mul
    if ((b & 0x80) === 0) {
      r.pos = pos
      return x
    }
    mul *= 128
  }
  let big = 0n
  pos = start
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) throw new RangeError('index out of range')
    const b = buf[pos++]
    big |= BigInt(b & 0x7f) << BigInt(7 * i)
    if ((b & 0x80) === 0) {
      r.pos = pos
      return Number(BigInt.asIntN(64, big))
    }
  }
  throw new RangeError('varint longer than 10 bytes')
}

// A growable pair of sample columns.
class Samples {
  t = new Float64Array(1024)
  v = new Float64Array(1024)
  n = 0
  push(t: number, v: number): void {
    if (this.n === this.t.length) {
      const t2 = new Float64Array(this.n * 2)
      t2.set(this.t)
      this.t = t2
      const v2 = new Float64Array(this.n * 2)
      v2.set(this.v)
      this.v = v2
    }
    this.t[this.n] = t
    this.v[this.n] = v
    this.n++
  }
}

// Reads one Sample message (value = 1, timestamp = 2, start_timestamp = 3 in 2.0) into `out`; returns
// its start timestamp (0 when absent).
function readSample(r: ProtoReader, end: number, out: Samples): number {
  let value = 0
  let t = 0
  let start = 0
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    if (field === 1) {
      wire(tag, FIXED64, 'Sample.value')
      value = r.double()
    } else if (field === 2) {
      wire(tag, VARINT, 'Sample.timestamp')
      t = int64(r)
    } else if (field === 3) {
      wire(tag, VARINT, 'Sample.start_timestamp')
      start = int64(r)
    } else r.skipType(tag & 7)
  }
  out.push(t, value)
  return start
}

/**
 * wire checks a known field's wire type, as Go's protobuf does ("wrong wireType"): a Sample value sent
 * as a varint must not be stored as 0.
 */
function wire(tag: number, expected: number, field: string): void {
  if ((tag & 7) !== expected) throw new RangeError(`wrong wire type ${tag & 7} for ${field}`)
}

/** MAX_SERIES_PER_REQUEST bounds the TimeSeries of one request (Prometheus sends 2,000 samples at most). */
export const MAX_SERIES_PER_REQUEST = 200_000

/** MAX_LABELS bounds the labels of one series (name and labels fit falcon's 510 bytes well before). */
export const MAX_LABELS = 256

/** MAX_KEY_CHARS: a series whose labels are longer cannot be one Peregrine keeps; it gets no cache key. */
const MAX_KEY_CHARS = 4096

function metricType(n: number): MetricType {
  return METRIC_TYPES[n] ?? 'unknown'
}

function subEnd(r: ProtoReader, what: string): number {
  const len = r.uint32()
  const end = r.pos + len
  if (end > r.len) throw new RangeError(`${what} runs past the end of the request`)
  return end
}

/**
 * decodeWriteRequest decodes a remote write 1.0 `prometheus.WriteRequest` (uncompressed), or throws a
 * RemoteWriteError naming what does not decode.
 */
// What a 1.0 request holds, as both readers give it: per TimeSeries its label bytes (from, to; -2 when
// not contiguous) and label count, where its samples start, its native histogram count; the samples.
interface V1Parts {
  labelFrom: number[]
  labelTo: number[]
  labelCounts: number[]
  starts: number[]
  histogramSeries: number[]
  samples: Samples
  metadata: RemoteWriteMetadata[]
  histograms: number
  exemplars: number
}

/**
 * readV1Fast reads a 1.0 request encoded as Prometheus encodes it (TimeSeries of labels then samples,
 * each Label name then value, each Sample value then timestamp, no exemplars, histograms or
 * metadata) with its own varint reads over the bytes; anything else, well-formed or not, makes it
 * give up (null) and readV1 read the request instead. The hot path of remote write.
 */
function readV1Fast(buf: Uint8Array): V1Parts | null {
  const n = buf.length
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const labelFrom: number[] = []
  const labelTo: number[] = []
  const labelCounts: number[] = []
  const starts: number[] = [0]
  const histogramSeries: number[] = []
  const samples = new Samples()
  let pos = 0
  // A varint of up to 4 bytes (lengths under 256 MiB; -1 past that or past `end`).
  const len = (end: number): number => {
    let b = buf[pos++]
    let x = b & 0x7f
    if (b < 0x80) return pos <= end ? x : -1
    b = buf[pos++]
    x |= (b & 0x7f) << 7
    if (b < 0x80) return pos <= end ? x : -1
    b = buf[pos++]
    x |= (b & 0x7f) << 14
    if (b < 0x80) return pos <= end ? x : -1
    b = buf[pos++]
    x |= (b & 0x7f) << 21
    if (b < 0x80) return pos <= end ? x : -1
    return -1
  }
  while (pos < n) {
    if (buf[pos++] !== 0x0a) return null // only TimeSeries
    if (labelFrom.length >= MAX_SERIES_PER_REQUEST) return null
    const size = len(n)
    if (size < 0 || pos + size > n) return null
    const end = pos + size
    const from = pos
    let labels = 0
    // Labels, each tag 1 with name (1) then value (2), together at the start.
    while (pos < end && buf[pos] === 0x0a) {
      pos++
      const lsize = len(end)
      if (lsize < 0 || pos + lsize > end) return null
      const lend = pos + lsize
      if (buf[pos++] !== 0x0a) return null
      const a = len(lend)
      if (a < 0 || pos + a > lend) return null
      pos += a
      if (buf[pos++] !== 0x12) return null
      const b = len(lend)
      if (b < 0 || pos + b !== lend) return null
      pos = lend
      labels++
    }
    const to = pos
    // Samples, each tag 2 with value (1, fixed64) then timestamp (2, varint of up to 7 bytes).
    while (pos < end) {
      if (buf[pos++] !== 0x12) return null
      const ssize = len(end)
      if (ssize < 0 || pos + ssize > end) return null
      const send = pos + ssize
      let value = 0
      let t = 0
      if (pos < send && buf[pos] === 0x09) {
        if (pos + 9 > send) return null
        value = view.getFloat64(pos + 1, true)
        pos += 9
      }
      if (pos < send && buf[pos] === 0x10) {
        pos++
        let mul = 1
        let i = 0
        for (; i < 7; i++) {
          if (pos >= send) return null
          const b = buf[pos++]
          t += (b & 0x7f) * mul
          if (b < 0x80) break
          mul *= 128
        }
        if (i === 7) return null
      }
      if (pos !== send) return null
      samples.push(t, value)
    }
    labelFrom.push(labels === 0 ? -1 : from)
    labelTo.push(labels === 0 ? -1 : to)
    labelCounts.push(labels)
    starts.push(samples.n)
    histogramSeries.push(0)
  }
  return {
    labelFrom,
    labelTo,
    labelCounts,
    starts,
    histogramSeries,
    samples,
    metadata: [],
    histograms: 0,
    exemplars: 0,
  }
}

// The protobuf walk of a 1.0 request, for any encoding protobuf allows; it names what does not decode.
function readV1(buf: Uint8Array): V1Parts {
  const r = Reader.create(buf)
  const labelFrom: number[] = []
  const labelTo: number[] = []
  const labelCounts: number[] = []
  const starts: number[] = [0]
  const histogramSeries: number[] = []
  const samples = new Samples()
  const metadata: RemoteWriteMetadata[] = []
  let histograms = 0
  let exemplars = 0
  try {
    while (r.pos < r.len) {
      const tag = r.uint32()
      const field = tag >>> 3
      if (field === 1) {
        wire(tag, LEN, 'WriteRequest.timeseries')
        if (labelFrom.length >= MAX_SERIES_PER_REQUEST)
          throw new RangeError(`more than ${MAX_SERIES_PER_REQUEST} TimeSeries in one request`)
        const end = subEnd(r, 'a TimeSeries')
        let from = -1
        let to = -1
        let scatteredLabels = false
        let h = 0
        let labels = 0
        while (r.pos < end) {
          const t2 = r.uint32()
          const f2 = t2 >>> 3
          if (f2 >= 1 && f2 <= 4) wire(t2, LEN, `TimeSeries field ${f2}`)
          if (f2 === 1) {
            labels++
            // Labels are kept as the bytes they came in; they are contiguous when sent as Prometheus
            // sends them, and when they are not, the series' key is built from the pieces below.
            const at = r.pos - varintSize(t2)
            const lend = subEnd(r, 'a Label')
            checkLabel(r, lend)
            if (from < 0) from = at
            else if (to !== at) scatteredLabels = true
            to = lend
            r.pos = lend
          } else if (f2 === 2 && (t2 & 7) === LEN) {
            const send = subEnd(r, 'a Sample')
            readSample(r, send, samples)
            r.pos = send
          } else if (f2 === 3 && (t2 & 7) === LEN) {
            exemplars++
            r.skipType(LEN)
          } else if (f2 === 4 && (t2 & 7) === LEN) {
            h++
            r.skipType(LEN)
          } else r.skipType(t2 & 7)
        }
        r.pos = end
        // Not contiguous: marked, and decoded below by walking the request again.
        labelFrom.push(scatteredLabels ? -2 : from)
        labelTo.push(to)
        labelCounts.push(labels)
        starts.push(samples.n)
        histogramSeries.push(h)
        histograms += h
      } else if (field === 3) {
        wire(tag, LEN, 'WriteRequest.metadata')
        const end = subEnd(r, 'a MetricMetadata')
        const m: RemoteWriteMetadata = { metric: '', type: 'unknown', help: '', unit: '' }
        while (r.pos < end) {
          const t2 = r.uint32()
          const f2 = t2 >>> 3
          if (f2 === 1 && (t2 & 7) === VARINT) m.type = metricType(r.uint32())
          else if (f2 === 2 && (t2 & 7) === LEN) m.metric = r.string()
          else if (f2 === 4 && (t2 & 7) === LEN) m.help = r.string()
          else if (f2 === 5 && (t2 & 7) === LEN) m.unit = r.string()
          else r.skipType(t2 & 7)
        }
        r.pos = end
        metadata.push(m)
      } else r.skipType(tag & 7)
    }
  } catch (err) {
    throw new RemoteWriteError(
      `protobuf: the body is not a prometheus.WriteRequest (${(err as Error).message} at byte ${r.pos})`
    )
  }
  return {
    labelFrom,
    labelTo,
    labelCounts,
    starts,
    histogramSeries,
    samples,
    metadata,
    histograms,
    exemplars,
  }
}

export function decodeWriteRequest(buf: Uint8Array): RemoteWriteBatch {
  const p = readV1Fast(buf) ?? readV1(buf)
  const { labelFrom, labelTo, labelCounts, starts, histogramSeries, samples, metadata } = p
  const { histograms, exemplars } = p
  const n = labelFrom.length
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  // The request's memory as bytes and as aligned 32-bit words, for hashing label bytes a word at a time.
  const u8 = new Uint8Array(buf.buffer, 0, buf.buffer.byteLength)
  const words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2)
  const labelsOf = (i: number): string[] => {
    const out: string[] = []
    const lr = Reader.create(bytes)
    lr.pos = labelFrom[i] >= 0 ? labelFrom[i] : 0
    lr.len = labelFrom[i] >= 0 ? labelTo[i] : 0
    while (lr.pos < lr.len) {
      lr.uint32() // the Label's tag: the region holds nothing else
      readLabel(lr, out)
    }
    return out
  }
  // Non-contiguous labels are rare enough to be decoded up front, by walking the request again.
  const scattered = new Map<number, string[]>()
  if (labelFrom.some((f) => f < -1)) readScattered()
  function readScattered(): void {
    try {
      const rr = Reader.create(bytes)
      let i = 0
      while (rr.pos < rr.len) {
        const tag = rr.uint32()
        if (tag !== 10) {
          rr.skipType(tag & 7)
          continue
        }
        const end = subEnd(rr, 'a TimeSeries')
        if (labelFrom[i] < -1) {
          const out: string[] = []
          while (rr.pos < end) {
            const t2 = rr.uint32()
            if (t2 !== 10) {
              rr.skipType(t2 & 7)
              continue
            }
            readLabel(rr, out)
          }
          scattered.set(i, out)
        }
        rr.pos = end
        i++
      }
    } catch (err) {
      throw new RemoteWriteError(
        `protobuf: the body is not a prometheus.WriteRequest (${(err as Error).message})`
      )
    }
  }
  return {
    version: 1,
    series: n,
    // The label bytes as they came (protobuf's lengths make them unambiguous), or length-prefixed
    // strings for scattered ones; none for a series too long to be kept (it is not cached).
    key: (i) => {
      const s = scattered.get(i)
      if (s !== undefined) return lengthPrefixed(s, '\x00')
      if (labelFrom[i] < 0 || labelTo[i] - labelFrom[i] > MAX_KEY_CHARS) return ''
      return bytes.toString('latin1', labelFrom[i], labelTo[i])
    },
    labelBytes: (i) =>
      labelFrom[i] < 0 || labelTo[i] - labelFrom[i] > MAX_KEY_CHARS
        ? null
        : bytes.subarray(labelFrom[i], labelTo[i]),
    labelHash: (i) =>
      labelFrom[i] < 0 || labelTo[i] - labelFrom[i] > MAX_KEY_CHARS
        ? -1
        : hashRange(u8, words, bytes.byteOffset + labelFrom[i], bytes.byteOffset + labelTo[i]),
    sameLabels: (i, b) => bytes.compare(b, 0, b.length, labelFrom[i], labelTo[i]) === 0,
    labelCount: (i) => (scattered.get(i)?.length ?? labelCounts[i] * 2) / 2,
    labelsOf: (i) => scattered.get(i) ?? labelsOf(i),
    sampleStart: Uint32Array.from(starts),
    t: samples.t.subarray(0, samples.n),
    v: samples.v.subarray(0, samples.n),
    created: new Float64Array(n),
    type: new Array<MetricType>(n).fill('unknown'),
    histograms,
    exemplars,
    histogramSeries: Uint32Array.from(histogramSeries),
    metadata,
  }
}

/**
 * hashRange hashes bytes a..b of `u8` by their content alone (where they sit does not matter): FNV-1a's
 * multiply over the bytes taken four at a time as little-endian words, then the last 0 to 3 one at a
 * time. The words are read from `words` (the same memory, aligned) and shifted into place: no copy,
 * no string, a quarter of the steps of a byte loop.
 */
function hashRange(u8: Uint8Array, words: Uint32Array, a: number, b: number): number {
  const n = b - a
  let h = 0x811c9dc5 ^ n
  let k = 0
  const r = a & 3
  if (LITTLE_ENDIAN) {
    let w = a >>> 2
    const shift = 8 * r
    for (; k + 4 <= n; k += 4, w++) {
      let x: number
      if (r === 0) x = words[w]
      else if (w + 1 < words.length) x = (words[w] >>> shift) | (words[w + 1] << (32 - shift))
      else x = u8[a + k] | (u8[a + k + 1] << 8) | (u8[a + k + 2] << 16) | (u8[a + k + 3] << 24)
      h = Math.imul(h ^ x, 0x01000193)
      h ^= h >>> 15
    }
  } else {
    for (; k + 4 <= n; k += 4) {
      const x = u8[a + k] | (u8[a + k + 1] << 8) | (u8[a + k + 2] << 16) | (u8[a + k + 3] << 24)
      h = Math.imul(h ^ x, 0x01000193)
      h ^= h >>> 15
    }
  }
  for (; k < n; k++) h = Math.imul(h ^ u8[a + k], 0x01000193)
  // 30 bits: a small integer to V8, a Map key that needs no heap number.
  return (h ^ (h >>> 30)) & 0x3fffffff
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1

// Reads one Label (its length, then name = 1 and value = 2, checked by checkLabel) into `out`.
function readLabel(r: ProtoReader, out: string[]): void {
  const end = subEnd(r, 'a Label')
  let name = ''
  let value = ''
  while (r.pos < end) {
    const tag = r.uint32()
    if (tag === 10) name = r.string()
    else if (tag === 18) value = r.string()
    else r.skipType(tag & 7)
  }
  r.pos = end
  out.push(name, value)
}

// A Label's fields are in its bounds and of the right wire types (name = 1, value = 2, strings), so
// that decoding it later cannot fail; checked without decoding the strings.
function checkLabel(r: ProtoReader, end: number): void {
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    if (field === 1 || field === 2) wire(tag, LEN, field === 1 ? 'Label.name' : 'Label.value')
    if ((tag & 7) === LEN) {
      const len = r.uint32()
      if (r.pos + len > end) throw new RangeError('a Label field runs past its Label')
      r.pos += len
    } else r.skipType(tag & 7)
    if (r.pos > end) throw new RangeError('a Label field runs past its Label')
  }
}

// `head` and each string as `<length>:<string>`, or '' past MAX_KEY_CHARS: no separator can be forged.
function lengthPrefixed(strings: readonly string[], head: string): string {
  let n = head.length
  for (const x of strings) n += x.length + 8
  if (n > MAX_KEY_CHARS) return ''
  let k = head
  for (const x of strings) k += x.length + ':' + x
  return k
}

function varintSize(v: number): number {
  let n = 1
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

/**
 * decodeWriteRequestV2 decodes a remote write 2.0 `io.prometheus.write.v2.Request` (uncompressed), or
 * throws a RemoteWriteError naming what does not decode or which reference is out of the symbol table.
 */
export function decodeWriteRequestV2(buf: Uint8Array): RemoteWriteBatch {
  const r = Reader.create(buf)
  const symbols: string[] = []
  const refs: number[][] = []
  const starts: number[] = [0]
  const created: number[] = []
  const types: MetricType[] = []
  const helpRefs: number[] = []
  const unitRefs: number[] = []
  const histogramSeries: number[] = []
  const samples = new Samples()
  let histograms = 0
  let exemplars = 0
  try {
    while (r.pos < r.len) {
      const tag = r.uint32()
      const field = tag >>> 3
      if (field === 4) {
        wire(tag, LEN, 'Request.symbols')
        symbols.push(r.string())
      } else if (field === 5) {
        wire(tag, LEN, 'Request.timeseries')
        if (refs.length >= MAX_SERIES_PER_REQUEST)
          throw new RangeError(`more than ${MAX_SERIES_PER_REQUEST} TimeSeries in one request`)
        const end = subEnd(r, 'a TimeSeries')
        const ls: number[] = []
        let ct = 0
        let type: MetricType = 'unknown'
        let help = 0
        let unit = 0
        let h = 0
        while (r.pos < end) {
          const t2 = r.uint32()
          const f2 = t2 >>> 3
          if (f2 >= 2 && f2 <= 5) wire(t2, LEN, `TimeSeries field ${f2}`)
          if (f2 === 1 && (t2 & 7) === LEN) {
            const lend = subEnd(r, 'labels_refs')
            while (r.pos < lend) ls.push(r.uint32())
            r.pos = lend
          } else if (f2 === 1 && (t2 & 7) === VARINT) ls.push(r.uint32())
          else if (f2 === 2 && (t2 & 7) === LEN) {
            const send = subEnd(r, 'a Sample')
            const st = readSample(r, send, samples)
            if (st !== 0 && ct === 0) ct = st
            r.pos = send
          } else if (f2 === 3 && (t2 & 7) === LEN) {
            h++
            r.skipType(LEN)
          } else if (f2 === 4 && (t2 & 7) === LEN) {
            exemplars++
            r.skipType(LEN)
          } else if (f2 === 5 && (t2 & 7) === LEN) {
            const mend = subEnd(r, 'a Metadata')
            while (r.pos < mend) {
              const t3 = r.uint32()
              const f3 = t3 >>> 3
              if (f3 === 1 && (t3 & 7) === VARINT) type = metricType(r.uint32())
              else if (f3 === 3 && (t3 & 7) === VARINT) help = r.uint32()
              else if (f3 === 4 && (t3 & 7) === VARINT) unit = r.uint32()
              else r.skipType(t3 & 7)
            }
            r.pos = mend
          } else if (f2 === 6 && (t2 & 7) === VARINT) {
            // created_timestamp of the 2.0 release candidates, since moved into each Sample.
            const c = int64(r)
            if (c !== 0) ct = c
          } else r.skipType(t2 & 7)
        }
        r.pos = end
        refs.push(ls)
        starts.push(samples.n)
        created.push(ct)
        types.push(type)
        helpRefs.push(help)
        unitRefs.push(unit)
        histogramSeries.push(h)
        histograms += h
      } else r.skipType(tag & 7)
    }
  } catch (err) {
    throw new RemoteWriteError(
      `protobuf: the body is not an io.prometheus.write.v2.Request (${(err as Error).message} at byte ${r.pos})`
    )
  }
  // Every reference must name a symbol; the spec makes symbols[0] the empty string.
  if (symbols.length > 0 && symbols[0] !== '') {
    throw new RemoteWriteError('symbols: the first symbol must be the empty string (2.0 spec)')
  }
  const metadata: RemoteWriteMetadata[] = []
  const seen = new Set<string>()
  for (let i = 0; i < refs.length; i++) {
    const ls = refs[i]
    if (ls.length % 2 !== 0) {
      throw new RemoteWriteError(
        `timeseries[${i}].labels_refs: ${ls.length} references, expected name-value pairs`
      )
    }
    for (const ref of [...ls, helpRefs[i], unitRefs[i]]) {
      if (ref >= symbols.length) {
        throw new RemoteWriteError(
          `timeseries[${i}]: symbol reference ${ref} is past the symbol table of ${symbols.length}`
        )
      }
    }
    if (types[i] !== 'unknown' || helpRefs[i] !== 0 || unitRefs[i] !== 0) {
      let name = ''
      for (let k = 0; k < ls.length; k += 2)
        if (symbols[ls[k]] === '__name__') name = symbols[ls[k + 1]]
      if (name !== '' && !seen.has(name)) {
        seen.add(name)
        metadata.push({
          metric: name,
          type: types[i],
          help: symbols[helpRefs[i]],
          unit: symbols[unitRefs[i]],
        })
      }
    }
  }
  return {
    version: 2,
    series: refs.length,
    key: (i) =>
      lengthPrefixed(
        refs[i].map((ref) => symbols[ref]),
        ''
      ),
    labelBytes: () => null,
    labelHash: () => -1,
    sameLabels: () => false,
    labelCount: (i) => refs[i].length / 2,
    labelsOf: (i) => refs[i].map((ref) => symbols[ref]),
    sampleStart: Uint32Array.from(starts),
    t: samples.t.subarray(0, samples.n),
    v: samples.v.subarray(0, samples.n),
    created: Float64Array.from(created),
    type: types,
    histograms,
    exemplars,
    histogramSeries: Uint32Array.from(histogramSeries),
    metadata,
  }
}

/** WriteSeries is one series to encode: labels as pairs, samples as [ms, value]. */
export interface WriteSeries {
  labels: readonly (readonly [string, string])[]
  samples: readonly (readonly [number, number])[]
  /** created: the 2.0 start timestamp of each sample (ms), when given. */
  created?: number
  type?: MetricType
  help?: string
  unit?: string
}

/**
 * encodeWriteRequest encodes series as a remote write 1.0 WriteRequest (uncompressed), as Prometheus
 * does (labels, then samples); `metadata` follows as MetricMetadata. For tests and the bench.
 */
export function encodeWriteRequest(
  series: readonly WriteSeries[],
  metadata: readonly RemoteWriteMetadata[] = []
): Uint8Array {
  const w = Writer.create()
  for (const s of series) {
    w.uint32((1 << 3) | LEN).fork()
    for (const [name, value] of s.labels) {
      w.uint32((1 << 3) | LEN)
        .fork()
        .uint32(10)
        .string(name)
        .uint32(18)
        .string(value)
        .ldelim()
    }
    for (const [t, v] of s.samples) {
      w.uint32((2 << 3) | LEN)
        .fork()
        .uint32(9)
        .double(v)
        .uint32(16)
        .int64(t)
        .ldelim()
    }
    w.ldelim()
  }
  for (const m of metadata) {
    w.uint32((3 << 3) | LEN)
      .fork()
      .uint32(8)
      .uint32(METRIC_TYPES.indexOf(m.type))
      .uint32(18)
      .string(m.metric)
      .uint32(34)
      .string(m.help)
      .uint32(42)
      .string(m.unit)
      .ldelim()
  }
  return w.finish()
}

/** encodeWriteRequestV2 encodes series as a remote write 2.0 Request (uncompressed), with its symbols. */
export function encodeWriteRequestV2(series: readonly WriteSeries[]): Uint8Array {
  const symbols = new Map<string, number>([['', 0]])
  const ref = (s: string): number => {
    let i = symbols.get(s)
    if (i === undefined) symbols.set(s, (i = symbols.size))
    return i
  }
  const body = Writer.create()
  for (const s of series) {
    body.uint32((5 << 3) | LEN).fork()
    const refs = s.labels.flatMap(([n, v]) => [ref(n), ref(v)])
    if (refs.length > 0) {
      body.uint32((1 << 3) | LEN).fork()
      for (const x of refs) body.uint32(x)
      body.ldelim()
    }
    for (const [t, v] of s.samples) {
      body
        .uint32((2 << 3) | LEN)
        .fork()
        .uint32(9)
        .double(v)
        .uint32(16)
        .int64(t)
      if (s.created !== undefined) body.uint32(24).int64(s.created)
      body.ldelim()
    }
    if (s.type !== undefined || s.help !== undefined || s.unit !== undefined) {
      body.uint32((5 << 3) | LEN).fork()
      body.uint32(8).uint32(METRIC_TYPES.indexOf(s.type ?? 'unknown'))
      body.uint32(24).uint32(ref(s.help ?? ''))
      body.uint32(32).uint32(ref(s.unit ?? ''))
      body.ldelim()
    }
    body.ldelim()
  }
  const w = Writer.create()
  for (const s of symbols.keys()) w.uint32((4 << 3) | LEN).string(s)
  const head = w.finish()
  const tail = body.finish()
  const out = new Uint8Array(head.length + tail.length)
  out.set(head)
  out.set(tail, head.length)
  return out
}
