// LogStorage on LevelDB (classic-level through `level`). One database, keys by prefix byte:
//   0x00 <name>                        meta: format version, hard state, config, snapshot header
//   0x01 <u64 BE index>                log entries; big-endian so byte order is index order
//   0x02 <u32 BE gen> <u32 BE chunk>   snapshot data, chunks of at most SNAPSHOT_CHUNK_BYTES_MAX
// Every save commits with one `sync` write batch (entries, hard state, config, snapshot header),
// so a crash leaves either all of a save or none of it. A snapshot's data is written before that
// batch, in bounded batches under a fresh generation that nothing references until the commit
// batch puts the header naming it: one 100 MB write batch would stall the event loop while
// LevelDB grows its buffer (measured: 65 ms single stalls) and land in one 100 MB memtable.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import * as codec from './entry-codec.js';
import { EMPTY_BOUNDS, StorageCorruptError, invariant, planSave, type LogBounds } from './memory-storage.js';
import { EMPTY_HARD_STATE, type LogStorage, type PersistBatch, type PersistedState } from './storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Entry, type HardState, type Snapshot } from './types.js';
import { WriteQueue } from './write-queue.js';
import { DurabilityWatermark, WatermarkError } from './watermark.js';

/** Bumped on any change to the key layout or value encoding; load() refuses any other version. */
export const STORAGE_FORMAT_VERSION = 1;
/** Bounds one LevelDB value (and one memtable insert) however large a snapshot grows. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1 << 20;
/** Entries fetched per iterator round trip while loading the log. */
const LOAD_ENTRIES_PER_READ_MAX = 1024;
/** Snapshot chunks fetched per iterator round trip (so at most this many MiB in flight). */
const LOAD_CHUNKS_PER_READ_MAX = 8;
/** Snapshot chunks per staging write batch: ~1.5 ms of checksum + copies each, on the event loop. */
const SNAPSHOT_CHUNKS_PER_BATCH_MAX = 2;
const GENERATION_MAX = 0xffff_ffff;
/** What a first open that died before writing CURRENT leaves: no data can be lost by starting over. */
const FILES_HARMLESS_WITHOUT_CURRENT = ['LOCK', 'LOG', 'LOG.old'];
/** Written when damage is found that LevelDB has already "repaired" away, so every later start refuses too. */
export const CORRUPT_MARK_FILE = 'RAFTQ-STORAGE-CORRUPT';

const PREFIX_META = 0x00;
const PREFIX_LOG = 0x01;
const PREFIX_CHUNK = 0x02;
const PREFIX_END = 0x03;
const META_NAMES = ['format', 'hardState', 'config', 'snapshot'] as const;
type MetaName = (typeof META_NAMES)[number];

type Db = Level<Uint8Array, Uint8Array>;
type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** Built once: a save puts the hard state's key every time. LevelDB copies keys, so sharing is safe. */
const META_KEYS: ReadonlyMap<MetaName, Uint8Array> = new Map(META_NAMES.map((name) => [name, Uint8Array.of(PREFIX_META, ...new TextEncoder().encode(name))]));

function metaKey(name: MetaName): Uint8Array {
  return META_KEYS.get(name)!;
}

function logKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = PREFIX_LOG;
  // Two 32-bit halves: the same big-endian bytes as setBigUint64 without a BigInt per key.
  const view = new DataView(key.buffer);
  view.setUint32(1, Math.floor(index / 2 ** 32), false);
  view.setUint32(5, index >>> 0, false);
  return key;
}

function chunkKey(generation: number, chunkNo: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = PREFIX_CHUNK;
  const view = new DataView(key.buffer);
  view.setUint32(1, generation, false);
  view.setUint32(5, chunkNo, false);
  return key;
}

/** The first key past every chunk of `generation`. */
function chunkKeysEnd(generation: number): Uint8Array {
  return generation === GENERATION_MAX ? Uint8Array.of(PREFIX_END) : chunkKey(generation + 1, 0);
}

function hex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/** The index in a log key, or null if the key is not a well-formed log key. */
function indexOfLogKey(key: Uint8Array): number | null {
  if (key.byteLength !== 9 || key[0] !== PREFIX_LOG) return null;
  const index = new DataView(key.buffer, key.byteOffset, 9).getBigUint64(1, false);
  return index <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(index) : null;
}

