// What became of the jobs of an enqueue that failed. An enqueue request applies whole or not at
// all, and a client session makes its retries apply once, so a request's final answer is
// authoritative, with four exceptions: retries that ran out (the last try may have applied
// unanswered), a refusal after a try that went unanswered (outcomeUnknown: another node may judge
// differently), a retry whose earlier result the node no longer keeps (BAD_REQUEST on `seq`), and
// INTERNAL (a bug, or the client closed with the request in flight). Those leave it unknown.

import { RaftqError, type ErrorCode } from '../errors.js';

/** Codes a node answers for the request itself, before anything of it applies. */
const REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BAD_REQUEST', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'QUEUE_PAUSED', 'UNAUTHORIZED', 'FORBIDDEN']);

/** Whether an enqueue request that failed with `error` may still have applied. */
export function mayHaveApplied(error: unknown): boolean {
  if (!(error instanceof RaftqError) || error.retryable || error.outcomeUnknown || !REFUSALS.has(error.code)) return true;
  return error.code === 'BAD_REQUEST' && error.field === 'seq';
}

/** One job of a submitMany that failed: its id when it was taken, else why not and whether it may have been. */
export type SubmitOutcome = { id: string } | { error: RaftqError; mayHaveBeenTaken: boolean };

/**
 * A submitMany of which some request failed: the first failure's code, with `field` counting in
 * the whole list (`jobs[1003].payload`), and `outcomes`, one per job, in the list's order.
 */
export class SubmitManyError extends RaftqError {
  readonly outcomes: SubmitOutcome[];

  constructor(first: RaftqError, firstOffset: number, outcomes: SubmitOutcome[], requests: number) {
    const field = first.field === undefined ? undefined : shiftJobIndex(first.field, firstOffset);
    const message = field === undefined || first.field === undefined ? first.message : first.message.replace(first.field, field);
    const counts = tally(outcomes);
    const more = requests > 1 ? ` (of ${outcomes.length} jobs in ${requests} requests: ${counts.taken} taken, ${counts.refused} refused, ${counts.unknown} of unknown outcome)` : '';
    super(first.code, message + more, { retryable: first.retryable, leader: first.leader, outcomeUnknown: first.outcomeUnknown, field });
    this.name = 'SubmitManyError';
    this.outcomes = outcomes;
  }

  /** Jobs taken, refused (certainly not taken), and unknown (may or may not have been taken). */
  get counts(): { taken: number; refused: number; unknown: number } {
    return tally(this.outcomes);
  }
}

function tally(outcomes: readonly SubmitOutcome[]): { taken: number; refused: number; unknown: number } {
  let taken = 0;
  let unknown = 0;
  for (const outcome of outcomes) {
    if ('id' in outcome) taken++;
    else if (outcome.mayHaveBeenTaken) unknown++;
  }
  return { taken, refused: outcomes.length - taken - unknown, unknown };
}

/** `jobs[3].payload` of a request whose first job is the list's `offset`-th: `jobs[offset + 3].payload`. */
function shiftJobIndex(field: string, offset: number): string {
  return field.replace(/^jobs\[(\d+)\]/, (_, index: string) => `jobs[${offset + Number(index)}]`);
}
