// One broker node: LevelDB, the Raft driver, the peer transport, the broker, the client server and
// the HTTP server, wired together. `startNode` returns once every listener is up.

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { StorageCorruptError } from '../raft/memory-storage.js';
import { openLogStorage, type StorageEngine } from '../raft/open-storage.js';
import { RELEASED_SNAPSHOT_DATA, type ClusterConfig, type Message, type NodeId, type RaftOptions } from '../raft/types.js';
import { parseHostPort } from '../src/protocol/address.js';
import type { NodeAddresses } from '../src/protocol/messages.js';
import { ProtocolServer, type InternalFailure, type RequestOutcome } from '../src/protocol/server.js';
import type { EntryBatch, Outcome } from '../src/jobs/types.js';
import type { SoftState } from '../raft/types.js';
import { Broker } from './broker.js';
import { Forwarder } from './forwarder.js';
import { NodeHandler } from './handler.js';
import { Members } from './members.js';
import { readNodeSnapshot } from './node-snapshot.js';
import { PeerTransport } from './peer-transport.js';
import { RaftDriver, SNAPSHOT_PIECE_BYTES } from './raft-driver.js';

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
  /** The Raft log's engine for a new data directory; an existing one keeps its own (raft/open-storage.ts). */
  storageEngine: StorageEngine;
  /** Join an existing cluster (wait to be added) instead of bootstrapping with `peers` as voters. */
  join: boolean;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEveryEntries: number;
  /** Also snapshot once the entries applied since the last snapshot hold this many bytes (see RaftDriver). */
  snapshotEveryBytes: number;
  /** A leader hands leadership over before a snapshot that would pause its applies longer (0: never; see RaftDriver). */
  leaderSnapshotPauseMaxMs: number;
  requestTimeoutMs: number;
  payloadBytesMax: number;
  /** Added to Date.now() for every leader stamp: lets jepsen-lite run a node with a skewed clock. */
  clockOffsetMs: number;
}

/** Encoding a snapshot, per job, measured on the 2-vCPU test machines (2.5–3.4 s per million jobs). */
const SNAPSHOT_ENCODE_MS_PER_JOB = 0.003;

export const NODE_DEFAULTS = {
  tickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEveryEntries: 20_000,
  /** Bounds the Raft log on disk (and replay at restart) however large the entries (a 1,000-job batch is ~130 KB). */
  snapshotEveryBytes: 64 * 1024 * 1024,
  /** The newest applied entries whose data stays in memory; older ones are read from disk when a peer needs them. */
  entryBytesKeptInMemory: 2 * 1024 * 1024,
  /** ~30,000 jobs: what a client may wait once per snapshot interval; above it the leader hands over first. */
  leaderSnapshotPauseMaxMs: 100,
  /** Long enough for followers to finish a snapshot of millions of jobs; then the leader takes its own. */
  snapshotHandoffWaitMs: 30_000,
  /** A snapshot's encoding holds the event loop at most this long at a time (Raft's messages wait that long). */
  snapshotTurnMs: 10,
  requestTimeoutMs: 10_000,
  clockOffsetMs: 0,
} as const;

export interface SnapshotEvent {
  kind: 'taken' | 'installed';
  index: number;
  bytes: number;
}

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

/** Everything the node tells the outside (metrics, logs of domain events). All optional. */
export interface NodeExtensions {
  /** Starts the HTTP face once the node runs; see src/http. */
  startHttp?(node: RunningNode): Promise<HttpAttachment>;
  /** One fsync'd Raft write: its duration and how many entries it carried. */
  onPersistSeconds?(seconds: number, entries: number): void;
  /** One entry applied to the job state machine (every node, leader or not). */
  onApplied?(batch: EntryBatch, outcomes: Outcome[], node: RunningNode): void;
  onRoleChanged?(soft: SoftState, node: RunningNode): void;
  onMembersChanged?(members: Members, node: RunningNode): void;
  /** Every answered client request on the TCP protocol (an INTERNAL one with what was thrown). */
  onRequest?(op: string, outcome: RequestOutcome, durationMs: number, internal?: InternalFailure): void;
  /** A request this follower forwarded to the leader. */
  onForwarded?(op: string): void;
  onSnapshot?(event: SnapshotEvent, node: RunningNode): void;
  /** As leader, this node asked `to` to take over before taking a snapshot (RaftDriver.handingOff). */
  onSnapshotHandoff?(to: NodeId, node: RunningNode): void;
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
    // Entries kept in memory below a snapshot, for followers slightly behind: never more than a
    // snapshot interval, so a follower further behind gets InstallSnapshot.
    compactTrailingEntries: Math.min(5_000, Math.floor(config.snapshotEveryEntries / 2)),
    // ... and at most an eighth of a snapshot interval's bytes, so large batched entries do not
    // keep the log in memory after the snapshot meant to drop it.
    compactTrailingBytes: Math.floor(config.snapshotEveryBytes / 8),
  };
}

