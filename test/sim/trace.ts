// The simulator's trace: a ring buffer of the last events, formatted only when someone reads them
// (a violation, or --trace), plus a running hash of every event so two runs of a seed can be
// compared cheaply (the replay test).

import type { Message } from '../../raft/types.js';
import { hashString } from './hash.js';

export const Ev = {
  deliver: 1,
  drop: 2,
  role: 3,
  crash: 4,
  restart: 5,
  pause: 6,
  resume: 7,
  nemesis: 8,
  propose: 9,
  proposeConfig: 10,
  apply: 11,
  snapshotCreate: 12,
  snapshotInstall: 13,
  configCommitted: 14,
  readRequest: 15,
  readAnswer: 16,
  transfer: 17,
  campaign: 18,
  note: 19,
  duplicate: 20,
} as const;
export type EvKind = (typeof Ev)[keyof typeof Ev];

export const DropReason = { loss: 1, partition: 2, targetDown: 3, crashedMidReady: 4, removed: 5 } as const;
const DROP_TEXT: Record<number, string> = {
  1: 'DROPPED (loss)',
  2: 'BLOCKED (partition)',
  3: 'LOST (target down)',
  4: 'LOST (sender crashed before sending)',
  5: 'LOST (target removed)',
};

const CRASH_TEXT: Record<number, string> = {
  1: ' right after voting',
  2: ' mid-Ready (persisted, nothing sent)',
  3: ' right after committing',
  4: ' mid-Ready (leader messages sent, nothing persisted)',
};

const ROLE_CODES = ['follower', 'precandidate', 'candidate', 'leader'] as const;
export function roleCode(role: string): number {
  const i = (ROLE_CODES as readonly string[]).indexOf(role);
  return i < 0 ? 0 : i;
}

const FNV_PRIME = 0x01000193;

const MSG_CODES: Record<Message['type'], number> = {
  vote: 1,
  voteResp: 2,
  append: 3,
  appendResp: 4,
  heartbeat: 5,
  heartbeatResp: 6,
  snapshot: 7,
  timeoutNow: 8,
};

/** The fields of a message that identify it, folded into the trace hash. */
export function messageDigest(m: Message): number {
  let h = Math.imul(MSG_CODES[m.type] ^ (m.term << 4), FNV_PRIME);
  switch (m.type) {
    case 'append':
      h = Math.imul(h ^ m.prevIndex ^ (m.entries.length << 20), FNV_PRIME) ^ m.commit;
      break;
    case 'appendResp':
      h = Math.imul(h ^ m.index ^ (m.success ? 1 << 30 : 0), FNV_PRIME);
      break;
    case 'vote':
      h = Math.imul(h ^ m.lastIndex ^ (m.pre ? 1 << 30 : 0), FNV_PRIME);
      break;
    case 'voteResp':
      h ^= (m.granted ? 1 : 0) + (m.pre ? 2 : 0);
      break;
    case 'heartbeat':
      h ^= m.commit;
      break;
    case 'snapshot':
      h ^= m.snapshot.meta.index;
      break;
    default:
      break;
  }
  return h;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}→${m.to} `;
  switch (m.type) {
    case 'append': {
      const n = m.entries.length;
      const span = n === 0 ? '[]' : `[${m.entries[0]!.term}:${m.entries[0]!.index}..${m.entries[n - 1]!.term}:${m.entries[n - 1]!.index}]`;
      return `${head}append t${m.term} prev=${m.prevTerm}:${m.prevIndex} ${span} commit=${m.commit}`;
    }
    case 'appendResp':
      return m.success
        ? `${head}appendResp t${m.term} ok match=${m.index}`
        : `${head}appendResp t${m.term} REJECT prev=${m.index} hint=${m.hintTerm}:${m.hintIndex}`;
    case 'vote':
      return `${head}${m.pre ? 'prevote' : 'vote'} t${m.term} last=${m.lastTerm}:${m.lastIndex}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
      return `${head}${m.pre ? 'prevoteResp' : 'voteResp'} t${m.term} ${m.granted ? 'GRANTED' : 'rejected'}`;
    case 'heartbeat':
      return `${head}heartbeat t${m.term} commit=${m.commit}${m.readCtx !== null ? ` read#${m.readCtx}` : ''}`;
    case 'heartbeatResp':
      return `${head}heartbeatResp t${m.term}${m.readCtx !== null ? ` read#${m.readCtx}` : ''}`;
    case 'snapshot':
      return `${head}snapshot t${m.term} at ${m.snapshot.meta.term}:${m.snapshot.meta.index} voters=${m.snapshot.meta.config.voters.join(',')}`;
    case 'timeoutNow':
      return `${head}timeoutNow t${m.term}`;
  }
}

