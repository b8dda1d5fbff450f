// The reference semantics of LogStorage, and an in-memory implementation of them for the simulator
// and unit tests. LevelStorage computes every write with the same planSave(), so the two cannot
// drift apart on what a batch means.
import { EMPTY_HARD_STATE, type LogStorage, type PersistBatch, type PersistedState } from './storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Entry, type HardState, type Snapshot } from './types.js';

/** A broken caller contract or a broken Raft invariant: a bug to crash on, never to handle. */
export function invariant(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`storage invariant: ${what}`);
}

/** Thrown by load() (or a MemoryStorage built from bad state) when stored data cannot be trusted. */
export class StorageCorruptError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`STORAGE_CORRUPT: ${what}`, options);
    this.name = 'StorageCorruptError';
  }
}

/** Where the log is. An empty log has lastIndex = snapshotIndex (0 before any snapshot). */
export interface LogBounds {
  snapshotIndex: number;
  snapshotTerm: number;
  lastIndex: number;
  lastTerm: number;
}

export interface SavePlan {
  bounds: LogBounds;
  hardState: HardState;
  /**
   * Stored entries with index in [deleteFromIndex, deleteToIndex] are deleted by the batch (empty
   * when from > to). Entries the batch rewrites are not listed: they are simply put again.
   */
  deleteFromIndex: number;
  deleteToIndex: number;
}

export const EMPTY_BOUNDS: LogBounds = Object.freeze({ snapshotIndex: 0, snapshotTerm: 0, lastIndex: 0, lastTerm: 0 });

/**
 * What `batch` does to a log with `bounds` and `hardState`, checking every invariant first, so a
 * caller bug never reaches the disk. `storedTermAtSnapshotIndex` is the term of the stored entry
 * (or snapshot) at batch.snapshot.meta.index, null if there is none.
 *
 * A snapshot whose (index, term) matches the stored log keeps the entries after it; otherwise the
 * whole log is discarded (Raft paper, InstallSnapshot steps 6-7): keeping a suffix that grew on
 * a different entry at that index would break the log matching property after a restart.
 */
export function planSave(bounds: LogBounds, hardState: HardState, batch: PersistBatch, storedTermAtSnapshotIndex: number | null): SavePlan {
  let next = { ...bounds };
  let deleteFromIndex = 1;
  let deleteToIndex = 0;
  if (batch.snapshot !== undefined) {
    const { index, term } = batch.snapshot.meta;
    invariant(Number.isSafeInteger(index) && index >= 1 && Number.isSafeInteger(term) && term >= 1, `snapshot index ${index} / term ${term} out of range`);
    invariant(index >= bounds.snapshotIndex, `snapshot index ${index} is older than the stored snapshot ${bounds.snapshotIndex}`);
    const keepsSuffix = storedTermAtSnapshotIndex === term;
    if (keepsSuffix) {
      next = { ...next, snapshotIndex: index, snapshotTerm: term };
    } else {
      invariant(index > bounds.snapshotIndex, `snapshot at stored snapshot index ${index} has term ${term}, stored ${bounds.snapshotTerm}`);
      [deleteFromIndex, deleteToIndex] = [index + 1, bounds.lastIndex];
      next = { snapshotIndex: index, snapshotTerm: term, lastIndex: index, lastTerm: term };
    }
  }
  const entries = batch.entries ?? [];
  if (entries.length > 0) {
    checkEntriesFit(next, entries);
    const last = entries[entries.length - 1]!;
    // A discarded log (above) leaves lastIndex = snapshot index, so at most one range is non-empty.
    if (last.index < next.lastIndex) [deleteFromIndex, deleteToIndex] = [last.index + 1, next.lastIndex];
    next = { ...next, lastIndex: last.index, lastTerm: last.term };
  }
  const nextHardState = batch.hardState ?? hardState;
  if (batch.hardState !== undefined) checkHardStateStep(hardState, batch.hardState);
  invariant(deleteFromIndex > deleteToIndex || deleteFromIndex > hardState.commit, `deleting entries ${deleteFromIndex}..${deleteToIndex} would drop committed entries (commit ${hardState.commit})`);
  invariant(nextHardState.commit <= next.lastIndex, `commit ${nextHardState.commit} beyond last index ${next.lastIndex}`);
  invariant(nextHardState.term >= next.lastTerm, `hard state term ${nextHardState.term} below last entry term ${next.lastTerm}`);
  return { bounds: next, hardState: nextHardState, deleteFromIndex, deleteToIndex };
}

