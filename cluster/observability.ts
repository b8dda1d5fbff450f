// What a node tells operators: Prometheus metrics (/metrics), the dashboard (/) with its history
// (/v1/stats/history), and info logs of domain events (lease expiries, dead letters, membership).
// It plugs into the node through NodeExtensions only, and keeps all its state per node, so several
// nodes can run in one process (tests).
//
// Domain events are logged at info on the leader only and at debug on followers: every node applies
// the same entries, and three identical info lines per event would triple the noise. A leader
// change in the middle of an event can drop or repeat a line; the metrics never do.

import type { Logger } from 'pino';
import { dashboardRoute } from '../src/http/dashboard/routes.js';
import { AppliedObserver, type DeadLetter, type LeaseExpiry } from '../src/metrics/applied-observer.js';
import { BrokerMetrics, type MetricsSource, type RaftGauges } from '../src/metrics/broker-metrics.js';
import { StatsHistory } from '../src/metrics/history.js';
import { historyRoute, metricsRoute } from '../src/metrics/routes.js';
import { httpExtension } from './http-extension.js';
import type { Members } from './members.js';
import type { NodeExtensions, RunningNode } from './node.js';

/** Longest lastError text copied into a dead-letter log line. */
const LOGGED_ERROR_CHARS_MAX = 500;

function raftGauges(node: RunningNode): RaftGauges {
  const st = node.driver.status();
  const self = node.config.id;
  const followers = st.role !== 'leader'
    ? []
    : Object.entries(st.progress)
        .filter(([peer]) => peer !== self)
        .map(([peer, pr]) => ({ peer, lagEntries: Math.max(0, st.lastIndex - pr.match), lastContactSeconds: (pr.lastContactTicks * node.config.tickMs) / 1000 }));
  const role = st.config.voters.includes(self) ? st.role : 'learner';
  // The job state's index (see NodeHandler.clusterStatus), not the core's.
  return { term: st.term, role, commitIndex: st.commit, appliedIndex: node.broker.applied, followers };
}

function metricsSource(node: RunningNode, observer: AppliedObserver): MetricsSource {
  return {
    queues: () => node.broker.sm.listQueues(),
    raft: () => raftGauges(node),
    workersConnected: () => observer.workers.activeCount(Date.now()),
    clientConnections: () => node.protocol.connectionCount,
    stateBytes: () => node.broker.sm.stateBytes,
    sessionResultBytes: () => node.broker.sm.sessionResultBytes,
  };
}

/** Logs each event once on the leader (info); followers keep it at debug. */
class EventLog {
  private node: RunningNode | null = null;
  private lastMembers = '';

  constructor(private readonly logger: Logger) {}

  bind(node: RunningNode): void {
    this.node = node;
  }

  private log(fields: Record<string, unknown>, message: string): void {
    if (this.node?.broker.isLeader) this.logger.info(fields, message);
    else this.logger.debug(fields, message);
  }

  leaseExpired(e: LeaseExpiry): void {
    this.log({ jobId: e.jobId, queue: e.queue, workerId: e.workerId, attempt: e.attempt, next: e.next }, 'lease expired');
  }

  untrackedExpiries(count: number): void {
    this.log({ count }, 'leases expired (taken before this node started tracking them; ids not known here)');
  }

  deadLettered(d: DeadLetter): void {
    const error = d.error === null ? null : d.error.slice(0, LOGGED_ERROR_CHARS_MAX);
    this.log({ jobId: d.jobId, queue: d.queue, attempts: d.attempts, cause: d.cause, error }, 'job dead-lettered');
  }

  /** Every node logs its own view of membership, once per change (snapshots re-announce it). */
  members(members: Members): void {
    const list = members.entries().map(([id, a]) => ({ id, peer: a.peer, client: a.client, http: a.http }));
    const key = list.map((m) => m.id).join(',');
    if (key === this.lastMembers) return;
    this.lastMembers = key;
    this.logger.info({ members: list }, 'cluster membership changed');
  }
}

export function observabilityExtension(logger: Logger): NodeExtensions {
  const metrics = new BrokerMetrics();
  const history = new StatsHistory();
  const events = new EventLog(logger);
  const observer = new AppliedObserver({
    enqueued: (queue, priority, count) => metrics.enqueuedJob(queue, priority, count),
    waited: (queue, seconds) => {
      metrics.jobWaited(queue, seconds);
      history.waited(queue, seconds);
    },
    ran: (queue, seconds) => {
      metrics.jobRan(queue, seconds);
      history.ran(queue, seconds);
    },
    leaseExpired: (e) => events.leaseExpired(e),
    leasesExpiredUntracked: (count) => events.untrackedExpiries(count),
    deadLettered: (d) => events.deadLettered(d),
  });
  let bound: RunningNode | null = null;
  // Hooks may fire before startHttp (entries replayed at boot): bind on whichever comes first.
  const bind = (node: RunningNode): void => {
    if (bound === node) return;
    bound = node;
    metrics.bind(metricsSource(node, observer), node.config.id);
    events.bind(node);
  };
  const http = httpExtension(logger, () => [metricsRoute(metrics), historyRoute(history), dashboardRoute()], {
    onRequest: (route, status, durationMs, internal) => {
      metrics.httpRequest(route, status);
      if (internal) logger.error({ route, status, durationMs: Math.round(durationMs), ref: internal.ref, err: internal.error }, 'HTTP request failed with INTERNAL');
    },
  });

  return {
    async startHttp(node) {
      bind(node);
      const attachment = await http.startHttp!(node);
      const sampler = setInterval(() => history.sample(node.broker.sm.listQueues(), Date.now()), history.intervalMs);
      sampler.unref();
      return {
        async close() {
          clearInterval(sampler);
          await attachment.close();
        },
      };
    },
    onPersistSeconds: (seconds, entries) => metrics.appended(seconds, entries),
    onApplied: (batch, outcomes, node) => {
      bind(node);
      observer.applied(batch, outcomes, node.broker.sm);
    },
    onRoleChanged: (soft, node) => {
      bind(node);
      metrics.leaderSeen(soft.term, soft.leader);
    },
    onMembersChanged: (members, node) => {
      bind(node);
      events.members(members);
    },
    onRequest: (op, outcome, durationMs, internal) => {
      metrics.request(op, outcome, durationMs / 1000);
      // INTERNAL is a bug on our side; every other code is a normal answer a client handles. The
      // ref is in the message the client got, so its error leads to this line (and its stack).
      if (outcome === 'INTERNAL') logger.error({ op, code: outcome, durationMs: Math.round(durationMs), ref: internal?.ref, err: internal?.error }, 'request failed with INTERNAL');
      else logger.trace({ op, code: outcome, durationMs: Math.round(durationMs) }, 'request');
    },
    onForwarded: () => metrics.forwardedRequest(),
    onSnapshot: (event, node) => {
      bind(node);
      metrics.snapshot(event.kind, event.bytes);
      if (event.kind === 'installed') observer.reset();
    },
    onSnapshotHandoff: () => metrics.snapshotHandoff(),
  };
}
