// The process harness itself (jepsen-lite/processes.ts): what the other multi-process tests and
// jepsen-lite rely on — same ports and data after a restart, pause/resume, graceful stop, dial
// overrides for a proxy layer, failures that quote the logs, and no process left behind.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProcessCluster, waitUntil, type UnexpectedExit } from '../../jepsen-lite/processes.js';
import { Transport } from '../../src/client/transport.js';
import { testClient, useClusters } from './load.js';

const startCluster = useClusters();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP relay to `target` that counts the connections it carried: stands in for a proxy. */
async function relay(target: string): Promise<{ address: string; connections: () => number; close: () => Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    count++;
    const outbound = net.connect({ host, port });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('ProcessCluster', () => {
  it('restarts on the same ports and data, pauses and resumes, stops gracefully, and leaves no process behind', async () => {
    const cluster = await startCluster({ size: 1 });
    await cluster.waitForLeader();
    const client = testClient(cluster.clientAddresses());
    const quick = new Transport({ nodes: cluster.clientAddresses(), retry: { attempts: 1 }, requestTimeoutMs: 500 });
    try {
      const id = await client.submit('harness', { hello: 'world' });
      const first = cluster.node('n1');
      expect(first.state).toBe('running');

      cluster.pause('n1');
      expect(cluster.node('n1').state).toBe('paused');
      await expect(quick.call('stateHash', {})).rejects.toMatchObject({ code: 'TIMEOUT' });
      cluster.resume('n1');
      await waitUntil('n1 to answer after SIGCONT', 10_000, async () => (await cluster.call('n1', 'stateHash', {})).appliedIndex > 0);

      await cluster.kill('n1', 'SIGTERM');
      expect(alive(first.pid!)).toBe(false);
      expect(cluster.node('n1').state).toBe('stopped');
      await cluster.restart('n1');
      const second = cluster.node('n1');
      expect([second.clientAddr, second.peerAddr, second.httpAddr, second.dataDir]).toEqual([first.clientAddr, first.peerAddr, first.httpAddr, first.dataDir]);
      expect(second.pid).not.toBe(first.pid);
      expect(second.starts).toBe(2);
      await cluster.waitForLeader();
      expect((await client.get(id))?.payload).toEqual({ hello: 'world' });
      expect(cluster.unexpectedExits()).toEqual([]);

      // A paused node too is ended by stopAll.
      cluster.pause('n1');
      await cluster.stopAll();
      expect(alive(second.pid!)).toBe(false);
      expect(cluster.node('n1').state).toBe('stopped');
    } finally {
      await client.close();
      await quick.close();
    }
  }, 60_000);

  it('dials peers at the addresses dialAddress gives (where a proxy layer puts its listeners)', async () => {
    const relays: Awaited<ReturnType<typeof relay>>[] = [];
    /** What the harness asked for (from->to: direct address), and the relays to answer with instead. */
    const routes = new Map<string, string>();
    const pending = new Map<string, string>();
    const cluster = await startCluster({
      size: 2,
      dialAddress: (from, to, direct) => {
        const key = `${from}->${to}`;
        if (!routes.has(key)) routes.set(key, direct);
        return pending.get(key) ?? direct;
      },
    });
    try {
      await cluster.waitForLeader();
      // Route n1 -> n2 through a relay from n1's next start on.
      const r = await relay(routes.get('n1->n2')!);
      relays.push(r);
      pending.set('n1->n2', r.address);
      await cluster.kill('n1', 'SIGKILL');
      await cluster.restart('n1');
      await cluster.waitForLeader(20_000);
      expect(r.connections()).toBeGreaterThan(0);
      expect(routes.get('n1->n2')).toBe(cluster.addresses('n2').peerAddr);
      const hashes = await cluster.stateHashes();
      expect(new Set([...hashes.values()].map((h) => h.hash)).size).toBe(1);
    } finally {
      await cluster.stopAll();
      for (const r of relays) await r.close();
    }
  }, 60_000);

  it("fails a start that cannot succeed, quoting the node's log in the error", async () => {
    const error = await ProcessCluster.start({ size: 1, nodeArgs: ['--tick-ms', 'soon'] }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).not.toBeNull();
    expect(error!.message).toContain('n1 did not start');
    expect(error!.message).toContain('--tick-ms');
  }, 30_000);

  it('tells exit listeners of a refused restart as it happens, before restart() rejects', async () => {
    const cluster = await startCluster({ size: 1 });
    await cluster.waitForLeader();
    await cluster.kill('n1', 'SIGKILL');
    // The node refuses to start on a log segment that is not one (raft/wal-storage.ts).
    fs.writeFileSync(path.join(cluster.node('n1').dataDir, 'raft', 'wal-000000000001.log'), Buffer.alloc(64, 0xff));
    let restartSettled = false;
    const heard: Array<{ exit: UnexpectedExit; restartSettled: boolean }> = [];
    const unsubscribe = cluster.onUnexpectedExit((exit) => heard.push({ exit, restartSettled }));
    const restart = cluster.restart('n1').finally(() => (restartSettled = true));
    await expect(restart).rejects.toThrow(/STORAGE_CORRUPT/);
    unsubscribe();
    // jepsen-lite judges exits here: a fault's quarantine still holds while its restart fails.
    expect(heard).toEqual([{ exit: expect.objectContaining({ id: 'n1', code: 1 }), restartSettled: false }]);
    expect(cluster.unexpectedExits()).toEqual([heard[0]!.exit]);
  }, 60_000);
});