function chunkNoOfKey(key: Uint8Array, generation: number): number | null {
  if (key.byteLength !== 9 || key[0] !== PREFIX_CHUNK) return null;
  const view = new DataView(key.buffer, key.byteOffset, 9);
  return view.getUint32(1, false) === generation ? view.getUint32(5, false) : null;
}

/** Decodes a stored value, turning any failure into a STORAGE_CORRUPT error naming the key. */
function decodeAt<T>(decode: (v: Uint8Array) => T, value: Uint8Array, where: string): T {
  try {
    return decode(value);
  } catch (err) {
    throw new StorageCorruptError(`${where}: ${(err as Error).message}`, { cause: err });
  }
}

/** The code and message of an error and of each cause under it (classic-level nests the LevelDB status). */
function errorChain(err: unknown): Array<{ code: string | undefined; message: string }> {
  const chain: Array<{ code: string | undefined; message: string }> = [];
  for (let e = err; typeof e === 'object' && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    chain.push({ code: typeof code === 'string' ? code : undefined, message: String((e as { message?: unknown }).message) });
  }
  return chain;
}

const CORRUPTION_CODES_AT_OPEN = ['LEVEL_CORRUPTION'];
/** Reading files LevelDB has already accepted: an I/O error here is a damaged table (e.g. truncated). */
const CORRUPTION_CODES_AT_LOAD = ['LEVEL_CORRUPTION', 'LEVEL_IO_ERROR'];

/** LevelDB's own reports of damage (bad blocks, missing or truncated table files) become STORAGE_CORRUPT too. */
function asStorageError(err: unknown, dir: string, corruptionCodes: readonly string[]): unknown {
  if (err instanceof StorageCorruptError) return err;
  const chain = errorChain(err);
  if (!chain.some(({ code }) => code !== undefined && corruptionCodes.includes(code))) return err;
  return new StorageCorruptError(`LevelDB at ${dir} cannot read its data: ${chain.map((e) => e.message).join(': ')}`, { cause: err });
}

function checkDirBeforeOpen(dir: string): void {
  if (!existsSync(dir)) return;
  const files = readdirSync(dir);
  if (files.includes(CORRUPT_MARK_FILE)) {
    const reason = readFileSync(join(dir, CORRUPT_MARK_FILE), 'utf8').trim();
    throw new StorageCorruptError(`${dir} was found damaged by an earlier start (${reason}); wipe it to rejoin from a peer`);
  }
  // LevelDB without CURRENT would "create" a new database here and delete the old table files.
  const filesThatMatter = files.filter((name) => !FILES_HARMLESS_WITHOUT_CURRENT.includes(name));
  if (filesThatMatter.length > 0 && !filesThatMatter.includes('CURRENT')) {
    throw new StorageCorruptError(`${dir} holds files (${filesThatMatter.slice(0, 3).join(', ')}) but no LevelDB CURRENT file; refusing to create a new database over them`);
  }
}

/**
 * LevelDB (without paranoid checks, which classic-level does not expose) skips a damaged
 * write-ahead-log block on recovery and only says so in its info log, which it starts afresh at
 * every open. A torn tail after a crash is not reported there; a checksum failure is.
 */
function recoveryDamageReported(dir: string): string | null {
  const logPath = join(dir, 'LOG');
  if (!existsSync(logPath)) return null;
  const lines = readFileSync(logPath, 'utf8').split('\n');
  return lines.find((line) => /dropping \d+ bytes|Corruption:/.test(line))?.trim() ?? null;
}

function chunkCountOf(dataBytes: number): number {
  return Math.ceil(dataBytes / SNAPSHOT_CHUNK_BYTES_MAX);
}

export class LevelStorage implements LogStorage {
  readonly engine = 'leveldb' as const;
  private bounds: LogBounds = EMPTY_BOUNDS;
  private hardState: HardState = EMPTY_HARD_STATE;
  /** Generation of the stored snapshot's chunks; 0 = no snapshot. */
  private snapshotGeneration = 0;
  /** The generation of a snapshot of our own being staged (saveSnapshotStaged), if any. */
  private stagingGeneration: number | null = null;
  /** The stored snapshot's header (meta, generation, size), for loadSnapshot; null = none. */
  private snapshotRecord: codec.SnapshotRecord | null = null;
  private phase: 'opened' | 'loaded' | 'closed' = 'opened';
  /** One write at a time, none after a failed one (write-queue.ts). */
  private readonly writes = new WriteQueue();

