// Retry delays: exponential with a cap, and jitter that is a pure function of (job id, attempt)
// so every replica computes the same retry time (the state machine may not call Math.random).

import type { Backoff } from './types.js';

/** 2^52 times any base already exceeds every cap we allow (DELAY_MS_MAX), and stays exact. */
const BACKOFF_EXPONENT_MAX = 52;
const UINT32_RANGE = 2 ** 32;

/** FNV-1a, 32 bits, over UTF-16 code units: tiny, fast, and identical on every platform. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The delay before the retry that follows failed attempt number `attempt` (1-based), without jitter. */
export function backoffBaseDelayMs(backoff: Readonly<Backoff>, attempt: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), BACKOFF_EXPONENT_MAX);
  return Math.min(backoff.capMs, backoff.baseMs * 2 ** exponent);
}

/**
 * The jittered delay: the base delay minus up to `jitter` of it, the fraction chosen by a hash of
 * (job id, attempt). Always within [delay * (1 - jitter), delay], so it never exceeds the cap.
 * Only subtracting keeps the cap a true bound; an integer result keeps every runAtMs exact.
 */
export function backoffDelayMs(backoff: Readonly<Backoff>, jobId: string, attempt: number): number {
  const delayMs = backoffBaseDelayMs(backoff, attempt);
  const unit = fnv1a32(`${jobId}#${attempt}`) / UINT32_RANGE;
  return delayMs - Math.floor(delayMs * backoff.jitter * unit);
}
