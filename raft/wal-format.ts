// The bytes of WalStorage's segment files. A segment is a 16-byte header followed by records:
//
//   header  "RAFTQWAL" (8) | format version u32 LE | 0 u32
//   record  body bytes u32 LE | crc32(body) u32 LE | body
//   body    flags u8
//           [FLAG_SNAPSHOT]   u32 length | snapshot file record (entry-codec, framed msgpack)
//           entry count u32   [> 0: first index f64 | per entry: term f64 | kind u8 | data bytes u32 | data]
//           [FLAG_HARD_STATE] u32 length | hard state (entry-codec)
//           [FLAG_CONFIG]     u32 length | config (entry-codec)
//
// One save is one record, so one checksum decides whether all of a save is there or none of it.
// The body's order is the order a PersistBatch applies in (snapshot, entries, hard state, config).
// Entries are raw bytes, not msgpack: a save copies each entry's data once, and a load can skip
// the entries a snapshot covers without decoding them.
import { crc32 } from 'node:zlib';
import * as codec from './entry-codec.js';
import type { ClusterConfig, Entry, EntryKind, HardState } from './types.js';

/** LevelStorage's layout was format 1; segment files are format 2. */
export const WAL_FORMAT_VERSION = 2;
const MAGIC = Buffer.from('RAFTQWAL', 'latin1');
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 8;
const ENTRY_HEADER_BYTES = 8 + 1 + 4;
/** Flags and entry count: every record has at least these. */
const BODY_BYTES_MIN = 1 + 4;

/** The first record of every segment: the state the older segments leave, so they can be deleted. */
export const FLAG_CHECKPOINT = 1;
export const FLAG_SNAPSHOT = 2;
/** With FLAG_SNAPSHOT: the stored entry at the snapshot's index had its term, so entries after it stay. */
export const FLAG_KEEPS_SUFFIX = 4;
export const FLAG_HARD_STATE = 8;
export const FLAG_CONFIG = 16;
const FLAGS_KNOWN = FLAG_CHECKPOINT | FLAG_SNAPSHOT | FLAG_KEEPS_SUFFIX | FLAG_HARD_STATE | FLAG_CONFIG;

const KINDS: readonly EntryKind[] = ['normal', 'config'];

export class WalFormatError extends Error {}

export interface RecordContent {
  checkpoint?: boolean;
  snapshot?: { record: codec.SnapshotFileRecord; keepsSuffix: boolean };
  entries?: readonly Entry[];
  hardState?: HardState;
  config?: ClusterConfig;
}

/** A decoded record. Entry data views the buffer the record was read from: copy what outlives it. */
export interface DecodedRecord {
  checkpoint: boolean;
  snapshot: { record: codec.SnapshotFileRecord; keepsSuffix: boolean } | null;
  entries: Entry[];
  hardState: HardState | null;
  config: ClusterConfig | null;
}

export function segmentHeader(): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(WAL_FORMAT_VERSION, 8);
  return header;
}

/** Throws WalFormatError for bytes that are not a segment header; returns the format version. */
export function readSegmentHeader(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < SEGMENT_HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) throw new WalFormatError('not a raftq segment (bad magic)');
  return buf.readUInt32LE(8);
}

/**
 * Builds records into one buffer reused from save to save (the caller writes it and waits before
 * the next build). A buffer a large save grew is given back once a save fits again, so one 8 MB
 * entry does not pin 8 MB for the rest of the process's life.
 */
export class RecordWriter {
  private buf: Buffer;
  private used = 0;

  constructor(private readonly keepBytesMax = 1 << 20) {
    this.buf = Buffer.allocUnsafe(64 * 1024);
  }

  get capacityBytes(): number {
    return this.buf.byteLength;
  }

  /** Starts a new build; `prefix` (a segment header) goes first when given. */
  begin(prefix?: Uint8Array): void {
    this.used = 0;
    if (prefix !== undefined) {
      this.ensure(prefix.byteLength);
      this.buf.set(prefix, 0);
      this.used = prefix.byteLength;
    }
  }

