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

describe('RaftLog.keepNewestFrom', () => {
  it('finds the same base as a walk back from the applied, durable end, as entries apply, release and compact', () => {
    // Entry sizes vary (0 for no-ops, up to 3,000 bytes) so the kept window moves by uneven steps.
    const sizeOf = (i: number): number => (i % 7 === 0 ? 0 : ((i * 2654435761) >>> 0) % 3000);
    const l = new RaftLog({ index: 0, term: 0 }, [], 0, 0);
    const keepBytes = 10_000;
    let compactions = 0;
    for (let last = 1; last <= 600; last++) {
      l.append({ index: last, term: 1, kind: 'normal', data: new Uint8Array(sizeOf(last)) });
      const unstable = l.takeUnstable();
      // Durable and applied in uneven steps: every 3rd entry persists late, every 5th applies late.
      if (last % 3 !== 0) l.persisted(unstable);
      else l.persisted([]);
      l.commitTo(last);
      if (last % 5 !== 0) for (const e of l.takeCommitted(1_000)) l.appliedTo(e.index);
      const end = Math.min(l.applied, l.persistedTo);
      const expected = l.trailingBase(end, Number.POSITIVE_INFINITY, keepBytes);
      const base = l.keepNewestFrom(keepBytes);
      expect(base, `at ${last}`).toBe(expected);
      if (base > l.releasedTo) l.releaseData(base, 0);
      if (last % 37 === 0) {
        // Sometimes inside the kept window (it must be recounted), sometimes below it.
        const inside = last % 2 === 0;
        l.compactTo(Math.max(l.firstIndex(), inside ? end - 2 : l.applied - 40));
        compactions += 1;
      }
    }
    expect(compactions).toBeGreaterThan(10);
  });

  it('starts over from a restored snapshot', () => {
    const l = log(1, 50, () => 1_000);
    expect(l.keepNewestFrom(5_000)).toBe(45);
    l.restore({ index: 80, term: 2, config: { voters: ['a'] } });
    expect(l.keepNewestFrom(5_000)).toBe(80);
    for (let i = 81; i <= 90; i++) l.append({ index: i, term: 2, kind: 'normal', data: new Uint8Array(1_000) });
    l.persisted(l.takeUnstable());
    l.commitTo(90);
    for (const e of l.takeCommitted(100)) l.appliedTo(e.index);
    expect(l.keepNewestFrom(5_000)).toBe(85);
  });
});
