// Immutable block files: the chunks of many series over one time range, with a series table at the end.
import {
  closeSync,
  fdatasyncSync,
  openSync,
  fstatSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs'
import { basename, dirname } from 'node:path'
import { crc32 } from 'node:zlib'
import { PeregrineError } from '../core/errors.js'
import { type BlockCache, PAGE_BYTES, type PageTable } from './block-cache.js'
import { ByteReader, ByteWriter } from './chunk/byte-buffer.js'
import { syncDir } from './wal/wal.js'
import type { DsType } from './series.js'

const MAGIC = 'PGTSDB01'
const END_MAGIC = 'PGTSEND1'
const FOOTER_BYTES = 24

/** BlockKind is `raw` for points as written, or `r<k>` for a rollup tier of k steps. */
export type BlockKind = 'raw' | `r${number}`

/** BlockMeta describes a block; it is stored in the block's table. */
export interface BlockMeta {
  kind: BlockKind
  seq: number
  minT: number
  maxT: number
  /** walSeq: the WAL segments numbered ≤ this are contained in this block (raw blocks). */
  walSeq: number
  /** upTo: rollup blocks hold every bucket ending at or before this time (ms). */
  upTo: number
  /** compactedFrom: the blocks this one replaces; any of them still on disk after a crash is dropped. */
  compactedFrom?: number[]
  /**
   * partial: this block is one of several written together (a flush or a rollup spanning several time
   * windows) and not the last: its `walSeq` (raw) or `upTo` (tiers) says nothing of what is covered,
   * which only the last block of the write claims, once all are on disk.
   */
  partial?: boolean
  /**
   * covers: a compacted raw block's claim on the WAL (the largest its sources made), apart from its
   * `walSeq`, which orders it among the blocks of its series.
   */
  covers?: number
  points: number
  createdAt: number
}

/** ChunkRef locates one chunk inside a block file. */
export interface ChunkRef {
  minT: number
  maxT: number
  n: number
  offset: number
  len: number
}

/** BlockSeries is one series' entry in a block. */
export interface BlockSeries {
  endpoint: string
  metric: string
  tags: string
  dstype: DsType
  step: number
  chunks: ChunkRef[]
}

/** BlockSeriesInput is what a writer gives per series: descriptor and encoded chunks. */
export interface BlockSeriesInput {
  endpoint: string
  metric: string
  tags: string
  dstype: DsType
  step: number
  chunks: { minT: number; maxT: number; n: number; bytes: Uint8Array }[]
}

/**
 * writeBlock writes a block to `file` atomically (a temporary file, fsync, rename, fsync of the directory).
 *
 *   ["PGTSDB01"] [chunk bytes …] [table: meta JSON, symbols, series …] [tableOffset f64][tableLen u32][crc u32]["PGTSEND1"]
 *   symbols = count uvarint, then strings (uvarint length + UTF-8)
 *   series = endpoint metric tags (symbol ids) dstype u8 step uvarint nChunks uvarint, then per chunk:
 *            minT-meta.minT varint, maxT-minT uvarint, n uvarint, len uvarint, crc u32 (offsets follow from lengths)
 */
export function writeBlock(
  file: string,
  meta: BlockMeta,
  series: Iterable<BlockSeriesInput>
): void {
  const body = new ByteWriter(1 << 16)
  const table = new ByteWriter(1 << 12)
  for (let i = 0; i < MAGIC.length; i++) body.u8(MAGIC.charCodeAt(i))
  let count = 0
  const entries = new ByteWriter(1 << 12)
  // Endpoints, metrics and tag sets repeat across series: each string is stored once, then referenced.
  const symbols = new Map<string, number>()
  const symbol = (str: string): number => {
    let id = symbols.get(str)
    if (id === undefined) {
      id = symbols.size
      symbols.set(str, id)
    }
    return id
  }
  for (const s of series) {
    if (s.chunks.length === 0) continue
    count++
    entries.uvarint(symbol(s.endpoint))
    entries.uvarint(symbol(s.metric))
    entries.uvarint(symbol(s.tags))
    entries.u8(s.dstype === 'GAUGE' ? 0 : 1)
    entries.uvarint(s.step)
    entries.uvarint(s.chunks.length)
    for (const c of s.chunks) {
      if (!(c.maxT >= c.minT) || c.minT < meta.minT) {
        throw new Error(
          `BUG: chunk [${c.minT}, ${c.maxT}] of ${s.endpoint}/${s.metric} in a block from ${meta.minT}`
        )
      }
      entries.varint(c.minT - meta.minT)
      entries.uvarint(c.maxT - c.minT)
      entries.uvarint(c.n)
      entries.uvarint(c.bytes.length)
      entries.u32(crc32(c.bytes))
      body.bytes(c.bytes)
    }
  }
  table.string(JSON.stringify(meta))
  table.uvarint(symbols.size)
  for (const str of symbols.keys()) table.string(str)
  table.uvarint(count)
  table.bytes(entries.buf.subarray(0, entries.pos))
  const tableOffset = body.pos
  const tableBytes = table.buf.subarray(0, table.pos)
  body.bytes(tableBytes)
  body.f64(tableOffset)
  body.u32(tableBytes.length)
  body.u32(crc32(tableBytes))
  for (let i = 0; i < END_MAGIC.length; i++) body.u8(END_MAGIC.charCodeAt(i))
  const tmp = file + '.tmp'
  const fd = openSync(tmp, 'w')
  try {
    let off = 0
    while (off < body.pos) off += writeSync(fd, body.buf, off, body.pos - off)
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  syncDir(dirname(file))
}

/** BlockDamage is one problem found while opening a block. */
export interface BlockDamage {
  file: string
  message: string
}

/**
 * Block is an open block file: its meta and series table in memory, chunk bytes read on demand with pread.
 * `open` checks every chunk's checksum once; a damaged chunk is left out and reported, a damaged table
 * makes the whole file unreadable (PG_TSDB_CORRUPT naming it).
 */
export class Block {
  readonly file: string
  readonly meta: BlockMeta
  readonly series: Map<string, BlockSeries>
  readonly bytes: number
  #fd: number
  /** The end of the chunk region (where the table begins). */
  readonly #dataEnd: number
  /** The cache holding pages of this block, once a read used one, and the page slots. */
  #cache: BlockCache | undefined
  readonly #pages: PageTable = []

  private constructor(
    file: string,
    meta: BlockMeta,
    series: Map<string, BlockSeries>,
    bytes: number,
    fd: number,
    dataEnd: number
  ) {
    this.file = file
    this.meta = meta
    this.series = series
    this.bytes = bytes
    this.#fd = fd
    this.#dataEnd = dataEnd
  }

  static open(
    file: string,
    uidOf: (s: BlockSeries) => string
  ): { block: Block; damage: BlockDamage[] } {
    // Positioned reads, not the whole file: blocks may be larger than memory would like (or 2 GiB).
    const fd = openSync(file, 'r')
    try {
      const { block, damage } = Block.#read(fd, file, uidOf)
      return { block, damage }
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  static #read(
    fd: number,
    file: string,
    uidOf: (s: BlockSeries) => string
  ): { block: Block; damage: BlockDamage[] } {
    const corrupt = (what: string): PeregrineError =>
      new PeregrineError('PG_TSDB_CORRUPT', `block ${file}: ${what}`)
    const size = fstatSync(fd).size
    const readAt = (pos: number, len: number, into?: Buffer): Buffer => {
      const buf = into !== undefined && into.length >= len ? into : Buffer.allocUnsafe(len)
      let got = 0
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, pos + got)
        if (n === 0) throw corrupt(`short read at byte ${pos + got}`)
        got += n
      }
      return buf.subarray(0, len)
    }
    if (size < MAGIC.length + FOOTER_BYTES) throw corrupt(`truncated to ${size} bytes`)
    if (readAt(0, MAGIC.length).toString('latin1') !== MAGIC) {
      throw corrupt('not a Peregrine block (bad magic)')
    }
    const footerBytes = readAt(size - FOOTER_BYTES, FOOTER_BYTES)
    if (footerBytes.toString('latin1', FOOTER_BYTES - END_MAGIC.length) !== END_MAGIC) {
      throw corrupt('truncated: the end marker is missing')
    }
    const footer = new ByteReader(footerBytes)
    const tableOffset = footer.f64()
    const tableLen = footer.u32()
    const tableCrc = footer.u32()
    if (
      !Number.isInteger(tableOffset) ||
      tableOffset < MAGIC.length ||
      tableOffset + tableLen !== size - FOOTER_BYTES
    ) {
      throw corrupt('footer points outside the file')
    }
    const tableBytes = readAt(tableOffset, tableLen)
    if (crc32(tableBytes) !== tableCrc) throw corrupt('series table checksum mismatch')
    const damage: BlockDamage[] = []
    const series = new Map<string, BlockSeries>()
    let meta: BlockMeta
    let scratch: Buffer | undefined
    try {
      const r = new ByteReader(tableBytes)
      meta = JSON.parse(r.string()) as BlockMeta
      if (typeof meta !== 'object' || meta === null || !Number.isFinite(meta.minT)) {
        throw new RangeError('meta is not a block description')
      }
      const symbols: string[] = []
      for (let i = r.uvarint(); i > 0; i--) symbols.push(r.string())
      const symbol = (id: number): string => {
        if (id >= symbols.length) throw new RangeError(`symbol ${id} of ${symbols.length}`)
        return symbols[id]
      }
      const count = r.uvarint()
      let offset = MAGIC.length
      for (let i = 0; i < count; i++) {
        const endpoint = symbol(r.uvarint())
        const metric = symbol(r.uvarint())
        const tags = symbol(r.uvarint())
        const dstype: DsType = r.u8() === 0 ? 'GAUGE' : 'DERIVE'
        const step = r.uvarint()
        const nChunks = r.uvarint()
        const chunks: ChunkRef[] = []
        for (let c = 0; c < nChunks; c++) {
          const minT = meta.minT + r.varint()
          const maxT = minT + r.uvarint()
          const n = r.uvarint()
          const len = r.uvarint()
          const crc = r.u32()
          if (offset + len > tableOffset) throw new RangeError('chunk runs past the data section')
          scratch = readAt(offset, len, scratch)
          if (crc32(scratch.subarray(0, len)) !== crc) {
            damage.push({
              file,
              message: `chunk of ${endpoint}/${metric} at byte ${offset} fails its checksum; left out`,
            })
          } else {
            chunks.push({ minT, maxT, n, offset, len })
          }
          offset += len
        }
        const s: BlockSeries = { endpoint, metric, tags, dstype, step, chunks }
        series.set(uidOf(s), s)
      }
    } catch (err) {
      if (err instanceof PeregrineError) throw err
      throw corrupt(`series table unreadable: ${(err as Error).message}`)
    }
    return { block: new Block(file, meta, series, size, fd, tableOffset), damage }
  }

  /**
   * read returns a chunk's bytes. Through `cache` (when enabled) it reads the pages of the chunk region
   * holding the chunk, one pread a page, and returns a view into the cached page: valid until the next
   * read through the cache. Else, or for a chunk across pages, the bytes land in `into` when it is large
   * enough (reused), else in a new buffer.
   */
  read(ref: ChunkRef, into?: Uint8Array, cache?: BlockCache): Uint8Array {
    if (cache !== undefined && cache.enabled && ref.len > 0) {
      if (this.#cache !== cache) {
        this.#cache?.drop(this.#pages)
        this.#cache = cache
      }
      const rel = ref.offset - MAGIC.length
      const first = Math.floor(rel / PAGE_BYTES)
      const last = Math.floor((rel + ref.len - 1) / PAGE_BYTES)
      if (first === last) {
        const at = rel - first * PAGE_BYTES
        return this.#page(cache, first).subarray(at, at + ref.len)
      }
      const out = into !== undefined && into.length >= ref.len ? into : new Uint8Array(ref.len)
      let done = 0
      for (let i = first; i <= last; i++) {
        const page = this.#page(cache, i)
        const at = i === first ? rel - first * PAGE_BYTES : 0
        const take = Math.min(page.length - at, ref.len - done)
        out.set(page.subarray(at, at + take), done)
        done += take
      }
      return out.subarray(0, ref.len)
    }
    const out = into !== undefined && into.length >= ref.len ? into : new Uint8Array(ref.len)
    this.#readAt(ref.offset, out, ref.len)
    return out.subarray(0, ref.len)
  }

  // Page i of the chunk region, from the cache or read into it.
  #page(cache: BlockCache, i: number): Uint8Array {
    const hit = cache.get(this.#pages, i)
    if (hit !== undefined) return hit
    const start = MAGIC.length + i * PAGE_BYTES
    const buf = cache.alloc(Math.min(PAGE_BYTES, this.#dataEnd - start))
    this.#readAt(start, buf, buf.length)
    cache.put(this.#pages, i, buf)
    return buf
  }

  #readAt(pos: number, buf: Uint8Array, len: number): void {
    let got = 0
    while (got < len) {
      const n = readSync(this.#fd, buf, got, len - got, pos + got)
      if (n === 0) {
        throw new PeregrineError(
          'PG_TSDB_CORRUPT',
          `block ${this.file}: short read at byte ${pos + got}`
        )
      }
      got += n
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
    this.#cache?.drop(this.#pages)
    this.#cache = undefined
  }

  get name(): string {
    return basename(this.file)
  }
}
