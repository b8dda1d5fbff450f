// What a node does with a valid client request: commands are proposed on the leader (or
// forwarded to it), reads are served after a ReadIndex barrier (or from local state when the
// client asked for `stale`), admin operations act on the local Raft node or the leader's.

import type { NodeId } from '../raft/types.js';
import { RaftqError } from '../src/errors.js';
import type { ClusterStatus, NodeAddresses, NodeStatus, OpResults, ValidAdminRequest, ValidCommandRequest, ValidReadRequest, ValidRequest } from '../src/protocol/messages.js';
import type { ConnectionInfo, RequestHandler } from '../src/protocol/server.js';
import type { Broker } from './broker.js';
import type { Forwarder } from './forwarder.js';
import { encodeMemberContext } from './members.js';
import type { RaftDriver } from './raft-driver.js';

export interface HandlerContext {
  readonly id: NodeId;
  readonly broker: Broker;
  readonly driver: RaftDriver;
  readonly forwarder: Forwarder;
  /** How long a node without a known leader waits for one before answering NO_LEADER. */
  readonly electionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly tickMs: number;
  self(): NodeAddresses;
  peerConnected(id: NodeId): boolean;
}

/** Leaders a request follows before its NO_LEADER goes back to the client (whose own retries back off). */
const LEADER_CHANGES_FOLLOWED_MAX = 3;

/** How long the request may be held waiting (a long-poll lease, waitResult). */
function waitMsOf(req: ValidRequest): number {
  if (req.kind === 'command') return req.waitMs;
  return req.kind === 'read' && req.op === 'waitResult' ? req.timeoutMs : 0;
}

function withWaitMs<R extends ValidRequest>(req: R, waitMs: number): R {
  if (req.kind === 'command') return { ...req, waitMs };
  if (req.kind === 'read' && req.op === 'waitResult') return { ...req, timeoutMs: waitMs };
  return req;
}

export class NodeHandler implements RequestHandler {
  constructor(private readonly ctx: HandlerContext) {}

  handle(req: ValidRequest, conn?: ConnectionInfo): Promise<unknown> {
    return this.dispatch(req, true, conn?.signal);
  }

  leaderHint(): string | null {
    const leader = this.ctx.broker.soft.leader;
    if (this.ctx.broker.isLeader || leader === null || !this.ctx.peerConnected(leader)) return null;
    return leader;
  }

  /** Entry point for requests forwarded by a follower: never forwarded again. `gone`: its client left. */
  handleForwarded(req: ValidRequest, gone?: AbortSignal): Promise<unknown> {
    return this.dispatch(req, false, gone);
  }

  private async dispatch(req: ValidRequest, mayForward: boolean, gone: AbortSignal | undefined): Promise<unknown> {
    switch (req.kind) {
      case 'command':
        return this.onLeader(req, mayForward, (r) => this.command(r, gone), gone);
      case 'read':
        if (req.stale) return this.read(req);
        return this.onLeader(req, mayForward, async (r) => {
          await this.ctx.broker.readBarrier();
          return this.read(r);
        });
      case 'admin':
        return this.admin(req, mayForward);
    }
  }

  /**
   * Runs `local` if this node leads, else forwards to the leader, waiting up to an election
   * timeout for one it can reach. A leader whose link is down (it crashed, or is cut off) counts as
   * none: the request is held here until the next leader is known, rather than failed back to a
   * client whose retries back off further each time (the last backoff, not the election, then
   * decided when a failover's first submit got through). Likewise when the leader that has the
   * request stops leading before it answers (it handed leadership over before a snapshot, or
   * stepped down): the request goes on to the next leader. Same envelope, same seq: a command
   * whose first entry commits after all is answered from its session, not applied twice.
   */
  private async onLeader<R extends ValidRequest>(req: R, mayForward: boolean, local: (req: R) => Promise<unknown>, gone?: AbortSignal): Promise<unknown> {
    const broker = this.ctx.broker;
    if (!mayForward) {
      if (broker.isLeader) return local(req);
      throw broker.noLeader();
    }
    // Admin operations carry no session: one that may have taken effect is not sent again.
    const attemptsMax = req.kind === 'admin' ? 1 : LEADER_CHANGES_FOLLOWED_MAX;
    const waitEndMs = Date.now() + waitMsOf(req);
    let failed: NodeId | null = null;
    for (let attempt = 1; ; attempt++) {
      const leader: NodeId = broker.isLeader && failed !== this.ctx.id ? this.ctx.id : await this.leaderOtherThan(failed);
      // A long poll goes on with what is left of its wait, not a fresh one.
      const tried = attempt === 1 ? req : withWaitMs(req, Math.max(0, waitEndMs - Date.now()));
      try {
        if (leader === this.ctx.id) return await local(tried);
        return await this.ctx.forwarder.forward(leader, tried, this.ctx.requestTimeoutMs + waitMsOf(tried), gone);
      } catch (error) {
        const leaderChanged = error instanceof RaftqError && error.code === 'NO_LEADER';
        if (!leaderChanged || attempt >= attemptsMax || gone?.aborted === true) throw error;
        failed = leader;
      }
    }
  }

