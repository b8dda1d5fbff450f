// LogStorage in files of our own: the Raft log is a write-ahead log of segment files, and each
// snapshot is one file beside it. Replaces LevelDB for the log because a Raft log is append-only
// and read back only at start: LevelDB's compaction thread took 11–17% of a CPU per node under
// batches rewriting entries a snapshot deletes soon after. In the cluster this engine costs 5–10%
// less CPU per job under batches and the same elsewhere (docs/perf/README.md, "Session 7").
//
//   wal-<seq>.log          segments (wal-format.ts); each starts with a checkpoint record
//   snapshot-<gen>.snap    the snapshot named by the newest snapshot record; written to
//                          .snap.tmp, fsync'd and renamed before any record names it
//   RAFTQ-DURABLE          the durability watermark (watermark.ts)
//
// A save is one record written with one positional write on a descriptor opened O_DSYNC: it
// returns once the record is durable, in one trip to the libuv pool instead of a write and an
// fdatasync. A crash mid-write leaves a record cut short at the end of the newest segment, or one
// with unwritten (still zero) sectors in the zeros written ahead of it, which load drops (a torn
// tail); any other checksum failure, a record cut short in an older segment,
// or a missing segment is damage, and load refuses with STORAGE_CORRUPT. A torn tail that took
// acknowledged writes with it is caught by the watermark, as with LevelDB.
//
// Segments rotate at segmentBytesMax. A segment goes once a snapshot covers every entry in it and
// a newer segment exists, whose checkpoint carries the state the old one held (wal-replay.ts).
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { SnapshotFileRecord } from './entry-codec.js';
import { EMPTY_BOUNDS, StorageCorruptError, invariant, planSave, type LogBounds } from './memory-storage.js';
import { EMPTY_HARD_STATE, type LoadOptions, type LogStorage, type PersistBatch, type PersistedState, type SnapshotFileWriter } from './storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Entry, type HardState, type Snapshot, type SnapshotSource } from './types.js';
import { RecordWriter, SEGMENT_HEADER_BYTES, WAL_FORMAT_VERSION, WalFormatError, decodeRecordBody, isTornRecord, readRecordAt, readSegmentHeader, segmentHeader, type RecordContent } from './wal-format.js';
import { WalReplay, type EntryLocation } from './wal-replay.js';
import { WriteQueue } from './write-queue.js';
import { DurabilityWatermark, WATERMARK_FILE, WatermarkError } from './watermark.js';

/** A segment rotates once it would grow past this (etcd's WAL uses the same 64 MiB). */
export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/**
 * A record that would grow the active segment is written followed by this many zeros, which the
 * records after it overwrite: an O_DSYNC write that does not change the file's size commits no
 * metadata to the file system's journal. Measured on this machine's ext4, a 300-byte save: p50
 * 125 vs 180 µs, p99 390 vs 510-850 µs, CPU 50 vs 78 µs. Replay takes zeros after the last record
 * for a torn tail; rotation and close cut them off, so only the newest segment ever ends in zeros.
 */
export const SEGMENT_PREALLOCATE_BYTES = 1024 * 1024;
/**
 * Only a record up to this size pads the segment: a larger write costs far more than the journal
 * commit it would save, and padding after it would double the bytes written under batches (A/B,
 * `enqueue-batch`: 139-143k against 147-149k jobs/s when every record padded).
 */
const PREALLOCATE_RECORD_BYTES_MAX = 64 * 1024;
/** Snapshot data is written, read back and checksummed in pieces of this size, so none holds the event loop long. */
const SNAPSHOT_WRITE_CHUNK_BYTES = 1 << 20;
const SEQ_DIGITS = 12;
const SEGMENT_NAME = /^wal-(\d{12})\.log$/;
const SNAPSHOT_NAME = /^snapshot-(\d{12})\.snap(\.tmp)?$/;

export interface WalStorageOptions {
  /** Rotate segments past this many bytes (tests use small ones to cover rotation and deletion). */
  segmentBytesMax?: number;
}

interface Segment {
  seq: number;
  /** Highest entry index written into it; 0 when none. It can go once a snapshot covers this. */
  maxEntryIndex: number;
}

function segmentName(seq: number): string {
  return `wal-${String(seq).padStart(SEQ_DIGITS, '0')}.log`;
}

function snapshotName(generation: number): string {
  return `snapshot-${String(generation).padStart(SEQ_DIGITS, '0')}.snap`;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsyncDir on the libuv pool: for the paths a running node takes, where the event loop must not wait. */
async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function writeAt(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === bytes.byteLength) return resolve();
      fs.write(fd, bytes, done, bytes.byteLength - done, position + done, (err, written) => (err ? reject(err) : step(done + written)));
    };
    step(0);
  });
}

