// The pure parts of observability: what applied entries turn into (waits, runs, expiries, dead
// letters), bounded queue labels, quantiles, the dashboard's history and cluster view.

import { describe, expect, it } from 'vitest';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Command, CommandResults, LeasedJob, Outcome, QueueStats } from '../../src/jobs/types.js';
import { mergeClusterViews } from '../../src/http/dashboard/cluster-view.js';
import type { ClusterStatus, NodeStatus } from '../../src/protocol/messages.js';
import { AppliedObserver, type AppliedSink, type DeadLetter, type LeaseExpiry } from '../../src/metrics/applied-observer.js';
import { BrokerMetrics, type MetricsSource } from '../../src/metrics/broker-metrics.js';
import { BucketCounter, JOB_SECONDS_BUCKETS } from '../../src/metrics/buckets.js';
import { HISTORY_ALL, StatsHistory } from '../../src/metrics/history.js';
import { QUEUE_LABEL_OTHER, QueueLabeler } from '../../src/metrics/queue-labels.js';
import { parseExposition, value } from './prom-text.js';

const T0 = 1_700_000_000_000;

/** A state machine fed one command per entry, with an observer watching every entry. */
class Driven {
  readonly sm = new JobStateMachine();
  readonly events = { enqueued: [] as [string, number, number][], waited: [] as [string, number][], ran: [] as [string, number][], expired: [] as LeaseExpiry[], dead: [] as DeadLetter[], untracked: 0 };
  readonly observer: AppliedObserver;
  nowMs = T0;
  private index = 0;

  constructor() {
    const e = this.events;
    const sink: AppliedSink = {
      enqueued: (q, p, n) => e.enqueued.push([q, p, n]),
      waited: (q, s) => e.waited.push([q, s]),
      ran: (q, s) => e.ran.push([q, s]),
      leaseExpired: (x) => e.expired.push(x),
      leasesExpiredUntracked: (n) => (e.untracked += n),
      deadLettered: (d) => e.dead.push(d),
    };
    this.observer = new AppliedObserver(sink);
  }

  apply<K extends Command['op']>(cmd: Extract<Command, { op: K }>): CommandResults[K] {
    this.index += 1;
    const batch = { nowMs: this.nowMs, envelopes: [{ clientId: '', seq: 0, cmd }] };
    const outcomes: Outcome[] = this.sm.applyBatch(this.index, batch);
    this.observer.applied(batch, outcomes, this.sm);
    const o = outcomes[0]!;
    if (!o.ok) throw new Error(`${cmd.op}: ${o.error.code} ${o.error.message}`);
    return o.value as CommandResults[K];
  }

  lease(queue: string, leaseMs: number, workerId = 'w1'): LeasedJob {
    const { jobs } = this.apply<'lease'>({ op: 'lease', workerId, queues: [queue], max: 1, leaseMs });
    expect(jobs).toHaveLength(1);
    return jobs[0]!;
  }
}

