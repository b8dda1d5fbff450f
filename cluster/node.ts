// One broker node: LevelDB, the Raft driver, the peer transport, the broker, the client server and
// the HTTP server, wired together. `startNode` returns once every listener is up.

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { LevelStorage } from '../raft/level-storage.js';
import type { ClusterConfig, Message, NodeId, RaftOptions } from '../raft/types.js';
import { parseHostPort } from '../src/protocol/address.js';
import type { NodeAddresses } from '../src/protocol/messages.js';
import { ProtocolServer } from '../src/protocol/server.js';
import { Broker } from './broker.js';
import { Forwarder } from './forwarder.js';
import { NodeHandler } from './handler.js';
import { Members } from './members.js';
import { PeerTransport } from './peer-transport.js';
import { RaftDriver } from './raft-driver.js';

export interface NodeConfig {
  id: NodeId;
  /** host:port of the client protocol listener. */
  listen: string;
  /** host:port of the peer (Raft) listener. */
  peerListen: string;
  /** host:port of the HTTP listener (REST, /metrics, /health, dashboard). */
  http: string;
  /** What peers and clients dial, when it differs from what we bind (containers bind 0.0.0.0). */
  advertise?: { client: string; peer: string; http: string };
  /** Other nodes: id → peer address (as this node dials it; may be a proxy in tests). */
  peers: Map<NodeId, string>;
  dataDir: string;
  /** Join an existing cluster (wait to be added) instead of bootstrapping with `peers` as voters. */
  join: boolean;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEveryEntries: number;
  requestTimeoutMs: number;
  payloadBytesMax: number;
  /** Added to Date.now() for every leader stamp: lets jepsen-lite run a node with a skewed clock. */
  clockOffsetMs: number;
}

export const NODE_DEFAULTS = {
  tickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEveryEntries: 20_000,
  requestTimeoutMs: 10_000,
  clockOffsetMs: 0,
} as const;

export interface HttpAttachment {
  close(): Promise<void>;
}

export interface RunningNode {
  readonly config: NodeConfig;
  readonly broker: Broker;
  readonly driver: RaftDriver;
  readonly handler: NodeHandler;
  readonly protocol: ProtocolServer;
  readonly transport: PeerTransport;
  readonly logger: Logger;
  readonly addresses: NodeAddresses;
  close(): Promise<void>;
}

export interface NodeExtensions {
  /** Starts the HTTP face once the node runs; see src/http. */
  startHttp?(node: RunningNode): Promise<HttpAttachment>;
  onPersistSeconds?(seconds: number): void;
}

function raftOptions(config: NodeConfig): Omit<RaftOptions, 'id'> {
  // Randomness for election timeouts only; the state machine never sees it.
  return {
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    random: Math.random,
    preVote: true,
    checkQuorum: true,
    maxInflightMsgs: 256,
    maxInflightBytes: 32 * 1024 * 1024,
    maxMsgBytes: 4 * 1024 * 1024,
    maxUncommittedEntries: 10_000,
    compactTrailingEntries: 5_000,
  };
}

