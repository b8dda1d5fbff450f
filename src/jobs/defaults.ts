// Defaults the state machine fills in for an EnqueueSpec (the numeric ones live in src/limits.ts).

import { PRIORITY_NAMED } from './types.js';

/** Name of a job enqueued without one. */
export const JOB_NAME_DEFAULT = 'default';
/** Priority of a job enqueued without one: `normal`. */
export const PRIORITY_DEFAULT: number = PRIORITY_NAMED.normal;
/** `lastError` of a job whose last permitted attempt ended by lease expiry. */
export const LEASE_EXPIRED_ERROR = 'lease expired';
/**
 * Items of each kind (expired leases, promoted jobs, jobs aged out, idempotency keys) one tick
 * handles at most, so that one entry never blocks the event loop for long. Whatever is left stays
 * due, and nextDueMs() makes the leader propose the next tick at once.
 */
export const TICK_ITEMS_MAX = 10_000;
