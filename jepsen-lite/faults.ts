// What each fault does to the cluster under test, and how it is undone. A fault starts from a
// schedule step (its pre-drawn random numbers choose victims among the nodes as they are then) and
// returns its heal; the runner calls heal at the end of the window, or at the end of the run.

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterUnderTest } from './cluster-under-test.js';
import type { Link } from './network.js';
import { pickWith, Prng, shuffleWith } from './random.js';
import type { Fault, FaultStep } from './schedule.js';

/** How long a fault that needs the leader waits for one before it picks a random live node. */
const LEADER_WAIT_MS = 3_000;
/** One transferLeader request of a storm. */
const TRANSFER_TIMEOUT_MS = 3_000;
/** Membership operations (they wait for the change to commit). */
const MEMBERSHIP_TIMEOUT_MS = 20_000;
/** Clock offsets: ± this range (ms). */
export const CLOCK_OFFSET_MS = { min: 2_000, max: 8_000 } as const;
/** Peer-link latency and bandwidth toxics. */
export const LATENCY_MS = { min: 20, max: 300 } as const;
export const BANDWIDTH_KBPS = { min: 16, max: 256 } as const;

export interface FaultContext {
  readonly cluster: ClusterUnderTest;
  /** Records a nemesis `event` in the history (something the nemesis saw happen). */
  event(fault: string, detail: string): void;
  /**
   * Nodes whose exits are the fault's own business (a node refusing to start on damaged
   * storage): the crash watcher leaves them alone while they are in this set.
   */
  readonly quarantined: Set<string>;
  /** Nodes whose storage the nemesis damaged and that were not replaced since: their refusals are expected. */
  readonly damaged: Set<string>;
}

export interface RunningFault {
  readonly fault: Fault;
  /** What was done, to whom; the same string closes the window in the history. */
  readonly detail: string;
  /** Nothing was done (the cluster was not in a state this fault applies to): an event, not a window. */
  readonly skipped: boolean;
  heal(): Promise<void>;
}

type Starter = (ctx: FaultContext, u: number[]) => Promise<{ detail: string; heal: () => Promise<void>; skipped?: boolean }>;

// ---------------------------------------------------------------- choosing victims

async function leaderOr(ctx: FaultContext, u: number): Promise<{ id: string; leader: boolean }> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  while (Date.now() < deadline) {
    const leader = await ctx.cluster.leader();
    if (leader !== null) return { id: leader, leader: true };
    await sleep(100);
  }
  return { id: pickWith(u, liveOrAll(ctx)), leader: false };
}

function liveOrAll(ctx: FaultContext): string[] {
  const live = ctx.cluster.live();
  return live.length > 0 ? live : ctx.cluster.members();
}

function set(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}

// ---------------------------------------------------------------- network

function cutStarter(plan: (ctx: FaultContext, u: number[]) => Promise<{ links: Link[]; what: string }>): Starter {
  return async (ctx, u) => {
    const { links, what } = await plan(ctx, u);
    // Two ways to cut a link, as Toxiproxy offers them: down (closed, reconnects refused) or a timeout toxic (open, silent).
    const how = u[5]! < 0.5 ? 'disable' : 'timeout';
    await ctx.cluster.net.cut(links, how);
    return { detail: `${what} (${how}, ${links.length} links)`, heal: () => ctx.cluster.net.heal(links) };
  };
}

const partitionHalves = cutStarter(async (ctx, u) => {
  const order = shuffleWith(u[0]!, ctx.cluster.members());
  const a = order.slice(0, Math.floor(order.length / 2)).sort();
  const b = order.slice(Math.floor(order.length / 2)).sort();
  return { links: [...ctx.cluster.net.between(a, b), ...ctx.cluster.net.between(b, a)], what: `halves ${set(a)} | ${set(b)}` };
});

const partitionLeader = cutStarter(async (ctx, u) => {
  const victim = await leaderOr(ctx, u[0]!);
  const others = ctx.cluster.members().filter((id) => id !== victim.id);
  return { links: [...ctx.cluster.net.between([victim.id], others), ...ctx.cluster.net.between(others, [victim.id])], what: `isolate ${victim.id}${victim.leader ? ' (leader)' : ''}` };
});

