// Health, readiness and the observability routes of nodes started in this process: two independent
// nodes side by side also prove that each keeps its own metrics registry.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeLogger } from '../../cluster/logger.js';
import { startNode, type RunningNode } from '../../cluster/node.js';
import { resolveNodeConfig } from '../../cluster/node-config.js';
import { observabilityExtension } from '../../cluster/observability.js';
import { freePorts, until } from './process-cluster.js';

const started: RunningNode[] = [];
let dataDir = '';

async function start(id: string, peers: string): Promise<RunningNode> {
  const [client, peer, http] = await freePorts(3);
  const config = resolveNodeConfig(
    { id, listen: `127.0.0.1:${client}`, peerListen: `127.0.0.1:${peer}`, http: `127.0.0.1:${http}`, peers, dataDir: path.join(dataDir, id) },
    {},
  );
  const logger = createNodeLogger(id, 'silent', () => null);
  const node = await startNode(config, logger, observabilityExtension(logger));
  started.push(node);
  return node;
}

async function get(node: RunningNode, pathname: string): Promise<{ status: number; contentType: string; headers: Headers; text: string }> {
  const res = await fetch(`http://${node.config.http}${pathname}`, { signal: AbortSignal.timeout(2_000) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', headers: res.headers, text: await res.text() };
}

interface Report {
  ok: boolean;
  node: string;
  reasons: string[];
  leader?: string | null;
}

let alone: RunningNode;
let stuck: RunningNode;

describe('health, readiness and observability routes', () => {
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-health-'));
    const [ghostPort] = await freePorts(1);
    // A one-node cluster elects itself; a node whose only peer never answers can elect nobody.
    alone = await start('solo', '');
    stuck = await start('stuck', `ghost=127.0.0.1:${ghostPort}`);
  });

  afterAll(async () => {
    await Promise.allSettled(started.map((n) => n.close()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers /health and /ready with JSON bodies that give reasons', async () => {
    const ready = await until('the single node to be ready', async () => {
      const r = await get(alone, '/ready');
      return r.status === 200 ? r : null;
    });
    expect(ready.contentType).toContain('application/json');
    expect(JSON.parse(ready.text)).toMatchObject({ ok: true, node: 'solo', reasons: [], leader: 'solo', role: 'leader' });

    const notReady = await get(stuck, '/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.contentType).toContain('application/json');
    const body = JSON.parse(notReady.text) as Report;
    expect(body).toMatchObject({ ok: false, node: 'stuck', leader: null });
    expect(body.reasons).toContain('no leader known');

    const health = await get(stuck, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ ok: true, node: 'stuck', reasons: [] });
  });

  it('reports an unwritable data directory in /health', async () => {
    // A directory where the probe file goes makes the write fail even for root.
    const probe = path.join(stuck.config.dataDir, '.health-probe');
    fs.rmSync(probe, { force: true });
    fs.mkdirSync(probe);
    try {
      const health = await get(stuck, '/health');
      expect(health.status).toBe(503);
      const body = JSON.parse(health.text) as Report;
      expect(body.ok).toBe(false);
      expect(body.reasons[0]).toMatch(/^data directory not writable: /);
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  });

  it('keeps one metrics registry per node, labelled with its node id', async () => {
    const [a, b] = await Promise.all([get(alone, '/metrics'), get(stuck, '/metrics')]);
    expect(a.status).toBe(200);
    expect(a.text).toContain('raftq_raft_term{node="solo"}');
    expect(a.text).not.toContain('node="stuck"');
    expect(b.text).toContain('raftq_raft_term{node="stuck"}');
    expect(b.text).toContain('raftq_raft_role{role="leader",node="stuck"} 0');
    expect(a.text).toContain('raftq_raft_role{role="leader",node="solo"} 1');
  });

  it('serves the dashboard, its script and style same-origin with a strict CSP', async () => {
    const page = await get(alone, '/');
    expect(page.status).toBe(200);
    expect(page.contentType).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.text).toContain('<script src="/dashboard/app.js">');
    // Offline: nothing is loaded from another origin.
    expect(page.text).not.toMatch(/(src|href)=["']https?:/);
    const script = await get(alone, '/dashboard/app.js');
    expect(script.contentType).toContain('javascript');
    // Compiles: a syntax error in the page's script would otherwise only show in a browser.
    expect(() => new Function(script.text)).not.toThrow();
    const style = await get(alone, '/dashboard/style.css');
    expect(style.contentType).toContain('text/css');
  });

  it('serves the per-node cluster view and the stats history', async () => {
    const view = JSON.parse((await get(alone, '/v1/cluster/nodes')).text) as { servedBy: string; leader: string; nodes: { id: string; role: string; reachable: boolean }[] };
    expect(view).toMatchObject({ servedBy: 'solo', leader: 'solo' });
    expect(view.nodes).toEqual([expect.objectContaining({ id: 'solo', role: 'leader', reachable: true })]);

    const history = await get(alone, '/v1/stats/history?queue=_all');
    expect(history.status).toBe(200);
    expect(JSON.parse(history.text)).toMatchObject({ queue: '_all', intervalMs: 2000, windowMs: 600_000 });
    const unknown = await get(alone, '/v1/stats/history?queue=nope');
    expect(unknown.status).toBe(200);
    expect(JSON.parse(unknown.text)).toMatchObject({ queue: 'nope', samples: [] });
    expect((await get(alone, '/v1/stats/history?sinceMs=abc')).status).toBe(400);
  });
});
