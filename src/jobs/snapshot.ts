// The state machine's image for Raft snapshots. Deterministic: only replicated state goes in, in
// replicated order (Map insertion order, lane order, log order), so the same applied log gives the
// same bytes on every replica. Derived indexes (heaps, counts, stale entries) stay out and are
// rebuilt on restore; that they differ in layout after a restore is harmless because every pop
// order is a total order over live entries.
//
// The image is a stream of small msgpack values, never one value holding every job: encoding
// writes each job straight into one buffer (msgpack-writer.ts), and decoding handles one job at a
// time, so neither side builds a second copy of a million jobs as JS arrays. In order:
//   header   {version, appliedIndex, lastNowMs, finishSeq, leaseRotation, queues, jobs, positions, idempotency, schedules, sessions}
//   queues   one [name, paused, totals[6], virtualTime, passes[10]] each
//   jobs     one JobImage each (below), in the store's Map order
//   positions [queue ordinal, list, ids[]]: lane 0..9, DONE_LIST or DEAD_LIST, at most POSITION_IDS_MAX ids each
//   idempotency [queue, key, jobId, firstAtMs] each, oldest first
//   schedules ScheduleImage each (below), by (queue, scheduleId); version 2 images have none
//   sessions [clientId, lastUsedMs, evictedSeqMax, results] each, followed by its `results` [seq, outcome] values
// Job ids and payload/result bytes are `bin` (ids are ASCII), so restored ids are flat strings of
// their own, never slices pinning a larger decoded string.

import { assignedJobIdCodes } from './ids.js';
import { splitAssignedId } from './job-index.js';
import { BACKOFF_SHARED_DEFAULT, JobRecord, LeaseRecord } from './job-record.js';
import { MsgpackWriter } from './msgpack-writer.js';
import { LANE_COUNT } from './priority-lanes.js';
import { QueueState } from './queue-state.js';
import { ClientSession } from './sessions.js';
import { storeBytes, storeBytesOrNull } from './stored-bytes.js';
import { ValueStream } from './value-stream.js';
import { JobStore } from './store.js';
import { parseCron } from './cron.js';
import { ownedJob, ScheduleRecord } from './schedules.js';
import { JOB_STATES, type JobState, type Outcome, type ScheduleJob } from './types.js';

export const SNAPSHOT_VERSION = 3;
/** Images this build reads: version 2 is version 3 without schedules. */
const SNAPSHOT_VERSIONS_READ: readonly number[] = [2, 3];

/** Ids per positions value: bounds the size of one decoded value. */
const POSITION_IDS_MAX = 4096;
/** `list` of a positions value beyond the lanes 0..LANE_COUNT-1. */
const DONE_LIST = LANE_COUNT;
const DEAD_LIST = LANE_COUNT + 1;
/**
 * A first guess of the image's size beyond the payload bytes, per job (a queued job takes ~110:
 * its id twice, times, settings), so the buffer rarely has to grow (a copy of the whole image).
 */
const IMAGE_BYTES_PER_JOB_ESTIMATE = 128;


export interface SnapshotMeta {
  appliedIndex: number;
  lastNowMs: number;
}

type JobImage = [
  id: Uint8Array, queue: number, name: string, payload: Uint8Array | null, priority: number, maxAttempts: number,
  backoff: [baseMs: number, capMs: number, jitter: number] | null, leaseMs: number, idempotencyKey: string | null,
  state: number, attempts: number, redeliveries: number, lastError: string | null, result: Uint8Array | null,
  createdAtMs: number, runAtMs: number | null, startedAtMs: number | null, finishedAtMs: number | null, finishSeq: number,
  lease: [token: string, workerId: string, expiresAtMs: number, grantMs: number] | null,
];
const JOB_IMAGE_FIELDS = 20;

type QueueImage = [name: string, paused: boolean, totals: number[], virtualTime: number, passes: number[]];
type PositionsImage = [queue: number, list: number, ids: Uint8Array[]];
type IdempotencyImage = [queue: string, key: string, jobId: string, firstAtMs: number];
type SessionImage = [clientId: string, lastUsedMs: number, evictedSeqMax: number, results: number];
type ScheduleImage = [
  queue: string, scheduleId: string, everyMs: number | null, cron: string | null, job: ScheduleJob, nextRunAtMs: number | null,
  lastRunAtMs: number | null, lastJobId: string | null, runs: number, refused: number, createdAtMs: number, updatedAtMs: number,
];

