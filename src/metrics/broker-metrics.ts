// Every raftq metric, in one per-node Registry (never prom-client's global one: tests run several
// nodes in one process). Queue figures are read from replicated state at scrape time, so every
// node reports the same depth and totals; wait/run histograms and enqueue counts come from applied
// entries, which every node applies. The README's "Metrics" table documents each one.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOB_STATES, PRIORITY_MAX, PRIORITY_MIN, type QueueStats } from '../jobs/types.js';
import { APPEND_SECONDS_BUCKETS, JOB_SECONDS_BUCKETS, REQUEST_SECONDS_BUCKETS } from './buckets.js';
import { LabeledHistogram } from './labeled-histogram.js';
import { QueueLabeler } from './queue-labels.js';
import { SESSIONS_RESULT_BYTES_MAX, STATE_BYTES_PER_JOB } from '../limits.js';

/** Raft roles exported as one-hot series of raftq_raft_role{role}. */
export const RAFT_ROLES = ['follower', 'precandidate', 'candidate', 'leader', 'learner'] as const;

export interface FollowerGauge {
  peer: string;
  lagEntries: number;
  lastContactSeconds: number;
}

/** This node's Raft view, at scrape time. */
export interface RaftGauges {
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  /** Leader only: one row per follower; empty elsewhere. */
  followers: FollowerGauge[];
}

/** What the node lends the metrics at scrape time. */
export interface MetricsSource {
  queues(): readonly QueueStats[];
  raft(): RaftGauges;
  workersConnected(): number;
  clientConnections(): number;
  /** The job state held and its limit, as STATE_BYTES_MAX counts them (replicated). */
  stateBytes(): { held: number; max: number };
  /** Bytes of results the client sessions keep (replicated). */
  sessionResultBytes(): number;
}

type TotalsKey = keyof QueueStats['totals'];