function checkEntriesFit(bounds: LogBounds, entries: readonly Entry[]): void {
  const first = entries[0]!;
  invariant(first.index > bounds.snapshotIndex, `entry ${first.index} is covered by the snapshot at ${bounds.snapshotIndex}`);
  invariant(first.index <= bounds.lastIndex + 1, `entry ${first.index} leaves a gap after last index ${bounds.lastIndex}`);
  if (first.index === bounds.lastIndex + 1) invariant(first.term >= bounds.lastTerm, `entry ${first.index} term ${first.term} below previous term ${bounds.lastTerm}`);
  entries.forEach((entry, i) => {
    invariant(Number.isSafeInteger(entry.term) && entry.term >= 1, `entry ${entry.index} has term ${entry.term}`);
    invariant(entry.data instanceof Uint8Array, `entry ${entry.index} data is not a Uint8Array`);
    if (i === 0) return;
    const prev = entries[i - 1]!;
    invariant(entry.index === prev.index + 1, `entries not contiguous: ${prev.index} then ${entry.index}`);
    invariant(entry.term >= prev.term, `entry ${entry.index} term ${entry.term} below previous term ${prev.term}`);
  });
}

/** Terms never go back; a vote never changes within a term (election safety); commit never goes back. */
function checkHardStateStep(before: HardState, after: HardState): void {
  invariant(Number.isSafeInteger(after.term) && Number.isSafeInteger(after.commit) && after.commit >= 0, `hard state ${JSON.stringify(after)} out of range`);
  invariant(after.term >= before.term, `term goes back from ${before.term} to ${after.term}`);
  if (after.term === before.term && before.vote !== null) invariant(after.vote === before.vote, `vote changes within term ${after.term}: ${before.vote} -> ${after.vote}`);
  invariant(after.commit >= before.commit, `commit goes back from ${before.commit} to ${after.commit}`);
}

function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, kind: e.kind, data: e.data.slice() };
}

function copySnapshot(s: Snapshot): Snapshot {
  return { meta: { index: s.meta.index, term: s.meta.term, config: copyConfig(s.meta.config) }, data: s.data.slice() };
}

function copyConfig(c: ClusterConfig): ClusterConfig {
  return { voters: [...c.voters] };
}

export function copyPersistedState(s: PersistedState): PersistedState {
  return {
    hardState: { ...s.hardState },
    snapshot: s.snapshot === null ? null : copySnapshot(s.snapshot),
    entries: s.entries.map(copyEntry),
    config: s.config === null ? null : copyConfig(s.config),
  };
}

function checkPersistedState(s: PersistedState): void {
  let expected = (s.snapshot?.meta.index ?? 0) + 1;
  let term = s.snapshot?.meta.term ?? 0;
  for (const e of s.entries) {
    if (e.index !== expected) throw new StorageCorruptError(`entry ${e.index} where ${expected} was expected`);
    if (e.term < term) throw new StorageCorruptError(`entry ${e.index} term ${e.term} below previous term ${term}`);
    [expected, term] = [expected + 1, e.term];
  }
  if (s.hardState.commit > expected - 1) throw new StorageCorruptError(`hard state commit ${s.hardState.commit} beyond last index ${expected - 1}`);
  if (s.hardState.term < term) throw new StorageCorruptError(`hard state term ${s.hardState.term} below last term ${term}`);
}

