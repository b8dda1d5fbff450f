// Finds a job by id. Most ids are the leader's (`j<Raft index, 11 base-36 digits>-<position, 5>`):
// they are not stored as strings at all. A job with an assigned id keeps only its position within
// its entry, its entry's EntryStamp keeps the entry's Raft index and the entry's jobs by position,
// and the index maps a Raft index to that stamp. For a batch of 1,000 jobs that is ~8 bytes per job
// where a Map<string, JobRecord> cost ~40 bytes of id string plus 30–60 bytes of hash table per
// job. Client-given ids stay in a Map by their string.
//
// Iteration order (snapshots) is deterministic: assigned ids by (Raft index, position), which is
// the order they were admitted in, then client-given ids in the order they were admitted. A
// restored index is filled in that same order, so it iterates the same way.

import type { EntryStamp, JobRecord } from './job-record.js';

/** `j` + 11 index digits + `-` + 5 position digits. */
const ASSIGNED_ID_LENGTH = 18;
const CODE_J = 106;
const CODE_DASH = 45;

/** The parts of an assigned id; `position` is -1 when `id` is not of that form. */
const parsed = { index: 0, position: -1 };

function base36Digit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  return -1;
}

/** Fills `parsed` (no allocation: lookups by id are on every ack, fail and heartbeat). */
function parseAssignedId(id: string): void {
  parsed.position = -1;
  if (id.length !== ASSIGNED_ID_LENGTH || id.charCodeAt(0) !== CODE_J || id.charCodeAt(12) !== CODE_DASH) return;
  let index = 0;
  for (let i = 1; i < 12; i++) {
    const d = base36Digit(id.charCodeAt(i));
    if (d < 0) return;
    index = index * 36 + d;
  }
  let position = 0;
  for (let i = 13; i < ASSIGNED_ID_LENGTH; i++) {
    const d = base36Digit(id.charCodeAt(i));
    if (d < 0) return;
    position = position * 36 + d;
  }
  parsed.index = index;
  parsed.position = position;
}

/** The Raft index and position of an assigned id; null for any other id. */
export function splitAssignedId(id: string): [index: number, position: number] | null {
  parseAssignedId(id);
  return parsed.position < 0 ? null : [parsed.index, parsed.position];
}

export class JobIndex {
  /** Entries holding jobs with assigned ids, by Raft index, in log order. */
  private readonly byEntry = new Map<number, EntryStamp>();
  private readonly byClientId = new Map<string, JobRecord>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: string): JobRecord | undefined {
    parseAssignedId(id);
    if (parsed.position < 0) return this.byClientId.get(id);
    const stamp = this.byEntry.get(parsed.index);
    return stamp === undefined ? undefined : stamp.jobAt(parsed.position);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds a job; throws when its id is held already (admitted or restored twice). */
  add(rec: JobRecord): void {
    const position = rec.assignedPosition;
    if (position < 0) {
      if (this.byClientId.has(rec.id)) throw new Error(`invariant: job id ${rec.id} added twice`);
      this.byClientId.set(rec.id, rec);
    } else {
      const stamp = rec.created;
      const held = this.byEntry.get(stamp.index);
      if (held !== undefined && held !== stamp) throw new Error(`invariant: two stamps for entry ${stamp.index}`);
      if (held === undefined) this.byEntry.set(stamp.index, stamp);
      stamp.putJob(position, rec);
    }
    this.count += 1;
  }

  remove(rec: JobRecord): void {
    const position = rec.assignedPosition;
    const held = position < 0 ? this.byClientId.get(rec.id) : this.byEntry.get(rec.created.index)?.jobAt(position);
    if (held !== rec) throw new Error(`invariant: removing job ${rec.id} that the index does not hold`);
    if (position < 0) this.byClientId.delete(rec.id);
    else if (rec.created.dropJob(position)) this.byEntry.delete(rec.created.index);
    this.count -= 1;
  }

  /** Every job: assigned ids by (Raft index, position), then client-given ids in admission order. */
  *values(): IterableIterator<JobRecord> {
    for (const stamp of this.byEntry.values()) yield* stamp.heldJobs();
    yield* this.byClientId.values();
  }
}