interface Header {
  version: number;
  appliedIndex: number;
  lastNowMs: number;
  finishSeq: number;
  leaseRotation: number;
  queues: number;
  jobs: number;
  positions: number;
  idempotency: number;
  /** Absent from version 2 images. */
  schedules?: number;
  sessions: number;
}

const TOTAL_KEYS = ['enqueued', 'completed', 'failed', 'retried', 'dead', 'expired'] as const;

// ---------------------------------------------------------------------------------------------
// Encoding

/** The id as a bin; an assigned one written from its parts, without building its string. */
function writeJobId(w: MsgpackWriter, rec: JobRecord): void {
  const position = rec.assignedPosition;
  if (position < 0) w.latin1BinOrNil(rec.id);
  else w.binOfCodes(assignedJobIdCodes(rec.created.index, position));
}

function writeJob(w: MsgpackWriter, rec: JobRecord, queueOrdinal: number): void {
  const b = rec.backoff;
  const lease = rec.lease;
  w.array(JOB_IMAGE_FIELDS);
  writeJobId(w, rec);
  w.number(queueOrdinal);
  w.str(rec.name);
  w.latin1BinOrNil(rec.payload);
  w.number(rec.priority);
  w.number(rec.maxAttempts);
  if (b === BACKOFF_SHARED_DEFAULT) w.nil();
  else {
    w.array(3);
    w.number(b.baseMs);
    w.number(b.capMs);
    w.number(b.jitter);
  }
  w.number(rec.leaseMs);
  w.strOrNil(rec.idempotencyKey);
  w.number(JOB_STATES.indexOf(rec.state));
  w.number(rec.attempts);
  w.number(rec.redeliveries);
  w.strOrNil(rec.lastError);
  w.latin1BinOrNil(rec.result);
  w.number(rec.createdAtMs);
  // Most jobs run when they were created: nil says so in one byte instead of nine.
  w.numberOrNil(rec.runAtMs === rec.createdAtMs ? null : rec.runAtMs);
  w.numberOrNil(rec.startedAtMs);
  w.numberOrNil(rec.finishedAtMs);
  w.number(rec.finishSeq);
  if (lease === null) w.nil();
  else {
    w.array(4);
    w.str(lease.token);
    w.str(lease.workerId);
    w.number(lease.expiresAtMs);
    w.number(lease.grantMs);
  }
}

/**
 * The lists a queue's positions values hold, with the live jobs each must hold (the counts the
 * queue keeps): the header gives the number of positions values before any is written, so a
 * stepped encoding walks the lists lazily instead of copying a million records in its first step.
 */
function positionListCounts(q: QueueState): [list: number, count: number][] {
  const lists: [number, number][] = [];
  for (let p = 0; p < LANE_COUNT; p++) lists.push([p, q.lanes.waitingAt(p)]);
  lists.push([DONE_LIST, q.retainedCount('done')], [DEAD_LIST, q.retainedCount('dead')]);
  return lists;
}

function positionChunkCount(q: QueueState): number {
  return positionListCounts(q).reduce((n, [, count]) => n + Math.ceil(count / POSITION_IDS_MAX), 0);
}

function positionListJobs(q: QueueState, list: number): Iterable<JobRecord> {
  if (list === DONE_LIST) return q.done.live();
  if (list === DEAD_LIST) return q.dead.live();
  return q.lanes.live(list);
}

/** A queue's positions values, POSITION_IDS_MAX ids at most each; throws if a list disagrees with its count. */
function* positionChunks(q: QueueState): Generator<[list: number, recs: JobRecord[]], void, void> {
  for (const [list, count] of positionListCounts(q)) {
    let chunk: JobRecord[] = [];
    let seen = 0;
    for (const rec of positionListJobs(q, list)) {
      chunk.push(rec);
      seen++;
      if (chunk.length === POSITION_IDS_MAX) {
        yield [list, chunk];
        chunk = [];
      }
    }
    if (chunk.length > 0) yield [list, chunk];
    if (seen !== count) throw new Error(`invariant: list ${list} of ${q.name} holds ${seen} live jobs, counts ${count}`);
  }
}

/** About how many bytes the store's image takes (a little more, usually). */
export function snapshotBytesEstimate(store: JobStore): number {
  return store.jobs.size * IMAGE_BYTES_PER_JOB_ESTIMATE + store.payloadBytesTotal + store.detailBytesTotal + store.sessions.resultBytes + 4096;
}

