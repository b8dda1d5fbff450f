// Leader-assigned job ids and lease tokens. Both derive from the Raft index, which every replica
// sees identically, so no replica needs a clock or a random source to name things.

/** Base-36 digits of a Raft index: Number.MAX_SAFE_INTEGER is 11 digits in base 36. */
const INDEX_DIGITS = 11;
/** Base-36 digits of the position of a job within one entry. */
const POSITION_DIGITS = 5;
/** Leader-assigned ids one Raft entry can hold (36^5 ≈ 60 M, far beyond any frame). */
export const ASSIGNED_IDS_PER_ENTRY_MAX = 36 ** POSITION_DIGITS;

/**
 * Ids of this form are the leader's: a client may not choose one, or a later assignment could
 * collide with it.
 */
export const ASSIGNED_ID_PATTERN = /^j[0-9a-z]{11}-[0-9a-z]{5}$/;

/**
 * `j` + index + `-` + position, zero-padded so that ids sort as strings in the order they were
 * assigned: the log order, which follows the leader's time.
 */
export function assignedJobId(index: number, position: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new Error(`invariant: bad raft index ${index}`);
  if (position < 0 || position >= ASSIGNED_IDS_PER_ENTRY_MAX) throw new Error(`invariant: id position ${position} out of range`);
  return `j${index.toString(36).padStart(INDEX_DIGITS, '0')}-${position.toString(36).padStart(POSITION_DIGITS, '0')}`;
}

/**
 * A fencing token: job id, attempt, and the (Raft index, envelope position) of the lease command.
 * Attempt alone is not unique (dlqRetry resets attempts), but one envelope leases a job at most
 * once, so (index, position) makes every token distinct. Workers treat it as opaque.
 */
export function leaseToken(jobId: string, attempt: number, index: number, envelopePosition: number): string {
  return `${jobId}.${attempt}.${index.toString(36)}.${envelopePosition.toString(36)}`;
}
