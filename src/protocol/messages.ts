// The client wire vocabulary: every request op, its fields, and its result. A request is one
// msgpack map `{id, op, ...fields}`; its response is `{id, ok: true, result}` or
// `{id, ok: false, error}`. Field names and shapes here are the protocol: change them with care.

import type { WireError } from '../errors.js';
import { LEASE_BATCH_MAX, LEASE_WAIT_MS_MAX } from '../limits.js';
import type {
  AckItem, Command, CommandResults, EnqueueSpec, Envelope, PriorityName, QueueStats, ScheduleJob, ValueBytes, WireJob, WireSchedule, WireScheduleSummary,
} from '../jobs/types.js';

// Protocol-only bounds. They belong with the others in src/limits.ts (and README "Limits").
/** Jobs one dlqList answer may hold. Kept small because each job carries its payload. */
export const DLQ_LIST_LIMIT_MAX = 100;
export const DLQ_LIST_LIMIT_DEFAULT = 20;
/** Job ids one dlqRetry / dlqPurge may name, and the largest `max` it may ask for. */
export const DLQ_BATCH_MAX = LEASE_BATCH_MAX;
/** A waitResult is a long poll like a lease; the SDK loops for longer waits. */
export const WAIT_RESULT_MS_MAX = LEASE_WAIT_MS_MAX;
/** A lease token is opaque to clients ("job id + attempt + lease index"); this only bounds it. */
export const LEASE_TOKEN_LENGTH_MAX = 512;
/** host:port strings (node addresses). */
export const ADDRESS_LENGTH_MAX = 256;

/** Every mutating request carries a client session, so a retried request applies once. */
export interface SessionFields {
  clientId: string;
  /** Positive, unique per clientId; a retry reuses it. */
  seq: number;
  /** Optional: the client's oldest seq still awaiting an answer; the node may forget older results. */
  seqFloor?: number;
}

/** Reads go through ReadIndex (linearizable) unless `stale` asks for the local node's state. */
export interface ReadFields {
  stale?: boolean;
}

/** A job as a producer sends it: like EnqueueSpec, but the priority may be named. */
export interface WireEnqueueSpec extends Omit<EnqueueSpec, 'priority'> {
  priority?: number | PriorityName;
}

/** A schedule's job as a client sends it: the priority may be named. */
export interface WireScheduleJob extends Omit<ScheduleJob, 'priority'> {
  priority?: number | PriorityName;
}

/** Fields of each request op (besides `id` and `op`). */
export interface RequestFields {
  // Mutating: become a Command inside an Envelope.
  enqueue: SessionFields & { jobs: WireEnqueueSpec[] };
  lease: SessionFields & { queues: string[]; max: number; leaseMs?: number; waitMs?: number; workerId: string };
  heartbeat: SessionFields & { jobId: string; token: string; leaseMs?: number };
  ack: SessionFields & { jobId: string; token: string; result?: ValueBytes };
  ackMany: SessionFields & { acks: AckItem[] };
  release: SessionFields & { jobId: string; token: string };
  fail: SessionFields & { jobId: string; token: string; error: string; retryable: boolean };
  cancel: SessionFields & { jobId: string };
  pause: SessionFields & { queue: string };
  resume: SessionFields & { queue: string };
  dlqRetry: SessionFields & { queue: string; jobIds?: string[]; max?: number };
  dlqPurge: SessionFields & { queue: string; jobIds?: string[]; max?: number };
  /** Creates or replaces a schedule; give exactly one of everyMs and cron. */
  scheduleSet: SessionFields & { queue: string; scheduleId: string; everyMs?: number; cron?: string; startAtMs?: number; job?: WireScheduleJob };
  scheduleRemove: SessionFields & { queue: string; scheduleId: string };
  // Reads.
  get: ReadFields & { jobId: string };
  stats: ReadFields & { queue: string };
  queues: ReadFields;
  dlqList: ReadFields & { queue: string; offset?: number; limit?: number };
  waitResult: ReadFields & { jobId: string; timeoutMs: number };
  schedules: ReadFields & { queue?: string };
  schedule: ReadFields & { queue: string; scheduleId: string };
  // Admin and discovery.
  clusterStatus: Record<string, never>;
  transferLeader: { to: string };
  // The node's id travels as `nodeId`: `id` is the request id.
  addNode: { nodeId: string; peerAddr: string; clientAddr: string; httpAddr: string };
  removeNode: { nodeId: string };
  snapshot: Record<string, never>;
  stateHash: Record<string, never>;
  hello: { clientId: string };
}

export type Op = keyof RequestFields;
export type MutatingOp = Exclude<Command['op'], 'tick'>;
export type ReadOp = 'get' | 'stats' | 'queues' | 'dlqList' | 'waitResult' | 'schedules' | 'schedule';
export type AdminOp = 'clusterStatus' | 'transferLeader' | 'addNode' | 'removeNode' | 'snapshot' | 'stateHash' | 'hello';

export const MUTATING_OPS: readonly MutatingOp[] = [
  'enqueue', 'lease', 'heartbeat', 'ack', 'ackMany', 'release', 'fail', 'cancel', 'pause', 'resume', 'dlqRetry', 'dlqPurge',
  'scheduleSet', 'scheduleRemove',
];
export const READ_OPS: readonly ReadOp[] = ['get', 'stats', 'queues', 'dlqList', 'waitResult', 'schedules', 'schedule'];
export const ADMIN_OPS: readonly AdminOp[] = ['clusterStatus', 'transferLeader', 'addNode', 'removeNode', 'snapshot', 'stateHash', 'hello'];

