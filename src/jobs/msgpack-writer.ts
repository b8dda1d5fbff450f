// A msgpack encoder that writes a sequence of values into one buffer of its own, for snapshots
// and for the Raft entries the leader builds (plain(): twice as fast as msgpackr's pack on them).
//
// Why not msgpackr's pack: it encodes into a buffer shared by the whole process and grows that
// buffer to fit the largest value it ever packed, then keeps allocating buffers of that size. One
// pack of a 150 MB state image would leave every later pack (each Raft entry, each response)
// writing into 150 MB buffers. Here a snapshot is a stream of small values written straight into
// a buffer that is dropped with the snapshot, and payload strings (stored-bytes.ts) are written as
// `bin` without an intermediate Buffer. msgpackr decodes the stream (unpackMultiple).

import { Packr } from 'msgpackr';

/** For the few values of no fixed shape (a session's remembered outcomes): small, packed one at a time. */
const packr = new Packr({ useRecords: false });

/** Growth factor when the estimate was short: amortized O(1) copies per byte. */
const GROWTH = 1.5;
/**
 * Strings up to this many characters are copied by a JS loop: a call into Buffer's native code
 * costs more than copying a short id or name byte by byte (a snapshot writes millions of them).
 */
const SHORT_STRING_CHARS_MAX = 256;

/** Map keys whose encoding a writer keeps: the protocol's field names, with room to spare. */
const KEYS_CACHED_MAX = 512;

