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
  // Written digit by digit into one flat string: concatenation would leave a rope of pieces
  // behind every id (about 80 bytes more per job, measured).
  return String.fromCharCode.apply(null, assignedJobIdCodes(index, position) as number[]);
}

/**
 * The character codes of assignedJobId(index, position), in a scratch array that the next call
 * overwrites: for writers that copy them at once (snapshots write millions of ids).
 */
export function assignedJobIdCodes(index: number, position: number): readonly number[] {
  if (!Number.isSafeInteger(index) || index < 0) throw new Error(`invariant: bad raft index ${index}`);
  if (!Number.isSafeInteger(position) || position < 0 || position >= ASSIGNED_IDS_PER_ENTRY_MAX) {
    throw new Error(`invariant: id position ${position} out of range`);
  }
  const codes = ID_CODES;
  writeBase36(codes, 1, INDEX_DIGITS, index);
  writeBase36(codes, 2 + INDEX_DIGITS, POSITION_DIGITS, position);
  return codes;
}

const BASE36_CODES = Array.from('0123456789abcdefghijklmnopqrstuvwxyz', (c) => c.charCodeAt(0));
/** Scratch buffer for assignedJobId: 'j', the index digits, '-', the position digits. */
const ID_CODES: number[] = Array.from(`j${'0'.repeat(INDEX_DIGITS)}-${'0'.repeat(POSITION_DIGITS)}`, (c) => c.charCodeAt(0));

/** Writes `value` in base 36, zero-padded to `digits`, into codes[start ..< start + digits]. */
function writeBase36(codes: number[], start: number, digits: number, value: number): void {
  let rest = value;
  for (let i = start + digits - 1; i >= start; i--) {
    codes[i] = BASE36_CODES[rest % 36] as number;
    rest = Math.floor(rest / 36);
  }
  if (rest !== 0) throw new Error(`invariant: ${value} does not fit ${digits} base-36 digits`);
}

/**
 * Longest possible token: a client id (ID_PATTERN allows 128 characters), an attempt up to
 * MAX_ATTEMPTS_MAX (4 digits), an index (11 base-36 digits), a position (5), three dots.
 */
export const LEASE_TOKEN_LENGTH_MAX = 128 + 4 + INDEX_DIGITS + POSITION_DIGITS + 3;

/**
 * A fencing token: job id, attempt, and the (Raft index, envelope position) of the lease command.
 * Attempt alone is not unique (dlqRetry resets attempts), but one envelope leases a job at most
 * once, so (index, position) makes every token distinct. Workers treat it as opaque.
 */
export function leaseToken(jobId: string, attempt: number, index: number, envelopePosition: number): string {
  return `${jobId}.${attempt}.${index.toString(36)}.${envelopePosition.toString(36)}`;
}