/** Cuts a file to `bytes` and makes the new size durable. */
function truncateDurably(fd: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.ftruncate(fd, bytes, (err) => (err ? reject(err) : fs.fdatasync(fd, (syncErr) => (syncErr ? reject(syncErr) : resolve()))));
  });
}

function readAt(fd: number, into: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === into.byteLength) return resolve();
      fs.read(fd, into, done, into.byteLength - done, position + done, (err, read) => {
        if (err) return reject(err);
        if (read === 0) return reject(new StorageCorruptError(`file ends ${into.byteLength - done} bytes early`));
        step(done + read);
      });
    };
    step(0);
  });
}

/**
 * A snapshot of our own written to `<final>.tmp` piece by piece while it is encoded; finish
 * makes it durable under its final name, which no record names until the save that follows.
 */
class WalSnapshotFile implements SnapshotFileWriter {
  bytes = 0;
  private crc = 0;
  private state: 'open' | 'finished' | 'aborted' = 'open';
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly generation: number,
    private readonly dir: string,
    private readonly handle: fsp.FileHandle,
    /** A failed write fails the storage, as any write does (WriteQueue.guard). */
    private readonly guard: <T>(io: () => Promise<T>) => Promise<T>,
    /** Called once an abandoned file is gone (the storage may stage another). */
    private readonly onAbort: () => void,
  ) {}

  static async create(dir: string, generation: number, guard: <T>(io: () => Promise<T>) => Promise<T>, onAbort: () => void): Promise<WalSnapshotFile> {
    const handle = await guard(() => fsp.open(WalSnapshotFile.tmpPath(dir, generation), 'w'));
    return new WalSnapshotFile(generation, dir, handle, guard, onAbort);
  }

  private static tmpPath(dir: string, generation: number): string {
    return `${join(dir, snapshotName(generation))}.tmp`;
  }

  async write(chunk: Uint8Array): Promise<void> {
    invariant(this.state === 'open', `write to a snapshot file that is ${this.state}`);
    const at = this.bytes;
    this.bytes += chunk.byteLength;
    this.crc = crc32(chunk, this.crc);
    const written = this.writing.then(() => this.guard(() => writeAt(this.handle.fd, chunk, at)));
    this.writing = written.catch(() => undefined);
    return written;
  }

  /** Durable under its final name (fsync, rename, fsync the directory); answers the data's crc32. */
  async finish(): Promise<number> {
    invariant(this.state === 'open', `finish of a snapshot file that is ${this.state}`);
    this.state = 'finished';
    await this.writing;
    await this.guard(async () => {
      try {
        await this.handle.sync();
      } finally {
        await this.handle.close();
      }
      await fsp.rename(WalSnapshotFile.tmpPath(this.dir, this.generation), join(this.dir, snapshotName(this.generation)));
      await fsyncDirAsync(this.dir);
    });
    return this.crc >>> 0;
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    try {
      await this.writing;
      await this.handle.close();
    } finally {
      // Off the event loop: a received image dropped may be hundreds of MB (see WalStorage.removals).
      await fsp.rm(WalSnapshotFile.tmpPath(this.dir, this.generation), { force: true });
      this.onAbort();
    }
  }
}

/**
 * Reads a snapshot file whole and checks it against its record. Read and checksummed a chunk at a
 * time, so a 160 MB image does not hold the event loop for one long checksum.
 */
async function readSnapshotImage(fd: number, record: SnapshotFileRecord): Promise<Uint8Array> {
  checkSnapshotSize(record, fs.fstatSync(fd).size);
  const data = new Uint8Array(record.dataBytes);
  let crc = 0;
  for (let offset = 0; offset < data.byteLength; offset += SNAPSHOT_WRITE_CHUNK_BYTES) {
    const chunk = data.subarray(offset, offset + SNAPSHOT_WRITE_CHUNK_BYTES);
    await readAt(fd, chunk, offset);
    crc = crc32(chunk, crc);
  }
  checkSnapshotCrc(record, crc);
  return data;
}

function checkSnapshotSize(record: SnapshotFileRecord, fileBytes: number): void {
  if (fileBytes !== record.dataBytes) throw new StorageCorruptError(`${snapshotName(record.generation)} holds ${fileBytes} bytes, the log says ${record.dataBytes}`);
}

function checkSnapshotCrc(record: SnapshotFileRecord, crc: number): void {
  if (crc >>> 0 !== record.dataCrc) throw new StorageCorruptError(`${snapshotName(record.generation)}: checksum mismatch (recorded ${record.dataCrc}, computed ${crc >>> 0})`);
}