  append(content: RecordContent): void {
    const snapshotBytes = content.snapshot === undefined ? null : codec.encodeSnapshotFileRecord(content.snapshot.record);
    const hardStateBytes = content.hardState === undefined ? null : codec.encodeHardState(content.hardState);
    const configBytes = content.config === undefined ? null : codec.encodeConfig(content.config);
    const entries = content.entries ?? [];
    let bodyBytes = 1 + 4;
    if (snapshotBytes !== null) bodyBytes += 4 + snapshotBytes.byteLength;
    if (entries.length > 0) bodyBytes += 8;
    for (const e of entries) bodyBytes += ENTRY_HEADER_BYTES + e.data.byteLength;
    if (hardStateBytes !== null) bodyBytes += 4 + hardStateBytes.byteLength;
    if (configBytes !== null) bodyBytes += 4 + configBytes.byteLength;
    if (bodyBytes > 0xffff_ffff) throw new Error(`storage invariant: a record of ${bodyBytes} bytes does not fit a u32 length`);
    const start = this.used;
    this.ensure(start + RECORD_HEADER_BYTES + bodyBytes);
    const buf = this.buf;
    let at = start + RECORD_HEADER_BYTES;
    let flags = 0;
    if (content.checkpoint === true) flags |= FLAG_CHECKPOINT;
    if (content.snapshot !== undefined) flags |= FLAG_SNAPSHOT | (content.snapshot.keepsSuffix ? FLAG_KEEPS_SUFFIX : 0);
    if (hardStateBytes !== null) flags |= FLAG_HARD_STATE;
    if (configBytes !== null) flags |= FLAG_CONFIG;
    buf[at++] = flags;
    if (snapshotBytes !== null) at = putBlob(buf, at, snapshotBytes);
    buf.writeUInt32LE(entries.length, at);
    at += 4;
    if (entries.length > 0) {
      buf.writeDoubleLE(entries[0]!.index, at);
      at += 8;
      for (const e of entries) {
        buf.writeDoubleLE(e.term, at);
        buf[at + 8] = e.kind === 'normal' ? 0 : 1;
        buf.writeUInt32LE(e.data.byteLength, at + 9);
        at += ENTRY_HEADER_BYTES;
        buf.set(e.data, at);
        at += e.data.byteLength;
      }
    }
    if (hardStateBytes !== null) at = putBlob(buf, at, hardStateBytes);
    if (configBytes !== null) at = putBlob(buf, at, configBytes);
    const body = buf.subarray(start + RECORD_HEADER_BYTES, at);
    buf.writeUInt32LE(body.byteLength, start);
    buf.writeUInt32LE(crc32(body) >>> 0, start + 4);
    this.used = at;
  }

  /** What was built since begin(); valid until the next begin(). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  /** Called after the bytes were written: shrinks a buffer a large save grew, once a save fits. */
  release(): void {
    if (this.buf.byteLength > this.keepBytesMax && this.used <= this.keepBytesMax) this.buf = Buffer.allocUnsafe(this.keepBytesMax);
    this.used = 0;
  }

  private ensure(bytes: number): void {
    if (bytes <= this.buf.byteLength) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, this.buf.byteLength * 2));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }
}

function putBlob(buf: Buffer, at: number, blob: Uint8Array): number {
  buf.writeUInt32LE(blob.byteLength, at);
  buf.set(blob, at + 4);
  return at + 4 + blob.byteLength;
}

/** What reading a record at `offset` of `bytes` found. */
export type RecordRead =
  | { kind: 'record'; bodyStart: number; end: number }
  /** The bytes end before the record does, or what is left is all zero: what a crash mid-write leaves. */
  | { kind: 'incomplete' }
  | { kind: 'checksum'; detail: string };

