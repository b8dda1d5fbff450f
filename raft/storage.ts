import type { ClusterConfig, Entry, HardState, Snapshot } from './types.js';

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
  config?: ClusterConfig;
}

export interface LogStorage {
  /** Reads what is on disk. Called once, before any save. */
  load(): Promise<PersistedState>;
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
  close(): Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 }) as HardState;
