// The nemesis schedule of a run, chosen by its seed: which faults, how often, how harsh; plus the
// core's tuning for the run (small windows and messages, so the flow-control paths are exercised).
// A run with a deliberately broken core gets heavier weights on the scenarios that reach that bug
// (the checkers stay the same).

import type { RaftFaults } from '../../raft/types.js';
import { checkConditions, type NetConditions } from './network.js';
import type { Rng } from './rng.js';

export const NEMESIS_ACTIONS = [
  'halves', // partition into two random groups
  'isolateLeader', // cut a leader off from everyone
  'isolateNode', // cut a random node off
  'ring', // majority ring: each node sees only its ring neighbours
  'oneWay', // asymmetric: some directed links blocked, the reverse open
  'bridge', // two halves joined by one node that sees both
  'heal', // remove every partition
  'net', // new loss / duplication / latency / reordering
  'crash', // crash a random node
  'crashLeader',
  'crashAfterVote', // for a while, a node that grants a vote may crash right after sending it
  'crashMidReady', // a node crashes after persisting a Ready but before sending its messages
  'crashAfterCommit', // for a while, a leader that advances its commit index may crash right after
  'pause', // a node stops (no ticks, no deliveries), then resumes with a burst of old messages
  'skew', // a node's clock runs at half or double speed (two ticks per tick) until the next heal
  'add', // add a fresh node as a voter
  'remove', // remove a random voter
  'removeLeader', // the leader removes itself
  'transfer', // leadership transfer to a random voter
  'campaign', // a random voter campaigns now
] as const;
export type NemesisAction = (typeof NEMESIS_ACTIONS)[number];

export type FaultName = keyof RaftFaults;
export const FAULT_NAMES: readonly FaultName[] = ['commitOldTermByCounting', 'voteWithoutLogCheck', 'sendVoteBeforePersist', 'appendWithoutPrevCheck'];

export interface Profile {
  weights: number[];
  /** Mean ticks between nemesis actions. */
  nemesisGapTicks: number;
  /** Ticks of chaos before each heal-and-check-liveness phase. */
  chaosTicksMin: number;
  chaosTicksMax: number;
  /** Expected client proposals and reads per tick. */
  proposeRate: number;
  readRate: number;
  /** Share of proposals with a large payload (bigger than maxMsgBytes). */
  bigPayloadRate: number;
  /** Downtime of a crashed node: [min, max] ticks, one of a few menus. */
  downTicksMin: number;
  downTicksMax: number;
  /** While crash-after-vote is armed: the chance that a node granting a vote crashes right after. */
  crashAfterVoteChance: number;
  /** While crash-after-commit is armed: the chance that a leader crashes right after its commit index advances. */
  crashAfterCommitChance: number;
  /** Crash or pause no more than a minority at a time (the cluster stays available) with this chance. */
  keepMajorityChance: number;
  /** Network conditions are drawn from these menus. */
  lossRates: number[];
  dupRates: number[];
  latencyMaxes: number[];
  tailRates: number[];
  /** The runtime sends a leader's own messages (append, heartbeat, snapshot, timeoutNow) before persisting its Ready. */
  leaderMessagesFirst: boolean;
  // The core's tuning for this run.
  heartbeatTicks: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxMsgBytes: number;
  maxUncommittedEntries: number;
  /** Take a snapshot every this many applied entries (Infinity: never). */
  snapshotEvery: number;
  compactTrailingEntries: number;
  /**
   * After each Ready, release the data of applied entries but the newest this many bytes, and the
   * data of a durable snapshot, reading them back from disk to send them (as cluster/raft-driver.ts
   * does); Infinity: never release.
   */
  releaseKeepBytes: number;
}

const BOOSTS: Record<FaultName, Partial<Record<NemesisAction, number>>> = {
  // Figure 8: leaders change while an old-term entry sits on a minority.
  commitOldTermByCounting: { crashAfterCommit: 6, crashLeader: 4, isolateLeader: 4, halves: 2, crash: 2, pause: 2 },
  // A stale node must be able to win: it has to be cut off, fall behind, and come back.
  voteWithoutLogCheck: { isolateNode: 3, isolateLeader: 3, halves: 3, crash: 3, pause: 2, campaign: 3 },
  // Votes must be granted, then lost in a crash, then granted again in the same term.
  sendVoteBeforePersist: { crashAfterVote: 8, isolateLeader: 4, crashLeader: 4, campaign: 4 },
  // Followers must hold divergent suffixes when a new leader's appends arrive.
  appendWithoutPrevCheck: { halves: 3, isolateLeader: 4, crashLeader: 3, oneWay: 2, pause: 2 },
};

