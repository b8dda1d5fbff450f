// The state machine's image for Raft snapshots. Deterministic: only replicated state goes in, in
// replicated order (Map insertion order, lane order, log order), as arrays rather than objects
// keyed by data, so the same applied log gives the same bytes on every replica. Derived indexes
// (heaps, counts, stale entries) stay out and are rebuilt on restore; that they differ in layout
// after a restore is harmless because every pop order is a total order over live entries.

import { Packr } from 'msgpackr';
import { BACKOFF_SHARED_DEFAULT, JobRecord, LeaseRecord } from './job-record.js';
import { LANE_COUNT } from './priority-lanes.js';
import { QueueState } from './queue-state.js';
import { ClientSession } from './sessions.js';
import { loadBytesOrNull, storeBytesOrNull } from './stored-bytes.js';
import { JobStore } from './store.js';
import { JOB_STATES, type JobState, type Outcome } from './types.js';

export const SNAPSHOT_VERSION = 1;

const packr = new Packr({ useRecords: false });

export interface SnapshotMeta {
  appliedIndex: number;
  lastNowMs: number;
}

type JobImage = [
  id: string, queue: string, name: string, payload: Uint8Array | null, priority: number, maxAttempts: number,
  backoff: [baseMs: number, capMs: number, jitter: number] | null, leaseMs: number, idempotencyKey: string | null,
  state: JobState, attempts: number, redeliveries: number, lastError: string | null, result: Uint8Array | null,
  createdAtMs: number, runAtMs: number, startedAtMs: number | null, finishedAtMs: number | null, finishSeq: number,
  lease: [token: string, workerId: string, expiresAtMs: number, grantMs: number] | null,
];

type QueueImage = [
  name: string, paused: boolean, totals: number[], virtualTime: number, passes: number[],
  lanes: string[][], done: string[], dead: string[],
];

type SessionImage = [clientId: string, lastUsedMs: number, evictedSeqMax: number, results: [number, Outcome][]];

interface Image {
  version: number;
  appliedIndex: number;
  lastNowMs: number;
  finishSeq: number;
  leaseRotation: number;
  queues: QueueImage[];
  jobs: JobImage[];
  idempotency: [queue: string, key: string, jobId: string, firstAtMs: number][];
  sessions: SessionImage[];
}

const TOTAL_KEYS = ['enqueued', 'completed', 'failed', 'retried', 'dead', 'expired'] as const;

function jobImage(rec: JobRecord): JobImage {
  const b = rec.backoff;
  const l = rec.lease;
  return [
    rec.id, rec.queue, rec.name, loadBytesOrNull(rec.payload), rec.priority, rec.maxAttempts,
    b === BACKOFF_SHARED_DEFAULT ? null : [b.baseMs, b.capMs, b.jitter], rec.leaseMs, rec.idempotencyKey,
    rec.state, rec.attempts, rec.redeliveries, rec.lastError, loadBytesOrNull(rec.result),
    rec.createdAtMs, rec.runAtMs, rec.startedAtMs, rec.finishedAtMs, rec.finishSeq,
    l === null ? null : [l.token, l.workerId, l.expiresAtMs, l.grantMs],
  ];
}

function queueImage(q: QueueState): QueueImage {
  const lanes: string[][] = [];
  for (let p = 0; p < LANE_COUNT; p++) {
    const ids = [...q.lanes.live(p)].map((rec) => rec.id);
    if (ids.length !== q.lanes.waitingAt(p)) throw new Error(`invariant: lane ${p} of ${q.name} holds ${ids.length} live jobs, counts ${q.lanes.waitingAt(p)}`);
    lanes.push(ids);
  }
  return [
    q.name, q.paused, TOTAL_KEYS.map((k) => q.totals[k]), q.lanes.virtualTime, [...q.lanes.passes],
    lanes, [...q.done.live()].map((rec) => rec.id), [...q.dead.live()].map((rec) => rec.id),
  ];
}

