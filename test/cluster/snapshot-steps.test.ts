// A snapshot encoded in steps (RaftDriver.encodeInSteps): while the image is being written the
// node keeps persisting and answering the leader, applies nothing, and the snapshot it saves is of
// the state at the index where the encoding began. Before, the encoding blocked the node's event
// loop: seconds at a million jobs, long enough for a leader to lose its leadership.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftDriver, SNAPSHOT_PIECE_BYTES, type DriverApp } from '../../cluster/raft-driver.js';
import { MemoryStorage, StorageCorruptError } from '../../raft/memory-storage.js';
import type { LogStorage, PersistBatch, SnapshotFileWriter } from '../../raft/storage.js';
import { WalStorage } from '../../raft/wal-storage.js';
import { RELEASED_SNAPSHOT_DATA, type AppendResponse, type Entry, type Message, type SnapshotMeta, type SnapshotSource } from '../../raft/types.js';

const VOTERS = ['n1', 'n2', 'n3'];
const TERM = 1;

function entry(index: number): Entry {
  return { index, term: TERM, kind: 'normal', data: Uint8Array.of(index) };
}

function append(prevIndex: number, last: number, commit: number): Message {
  const entries: Entry[] = [];
  for (let i = prevIndex + 1; i <= last; i++) entries.push(entry(i));
  return { type: 'append', from: 'n2', to: 'n1', term: TERM, prevIndex, prevTerm: prevIndex === 0 ? 0 : TERM, entries, commit };
}

/** The application: a list of applied indexes, and an image that is written in steps until released. */
/** Bounds the encoder even unreleased: a driver that ran it in one go must fail the test, not hang it. */
const STEPS_MAX = 100_000;

class SteppedApp implements DriverApp {
  applied: number[] = [];
  encodingsStarted = 0;
  stepsTaken = 0;
  release = false;
  /** The applied indexes the encoder saw at each step: all equal, or the image is torn. */
  seenAtSteps: number[] = [];
  snapshotsTaken: number[] = [];

  applyEntries(entries: Entry[]): void {
    for (const e of entries) this.applied.push(e.index);
  }
  installed: number[] = [];
  installSnapshot(snap: { meta: { index: number } }): void {
    this.installed.push(snap.meta.index);
    this.applied = [];
  }
  snapshotData(): Uint8Array {
    throw new Error('the driver must take the stepped path when the app offers it');
  }
  *snapshotDataSteps(): Generator<undefined, Uint8Array, void> {
    this.encodingsStarted += 1;
    while (!this.release && this.stepsTaken < STEPS_MAX) {
      this.seenAtSteps.push(this.applied.length);
      this.stepsTaken += 1;
      yield undefined;
    }
    return Uint8Array.of(...this.applied);
  }
  onSoftState(): void {}
  onReadStates(): void {}
  onSnapshotTaken(snap: { meta: { index: number } }): void {
    this.snapshotsTaken.push(snap.meta.index);
  }
}

/** Waits a turn at a time (the tests count turns), for at most 10 s: writes to a real disk take what they take. */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await turn();
  if (!condition()) throw new Error(`never happened: ${what}`);
}

/** Drivers and storages a test opened, stopped after it even when it fails (their writes outlive it otherwise). */
const opened: { driver: RaftDriver; storage: LogStorage }[] = [];

async function followerDriver(app: DriverApp, sent: Message[], storage: LogStorage = new MemoryStorage()): Promise<RaftDriver> {
  const initial = await storage.load();
  // No start(): no ticks, so no election; the tests play the leader n2.
  const driver = new RaftDriver(
    'n1',
    storage,
    (messages) => sent.push(...messages),
    app,
    {
      raft: { electionTicks: 10, heartbeatTicks: 1, random: () => 0.5, preVote: true, checkQuorum: true, maxInflightMsgs: 64, maxInflightBytes: 1 << 24, maxMsgBytes: 1 << 20, maxUncommittedEntries: 1000 },
      tickMs: 50,
      snapshotEveryEntries: 3,
      snapshotEveryBytes: 1 << 30,
      entryBytesKeptInMemory: 1 << 20,
      leaderSnapshotPauseMaxMs: 0,
      snapshotHandoffWaitMs: 0,
      // One step per turn: the test counts the encoder's steps against the driver's turns.
      snapshotTurnMs: 0,
    },
    { ...initial, config: { voters: VOTERS } },
  );
  opened.push({ driver, storage });
  return driver;
}

