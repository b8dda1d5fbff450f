// The history of a jepsen-lite run: every client operation as invoke → ok | fail | info, with
// times, plus nemesis events and final observations. One JSON object per line (history.jsonl),
// so a run can be re-checked later (`npm run jepsen -- --replay <folder>`).
//
// Meaning of the outcome types (as in Jepsen): `ok` the operation took effect; `fail` it
// certainly did not; `info` unknown (timeout, connection lost): it may or may not have.

import fs from 'node:fs';

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface EnqueueValue {
  /** Unique per logical job: what the total-queue checker counts. */
  key: string;
  idempotencyKey?: string;
  /** Set on ok: the id the broker answered. */
  id?: string;
}

export interface LeasedValue {
  id: string;
  key: string;
  token: string;
  attempt: number;
}

export interface AckValue {
  id: string;
  key: string;
  token: string;
}

export interface NodeObservation {
  node: string;
  appliedIndex: number;
  commitIndex: number;
  hash: string;
}

export type Op =
  | { type: OpType; f: 'enqueue'; process: number; timeMs: number; value: EnqueueValue; error?: string }
  | { type: OpType; f: 'lease'; process: number; timeMs: number; value: { jobs: LeasedValue[] }; error?: string }
  | { type: OpType; f: 'ack'; process: number; timeMs: number; value: AckValue; error?: string }
  /**
   * A fault window opens (start) or closes (stop; same fault and detail as its start), or something
   * the nemesis saw happen (event): a node that refused to start on damaged storage, a node that
   * exited on its own, the tally of a transfer storm.
   */
  | { type: 'info'; f: 'nemesis'; process: -1; timeMs: number; value: { phase: 'start' | 'stop' | 'event'; fault: string; detail?: string } }
  /** After healing: every job's final state as the cluster reports it. */
  | { type: 'ok'; f: 'final-state'; process: -1; timeMs: number; value: { jobs: { id: string; key: string; state: string }[] } }
  /** After healing: each node's applied index and state hash. */
  | { type: 'ok'; f: 'converge'; process: -1; timeMs: number; value: { nodes: NodeObservation[]; boundMs: number; converged: boolean } }
  /** Before the workload: a schedule set to fire every `everyMs` into a queue no worker takes. */
  | { type: 'ok' | 'fail'; f: 'schedule-set'; process: -1; timeMs: number; value: ScheduleProbe; error?: string }
  /** After healing: the schedule's firings as the cluster reports them, and the jobs its queue holds. */
  | { type: 'ok' | 'fail'; f: 'schedule-final'; process: -1; timeMs: number; value: ScheduleProbe & ScheduleFinal; error?: string };

export interface ScheduleProbe {
  queue: string;
  scheduleId: string;
  everyMs: number;
}

export interface ScheduleFinal {
  runs: number;
  refused: number;
  /** Jobs ever enqueued into the schedule's queue (its replicated total). */
  enqueued: number;
}

export type OpF = Op['f'];

export class HistoryWriter {
  private readonly fd: number;
  readonly ops: Op[] = [];
  private readonly startMs: number;

  constructor(file: string, startMs = Date.now()) {
    this.fd = fs.openSync(file, 'w');
    this.startMs = startMs;
  }

  now(): number {
    return Date.now() - this.startMs;
  }

  record(op: Op): void {
    this.ops.push(op);
    fs.writeSync(this.fd, `${JSON.stringify(op)}\n`);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export function readHistory(file: string): Op[] {
  const ops: Op[] = [];
  const text = fs.readFileSync(file, 'utf8');
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      ops.push(JSON.parse(line) as Op);
    } catch (error) {
      throw new Error(`${file}:${lineNo}: not a history line: ${(error as Error).message}`);
    }
  }
  return ops;
}
