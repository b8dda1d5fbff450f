// The tick command: time passes. Leases expire, delayed and failed jobs come due, schedules fire
// (schedules.ts), finished jobs age out, idle sessions and old idempotency keys are forgotten.
// Each part pops from the head of a time-ordered structure, so a tick costs O(log n) per item due
// and O(1) when nothing is (schedules: O(1) unless one is due, then O(schedules)).

import { LEASE_EXPIRED_ERROR, TICK_ITEMS_MAX } from './defaults.js';
import type { EntryContext } from './entry-context.js';
import { ok } from './outcome.js';
import { fireDueSchedules } from './schedules.js';
import { isDueLive, isLeaseLive, type JobStore } from './store.js';
import type { Outcome } from './types.js';

/** Leases whose expiry has come: the job is handed out again, or is dead when out of attempts. */
function expireLeases(store: JobStore, nowMs: number): number {
  let expired = 0;
  while (expired < TICK_ITEMS_MAX) {
    const lease = store.leases.peek();
    if (lease === undefined || lease.expiresAtMs > nowMs) break;
    store.leases.pop();
    if (!isLeaseLive(lease)) continue;
    const rec = lease.job;
    const q = store.queueOf(rec);
    store.dropLease(rec);
    q.totals.expired += 1;
    expired += 1;
    if (rec.attempts >= rec.maxAttempts) {
      store.setLastError(rec, LEASE_EXPIRED_ERROR);
      store.finish(rec, q, 'dead', nowMs);
      q.totals.dead += 1;
    } else {
      rec.redeliveries += 1;
      store.makeWaiting(rec, q);
    }
  }
  return expired;
}

/** Delayed and failed jobs whose time has come join the tail of their lane, by (runAtMs, id). */
function promoteDue(store: JobStore, nowMs: number): number {
  let promoted = 0;
  while (promoted < TICK_ITEMS_MAX) {
    const rec = store.due.peek();
    if (rec === undefined || rec.runAtMs > nowMs) break;
    store.due.pop();
    if (!isDueLive(rec)) continue;
    store.makeWaiting(rec, store.queueOf(rec));
    promoted += 1;
  }
  return promoted;
}

export function applyTick(store: JobStore, ctx: EntryContext): Outcome {
  const expired = expireLeases(store, ctx.nowMs);
  const promoted = promoteDue(store, ctx.nowMs);
  const fired = fireDueSchedules(store, ctx);
  const removed = store.applyAgeRetention(ctx.nowMs, TICK_ITEMS_MAX);
  store.sessions.expireIdle(ctx.nowMs); // at most SESSIONS_MAX
  store.idempotency.expire(ctx.nowMs, TICK_ITEMS_MAX);
  return ok({ expired, promoted, removed, fired });
}
