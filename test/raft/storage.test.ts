import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Level } from 'level';
import { unpack } from 'msgpackr';
import * as codec from '../../raft/entry-codec.js';
import { LevelStorage, SNAPSHOT_CHUNK_BYTES_MAX } from '../../raft/level-storage.js';
import { MemoryStorage } from '../../raft/memory-storage.js';
import { WalStorage } from '../../raft/wal-storage.js';
import { EMPTY_HARD_STATE, type LogStorage, type PersistedState } from '../../raft/storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Entry, type HardState, type Snapshot } from '../../raft/types.js';

function bytesOf(index: number, lengthBytes = 8): Uint8Array {
  const data = new Uint8Array(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return data;
}

function entry(index: number, term: number, lengthBytes = 8): Entry {
  return { index, term, kind: 'normal', data: bytesOf(index, lengthBytes) };
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

function hardState(term: number, commit: number, vote: string | null = 'n1'): HardState {
  return { term, vote, commit };
}

const CONFIG: ClusterConfig = { voters: ['n1', 'n2', 'n3'] };

function snapshot(index: number, term: number, dataBytes = 64, config: ClusterConfig = CONFIG): Snapshot {
  const data = new Uint8Array(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (i * 13 + index) & 0xff;
  return { meta: { index, term, config }, data };
}

/** toEqual walks a typed array element by element (seconds for MiBs); compare snapshot bytes natively. */
function expectSameSnapshot(actual: Snapshot | null, expected: Snapshot): void {
  expect(actual?.meta).toEqual(expected.meta);
  expect(actual?.data).toBeInstanceOf(Uint8Array);
  expect(Buffer.from(actual!.data).equals(Buffer.from(expected.data)), 'snapshot data differs').toBe(true);
}

function indexes(state: PersistedState): number[] {
  return state.entries.map((e) => e.index);
}

/** A storage under test plus a way to "restart the node" on the same disk. */
interface Harness {
  storage: LogStorage;
  reopen(): Promise<LogStorage>;
}

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-storage-'));
  tempDirs.push(dir);
  return dir;
}

const open: LogStorage[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
});

function track<T extends LogStorage>(s: T): T {
  open.push(s);
  return s;
}

/** A storage on a temp directory, reopened on the same directory as a restarted node would. */
function onDisk(name: string, openAt: (dir: string) => Promise<LogStorage>): { name: string; create(): Promise<Harness> } {
  return {
    name,
    async create() {
      const dir = tempDir();
      let current = track(await openAt(dir));
      return {
        get storage() {
          return current;
        },
        async reopen() {
          await current.close();
          current = track(await openAt(dir));
          return current;
        },
      };
    },
  };
}

const implementations: Array<{ name: string; create(): Promise<Harness> }> = [
  {
    name: 'MemoryStorage',
    async create() {
      let current = track(new MemoryStorage());
      return {
        get storage() {
          return current;
        },
        async reopen() {
          await current.close();
          current = track(new MemoryStorage(current.snapshotOf()));
          return current;
        },
      };
    },
  },
  onDisk('LevelStorage', (dir) => LevelStorage.open(dir)),
  onDisk('WalStorage', (dir) => WalStorage.open(dir)),
  // Segments a few records long: every behaviour above also holds across rotation and deletion.
  onDisk('WalStorage (small segments)', (dir) => WalStorage.open(dir, { segmentBytesMax: 2048 })),
];

for (const impl of implementations) {
  describe(`${impl.name} (LogStorage behaviour)`, () => {
    async function fresh(): Promise<Harness> {
      const h = await impl.create();
      await h.storage.load();
      return h;
    }

    async function reloaded(h: Harness): Promise<PersistedState> {
      return (await h.reopen()).load();
    }

    it('a new storage loads as empty', async () => {
      const h = await impl.create();
      expect(await h.storage.load()).toEqual({ hardState: EMPTY_HARD_STATE, snapshot: null, entries: [], config: null });
    });

    it('appends entries and loads them back in index order with Uint8Array data', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 150, 1), hardState: hardState(1, 0) });
      await h.storage.save({ entries: entries(151, 300, 2), hardState: hardState(2, 120) });
      const state = await reloaded(h);
      expect(indexes(state)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(state.entries[255]).toEqual(entry(256, 2));
      expect(state.entries.every((e) => e.data instanceof Uint8Array)).toBe(true);
      expect(state.hardState).toEqual(hardState(2, 120));
    });

    it('overwrites a conflicting suffix and deletes stored entries beyond the new last index', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 5, 1), hardState: hardState(1, 2) });
      await h.storage.save({ entries: entries(3, 4, 2), hardState: hardState(2, 2) });
      const state = await reloaded(h);
      expect(state.entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
    });

    it('truncates at the first new entry and extends beyond the old last index', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 3) });
      await h.storage.save({ entries: entries(4, 12, 2), hardState: hardState(2, 3) });
      await h.storage.save({ entries: entries(13, 13, 2) });
      const state = await reloaded(h);
      expect(state.entries).toEqual([...entries(1, 3, 1), ...entries(4, 13, 2)]);
    });

    it('refuses a batch that would leave a gap, skip backwards in term, or drop committed entries', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 5, 2), hardState: hardState(2, 4) });
      await expect(h.storage.save({ entries: entries(7, 8, 2) })).rejects.toThrow(/gap/);
      await expect(h.storage.save({ entries: entries(6, 6, 1) })).rejects.toThrow(/term/);
      await expect(h.storage.save({ entries: entries(2, 3, 2) })).rejects.toThrow(/committed/);
      expect(indexes(await reloaded(h))).toEqual([1, 2, 3, 4, 5]);
    });

    it('round-trips the hard state, alone or with entries, and a null vote', async () => {
      const h = await fresh();
      await h.storage.save({ hardState: hardState(3, 0, null) });
      expect((await reloaded(h)).hardState).toEqual(hardState(3, 0, null));
      await h.storage.save({ hardState: hardState(3, 0, 'n2') });
      await h.storage.save({ entries: entries(1, 4, 3), hardState: hardState(4, 4, 'n3') });
      expect((await reloaded(h)).hardState).toEqual(hardState(4, 4, 'n3'));
    });

    it('refuses a hard state that breaks Raft: vote changed within a term, term or commit going back, commit beyond the log', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 3, 2), hardState: hardState(2, 2, 'n1') });
      await expect(h.storage.save({ hardState: hardState(2, 2, 'n2') })).rejects.toThrow(/vote changes/);
      await expect(h.storage.save({ hardState: hardState(1, 2, 'n1') })).rejects.toThrow(/term goes back/);
      await expect(h.storage.save({ hardState: hardState(2, 1, 'n1') })).rejects.toThrow(/commit goes back/);
      await expect(h.storage.save({ hardState: hardState(2, 4, 'n1') })).rejects.toThrow(/beyond last index/);
      expect((await reloaded(h)).hardState).toEqual(hardState(2, 2, 'n1'));
    });

    it('loadSnapshot reads the stored snapshot back (null without one), and a released snapshot is never saved', async () => {
      const h = await fresh();
      expect(await h.storage.loadSnapshot()).toBeNull();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 8) });
      const big = snapshot(6, 1, SNAPSHOT_CHUNK_BYTES_MAX * 2 + 3);
      await h.storage.save({ snapshot: big });
      expectSameSnapshot(await h.storage.loadSnapshot(), big);
      // Read while a newer snapshot is being saved: the one stored when asked, whole.
      const newer = snapshot(8, 1, SNAPSHOT_CHUNK_BYTES_MAX + 1);
      const reading = h.storage.loadSnapshot();
      const saving = h.storage.save({ snapshot: newer });
      expectSameSnapshot(await reading, big);
      await saving;
      expectSameSnapshot(await h.storage.loadSnapshot(), newer);
      await expect(h.storage.save({ snapshot: { meta: snapshot(9, 1).meta, data: RELEASED_SNAPSHOT_DATA } })).rejects.toThrow(/released/);
      expectSameSnapshot((await reloaded(h)).snapshot, newer);
    });

    it('loadEntries reads stored entries back, and rejects a range that is not all stored', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 8) });
      expect(await h.storage.loadEntries(3, 5)).toEqual(entries(3, 5, 1));
      await h.storage.save({ snapshot: snapshot(6, 1) });
      expect(await h.storage.loadEntries(7, 10)).toEqual(entries(7, 10, 1));
      await expect(h.storage.loadEntries(5, 8)).rejects.toThrow();
      await expect(h.storage.loadEntries(9, 11)).rejects.toThrow();
    });

    it('a snapshot drops the entries it covers and keeps the matching suffix', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 8) });
      await h.storage.save({ snapshot: snapshot(6, 1) });
      const state = await reloaded(h);
      expect(indexes(state)).toEqual([7, 8, 9, 10]);
      expect(state.snapshot).toEqual(snapshot(6, 1));
      expect(state.config).toEqual(CONFIG);
    });

    it('a snapshot whose term differs from the stored entry at its index discards the whole log', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 5) });
      await h.storage.save({ snapshot: snapshot(8, 2), hardState: hardState(2, 8) });
      const state = await reloaded(h);
      expect(state.entries).toEqual([]);
      expect(state.snapshot?.meta).toEqual({ index: 8, term: 2, config: CONFIG });
    });

    it('a snapshot beyond the log empties it; appends continue right after the snapshot', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 3, 1), hardState: hardState(1, 3) });
      await h.storage.save({ snapshot: snapshot(20, 2), hardState: hardState(2, 20) });
      await expect(h.storage.save({ entries: entries(20, 21, 2) })).rejects.toThrow(/covered by the snapshot/);
      await expect(h.storage.save({ entries: entries(22, 22, 2) })).rejects.toThrow(/gap/);
      await h.storage.save({ entries: entries(21, 23, 2) });
      const state = await reloaded(h);
      expect(indexes(state)).toEqual([21, 22, 23]);
      expect(state.hardState.commit).toBe(20);
    });

    it('snapshot data larger than one chunk round-trips, and a smaller snapshot replaces it entirely', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 9) });
      const big = snapshot(5, 1, Math.floor(2.5 * SNAPSHOT_CHUNK_BYTES_MAX));
      await h.storage.save({ snapshot: big });
      expectSameSnapshot((await reloaded(h)).snapshot, big);
      const small = snapshot(9, 1, 1000, { voters: ['n1', 'n2'] });
      await h.storage.save({ snapshot: small });
      const state = await reloaded(h);
      expectSameSnapshot(state.snapshot, small);
      expect(indexes(state)).toEqual([10]);
      await expect(h.storage.save({ snapshot: snapshot(8, 1) })).rejects.toThrow(/older than/);
    });

    it('an empty snapshot (no data bytes) round-trips', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 2, 1), hardState: hardState(1, 2) });
      await h.storage.save({ snapshot: snapshot(2, 1, 0) });
      expect((await reloaded(h)).snapshot).toEqual(snapshot(2, 1, 0));
    });

    it('compact accepts indexes the snapshot covers and refuses anything beyond it', async () => {
      const h = await fresh();
      await h.storage.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10) });
      await h.storage.save({ snapshot: snapshot(6, 1) });
      await h.storage.compact(6);
      await h.storage.compact(3);
      await expect(h.storage.compact(7)).rejects.toThrow(/beyond the snapshot/);
      expect(indexes(await reloaded(h))).toEqual([7, 8, 9, 10]);
    });

    it('stores the config under its own key; a config in the same batch wins over the snapshot’s', async () => {
      const h = await fresh();
      await h.storage.save({ config: { voters: ['a', 'b', 'c'] } });
      expect((await reloaded(h)).config).toEqual({ voters: ['a', 'b', 'c'] });
      await h.storage.save({ entries: entries(1, 2, 1), hardState: hardState(1, 2) });
      await h.storage.save({ snapshot: snapshot(2, 1, 8, { voters: ['a', 'b'] }), config: { voters: ['a', 'b', 'd'] } });
      expect((await reloaded(h)).config).toEqual({ voters: ['a', 'b', 'd'] });
    });

    it('reload after close gives exactly the state that was saved', async () => {
      const h = await fresh();
      await h.storage.save({ config: CONFIG, hardState: hardState(1, 0, null) });
      await h.storage.save({ entries: entries(1, 40, 1), hardState: hardState(1, 30, 'n2') });
      await h.storage.save({ snapshot: snapshot(25, 1, 3000) });
      await h.storage.save({ entries: entries(35, 50, 3), hardState: hardState(3, 34, 'n3') });
      const first = await reloaded(h);
      const second = await reloaded(h);
      expect(second).toEqual(first);
      expect(first).toEqual({
        hardState: hardState(3, 34, 'n3'),
        snapshot: snapshot(25, 1, 3000),
        entries: [...entries(26, 34, 1), ...entries(35, 50, 3)],
        config: CONFIG,
      });
    });

    it('load is called once, and save needs a loaded, open storage', async () => {
      const h = await impl.create();
      await expect(h.storage.save({ hardState: hardState(1, 0) })).rejects.toThrow(/storage invariant/);
      await h.storage.load();
      await expect(h.storage.load()).rejects.toThrow(/load is called once/);
      await h.storage.close();
      await expect(h.storage.save({ hardState: hardState(1, 0) })).rejects.toThrow(/storage invariant/);
    });

    it('keeps its own copy of saved bytes: mutating a buffer after save changes nothing stored', async () => {
      const h = await fresh();
      const e = entry(1, 1);
      await h.storage.save({ entries: [e], hardState: hardState(1, 1) });
      e.data.fill(0);
      expect((await reloaded(h)).entries[0]).toEqual(entry(1, 1));
    });
  });
}

