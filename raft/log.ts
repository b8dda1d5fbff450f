import { assert } from './assert.js';
import { entryDataBytes, ReleasedEntryData, type Entry, type SnapshotMeta } from './types.js';

/**
 * The core's view of the log: everything after the last compaction point, in memory.
 *
 * The durable copy lives in LogStorage; this class tracks how far the runtime has been handed
 * entries to persist (`handedTo`) and how far it has confirmed them durable (`persistedTo`), so
 * that a leader counts itself toward a quorum only for entries on its own disk, and a truncation
 * of the unstable suffix is persisted again.
 */
export class RaftLog {
  /** Index and term of the entry just before entries[0] (the compaction point). */
  private baseIndex: number;
  private baseTerm: number;
  private entries: Entry[];
  committed: number;
  /** Highest index handed to the runtime to apply. */
  appliedHandedTo: number;
  /** Highest index the runtime confirmed applied. */
  applied: number;
  /** Highest index handed to the runtime to persist. */
  handedTo: number;
  /** Highest index the runtime confirmed durable. */
  persistedTo: number;
  /** Entries up to here hold ReleasedEntryData (their data is in storage only). */
  releasedTo: number;
  /**
   * The newest applied, durable entries whose data may stay in memory: (keptFrom, keptTo], holding
   * keptBytes. Kept incrementally so that finding what to release costs O(entries newly applied),
   * not a walk over the whole kept window on every Ready.
   */
  private keptFrom: number;
  private keptTo: number;
  private keptBytes = 0;