export function chooseProfile(rng: Rng, fault: FaultName | null): Profile {
  const weights = NEMESIS_ACTIONS.map(() => rng.pick([0, 1, 1, 2, 3]));
  weights[NEMESIS_ACTIONS.indexOf('heal')] += 2;
  if (fault !== null) {
    for (const [action, factor] of Object.entries(BOOSTS[fault])) {
      const i = NEMESIS_ACTIONS.indexOf(action as NemesisAction);
      weights[i] = (weights[i]! + 1) * factor!;
    }
  }
  const downMenu = rng.pick([
    [1, 5],
    [5, 40],
    [20, 200],
    [1, 300],
  ]);
  const p: Profile = {
    weights,
    nemesisGapTicks: rng.pick([8, 20, 50, 120]),
    chaosTicksMin: 300,
    chaosTicksMax: rng.pick([600, 1200, 2000]),
    proposeRate: rng.pick([0.05, 0.2, 0.5, 1, 2]),
    readRate: rng.pick([0, 0.02, 0.1, 0.3]),
    bigPayloadRate: rng.pick([0, 0.01, 0.05]),
    downTicksMin: downMenu[0]!,
    downTicksMax: downMenu[1]!,
    crashAfterVoteChance: rng.pick([0.2, 0.5, 1]),
    crashAfterCommitChance: rng.pick([0.05, 0.2, 0.5]),
    keepMajorityChance: rng.pick([0.5, 0.8, 1]),
    lossRates: rng.pick([[0], [0, 0.01], [0, 0.05, 0.2], [0.01, 0.1, 0.3]]),
    dupRates: rng.pick([[0], [0, 0.02], [0.05, 0.2]]),
    latencyMaxes: rng.pick([[1], [1, 3], [2, 5, 8]]),
    tailRates: rng.pick([[0], [0, 0.02], [0.05, 0.15]]),
    leaderMessagesFirst: rng.chance(0.5),
    heartbeatTicks: rng.pick([1, 2, 2, 3]),
    maxInflightMsgs: rng.pick([1, 2, 4, 4, 8]),
    maxInflightBytes: rng.pick([2048, 8192, 65536, 65536]),
    maxMsgBytes: rng.pick([64, 256, 1024, 8192]),
    maxUncommittedEntries: rng.pick([16, 64, 256]),
    snapshotEvery: rng.pick([5, 20, 60, 200, Infinity]),
    compactTrailingEntries: rng.pick([0, 3, 20, 200]),
    releaseKeepBytes: Number.POSITIVE_INFINITY, // chosen by the cluster from its own generator
  };
  if (fault === 'sendVoteBeforePersist') {
    p.crashAfterVoteChance = 1;
    p.downTicksMin = 1;
    p.downTicksMax = 3;
    p.tailRates = [0.1, 0.3];
    p.latencyMaxes = [2, 5];
  } else if (fault === 'commitOldTermByCounting') {
    // Every entry bigger than a message: one entry per AppendEntries, so a follower can ack the
    // old-term entries without the new leader's (empty) no-op, which then travels alone.
    p.maxMsgBytes = 32;
    p.bigPayloadRate = rng.pick([0.5, 1]);
    p.maxInflightMsgs = rng.pick([1, 2]);
    p.proposeRate = rng.pick([0.5, 1, 2]);
    p.lossRates = [0.05, 0.2, 0.4];
  } else if (fault === 'voteWithoutLogCheck' || fault === 'appendWithoutPrevCheck') {
    p.proposeRate = rng.pick([0.5, 1, 2]);
    p.lossRates = [0, 0.1, 0.3];
    p.tailRates = [0.02, 0.1];
  }
  return p;
}

export function rollConditions(rng: Rng, p: Profile): NetConditions {
  const latencyMaxTicks = rng.pick(p.latencyMaxes);
  return checkConditions({
    lossRate: rng.pick(p.lossRates),
    dupRate: rng.pick(p.dupRates),
    latencyMinTicks: 1,
    latencyMaxTicks,
    tailRate: rng.pick(p.tailRates),
    tailMaxTicks: latencyMaxTicks + rng.pick([10, 30, 80]),
    reorder: rng.chance(0.5),
  });
}
