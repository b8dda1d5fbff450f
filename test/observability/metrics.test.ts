// /metrics on a real 3-node cluster: every documented metric is exposed with its type, queue
// figures agree across nodes (they come from replicated state and applied entries), and killing
// the leader moves raftq_raft_leader_changes_total on a survivor.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { Transport } from '../../src/client/transport.js';
import { Worker } from '../../src/client/worker.js';
import { ProcessCluster, until, type NodeProcess } from './process-cluster.js';
import { parseExposition, select, value, type Exposition } from './prom-text.js';

/** Every metric the README documents, with its Prometheus type. */
const DOCUMENTED: readonly [string, string][] = [
  ['raftq_jobs_enqueued_total', 'counter'],
  ['raftq_jobs_completed_total', 'counter'],
  ['raftq_jobs_failed_total', 'counter'],
  ['raftq_jobs_retried_total', 'counter'],
  ['raftq_jobs_dead_total', 'counter'],
  ['raftq_leases_expired_total', 'counter'],
  ['raftq_job_wait_seconds', 'histogram'],
  ['raftq_job_run_seconds', 'histogram'],
  ['raftq_queue_depth', 'gauge'],
  ['raftq_queue_paused', 'gauge'],
  ['raftq_workers_connected', 'gauge'],
  ['raftq_client_connections', 'gauge'],
  ['raftq_raft_term', 'gauge'],
  ['raftq_raft_role', 'gauge'],
  ['raftq_raft_commit_index', 'gauge'],
  ['raftq_raft_applied_index', 'gauge'],
  ['raftq_raft_leader_changes_total', 'counter'],
  ['raftq_raft_append_seconds', 'histogram'],
  ['raftq_raft_appended_entries_total', 'counter'],
  ['raftq_raft_follower_lag_entries', 'gauge'],
  ['raftq_raft_follower_last_contact_seconds', 'gauge'],
  ['raftq_requests_total', 'counter'],
  ['raftq_request_seconds', 'histogram'],
  ['raftq_forwarded_requests_total', 'counter'],
  ['raftq_http_requests_total', 'counter'],
  ['raftq_snapshots_total', 'counter'],
  ['raftq_snapshot_bytes', 'gauge'],
  ['raftq_state_bytes', 'gauge'],
  ['raftq_state_bytes_max', 'gauge'],
  ['raftq_session_result_bytes', 'gauge'],
  // Node's default process metrics (collectDefaultMetrics), a few of them.
  ['process_cpu_user_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
];

const MAIL_JOBS = 20;
/** Jobs of "mail" whose handler fails non-retryably. */
const MAIL_DEAD = new Set([3, 11]);
const VIDEO_JOBS = 10;
const VIDEO_EXPIRED = 3;
const LATER_JOBS = 5;

let cluster: ProcessCluster | null = null;
let client: Client | null = null;
let transport: Transport | null = null;
let worker: Worker | null = null;
let leader = '';

async function scrape(node: NodeProcess): Promise<Exposition> {
  const res = await node.getText('/metrics');
  expect(res.status).toBe(200);
  expect(res.contentType).toContain('text/plain');
  return parseExposition(res.body);
}

/** The series of one metric as "labels → value" without the node label, for comparing nodes. */
function series(exp: Exposition, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of select(exp, name)) {
    const { node: _node, ...labels } = s.labels;
    out[JSON.stringify(labels)] = s.value;
  }
  return out;
}

