// WalStorage's own files: what load does with a torn tail, damage, missing files, old formats,
// and how segments rotate and go. Its LogStorage behaviour is covered in storage.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelStorage } from '../../raft/level-storage.js';
import { engineOfDir, openLogStorage } from '../../raft/open-storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Entry, type HardState, type Snapshot } from '../../raft/types.js';
import { RecordWriter, SEGMENT_HEADER_BYTES, decodeRecordBody, readRecordAt } from '../../raft/wal-format.js';
import { WalReplay } from '../../raft/wal-replay.js';
import { SEGMENT_PREALLOCATE_BYTES, WalStorage } from '../../raft/wal-storage.js';

const CONFIG: ClusterConfig = { voters: ['n1', 'n2', 'n3'] };
const dirs: string[] = [];
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-wal-'));
  dirs.push(dir);
  return dir;
}

function entries(from: number, to: number, term: number, lengthBytes = 40): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term, kind: 'normal' as const, data: new Uint8Array(lengthBytes).fill((from + i) & 0xff) }));
}

function hardState(term: number, commit: number): HardState {
  return { term, vote: 'n1', commit };
}

function snapshot(index: number, term: number, dataBytes = 3000): Snapshot {
  return { meta: { index, term, config: CONFIG }, data: new Uint8Array(dataBytes).fill(index & 0xff) };
}

async function opened(dir: string, segmentBytesMax?: number): Promise<WalStorage> {
  const s = await WalStorage.open(dir, segmentBytesMax === undefined ? {} : { segmentBytesMax });
  open.push(s);
  return s;
}

async function loadError(dir: string): Promise<string> {
  const s = await opened(dir);
  return s.load().then(
    () => 'loaded without error',
    (err: Error) => err.message,
  );
}

const segmentsOf = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();
const lastSegment = (dir: string): string => path.join(dir, segmentsOf(dir).at(-1)!);

/** Offsets of the records in a segment file. */
function recordOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let at = SEGMENT_HEADER_BYTES; at < bytes.byteLength; ) {
    const read = readRecordAt(bytes, at);
    if (read.kind !== 'record') break;
    offsets.push(at);
    at = read.end;
  }
  return offsets;
}

/** Where the last record of a segment file starts and ends. */
function lastRecord(file: string): { last: number; end: number } {
  const last = recordOffsets(file).at(-1)!;
  const read = readRecordAt(fs.readFileSync(file), last);
  if (read.kind !== 'record') throw new Error(`${file}: no last record`);
  return { last, end: read.end };
}

/** A copy of an open storage's files as a crash would leave them, and its newest segment's last record. */
function crashImage(dir: string): { dir: string; file: string; last: number; end: number } {
  const copy = tempDir();
  fs.cpSync(dir, copy, { recursive: true });
  const file = lastSegment(copy);
  return { dir: copy, file, ...lastRecord(file) };
}

/** Three saves with commit 0: losing the last one to a torn tail loses nothing the watermark holds. */
async function threeSaves(dir: string): Promise<void> {
  const s = await opened(dir);
  await s.load();
  await s.save({ entries: entries(1, 5, 1), hardState: hardState(1, 0), config: CONFIG });
  await s.save({ entries: entries(6, 10, 1) });
  await s.save({ entries: entries(11, 15, 1) });
  await s.close();
}

