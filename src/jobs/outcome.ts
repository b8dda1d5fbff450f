// Building outcomes. Errors are values here: a client's mistake must never throw out of apply,
// because every replica would then stop on the same entry.

import { RaftqError, type ErrorCode, type WireError } from '../errors.js';
import type { CommandResult, Outcome } from './types.js';

export function ok(value: CommandResult): Outcome {
  return { ok: true, value };
}

export function failure(code: ErrorCode, message: string, field?: string): Outcome {
  return { ok: false, error: wireError(code, message, field) };
}

export function wireError(code: ErrorCode, message: string, field?: string): WireError {
  return new RaftqError(code, message, field === undefined ? {} : { field }).toWire();
}

export function badRequestOutcome(field: string, message: string): Outcome {
  return failure('BAD_REQUEST', `${field}: ${message}`, field);
}