/** Fixed-size ring of raw events (numbers and a reference), formatted only when read. */
class EventRing {
  private readonly ticks: Int32Array;
  private readonly kinds: Uint8Array;
  private readonly as: Int16Array;
  private readonly bs: Int16Array;
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly refs: unknown[];
  private head = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.ticks = new Int32Array(capacity);
    this.kinds = new Uint8Array(capacity);
    this.as = new Int16Array(capacity);
    this.bs = new Int16Array(capacity);
    this.xs = new Float64Array(capacity);
    this.ys = new Float64Array(capacity);
    this.refs = new Array<unknown>(capacity).fill(null);
  }

  push(t: number, kind: EvKind, a: number, b: number, x: number, y: number, ref: unknown): void {
    const i = this.head;
    this.ticks[i] = t;
    this.kinds[i] = kind;
    this.as[i] = a;
    this.bs[i] = b;
    this.xs[i] = x;
    this.ys[i] = y;
    this.refs[i] = ref;
    this.head = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count++;
  }

  last(n: number, format: (t: number, kind: EvKind, a: number, b: number, x: number, y: number, ref: unknown) => string): string[] {
    const k = Math.min(n, this.count);
    const out: string[] = [];
    for (let j = k; j > 0; j--) {
      const i = (this.head - j + this.capacity) % this.capacity;
      out.push(format(this.ticks[i]!, this.kinds[i]! as EvKind, this.as[i]!, this.bs[i]!, this.xs[i]!, this.ys[i]!, this.refs[i]));
    }
    return out;
  }
}

/** Events that tell the story of a run (kept longer than message traffic): roles, faults, membership, snapshots. */
const MILESTONE_KINDS = new Set<number>([
  Ev.role,
  Ev.crash,
  Ev.restart,
  Ev.pause,
  Ev.resume,
  Ev.nemesis,
  Ev.proposeConfig,
  Ev.configCommitted,
  Ev.snapshotInstall,
  Ev.transfer,
  Ev.campaign,
  Ev.note,
]);

export class Trace {
  private readonly recent: EventRing;
  private readonly milestones: EventRing;
  /** Running hash of every event recorded (hashed events included). */
  hash = 0;
  events = 0;

  /**
   * @param names node index → node id, used only when formatting.
   * @param printer when set, every event is formatted and printed as it happens (--trace).
   */
  constructor(
    private readonly names: string[],
    capacity = 64,
    private readonly printer: ((line: string) => void) | null = null,
    private readonly printQuiet = false,
  ) {
    this.recent = new EventRing(capacity);
    this.milestones = new EventRing(capacity);
  }

  /** An event kept in the rings (and printed under --trace). `ref` is a Message or a string. */
  record(t: number, kind: EvKind, a: number, b: number, x: number, y: number, ref: unknown): void {
    this.fold(t, kind, a, b, x, y, ref);
    this.recent.push(t, kind, a, b, x, y, ref);
    if (MILESTONE_KINDS.has(kind)) this.milestones.push(t, kind, a, b, x, y, ref);
    if (this.printer) this.printer(this.format(t, kind, a, b, x, y, ref));
  }