function acked(sent: Message[], index: number): boolean {
  return sent.some((m) => m.type === 'appendResp' && (m as AppendResponse).success && (m as AppendResponse).index === index);
}

describe('RaftDriver: a snapshot encoded in steps', () => {
  it('keeps acknowledging appends while the image is written, applies nothing meanwhile, and snapshots the state where it began', async () => {
    const sent: Message[] = [];
    const app = new SteppedApp();
    const driver = await followerDriver(app, sent);

    driver.step(append(0, 3, 3));
    await until('entries 1..3 applied and the encoding started', () => app.applied.length === 3 && app.encodingsStarted === 1);
    const stepsBefore = app.stepsTaken;

    // The leader sends more while the image is being written: they are persisted and acknowledged...
    sent.length = 0;
    driver.step(append(3, 5, 5));
    await until('entries 4..5 acknowledged', () => acked(sent, 5));
    // ...but not applied, and the encoder kept stepping (the event loop was never blocked by it).
    expect(app.applied).toEqual([1, 2, 3]);
    expect(app.stepsTaken).toBeGreaterThan(stepsBefore);
    expect(app.snapshotsTaken).toEqual([]);

    app.release = true;
    await until('the snapshot saved and the rest applied', () => app.snapshotsTaken.length === 1 && app.applied.length === 5);
    expect(app.snapshotsTaken).toEqual([3]);
    expect(new Set(app.seenAtSteps)).toEqual(new Set([3]));
    expect(app.applied).toEqual([1, 2, 3, 4, 5]);
    await driver.stop();
  });

  it('drops its own encoding when the leader sends a snapshot meanwhile, installs that one, and applies again', async () => {
    const sent: Message[] = [];
    const app = new SteppedApp();
    const driver = await followerDriver(app, sent);
    driver.step(append(0, 3, 3));
    await until('the encoding started', () => app.encodingsStarted === 1);

    const data = Uint8Array.of(42);
    driver.step({ type: 'snapshot', from: 'n2', to: 'n1', term: TERM, snapshot: { meta: { index: 10, term: TERM, config: { voters: VOTERS } }, data } });
    await until('the leader\'s snapshot installed', () => app.installed.length === 1);
    expect(app.installed).toEqual([10]);

    sent.length = 0;
    driver.step(append(10, 11, 11));
    await until('entry 11 acknowledged and applied', () => acked(sent, 11) && app.applied.includes(11));
    expect(app.applied).toEqual([11]);
    // The abandoned encoding never became a snapshot, even once released.
    app.release = true;
    for (let i = 0; i < 20; i++) await turn();
    expect(app.snapshotsTaken).toEqual([]);
    await driver.stop();
  });
});

/**
 * An image written in pieces: each step adds STEP_BYTES of the step's number to one buffer, which
 * is yielded once it holds the piece size asked for and overwritten from the next step on. A
 * driver that stepped on before writing a piece out would save overwritten bytes.
 */
const STEP_BYTES = 300 * 1024;
const STEPS = 10;

class PiecesApp implements DriverApp {
  piecesAsked: number[] = [];
  pieceSizes: number[] = [];
  snapshotsTaken: Array<{ index: number; bytes: number }> = [];
  installed: number[] = [];
  applied: number[] = [];
  release = true;
  encodingsStarted = 0;

  applyEntries(entries: Entry[]): void {
    for (const e of entries) this.applied.push(e.index);
  }
  installSnapshot(snap: { meta: { index: number } }): void {
    this.installed.push(snap.meta.index);
  }
  snapshotData(): Uint8Array {
    throw new Error('the driver must take the stepped path when the app offers it');
  }
  *snapshotDataSteps(pieceBytes: number): Generator<Uint8Array | undefined, Uint8Array, void> {
    this.encodingsStarted += 1;
    this.piecesAsked.push(pieceBytes);
    const buffer = new Uint8Array(2 * STEP_BYTES + Math.min(pieceBytes, STEPS * STEP_BYTES));
    let filled = 0;
    // Bounded even unreleased: a driver that ran the encoder in one go must fail the test, not hang it.
    for (let step = 0; step < STEPS || (!this.release && step < STEPS_MAX); step++) {
      buffer.fill(step & 0xff, filled, filled + STEP_BYTES);
      filled += STEP_BYTES;
      if (filled < pieceBytes) {
        yield undefined;
        continue;
      }
      this.pieceSizes.push(filled);
      yield buffer.subarray(0, filled);
      filled = 0;
    }
    return buffer.slice(0, filled);
  }
  onSoftState(): void {}
  onReadStates(): void {}
  onSnapshotTaken(snap: { meta: { index: number } }, bytes: number): void {
    this.snapshotsTaken.push({ index: snap.meta.index, bytes });
  }
  onSnapshotDamaged?: (error: StorageCorruptError) => void;
}

