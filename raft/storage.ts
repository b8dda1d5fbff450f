import type { ClusterConfig, Entry, HardState, Snapshot, SnapshotSource } from './types.js';

/** Everything a node needs at boot to rebuild its Raft core and its state machine. */
export interface PersistedState {
  hardState: HardState;
  /** The latest snapshot, or null if none was ever taken or installed. */
  snapshot: Snapshot | null;
  /** Entries after the snapshot's index, contiguous and in order. */
  entries: Entry[];
  /** The membership stored under its own key (bootstrap voters, updated with each snapshot). */
  config: ClusterConfig | null;
}

/**
 * One atomic, durable write. Applied in this order inside one write batch:
 * snapshot (replaces the stored one and drops every entry with index <= snapshot.meta.index; when
 * the stored entry at snapshot.meta.index has another term, the whole log is dropped — Raft's
 * InstallSnapshot steps 6–7 — since entries after it cannot match the leader's),
 * entries (entries[0].index may be <= the stored last index: every stored entry from there on is
 * replaced, and stored entries beyond the new last index are deleted), hardState, config.
 */
export interface PersistBatch {
  hardState?: HardState;
  entries?: Entry[];
  snapshot?: Snapshot;
  /**
   * Where `snapshot`'s data already is: a file written piece by piece (LogStorage.openSnapshotFile).
   * The snapshot's data is then RELEASED_SNAPSHOT_DATA, and the batch holds nothing else but config.
   */
  snapshotFile?: SnapshotFileWriter;
  config?: ClusterConfig;
}

/**
 * The data of a snapshot of our own, written to storage as it is encoded, so the whole image is
 * never in memory at once (at a million jobs it is ~180 MB, which stayed allocated until V8's next
 * full collection). Nothing names it until save({snapshot, snapshotFile}) does; a crash before
 * that leaves a file the next load removes.
 */
export interface SnapshotFileWriter {
  /** Appends `chunk`. The caller keeps the chunk unchanged until this resolves, and writes one at a time. */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Abandons the file (the encoding was dropped): removes it. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface LoadOptions {
  /**
   * false: the snapshot comes back with RELEASED_SNAPSHOT_DATA, and the runtime reads its data
   * piece by piece (openSnapshotSource) instead of whole. A storage without openSnapshotSource
   * returns the data regardless.
   */
  snapshotData?: boolean;
}

export interface LogStorage {
  /** Reads what is on disk. Called once, before any save. */
  load(options?: LoadOptions): Promise<PersistedState>;
  /** Resolves only after the batch is durable (fsync'd): persist before send. */
  save(batch: PersistBatch): Promise<void>;
  /**
   * Drops stored entries with index <= upToIndex. The caller guarantees a saved snapshot covers
   * upToIndex. Log compaction: keeps the log (and restart time) bounded.
   */
  compact(upToIndex: number): Promise<void>;
  /**
   * The stored snapshot, data included, or null when none is stored: what a runtime sends a
   * follower after it released the data from memory (RaftNode.releaseSnapshotData). A read: it
   * may run beside saves, and answers the snapshot stored when it was called.
   */
  loadSnapshot(): Promise<Snapshot | null>;
  /**
   * Stored entries lo..hi, for a runtime that released their data from memory
   * (RaftNode.releaseEntryData). A read, like loadSnapshot; rejects when any of them is not
   * stored (a snapshot compacted them away meanwhile).
   */
  loadEntries(lo: number, hi: number): Promise<Entry[]>;
  /**
   * Opens the file for a snapshot of our own that is written while it is encoded (see
   * SnapshotFileWriter). One at a time. Optional: a storage without it is given the whole image.
   */
  openSnapshotFile?(): Promise<SnapshotFileWriter>;
  /**
   * The stored snapshot's data to read piece by piece, or null when none is stored: what a runtime
   * sends a follower without reading the whole image into memory first (loadSnapshot). A read, like
   * loadSnapshot: the snapshot it opened stays readable even if a newer one replaces it meanwhile.
   * Optional: without it the runtime uses loadSnapshot.
   */
  openSnapshotSource?(): Promise<SnapshotSource | null>;
  close(): Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 }) as HardState;
