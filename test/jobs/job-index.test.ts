import { describe, expect, it } from 'vitest';
import { assignedJobId } from '../../src/jobs/ids.js';
import { JobIndex, splitAssignedId } from '../../src/jobs/job-index.js';
import { BACKOFF_SHARED_DEFAULT, compareJobIds, compareStrings, EntryStamp, JobRecord, JobSettings } from '../../src/jobs/job-record.js';

const settings = new JobSettings('q', 'default', 5, 3, BACKOFF_SHARED_DEFAULT, 30_000);

function job(ident: string | number, stamp: EntryStamp): JobRecord {
  return new JobRecord(ident, settings, null, stamp, 'waiting', stamp.nowMs, null);
}

describe('JobIndex', () => {
  it('finds jobs by assigned and client-given ids, forgets removed ones, and iterates in a fixed order', () => {
    const index = new JobIndex();
    const e7 = new EntryStamp(7, 1000);
    const e40 = new EntryStamp(40, 1000);
    const jobs = [job(0, e7), job(1, e7), job(2, e7), job('order-1', e7), job(0, e40), job('Z', e40)];
    for (const rec of jobs) index.add(rec);
    expect(index.size).toBe(6);
    expect(jobs[1]!.id).toBe(assignedJobId(7, 1));
    for (const rec of jobs) expect(index.get(rec.id)).toBe(rec);
    expect(index.get(assignedJobId(7, 3))).toBeUndefined();
    expect(index.get(assignedJobId(8, 0))).toBeUndefined();
    expect(index.get('j00000000007-0000')).toBeUndefined(); // too short: not an assigned id
    expect(index.has('order-2')).toBe(false);
    expect([...index.values()].map((rec) => rec.id)).toEqual([assignedJobId(7, 0), assignedJobId(7, 1), assignedJobId(7, 2), assignedJobId(40, 0), 'order-1', 'Z']);
    index.remove(jobs[1]!);
    index.remove(jobs[4]!);
    expect(index.size).toBe(4);
    expect(index.get(assignedJobId(7, 1))).toBeUndefined();
    expect(index.get(assignedJobId(40, 0))).toBeUndefined();
    expect([...index.values()].map((rec) => rec.id)).toEqual([assignedJobId(7, 0), assignedJobId(7, 2), 'order-1', 'Z']);
    expect(() => index.remove(jobs[1]!)).toThrow(/does not hold/);
    expect(() => index.add(job(0, e7))).toThrow(/assigned twice/);
    expect(splitAssignedId(assignedJobId(123_456, 789))).toEqual([123_456, 789]);
    expect(splitAssignedId('order-1')).toBeNull();
  });

  it('orders jobs by id exactly as their id strings compare', () => {
    const stamps = [new EntryStamp(1, 0), new EntryStamp(36, 0), new EntryStamp(1_000_000, 0)];
    const recs = [job(0, stamps[0]!), job(35, stamps[0]!), job(36, stamps[0]!), job(0, stamps[1]!), job(5, stamps[2]!), job('a', stamps[0]!), job('j', stamps[0]!), job('k', stamps[0]!), job('A', stamps[0]!)];
    for (const a of recs) for (const b of recs) expect(Math.sign(compareJobIds(a, b))).toBe(Math.sign(compareStrings(a.id, b.id)));
  });
});