describe('MemoryStorage as a simulated disk', () => {
  it('snapshotOf is a deep copy that a restarted node loads from', async () => {
    const s = new MemoryStorage();
    await s.load();
    await s.save({ entries: entries(1, 3, 1), hardState: hardState(1, 2) });
    const disk = s.snapshotOf();
    disk.entries[0]!.data.fill(0);
    disk.entries.pop();
    const restarted = new MemoryStorage(s.snapshotOf());
    expect(await restarted.load()).toEqual(s.snapshotOf());
    expect(indexes(await new MemoryStorage(s.snapshotOf()).load())).toEqual([1, 2, 3]);
  });

  it('refuses to start from a state that breaks the log invariants', () => {
    const bad: PersistedState = { hardState: hardState(1, 5), snapshot: null, entries: entries(1, 3, 1), config: null };
    expect(() => new MemoryStorage(bad)).toThrow(/^STORAGE_CORRUPT: hard state commit 5/);
    const gap: PersistedState = { hardState: hardState(1, 0), snapshot: null, entries: [entry(1, 1), entry(3, 1)], config: null };
    expect(() => new MemoryStorage(gap)).toThrow(/^STORAGE_CORRUPT: entry 3 where 2/);
  });
});

describe('entry-codec', () => {
  it('an entry round-trips with data as a plain Uint8Array (not a Buffer)', () => {
    const e: Entry = { index: 2 ** 40, term: 7, kind: 'config', data: Uint8Array.of(1, 2, 3, 250) };
    const decoded = codec.decodeEntry(codec.encodeEntry(e));
    expect(decoded).toEqual(e);
    expect(decoded.data).toBeInstanceOf(Uint8Array);
    expect(Object.getPrototypeOf(decoded.data)).toBe(Uint8Array.prototype);
    expect(codec.decodeEntry(codec.encodeEntry({ ...e, data: new Uint8Array(0) })).data).toEqual(new Uint8Array(0));
  });

  it('values are a crc32 frame around plain msgpack maps any msgpack reader can decode', () => {
    const framed = codec.encodeHardState({ term: 3, vote: null, commit: 2 });
    expect(unpack(framed.subarray(codec.FRAME_HEADER_BYTES))).toEqual({ term: 3, vote: null, commit: 2 });
    expect(codec.decodeHardState(framed)).toEqual({ term: 3, vote: null, commit: 2 });
  });

  it('round-trips config, snapshot record and format version', () => {
    expect(codec.decodeConfig(codec.encodeConfig(CONFIG))).toEqual(CONFIG);
    const record: codec.SnapshotRecord = { meta: { index: 9, term: 2, config: CONFIG }, generation: 3, dataBytes: 5, chunkCount: 1 };
    expect(codec.decodeSnapshotRecord(codec.encodeSnapshotRecord(record))).toEqual(record);
    expect(codec.decodeFormatVersion(codec.encodeFormatVersion(1))).toBe(1);
    expect(codec.decodeSnapshotChunk(codec.encodeSnapshotChunk(Uint8Array.of(9, 8)))).toEqual(Uint8Array.of(9, 8));
  });

  it('rejects a flipped byte, a truncated value and a well-formed value of the wrong shape', () => {
    const framed = codec.encodeEntry(entry(5, 1));
    const flipped = framed.slice();
    flipped[flipped.length - 1]! ^= 0x01;
    expect(() => codec.decodeEntry(flipped)).toThrow(/checksum mismatch/);
    expect(() => codec.decodeEntry(framed.subarray(0, 3))).toThrow(codec.CodecError);
    expect(() => codec.decodeEntry(codec.encodeHardState(hardState(1, 1)))).toThrow(/entry.kind/);
    expect(() => codec.decodeHardState(codec.encodeConfig(CONFIG))).toThrow(/hardState\.vote/);
  });
});

