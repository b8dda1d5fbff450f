// A snapshot encoded in steps (RaftDriver.encodeInSteps): while the image is being written the
// node keeps persisting and answering the leader, applies nothing, and the snapshot it saves is of
// the state at the index where the encoding began. Before, the encoding blocked the node's event
// loop: seconds at a million jobs, long enough for a leader to lose its leadership.

import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RaftDriver, type DriverApp } from '../../cluster/raft-driver.js';
import { MemoryStorage } from '../../raft/memory-storage.js';
import type { AppendResponse, Entry, Message } from '../../raft/types.js';

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
  *snapshotDataSteps(): Generator<void, Uint8Array, void> {
    this.encodingsStarted += 1;
    while (!this.release && this.stepsTaken < STEPS_MAX) {
      this.seenAtSteps.push(this.applied.length);
      this.stepsTaken += 1;
      yield;
    }
    return Uint8Array.of(...this.applied);
  }
  onSoftState(): void {}
  onReadStates(): void {}
  onSnapshotTaken(snap: { meta: { index: number } }): void {
    this.snapshotsTaken.push(snap.meta.index);
  }
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await turn();
  if (!condition()) throw new Error(`never happened: ${what}`);
}

async function followerDriver(app: SteppedApp, sent: Message[]): Promise<RaftDriver> {
  const storage = new MemoryStorage();
  const initial = await storage.load();
  // No start(): no ticks, so no election; the tests play the leader n2.
  return new RaftDriver(
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