function expectedImage(): Buffer {
  return Buffer.concat(Array.from({ length: STEPS }, (_, step) => Buffer.alloc(STEP_BYTES, step & 0xff)));
}

const dirs: string[] = [];
afterEach(async () => {
  for (const { driver, storage } of opened.splice(0)) {
    await driver.stop();
    await storage.close().catch(() => undefined);
  }
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function walStorage(): Promise<{ dir: string; storage: WalStorage }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-pieces-'));
  dirs.push(dir);
  return { dir, storage: await WalStorage.open(dir) };
}

describe('RaftDriver: a snapshot written to its file piece by piece', () => {
  it('writes each piece before the next step, and saves the whole image without holding it', async () => {
    const sent: Message[] = [];
    const app = new PiecesApp();
    const { storage } = await walStorage();
    const driver = await followerDriver(app, sent, storage);
    driver.step(append(0, 3, 3));
    await until('the snapshot saved', () => app.snapshotsTaken.length === 1);

    expect(app.piecesAsked).toEqual([SNAPSHOT_PIECE_BYTES]);
    const image = expectedImage();
    // The image came in pieces of about the size asked, never whole.
    expect(app.pieceSizes.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...app.pieceSizes)).toBeLessThan(SNAPSHOT_PIECE_BYTES + STEP_BYTES);
    expect(app.snapshotsTaken).toEqual([{ index: 3, bytes: image.byteLength }]);
    const stored = await storage.loadSnapshot();
    expect(stored?.meta.index).toBe(3);
    expect(Buffer.from(stored!.data).equals(image)).toBe(true);
    await driver.stop();
    await storage.close();
  });

  it('replaces a stored snapshot found damaged, at the same index when nothing was applied since', async () => {
    const sent: Message[] = [];
    const app = new PiecesApp();
    const damage: string[] = [];
    app.onSnapshotDamaged = (error: StorageCorruptError): void => void damage.push(error.message);
    const { dir, storage } = await walStorage();
    const driver = await followerDriver(app, sent, storage);
    driver.step(append(0, 3, 3));
    await until('the first snapshot saved', () => app.snapshotsTaken.length === 1);
    const files = (): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.snap'));
    const [first] = files();
    const file = path.join(dir, first!);
    const bytes = fs.readFileSync(file);
    bytes[1000] = bytes[1000]! ^ 1;
    fs.writeFileSync(file, bytes);
    // Read back to send it, it fails its checksum: what the transport or the driver then reports.
    const source = (await storage.openSnapshotSource())!;
    let error: unknown = null;
    try {
      for (let read = 0; read < source.bytes; read += SNAPSHOT_PIECE_BYTES) await source.read(SNAPSHOT_PIECE_BYTES);
    } catch (err) {
      error = err;
    } finally {
      await source.close();
    }
    expect(error).toBeInstanceOf(StorageCorruptError);
    driver.reportSnapshotDamaged(error as StorageCorruptError);
    await until('a second snapshot saved', () => app.snapshotsTaken.length === 2);
    expect(damage).toHaveLength(1);
    expect(damage[0]).toMatch(/STORAGE_CORRUPT: snapshot-\d+\.snap: checksum mismatch/);
    expect(app.snapshotsTaken.map((t) => t.index)).toEqual([3, 3]);
    await storage.removed();
    expect(files()).toHaveLength(1);
    expect(files()).not.toEqual([first]);
    const stored = await storage.loadSnapshot();
    expect(Buffer.from(stored!.data).equals(expectedImage())).toBe(true);
  });

  it('a storage without files for snapshots gets the whole image at once', async () => {
    const sent: Message[] = [];
    const app = new PiecesApp();
    const storage = new MemoryStorage();
    const driver = await followerDriver(app, sent, storage);
    driver.step(append(0, 3, 3));
    await until('the snapshot saved', () => app.snapshotsTaken.length === 1);
    expect(app.piecesAsked).toEqual([Number.POSITIVE_INFINITY]);
    expect(app.pieceSizes).toEqual([]);
    expect(Buffer.from((await storage.loadSnapshot())!.data).equals(expectedImage())).toBe(true);
    await driver.stop();
  });

  it('removes its file when the leader\'s snapshot replaces the state it was reading, and when the node stops', async () => {
    const sent: Message[] = [];
    const app = new PiecesApp();
    app.release = false;
    const { dir, storage } = await walStorage();
    const driver = await followerDriver(app, sent, storage);
    const partial = (): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.snap.tmp'));
    driver.step(append(0, 3, 3));
    await until('pieces written to a file', () => app.pieceSizes.length >= 2 && partial().length === 1);

    driver.step({ type: 'snapshot', from: 'n2', to: 'n1', term: TERM, snapshot: { meta: { index: 10, term: TERM, config: { voters: VOTERS } }, data: Uint8Array.of(42) } });
    await until('the leader\'s snapshot installed and our file gone', () => app.installed.length === 1 && partial().length === 0);
    expect(app.snapshotsTaken).toEqual([]);
    expect((await storage.loadSnapshot())?.meta.index).toBe(10);

    // A snapshot of our own again (three more entries), stopped half written.
    driver.step(append(10, 13, 13));
    await until('a second encoding writing its file', () => app.encodingsStarted === 2 && partial().length === 1);
    await driver.stop();
    expect(partial()).toEqual([]);
    await storage.close();
  });

  it('starts the next encoding only once the dropped one\'s file is gone (one encoding, and one file of ours, at a time)', async () => {
    const sent: Message[] = [];
    const app = new PiecesApp();
    app.release = false;
    const { dir, storage: wal } = await walStorage();
    const storage = new SlowAborts(wal);
    const driver = await followerDriver(app, sent, storage);
    const partial = (): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.snap.tmp'));
    driver.step(append(0, 3, 3));
    await until('pieces written to a file', () => app.pieceSizes.length >= 1 && partial().length === 1);
    // The leader's snapshot and the entries that make the next one due, in the same turn.
    driver.step({ type: 'snapshot', from: 'n2', to: 'n1', term: TERM, snapshot: { meta: { index: 10, term: TERM, config: { voters: VOTERS } }, data: Uint8Array.of(42) } });
    driver.step(append(10, 13, 13));
    app.release = true;
    await until('the leader\'s snapshot installed and entries 11..13 applied', () => app.installed.length === 1 && app.applied.includes(13));
    for (let i = 0; i < 20; i++) await turn();
    expect(storage.abortsWaiting).toBe(1);
    storage.letAbortsFinish();
    await until('the second snapshot saved', () => app.snapshotsTaken.length === 1);
    expect(app.snapshotsTaken).toEqual([{ index: 13, bytes: expectedImage().byteLength }]);
    expect(partial()).toEqual([]);
    expect(Buffer.from((await storage.loadSnapshot())!.data).equals(expectedImage())).toBe(true);
    await driver.stop();
    await storage.close();
  });
});