describe('metrics on a real cluster', () => {
  beforeAll(async () => {
    cluster = await ProcessCluster.start(3);
    leader = await cluster.waitForLeader();
    client = new Client({ nodes: cluster.clientAddrs });
    transport = new Transport({ nodes: cluster.clientAddrs });
  });

  afterAll(async () => {
    await worker?.close({ graceMs: 500 }).catch(() => {});
    await client?.close().catch(() => {});
    await transport?.close().catch(() => {});
    await cluster?.stop();
  });

  it('exposes every documented metric, and queue figures agree across nodes', async () => {
    const c = cluster!;
    const priorities = Array.from({ length: MAIL_JOBS }, (_, i) => (i % 4 === 0 ? 8 : i % 4 === 1 ? 2 : 5));
    await client!.submitMany('mail', priorities.map((priority, i) => ({ payload: { i }, priority })));
    await client!.submitMany('video', Array.from({ length: VIDEO_JOBS }, (_, i) => ({ payload: { i } })));
    await client!.submitMany('later', Array.from({ length: LATER_JOBS }, (_, i) => ({ payload: { i }, delayMs: 3_600_000 })));

    worker = new Worker({
      nodes: c.clientAddrs,
      queues: ['mail'],
      concurrency: 4,
      pollWaitMs: 500,
      handleSignals: false,
      handler: async (job) => {
        const i = (job.payload as { i: number }).i;
        if (MAIL_DEAD.has(i)) throw Object.assign(new Error(`mail ${i}: mailbox does not exist`), { retryable: false });
        return { sent: i };
      },
    });
    worker.on('error', () => {});
    worker.start();

    // Leases that nobody acks: they expire (LEASE_MS_MIN) and the jobs wait again.
    const leased = await transport!.call('lease', { queues: ['video'], max: VIDEO_EXPIRED, workerId: 'metrics-test', leaseMs: 100 });
    expect(leased.jobs).toHaveLength(VIDEO_EXPIRED);

    // A request to a follower's HTTP API is forwarded to the leader.
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const res = await fetch(follower.url('/v1/queues/mail/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload: { i: 99 }, delayMs: 3_600_000 }) });
    expect(res.status).toBe(201);

    await until('mail to finish and video leases to expire', async () => {
      const [mail, video] = await Promise.all([client!.stats('mail'), client!.stats('video')]);
      return mail.counts.completed === MAIL_JOBS - MAIL_DEAD.size && mail.counts.dead === MAIL_DEAD.size && video.totals.expired === VIDEO_EXPIRED && video.counts.active === 0;
    }, 20_000);

    const expected: Record<string, number> = {
      [JSON.stringify({ queue: 'mail', state: 'completed' })]: MAIL_JOBS - MAIL_DEAD.size,
      [JSON.stringify({ queue: 'mail', state: 'dead' })]: MAIL_DEAD.size,
      [JSON.stringify({ queue: 'mail', state: 'delayed' })]: 1,
      [JSON.stringify({ queue: 'video', state: 'waiting' })]: VIDEO_JOBS,
      [JSON.stringify({ queue: 'later', state: 'delayed' })]: LATER_JOBS,
    };
    // Followers apply a moment after the leader: poll until all three report the same figures.
    const scrapes = await c.explained(until('every node to report the same queue figures', async () => {
      const all = await Promise.all(c.nodes.map(scrape));
      const depths = all.map((e) => series(e, 'raftq_queue_depth'));
      for (const [key, v] of Object.entries(expected)) if (depths.some((d) => d[key] !== v)) return null;
      const agree = (name: string): boolean => all.every((e) => JSON.stringify(series(e, name)) === JSON.stringify(series(all[0]!, name)));
      const names = ['raftq_queue_depth', 'raftq_jobs_completed_total', 'raftq_jobs_dead_total', 'raftq_leases_expired_total', 'raftq_jobs_enqueued_total', 'raftq_job_wait_seconds_count', 'raftq_job_run_seconds_count', 'raftq_workers_connected'];
      return names.every(agree) ? all : null;
    }, 15_000));

    for (const [i, exp] of scrapes.entries()) {
      const node = c.nodes[i]!;
      for (const [name, type] of DOCUMENTED) expect(exp.types.get(name), `${name} on ${node.id}`).toBe(type);
      expect(value(exp, 'raftq_jobs_completed_total', { queue: 'mail' })).toBe(MAIL_JOBS - MAIL_DEAD.size);
      expect(value(exp, 'raftq_jobs_dead_total', { queue: 'mail' })).toBe(MAIL_DEAD.size);
      expect(value(exp, 'raftq_jobs_failed_total', { queue: 'mail' })).toBe(MAIL_DEAD.size);
      expect(value(exp, 'raftq_leases_expired_total', { queue: 'video' })).toBe(VIDEO_EXPIRED);
      expect(value(exp, 'raftq_jobs_enqueued_total', { queue: 'mail', priority: '8' })).toBe(priorities.filter((p) => p === 8).length);
      expect(value(exp, 'raftq_jobs_enqueued_total', { queue: 'mail', priority: '5' })).toBe(priorities.filter((p) => p === 5).length + 1);
      expect(value(exp, 'raftq_job_wait_seconds_count', { queue: 'mail' })).toBe(MAIL_JOBS);
      expect(value(exp, 'raftq_job_run_seconds_count', { queue: 'mail' })).toBe(MAIL_JOBS - MAIL_DEAD.size);
      expect(value(exp, 'raftq_job_wait_seconds_count', { queue: 'video' })).toBe(VIDEO_EXPIRED);
      expect(value(exp, 'raftq_workers_connected')).toBeGreaterThanOrEqual(2);
      expect(value(exp, 'raftq_raft_role', { role: node.id === leader ? 'leader' : 'follower' })).toBe(1);
      expect(value(exp, 'raftq_raft_leader_changes_total')).toBeGreaterThanOrEqual(1);
      expect(value(exp, 'raftq_raft_append_seconds_count')).toBeGreaterThan(0);
      expect(select(exp, 'raftq_raft_term')[0]?.labels.node).toBe(node.id);
      // Lag is the leader's knowledge: one series per follower there, none elsewhere.
      expect(select(exp, 'raftq_raft_follower_lag_entries').map((s) => s.labels.peer).sort()).toEqual(node.id === leader ? c.nodes.filter((n) => n.id !== leader).map((n) => n.id).sort() : []);
    }
    const total = (name: string, match: Record<string, string> = {}): number => scrapes.reduce((a, e) => a + (value(e, name, match) ?? 0), 0);
    expect(total('raftq_requests_total', { code: 'OK' })).toBeGreaterThan(0);
    expect(value(scrapes[c.nodes.indexOf(follower)]!, 'raftq_forwarded_requests_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts a leader change on a survivor when the leader is killed', async () => {
    const c = cluster!;
    const survivor = c.nodes.find((n) => n.id !== leader)!;
    const before = await scrape(survivor);
    const changesBefore = value(before, 'raftq_raft_leader_changes_total') ?? 0;
    const termBefore = value(before, 'raftq_raft_term') ?? 0;
    expect(changesBefore).toBeGreaterThanOrEqual(1);

    c.node(leader).kill('SIGKILL');
    const after = await c.explained(until('a new leader counted on a survivor', async () => {
      const exp = await scrape(survivor);
      return (value(exp, 'raftq_raft_leader_changes_total') ?? 0) > changesBefore ? exp : null;
    }, 15_000));
    expect(value(after, 'raftq_raft_term')).toBeGreaterThan(termBefore);
    const newLeader = await c.waitForLeader();
    expect(newLeader).not.toBe(leader);
    const leaderScrape = await scrape(c.node(newLeader));
    expect(value(leaderScrape, 'raftq_raft_role', { role: 'leader' })).toBe(1);
  });
});