describe('AppliedObserver', () => {
  it('times waits and runs from the entry stamps and counts enqueues by priority', () => {
    const d = new Driven();
    d.apply({ op: 'enqueue', jobs: [{ queue: 'q', priority: 8 }, { queue: 'q' }, { queue: 'q', id: 'fixed' }] });
    d.apply({ op: 'enqueue', jobs: [{ queue: 'q', id: 'fixed' }] }); // duplicate: not counted again
    expect(d.events.enqueued).toEqual([['q', 8, 1], ['q', 5, 2]]);
    d.nowMs += 500;
    const job = d.lease('q', 10_000);
    expect(d.events.waited).toEqual([['q', 0.5]]);
    d.nowMs += 250;
    d.apply({ op: 'ack', jobId: job.id, token: job.token });
    expect(d.events.ran).toEqual([['q', 0.25]]);
    expect(d.observer.workers.activeCount(d.nowMs)).toBe(1);
  });

  it('counts the jobs schedules enqueue, by their queue and priority', () => {
    const d = new Driven();
    d.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 'hourly', everyMs: 3_600_000, job: { priority: 7 } });
    d.apply({ op: 'scheduleSet', queue: 'pings', scheduleId: 'often', everyMs: 1000, job: {} });
    d.nowMs += 3_600_000;
    expect(d.apply({ op: 'tick' }).fired).toHaveLength(2);
    expect(d.events.enqueued).toEqual([['pings', 5, 1], ['reports', 7, 1]]);
  });

  it('names the jobs whose leases a tick expired, after heartbeats, and times the redelivery wait from the expiry', () => {
    const d = new Driven();
    d.apply({ op: 'enqueue', jobs: [{ queue: 'q', maxAttempts: 2 }] });
    const first = d.lease('q', 1000);
    d.nowMs += 800;
    d.apply({ op: 'heartbeat', jobId: first.id, token: first.token, leaseMs: 1000 }); // now expires at +1800
    d.nowMs += 400; // past the first expiry, not the renewed one
    expect(d.apply({ op: 'tick' }).expired).toBe(0);
    expect(d.events.expired).toEqual([]);
    d.nowMs += 700;
    expect(d.apply({ op: 'tick' }).expired).toBe(1);
    expect(d.events.expired).toEqual([{ jobId: first.id, queue: 'q', workerId: 'w1', attempt: 1, next: 'redelivered' }]);
    d.nowMs += 300;
    const second = d.lease('q', 1000, 'w2');
    expect(d.events.waited.at(-1)).toEqual(['q', 0.3]);
    d.nowMs += 1000;
    d.apply({ op: 'tick' });
    expect(d.events.expired.at(-1)).toMatchObject({ jobId: second.id, workerId: 'w2', attempt: 2, next: 'dead' });
    expect(d.events.dead).toEqual([{ jobId: second.id, queue: 'q', attempts: 2, cause: 'lease-expired', error: 'lease expired' }]);
    expect(d.events.untracked).toBe(0);
  });

  it('logs a non-retryable failure as a dead letter, and counts expiries it cannot name', () => {
    const d = new Driven();
    d.apply({ op: 'enqueue', jobs: [{ queue: 'q', id: 'a' }, { queue: 'q', id: 'b' }] });
    const a = d.lease('q', 1000);
    d.apply({ op: 'fail', jobId: a.id, token: a.token, error: 'bad input', retryable: false });
    expect(d.events.dead).toEqual([{ jobId: 'a', queue: 'q', attempts: 1, cause: 'failed', error: 'bad input' }]);
    d.lease('q', 1000);
    d.observer.reset(); // as after a snapshot install: the lease on b is no longer known
    d.nowMs += 1000;
    d.apply({ op: 'tick' });
    expect(d.events.expired).toEqual([]);
    expect(d.events.untracked).toBe(1);
  });
});

