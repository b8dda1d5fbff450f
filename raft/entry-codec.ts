// Storage encoding of the Raft vocabulary. msgpack with plain maps (no records) so a stored value
// can be read by any msgpack tool and does not depend on a structure table held by this process.
//
// Every value is framed as [crc32 of body, 4 bytes big-endian][body]. LevelDB does not verify its
// block checksums on reads by default (and classic-level exposes no paranoid mode), so a damaged
// file could otherwise hand back a well-formed but wrong entry; the frame turns that into an error.
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { ClusterConfig, Entry, EntryKind, HardState, SnapshotMeta } from './types.js';

const packr = new Packr({ useRecords: false });

export const FRAME_HEADER_BYTES = 4;

/** Thrown when stored bytes do not decode to a valid value; the storage adds which key it was. */
export class CodecError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CodecError';
  }
}

/** The stored snapshot header: Raft's SnapshotMeta plus where and how its data lies in chunks. */
export interface SnapshotRecord {
  meta: SnapshotMeta;
  /** Chunks are keyed by generation, so a new snapshot's chunks never overwrite the live ones. */
  generation: number;
  dataBytes: number;
  chunkCount: number;
}

export function frameValue(body: Uint8Array): Uint8Array {
  const framed = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength);
  new DataView(framed.buffer).setUint32(0, crc32(body) >>> 0, false);
  framed.set(body, FRAME_HEADER_BYTES);
  return framed;
}

/** Returns a view of the body (no copy) after checking the checksum. */
export function unframeValue(framed: Uint8Array): Uint8Array {
  if (framed.byteLength < FRAME_HEADER_BYTES) throw new CodecError(`value of ${framed.byteLength} bytes is shorter than its frame header`);
  const view = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
  const crcStored = view.getUint32(0, false);
  const body = framed.subarray(FRAME_HEADER_BYTES);
  const crcActual = crc32(body) >>> 0;
  if (crcStored !== crcActual) throw new CodecError(`checksum mismatch (stored ${crcStored}, computed ${crcActual})`);
  return body;
}

function pack(value: unknown): Uint8Array {
  return frameValue(packr.pack(value));
}

function unpack(framed: Uint8Array): unknown {
  const body = unframeValue(framed);
  try {
    return packr.unpack(body);
  } catch (err) {
    throw new CodecError(`undecodable msgpack: ${(err as Error).message}`);
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new CodecError(`${what} is not a map`);
  }
  return value as Record<string, unknown>;
}

function naturalField(rec: Record<string, unknown>, field: string, what: string): number {
  const value = rec[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new CodecError(`${what}.${field} is not a non-negative safe integer: ${String(value)}`);
  }
  return value;
}

/** msgpackr decodes binary as a Buffer viewing the read buffer; hand out a plain Uint8Array view. */
function bytesField(rec: Record<string, unknown>, field: string, what: string): Uint8Array {
  const value = rec[field];
  if (!(value instanceof Uint8Array)) throw new CodecError(`${what}.${field} is not binary`);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function configOf(value: unknown, what: string): ClusterConfig {
  const rec = record(value, what);
  const voters = rec['voters'];
  if (!Array.isArray(voters) || !voters.every((v): v is string => typeof v === 'string')) {
    throw new CodecError(`${what}.voters is not a list of node ids`);
  }
  return { voters: [...voters] };
}

const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'config'];

export function encodeEntry(entry: Entry): Uint8Array {
  return pack({ index: entry.index, term: entry.term, kind: entry.kind, data: entry.data });
}

/** Entry.data comes back as a plain Uint8Array (never a Buffer), viewing `framed`'s memory. */
export function decodeEntry(framed: Uint8Array): Entry {
  const rec = record(unpack(framed), 'entry');
  const kind = rec['kind'];
  if (!ENTRY_KINDS.includes(kind as EntryKind)) throw new CodecError(`entry.kind is unknown: ${String(kind)}`);
  return {
    index: naturalField(rec, 'index', 'entry'),
    term: naturalField(rec, 'term', 'entry'),
    kind: kind as EntryKind,
    data: bytesField(rec, 'data', 'entry'),
  };
}