  /**
   * The leader to send a request to: one this node can reach, other than `failed` (which just
   * failed it) unless it still leads after an election timeout (a handoff that did not happen).
   */
  private async leaderOtherThan(failed: NodeId | null): Promise<NodeId> {
    const reachable = (id: NodeId | null): boolean => id !== null && (id === this.ctx.id || this.ctx.peerConnected(id));
    const leader = await this.ctx.broker.waitForLeader(this.ctx.electionTimeoutMs, (id) => id !== failed && reachable(id));
    if (leader === null) throw new RaftqError('NO_LEADER', `no leader elected within ${this.ctx.electionTimeoutMs} ms`);
    if (!reachable(leader)) throw new RaftqError('NO_LEADER', `the leader ${leader} has not been reachable from this node for ${this.ctx.electionTimeoutMs} ms`);
    return leader;
  }

  private async command(req: ValidCommandRequest, gone: AbortSignal | undefined): Promise<unknown> {
    const broker = this.ctx.broker;
    const outcome =
      req.op === 'lease' && req.waitMs > 0
        ? await broker.leaseWhenAvailable(req.envelope, req.sizeBytes, req.waitMs, gone)
        : await broker.submit(req.envelope, req.sizeBytes);
    // Nothing came within the wait, or the client left: answered empty without a lease entry (a
    // lease for a vanished client would strand its jobs until the lease expires).
    if (outcome === null) return { jobs: [] } satisfies OpResults['lease'];
    if (!outcome.ok) throw RaftqError.fromWire(outcome.error);
    return outcome.value;
  }

  private async read(req: ValidReadRequest): Promise<unknown> {
    const sm = this.ctx.broker.sm;
    switch (req.op) {
      case 'get':
        return { job: sm.getJob(req.jobId) } satisfies OpResults['get'];
      case 'stats': {
        const stats = sm.queueStats(req.queue);
        if (!stats) throw new RaftqError('NOT_FOUND', `no queue named ${req.queue}`);
        return stats;
      }
      case 'queues':
        return { queues: sm.listQueues() } satisfies OpResults['queues'];
      case 'dlqList': {
        const stats = sm.queueStats(req.queue);
        return { jobs: sm.listDead(req.queue, req.offset, req.limit), total: stats?.counts.dead ?? 0 } satisfies OpResults['dlqList'];
      }
      case 'waitResult': {
        const job = await this.ctx.broker.waitForFinished(req.jobId, req.timeoutMs);
        if (!job) throw new RaftqError('NOT_FOUND', `no job ${req.jobId}`);
        const final = job.state === 'completed' || job.state === 'dead' || job.state === 'cancelled';
        return { job, final } satisfies OpResults['waitResult'];
      }
      case 'schedules':
        return { schedules: sm.listSchedules(req.queue ?? undefined) } satisfies OpResults['schedules'];
      case 'schedule':
        return { schedule: sm.getSchedule(req.queue, req.scheduleId) } satisfies OpResults['schedule'];
    }
  }

