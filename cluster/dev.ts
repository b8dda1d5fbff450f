// `raftq dev` (and `npm start`): a local cluster of N real node processes on the default ports,
// their logs made readable on one terminal, stopped together on Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from '../src/client/client.js';
import { NODE_V8_FLAGS } from '../src/node-flags.js';
import { prettyLogLine } from './logger.js';

export interface DevOptions {
  nodes: number;
  dataDir: string;
  host: string;
  logLevel: string;
  basePort: number;
}

export interface DevNode {
  id: string;
  client: string;
  peer: string;
  http: string;
}

/** n1..nN on basePort+i (client), basePort+100+i (peer), basePort+1000+i (HTTP): 7001/7101/8001 by default. */
export function devNodes(count: number, host: string, basePort: number): DevNode[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    return { id: `n${i}`, client: `${host}:${basePort + i}`, peer: `${host}:${basePort + 100 + i}`, http: `${host}:${basePort + 1000 + i}` };
  });
}

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

export async function runDev(opts: DevOptions): Promise<void> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 9) throw new Error('--nodes: 1..9');
  const nodes = devNodes(opts.nodes, opts.host, opts.basePort);
  const color = process.stdout.isTTY === true;
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  for (const n of nodes) {
    const peers = nodes.filter((p) => p.id !== n.id).map((p) => `${p.id}=${p.peer}`).join(',');
    const args = [MAIN, 'node', '--id', n.id, '--listen', n.client, '--peer-listen', n.peer, '--http', n.http, '--data-dir', path.join(opts.dataDir, n.id), '--log-level', opts.logLevel];
    if (peers) args.push('--peers', peers);
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.set(n.id, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => console.log(prettyLogLine(line, color)));
    }
    child.on('exit', (code, signal) => {
      children.delete(n.id);
      if (!stopping) console.log(`${n.id} exited (${signal ?? `code ${code}`}); the others keep running. Restart it with:\n  node ${NODE_V8_FLAGS.join(' ')} ${path.relative(process.cwd(), MAIN)} ${args.slice(1).join(' ')}`);
      if (stopping && children.size === 0) process.exit(0);
    });
  }
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the cluster...');
    for (const child of children.values()) child.kill('SIGTERM');
    if (children.size === 0) process.exit(0);
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
      process.exit(0);
    }, 5000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const leader = await waitForLeader(nodes.map((n) => n.client), 30_000);
  const list = nodes.map((n) => n.client).join(',');
  console.log(`
raftq: ${nodes.length}-node cluster up, leader ${leader ?? '(none yet)'}; data in ${opts.dataDir}
${nodes.map((n) => `  ${n.id}  client ${n.client}  peer ${n.peer}  http http://${n.http}/`).join('\n')}

Try, in another terminal (RAFTQ_NODES defaults to these nodes):
  npx raftq submit emails '{"to":"ada@example.com"}'
  npx raftq worker emails -- cat
  npx raftq queues
  npx raftq cluster status
  curl -s -XPOST http://${nodes[0]!.http}/v1/queues/emails/jobs -d '{"payload":{"to":"bob@example.com"}}'
  open http://${nodes[0]!.http}/   (dashboard)
Ctrl-C stops all nodes.${list !== '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003' ? `\n(export RAFTQ_NODES=${list})` : ''}
`);
}

async function waitForLeader(addresses: string[], timeoutMs: number): Promise<string | null> {
  const client = new Client({ nodes: addresses, requestTimeoutMs: 2000 });
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      try {
        const status = await client.clusterStatus();
        if (status.leader) return status.leader;
      } catch {
        // nodes still starting
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return null;
  } finally {
    await client.close();
  }
}