/**
 * LogStorage in memory. save() applies the batch before it returns (the promise is already
 * settled), so for a simulator the state is "on disk" the moment save is called; snapshotOf() is
 * that disk, and `new MemoryStorage(old.snapshotOf())` is the same node after a crash.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState;
  private snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous: entries[i].index = snapshotIndex + 1 + i. */
  private entries: Entry[];
  private config: ClusterConfig | null;
  private loaded = false;
  private closed = false;

  constructor(initial?: PersistedState) {
    const state = initial === undefined ? emptyState() : copyPersistedState(initial);
    checkPersistedState(state);
    ({ hardState: this.hardState, snapshot: this.snapshot, entries: this.entries, config: this.config } = state);
  }

  async load(): Promise<PersistedState> {
    invariant(!this.closed, 'load after close');
    invariant(!this.loaded, 'load is called once');
    this.loaded = true;
    return this.snapshotOf();
  }

  async save(batch: PersistBatch): Promise<void> {
    invariant(this.loaded && !this.closed, 'save before load or after close');
    const bounds = this.bounds();
    const snapshotIndex = batch.snapshot?.meta.index;
    const storedTerm = snapshotIndex === undefined ? null : this.termAt(snapshotIndex);
    const plan = planSave(bounds, this.hardState, batch, storedTerm);
    if (batch.snapshot !== undefined) {
      invariant(batch.snapshot.data !== RELEASED_SNAPSHOT_DATA, 'a snapshot whose data was released cannot be saved');
      const keepsSuffix = storedTerm === batch.snapshot.meta.term;
      this.entries = keepsSuffix ? this.entries.slice(batch.snapshot.meta.index - bounds.snapshotIndex) : [];
      this.snapshot = copySnapshot(batch.snapshot);
      this.config = copyConfig(batch.snapshot.meta.config);
    }
    const entries = batch.entries ?? [];
    if (entries.length > 0) {
      this.entries.length = entries[0]!.index - plan.bounds.snapshotIndex - 1;
      for (const e of entries) this.entries.push(copyEntry(e));
    }
    this.hardState = { ...plan.hardState };
    if (batch.config !== undefined) this.config = copyConfig(batch.config);
    invariant(this.bounds().lastIndex === plan.bounds.lastIndex, 'applied batch disagrees with its plan');
  }

  async loadSnapshot(): Promise<Snapshot | null> {
    invariant(this.loaded && !this.closed, 'loadSnapshot before load or after close');
    return this.snapshot === null ? null : copySnapshot(this.snapshot);
  }

  async loadEntries(lo: number, hi: number): Promise<Entry[]> {
    invariant(this.loaded && !this.closed, 'loadEntries before load or after close');
    const bounds = this.bounds();
    if (lo <= bounds.snapshotIndex || hi > bounds.lastIndex || lo > hi) throw new Error(`log ${lo}..${hi} is not stored (${bounds.snapshotIndex + 1}..${bounds.lastIndex} is)`);
    return this.entries.slice(lo - bounds.snapshotIndex - 1, hi - bounds.snapshotIndex).map(copyEntry);
  }

  async compact(upToIndex: number): Promise<void> {
    invariant(this.loaded && !this.closed, 'compact before load or after close');
    // Saving the snapshot already dropped every entry it covers: nothing is left at or below it.
    invariant(upToIndex <= this.bounds().snapshotIndex, `compact(${upToIndex}) beyond the snapshot at ${this.bounds().snapshotIndex}`);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A deep copy of what is stored, callable at any time (also after close: a crashed node's disk). */
  snapshotOf(): PersistedState {
    return copyPersistedState({ hardState: this.hardState, snapshot: this.snapshot, entries: this.entries, config: this.config });
  }

  private bounds(): LogBounds {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    const snapshotTerm = this.snapshot?.meta.term ?? 0;
    const last = this.entries[this.entries.length - 1];
    return { snapshotIndex, snapshotTerm, lastIndex: last?.index ?? snapshotIndex, lastTerm: last?.term ?? snapshotTerm };
  }

  private termAt(index: number): number | null {
    const bounds = this.bounds();
    if (index === bounds.snapshotIndex) return this.snapshot === null ? null : bounds.snapshotTerm;
    return this.entries[index - bounds.snapshotIndex - 1]?.term ?? null;
  }
}

function emptyState(): PersistedState {
  return { hardState: { ...EMPTY_HARD_STATE }, snapshot: null, entries: [], config: null };
}
