// A one-node cluster in this process, on free loopback ports, with its data in a temp directory:
// for tests that look at one node's behaviour without the cost of processes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { createNodeLogger } from '../../cluster/logger.js';
import { startNode, type NodeExtensions, type RunningNode } from '../../cluster/node.js';
import { resolveNodeConfig } from '../../cluster/node-config.js';
import { freePorts, until } from '../observability/process-cluster.js';

export interface SoloNode {
  node: RunningNode;
  /** Closes the node and removes its data. */
  stop(): Promise<void>;
}

/** Starts the node and waits until it leads; `extensions` may use its (silent) logger. */
export async function startSoloNode(tempPrefix: string, extensions: (logger: Logger) => NodeExtensions = () => ({})): Promise<SoloNode> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), tempPrefix));
  const [clientPort, peerPort, httpPort] = await freePorts(3);
  const config = resolveNodeConfig(
    { id: 'solo', listen: `127.0.0.1:${clientPort}`, peerListen: `127.0.0.1:${peerPort}`, http: `127.0.0.1:${httpPort}`, peers: '', dataDir: path.join(dataDir, 'solo') },
    {},
  );
  const logger = createNodeLogger('solo', 'silent', () => null);
  const node = await startNode(config, logger, extensions(logger));
  await until('the node to lead', () => node.broker.isLeader);
  return {
    node,
    stop: async () => {
      await node.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