/**
 * Jepsen's majorities ring: nodes in a random ring; each hears only itself and the next ⌊n/2⌋
 * nodes, so every node sees a majority and no two see the same one. Cuts are one-way: node i
 * stops hearing j (link j→i) when j is not among the nodes i hears.
 */
const partitionRing = cutStarter(async (ctx, u) => {
  const ring = shuffleWith(u[0]!, ctx.cluster.members());
  const n = ring.length;
  const k = Math.floor(n / 2);
  const links: Link[] = [];
  for (let p = 0; p < n; p++) {
    const hears = new Set(Array.from({ length: k }, (_, d) => ring[(p + 1 + d) % n]!));
    for (const j of ring) if (j !== ring[p] && !hears.has(j)) links.push(...ctx.cluster.net.between([j], [ring[p]!]));
  }
  return { links, what: `ring ${ring.join('>')} (each hears the next ${k})` };
});

const partitionOneway = cutStarter(async (ctx, u) => {
  const victim = u[1]! < 0.5 ? await leaderOr(ctx, u[0]!) : { id: pickWith(u[0]!, ctx.cluster.members()), leader: false };
  const others = ctx.cluster.members().filter((id) => id !== victim.id);
  const outbound = u[2]! < 0.5;
  const links = outbound ? ctx.cluster.net.between([victim.id], others) : ctx.cluster.net.between(others, [victim.id]);
  const who = `${victim.id}${victim.leader ? ' (leader)' : ''}`;
  return { links, what: outbound ? `${who} cannot be heard (${who}->all cut)` : `${who} cannot hear (all->${who} cut)` };
});

/** A subset of peer links: all of them, or those of one node (both directions). */
function someLinks(ctx: FaultContext, u: number, v: number): { links: Link[]; what: string } {
  const all = ctx.cluster.net.links('peer');
  if (u < 0.6) return { links: [...all, ...ctx.cluster.net.links('client')], what: 'all links' };
  const id = pickWith(v, ctx.cluster.members());
  return { links: all.filter((l) => l.from === id || l.to === id), what: `links of ${id}` };
}

const latency: Starter = async (ctx, u) => {
  const latencyMs = Math.round(LATENCY_MS.min + u[0]! * (LATENCY_MS.max - LATENCY_MS.min));
  const jitterMs = Math.round(u[1]! * latencyMs * 0.5);
  const { links, what } = someLinks(ctx, u[2]!, u[3]!);
  await ctx.cluster.net.latency(links, latencyMs, jitterMs);
  return { detail: `${latencyMs}±${jitterMs} ms on ${what}`, heal: () => ctx.cluster.net.heal(links) };
};

const bandwidth: Starter = async (ctx, u) => {
  const rateKBps = Math.round(BANDWIDTH_KBPS.min + u[0]! * (BANDWIDTH_KBPS.max - BANDWIDTH_KBPS.min));
  const { links, what } = someLinks(ctx, u[2]!, u[3]!);
  await ctx.cluster.net.bandwidth(links, rateKBps);
  return { detail: `${rateKBps} KB/s on ${what}`, heal: () => ctx.cluster.net.heal(links) };
};

// ---------------------------------------------------------------- processes

/** Starts a stopped member again; if it cannot start, records why and replaces it with a wiped one. */
export async function restartOrReplace(ctx: FaultContext, id: string, fault: string): Promise<void> {
  const processes = ctx.cluster.processes;
  if (!ctx.cluster.members().includes(id) || processes.node(id).state !== 'stopped') return;
  ctx.quarantined.add(id);
  try {
    try {
      await processes.restart(id);
      return;
    } catch (error) {
      const exit = processes.unexpectedExits().filter((e) => e.id === id).at(-1);
      const why = `exit ${exit?.signal ?? exit?.code ?? '?'}: ${lastErrorLine(processes.logTail(id, 50)) || firstLine((error as Error).message)}`;
      // A node whose disk we damaged may refuse again; a node that was only killed must always come back.
      if (ctx.damaged.has(id)) ctx.event('disk', `${/STORAGE_CORRUPT/.test(why) ? 'refused' : 'refused-unclear'}: ${id} again at ${fault}: ${why}`);
      else ctx.event('crash', `${id} failed to restart after ${fault}: ${why}`);
    }
    await replace(ctx, id);
  } finally {
    ctx.quarantined.delete(id);
  }
}

