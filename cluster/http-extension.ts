// The HTTP face of a node: the REST API from src/http, plus what needs to look inside the node:
// health and readiness (Raft status, storage) and the per-node cluster view the dashboard shows.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { mergeClusterViews } from '../src/http/dashboard/cluster-view.js';
import { HttpApi, jsonResponse, type ExtraRoute, type HttpResponse } from '../src/http/server.js';
import { parseHostPort } from '../src/protocol/address.js';
import type { ClusterStatus } from '../src/protocol/messages.js';
import type { InternalFailure } from '../src/protocol/server.js';
import type { NodeExtensions, RunningNode } from './node.js';

/** How long GET /v1/cluster/nodes waits for each peer's own status. */
export const CLUSTER_VIEW_PEER_TIMEOUT_MS = 1000;
/** Peers asked at most by one GET /v1/cluster/nodes (clusters are small; this bounds the fan-out). */
export const CLUSTER_VIEW_PEERS_MAX = 16;

/** /ready fails while this node's applied index trails its commit index by more than this. */
export const READY_APPLY_LAG_ENTRIES_MAX = 1000;

export interface HealthReport {
  ok: boolean;
  node: string;
  reasons: string[];
  [key: string]: unknown;
}

/** Alive and able to write to its data directory. */
export async function health(node: RunningNode): Promise<HealthReport> {
  const reasons: string[] = [];
  const probe = path.join(node.config.dataDir, '.health-probe');
  try {
    await fs.writeFile(probe, String(Date.now()));
  } catch (error) {
    reasons.push(`data directory not writable: ${(error as Error).message}`);
  }
  return { ok: reasons.length === 0, node: node.config.id, reasons, uptimeSeconds: Math.round(process.uptime()) };
}

/** A leader is known and this node has applied (nearly) everything committed. */
export function readiness(node: RunningNode): HealthReport {
  const st = node.driver.status();
  const reasons: string[] = [];
  if (st.leader === null) reasons.push('no leader known');
  const lag = st.commit - st.applied;
  if (lag > READY_APPLY_LAG_ENTRIES_MAX) reasons.push(`applied index trails commit by ${lag} entries (> ${READY_APPLY_LAG_ENTRIES_MAX})`);
  if (!st.config.voters.includes(node.config.id)) reasons.push('not a voter (waiting to be added, or removed)');
  return { ok: reasons.length === 0, node: node.config.id, reasons, role: st.role, leader: st.leader, term: st.term, commitIndex: st.commit, appliedIndex: st.applied };
}

function report(r: HealthReport): HttpResponse {
  return jsonResponse(r.ok ? 200 : 503, r);
}

export function healthRoutes(node: RunningNode): ExtraRoute {
  return async (method, url) => {
    if (method !== 'GET') return null;
    if (url.pathname === '/health') return report(await health(node));
    if (url.pathname === '/ready') return report(readiness(node));
    return null;
  };
}

async function peerStatus(httpAddr: string): Promise<ClusterStatus | null> {
  try {
    const res = await fetch(`http://${httpAddr}/v1/cluster`, { signal: AbortSignal.timeout(CLUSTER_VIEW_PEER_TIMEOUT_MS) });
    if (!res.ok) return null;
    const body = (await res.json()) as ClusterStatus;
    return Array.isArray(body.nodes) && typeof body.nodeId === 'string' ? body : null;
  } catch {
    return null; // Down, partitioned or slow: the row says "unreachable".
  }
}

/**
 * GET /v1/cluster/nodes: every member's own view of itself (role, term, commit and applied index),
 * fetched by this node from each peer's HTTP port, merged with the leader's lag and last contact.
 */
export function clusterViewRoute(node: RunningNode): ExtraRoute {
  return async (method, url) => {
    if (method !== 'GET' || url.pathname !== '/v1/cluster/nodes') return null;
    const self = node.handler.clusterStatus();
    const peers = self.nodes.filter((n) => n.id !== self.nodeId && n.httpAddr !== '').slice(0, CLUSTER_VIEW_PEERS_MAX);
    const answers = await Promise.all(peers.map(async (n) => [n.id, await peerStatus(n.httpAddr)] as const));
    return jsonResponse(200, mergeClusterViews(self, new Map(answers)));
  };
}

export interface HttpExtensionOptions {
  /** Every answered HTTP request (route name or path, status; a 500 with what was thrown). */
  onRequest?(route: string, status: number, durationMs: number, internal?: InternalFailure): void;
}

export function httpExtension(logger: Logger, more: (node: RunningNode) => ExtraRoute[] = () => [], options: HttpExtensionOptions = {}): NodeExtensions {
  return {
    async startHttp(node) {
      const api = new HttpApi({
        nodeId: node.config.id,
        execute: (req) => node.handler.handle(req),
        payloadBytesMax: node.config.payloadBytesMax,
        extraRoutes: [healthRoutes(node), clusterViewRoute(node), ...more(node)],
        onRequest: options.onRequest,
      });
      const hp = parseHostPort(node.config.http);
      if (!hp) throw new Error(`--http: expected host:port, got "${node.config.http}"`);
      await api.listen(hp.port, hp.host);
      logger.debug({ http: node.config.http }, 'http listening');
      return api;
    },
  };
}