/** A stored snapshot's file read in order, its checksum checked by the read that ends it. */
class WalSnapshotSource implements SnapshotSource {
  private offset = 0;
  private crc = 0;
  private closed = false;

  constructor(
    private readonly record: SnapshotFileRecord,
    private readonly handle: fsp.FileHandle,
  ) {}

  get meta(): SnapshotFileRecord['meta'] {
    return this.record.meta;
  }

  get bytes(): number {
    return this.record.dataBytes;
  }

  async read(length: number): Promise<Uint8Array> {
    invariant(!this.closed, 'read from a closed snapshot source');
    const piece = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.record.dataBytes - this.offset)));
    await readAt(this.handle.fd, piece, this.offset);
    this.offset += piece.byteLength;
    this.crc = crc32(piece, this.crc);
    if (this.offset === this.record.dataBytes) checkSnapshotCrc(this.record, this.crc);
    return piece;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

export class WalStorage implements LogStorage {
  readonly engine = 'wal' as const;
  private bounds: LogBounds = EMPTY_BOUNDS;
  private hardState: HardState = EMPTY_HARD_STATE;
  private config: ClusterConfig | null = null;
  private snapshotRecord: SnapshotFileRecord | null = null;
  /** Where each stored entry's record is, and its term; [0] is snapshot index + 1. */
  private locations: EntryLocation[] = [];
  private terms: number[] = [];
  /** The index locations[0] stands for: the snapshot index + 1. */
  private locationsBase = 1;
  private segments: Segment[] = [];
  private activeFd: number | null = null;
  private activeBytes = 0;
  /** The active segment's size on disk: activeBytes, then preallocated zeros (SEGMENT_PREALLOCATE_BYTES). */
  private activeAllocatedBytes = 0;
  /** Where the active segment's checkpoint ends: a segment holding nothing more never rotates. */
  private activeCheckpointEnd = 0;
  private nextGeneration = 1;
  /** Generations of snapshot files being written (ours while encoded, the leader's as they arrive). */
  private readonly staging = new Set<number>();
  private readonly writer = new RecordWriter();
  private phase: 'opened' | 'loaded' | 'closed' = 'opened';
  /** One write at a time, none after a failed one (write-queue.ts). */
  private readonly writes = new WriteQueue();
  /**
   * Files nothing names any more, being unlinked in order on the libuv pool. On this machine's ext4
   * (mounted with discard) unlinking a 64 MiB segment took 16-22 ms, and every node drops its
   * segments at the same snapshot index: done on the event loop, it stalled all three at once.
   */
  private removals: Promise<void> = Promise.resolve();
  /** The first removal that failed (every later write is refused: WriteQueue.guard). */
  private removalFailure: unknown = null;

  private constructor(
    readonly dir: string,
    private readonly watermark: DurabilityWatermark,
    private readonly segmentBytesMax: number,
  ) {}

  static async open(dir: string, options: WalStorageOptions = {}): Promise<WalStorage> {
    fs.mkdirSync(dir, { recursive: true });
    let watermark: DurabilityWatermark;
    try {
      watermark = new DurabilityWatermark(dir);
    } catch (err) {
      throw new StorageCorruptError((err as Error).message, { cause: err });
    }
    return new WalStorage(dir, watermark, options.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT);
  }

  async load(options: LoadOptions = {}): Promise<PersistedState> {
    invariant(this.phase === 'opened', `load is called once, on an open storage (phase ${this.phase})`);
    const { segments, generations } = this.listFiles();
    const replay = new WalReplay();
    let tornAt: number | null = null;
    let checkpointEnd: number | null = null;
    for (const [i, seq] of segments.entries()) {
      const isLast = i === segments.length - 1;
      const name = segmentName(seq);
      const bytes = await fsp.readFile(join(this.dir, name));
      const read = this.replaySegment(bytes, seq, isLast, replay);
      tornAt = read.tornAt;
      checkpointEnd = read.checkpointEnd;
    }
    const replayed = replay.finish();
    // Left on disk: checked (size, checksum) when it is read, as any read of it is.
    const snapshot = replayed.snapshot === null ? null : options.snapshotData === false ? { meta: replayed.snapshot.meta, data: RELEASED_SNAPSHOT_DATA } : await this.readSnapshotFile(replayed.snapshot);
    const last = replayed.entries[replayed.entries.length - 1];
    const snapshotIndex = replayed.snapshot?.meta.index ?? 0;
    const snapshotTerm = replayed.snapshot?.meta.term ?? 0;
    this.bounds = { snapshotIndex, snapshotTerm, lastIndex: last?.index ?? snapshotIndex, lastTerm: last?.term ?? snapshotTerm };
    try {
      this.watermark.check(replayed.hardState, this.bounds.lastIndex);
    } catch (err) {
      if (err instanceof WatermarkError) throw new StorageCorruptError(`${this.dir}: ${err.message}`, { cause: err });
      throw err;
    }
    this.hardState = replayed.hardState;
    this.config = replayed.config;
    this.snapshotRecord = replayed.snapshot;
    this.locations = replayed.locations;
    this.terms = replayed.entries.map((e) => e.term);
    this.locationsBase = snapshotIndex + 1;
    this.segments = segments.map((seq) => ({ seq, maxEntryIndex: replayed.maxEntryIndexBySegment.get(seq) ?? 0 }));
    this.nextGeneration = Math.max(0, ...generations) + 1;
    await this.openActive(tornAt, checkpointEnd);
    this.removeDeadFiles();
    await this.removed();
    // Files it could not remove: refuse to start, as before the removals left the event loop.
    if (this.removalFailure !== null) throw this.removalFailure;
    this.phase = 'loaded';
    this.writes.markLoaded();
    // Copies: the views would keep whole segment buffers alive for as long as Raft holds an entry.
    const entries = replayed.entries.map((e) => ({ index: e.index, term: e.term, kind: e.kind, data: e.data.slice() }));
    return { hardState: { ...replayed.hardState }, snapshot, entries, config: replayed.config };
  }

