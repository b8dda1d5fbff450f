import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../raft/log.js';
import { entryDataBytes, ReleasedEntryData, type Entry } from '../../raft/types.js';

/** Entries first..last of term 1, entry i holding `bytesOf(i)` bytes. */
function log(first: number, last: number, bytesOf: (index: number) => number): RaftLog {
  const entries: Entry[] = [];
  for (let i = first; i <= last; i++) entries.push({ index: i, term: 1, kind: 'normal', data: new Uint8Array(bytesOf(i)) });
  return new RaftLog({ index: first - 1, term: first === 1 ? 0 : 1 }, entries, last, last);
}

describe('RaftLog.trailingBase', () => {
  it('keeps at most entriesMax entries up to the snapshot index when their bytes fit', () => {
    expect(log(1, 100, () => 10).trailingBase(90, 20, Number.POSITIVE_INFINITY)).toBe(70);
    expect(log(1, 100, () => 10).trailingBase(90, 20, 200)).toBe(70);
    expect(log(1, 100, () => 10).trailingBase(90, 0, 1000)).toBe(90);
  });

  it('keeps fewer when their bytes would pass bytesMax (large batched entries)', () => {
    // 100 KB entries, 250 KB allowed: the snapshot's own entry and one more.
    expect(log(1, 100, () => 100_000).trailingBase(90, 5_000, 250_000)).toBe(88);
    // Not even the last entry fits: nothing trails.
    expect(log(1, 100, () => 100_000).trailingBase(90, 5_000, 50_000)).toBe(90);
  });

  it('never goes below the current compaction point', () => {
    expect(log(51, 100, () => 1).trailingBase(60, 1_000, 1_000)).toBe(50);
  });
});

describe('RaftLog.releaseData', () => {
  it('drops the data of applied, durable entries but keeps their index, term and length', () => {
    const l = log(1, 10, (i) => (i === 3 ? 0 : 100));
    l.releaseData(6, 0);
    expect(l.releasedTo).toBe(6);
    expect(l.entry(2)!.data).toBeInstanceOf(ReleasedEntryData);
    expect(entryDataBytes(l.entry(2)!)).toBe(100);
    expect(l.entry(3)!.data).not.toBeInstanceOf(ReleasedEntryData); // a no-op holds nothing to release
    expect(l.entry(7)!.data.byteLength).toBe(100);
    expect(l.term(4)).toBe(1);
    // Flow control still counts released bytes: 250 bytes hold entries 1 and 2 (and the empty 3), not 4.
    expect(l.slice(1, 10, 250).map((e) => e.index)).toEqual([1, 2, 3]);
    expect(() => l.releaseData(11, 0)).toThrow(/applied, durable/);
  });
});
