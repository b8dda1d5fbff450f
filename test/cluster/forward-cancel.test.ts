// A long-poll lease sent to a follower waits on the leader. When its client leaves, the follower
// tells the leader, which drops the waiter: a job that arrives later stays waiting instead of
// being leased to a client that will never see it. Two nodes in this process.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeLogger } from '../../cluster/logger.js';
import { startNode, type RunningNode } from '../../cluster/node.js';
import { resolveNodeConfig } from '../../cluster/node-config.js';
import { Client } from '../../src/client/client.js';
import { Transport } from '../../src/client/transport.js';
import { freePorts, until } from '../observability/process-cluster.js';

let dataDir = '';
const nodes: RunningNode[] = [];

describe('forwarded long polls', () => {
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-fwd-cancel-'));
    const ports = await freePorts(6);
    const addr = (i: number): string => `127.0.0.1:${ports[i]}`;
    const peers = `a=${addr(1)},b=${addr(4)}`;
    for (const [id, base] of [['a', 0], ['b', 3]] as const) {
      const config = resolveNodeConfig({ id, listen: addr(base), peerListen: addr(base + 1), http: addr(base + 2), peers, dataDir: path.join(dataDir, id) }, {});
      nodes.push(await startNode(config, createNodeLogger(id, 'silent', () => null)));
    }
    await until('a leader that the follower knows', () => nodes.some((n) => n.broker.isLeader) && nodes.every((n) => n.broker.soft.leader !== null));
  });

  afterAll(async () => {
    await Promise.allSettled(nodes.map((n) => n.close()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('end on the leader when the client of the follower leaves, and take no job for it', async () => {
    const leader = nodes.find((n) => n.broker.isLeader)!;
    const follower = nodes.find((n) => !n.broker.isLeader)!;
    const worker = new Transport({ nodes: [follower.config.listen] });
    const leasing = worker
      .call('lease', { queues: ['fwd'], max: 1, waitMs: 20_000, workerId: 'w' }, { longPollMs: 20_000 })
      .catch((error: unknown) => error);
    await until('the forwarded lease to wait on the leader', () => leader.broker.waitingLeases === 1);
    await worker.close();
    await leasing;
    await until('the leader to drop the waiter', () => leader.broker.waitingLeases === 0);

    const client = new Client({ nodes: [leader.config.listen] });
    try {
      await client.submit('fwd', 'for nobody');
      expect((await client.stats('fwd')).counts).toMatchObject({ waiting: 1, active: 0 });
    } finally {
      await client.close();
    }
  });
});