  save(batch: PersistBatch): Promise<void> {
    const file = batch.snapshotFile;
    // A file the save never finished (refused, or failed before it) is removed, not left staged.
    if (file !== undefined) return this.saveRouted(batch).catch(async (err: unknown) => {
      await file.abort().catch(() => undefined);
      throw err;
    });
    return this.saveRouted(batch);
  }

  private async saveRouted(batch: PersistBatch): Promise<void> {
    // A snapshot alone in its batch (ours) is made durable beside the log's saves, which go on
    // meanwhile; only the record naming it waits its turn. One with a hard state or entries (the
    // leader's) is saved in its turn, whole.
    if (batch.snapshotFile !== undefined) invariant(batch.snapshot !== undefined, 'a snapshot file is saved with its snapshot');
    if (batch.snapshot !== undefined && batch.entries === undefined && batch.hardState === undefined) return await this.saveSnapshotStaged(batch);
    return await this.writes.run(() => this.saveNow(batch));
  }

  compact(upToIndex: number): Promise<void> {
    return this.writes.run(async () => {
      invariant(upToIndex <= this.bounds.snapshotIndex, `compact to ${upToIndex} beyond the snapshot at ${this.bounds.snapshotIndex}`);
      this.deleteDeadSegments();
      await this.removed();
    });
  }

  async loadSnapshot(): Promise<Snapshot | null> {
    this.checkReadable();
    const record = this.snapshotRecord;
    if (record === null) return null;
    // Opened now, so a newer snapshot replacing this file meanwhile does not take it away from us.
    const fd = fs.openSync(join(this.dir, snapshotName(record.generation)), 'r');
    try {
      return { meta: record.meta, data: await readSnapshotImage(fd, record) };
    } finally {
      fs.closeSync(fd);
    }
  }

  async openSnapshotSource(): Promise<SnapshotSource | null> {
    this.checkReadable();
    const record = this.snapshotRecord;
    if (record === null) return null;
    // Opened now, so a newer snapshot replacing this file meanwhile does not take it away from us.
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(join(this.dir, snapshotName(record.generation)), 'r');
    } catch (err) {
      throw new StorageCorruptError(`${snapshotName(record.generation)}, which the log names as the snapshot at ${record.meta.index}, cannot be read: ${(err as Error).message}`, { cause: err });
    }
    try {
      const fileBytes = (await handle.stat()).size;
      checkSnapshotSize(record, fileBytes);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new WalSnapshotSource(record, handle);
  }

  async loadEntries(lo: number, hi: number): Promise<Entry[]> {
    this.checkReadable();
    const base = this.bounds.snapshotIndex + 1;
    if (lo < base || hi > this.bounds.lastIndex || lo > hi) throw new Error(`log ${lo}..${hi} is not stored (stored: ${base}..${this.bounds.lastIndex})`);
    const wanted = this.locations.slice(lo - base, hi - base + 1);
    const entries: Entry[] = [];
    const fds = new Map<number, number>();
    try {
      for (let i = 0; i < wanted.length; ) {
        const { segment, offset } = wanted[i]!;
        let fd = fds.get(segment);
        if (fd === undefined) {
          // A snapshot may have deleted the segment meanwhile: those entries are no longer stored.
          fd = fs.openSync(join(this.dir, segmentName(segment)), 'r');
          fds.set(segment, fd);
        }
        const record = await this.readRecord(fd, segment, offset);
        for (; i < wanted.length && wanted[i]!.segment === segment && wanted[i]!.offset === offset; i++) {
          const index = lo + i;
          const entry = record.entries[index - record.entries[0]!.index];
          if (entry === undefined || entry.index !== index) throw new StorageCorruptError(`${segmentName(segment)} at ${offset}: the record does not hold entry ${index}`);
          entries.push(entry);
        }
      }
    } finally {
      for (const fd of fds.values()) fs.closeSync(fd);
    }
    return entries;
  }