export async function startNode(config: NodeConfig, logger: Logger, ext: NodeExtensions = {}): Promise<RunningNode> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const storage = await openLogStorage(path.join(config.dataDir, 'raft'), config.storageEngine);
  const persisted = await storage.load({ snapshotData: false });
  // The stored snapshot is decoded as it is read, never whole (readNodeSnapshot); a storage that
  // has no file to read it from gave its data with the rest.
  let restored: { image: Awaited<ReturnType<typeof readNodeSnapshot>>; bytes: number } | null = null;
  if (persisted.snapshot !== null && persisted.snapshot.data === RELEASED_SNAPSHOT_DATA) {
    const source = 'openSnapshotSource' in storage ? await storage.openSnapshotSource() : null;
    if (source === null) throw new Error('invariant: a storage that keeps snapshot data on disk can read it back');
    restored = { bytes: source.bytes, image: await readNodeSnapshot(source, SNAPSHOT_PIECE_BYTES) };
  }
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

  // Assigned once the listeners are set up; a snapshot restored before that only updates the book.
  let transport: PeerTransport | null = null;
  let node: RunningNode | null = null;
  let lastLeader: NodeId | null = null;
  let forwarder: Forwarder | null = null;
  const broker = new Broker(config.id, members, () => Date.now() + config.clockOffsetMs, {
    onApplied: (batch, outcomes) => {
      if (node) ext.onApplied?.(batch, outcomes, node);
    },
    onMembersChanged: (m) => {
      syncPeers(m);
      if (node) ext.onMembersChanged?.(m, node);
    },
    onRoleChanged: (soft) => {
      if (lastLeader !== null && soft.leader !== lastLeader) forwarder?.failTo(lastLeader, `${lastLeader} is no longer the leader`);
      lastLeader = soft.leader;
      logger.info({ role: soft.role, term: soft.term, leader: soft.leader }, soft.role === 'leader' ? 'became leader' : soft.leader ? `following ${soft.leader}` : 'leader lost');
      if (node) ext.onRoleChanged?.(soft, node);
    },
  });
  const send = (messages: Message[]): void => {
    if (!transport) return;
    const { snapshotsFailed } = transport.sendRaft(messages);
    for (const id of snapshotsFailed) driver.reportSnapshotFailure(id);
  };
  // A follower far behind may install the leader's snapshot before this function has returned its
  // node: those events wait for it, or the metrics would never count them.
  const earlySnapshots: SnapshotEvent[] = [];
  const snapshotEvent = (event: SnapshotEvent): void => {
    if (node) ext.onSnapshot?.(event, node);
    else earlySnapshots.push(event);
  };
  const driver = new RaftDriver(config.id, storage, send, {
    applyEntries: (entries) => broker.applyEntries(entries),
    installSnapshot: (snap) => {
      broker.installSnapshot(snap);
      logger.info({ index: snap.meta.index, bytes: snap.data.byteLength }, 'installed snapshot from leader');
      snapshotEvent({ kind: 'installed', index: snap.meta.index, bytes: snap.data.byteLength });
    },
    installSnapshotFrom: async (meta, source) => {
      const bytes = source.bytes;
      broker.installDecoded(meta, await readNodeSnapshot(source, SNAPSHOT_PIECE_BYTES));
      logger.info({ index: meta.index, bytes }, 'installed snapshot from leader');
      snapshotEvent({ kind: 'installed', index: meta.index, bytes });
    },
    onSnapshotTaken: (snap, bytes, asLeader) => {
      logger.info({ index: snap.meta.index, bytes, asLeader }, 'took snapshot and compacted the log');
      snapshotEvent({ kind: 'taken', index: snap.meta.index, bytes });
    },
    onSnapshotDamaged: (error) => logger.error({ err: error.message }, 'the stored snapshot is damaged: taking a new one to replace it'),
    onSnapshotHandoff: (to) => {
      logger.info({ to, jobs: broker.sm.jobCount }, 'handing leadership over before taking a snapshot');
      if (node) ext.onSnapshotHandoff?.(to, node);
    },
    snapshotData: () => broker.snapshotData(),
    snapshotDataSteps: (pieceBytes) => broker.snapshotDataSteps(pieceBytes),
    // A snapshot encodes every job (SNAPSHOT_ENCODE_MS_PER_JOB): once that costs more than
    // ~300 ms (100k jobs), take one at most every jobCount/4 entries so the cost per entry stays bounded.
    snapshotSpacingEntries: () => (broker.sm.jobCount >= 100_000 ? Math.floor(broker.sm.jobCount / 4) : 0),
    snapshotPauseEstimateMs: () => broker.sm.jobCount * SNAPSHOT_ENCODE_MS_PER_JOB,
    onSoftState: (soft) => broker.onSoftState(soft),
    onReadStates: (states) => broker.onReadStates(states),
    onPersistSeconds: (seconds, entries) => ext.onPersistSeconds?.(seconds, entries),
  }, { raft: raftOptions(config), tickMs: config.tickMs, snapshotEveryEntries: config.snapshotEveryEntries, snapshotEveryBytes: config.snapshotEveryBytes, entryBytesKeptInMemory: NODE_DEFAULTS.entryBytesKeptInMemory,
    leaderSnapshotPauseMaxMs: config.leaderSnapshotPauseMaxMs,
    snapshotHandoffWaitMs: NODE_DEFAULTS.snapshotHandoffWaitMs,
    snapshotTurnMs: NODE_DEFAULTS.snapshotTurnMs,
  }, {
    hardState: persisted.hardState,
    snapshot: persisted.snapshot,
    entries: persisted.entries,
    config: initialConfig,
    ...(restored === null ? {} : { snapshotBytes: restored.bytes }),
  });
  broker.driver = driver;
  if (persisted.snapshot !== null) {
    if (restored !== null) broker.installDecoded(persisted.snapshot.meta, restored.image);
    else broker.installSnapshot(persisted.snapshot);
  }

  const peers = new PeerTransport(
    { t: 'hello', from: config.id, client: adv.client, http: adv.http },
    {
      onHello: (hello) => {
        const known = members.get(hello.from);
        if (known) members.set(hello.from, { peer: known.peer, client: hello.client || known.client, http: hello.http || known.http });
      },
      onRaft: (m) => driver.step(m),
      // A snapshot from the leader goes to its file as it arrives (the WAL engine; LevelDB's gets one buffer).
      ...('openSnapshotFile' in storage ? { openSnapshotFile: () => storage.openSnapshotFile() } : {}),
      onSnapshotFailed: (peer, cause) => {
        driver.reportSnapshotFailure(peer);
        if (cause instanceof StorageCorruptError) driver.reportSnapshotDamaged(cause);
      },
      onSnapshotProgress: (peer) => driver.reportSnapshotProgress(peer),
      onForward: (from, id, req) => forwarder?.onRequest(from, id, req),
      onForwardResponse: (_from, id, res) => forwarder?.onResponse(id, res),
      onForwardCancel: (from, id) => forwarder?.onCancel(from, id),
      onLinkDown: (peer) => forwarder?.failTo(peer, `lost the connection to ${peer}`),
      // A request held for a leader this node can reach (handler.ts onLeader) may go now.
      onLinkUp: () => broker.recheckLeaderWaiters(),
      onProblem: (reason, peer) => logger.warn({ peer }, reason),
    },
  );
  transport = peers;
  forwarder = new Forwarder(peers, (req, gone) => handler.handleForwarded(req, gone), (op) => ext.onForwarded?.(op));
  function syncPeers(m: Members): void {
    if (!transport) return;
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
    peerConnected: (id) => peers.isConnected(id),
  });

  const peerHp = requireHostPort(config.peerListen, '--peer-listen');
  await peers.listen(`${peerHp.host}:${peerHp.port}`);
  syncPeers(members);
  const protocol = new ProtocolServer({
    handler,
    payloadBytesMax: config.payloadBytesMax,
    onConnectionError: (reason, remote) => logger.warn({ remote }, `closed client connection: ${reason}`),
    onRequest: (op, outcome, durationMs, internal) => ext.onRequest?.(op, outcome, durationMs, internal),
  });
  const clientHp = requireHostPort(config.listen, '--listen');
  await protocol.listen(clientHp.port, clientHp.host);
  driver.start();

  let http: HttpAttachment | null = null;
  node = {
    config,
    broker,
    driver,
    handler,
    protocol,
    transport: peers,
    logger,
    addresses: self,
    async close() {
      await http?.close();
      await protocol.close();
      broker.close();
      forwarder.failAll('node is shutting down');
      await driver.stop();
      await peers.close();
      await storage.close();
    },
  };
  for (const event of earlySnapshots.splice(0)) ext.onSnapshot?.(event, node);
  if (ext.startHttp) http = await ext.startHttp(node);
  ext.onRoleChanged?.(broker.soft, node);
  logger.info({ client: config.listen, peer: config.peerListen, http: config.http, dataDir: config.dataDir, voters: initialConfig.voters }, 'node started');
  return node;
}


function requireHostPort(address: string, flag: string): { host: string; port: number } {
  const hp = parseHostPort(address);
  if (!hp) throw new Error(`${flag}: expected host:port, got "${address}"`);
  return hp;
}