  private async admin(req: ValidAdminRequest, mayForward: boolean): Promise<unknown> {
    const { broker, driver } = this.ctx;
    switch (req.op) {
      case 'hello':
        return {
          nodeId: this.ctx.id,
          leader: broker.soft.leader,
          nodes: broker.members.entries().map(([id, a]) => ({ id, clientAddr: a.client })),
        } satisfies OpResults['hello'];
      case 'clusterStatus':
        return this.clusterStatus();
      case 'stateHash':
        return { appliedIndex: broker.applied, hash: broker.sm.stateHash() } satisfies OpResults['stateHash'];
      case 'snapshot':
        await driver.requestSnapshot();
        return { index: driver.snapshotIndex, bytes: 0 } satisfies OpResults['snapshot'];
      case 'transferLeader':
        return this.onLeader(req, mayForward, () => this.transferLeader(req.to));
      case 'addNode':
        return this.onLeader(req, mayForward, () => this.changeMembers({ type: 'add', id: req.node.id, context: encodeMemberContext({ peer: req.node.peerAddr, client: req.node.clientAddr, http: req.node.httpAddr }) }));
      case 'removeNode':
        return this.onLeader(req, mayForward, () => this.changeMembers({ type: 'remove', id: req.nodeId }));
    }
  }

  private async transferLeader(to: NodeId): Promise<OpResults['transferLeader']> {
    const { broker, driver } = this.ctx;
    if (!broker.members.get(to) || !driver.status().config.voters.includes(to)) throw new RaftqError('NOT_FOUND', `no voter named ${to}`);
    if (to === this.ctx.id) return { leader: to };
    if (!driver.transferLeader(to)) throw broker.noLeader();
    // The core gives up a transfer after an election timeout; wait a little longer than that.
    const waitMs = this.ctx.electionTimeoutMs * 2;
    if ((await broker.waitForLeader(waitMs, (leader) => leader === to)) === to) return { leader: to };
    throw new RaftqError('TIMEOUT', `leadership did not move to ${to} within ${waitMs} ms`);
  }

  private async changeMembers(change: { type: 'add' | 'remove'; id: NodeId; context?: string }): Promise<{ nodes: NodeAddresses[] }> {
    const { broker, driver } = this.ctx;
    const result = driver.proposeConfigChange(change);
    if (!result.ok) {
      if (result.reason === 'invalid_config_change') {
        throw new RaftqError(change.type === 'remove' ? 'NOT_FOUND' : 'BAD_REQUEST', change.type === 'remove' ? `no voter named ${change.id}` : `${change.id} is already a voter`);
      }
      if (result.reason === 'config_pending') throw new RaftqError('OVERLOADED', 'another membership change is still in progress; retry shortly');
      throw broker.noLeader(result.leader);
    }
    // The leader applies the change once it is committed.
    if (!(await broker.waitForApplied(result.index, this.ctx.requestTimeoutMs))) {
      throw new RaftqError('TIMEOUT', `membership change not committed within ${this.ctx.requestTimeoutMs} ms (is a quorum up?)`);
    }
    return { nodes: this.nodeAddresses() };
  }

  private nodeAddresses(): NodeAddresses[] {
    return this.ctx.broker.members.entries().map(([id, a]) => ({ id, peerAddr: a.peer, clientAddr: a.client, httpAddr: a.http }));
  }

  /** This node's view: exact for itself; for the others, the leader's replication progress when we lead. */
  clusterStatus(): ClusterStatus {
    const { broker, driver } = this.ctx;
    const st = driver.status();
    const nodes: NodeStatus[] = this.nodeAddresses().map((addrs) => {
      if (addrs.id === this.ctx.id) {
        // The job state's index, not the core's: the core counts a snapshot from the leader as
        // applied once it accepts it, before the state machine has it (written, then decoded).
        return { ...addrs, role: st.config.voters.includes(this.ctx.id) ? st.role : 'learner', term: st.term, commitIndex: st.commit, appliedIndex: broker.applied, lagEntries: 0, lastContactMs: null, reachable: true };
      }
      const pr = st.progress[addrs.id];
      return {
        ...addrs,
        role: pr ? 'follower' : 'unknown',
        term: st.term,
        commitIndex: pr ? Math.min(pr.match, st.commit) : -1,
        appliedIndex: -1,
        lagEntries: pr ? Math.max(0, st.lastIndex - pr.match) : null,
        lastContactMs: pr ? pr.lastContactTicks * this.ctx.tickMs : null,
        reachable: pr ? pr.recentActive : this.ctx.peerConnected(addrs.id),
      };
    });
    return { nodeId: this.ctx.id, leader: broker.soft.leader, term: st.term, nodes };
  }
}