export async function startNode(config: NodeConfig, logger: Logger, ext: NodeExtensions = {}): Promise<RunningNode> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const storage = await LevelStorage.open(path.join(config.dataDir, 'raft'));
  const persisted = await storage.load();
  const adv = config.advertise ?? { client: config.listen, peer: config.peerListen, http: config.http };
  const self: NodeAddresses = { id: config.id, peerAddr: adv.peer, clientAddr: adv.client, httpAddr: adv.http };
  const members = new Members([[config.id, { peer: adv.peer, client: adv.client, http: adv.http }]]);
  for (const [id, peer] of config.peers) members.set(id, { peer, client: '', http: '' });

  let bootstrap: ClusterConfig | null = persisted.config;
  if (!bootstrap && persisted.snapshot === null && persisted.entries.length === 0) {
    bootstrap = { voters: config.join ? [] : [config.id, ...config.peers.keys()].sort() };
    await storage.save({ config: bootstrap });
  }
  const initialConfig = persisted.snapshot?.meta.config ?? bootstrap ?? { voters: [] };

  let transport: PeerTransport;
  const broker = new Broker(config.id, members, () => Date.now() + config.clockOffsetMs, {
    onMembersChanged: (m) => syncPeers(m),
    onRoleChanged: (soft) => logger.info({ role: soft.role, term: soft.term, leader: soft.leader }, 'raft role changed'),
  });
  const send = (messages: Message[]): void => {
    const { snapshotsFailed } = transport.sendRaft(messages);
    for (const id of snapshotsFailed) driver.reportSnapshotFailure(id);
  };
  const driver = new RaftDriver(config.id, storage, send, {
    applyEntries: (entries) => broker.applyEntries(entries),
    installSnapshot: (snap) => {
      broker.installSnapshot(snap);
      logger.info({ index: snap.meta.index, bytes: snap.data.byteLength }, 'installed snapshot from leader');
    },
    snapshotData: () => broker.snapshotData(),
    onSoftState: (soft) => broker.onSoftState(soft),
    onReadStates: (states) => broker.onReadStates(states),
    onPersistSeconds: (seconds) => ext.onPersistSeconds?.(seconds),
  }, { raft: raftOptions(config), tickMs: config.tickMs, snapshotEveryEntries: config.snapshotEveryEntries }, {
    hardState: persisted.hardState,
    snapshot: persisted.snapshot,
    entries: persisted.entries,
    config: initialConfig,
  });
  broker.driver = driver;
  if (persisted.snapshot) broker.installSnapshot(persisted.snapshot);

  transport = new PeerTransport(
    { t: 'hello', from: config.id, client: adv.client, http: adv.http },
    {
      onHello: (hello) => {
        const known = members.get(hello.from);
        if (known) members.set(hello.from, { peer: known.peer, client: hello.client || known.client, http: hello.http || known.http });
      },
      onRaft: (m) => driver.step(m),
      onForward: (from, id, req) => forwarder.onRequest(from, id, req),
      onForwardResponse: (_from, id, res) => forwarder.onResponse(id, res),
      onProblem: (reason, peer) => logger.warn({ peer }, reason),
    },
  );
  const forwarder = new Forwarder(transport, (req) => handler.handleForwarded(req));
  function syncPeers(m: Members): void {
    for (const [id, addrs] of m.entries()) {
      if (id !== config.id && addrs.peer) transport.setPeer(id, config.peers.get(id) ?? addrs.peer);
    }
  }
  const handler: NodeHandler = new NodeHandler({
    id: config.id,
    broker,
    driver,
    forwarder,
    electionTimeoutMs: config.tickMs * config.electionTicks * 2,
    requestTimeoutMs: config.requestTimeoutMs,
    tickMs: config.tickMs,
    self: () => self,
    peerConnected: (id) => transport.peers().get(id)?.connected ?? false,
  });

  const peerHp = requireHostPort(config.peerListen, '--peer-listen');
  await transport.listen(`${peerHp.host}:${peerHp.port}`);
  syncPeers(members);
  const protocol = new ProtocolServer({
    handler,
    payloadBytesMax: config.payloadBytesMax,
    onConnectionError: (reason, remote) => logger.warn({ remote }, `closed client connection: ${reason}`),
  });
  const clientHp = requireHostPort(config.listen, '--listen');
  await protocol.listen(clientHp.port, clientHp.host);
  driver.start();

  let http: HttpAttachment | null = null;
  const node: RunningNode = {
    config,
    broker,
    driver,
    handler,
    protocol,
    transport,
    logger,
    addresses: self,
    async close() {
      await http?.close();
      await protocol.close();
      broker.close();
      forwarder.failAll('node is shutting down');
      await driver.stop();
      await transport.close();
      await storage.close();
    },
  };
  if (ext.startHttp) http = await ext.startHttp(node);
  logger.info({ client: config.listen, peer: config.peerListen, http: config.http, dataDir: config.dataDir, voters: initialConfig.voters }, 'node started');
  return node;
}

function requireHostPort(address: string, flag: string): { host: string; port: number } {
  const hp = parseHostPort(address);
  if (!hp) throw new Error(`${flag}: expected host:port, got "${address}"`);
  return hp;
}