/** Removes a (stopped) member and adds it back as a fresh node with an empty data directory. */
export async function replace(ctx: FaultContext, id: string): Promise<void> {
  const processes = ctx.cluster.processes;
  ctx.cluster.setNodeArgs(id, null);
  if (processes.node(id).state !== 'stopped') await processes.kill(id);
  if (ctx.cluster.members().includes(id)) await processes.removeNode(id, MEMBERSHIP_TIMEOUT_MS);
  await processes.startJoining(id);
  ctx.damaged.delete(id);
  await processes.addNode(id, MEMBERSHIP_TIMEOUT_MS);
  ctx.event('membership', `${id} replaced by a fresh node (wiped data, --join, addNode)`);
}

function killStarter(choose: (ctx: FaultContext, u: number[]) => Promise<{ ids: string[]; what: string }>): Starter {
  return async (ctx, u) => {
    const { ids, what } = await choose(ctx, u);
    await Promise.all(ids.map((id) => ctx.cluster.processes.kill(id, 'SIGKILL')));
    return {
      detail: `kill -9 ${what}`,
      heal: async () => {
        for (const id of ids) await restartOrReplace(ctx, id, 'kill -9');
      },
    };
  };
}

const kill = killStarter(async (ctx, u) => {
  const id = pickWith(u[0]!, liveOrAll(ctx));
  return { ids: [id], what: id };
});

const killLeader = killStarter(async (ctx, u) => {
  const victim = await leaderOr(ctx, u[0]!);
  return { ids: [victim.id], what: `${victim.id}${victim.leader ? ' (leader)' : ' (no leader known)'}` };
});

const killMinority = killStarter(async (ctx, u) => {
  const members = ctx.cluster.members();
  const ids = shuffleWith(u[0]!, ctx.cluster.live()).slice(0, Math.floor((members.length - 1) / 2)).sort();
  return { ids, what: `minority ${set(ids)}` };
});

const pause: Starter = async (ctx, u) => {
  const victim = u[1]! < 0.5 ? await leaderOr(ctx, u[0]!) : { id: pickWith(u[0]!, liveOrAll(ctx)), leader: false };
  const processes = ctx.cluster.processes;
  if (processes.node(victim.id).state !== 'running') return { detail: `skipped: ${victim.id} not running`, heal: async () => undefined, skipped: true };
  processes.pause(victim.id);
  return {
    detail: `SIGSTOP ${victim.id}${victim.leader ? ' (leader)' : ''}`,
    heal: async () => {
      if (processes.node(victim.id).state === 'paused') processes.resume(victim.id);
    },
  };
};

/** Restarts a node with its wall clock shifted (leader stamps come from it); optionally hands it the leadership. */
const clock: Starter = async (ctx, u) => {
  const victim = u[1]! < 0.5 ? await leaderOr(ctx, u[0]!) : { id: pickWith(u[0]!, liveOrAll(ctx)), leader: false };
  const sign = u[2]! < 0.5 ? -1 : 1;
  const offsetMs = sign * Math.round(CLOCK_OFFSET_MS.min + u[3]! * (CLOCK_OFFSET_MS.max - CLOCK_OFFSET_MS.min));
  const processes = ctx.cluster.processes;
  await processes.kill(victim.id, 'SIGKILL');
  ctx.cluster.setNodeArgs(victim.id, ['--clock-offset-ms', String(offsetMs)]);
  await restartOrReplace(ctx, victim.id, 'clock offset restart');
  const lead = u[4]! < 0.5;
  if (lead) {
    await processes.transferLeader(victim.id, TRANSFER_TIMEOUT_MS * 2).catch((error: Error) => ctx.event('clock', `transfer to ${victim.id} failed: ${firstLine(error.message)}`));
  }
  return {
    detail: `${victim.id} restarted with clock ${offsetMs > 0 ? '+' : ''}${offsetMs} ms${lead ? ', made leader' : ''}`,
    heal: async () => {
      ctx.cluster.setNodeArgs(victim.id, null);
      if (!ctx.cluster.members().includes(victim.id)) return;
      if (processes.node(victim.id).state !== 'stopped') await processes.kill(victim.id, 'SIGKILL');
      await restartOrReplace(ctx, victim.id, 'clock reset restart');
    },
  };
};

// ---------------------------------------------------------------- admin