export class MsgpackWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly keys = new Map<string, Uint8Array>();

  /** `estimatedBytes`: the expected total, so one allocation usually suffices. */
  constructor(estimatedBytes: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, Math.ceil(estimatedBytes)));
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written: a view of this writer's buffer, which nothing else shares. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /**
   * The bytes written, copied out into an allocation of their own (the writer may be reset and
   * used again): for what is kept a while, a Raft entry, which must not pin a shared pool slab.
   */
  copy(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, 0, this.pos);
  }

  /** The bytes written, copied into a Buffer (small ones from Node's pool): for what is sent and dropped, a frame. */
  copyToBuffer(): Buffer {
    const copy = Buffer.allocUnsafe(this.pos);
    this.buf.copy(copy, 0, 0, this.pos);
    return copy;
  }

  /** Bytes the writer holds on to between values. */
  get capacityBytes(): number {
    return this.buf.length;
  }

  /**
   * Forgets what was written. The buffer is kept for the next value, unless it grew beyond
   * `keepBytesMax` and the value just written fit within that: a writer that once encoded a large
   * value (a catch-up append of several MB) does not hold that much memory for the rest of the
   * process's life, while a run of large values (the catch-up itself) does not reallocate for each.
   */
  reset(keepBytesMax = Number.POSITIVE_INFINITY): void {
    if (this.buf.length > keepBytesMax && this.pos <= keepBytesMax) this.buf = Buffer.allocUnsafeSlow(keepBytesMax);
    this.pos = 0;
  }

  /**
   * Plain data: strings, numbers, booleans, null, byte arrays, arrays and plain objects of them
   * (properties holding undefined are left out, as absent). Answers false at anything else,
   * having written part of the value: reset and encode it another way.
   */
  plain(value: unknown): boolean {
    switch (typeof value) {
      case 'string':
        this.str(value);
        return true;
      case 'number':
        this.number(value);
        return true;
      case 'boolean':
        this.bool(value);
        return true;
      case 'object':
        if (value === null) {
          this.nil();
          return true;
        }
        if (Array.isArray(value)) {
          this.array(value.length);
          for (const item of value as unknown[]) if (!this.plain(item)) return false;
          return true;
        }
        if (value instanceof Uint8Array) {
          this.bin(value);
          return true;
        }
        return this.plainObject(value);
      default:
        return false;
    }
  }

  private plainObject(value: object): boolean {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    const record = value as Record<string, unknown>;
    // One pass: a map16 header whose count is filled in at the end (2 bytes more than a fixmap
    // for small maps, and no second walk over the properties to count the defined ones).
    this.room(3);
    const at = this.pos;
    this.pos += 3;
    let count = 0;
    for (const key in record) {
      const item = record[key];
      if (item === undefined) continue;
      this.key(key);
      if (!this.plain(item)) return false;
      count++;
    }
    if (count > 0xffff) return false;
    this.buf[at] = 0xde;
    this.buf.writeUInt16BE(count, at + 1);
    return true;
  }

  /** A `bin` of these bytes. */
  bin(bytes: Uint8Array): void {
    this.header(bytes.length, -1, 0, 0xc4, 0xc5, 0xc6);
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  nil(): void {
    this.room(1);
    this.buf[this.pos++] = 0xc0;
  }

  bool(value: boolean): void {
    this.room(1);
    this.buf[this.pos++] = value ? 0xc3 : 0xc2;
  }

  /** Integers up to 32 bits in the shortest form; any other number as a float64 (exact for safe integers). */
  number(value: number): void {
    this.room(9);
    const buf = this.buf;
    if (Number.isInteger(value) && value >= -0x8000_0000 && value <= 0xffff_ffff) {
      if (value >= 0) {
        if (value < 0x80) buf[this.pos++] = value;
        else if (value < 0x100) {
          buf[this.pos++] = 0xcc;
          buf[this.pos++] = value;
        } else if (value < 0x10000) {
          buf[this.pos++] = 0xcd;
          buf.writeUInt16BE(value, this.pos);
          this.pos += 2;
        } else {
          buf[this.pos++] = 0xce;
          buf.writeUInt32BE(value, this.pos);
          this.pos += 4;
        }
      } else if (value >= -32) buf[this.pos++] = 0xe0 | (value + 32);
      else {
        buf[this.pos++] = 0xd2;
        buf.writeInt32BE(value, this.pos);
        this.pos += 4;
      }
      return;
    }
    buf[this.pos++] = 0xcb;
    buf.writeDoubleBE(value, this.pos);
    this.pos += 8;
  }

  numberOrNil(value: number | null): void {
    if (value === null) this.nil();
    else this.number(value);
  }

  /** A UTF-8 `str`. */
  str(value: string): void {
    if (value.length <= SHORT_STRING_CHARS_MAX && this.shortAscii(value)) return;
    const bytes = Buffer.byteLength(value, 'utf8');
    this.header(bytes, 0xa0, 0x1f, 0xd9, 0xda, 0xdb);
    this.room(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
  }

  strOrNil(value: string | null): void {
    if (value === null) this.nil();
    else this.str(value);
  }

  /** A `bin` whose bytes are the characters of a one-byte string (stored-bytes.ts), or nil. */
  latin1BinOrNil(value: string | null): void {
    if (value === null) {
      this.nil();
      return;
    }
    this.header(value.length, -1, 0, 0xc4, 0xc5, 0xc6);
    this.room(value.length);
    if (value.length > SHORT_STRING_CHARS_MAX) {
      this.pos += this.buf.write(value, this.pos, value.length, 'latin1');
      return;
    }
    const buf = this.buf;
    for (let i = 0; i < value.length; i++) buf[this.pos++] = value.charCodeAt(i);
  }

  /** Writes `value` as a str when it is all ASCII (then its UTF-8 is its characters); false, writing nothing, when not. */
  private shortAscii(value: string): boolean {
    const start = this.pos;
    this.header(value.length, 0xa0, 0x1f, 0xd9, 0xda, 0xdb);
    this.room(value.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) {
        this.pos = start;
        return false;
      }
      buf[pos++] = code;
    }
    this.pos = pos;
    return true;
  }

  /** A map key: the same few names over and over, so their encodings are kept (up to KEYS_CACHED_MAX). */
  private key(name: string): void {
    const encoded = this.keys.get(name);
    if (encoded === undefined) {
      const start = this.pos;
      this.str(name);
      if (this.keys.size < KEYS_CACHED_MAX) this.keys.set(name, Uint8Array.prototype.slice.call(this.buf, start, this.pos));
      return;
    }
    this.room(encoded.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < encoded.length; i++) buf[pos++] = encoded[i] as number;
    this.pos = pos;
  }

  /** A `bin` of these bytes (each 0..255). */
  binOfCodes(codes: readonly number[]): void {
    this.header(codes.length, -1, 0, 0xc4, 0xc5, 0xc6);
    this.room(codes.length);
    const buf = this.buf;
    for (let i = 0; i < codes.length; i++) buf[this.pos++] = codes[i] as number;
  }

  array(count: number): void {
    this.header(count, 0x90, 0x0f, -1, 0xdc, 0xdd);
  }

  map(count: number): void {
    this.header(count, 0x80, 0x0f, -1, 0xde, 0xdf);
  }

  /** Any value, through msgpackr (keep it small: see the top of this file). */
  value(value: unknown): void {
    const packed = packr.pack(value);
    this.room(packed.length);
    packed.copy(this.buf, this.pos);
    this.pos += packed.length;
  }

  /** A length header: fix form (`fix` | n for n <= fixMax), else 8-, 16- or 32-bit (-1: no such form). */
  private header(n: number, fix: number, fixMax: number, code8: number, code16: number, code32: number): void {
    this.room(5);
    const buf = this.buf;
    if (fix >= 0 && n <= fixMax) buf[this.pos++] = fix | n;
    else if (code8 >= 0 && n < 0x100) {
      buf[this.pos++] = code8;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = code16;
      buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      buf[this.pos++] = code32;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(Math.ceil(this.buf.length * GROWTH), this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