describe('queue labels', () => {
  it('gives the first queues their own label and every later one "_other"', () => {
    const labels = new QueueLabeler(2);
    expect([labels.label('a'), labels.label('b'), labels.label('c'), labels.label('a')]).toEqual(['a', 'b', QUEUE_LABEL_OTHER, 'a']);
    expect(new QueueLabeler(5).label('_other')).toBe(QUEUE_LABEL_OTHER);
  });

  it('sums queues beyond the bound into queue="_other" in every queue metric', async () => {
    const stats = (queue: string, waiting: number, completed: number): QueueStats => ({
      queue, paused: false,
      counts: { waiting, delayed: 0, active: 0, completed, failed: 0, dead: 0, cancelled: 0 },
      totals: { enqueued: waiting + completed, completed, failed: 0, retried: 0, dead: 0, expired: 0 },
    });
    const source: MetricsSource = {
      queues: () => [stats('a', 1, 10), stats('b', 2, 20), stats('c', 3, 30)],
      raft: () => ({ term: 4, role: 'leader', commitIndex: 9, appliedIndex: 9, followers: [{ peer: 'n2', lagEntries: 3, lastContactSeconds: 0.05 }] }),
      workersConnected: () => 2,
      clientConnections: () => 5,
      stateBytes: () => ({ held: 123_456, max: 2 ** 31 }),
      sessionResultBytes: () => 4_321,
    };
    const metrics = new BrokerMetrics(new QueueLabeler(1));
    metrics.bind(source, 'n1');
    metrics.enqueuedJob('a', 9);
    metrics.enqueuedJob('z', 42); // an impossible priority never becomes a label value
    const exp = parseExposition((await metrics.expose()).body);
    expect(value(exp, 'raftq_queue_depth', { queue: 'a', state: 'waiting' })).toBe(1);
    expect(value(exp, 'raftq_queue_depth', { queue: '_other', state: 'waiting' })).toBe(5);
    expect(value(exp, 'raftq_jobs_completed_total', { queue: '_other' })).toBe(50);
    expect(value(exp, 'raftq_jobs_enqueued_total', { queue: 'a', priority: '9' })).toBe(1);
    expect(value(exp, 'raftq_jobs_enqueued_total', { queue: '_other', priority: '0' })).toBe(1);
    expect(value(exp, 'raftq_raft_follower_lag_entries', { peer: 'n2' })).toBe(3);
    expect(value(exp, 'raftq_raft_role', { role: 'leader' })).toBe(1);
    expect(value(exp, 'raftq_state_bytes', {})).toBe(123_456);
    expect(value(exp, 'raftq_state_bytes_max', {})).toBe(2 ** 31);
    expect(value(exp, 'raftq_session_result_bytes', {})).toBe(4_321);
    expect(new Set(exp.samples.filter((s) => s.labels.queue !== undefined).map((s) => s.labels.queue))).toEqual(new Set(['a', '_other']));
  });

  it('counts a leader change once per (term, leader), the first election included', async () => {
    const metrics = new BrokerMetrics();
    for (const [term, leader] of [[1, null], [1, 'n1'], [1, 'n1'], [2, null], [3, 'n2'], [3, 'n2'], [4, 'n2']] as const) metrics.leaderSeen(term, leader);
    expect(value(parseExposition((await metrics.expose()).body), 'raftq_raft_leader_changes_total')).toBe(3);
  });
});

describe('BucketCounter', () => {
  it('estimates quantiles inside the right bucket and never above the largest value', () => {
    const c = new BucketCounter(JOB_SECONDS_BUCKETS);
    expect(c.quantile(0.5)).toBeNull();
    for (let i = 1; i <= 100; i++) c.observe(i / 100); // 0.01 .. 1 s
    const p50 = c.quantile(0.5)!;
    const p95 = c.quantile(0.95)!;
    expect(p50).toBeGreaterThan(0.25);
    expect(p50).toBeLessThanOrEqual(0.5);
    expect(p95).toBeGreaterThan(0.5);
    expect(p95).toBeLessThanOrEqual(1);
    const one = new BucketCounter(JOB_SECONDS_BUCKETS);
    one.observe(7200); // beyond the last bound: interpolated up to the largest value seen
    expect(one.quantile(0.99)).toBeGreaterThan(3600);
    expect(one.quantile(1)).toBe(7200);
  });
});