describe('RaftDriver: a snapshot from the leader received into a file', () => {
  /** Installs from the stored file, as the node does, keeping what it read. */
  class FromFileApp extends PiecesApp {
    readFromFile: Buffer[] = [];
    async installSnapshotFrom(meta: SnapshotMeta, source: SnapshotSource): Promise<void> {
      const pieces: Uint8Array[] = [];
      try {
        for (let read = 0; read < source.bytes; ) {
          const piece = await source.read(1000);
          read += piece.byteLength;
          pieces.push(piece);
        }
      } finally {
        await source.close();
      }
      this.readFromFile.push(Buffer.concat(pieces));
      this.installed.push(meta.index);
    }
  }
  /** A follower driver on a WalStorage, its app installing from files, and its half-written snapshot files. */
  async function fromFileFollower(): Promise<{ sent: Message[]; app: FromFileApp; storage: WalStorage; driver: RaftDriver; partial: () => string[] }> {
    const sent: Message[] = [];
    const app = new FromFileApp();
    const { dir, storage } = await walStorage();
    const driver = await followerDriver(app, sent, storage);
    return { sent, app, storage, driver, partial: () => fs.readdirSync(dir).filter((n) => n.endsWith('.snap.tmp')) };
  }
  const leaderSnapshot = (index: number, file: SnapshotFileWriter): Message => ({ type: 'snapshot', from: 'n2', to: 'n1', term: TERM, snapshot: { meta: { index, term: TERM, config: { voters: VOTERS } }, data: RELEASED_SNAPSHOT_DATA }, file });

  it('saves that file as the snapshot and installs from it; removes the file of one the core does not take', async () => {
    const { sent, app, storage, driver, partial } = await fromFileFollower();
    const image = Buffer.alloc(5000, 7);
    const file = await storage.openSnapshotFile();
    await file.write(image);
    driver.step(leaderSnapshot(10, file));
    await until('installed from its file', () => app.installed.length === 1);
    expect(app.installed).toEqual([10]);
    expect(app.readFromFile[0]!.equals(image)).toBe(true);
    expect(Buffer.from((await storage.loadSnapshot())!.data).equals(image)).toBe(true);
    await until('acknowledged', () => acked(sent, 10));

    // Older than what is committed here: the core does not take it, and its file goes.
    const stale = await storage.openSnapshotFile();
    await stale.write(image);
    expect(partial()).toHaveLength(1);
    driver.step(leaderSnapshot(5, stale));
    await until('the stale one\'s file removed', () => partial().length === 0);
    expect(app.installed).toEqual([10]);
    await driver.stop();
    await storage.close();
  });

  it('removes the file of a snapshot replaced by a newer one sent whole (by a leader of an older build) before it was saved', async () => {
    const { app, storage, driver, partial } = await fromFileFollower();
    const file = await storage.openSnapshotFile();
    await file.write(Buffer.alloc(5000, 7));
    // Both in one turn: the core replaces the first with the second before any Ready.
    driver.step(leaderSnapshot(10, file));
    driver.step({ type: 'snapshot', from: 'n2', to: 'n1', term: TERM, snapshot: { meta: { index: 12, term: TERM, config: { voters: VOTERS } }, data: Uint8Array.of(42) } });
    await until('the newer one installed and the first one\'s file removed', () => app.installed.length === 1 && partial().length === 0);
    expect(app.installed).toEqual([12]);
    expect(app.readFromFile).toEqual([]);
    await driver.stop();
    await storage.close();
  });
});