/** The store's image: a fresh buffer holding the value stream described at the top. */
export function encodeSnapshot(store: JobStore, meta: SnapshotMeta): Uint8Array {
  const w = new MsgpackWriter(snapshotBytesEstimate(store));
  writeSnapshot(w, store, meta);
  return w.finish();
}

/** Writes the store's image into `w` (after whatever the caller wrote there). */
export function writeSnapshot(w: MsgpackWriter, store: JobStore, meta: SnapshotMeta): void {
  runToEnd(writeSnapshotSteps(w, store, meta));
}

/** Runs a stepped encoder (writeSnapshotSteps and its callers) in one go; answers what it returns. */
export function runToEnd<T>(steps: Generator<unknown, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Jobs written between two yields of writeSnapshotSteps: small (well under a millisecond), so the
 * runtime can cut the encoding into event-loop turns of the length it wants (RaftDriver), however
 * fast the code runs (the first turns of a process's first snapshot run before the JIT has
 * optimized the encoder, at a tenth of its later speed).
 */
export const SNAPSHOT_JOBS_PER_STEP = 512;
/** Bytes of session results written between two yields: about as long as a step of jobs. */
export const SNAPSHOT_BYTES_PER_STEP = 128 * 1024;

/**
 * writeSnapshot in steps: yields after every SNAPSHOT_JOBS_PER_STEP jobs (and job ids, idempotency
 * keys, SNAPSHOT_BYTES_PER_STEP of session results), so a node can keep its Raft traffic going
 * between them. The caller must not change the store until the generator is done: the image is of
 * the store as it is throughout.
 */
export function* writeSnapshotSteps(w: MsgpackWriter, store: JobStore, meta: SnapshotMeta): Generator<void, void, void> {
  const queues = [...store.queues.values()];
  const queueOrdinals = new Map<string, number>(queues.map((q, i) => [q.name, i]));
  const sessions = [...store.sessions.values()];
  const header: Header = {
    version: SNAPSHOT_VERSION,
    appliedIndex: meta.appliedIndex,
    lastNowMs: meta.lastNowMs,
    finishSeq: store.finishSeq,
    leaseRotation: store.leaseRotation,
    queues: queues.length,
    jobs: store.jobs.size,
    positions: queues.reduce((n, q) => n + positionChunkCount(q), 0),
    idempotency: store.idempotency.size,
    schedules: store.schedules.size,
    sessions: sessions.length,
  };
  w.value(header);
  for (const q of queues) w.value([q.name, q.paused, TOTAL_KEYS.map((k) => q.totals[k]), q.lanes.virtualTime, [...q.lanes.passes]] satisfies QueueImage);
  let sinceYield = 0;
  for (const rec of store.jobs.values()) {
    writeJob(w, rec, queueOrdinals.get(rec.queue) as number);
    if (++sinceYield === SNAPSHOT_JOBS_PER_STEP) {
      sinceYield = 0;
      yield;
    }
  }
  for (let ordinal = 0; ordinal < queues.length; ordinal++) {
    for (const [list, recs] of positionChunks(queues[ordinal]!)) {
      w.array(3);
      w.number(ordinal);
      w.number(list);
      w.array(recs.length);
      for (const rec of recs) writeJobId(w, rec);
      sinceYield += recs.length;
      if (sinceYield >= SNAPSHOT_JOBS_PER_STEP) {
        sinceYield = 0;
        yield;
      }
    }
  }
  let idempotencyWritten = 0;
  for (const e of store.idempotency.live()) {
    w.value([e.queue, e.key, e.jobId, e.firstAtMs] satisfies IdempotencyImage);
    idempotencyWritten++;
    if (++sinceYield === SNAPSHOT_JOBS_PER_STEP) {
      sinceYield = 0;
      yield;
    }
  }
  if (idempotencyWritten !== header.idempotency) throw new Error(`invariant: ${idempotencyWritten} live idempotency keys, ${header.idempotency} counted`);
  // The caller may take what was written at a yield (a piece, see encodeNodeSnapshotSteps) and reset the writer.
  let stepStartBytes = w.length;
  for (const r of store.schedules.list()) {
    w.value([
      r.queue, r.scheduleId, r.everyMs, r.cron?.source ?? null, r.job, r.nextRunAtMs, r.lastRunAtMs, r.lastJobId, r.runs, r.refused, r.createdAtMs, r.updatedAtMs,
    ] satisfies ScheduleImage);
    // Each may hold a 64 KiB payload: stepped like session results, by bytes.
    if (w.length - stepStartBytes >= SNAPSHOT_BYTES_PER_STEP) {
      yield;
      stepStartBytes = w.length;
    }
  }
  // Cached results vary in size (an enqueue of 1,000 jobs holds 1,000 ids): stepped by bytes.
  for (const s of sessions) {
    w.value([s.clientId, s.lastUsedMs, s.evictedSeqMax, s.results.size] satisfies SessionImage);
    for (const result of s.results.entries()) {
      w.value(result);
      if (w.length - stepStartBytes >= SNAPSHOT_BYTES_PER_STEP) {
        yield;
        // The caller may have taken what was written (a piece, see encodeNodeSnapshotSteps) and reset the writer.
        stepStartBytes = w.length;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

function restoreJob(store: JobStore, queues: QueueState[], img: JobImage): void {
  if (!Array.isArray(img) || img.length !== JOB_IMAGE_FIELDS) throw new Error('invariant: snapshot job image is not a 20-field array');
  const [idBytes, queueOrdinal, name, payload, priority, maxAttempts, backoff, leaseMs, idempotencyKey, stateCode] = img;
  const id = storeBytes(idBytes);
  const state: JobState | undefined = JOB_STATES[stateCode];
  if (state === undefined) throw new Error(`invariant: snapshot job ${id} has unknown state ${String(stateCode)}`);
  const q = queues[queueOrdinal];
  if (q === undefined) throw new Error(`invariant: snapshot job ${id} names unknown queue ${queueOrdinal}`);
  const resolvedBackoff = backoff === null ? BACKOFF_SHARED_DEFAULT : { baseMs: backoff[0], capMs: backoff[1], jitter: backoff[2] };
  const settings = q.settingsFor(name, priority, maxAttempts, resolvedBackoff, leaseMs);
  const assigned = splitAssignedId(id);
  const stamp = store.restoredStamp(assigned === null ? 0 : assigned[0], img[14]);
  const rec = new JobRecord(assigned === null ? id : assigned[1], settings, storeBytesOrNull(payload), stamp, state, img[15] ?? img[14], idempotencyKey);
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

function restoredJob(store: JobStore, idBytes: Uint8Array, where: string): JobRecord {
  const id = Buffer.from(idBytes.buffer, idBytes.byteOffset, idBytes.byteLength).toString('latin1');
  const rec = store.jobs.get(id);
  if (rec === undefined) throw new Error(`invariant: snapshot ${where} names unknown job ${id}`);
  return rec;
}

function restorePositions(store: JobStore, queues: QueueState[], [ordinal, list, ids]: PositionsImage): void {
  const q = queues[ordinal];
  if (q === undefined) throw new Error(`invariant: snapshot positions name unknown queue ${ordinal}`);
  if (list < LANE_COUNT) for (const id of ids) q.lanes.append(restoredJob(store, id, `lane ${list} of ${q.name}`));
  else if (list === DONE_LIST) for (const id of ids) q.done.push(restoredJob(store, id, `retention log of ${q.name}`));
  else if (list === DEAD_LIST) for (const id of ids) q.dead.push(restoredJob(store, id, `dead log of ${q.name}`));
  else throw new Error(`invariant: snapshot positions name unknown list ${list}`);
}

function restoreSchedule(store: JobStore, img: ScheduleImage): void {
  const [queue, scheduleId, everyMs, cronSource, job, nextRunAtMs, lastRunAtMs, lastJobId, runs, refused, createdAtMs, updatedAtMs] = img;
  const cron = cronSource === null ? null : parseCron(cronSource);
  if (typeof cron === 'string') throw new Error(`invariant: snapshot schedule ${queue}/${scheduleId} has cron "${cronSource}": ${cron}`);
  const record = new ScheduleRecord(queue, scheduleId, everyMs, cron, ownedJob(job), nextRunAtMs, createdAtMs, updatedAtMs);
  record.keepHistoryOf({ lastRunAtMs, lastJobId, runs, refused });
  store.schedules.put(record);
}

/**
 * The value with every byte array in it copied out. msgpackr decodes `bin` as a view of the
 * buffer it reads, and a remembered outcome (a lease's jobs, with their payloads) lives as long as
 * its client session, up to an hour: one view would keep the whole image (160 MB at 1M jobs)
 * allocated. Everything else decoded from an image is copied into strings already.
 */
function detached(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.prototype.slice.call(value);
  if (Array.isArray(value)) return value.map(detached);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = detached(v);
    return out;
  }
  return value;
}

/** What an image holds: the store and where in the log it stands. */
export interface DecodedSnapshot {
  store: JobStore;
  meta: SnapshotMeta;
}

/** Rebuilds the store from an image in one buffer. */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  const decoder = new SnapshotDecoder();
  decoder.push(bytes);
  return decoder.finish();
}

/**
 * Rebuilds the store from an image fed in pieces of any size, one value at a time, so a node
 * restoring from its snapshot file never holds the whole image (160 MB at a million jobs) beside
 * the state it builds. A value cut by the end of a piece waits for the next one.
 */
export class SnapshotDecoder {
  private readonly store = new JobStore();
  private readonly queues: QueueState[] = [];
  private header: Header | null = null;
  private counts: number[] = [];
  // Where the stream is: the section (index into `readers` and `counts`) and the values it has left.
  private section = 0;
  private left = 0;
  private session: ClientSession | null = null;
  private sessionResultsLeft = 0;
  private readonly stream = new ValueStream();
  private readonly readers: ((value: unknown) => void)[] = [
    (value) => {
      const [name, paused, totals, virtualTime, passes] = value as QueueImage;
      const q = this.store.queueOrCreate(name);
      q.paused = paused;
      TOTAL_KEYS.forEach((k, i) => (q.totals[k] = totals[i] as number));
      q.lanes.virtualTime = virtualTime;
      passes.forEach((pass, p) => (q.lanes.passes[p] = pass));
      this.queues.push(q);
    },
    (value) => restoreJob(this.store, this.queues, value as JobImage),
    (value) => restorePositions(this.store, this.queues, value as PositionsImage),
    (value) => {
      const [queue, key, jobId, firstAtMs] = value as IdempotencyImage;
      this.store.idempotency.restore(queue, key, jobId, firstAtMs);
    },
    (value) => restoreSchedule(this.store, value as ScheduleImage),
    (value) => {
      const [clientId, lastUsedMs, evictedSeqMax, results] = value as SessionImage;
      const session = new ClientSession(clientId, lastUsedMs);
      session.evictedSeqMax = evictedSeqMax;
      this.store.sessions.restore(session);
      this.session = session;
      this.sessionResultsLeft = results;
    },
  ];

  /** Decodes the values `piece` completes. Pieces go in the image's order. */
  push(piece: Uint8Array): void {
    this.stream.push(piece, (value) => this.take(value));
  }

  /** The store, once every piece was pushed; throws when the image ended early. */
  finish(): DecodedSnapshot {
    if (this.stream.pendingBytes > 0) throw new Error(`invariant: snapshot ends inside a value (${this.stream.pendingBytes} bytes of it)`);
    this.skipEmptySections();
    const header = this.header;
    if (header === null) throw new Error('invariant: snapshot without a header');
    if (this.left !== 0 || this.sessionResultsLeft !== 0) throw new Error('invariant: snapshot ends before the values its header counts');
    this.store.rescheduleAgeChecks();
    return { store: this.store, meta: { appliedIndex: header.appliedIndex, lastNowMs: header.lastNowMs } };
  }

  /** Decodes the image's next value (push does it for each value a piece completes). */
  take(value: unknown): void {
    if (this.header === null) {
      const header = value as Header;
      if (!SNAPSHOT_VERSIONS_READ.includes(header.version)) throw new Error(`snapshot version ${String(header.version)} is not one of ${SNAPSHOT_VERSIONS_READ.join(', ')}`);
      this.header = header;
      this.counts = [header.queues, header.jobs, header.positions, header.idempotency, header.schedules ?? 0, header.sessions];
      this.left = header.queues;
      this.store.finishSeq = header.finishSeq;
      this.store.leaseRotation = header.leaseRotation;
      return;
    }
    if (this.session !== null && this.sessionResultsLeft > 0) {
      const [seq, outcome] = value as [number, Outcome];
      this.store.sessions.restoreResult(this.session, seq, detached(outcome) as Outcome);
      this.sessionResultsLeft -= 1;
      return;
    }
    this.skipEmptySections();
    if (this.left === 0) throw new Error('invariant: snapshot holds more values than its header counts');
    this.left -= 1;
    (this.readers[this.section] as (value: unknown) => void)(value);
  }

  private skipEmptySections(): void {
    while (this.left === 0 && this.section < this.readers.length - 1) this.left = this.counts[++this.section] as number;
  }
}