// The on-disk layout, spelled out independently of the implementation: a change to it that does
// not bump the format version breaks these tests.
const rawLogKey = (index: number): Uint8Array => {
  const key = new Uint8Array(9);
  key[0] = 0x01;
  new DataView(key.buffer).setBigUint64(1, BigInt(index));
  return key;
};
const rawChunkKey = (generation: number, chunkNo: number): Uint8Array => {
  const key = new Uint8Array(9);
  key[0] = 0x02;
  new DataView(key.buffer).setUint32(1, generation);
  new DataView(key.buffer).setUint32(5, chunkNo);
  return key;
};
const rawMetaKey = (name: string): Uint8Array => Uint8Array.of(0x00, ...new TextEncoder().encode(name));

describe('LevelStorage on disk', () => {
  async function populated(): Promise<string> {
    const dir = tempDir();
    const s = await LevelStorage.open(dir);
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 8), config: CONFIG });
    await s.save({ snapshot: snapshot(3, 1, Math.floor(1.5 * SNAPSHOT_CHUNK_BYTES_MAX)) });
    await s.close();
    return dir;
  }

  async function withRaw(dir: string, edit: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    try {
      await edit(db);
    } finally {
      await db.close();
    }
  }

  async function loadError(dir: string): Promise<string> {
    const s = await LevelStorage.open(dir).catch((err: Error) => err);
    if (s instanceof Error) return s.message;
    try {
      await s.load();
      return 'loaded without error';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await s.close();
    }
  }

  const hexOf = (keys: Uint8Array[]): string[] => keys.map((k) => Buffer.from(k).toString('hex'));

  it('keys entries by prefix 0x01 + 8-byte big-endian index and splits snapshot data into 1 MiB chunks', async () => {
    const dir = await populated();
    await withRaw(dir, async (db) => {
      const logKeys = await db.keys({ gte: Uint8Array.of(0x01), lt: Uint8Array.of(0x02) }).all();
      expect(hexOf(logKeys)).toEqual(hexOf([4, 5, 6, 7, 8, 9, 10].map(rawLogKey)));
      const chunks = await db.iterator({ gte: Uint8Array.of(0x02), lt: Uint8Array.of(0x03) }).all();
      expect(hexOf(chunks.map(([k]) => k))).toEqual(hexOf([rawChunkKey(1, 0), rawChunkKey(1, 1)]));
      expect(chunks.map(([, v]) => v.byteLength - codec.FRAME_HEADER_BYTES)).toEqual([SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX / 2]);
      expect(codec.decodeFormatVersion((await db.get(rawMetaKey('format')))!)).toBe(1);
    });
  });

  it('keys indexes past 2^32 with both halves of the big-endian index, in order, and loads them back', async () => {
    const dir = tempDir();
    const first = 2 ** 32 - 2;
    const s = await LevelStorage.open(dir);
    await s.load();
    await s.save({ snapshot: snapshot(first - 1, 1), hardState: hardState(1, first - 1), config: CONFIG });
    await s.save({ entries: entries(first, first + 3, 1), hardState: hardState(1, first + 1) });
    await s.close();
    await withRaw(dir, async (db) => {
      const logKeys = await db.keys({ gte: Uint8Array.of(0x01), lt: Uint8Array.of(0x02) }).all();
      expect(hexOf(logKeys)).toEqual(hexOf([first, first + 1, first + 2, first + 3].map(rawLogKey)));
    });
    const reopened = track(await LevelStorage.open(dir));
    expect(indexes(await reopened.load())).toEqual([first, first + 1, first + 2, first + 3]);
  });

  it('a new snapshot gets a new chunk generation and the old generation is removed', async () => {
    const dir = await populated();
    const s = track(await LevelStorage.open(dir));
    await s.load();
    await s.save({ snapshot: snapshot(5, 1, 100) });
    await s.close();
    await withRaw(dir, async (db) => {
      const chunkKeys = await db.keys({ gte: Uint8Array.of(0x02), lt: Uint8Array.of(0x03) }).all();
      expect(hexOf(chunkKeys)).toEqual(hexOf([rawChunkKey(2, 0)]));
    });
  });

  it('chunks of an unreferenced generation (a crash while staging a snapshot) are ignored and removed', async () => {
    const dir = await populated();
    await withRaw(dir, async (db) => {
      await db.put(rawChunkKey(2, 0), codec.encodeSnapshotChunk(Uint8Array.of(1, 2)));
      await db.put(rawChunkKey(2, 7), codec.encodeSnapshotChunk(Uint8Array.of(3)));
    });
    const s = track(await LevelStorage.open(dir));
    const state = await s.load();
    expectSameSnapshot(state.snapshot, snapshot(3, 1, Math.floor(1.5 * SNAPSHOT_CHUNK_BYTES_MAX)));
    await s.close();
    await withRaw(dir, async (db) => {
      const chunkKeys = await db.keys({ gte: Uint8Array.of(0x02), lt: Uint8Array.of(0x03) }).all();
      expect(hexOf(chunkKeys)).toEqual(hexOf([rawChunkKey(1, 0), rawChunkKey(1, 1)]));
    });
  });

  it('refuses a damaged entry value, naming its index', async () => {
    const dir = await populated();
    await withRaw(dir, async (db) => {
      const value = (await db.get(rawLogKey(6)))!.slice();
      value[value.length - 2]! ^= 0x40;
      await db.put(rawLogKey(6), value);
    });
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: log key index 6: checksum mismatch/);
  });

  it('refuses a hole in the log', async () => {
    const dir = await populated();
    await withRaw(dir, (db) => db.del(rawLogKey(7)));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: log key 010000000000000008 \(index 8\) where index 7 was expected/);
  });

  it('refuses a log that does not start right after the snapshot', async () => {
    const dir = await populated();
    await withRaw(dir, (db) => db.del(rawLogKey(4)));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: .*index 5\) where index 4 was expected/);
  });

  it('refuses an entry stored under the wrong key', async () => {
    const dir = await populated();
    await withRaw(dir, async (db) => db.put(rawLogKey(11), codec.encodeEntry(entry(12, 1))));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: log key index 11 holds an entry for index 12/);
  });

  it('refuses a hard state whose commit is beyond the last entry', async () => {
    const dir = await populated();
    await withRaw(dir, (db) => db.put(rawMetaKey('hardState'), codec.encodeHardState(hardState(1, 11))));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: meta key hardState: commit 11 is beyond the last log index 10/);
  });

  it('refuses a hard state whose term is below the last entry', async () => {
    const dir = await populated();
    await withRaw(dir, (db) => db.put(rawLogKey(11), codec.encodeEntry(entry(11, 2))));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: meta key hardState: term 1 is below the term 2 of log index 11/);
  });

  it('refuses a missing, extra or damaged snapshot chunk', async () => {
    const missing = await populated();
    await withRaw(missing, (db) => db.del(rawChunkKey(1, 1)));
    expect(await loadError(missing)).toMatch(/^STORAGE_CORRUPT: snapshot has 1 chunks, its header says 2/);
    const extra = await populated();
    await withRaw(extra, (db) => db.put(rawChunkKey(1, 2), codec.encodeSnapshotChunk(Uint8Array.of(1))));
    expect(await loadError(extra)).toMatch(/^STORAGE_CORRUPT: snapshot chunk key 020000000100000002 where chunk 2 of 2 \(generation 1\) was expected/);
    const damaged = await populated();
    await withRaw(damaged, async (db) => {
      const value = (await db.get(rawChunkKey(1, 0)))!.slice();
      value[1000]! ^= 0x01;
      await db.put(rawChunkKey(1, 0), value);
    });
    expect(await loadError(damaged)).toMatch(/^STORAGE_CORRUPT: snapshot chunk 0: checksum mismatch/);
  });

  it('refuses unknown keys and data without a format key', async () => {
    const unknown = await populated();
    await withRaw(unknown, (db) => db.put(Uint8Array.of(0x07, 1), Uint8Array.of(1)));
    expect(await loadError(unknown)).toMatch(/^STORAGE_CORRUPT: key 0701 has no known prefix/);
    const noFormat = await populated();
    await withRaw(noFormat, (db) => db.del(rawMetaKey('format')));
    expect(await loadError(noFormat)).toMatch(/^STORAGE_CORRUPT: meta key format is missing but the database holds data/);
  });

  it('refuses a storage format it does not know, with a clear error', async () => {
    const dir = await populated();
    await withRaw(dir, (db) => db.put(rawMetaKey('format'), codec.encodeFormatVersion(2)));
    expect(await loadError(dir)).toMatch(/^STORAGE_FORMAT_UNSUPPORTED: .* has storage format 2, this build reads only format 1/);
  });

  it('refuses a directory with files but no LevelDB CURRENT file instead of creating a database over it', async () => {
    const dir = await populated();
    fs.rmSync(path.join(dir, 'CURRENT'));
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: .* holds files \(.*\) but no LevelDB CURRENT file/);
  });

  it('opens a directory where a first open died before writing CURRENT (only LOCK and LOG)', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'LOCK'), '');
    fs.writeFileSync(path.join(dir, 'LOG'), 'partial\n');
    const s = track(await LevelStorage.open(dir));
    expect((await s.load()).entries).toEqual([]);
  });

  it('refuses to start when LevelDB drops a damaged write-ahead-log record, and keeps refusing after', async () => {
    const dir = tempDir();
    const s = await LevelStorage.open(dir);
    await s.load();
    for (let i = 0; i < 20; i++) await s.save({ entries: entries(i * 10 + 1, i * 10 + 10, 1), hardState: hardState(1, i * 10 + 5) });
    await s.close();
    const wal = fs.readdirSync(dir).find((name) => name.endsWith('.log'))!;
    const bytes = fs.readFileSync(path.join(dir, wal));
    // The last batch: LevelDB would silently recover without it, serving a shorter log.
    bytes[bytes.length - 100]! ^= 0xff;
    fs.writeFileSync(path.join(dir, wal), bytes);
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: LevelDB at .* dropped damaged records while recovering: .*dropping \d+ bytes/);
    expect(await loadError(dir)).toMatch(/^STORAGE_CORRUPT: .* was found damaged by an earlier start \(.*dropping/);
  });

  it("stages a snapshot of its own between the log's saves: a save issued meanwhile is durable before the snapshot is", async () => {
    const s = track(await LevelStorage.open(tempDir()));
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10) });
    const big = snapshot(8, 1, 6 * SNAPSHOT_CHUNK_BYTES_MAX); // several chunk batches
    const order: string[] = [];
    const snapshotSaved = s.save({ snapshot: big, config: big.meta.config }).then(() => order.push('snapshot'));
    const entriesSaved = s.save({ entries: entries(11, 12, 1), hardState: hardState(1, 12) }).then(() => order.push('entries'));
    await Promise.all([snapshotSaved, entriesSaved]);
    // Before, the entries waited for the whole image: a node's Raft loop stopped for as long.
    expect(order).toEqual(['entries', 'snapshot']);
    await s.close();
    const state = await track(await LevelStorage.open(s.dir)).load();
    expectSameSnapshot(state.snapshot, big);
    expect(state.entries.map((e) => e.index)).toEqual([9, 10, 11, 12]);
  });

  it('drops a staged snapshot of its own that a newer one (the leader\'s) overtook while it was staged', async () => {
    const s = track(await LevelStorage.open(tempDir()));
    await s.load();
    await s.save({ entries: entries(1, 10, 1), hardState: hardState(1, 10) });
    const ours = snapshot(5, 1, 4 * SNAPSHOT_CHUNK_BYTES_MAX);
    const leaders = snapshot(20, 2, 1000);
    await Promise.all([s.save({ snapshot: ours, config: ours.meta.config }), s.save({ snapshot: leaders, hardState: hardState(2, 20) })]);
    await s.close();
    const again = track(await LevelStorage.open(s.dir));
    const state = await again.load();
    expectSameSnapshot(state.snapshot, leaders);
    expect(state.entries).toEqual([]);
    expectSameSnapshot(await again.loadSnapshot(), leaders);
  });

  it('queued saves run in order even when not awaited one by one', async () => {
    const s = track(await LevelStorage.open(tempDir()));
    await s.load();
    await Promise.all([
      s.save({ entries: entries(1, 5, 1), hardState: hardState(1, 0) }),
      s.save({ entries: entries(6, 9, 1), hardState: hardState(1, 3) }),
      s.save({ entries: entries(4, 4, 2), hardState: hardState(2, 3) }),
    ]);
    await s.close();
    const again = track(await LevelStorage.open(s.dir));
    const state = await again.load();
    expect(state.entries).toEqual([...entries(1, 3, 1), entry(4, 2)]);
    expect(state.hardState).toEqual(hardState(2, 3));
  });
});
