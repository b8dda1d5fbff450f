// `raftq node` settings: flags first, then RAFTQ_* environment variables (for containers), then
// defaults that make `raftq node --id n2` join the local three-node cluster on the default ports.

import os from 'node:os';
import path from 'node:path';
import { PAYLOAD_BYTES_MAX_DEFAULT } from '../src/limits.js';
import { parseHostPort } from '../src/protocol/address.js';
import { STORAGE_ENGINES, STORAGE_ENGINE_DEFAULT, type StorageEngine } from '../raft/open-storage.js';
import { NODE_DEFAULTS, type NodeConfig } from './node.js';

export const DEFAULT_NODES = [
  { id: 'n1', client: 7001, peer: 7101, http: 8001 },
  { id: 'n2', client: 7002, peer: 7102, http: 8002 },
  { id: 'n3', client: 7003, peer: 7103, http: 8003 },
] as const;

/** The environment variable behind each flag. */
export const NODE_ENV = {
  id: 'RAFTQ_ID',
  listen: 'RAFTQ_LISTEN',
  peerListen: 'RAFTQ_PEER_LISTEN',
  http: 'RAFTQ_HTTP',
  peers: 'RAFTQ_PEERS',
  dataDir: 'RAFTQ_DATA_DIR',
  join: 'RAFTQ_JOIN',
  advertiseHost: 'RAFTQ_ADVERTISE_HOST',
  tickMs: 'RAFTQ_TICK_MS',
  electionTicks: 'RAFTQ_ELECTION_TICKS',
  snapshotEvery: 'RAFTQ_SNAPSHOT_EVERY',
  snapshotEveryBytes: 'RAFTQ_SNAPSHOT_EVERY_BYTES',
  leaderSnapshotPauseMaxMs: 'RAFTQ_LEADER_SNAPSHOT_PAUSE_MAX_MS',
  payloadMaxBytes: 'RAFTQ_PAYLOAD_MAX_BYTES',
  clockOffsetMs: 'RAFTQ_CLOCK_OFFSET_MS',
  logLevel: 'RAFTQ_LOG_LEVEL',
  storage: 'RAFTQ_STORAGE',
} as const;

export interface NodeFlags {
  id?: string;
  listen?: string;
  peerListen?: string;
  http?: string;
  peers?: string;
  dataDir?: string;
  join?: boolean;
  advertiseHost?: string;
  tickMs?: string;
  electionTicks?: string;
  snapshotEvery?: string;
  snapshotEveryBytes?: string;
  leaderSnapshotPauseMaxMs?: string;
  payloadMaxBytes?: string;
  clockOffsetMs?: string;
  storage?: string;
}

export class ConfigError extends Error {}

export function parsePeers(text: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--peers: expected id=host:port, got "${part}"`);
    const id = part.slice(0, eq);
    const addr = part.slice(eq + 1);
    if (!parseHostPort(addr)) throw new ConfigError(`--peers: bad address "${addr}" for ${id}`);
    peers.set(id, addr);
  }
  return peers;
}

function intSetting(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name}: expected an integer >= ${min}, got "${text}"`);
  return n;
}

/** Replaces an unspecified host (0.0.0.0, ::) by the host others should dial. */
function advertised(address: string, advertiseHost: string): string {
  const hp = parseHostPort(address);
  if (!hp) return address;
  if (hp.host === '0.0.0.0' || hp.host === '::') return `${advertiseHost}:${hp.port}`;
  return address;
}

export function resolveNodeConfig(flags: NodeFlags, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const pick = (flag: string | undefined, key: keyof typeof NODE_ENV): string | undefined => flag ?? env[NODE_ENV[key]];
  const id = pick(flags.id, 'id') ?? 'n1';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new ConfigError(`--id: 1..64 characters of [A-Za-z0-9._-], got "${id}"`);
  const known = DEFAULT_NODES.find((n) => n.id === id);
  const listen = pick(flags.listen, 'listen') ?? `127.0.0.1:${known?.client ?? 7001}`;
  const peerListen = pick(flags.peerListen, 'peerListen') ?? `127.0.0.1:${known?.peer ?? 7101}`;
  const http = pick(flags.http, 'http') ?? `127.0.0.1:${known?.http ?? 8001}`;
  for (const [flag, addr] of [['--listen', listen], ['--peer-listen', peerListen], ['--http', http]] as const) {
    if (!parseHostPort(addr)) throw new ConfigError(`${flag}: expected host:port, got "${addr}"`);
  }
  const peersText = pick(flags.peers, 'peers');
  const peers = peersText !== undefined
    ? parsePeers(peersText)
    : new Map(known ? DEFAULT_NODES.filter((n) => n.id !== id).map((n) => [n.id, `127.0.0.1:${n.peer}`] as [string, string]) : []);
  peers.delete(id);
  const joinText = env[NODE_ENV.join];
  const join = flags.join ?? (joinText === '1' || joinText === 'true');
  const advertiseHost = pick(flags.advertiseHost, 'advertiseHost') ?? os.hostname();
  const storage = pick(flags.storage, 'storage') ?? STORAGE_ENGINE_DEFAULT;
  if (!STORAGE_ENGINES.includes(storage as StorageEngine)) throw new ConfigError(`--storage: expected ${STORAGE_ENGINES.join(' or ')}, got "${storage}"`);
  const node: NodeConfig = {
    id,
    listen,
    peerListen,
    http,
    advertise: { client: advertised(listen, advertiseHost), peer: advertised(peerListen, advertiseHost), http: advertised(http, advertiseHost) },
    peers,
    dataDir: path.resolve(pick(flags.dataDir, 'dataDir') ?? path.join('data', id)),
    join,
    storageEngine: storage as StorageEngine,
    tickMs: intSetting('--tick-ms', pick(flags.tickMs, 'tickMs'), NODE_DEFAULTS.tickMs, 1),
    electionTicks: intSetting('--election-ticks', pick(flags.electionTicks, 'electionTicks'), NODE_DEFAULTS.electionTicks, 3),
    heartbeatTicks: NODE_DEFAULTS.heartbeatTicks,
    snapshotEveryEntries: intSetting('--snapshot-every', pick(flags.snapshotEvery, 'snapshotEvery'), NODE_DEFAULTS.snapshotEveryEntries, 100),
    snapshotEveryBytes: intSetting('--snapshot-every-bytes', pick(flags.snapshotEveryBytes, 'snapshotEveryBytes'), NODE_DEFAULTS.snapshotEveryBytes, 1024 * 1024),
    leaderSnapshotPauseMaxMs: intSetting(
      '--leader-snapshot-pause-max-ms',
      pick(flags.leaderSnapshotPauseMaxMs, 'leaderSnapshotPauseMaxMs'),
      NODE_DEFAULTS.leaderSnapshotPauseMaxMs,
      0,
    ),
    requestTimeoutMs: NODE_DEFAULTS.requestTimeoutMs,
    payloadBytesMax: intSetting('--payload-max-bytes', pick(flags.payloadMaxBytes, 'payloadMaxBytes'), PAYLOAD_BYTES_MAX_DEFAULT, 1),
    clockOffsetMs: intSetting('--clock-offset-ms', pick(flags.clockOffsetMs, 'clockOffsetMs'), NODE_DEFAULTS.clockOffsetMs, -1e12),
  };
  return node;
}