  constructor(base: { index: number; term: number }, entries: Entry[], committed: number, applied: number) {
    this.baseIndex = base.index;
    this.baseTerm = base.term;
    this.entries = entries.slice();
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === base.index + 1 + i, 'log entries are contiguous after the base');
    }
    const last = this.lastIndex();
    this.committed = Math.min(Math.max(committed, base.index), last);
    this.applied = Math.max(applied, base.index);
    assert(this.applied <= this.committed || this.applied === base.index, 'applied <= committed');
    this.appliedHandedTo = this.applied;
    this.handedTo = last;
    this.persistedTo = last;
    this.releasedTo = base.index;
    this.keptFrom = base.index;
    this.keptTo = base.index;
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.baseTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term of the entry at index, or -1 when the index is compacted away or beyond the log. */
  term(index: number): number {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex || index > this.lastIndex()) return -1;
    return this.entries[index - this.baseIndex - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.baseIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.baseIndex - 1];
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi], at most maxBytes of data (but always at least one entry when lo <= hi). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo > this.baseIndex, 'slice starts after the compaction point');
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.entries[i - this.baseIndex - 1]!;
      bytes += entryDataBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  append(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, 'append is contiguous');
    this.entries.push(entry);
  }

  /**
   * Follower side of AppendEntries after prev matched: skips entries we already hold, truncates at
   * the first conflicting index and appends the rest. Returns the last index of the new entries.
   */
  mergeFrom(entries: Entry[]): number {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const ours = this.term(e.index);
      if (ours === e.term) continue;
      if (e.index <= this.baseIndex) continue; // compacted, so committed and matching by Log Matching
      assert(e.index > this.committed, `a conflict never reaches a committed entry (index ${e.index}, committed ${this.committed})`);
      this.truncateFrom(e.index);
      for (let j = k; j < entries.length; j++) this.append(entries[j]!);
      break;
    }
    return entries.length === 0 ? 0 : entries[entries.length - 1]!.index;
  }

  private truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    assert(index > this.releasedTo, 'a released entry is committed and never truncated');
    this.entries.length = index - this.baseIndex - 1;
    this.handedTo = Math.min(this.handedTo, index - 1);
    this.persistedTo = Math.min(this.persistedTo, index - 1);
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index <= `index` whose term is <= `term`.
   * Lets a leader skip a whole term of conflicting entries per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.baseIndex && this.term(i) > term) i--;
    return i;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `commit ${index} within the log (last ${this.lastIndex()})`);
    this.committed = index;
    return true;
  }

  /** Entries not yet handed to the runtime for persistence. Marks them handed. */
  takeUnstable(): Entry[] {
    const last = this.lastIndex();
    if (this.handedTo >= last) return [];
    assert(this.handedTo >= this.releasedTo, 'unstable entries are never released');
    const out = this.entries.slice(this.handedTo - this.baseIndex, this.entries.length);
    this.handedTo = last;
    return out;
  }

  hasUnstable(): boolean {
    return this.handedTo < this.lastIndex();
  }

  /** The runtime made these entries durable. Only entries still in our log at the same term count. */
  persisted(entries: Entry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1]!;
    if (this.term(last.index) === last.term && last.index > this.persistedTo) {
      this.persistedTo = Math.min(last.index, this.handedTo);
    }
  }

  /** Committed entries that are durable here and not yet handed to apply. Marks them handed. */
  takeCommitted(maxCount: number): Entry[] {
    const hi = Math.min(this.committed, this.handedTo);
    if (hi <= this.appliedHandedTo) return [];
    const lo = this.appliedHandedTo + 1;
    assert(lo > this.releasedTo, 'entries not yet applied are never released');
    const end = Math.min(hi, lo + maxCount - 1);
    const out = this.entries.slice(lo - this.baseIndex - 1, end - this.baseIndex);
    this.appliedHandedTo = end;
    return out;
  }

  hasCommittedToApply(): boolean {
    return Math.min(this.committed, this.handedTo) > this.appliedHandedTo;
  }

  appliedTo(index: number): void {
    assert(index <= this.appliedHandedTo, 'apply only what was handed');
    if (index > this.applied) this.applied = index;
  }

  /** Replaces the whole log by a snapshot's base (a follower installing InstallSnapshot). */
  restore(meta: SnapshotMeta): void {
    this.baseIndex = meta.index;
    this.baseTerm = meta.term;
    this.entries = [];
    this.committed = meta.index;
    this.applied = meta.index;
    this.appliedHandedTo = meta.index;
    this.handedTo = meta.index;
    this.persistedTo = meta.index;
    this.releasedTo = meta.index;
    this.keptFrom = meta.index;
    this.keptTo = meta.index;
    this.keptBytes = 0;
  }

  /**
   * Replaces the data of entries after `floor` up to `index` (applied and durable) by
   * ReleasedEntryData: the caller has them in storage. Entries at or below `floor` (kept in memory
   * below a snapshot, which storage no longer holds) and entries without data (no-ops) keep theirs.
   */
  releaseData(index: number, floor: number): void {
    assert(index <= this.applied && index <= this.persistedTo, 'release only applied, durable entries');
    for (let i = Math.max(this.releasedTo, this.baseIndex, floor) + 1; i <= index; i++) {
      const at = i - this.baseIndex - 1;
      const e = this.entries[at]!;
      if (e.data.byteLength > 0) this.entries[at] = { index: e.index, term: e.term, kind: e.kind, data: new ReleasedEntryData(e.data.byteLength) };
    }
    if (index > this.releasedTo) this.releasedTo = index;
  }

  /**
   * The index after which the applied, durable entries hold at most `keepBytes` of data: entries
   * up to it may be released. Amortized O(1) per applied entry.
   */
  keepNewestFrom(keepBytes: number): number {
    const to = Math.min(this.applied, this.persistedTo);
    for (let i = this.keptTo + 1; i <= to; i++) this.keptBytes += entryDataBytes(this.entries[i - this.baseIndex - 1]!);
    if (to > this.keptTo) this.keptTo = to;
    while (this.keptBytes > keepBytes && this.keptFrom < this.keptTo) {
      this.keptFrom += 1;
      this.keptBytes -= entryDataBytes(this.entries[this.keptFrom - this.baseIndex - 1]!);
    }
    return this.keptFrom;
  }

  /**
   * Where to compact to for a snapshot at `index`: the entries after the returned base, up to
   * `index`, are at most `entriesMax` and hold at most `bytesMax` bytes of data.
   */
  trailingBase(index: number, entriesMax: number, bytesMax: number): number {
    let base = Math.max(index - entriesMax, this.baseIndex);
    let bytes = 0;
    for (let i = index; i > base; i--) {
      bytes += entryDataBytes(this.entries[i - this.baseIndex - 1]!);
      if (bytes > bytesMax) {
        base = i;
        break;
      }
    }
    return base;
  }

  /** Drops entries up to and including `index` (they are covered by a snapshot). */
  compactTo(index: number): void {
    if (index <= this.baseIndex) return;
    assert(index <= this.applied, 'compact only applied entries');
    const term = this.term(index);
    this.entries = this.entries.slice(index - this.baseIndex);
    this.baseIndex = index;
    if (this.releasedTo < index) this.releasedTo = index;
    this.baseTerm = term;
    if (this.keptFrom < index) {
      this.keptFrom = index;
      if (this.keptTo < index) this.keptTo = index;
      this.keptBytes = 0;
      for (let i = index + 1; i <= this.keptTo; i++) this.keptBytes += entryDataBytes(this.entries[i - index - 1]!);
    }
  }
}
