// Growable byte writer and a cursor reader: varints, zig-zag, float64 and bit packing over one Uint8Array.

const TWO_32 = 4294967296

/**
 * ByteWriter appends into one growable Uint8Array. `bytes()` returns a view of what was written; the view is
 * invalid after the next write (the buffer may move). `reset()` keeps the allocation for reuse.
 */
export class ByteWriter {
  buf: Uint8Array
  pos: number
  #f64 = new Float64Array(1)
  #f64b = new Uint8Array(this.#f64.buffer)
  // Bit packing state: bits are filled from the most significant end of `#cur`.
  #cur = 0
  #curBits = 0

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize)
    this.pos = 0
  }

  reset(): void {
    this.pos = 0
    this.#cur = 0
    this.#curBits = 0
  }

  /** ensure makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  u8(v: number): void {
    this.ensure(1)
    this.buf[this.pos++] = v
  }

  u32(v: number): void {
    this.ensure(4)
    const b = this.buf
    b[this.pos++] = v & 0xff
    b[this.pos++] = (v >>> 8) & 0xff
    b[this.pos++] = (v >>> 16) & 0xff
    b[this.pos++] = (v >>> 24) & 0xff
  }

  /** uvarint writes a non-negative safe integer in LEB128 (7 bits a byte). */
  uvarint(v: number): void {
    this.ensure(8)
    const b = this.buf
    // 32-bit ops while the value fits, division above: values up to 2^53 are legal here.
    while (v >= 0x80) {
      if (v < TWO_32) {
        b[this.pos++] = (v & 0x7f) | 0x80
        v >>>= 7
      } else {
        b[this.pos++] = (v % 128) | 0x80
        v = Math.floor(v / 128)
      }
    }
    b[this.pos++] = v
  }

  /** varint writes a signed safe integer zig-zagged, so small negatives stay one byte. */
  varint(v: number): void {
    this.uvarint(zigzag(v))
  }

  f64(v: number): void {
    this.ensure(8)
    this.#f64[0] = v
    this.buf.set(this.#f64b, this.pos)
    this.pos += 8
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length)
    this.buf.set(src, this.pos)
    this.pos += src.length
  }

  string(s: string): void {
    const len = Buffer.byteLength(s)
    this.uvarint(len)
    this.ensure(len)
    Buffer.from(this.buf.buffer, this.buf.byteOffset).write(s, this.pos, 'utf8')
    this.pos += len
  }

  /** bits writes the low `n` bits of `v` (n ≤ 32, v ≥ 0), most significant first. */
  bits(v: number, n: number): void {
    while (n > 0) {
      const free = 8 - this.#curBits
      const take = n < free ? n : free
      const shift = n - take
      const part = (shift >= 32 ? 0 : v >>> shift) & ((1 << take) - 1)
      this.#cur |= part << (free - take)
      this.#curBits += take
      n -= take
      if (this.#curBits === 8) {
        this.u8(this.#cur)
        this.#cur = 0
        this.#curBits = 0
      }
    }
  }

  /** wideBits writes `n` bits (n ≤ 53) of a non-negative safe integer. */
  wideBits(v: number, n: number): void {
    if (n <= 32) this.bits(v, n)
    else {
      this.bits(Math.floor(v / TWO_32), n - 32)
      this.bits(v >>> 0, 32)
    }
  }

  /** alignBits pads the pending bits with zeros to a byte boundary. */
  alignBits(): void {
    if (this.#curBits > 0) {
      this.u8(this.#cur)
      this.#cur = 0
      this.#curBits = 0
    }
  }

  /** take returns a copy of what was written. */
  take(): Uint8Array {
    return this.buf.slice(0, this.pos)
  }
}

/**
 * ByteReader reads what ByteWriter wrote. Reads past the end throw a RangeError, which callers turn into a
 * corruption error naming their file.
 */
export class ByteReader {
  buf: Uint8Array
  pos: number
  end: number
  #f64 = new Float64Array(1)
  #f64b = new Uint8Array(this.#f64.buffer)
  #cur = 0
  #curBits = 0

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  /** reset points the reader at a new range; the reader is reused, nothing is allocated. */
  reset(buf: Uint8Array, pos = 0, end = buf.length): this {
    this.buf = buf
    this.pos = pos
    this.end = end
    this.#cur = 0
    this.#curBits = 0
    return this
  }

  #need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError(`read past end at byte ${this.pos}`)
  }

  u8(): number {
    this.#need(1)
    return this.buf[this.pos++]
  }

  u32(): number {
    this.#need(4)
    const b = this.buf
    const v =
      (b[this.pos] | (b[this.pos + 1] << 8) | (b[this.pos + 2] << 16)) + b[this.pos + 3] * 0x1000000
    this.pos += 4
    return v
  }

  uvarint(): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      this.#need(1)
      const byte = this.buf[this.pos++]
      result += (byte & 0x7f) * mul
      if (byte < 0x80) return result
      mul *= 128
    }
    throw new RangeError(`varint too long at byte ${this.pos}`)
  }

  varint(): number {
    return unzigzag(this.uvarint())
  }

  f64(): number {
    this.#need(8)
    const b = this.buf
    const f = this.#f64b
    const p = this.pos
    for (let i = 0; i < 8; i++) f[i] = b[p + i]
    this.pos += 8
    return this.#f64[0]
  }

  bytes(n: number): Uint8Array {
    this.#need(n)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  string(): string {
    const len = this.uvarint()
    this.#need(len)
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('utf8')
    this.pos += len
    return s
  }

  bits(n: number): number {
    let v = 0
    while (n > 0) {
      if (this.#curBits === 0) {
        this.#cur = this.u8()
        this.#curBits = 8
      }
      const take = n < this.#curBits ? n : this.#curBits
      const part = (this.#cur >>> (this.#curBits - take)) & ((1 << take) - 1)
      v = take === 32 ? part : v * (1 << take) + part
      this.#curBits -= take
      n -= take
    }
    return v
  }

  wideBits(n: number): number {
    if (n <= 32) return this.bits(n) >>> 0
    const hi = this.bits(n - 32)
    return hi * TWO_32 + (this.bits(32) >>> 0)
  }

  alignBits(): void {
    this.#curBits = 0
  }
}

/** zigzag maps signed safe integers to unsigned: 0, -1, 1, -2 … → 0, 1, 2, 3 … */
export function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1
}

/** unzigzag inverts zigzag. */
export function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2
}

/** bitWidth returns the bits needed for a non-negative safe integer (0 for 0). */
export function bitWidth(u: number): number {
  if (u < TWO_32) return 32 - Math.clz32(u)
  return 32 + (32 - Math.clz32(Math.floor(u / TWO_32)))
}
