// Single submits made in one event-loop turn go out together, as one enqueue request (split by the
// request bounds). A producer with many submits in flight otherwise pays a request, a frame, an
// envelope and a session entry per job on every node; together they cost about what submitMany
// does (Kafka's producer batches the same way, with linger 0: whatever is waiting goes now).
//
// An enqueue request applies whole or not at all. When a group is refused for what one of its
// jobs holds (a bad field, a payload too large), nothing of it applied, so each job is sent again
// on its own and only the job at fault fails. A group whose outcome is unknown (retries exhausted)
// fails whole, as a single submit would.

import { RaftqError, type ErrorCode } from '../errors.js';
import type { WireEnqueueSpec } from '../protocol/messages.js';
import { mayHaveApplied } from './submit-outcome.js';

interface WaitingSubmit {
  spec: WireEnqueueSpec;
  resolve(id: string): void;
  reject(error: unknown): void;
}

export class SubmitCoalescer {
  private waiting: WaitingSubmit[] = [];
  private flushScheduled = false;

  constructor(
    /** Sends one enqueue request; resolves with the job ids in order. */
    private readonly send: (jobs: WireEnqueueSpec[]) => Promise<string[]>,
    /** Splits specs into groups that fit one request. */
    private readonly split: <T>(items: T[], specOf: (item: T) => WireEnqueueSpec) => T[][],
  ) {}

  submit(spec: WireEnqueueSpec): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ spec, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // setImmediate, not a microtask: submits made by continuations of answers that arrived in
      // the same read (a pipelined producer refilling its window) join the same request.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const group of this.split(waiting, (w) => w.spec)) void this.sendGroup(group);
  }

  private async sendGroup(group: WaitingSubmit[]): Promise<void> {
    let ids: string[];
    try {
      ids = await this.send(group.map((w) => w.spec));
    } catch (error) {
      if (group.length > 1 && refusedForItsContent(error)) {
        for (const w of group) void this.sendGroup([w]);
      } else {
        for (const w of group) w.reject(error);
      }
      return;
    }
    if (ids.length !== group.length) {
      const error = new RaftqError('INTERNAL', `enqueue of ${group.length} jobs answered ${ids.length} ids`);
      for (const w of group) w.reject(error);
      return;
    }
    for (let i = 0; i < group.length; i++) group[i]!.resolve(ids[i]!);
  }
}

/** Codes that refuse a request (so nothing of it applied) for what one of its jobs holds. */
const CONTENT_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE']);

/**
 * Re-sending job by job finds the job at fault; for any other refusal every job would fail alike.
 * A BAD_REQUEST on `seq` (a retry whose result the node no longer keeps) may have applied: re-sent,
 * its jobs could be taken twice.
 */
function refusedForItsContent(error: unknown): boolean {
  return error instanceof RaftqError && CONTENT_REFUSALS.has(error.code) && !mayHaveApplied(error);
}