export function encodeHardState(hs: HardState): Uint8Array {
  return pack({ term: hs.term, vote: hs.vote, commit: hs.commit });
}

export function decodeHardState(framed: Uint8Array): HardState {
  const rec = record(unpack(framed), 'hardState');
  const vote = rec['vote'];
  if (vote !== null && typeof vote !== 'string') throw new CodecError(`hardState.vote is neither null nor a node id`);
  return { term: naturalField(rec, 'term', 'hardState'), vote, commit: naturalField(rec, 'commit', 'hardState') };
}

export function encodeConfig(config: ClusterConfig): Uint8Array {
  return pack({ voters: config.voters });
}

export function decodeConfig(framed: Uint8Array): ClusterConfig {
  return configOf(unpack(framed), 'config');
}

function snapshotMetaOf(rec: Record<string, unknown>): SnapshotMeta {
  return { index: naturalField(rec, 'index', 'snapshot'), term: naturalField(rec, 'term', 'snapshot'), config: configOf({ voters: rec['voters'] }, 'snapshot') };
}

export function encodeSnapshotRecord(rec: SnapshotRecord): Uint8Array {
  const { index, term, config } = rec.meta;
  return pack({ index, term, voters: config.voters, generation: rec.generation, dataBytes: rec.dataBytes, chunkCount: rec.chunkCount });
}

export function decodeSnapshotRecord(framed: Uint8Array): SnapshotRecord {
  const rec = record(unpack(framed), 'snapshot');
  return {
    meta: snapshotMetaOf(rec),
    generation: naturalField(rec, 'generation', 'snapshot'),
    dataBytes: naturalField(rec, 'dataBytes', 'snapshot'),
    chunkCount: naturalField(rec, 'chunkCount', 'snapshot'),
  };
}

/** A snapshot kept in a file of its own (WalStorage): Raft's SnapshotMeta, which file, and how to check it. */
export interface SnapshotFileRecord {
  meta: SnapshotMeta;
  generation: number;
  dataBytes: number;
  /** crc32 of the whole file: a snapshot is loaded whole, so one checksum covers it. */
  dataCrc: number;
}

export function encodeSnapshotFileRecord(rec: SnapshotFileRecord): Uint8Array {
  const { index, term, config } = rec.meta;
  return pack({ index, term, voters: config.voters, generation: rec.generation, dataBytes: rec.dataBytes, dataCrc: rec.dataCrc });
}

export function decodeSnapshotFileRecord(framed: Uint8Array): SnapshotFileRecord {
  const rec = record(unpack(framed), 'snapshot');
  return {
    meta: snapshotMetaOf(rec),
    generation: naturalField(rec, 'generation', 'snapshot'),
    dataBytes: naturalField(rec, 'dataBytes', 'snapshot'),
    dataCrc: naturalField(rec, 'dataCrc', 'snapshot'),
  };
}

export function encodeFormatVersion(version: number): Uint8Array {
  return pack({ formatVersion: version });
}

export function decodeFormatVersion(framed: Uint8Array): number {
  return naturalField(record(unpack(framed), 'format'), 'formatVersion', 'format');
}

/** Snapshot chunks are raw bytes in a frame: no msgpack, no copy on the way out. */
export function encodeSnapshotChunk(chunk: Uint8Array): Uint8Array {
  return frameValue(chunk);
}

/**
 * encodeSnapshotChunk into `into` (at least FRAME_HEADER_BYTES + chunk.byteLength long); returns
 * the view holding the framed chunk. Lets a writer reuse one buffer for every chunk of a snapshot.
 */
export function encodeSnapshotChunkInto(chunk: Uint8Array, into: Uint8Array): Uint8Array {
  const framed = into.subarray(0, FRAME_HEADER_BYTES + chunk.byteLength);
  new DataView(framed.buffer, framed.byteOffset, FRAME_HEADER_BYTES).setUint32(0, crc32(chunk) >>> 0, false);
  framed.set(chunk, FRAME_HEADER_BYTES);
  return framed;
}

export function decodeSnapshotChunk(framed: Uint8Array): Uint8Array {
  return unframeValue(framed);
}