describe('WalStorage on disk', () => {
  it('drops a record a crash cut short at the end of the newest segment, and appends after it', async () => {
    const dir = tempDir();
    await threeSaves(dir);
    const file = lastSegment(dir);
    const last = recordOffsets(file).at(-1)!;
    fs.truncateSync(file, last + 20);
    const s = await opened(dir);
    const state = await s.load();
    expect(state.entries.map((e) => e.index)).toEqual(entries(1, 10, 1).map((e) => e.index));
    expect(fs.statSync(file).size, 'the torn tail is cut off the file').toBe(last);
    await s.save({ entries: entries(11, 12, 2), hardState: hardState(2, 12) });
    await s.close();
    const again = await opened(dir);
    expect((await again.load()).entries.at(-1)).toEqual(entries(12, 12, 2)[0]);
  });

  it('takes zeros after the last record (a file extended before its data landed) as a torn tail too', async () => {
    const dir = tempDir();
    await threeSaves(dir);
    fs.appendFileSync(lastSegment(dir), Buffer.alloc(300));
    const s = await opened(dir);
    expect((await s.load()).entries).toHaveLength(15);
  });

  it('writes zeros past a record that grows the segment, loads with them in place, and cuts them at close', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 5, 1), hardState: hardState(1, 5), config: CONFIG });
    await s.save({ entries: entries(6, 10, 1), hardState: hardState(1, 10) });
    const file = lastSegment(dir);
    const bytes = fs.readFileSync(file);
    const { end } = lastRecord(file);
    // The segment was created with its checkpoint and the zeros after it; the saves overwrote them.
    expect(bytes.byteLength).toBeGreaterThanOrEqual(end + SEGMENT_PREALLOCATE_BYTES - 1024);
    expect(bytes.subarray(end).every((b) => b === 0)).toBe(true);
    // The files as a crash would leave them: every record loads, the zeros go as a torn tail.
    const crashed = crashImage(dir);
    const copy = await opened(crashed.dir);
    expect((await copy.load()).entries.map((e) => e.index)).toEqual(entries(1, 10, 1).map((e) => e.index));
    await copy.save({ entries: entries(11, 11, 1) });
    await copy.close();
    expect((await (await opened(crashed.dir)).load()).entries).toHaveLength(11);
    // A clean close leaves the segment ending at its last record.
    await s.close();
    expect(fs.statSync(file).size).toBe(end);
  });

  it('takes a record with an unwritten sector in the zeros written ahead of it as torn, and a flipped bit there as damage', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    // Records of ~1 KB: each spans sector boundaries. Commit 0: the last save was never counted.
    await s.save({ entries: entries(1, 5, 1, 200), hardState: hardState(1, 0), config: CONFIG });
    await s.save({ entries: entries(6, 10, 1, 200) });
    await s.save({ entries: entries(11, 15, 1, 200) });
    // The write of the last record reached its first sectors, not its last one.
    const torn = crashImage(dir);
    const bytes = fs.readFileSync(torn.file);
    const lastSectorFrom = Math.floor((torn.end - 1) / 512) * 512;
    expect(lastSectorFrom, 'the record spans a sector boundary').toBeGreaterThan(torn.last);
    bytes.fill(0, lastSectorFrom, torn.end);
    fs.writeFileSync(torn.file, bytes);
    const loaded = await opened(torn.dir);
    expect((await loaded.load()).entries.map((e) => e.index)).toEqual(entries(1, 10, 1).map((e) => e.index));
    expect(fs.statSync(torn.file).size, 'cut at the torn record').toBe(torn.last);
    // The same record whole but for one flipped bit, zeros after it: damage, refused.
    const flipped = crashImage(dir);
    const flippedBytes = fs.readFileSync(flipped.file);
    flippedBytes[flipped.end - 3] = flippedBytes[flipped.end - 3]! ^ 0x04;
    fs.writeFileSync(flipped.file, flippedBytes);
    expect(await loadError(flipped.dir)).toMatch(/STORAGE_CORRUPT: wal-000000000001\.log at \d+: checksum mismatch/);
  });

  it('refuses a flipped bit, even in the newest record, and keeps refusing', async () => {
    const dir = tempDir();
    await threeSaves(dir);
    const file = lastSegment(dir);
    for (const offset of [recordOffsets(file)[1]! + 30, recordOffsets(file).at(-1)! + 30]) {
      const bytes = fs.readFileSync(file);
      bytes[offset] = bytes[offset]! ^ 0x10;
      fs.writeFileSync(file, bytes);
      expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: wal-000000000001\.log at \d+: checksum mismatch/);
      expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT/);
      bytes[offset] = bytes[offset]! ^ 0x10;
      fs.writeFileSync(file, bytes);
    }
    expect(await loadError(dir)).toBe('loaded without error');
  });

  it('refuses a torn tail that took writes the watermark recorded as durable', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 5, 1), hardState: hardState(1, 5), config: CONFIG });
    await s.save({ entries: entries(6, 10, 1), hardState: hardState(1, 10) });
    await s.close();
    const file = lastSegment(dir);
    fs.truncateSync(file, recordOffsets(file).at(-1)! + 5);
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: .*entries up to 10 were committed here/);
  });

  it('rotates segments, deletes those a snapshot covers, and loads the same state from what is left', async () => {
    const dir = tempDir();
    const s = await opened(dir, 4096);
    await s.load();
    for (let i = 0; i < 40; i++) await s.save({ entries: entries(i * 5 + 1, i * 5 + 5, 1), hardState: hardState(1, i * 5 + 5) });
    const written = segmentsOf(dir);
    expect(written.length, 'rotated').toBeGreaterThan(3);
    // Inside an older segment: the segments holding 101.. must stay, the ones wholly below must go.
    await s.save({ snapshot: snapshot(100, 1) });
    // Unlinked off the event loop, after the save that made them dead.
    await s.removed();
    const kept = segmentsOf(dir);
    expect(kept[0], 'the first segments went').not.toBe(written[0]);
    expect(kept.length).toBeLessThan(written.length);
    expect((await s.loadEntries(101, 200)).map((e) => e.index)).toEqual(entries(101, 200, 1).map((e) => e.index));
    await s.save({ entries: entries(201, 210, 2), hardState: hardState(2, 205) });
    await s.close();
    const again = await opened(dir, 4096);
    const state = await again.load();
    expect(state.snapshot?.meta.index).toBe(100);
    expect(state.entries.map((e) => e.index)).toEqual(entries(101, 210, 1).map((e) => e.index));
    expect(state.hardState).toEqual(hardState(2, 205));
    expect(state.config).toEqual(CONFIG);
  });

  it('refuses when a segment in the middle is missing', async () => {
    const dir = tempDir();
    const s = await opened(dir, 2048);
    await s.load();
    for (let i = 0; i < 20; i++) await s.save({ entries: entries(i * 5 + 1, i * 5 + 5, 1), hardState: hardState(1, 0) });
    await s.close();
    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThan(3);
    fs.rmSync(path.join(dir, segments[1]!));
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: .*wal-000000000002\.log is missing/);
  });

  it('refuses an older segment cut short when a newer one follows it', async () => {
    const dir = tempDir();
    const s = await opened(dir, 2048);
    await s.load();
    for (let i = 0; i < 10; i++) await s.save({ entries: entries(i * 5 + 1, i * 5 + 5, 1), hardState: hardState(1, 0) });
    await s.close();
    const first = path.join(dir, segmentsOf(dir)[0]!);
    fs.truncateSync(first, fs.statSync(first).size - 3);
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: wal-000000000001\.log ends inside a record/);
  });

  /** A closed storage in a new directory holding entries 1..10 and a snapshot at 8 (3,000 bytes); its dir and snapshot file. */
  async function closedWithSnapshot(): Promise<{ dir: string; snap: string }> {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 8), config: CONFIG });
    await s.save({ snapshot: snapshot(8, 1) });
    await s.close();
    return { dir, snap: path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.snap'))!) };
  }

  it('refuses a snapshot file that is damaged, cut short or missing', async () => {
    const { dir, snap } = await closedWithSnapshot();
    const good = fs.readFileSync(snap);
    const flipped = Buffer.from(good);
    flipped[100] = flipped[100]! ^ 1;
    fs.writeFileSync(snap, flipped);
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: snapshot-\d+\.snap: checksum mismatch/);
    fs.writeFileSync(snap, good.subarray(0, 1000));
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: snapshot-\d+\.snap holds 1000 bytes, the log says 3000/);
    fs.rmSync(snap);
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: snapshot-\d+\.snap, which the log names as the snapshot at 8, cannot be read/);
  });

  it('load({ snapshotData: false }) leaves the image on disk, and the read of it refuses a damaged one instead', async () => {
    const { dir, snap } = await closedWithSnapshot();
    const readWhole = async (storage: WalStorage): Promise<Buffer> => {
      const source = (await storage.openSnapshotSource())!;
      try {
        return Buffer.from(await source.read(source.bytes));
      } finally {
        await source.close();
      }
    };
    const intact = await opened(dir);
    const state = await intact.load({ snapshotData: false });
    expect(state.snapshot?.meta.index).toBe(8);
    expect(state.snapshot?.data).toBe(RELEASED_SNAPSHOT_DATA);
    expect((await readWhole(intact)).equals(Buffer.from(snapshot(8, 1).data))).toBe(true);
    await intact.close();
    const flipped = fs.readFileSync(snap);
    flipped[100] = flipped[100]! ^ 1;
    fs.writeFileSync(snap, flipped);
    const damaged = await opened(dir);
    expect((await damaged.load({ snapshotData: false })).snapshot?.meta.index).toBe(8);
    await expect(readWhole(damaged)).rejects.toThrow(/STORAGE_CORRUPT: snapshot-\d+\.snap: checksum mismatch/);
  });

  it('loadSnapshot reads a multi-chunk image back whole, and refuses one damaged since it was written', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const image = snapshot(9, 1, 2.5 * (1 << 20));
    image.data.forEach((_, i) => (image.data[i] = (i * 7) & 0xff));
    await s.save({ snapshot: image });
    const back = await s.loadSnapshot();
    expect(Buffer.from(back!.data).equals(Buffer.from(image.data))).toBe(true);
    const file = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.snap'))!);
    const bytes = fs.readFileSync(file);
    bytes[(1 << 20) + 5] = bytes[(1 << 20) + 5]! ^ 4;
    fs.writeFileSync(file, bytes);
    await expect(s.loadSnapshot()).rejects.toThrow(/STORAGE_CORRUPT: snapshot-\d+\.snap: checksum mismatch/);
    fs.appendFileSync(file, 'x');
    await expect(s.loadSnapshot()).rejects.toThrow(/STORAGE_CORRUPT: snapshot-\d+\.snap holds \d+ bytes, the log says \d+/);
  });

  it('openSnapshotSource reads the stored image in pieces, keeps the one it opened when a newer one replaces it, and refuses a damaged one at its last piece', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    expect(await s.openSnapshotSource()).toBeNull();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const image = snapshot(9, 1, 2.5 * (1 << 20));
    image.data.forEach((_, i) => (image.data[i] = (i * 7) & 0xff));
    await s.save({ snapshot: image });
    const readAll = async (pieceBytes: number): Promise<Buffer> => {
      const source = (await s.openSnapshotSource())!;
      const pieces: Uint8Array[] = [];
      try {
        for (let read = 0; read < source.bytes; read += pieceBytes) pieces.push(await source.read(pieceBytes));
      } finally {
        await source.close();
      }
      return Buffer.concat(pieces);
    };
    expect((await readAll(1 << 20)).equals(Buffer.from(image.data))).toBe(true);

    const opened9 = (await s.openSnapshotSource())!;
    await s.save({ snapshot: snapshot(10, 1) });
    expect(opened9.meta.index).toBe(9);
    const first = await opened9.read(1 << 20);
    expect(Buffer.from(first).equals(Buffer.from(image.data.subarray(0, 1 << 20)))).toBe(true);
    await opened9.close();
    // The file of 9 goes off the event loop: wait, or it may still be the first one listed.
    await s.removed();

    const file = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.snap'))!);
    const bytes = fs.readFileSync(file);
    bytes[5] = bytes[5]! ^ 4;
    fs.writeFileSync(file, bytes);
    const damaged = (await s.openSnapshotSource())!;
    await damaged.read(1000);
    await expect(damaged.read(1 << 20)).rejects.toThrow(/STORAGE_CORRUPT: snapshot-\d+\.snap: checksum mismatch/);
    await damaged.close();
  });

  it('removes snapshot files nothing names (an older one, or one a crash left half written)', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    await s.save({ snapshot: snapshot(5, 1) });
    await s.save({ snapshot: snapshot(9, 1) });
    await s.close();
    expect(fs.readdirSync(dir).filter((n) => n.includes('.snap'))).toEqual(['snapshot-000000000002.snap']);
    fs.writeFileSync(path.join(dir, 'snapshot-000000000003.snap.tmp'), 'half');
    fs.writeFileSync(path.join(dir, 'snapshot-000000000001.snap'), 'old');
    const again = await opened(dir);
    expect((await again.load()).snapshot?.meta.index).toBe(9);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.snap'))).toEqual(['snapshot-000000000002.snap']);
    // The next snapshot gets a generation past every file seen, leftovers included.
    await again.save({ snapshot: snapshot(10, 1) });
    await again.removed();
    expect(fs.readdirSync(dir).filter((n) => n.includes('.snap'))).toEqual(['snapshot-000000000004.snap']);
  });

  it('refuses a format it does not know, a file that is not a segment, and a file it did not write', async () => {
    const dir = tempDir();
    await threeSaves(dir);
    const file = lastSegment(dir);
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(9, 8);
    fs.writeFileSync(file, bytes);
    expect(await loadError(dir)).toMatch(/^STORAGE_FORMAT_UNSUPPORTED: wal-000000000001\.log has storage format 9, this build reads only format 2/);
    bytes.write('NOTRAFTQ', 0, 'latin1');
    fs.writeFileSync(file, bytes);
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: wal-000000000001\.log: not a raftq segment/);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    expect(await loadError(dir)).toMatch(/STORAGE_CORRUPT: .* holds notes\.txt, which is not a raftq log file/);
  });

  it('drops its own staged snapshot when the leader\'s newer one is saved first', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const own = s.save({ snapshot: snapshot(6, 1, 4 << 20) });
    await s.save({ snapshot: snapshot(20, 2), hardState: hardState(2, 20) });
    await own;
    expect((await s.loadSnapshot())?.meta.index).toBe(20);
    await s.close();
    expect(fs.readdirSync(dir).filter((n) => n.includes('.snap'))).toHaveLength(1);
    const again = await opened(dir);
    const state = await again.load();
    expect(state.snapshot?.meta.index).toBe(20);
    expect(state.entries).toEqual([]);
  });
});