export function readRecordAt(bytes: Buffer, offset: number): RecordRead {
  const left = bytes.byteLength - offset;
  if (left < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const bodyBytes = bytes.readUInt32LE(offset);
  if (bodyBytes < BODY_BYTES_MIN) {
    // Zeros pass the checksum (crc32 of nothing is 0): tell them apart by length, which no record has.
    if (allZero(bytes, offset)) return { kind: 'incomplete' };
    return { kind: 'checksum', detail: `a record of ${bodyBytes} bytes, shorter than any record` };
  }
  const end = offset + RECORD_HEADER_BYTES + bodyBytes;
  if (end > bytes.byteLength) return { kind: 'incomplete' };
  const body = bytes.subarray(offset + RECORD_HEADER_BYTES, end);
  const crcStored = bytes.readUInt32LE(offset + 4);
  const crcActual = crc32(body) >>> 0;
  if (crcStored !== crcActual) {
    // A file system may extend a file before the data lands (power loss): zeros to the end are a torn tail, not damage.
    if (allZero(bytes, offset)) return { kind: 'incomplete' };
    return { kind: 'checksum', detail: `checksum mismatch (stored ${crcStored}, computed ${crcActual}) in a record of ${bodyBytes} bytes` };
  }
  return { kind: 'record', bodyStart: offset + RECORD_HEADER_BYTES, end };
}

function allZero(bytes: Buffer, from: number, to = bytes.byteLength): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** A device writes whole sectors: a write a crash cut short leaves whole sectors of it unwritten. */
const SECTOR_BYTES = 512;

/**
 * Whether the record at `offset` of a segment (`bytes` from the file's start), whose checksum
 * failed, is a write a crash cut short rather than damage: nothing but zeros follows it, and one of
 * the sector-aligned pieces it spans is all zeros, as the sectors a torn write did not reach still
 * hold the zeros written ahead of the records (wal-storage.ts, SEGMENT_PREALLOCATE_BYTES). A flipped
 * bit leaves no such piece. etcd's WAL tells a torn write from damage the same way.
 */
export function isTornRecord(bytes: Buffer, offset: number): boolean {
  const end = Math.min(bytes.byteLength, offset + RECORD_HEADER_BYTES + bytes.readUInt32LE(offset));
  if (!allZero(bytes, end)) return false;
  for (let from = offset; from < end; ) {
    const to = Math.min(end, (Math.floor(from / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (allZero(bytes, from, to)) return true;
    from = to;
  }
  return false;
}

/**
 * Decodes a checked record body. With `copyData` false, entry data views `bytes` (replay copies
 * only the entries it keeps); true copies each entry's data out of `bytes`.
 */
export function decodeRecordBody(bytes: Buffer, bodyStart: number, end: number, copyData: boolean): DecodedRecord {
  let at = bodyStart;
  const need = (n: number, what: string): void => {
    if (at + n > end) throw new WalFormatError(`record ends inside its ${what}`);
  };
  need(1, 'flags');
  const flags = bytes[at++]!;
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new WalFormatError(`record has unknown flags ${flags}`);
  const blob = <T>(what: string, decode: (b: Uint8Array) => T): T => {
    need(4, what);
    const length = bytes.readUInt32LE(at);
    at += 4;
    need(length, what);
    const value = decode(bytes.subarray(at, at + length));
    at += length;
    return value;
  };
  const snapshot = (flags & FLAG_SNAPSHOT) !== 0 ? { record: blob('snapshot', codec.decodeSnapshotFileRecord), keepsSuffix: (flags & FLAG_KEEPS_SUFFIX) !== 0 } : null;
  need(4, 'entry count');
  const count = bytes.readUInt32LE(at);
  at += 4;
  const entries: Entry[] = [];
  if (count > 0) {
    need(8, 'first index');
    const firstIndex = bytes.readDoubleLE(at);
    at += 8;
    if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) throw new WalFormatError(`record's first index ${firstIndex} is not a log index`);
    for (let i = 0; i < count; i++) {
      need(ENTRY_HEADER_BYTES, 'entry header');
      const term = bytes.readDoubleLE(at);
      const kind = KINDS[bytes[at + 8]!];
      const dataBytes = bytes.readUInt32LE(at + 9);
      at += ENTRY_HEADER_BYTES;
      if (!Number.isSafeInteger(term) || term < 1 || kind === undefined) throw new WalFormatError(`entry ${firstIndex + i} has term ${term}, kind byte ${bytes[at - 5]}`);
      need(dataBytes, 'entry data');
      const view = bytes.subarray(at, at + dataBytes);
      const data = copyData ? new Uint8Array(view) : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      at += dataBytes;
      entries.push({ index: firstIndex + i, term, kind, data });
    }
  }
  const hardState = (flags & FLAG_HARD_STATE) !== 0 ? blob('hard state', codec.decodeHardState) : null;
  const config = (flags & FLAG_CONFIG) !== 0 ? blob('config', codec.decodeConfig) : null;
  if (at !== end) throw new WalFormatError(`record has ${end - at} bytes after its last field`);
  return { checkpoint: (flags & FLAG_CHECKPOINT) !== 0, snapshot, entries, hardState, config };
}