  /** An event only folded into the hash (heartbeat traffic): too frequent to be worth a ring slot. */
  quiet(t: number, kind: EvKind, a: number, b: number, x: number, y: number, ref: unknown): void {
    this.fold(t, kind, a, b, x, y, ref);
    if (this.printer && this.printQuiet) this.printer(this.format(t, kind, a, b, x, y, ref));
  }

  /** The last `n` events, oldest first, formatted. */
  last(n: number): string[] {
    return this.recent.last(n, (t, kind, a, b, x, y, ref) => this.format(t, kind, a, b, x, y, ref));
  }

  /** The last `n` milestones (role changes, faults, membership, snapshots), oldest first, formatted. */
  lastMilestones(n: number): string[] {
    return this.milestones.last(n, (t, kind, a, b, x, y, ref) => this.format(t, kind, a, b, x, y, ref));
  }

  /** FNV-style folding: cheap, and enough to tell two runs apart. */
  private fold(t: number, kind: number, a: number, b: number, x: number, y: number, ref: unknown): void {
    let h = Math.imul(this.hash ^ t, FNV_PRIME);
    h = Math.imul(h ^ (kind | (a << 8) | (b << 16)), FNV_PRIME);
    h = Math.imul(h ^ x, FNV_PRIME);
    h = Math.imul(h ^ y, FNV_PRIME);
    if (ref !== null && ref !== undefined) {
      h = Math.imul(h ^ (typeof ref === 'string' ? hashString(ref) : messageDigest(ref as Message)), FNV_PRIME);
    }
    this.hash = h >>> 0;
    this.events++;
  }

  private name(i: number): string {
    return this.names[i] ?? `#${i}`;
  }

  private format(t: number, kind: EvKind, a: number, b: number, x: number, y: number, ref: unknown): string {
    const at = `t=${t} `;
    switch (kind) {
      case Ev.deliver:
        return at + describeMessage(ref as Message);
      case Ev.drop:
        return `${at}${describeMessage(ref as Message)} ${DROP_TEXT[x] ?? 'LOST'}`;
      case Ev.duplicate:
        return `${at}${describeMessage(ref as Message)} DUPLICATED`;
      case Ev.role:
        return `${at}${this.name(a)} becomes ${ROLE_CODES[y] ?? y} term ${x}`;
      case Ev.crash:
        return `${at}${this.name(a)} CRASHES${CRASH_TEXT[x] ?? ''} (down ${y} ticks)`;
      case Ev.restart:
        return `${at}${this.name(a)} restarts from disk: snapshot ${x}, last index ${y}, ${String(ref)}`;
      case Ev.pause:
        return `${at}${this.name(a)} paused`;
      case Ev.resume:
        return `${at}${this.name(a)} resumed (${x} held messages)`;
      case Ev.nemesis:
        return `${at}nemesis: ${String(ref)}`;
      case Ev.propose:
        return `${at}${this.name(a)} propose #${y} → index ${x}`;
      case Ev.proposeConfig:
        return `${at}${this.name(a)} propose config ${String(ref)} → index ${x} term ${y}`;
      case Ev.apply:
        return `${at}${this.name(a)} applies ${x}..${y}`;
      case Ev.snapshotCreate:
        return `${at}${this.name(a)} creates snapshot at ${y}:${x}`;
      case Ev.snapshotInstall:
        return `${at}${this.name(a)} installs snapshot at ${y}:${x}`;
      case Ev.configCommitted:
        return `${at}config committed: ${String(ref)}`;
      case Ev.readRequest:
        return `${at}${this.name(a)} readIndex #${x} (committed so far: ${y})`;
      case Ev.readAnswer:
        return `${at}${this.name(a)} read #${x} answered at index ${y}`;
      case Ev.transfer:
        return `${at}${this.name(a)} transfers leadership to ${this.name(b)}${x === 0 ? ' (refused)' : ''}`;
      case Ev.campaign:
        return `${at}${this.name(a)} forced to campaign`;
      case Ev.note:
        return `${at}${String(ref)}`;
    }
  }
}