describe('WalStorage: a snapshot of our own written piece by piece', () => {
  const snapFiles = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.includes('.snap')).sort();
  /** Three pieces of distinct bytes, and the image they make together. */
  function pieces(): { parts: Uint8Array[]; whole: Buffer } {
    const parts = [3000, 1 << 20, 17].map((n, p) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + p) & 0xff));
    return { parts, whole: Buffer.concat(parts) };
  }

  it('is named by nothing until saved, then loads whole, now and after a restart', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const { parts, whole } = pieces();
    const file = await s.openSnapshotFile();
    for (const part of parts) await file.write(part);
    expect(file.bytes).toBe(whole.byteLength);
    // Written, not saved: the log still names no snapshot, and the log's saves go on beside it.
    expect(await s.loadSnapshot()).toBeNull();
    await s.save({ entries: entries(11, 12, 1), hardState: hardState(1, 12) });
    await s.save({ snapshot: { meta: { index: 9, term: 1, config: CONFIG }, data: RELEASED_SNAPSHOT_DATA }, snapshotFile: file, config: CONFIG });
    const back = await s.loadSnapshot();
    expect(back?.meta.index).toBe(9);
    expect(Buffer.from(back!.data).equals(whole)).toBe(true);
    await s.close();
    expect(snapFiles(dir)).toHaveLength(1);
    const again = await opened(dir);
    const state = await again.load();
    expect(state.snapshot?.meta.index).toBe(9);
    expect(Buffer.from(state.snapshot!.data).equals(whole)).toBe(true);
    expect(state.entries.map((e) => e.index)).toEqual([10, 11, 12]);
  });

  it('leaves a file the next load removes when the node stops before the save, and removes it itself when aborted', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const { parts } = pieces();
    const first = await s.openSnapshotFile();
    await first.write(parts[0]!);
    // Several at once (ours while it is encoded, the leader's as it arrives), each under its own name.
    const other = await s.openSnapshotFile();
    await other.write(parts[0]!);
    expect(snapFiles(dir)).toHaveLength(2);
    await other.abort();
    await first.abort();
    await first.abort();
    expect(snapFiles(dir)).toEqual([]);
    await expect(first.write(parts[1]!)).rejects.toThrow(/write to a snapshot file that is aborted/);
    const second = await s.openSnapshotFile();
    await second.write(parts[1]!);
    // The node dies here: what it leaves is a half-written file nothing names.
    const crashed = tempDir();
    fs.cpSync(dir, crashed, { recursive: true });
    await second.abort();
    await s.close();
    expect(snapFiles(crashed)).toHaveLength(1);
    const again = await opened(crashed);
    expect((await again.load()).snapshot).toBeNull();
    expect(snapFiles(crashed)).toEqual([]);
  });

  it('is dropped when the leader\'s newer snapshot is saved while it is written', async () => {
    const dir = tempDir();
    const s = await opened(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10), config: CONFIG });
    const file = await s.openSnapshotFile();
    await file.write(pieces().whole);
    await s.save({ snapshot: snapshot(20, 2), hardState: hardState(2, 20) });
    await s.save({ snapshot: { meta: { index: 6, term: 1, config: CONFIG }, data: RELEASED_SNAPSHOT_DATA }, snapshotFile: file });
    expect((await s.loadSnapshot())?.meta.index).toBe(20);
    await s.removed();
    expect(snapFiles(dir)).toHaveLength(1);
    await s.close();
    const state = await (await opened(dir)).load();
    expect(state.snapshot?.meta.index).toBe(20);
  });
});

