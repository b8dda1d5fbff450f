// The closed set of error codes every face of raftq answers with (protocol, HTTP, SDK, CLI).
// Adding a code is a protocol change: document it in README.md "Error codes".

import { ERROR_MESSAGE_LENGTH_MAX } from './limits.js';

export const ERROR_CODES = [
  'BAD_REQUEST',
  'NOT_FOUND',
  'NO_LEADER',
  'TIMEOUT',
  'STALE_LEASE',
  'OVERLOADED',
  'PAYLOAD_TOO_LARGE',
  'QUEUE_PAUSED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes a client may retry as they are (possibly against another node). */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['NO_LEADER', 'TIMEOUT', 'OVERLOADED', 'RATE_LIMITED']);

export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** HTTP status for each code, used by the HTTP API. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  STALE_LEASE: 409,
  QUEUE_PAUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  NO_LEADER: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};

/** An error as it crosses the wire. `leader` hints where to go when the code is NO_LEADER. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  leader?: string | null;
  /** For BAD_REQUEST: the offending field, as a path (`jobs[3].priority`). */
  field?: string;
}

/** The error type thrown by the SDK and by server-side handlers. */
export class RaftqError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly field: string | undefined;
  readonly leader: string | null | undefined;
  /**
   * Set by the SDK when an earlier try of the same call went unanswered (it may have applied), so
   * this answer, even a refusal, does not say the request was not applied. Never on the wire.
   */
  readonly outcomeUnknown: boolean;

  constructor(code: ErrorCode, message: string, extra: { field?: string; leader?: string | null; retryable?: boolean; outcomeUnknown?: boolean } = {}) {
    super(message);
    this.name = 'RaftqError';
    this.code = code;
    this.retryable = extra.retryable ?? isRetryable(code);
    this.field = extra.field;
    this.leader = extra.leader;
    this.outcomeUnknown = extra.outcomeUnknown ?? false;
  }

  /** This error with another message, field or outcome; code, retryability and leader hint carry over. */
  with(changes: { message?: string; field?: string; outcomeUnknown?: boolean }): RaftqError {
    return new RaftqError(this.code, changes.message ?? this.message, {
      retryable: this.retryable,
      leader: this.leader,
      field: changes.field ?? this.field,
      outcomeUnknown: changes.outcomeUnknown ?? this.outcomeUnknown,
    });
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.field !== undefined) wire.field = this.field;
    if (this.leader !== undefined) wire.leader = this.leader;
    return wire;
  }

  static fromWire(wire: WireError): RaftqError {
    return new RaftqError(wire.code, wire.message, { field: wire.field, leader: wire.leader, retryable: wire.retryable });
  }
}

export function badRequest(field: string, message: string): RaftqError {
  return new RaftqError('BAD_REQUEST', `${field}: ${message}`, { field });
}

/**
 * INTERNAL for something thrown that is not a RaftqError (a bug on our side): its message, and the
 * reference of the node's log line about it, so the client's error leads to that line.
 */
export function internalErrorWithRef(thrown: unknown, ref: string): WireError {
  const suffix = ` (ref ${ref})`;
  const message = (thrown instanceof Error ? thrown.message : String(thrown)).slice(0, Math.max(0, ERROR_MESSAGE_LENGTH_MAX - suffix.length));
  return new RaftqError('INTERNAL', message + suffix).toWire();
}