describe('StatsHistory', () => {
  const q = (name: string, waiting: number, enqueued: number, completed: number): QueueStats => ({
    queue: name, paused: false,
    counts: { waiting, delayed: 0, active: 0, completed, failed: 0, dead: 0, cancelled: 0 },
    totals: { enqueued, completed, failed: 0, retried: 0, dead: 0, expired: 0 },
  });

  it('derives per-second rates from replicated totals and keeps only the window', () => {
    const h = new StatsHistory({ intervalMs: 1000, windowMs: 3000 });
    h.sample([q('a', 5, 5, 0)], T0);
    h.waited('a', 0.2);
    h.ran('a', 0.1);
    h.sample([q('a', 3, 9, 2)], T0 + 2000);
    const a = h.read('a');
    expect(a.samples.map((s) => s.enqueuedPerSecond)).toEqual([null, 2]);
    expect(a.samples[1]).toMatchObject({ completedPerSecond: 1, depth: { waiting: 3 }, waitMs: { count: 1 }, runMs: { count: 1 } });
    expect(h.read(HISTORY_ALL).samples[1]!.enqueuedPerSecond).toBe(2);
    for (let i = 2; i <= 5; i++) h.sample([q('a', 3, 9, 2)], T0 + i * 1000);
    expect(h.read('a').samples.map((s) => s.atMs)).toEqual([T0 + 3000, T0 + 4000, T0 + 5000]);
    expect(h.read('a', T0 + 4000).samples).toHaveLength(1);
    expect(h.read('nope').samples).toEqual([]);
  });
});

describe('mergeClusterViews', () => {
  const row = (id: string, role: NodeStatus['role'], extra: Partial<NodeStatus> = {}): NodeStatus => ({
    id, peerAddr: `${id}:1`, clientAddr: `${id}:2`, httpAddr: `${id}:3`, role, term: 5, commitIndex: 10, appliedIndex: 10, lagEntries: null, lastContactMs: null, reachable: true, ...extra,
  });

  it('takes each node\'s own role and indexes, the leader\'s lag, and marks the silent node', () => {
    const self: ClusterStatus = { nodeId: 'n2', leader: 'n1', term: 5, nodes: [row('n1', 'unknown'), row('n2', 'follower', { appliedIndex: 9 }), row('n3', 'unknown')] };
    const n1: ClusterStatus = { nodeId: 'n1', leader: 'n1', term: 5, nodes: [row('n1', 'leader', { lagEntries: 0 }), row('n2', 'follower', { lagEntries: 1, lastContactMs: 50 }), row('n3', 'follower', { lagEntries: 7, lastContactMs: 900 })] };
    const view = mergeClusterViews(self, new Map([['n1', n1], ['n3', null]]));
    expect(view).toMatchObject({ servedBy: 'n2', leader: 'n1', term: 5 });
    expect(view.nodes.map((n) => [n.id, n.role, n.appliedIndex, n.lagEntries, n.lastContactMs, n.reachable])).toEqual([
      ['n1', 'leader', 10, 0, null, true],
      ['n2', 'follower', 9, 1, 50, true],
      ['n3', 'unreachable', null, 7, 900, false],
    ]);
  });
});

describe('Grafana provisioning', () => {
  it('builds its dashboard only on metrics a node exposes, through the provisioned datasource', async () => {
    const { readFileSync } = await import('node:fs');
    const root = new URL('../../deploy/grafana/', import.meta.url);
    const dashboard = JSON.parse(readFileSync(new URL('dashboards/raftq.json', root), 'utf8')) as { panels: { targets?: { expr: string; datasource: { uid: string } }[] }[] };
    const datasource = readFileSync(new URL('provisioning/datasources/prometheus.yml', root), 'utf8');
    expect(datasource).toContain('url: http://prometheus:9090');
    expect(readFileSync(new URL('provisioning/dashboards/raftq.yml', root), 'utf8')).toContain('path: /var/lib/grafana/dashboards');
    const exposed = new Set((await new BrokerMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const targets = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(targets.length).toBeGreaterThan(20);
    for (const t of targets) {
      expect(datasource).toContain(`uid: ${t.datasource.uid}`);
      for (const [name] of t.expr.matchAll(/\b(raftq|process|nodejs)_[a-z0-9_]+/g)) {
        const family = name.replace(/_(bucket|count|sum)$/, '');
        expect(exposed.has(family), `${name} in ${t.expr}`).toBe(true);
      }
    }
  });
});