export function encodeSnapshot(store: JobStore, meta: SnapshotMeta): Uint8Array {
  const image: Image = {
    version: SNAPSHOT_VERSION,
    appliedIndex: meta.appliedIndex,
    lastNowMs: meta.lastNowMs,
    finishSeq: store.finishSeq,
    leaseRotation: store.leaseRotation,
    queues: [...store.queues.values()].map(queueImage),
    jobs: [...store.jobs.values()].map(jobImage),
    idempotency: [...store.idempotency.live()].map((e) => [e.queue, e.key, e.jobId, e.firstAtMs]),
    sessions: [...store.sessions.values()].map((s) => [s.clientId, s.lastUsedMs, s.evictedSeqMax, [...s.results.entries()]]),
  };
  return packr.pack(image);
}

function restoreJob(store: JobStore, img: JobImage): void {
  const [id, queue, name, payload, priority, maxAttempts, backoff, leaseMs, idempotencyKey, state] = img;
  if (!JOB_STATES.includes(state)) throw new Error(`invariant: snapshot job ${id} has unknown state ${String(state)}`);
  const q = store.queue(queue);
  if (q === undefined) throw new Error(`invariant: snapshot job ${id} names unknown queue ${queue}`);
  const resolvedBackoff = backoff === null ? BACKOFF_SHARED_DEFAULT : { baseMs: backoff[0], capMs: backoff[1], jitter: backoff[2] };
  const settings = q.settingsFor(name, priority, maxAttempts, resolvedBackoff, leaseMs);
  const rec = new JobRecord(id, settings, storeBytesOrNull(payload), store.stampAt(img[14]), state, img[15], idempotencyKey);
  rec.attempts = img[10];
  rec.redeliveries = img[11];
  rec.lastError = img[12];
  rec.result = storeBytesOrNull(img[13]);
  rec.startedAtMs = img[16];
  rec.finishedAtMs = img[17];
  rec.finishSeq = img[18];
  const lease = img[19];
  rec.lease = lease === null ? null : new LeaseRecord(rec, lease[0], lease[1], lease[2], lease[3]);
  store.adopt(rec, q);
}

function restoredJob(store: JobStore, id: string, where: string): JobRecord {
  const rec = store.jobs.get(id);
  if (rec === undefined) throw new Error(`invariant: snapshot ${where} names unknown job ${id}`);
  return rec;
}

function restoreQueuePositions(store: JobStore, img: QueueImage): void {
  const q = store.queue(img[0]) as QueueState;
  img[5].forEach((ids, p) => {
    for (const id of ids) q.lanes.append(restoredJob(store, id, `lane ${p} of ${q.name}`));
  });
  for (const id of img[6]) q.done.push(restoredJob(store, id, `retention log of ${q.name}`));
  for (const id of img[7]) q.dead.push(restoredJob(store, id, `dead log of ${q.name}`));
}

export function decodeSnapshot(bytes: Uint8Array): { store: JobStore; meta: SnapshotMeta } {
  const image = packr.unpack(bytes) as Image;
  if (image.version !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${String(image.version)} is not ${SNAPSHOT_VERSION}`);
  const store = new JobStore();
  store.finishSeq = image.finishSeq;
  store.leaseRotation = image.leaseRotation;
  for (const [name, paused, totals, virtualTime, passes] of image.queues) {
    const q = store.queueOrCreate(name);
    q.paused = paused;
    TOTAL_KEYS.forEach((k, i) => (q.totals[k] = totals[i] as number));
    q.lanes.virtualTime = virtualTime;
    passes.forEach((pass, p) => (q.lanes.passes[p] = pass));
  }
  for (const img of image.jobs) restoreJob(store, img);
  for (const img of image.queues) restoreQueuePositions(store, img);
  store.rescheduleAgeChecks();
  for (const [queue, key, jobId, firstAtMs] of image.idempotency) store.idempotency.restore(queue, key, jobId, firstAtMs);
  for (const [clientId, lastUsedMs, evictedSeqMax, results] of image.sessions) {
    const session = new ClientSession(clientId, lastUsedMs);
    for (const [seq, outcome] of results) session.remember(seq, outcome);
    session.evictedSeqMax = evictedSeqMax;
    store.sessions.restore(session);
  }
  return { store, meta: { appliedIndex: image.appliedIndex, lastNowMs: image.lastNowMs } };
}