/** WalStorage whose snapshot files' aborts wait until the test lets them finish. */
class SlowAborts implements LogStorage {
  abortsWaiting = 0;
  private readonly inner = new WeakMap<SnapshotFileWriter, SnapshotFileWriter>();
  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  constructor(private readonly wal: WalStorage) {}

  letAbortsFinish(): void {
    this.open();
  }
  load(): ReturnType<LogStorage['load']> {
    return this.wal.load();
  }
  save(batch: PersistBatch): Promise<void> {
    const file = batch.snapshotFile;
    return this.wal.save(file === undefined ? batch : { ...batch, snapshotFile: this.inner.get(file) as SnapshotFileWriter });
  }
  compact(upToIndex: number): Promise<void> {
    return this.wal.compact(upToIndex);
  }
  loadSnapshot(): ReturnType<LogStorage['loadSnapshot']> {
    return this.wal.loadSnapshot();
  }
  loadEntries(lo: number, hi: number): ReturnType<LogStorage['loadEntries']> {
    return this.wal.loadEntries(lo, hi);
  }
  async openSnapshotFile(): Promise<SnapshotFileWriter> {
    const file = await this.wal.openSnapshotFile();
    const wrapped: SnapshotFileWriter = {
      write: (chunk) => file.write(chunk),
      get bytes() {
        return file.bytes;
      },
      abort: async () => {
        this.abortsWaiting += 1;
        await this.gate;
        this.abortsWaiting -= 1;
        await file.abort();
      },
    };
    this.inner.set(wrapped, file);
    return wrapped;
  }
  close(): Promise<void> {
    return this.wal.close();
  }
}