  private constructor(
    private readonly db: Db,
    readonly dir: string,
    private readonly watermark: DurabilityWatermark,
  ) {}

  static async open(dir: string): Promise<LevelStorage> {
    checkDirBeforeOpen(dir);
    mkdirSync(dir, { recursive: true });
    const db: Db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      throw asStorageError(err, dir, CORRUPTION_CODES_AT_OPEN);
    }
    const damage = recoveryDamageReported(dir);
    if (damage !== null) {
      await db.close();
      // Recovery has already rewritten the damaged WAL into a table and deleted it: without a mark,
      // the next start would serve the shortened log without a word.
      writeFileSync(join(dir, CORRUPT_MARK_FILE), `${new Date().toISOString()} ${damage}\n`, { flush: true });
      throw new StorageCorruptError(`LevelDB at ${dir} dropped damaged records while recovering: ${damage}`);
    }
    let watermark: DurabilityWatermark;
    try {
      watermark = new DurabilityWatermark(dir);
    } catch (err) {
      await db.close();
      throw new StorageCorruptError((err as Error).message, { cause: err });
    }
    return new LevelStorage(db, dir, watermark);
  }

  async load(): Promise<PersistedState> {
    invariant(this.phase === 'opened', `load is called once, on an open storage (phase ${this.phase})`);
    try {
      const state = await this.readAll();
      try {
        this.watermark.check(state.hardState, this.bounds.lastIndex);
      } catch (err) {
        if (err instanceof WatermarkError) throw new StorageCorruptError(`LevelDB at ${this.dir}: ${err.message}`, { cause: err });
        throw err;
      }
      await this.clearDeadAtLoad();
      this.phase = 'loaded';
      this.writes.markLoaded();
      return state;
    } catch (err) {
      throw asStorageError(err, this.dir, CORRUPTION_CODES_AT_LOAD);
    }
  }

  save(batch: PersistBatch): Promise<void> {
    // A snapshot of our own (nothing else in the batch) is staged chunk batch by chunk batch, each
    // its own write, so the Raft log's saves go on between them instead of waiting for the whole
    // image (160 MB at a million jobs) to be on disk.
    if (batch.snapshot !== undefined && batch.entries === undefined && batch.hardState === undefined) return this.saveSnapshotStaged(batch);
    return this.writes.run(() => this.saveNow(batch));
  }

  private async saveSnapshotStaged(batch: PersistBatch): Promise<void> {
    const snapshot = batch.snapshot as Snapshot;
    invariant(snapshot.data !== RELEASED_SNAPSHOT_DATA, 'a snapshot whose data was released cannot be saved');
    invariant(this.stagingGeneration === null, 'one snapshot is staged at a time');
    // Already older than the stored one: refused as any save would refuse it (planSave).
    if (snapshot.meta.index < this.bounds.snapshotIndex) return this.writes.run(() => this.saveNow(batch));
    const generation = this.nextGeneration();
    this.stagingGeneration = generation;
    try {
      await this.stageSnapshotData(snapshot.data, generation, (write) => this.writes.run(write));
      await this.writes.run(async () => {
        if (snapshot.meta.index <= this.bounds.snapshotIndex) {
          // Another snapshot (the leader's) was saved meanwhile: ours is garbage.
          await this.writes.guard(() => this.db.clear({ gte: chunkKey(generation, 0), lt: chunkKeysEnd(generation) }));
          return;
        }
        await this.saveNow(batch, generation);
      });
    } finally {
      this.stagingGeneration = null;
    }
  }

  /** A generation no committed or staging snapshot uses. */
  private nextGeneration(): number {
    const generation = Math.max(this.snapshotGeneration, this.stagingGeneration ?? 0) + 1;
    invariant(generation <= GENERATION_MAX, 'snapshot generations exhausted');
    return generation;
  }

  compact(upToIndex: number): Promise<void> {
    return this.writes.run(async () => {
      invariant(upToIndex <= this.bounds.snapshotIndex, `compact(${upToIndex}) beyond the snapshot at ${this.bounds.snapshotIndex}`);
      // Saving the snapshot already cleared what it covers; this clear only finds leftovers.
      if (upToIndex > 0) await this.writes.guard(() => this.db.clear({ gte: Uint8Array.of(PREFIX_LOG), lte: logKey(upToIndex) }));
    });
  }

  /**
   * Reads the stored snapshot back. Its chunk iterator is opened at once (a LevelDB iterator reads
   * one consistent view), before a save running meanwhile can clear those chunks; a chunk missing
   * anyway makes this reject, and the caller tries again later (nothing is marked corrupt).
   */
  loadSnapshot(): Promise<Snapshot | null> {
    invariant(this.phase === 'loaded', `loadSnapshot on a storage that is ${this.phase}`);
    return this.readSnapshot(this.snapshotRecord);
  }

  /**
   * Stored entries lo..hi (see LogStorage.loadEntries). Entries up to the commit index are never
   * rewritten; one cleared by a snapshot meanwhile makes this reject (nothing is marked corrupt).
   */
  async loadEntries(lo: number, hi: number): Promise<Entry[]> {
    invariant(this.phase === 'loaded', `loadEntries on a storage that is ${this.phase}`);
    const entries: Entry[] = [];
    const it = this.db.iterator({ gte: logKey(lo), lte: logKey(hi) });
    try {
      for (let page = await it.nextv(LOAD_ENTRIES_PER_READ_MAX); page.length > 0; page = await it.nextv(LOAD_ENTRIES_PER_READ_MAX)) {
        for (const [key, value] of page) {
          const entry = decodeAt(codec.decodeEntry, value, `log key index ${indexOfLogKey(key) ?? 'malformed'}`);
          if (entry.index !== lo + entries.length) throw new Error(`log index ${lo + entries.length} is not stored`);
          entries.push(entry);
        }
      }
    } finally {
      await it.close();
    }
    if (entries.length !== hi - lo + 1) throw new Error(`log ${lo}..${hi}: only ${entries.length} entries are stored`);
    return entries;
  }

  /** Lets the writes already queued finish, then closes; writes queued after this are refused. */
  close(): Promise<void> {
    return this.writes.close(() => {
      if (this.phase === 'loaded' && !this.writes.failed) this.recordWatermark(true);
      this.watermark.close();
      this.phase = 'closed';
      return this.db.close();
    });
  }


  /** One save, in one serialized write; a snapshot's data is staged first unless `stagedGeneration` holds it already. */
  private async saveNow(batch: PersistBatch, stagedGeneration?: number): Promise<void> {
    const snapshotIndex = batch.snapshot?.meta.index;
    const storedTerm = snapshotIndex === undefined ? null : await this.storedTermAt(snapshotIndex);
    const plan = planSave(this.bounds, this.hardState, batch, storedTerm);
    const before = { bounds: this.bounds, generation: this.snapshotGeneration };
    const generation = batch.snapshot === undefined ? before.generation : (stagedGeneration ?? this.nextGeneration());
    const ops: BatchOp[] = [];
    let record: codec.SnapshotRecord | null = this.snapshotRecord;
    if (batch.snapshot !== undefined) {
      const { meta, data } = batch.snapshot;
      invariant(data !== RELEASED_SNAPSHOT_DATA, 'a snapshot whose data was released cannot be saved');
      if (stagedGeneration === undefined) await this.stageSnapshotData(data, generation, (write) => write());
      record = { meta, generation, dataBytes: data.byteLength, chunkCount: chunkCountOf(data.byteLength) };
      ops.push({ type: 'put', key: metaKey('snapshot'), value: codec.encodeSnapshotRecord(record) });
      ops.push({ type: 'put', key: metaKey('config'), value: codec.encodeConfig(meta.config) });
    }
    // Deletes before puts: after a discarded log, the new entries reuse the deleted keys.
    for (let index = plan.deleteFromIndex; index <= plan.deleteToIndex; index++) ops.push({ type: 'del', key: logKey(index) });
    for (const entry of batch.entries ?? []) ops.push({ type: 'put', key: logKey(entry.index), value: codec.encodeEntry(entry) });
    if (batch.hardState !== undefined) ops.push({ type: 'put', key: metaKey('hardState'), value: codec.encodeHardState(batch.hardState) });
    if (batch.config !== undefined) ops.push({ type: 'put', key: metaKey('config'), value: codec.encodeConfig(batch.config) });
    if (ops.length > 0) await this.writes.guard(() => this.syncBatch(ops));
    this.bounds = plan.bounds;
    this.hardState = { ...plan.hardState };
    this.recordWatermark(false);
    // Both before the old chunks are cleared: loadSnapshot always names chunks that exist.
    this.snapshotGeneration = generation;
    this.snapshotRecord = record;
    if (generation !== before.generation) await this.clearDeadAfterSnapshot(before.bounds, before.generation);
  }

  /**
   * One atomic `sync` write. Built as a chained batch: abstract-level's array form clones and
   * re-validates every operation first, which measured 32 µs more main-thread CPU per save (one
   * entry and the hard state: 94–100 against 60–68 µs) and 44 µs more in all.
   */
  private async syncBatch(ops: readonly BatchOp[]): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: true });
  }

  /** What is durable now, recorded outside LevelDB (see watermark.ts). */
  private recordWatermark(force: boolean): void {
    this.watermark.afterSave(this.hardState, Math.max(this.hardState.commit, this.bounds.snapshotIndex), force);
  }

  /**
   * Writes the data under `generation`, unreferenced until the commit batch names it. The framed
   * chunks are built in the same few buffers for every batch (LevelDB has copied a batch once it
   * resolves): a fresh 1 MiB buffer per chunk would leave ~100 of them for the garbage collector
   * per 100 MB snapshot, and the allocator keeps such freed blocks resident long after.
   */
  private async stageSnapshotData(data: Uint8Array, generation: number, inTurn: (write: () => Promise<void>) => Promise<void>): Promise<void> {
    const chunkCount = chunkCountOf(data.byteLength);
    const frames = Array.from({ length: Math.min(chunkCount, SNAPSHOT_CHUNKS_PER_BATCH_MAX) }, () => new Uint8Array(codec.FRAME_HEADER_BYTES + SNAPSHOT_CHUNK_BYTES_MAX));
    for (let firstChunkNo = 0; firstChunkNo < chunkCount; firstChunkNo += SNAPSHOT_CHUNKS_PER_BATCH_MAX) {
      const ops: BatchOp[] = [];
      for (let chunkNo = firstChunkNo; chunkNo < Math.min(chunkCount, firstChunkNo + SNAPSHOT_CHUNKS_PER_BATCH_MAX); chunkNo++) {
        const chunk = data.subarray(chunkNo * SNAPSHOT_CHUNK_BYTES_MAX, (chunkNo + 1) * SNAPSHOT_CHUNK_BYTES_MAX);
        ops.push({ type: 'put', key: chunkKey(generation, chunkNo), value: codec.encodeSnapshotChunkInto(chunk, frames[chunkNo - firstChunkNo]!) });
      }
      // sync: the commit batch may land in a newer WAL file than these; both must survive power loss.
      await inTurn(() => this.writes.guard(() => this.syncBatch(ops)));
    }
  }

  /**
   * After a snapshot commits, the entries it covers and the previous snapshot's chunks are dead
   * (load never reads them), so they go in bounded range clears instead of the commit batch.
   */
  private async clearDeadAfterSnapshot(before: LogBounds, generationBefore: number): Promise<void> {
    if (before.lastIndex > before.snapshotIndex && this.bounds.snapshotIndex > before.snapshotIndex) {
      const deadToIndex = Math.min(this.bounds.snapshotIndex, before.lastIndex);
      await this.writes.guard(() => this.db.clear({ gte: logKey(before.snapshotIndex + 1), lte: logKey(deadToIndex) }));
    }
    if (generationBefore > 0) await this.writes.guard(() => this.db.clear({ gte: chunkKey(generationBefore, 0), lt: chunkKeysEnd(generationBefore) }));
  }

  private async storedTermAt(index: number): Promise<number | null> {
    const b = this.bounds;
    if (index === b.snapshotIndex) return b.snapshotIndex === 0 ? null : b.snapshotTerm;
    if (index === b.lastIndex) return b.lastTerm;
    if (index < b.snapshotIndex || index > b.lastIndex) return null;
    const value = await this.db.get(logKey(index));
    if (value === undefined) throw new StorageCorruptError(`log key ${hex(logKey(index))} (index ${index}) is missing inside the log ${b.snapshotIndex + 1}..${b.lastIndex}`);
    return decodeAt(codec.decodeEntry, value, `log key index ${index}`).term;
  }

  private async readAll(): Promise<PersistedState> {
    const meta = await this.readMeta();
    await this.checkFormat(meta.get('format'));
    const hardStateValue = meta.get('hardState');
    const configValue = meta.get('config');
    const snapshotValue = meta.get('snapshot');
    const hardState = hardStateValue === undefined ? { ...EMPTY_HARD_STATE } : decodeAt(codec.decodeHardState, hardStateValue, 'meta key hardState');
    const config: ClusterConfig | null = configValue === undefined ? null : decodeAt(codec.decodeConfig, configValue, 'meta key config');
    const record = snapshotValue === undefined ? null : decodeAt(codec.decodeSnapshotRecord, snapshotValue, 'meta key snapshot');
    const snapshot = await this.readSnapshot(record);
    const snapshotIndex = snapshot?.meta.index ?? 0;
    const snapshotTerm = snapshot?.meta.term ?? 0;
    const entries = await this.readEntries(snapshotIndex, snapshotTerm);
    await this.checkNothingAfterChunks();
    const last = entries[entries.length - 1];
    const bounds: LogBounds = { snapshotIndex, snapshotTerm, lastIndex: last?.index ?? snapshotIndex, lastTerm: last?.term ?? snapshotTerm };
    if (hardState.commit > bounds.lastIndex) throw new StorageCorruptError(`meta key hardState: commit ${hardState.commit} is beyond the last log index ${bounds.lastIndex}`);
    if (hardState.term < bounds.lastTerm) throw new StorageCorruptError(`meta key hardState: term ${hardState.term} is below the term ${bounds.lastTerm} of log index ${bounds.lastIndex}`);
    this.bounds = bounds;
    this.hardState = hardState;
    this.snapshotGeneration = record?.generation ?? 0;
    this.snapshotRecord = record;
    return { hardState: { ...hardState }, snapshot, entries, config };
  }

  private async readMeta(): Promise<Map<MetaName, Uint8Array>> {
    const meta = new Map<MetaName, Uint8Array>();
    for await (const [key, value] of this.db.iterator({ gte: Uint8Array.of(PREFIX_META), lt: Uint8Array.of(PREFIX_LOG) })) {
      const name = META_NAMES.find((n) => hex(metaKey(n)) === hex(key));
      if (name === undefined) throw new StorageCorruptError(`unknown meta key ${hex(key)}`);
      meta.set(name, value);
    }
    return meta;
  }

  private async checkFormat(value: Uint8Array | undefined): Promise<void> {
    if (value === undefined) {
      for await (const key of this.db.keys({ limit: 1 })) {
        throw new StorageCorruptError(`meta key format is missing but the database holds data (first key ${hex(key)})`);
      }
      // A brand-new database: stamp it before anything else is written into it.
      await this.db.put(metaKey('format'), codec.encodeFormatVersion(STORAGE_FORMAT_VERSION), { sync: true });
      return;
    }
    const version = decodeAt(codec.decodeFormatVersion, value, 'meta key format');
    if (version !== STORAGE_FORMAT_VERSION) {
      throw new Error(`STORAGE_FORMAT_UNSUPPORTED: ${this.dir} has storage format ${version}, this build reads only format ${STORAGE_FORMAT_VERSION}`);
    }
  }

  private async readSnapshot(record: codec.SnapshotRecord | null): Promise<Snapshot | null> {
    if (record === null) return null;
    const { generation, chunkCount, dataBytes } = record;
    if (generation < 1 || generation > GENERATION_MAX || chunkCount !== chunkCountOf(dataBytes)) {
      throw new StorageCorruptError(`meta key snapshot: generation ${generation}, ${chunkCount} chunks for ${dataBytes} bytes is impossible`);
    }
    const data = new Uint8Array(dataBytes);
    let chunkNoExpected = 0;
    const it = this.db.iterator({ gte: chunkKey(generation, 0), lt: chunkKeysEnd(generation) });
    try {
      for (let page = await it.nextv(LOAD_CHUNKS_PER_READ_MAX); page.length > 0; page = await it.nextv(LOAD_CHUNKS_PER_READ_MAX)) {
        for (const [key, value] of page) {
          const chunkNo = chunkNoOfKey(key, generation);
          if (chunkNo !== chunkNoExpected || chunkNo >= chunkCount) {
            throw new StorageCorruptError(`snapshot chunk key ${hex(key)} where chunk ${chunkNoExpected} of ${chunkCount} (generation ${generation}) was expected`);
          }
          const chunk = decodeAt(codec.decodeSnapshotChunk, value, `snapshot chunk ${chunkNo}`);
          const offset = chunkNo * SNAPSHOT_CHUNK_BYTES_MAX;
          const bytesExpected = Math.min(SNAPSHOT_CHUNK_BYTES_MAX, dataBytes - offset);
          if (chunk.byteLength !== bytesExpected) throw new StorageCorruptError(`snapshot chunk ${chunkNo} holds ${chunk.byteLength} bytes, expected ${bytesExpected}`);
          data.set(chunk, offset);
          chunkNoExpected++;
        }
      }
    } finally {
      await it.close();
    }
    if (chunkNoExpected !== chunkCount) throw new StorageCorruptError(`snapshot has ${chunkNoExpected} chunks, its header says ${chunkCount}`);
    return { meta: record.meta, data };
  }

  /**
   * Removes what a crash can leave behind and nothing references: entries at or below the
   * snapshot (crash before the post-snapshot clear) and chunks of any other generation (crash
   * while staging a snapshot, or before the old one's chunks were cleared).
   */
  private async clearDeadAtLoad(): Promise<void> {
    const { snapshotIndex } = this.bounds;
    if (snapshotIndex > 0) await this.db.clear({ gte: Uint8Array.of(PREFIX_LOG), lte: logKey(snapshotIndex) });
    const generation = this.snapshotGeneration;
    const liveStart = generation === 0 ? Uint8Array.of(PREFIX_END) : chunkKey(generation, 0);
    await this.db.clear({ gte: Uint8Array.of(PREFIX_CHUNK), lt: liveStart });
    if (generation > 0) await this.db.clear({ gte: chunkKeysEnd(generation), lt: Uint8Array.of(PREFIX_END) });
  }

  private async readEntries(snapshotIndex: number, snapshotTerm: number): Promise<Entry[]> {
    const entries: Entry[] = [];
    let termBefore = snapshotTerm;
    const it = this.db.iterator({ gt: logKey(snapshotIndex), lt: Uint8Array.of(PREFIX_CHUNK) });
    try {
      for (let page = await it.nextv(LOAD_ENTRIES_PER_READ_MAX); page.length > 0; page = await it.nextv(LOAD_ENTRIES_PER_READ_MAX)) {
        for (const [key, value] of page) {
          const indexExpected = snapshotIndex + entries.length + 1;
          const index = indexOfLogKey(key);
          if (index !== indexExpected) {
            throw new StorageCorruptError(`log key ${hex(key)} (index ${index ?? 'malformed'}) where index ${indexExpected} was expected: the log must be contiguous after snapshot index ${snapshotIndex}`);
          }
          const entry = decodeAt(codec.decodeEntry, value, `log key index ${index}`);
          if (entry.index !== index) throw new StorageCorruptError(`log key index ${index} holds an entry for index ${entry.index}`);
          if (entry.term < termBefore) throw new StorageCorruptError(`log index ${index} has term ${entry.term}, below the term ${termBefore} before it`);
          termBefore = entry.term;
          entries.push(entry);
        }
      }
    } finally {
      await it.close();
    }
    return entries;
  }

  private async checkNothingAfterChunks(): Promise<void> {
    for await (const key of this.db.keys({ gte: Uint8Array.of(PREFIX_END), limit: 1 })) {
      throw new StorageCorruptError(`key ${hex(key)} has no known prefix`);
    }
  }
}