/** A request as it travels: `{id, op, ...fields}`. */
export type Request<O extends Op = Op> = { [K in O]: { id: number; op: K } & RequestFields[K] }[O];

export interface NodeAddresses {
  id: string;
  /** host:port of the node's peer (Raft) listener. */
  peerAddr: string;
  /** host:port of the node's client (this protocol) listener. */
  clientAddr: string;
  /** host:port of the node's HTTP listener. */
  httpAddr: string;
}

export type NodeRole = 'leader' | 'follower' | 'candidate' | 'precandidate' | 'learner' | 'unknown';

export interface NodeStatus extends NodeAddresses {
  role: NodeRole;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** Entries the node's applied index trails the leader's commit index by; null when unknown. */
  lagEntries: number | null;
  /** Since the leader last heard from this node; null when unknown or for the leader itself. */
  lastContactMs: number | null;
  reachable: boolean;
}

export interface ClusterStatus {
  /** The node that answered. */
  nodeId: string;
  /** The leader's node id, or null when none is known. */
  leader: string | null;
  term: number;
  nodes: NodeStatus[];
}

/** What each op answers with. */
export interface OpResults {
  enqueue: CommandResults['enqueue'];
  lease: CommandResults['lease'];
  heartbeat: CommandResults['heartbeat'];
  ack: CommandResults['ack'];
  ackMany: CommandResults['ackMany'];
  release: CommandResults['release'];
  fail: CommandResults['fail'];
  cancel: CommandResults['cancel'];
  pause: CommandResults['pause'];
  resume: CommandResults['resume'];
  dlqRetry: CommandResults['dlqRetry'];
  dlqPurge: CommandResults['dlqPurge'];
  scheduleSet: CommandResults['scheduleSet'];
  scheduleRemove: CommandResults['scheduleRemove'];
  /** Schedules by (queue, scheduleId), without their job's payload (`schedule` has it). */
  schedules: { schedules: WireScheduleSummary[] };
  /** One schedule with its job's payload; null when there is none. */
  schedule: { schedule: WireSchedule | null };
  /** `job` is null when no such job exists (or it was removed by retention). */
  get: { job: WireJob | null };
  stats: QueueStats;
  queues: { queues: QueueStats[] };
  /** Dead jobs, oldest first; `total` counts every dead job of the queue. */
  dlqList: { jobs: WireJob[]; total: number };
  /** `final` is false when the wait timed out; NOT_FOUND when the job does not exist. */
  waitResult: { job: WireJob; final: boolean };
  clusterStatus: ClusterStatus;
  transferLeader: { leader: string | null };
  addNode: { nodes: NodeAddresses[] };
  removeNode: { nodes: NodeAddresses[] };
  snapshot: { index: number; bytes: number };
  stateHash: { appliedIndex: number; hash: string };
  /** `leader` is a node id; a client maps it to an address through `nodes`. */
  hello: { nodeId: string; leader: string | null; nodes: { id: string; clientAddr: string }[] };
}

/**
 * A success answered by a follower carries `leader`, the id of the leader it forwarded to, so a
 * client that can reach that leader talks to it directly from then on (one hop less).
 */
export type Response<T = unknown> = { id: number; ok: true; result: T; leader?: string } | { id: number; ok: false; error: WireError };

/** A mutating request after validation: its Envelope is what the node proposes to Raft. */
export type ValidCommandRequest = {
  [K in MutatingOp]: {
    kind: 'command';
    id: number;
    op: K;
    envelope: Envelope & { cmd: Extract<Command, { op: K }> };
    /** Lease only: how long the node may hold the request waiting for jobs (0: answer at once). */
    waitMs: number;
    /** About how many bytes the envelope adds to a Raft entry (payloads and results as measured by validation). */
    sizeBytes: number;
  };
}[MutatingOp];

export type ValidReadRequest =
  | { kind: 'read'; id: number; op: 'get'; stale: boolean; jobId: string }
  | { kind: 'read'; id: number; op: 'stats'; stale: boolean; queue: string }
  | { kind: 'read'; id: number; op: 'queues'; stale: boolean }
  | { kind: 'read'; id: number; op: 'dlqList'; stale: boolean; queue: string; offset: number; limit: number }
  | { kind: 'read'; id: number; op: 'waitResult'; stale: boolean; jobId: string; timeoutMs: number }
  | { kind: 'read'; id: number; op: 'schedules'; stale: boolean; queue: string | null }
  | { kind: 'read'; id: number; op: 'schedule'; stale: boolean; queue: string; scheduleId: string };

export type ValidAdminRequest =
  | { kind: 'admin'; id: number; op: 'clusterStatus' }
  | { kind: 'admin'; id: number; op: 'transferLeader'; to: string }
  | { kind: 'admin'; id: number; op: 'addNode'; node: NodeAddresses }
  | { kind: 'admin'; id: number; op: 'removeNode'; nodeId: string }
  | { kind: 'admin'; id: number; op: 'snapshot' }
  | { kind: 'admin'; id: number; op: 'stateHash' }
  | { kind: 'admin'; id: number; op: 'hello'; clientId: string };

/** A request that passed validation: every field typed, bounded and defaulted. */
export type ValidRequest = ValidCommandRequest | ValidReadRequest | ValidAdminRequest;

/** The result type a handler returns for a given valid request. */
export type ResultOf<R extends ValidRequest> = OpResults[R['op']];