  /** A snapshot written as its data comes (LogStorage.openSnapshotFile, WalSnapshotFile). */
  async openSnapshotFile(): Promise<SnapshotFileWriter> {
    invariant(this.phase === 'loaded', `a snapshot file is opened on a loaded storage (phase ${this.phase})`);
    this.writes.checkWritable();
    const generation = this.nextGeneration++;
    this.staging.add(generation);
    const aborted = (): void => void this.staging.delete(generation);
    try {
      return await WalSnapshotFile.create(this.dir, generation, (io) => this.writes.guard(io), aborted);
    } catch (err) {
      aborted();
      throw err;
    }
  }

  /** Lets the writes already queued finish, then closes; writes queued after this are refused. */
  close(): Promise<void> {
    return this.writes.close(async () => {
      await this.removals;
      if (this.phase === 'loaded' && !this.writes.failed) {
        this.recordWatermark(true);
        // Left in place, the zeros would be dropped at the next load as a torn tail: cut them now.
        if (this.activeFd !== null && this.activeAllocatedBytes > this.activeBytes) fs.ftruncateSync(this.activeFd, this.activeBytes);
      }
      this.watermark.close();
      if (this.activeFd !== null) fs.closeSync(this.activeFd);
      this.activeFd = null;
      this.phase = 'closed';
    });
  }

  // ------------------------------------------------------------------ load

  private listFiles(): { segments: number[]; generations: number[] } {
    const segments: number[] = [];
    const generations: number[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const segment = SEGMENT_NAME.exec(name);
      const snapshot = SNAPSHOT_NAME.exec(name);
      if (segment !== null) segments.push(Number(segment[1]));
      else if (snapshot !== null) generations.push(Number(snapshot[1]));
      else if (name !== WATERMARK_FILE && name !== `${WATERMARK_FILE}.tmp`) {
        throw new StorageCorruptError(`${this.dir} holds ${name}, which is not a raftq log file: refusing to write beside it`);
      }
    }
    segments.sort((a, b) => a - b);
    for (let i = 1; i < segments.length; i++) {
      if (segments[i] !== segments[i - 1]! + 1) throw new StorageCorruptError(`${this.dir}: segment ${segmentName(segments[i - 1]! + 1)} is missing`);
    }
    return { segments, generations };
  }

  /**
   * Replays one segment's records; returns where a torn tail starts (newest segment only) and
   * where its checkpoint ends (null when a crash cut even that short).
   */
  private replaySegment(bytes: Buffer, seq: number, isLast: boolean, replay: WalReplay): { tornAt: number | null; checkpointEnd: number | null } {
    const name = segmentName(seq);
    if (bytes.byteLength < SEGMENT_HEADER_BYTES && isLast) return { tornAt: 0, checkpointEnd: null };
    let version: number;
    try {
      version = readSegmentHeader(bytes);
    } catch (err) {
      throw new StorageCorruptError(`${name}: ${(err as Error).message}`, { cause: err });
    }
    if (version !== WAL_FORMAT_VERSION) {
      throw new Error(`STORAGE_FORMAT_UNSUPPORTED: ${name} has storage format ${version}, this build reads only format ${WAL_FORMAT_VERSION}`);
    }
    let records = 0;
    let checkpointEnd: number | null = null;
    for (let offset = SEGMENT_HEADER_BYTES; offset < bytes.byteLength; ) {
      const read = readRecordAt(bytes, offset);
      if (read.kind === 'incomplete') {
        if (isLast) return { tornAt: offset, checkpointEnd };
        throw new StorageCorruptError(`${name} ends inside a record at ${offset}, and a newer segment follows it`);
      }
      if (read.kind === 'checksum') {
        if (isLast && isTornRecord(bytes, offset)) return { tornAt: offset, checkpointEnd };
        throw new StorageCorruptError(`${name} at ${offset}: ${read.detail}`);
      }
      let record;
      try {
        record = decodeRecordBody(bytes, read.bodyStart, read.end, false);
      } catch (err) {
        if (!(err instanceof WalFormatError) && !(err instanceof Error && err.name === 'CodecError')) throw err;
        throw new StorageCorruptError(`${name} at ${offset}: ${(err as Error).message}`, { cause: err });
      }
      if (records === 0 && !record.checkpoint) throw new StorageCorruptError(`${name} does not start with a checkpoint record`);
      if (records > 0 && record.checkpoint) throw new StorageCorruptError(`${name} at ${offset}: a checkpoint record inside the segment`);
      replay.apply(record, seq, offset, `${name} at ${offset}`);
      records++;
      offset = read.end;
      checkpointEnd ??= offset;
    }
    if (records === 0 && !isLast) throw new StorageCorruptError(`${name} holds no records, and a newer segment follows it`);
    return { tornAt: null, checkpointEnd };
  }