/** Leadership transfers to random voters, one after another, until healed. */
const transfer: Starter = async (ctx, u) => {
  const rng = new Prng(Math.floor(u[0]! * 2 ** 32), 'transfer');
  const intervalMs = Math.round(200 + u[1]! * 800);
  let stopped = false;
  let ok = 0;
  let failed = 0;
  const storm = (async () => {
    while (!stopped) {
      const leader = await ctx.cluster.leader().catch(() => null);
      const targets = ctx.cluster.live().filter((id) => id !== leader);
      if (leader !== null && targets.length > 0) {
        const to = rng.pick(targets);
        try {
          await ctx.cluster.processes.call(leader, 'transferLeader', { to }, TRANSFER_TIMEOUT_MS);
          ok++;
        } catch {
          failed++;
        }
      }
      await sleep(intervalMs);
    }
  })();
  return {
    detail: `transferLeader every ${intervalMs} ms`,
    heal: async () => {
      stopped = true;
      await storm;
      ctx.event('transfer', `${ok} transfers done, ${failed} refused or timed out`);
    },
  };
};

/** Removes a voter (the leader too, sometimes) and stops it; at heal adds a fresh node in its place. */
const membership: Starter = async (ctx, u) => {
  const victim = u[1]! < 0.3 ? await leaderOr(ctx, u[0]!) : { id: pickWith(u[0]!, ctx.cluster.members()), leader: false };
  const processes = ctx.cluster.processes;
  await processes.removeNode(victim.id, MEMBERSHIP_TIMEOUT_MS);
  ctx.quarantined.add(victim.id);
  if (processes.node(victim.id).state !== 'stopped') await processes.kill(victim.id, 'SIGKILL');
  return {
    detail: `removeNode ${victim.id}${victim.leader ? ' (leader)' : ''}, then a fresh ${victim.id} joins`,
    heal: async () => {
      try {
        ctx.cluster.setNodeArgs(victim.id, null);
        await processes.startJoining(victim.id);
        await processes.addNode(victim.id, MEMBERSHIP_TIMEOUT_MS);
      } finally {
        ctx.quarantined.delete(victim.id);
      }
    },
  };
};

// ---------------------------------------------------------------- storage

export type DiskDamage = 'truncate-log' | 'flip-log' | 'truncate-ldb' | 'flip-ldb';
const DISK_DAMAGES: readonly DiskDamage[] = ['truncate-log', 'flip-log', 'truncate-ldb', 'flip-ldb'];

/** Index of the last byte that is not zero; -1 when there is none. */
function lastNonZero(buf: Buffer): number {
  let i = buf.length - 1;
  while (i >= 0 && buf[i] === 0) i--;
  return i;
}

/**
 * Damages a stopped node's Raft storage: truncates or flips bits in its newest log file (`.log`:
 * a WAL segment, or LevelDB's write-ahead log) or in a table (`.snap`: a snapshot file, or
 * LevelDB's `.ldb`). Falls back to the other kind of file when there is none of the one asked
 * for. Returns what it did, or null when there was nothing to damage.
 */
export function damageStorage(dir: string, kind: DiskDamage, u: number, v: number): string | null {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const sized = (exts: readonly string[]): { name: string; bytes: number }[] =>
    files.filter((f) => exts.some((ext) => f.endsWith(ext))).map((name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size })).filter((f) => f.bytes > 0).sort((a, b) => a.name.localeCompare(b.name));
  const LOGS = ['.log'];
  const TABLES = ['.ldb', '.snap'];
  const wantsLog = kind.endsWith('log');
  let candidates = sized(wantsLog ? LOGS : TABLES);
  let actual = kind;
  if (candidates.length === 0) {
    candidates = sized(wantsLog ? TABLES : LOGS);
    actual = `${kind.split('-')[0]}-${wantsLog ? 'ldb' : 'log'}` as DiskDamage;
  }
  if (candidates.length === 0) return null;
  // The newest log holds the latest writes; any table will do.
  const target = actual.endsWith('log') ? candidates.at(-1)! : pickWith(u, candidates);
  const file = path.join(dir, target.name);
  const buf = fs.readFileSync(file);
  // The newest WAL segment ends in zeros written ahead of its records: damage what was written.
  const writtenBytes = Math.max(1, lastNonZero(buf) + 1);
  if (actual.startsWith('truncate')) {
    const keep = Math.floor(writtenBytes * (0.2 + 0.7 * v));
    fs.truncateSync(file, keep);
    return `${actual}: ${target.name} ${target.bytes} (${writtenBytes} written) -> ${keep} bytes`;
  }
  const flips = 1 + Math.floor(v * 8);
  const rng = new Prng(Math.floor(u * 2 ** 32), 'flip');
  const at: number[] = [];
  for (let i = 0; i < flips; i++) {
    const offset = rng.int(0, writtenBytes - 1);
    buf[offset] = buf[offset]! ^ (1 << rng.int(0, 7));
    at.push(offset);
  }
  fs.writeFileSync(file, buf);
  return `${actual}: ${target.name} (${target.bytes} bytes) ${flips} bit(s) flipped at ${at.sort((a, b) => a - b).join(',')}`;
}

