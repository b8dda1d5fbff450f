// Rebuilds the stored state from WalStorage's records, oldest first. Pure: no disk, so every rule
// below is tested on record sequences directly.
//
// Old segments are deleted once a snapshot covers every entry in them (wal-storage.ts), so the
// first segment still on disk may begin mid-history: its checkpoint names an older snapshot, and
// the entries between that snapshot and the first entry written into this segment were in the
// deleted ones. Replay therefore accepts one gap, before the first entry it meets, and requires at
// the end that the log be contiguous from the final snapshot: the snapshot whose marker allowed
// the deletion covers the gap. Any other gap is damage.
import type { SnapshotFileRecord } from './entry-codec.js';
import { StorageCorruptError } from './memory-storage.js';
import type { ClusterConfig, Entry, HardState } from './types.js';
import type { DecodedRecord } from './wal-format.js';
import { EMPTY_HARD_STATE } from './storage.js';

/** Where an entry's record lies: segment sequence number and byte offset of the record. */
export interface EntryLocation {
  segment: number;
  offset: number;
}

export interface ReplayedState {
  hardState: HardState;
  snapshot: SnapshotFileRecord | null;
  config: ClusterConfig | null;
  /** Contiguous from snapshot index + 1. Data views the segment buffers: copy before they go. */
  entries: Entry[];
  locations: EntryLocation[];
  /** The highest entry index each segment holds (0 when it holds none), by segment sequence number. */
  maxEntryIndexBySegment: Map<number, number>;
}

export class WalReplay {
  private hardState: HardState = { ...EMPTY_HARD_STATE };
  private snapshot: SnapshotFileRecord | null = null;
  private config: ClusterConfig | null = null;
  private entries: Entry[] = [];
  private locations: EntryLocation[] = [];
  private metAnEntry = false;
  /** The entries held start after the accepted gap: nothing before them is known yet. */
  private runAfterGap = false;
  private readonly maxEntryIndexBySegment = new Map<number, number>();

  private get snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  apply(record: DecodedRecord, segment: number, offset: number, where: string): void {
    if (!this.maxEntryIndexBySegment.has(segment)) this.maxEntryIndexBySegment.set(segment, 0);
    if (record.snapshot !== null) this.applySnapshot(record.snapshot.record, record.snapshot.keepsSuffix, where);
    if (record.entries.length > 0) {
      const last = record.entries[record.entries.length - 1]!.index;
      this.maxEntryIndexBySegment.set(segment, Math.max(this.maxEntryIndexBySegment.get(segment)!, last));
      this.applyEntries(record.entries, { segment, offset }, where);
    }
    if (record.hardState !== null) this.hardState = record.hardState;
    if (record.config !== null) this.config = record.config;
  }

  private applySnapshot(snapshot: SnapshotFileRecord, keepsSuffix: boolean, where: string): void {
    if (snapshot.meta.index < this.snapshotIndex) {
      throw new StorageCorruptError(`${where}: snapshot at ${snapshot.meta.index} follows a newer one at ${this.snapshotIndex}`);
    }
    this.snapshot = snapshot;
    // A snapshot stores its membership as the config (PersistBatch); a config in the record, applied after, wins.
    this.config = snapshot.meta.config;
    if (keepsSuffix) this.dropThrough(snapshot.meta.index);
    else this.dropThrough(Number.POSITIVE_INFINITY);
    if (this.entries.length === 0 || this.entries[0]!.index === snapshot.meta.index + 1) this.runAfterGap = false;
  }

  private applyEntries(batch: readonly Entry[], location: EntryLocation, where: string): void {
    // Entries a snapshot already covers: written before it, or replayed from a segment older than it.
    let from = 0;
    while (from < batch.length && batch[from]!.index <= this.snapshotIndex) from++;
    if (from === batch.length) return;
    const first = batch[from]!.index;
    const firstStored = this.entries[0]?.index ?? this.snapshotIndex + 1;
    const lastStored = this.entries.length === 0 ? this.snapshotIndex : this.entries[this.entries.length - 1]!.index;
    if (this.entries.length > 0 && first >= firstStored && first <= lastStored + 1) {
      // An overwrite (Raft's conflicting suffix) or a plain append.
      this.entries.length = first - firstStored;
      this.locations.length = first - firstStored;
    } else if (this.entries.length === 0 && first === this.snapshotIndex + 1) {
      // Right after the snapshot: nothing to keep, nothing missing.
      this.runAfterGap = false;
    } else if (!this.metAnEntry || (this.runAfterGap && first < firstStored)) {
      // The one gap replay accepts (see the top of this file), or an overwrite reaching back into
      // it; finish() checks that a snapshot covers what is missing.
      this.entries = [];
      this.locations = [];
      this.runAfterGap = true;
    } else {
      throw new StorageCorruptError(`${where}: entry ${first} does not follow the log ${firstStored}..${lastStored}: records are missing`);
    }
    this.metAnEntry = true;
    for (let i = from; i < batch.length; i++) {
      this.entries.push(batch[i]!);
      this.locations.push(location);
    }
  }

  private dropThrough(index: number): void {
    let n = 0;
    while (n < this.entries.length && this.entries[n]!.index <= index) n++;
    if (n === 0) return;
    this.entries.splice(0, n);
    this.locations.splice(0, n);
  }

  finish(): ReplayedState {
    const snapshotIndex = this.snapshotIndex;
    const first = this.entries[0];
    if (first !== undefined && first.index !== snapshotIndex + 1) {
      throw new StorageCorruptError(`the log starts at ${first.index} but the snapshot ends at ${snapshotIndex}: entries ${snapshotIndex + 1}..${first.index - 1} are missing`);
    }
    let termBefore = this.snapshot?.meta.term ?? 0;
    for (const e of this.entries) {
      if (e.term < termBefore) throw new StorageCorruptError(`log index ${e.index} has term ${e.term}, below the term ${termBefore} before it`);
      termBefore = e.term;
    }
    const lastIndex = this.entries.length === 0 ? snapshotIndex : this.entries[this.entries.length - 1]!.index;
    if (this.hardState.commit > lastIndex) throw new StorageCorruptError(`hard state: commit ${this.hardState.commit} is beyond the last log index ${lastIndex}`);
    if (this.hardState.term < termBefore) throw new StorageCorruptError(`hard state: term ${this.hardState.term} is below the term ${termBefore} of log index ${lastIndex}`);
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      config: this.config,
      entries: this.entries,
      locations: this.locations,
      maxEntryIndexBySegment: this.maxEntryIndexBySegment,
    };
  }
}
