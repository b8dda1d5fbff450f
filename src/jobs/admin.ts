// Commands that manage jobs and queues rather than run them: cancel, pause/resume, and the
// dead-letter queue (retry, purge).

import { QUEUES_MAX } from '../limits.js';
import type { Cmd, EntryContext } from './entry-context.js';
import type { JobRecord } from './job-record.js';
import { badRequestOutcome, failure, ok } from './outcome.js';
import type { QueueState } from './queue-state.js';
import type { JobStore } from './store.js';
import type { Outcome } from './types.js';

export function applyCancel(store: JobStore, cmd: Cmd<'cancel'>, ctx: EntryContext): Outcome {
  const rec = store.jobs.get(cmd.jobId);
  if (rec === undefined) return failure('NOT_FOUND', `job ${cmd.jobId} not found`);
  const q = store.queueOf(rec);
  switch (rec.state) {
    case 'waiting':
      store.leaveLane(rec, q);
      break;
    case 'active':
      // The lease's token goes stale with it: a later ack or fail of this attempt gets STALE_LEASE.
      store.dropLease(rec);
      break;
    case 'delayed':
    case 'failed':
      break; // Its due-heap entry turns stale by the state change.
    default:
      return ok({ state: rec.state, cancelled: false });
  }
  store.finish(rec, q, 'cancelled', ctx.nowMs);
  return ok({ state: 'cancelled', cancelled: true });
}

export function applyPause(store: JobStore, cmd: Cmd<'pause'> | Cmd<'resume'>): Outcome {
  if (!store.queues.has(cmd.queue) && store.queues.size >= QUEUES_MAX) return badRequestOutcome('queue', `the cluster holds at most ${QUEUES_MAX} queues`);
  const q = store.queueOrCreate(cmd.queue);
  q.paused = cmd.op === 'pause';
  return ok(q.paused ? { paused: true } : { paused: false });
}

/** The dead jobs a DLQ command selects: the listed ones, or the oldest first; at most `max`. */
function selectDead(store: JobStore, q: QueueState, jobIds: string[] | undefined | null, max: number | undefined | null): JobRecord[] {
  const limit = max ?? Number.POSITIVE_INFINITY;
  const selected: JobRecord[] = [];
  if (jobIds !== undefined && jobIds !== null) {
    for (const id of new Set(jobIds)) {
      const rec = store.jobs.get(id);
      if (selected.length >= limit) break;
      if (rec !== undefined && rec.queue === q.name && rec.state === 'dead') selected.push(rec);
    }
    return selected;
  }
  for (const rec of q.dead.live()) {
    if (selected.length >= limit) break;
    selected.push(rec);
  }
  return selected;
}

export function applyDlqRetry(store: JobStore, cmd: Cmd<'dlqRetry'>, ctx: EntryContext): Outcome {
  const q = store.queue(cmd.queue);
  if (q === undefined) return ok({ retried: 0 });
  const selected = selectDead(store, q, cmd.jobIds, cmd.max);
  for (const rec of selected) {
    store.reviveDead(rec, q, ctx.nowMs);
    q.totals.retried += 1;
  }
  return ok({ retried: selected.length });
}

export function applyDlqPurge(store: JobStore, cmd: Cmd<'dlqPurge'>): Outcome {
  const q = store.queue(cmd.queue);
  if (q === undefined) return ok({ purged: 0 });
  const selected = selectDead(store, q, cmd.jobIds, cmd.max);
  for (const rec of selected) store.remove(rec, q);
  q.dead.compactIfBloated(q.counts.dead);
  return ok({ purged: selected.length });
}