/**
 * Disk damage on a stopped minority node. The node must refuse to start with a clear error
 * (STORAGE_CORRUPT, non-zero exit) or start and recover without serving lost data (the other
 * checkers judge that). A refusal is recorded, and a wiped replacement joins so the run goes on.
 */
const disk: Starter = async (ctx, u) => {
  const processes = ctx.cluster.processes;
  // A minority only: damage one node while every other member runs, never a second one while a first is down.
  const down = ctx.cluster.members().filter((m) => processes.node(m).state !== 'running');
  if (down.length > 0) return { detail: `skipped: ${down.join(',')} not running`, heal: async () => undefined, skipped: true };
  const leader = await ctx.cluster.leader();
  const candidates = ctx.cluster.live().filter((id) => id !== leader);
  const id = pickWith(u[0]!, candidates.length > 0 ? candidates : ctx.cluster.members());
  ctx.quarantined.add(id);
  try {
    await processes.kill(id, 'SIGKILL');
    const dir = path.join(processes.node(id).dataDir, 'raft');
    const what = damageStorage(dir, pickWith(u[1]!, DISK_DAMAGES), u[2]!, u[3]!) ?? 'nothing to damage';
    ctx.damaged.add(id);
    try {
      await processes.restart(id);
      ctx.event('disk', `started: ${id} came back up after ${what}`);
    } catch (error) {
      const exit = processes.unexpectedExits().filter((e) => e.id === id).at(-1);
      const log = processes.logTail(id, 50);
      const clear = /STORAGE_CORRUPT/.test(log) && exit !== undefined && exit.code !== 0 && exit.code !== null;
      const why = lastErrorLine(log);
      ctx.event('disk', `${clear ? 'refused' : 'refused-unclear'}: ${id} after ${what}: exit ${exit?.signal ?? exit?.code ?? '?'}: ${why || firstLine((error as Error).message)}`);
      await replace(ctx, id);
    }
    return { detail: `${id}: ${what}`, heal: async () => undefined };
  } finally {
    ctx.quarantined.delete(id);
  }
};

// ---------------------------------------------------------------- dispatch

const STARTERS: Record<Fault, Starter> = {
  'partition-halves': partitionHalves,
  'partition-leader': partitionLeader,
  'partition-ring': partitionRing,
  'partition-oneway': partitionOneway,
  kill,
  'kill-leader': killLeader,
  'kill-minority': killMinority,
  pause,
  latency,
  bandwidth,
  transfer,
  membership,
  clock,
  disk,
};

export async function startFault(ctx: FaultContext, step: FaultStep): Promise<RunningFault> {
  const { detail, heal, skipped } = await STARTERS[step.fault](ctx, step.u);
  let healed: Promise<void> | null = null;
  // Heal at most once: the window's end and the run's final heal may both ask.
  return { fault: step.fault, detail, skipped: skipped ?? false, heal: () => (healed ??= heal()) };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}

/** The most telling line of a node log: the last error-looking one (pino JSON or plain). */
export function lastErrorLine(log: string): string {
  const lines = log.split('\n').filter((l) => /STORAGE_CORRUPT|"level":(50|60)|Error|error|fatal/.test(l));
  const line = lines.at(-1) ?? '';
  try {
    const parsed = JSON.parse(line) as { msg?: string };
    if (parsed.msg) return parsed.msg.slice(0, 400);
  } catch {
    // not JSON
  }
  return line.slice(0, 400);
}
