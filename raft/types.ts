// The vocabulary of the Raft core. raft/ replicates opaque bytes: nothing here knows about jobs.

import type { SnapshotFileWriter } from './storage.js';

export type NodeId = string;

/** 'normal' carries application bytes (empty bytes = the leader's no-op); 'config' carries an encoded ConfigChange. */
export type EntryKind = 'normal' | 'config';

export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  data: Uint8Array;
}

/**
 * Stands in for the data of a log entry that the runtime released from memory because it is
 * durable, applied, and (on a leader) held by every follower (RaftNode.releaseEntryData). An
 * AppendEntries message may carry such entries: the runtime reads their data back from storage
 * before sending it. Keeps the length, for flow control.
 */
export class ReleasedEntryData extends Uint8Array {
  constructor(readonly releasedBytes: number) {
    super(0);
  }
}

/** Bytes of an entry's data, released or not. */
export function entryDataBytes(e: Entry): number {
  const data = e.data;
  return data instanceof ReleasedEntryData ? data.releasedBytes : data.byteLength;
}

export function isReleasedEntry(e: Entry): boolean {
  return e.data instanceof ReleasedEntryData;
}

/** What must be on disk before any message of the same Ready leaves the node. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** Voters, kept sorted so that two nodes holding the same config hold the same bytes. */
export interface ClusterConfig {
  voters: NodeId[];
}

/** Single-server membership changes only (dissertation §4.1): one voter added or removed per entry. */
export type ConfigChange = { type: 'add' | 'remove'; id: NodeId; /** Opaque to raft/: the runtime's data about the node (its addresses). */ context?: string };

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  index: number;
  term: number;
  /** The committed configuration as of `index`. */
  config: ClusterConfig;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /**
   * The application's state-machine image at meta.index; opaque to raft/. RELEASED_SNAPSHOT_DATA
   * once the runtime made it durable and dropped it from memory (RaftNode.releaseSnapshotData),
   * or from the start when the runtime wrote the image straight to storage as it was encoded
   * (LogStorage.openSnapshotFile): such a snapshot must be read back from storage before it is sent.
   */
  data: Uint8Array;
}

/**
 * Stands in for the data of a snapshot held only in storage. Compared by identity: a snapshot
 * whose data is this very object has data on disk, not in memory.
 */
export const RELEASED_SNAPSHOT_DATA: Uint8Array = new Uint8Array(0);

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** RequestVote, or PreVote when `pre` (dissertation §9.6): a pre-vote never changes the receiver's term or vote. */
export interface VoteRequest extends MessageBase {
  type: 'vote';
  pre: boolean;
  lastIndex: number;
  lastTerm: number;
  /** Set by a candidate campaigning after TimeoutNow: voters skip the leader-lease check. */
  transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  type: 'voteResp';
  pre: boolean;
  granted: boolean;
}

