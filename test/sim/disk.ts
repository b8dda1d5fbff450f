// What survives a simulated crash: one node's "disk" (hard state, latest snapshot, log after it),
// and the simulated application whose image the snapshots carry. A crash keeps exactly this and
// throws away the RaftNode object; a restart rebuilds the node from it.

import type { ClusterConfig, Entry, HardState, RaftInitialState, Ready, Snapshot } from '../../raft/types.js';
import { appDigest } from './checkers.js';
import { mix } from './hash.js';

export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  /** Contiguous entries after the snapshot: entries[k].index === baseIndex() + 1 + k. */
  private entries: Entry[] = [];

  baseIndex(): number {
    return this.snapshot === null ? 0 : this.snapshot.meta.index;
  }

  lastIndex(): number {
    return this.baseIndex() + this.entries.length;
  }

  entryAt(index: number): Entry | undefined {
    return this.entries[index - this.baseIndex() - 1];
  }

  /**
   * Step 1 of handling a Ready, as one atomic write: snapshot, then entries (replacing the stored
   * suffix from entries[0].index), then hard state. The checker has validated them already.
   */
  persist(rd: Ready): void {
    if (rd.snapshot !== null) this.installSnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.append(rd.entries);
    if (rd.hardState !== null) this.hardState = { term: rd.hardState.term, vote: rd.hardState.vote, commit: rd.hardState.commit };
  }

  /** A snapshot the node took itself (createSnapshot): the log up to its index is compacted away. */
  saveOwnSnapshot(snap: Snapshot): void {
    const base = this.baseIndex();
    if (snap.meta.index <= base) return;
    this.entries = this.entries.slice(snap.meta.index - base);
    this.snapshot = snap;
  }

  /** The state a restarted RaftNode starts from; the application restarts from the snapshot, so applied = its index. */
  initialState(bootstrapConfig: ClusterConfig): RaftInitialState {
    const entries = new Array<Entry>(this.entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = this.entries[i]!;
      entries[i] = { index: e.index, term: e.term, kind: e.kind, data: e.data.slice() };
    }
    return {
      hardState: { ...this.hardState },
      snapshot: this.snapshot,
      entries,
      bootstrapConfig: { voters: bootstrapConfig.voters.slice() },
      applied: this.baseIndex(),
    };
  }

  /** A snapshot received from the leader: keep our suffix only if we hold the snapshot's last entry. */
  private installSnapshot(snap: Snapshot): void {
    const held = this.entryAt(snap.meta.index);
    if (held !== undefined && held.term === snap.meta.term) {
      this.entries = this.entries.slice(snap.meta.index - this.baseIndex());
    } else {
      this.entries = [];
    }
    this.snapshot = snap;
  }

  private append(entries: readonly Entry[]): void {
    const keep = entries[0]!.index - this.baseIndex() - 1;
    if (keep < this.entries.length) this.entries.length = keep;
    for (const e of entries) this.entries.push(e);
  }
}

/**
 * The simulated application: the count of applied non-empty normal entries and a running hash of
 * their data. Equal (index, count, hash) on two nodes means they applied the same commands.
 */
export class AppState {
  index = 0;
  count = 0;
  hash = 0;

  applyCommand(index: number, dataHash: number): void {
    this.index = index;
    this.count++;
    this.hash = mix(this.hash, dataHash);
  }

  /** No-ops and config entries advance the index only. */
  skip(index: number): void {
    this.index = index;
  }

  digest(): number {
    return appDigest(this.index, this.count, this.hash);
  }

  encode(): Uint8Array {
    const out = new Uint8Array(12);
    const v = new DataView(out.buffer);
    v.setUint32(0, this.index, true);
    v.setUint32(4, this.count, true);
    v.setUint32(8, this.hash, true);
    return out;
  }

  static decode(data: Uint8Array): AppState {
    if (data.byteLength !== 12) throw new Error(`snapshot data of ${data.byteLength} bytes is not an application image`);
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const app = new AppState();
    app.index = v.getUint32(0, true);
    app.count = v.getUint32(4, true);
    app.hash = v.getUint32(8, true);
    return app;
  }
}