/** Counters that mirror the replicated per-queue totals. */
const TOTAL_COUNTERS: readonly { name: string; key: TotalsKey; help: string }[] = [
  { name: 'raftq_jobs_completed_total', key: 'completed', help: 'Jobs acked (completed), from replicated queue totals.' },
  { name: 'raftq_jobs_failed_total', key: 'failed', help: 'Failed attempts reported by workers (retryable or not), from replicated queue totals.' },
  { name: 'raftq_jobs_retried_total', key: 'retried', help: 'Jobs scheduled for another attempt after a failure, plus dead jobs retried from the DLQ.' },
  { name: 'raftq_jobs_dead_total', key: 'dead', help: 'Jobs moved to the dead-letter queue (out of attempts, or failed non-retryably).' },
  { name: 'raftq_leases_expired_total', key: 'expired', help: 'Leases that expired without ack or fail (the job was handed out again or died).' },
];

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly queueLabels: QueueLabeler;
  private source: MetricsSource | null = null;
  /** The queue stats of the scrape in progress: read once, used by every queue metric. */
  private scrapeQueues: readonly QueueStats[] | null = null;
  private readonly enqueued: Counter<'queue' | 'priority'>;
  private readonly waitSeconds: LabeledHistogram;
  private readonly runSeconds: LabeledHistogram;
  private readonly appendSeconds: Histogram;
  private readonly appendedEntries: Counter;
  private readonly leaderChanges: Counter;
  private readonly requests: Counter<'op' | 'code'>;
  private readonly requestSeconds: LabeledHistogram;
  private readonly forwarded: Counter;
  private readonly httpRequests: Counter<'route' | 'code'>;
  private readonly snapshots: Counter<'kind'>;
  private readonly snapshotBytes: Gauge;
  private readonly snapshotHandoffs: Counter;
  /** Terms in which this node already saw a leader: a change is a (term, leader) pair not seen before. */
  private lastLeaderTerm = -1;
  private lastLeader: string | null = null;

  constructor(queueLabels: QueueLabeler = new QueueLabeler()) {
    this.queueLabels = queueLabels;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.enqueued = new Counter({ name: 'raftq_jobs_enqueued_total', help: 'Jobs enqueued (duplicates excluded), counted from entries applied on this node since it started.', labelNames: ['queue', 'priority'], registers });
    this.waitSeconds = new LabeledHistogram('raftq_job_wait_seconds', 'Enqueue (or becoming due) to lease, from applied entries.', 'queue', JOB_SECONDS_BUCKETS, registers);
    this.runSeconds = new LabeledHistogram('raftq_job_run_seconds', 'Lease to ack, from applied entries.', 'queue', JOB_SECONDS_BUCKETS, registers);
    this.appendSeconds = new Histogram({ name: 'raftq_raft_append_seconds', help: 'One fsync\'d Raft log write (entries and/or hard state).', buckets: [...APPEND_SECONDS_BUCKETS], registers });
    this.appendedEntries = new Counter({ name: 'raftq_raft_appended_entries_total', help: 'Log entries written to disk by fsync\'d appends.', registers });
    this.leaderChanges = new Counter({ name: 'raftq_raft_leader_changes_total', help: 'Times this node learned of a new leader (a leader for a term it had not seen one in); the first election counts.', registers });
    this.requests = new Counter({ name: 'raftq_requests_total', help: 'Client requests answered on the TCP protocol, by op and outcome code (OK or an error code).', labelNames: ['op', 'code'], registers });
    this.requestSeconds = new LabeledHistogram('raftq_request_seconds', 'Client request duration on the TCP protocol, long polls included.', 'op', REQUEST_SECONDS_BUCKETS, registers);
    this.forwarded = new Counter({ name: 'raftq_forwarded_requests_total', help: 'Requests this node forwarded to the leader.', registers });
    this.httpRequests = new Counter({ name: 'raftq_http_requests_total', help: 'HTTP requests answered, by route and status code.', labelNames: ['route', 'code'], registers });
    this.snapshots = new Counter({ name: 'raftq_snapshots_total', help: 'State machine snapshots taken here or installed from the leader.', labelNames: ['kind'], registers });
    this.snapshotBytes = new Gauge({ name: 'raftq_snapshot_bytes', help: 'Size of the latest snapshot taken here or installed from the leader, in bytes (0: none since the node started).', registers });
    this.snapshotHandoffs = new Counter({
      name: 'raftq_snapshot_handoffs_total',
      help: 'Times this node, leading, handed leadership to a follower before taking a snapshot that would have paused its answers (--leader-snapshot-pause-max-ms).',
      registers,
    });
    this.defineScrapeTimeMetrics(registers);
  }

  /** Binds the node the scrape-time metrics read; until then they report nothing. */
  bind(source: MetricsSource, nodeId: string): void {
    this.source = source;
    this.registry.setDefaultLabels({ node: nodeId });
  }

  // ---- Observations ----

  enqueuedJob(queue: string, priority: number, count = 1): void {
    const p = Number.isInteger(priority) && priority >= PRIORITY_MIN && priority <= PRIORITY_MAX ? String(priority) : String(PRIORITY_MIN);
    this.enqueued.inc({ queue: this.queueLabels.label(queue), priority: p }, count);
  }

  jobWaited(queue: string, seconds: number): void {
    this.waitSeconds.observe(this.queueLabels.label(queue), seconds);
  }

  jobRan(queue: string, seconds: number): void {
    this.runSeconds.observe(this.queueLabels.label(queue), seconds);
  }

  appended(seconds: number, entries: number): void {
    this.appendSeconds.observe(seconds);
    if (entries > 0) this.appendedEntries.inc(entries);
  }

  leaderSeen(term: number, leader: string | null): void {
    if (leader === null) return;
    if (term === this.lastLeaderTerm && leader === this.lastLeader) return;
    if (term < this.lastLeaderTerm) return;
    this.lastLeaderTerm = term;
    this.lastLeader = leader;
    this.leaderChanges.inc();
  }

  request(op: string, code: string, seconds: number): void {
    this.requests.inc({ op, code });
    this.requestSeconds.observe(op, seconds);
  }

  forwardedRequest(): void {
    this.forwarded.inc();
  }

  httpRequest(route: string, status: number): void {
    this.httpRequests.inc({ route, code: String(status) });
  }

  snapshot(kind: 'taken' | 'installed', bytes: number): void {
    this.snapshots.inc({ kind });
    this.snapshotBytes.set(bytes);
  }

  snapshotHandoff(): void {
    this.snapshotHandoffs.inc();
  }

  /** The text exposition format, and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    this.scrapeQueues = this.source?.queues() ?? null;
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.scrapeQueues = null;
    }
  }

  // ---- Scrape-time metrics ----

  private defineScrapeTimeMetrics(registers: Registry[]): void {
    const metrics = this;
    for (const spec of TOTAL_COUNTERS) {
      new Counter({
        name: spec.name, help: spec.help, labelNames: ['queue'], registers,
        collect() {
          // Totals are replicated state: set the counter to them rather than counting here.
          this.reset();
          for (const [queue, totals] of metrics.totalsByLabel()) this.inc({ queue }, totals[spec.key]);
        },
      });
    }
    new Gauge({
      name: 'raftq_queue_depth', help: 'Jobs a queue holds in each state (replicated; completed, cancelled and dead are bounded by retention).', labelNames: ['queue', 'state'], registers,
      collect() {
        this.reset();
        for (const [queue, g] of metrics.countsByLabel()) for (const state of JOB_STATES) this.set({ queue, state }, g[state]);
      },
    });
    new Gauge({
      name: 'raftq_queue_paused', help: '1 while a queue is paused (an "_other" series is 1 if any of its queues is).', labelNames: ['queue'], registers,
      collect() {
        this.reset();
        const paused = new Map<string, number>();
        for (const q of metrics.queues()) {
          const label = metrics.queueLabels.label(q.queue);
          paused.set(label, Math.max(paused.get(label) ?? 0, q.paused ? 1 : 0));
        }
        for (const [queue, v] of paused) this.set({ queue }, v);
      },
    });
    this.defineNodeGauges(registers);
  }

  private defineNodeGauges(registers: Registry[]): void {
    const metrics = this;
    const raftGauge = (name: string, help: string, read: (r: RaftGauges) => number): void => {
      new Gauge({
        name, help, registers,
        collect() {
          const src = metrics.source;
          if (src) this.set(read(src.raft()));
        },
      });
    };
    raftGauge('raftq_raft_term', 'Current Raft term of this node.', (r) => r.term);
    raftGauge('raftq_raft_commit_index', 'Highest log index this node knows to be committed.', (r) => r.commitIndex);
    raftGauge('raftq_raft_applied_index', 'Highest log index applied to this node\'s job state machine.', (r) => r.appliedIndex);
    new Gauge({
      name: 'raftq_raft_role', help: '1 for this node\'s current Raft role, 0 for the others (one series per role).', labelNames: ['role'], registers,
      collect() {
        const role = metrics.source?.raft().role;
        if (role === undefined) return;
        for (const r of RAFT_ROLES) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
    const followerGauge = (name: string, help: string, read: (f: FollowerGauge) => number): void => {
      new Gauge({
        name, help, labelNames: ['peer'], registers,
        collect() {
          this.reset();
          for (const f of metrics.source?.raft().followers ?? []) this.set({ peer: f.peer }, read(f));
        },
      });
    };
    followerGauge('raftq_raft_follower_lag_entries', 'Leader only: entries the follower\'s log trails the leader\'s last index by.', (f) => f.lagEntries);
    followerGauge('raftq_raft_follower_last_contact_seconds', 'Leader only: since the leader last heard from the follower.', (f) => f.lastContactSeconds);
    new Gauge({
      name: 'raftq_workers_connected', help: 'Distinct workers that leased, heartbeated, acked or failed in the last 60 s (from the replicated log).', registers,
      collect() {
        const src = metrics.source;
        if (src) this.set(src.workersConnected());
      },
    });
    new Gauge({
      name: 'raftq_client_connections', help: 'Open client TCP connections to this node (producers and workers).', registers,
      collect() {
        const src = metrics.source;
        if (src) this.set(src.clientConnections());
      },
    });
    new Gauge({
      name: 'raftq_state_bytes', help: `Job state the cluster holds, as its limit counts it: ${STATE_BYTES_PER_JOB} B per job plus payloads, ack results and error messages (replicated).`, registers,
      collect() {
        const src = metrics.source;
        if (src) this.set(src.stateBytes().held);
      },
    });
    new Gauge({
      name: 'raftq_state_bytes_max', help: 'The job state past which enqueues are refused with OVERLOADED (STATE_BYTES_MAX).', registers,
      collect() {
        const src = metrics.source;
        if (src) this.set(src.stateBytes().max);
      },
    });
    new Gauge({
      name: 'raftq_session_result_bytes', help: `Answers the client sessions keep for retries, payloads of leases included (replicated; at most ${SESSIONS_RESULT_BYTES_MAX} B, SESSIONS_RESULT_BYTES_MAX).`, registers,
      collect() {
        const src = metrics.source;
        if (src) this.set(src.sessionResultBytes());
      },
    });
  }

  private queues(): readonly QueueStats[] {
    return this.scrapeQueues ?? this.source?.queues() ?? [];
  }

  /** Per label value: the summed totals of the queues that share it. */
  private totalsByLabel(): Map<string, QueueStats['totals']> {
    const out = new Map<string, QueueStats['totals']>();
    for (const q of this.queues()) {
      const label = this.queueLabels.label(q.queue);
      const t = out.get(label);
      if (t === undefined) out.set(label, { ...q.totals });
      else for (const k of Object.keys(t) as TotalsKey[]) t[k] += q.totals[k];
    }
    return out;
  }

  private countsByLabel(): Map<string, QueueStats['counts']> {
    const out = new Map<string, QueueStats['counts']>();
    for (const q of this.queues()) {
      const label = this.queueLabels.label(q.queue);
      const c = out.get(label);
      if (c === undefined) out.set(label, { ...q.counts });
      else for (const s of JOB_STATES) c[s] += q.counts[s];
    }
    return out;
  }
}