export interface AppendRequest extends MessageBase {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

export interface AppendResponse extends MessageBase {
  type: 'appendResp';
  success: boolean;
  /** On success: the follower's match index. On rejection: the prevIndex that was rejected. */
  index: number;
  /** On rejection, the fast-backtracking hint: the follower's last index <= the rejected prevIndex whose term <= hintTerm. */
  hintIndex: number;
  hintTerm: number;
}

/** Heartbeats carry the commit index (bounded by the follower's match) and an optional ReadIndex context. */
export interface HeartbeatRequest extends MessageBase {
  type: 'heartbeat';
  commit: number;
  readCtx: number | null;
}

export interface HeartbeatResponse extends MessageBase {
  type: 'heartbeatResp';
  readCtx: number | null;
  /**
   * The follower's latest snapshot index, and whether its applies are paused for one being taken:
   * a leader due for a costly snapshot of its own hands leadership to a follower that has one
   * fresher than its own and is not busy taking one (RaftDriver). Read by nothing inside raft/.
   */
  snapshotIndex: number;
  applyPaused: boolean;
}

/**
 * A stored snapshot's data read piece by piece, in order (LogStorage.openSnapshotSource), so a
 * runtime sends an image without holding it. The last read checks the whole image's checksum.
 */
export interface SnapshotSource {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  /** The next `length` bytes (fewer at the end); reads go in order, from offset 0. */
  read(length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface SnapshotRequest extends MessageBase {
  type: 'snapshot';
  snapshot: Snapshot;
  /**
   * Set by a runtime only, never by the core: the data comes from storage piece by piece, and
   * snapshot.data is RELEASED_SNAPSHOT_DATA. Whoever ends up with the message closes it.
   */
  source?: SnapshotSource;
  /**
   * Set by a runtime only, on a snapshot received: its data went to this file as it arrived, and
   * snapshot.data is RELEASED_SNAPSHOT_DATA. The runtime saves it with the snapshot, or aborts it
   * when the core does not take the snapshot.
   */
  file?: SnapshotFileWriter;
}

/** Leadership transfer: the target campaigns at once, skipping pre-vote. */
export interface TimeoutNow extends MessageBase {
  type: 'timeoutNow';
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow;

export type MessageType = Message['type'];

/** A ReadIndex answer: once the node has applied up to `index`, a read tagged `ctx` is linearizable. */
export interface ReadState {
  ctx: number;
  index: number;
}

export interface SoftState {
  role: Role;
  leader: NodeId | null;
  term: number;
}

/**
 * Everything the core wants done, taken in one call. The runtime must, in this order:
 * 1. persist `snapshot` (if any), then `entries` (overwriting any stored suffix from entries[0].index)
 *    and `hardState` (if any), durably (fsync) and atomically;
 * 2. send `messages`;
 * 3. apply `committed` in order (and install `snapshot` into the state machine first, if any);
 * 4. call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: Entry[];
  messages: Message[];
  committed: Entry[];
  readStates: ReadState[];
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: 'not_leader' | 'transferring' | 'config_pending' | 'invalid_config_change' | 'too_many_uncommitted'; leader: NodeId | null };

/** Deliberately broken behaviours, for proving that the simulator's checkers bite. Never set in production. */
export interface RaftFaults {
  /** (a) The leader commits an entry of an earlier term by counting replicas (Figure 8 of the Raft paper). */
  commitOldTermByCounting?: boolean;
  /** (b) A vote is granted without the "candidate's log is at least as up-to-date" check. */
  voteWithoutLogCheck?: boolean;
  /** (c) The vote is sent before it is persisted: the vote reaches disk one Ready later. */
  sendVoteBeforePersist?: boolean;
  /** (d) A follower accepts entries without checking that prevIndex/prevTerm match its log. */
  appendWithoutPrevCheck?: boolean;
}

export interface RaftOptions {
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is random in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  /** Ticks between leader heartbeats. Must be < electionTicks. */
  heartbeatTicks: number;
  /** A seeded generator returning floats in [0, 1). The core has no randomness of its own. */
  random: () => number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Bound on AppendEntries messages in flight to one follower (pipelining window). */
  maxInflightMsgs: number;
  /** Bound on the bytes of entry data in flight to one follower. */
  maxInflightBytes: number;
  /** Bound on the bytes of entry data in one AppendEntries message (at least one entry is always sent). */
  maxMsgBytes: number;
  /** Bound on entries proposed but not yet committed; beyond it propose answers too_many_uncommitted. */
  maxUncommittedEntries: number;
  /** Entries kept in memory below a new snapshot, so slightly lagging followers catch up without one. Default 1024. */
  compactTrailingEntries?: number;
  /** And at most this many bytes of their data (large batched entries). Default: no bound. */
  compactTrailingBytes?: number;
  /** Ticks a follower may stay in snapshot state without answering before the leader sends again. Default 5 × electionTicks. */
  snapshotTimeoutTicks?: number;
  faults?: RaftFaults;
}

/** What a node loaded from its LogStorage at boot, or the bootstrap state of a brand-new cluster. */
export interface RaftInitialState {
  hardState: HardState;
  /** Metadata of the latest snapshot (data stays with the runtime), or null. */
  snapshot: Snapshot | null;
  /** Log entries after the snapshot, contiguous. */
  entries: Entry[];
  /**
   * The configuration at the base of the log when there is no snapshot: the bootstrap voters of a new
   * cluster, or an empty config for a node that waits to be added to an existing cluster.
   */
  bootstrapConfig: ClusterConfig;
  /** Index already applied to the state machine (the runtime restores the snapshot, so usually its index). */
  applied: number;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  config: ClusterConfig;
  /** Leader only: per follower replication progress. */
  progress: Record<NodeId, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean; lastContactTicks: number; snapshotIndex: number; applyPaused: boolean }>;
  /** Ticks since this node last heard from its leader (followers) or from a quorum (leader). */
  ticksSinceLeaderContact: number;
}