describe('WalReplay', () => {
  const writer = new RecordWriter();
  function decoded(content: Parameters<RecordWriter['append']>[0]) {
    writer.begin();
    writer.append(content);
    const bytes = Buffer.from(writer.bytes());
    const read = readRecordAt(bytes, 0);
    if (read.kind !== 'record') throw new Error('unreadable');
    return decodeRecordBody(bytes, read.bodyStart, read.end, false);
  }
  const ref = (index: number, term: number) => ({ meta: { index, term, config: CONFIG }, generation: 1, dataBytes: 0, dataCrc: 0 });

  it('accepts the gap before the first entry met when a later snapshot covers it', () => {
    const replay = new WalReplay();
    replay.apply(decoded({ checkpoint: true, snapshot: { record: ref(10, 1), keepsSuffix: true }, hardState: hardState(1, 10) }), 3, 16, 'seg 3');
    replay.apply(decoded({ entries: entries(40, 45, 1) }), 3, 100, 'seg 3');
    replay.apply(decoded({ snapshot: { record: ref(39, 1), keepsSuffix: false } }), 3, 200, 'seg 3');
    replay.apply(decoded({ entries: entries(40, 41, 2), hardState: hardState(2, 41) }), 3, 300, 'seg 3');
    expect(replay.finish().entries.map((e) => e.index)).toEqual([40, 41]);
  });

  it('refuses the gap when no snapshot covers it, and a second gap anywhere', () => {
    const uncovered = new WalReplay();
    uncovered.apply(decoded({ checkpoint: true, snapshot: { record: ref(10, 1), keepsSuffix: true }, hardState: hardState(1, 10) }), 3, 16, 'seg 3');
    uncovered.apply(decoded({ entries: entries(40, 45, 1) }), 3, 100, 'seg 3');
    expect(() => uncovered.finish()).toThrow(/STORAGE_CORRUPT: the log starts at 40 but the snapshot ends at 10/);
    const second = new WalReplay();
    second.apply(decoded({ checkpoint: true }), 1, 16, 'seg 1');
    second.apply(decoded({ entries: entries(1, 5, 1) }), 1, 100, 'seg 1');
    expect(() => second.apply(decoded({ entries: entries(8, 9, 1) }), 1, 200, 'seg 1 at 200')).toThrow(/STORAGE_CORRUPT: seg 1 at 200: entry 8 does not follow the log 1\.\.5/);
  });

  it('a snapshot that did not match the stored log discards all of it; one that did keeps the suffix', () => {
    const replay = new WalReplay();
    replay.apply(decoded({ checkpoint: true }), 1, 16, 'seg 1');
    replay.apply(decoded({ entries: entries(1, 10, 1), hardState: hardState(1, 3) }), 1, 100, 'seg 1');
    replay.apply(decoded({ snapshot: { record: ref(4, 1), keepsSuffix: true } }), 1, 200, 'seg 1');
    expect(replay.finish().entries.map((e) => e.index)).toEqual([5, 6, 7, 8, 9, 10]);
    replay.apply(decoded({ snapshot: { record: ref(7, 2), keepsSuffix: false }, hardState: hardState(2, 7) }), 1, 300, 'seg 1');
    expect(replay.finish().entries).toEqual([]);
  });
});

describe('choosing the storage engine', () => {
  it('a new directory gets the engine asked for; an existing one keeps its own', async () => {
    const fresh = tempDir();
    expect(engineOfDir(fresh)).toBeNull();
    const level = tempDir();
    const ls = await LevelStorage.open(level);
    await ls.load();
    await ls.save({ entries: entries(1, 3, 1), hardState: hardState(1, 3), config: CONFIG });
    await ls.close();
    const reopened = await openLogStorage(level, 'wal');
    open.push(reopened);
    expect(reopened.engine).toBe('leveldb');
    expect((await reopened.load()).entries).toHaveLength(3);
    const wal = await openLogStorage(fresh, 'wal');
    open.push(wal);
    await wal.load();
    expect(wal.engine).toBe('wal');
    expect(engineOfDir(fresh)).toBe('wal');
  });
});