  private async readSnapshotFile(record: SnapshotFileRecord): Promise<Snapshot> {
    let fd: number;
    try {
      fd = fs.openSync(join(this.dir, snapshotName(record.generation)), 'r');
    } catch (err) {
      throw new StorageCorruptError(`${snapshotName(record.generation)}, which the log names as the snapshot at ${record.meta.index}, cannot be read: ${(err as Error).message}`, { cause: err });
    }
    try {
      return { meta: record.meta, data: await readSnapshotImage(fd, record) };
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Opens the newest segment for appends: drops a torn tail, and starts a segment where none (or only a torn one) is. */
  private async openActive(tornAt: number | null, checkpointEnd: number | null): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && checkpointEnd !== null) {
      const path = join(this.dir, segmentName(last.seq));
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
      if (tornAt !== null) {
        fs.ftruncateSync(fd, tornAt);
        fs.fsyncSync(fd);
      }
      this.activeFd = fd;
      this.activeBytes = fs.fstatSync(fd).size;
      this.activeAllocatedBytes = this.activeBytes;
      this.activeCheckpointEnd = checkpointEnd;
      return;
    }
    // No segment yet, or a newest one a crash cut short before its checkpoint was whole: write it anew.
    const seq = last?.seq ?? 1;
    if (last === undefined) this.segments.push({ seq, maxEntryIndex: 0 });
    const w = this.writer;
    w.begin(segmentHeader());
    w.append(this.checkpoint());
    const fd = fs.openSync(join(this.dir, segmentName(seq)), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_DSYNC);
    const written = this.preallocated(w.bytes(), 0, 0);
    try {
      await writeAt(fd, written, 0);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    this.activeFd = fd;
    this.activeBytes = w.bytes().byteLength;
    this.activeAllocatedBytes = written.byteLength;
    this.activeCheckpointEnd = this.activeBytes;
    w.release();
    fsyncDir(this.dir);
  }

  /** Snapshot files nothing names (older ones, or one a crash left while it was written), and segments a snapshot covers. */
  private removeDeadFiles(): void {
    const live = this.snapshotRecord?.generation;
    const dead = fs.readdirSync(this.dir).filter((name) => {
      const m = SNAPSHOT_NAME.exec(name);
      return m !== null && (Number(m[1]) !== live || m[2] !== undefined);
    });
    this.removeLater(dead);
    this.deleteDeadSegments();
  }

  // ------------------------------------------------------------------ writes

  private async saveSnapshotStaged(batch: PersistBatch): Promise<void> {
    const snapshot = batch.snapshot as Snapshot;
    const file = batch.snapshotFile;
    if (file === undefined) invariant(snapshot.data !== RELEASED_SNAPSHOT_DATA, 'a snapshot whose data was released cannot be saved');
    else this.checkStaged(file);
    try {
      this.writes.checkWritable();
    } catch (err) {
      await file?.abort();
      throw err;
    }
    // Already older than the stored one: refused as any save would refuse it (planSave).
    if (file === undefined && snapshot.meta.index < this.bounds.snapshotIndex) return this.writes.run(() => this.saveNow(batch));
    const generation = file?.generation ?? this.nextGeneration++;
    this.staging.add(generation);
    try {
      const dataCrc = file !== undefined ? await file.finish() : await this.writes.guard(() => this.writeSnapshotFile(snapshot.data, generation));
      const dataBytes = file !== undefined ? file.bytes : snapshot.data.byteLength;
      await this.writes.run(async () => {
        // One at the stored snapshot's index replaces it (the same state: a damaged file's replacement).
        if (snapshot.meta.index < this.bounds.snapshotIndex) {
          // Another snapshot (the leader's) was saved meanwhile: ours is garbage.
          this.removeLater([snapshotName(generation)]);
          return;
        }
        await this.saveNow(batch, { generation, dataCrc, dataBytes });
      });
    } finally {
      this.staging.delete(generation);
    }
  }

  private checkStaged(file: SnapshotFileWriter): asserts file is WalSnapshotFile {
    invariant(file instanceof WalSnapshotFile && this.staging.has(file.generation), 'a snapshot file is saved by the storage that opened it');
  }

  private async saveNow(batch: PersistBatch, staged?: { generation: number; dataCrc: number; dataBytes: number }): Promise<void> {
    const snapshotMeta = batch.snapshot?.meta;
    const storedTerm = snapshotMeta === undefined ? null : this.storedTermAt(snapshotMeta.index);
    const plan = planSave(this.bounds, this.hardState, batch, storedTerm);
    const content: RecordContent = {};
    let record = this.snapshotRecord;
    if (batch.snapshot !== undefined) {
      const { meta, data } = batch.snapshot;
      let file = staged;
      const written = batch.snapshotFile;
      if (file === undefined && written !== undefined) {
        this.checkStaged(written);
        try {
          file = { generation: written.generation, dataBytes: written.bytes, dataCrc: await written.finish() };
        } finally {
          this.staging.delete(written.generation);
        }
      }
      if (file === undefined) {
        invariant(data !== RELEASED_SNAPSHOT_DATA, 'a snapshot whose data was released cannot be saved');
        const generation = this.nextGeneration++;
        file = { generation, dataBytes: data.byteLength, dataCrc: await this.writes.guard(() => this.writeSnapshotFile(data, generation)) };
      }
      record = { meta, generation: file.generation, dataBytes: file.dataBytes, dataCrc: file.dataCrc };
      content.snapshot = { record, keepsSuffix: storedTerm === meta.term };
    }
    if (batch.entries !== undefined && batch.entries.length > 0) content.entries = batch.entries;
    if (batch.hardState !== undefined) content.hardState = batch.hardState;
    if (batch.config !== undefined) content.config = batch.config;
    const location = await this.writes.guard(() => this.appendRecord(content));
    const generationBefore = this.snapshotRecord?.generation;
    this.bounds = plan.bounds;
    this.hardState = { ...plan.hardState };
    if (batch.snapshot !== undefined) this.config = batch.snapshot.meta.config;
    if (batch.config !== undefined) this.config = batch.config;
    this.snapshotRecord = record;
    this.trackLocations(content, location);
    this.recordWatermark(false);
    if (record !== null && record.generation !== generationBefore) {
      if (generationBefore !== undefined) this.removeLater([snapshotName(generationBefore)]);
      this.deleteDeadSegments();
    }
  }

  /** Appends one record (in a new segment when the active one is full); returns where it went. */
  private async appendRecord(content: RecordContent): Promise<EntryLocation> {
    const w = this.writer;
    w.begin();
    w.append(content);
    const recordBytes = w.bytes().byteLength;
    const active = this.segments[this.segments.length - 1]!;
    let location: EntryLocation;
    if (this.activeBytes + recordBytes > this.segmentBytesMax && this.activeBytes > this.activeCheckpointEnd) {
      // The new segment opens with a checkpoint of the state before this record, then the record.
      const seq = active.seq + 1;
      w.begin(segmentHeader());
      w.append(this.checkpoint());
      const offset = w.bytes().byteLength;
      w.append(content);
      // An older segment must end at its last record (replay refuses anything else), before the
      // newer one exists.
      if (this.activeAllocatedBytes > this.activeBytes) await truncateDurably(this.activeFd!, this.activeBytes);
      const fd = fs.openSync(join(this.dir, segmentName(seq)), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_DSYNC);
      const written = this.preallocated(w.bytes(), 0, 0);
      try {
        await writeAt(fd, written, 0);
        await fsyncDirAsync(this.dir);
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
      fs.closeSync(this.activeFd!);
      this.activeFd = fd;
      this.activeBytes = w.bytes().byteLength;
      this.activeAllocatedBytes = written.byteLength;
      this.activeCheckpointEnd = offset;
      this.segments.push({ seq, maxEntryIndex: 0 });
      location = { segment: seq, offset };
    } else {
      const written = this.preallocated(w.bytes(), this.activeBytes, this.activeAllocatedBytes);
      await writeAt(this.activeFd!, written, this.activeBytes);
      this.activeAllocatedBytes = Math.max(this.activeAllocatedBytes, this.activeBytes + written.byteLength);
      location = { segment: active.seq, offset: this.activeBytes };
      this.activeBytes += recordBytes;
    }
    w.release();
    const last = content.entries?.[content.entries.length - 1];
    if (last !== undefined) {
      const segment = this.segments[this.segments.length - 1]!;
      segment.maxEntryIndex = Math.max(segment.maxEntryIndex, last.index);
    }
    return location;
  }

  /**
   * What to write for `record` at `at` of a segment that holds `allocatedBytes`: the record alone
   * while it fits (or when it is large), else the record and zeros up to SEGMENT_PREALLOCATE_BYTES
   * past it (not past the segment's bound, where it rotates).
   */
  private preallocated(record: Uint8Array, at: number, allocatedBytes: number): Uint8Array {
    const end = at + record.byteLength;
    if (end <= allocatedBytes || record.byteLength > PREALLOCATE_RECORD_BYTES_MAX) return record;
    const allocatedEnd = Math.min(end + SEGMENT_PREALLOCATE_BYTES, Math.max(end, this.segmentBytesMax));
    if (allocatedEnd === end) return record;
    const padded = Buffer.alloc(allocatedEnd - at);
    padded.set(record);
    return padded;
  }

  private checkpoint(): RecordContent {
    const content: RecordContent = { checkpoint: true, hardState: this.hardState };
    if (this.snapshotRecord !== null) content.snapshot = { record: this.snapshotRecord, keepsSuffix: true };
    if (this.config !== null) content.config = this.config;
    return content;
  }

  /** The same steps replay takes, on the in-memory index of where entries lie. */
  private trackLocations(content: RecordContent, location: EntryLocation): void {
    if (content.snapshot !== undefined) {
      const snapshotIndex = content.snapshot.record.meta.index;
      const dropped = content.snapshot.keepsSuffix ? Math.min(this.locations.length, Math.max(0, snapshotIndex - this.locationsBase + 1)) : this.locations.length;
      this.locations.splice(0, dropped);
      this.terms.splice(0, dropped);
      this.locationsBase = snapshotIndex + 1;
    }
    const entries = content.entries ?? [];
    if (entries.length === 0) return;
    const keep = entries[0]!.index - this.locationsBase;
    this.locations.length = keep;
    this.terms.length = keep;
    for (const e of entries) {
      this.locations.push(location);
      this.terms.push(e.term);
    }
  }

  private deleteDeadSegments(): void {
    const dead: string[] = [];
    while (this.segments.length > 1 && this.segments[0]!.maxEntryIndex <= this.bounds.snapshotIndex) dead.push(segmentName(this.segments.shift()!.seq));
    this.removeLater(dead);
  }

  /**
   * Unlinks `names` after the removals queued before, then makes that durable, off the event loop.
   * Nothing reads them any more (no record names them), so no write waits for this. A failure is
   * a failed write (WriteQueue.guard: every later one is refused); a crash first leaves files the
   * next load removes.
   */
  private removeLater(names: string[]): void {
    if (names.length === 0) return;
    this.removals = this.removals
      .then(() =>
        this.writes.guard(async () => {
          for (const name of names) await fsp.rm(join(this.dir, name), { force: true });
          await fsyncDirAsync(this.dir);
        }),
      )
      .catch((err: unknown) => void (this.removalFailure ??= err));
  }

  /** Resolves once every file queued for removal so far is gone (or its removal failed). */
  removed(): Promise<void> {
    return this.removals;
  }

  /** Writes a snapshot's data to its file durably (tmp, fsync, rename, fsync the directory); returns its crc32. */
  private async writeSnapshotFile(data: Uint8Array, generation: number): Promise<number> {
    // The caller guards this write as a whole (WriteQueue.guard).
    const file = await WalSnapshotFile.create(this.dir, generation, (io) => io(), () => undefined);
    for (let offset = 0; offset < data.byteLength; offset += SNAPSHOT_WRITE_CHUNK_BYTES) await file.write(data.subarray(offset, offset + SNAPSHOT_WRITE_CHUNK_BYTES));
    return file.finish();
  }

  private storedTermAt(index: number): number | null {
    const b = this.bounds;
    if (index === b.snapshotIndex) return b.snapshotIndex === 0 ? null : b.snapshotTerm;
    if (index < b.snapshotIndex || index > b.lastIndex) return null;
    return this.terms[index - b.snapshotIndex - 1] ?? null;
  }

  private async readRecord(fd: number, segment: number, offset: number): Promise<{ entries: Entry[] }> {
    const header = Buffer.alloc(8);
    await readAt(fd, header, offset);
    const bytes = Buffer.alloc(8 + header.readUInt32LE(0));
    await readAt(fd, bytes, offset);
    const read = readRecordAt(bytes, 0);
    if (read.kind !== 'record') throw new StorageCorruptError(`${segmentName(segment)} at ${offset}: ${read.kind === 'checksum' ? read.detail : 'record cut short'}`);
    return decodeRecordBody(bytes, read.bodyStart, read.end, false);
  }

  /** What is durable now, recorded outside the log (see watermark.ts). */
  private recordWatermark(force: boolean): void {
    this.watermark.afterSave(this.hardState, Math.max(this.hardState.commit, this.bounds.snapshotIndex), force);
  }

  private checkReadable(): void {
    invariant(this.phase === 'loaded', `read on a storage that is ${this.phase}`);
  }

}
