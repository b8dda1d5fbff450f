// Product bugs jepsen-lite found, each pinned by a test that reproduced it before the fix (see
// raft/watermark.ts and the follower's lost-entries assertion in raft/raft.ts).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLogStorage, STORAGE_ENGINES } from '../../raft/open-storage.js';
import { damageStorage } from '../../jepsen-lite/faults.js';
import type { Entry } from '../../raft/types.js';
import { encodeValue } from '../../src/protocol/values.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term, kind: 'normal' as const, data: new Uint8Array(200).fill((from + i) & 0xff) }));
}

describe.each(STORAGE_ENGINES)('storage damage found by the jepsen-lite disk nemesis (%s)', (engine) => {
  // Seed 7 (`npm run jepsen -- --nodes 5 --time 90 --nemesis membership,clock,disk,latency,bandwidth,partition-ring,partition-oneway,kill-minority --rate 200 --seed 7`):
  // "disk: started: n4 came back up after truncate-log: 000003.log 451713 -> 372142 bytes".
  // 79 KB of write-ahead log that had been fsynced (each save is a sync batch, acknowledged to
  // Raft as durable) vanished, and the node started on the shorter log and an older hard state
  // as if nothing happened: it may vote again in a term it already voted in, and its acks of the
  // lost entries counted towards commits. With one more node down, an acknowledged job is lost.
  it('refuses to start when the write-ahead log lost fsynced writes (truncated)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-trunc-'));
    dirs.push(dir);
    const first = await openLogStorage(dir, engine);
    await first.load();
    for (let i = 0; i < 50; i++) {
      await first.save({ entries: entries(i * 10 + 1, i * 10 + 10, 3), hardState: { term: 3, vote: 'n2', commit: i * 10 + 10 } });
    }
    await first.close();
    const wal = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().at(-1)!;
    const bytes = fs.statSync(path.join(dir, wal)).size;
    fs.truncateSync(path.join(dir, wal), Math.floor(bytes * 0.6));

    let loaded: { lastIndex: number; term: number } | null = null;
    let refused: Error | null = null;
    try {
      const again = await openLogStorage(dir, engine);
      const state = await again.load();
      loaded = { lastIndex: state.entries.at(-1)?.index ?? 0, term: state.hardState.term };
      await again.close();
    } catch (error) {
      refused = error as Error;
    }
    // Either a clear refusal, or everything that was acknowledged as durable is still there.
    if (refused !== null) expect(refused.message).toMatch(/STORAGE_CORRUPT/);
    else expect(loaded).toEqual({ lastIndex: 500, term: 3 });
  });

  it('the nemesis damages what this engine stores: its newest log file, or a table or snapshot file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-damage-'));
    dirs.push(dir);
    const s = await openLogStorage(dir, engine);
    await s.load();
    await s.save({ entries: entries(1, 50, 1), hardState: { term: 1, vote: 'n1', commit: 50 }, config: { voters: ['n1'] } });
    await s.save({ snapshot: { meta: { index: 40, term: 1, config: { voters: ['n1'] } }, data: new Uint8Array(5000).fill(7) } });
    await s.close();
    expect(damageStorage(dir, 'truncate-log', 0.5, 0.5)).toMatch(engine === 'wal' ? /^truncate-log: wal-\d+\.log / : /^truncate-log: \d+\.log /);
    expect(damageStorage(dir, 'flip-ldb', 0.5, 0.5)).toMatch(engine === 'wal' ? /^flip-ldb: snapshot-\d+\.snap / : /^flip-(ldb|log): /);
  });
});

describe('the disk nemesis on a WAL segment that ends in preallocated zeros (a node killed, not closed)', () => {
  it('truncates and flips bits in what was written, not in the zeros', () => {
    for (const kind of ['truncate-log', 'flip-log'] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-zeros-'));
      dirs.push(dir);
      const written = Buffer.alloc(4000, 0x5a);
      const file = path.join(dir, 'wal-000000000001.log');
      for (const [u, v] of [[0.1, 0.99], [0.9, 0.5], [0.5, 0.01]] as const) {
        fs.writeFileSync(file, Buffer.concat([written, Buffer.alloc(1024 * 1024)]));
        expect(damageStorage(dir, kind, u, v)).toMatch(new RegExp(`^${kind}: wal-000000000001\\.log `));
        const after = fs.readFileSync(file);
        if (kind === 'truncate-log') expect(after.byteLength).toBeLessThan(written.byteLength);
        else expect(after.subarray(0, written.byteLength).equals(written), 'a bit of the written part flipped').toBe(false);
      }
    }
  });
});

describe('a node that silently lost acknowledged log entries (jepsen-lite disk nemesis, seed 108)', () => {
  // `npm run jepsen -- --nodes 3 --time 120 --nemesis disk --rate 250 --seed 108` (runs/…-108):
  // n2's WAL was truncated while it was stopped ("disk: started: n2 came back up after
  // truncate-log: 000003.log 178697 -> 160018 bytes"); it restarted on the shorter log as a healthy
  // follower. When n3 then went down, the leader n1 and n2 still formed a majority, yet nothing
  // committed again: converge saw n1@612 and n2@356 forever, removeNode(n3) answered "another
  // membership change is still in progress" for 20 s, every enqueue timed out. The leader's
  // progress for n2 says it already holds entries n2 no longer has; n2 rejects appends below that
  // match index, the leader ignores the rejections as stale, and n2 answers heartbeats, so the
  // leader never steps down. A node must refuse such a log (STORAGE_CORRUPT) instead.
  it('keeps a majority available after a follower restarts on a truncated WAL, or the follower refuses to start', { timeout: 60_000 }, async () => {
    const { ProcessCluster } = await import('../../jepsen-lite/processes.js');
    const { Transport } = await import('../../src/client/transport.js');
    const cluster = await ProcessCluster.start({ size: 3 });
    const client = new Transport({ nodes: cluster.clientAddresses(), requestTimeoutMs: 3_000, retry: { attempts: 3 } });
    try {
      const leader = await cluster.waitForLeader();
      for (let i = 0; i < 60; i++) await client.call('enqueue', { jobs: Array.from({ length: 10 }, (_, k) => ({ queue: 'q', payload: encodeValue({ pad: 'x'.repeat(200), i, k }) })) });
      const [damaged, other] = cluster.memberIds().filter((id) => id !== leader) as [string, string];
      await cluster.kill(damaged);
      const dir = path.join(cluster.node(damaged).dataDir, 'raft');
      const wal = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().at(-1)!;
      fs.truncateSync(path.join(dir, wal), Math.floor(fs.statSync(path.join(dir, wal)).size / 2));
      try {
        await cluster.restart(damaged);
      } catch {
        // Refusing is one correct answer: it must say why.
        expect(cluster.logTail(damaged, 20)).toMatch(/STORAGE_CORRUPT/);
        return;
      }
      await cluster.kill(other);
      // The leader and the restarted follower are a majority: an enqueue must commit.
      const { ids } = await client.call('enqueue', { jobs: [{ queue: 'q', payload: encodeValue('after') }] });
      expect(ids).toHaveLength(1);
    } finally {
      await client.close();
      await cluster.stopAll();
    }
  });
});
